"""The agent queue's filters: several statuses at once, a team (or none) and a tag."""

from __future__ import annotations

from urllib.parse import urlencode

from tests.api.client import Api, owner_query, run_api, world
from tests.support import Database


def test_an_agent_narrows_the_queue_to_a_team_or_a_tag(db: Database) -> None:
    alpha, beta = world(db)
    team = owner_query(db, "SELECT id FROM atum.teams WHERE organization_id = %s", [alpha.id])[0][0]
    beta_team = owner_query(db, "SELECT id FROM atum.teams WHERE organization_id = %s", [beta.id])[0][0]

    async def ids(api: Api, **filters: object) -> list[int]:
        reply = await api.call("GET", f"/api/v1/tickets?{urlencode(filters)}", token=alpha.tokens["agent"])
        assert reply.status == 200, (filters, reply.body)
        return [t["id"] for t in reply.body["items"]]

    async def scenario(api: Api) -> None:
        assert await ids(api, team_id=team) == [alpha.ticket_id]
        assert await ids(api, team_id="none") == [alpha.other_ticket_id]
        assert await ids(api, team_id=beta_team) == []  # another organization's team names nothing here
        assert await ids(api, tag="vip") == [alpha.ticket_id]
        assert await ids(api, tag=" VIP ") == [alpha.ticket_id]
        assert await ids(api, tag="nobody-uses-this") == []
        assert await ids(api, tag="vip", team_id="none") == []
        assert await ids(api, tag="") == [alpha.ticket_id, alpha.other_ticket_id]
        bad = await api.call("GET", "/api/v1/tickets?team_id=first-line", token=alpha.tokens["agent"])
        assert bad.status == 422 and bad.body["field"] == "team_id"
        # A customer's filters never reach past their own tickets.
        mine = await api.call("GET", "/api/v1/tickets?tag=vip", token=alpha.tokens["customer2"])
        assert mine.status == 200 and mine.body["items"] == []

    run_api(db, scenario)


def test_an_agent_asks_for_several_statuses_at_once(db: Database) -> None:
    """The navigation counts the agent's open work (accepted, in progress, waiting) in one request."""
    alpha, _ = world(db)  # alpha.ticket_id is NEW, alpha.other_ticket_id ACCEPTED

    async def ids(api: Api, status: str) -> list[int]:
        reply = await api.call("GET", f"/api/v1/tickets?{urlencode({'status': status})}", token=alpha.tokens["agent"])
        assert reply.status == 200, (status, reply.body)
        return [t["id"] for t in reply.body["items"]]

    async def scenario(api: Api) -> None:
        assert await ids(api, "ACCEPTED") == [alpha.other_ticket_id]
        assert await ids(api, "ACCEPTED,IN_PROGRESS,WAITING_CUSTOMER") == [alpha.other_ticket_id]
        assert await ids(api, "new, accepted") == [alpha.ticket_id, alpha.other_ticket_id]  # any case, spaces
        assert await ids(api, "IN_PROGRESS,WAITING_CUSTOMER") == []
        for bad in ("ACCEPTED,OPENISH", "ACCEPTED;NEW"):
            reply = await api.call("GET", f"/api/v1/tickets?{urlencode({'status': bad})}", token=alpha.tokens["agent"])
            assert reply.status == 422 and reply.body["field"] == "status", (bad, reply.body)

    run_api(db, scenario)
