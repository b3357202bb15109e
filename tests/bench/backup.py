"""Backup and restore of a demo database: time and size of the archive, of its verification, and of
a restore into a database of its own (`make bench`, or ``python -m tests.bench.backup --tickets N``
for this one alone).

Each step is the code the commands run: ``backup(verify=False)`` for the archive, then
``verify_archive`` (the scratch restore and comparison the nightly job adds), then ``restore`` into
another database name of the same cluster with the attachments into another data directory. The
database is loaded with ``atumdesk demo`` first unless it already holds tickets (the benchmark run
passes the large database the RLS benchmark loaded, to avoid loading it twice).
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from atumdesk import demo
from atumdesk import settings as settings_mod
from atumdesk.backups.create import backup
from atumdesk.backups.restore import drop_database, restore
from atumdesk.backups.verify import verify_archive
from atumdesk.instance import Instance
from atumdesk.migrate import migrate
from atumdesk.settings import Settings

PORT = 54331


def _tickets(settings: Settings) -> int:
    with psycopg.connect(settings.conninfo("owner")) as conn:
        row = conn.execute("SELECT count(*) FROM atum.tickets").fetchone()
    return int(row[0]) if row else 0


def run(settings: Settings, *, tickets: int, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Load (if empty), back up, verify and restore; the figures."""
    migrate(settings, schedule_cron=False)
    if _tickets(settings) == 0:
        log(f"loading {tickets:,} demo tickets for the backup benchmark ...")
        demo.load(settings, tickets=tickets, progress=sys.stderr.isatty(), out=io.StringIO())
    present = _tickets(settings)
    work = Path(tempfile.mkdtemp(prefix="atumdesk-bench-backup-"))
    restored_db = f"{settings.database_name}_restored"
    try:
        log(f"backing up {present:,} tickets ...")
        target = settings_mod.load({
            "ATUM_DATA_DIR": str(settings.data_dir), "ATUM_PG_PORT": str(settings.pg_port),
            "ATUM_DATABASE_URL": settings.database_url, "ATUM_OWNER_DATABASE_URL": settings.owner_database_url,
            "ATUM_ADMIN_DATABASE_URL": settings.admin_database_url, "ATUM_BACKUP_DIR": str(work / "backups")})
        started = time.monotonic()
        result = backup(target, verify=False)
        backup_seconds = time.monotonic() - started
        log("verifying ...")
        started = time.monotonic()
        verify_archive(target, result.path)
        verify_seconds = time.monotonic() - started
        log("restoring into a new database ...")
        elsewhere = settings_mod.load({
            "ATUM_DATA_DIR": str(work / "restored"), "ATUM_PG_PORT": str(settings.pg_port),
            "ATUM_DATABASE_URL": make_conninfo(settings.database_url, dbname=restored_db),
            "ATUM_OWNER_DATABASE_URL": make_conninfo(settings.owner_database_url, dbname=restored_db),
            "ATUM_ADMIN_DATABASE_URL": settings.admin_database_url})
        started = time.monotonic()
        restored = restore(elsewhere, result.path, schedule_cron=False)
        restore_seconds = time.monotonic() - started
        dump = result.manifest["members"]["database.dump"]["size"]
        return {"tickets": present, "rows": restored.rows, "tables": restored.tables,
                "archive_bytes": result.size_bytes, "dump_bytes": dump,
                "attachment_files": result.manifest["attachments"]["files"],
                "backup_seconds": round(backup_seconds, 2), "verify_seconds": round(verify_seconds, 2),
                "restore_seconds": round(restore_seconds, 2)}
    finally:
        drop_database(settings, restored_db)
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    """This benchmark alone, on a throwaway cluster."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=100_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="atumdesk-bench-"))
    root.chmod(0o755)
    instance = Instance(root / "pg", port=PORT,
                        extra_settings={"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"})
    try:
        instance.init()
        instance.start()
        settings = settings_mod.load({"ATUM_DATA_DIR": str(root), "ATUM_PG_PORT": str(PORT)})
        figures = run(settings, tickets=args.tickets)
        for key, value in figures.items():
            print(f"{key:>18}  {value:,}" if isinstance(value, int) else f"{key:>18}  {value}")
    finally:
        instance.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
