"""Rules that must hold for every object, generated from the catalog: a table, function or policy
added later without them fails here without anyone remembering to add a case."""

from __future__ import annotations

import re

import psycopg
import pytest

from tests.support import DERIVED_TABLES, Database, audited_tables, org_column, tenant_tables

SCHEMAS = ("atum", "api", "reporting", "atum_private")


def rows(conn: psycopg.Connection, sql: str, params: list | None = None) -> list[tuple]:
    return conn.execute(sql, params or []).fetchall()


def test_every_table_has_row_level_security_enabled_and_forced(owner: psycopg.Connection) -> None:
    offenders = rows(owner, """
        SELECT c.relname FROM pg_class c
         WHERE c.relnamespace = 'atum'::regnamespace AND c.relkind IN ('r', 'p')
           AND NOT (c.relrowsecurity AND c.relforcerowsecurity)""")
    assert offenders == []
    assert len(rows(owner, "SELECT 1 FROM pg_class WHERE relnamespace = 'atum'::regnamespace AND relkind = 'r'")) >= 20


def test_tenant_tables_carry_the_organization_in_not_null_key_columns(owner: psycopg.Connection) -> None:
    tables = tenant_tables(owner)
    assert "tickets" in tables and "ticket_comments" in tables
    for table in tables:
        column = org_column(table)
        not_null = owner.execute(
            "SELECT attnotnull FROM pg_attribute WHERE attrelid = %s::regclass AND attname = %s",
            [f"atum.{table}", column]).fetchone()
        assert not_null == (True,), f"{table}.{column} must be NOT NULL"
        first_key_column = owner.execute("""
            SELECT a.attname FROM pg_constraint k JOIN pg_attribute a
                ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
             WHERE k.conrelid = %s::regclass AND k.contype = 'p'""", [f"atum.{table}"]).fetchone()
        assert first_key_column == (column,), f"{table}: primary key must start with {column}"


def test_foreign_keys_between_tenant_tables_include_the_organization(owner: psycopg.Connection) -> None:
    tenant = set(tenant_tables(owner))
    fks = rows(owner, """
        SELECT k.conname, src.relname, dst.relname,
               (SELECT array_agg(a.attname ORDER BY i) FROM unnest(k.conkey) WITH ORDINALITY u(n, i)
                  JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n),
               (SELECT array_agg(a.attname ORDER BY i) FROM unnest(k.confkey) WITH ORDINALITY u(n, i)
                  JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n)
          FROM pg_constraint k
          JOIN pg_class src ON src.oid = k.conrelid JOIN pg_class dst ON dst.oid = k.confrelid
         WHERE k.contype = 'f' AND src.relnamespace = 'atum'::regnamespace""")
    checked = 0
    for name, src, dst, cols, ref_cols in fks:
        if src not in tenant or dst not in tenant:
            continue
        checked += 1
        assert "organization_id" in cols, f"{name}: {src}{cols} -> {dst}{ref_cols} lacks organization_id"
        position = cols.index("organization_id")
        assert ref_cols[position] == org_column(dst), f"{name} must match organization_id with {dst}'s"
    assert checked >= 20


def test_internal_tables_are_unreachable_for_the_app_and_reporting_roles(owner: psycopg.Connection) -> None:
    tenant = set(tenant_tables(owner))
    internal = [r[0] for r in rows(owner, "SELECT relname FROM pg_class"
                                          " WHERE relnamespace = 'atum'::regnamespace AND relkind = 'r'")
                if r[0] not in tenant]
    assert {"audit_heads", "request_contexts", "jobs"} <= set(internal)
    for table in internal:
        for role in ("atum_app", "atum_reporting"):
            granted = owner.execute(
                "SELECT has_table_privilege(%s, %s, 'SELECT,INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER')",
                [role, f"atum.{table}"]).fetchone()[0]
            assert not granted, f"{role} has privileges on internal table {table}"


def test_every_tenant_table_is_audited_on_insert_update_and_delete(owner: psycopg.Connection) -> None:
    assert len(audited_tables(owner)) == len(tenant_tables(owner)) - 1 - len(DERIVED_TABLES)
    for table in audited_tables(owner):
        triggers = {r[0] for r in rows(owner, "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass",
                                       [f"atum.{table}"])}
        assert {"_900_audit_insert", "_900_audit_update", "_900_audit_delete"} <= triggers, table


def test_policies_read_the_context_once_per_statement(owner: psycopg.Connection) -> None:
    """Policies read the context only as uncorrelated sub-selects of atum.request_context (InitPlans),
    never through a function call evaluated per row."""
    policies = rows(owner, "SELECT policyname, tablename, qual, with_check FROM pg_policies WHERE schemaname = 'atum'")
    tenant_policies = 0
    for name, table, qual, check in policies:
        for expr in (qual or "", check or ""):
            assert not re.search(r"atum\.current_\w+\(", expr), f"policy {name} on {table} calls a function: {expr}"
            uses = len(re.findall(r"atum\.request_context", expr))
            wrapped = len(re.findall(r"\(\s*SELECT c\.\w+\s+FROM atum\.request_context c\)", expr))
            assert uses == wrapped, f"policy {name} on {table} reads the context in another way: {expr}"
            tenant_policies += uses > 0
    assert tenant_policies >= 30


def test_roles_are_as_the_spec_says(owner: psycopg.Connection) -> None:
    roles = {r[0]: r[1:] for r in rows(owner, """
        SELECT rolname, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolconfig
          FROM pg_roles WHERE rolname LIKE 'atum\\_%%'""")}
    assert set(roles) == {"atum_owner", "atum_app", "atum_reporting"}
    assert roles["atum_app"][:4] == (False, False, False, False)
    assert roles["atum_reporting"][:4] == (False, False, False, False)
    assert "default_transaction_read_only=on" in (roles["atum_reporting"][4] or [])
    owned_by_app = rows(owner, "SELECT relname FROM pg_class WHERE relowner = 'atum_app'::regrole")
    owned_by_app += rows(owner, "SELECT proname FROM pg_proc WHERE proowner = 'atum_app'::regrole")
    owned_by_app += rows(owner, "SELECT nspname FROM pg_namespace WHERE nspowner = 'atum_app'::regrole")
    assert owned_by_app == []


def test_schemas_exist_and_are_owned_by_the_owner(owner: psycopg.Connection) -> None:
    found = dict(rows(owner, "SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = ANY(%s)",
                      [list(SCHEMAS)]))
    assert found == dict.fromkeys(SCHEMAS, "atum_owner")


def test_security_definer_functions_pin_their_search_path_and_are_not_public(owner: psycopg.Connection) -> None:
    definers = rows(owner, """
        SELECT p.oid::regprocedure::text, p.proconfig, has_function_privilege('public', p.oid, 'EXECUTE')
          FROM pg_proc p WHERE p.prosecdef AND p.pronamespace::regnamespace::text = ANY(%s)""", [list(SCHEMAS)])
    assert len(definers) >= 5
    for signature, config, public in definers:
        assert "search_path=pg_catalog, pg_temp" in (config or []), signature
        assert not public, f"{signature} is executable by PUBLIC"


def test_the_app_may_execute_only_api_and_context_functions(owner: psycopg.Connection) -> None:
    executable = {r[0] for r in rows(owner, """
        SELECT p.oid::regprocedure::text FROM pg_proc p
         WHERE p.pronamespace::regnamespace::text = ANY(%s) AND has_function_privilege('atum_app', p.oid, 'EXECUTE')""",
                                      [list(SCHEMAS)])}
    assert "api.authenticate(text)" in executable
    assert not {f for f in executable if f.startswith("atum_private.")}
    assert "atum.org_create(text,text,text)" not in executable


def test_everything_a_dba_sees_has_a_comment(owner: psycopg.Connection) -> None:
    missing = rows(owner, """
        SELECT 'schema ' || n.nspname FROM pg_namespace n
         WHERE n.nspname = ANY(%(s)s) AND obj_description(n.oid, 'pg_namespace') IS NULL
        UNION ALL
        SELECT 'table ' || c.oid::regclass FROM pg_class c
         WHERE c.relnamespace::regnamespace::text = ANY(%(s)s) AND c.relkind IN ('r', 'v', 'm', 'p')
           AND obj_description(c.oid, 'pg_class') IS NULL
        UNION ALL
        SELECT 'column ' || c.oid::regclass || '.' || a.attname
          FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
         WHERE c.relnamespace::regnamespace::text = ANY(%(s)s) AND c.relkind IN ('r', 'v', 'm', 'p')
           AND a.attnum > 0 AND NOT a.attisdropped AND col_description(c.oid, a.attnum) IS NULL
        UNION ALL
        SELECT 'function ' || p.oid::regprocedure FROM pg_proc p
         WHERE p.pronamespace::regnamespace::text = ANY(%(s)s) AND obj_description(p.oid, 'pg_proc') IS NULL
        UNION ALL
        SELECT 'type ' || t.oid::regtype FROM pg_type t
         WHERE t.typnamespace::regnamespace::text = ANY(%(s)s) AND t.typtype IN ('e', 'd', 'c')
           AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind <> 'c')
           AND obj_description(t.oid, 'pg_type') IS NULL
        UNION ALL
        SELECT 'trigger ' || tg.tgname || ' on ' || tg.tgrelid::regclass FROM pg_trigger tg
         WHERE NOT tg.tgisinternal AND tg.tgrelid::regclass::text LIKE 'atum.%%'
           AND obj_description(tg.oid, 'pg_trigger') IS NULL
        UNION ALL
        SELECT 'role ' || r.rolname FROM pg_roles r
         WHERE r.rolname LIKE 'atum\\_%%' AND shobj_description(r.oid, 'pg_authid') IS NULL
        ORDER BY 1""", {"s": list(SCHEMAS)})
    assert missing == []


@pytest.mark.parametrize("role", ["atum_app", "atum_reporting"])
def test_nobody_but_the_owner_creates_objects(db: Database, role: str) -> None:
    # Privileges hold even for a reporting session that switches read-only off.
    with db.connect(role, options="-c default_transaction_read_only=off") as conn:
        for schema in (*SCHEMAS, "public"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"CREATE TABLE {schema}.intruder (x int)")
            conn.rollback()
