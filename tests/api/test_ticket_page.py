"""What the ticket page reads from GET /api/v1/tickets/{id}: the status moves open to the caller (so
the web app never offers a move the state machine would refuse), the SLA clocks in business minutes
(staff only), the names of the people involved, and the sanitised HTML of e-mail tickets and
comments, which the page shows sandboxed."""

from __future__ import annotations

from typing import Any

from tests.api.client import Api, owner_query, run_api, world
from tests.support import Database

NEW_TICKET = {"subject": "Monitor flickers", "description": "Since the new cable."}


def moves(ticket: dict[str, Any]) -> dict[str, bool]:
    return {m["status"]: m["reason_required"] for m in ticket["allowed_moves"]}


def test_each_role_is_offered_exactly_the_moves_the_state_machine_allows_it(db: Database) -> None:
    alpha, _ = world(db)

    async def scenario(api: Api) -> None:
        tokens = alpha.tokens
        made = (await api.call("POST", "/api/v1/tickets", token=tokens["customer"], json_body=NEW_TICKET)).body
        path = f"/api/v1/tickets/{made['id']}"

        async def offered(role: str) -> dict[str, bool]:
            got = await api.call("GET", path, token=tokens[role])
            assert got.status == 200, got.body
            return moves(got.body)

        assert await offered("manager") == {"ACCEPTED": False, "REJECTED": True}
        assert await offered("agent") == {}
        assert await offered("customer") == {}
        accepted = await api.call("POST", f"/api/v1/internal/tickets/{made['id']}/accept", token=tokens["manager"],
                                  json_body={})
        assert moves(accepted.body) == {"IN_PROGRESS": False}  # the answer of a move carries the next ones
        assert await offered("customer") == {}
        await api.call("POST", f"{path}/transition", token=tokens["agent"], json_body={"status": "IN_PROGRESS"})
        assert await offered("agent") == {"WAITING_CUSTOMER": False, "RESOLVED": False}
        waiting = await api.call("POST", f"{path}/transition", token=tokens["agent"],
                                 json_body={"status": "WAITING_CUSTOMER"})
        assert moves(waiting.body) == {"IN_PROGRESS": False, "RESOLVED": False}
        assert await offered("customer") == {"IN_PROGRESS": False}
        await api.call("POST", f"{path}/transition", token=tokens["agent"], json_body={"status": "RESOLVED"})
        assert await offered("customer") == {"CLOSED": False, "IN_PROGRESS": True}
        assert await offered("agent") == {"CLOSED": False, "IN_PROGRESS": True}
        # Another customer of the organization does not see the ticket at all.
        assert (await api.call("GET", path, token=tokens["customer2"])).status == 404

        # Past the reopen window, the customer may only confirm; staff may still reopen.
        owner_query(db, "UPDATE atum.tickets SET resolved_at = now() - interval '15 days' WHERE id = %s", [made["id"]])
        assert await offered("customer") == {"CLOSED": False}
        assert await offered("agent") == {"CLOSED": False, "IN_PROGRESS": True}
        closed = await api.call("POST", f"{path}/transition", token=tokens["customer"], json_body={"status": "CLOSED"})
        assert closed.status == 200 and moves(closed.body) == {}

    run_api(db, scenario)


def test_staff_see_the_sla_clocks_in_business_minutes_and_customers_do_not(db: Database) -> None:
    alpha, _ = world(db)
    # Open around the clock, so that the clocks tick whenever the test runs.
    owner_query(db, "UPDATE atum.business_calendars SET is_24x7 = true WHERE organization_id = %s", [alpha.id])

    async def scenario(api: Api) -> None:
        tokens = alpha.tokens
        made = (await api.call("POST", "/api/v1/tickets", token=tokens["customer"], json_body=NEW_TICKET)).body
        path = f"/api/v1/tickets/{made['id']}"
        fresh = (await api.call("GET", path, token=tokens["agent"])).body["sla_clocks"]
        assert fresh["first_response"] is None and fresh["resolution"] is None
        assert fresh["triage"]["is_calendar_open"] is True and fresh["triage"]["is_paused"] is False
        assert fresh["triage"]["remaining_business_minutes"] > 0
        assert (await api.call("GET", path, token=tokens["customer"])).body["sla_clocks"] is None

        await api.call("POST", f"/api/v1/internal/tickets/{made['id']}/accept", token=tokens["manager"],
                       json_body={"priority": "URGENT"})
        running = (await api.call("GET", path, token=tokens["agent"])).body["sla_clocks"]
        assert running["triage"] is None
        policy = owner_query(db, "SELECT first_response_minutes, resolution_minutes FROM atum.sla_policies"
                                 " WHERE organization_id = %s AND priority = 'URGENT'", [alpha.id])[0]
        assert policy[0] - 2 <= running["first_response"]["remaining_business_minutes"] <= policy[0]
        assert policy[1] - 2 <= running["resolution"]["remaining_business_minutes"] <= policy[1]

        await api.call("POST", f"{path}/transition", token=tokens["agent"], json_body={"status": "IN_PROGRESS"})
        await api.call("POST", f"{path}/comments", token=tokens["agent"], json_body={"body": "Looking into it."})
        await api.call("POST", f"{path}/transition", token=tokens["agent"], json_body={"status": "WAITING_CUSTOMER"})
        paused = (await api.call("GET", path, token=tokens["agent"])).body["sla_clocks"]
        assert paused["first_response"] is None  # met by the reply
        assert paused["resolution"]["is_paused"] is True

        # Overdue: the remaining time is negative.
        owner_query(db, "UPDATE atum.tickets SET status = 'IN_PROGRESS' WHERE id = %s", [made["id"]])
        owner_query(db, "UPDATE atum.tickets SET resolution_due_at = now() - interval '90 minutes' WHERE id = %s",
                    [made["id"]])
        late = (await api.call("GET", path, token=tokens["agent"])).body["sla_clocks"]
        assert late["resolution"]["is_paused"] is False
        assert -92 <= late["resolution"]["remaining_business_minutes"] <= -90

    run_api(db, scenario)


def test_names_and_the_sanitised_html_of_mail_come_with_the_ticket_and_its_comments(db: Database) -> None:
    alpha, _ = world(db)
    ticket_id = owner_query(
        db, "INSERT INTO atum.tickets (organization_id, subject, description, description_html, requester_id, channel)"
            " VALUES (%s, 'Invoice', 'See the table.', '<p>See the <b>table</b>.</p>', %s, 'email') RETURNING id",
        [alpha.id, alpha.users["customer"]])[0][0]
    owner_query(db, "INSERT INTO atum.ticket_comments (organization_id, ticket_id, author_id, body, body_html, channel)"
                    " VALUES (%s, %s, %s, 'Thanks!', '<p>Thanks!</p>', 'email')",
                [alpha.id, ticket_id, alpha.users["customer"]])

    async def scenario(api: Api) -> None:
        for role in ("agent", "customer"):
            ticket = (await api.call("GET", f"/api/v1/tickets/{ticket_id}", token=alpha.tokens[role])).body
            assert ticket["description_html"] == "<p>See the <b>table</b>.</p>"
            assert ticket["requester_name"] == "Customer" and ticket["assignee_name"] is None
            comments = (await api.call("GET", f"/api/v1/tickets/{ticket_id}/comments", token=alpha.tokens[role])).body
            assert [(c["body_html"], c["author_name"]) for c in comments["items"]] == [("<p>Thanks!</p>", "Customer")]
        written = await api.call("POST", f"/api/v1/tickets/{ticket_id}/comments", token=alpha.tokens["agent"],
                                 json_body={"body": "<script>alert(1)</script>"})
        assert written.status == 201
        assert written.body["body_html"] is None and written.body["author_name"] == "Agent"  # typed text stays text
        # A customer sees the names of staff on their ticket.
        listed = (await api.call("GET", f"/api/v1/tickets/{alpha.ticket_id}/comments",
                                 token=alpha.tokens["customer"])).body["items"]
        assert {c["author_name"] for c in listed} == {"Agent"}

    run_api(db, scenario)
