"""Writers of one organization do not wait for each other's commits: ticket numbers come from a
sequence per organization, and the audit trail has one chain per connection lane."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import psycopg
import pytest

from tests.support import Database, Org, build_org


@pytest.fixture
def org(owner: psycopg.Connection) -> Org:
    return build_org(owner, "acme")


def open_ticket(conn: psycopg.Connection[Any], org: Org, subject: str) -> int:
    """A new ticket of the signed-in customer; its number."""
    return conn.execute("INSERT INTO atum.tickets (organization_id, subject, requester_id)"
                        " VALUES (%s, %s, %s) RETURNING number",
                        [org.id, subject, org.users["customer"]]).fetchone()["number"]


@contextmanager
def customers_in_other_lanes(db: Database, org: Org, count: int) -> Iterator[list[psycopg.Connection[Any]]]:
    """``count`` signed-in customer connections whose backends append to different audit lanes."""
    with ExitStack() as stack:
        chosen: list[psycopg.Connection[Any]] = []
        lanes: set[int] = set()
        for _ in range(count * 16):
            conn = stack.enter_context(db.acting_as(org.tokens["customer"]))
            lane = conn.info.backend_pid % 16
            if lane not in lanes:
                lanes.add(lane)
                chosen.append(conn)
            if len(chosen) == count:
                yield chosen
                return
        raise AssertionError("no backends in enough different lanes")


def test_numbers_increase_per_organization_and_a_rollback_skips_one(db: Database, owner: psycopg.Connection,
                                                                     org: Org) -> None:
    other = build_org(owner, "globex")
    owner.commit()
    with db.acting_as(org.tokens["customer"]) as conn:
        first = open_ticket(conn, org, "Printer jammed")
        conn.commit()
    with db.acting_as(org.tokens["customer"]) as conn:
        rolled_back = open_ticket(conn, org, "Never mind")
    with db.acting_as(org.tokens["customer"]) as conn:
        after = open_ticket(conn, org, "Monitor flickers")
        conn.commit()
    with db.acting_as(other.tokens["customer"]) as conn:
        elsewhere = open_ticket(conn, other, "Printer jammed")
    assert (rolled_back, after) == (first + 1, first + 2)
    taken = [r[0] for r in owner.execute("SELECT number FROM atum.tickets WHERE organization_id = %s ORDER BY id",
                                         [org.id])]
    assert taken == sorted(set(taken)) and rolled_back not in taken
    # globex's numbers are its own: its fixture tickets, then this one.
    assert elsewhere == owner.execute("SELECT max(number) + 1 FROM atum.tickets WHERE organization_id = %s",
                                      [other.id]).fetchone()[0]


def test_creators_in_one_organization_do_not_wait_for_each_others_commit(db: Database, org: Org) -> None:
    with customers_in_other_lanes(db, org, 3) as conns:
        for conn in conns:
            conn.execute("SET lock_timeout = '2s'")
        # Every creation stays uncommitted while the next one runs: none may wait for another.
        numbers = [open_ticket(conn, org, f"Request {i}") for i, conn in enumerate(conns)]
        for conn in conns:
            conn.commit()
    assert numbers == sorted(set(numbers))


def test_concurrent_lanes_keep_every_chain_intact(db: Database, owner: psycopg.Connection, org: Org) -> None:
    owner.commit()
    with customers_in_other_lanes(db, org, 4) as conns:
        for round_ in range(3):
            for conn in conns:
                open_ticket(conn, org, f"Round {round_}")
        for conn in conns[::-1]:  # committed in another order than they started
            conn.commit()
    lanes = owner.execute("SELECT count(DISTINCT lane) FROM atum.audit_log WHERE organization_id = %s"
                          " AND table_name = 'tickets'", [org.id]).fetchone()[0]
    assert lanes >= 4
    assert owner.execute("SELECT * FROM atum.audit_verify(%s)", [org.id]).fetchall() == []


def test_a_new_organization_numbers_its_tickets_from_one(owner: psycopg.Connection) -> None:
    other = build_org(owner, "initech")
    owner.commit()
    assert owner.execute("SELECT min(number) FROM atum.tickets WHERE organization_id = %s",
                         [other.id]).fetchone()[0] == 1
    name = owner.execute("SELECT atum_private.ticket_number_sequence(%s)", [other.id]).fetchone()[0]
    assert owner.execute("SELECT to_regclass(%s) IS NOT NULL", [name]).fetchone()[0]
