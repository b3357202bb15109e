"""Reports with known answers: a fixture organization on a 24x7 calendar in UTC with eight tickets
whose times, breaches and reopens are fixed, so every figure can be worked out by hand (the
working is next to each expectation). Reports are read as a manager through api.report, under
row-level security, after the pg_cron fold has run."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.support import Database, build_org

RANGE = {"from": "2026-03-01", "to": "2026-03-07"}


@dataclass
class Fixture:
    """The known-answer organization."""

    org: int
    token: str
    users: dict[str, int] = field(default_factory=dict)
    teams: dict[str, int] = field(default_factory=dict)
    tickets: dict[int, int] = field(default_factory=dict)


# number: (priority, team, assignee, status, created, accepted, first reply, resolved, closed, paused at,
#          paused minutes)
TICKETS: dict[int, tuple[Any, ...]] = {
    1: ("HIGH", "Support", "alice", "RESOLVED", "03-02 09:00", "03-02 09:30", "03-02 10:00", "03-02 13:30", None,
        None, 0),
    2: ("HIGH", "Billing", "bruno", "IN_PROGRESS", "03-02 10:00", "03-02 13:00", "03-02 15:00", None, None, None, 0),
    3: ("LOW", "Support", "alice", "CLOSED", "03-03 08:00", "03-03 08:30", "03-03 09:30", "03-03 18:30", "03-04 10:00",
        None, 0),
    4: ("LOW", "Support", None, "NEW", "03-03 12:00", None, None, None, None, None, 0),
    5: ("MEDIUM", None, None, "REJECTED", "03-04 07:00", None, None, None, None, None, 0),
    6: ("MEDIUM", "Billing", "bruno", "WAITING_CUSTOMER", "03-04 09:00", "03-04 09:10", "03-04 09:20", None, None,
        "03-04 10:00", 0),
    # Resolved at 13:00, reopened at 14:00, resolved again at 16:00: 60 minutes paused.
    7: ("URGENT", "Support", "alice", "RESOLVED", "03-02 12:00", "03-02 12:00", "03-02 12:20", "03-02 16:00", None,
        None, 60),
    # In time by its times now, but a first-response breach was recorded (before a priority change).
    8: ("MEDIUM", "Billing", "alice", "CLOSED", "03-04 11:00", "03-04 11:00", "03-04 11:30", "03-04 12:00",
        "03-04 13:00", None, 0),
}


def ts(value: str | None) -> str | None:
    return None if value is None else f"2026-{value}:00+00"


@pytest.fixture
def known(owner: psycopg.Connection) -> Fixture:
    q = owner.execute
    build_org(owner, "noise")  # another organization's tickets must never show
    org = q("SELECT id FROM atum.org_create('Known Answers', 'known', 'UTC')").fetchone()[0]
    fx = Fixture(org=org, token="")
    for key, role, name in (("manager", "manager", "Mona"), ("alice", "agent", "Alice"), ("bruno", "agent", "Bruno"),
                            ("customer", "customer", "Carl")):
        fx.users[key] = q("SELECT id FROM atum.user_create('known', %s, %s, %s)",
                          [f"{key}@known.example", role, name]).fetchone()[0]
    fx.token = q("SELECT atum_private.session_issue(%s, %s)", [org, fx.users["manager"]]).fetchone()[0]
    for team in ("Support", "Billing"):
        fx.teams[team] = q("INSERT INTO atum.teams (organization_id, name) VALUES (%s, %s) RETURNING id",
                           [org, team]).fetchone()[0]
    calendar = q("UPDATE atum.business_calendars SET is_24x7 = true WHERE organization_id = %s AND is_default"
                 " RETURNING id", [org]).fetchone()[0]
    q("UPDATE atum.sla_policies SET calendar_id = %s, first_response_minutes = 60, resolution_minutes = 480"
      " WHERE organization_id = %s", [calendar, org])
    q("UPDATE atum.organizations SET triage_target_minutes = 120 WHERE id = %s", [org])
    for number, (priority, team, assignee, status, created, accepted, replied, resolved, closed, paused, paused_min) \
            in TICKETS.items():
        fx.tickets[number] = q(
            "INSERT INTO atum.tickets (organization_id, subject, requester_id, priority, team_id, assignee_id, status,"
            " created_at, updated_at, accepted_at, sla_started_at, first_responded_at, resolved_at, closed_at,"
            " paused_at, paused_minutes)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            [org, f"Ticket {number}", fx.users["customer"], priority, fx.teams.get(team or ""),
             fx.users.get(assignee or ""), status, ts(created), ts(created), ts(accepted), ts(accepted), ts(replied),
             ts(resolved), ts(closed), ts(paused), paused_min]).fetchone()[0]
    q("INSERT INTO atum.ticket_status_changes (organization_id, ticket_id, from_status, to_status, reason, changed_at)"
      " VALUES (%s, %s, 'RESOLVED', 'IN_PROGRESS', 'still broken', '2026-03-02 14:00+00')", [org, fx.tickets[7]])
    q("INSERT INTO atum.sla_events (organization_id, ticket_id, clock, kind, due_at, recorded_at)"
      " VALUES (%s, %s, 'first_response', 'breach', '2026-03-04 11:20+00', '2026-03-04 11:21+00')"
      " ON CONFLICT DO NOTHING", [org, fx.tickets[8]])
    q("SELECT atum.reports_fold()")
    return fx


def report(db: Database, token: str, name: str, **query: Any) -> Any:
    with db.acting_as(token) as conn:
        return conn.execute("SELECT api.report(%s, %s::jsonb) AS r", [name, psycopg.types.json.Jsonb(query)]
                            ).fetchone()["r"]


def test_backlog_counts_open_tickets_opened_in_the_range(db: Database, known: Fixture) -> None:
    result = report(db, known.token, "backlog", **RANGE)
    assert (result["from"], result["to"], result["time_zone"]) == ("2026-03-01", "2026-03-07", "UTC")
    # Open: #4 NEW LOW, #2 IN_PROGRESS HIGH, #6 WAITING_CUSTOMER MEDIUM; in the order of the lifecycle.
    assert result["rows"] == [{"status": "NEW", "priority": "LOW", "tickets": 1},
                              {"status": "IN_PROGRESS", "priority": "HIGH", "tickets": 1},
                              {"status": "WAITING_CUSTOMER", "priority": "MEDIUM", "tickets": 1}]
    assert report(db, known.token, "backlog", priority="high", **RANGE)["rows"] == [
        {"status": "IN_PROGRESS", "priority": "HIGH", "tickets": 1}]
    assert report(db, known.token, "backlog", **{"from": "2026-03-04", "to": "2026-03-04"})["rows"] == [
        {"status": "WAITING_CUSTOMER", "priority": "MEDIUM", "tickets": 1}]


def test_created_and_resolved_per_day(db: Database, known: Fixture) -> None:
    rows = report(db, known.token, "created-resolved", **RANGE)["rows"]
    # Created: 2nd #1 #2 #7, 3rd #3 #4, 4th #5 #6 #8. Resolved: 2nd #1 #7, 3rd #3, 4th #8.
    assert rows == [{"day": f"2026-03-0{d}", "created": c, "resolved": r}
                    for d, c, r in ((1, 0, 0), (2, 3, 2), (3, 2, 1), (4, 3, 1), (5, 0, 0), (6, 0, 0), (7, 0, 0))]
    billing = report(db, known.token, "created-resolved", team_id=str(known.teams["Billing"]), **RANGE)["rows"]
    assert [(r["created"], r["resolved"]) for r in billing[1:4]] == [(1, 0), (0, 0), (2, 1)]


def test_sla_compliance_overall_by_priority_team_and_agent(db: Database, known: Fixture) -> None:
    rows = report(db, known.token, "sla-compliance", **RANGE)["rows"]

    def line(dimension: str, key: str | None, name: str, fr: tuple[int, int, int, float | None],
             res: tuple[int, int, int, float | None]) -> dict[str, Any]:
        return {"dimension": dimension, "key": key, "name": name,
                "first_response_met": fr[0], "first_response_breached": fr[1], "first_response_pending": fr[2],
                "first_response_percent": fr[3], "resolution_met": res[0], "resolution_breached": res[1],
                "resolution_pending": res[2], "resolution_percent": res[3]}

    alice, bruno = str(known.users["alice"]), str(known.users["bruno"])
    # Accepted in the range: #1 #2 #3 #6 #7 #8. First response: #2 late, #8 recorded breach.
    # Resolution: #2 overdue and running, #3 late (600 > 480 minutes), #6 paused before its due time.
    assert rows == [
        line("all", None, "All", (4, 2, 0, 66.7), (3, 2, 1, 60.0)),
        line("priority", "LOW", "LOW", (1, 0, 0, 100.0), (0, 1, 0, 0.0)),
        line("priority", "MEDIUM", "MEDIUM", (1, 1, 0, 50.0), (1, 0, 1, 100.0)),
        line("priority", "HIGH", "HIGH", (1, 1, 0, 50.0), (1, 1, 0, 50.0)),
        line("priority", "URGENT", "URGENT", (1, 0, 0, 100.0), (1, 0, 0, 100.0)),
        line("team", str(known.teams["Billing"]), "Billing", (1, 2, 0, 33.3), (1, 1, 1, 50.0)),
        line("team", str(known.teams["Support"]), "Support", (3, 0, 0, 100.0), (2, 1, 0, 66.7)),
        line("agent", alice, "Alice", (3, 1, 0, 75.0), (3, 1, 0, 75.0)),
        line("agent", bruno, "Bruno", (1, 1, 0, 50.0), (0, 1, 1, 0.0)),
    ]


def test_response_times_median_and_p90_in_business_hours(db: Database, known: Fixture) -> None:
    rows = {r["priority"]: r for r in report(db, known.token, "response-times", **RANGE)["rows"]}
    assert list(rows) == ["LOW", "MEDIUM", "HIGH", "URGENT", "ALL"]
    figures = ("triaged", "triage_median_hours", "triage_p90_hours", "responded", "first_response_median_hours",
               "first_response_p90_hours", "resolved", "resolution_median_hours", "resolution_p90_hours")
    # Triage minutes 0 0 10 30 30 180; first response 10 20 30 30 60 120; resolution 60 180 240 600
    # (percentile_cont interpolates: the median of six is halfway between the 3rd and 4th).
    assert {p: tuple(float(rows[p][f]) for f in figures) for p in rows} == {
        "ALL": (6, 0.33, 1.75, 6, 0.5, 1.5, 4, 3.5, 8.2),
        "LOW": (1, 0.5, 0.5, 1, 1.0, 1.0, 1, 10.0, 10.0),
        "MEDIUM": (2, 0.08, 0.15, 2, 0.33, 0.47, 1, 1.0, 1.0),
        "HIGH": (2, 1.75, 2.75, 2, 1.25, 1.85, 1, 4.0, 4.0),
        "URGENT": (1, 0.0, 0.0, 1, 0.33, 0.33, 1, 3.0, 3.0),
    }


def test_agent_workload(db: Database, known: Fixture) -> None:
    rows = report(db, known.token, "agent-workload", **RANGE)["rows"]
    assert rows == [
        {"agent_id": known.users["alice"], "agent": "Alice", "open": 0, "assigned": 4, "resolved": 4},
        {"agent_id": known.users["bruno"], "agent": "Bruno", "open": 2, "assigned": 2, "resolved": 0},
        {"agent_id": None, "agent": "Unassigned", "open": 1, "assigned": 0, "resolved": 0},
    ]


def test_reopen_rate(db: Database, known: Fixture) -> None:
    rows = report(db, known.token, "reopen-rate", **RANGE)["rows"]
    assert rows == [{"priority": p, "resolved": n, "reopened": r, "percent": pct}
                    for p, n, r, pct in (("LOW", 1, 0, 0.0), ("MEDIUM", 1, 0, 0.0), ("HIGH", 1, 0, 0.0),
                                         ("URGENT", 1, 1, 100.0), ("ALL", 4, 1, 25.0))]


def test_the_reporting_views_give_the_same_numbers(db: Database, owner: psycopg.Connection, known: Fixture) -> None:
    owner.execute("SELECT api.grant_reporting('atum_reporting', %s)", [known.org])
    with db.connect("atum_reporting") as conn:
        daily = conn.execute("SELECT day::text, sum(created)::int, sum(resolved)::int FROM reporting.daily_tickets"
                             " WHERE organization_id = %s GROUP BY day ORDER BY day", [known.org]).fetchall()
        sla = conn.execute("SELECT sum(first_response_met)::int, sum(first_response_breached)::int,"
                           " sum(resolution_met)::int, sum(resolution_breached)::int, sum(resolution_pending)::int"
                           " FROM reporting.sla_compliance WHERE organization_id = %s"
                           " AND day BETWEEN '2026-03-01' AND '2026-03-07'", [known.org]).fetchone()
        medians = conn.execute("SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY resolution_minutes)"
                               " FROM reporting.ticket_times WHERE organization_id = %s"
                               " AND resolved_on BETWEEN '2026-03-01' AND '2026-03-07'", [known.org]).fetchone()
    assert daily == [("2026-03-02", 3, 2), ("2026-03-03", 2, 1), ("2026-03-04", 3, 1)]
    assert sla == (4, 2, 3, 2, 1)
    assert medians == (210.0,)


def test_reports_list_and_refusals(db: Database, known: Fixture, owner: psycopg.Connection) -> None:
    with db.acting_as(known.token) as conn:
        names = [r["name"] for r in conn.execute("SELECT api.report_list() AS r").fetchone()["r"]["items"]]
    assert names == ["backlog", "created-resolved", "sla-compliance", "response-times", "agent-workload", "reopen-rate",
                     "kb-deflection"]
    agent = owner.execute("SELECT atum_private.session_issue(%s, %s)", [known.org, known.users["alice"]]).fetchone()[0]
    with db.acting_as(agent) as conn, pytest.raises(psycopg.Error) as refused:
        conn.execute("SELECT api.report('backlog', '{}')")
    assert refused.value.sqlstate == "AT403"
    cases = [("nope", {}, "AT404", "name"), ("backlog", {"from": "2026-02-30"}, "AT422", "from"),
             ("backlog", {"from": "2026-03-08", "to": "2026-03-07"}, "AT422", "from"),
             ("backlog", {"from": "2025-03-01", "to": "2026-03-07"}, "AT422", "to"),
             ("backlog", {"priority": "soon"}, "AT422", "priority"),
             ("backlog", {"team_id": "999999"}, "AT422", "team_id"),
             ("backlog", {"colour": "red"}, "AT422", "colour")]
    for name, query, code, column in cases:
        with db.acting_as(known.token) as conn, pytest.raises(psycopg.Error) as bad:
            conn.execute("SELECT api.report(%s, %s::jsonb)", [name, psycopg.types.json.Jsonb(query)])
        assert (bad.value.sqlstate, bad.value.diag.column_name) == (code, column), (name, query)


def test_the_default_range_is_the_last_thirty_days(db: Database, known: Fixture) -> None:
    result = report(db, known.token, "created-resolved")
    assert len(result["rows"]) == 30 and result["rows"][-1]["day"] == result["to"]


# ---------------------------------------------------------------------------------------------
# Navigation counters: trigger-maintained, exact at any moment
# ---------------------------------------------------------------------------------------------
OPEN = ("NEW", "ACCEPTED", "IN_PROGRESS", "WAITING_CUSTOMER")


def real_counts(owner: psycopg.Connection, org: int) -> dict[tuple[str, str, int], int]:
    return {(s, p, a): n for s, p, a, n in owner.execute(
        "SELECT status::text, priority::text, coalesce(assignee_id, 0), count(*)::int FROM atum.tickets"
        " WHERE organization_id = %s AND status IN ('NEW', 'ACCEPTED', 'IN_PROGRESS', 'WAITING_CUSTOMER')"
        " GROUP BY 1, 2, 3", [org])}


def summary_counts(owner: psycopg.Connection, org: int) -> dict[tuple[str, str, int], int]:
    return {(s, p, a): n for s, p, a, n in owner.execute(
        "SELECT status, priority, coalesce(assignee_id, 0), tickets::int FROM reporting.open_tickets"
        " WHERE organization_id = %s", [org])}


def api_counters(db: Database, token: str) -> Any:
    with db.acting_as(token) as conn:
        return conn.execute("SELECT api.counters() AS c").fetchone()["c"]


def check_counters(db: Database, owner: psycopg.Connection, org: Any) -> None:
    real = real_counts(owner, org.id)
    assert summary_counts(owner, org.id) == real
    counters = api_counters(db, org.tokens["agent"])
    assert counters["by_status"] == {s: sum(n for (st, _, _), n in real.items() if st == s) for s in OPEN}
    assert counters["open"] == sum(real.values())
    assert counters["new"] == sum(n for (s, _, _), n in real.items() if s == "NEW")
    assert counters["mine"] == sum(n for (_, _, a), n in real.items() if a == org.users["agent"])


def test_counters_follow_creates_moves_assigns_and_deletes(db: Database, owner: psycopg.Connection) -> None:
    org = build_org(owner, "count")
    check_counters(db, owner, org)
    created = []
    for i in range(4):  # several transactions, as customers open tickets one by one
        with db.acting_as(org.tokens["customer"]) as conn:
            created.append(conn.execute("SELECT (api.ticket_create(%s, NULL) ->> 'id')::bigint AS id",
                                        [psycopg.types.json.Jsonb({"subject": f"Broken {i}", "priority": "HIGH"})]
                                        ).fetchone()["id"])
            conn.commit()
    check_counters(db, owner, org)
    with db.acting_as(org.tokens["manager"]) as conn:
        conn.execute("SELECT api.ticket_accept(%s, 'URGENT', %s)", [created[0], org.users["agent"]])
        conn.execute("SELECT api.ticket_accept(%s)", [created[1]])
        conn.commit()
    check_counters(db, owner, org)
    owner.execute("SELECT atum.reports_fold()")  # folded and pending parts both in play from here
    check_counters(db, owner, org)
    with db.acting_as(org.tokens["manager"]) as conn:
        conn.execute("SELECT api.ticket_assign(%s, %s)", [created[1], psycopg.types.json.Jsonb(
            {"assignee_id": org.users["agent"]})])
        conn.execute("SELECT api.ticket_transition(%s, 'IN_PROGRESS')", [created[0]])
        conn.execute("SELECT api.ticket_transition(%s, 'REJECTED', 'spam')", [created[2]])
        conn.commit()
    check_counters(db, owner, org)
    owner.execute("DELETE FROM atum.tickets WHERE organization_id = %s AND id = %s", [org.id, created[3]])
    check_counters(db, owner, org)
    with db.acting_as(org.tokens["manager"]) as conn:  # rolled back: counts nothing
        conn.execute("SELECT api.ticket_accept(%s)", [org.ticket_id])
    check_counters(db, owner, org)
    owner.execute("SELECT atum.reports_fold()")
    check_counters(db, owner, org)
    assert owner.execute("SELECT count(*) FROM atum_summary.ticket_deltas").fetchone()[0] == 0
    # The daily counts kept change by change are those computed afresh.
    days = ("SELECT * FROM atum_summary.ticket_days WHERE organization_id = %s AND (created, resolved, accepted,"
            " first_response_met, first_response_breached, resolution_met, resolution_breached)"
            " <> (0, 0, 0, 0, 0, 0, 0) ORDER BY day, priority, team_id, assignee_id")
    kept = owner.execute(days, [org.id]).fetchall()
    owner.execute("SELECT atum.reports_rebuild(%s)", [org.id])
    assert owner.execute(days, [org.id]).fetchall() == kept


def test_a_fold_during_open_transactions_leaves_their_changes_for_later(db: Database,
                                                                        owner: psycopg.Connection) -> None:
    # Writers of one organization already queue on its audit chain head, so the overlapping writers
    # here are of two organizations; the fold runs while both have uncommitted deltas.
    orgs = build_org(owner, "busy"), build_org(owner, "hectic")
    writers = [db.connect("atum_app") for _ in orgs]
    try:
        for conn, org in zip(writers, orgs, strict=True):
            conn.execute("SELECT api.authenticate(%s)", [org.tokens["manager"]])
            conn.execute("SET LOCAL lock_timeout = '2s'")  # the fold must not block a writer
            conn.execute("SELECT api.ticket_accept(%s, 'LOW', %s)", [org.ticket_id, org.users["agent"]])
        owner.execute("SET lock_timeout = '2s'")  # nor a writer the fold
        owner.execute("SELECT atum.reports_fold()")
        writers[0].commit()
        for org in orgs:
            check_counters(db, owner, org)
        owner.execute("SELECT atum.reports_fold()")
        writers[1].commit()
        for org in orgs:
            check_counters(db, owner, org)
    finally:
        for conn in writers:
            conn.close()
    owner.execute("SELECT atum.reports_fold()")
    for org in orgs:
        check_counters(db, owner, org)
    stale = owner.execute("SELECT count(*) FROM atum_summary.ticket_facts f JOIN atum.tickets t"
                          " ON t.organization_id = f.organization_id AND t.id = f.ticket_id"
                          " WHERE f.status <> t.status OR f.assignee_id IS DISTINCT FROM t.assignee_id").fetchone()
    assert stale == (0,)


def test_counters_are_for_staff_of_the_organization_only(db: Database, owner: psycopg.Connection) -> None:
    a, b = build_org(owner, "ca"), build_org(owner, "cb")
    with db.acting_as(a.tokens["customer"]) as conn, pytest.raises(psycopg.Error) as refused:
        conn.execute("SELECT api.counters()")
    assert refused.value.sqlstate == "AT403"
    owner.execute("SELECT atum.reports_fold()")
    with db.acting_as(b.tokens["agent"]) as conn:
        seen = conn.execute("SELECT DISTINCT organization_id FROM atum_summary.ticket_counts"
                            " UNION SELECT organization_id FROM atum_summary.ticket_facts").fetchall()
        assert seen == [{"organization_id": b.id}] or seen == []
        # Agents see counters, not report facts.
        assert conn.execute("SELECT count(*) AS n FROM atum_summary.ticket_facts").fetchone()["n"] == 0


def test_rebuild_gives_the_same_counts_and_facts(db: Database, owner: psycopg.Connection, known: Fixture) -> None:
    before = owner.execute("SELECT * FROM atum_summary.ticket_facts WHERE organization_id = %s ORDER BY ticket_id",
                           [known.org]).fetchall()
    counts = summary_counts(owner, known.org)
    assert owner.execute("SELECT atum.reports_rebuild(%s)", [known.org]).fetchone()[0] == len(TICKETS)
    assert owner.execute("SELECT * FROM atum_summary.ticket_facts WHERE organization_id = %s ORDER BY ticket_id",
                         [known.org]).fetchall() == before
    assert summary_counts(owner, known.org) == counts


def test_response_time_histograms_match_the_tickets_minutes(db: Database, owner: psycopg.Connection,
                                                            known: Fixture) -> None:
    """The percentiles come from histograms (atum_summary.time_buckets): against percentile_cont over
    every ticket's own minutes they are off by less than one bucket (none for round durations),
    through changes the fold sees one by one, and equal to a rebuild from scratch."""
    rng = random.Random(7)
    priorities = ("LOW", "MEDIUM", "HIGH", "URGENT")
    for n in range(240):
        created = datetime(2026, 3, 1 + n % 7, 8, tzinfo=UTC) + timedelta(minutes=rng.randrange(600))
        accepted = created + timedelta(minutes=rng.choice([rng.uniform(0, 110), rng.uniform(120, 1400)]))
        replied = accepted + timedelta(minutes=rng.choice([rng.uniform(0, 100), rng.uniform(1440, 9000)]))
        resolved = replied + timedelta(minutes=rng.uniform(10, 30000))
        owner.execute(
            "INSERT INTO atum.tickets (organization_id, subject, requester_id, priority, status, created_at,"
            " updated_at, accepted_at, sla_started_at, first_responded_at, resolved_at)"
            " VALUES (%s, %s, %s, %s, 'RESOLVED', %s, %s, %s, %s, %s, %s)",
            [known.org, f"Spread {n}", known.users["customer"], priorities[n % 4], created, created, accepted,
             accepted, replied, resolved])
    owner.execute("SELECT atum.reports_fold()")
    # Some change afterwards: the fold moves them between buckets (out with the old, in with the new).
    owner.execute("UPDATE atum.tickets SET priority = 'URGENT'"
                  " WHERE organization_id = %s AND subject LIKE 'Spread 1%%'", [known.org])
    owner.execute("SELECT atum.reports_fold()")

    shown = {r["priority"]: r for r in report(db, known.token, "response-times", **RANGE)["rows"]}
    def exact(column: str, day: str) -> dict[str, list[float]]:
        """percentile_cont over every ticket's own minutes, as the report counts them."""
        statement = sql.SQL(
            "SELECT coalesce(f.priority::text, 'ALL'), percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY f.{c})"
            " FROM atum_summary.ticket_facts f WHERE f.organization_id = %s AND f.{c} IS NOT NULL"
            "  AND f.{d} BETWEEN %s AND %s GROUP BY GROUPING SETS ((f.priority), ())"
        ).format(c=sql.Identifier(column), d=sql.Identifier(day))
        rows = owner.execute(statement, [known.org, RANGE["from"], RANGE["to"]]).fetchall()
        return dict(rows)

    def bucket(minutes: float) -> float:
        return 1 if minutes < 120 else 5 if minutes < 1440 else 30 if minutes < 10080 else 240

    checked = 0
    for prefix, column, day in (("triage", "triage_minutes", "accepted_on"),
                                ("first_response", "first_response_minutes", "accepted_on"),
                                ("resolution", "resolution_minutes", "resolved_on")):
        for priority, (median, p90) in exact(column, day).items():
            for value, name in ((median, "median"), (p90, "p90")):
                got = float(shown[priority][f"{prefix}_{name}_hours"]) * 60
                # Rounded down to its bucket, then to hours with two decimals (0.6 minutes).
                assert -bucket(value) - 0.6 <= got - value <= 0.6, (priority, prefix, name, got, value)
                checked += 1
    assert checked == 30

    # A team's figures come from its tickets' own minutes: exactly percentile_cont's.
    support = known.teams["Support"]
    owner.execute("UPDATE atum.tickets SET team_id = %s WHERE organization_id = %s AND subject LIKE 'Spread %%'"
                  " AND id %% 3 = 0", [support, known.org])
    owner.execute("SELECT atum.reports_fold()")
    team = {r["priority"]: r for r in report(db, known.token, "response-times", team_id=str(support), **RANGE)["rows"]}
    statement = sql.SQL(
        "SELECT coalesce(f.priority::text, 'ALL'), count(*), percentile_cont(ARRAY[0.5, 0.9])"
        " WITHIN GROUP (ORDER BY f.resolution_minutes) FROM atum_summary.ticket_facts f"
        " WHERE f.organization_id = %s AND f.team_id = %s AND f.resolution_minutes IS NOT NULL"
        "  AND f.resolved_on BETWEEN %s AND %s GROUP BY GROUPING SETS ((f.priority), ())")
    expected = owner.execute(statement, [known.org, support, RANGE["from"], RANGE["to"]]).fetchall()
    assert len(expected) >= 3 and expected[-1][0] == "ALL"  # priorities of the team's tickets, then ALL
    for priority, count, (median, p90) in expected:
        assert (team[priority]["resolved"], float(team[priority]["resolution_median_hours"]),
                float(team[priority]["resolution_p90_hours"])) == (count, round(median / 60, 2), round(p90 / 60, 2))

    histogram = "SELECT measure, day, priority, minutes, tickets FROM atum_summary.time_buckets" \
                " WHERE organization_id = %s AND tickets <> 0 ORDER BY 1, 2, 3, 4"
    folded = owner.execute(histogram, [known.org]).fetchall()
    owner.execute("SELECT atum.reports_rebuild(%s)", [known.org])
    assert owner.execute(histogram, [known.org]).fetchall() == folded
