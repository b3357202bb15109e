"""The connection pool and the one way a route reaches the database.

Every API call is one transaction on a pooled connection, sent as one pipeline (one network round
trip): BEGIN; ``api.authenticate(token)`` establishes the verified request context; for reads the
transaction is made read-only; then the single ``api.*`` call; COMMIT. The function's jsonb result
comes back as text and goes to the client unchanged (no decode and re-encode in Python).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, LiteralString

from aiohttp import web
from psycopg import AsyncConnection
from psycopg.types.string import TextLoader
from psycopg_pool import AsyncConnectionPool

from api.context import POOL, QUERIES, TOKEN
from atumdesk.db import first_line
from atumdesk.queries import query
from atumdesk.settings import Settings

AUTHENTICATE = query("authenticate", QUERIES)
READ_ONLY = query("read_only", QUERIES)


async def _configure(conn: AsyncConnection[Any]) -> None:
    # jsonb and json arrive as text: the API passes PostgreSQL's JSON through as it is.
    conn.adapters.register_loader("jsonb", TextLoader)
    conn.adapters.register_loader("json", TextLoader)


def make_pool(settings: Settings) -> AsyncConnectionPool:
    """The pool of the HTTP process (opened and closed with the app). A request waits at most
    ATUM_DB_WAIT seconds (10) for a connection, then gets 503 rather than hanging while PostgreSQL
    is away; the pool keeps reconnecting in the background."""
    return AsyncConnectionPool(settings.database_url, open=False, min_size=2, max_size=settings.db_pool_size,
                               configure=_configure, kwargs={"application_name": "atumdesk-http"},
                               name="atumdesk-http", timeout=settings.db_wait_seconds)


async def unreachable_reason(settings: Settings) -> str:
    """Why PostgreSQL cannot be reached, in libpq's first line (for the start-up message)."""
    try:
        conn = await AsyncConnection.connect(settings.database_url, connect_timeout=3)
    except Exception as exc:  # any failure is the answer we want to show
        return first_line(exc, "connection failed")
    await conn.close()
    return "it answers now"


@asynccontextmanager
async def transaction(request: web.Request, *, read_only: bool = False,
                      authenticate: bool = True) -> AsyncIterator[AsyncConnection[Any]]:
    """One transaction with the request context established (for routes that need more than one
    call in it, e.g. an upload that writes a file between two statements)."""
    async with request.app[POOL].connection() as conn, conn.transaction():
        if authenticate:
            await conn.execute(AUTHENTICATE, [request.get(TOKEN)])
        if read_only:
            await conn.execute(READ_ONLY)
        yield conn


async def call(request: web.Request, sql: LiteralString, params: Sequence[Any] = (), *,
               read_only: bool = False, authenticate: bool = True) -> str:
    """Run one ``api.*`` call in its own transaction, authenticated; returns its JSON as text."""
    async with request.app[POOL].connection() as conn:
        async with conn.pipeline(), conn.transaction():
            if authenticate:
                await conn.execute(AUTHENTICATE, [request.get(TOKEN)])
            if read_only:
                await conn.execute(READ_ONLY)
            cur = await conn.execute(sql, params)
        row = await cur.fetchone()
    return str(row[0]) if row else "null"
