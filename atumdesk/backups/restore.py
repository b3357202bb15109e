"""`atumdesk restore FILE`: an archive of `atumdesk backup` back into an instance.

The order makes a failure harmless at every step:

1. the whole archive is checked against its manifest (every member's size and SHA-256, every
   attachment's content against its name) while the dump and the files are unpacked into a staging
   folder of the data directory — a damaged, truncated or foreign file stops here, nothing touched;
2. the archive's migrations must all be known to this checkout (an archive of a newer ATUM DESK is
   refused), and the target database must hold no tables, unless ``force`` (then it is dropped);
3. the roles: the archive's ``roles.sql`` (roles that exist already are left as they are), then
   the product's own role definitions (sql/bootstrap/cluster.sql) re-asserted;
4. the attachment files move into the store (same file system: renames; files already stored with
   the same content stay) — files first, so that no row can ever point at a missing file;
5. the database: created empty, bootstrapped (extensions), ``pg_restore --single-transaction
   --exit-on-error`` as the administrator, then every table's row count and checksum compared with
   the manifest; on any failure the new database is dropped again;
6. ``atumdesk migrate``: later migrations of this checkout, ``sql/`` re-applied, pg_cron synced.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from atumdesk.attachments import DIR_MODE, FILE_MODE, stored_path
from atumdesk.backups.archive import ArchiveError, BackupError, Unpacked, sha256_of, unpack
from atumdesk.backups.tools import bar, last_line, libpq, program, q
from atumdesk.db import connect, first_line
from atumdesk.migrate import SQL_DIR, migrate, migration_ids
from atumdesk.settings import Settings

#: TOC entries the bootstrap creates already (extensions need a superuser and live in their own schema).
_BOOTSTRAPPED = re.compile(r"^\d+; \d+ \d+ (SCHEMA - extensions |EXTENSION - |COMMENT - EXTENSION )")
_ALREADY_EXISTS = re.compile(r'ERROR:\s+role ".*" already exists')


@dataclass
class RestoreResult:
    """What a restore did."""

    database: str
    tables: int
    rows: int
    attachments: int
    migrations_applied: int


def _admin(settings: Settings, dbname: str | None = None) -> str:
    admin = settings.conninfo("admin")
    return make_conninfo(admin, dbname=dbname) if dbname else admin


def drop_database(settings: Settings, dbname: str) -> None:
    """Drop a database if it exists, ending its sessions (PostgreSQL 13's WITH (FORCE))."""
    with connect(_admin(settings), "the administrator (ATUM_ADMIN_DATABASE_URL)", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


def compare_tables(conn: psycopg.Connection[Any], expected: dict[str, Any]) -> None:
    """Raise BackupError naming the tables whose row count or checksum differs from ``expected``."""
    found = {r[0]: {"rows": r[1], "checksum": r[2]} for r in conn.execute(q("table_checksums"))}
    problems = []
    for table in sorted(set(expected) | set(found)):
        want, got = expected.get(table), found.get(table)
        if want is None or got is None:
            problems.append(f"{table} is {'missing from the restored copy' if got is None else 'not in the backup'}")
        elif want["rows"] != got["rows"]:
            problems.append(f"{table}: {got['rows']} rows restored, {want['rows']} in the backup")
        elif want["checksum"] != got["checksum"]:
            problems.append(f"{table}: same {got['rows']} rows but different contents")
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise BackupError("the restored copy differs from the backup: " + "; ".join(problems[:3]) + more)


def restore_database(settings: Settings, unpacked: Unpacked, dbname: str, *, progress: bool = False,
                     fault: Callable[[psycopg.Connection[Any]], None] | None = None) -> None:
    """Create ``dbname`` and restore the dump into it, then compare every table with the manifest.

    The database must not exist. On any failure it is dropped again (nothing half-restored).
    """
    assert unpacked.dump is not None
    with connect(_admin(settings), "the administrator (ATUM_ADMIN_DATABASE_URL)", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER atum_owner ENCODING 'UTF8' TEMPLATE template0").format(
            sql.Identifier(dbname)))
    try:
        with connect(_admin(settings, dbname), "the administrator", autocommit=True) as conn:
            conn.execute(SQL_DIR.joinpath("bootstrap", "database.sql").read_text())  # type: ignore[arg-type]
        listing = subprocess.run([program("pg_restore"), "--list", str(unpacked.dump)], capture_output=True,
                                 text=True, check=False)
        if listing.returncode != 0:
            raise BackupError(f"pg_restore cannot read the dump: {last_line(listing.stderr, 'unknown error')}")
        entries = [line for line in listing.stdout.splitlines()
                   if line.strip() and not line.startswith(";") and not _BOOTSTRAPPED.match(line)]
        toc = unpacked.dump.with_name("restore.list")
        toc.write_text("\n".join(entries) + "\n")
        _pg_restore(settings, unpacked.dump, toc, dbname, len(entries), progress)
        with connect(_admin(settings, dbname), "the administrator", autocommit=True) as conn:
            if fault is not None:
                fault(conn)
            compare_tables(conn, unpacked.manifest.get("tables") or {})
    except BaseException:
        drop_database(settings, dbname)
        raise


def _pg_restore(settings: Settings, dump: Path, toc: Path, dbname: str, entries: int, progress: bool) -> None:
    dsn, env = libpq(_admin(settings, dbname))
    args = [program("pg_restore"), "--single-transaction", "--exit-on-error", "--verbose",
            f"--use-list={toc}", f"--dbname={dsn}", str(dump)]
    tail: list[str] = []
    with bar(progress, desc="restoring", total=entries, unit="object") as shown, \
            subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:  # --verbose: a line per object restored
            shown.update(1)
            tail = [*tail[-20:], line]
    if proc.returncode != 0:
        errors = [line for line in tail if "error" in line.lower()] or tail
        raise BackupError(f"pg_restore failed: {last_line(''.join(errors[-1:]), f'exit status {proc.returncode}')}")


def restore_roles(settings: Settings, roles: Path) -> None:
    """The archive's roles (existing ones left alone), then the product's roles re-asserted."""
    dsn, env = libpq(_admin(settings))
    proc = subprocess.run([program("psql"), "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=0", f"--file={roles}",
                           f"--dbname={dsn}"], capture_output=True, text=True, env=env, check=False)
    errors = [line for line in proc.stderr.splitlines() if "ERROR:" in line and not _ALREADY_EXISTS.search(line)]
    if proc.returncode != 0 or errors:
        raise BackupError(f"restoring the roles failed: {last_line(''.join(errors[:1]) or proc.stderr, 'psql failed')}")
    with connect(_admin(settings), "the administrator (ATUM_ADMIN_DATABASE_URL)", autocommit=True) as conn:
        conn.execute(SQL_DIR.joinpath("bootstrap", "cluster.sql").read_text())  # type: ignore[arg-type]


def _store_owner(settings: Settings) -> tuple[int, int] | None:
    """Who must own restored files: when root restores (the operator's usual way), the owner of the
    store (or of the data directory), so that the service can read them; None otherwise."""
    if os.geteuid() != 0:
        return None
    for folder in (settings.attachments_dir, settings.data_dir):
        if folder.is_dir():
            info = folder.stat()
            return info.st_uid, info.st_gid
    return None


def _place_attachments(settings: Settings, files: dict[str, Path]) -> int:
    """Move the staged files into the store; a file stored already with the right content stays."""
    placed = 0
    owner = _store_owner(settings)
    for sha, staged in files.items():
        final = stored_path(settings.attachments_dir, sha)
        if final.is_file() and sha256_of(final) == sha:
            continue
        for folder in (settings.attachments_dir, final.parent.parent, final.parent):
            if not folder.is_dir():
                folder.mkdir(mode=DIR_MODE, parents=True)
                if owner is not None:
                    os.chown(folder, *owner)
        staged.chmod(FILE_MODE)
        if owner is not None:
            os.chown(staged, *owner)
        with staged.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(staged, final)
        placed += 1
    return placed


def _finish_own_run(settings: Settings, dbname: str, archive: Path, run_id: object) -> None:
    """The dump was taken while its own backup run was still running: record that it succeeded,
    with this archive, so the restored history does not show a run that never ends."""
    if not isinstance(run_id, int):
        return
    with connect(_admin(settings, dbname), "the administrator", autocommit=True) as conn:
        conn.execute(q("run_finish"), {"id": run_id, "succeeded": True, "file": str(archive.absolute()),
                                       "size_bytes": archive.stat().st_size,
                                       "sha256": bytes.fromhex(sha256_of(archive)), "error": None})


def _empty_or_refuse(settings: Settings, dbname: str, force: bool) -> bool:
    """Whether the database exists; BackupError when it holds tables and ``force`` is not given."""
    with connect(_admin(settings), "the administrator (ATUM_ADMIN_DATABASE_URL)", autocommit=True) as conn:
        row = conn.execute(q("database_exists"), {"name": dbname}).fetchone()
        exists = bool(row and row[0])
    if not exists or force:
        return exists
    with connect(_admin(settings, dbname), "the administrator", autocommit=True) as conn:
        row = conn.execute(q("user_tables")).fetchone()
        tables = int(row[0]) if row else 0
    if tables:
        raise BackupError(f"database {dbname} is not empty ({tables} tables): restore only goes into an empty "
                          "instance; --force drops it and everything in it first")
    return exists


def restore(settings: Settings, archive: Path, *, force: bool = False, schedule_cron: bool = True,
            progress: bool = False, say: Callable[[str], None] = lambda _msg: None) -> RestoreResult:
    """Restore ``archive`` into the configured database and data directory (see the module docstring)."""
    dbname = settings.database_name
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=settings.data_dir))
    try:
        try:
            size = archive.stat().st_size if archive.is_file() else None
        except OSError:
            size = None
        say(f"checking {archive}")
        with bar(progress, desc="checking", total=size, unit="B", unit_scale=True) as shown:
            unpacked = unpack(archive, staging, attachments=True, progress=shown.update)
        manifest = unpacked.manifest
        versions = manifest.get("versions") or {}
        unknown = sorted(set(versions.get("migrations") or []) - set(migration_ids()))
        if unknown:
            raise BackupError(f"the backup is from a newer ATUM DESK (migration {unknown[0]} is unknown here): "
                              "restore it with that version or later")
        exists = _empty_or_refuse(settings, dbname, force)
        say("restoring roles")
        restore_roles(settings, unpacked.roles or staging / "roles.sql")
        placed = _place_attachments(settings, unpacked.attachments)
        say(f"{len(unpacked.attachments)} attachment file(s) in {settings.attachments_dir} ({placed} written)")
        if exists:
            say(f"dropping database {dbname}")
            drop_database(settings, dbname)
        say(f"restoring database {dbname}")
        restore_database(settings, unpacked, dbname, progress=progress)
        _finish_own_run(settings, dbname, archive, manifest.get("run_id"))
        applied = migrate(settings, dbname=dbname, schedule_cron=schedule_cron, log=say)
        tables = manifest.get("tables") or {}
        return RestoreResult(dbname, len(tables), sum(int(t["rows"]) for t in tables.values()),
                             len(unpacked.attachments), applied)
    except psycopg.Error as exc:
        raise BackupError(f"restore failed: {first_line(exc)}") from None
    except ArchiveError as exc:
        raise BackupError(f"{archive}: {exc}; nothing was restored") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)

