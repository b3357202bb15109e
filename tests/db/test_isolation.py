"""Tenant isolation, checked for every tenant table found in the catalog: signed in to organization
A (even as its admin), nothing of organization B can be seen or written; with a forged or replayed
context nothing at all."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.support import Database, Org, build_org, org_column, tenant_tables


@pytest.fixture
def world(owner: psycopg.Connection) -> tuple[Org, Org]:
    return build_org(owner, "alpha"), build_org(owner, "beta")


def count(conn: psycopg.Connection, table: str, org_id: int | None = None) -> int:
    query = sql.SQL("SELECT count(*) AS n FROM {}").format(sql.Identifier("atum", table))
    params: list[Any] = []
    if org_id is not None:
        query += sql.SQL(" WHERE {} = %s").format(sql.Identifier(org_column(table)))
        params = [org_id]
    row = conn.execute(query, params).fetchone()
    return row["n"] if isinstance(row, dict) else row[0]


def app_may(owner: psycopg.Connection, table: str, privilege: str) -> bool:
    return owner.execute("SELECT has_table_privilege('atum_app', %s, %s)", [f"atum.{table}", privilege]).fetchone()[0]


def updatable_column(owner: psycopg.Connection, table: str) -> str | None:
    row = owner.execute("""
        SELECT a.attname FROM pg_attribute a
         WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
           AND has_column_privilege('atum_app', a.attrelid, a.attnum, 'UPDATE')
         ORDER BY a.attnum LIMIT 1""", [f"atum.{table}"]).fetchone()
    return row[0] if row else None


def copy_statement(owner: psycopg.Connection, table: str) -> sql.Composed:
    """INSERT of a copy of a given row (as JSON), leaving out identity and generated columns."""
    columns = [r[0] for r in owner.execute("""
        SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0
           AND NOT attisdropped AND attidentity = '' AND attgenerated = '' ORDER BY attnum""", [f"atum.{table}"])]
    ident = sql.Identifier("atum", table)
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    return sql.SQL("INSERT INTO {} ({}) SELECT {} FROM jsonb_populate_record(NULL::{}, %s)").format(
        ident, cols, cols, ident)


def test_the_world_has_rows_of_both_organizations_in_every_tenant_table(owner: psycopg.Connection,
                                                                         world: tuple[Org, Org]) -> None:
    a, b = world
    empty = [(t, o.slug) for t in tenant_tables(owner) for o in (a, b) if count(owner, t, o.id) == 0]
    assert empty == [], "extend tests/support.build_org so every tenant table is covered"


def test_signed_in_to_a_nothing_of_b_is_visible(db: Database, owner: psycopg.Connection,
                                                 world: tuple[Org, Org]) -> None:
    a, b = world
    seen_own = []
    for role in ("admin", "agent", "customer"):
        with db.acting_as(a.tokens[role]) as conn:
            for table in tenant_tables(owner):
                assert count(conn, table, b.id) == 0, f"{role} of A sees rows of B in {table}"
                seen_own.append((role, table, count(conn, table, a.id)))
    # The same queries do see A's own rows (so the check above could fail): the admin sees all.
    assert [t for role, t, n in seen_own if role == "admin" and n == 0] == []


def test_signed_in_to_a_no_row_of_b_can_be_changed_or_deleted(db: Database, owner: psycopg.Connection,
                                                               world: tuple[Org, Org]) -> None:
    a, b = world
    before = {t: count(owner, t, b.id) for t in tenant_tables(owner)}
    for table in tenant_tables(owner):
        column = updatable_column(owner, table)
        where = sql.SQL("WHERE {} = %s").format(sql.Identifier(org_column(table)))
        statements = [sql.SQL("DELETE FROM {} ").format(sql.Identifier("atum", table)) + where]
        if column:
            statements.append(sql.SQL("UPDATE {} SET {} = {} ").format(
                sql.Identifier("atum", table), sql.Identifier(column), sql.Identifier(column)) + where)
        for statement in statements:
            with db.acting_as(a.tokens["admin"]) as conn:
                try:
                    cur = conn.execute(statement, [b.id])
                    assert cur.rowcount == 0, f"{statement.as_string(conn)} touched B's rows"
                except psycopg.errors.InsufficientPrivilege:
                    pass  # not even allowed to try: fine
    assert {t: count(owner, t, b.id) for t in tenant_tables(owner)} == before


def test_signed_in_to_a_no_row_can_be_added_to_b(db: Database, owner: psycopg.Connection,
                                                 world: tuple[Org, Org]) -> None:
    a, b = world
    tried = []
    for table in tenant_tables(owner):
        if not app_may(owner, table, "INSERT"):
            continue
        row = owner.execute(
            sql.SQL("SELECT to_jsonb(t) FROM {} t WHERE {} = %s LIMIT 1").format(
                sql.Identifier("atum", table), sql.Identifier(org_column(table))), [b.id]).fetchone()[0]
        tried.append(table)
        with db.acting_as(a.tokens["admin"]) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege) as err:
            conn.execute(copy_statement(owner, table), [psycopg.types.json.Jsonb(row)])
        assert "row-level security" in str(err.value) or "permission denied" in str(err.value)
    assert {"tickets", "ticket_comments", "users", "attachments"} <= set(tried)


def test_the_same_insert_into_the_own_organization_works(db: Database, owner: psycopg.Connection,
                                                         world: tuple[Org, Org]) -> None:
    """Control for the test above: the copy statement itself is sound."""
    a, _ = world
    row = owner.execute("SELECT to_jsonb(t) FROM atum.categories t WHERE organization_id = %s", [a.id]).fetchone()[0]
    row["name"] = "Software"
    with db.acting_as(a.tokens["admin"]) as conn:
        conn.execute(copy_statement(owner, "categories"), [psycopg.types.json.Jsonb(row)])
        assert count(conn, "categories", a.id) == 2


SETTINGS = [
    "{a}|{user}|admin|s1|" + "0" * 64,
    "{a}",
    "organization_id={a} user_id={user} role=admin",
]


@pytest.mark.parametrize("value", SETTINGS)
def test_a_context_set_by_hand_sees_and_changes_nothing(db: Database, owner: psycopg.Connection,
                                                        world: tuple[Org, Org], value: str) -> None:
    a, _ = world
    value = value.format(a=a.id, user=a.users["admin"])
    with db.connect("atum_app") as conn:
        for name in ("atum.context", "atum.organization_id", "request.jwt.claims"):
            conn.execute("SELECT set_config(%s, %s, true)", [name, value])
        assert conn.execute("SELECT atum.current_org(), atum.current_user_id()").fetchone() == (None, None)
        for table in tenant_tables(owner):
            assert count(conn, table) == 0, table
        assert conn.execute("UPDATE atum.tickets SET subject = 'pwned'").rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO atum.tickets (organization_id, subject, requester_id) VALUES (%s, 'x', %s)",
                         [a.id, a.users["customer"]])


def test_the_app_cannot_write_a_context_of_its_own(db: Database, world: tuple[Org, Org]) -> None:
    a, _ = world
    with db.connect("atum_app", autocommit=True) as conn:
        for statement in (
            "INSERT INTO atum.request_contexts VALUES (pg_backend_pid(), transaction_timestamp(), %(org)s, %(user)s,"
            " 'admin', 's1')",
            "UPDATE atum.request_contexts SET role = 'admin'",
            "INSERT INTO atum.request_context VALUES (%(org)s, %(user)s, 'admin', true, 's1')",
        ):
            with pytest.raises((psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectNotInPrerequisiteState,
                                psycopg.errors.FeatureNotSupported)):
                conn.execute(statement, {"org": a.id, "user": a.users["admin"]})


def test_a_context_does_not_outlive_its_transaction_or_leave_its_connection(db: Database, owner: psycopg.Connection,
                                                                            world: tuple[Org, Org]) -> None:
    a, _ = world
    with db.connect("atum_app") as conn, db.connect("atum_app") as other:
        conn.execute("SELECT api.authenticate(%s)", [a.tokens["admin"]])
        assert count(conn, "tickets") == 2
        assert count(other, "tickets") == 0  # another backend, meanwhile
        conn.commit()
        # Same connection, next transaction: the row is still there but belongs to the last one.
        assert owner.execute("SELECT count(*) FROM atum.request_contexts").fetchone() == (1,)
        assert count(conn, "tickets") == 0
        conn.rollback()


def test_without_any_context_the_app_sees_nothing(db: Database, owner: psycopg.Connection,
                                                  world: tuple[Org, Org]) -> None:
    with db.connect("atum_app") as conn:
        for table in tenant_tables(owner):
            assert count(conn, table) == 0, table


def test_the_app_cannot_read_contexts_or_mint_sessions(db: Database, world: tuple[Org, Org]) -> None:
    a, _ = world
    with db.connect("atum_app", autocommit=True) as conn:
        for statement in ("SELECT * FROM atum.request_contexts",
                          f"SELECT atum_private.session_issue({a.id}, {a.users['admin']})",
                          "SELECT password_hash FROM atum.users",
                          "SELECT token_hash FROM atum.sessions"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
