"""Live updates: PostgreSQL NOTIFY → this process → a WebSocket per signed-in tab.

The triggers of sql/66_live.sql announce changes on the channel ``atum_live`` (ids and kinds,
never content). Each HTTP process keeps one dedicated connection that LISTENs on it (the hub) and
passes every announcement on to the sockets allowed to hear of it:

* only sockets of the organization the change belongs to;
* staff (agent, manager, admin) hear of every change of their organization;
* a customer hears only of tickets they requested, never of internal notes and never of SLA
  events (what row-level security lets them read through the API, sql/40_policies.sql).

A socket is opened with ``GET /api/v1/live`` authenticated exactly as any other route (session
cookie or bearer token, checked by ``api.authenticate``); a cookie-authenticated upgrade must come
from our own origin, because browsers send cookies with cross-site WebSocket handshakes and no
CORS rule stops them. Each open socket re-checks its session periodically (``api.live_identity``,
which does not count as activity) and is closed with 4401 once the session has ended or the
user's organization or role changed. That check is the safety net: an ended session (sign-out,
in whichever process) and a deactivated user or changed role are announced on the channel too
(``session.ended``, ``user.changed``), and every process closes the sockets concerned with 4401 at
once.

Only changes of organizations that some process has sockets for are announced: the LISTEN
connection registers this process's organizations in ``atum.live_watchers`` (``api.live_watch``),
and a new socket's handshake completes once its organization is registered, so it hears every
change made after it opened. (A NOTIFY holds a cluster-wide lock from commit until the commit is
on disk: announcements that nobody hears would make concurrent writers queue for nothing.)

Clients refetch through the API what an event names; after anything that may have lost events
(the LISTEN connection dropped and came back, a bulk change) they get ``{"kind": "resync"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from psycopg import AsyncConnection

from api.context import AUTH_KIND, IS_HTTPS, POOL, SETTINGS, TOKEN
from api.db import call, pipelined, q
from api.errors import Problem

log = logging.getLogger("atumdesk.live")

CHANNEL = "atum_live"
KINDS = frozenset({"ticket.created", "ticket.updated", "comment.created", "sla.event", "resync"})
CUSTOMER_KINDS = frozenset({"ticket.created", "ticket.updated", "comment.created"})
STAFF_ROLES = frozenset({"agent", "manager", "admin"})
#: Announcements for the hub itself, never passed on to clients.
CONTROL_KINDS = frozenset({"session.ended", "user.changed"})
SESSION_ENDED = 4401  # a private-use close code (4000-4999), mirroring HTTP 401


@dataclass
class Limits:
    """Tunables of the live-update server (tests shorten the intervals)."""

    per_session: int = 10  # tabs of one session; more is a runaway script, not a person
    per_process: int = 5000  # open sockets of this process (each costs a task pair and a queue)
    revalidate_seconds: float = 60.0  # how late an expired or revoked session closes a socket (sign-out: at once)
    heartbeat_seconds: float = 25.0  # below the common 30-60 s idle timeouts of proxies
    queue_size: int = 200  # messages waiting for a slow client before it is dropped
    send_timeout: float = 10.0  # one message may wait this long for the client's TCP window
    reconnect_max_seconds: float = 30.0  # the longest pause between attempts to LISTEN again
    probe_seconds: float = 30.0  # how often a quiet LISTEN connection is checked for life
    watch_seconds: float = 5.0  # how long a new socket waits for its organization to be registered
    watch_poll_seconds: float = 0.05  # how soon the LISTEN loop notices a newly watched organization


@dataclass(eq=False)
class Client:
    """One open socket and who is behind it."""

    ws: web.WebSocketResponse
    transport: asyncio.Transport | None
    token: str
    session_key: str  # a hash of the token: sockets of one session, without keeping it twice
    organization_id: int
    user_id: int
    role: str
    queue: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    #: Why the socket is to be closed (code, reason), once someone asked (Client.end); the
    #: socket's handler does the closing.
    ending: tuple[int, str] | None = None
    end_asked: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def is_staff(self) -> bool:
        """Agent, manager or admin: hears every change of the organization."""
        return self.role in STAFF_ROLES

    def may_see(self, event: dict[str, Any]) -> bool:
        """Whether this socket's user may hear of the event (its organization is already checked)."""
        if self.is_staff or event["kind"] == "resync":
            return True
        return (event["kind"] in CUSTOMER_KINDS and event.get("requester_id") == self.user_id
                and not event.get("internal", False))

    def offer(self, message: str) -> None:
        """Queue a message; a client that lets its queue fill up is dropped rather than buffered."""
        if self.ending is not None:
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            log.info("dropping a slow live client (user %s, organization %s)", self.user_id, self.organization_id)
            self.end(WSCloseCode.TRY_AGAIN_LATER, "too slow")

    def end(self, code: int, reason: str) -> None:
        """Ask for the socket to be closed: whoever asks first (the hub, the session check, a slow
        send, shutdown) gives the code; later asks change nothing. The socket's own handler closes
        it, after it has stopped reading: a close from another task while the handler waits in
        receive() makes aiohttp drop the connection right after the close frame, without the
        closing handshake."""
        if self.ending is None:
            self.ending = (code, reason)
            self.end_asked.set()

    async def close(self, code: int, reason: str, timeout: float = 5.0) -> None:
        """Close the socket; a peer that does not take the close frame in time is cut off."""
        try:
            await asyncio.wait_for(self.ws.close(code=code, message=reason.encode()), timeout)
        except (TimeoutError, ConnectionError):
            if self.transport is not None:
                self.transport.abort()


def _session_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _for_client(event: dict[str, Any], *, staff: bool) -> str:
    """The message a client gets: the event without the requester (customers know it is them;
    staff look it up through the API) and, for customers, without the internal flag."""
    message = {"kind": event["kind"], "organization_id": event["organization_id"],
               "ticket_id": event.get("ticket_id", 0)}
    if "status" in event:
        message["status"] = event["status"]
    if staff and "internal" in event:
        message["internal"] = event["internal"]
    return json.dumps(message)


class Hub:
    """The LISTEN connection of this process and the open sockets, by organization."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.by_org: dict[int, set[Client]] = {}
        self.by_session: dict[str, int] = {}
        self.count = 0
        self.empty = asyncio.Event()  # set while no socket is open (shutdown waits for it)
        self.empty.set()
        self.listening = asyncio.Event()  # set while LISTEN is active (tests wait for it)
        self.closing = False
        # The organizations registered in atum.live_watchers for this process's LISTEN connection:
        # only their changes are announced (sql/66_live.sql). watch_changed asks the LISTEN loop to
        # register by_org's keys again; watch_synced is set (and replaced) after each registration.
        self.watched: set[int] = set()
        self.watch_changed = asyncio.Event()
        self.watch_synced = asyncio.Event()

    # -- sockets ---------------------------------------------------------------------------------
    def admit(self, client: Client) -> None:
        """Register a socket, within the limits (429 past them)."""
        if self.closing:
            raise Problem(503, "the server is shutting down; connect again in a moment")
        if self.count >= self.limits.per_process:
            raise Problem(429, "too many live connections on this server; try again later",
                          headers={"Retry-After": "30"})
        if self.by_session.get(client.session_key, 0) >= self.limits.per_session:
            raise Problem(429, f"at most {self.limits.per_session} live connections per session; close other tabs",
                          headers={"Retry-After": "30"})
        client.queue = asyncio.Queue(self.limits.queue_size)
        if client.organization_id not in self.by_org:
            self.watch_changed.set()
        self.by_org.setdefault(client.organization_id, set()).add(client)
        self.by_session[client.session_key] = self.by_session.get(client.session_key, 0) + 1
        self.count += 1
        self.empty.clear()

    def remove(self, client: Client) -> None:
        """Forget a socket (it closed)."""
        clients = self.by_org.get(client.organization_id)
        if clients is None or client not in clients:
            return
        clients.discard(client)
        if not clients:
            del self.by_org[client.organization_id]
            self.watch_changed.set()
        left = self.by_session[client.session_key] - 1
        if left:
            self.by_session[client.session_key] = left
        else:
            del self.by_session[client.session_key]
        self.count -= 1
        if not self.count:
            self.empty.set()

    async def watch(self, organization_id: int) -> None:
        """Wait (a while) until the organization is registered as watched by this process, so that
        a socket opened after this hears of every later change. Without a LISTEN connection there
        is nothing to wait for: the sockets get a resync when it is back."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.limits.watch_seconds):
                while self.listening.is_set() and organization_id not in self.watched:
                    self.watch_changed.set()
                    await self.watch_synced.wait()

    def _wake_watchers(self) -> None:
        """Wake whoever waits in ``watch``: the registered set changed (or is gone)."""
        synced, self.watch_synced = self.watch_synced, asyncio.Event()
        synced.set()

    async def _register(self, conn: AsyncConnection[Any], *, announce: bool = True) -> None:
        """Register this process's organizations for the LISTEN connection, then wake the waiters.
        The sockets of a newly registered organization get a resync: until now nothing of it was
        announced, so whatever changed since they loaded their data went unheard."""
        self.watch_changed.clear()
        organizations = sorted(self.by_org)
        await conn.execute(q("live_watch"), [organizations])
        added = set(organizations) - self.watched
        self.watched = set(organizations)
        if announce:
            for organization_id in added:
                self.resync(organization_id)
        self._wake_watchers()

    def clients(self) -> list[Client]:
        """Every open socket."""
        return [c for clients in self.by_org.values() for c in clients]

    def end_sessions(self, organization_id: int, *, session: str | None = None, user_id: int | None = None) -> None:
        """Close with 4401, now rather than at their next periodic check, the sockets of a session
        that ended (``session``: the hex SHA-256 of its token) or of a user who was deactivated or
        changed role. The closes run as tasks: a close waits for the peer's answer, and the peer may
        be waiting for the response of the request that ended the session."""
        for client in list(self.by_org.get(organization_id, ())):
            if client.session_key == session or client.user_id == user_id:
                client.end(SESSION_ENDED, "session ended")

    # -- events ----------------------------------------------------------------------------------
    def dispatch(self, payload: str) -> None:
        """Pass one notification on to the sockets that may hear of it."""
        try:
            event = json.loads(payload)
            kind, organization_id = event["kind"], event["organization_id"]
            if kind not in KINDS | CONTROL_KINDS or not isinstance(organization_id, int):
                raise ValueError(kind)
            if kind == "session.ended":
                self.end_sessions(organization_id, session=str(event["session"]))
                return
            if kind == "user.changed":
                self.end_sessions(organization_id, user_id=int(event["user_id"]))
                return
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed notification on %s: %.200s", CHANNEL, payload)
            return
        clients = self.by_org.get(organization_id)
        if not clients:
            return
        staff_message = customer_message = None  # encoded once per audience, not once per socket
        for client in list(clients):
            if not client.may_see(event):
                continue
            if client.is_staff:
                staff_message = staff_message or _for_client(event, staff=True)
                client.offer(staff_message)
            else:
                customer_message = customer_message or _for_client(event, staff=False)
                client.offer(customer_message)

    def resync(self, organization_id: int) -> None:
        """Tell the organization's sockets to refetch (events may have been missed)."""
        message = json.dumps({"kind": "resync", "organization_id": organization_id, "ticket_id": 0})
        for client in list(self.by_org.get(organization_id, ())):
            client.offer(message)

    def resync_all(self) -> None:
        """Tell every socket to refetch (events may have been missed)."""
        for organization_id in list(self.by_org):
            self.resync(organization_id)

    async def listen(self, database_url: str) -> None:
        """LISTEN on the channel for as long as the process runs; after the connection is lost,
        connect again with growing pauses (with jitter, so that many processes do not reconnect in
        step) and tell every socket to resync, since whatever happened meanwhile was not heard."""
        delay = 0.5
        while True:
            try:
                conn = await AsyncConnection.connect(
                    database_url, autocommit=True, application_name="atumdesk-live", connect_timeout=10,
                    # TCP keep-alives: a peer that vanished without a reset is noticed by the kernel too.
                    keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3)
            except Exception as exc:  # the database is down or refusing: wait and try again
                log.warning("live updates: cannot connect to PostgreSQL (%s); retrying in %.1f s", exc, delay)
            else:
                try:
                    async with conn:
                        await conn.execute("LISTEN atum_live")
                        await self._register(conn, announce=False)  # resync_all follows
                        self.listening.set()
                        delay = 0.5
                        self.resync_all()
                        await self._receive(conn)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # lost: a restart, pg_terminate_backend, the network
                    log.warning("live updates: the LISTEN connection was lost (%s); reconnecting", exc)
                finally:
                    self.listening.clear()
                    self.watched = set()  # registered for the connection that is gone
                    self._wake_watchers()  # they see that nobody listens now and go on
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # jitter: no two processes in step
            delay = min(delay * 2, self.limits.reconnect_max_seconds)

    async def _receive(self, conn: AsyncConnection[Any]) -> None:
        loop = asyncio.get_running_loop()
        heard_at = loop.time()
        while True:
            # Short rounds, so that a newly watched organization is registered within
            # watch_poll_seconds (notifications that arrive in between wait in psycopg's backlog).
            async for notify in conn.notifies(timeout=self.limits.watch_poll_seconds):
                heard_at = loop.time()
                self.dispatch(notify.payload)
                if self.watch_changed.is_set():
                    break
            if self.watch_changed.is_set():
                await self._register(conn)
                heard_at = loop.time()
            elif loop.time() - heard_at > self.limits.probe_seconds:
                # Quiet for a while: make sure the connection is alive.
                async with asyncio.timeout(10):
                    await conn.execute("SELECT 1")
                heard_at = loop.time()

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Close every socket with 1001 (going away), and wait (a while) for them to be closed;
        clients reconnect to another process or later."""
        self.closing = True
        for client in self.clients():
            client.end(WSCloseCode.GOING_AWAY, "server shutting down")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.empty.wait()


HUB = web.AppKey("live_hub", Hub)


# -- the route -------------------------------------------------------------------------------------
def _check_same_origin(request: web.Request) -> None:
    """Cross-site WebSocket hijacking: a page elsewhere can open a socket to us and the browser adds
    our cookie. Browsers always send Origin on a WebSocket handshake, so a cookie-authenticated
    upgrade must name our own origin (a client without Origin is not a browser and not at risk)."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        raise Problem(403, "cross-site WebSocket refused")
    origin = request.headers.get("Origin")
    if origin is not None:
        expected = f"{'https' if request[IS_HTTPS] else 'http'}://{request.host}"
        if origin.lower() != expected.lower():
            raise Problem(403, "cross-origin WebSocket refused")


async def live(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/live: upgrades to a WebSocket that carries live-update events (JSON text frames)."""
    hub = request.app[HUB]
    token = request[TOKEN]
    if token is None:
        raise Problem(401, "not signed in, or the session has ended")
    if request[AUTH_KIND] == "cookie":
        _check_same_origin(request)
    user = json.loads(await call(request, q("authenticate"), [token], authenticate=False))  # 401 if ended
    ws = web.WebSocketResponse(heartbeat=hub.limits.heartbeat_seconds, max_msg_size=4096)
    if not ws.can_prepare(request).ok:
        raise Problem(426, "this is a WebSocket endpoint: send Upgrade: websocket", headers={"Upgrade": "websocket"})
    client = Client(ws=ws, transport=request.transport, token=token, session_key=_session_key(token),
                    organization_id=user["organization"]["id"], user_id=user["id"], role=user["role"])
    hub.admit(client)
    try:
        await hub.watch(client.organization_id)  # from the handshake on, every change is heard
        await ws.prepare(request)  # a shutdown meanwhile has asked this client to end: it closes below
        helpers = [asyncio.create_task(_send(client, hub.limits)),
                   asyncio.create_task(_revalidate(request.app, client)),
                   asyncio.create_task(_read(ws))]
        asked = asyncio.create_task(client.end_asked.wait())
        try:
            await asyncio.wait([helpers[2], asked], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in [*helpers, asked]:
                task.cancel()
            await asyncio.gather(*helpers, asked, return_exceptions=True)
        if client.ending is not None and not ws.closed:
            await client.close(*client.ending)
    finally:
        hub.remove(client)
    return ws


async def _read(ws: web.WebSocketResponse) -> None:
    """Read until the peer closes: clients have nothing to say, but reading answers pings and the
    peer's close."""
    async for message in ws:
        if message.type == WSMsgType.ERROR:
            return


async def _send(client: Client, limits: Limits) -> None:
    """Drain the client's queue onto its socket; a client that cannot take a message in time is
    closed (its queue would only grow)."""
    while True:
        message = await client.queue.get()
        try:
            await asyncio.wait_for(client.ws.send_str(message), limits.send_timeout)
        except (TimeoutError, ConnectionError):
            client.end(WSCloseCode.TRY_AGAIN_LATER, "too slow")
            return


async def _revalidate(app: web.Application, client: Client) -> None:
    """Every few seconds, check that the session still stands for the same user, organization and
    role; close with 4401 when it does not. A database outage keeps the socket open (it is not the
    user's fault); the check resumes when the database is back."""
    limits = app[HUB].limits
    while True:
        await asyncio.sleep(limits.revalidate_seconds)
        try:
            async with app[POOL].connection() as conn:
                text = await pipelined(conn, [(q("live_identity"), [client.token])])
        except Exception as exc:  # unavailable: try again next round
            log.debug("live updates: cannot re-check a session (%s)", exc)
            continue
        identity = json.loads(text) if text else None
        if identity != {"organization_id": client.organization_id, "user_id": client.user_id, "role": client.role}:
            client.end(SESSION_ENDED, "session ended")
            return


async def hub_context(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: the LISTEN task runs while the app does."""
    hub = app[HUB]
    task = asyncio.create_task(hub.listen(app[SETTINGS].database_url), name="atumdesk-live-listen")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def on_shutdown(app: web.Application) -> None:
    """Before the server waits for handlers to finish: close the sockets, which would otherwise
    keep it waiting for the whole shutdown timeout."""
    await app[HUB].shutdown()


def setup(app: web.Application, limits: Limits | None = None) -> None:
    """Add live updates to the app: the hub, its LISTEN task, the shutdown hook (the route is in
    api/routes.py with the others). Call it after the pool's cleanup context is added."""
    app[HUB] = Hub(limits)
    app.cleanup_ctx.append(hub_context)
    app.on_shutdown.append(on_shutdown)
