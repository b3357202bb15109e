"""The embedded PostgreSQL instance: a cluster with pg_cron under the data directory.

PostgreSQL refuses to run as root. This module is the one place that deals with it: when the
caller is root, the cluster is created, started and stopped as an unprivileged operating-system
user (``ATUM_PG_OS_USER``, by default Debian's ``postgres``), and its folder is owned by that user.
If that user cannot reach the data directory (a clone inside a private home, say), the cluster's
folder is placed under ``/var/lib/atumdesk/instances`` and linked from the data directory.
``make run``, ``make stop`` and the test fixtures all go through here.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from atumdesk import PROJECT_ROOT
from atumdesk.errors import InstanceError

#: The settings the product needs from any PostgreSQL it runs on (shared with production, see deploy/).
PRODUCT_CONF = PROJECT_ROOT / "deploy" / "postgresql" / "atumdesk.conf"
RELOCATED_ROOT = Path("/var/lib/atumdesk/instances")


def pg_bindir() -> Path:
    """The PostgreSQL 15 server binaries (``ATUM_PG_BINDIR`` overrides)."""
    configured = os.environ.get("ATUM_PG_BINDIR")
    candidates = [Path(configured)] if configured else [Path("/usr/lib/postgresql/15/bin")]
    found = shutil.which("pg_ctl")
    if found and not configured:
        candidates.append(Path(found).resolve().parent)
    for candidate in candidates:
        if (candidate / "pg_ctl").is_file() and (candidate / "initdb").is_file():
            return candidate
    raise InstanceError(
        "PostgreSQL 15 server binaries not found (looked in "
        + ", ".join(str(c) for c in candidates)
        + "): install Debian's postgresql-15 and postgresql-15-cron (make install does)"
    )


@dataclass(frozen=True)
class OsUser:
    """The operating-system account the server runs as."""

    name: str
    uid: int
    gid: int
    home: str

    @classmethod
    def for_server(cls) -> OsUser | None:
        """None when we are not root (the server then runs as the caller)."""
        if os.geteuid() != 0:
            return None
        name = os.environ.get("ATUM_PG_OS_USER", "postgres")
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise InstanceError(
                f"running as root, PostgreSQL needs an unprivileged user to run as, and {name!r} "
                "does not exist: install postgresql-15 (it creates 'postgres') or set ATUM_PG_OS_USER"
            ) from None
        if entry.pw_uid == 0:
            raise InstanceError(f"ATUM_PG_OS_USER={name!r} is root: PostgreSQL refuses to run as root")
        return cls(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)


def _reachable(path: Path, user: OsUser) -> bool:
    """Whether every ancestor of ``path`` can be traversed by ``user`` (mode bits, no ACLs)."""
    groups = {g.gr_gid for g in _groups_of(user)} | {user.gid}
    for ancestor in [path, *path.parents]:
        if not ancestor.exists():
            continue
        st = ancestor.stat()
        if st.st_uid == user.uid:
            ok = bool(st.st_mode & stat.S_IXUSR)
        elif st.st_gid in groups:
            ok = bool(st.st_mode & stat.S_IXGRP)
        else:
            ok = bool(st.st_mode & stat.S_IXOTH)
        if not ok:
            return False
    return True


def _groups_of(user: OsUser) -> list:
    import grp

    return [g for g in grp.getgrall() if user.name in g.gr_mem]


@dataclass
class Instance:
    """A PostgreSQL cluster under ``root``: ``data/``, ``run/`` (the socket) and ``postgresql.log``."""

    root: Path
    port: int = 5432
    extra_settings: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root = self.root.absolute()
        self.os_user = OsUser.for_server()

    # -- paths ---------------------------------------------------------------------------------
    @property
    def data(self) -> Path:
        """The cluster's data directory (PGDATA)."""
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        """Where the server's Unix socket lives."""
        return self.root / "run"

    @property
    def log_file(self) -> Path:
        """The server log (stderr of the postmaster)."""
        return self.root / "postgresql.log"

    # -- running commands as the server's user -------------------------------------------------
    def _run(self, args: list[str], *, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        kwargs: dict = {}
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "TZ": "UTC"}
        if self.os_user is not None:
            kwargs = {"user": self.os_user.uid, "group": self.os_user.gid, "extra_groups": []}
            env["HOME"] = self.os_user.home
        else:
            env["HOME"] = os.environ.get("HOME", "/")
        proc = subprocess.run(
            args, capture_output=True, text=True, env=env, cwd="/", timeout=timeout, check=False, **kwargs
        )
        if check and proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            last = detail[-1] if detail else f"exit status {proc.returncode}"
            raise InstanceError(f"{Path(args[0]).name} {args[1] if len(args) > 1 else ''} failed: {last}")
        return proc

    def _own(self, path: Path) -> None:
        if self.os_user is not None:
            os.chown(path, self.os_user.uid, self.os_user.gid)

    def _prepare_root(self) -> None:
        """Create the folder, relocating it when the server's user could not reach it."""
        if self.root.is_symlink() or self.root.is_dir():
            return
        self.root.parent.mkdir(parents=True, exist_ok=True)
        if self.os_user is not None and not _reachable(self.root.parent, self.os_user):
            digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:16]
            target = RELOCATED_ROOT / digest
            target.mkdir(parents=True, exist_ok=True)
            RELOCATED_ROOT.chmod(0o755)
            self.root.symlink_to(target, target_is_directory=True)
        else:
            self.root.mkdir(mode=0o700)
        real = self.root.resolve()
        real.chmod(0o700)
        self._own(real)

    # -- lifecycle -----------------------------------------------------------------------------
    def is_initialised(self) -> bool:
        """True once initdb has run here."""
        return (self.data / "PG_VERSION").is_file()

    def init(self) -> bool:
        """Create the cluster once; returns False when it already existed."""
        if self.is_initialised():
            return False
        bindir = pg_bindir()
        self._prepare_root()
        real = self.root.resolve()
        for sub in ("run",):
            (real / sub).mkdir(mode=0o700, exist_ok=True)
            self._own(real / sub)
        self._run(
            [
                str(bindir / "initdb"),
                "--pgdata", str(real / "data"),
                "--username", "postgres",
                "--auth-local", "trust",
                "--auth-host", "scram-sha-256",
                "--encoding", "UTF8",
                "--locale", "C.UTF-8",
                "--no-instructions",
            ]
        )  # fmt: skip
        with self._open_as_server(real / "data" / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# ATUM DESK: the product's settings, then this instance's own (both rewritten at start)\n"
                "include_if_exists = 'atumdesk.conf'\ninclude_if_exists = 'atumdesk-instance.conf'\n"
            )
        return True

    def _open_as_server(self, path: Path, mode: str):
        handle = path.open(mode)
        self._own(path)
        return handle

    def _write_conf(self) -> None:
        real = self.root.resolve()
        if not PRODUCT_CONF.is_file():
            raise InstanceError(f"{PRODUCT_CONF} is missing: the checkout is incomplete")
        with self._open_as_server(real / "data" / "atumdesk.conf", "w") as conf:
            conf.write(PRODUCT_CONF.read_text())
        settings = {
            "listen_addresses": "''",
            "port": str(self.port),
            "unix_socket_directories": f"'{real / 'run'}'",
            "unix_socket_permissions": "0700",
            **self.extra_settings,
        }
        with self._open_as_server(real / "data" / "atumdesk-instance.conf", "w") as conf:
            conf.write("# written by atumdesk at every start: edit deploy/postgresql/atumdesk.conf instead\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def is_running(self) -> bool:
        """True when a postmaster answers for this data directory."""
        if not self.is_initialised():
            return False
        proc = self._run([str(pg_bindir() / "pg_ctl"), "status", "-D", str(self.data.resolve())], check=False)
        return proc.returncode == 0

    def start(self) -> bool:
        """Start the server and wait until it accepts connections; False if it was already running."""
        if not self.is_initialised():
            raise InstanceError(f"no PostgreSQL cluster in {self.root}: run `atumdesk instance init` first")
        if self.is_running():
            return False
        self._write_conf()
        real = self.root.resolve()
        proc = self._run(
            [
                str(pg_bindir() / "pg_ctl"), "start", "-w", "-t", "60",
                "-D", str(real / "data"), "-l", str(real / "postgresql.log"),
            ],
            check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise InstanceError(f"PostgreSQL did not start: {self._log_tail()}")
        return True

    def stop(self) -> bool:
        """Stop the server (fast shutdown: sessions are rolled back); False if it was not running."""
        if not self.is_running():
            return False
        # Resolved path: the server's user may not be able to traverse a link's own location.
        self._run([str(pg_bindir() / "pg_ctl"), "stop", "-w", "-t", "60", "-m", "fast", "-D", str(self.data.resolve())])
        return True

    def _log_tail(self, lines: int = 3) -> str:
        try:
            text = self.log_file.read_text(errors="replace").strip().splitlines()
        except OSError:
            return f"see {self.log_file}"
        tail = [line for line in text[-lines:] if line.strip()]
        return " | ".join(tail) if tail else f"see {self.log_file}"
