"""`atumdesk backup` and the backup.run job: one consistent archive of database and attachments.

Consistency comes from one snapshot. An owner connection opens a REPEATABLE READ, read-only
transaction and takes the attachment store lock in shared mode (the orphan sweep cannot delete a
file until it ends; uploads carry on). In that transaction it exports its snapshot, computes the
per-table row counts and checksums for the manifest, and reads the SHA-256 of every attachment row;
``pg_dump --snapshot`` then dumps exactly that state. Attachments are content-addressed and never
change once stored, so copying the files named by those hashes gives exactly the files the dump
references, however many uploads arrive meanwhile (their rows are not in the snapshot).

The owner role bypasses row-level security (sql/bootstrap/cluster.sql). That matters: every tenant
table FORCEs RLS, and pg_dump (row_security off) refuses a table whose policies would hide rows
from it rather than dumping some of them; the check below says so in plain words first.

Every run is a row of ``atum.backup_runs``; after a successful archive the verification
(:mod:`atumdesk.backups.verify`) restores it into a scratch database, and retention
(:mod:`atumdesk.backups.retention`) prunes older archives of the backup directory.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from atumdesk.attachments import relative_path, stored_path
from atumdesk.backups import retention
from atumdesk.backups.archive import DUMP, FORMAT, FORMAT_VERSION, ROLES, BackupError, Writer
from atumdesk.backups.tools import bar, last_line, libpq, program, q, run
from atumdesk.db import connect, first_line, refusal
from atumdesk.errors import AtumError
from atumdesk.settings import Settings

log = logging.getLogger("atumdesk.backup")


@dataclass
class BackupResult:
    """What a backup run produced."""

    run_id: int
    path: Path
    size_bytes: int
    sha256: str
    manifest: dict[str, Any]
    #: passed, failed (an alert) or skipped.
    verification: str = "skipped"
    verification_error: str | None = None
    pruned: list[Path] = field(default_factory=list)


def archive_name(dbname: str, now: datetime, directory: Path) -> Path:
    """``atumdesk-<db>-<UTC time>.tar`` in ``directory``, with ``-2``, ``-3``… if that second is taken."""
    stem = f"atumdesk-{dbname}-{now.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    candidate, n = directory / f"{stem}.tar", 1
    while candidate.exists() or candidate.with_name(f".{candidate.name}.partial").exists():
        n += 1
        candidate = directory / f"{stem}-{n}.tar"
    return candidate


#: Leftovers of a backup or verification that was killed are removed once they are this old (no run
#: takes a day, so none of them can still be in use).
STALE_SECONDS = 24 * 3600


def remove_stale(directory: Path, *, now: float | None = None) -> list[Path]:
    """Remove partial archives and work folders of killed runs (older than STALE_SECONDS)."""
    cutoff = (time.time() if now is None else now) - STALE_SECONDS
    removed = []
    for entry in directory.glob(".*"):
        if not (entry.name.startswith((".work-", ".verify-")) or entry.name.endswith(".partial")):
            continue
        try:
            if entry.lstat().st_mtime >= cutoff:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError:
            continue  # gone meanwhile, or not ours to remove: the next run tries again
        removed.append(entry)
    return removed


def _app_version() -> str:
    try:
        return importlib.metadata.version("atumdesk")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _pg_dump(settings: Settings, snapshot: str, target: Path, progress: bool) -> None:
    """pg_dump -Fc of the exported snapshot, as the owner, into ``target`` (a bar shows its size)."""
    dsn, env = libpq(settings.conninfo("owner"))
    args = [program("pg_dump"), "--format=custom", f"--snapshot={snapshot}", "--no-sync",
            f"--file={target}", f"--dbname={dsn}"]
    with bar(progress, desc="database", unit="B", unit_scale=True) as shown, \
            subprocess.Popen(args, stderr=subprocess.PIPE, text=True, env=env) as proc:
        while True:
            try:
                proc.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                pass
            finally:
                if target.exists():
                    shown.update(target.stat().st_size - shown.n)
        stderr = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0:
        raise BackupError(f"pg_dump failed: {last_line(stderr, f'exit status {proc.returncode}')}")


def _snapshot_facts(conn: psycopg.Connection[dict[str, Any]]) -> dict[str, Any]:
    conn.execute(q("store_lock_shared"))
    row = conn.execute(q("export_snapshot")).fetchone()
    assert row is not None
    server = conn.execute(q("server_version")).fetchone()
    assert server is not None
    return {
        "snapshot": row["pg_export_snapshot"],
        "tables": {r["table_name"]: {"rows": r["row_count"], "checksum": r["checksum"]}
                   for r in conn.execute(q("table_checksums"))},
        "attachments": [(r["sha256"], r["size_bytes"]) for r in conn.execute(q("attachment_hashes"))],
        "migrations": [r["migration_id"] for r in conn.execute(q("applied_migrations"))],
        "postgresql": server["version"],
        "database": server["dbname"],
    }


def _write_archive(settings: Settings, final: Path, work: Path, progress: bool,
                   run_id: int) -> tuple[int, str, dict[str, Any]]:
    """The archive at ``final``: everything read in one snapshot (see the module docstring)."""
    writer = Writer(final)
    try:
        with connect(settings.conninfo("owner"), "the owner (ATUM_OWNER_DATABASE_URL)", dict_rows=True) as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            with conn.transaction():
                facts = _snapshot_facts(conn)
                dump = work / DUMP
                _pg_dump(settings, facts["snapshot"], dump, progress)
                roles = work / ROLES
                roles.write_text(run([program("pg_dumpall"), "--roles-only", "--no-role-passwords"],
                                     settings.conninfo("owner"), "pg_dumpall --roles-only").stdout)
                writer.add_file(DUMP, dump)
                writer.add_file(ROLES, roles)
                dump.unlink()
                total = sum(size for _, size in facts["attachments"])
                with bar(progress, desc="attachments", total=total, unit="B", unit_scale=True) as shown:
                    for sha, _size in facts["attachments"]:
                        path = stored_path(settings.attachments_dir, sha)
                        if not path.is_file():
                            raise BackupError(f"attachment file {relative_path(sha)} is referenced by the database "
                                              f"but missing from {settings.attachments_dir}: restore it from an "
                                              "older backup or remove its row")
                        writer.add_file(f"attachments/{relative_path(sha)}", path, expected_sha256=sha,
                                        progress=shown.update)
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "database": facts["database"],
            # The run that wrote it: in the dump it is still running; a restore records how it ended.
            "run_id": run_id,
            "versions": {"app": _app_version(), "postgresql": facts["postgresql"],
                         "migrations": facts["migrations"],
                         "migration_head": facts["migrations"][-1] if facts["migrations"] else None},
            "tables": facts["tables"],
            "attachments": {"files": len(facts["attachments"]),
                            "bytes": sum(m["size"] for n, m in writer.members.items() if n.startswith("attachments/"))},
        }
        writer.add_manifest(manifest)
        size, digest = writer.commit()
        return size, digest, {**manifest, "members": writer.members}
    except BaseException:
        writer.abort()
        raise


def backup(settings: Settings, *, to: Path | None = None, started_by: str = "cli", job_id: int | None = None,
           verify: bool = True, progress: bool = False,
           say: Callable[[str], None] = lambda _msg: None) -> BackupResult:
    """Write one archive to ``to`` (default: the backup directory), verify it, apply retention.

    A failed backup raises :class:`BackupError` (recorded, no archive left behind). A failed
    verification does not raise: the result says so, and it is recorded as an alert.
    """
    from atumdesk.backups.verify import verify_archive

    directory = (to or settings.backup_dir).absolute()
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"cannot create the backup directory {directory}: {exc.strerror or exc}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise BackupError(f"the backup directory {directory} is not writable")
    for stale in remove_stale(directory):
        log.warning("removed %s, left by a backup that was interrupted", stale)
    with connect(settings.conninfo("owner"), "the owner (ATUM_OWNER_DATABASE_URL)", dict_rows=True,
                 autocommit=True) as book:
        role = book.execute(q("bypasses_rls")).fetchone()
        if not role or not role["bypasses"]:
            raise BackupError(f"the backup role {role['role'] if role else '?'} does not bypass row-level security: "
                              "its dump would lack rows (ATUM_OWNER_DATABASE_URL must name atum_owner, which has "
                              "BYPASSRLS)")
        try:
            row = book.execute(q("run_start"), {"started_by": started_by, "job_id": job_id}).fetchone()
        except psycopg.Error as exc:
            raise refusal(exc, "cannot record the backup run: ") from None
        assert row is not None
        run_id = int(row["id"])
        final = archive_name(settings.database_name, datetime.now(UTC), directory)
        work = directory / f".work-{os.getpid()}-{run_id}"
        try:
            work.mkdir(mode=0o700)
            say(f"backing up {settings.database_name} to {final}")
            size, digest, manifest = _write_archive(settings, final, work, progress, run_id)
        except BaseException as exc:
            error = first_line(exc) if isinstance(exc, Exception) else type(exc).__name__
            book.execute(q("run_finish"), {"id": run_id, "succeeded": False, "file": None, "size_bytes": None,
                                           "sha256": None, "error": error})
            if isinstance(exc, psycopg.Error):
                raise BackupError(f"backup failed: {error}") from None
            raise
        finally:
            for leftover in work.glob("*") if work.exists() else []:
                leftover.unlink()
            if work.exists():
                work.rmdir()
        book.execute(q("run_finish"), {"id": run_id, "succeeded": True, "file": str(final), "size_bytes": size,
                                       "sha256": bytes.fromhex(digest), "error": None})
        result = BackupResult(run_id, final, size, digest, manifest)
        log.info("backup written", extra={"file": str(final), "size_bytes": size, "sha256": digest})
        if verify:
            say("verifying: restoring it into a scratch database")
            try:
                verify_archive(settings, final, progress=progress)
                result.verification = "passed"
            except AtumError as exc:  # a BackupError, or the scratch database could not be reached
                result.verification, result.verification_error = "failed", str(exc)
                log.error("ALERT: backup verification failed: %s", exc, extra={"file": str(final)})
        book.execute(q("run_verified"), {"id": run_id, "outcome": result.verification,
                                         "error": result.verification_error})
        if result.verification != "failed" and directory == settings.backup_dir.absolute():
            result.pruned = retention.prune(directory, settings.database_name, keep_daily=settings.backup_keep_daily,
                                            keep_weekly=settings.backup_keep_weekly, keep=final)
            if result.pruned:
                book.execute(q("runs_pruned"), {"files": [str(p) for p in result.pruned]})
    return result
