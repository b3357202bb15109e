"""The SLA sweep at SQL level: warning and due times, timers that follow the clocks, warnings and
breaches recorded exactly once (also when a sweep and a reply race), the audit trail, the
notification job for managers, and who may read the events."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import psycopg
import psycopg.rows
import pytest
from psycopg import sql

from tests.support import Database, Org, build_org, transition


@pytest.fixture
def org(owner: psycopg.Connection) -> Org:
    return build_org(owner, "acme")


def act(db: Database, token: str, statement: str, params: list[Any]) -> Any:
    with db.acting_as(token) as conn:
        row = conn.execute(statement, params).fetchone()
        conn.commit()
    return row


def reply(db: Database, org: Org, role: str, ticket: int, internal: bool = False) -> None:
    act(db, org.tokens[role],
        "INSERT INTO atum.ticket_comments (organization_id, ticket_id, author_id, body, is_internal)"
        " VALUES (%s, %s, %s, 'Looking into it.', %s) RETURNING id", [org.id, ticket, org.users[role], internal])


def new_ticket(owner: psycopg.Connection, org: Org, age: timedelta = timedelta(0), priority: str = "URGENT") -> int:
    """A NEW ticket of the customer, opened ``age`` ago."""
    return owner.execute(
        "INSERT INTO atum.tickets (organization_id, subject, requester_id, priority, created_at)"
        " VALUES (%s, 'VPN drops every hour', %s, %s, now() - %s) RETURNING id",
        [org.id, org.users["customer"], priority, age]).fetchone()[0]


def accepted(db: Database, owner: psycopg.Connection, org: Org, priority: str = "URGENT") -> int:
    """A ticket the manager accepted just now (URGENT: a 24x7 policy, business minutes are minutes)."""
    ticket = new_ticket(owner, org, priority=priority)
    act(db, org.tokens["manager"], "SELECT api.ticket_accept(%s)", [ticket])
    return ticket


def ticket(owner: psycopg.Connection, ticket_id: int) -> dict[str, Any]:
    with owner.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute("SELECT * FROM atum.tickets WHERE id = %s", [ticket_id]).fetchone()


def timers(owner: psycopg.Connection, ticket_id: int) -> dict[tuple[str, str], datetime]:
    return {(c, k): at for c, k, at in owner.execute(
        "SELECT clock::text, kind::text, fires_at FROM atum.sla_timers WHERE ticket_id = %s", [ticket_id])}


def events(owner: psycopg.Connection, ticket_id: int) -> list[tuple[str, str]]:
    return [(c, k) for c, k in owner.execute(
        "SELECT e.clock::text, e.kind::text FROM atum.sla_events e WHERE e.ticket_id = %s ORDER BY e.clock, e.kind",
        [ticket_id])]


def sweep(owner: psycopg.Connection) -> int:
    return owner.execute("SELECT atum.sla_sweep()").fetchone()[0]


def shift(owner: psycopg.Connection, ticket_id: int, **columns: timedelta | datetime) -> None:
    """Move clock times as the system may (the engine's own path; the app role may not): to an
    instant, or by an offset from now."""
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = now() + {}" if isinstance(value, timedelta) else "{} = {}").format(
            sql.Identifier(column), sql.Literal(value))
        for column, value in columns.items())
    owner.execute(sql.SQL("UPDATE atum.tickets SET {} WHERE id = {}").format(assignments, sql.Literal(ticket_id)))


def test_accepting_sets_warning_times_at_the_share_of_each_target(db: Database, owner: psycopg.Connection,
                                                                  org: Org) -> None:
    owner.execute("UPDATE atum.organizations SET sla_warning_ratio = 0.75 WHERE id = %s", [org.id])
    t = ticket(owner, accepted(db, owner, org, "MEDIUM"))  # MEDIUM: office hours in Berlin
    policy = owner.execute("SELECT calendar_id, first_response_minutes, resolution_minutes FROM atum.sla_policies"
                           " WHERE organization_id = %s AND priority = 'MEDIUM'", [org.id]).fetchone()

    def add(minutes: float) -> datetime:
        return owner.execute("SELECT atum.business_time_add(%s::bigint, %s::bigint, %s, %s::numeric)",
                             [org.id, policy[0], t["sla_started_at"], minutes]).fetchone()[0]

    assert t["first_response_warn_at"] == add(policy[1] * 3 / 4)
    assert t["first_response_due_at"] == add(policy[1])
    assert t["resolution_warn_at"] == add(policy[2] * 3 / 4)
    assert t["resolution_due_at"] == add(policy[2])
    assert timers(owner, t["id"]) == {
        ("first_response", "warning"): t["first_response_warn_at"],
        ("first_response", "breach"): t["first_response_due_at"],
        ("resolution", "warning"): t["resolution_warn_at"], ("resolution", "breach"): t["resolution_due_at"]}


def test_a_new_ticket_runs_only_the_triage_clock_until_it_is_accepted(db: Database, owner: psycopg.Connection,
                                                                      org: Org) -> None:
    ticket_id = new_ticket(owner, org)
    t = ticket(owner, ticket_id)
    target = owner.execute("SELECT triage_target_minutes * sla_warning_ratio FROM atum.organizations WHERE id = %s",
                           [org.id]).fetchone()[0]
    warn = owner.execute("SELECT atum.business_time_add(%s::bigint, c.id, %s, %s) FROM atum.business_calendars c"
                         " WHERE c.organization_id = %s AND c.is_default",
                         [org.id, t["created_at"], target, org.id]).fetchone()[0]
    assert t["triage_warn_at"] == warn < t["triage_due_at"]
    assert set(timers(owner, ticket_id)) == {("triage", "warning"), ("triage", "breach")}
    act(db, org.tokens["manager"], "SELECT api.ticket_accept(%s)", [ticket_id])
    assert {clock for clock, _ in timers(owner, ticket_id)} == {"first_response", "resolution"}
    assert sweep(owner) == 0 and events(owner, ticket_id) == []


def test_the_sweep_records_the_warning_then_the_breach_exactly_once(db: Database, owner: psycopg.Connection,
                                                                    org: Org) -> None:
    ticket_id = accepted(db, owner, org)
    shift(owner, ticket_id, first_response_warn_at=-timedelta(minutes=1))
    assert sweep(owner) == 1
    assert events(owner, ticket_id) == [("first_response", "warning")]
    assert sweep(owner) == 0
    shift(owner, ticket_id, first_response_due_at=-timedelta(seconds=1),
          resolution_warn_at=-timedelta(seconds=1))
    assert sweep(owner) == 2
    assert sweep(owner) == 0
    assert events(owner, ticket_id) == [("first_response", "warning"), ("first_response", "breach"),
                                        ("resolution", "warning")]
    assert set(timers(owner, ticket_id)) == {("resolution", "breach")}
    # Recorded once also if the thresholds move again: the unique key, not a flag, decides.
    shift(owner, ticket_id, first_response_due_at=-timedelta(minutes=5))
    assert sweep(owner) == 0
    with pytest.raises(psycopg.errors.UniqueViolation):
        owner.execute("INSERT INTO atum.sla_events (organization_id, ticket_id, clock, kind, due_at)"
                      " VALUES (%s, %s, 'first_response', 'breach', now())", [org.id, ticket_id])


def test_a_sweep_audits_its_events_in_one_row_per_organization_and_notifies_the_managers(
        db: Database, owner: psycopg.Connection, org: Org) -> None:
    ticket_id = accepted(db, owner, org)
    other = accepted(db, owner, org)
    for t in (ticket_id, other):
        shift(owner, t, first_response_warn_at=-timedelta(minutes=2),
              first_response_due_at=-timedelta(minutes=1))
    jobs_before = owner.execute("SELECT count(*) FROM atum.jobs WHERE kind = 'sla.notify'").fetchone()[0]
    assert sweep(owner) == 4
    recorded = owner.execute("SELECT id, ticket_id, clock::text, kind::text FROM atum.sla_events"
                             " WHERE ticket_id IN (%s, %s) ORDER BY id", [ticket_id, other]).fetchall()
    ids = [r[0] for r in recorded]
    # One audit row for the organization's part of the sweep, holding every event (in the hash chain).
    audited = owner.execute(
        "SELECT row_key, ticket_id, new_values FROM atum.audit_log WHERE organization_id = %s"
        " AND table_name = 'sla_events' AND action = 'INSERT' AND actor_user_id IS NULL"
        " AND seq > (SELECT max(seq) FROM atum.audit_log WHERE organization_id = %s AND table_name = 'tickets')",
        [org.id, org.id]).fetchall()
    assert len(audited) == 1
    row_key, audited_ticket, new_values = audited[0]
    assert audited_ticket is None  # several tickets
    assert sorted(row_key["id"]) == ids
    assert sorted((r["id"], r["ticket_id"], r["clock"], r["kind"]) for r in new_values["rows"]) == recorded
    jobs = owner.execute("SELECT organization_id, payload FROM atum.jobs WHERE kind = 'sla.notify'"
                         " ORDER BY id OFFSET %s", [jobs_before]).fetchall()
    assert jobs == [(org.id, {"recipients": "managers", "sla_event_ids": ids})]
    assert owner.execute("SELECT * FROM atum.audit_verify(%s)", [org.id]).fetchall() == []
    # Each ticket's timeline shows its own part of the shared row, and only that.
    for t in (ticket_id, other):
        history = act(db, org.tokens["agent"], "SELECT api.ticket_history(%s, '{}') AS h", [t])["h"]["items"]
        sla = [e for e in history if e["table"] == "sla_events"]
        assert len(sla) == 1
        assert {r["ticket_id"] for r in sla[0]["new"]["rows"]} == {t}
        assert sorted(sla[0]["row_key"]["id"]) == [r[0] for r in recorded if r[1] == t]
        assert [e["seq"] for e in history] == sorted(e["seq"] for e in history)


def test_events_of_one_ticket_are_audited_with_the_ticket(db: Database, owner: psycopg.Connection, org: Org) -> None:
    ticket_id = accepted(db, owner, org)
    shift(owner, ticket_id, first_response_warn_at=-timedelta(minutes=1))
    assert sweep(owner) == 1
    row = owner.execute("SELECT row_key, new_values FROM atum.audit_log WHERE organization_id = %s"
                        " AND table_name = 'sla_events' AND ticket_id = %s", [org.id, ticket_id]).fetchone()
    assert row is not None
    assert [(r["clock"], r["kind"]) for r in row[1]["rows"]] == [("first_response", "warning")]


def test_a_threshold_passed_before_the_clock_stopped_is_recorded_when_it_stops(
        db: Database, owner: psycopg.Connection, org: Org) -> None:
    ticket_id = accepted(db, owner, org)
    shift(owner, ticket_id, first_response_warn_at=-timedelta(minutes=2),
          first_response_due_at=-timedelta(minutes=1))
    transition(db, org.tokens["agent"], ticket_id, "IN_PROGRESS")
    reply(db, org, "agent", ticket_id)  # stops the first-response clock before any sweep ran
    assert events(owner, ticket_id) == [("first_response", "warning"), ("first_response", "breach")]
    assert {clock for clock, _ in timers(owner, ticket_id)} == {"resolution"}
    assert sweep(owner) == 0


def test_a_reply_in_time_disarms_the_first_response_clock(db: Database, owner: psycopg.Connection, org: Org) -> None:
    ticket_id = accepted(db, owner, org)
    reply(db, org, "agent", ticket_id, internal=True)
    assert ("first_response", "breach") in timers(owner, ticket_id)  # a note is no response
    reply(db, org, "agent", ticket_id)
    assert {clock for clock, _ in timers(owner, ticket_id)} == {"resolution"}
    assert events(owner, ticket_id) == []


def test_waiting_for_the_customer_pauses_only_the_resolution_timers(db: Database, owner: psycopg.Connection,
                                                                    org: Org) -> None:
    ticket_id = accepted(db, owner, org)
    transition(db, org.tokens["agent"], ticket_id, "IN_PROGRESS")
    due_before = ticket(owner, ticket_id)["resolution_due_at"]
    transition(db, org.tokens["agent"], ticket_id, "WAITING_CUSTOMER")
    assert {clock for clock, _ in timers(owner, ticket_id)} == {"first_response"}
    # While paused, a resolution threshold in the past is no breach.
    shift(owner, ticket_id, paused_at=-timedelta(minutes=30),
          resolution_due_at=-timedelta(minutes=10))
    assert sweep(owner) == 0
    shift(owner, ticket_id, resolution_due_at=due_before)
    reply(db, org, "customer", ticket_id)  # the customer answers: resumed, pushed by the pause
    t = ticket(owner, ticket_id)
    assert t["status"] == "IN_PROGRESS"
    assert t["resolution_due_at"] - due_before == pytest.approx(timedelta(minutes=30), abs=timedelta(seconds=5))
    assert timers(owner, ticket_id)[("resolution", "breach")] == t["resolution_due_at"]
    assert events(owner, ticket_id) == []


def test_resolved_pauses_and_a_reopen_resumes_without_warning_twice(db: Database, owner: psycopg.Connection,
                                                                    org: Org) -> None:
    ticket_id = accepted(db, owner, org)
    transition(db, org.tokens["agent"], ticket_id, "IN_PROGRESS")
    reply(db, org, "agent", ticket_id)
    shift(owner, ticket_id, resolution_warn_at=-timedelta(minutes=1))
    assert sweep(owner) == 1
    transition(db, org.tokens["agent"], ticket_id, "RESOLVED")
    assert timers(owner, ticket_id) == {}
    due_resolved = ticket(owner, ticket_id)["resolution_due_at"]
    shift(owner, ticket_id, paused_at=-timedelta(hours=2))  # as if resolved two hours ago
    transition(db, org.tokens["customer"], ticket_id, "IN_PROGRESS", "Still broken")
    t = ticket(owner, ticket_id)
    assert t["resolution_due_at"] - due_resolved == pytest.approx(timedelta(hours=2), abs=timedelta(seconds=5))
    assert set(timers(owner, ticket_id)) == {("resolution", "breach")}  # the warning was given already
    assert events(owner, ticket_id) == [("resolution", "warning")]


def test_closing_does_not_push_the_resolution_times(db: Database, owner: psycopg.Connection, org: Org) -> None:
    ticket_id = accepted(db, owner, org)
    transition(db, org.tokens["agent"], ticket_id, "IN_PROGRESS")
    transition(db, org.tokens["agent"], ticket_id, "RESOLVED")
    resolved = ticket(owner, ticket_id)
    shift(owner, ticket_id, paused_at=-timedelta(days=3))
    transition(db, org.tokens["customer"], ticket_id, "CLOSED")
    assert ticket(owner, ticket_id)["resolution_due_at"] == resolved["resolution_due_at"]


def test_a_priority_change_rearms_the_timers_from_the_start(db: Database, owner: psycopg.Connection,
                                                            org: Org) -> None:
    ticket_id = accepted(db, owner, org, "LOW")
    act(db, org.tokens["manager"], "UPDATE atum.tickets SET priority = 'URGENT' WHERE id = %s RETURNING id",
        [ticket_id])
    t = ticket(owner, ticket_id)
    assert t["first_response_due_at"] == t["sla_started_at"] + timedelta(minutes=60)
    assert timers(owner, ticket_id)[("first_response", "breach")] == t["first_response_due_at"]
    assert timers(owner, ticket_id)[("first_response", "warning")] == t["sla_started_at"] + timedelta(minutes=48)


def test_a_move_of_several_tickets_arms_their_timers_as_single_moves_do(db: Database, owner: psycopg.Connection,
                                                                       org: Org) -> None:
    # One ticket moves alone (the one-row path), three move in one statement (the set-based path):
    # each ends with the same timers, and a threshold passed before the move is recorded at once.
    alone = new_ticket(owner, org)
    together = [new_ticket(owner, org) for _ in range(3)]
    shift(owner, together[0], triage_warn_at=-timedelta(minutes=1))
    owner.execute("UPDATE atum.tickets SET status = 'ACCEPTED' WHERE id = %s", [alone])
    owner.execute("UPDATE atum.tickets SET status = 'ACCEPTED' WHERE id = ANY (%s)", [together])
    for ticket_id in [alone, *together]:
        t = ticket(owner, ticket_id)
        assert timers(owner, ticket_id) == {
            ("first_response", "warning"): t["first_response_warn_at"],
            ("first_response", "breach"): t["first_response_due_at"],
            ("resolution", "warning"): t["resolution_warn_at"],
            ("resolution", "breach"): t["resolution_due_at"],
        }
    assert events(owner, together[0]) == [("triage", "warning")]
    assert [events(owner, ticket_id) for ticket_id in [alone, *together[1:]]] == [[], [], []]


def test_an_edit_that_moves_no_threshold_leaves_the_timers_alone(db: Database, owner: psycopg.Connection,
                                                                  org: Org) -> None:
    ticket_id = accepted(db, owner, org)
    before = owner.execute("SELECT ctid::text, fires_at FROM atum.sla_timers WHERE ticket_id = %s ORDER BY 1",
                           [ticket_id]).fetchall()
    act(db, org.tokens["agent"], "UPDATE atum.tickets SET subject = 'VPN drops every two hours' WHERE id = %s"
        " RETURNING id", [ticket_id])
    assert owner.execute("SELECT ctid::text, fires_at FROM atum.sla_timers WHERE ticket_id = %s ORDER BY 1",
                         [ticket_id]).fetchall() == before


def test_triage_warning_and_breach_are_recorded_for_a_ticket_left_in_the_queue(
        db: Database, owner: psycopg.Connection, org: Org) -> None:
    waiting = new_ticket(owner, org, timedelta(days=14))
    fresh = new_ticket(owner, org)
    assert sweep(owner) == 2
    assert events(owner, waiting) == [("triage", "warning"), ("triage", "breach")]
    assert events(owner, fresh) == []
    act(db, org.tokens["manager"], "SELECT api.ticket_accept(%s)", [waiting])
    assert sweep(owner) == 0
    t = ticket(owner, waiting)
    assert t["accepted_at"] > t["triage_due_at"]  # what reports show as triage delay


def test_a_sweep_and_a_reply_racing_for_the_same_breach_record_it_once(db: Database, owner: psycopg.Connection,
                                                                       org: Org) -> None:
    ticket_id = accepted(db, owner, org)
    transition(db, org.tokens["agent"], ticket_id, "IN_PROGRESS")
    shift(owner, ticket_id, first_response_warn_at=-timedelta(minutes=2),
          first_response_due_at=-timedelta(minutes=1))
    with db.connect("atum_owner") as sweeper:
        assert sweeper.execute("SELECT atum.sla_sweep()").fetchone()[0] >= 2  # holds its timers, not committed
        done = threading.Event()
        errors: list[BaseException] = []

        def agent_replies() -> None:
            try:
                reply(db, org, "agent", ticket_id)
            except BaseException as exc:  # reported below
                errors.append(exc)
            done.set()

        worker = threading.Thread(target=agent_replies)
        worker.start()
        assert not done.wait(0.5), "the reply should wait for the sweep's locks"
        sweeper.commit()
        worker.join(10)
    assert errors == []
    assert events(owner, ticket_id) == [("first_response", "warning"), ("first_response", "breach")]
    assert ticket(owner, ticket_id)["first_responded_at"] is not None


def test_two_sweeps_at_once_do_not_wait_for_each_other_or_record_twice(db: Database, owner: psycopg.Connection,
                                                                       org: Org) -> None:
    ids = [new_ticket(owner, org, timedelta(days=14)) for _ in range(3)]
    with db.connect("atum_owner") as first, db.connect("atum_owner") as second:
        a = first.execute("SELECT atum.sla_sweep()").fetchone()[0]
        b = second.execute("SELECT atum.sla_sweep()").fetchone()[0]  # SKIP LOCKED: returns at once
        first.commit()
        second.commit()
    assert (a, b) == (6, 0)
    assert all(events(owner, t) == [("triage", "warning"), ("triage", "breach")] for t in ids)


def test_only_staff_of_the_organization_read_sla_events(db: Database, owner: psycopg.Connection, org: Org) -> None:
    other = build_org(owner, "globex")
    for role, expected in (("agent", 2), ("manager", 2), ("customer", 0), ("customer2", 0)):
        with db.acting_as(org.tokens[role]) as conn:
            assert conn.execute("SELECT count(*) FROM atum.sla_events").fetchone()["count"] == expected, role
    with db.acting_as(other.tokens["admin"]) as conn:
        assert conn.execute("SELECT count(*) FROM atum.sla_events WHERE organization_id = %s",
                            [org.id]).fetchone()["count"] == 0
    for statement in ("INSERT INTO atum.sla_events (organization_id, ticket_id, clock, kind, due_at)"
                      " VALUES (%s, %s, 'triage', 'breach', now())",
                      "DELETE FROM atum.sla_events WHERE organization_id = %s AND ticket_id = %s",
                      "SELECT atum.sla_sweep() WHERE %s::bigint <> %s::bigint",
                      "SELECT count(*) FROM atum.sla_timers WHERE organization_id = %s AND ticket_id = %s"):
        with db.acting_as(org.tokens["admin"]) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement, [org.id, org.other_ticket_id])


def test_the_app_cannot_set_warning_times(db: Database, org: Org) -> None:
    with db.acting_as(org.tokens["manager"]) as conn, pytest.raises(psycopg.Error) as err:
        conn.execute("UPDATE atum.tickets SET resolution_warn_at = now() + interval '1 year' WHERE id = %s",
                     [org.other_ticket_id])
    assert err.value.sqlstate == "AT403"
    with db.acting_as(org.tokens["customer"]) as conn, pytest.raises(psycopg.Error) as err:
        conn.execute("INSERT INTO atum.tickets (organization_id, subject, requester_id, first_response_warn_at)"
                     " VALUES (%s, 'x', %s, now())", [org.id, org.users["customer"]])
    assert err.value.sqlstate == "AT422"


def test_a_deleted_ticket_takes_its_events_and_timers_along(db: Database, owner: psycopg.Connection,
                                                            org: Org) -> None:
    ticket_id = accepted(db, owner, org)
    owner.execute("INSERT INTO atum.sla_events (organization_id, ticket_id, clock, kind, due_at)"
                  " VALUES (%s, %s, 'first_response', 'warning', now())", [org.id, ticket_id])
    assert timers(owner, ticket_id)
    owner.execute("DELETE FROM atum.tickets WHERE organization_id = %s AND id = %s", [org.id, ticket_id])
    assert timers(owner, ticket_id) == {}
    assert owner.execute("SELECT count(*) FROM atum.sla_events WHERE ticket_id = %s", [ticket_id]).fetchone() == (0,)
