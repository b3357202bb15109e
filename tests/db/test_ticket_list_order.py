"""The queue's orders (newest, oldest, due soonest) page through every ticket exactly once, and
each listed ticket carries the SLA clock that runs now in business minutes, the same figure the
ticket page shows."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from tests.support import Database, Org, build_org

OPEN = ("ACCEPTED", "IN_PROGRESS", "WAITING_CUSTOMER")


def _queue(db: Database, org: Org) -> list[int]:
    """A dozen tickets of every kind: NEW (triage clock), accepted at several priorities (first
    response), answered (resolution), waiting (paused), resolved (no clock)."""
    ids: list[int] = []
    with db.acting_as(org.tokens["customer"]) as conn:
        for n in range(12):
            ids.append(conn.execute("SELECT (api.ticket_create(%s) ->> 'id')::bigint AS id",
                                    [Jsonb({"subject": f"Problem {n}", "description": "It broke."})]).fetchone()["id"])
        conn.commit()
    priorities = ["URGENT", "HIGH", "MEDIUM", "LOW"]
    with db.acting_as(org.tokens["manager"]) as conn:
        for n, ticket in enumerate(ids[3:]):
            conn.execute("SELECT api.ticket_accept_route(%s, %s)",
                         [ticket, Jsonb({"priority": priorities[n % 4], "assignee_id": org.users["agent"]})])
        conn.commit()
    with db.acting_as(org.tokens["agent"]) as conn:
        for ticket in ids[6:]:
            conn.execute("SELECT api.ticket_move(%s, %s)", [ticket, Jsonb({"status": "IN_PROGRESS"})])
            conn.execute("SELECT api.comment_create(%s, %s)", [ticket, Jsonb({"body": "Looking into it."})])
        for ticket in ids[8:10]:
            conn.execute("SELECT api.ticket_move(%s, %s)", [ticket, Jsonb({"status": "WAITING_CUSTOMER"})])
        conn.execute("SELECT api.ticket_move(%s, %s)", [ids[10], Jsonb({"status": "RESOLVED"})])
        conn.commit()
    return ids


def _pages(conn: psycopg.Connection[Any], query: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = conn.execute("SELECT api.ticket_list(%s) AS p",
                            [Jsonb({**query, **({"after": after} if after else {})})]).fetchone()["p"]
        items += page["items"]
        after = page["next"]
        if after is None:
            return items


def _due_key(t: dict[str, Any]) -> str:
    """The next due time as the queue sorts it (ISO text sorts like time in UTC; '~' after all)."""
    sla = t["sla"]
    if t["status"] == "NEW":
        due = sla["triage_due_at"]
    elif t["status"] in OPEN:
        running = [d for d in (None if sla["first_responded_at"] else sla["first_response_due_at"],
                               None if sla["paused_at"] else sla["resolution_due_at"]) if d]
        due = min(running) if running else None
    else:
        due = None
    return due or "~"


def test_every_order_pages_through_each_ticket_once(db: Database, owner: psycopg.Connection) -> None:
    alpha = build_org(owner, "alpha")
    _queue(db, alpha)
    owner.execute("SET TimeZone = 'UTC'")
    with db.acting_as(alpha.tokens["manager"]) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        everything = _pages(conn, {"limit": "100", "clocks": "true"})
        newest = _pages(conn, {"limit": "3"})
        oldest = _pages(conn, {"sort": "oldest", "limit": "3"})
        due = _pages(conn, {"sort": "due", "limit": "3"})
        due_open = _pages(conn, {"sort": "due", "status": "NEW,ACCEPTED,IN_PROGRESS", "limit": "2"})
    assert len(everything) == 14  # the dozen and build_org's two
    assert [t["id"] for t in newest] == [t["id"] for t in everything]
    assert [t["id"] for t in oldest] == [t["id"] for t in reversed(everything)]
    assert sorted(t["id"] for t in due) == sorted(t["id"] for t in everything)
    assert [t["id"] for t in due] == [t["id"] for t in sorted(everything, key=lambda t: (_due_key(t), t["id"]))]
    # Tickets without a running clock (resolved, paused and answered) come last, past an 'inf' cursor.
    assert _due_key(due[-1]) == "~" and _due_key(due[0]) != "~"
    assert [t["id"] for t in due_open] == [t["id"] for t in due if t["status"] in ("NEW", "ACCEPTED", "IN_PROGRESS")]


def test_a_listed_ticket_shows_its_running_clock_like_the_ticket_page(db: Database, owner: psycopg.Connection) -> None:
    alpha = build_org(owner, "alpha")
    ids = _queue(db, alpha)
    with db.acting_as(alpha.tokens["agent"]) as conn:
        listed = {t["id"]: t for t in _pages(conn, {"limit": "100", "clocks": "true"})}
        for ticket in ids:
            shown = listed[ticket].get("sla_clock")
            clocks = conn.execute("SELECT api.ticket_get(%s) -> 'sla_clocks' AS c", [ticket]).fetchone()["c"]
            running = {name: clock for name, clock in clocks.items() if clock}
            if not running:
                assert shown is None, ticket
                continue
            assert shown is not None, ticket
            assert shown["clock"] in running, ticket
            assert {k: v for k, v in shown.items() if k != "clock"} == running[shown["clock"]], ticket
        kinds = {t["sla_clock"]["clock"] for t in listed.values() if t.get("sla_clock")}
        paused = [t for t in listed.values() if t.get("sla_clock") and t["sla_clock"]["is_paused"]]
    assert kinds == {"triage", "first_response", "resolution"}
    assert len(paused) == 2


def test_customers_get_no_clocks_and_bad_sorts_name_the_field(db: Database, owner: psycopg.Connection) -> None:
    alpha = build_org(owner, "alpha")
    _queue(db, alpha)
    with db.acting_as(alpha.tokens["customer"]) as conn:
        mine = _pages(conn, {"sort": "due", "limit": "5", "clocks": "true"})
    assert len(mine) == 13 and all("sla_clock" not in t for t in mine)
    for bad in ({"sort": "random"}, {"sort": "due", "after": "inf.x"}, {"after": "infinity.3"}):
        with db.acting_as(alpha.tokens["agent"]) as conn:
            try:
                conn.execute("SELECT api.ticket_list(%s)", [Jsonb(bad)])
            except psycopg.Error as e:
                assert e.diag.sqlstate == "AT422" and e.diag.column_name in ("sort", "after"), bad
            else:
                raise AssertionError(f"{bad} was accepted")
