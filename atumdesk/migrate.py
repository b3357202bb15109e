"""`atumdesk migrate`: bootstrap roles and database, apply yoyo migrations, re-apply `sql/`, sync pg_cron.

The order matters and is the same every time:

1. as a superuser: the roles (``sql/bootstrap/cluster.sql``), the database, its extensions and
   privileges (``sql/bootstrap/database.sql``);
2. as ``atum_owner``: pending versioned migrations from ``migrations/`` (yoyo);
3. as ``atum_owner``, in one transaction: every ``sql/NN_*.sql`` file in name order — functions,
   triggers, policies, grants — also when no migration was new;
4. as a superuser in the pg_cron database: pg_cron's job list made equal to ``atum.cron_jobs()``.

A session-level advisory lock held throughout makes concurrent runs queue instead of racing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from yoyo import get_backend, read_migrations

from atumdesk import PROJECT_ROOT
from atumdesk.db import connect
from atumdesk.errors import AtumError
from atumdesk.queries import query
from atumdesk.settings import Settings

SQL_DIR = PROJECT_ROOT / "sql"
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
CRON_PREFIX = "atum:"


def migration_ids() -> list[str]:
    """Ids of the versioned migrations in this checkout, in order (what a current database has applied)."""
    return sorted(p.name.removesuffix(".sql") for p in MIGRATIONS_DIR.glob("*.sql")
                  if not p.name.endswith(".rollback.sql"))


def sql_files() -> list[Path]:
    """The re-applied SQL files, in the order they are applied."""
    return sorted(SQL_DIR.glob("[0-9][0-9]_*.sql"))


def _yoyo_uri(conninfo: str) -> str:
    """yoyo wants a URL; libpq parameters other than user/password/dbname go in the query string."""
    params = conninfo_to_dict(conninfo)
    user = quote(str(params.pop("user", "")), safe="")
    password = params.pop("password", None)
    dbname = quote(str(params.pop("dbname", "")), safe="")
    auth = f"{user}:{quote(str(password), safe='')}@" if password else (f"{user}@" if user else "")
    query_string = urlencode({k: str(v) for k, v in params.items()})
    return f"postgresql+psycopg://{auth}/{dbname}" + (f"?{query_string}" if query_string else "")


def cron_job_name(database: str, name: str) -> str:
    """pg_cron job names carry the database so several ATUM DESK databases can share a cluster."""
    return f"{CRON_PREFIX}{database}:{name}"


def bootstrap(settings: Settings, dbname: str, log: Callable[[str], None]) -> None:
    """Roles, database, extensions, database privileges (superuser, idempotent)."""
    admin = settings.conninfo("admin")
    with connect(admin, "the administrator (ATUM_ADMIN_DATABASE_URL)", autocommit=True) as conn:
        conn.execute(SQL_DIR.joinpath("bootstrap", "cluster.sql").read_text())
        exists = conn.execute(query("database_exists"), {"name": dbname}).fetchone()
        if not (exists and exists[0]):
            log(f"creating database {dbname}")
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER atum_owner ENCODING 'UTF8' TEMPLATE template0").format(
                sql.Identifier(dbname)))
    with connect(make_conninfo(admin, dbname=dbname), "the administrator", autocommit=True) as conn:
        conn.execute(SQL_DIR.joinpath("bootstrap", "database.sql").read_text())


def apply_migrations(owner_conninfo: str, log: Callable[[str], None]) -> int:
    """Apply pending yoyo migrations as the owner; returns how many were applied."""
    backend = get_backend(_yoyo_uri(owner_conninfo))
    try:
        migrations = read_migrations(str(MIGRATIONS_DIR))
        with backend.lock():
            pending = backend.to_apply(migrations)
            for migration in pending:
                log(f"applying migration {migration.id}")
            backend.apply_migrations(pending)
            return len(pending)
    finally:
        backend.connection.close()


def apply_sql(owner_conninfo: str) -> None:
    """Re-apply every file of sql/ in one transaction as the owner (all or nothing)."""
    with connect(owner_conninfo, "the owner (ATUM_OWNER_DATABASE_URL)") as conn, conn.transaction():
        for path in sql_files():
            try:
                conn.execute(path.read_text())  # type: ignore[arg-type]  # our own files, not user input
            except psycopg.Error as exc:
                raise AtumError(f"{path.relative_to(PROJECT_ROOT)}: {exc.diag.message_primary or exc}") from exc
        conn.execute(query("yoyo_comment"))


def sync_cron(settings: Settings, dbname: str, log: Callable[[str], None]) -> None:
    """Make pg_cron's jobs for this database equal to atum.cron_jobs() (run as a superuser)."""
    admin = settings.conninfo("admin")
    with connect(make_conninfo(settings.conninfo("owner"), dbname=dbname), "the owner") as conn:
        wanted = {cron_job_name(dbname, n): (s, c) for n, s, c in conn.execute(query("cron_wanted_jobs"))}
    with connect(admin, "the administrator", autocommit=True) as conn:
        row = conn.execute(query("cron_database")).fetchone()
        cron_db, preloaded = (row[0], row[1]) if row else (None, False)
        if not preloaded or not cron_db:
            raise AtumError(
                "pg_cron is not preloaded: add shared_preload_libraries = 'pg_cron' "
                "(see deploy/postgresql/atumdesk.conf) and restart PostgreSQL"
            )
    with connect(make_conninfo(admin, dbname=cron_db), f"the administrator in {cron_db}", autocommit=True) as conn:
        conn.execute(query("cron_extension_create"))
        prefix = cron_job_name(dbname, "")
        present = {r[0]: r[1:] for r in conn.execute(query("cron_scheduled_jobs"), {"prefix": prefix})}
        for jobname, (schedule, command) in wanted.items():
            if present.get(jobname, ())[:4] != (schedule, command, dbname, "atum_owner"):
                log(f"scheduling {jobname} ({schedule})")
                conn.execute(query("cron_schedule"), {"jobname": jobname, "schedule": schedule,
                                                      "command": command, "database": dbname})
        for jobname in present.keys() - wanted.keys():
            log(f"unscheduling {jobname}")
            conn.execute(query("cron_unschedule"), {"jobid": present[jobname][4]})


def migrate(
    settings: Settings,
    *,
    dbname: str | None = None,
    schedule_cron: bool = True,
    log: Callable[[str], None] = lambda _msg: None,
) -> int:
    """Run all four steps for ``dbname`` (default: the configured database); returns migrations applied."""
    dbname = dbname or settings.database_name
    owner = make_conninfo(settings.conninfo("owner"), dbname=dbname)
    with connect(settings.conninfo("admin"), "the administrator (ATUM_ADMIN_DATABASE_URL)",
                  autocommit=True) as lock_conn:
        lock_conn.execute(query("migrate_lock"))
        try:
            bootstrap(settings, dbname, log)
            applied = apply_migrations(owner, log)
            apply_sql(owner)
            if schedule_cron:
                sync_cron(settings, dbname, log)
        finally:
            lock_conn.execute(query("migrate_unlock"))
    return applied
