"""The backup tests (backup, restore, verification, retention, point-in-time recovery), and their
helpers: settings with a data and backup directory of the test's own, the
CLI run the way an operator runs it, and fingerprints of a database and an attachment store that do
not depend on the code under test."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from atumdesk import settings as settings_mod
from atumdesk.attachments import stored_path
from tests.support import Database


def environment(db: Database, root: Path, **extra: str) -> dict[str, str]:
    """ATUM_* variables for the test database, with a data directory and backup directory under ``root``."""
    base = db.settings
    return {
        "ATUM_DATA_DIR": str(root / "data"),
        "ATUM_PG_PORT": str(base.pg_port),
        "ATUM_DATABASE_URL": make_conninfo(base.database_url, dbname=db.dbname),
        "ATUM_OWNER_DATABASE_URL": make_conninfo(base.owner_database_url, dbname=db.dbname),
        "ATUM_ADMIN_DATABASE_URL": base.admin_database_url,
        "ATUM_BACKUP_DIR": str(root / "backups"),
        **extra,
    }


def settings_for(db: Database, root: Path, **extra: str) -> settings_mod.Settings:
    """The settings `environment` describes."""
    return settings_mod.load(environment(db, root, **extra))


def cli(db: Database, root: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """`atumdesk ARGS` in a child process, as an operator runs it (stderr is not a terminal)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATUM_")} | environment(db, root, **extra)
    return subprocess.run([sys.executable, "-m", "atumdesk.cli", *args], env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def table_fingerprints(db: Database) -> dict[str, tuple[int, str]]:
    """Every table of the application's schemas: row count and md5 of all rows sorted by their text
    (computed here, independently of atum_private.backup_table_checksums)."""
    with db.connect("postgres", autocommit=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        tables = [r[0] for r in conn.execute(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind = 'r' AND n.nspname IN ('atum', 'public') ORDER BY 1")]
        result = {}
        for table in tables:
            row = conn.execute(f"SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '')"  # noqa: S608
                               f" FROM {table} AS t").fetchone()
            assert row is not None
            result[table] = (row[0], row[1])
    return result


def store_fingerprints(root: Path) -> dict[str, str]:
    """Every file of an attachment store: relative path -> SHA-256 of its content."""
    if not root.is_dir():
        return {}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def store_attachment_files(owner: psycopg.Connection[Any], attachments_dir: Path) -> int:
    """Write the file of every attachment row of the test world (its content is ``file <comment id>``)."""
    count = 0
    for comment_id, sha in owner.execute(
            "SELECT comment_id, encode(sha256, 'hex') FROM atum.attachments ORDER BY id").fetchall():
        path = stored_path(attachments_dir, sha)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"file {comment_id}".encode())
        count += 1
    return count


def database_exists(db: Database) -> bool:
    """Whether the test database exists (a restore may have dropped it)."""
    with psycopg.connect(db.settings.admin_database_url, autocommit=True) as conn:
        row = conn.execute("SELECT EXISTS (SELECT FROM pg_database WHERE datname = %s)", [db.dbname]).fetchone()
    return bool(row and row[0])


def drop_database(db: Database) -> None:
    """Wipe: the test database gone, as after losing the server."""
    with psycopg.connect(db.settings.admin_database_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db.dbname}" WITH (FORCE)')


def unschedule_cron(db: Database) -> None:
    """Remove the pg_cron jobs a CLI restore scheduled for the test database (it is dropped after the test)."""
    with psycopg.connect(db.settings.admin_database_url, autocommit=True) as conn:
        conn.execute("SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname LIKE %s",
                     [f"atum:{db.dbname}:%"])
