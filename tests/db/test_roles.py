"""Role rules inside one organization, as the app role: customers see only their own tickets and
public comments; internal notes and their attachments are staff-only; admins manage people."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from tests.support import Database, Org, build_org


@pytest.fixture
def org(owner: psycopg.Connection) -> Org:
    return build_org(owner, "acme")


def ids(conn: psycopg.Connection, query: str, params: list | None = None) -> set[int]:
    return {r["id"] for r in conn.execute(query, params or [])}


def test_a_customer_sees_only_the_tickets_they_requested(db: Database, org: Org) -> None:
    with db.acting_as(org.tokens["customer"]) as conn:
        assert ids(conn, "SELECT id FROM atum.tickets") == {org.ticket_id}
    with db.acting_as(org.tokens["customer2"]) as conn:
        assert ids(conn, "SELECT id FROM atum.tickets") == {org.other_ticket_id}
    with db.acting_as(org.tokens["agent"]) as conn:
        assert ids(conn, "SELECT id FROM atum.tickets") == {org.ticket_id, org.other_ticket_id}


def test_a_customer_sees_public_comments_only_and_never_internal_notes(db: Database, org: Org) -> None:
    with db.acting_as(org.tokens["customer"]) as conn:
        assert ids(conn, "SELECT id FROM atum.ticket_comments") == {org.public_comment_id}
        assert [r["is_internal"] for r in conn.execute("SELECT is_internal FROM atum.attachments")] == [False]
    with db.acting_as(org.tokens["customer2"]) as conn:
        assert ids(conn, "SELECT id FROM atum.ticket_comments") == set()
        assert ids(conn, "SELECT id FROM atum.attachments") == set()
    with db.acting_as(org.tokens["agent"]) as conn:
        assert ids(conn, "SELECT id FROM atum.ticket_comments") == {org.public_comment_id, org.internal_comment_id}
        assert len(ids(conn, "SELECT id FROM atum.attachments")) == 2


def test_a_customer_cannot_write_internal_notes_or_on_others_tickets(db: Database, org: Org) -> None:
    me = org.users["customer"]
    with db.acting_as(org.tokens["customer"]) as conn:
        conn.execute("INSERT INTO atum.ticket_comments (organization_id, ticket_id, author_id, body)"
                     " VALUES (%s, %s, %s, 'Still broken.')", [org.id, org.ticket_id, me])
        for ticket, internal, author in ((org.ticket_id, True, me), (org.other_ticket_id, False, me),
                                         (org.ticket_id, False, org.users["agent"])):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute("INSERT INTO atum.ticket_comments"
                             " (organization_id, ticket_id, author_id, body, is_internal)"
                             " VALUES (%s, %s, %s, 'x', %s)", [org.id, ticket, author, internal])


def test_a_customer_opens_tickets_only_for_themselves(db: Database, org: Org) -> None:
    with db.acting_as(org.tokens["customer"]) as conn:
        row = conn.execute("INSERT INTO atum.tickets (organization_id, subject, requester_id)"
                           " VALUES (%s, 'Screen flickers', %s) RETURNING number, status",
                           [org.id, org.users["customer"]]).fetchone()
        assert row == {"number": 3, "status": "NEW"}
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute("INSERT INTO atum.tickets (organization_id, subject, requester_id) VALUES (%s, 'x', %s)",
                         [org.id, org.users["customer2"]])


def test_customers_see_staff_and_themselves_but_not_other_customers(db: Database, org: Org) -> None:
    with db.acting_as(org.tokens["customer"]) as conn:
        seen = ids(conn, "SELECT id FROM atum.users")
    assert org.users["customer"] in seen and org.users["agent"] in seen
    assert org.users["customer2"] not in seen


@pytest.mark.parametrize("role", ["customer", "agent", "manager"])
def test_only_admins_manage_users_teams_and_policies(db: Database, org: Org, role: str) -> None:
    with db.acting_as(org.tokens[role]) as conn:
        for statement in (
            "INSERT INTO atum.users (organization_id, email, role) VALUES (%(org)s, 'new@acme.example', 'admin')",
            "INSERT INTO atum.teams (organization_id, name) VALUES (%(org)s, 'Shadow team')",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute(statement, {"org": org.id})
        assert conn.execute("UPDATE atum.users SET role = 'admin' WHERE id = %s", [org.users[role]]).rowcount == 0
        assert conn.execute("UPDATE atum.sla_policies SET resolution_minutes = 1").rowcount == 0


def test_an_admin_manages_users(db: Database, org: Org) -> None:
    with db.acting_as(org.tokens["admin"]) as conn:
        conn.execute("INSERT INTO atum.users (organization_id, email, role) VALUES (%s, 'new@acme.example', 'agent')",
                     [org.id])
        assert conn.execute("UPDATE atum.users SET role = 'manager' WHERE email = 'new@acme.example'").rowcount == 1


def test_staff_only_configuration_is_hidden_from_customers(db: Database, org: Org) -> None:
    with db.acting_as(org.tokens["customer"]) as conn:
        for table in ("teams", "team_members", "sla_policies", "business_calendars", "tags", "ticket_tags"):
            query = sql.SQL("SELECT count(*) AS n FROM {}").format(sql.Identifier("atum", table))
            assert conn.execute(query).fetchone()["n"] == 0, table
        assert conn.execute("SELECT count(*) AS n FROM atum.categories").fetchone()["n"] == 1
