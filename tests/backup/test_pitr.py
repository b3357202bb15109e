"""Point-in-time recovery, as docs/operations.md tells an operator to do it: continuous WAL
archiving with the archive_command of deploy/postgresql/atumdesk.conf, a pg_basebackup, then a
new cluster recovered from the base backup and the archived WAL to a moment between two tickets —
it holds exactly the first.

The test runs its own cluster (WAL archiving needs a server restart to switch on, and the shared
test cluster must not change), created by atumdesk.instance like every other one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from atumdesk import settings as settings_mod
from atumdesk.instance import PRODUCT_CONF, Instance, OsUser, pg_bindir
from atumdesk.migrate import migrate

FAST = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "on", "max_connections": "20"}


def documented_archive_command() -> str:
    """The archive_command shown (commented) in the product's PostgreSQL settings, for a directory."""
    match = re.search(r"^#\s*archive_command\s*=\s*'(.+)'\s*$", PRODUCT_CONF.read_text(), re.MULTILINE)
    assert match, "deploy/postgresql/atumdesk.conf documents an archive_command"
    return match.group(1)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Poll until ``condition`` holds (the server offers no notification for these events)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def as_server(args: list[str], user: OsUser | None) -> None:
    """Run a PostgreSQL program as the server's operating-system user (root may not run them)."""
    kwargs = {"user": user.uid, "group": user.gid, "extra_groups": []} if user else {}
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "HOME": user.home if user else os.environ.get("HOME", "/")}
    proc = subprocess.run(args, capture_output=True, text=True, env=env, cwd="/", check=False, timeout=120, **kwargs)
    assert proc.returncode == 0, proc.stderr


def owned_dir(path: Path, user: OsUser | None, mode: int = 0o700) -> Path:
    """A directory the server's user owns."""
    path.mkdir(mode=mode, parents=True)
    if user is not None:
        os.chown(path, user.uid, user.gid)
    return path


@pytest.fixture
def workspace() -> Iterator[Path]:
    """A folder the server's user can reach; the clusters in it are stopped at the end."""
    root = Path(tempfile.mkdtemp(prefix="atum-pitr-"))
    root.chmod(0o755)
    yield root
    for pg in root.glob("*/pg"):
        Instance(pg).stop()
    shutil.rmtree(root, ignore_errors=True)


def test_point_in_time_recovery_brings_back_ticket_a_and_not_ticket_b(workspace: Path) -> None:
    user = OsUser.for_server()
    wal = owned_dir(workspace / "wal-archive", user)
    archive_command = documented_archive_command().replace("/var/lib/postgresql/wal-archive", str(wal))
    primary = Instance(workspace / "primary" / "pg",
                       extra_settings={**FAST, "archive_mode": "on", "archive_command": f"'{archive_command}'"})
    primary.init()
    primary.start()
    settings = settings_mod.load({"ATUM_DATA_DIR": str(workspace / "primary")})
    migrate(settings, schedule_cron=False)

    # The base backup: taken before either ticket exists, so both can come back only from WAL.
    replica_root = owned_dir(workspace / "replica" / "pg", user)
    owned_dir(replica_root / "run", user)
    as_server([str(pg_bindir() / "pg_basebackup"), "--pgdata", str(replica_root / "data"), "--checkpoint=fast",
               "--wal-method=stream", "--host", str(primary.socket_dir), "--port", str(primary.port),
               "--username", "postgres"], user)

    with psycopg.connect(settings.conninfo("owner"), autocommit=True) as owner:
        org = owner.execute("SELECT id FROM atum.org_create('Recovery Ltd', 'recovery', 'UTC')").fetchone()[0]
        requester = owner.execute("SELECT id FROM atum.user_create('recovery', 'c@recovery.example', 'customer', 'C')"
                                  ).fetchone()[0]

        def ticket(subject: str) -> None:
            owner.execute("INSERT INTO atum.tickets (organization_id, subject, requester_id) VALUES (%s, %s, %s)",
                          [org, subject, requester])

        ticket("Ticket A")
        with psycopg.connect(settings.conninfo("admin"), autocommit=True) as admin:
            admin.execute("SELECT pg_create_restore_point('before-ticket-b')")
            ticket("Ticket B")
            last = admin.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()[0]

            def archived() -> bool:
                row = admin.execute("SELECT last_archived_wal FROM pg_stat_archiver").fetchone()
                return bool(row and row[0] and row[0] >= last)

            wait_for(archived, f"WAL segment {last} to be archived")
    primary.stop()

    # Recovery: the base backup, recovery.signal, restore_command reading the archive, the target.
    (replica_root / "data" / "recovery.signal").touch()
    if user is not None:
        os.chown(replica_root / "data" / "recovery.signal", user.uid, user.gid)
    recovered = Instance(replica_root, extra_settings={
        **FAST, "archive_mode": "off", "restore_command": f"'cp {wal}/%f %p'",
        "recovery_target_name": "'before-ticket-b'", "recovery_target_action": "'promote'"})
    recovered.start()
    restored = settings_mod.load({"ATUM_DATA_DIR": str(workspace / "replica")})
    with psycopg.connect(restored.conninfo("owner"), autocommit=True) as owner:
        wait_for(lambda: owner.execute("SELECT NOT pg_is_in_recovery()").fetchone() == (True,),
                 "the recovered cluster to reach its target and promote")
        subjects = [r[0] for r in owner.execute("SELECT subject FROM atum.tickets ORDER BY id")]
    assert subjects == ["Ticket A"]
