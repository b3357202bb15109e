"""Who hears of what, and what happens to a client that does not read (api/live.py's hub), without
a database or a network: notifications are fed to the hub as PostgreSQL would send them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from api.live import Client, Hub, Limits


class FakeSocket:
    """Stands in for a WebSocket: remembers how it was closed."""

    def __init__(self) -> None:
        self.closed_with: int | None = None

    async def close(self, *, code: int, message: bytes) -> None:
        self.closed_with = code


def client(hub: Hub, organization_id: int, user_id: int, role: str) -> Client:
    c = Client(ws=FakeSocket(), transport=None, token=f"t{user_id}", session_key=f"s{user_id}",  # type: ignore[arg-type]
               organization_id=organization_id, user_id=user_id, role=role)
    hub.admit(c)
    return c


def received(c: Client) -> list[dict[str, Any]]:
    out = []
    while not c.queue.empty():
        out.append(json.loads(c.queue.get_nowait()))
    return out


def notify(hub: Hub, **event: Any) -> None:
    hub.dispatch(json.dumps(event))


def test_events_reach_only_those_who_may_see_them() -> None:
    async def run() -> None:
        hub = Hub()
        agent, customer, neighbour = client(hub, 1, 10, "agent"), client(hub, 1, 20, "customer"), \
            client(hub, 1, 30, "customer")
        stranger = client(hub, 2, 40, "admin")
        ticket = {"organization_id": 1, "ticket_id": 5, "requester_id": 20}
        notify(hub, kind="ticket.created", status="NEW", **ticket)
        notify(hub, kind="comment.created", internal=True, **ticket)
        notify(hub, kind="comment.created", internal=False, **ticket)
        notify(hub, kind="sla.event", status="ACCEPTED", **ticket)
        notify(hub, kind="resync", organization_id=1, ticket_id=0)
        notify(hub, kind="nonsense", organization_id=1, ticket_id=5)  # ignored: not a kind we send
        hub.dispatch("not json")  # ignored, logged

        assert [e["kind"] for e in received(agent)] == [
            "ticket.created", "comment.created", "comment.created", "sla.event", "resync"]
        heard = received(customer)
        assert [e["kind"] for e in heard] == ["ticket.created", "comment.created", "resync"]
        assert all("requester_id" not in e and "internal" not in e for e in heard)
        assert [e["kind"] for e in received(neighbour)] == ["resync"]
        assert received(stranger) == []

    asyncio.run(run())


def test_a_client_that_does_not_read_is_dropped_not_buffered() -> None:
    async def run() -> None:
        hub = Hub(Limits(queue_size=2))
        slow = client(hub, 1, 10, "manager")
        for n in range(5):
            notify(hub, kind="ticket.created", organization_id=1, ticket_id=n, requester_id=20)
        assert slow.queue.qsize() == 2
        assert slow.ending == (1013, "too slow") and slow.end_asked.is_set()

    asyncio.run(run())


def test_ended_sessions_and_changed_users_end_their_sockets_only() -> None:
    async def run() -> None:
        hub = Hub()
        tab, other_tab = client(hub, 1, 10, "agent"), client(hub, 1, 10, "agent")
        other_tab.session_key = "another session of the same user"
        demoted, bystander, elsewhere = client(hub, 1, 20, "manager"), client(hub, 1, 30, "agent"), \
            client(hub, 2, 20, "manager")
        notify(hub, kind="session.ended", organization_id=1, session="s10")
        notify(hub, kind="user.changed", organization_id=1, user_id=20)
        notify(hub, kind="session.ended", organization_id=1)  # malformed: ignored, logged
        assert tab.ending == (4401, "session ended")
        assert demoted.ending == (4401, "session ended")
        assert other_tab.ending is bystander.ending is elsewhere.ending is None
        notify(hub, kind="ticket.created", organization_id=1, ticket_id=5, requester_id=99)
        assert received(tab) == [] and [e["kind"] for e in received(bystander)] == ["ticket.created"]

    asyncio.run(run())
