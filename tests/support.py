"""Helpers shared by the database tests: connecting as a role, acting as a signed-in user, and a
small world of two organizations with a row in every tenant table."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

from atumdesk.settings import Settings

ROLES = ("admin", "manager", "agent", "customer", "customer2")


@dataclass
class Database:
    """One test database on the test cluster."""

    settings: Settings
    dbname: str

    def conninfo(self, user: str) -> str:
        """Connection string for a database role."""
        return make_conninfo(host=str(self.settings.socket_dir), port=self.settings.pg_port,
                             user=user, dbname=self.dbname)

    def connect(self, user: str, **kwargs: Any) -> psycopg.Connection[Any]:
        """A connection as ``user`` (a database role such as atum_app or atum_owner)."""
        return psycopg.connect(self.conninfo(user), **kwargs)

    @contextmanager
    def acting_as(self, token: str) -> Iterator[psycopg.Connection[Any]]:
        """An atum_app connection inside a transaction whose context comes from ``token``.

        The transaction is rolled back at the end: tests look, they do not leave traces.
        """
        with self.connect("atum_app", row_factory=dict_row) as conn:
            conn.execute("SELECT api.authenticate(%s)", [token])
            try:
                yield conn
            finally:
                conn.rollback()


@dataclass
class Org:
    """An organization of the test world with a user per role and a row in every tenant table."""

    id: int
    slug: str
    users: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    ticket_id: int = 0
    other_ticket_id: int = 0
    public_comment_id: int = 0
    internal_comment_id: int = 0


def build_org(owner: psycopg.Connection[Any], slug: str) -> Org:
    """Create an organization as the CLI does, then one row or more in every tenant table."""
    q = owner.execute
    org_id = q("SELECT id FROM atum.org_create(%s, %s, 'Europe/Berlin')", [f"Org {slug}", slug]).fetchone()[0]
    org = Org(org_id, slug)
    for role in ROLES:
        db_role = "customer" if role.startswith("customer") else role
        org.users[role] = q(
            "SELECT id FROM atum.user_create(%s, %s, %s, %s)", [slug, f"{role}@{slug}.example", db_role, role.title()]
        ).fetchone()[0]
        org.tokens[role] = q("SELECT atum_private.session_issue(%s, %s)", [org_id, org.users[role]]).fetchone()[0]
    team = q("INSERT INTO atum.teams (organization_id, name) VALUES (%s, 'First line') RETURNING id",
             [org_id]).fetchone()[0]
    q("INSERT INTO atum.team_members (organization_id, team_id, user_id) VALUES (%s, %s, %s)",
      [org_id, team, org.users["agent"]])
    category = q("INSERT INTO atum.categories (organization_id, name) VALUES (%s, 'Hardware') RETURNING id",
                 [org_id]).fetchone()[0]
    tag = q("INSERT INTO atum.tags (organization_id, name) VALUES (%s, 'vip') RETURNING id", [org_id]).fetchone()[0]
    calendar = q("SELECT id FROM atum.business_calendars WHERE organization_id = %s AND is_default",
                 [org_id]).fetchone()[0]
    q("INSERT INTO atum.calendar_holidays (organization_id, calendar_id, day, name)"
      " VALUES (%s, %s, '2026-12-25', 'Christmas')",
      [org_id, calendar])
    org.ticket_id = q(
        "INSERT INTO atum.tickets (organization_id, subject, description, requester_id, team_id, category_id)"
        " VALUES (%s, 'Printer jams on every page', 'Since Monday.', %s, %s, %s) RETURNING id",
        [org_id, org.users["customer"], team, category],
    ).fetchone()[0]
    org.other_ticket_id = q(
        "INSERT INTO atum.tickets (organization_id, subject, requester_id, created_at)"
        " VALUES (%s, 'Cannot log in', %s, now() - interval '30 days') RETURNING id",
        [org_id, org.users["customer2"]],
    ).fetchone()[0]
    # A status move, so the ticket's status history has a row too (the system accepts it). It waited
    # a month for that, so its triage warning and breach are recorded as SLA events.
    q("UPDATE atum.tickets SET status = 'ACCEPTED' WHERE organization_id = %s AND id = %s",
      [org_id, org.other_ticket_id])
    q("INSERT INTO atum.ticket_tags (organization_id, ticket_id, tag_id) VALUES (%s, %s, %s)",
      [org_id, org.ticket_id, tag])
    org.public_comment_id = q(
        "INSERT INTO atum.ticket_comments (organization_id, ticket_id, author_id, body)"
        " VALUES (%s, %s, %s, 'We are on it.') RETURNING id",
        [org_id, org.ticket_id, org.users["agent"]],
    ).fetchone()[0]
    org.internal_comment_id = q(
        "INSERT INTO atum.ticket_comments (organization_id, ticket_id, author_id, body, is_internal)"
        " VALUES (%s, %s, %s, 'Customer is on the legacy plan.', true) RETURNING id",
        [org_id, org.ticket_id, org.users["agent"]],
    ).fetchone()[0]
    for comment_id, internal in ((org.public_comment_id, False), (org.internal_comment_id, True)):
        q("INSERT INTO atum.attachments (organization_id, ticket_id, comment_id, is_internal, filename,"
          " content_type, size_bytes, sha256)"
          " VALUES (%s, %s, %s, %s, %s, 'text/plain', 5, sha256(%s::bytea))",
          [org_id, org.ticket_id, comment_id, internal, f"note-{comment_id}.txt", f"file {comment_id}".encode()])
    q("INSERT INTO atum.api_tokens (organization_id, user_id, name, token_hash, role)"
      " VALUES (%s, %s, 'CI integration', atum_private.token_hash(%s), 'agent')",
      [org_id, org.users["admin"], f"atum_t_{slug}-integration-token"])
    q("INSERT INTO atum.mailboxes (organization_id, name, address, imap_host, imap_username)"
      " VALUES (%s, 'Support', %s, 'imap.example.net', %s)", [org_id, f"support@{slug}.example", f"support@{slug}"])
    q("INSERT INTO atum.mail_messages (organization_id, direction, message_id, ticket_id, from_address, subject,"
      " disposition) VALUES (%s, 'inbound', %s, %s, %s, 'Printer jams on every page', 'ticket_created')",
      [org_id, f"<printer-jam@{slug}.example>", org.ticket_id, f"customer@{slug}.example"])
    # The agent's reply above was written by the system (no request context), which notifies
    # nobody: its notification is queued here as the outbox trigger would have for a live reply.
    q("INSERT INTO atum.mail_outbox (organization_id, kind, recipient_id, to_address, ticket_id, comment_id, context)"
      " SELECT %s, 'staff_reply', u.id, u.email, %s, %s, '{}' FROM atum.users u"
      " WHERE u.organization_id = %s AND u.id = %s",
      [org_id, org.ticket_id, org.public_comment_id, org_id, org.users["customer"]])
    q("INSERT INTO atum.mail_templates (organization_id, kind, subject) VALUES (%s, 'resolved', %s)",
      [org_id, "[{{ ticket.reference }}] Done: {{ ticket.subject }}"])
    kb_category = q("INSERT INTO atum.kb_categories (organization_id, name) VALUES (%s, 'Printing') RETURNING id",
                    [org_id]).fetchone()[0]
    kb_article = q(
        "INSERT INTO atum.kb_articles (organization_id, category_id, title, body, body_html, state, is_public,"
        " published_at, author_id) VALUES (%s, %s, 'Clearing a paper jam', 'Open the tray.', '<p>Open the tray.</p>',"
        " 'published', true, now(), %s) RETURNING id", [org_id, kb_category, org.users["agent"]]).fetchone()[0]
    q("INSERT INTO atum.kb_votes (organization_id, article_id, user_id, is_helpful) VALUES (%s, %s, %s, true)",
      [org_id, kb_article, org.users["customer"]])
    q("INSERT INTO atum.kb_suggestion_sessions (organization_id, user_id, shown_count, followed_article_id,"
      " followed_at) VALUES (%s, %s, 1, %s, now())", [org_id, org.users["customer"], kb_article])
    q("SELECT api.grant_reporting('atum_reporting', %s)", [org_id])
    return org


def transition(db: Database, token: str, ticket: int, status: str, reason: str | None = "because") -> Any:
    """Move a ticket through ``api.ticket_transition`` as the user of ``token``, committed; the ticket as JSON."""
    with db.acting_as(token) as conn:
        row = conn.execute("SELECT api.ticket_transition(%s, %s, %s) AS t", [ticket, status, reason]).fetchone()
        conn.commit()
    return row["t"]


def tenant_tables(conn: psycopg.Connection[Any]) -> list[str]:
    """Tables of schema atum that have row-level security policies (the tenant tables)."""
    return [r[0] for r in conn.execute(
        "SELECT DISTINCT tablename FROM pg_policies WHERE schemaname = 'atum' ORDER BY 1")]


#: Tenant tables with no audit triggers of their own: the state machine derives the status history
#: from the ticket's change in the same statement, and that change's audit row has the move, its
#: actor and its reason (migration 0023).
DERIVED_TABLES = frozenset({"ticket_status_changes"})


def audited_tables(conn: psycopg.Connection[Any]) -> list[str]:
    """The tenant tables whose every change has audit rows of its own."""
    return [t for t in tenant_tables(conn) if t != "audit_log" and t not in DERIVED_TABLES]


def org_column(table: str) -> str:
    """The column holding the organization: organizations is keyed by its own id."""
    return "id" if table == "organizations" else "organization_id"


def wait_backend_gone(owner: psycopg.Connection[Any], pid: int) -> None:
    """Wait for the event that a closed connection's backend has left pg_stat_activity."""
    deadline = time.monotonic() + 30
    while owner.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()[0]:
        assert time.monotonic() < deadline, f"backend {pid} did not go away"
        owner.execute("SELECT pg_stat_clear_snapshot(), pg_sleep(0.02)")
