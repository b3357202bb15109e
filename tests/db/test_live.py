"""The live-update triggers (sql/66_live.sql) as a listener on atum_live hears them: one event per
changed row with ids only, nothing for changes no screen shows, one resync per organization for
a bulk statement, nothing for a rolled-back change, and nothing for organizations no listener
has registered. The HTTP side is tests/api/test_live.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.support import Database, Org, build_org, wait_backend_gone


def watch(listener: psycopg.Connection[Any], *organization_ids: int) -> None:
    """Register the organizations the listener's process has sockets for, as the HTTP hub does."""
    listener.execute("SELECT api.live_watch(%s)", [list(organization_ids)])


@pytest.fixture
def listener(db: Database, org: Org) -> Iterator[psycopg.Connection[Any]]:
    with db.connect("atum_app", autocommit=True) as conn:
        conn.execute("LISTEN atum_live")
        watch(conn, org.id)
        yield conn


def heard(listener: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """Everything announced so far (NOTIFY is delivered on commit, so it is all there)."""
    return [json.loads(n.payload) for n in listener.notifies(timeout=0.5)]


@pytest.fixture
def org(owner: psycopg.Connection[Any]) -> Org:
    return build_org(owner, "acme")


def test_changes_are_announced_with_ids_only(owner: psycopg.Connection[Any], listener: psycopg.Connection[Any],
                                             org: Org) -> None:
    heard(listener)  # what building the organization announced
    tid = owner.execute("INSERT INTO atum.tickets (organization_id, subject, description, requester_id)"
                        " VALUES (%s, 'Secret subject', 'Secret body', %s) RETURNING id",
                        [org.id, org.users["customer"]]).fetchone()[0]
    owner.execute("UPDATE atum.tickets SET subject = 'Renamed' WHERE organization_id = %s AND id = %s", [org.id, tid])
    owner.execute("UPDATE atum.tickets SET priority = 'URGENT' WHERE organization_id = %s AND id = %s", [org.id, tid])
    owner.execute("INSERT INTO atum.ticket_comments (organization_id, ticket_id, author_id, body, is_internal)"
                  " VALUES (%s, %s, %s, 'Secret note', true)", [org.id, tid, org.users["agent"]])
    owner.execute("INSERT INTO atum.sla_events (organization_id, ticket_id, clock, kind, due_at)"
                  " VALUES (%s, %s, 'triage', 'warning', now())", [org.id, tid])
    base = {"organization_id": org.id, "ticket_id": tid, "requester_id": org.users["customer"]}
    assert heard(listener) == [
        {"kind": "ticket.created", **base, "status": "NEW"},
        # the subject edit is not announced: lists and pages show it on their next fetch
        {"kind": "ticket.updated", **base, "status": "NEW"},
        {"kind": "comment.created", **base, "internal": True},
        {"kind": "sla.event", **base, "status": "NEW"},
    ]


def test_a_bulk_statement_asks_each_organization_to_resync(owner: psycopg.Connection[Any],
                                                           listener: psycopg.Connection[Any], org: Org) -> None:
    other = build_org(owner, "other")
    watch(listener, org.id, other.id)
    heard(listener)
    owner.execute("INSERT INTO atum.tickets (organization_id, subject, description, requester_id)"
                  " SELECT o, 'Bulk ' || g, 'x', CASE o WHEN %s THEN %s ELSE %s END"
                  "   FROM generate_series(1, 300) g, unnest(ARRAY[%s, %s]::bigint[]) o",
                  [org.id, org.users["customer"], other.users["customer"], org.id, other.id])
    events = heard(listener)
    assert sorted(e["organization_id"] for e in events) == sorted([org.id, other.id])
    assert {e["kind"] for e in events} == {"resync"}


def test_a_rolled_back_change_is_not_announced(db: Database, listener: psycopg.Connection[Any], org: Org) -> None:
    heard(listener)
    with db.connect("atum_owner") as conn:
        conn.execute("INSERT INTO atum.tickets (organization_id, subject, description, requester_id)"
                     " VALUES (%s, 'Never mind', 'x', %s)", [org.id, org.users["customer"]])
        conn.rollback()
    assert heard(listener) == []


def test_organizations_nobody_watches_are_not_announced(db: Database, owner: psycopg.Connection[Any],
                                                        listener: psycopg.Connection[Any], org: Org) -> None:
    other = build_org(owner, "other")
    heard(listener)
    insert = ("INSERT INTO atum.tickets (organization_id, subject, description, requester_id)"
              " VALUES (%s, 'Printer jammed', 'x', %s) RETURNING id")
    owner.execute(insert, [other.id, other.users["customer"]])
    watched = owner.execute(insert, [org.id, org.users["customer"]]).fetchone()[0]
    assert [(e["organization_id"], e["ticket_id"]) for e in heard(listener)] == [(org.id, watched)]
    watch(listener)  # the last socket of the organization closed
    owner.execute(insert, [org.id, org.users["customer"]])
    assert heard(listener) == []


def test_a_listener_that_ended_is_forgotten(db: Database, owner: psycopg.Connection[Any], org: Org) -> None:
    with db.connect("atum_app", autocommit=True) as gone:
        watch(gone, org.id)
        pid = gone.info.backend_pid
    wait_backend_gone(owner, pid)
    registered = "SELECT count(*) FROM atum.live_watchers WHERE listener_pid = %s"
    assert owner.execute(registered, [pid]).fetchone()[0] == 1
    owner.execute("SELECT atum.request_contexts_purge()")
    assert owner.execute(registered, [pid]).fetchone()[0] == 0
