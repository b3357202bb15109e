"""`atumdesk migrate`: a fresh install has every migration, re-running changes nothing, two runs
at once do not collide, and sql/ re-applies what was lost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from atumdesk.migrate import apply_sql, migrate, migration_ids, sync_cron
from atumdesk.settings import Settings
from tests.support import Database

CATALOG = """
    SELECT 'function ' || p.oid::regprocedure || ' ' || md5(pg_get_functiondef(p.oid))
      FROM pg_proc p WHERE p.pronamespace::regnamespace::text IN ('atum', 'api', 'atum_private', 'reporting')
       AND p.prokind = 'f'
    UNION ALL
    SELECT 'policy ' || tablename || '.' || policyname || ' ' || cmd || ' ' || roles::text || ' '
           || coalesce(qual, '') || ' ' || coalesce(with_check, '') FROM pg_policies WHERE schemaname = 'atum'
    UNION ALL
    SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' ' || coalesce(obj_description(t.oid, 'pg_trigger'), '')
      FROM pg_trigger t WHERE NOT t.tgisinternal AND t.tgrelid::regclass::text LIKE 'atum.%%'
    UNION ALL
    SELECT 'acl ' || c.oid::regclass || ' ' || coalesce(c.relacl::text, '')
      FROM pg_class c WHERE c.relnamespace::regnamespace::text IN ('atum', 'reporting')
    UNION ALL
    SELECT 'column-acl ' || a.attrelid::regclass || '.' || a.attname || ' ' || a.attacl::text
      FROM pg_attribute a WHERE a.attacl IS NOT NULL AND a.attrelid::regclass::text LIKE 'atum.%%'
    UNION ALL
    SELECT 'comment ' || d.objoid || ' ' || d.objsubid || ' ' || d.description FROM pg_description d
      JOIN pg_class c ON c.oid = d.objoid WHERE c.relnamespace::regnamespace::text = 'atum'
    ORDER BY 1
"""


def catalog(db: Database) -> list[str]:
    with db.connect("atum_owner") as conn:
        return [r[0] for r in conn.execute(CATALOG)]


def test_a_fresh_install_has_every_migration_applied(db: Database) -> None:
    with db.connect("atum_owner") as conn:
        applied = {r[0] for r in conn.execute("SELECT migration_id FROM public._yoyo_migration")}
    on_disk = set(migration_ids())
    assert applied == on_disk and on_disk


def test_migrating_again_changes_nothing(db: Database) -> None:
    before = catalog(db)
    assert migrate(db.settings, dbname=db.dbname, schedule_cron=False) == 0
    assert catalog(db) == before
    assert len(before) > 200


def test_reapplying_sql_restores_what_was_dropped(db: Database, owner: psycopg.Connection) -> None:
    before = catalog(db)
    owner.execute("DROP POLICY tickets_read ON atum.tickets")
    owner.execute("DROP TRIGGER _900_audit_update ON atum.tickets")
    owner.execute("GRANT SELECT ON atum.request_contexts TO atum_app")
    owner.execute("CREATE POLICY leftover ON atum.tickets FOR SELECT TO atum_app USING (true)")
    apply_sql(db.conninfo("atum_owner"))
    assert catalog(db) == before


@pytest.mark.slow
def test_two_migrations_at_once_on_a_new_database_both_succeed(cluster: Settings) -> None:
    dbname = "atum_concurrent"
    env = dict(os.environ, ATUM_DATA_DIR=str(cluster.data_dir),
               ATUM_DATABASE_URL=make_conninfo(cluster.database_url, dbname=dbname))
    procs = [subprocess.Popen([sys.executable, "-m", "atumdesk.cli", "migrate"], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    try:
        assert [r[0] for r in results] == [0, 0], results
        outputs = sorted(r[1] for r in results)
        assert outputs[0].startswith(f"database {dbname} is up to date (0 migration(s) applied)")
        migrations = len(migration_ids())
        assert outputs[1].startswith(f"database {dbname} is up to date ({migrations} migration(s) applied)")
        with psycopg.connect(make_conninfo(cluster.owner_database_url, dbname=dbname)) as conn:
            assert conn.execute("SELECT count(*) FROM public._yoyo_migration").fetchone() == (migrations,)
    finally:
        with psycopg.connect(cluster.admin_database_url, autocommit=True) as admin:
            admin.execute("SELECT cron.unschedule(jobid) FROM cron.job WHERE database = %s", [dbname])
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


def test_pg_cron_jobs_follow_the_schedule_in_sql(db: Database) -> None:
    admin = db.settings.admin_database_url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("SELECT cron.schedule_in_database(%s, '0 0 1 1 *', 'SELECT 1', %s, 'atum_owner')",
                     [f"atum:{db.dbname}:retired-job", db.dbname])
    try:
        sync_cron(db.settings, db.dbname, log=lambda _m: None)
        with psycopg.connect(admin) as conn:
            jobs = conn.execute("SELECT jobname, schedule, database, username FROM cron.job WHERE database = %s"
                                " ORDER BY jobname", [db.dbname]).fetchall()
        with psycopg.connect(db.conninfo("atum_owner")) as conn:
            wanted = [(f"atum:{db.dbname}:{name}", schedule, db.dbname, "atum_owner")
                      for name, schedule in conn.execute("SELECT name, schedule FROM atum.cron_jobs() ORDER BY 1")]
        assert jobs == sorted(wanted)
        assert (f"atum:{db.dbname}:heartbeat", "* * * * *", db.dbname, "atum_owner") in jobs
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("SELECT cron.unschedule(jobid) FROM cron.job WHERE database = %s", [db.dbname])


def test_migrate_reports_an_unreachable_database_in_one_line(tmp_path: Path) -> None:
    env = dict(os.environ, ATUM_DATA_DIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "atumdesk.cli", "migrate"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("atumdesk: error: cannot connect to PostgreSQL as the administrator")
