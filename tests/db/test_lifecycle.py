"""The ticket state machine and the start of the SLA clock, at SQL level as atum_app: every move by
every kind of actor, reasons, the reopen window, every path that accepts a ticket."""

from __future__ import annotations

from typing import Any, LiteralString

import psycopg
import psycopg.rows
import pytest
from psycopg import sql

from tests.support import Database, Org, build_org, transition

STATUSES = ["NEW", "ACCEPTED", "REJECTED", "IN_PROGRESS", "WAITING_CUSTOMER", "RESOLVED", "CLOSED"]
ACTORS = ["requester", "other_customer", "agent", "manager", "admin"]
TOKEN_OF = {"requester": "customer", "other_customer": "customer2", "agent": "agent", "manager": "manager",
            "admin": "admin"}


@pytest.fixture
def org(owner: psycopg.Connection) -> Org:
    return build_org(owner, "acme")


def ticket_in(owner: psycopg.Connection, org: Org, status: str, priority: str = "MEDIUM") -> int:
    """A ticket of the customer in a given status, put there by the system (as an import would)."""
    return owner.execute(
        "INSERT INTO atum.tickets (organization_id, subject, requester_id, status, priority, accepted_at,"
        " sla_started_at, resolved_at, closed_at) VALUES (%(org)s, 'Laptop will not boot', %(req)s,"
        " %(status)s::atum.ticket_status, %(priority)s::atum.ticket_priority,"
        " CASE WHEN %(status)s::text NOT IN ('NEW', 'REJECTED') THEN now() END,"
        " CASE WHEN %(status)s::text NOT IN ('NEW', 'REJECTED') THEN now() END,"
        " CASE WHEN %(status)s::text IN ('RESOLVED', 'CLOSED') THEN now() END,"
        " CASE WHEN %(status)s::text = 'CLOSED' THEN now() END) RETURNING id",
        {"org": org.id, "req": org.users["customer"], "status": status, "priority": priority}).fetchone()[0]


def moves(owner: psycopg.Connection) -> dict[tuple[str, str], list[str]]:
    return {(f, t): allowed for f, t, allowed, _ in owner.execute(
        "SELECT from_status::text, to_status::text, allowed, reason_required FROM atum.ticket_moves()")}


def error_of(db: Database, token: str, statement: Any, params: list[Any]) -> str:
    with db.acting_as(token) as conn, pytest.raises(psycopg.Error) as err:
        conn.execute(statement, params)
    return err.value.sqlstate or ""


def test_every_move_by_every_actor_is_allowed_exactly_as_the_rules_say(db: Database, owner: psycopg.Connection,
                                                                        org: Org) -> None:
    rules = moves(owner)
    assert len(rules) == 9
    outcomes = []
    for source in STATUSES:
        for target in STATUSES:
            if source == target:
                continue
            for actor in ACTORS:
                ticket = ticket_in(owner, org, source)
                allowed = actor in rules.get((source, target), [])
                try:
                    result = transition(db, org.tokens[TOKEN_OF[actor]], ticket, target)
                    outcome = "ok" if result["status"] == target else "wrong status"
                except psycopg.Error as exc:
                    outcome = exc.sqlstate
                expected = ("ok" if allowed
                            else "AT404" if actor == "other_customer"
                            else "AT491" if (source, target) not in rules
                            else "AT403")
                outcomes.append((source, target, actor, outcome, expected))
    wrong = [o for o in outcomes if o[3] != o[4]]
    assert wrong == []
    assert sum(1 for o in outcomes if o[3] == "ok") == sum(
        len([a for a in allowed if a in ACTORS]) for allowed in rules.values())


def test_final_states_stay_final_even_for_the_system(owner: psycopg.Connection, org: Org) -> None:
    for final in ("CLOSED", "REJECTED"):
        ticket = ticket_in(owner, org, final)
        with pytest.raises(psycopg.Error) as err:
            owner.execute("UPDATE atum.tickets SET status = 'IN_PROGRESS' WHERE id = %s", [ticket])
        assert err.value.sqlstate == "AT491"
        assert err.value.diag.message_hint == "The ticket is final."


def test_rejecting_needs_a_reason_which_is_kept_with_the_actor(db: Database, owner: psycopg.Connection,
                                                               org: Org) -> None:
    ticket = ticket_in(owner, org, "NEW")
    for reason in (None, "", "   "):
        assert error_of(db, org.tokens["manager"], "SELECT api.ticket_transition(%s, 'REJECTED', %s)",
                        [ticket, reason]) == "AT422"
    transition(db, org.tokens["manager"], ticket, "rejected", "Duplicate of ATUM-1")
    history = owner.execute("SELECT from_status::text, to_status::text, reason, actor_id"
                            " FROM atum.ticket_status_changes WHERE ticket_id = %s ORDER BY id", [ticket]).fetchall()
    assert history == [("NEW", "REJECTED", "Duplicate of ATUM-1", org.users["manager"])]
    # One audit row for the move: the ticket's change, with its actor and reason (the history row is
    # derived from it in the same statement and not audited again).
    audited = owner.execute("SELECT table_name, actor_user_id, old_values ->> 'status', new_values ->> 'status', reason"
                            " FROM atum.audit_log WHERE ticket_id = %s AND action = 'UPDATE'", [ticket]).fetchall()
    assert audited == [("tickets", org.users["manager"], "NEW", "REJECTED", "Duplicate of ATUM-1")]
    assert owner.execute("SELECT count(*) FROM atum.audit_log WHERE ticket_id = %s"
                         " AND table_name = 'ticket_status_changes'", [ticket]).fetchone()[0] == 0


def test_the_requester_reopens_only_within_the_window_staff_any_time(db: Database, owner: psycopg.Connection,
                                                                     org: Org) -> None:
    ticket = ticket_in(owner, org, "RESOLVED")
    assert transition(db, org.tokens["customer"], ticket, "IN_PROGRESS", "Still broken")["status"] == "IN_PROGRESS"
    old = ticket_in(owner, org, "RESOLVED")
    owner.execute("UPDATE atum.tickets SET resolved_at = now() - interval '15 days' WHERE id = %s", [old])
    assert error_of(db, org.tokens["customer"], "SELECT api.ticket_transition(%s, 'IN_PROGRESS', 'again')",
                    [old]) == "AT491"
    assert transition(db, org.tokens["agent"], old, "IN_PROGRESS", "Customer called")["status"] == "IN_PROGRESS"


def test_a_new_ticket_has_no_sla_clock(db: Database, org: Org) -> None:
    with db.acting_as(org.tokens["customer"]) as conn:
        row = conn.execute("INSERT INTO atum.tickets (organization_id, subject, requester_id) VALUES (%s, 'Help', %s)"
                           " RETURNING status, accepted_at, sla_started_at, first_response_due_at, resolution_due_at",
                           [org.id, org.users["customer"]]).fetchone()
    assert row == {"status": "NEW", "accepted_at": None, "sla_started_at": None, "first_response_due_at": None,
                   "resolution_due_at": None}


def expected_due(owner: psycopg.Connection, org: Org, priority: str, start: Any) -> tuple[Any, Any]:
    return owner.execute(
        "SELECT atum.business_time_add(p.organization_id, p.calendar_id, %s, p.first_response_minutes),"
        "       atum.business_time_add(p.organization_id, p.calendar_id, %s, p.resolution_minutes)"
        "  FROM atum.sla_policies p WHERE p.organization_id = %s AND p.priority = %s",
        [start, start, org.id, priority]).fetchone()


ACCEPT_PATHS = {
    "api.ticket_accept": lambda db, org, t: _as(db, org, "SELECT api.ticket_accept(%s)", [t]),
    "api.ticket_accept with priority": lambda db, org, t: _as(db, org, "SELECT api.ticket_accept(%s, 'urgent')", [t]),
    "api.ticket_transition": lambda db, org, t: _as(db, org, "SELECT api.ticket_transition(%s, 'accepted')", [t]),
    "plain UPDATE as manager": lambda db, org, t: _as(db, org, "UPDATE atum.tickets SET status = 'ACCEPTED'"
                                                                " WHERE id = %s", [t]),
    "plain UPDATE by the system": None,
}


def _as(db: Database, org: Org, statement: str, params: list[Any]) -> None:
    with db.acting_as(org.tokens["manager"]) as conn:
        conn.execute(statement, params)
        conn.commit()


@pytest.mark.parametrize("path", list(ACCEPT_PATHS))
def test_every_way_of_accepting_starts_the_sla_clock(db: Database, owner: psycopg.Connection, org: Org,
                                                     path: str) -> None:
    ticket = ticket_in(owner, org, "NEW")
    accept = ACCEPT_PATHS[path]
    if accept is None:
        owner.execute("UPDATE atum.tickets SET status = 'ACCEPTED' WHERE id = %s", [ticket])
    else:
        accept(db, org, ticket)
    row = owner.execute("SELECT status::text, priority::text, accepted_at, sla_started_at, first_response_due_at,"
                        " resolution_due_at, now() - accepted_at < interval '1 minute' FROM atum.tickets WHERE id = %s",
                        [ticket]).fetchone()
    status, priority, accepted_at, started_at, first_due, resolution_due, recent = row
    assert status == "ACCEPTED" and recent
    assert started_at == accepted_at
    assert priority == ("URGENT" if "priority" in path else "MEDIUM")
    assert (first_due, resolution_due) == expected_due(owner, org, priority, started_at)
    assert first_due > started_at and resolution_due >= first_due


def test_a_priority_change_recomputes_due_times_from_the_start(db: Database, owner: psycopg.Connection,
                                                               org: Org) -> None:
    ticket = ticket_in(owner, org, "NEW", "LOW")
    transition(db, org.tokens["manager"], ticket, "ACCEPTED")
    with db.acting_as(org.tokens["agent"]) as conn:
        conn.execute("UPDATE atum.tickets SET priority = 'HIGH' WHERE id = %s", [ticket])
        conn.commit()
    start, first_due, resolution_due = owner.execute(
        "SELECT sla_started_at, first_response_due_at, resolution_due_at FROM atum.tickets WHERE id = %s",
        [ticket]).fetchone()
    assert (first_due, resolution_due) == expected_due(owner, org, "HIGH", start)


@pytest.mark.parametrize("change", [
    "sla_started_at = now() - interval '1 day'",
    "resolution_due_at = now() + interval '1 year'",
    "accepted_at = NULL",
])
def test_only_the_state_machine_sets_sla_times(db: Database, owner: psycopg.Connection, org: Org,
                                               change: LiteralString) -> None:
    ticket = ticket_in(owner, org, "IN_PROGRESS")
    update = sql.SQL("UPDATE atum.tickets SET {} WHERE id = %s").format(sql.SQL(change))
    assert error_of(db, org.tokens["admin"], update, [ticket]) == "AT403"


def test_the_app_opens_tickets_only_as_new(db: Database, org: Org) -> None:
    assert error_of(db, org.tokens["agent"], "INSERT INTO atum.tickets (organization_id, subject, requester_id, status)"
                    " VALUES (%s, 'x', %s, 'RESOLVED')", [org.id, org.users["customer"]]) == "AT422"


def test_accepting_without_a_policy_for_the_priority_is_refused(db: Database, owner: psycopg.Connection,
                                                                org: Org) -> None:
    ticket = ticket_in(owner, org, "NEW", "LOW")
    owner.execute("DELETE FROM atum.sla_policies WHERE organization_id = %s AND priority = 'LOW'", [org.id])
    assert error_of(db, org.tokens["manager"], "SELECT api.ticket_accept(%s)", [ticket]) == "AT409"
    assert owner.execute("SELECT status::text FROM atum.tickets WHERE id = %s", [ticket]).fetchone() == ("NEW",)


@pytest.mark.parametrize(("statement", "params", "code"), [
    ("SELECT api.ticket_transition(%s, 'DONE')", ["ticket"], "AT422"),
    ("SELECT api.ticket_transition(%s, NULL)", ["ticket"], "AT422"),
    ("SELECT api.ticket_transition(999999999, 'ACCEPTED')", [], "AT404"),
    ("SELECT api.ticket_accept(%s, 'whenever')", ["ticket"], "AT422"),
    ("SELECT api.ticket_accept(%s, NULL, %s)", ["ticket", "customer_id"], "AT422"),
])
def test_bad_requests_name_what_is_wrong(db: Database, owner: psycopg.Connection, org: Org, statement: str,
                                         params: list[str], code: str) -> None:
    ticket = ticket_in(owner, org, "NEW")
    values = [ticket if p == "ticket" else org.users["customer"] for p in params]
    assert error_of(db, org.tokens["manager"], statement, values) == code
    assert owner.execute("SELECT status::text FROM atum.tickets WHERE id = %s", [ticket]).fetchone() == ("NEW",)


def accepted_urgent(db: Database, owner: psycopg.Connection, org: Org) -> int:
    """An URGENT ticket (24x7 policy, so business minutes are plain minutes), accepted and in progress."""
    ticket = ticket_in(owner, org, "NEW", "URGENT")
    transition(db, org.tokens["manager"], ticket, "ACCEPTED")
    transition(db, org.tokens["agent"], ticket, "IN_PROGRESS")
    return ticket


def clock(owner: psycopg.Connection, ticket: int) -> dict[str, Any]:
    with owner.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute("SELECT status::text, sla_started_at, first_response_due_at, resolution_due_at,"
                           " first_responded_at, paused_at, paused_minutes FROM atum.tickets WHERE id = %s",
                           [ticket]).fetchone()


def test_waiting_for_the_customer_pauses_the_resolution_clock(db: Database, owner: psycopg.Connection,
                                                              org: Org) -> None:
    ticket = accepted_urgent(db, owner, org)
    before = clock(owner, ticket)
    transition(db, org.tokens["agent"], ticket, "WAITING_CUSTOMER")
    assert clock(owner, ticket)["paused_at"] is not None
    # As if the customer took 90 minutes to answer (the system may move clock times; the app may not).
    owner.execute("UPDATE atum.tickets SET paused_at = paused_at - interval '90 minutes' WHERE id = %s", [ticket])
    transition(db, org.tokens["agent"], ticket, "IN_PROGRESS")
    after = clock(owner, ticket)
    assert after["paused_at"] is None
    assert 90 <= after["paused_minutes"] < 91
    shifted = (after["resolution_due_at"] - before["resolution_due_at"]).total_seconds() / 60
    assert shifted == pytest.approx(float(after["paused_minutes"]), abs=0.01)
    assert after["first_response_due_at"] == before["first_response_due_at"]  # only resolution pauses
    # A later priority change recomputes from the start and keeps the pause.
    with db.acting_as(org.tokens["manager"]) as conn:
        conn.execute("UPDATE atum.tickets SET priority = 'HIGH' WHERE id = %s", [ticket])
        conn.commit()
    expected = owner.execute(
        "SELECT atum.business_time_add(p.organization_id, p.calendar_id, %s, p.resolution_minutes + %s)"
        "  FROM atum.sla_policies p WHERE p.organization_id = %s AND p.priority = 'HIGH'",
        [after["sla_started_at"], after["paused_minutes"], org.id]).fetchone()[0]
    assert clock(owner, ticket)["resolution_due_at"] == expected != after["resolution_due_at"]


def test_a_reply_from_the_requester_resumes_a_waiting_ticket(db: Database, owner: psycopg.Connection,
                                                             org: Org) -> None:
    ticket = accepted_urgent(db, owner, org)
    transition(db, org.tokens["agent"], ticket, "WAITING_CUSTOMER")
    with db.acting_as(org.tokens["customer"]) as conn:
        conn.execute("INSERT INTO atum.ticket_comments (organization_id, ticket_id, author_id, body)"
                     " VALUES (%s, %s, %s, 'Here is the log file.')", [org.id, ticket, org.users["customer"]])
        conn.commit()
    assert clock(owner, ticket)["status"] == "IN_PROGRESS"
    last = owner.execute("SELECT from_status::text, to_status::text, actor_id FROM atum.ticket_status_changes"
                         " WHERE ticket_id = %s ORDER BY id DESC LIMIT 1", [ticket]).fetchone()
    assert last == ("WAITING_CUSTOMER", "IN_PROGRESS", org.users["customer"])


def test_the_first_public_staff_reply_stops_the_first_response_clock(db: Database, owner: psycopg.Connection,
                                                                     org: Org) -> None:
    ticket = accepted_urgent(db, owner, org)

    def comment(role: str, internal: bool) -> None:
        with db.acting_as(org.tokens[role]) as conn:
            conn.execute("INSERT INTO atum.ticket_comments (organization_id, ticket_id, author_id, body, is_internal)"
                         " VALUES (%s, %s, %s, 'text', %s)", [org.id, ticket, org.users[role], internal])
            conn.commit()

    comment("agent", True)      # an internal note is no response
    comment("customer", False)  # nor is the customer's own message
    assert clock(owner, ticket)["first_responded_at"] is None
    comment("agent", False)
    first = clock(owner, ticket)["first_responded_at"]
    assert first is not None
    comment("manager", False)   # later replies do not move it
    assert clock(owner, ticket)["first_responded_at"] == first


def test_a_reply_before_acceptance_does_not_count_as_first_response(db: Database, owner: psycopg.Connection,
                                                                    org: Org) -> None:
    ticket = ticket_in(owner, org, "NEW", "URGENT")
    with db.acting_as(org.tokens["agent"]) as conn:
        conn.execute("INSERT INTO atum.ticket_comments (organization_id, ticket_id, author_id, body)"
                     " VALUES (%s, %s, %s, 'Looking into it')", [org.id, ticket, org.users["agent"]])
        conn.commit()
    assert clock(owner, ticket)["first_responded_at"] is None


def test_the_app_cannot_stop_or_pause_clocks_by_hand(db: Database, owner: psycopg.Connection, org: Org) -> None:
    ticket = accepted_urgent(db, owner, org)
    for change in ("first_responded_at = now()", "paused_minutes = 600", "paused_at = now()",
                   "triage_due_at = NULL"):
        update = sql.SQL("UPDATE atum.tickets SET {} WHERE id = %s").format(sql.SQL(change))
        assert error_of(db, org.tokens["admin"], update, [ticket]) == "AT403", change


def test_new_tickets_get_a_triage_deadline_in_business_time(db: Database, owner: psycopg.Connection,
                                                            org: Org) -> None:
    with db.acting_as(org.tokens["customer"]) as conn:
        row = conn.execute("INSERT INTO atum.tickets (organization_id, subject, requester_id)"
                           " VALUES (%s, 'Printer', %s) RETURNING id, created_at, triage_due_at",
                           [org.id, org.users["customer"]]).fetchone()
        conn.commit()
    expected = owner.execute(
        "SELECT atum.business_time_add(o.id, c.id, %s, o.triage_target_minutes) FROM atum.organizations o"
        " JOIN atum.business_calendars c ON c.organization_id = o.id AND c.is_default WHERE o.id = %s",
        [row["created_at"], org.id]).fetchone()[0]
    assert row["triage_due_at"] == expected and expected > row["created_at"]


def test_resolved_tickets_close_after_the_organizations_period(db: Database, owner: psycopg.Connection,
                                                               org: Org) -> None:
    old, recent = ticket_in(owner, org, "RESOLVED"), ticket_in(owner, org, "RESOLVED")
    owner.execute("UPDATE atum.tickets SET resolved_at = now() - interval '8 days' WHERE id = %s", [old])
    owner.execute("UPDATE atum.tickets SET resolved_at = now() - interval '6 days' WHERE id = %s", [recent])
    assert owner.execute("SELECT atum.tickets_auto_close()").fetchone() == (1,)  # default: after 7 days
    assert clock(owner, old)["status"] == "CLOSED"
    assert clock(owner, recent)["status"] == "RESOLVED"
    assert owner.execute("SELECT from_status::text, to_status::text, actor_id FROM atum.ticket_status_changes"
                         " WHERE ticket_id = %s", [old]).fetchall() == [("RESOLVED", "CLOSED", None)]
    owner.execute("UPDATE atum.organizations SET auto_close_days = 5 WHERE id = %s", [org.id])
    assert owner.execute("SELECT atum.tickets_auto_close()").fetchone() == (1,)
    assert clock(owner, recent)["status"] == "CLOSED"
    assert owner.execute("SELECT atum.tickets_auto_close()").fetchone() == (0,)
