"""Reporting roles read the reporting views, read-only, and see only the organizations granted to
them — enforced by row-level security, checked by connecting as such roles."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from tests.support import Database, Org, build_org


@pytest.fixture
def world(owner: psycopg.Connection) -> tuple[Org, Org]:
    a, b = build_org(owner, "alpha"), build_org(owner, "beta")
    owner.execute("SELECT api.revoke_reporting('atum_reporting', %s)", [a.id])
    owner.execute("SELECT atum.reports_fold()")  # the report facts and counts, as pg_cron would
    return a, b


@pytest.fixture
def bi_role(db: Database) -> Iterator[str]:
    """A BI tool's own login role, created by a DBA."""
    name = f"bi_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(db.settings.admin_database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
        try:
            yield name
        finally:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def reporting_views(conn: psycopg.Connection) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT viewname FROM pg_views WHERE schemaname = 'reporting' ORDER BY 1")]


def organizations_seen(conn: psycopg.Connection) -> dict[str, set[int]]:
    return {view: {r[0] for r in conn.execute(
        sql.SQL("SELECT DISTINCT organization_id FROM {}").format(sql.Identifier("reporting", view)))}
        for view in reporting_views(conn)}


def test_each_reporting_role_sees_exactly_its_granted_organizations(db: Database, owner: psycopg.Connection,
                                                                     world: tuple[Org, Org], bi_role: str) -> None:
    a, b = world
    owner.execute("SELECT api.grant_reporting(%s, %s)", [bi_role, a.id])
    with db.connect(bi_role) as conn:
        seen = organizations_seen(conn)
    assert set(seen) >= {"organizations", "tickets", "staff", "teams", "categories"}
    assert seen == {view: {a.id} for view in seen}
    with db.connect("atum_reporting") as conn:
        assert organizations_seen(conn) == {view: {b.id} for view in seen}


def test_a_role_without_grants_sees_nothing_and_revoking_takes_effect(db: Database, owner: psycopg.Connection,
                                                                     world: tuple[Org, Org], bi_role: str) -> None:
    a, _ = world
    owner.execute("SELECT api.grant_reporting(%s, %s)", [bi_role, a.id])
    owner.execute("SELECT api.revoke_reporting(%s, %s)", [bi_role, a.id])
    with db.connect(bi_role) as conn:
        assert all(orgs == set() for orgs in organizations_seen(conn).values())


def test_reporting_roles_cannot_reach_the_tables_or_write(db: Database, owner: psycopg.Connection,
                                                          world: tuple[Org, Org]) -> None:
    with db.connect("atum_reporting", autocommit=True) as conn:
        for statement in ("SELECT * FROM atum.tickets", "SELECT * FROM atum.audit_log",
                          "SELECT api.authenticate('x')"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TEMP TABLE scratch (x int)")
        # Setting variables changes nothing: visibility comes from the grants table, under RLS.
        conn.execute("SET atum.context = '1|1|admin|s1|x'")
        assert {r[0] for r in conn.execute("SELECT organization_id FROM reporting.organizations")} == {world[1].id}


def test_reporting_views_show_no_text_or_contact_data(owner: psycopg.Connection) -> None:
    columns = {r[0] for r in owner.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'reporting'")}
    assert not columns & {"email", "subject", "description", "body", "password_hash", "token_hash"}


@pytest.mark.parametrize(("role", "message"), [("no_such_role", "no database role"),
                                               ("atum_app", "is not a reporting role")])
def test_grant_reporting_refuses_what_makes_no_sense(owner: psycopg.Connection, world: tuple[Org, Org],
                                                     role: str, message: str) -> None:
    with pytest.raises(psycopg.Error, match=message):
        owner.execute("SELECT api.grant_reporting(%s, %s)", [role, world[0].id])


def test_the_app_cannot_grant_reporting_access(db: Database, world: tuple[Org, Org]) -> None:
    with db.acting_as(world[0].tokens["admin"]) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT api.grant_reporting('atum_reporting', %s)", [world[0].id])


def test_report_figures_are_read_only_and_limited_to_granted_organizations(
        db: Database, owner: psycopg.Connection, world: tuple[Org, Org], bi_role: str) -> None:
    a, _ = world
    owner.execute("SELECT api.grant_reporting(%s, %s)", [bi_role, a.id])
    with db.connect(bi_role) as conn:
        for view in ("ticket_times", "daily_tickets", "sla_compliance", "open_tickets"):
            orgs = {r[0] for r in conn.execute(
                sql.SQL("SELECT DISTINCT organization_id FROM {}").format(sql.Identifier("reporting", view)))}
            assert orgs == {a.id}, view
        # Under RLS the other organization is simply absent.
        others = conn.execute("SELECT * FROM atum_summary.ticket_facts WHERE organization_id <> %s", [a.id])
        assert others.fetchall() == []
        for statement in ("DELETE FROM atum_summary.ticket_counts", "SELECT atum.reports_fold()",
                          "SELECT atum.reports_rebuild(1)"):
            with pytest.raises((psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction)):
                conn.execute(statement)
            conn.rollback()


def test_the_app_sees_report_figures_of_its_own_organization_only(db: Database, world: tuple[Org, Org]) -> None:
    _, b = world
    with db.acting_as(b.tokens["manager"]) as conn:
        for schema, view in (("reporting", "ticket_times"), ("atum_summary", "ticket_facts"),
                             ("atum_summary", "ticket_days"), ("atum_summary", "ticket_counts")):
            orgs = {r["organization_id"] for r in conn.execute(
                sql.SQL("SELECT organization_id FROM {}").format(sql.Identifier(schema, view)))}
            assert orgs == {b.id}, view
        conn.execute("SELECT api.ticket_transition(%s, 'IN_PROGRESS')", [b.other_ticket_id])  # pending deltas
        assert {r["organization_id"] for r in conn.execute("SELECT organization_id FROM atum_summary.ticket_deltas")
                } == {b.id}
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM atum_summary.ticket_facts")
