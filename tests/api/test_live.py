"""Live updates as signed-in tabs see them: a WebSocket on GET /api/v1/live hears of the changes
its user may see, and of nothing else; it cannot be opened without a session or from another
site; it closes when the session ends; it survives the database dropping the LISTEN connection.

Every wait has a deadline and ends as soon as the awaited event arrives. "Hears nothing" is
proven with a sentinel: a later change the socket must hear; everything before it is checked.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer

from api import live
from api.app import create_app
from tests.api.client import Api, owner_query, settings_for, world
from tests.support import Database, Org

DEADLINE = 10.0  # seconds; an event normally arrives within milliseconds


async def until(ws: aiohttp.ClientWebSocketResponse, wanted: Callable[[dict[str, Any]], bool],
                timeout: float = DEADLINE) -> list[dict[str, Any]]:
    """Every event received up to and including the first one ``wanted`` accepts."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            message = await ws.receive()
            assert message.type == WSMsgType.TEXT, f"socket ended: {message.type} {message.data!r}; saw {seen}"
            event = json.loads(message.data)
            seen.append(event)
            if wanted(event):
                return seen


async def ended(ws: aiohttp.ClientWebSocketResponse, timeout: float = DEADLINE) -> aiohttp.WSMessage:
    """The message that ends the socket, past any events before it (an organization's first
    socket in a process is told to resync once the organization is registered)."""
    async with asyncio.timeout(timeout):
        while True:
            message = await ws.receive()
            if message.type != WSMsgType.TEXT:
                return message


def event(kind: str, ticket_id: int) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["kind"] == kind and e["ticket_id"] == ticket_id


def serve(db: Database, scenario: Callable[[Api, web.Application], Awaitable[Any]], **limits: Any) -> Any:
    """The app on a local port with the live limits given (short intervals for tests); the
    scenario starts once the LISTEN connection is up."""
    async def run() -> Any:
        app = create_app(settings_for(db))
        for name, value in limits.items():
            setattr(app[live.HUB].limits, name, value)
        async with TestClient(TestServer(app)) as client:
            async with asyncio.timeout(DEADLINE):
                await app[live.HUB].listening.wait()
            return await scenario(Api(client), app)

    return asyncio.run(run())


async def socket(api: Api, token: str) -> aiohttp.ClientWebSocketResponse:
    """A live socket authenticated with a bearer token (as an integration opens one)."""
    return await api.client.ws_connect("/api/v1/live", headers={"Authorization": f"Bearer {token}"})


async def ticket(api: Api, org: Org, role: str, subject: str) -> int:
    reply = await api.call("POST", "/api/v1/tickets", token=org.tokens[role],
                           json_body={"subject": subject, "description": "Details."})
    assert reply.status == 201, reply.body
    return int(reply.body["id"])


def test_each_tab_hears_what_its_user_may_see(db: Database) -> None:
    alpha, beta = world(db)

    async def scenario(api: Api, app: web.Application) -> None:
        manager = await socket(api, alpha.tokens["manager"])
        customer = await socket(api, alpha.tokens["customer"])
        other_customer = await socket(api, alpha.tokens["customer2"])
        elsewhere = await socket(api, beta.tokens["manager"])

        # A customer opens a ticket: the managers' inbox and the customer's portal hear of it.
        tid = await ticket(api, alpha, "customer", "Printer on fire")
        created = (await until(manager, event("ticket.created", tid)))[-1]
        assert created == {"kind": "ticket.created", "organization_id": alpha.id, "ticket_id": tid, "status": "NEW"}
        await until(customer, event("ticket.created", tid))

        # The manager accepts it: a status change.
        reply = await api.call("POST", f"/api/v1/internal/tickets/{tid}/accept", token=alpha.tokens["manager"],
                               json_body={"assignee_id": alpha.users["agent"]})
        assert reply.status == 200, reply.body
        updated = (await until(manager, event("ticket.updated", tid)))[-1]
        assert updated["status"] == "ACCEPTED"
        await until(customer, event("ticket.updated", tid))

        # The agent writes an internal note, then replies: staff hear of both, the customer of the reply.
        for body, internal in (("Smells like toner.", True), ("We are on our way.", False)):
            reply = await api.call("POST", f"/api/v1/tickets/{tid}/comments", token=alpha.tokens["agent"],
                                   json_body={"body": body, "internal": internal})
            assert reply.status == 201, reply.body
            note = (await until(manager, event("comment.created", tid)))[-1]
            assert note["internal"] is internal
        heard = await until(customer, event("comment.created", tid))
        assert [e for e in heard if e["kind"] == "comment.created"] == [
            {"kind": "comment.created", "organization_id": alpha.id, "ticket_id": tid}], "only the public reply"

        # An SLA warning: staff only.
        owner_query(db, "INSERT INTO atum.sla_events (organization_id, ticket_id, clock, kind, due_at)"
                        " VALUES (%s, %s, 'resolution', 'warning', now())", [alpha.id, tid])
        await until(manager, event("sla.event", tid))

        # Sentinels: a change each remaining socket must hear; nothing before it may be about
        # what its user cannot see.
        reply = await api.call("POST", f"/api/v1/tickets/{tid}/comments", token=alpha.tokens["customer"],
                               json_body={"body": "Thanks!"})
        assert reply.status == 201
        rest = await until(customer, event("comment.created", tid))
        assert [e["kind"] for e in rest] == ["comment.created"], "the internal note and the SLA event stay hidden"

        own = await ticket(api, alpha, "customer2", "My own problem")
        heard_by_other = await until(other_customer, event("ticket.created", own))
        assert [e["ticket_id"] for e in heard_by_other] == [own], "another customer's ticket is not theirs to hear of"

        beta_ticket = await ticket(api, beta, "customer", "Beta's problem")
        heard_elsewhere = await until(elsewhere, event("ticket.created", beta_ticket))
        assert {e["organization_id"] for e in heard_elsewhere} == {beta.id}, "another organization hears nothing"
        # (The first socket of an organization in a process is told to resync once it is registered.)
        assert [e["ticket_id"] for e in heard_elsewhere if e["kind"] != "resync"] == [beta_ticket]

        for ws in (manager, customer, other_customer, elsewhere):
            await ws.close()

    serve(db, scenario)


def test_no_socket_without_a_session_or_from_another_site(db: Database) -> None:
    alpha, _ = world(db)

    async def scenario(api: Api, app: web.Application) -> None:
        for headers in ({}, {"Authorization": "Bearer atum_s_forged"}):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await api.client.ws_connect("/api/v1/live", headers=headers)
            assert refused.value.status == 401

        reply = await api.call("GET", "/api/v1/live", token=alpha.tokens["manager"])
        assert reply.status == 426 and reply.headers["Upgrade"] == "websocket"

        # Signed in with the cookie, as the web app is: another site's page cannot use it.
        assert (await api.login("manager@alpha.example")).status == 200
        with pytest.raises(aiohttp.WSServerHandshakeError) as hijacked:
            await api.client.ws_connect("/api/v1/live", origin="https://evil.example")
        assert hijacked.value.status == 403
        with pytest.raises(aiohttp.WSServerHandshakeError) as cross_site:
            await api.client.ws_connect("/api/v1/live", headers={"Sec-Fetch-Site": "cross-site"})
        assert cross_site.value.status == 403
        own_origin = str(api.client.make_url("/")).rstrip("/")
        ws = await api.client.ws_connect("/api/v1/live", origin=own_origin)

        # Signing out ends the socket at the next session check.
        assert (await api.call("POST", "/api/v1/auth/logout", browser=True)).status == 200
        message = await ended(ws)
        assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
        assert ws.close_code == live.SESSION_ENDED

    serve(db, scenario, revalidate_seconds=0.2)


def test_signing_out_closes_the_sessions_sockets_at_once(db: Database) -> None:
    alpha, _ = world(db)

    async def scenario(api: Api, app: web.Application) -> None:
        assert (await api.login("agent@alpha.example")).status == 200
        own_origin = str(api.client.make_url("/")).rstrip("/")
        tabs = [await api.client.ws_connect("/api/v1/live", origin=own_origin) for _ in range(2)]
        other_session = await socket(api, alpha.tokens["agent"])  # the same user, another session

        # The periodic check is an hour away: only the sign-out itself can close the tabs.
        assert (await api.call("POST", "/api/v1/auth/logout", browser=True)).status == 200
        for ws in tabs:
            message = await ended(ws, 2.0)
            assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING), message
            assert ws.close_code == live.SESSION_ENDED

        # Sentinel: the user's other session still hears changes.
        tid = await ticket(api, alpha, "customer", "Still listening")
        await until(other_session, event("ticket.created", tid))
        await other_session.close()

    serve(db, scenario, revalidate_seconds=3600.0)


def test_sessions_ended_elsewhere_close_their_sockets_at_once(db: Database) -> None:
    alpha, _ = world(db)

    async def scenario(api: Api, app: web.Application) -> None:
        # Another server process signs the agent out (here: the database itself, as that process
        # would), and an admin deactivates the manager: the periodic check is an hour away.
        agent = await socket(api, alpha.tokens["agent"])
        manager = await socket(api, alpha.tokens["manager"])
        bystander = await socket(api, alpha.tokens["admin"])
        owner_query(db, "UPDATE atum.sessions SET revoked_at = now()"
                        " WHERE token_hash = atum_private.token_hash(%s)", [alpha.tokens["agent"]])
        owner_query(db, "UPDATE atum.users SET is_active = false WHERE id = %s", [alpha.users["manager"]])
        for ws in (agent, manager):
            message = await ended(ws, 5.0)
            assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING), message
            assert ws.close_code == live.SESSION_ENDED

        # Sentinel: everyone else still hears changes.
        tid = await ticket(api, alpha, "customer", "Still listening")
        await until(bystander, event("ticket.created", tid))
        await bystander.close()

    serve(db, scenario, revalidate_seconds=3600.0)


def test_a_session_opens_a_limited_number_of_sockets(db: Database) -> None:
    alpha, _ = world(db)

    async def scenario(api: Api, app: web.Application) -> None:
        sockets = [await socket(api, alpha.tokens["agent"]) for _ in range(3)]
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await socket(api, alpha.tokens["agent"])
        assert refused.value.status == 429
        await sockets[0].close()
        async with asyncio.timeout(DEADLINE):  # the server forgets a closed socket at once
            while app[live.HUB].count != 2:
                await asyncio.sleep(0.01)
        sockets.append(await socket(api, alpha.tokens["agent"]))
        for ws in sockets:
            await ws.close()

    serve(db, scenario, per_session=3)


def test_events_resume_after_the_database_drops_the_listen_connection(db: Database) -> None:
    alpha, _ = world(db)

    async def scenario(api: Api, app: web.Application) -> None:
        manager = await socket(api, alpha.tokens["manager"])
        # The organization's first socket in this process: told to refetch once it is registered.
        await until(manager, lambda e: e["kind"] == "resync")
        with db.connect("postgres", autocommit=True) as superuser:
            killed = superuser.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                                       " WHERE application_name = 'atumdesk-live' AND datname = current_database()"
                                       ).fetchone()
        assert killed == (1,)
        # Whatever happened while it was gone was not heard: the tab is told to refetch.
        await until(manager, lambda e: e["kind"] == "resync")
        tid = await ticket(api, alpha, "customer", "After the restart")
        await until(manager, event("ticket.created", tid))
        await manager.close()

    serve(db, scenario)


def test_shutting_down_closes_sockets_as_going_away(db: Database) -> None:
    alpha, _ = world(db)

    async def run() -> None:
        app = create_app(settings_for(db))
        client = TestClient(TestServer(app))
        await client.start_server()
        try:
            async with asyncio.timeout(DEADLINE):  # else the resync of LISTEN coming up may arrive first
                await app[live.HUB].listening.wait()
            ws = await client.ws_connect("/api/v1/live", headers={"Authorization": f"Bearer {alpha.tokens['agent']}"})
            # The server stops (on_shutdown first), the client side stays open to see how.
            _, message = await asyncio.gather(client.server.close(), ended(ws))
            assert (message.type, ws.close_code) == (WSMsgType.CLOSE, aiohttp.WSCloseCode.GOING_AWAY), message
        finally:
            await client.close()

    asyncio.run(run())


def test_only_organizations_with_open_sockets_are_registered(db: Database) -> None:
    alpha, _ = world(db)
    registered = "SELECT coalesce(array_agg(organization_id ORDER BY organization_id), '{}') FROM atum.live_watchers"

    async def scenario(api: Api, app: web.Application) -> None:
        hub = app[live.HUB]
        assert owner_query(db, registered) == [([],)]
        manager = await socket(api, alpha.tokens["manager"])
        # The handshake completes once the organization is registered: nothing to wait for.
        assert owner_query(db, registered) == [([alpha.id],)]
        await manager.close()
        async with asyncio.timeout(DEADLINE):
            while hub.watched:  # the last socket of the organization closed
                await hub.watch_synced.wait()
        assert owner_query(db, registered) == [([],)]

    serve(db, scenario)
