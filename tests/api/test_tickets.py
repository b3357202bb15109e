"""The ticket routes as customers, agents and managers use them: opening (idempotently), finding,
reading with SLA times, triage, moves, assignment, comments and the history."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.api.client import Api, owner_query, run_api, world
from tests.support import Database

NEW_TICKET = {"subject": "VPN drops every hour", "description": "Since the update on Monday."}


def test_a_customer_opens_a_ticket_that_waits_for_triage_without_an_sla_clock(db: Database) -> None:
    alpha, _ = world(db)

    async def scenario(api: Api) -> None:
        made = await api.call("POST", "/api/v1/tickets", token=alpha.tokens["customer"],
                              json_body={**NEW_TICKET, "priority": "high"})
        assert made.status == 201
        ticket = made.body
        assert ticket["status"] == "NEW" and ticket["priority"] == "HIGH" and ticket["channel"] == "portal"
        assert ticket["requester_id"] == alpha.users["customer"]
        assert ticket["sla"]["started_at"] is None and ticket["sla"]["resolution_due_at"] is None
        assert ticket["sla"]["triage_due_at"] is not None  # time to accept is measured from the start
        assert ticket["reference"].endswith(f"-{ticket['number']}")
        got = await api.call("GET", f"/api/v1/tickets/{ticket['id']}", token=alpha.tokens["customer"])
        assert got.status == 200 and got.body["subject"] == NEW_TICKET["subject"]

    run_api(db, scenario)


def test_bad_ticket_input_is_a_422_naming_the_field_and_writes_nothing(db: Database) -> None:
    alpha, _ = world(db)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"description": "no subject"}, "subject"),
        ({"subject": "   "}, "subject"),
        ({"subject": "x" * 301}, "subject"),
        ({"subject": 42.5e300}, "subject"),
        ({"subject": ["list"]}, "subject"),
        ({"subject": "ok", "priority": "whenever"}, "priority"),
        ({"subject": "ok", "category_id": "seven"}, "category_id"),
        ({"subject": "ok", "category_id": 999999}, "category_id"),
        ({"subject": "ok", "colour": "red"}, "colour"),
        ({"subject": "ok", "requester_id": 1}, "requester_id"),
    ]

    async def scenario(api: Api) -> None:
        for body, field in cases:
            reply = await api.call("POST", "/api/v1/tickets", token=alpha.tokens["customer"], json_body=body)
            assert reply.status == 422, (body, reply.body)
            assert reply.body["field"] == field, (body, reply.body)
            assert reply.headers["Content-Type"].startswith("application/problem+json")
        listed = await api.call("POST", "/api/v1/tickets", token=alpha.tokens["customer"], json_body=["a list"])
        assert listed.status == 422

    before = owner_query(db, "SELECT count(*) FROM atum.tickets")
    run_api(db, scenario)
    assert owner_query(db, "SELECT count(*) FROM atum.tickets") == before


def test_a_retried_creation_with_the_same_idempotency_key_creates_one_ticket(db: Database) -> None:
    alpha, _ = world(db)
    key = {"Idempotency-Key": "3f1c9a52-retry-after-timeout"}

    async def scenario(api: Api) -> None:
        token = alpha.tokens["customer"]
        first = await api.call("POST", "/api/v1/tickets", token=token, json_body=NEW_TICKET, headers=key)
        retry = await api.call("POST", "/api/v1/tickets", token=token, json_body=NEW_TICKET, headers=key)
        assert first.status == retry.status == 201 and first.body == retry.body
        reused = await api.call("POST", "/api/v1/tickets", token=token, json_body={"subject": "Other"}, headers=key)
        assert reused.status == 422 and reused.body["field"] == "Idempotency-Key"
        # Racing retries: one creates, the others wait for it and get its answer.
        race = {"Idempotency-Key": "race-1"}
        replies = await asyncio.gather(*(api.call("POST", "/api/v1/tickets", token=token, json_body=NEW_TICKET,
                                                  headers=race) for _ in range(6)))
        assert {r.status for r in replies} == {201} and len({r.body["id"] for r in replies}) == 1
        # Keys are per user: another user's identical key is their own.
        other = await api.call("POST", "/api/v1/tickets", token=alpha.tokens["customer2"], json_body=NEW_TICKET,
                               headers=key)
        assert other.status == 201 and other.body["id"] != first.body["id"]

    run_api(db, scenario)
    assert owner_query(db, "SELECT count(*) FROM atum.tickets WHERE subject = %s", [NEW_TICKET["subject"]]) == [(3,)]


def test_customers_list_their_own_tickets_and_staff_the_organizations(db: Database) -> None:
    alpha, _ = world(db)

    async def scenario(api: Api) -> None:
        mine = await api.call("GET", "/api/v1/tickets", token=alpha.tokens["customer"])
        assert [t["id"] for t in mine.body["items"]] == [alpha.ticket_id] and mine.body["next"] is None
        everyone = await api.call("GET", "/api/v1/tickets", token=alpha.tokens["agent"])
        assert {t["id"] for t in everyone.body["items"]} == {alpha.ticket_id, alpha.other_ticket_id}
        accepted = await api.call("GET", "/api/v1/tickets?status=accepted", token=alpha.tokens["agent"])
        assert [t["id"] for t in accepted.body["items"]] == [alpha.other_ticket_id]
        bad = await api.call("GET", "/api/v1/tickets?status=lost", token=alpha.tokens["agent"])
        assert bad.status == 422 and bad.body["field"] == "status"
        unknown = await api.call("GET", "/api/v1/tickets?colour=red", token=alpha.tokens["agent"])
        assert unknown.status == 422 and unknown.body["field"] == "colour"

    run_api(db, scenario)


def test_keyset_pages_visit_every_ticket_once_even_while_new_ones_arrive(db: Database) -> None:
    alpha, _ = world(db)
    owner_query(db, "INSERT INTO atum.tickets (organization_id, subject, requester_id, created_at)"
                    " SELECT %s, 'Bulk ' || g, %s,"
                    "        now() - g * interval '1 minute' - (g %% 3) * interval '1 microsecond'"
                    " FROM generate_series(1, 23) g", [alpha.id, alpha.users["customer"]])

    async def scenario(api: Api) -> None:
        seen: list[int] = []
        path = "/api/v1/tickets?limit=5"
        while True:
            page = await api.call("GET", path, token=alpha.tokens["agent"])
            assert page.status == 200 and len(page.body["items"]) <= 5
            seen += [t["id"] for t in page.body["items"]]
            if len(seen) == 5:  # a ticket opened meanwhile lands before the cursor: not shown, nothing skipped
                await api.call("POST", "/api/v1/tickets", token=alpha.tokens["customer"], json_body=NEW_TICKET)
            if page.body["next"] is None:
                break
            path = f"/api/v1/tickets?limit=5&after={page.body['next']}"
        assert len(seen) == len(set(seen)) == 25
        broken = await api.call("GET", "/api/v1/tickets?after=yesterday", token=alpha.tokens["agent"])
        assert broken.status == 422 and broken.body["field"] == "after"
        too_many = await api.call("GET", "/api/v1/tickets?limit=100000", token=alpha.tokens["agent"])
        assert too_many.status == 422 and too_many.body["field"] == "limit"

    run_api(db, scenario)


def test_search_finds_tickets_by_words_of_subject_and_description(db: Database) -> None:
    alpha, _ = world(db)

    async def scenario(api: Api) -> None:
        await api.call("POST", "/api/v1/tickets", token=alpha.tokens["customer"],
                       json_body={"subject": "Invoice 2041 is wrong", "description": "The VAT line is doubled."})
        for q, expected in (("vat", 1), ("invoice doubled", 1), ('"vat line"', 1), ("printer", 1),
                            ("invoice -vat", 0), ("nothing-like-this", 0), ("'&|!(:*", 0)):
            reply = await api.call("GET", f"/api/v1/tickets?{urlencode({'q': q})}", token=alpha.tokens["agent"])
            assert reply.status == 200, (q, reply.body)
            assert len(reply.body["items"]) == expected, q

    run_api(db, scenario)


def test_triage_accept_starts_the_clock_and_reject_needs_a_reason(db: Database) -> None:
    alpha, _ = world(db)

    async def scenario(api: Api) -> None:
        made = (await api.call("POST", "/api/v1/tickets", token=alpha.tokens["customer"], json_body=NEW_TICKET)).body
        inbox = await api.call("GET", "/api/v1/internal/tickets/new", token=alpha.tokens["manager"])
        assert [t["id"] for t in inbox.body["items"]] == [alpha.ticket_id, made["id"]]  # oldest first
        assert (await api.call("GET", "/api/v1/internal/tickets/new", token=alpha.tokens["agent"])).status == 403
        refused = await api.call("POST", f"/api/v1/internal/tickets/{made['id']}/accept", token=alpha.tokens["agent"],
                                 json_body={})
        assert refused.status == 403
        accepted = await api.call("POST", f"/api/v1/internal/tickets/{made['id']}/accept",
                                  token=alpha.tokens["manager"],
                                  json_body={"priority": "URGENT", "assignee_id": alpha.users["agent"]})
        assert accepted.status == 200
        ticket = accepted.body
        assert ticket["status"] == "ACCEPTED" and ticket["assignee_id"] == alpha.users["agent"]
        assert ticket["sla"]["started_at"] and ticket["sla"]["first_response_due_at"]
        assert ticket["sla"]["resolution_due_at"] > ticket["sla"]["first_response_due_at"]
        twice = await api.call("POST", f"/api/v1/internal/tickets/{made['id']}/accept", token=alpha.tokens["manager"],
                               json_body={})
        assert twice.status == 409
        no_reason = await api.call("POST", f"/api/v1/internal/tickets/{alpha.ticket_id}/reject",
                                   token=alpha.tokens["manager"], json_body={})
        assert no_reason.status == 422 and no_reason.body["field"] == "reason"
        rejected = await api.call("POST", f"/api/v1/internal/tickets/{alpha.ticket_id}/reject",
                                  token=alpha.tokens["manager"], json_body={"reason": "Duplicate of ALPHA-2"})
        assert rejected.status == 200 and rejected.body["status"] == "REJECTED"

    run_api(db, scenario)


def test_illegal_moves_are_409_with_the_reason_in_problem_json(db: Database) -> None:
    alpha, _ = world(db)

    async def scenario(api: Api) -> None:
        reply = await api.call("POST", f"/api/v1/tickets/{alpha.ticket_id}/transition", token=alpha.tokens["agent"],
                               json_body={"status": "RESOLVED"})
        assert reply.status == 409
        assert reply.body["code"] == "AT491" and "NEW" in reply.body["detail"] and reply.body["field"] == "status"
        customer = await api.call("POST", f"/api/v1/tickets/{alpha.other_ticket_id}/transition",
                                  token=alpha.tokens["customer2"], json_body={"status": "IN_PROGRESS"})
        assert customer.status == 403
        moved = await api.call("POST", f"/api/v1/tickets/{alpha.other_ticket_id}/transition",
                               token=alpha.tokens["agent"], json_body={"status": "in_progress"})
        assert moved.status == 200 and moved.body["status"] == "IN_PROGRESS"

    run_api(db, scenario)


def test_staff_change_priority_category_and_tags_and_customers_cannot(db: Database) -> None:
    alpha, beta = world(db)
    [(beta_category,)] = owner_query(db, "SELECT id FROM atum.categories WHERE organization_id = %s", [beta.id])

    async def scenario(api: Api) -> None:
        path = f"/api/v1/tickets/{alpha.ticket_id}"
        changed = await api.call("PATCH", path, token=alpha.tokens["agent"],
                                 json_body={"priority": "LOW", "tags": ["Billing", "vip", "billing"]})
        assert changed.status == 200
        assert changed.body["priority"] == "LOW" and changed.body["tags"] == ["billing", "vip"]
        cleared = await api.call("PATCH", path, token=alpha.tokens["agent"],
                                 json_body={"tags": [], "category_id": None})
        assert cleared.body["tags"] == [] and cleared.body["category_id"] is None
        foreign = await api.call("PATCH", path, token=alpha.tokens["agent"], json_body={"category_id": beta_category})
        assert foreign.status == 422 and foreign.body["field"] == "category_id"
        customer = await api.call("PATCH", path, token=alpha.tokens["customer"], json_body={"priority": "URGENT"})
        assert customer.status == 403
        stranger = await api.call("PATCH", path, token=alpha.tokens["customer2"], json_body={"priority": "URGENT"})
        assert stranger.status == 404

    run_api(db, scenario)


def test_agents_assign_only_themselves_managers_anyone_on_staff(db: Database) -> None:
    alpha, _ = world(db)

    async def scenario(api: Api) -> None:
        path = f"/api/v1/tickets/{alpha.ticket_id}/assign"
        to_manager = await api.call("POST", path, token=alpha.tokens["agent"],
                                    json_body={"assignee_id": alpha.users["manager"]})
        assert to_manager.status == 403
        self_assigned = await api.call("POST", path, token=alpha.tokens["agent"],
                                       json_body={"assignee_id": alpha.users["agent"]})
        assert self_assigned.status == 200 and self_assigned.body["assignee_id"] == alpha.users["agent"]
        customer = await api.call("POST", path, token=alpha.tokens["manager"],
                                  json_body={"assignee_id": alpha.users["customer"]})
        assert customer.status == 422 and customer.body["field"] == "assignee_id"
        by_manager = await api.call("POST", path, token=alpha.tokens["manager"],
                                    json_body={"assignee_id": alpha.users["admin"]})
        assert by_manager.body["assignee_id"] == alpha.users["admin"]
        mine = await api.call("GET", "/api/v1/tickets?assignee_id=me", token=alpha.tokens["admin"])
        assert [t["id"] for t in mine.body["items"]] == [alpha.ticket_id]
        unassigned = await api.call("GET", "/api/v1/tickets?assignee_id=none", token=alpha.tokens["admin"])
        assert [t["id"] for t in unassigned.body["items"]] == [alpha.other_ticket_id]

    run_api(db, scenario)


def test_comments_customers_see_public_replies_staff_also_internal_notes(db: Database) -> None:
    alpha, _ = world(db)

    async def scenario(api: Api) -> None:
        path = f"/api/v1/tickets/{alpha.ticket_id}/comments"
        customer_view = await api.call("GET", path, token=alpha.tokens["customer"])
        assert [c["id"] for c in customer_view.body["items"]] == [alpha.public_comment_id]
        staff_view = await api.call("GET", path, token=alpha.tokens["agent"])
        assert {c["id"] for c in staff_view.body["items"]} == {alpha.public_comment_id, alpha.internal_comment_id}
        sneaky = await api.call("POST", path, token=alpha.tokens["customer"], json_body={"body": "x", "internal": True})
        assert sneaky.status == 403
        key = {"Idempotency-Key": "reply-1"}
        reply = await api.call("POST", path, token=alpha.tokens["customer"], json_body={"body": "Still broken."},
                               headers=key)
        again = await api.call("POST", path, token=alpha.tokens["customer"], json_body={"body": "Still broken."},
                               headers=key)
        assert reply.status == again.status == 201 and reply.body["id"] == again.body["id"]
        note = await api.call("POST", path, token=alpha.tokens["agent"],
                              json_body={"body": "Check logs", "internal": True})
        assert note.status == 201 and note.body["internal"] is True
        empty = await api.call("POST", path, token=alpha.tokens["agent"], json_body={"body": "  "})
        assert empty.status == 422 and empty.body["field"] == "body"
        other = await api.call("GET", f"/api/v1/tickets/{alpha.other_ticket_id}/comments",
                               token=alpha.tokens["customer"])
        assert other.status == 404

    run_api(db, scenario)


def test_the_history_is_the_audit_timeline_for_staff_only(db: Database) -> None:
    alpha, _ = world(db)

    async def scenario(api: Api) -> None:
        path = f"/api/v1/tickets/{alpha.other_ticket_id}/history"
        history = await api.call("GET", path, token=alpha.tokens["agent"])
        assert history.status == 200
        tables = [e["table"] for e in history.body["items"]]
        assert "tickets" in tables and "sla_events" in tables
        moves = [(e["old"]["status"], e["new"]["status"], e["reason"]) for e in history.body["items"]
                 if e["table"] == "tickets" and e["action"] == "UPDATE" and "status" in e["new"]]
        assert moves and all(reason is None or isinstance(reason, str) for _, _, reason in moves)
        seqs = [e["seq"] for e in history.body["items"]]
        assert seqs == sorted(seqs)
        page = await api.call("GET", f"{path}?limit=1", token=alpha.tokens["agent"])
        rest = await api.call("GET", f"{path}?after={page.body['next']}", token=alpha.tokens["agent"])
        assert [e["seq"] for e in page.body["items"] + rest.body["items"]] == seqs
        own = await api.call("GET", f"/api/v1/tickets/{alpha.ticket_id}/history", token=alpha.tokens["customer"])
        assert own.status == 403
        others = await api.call("GET", path, token=alpha.tokens["customer"])
        assert others.status == 404

    run_api(db, scenario)


def test_an_unexpected_failure_is_a_500_with_a_request_id_and_no_internals(
        db: Database, caplog: pytest.LogCaptureFixture) -> None:
    alpha, _ = world(db)
    owner_query(db, "ALTER FUNCTION api.ticket_get(bigint) RENAME TO ticket_get_gone")

    async def scenario(api: Api) -> None:
        reply = await api.call("GET", f"/api/v1/tickets/{alpha.ticket_id}", token=alpha.tokens["agent"])
        assert reply.status == 500, reply
        assert reply.body["detail"] == "internal error" and reply.body["request_id"] == reply.headers["X-Request-Id"]
        assert "ticket_get" not in str(reply.body) and "Traceback" not in str(reply.body)
        assert (await api.call("GET", "/healthz")).status == 200  # the process goes on

    with caplog.at_level(logging.ERROR, logger="atumdesk.http"):
        run_api(db, scenario)
    assert any("Traceback" in (r.exc_text or "") or r.exc_info for r in caplog.records)


def test_unknown_routes_and_methods_answer_in_problem_json(db: Database) -> None:
    alpha, _ = world(db)

    async def scenario(api: Api) -> None:
        missing = await api.call("GET", "/api/v1/nothing-here", token=alpha.tokens["agent"])
        assert missing.status == 404 and missing.headers["Content-Type"].startswith("application/problem+json")
        wrong = await api.call("DELETE", "/api/v1/tickets", token=alpha.tokens["agent"])
        assert wrong.status == 405 and "GET" in wrong.headers.get("Allow", "")
        huge = await api.call("GET", "/api/v1/tickets/99999999999999999999999", token=alpha.tokens["agent"])
        assert huge.status == 404

    run_api(db, scenario)
