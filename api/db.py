"""The connection pool and the one way a route reaches the database.

Every API call is one transaction on a pooled connection, sent as one pipeline (one network round
trip): BEGIN; ``api.authenticate(token)`` establishes the verified request context; for reads the
transaction is made read-only; then the single ``api.*`` call; COMMIT. The function's jsonb result
comes back as text and goes to the client unchanged (no decode and re-encode in Python).

``call`` drives the pipeline through libpq directly (``conn.pgconn``): all messages are queued and
sent in one write, the results read until the Sync, and each statement is prepared once per
connection. Going through ``conn.execute`` in ``conn.pipeline()`` does the same on the wire but
flushes and polls the socket once per statement; at 32 concurrent requests on two cores that cost
the HTTP process more CPU than everything else it does (tests/bench/http.py, docs/api.md "Speed").
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import cache
from typing import Any, LiteralString
from weakref import WeakKeyDictionary

from aiohttp import web
from psycopg import AsyncConnection, pq
from psycopg.abc import PQGen
from psycopg.adapt import PyFormat, Transformer
from psycopg.errors import InvalidSqlStatementName, error_from_result
from psycopg.pq.abc import PGconn, PGresult
from psycopg.types.string import TextLoader
from psycopg.waiting import Ready, Wait
from psycopg_pool import AsyncConnectionPool

from api.context import POOL, QUERIES, TOKEN
from atumdesk.db import first_line
from atumdesk.queries import query
from atumdesk.settings import Settings

AUTHENTICATE = query("authenticate", QUERIES)
READ_ONLY = query("read_only", QUERIES)
_SYNC = pq.ExecStatus.PIPELINE_SYNC
_FATAL = pq.ExecStatus.FATAL_ERROR
_OK = pq.ExecStatus.COMMAND_OK
#: Per pooled connection: the server-side prepared statement of each (query, parameter types).
_PREPARED: WeakKeyDictionary[AsyncConnection[Any], dict[tuple[str, tuple[int, ...]], bytes]] = WeakKeyDictionary()
_NAMES = itertools.count()
#: How long the pool keeps retrying one lost connection (with growing pauses) before it gives up
#: and leaves the next attempt to the next request (see make_pool).
RECONNECT_SECONDS = 5.0


def q(name: str) -> LiteralString:
    """A query of api/queries.sql by name."""
    return query(name, QUERIES)


async def _configure(conn: AsyncConnection[Any]) -> None:
    # jsonb and json arrive as text: the API passes PostgreSQL's JSON through as it is.
    conn.adapters.register_loader("jsonb", TextLoader)
    conn.adapters.register_loader("json", TextLoader)


def make_pool(settings: Settings) -> AsyncConnectionPool:
    """The pool of the HTTP process (opened and closed with the app). A request waits at most
    ATUM_DB_WAIT seconds (10) for a connection, then gets 503 rather than hanging while PostgreSQL
    is away; the pool keeps reconnecting in the background."""
    # prepare_threshold None: psycopg's own automatic preparation stays off. With it on, a rollback
    # on a connection where psycopg had prepared something (a query run five times through
    # conn.execute: readiness, uploads) sends DEALLOCATE ALL, which also drops the statements
    # ``pipelined`` prepared, and every later call on that connection failed with 26000 (a 500).
    # reconnect_timeout: psycopg_pool retries a lost connection 1, 3, 7, 15, 31 … s after the loss,
    # with no cap but this limit (5 minutes by default): after an outage of 20 s the pool came back
    # about 9 s after PostgreSQL did, after one of 2 minutes up to 2 minutes later, answering 503
    # meanwhile (tests/ops/test_durability.py). Given up after RECONNECT_SECONDS instead, an attempt
    # frees its place, and the next request that finds the pool empty starts a new one at once.
    return AsyncConnectionPool(settings.database_url, open=False, min_size=2, max_size=settings.db_pool_size,
                               configure=_configure,
                               kwargs={"application_name": "atumdesk-http", "prepare_threshold": None},
                               name="atumdesk-http", timeout=settings.db_wait_seconds,
                               reconnect_timeout=RECONNECT_SECONDS)


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
    statements: list[tuple[LiteralString, Sequence[Any]]] = []
    if authenticate:
        statements.append((AUTHENTICATE, [request.get(TOKEN)]))
    if read_only:
        statements.append((READ_ONLY, ()))
    statements.append((sql, params))
    async with request.app[POOL].connection() as conn:
        value = await pipelined(conn, statements)
    return "null" if value is None else str(value)


async def pipelined(conn: AsyncConnection[Any], statements: Sequence[tuple[LiteralString, Sequence[Any]]]) -> Any:
    """BEGIN; the statements; COMMIT, as one pipeline; returns the first value of the last
    statement's first row (None without rows). The first error raises as psycopg would raise it,
    after the transaction is rolled back."""
    try:
        return await _pipelined(conn, statements)
    except InvalidSqlStatementName:
        # psycopg deallocates all of a session's prepared statements when it rolls back itself
        # (the pool resetting a connection, a failed ``transaction()``): prepare them again. The
        # transaction failed at its first statement that needed one, so nothing was done yet.
        _PREPARED.pop(conn, None)
        return await _pipelined(conn, statements)


async def _pipelined(conn: AsyncConnection[Any], statements: Sequence[tuple[LiteralString, Sequence[Any]]]) -> Any:
    prepared = _PREPARED.setdefault(conn, {})
    transformer = Transformer(conn)
    dumped = []  # parameters are adapted first: a value psycopg refuses fails before anything is sent
    for sql, params in statements:
        values = transformer.dump_sequence(params, [PyFormat.AUTO] * len(params))
        dumped.append(((sql, tuple(transformer.types or ())), values, list(transformer.formats or ())))
    creating: dict[int, tuple[tuple[str, tuple[int, ...]], bytes]] = {}  # command index -> new statement

    def send(pgconn: PGconn) -> None:
        pgconn.send_query_params(b"BEGIN", None)
        commands = 1
        for key, values, formats in dumped:
            name = prepared.get(key)
            if name is None:
                name = f"atum_{next(_NAMES)}".encode()
                pgconn.send_prepare(name, _numbered(key[0]), param_types=key[1])
                creating[commands] = (key, name)
                commands += 1
            pgconn.send_query_prepared(name, values, param_formats=formats)
            commands += 1
        pgconn.send_query_params(b"COMMIT", None)

    results = await _round_trip(conn, send)
    for index, (key, name) in creating.items():
        if results[index] and results[index][0].status == _OK:
            prepared[key] = name
    failed = next((r for rs in results for r in rs if r.status == _FATAL), None)
    if failed is not None:
        if conn.pgconn.transaction_status != pq.TransactionStatus.IDLE:
            # The failed transaction is still open. Not conn.rollback(): that would also deallocate
            # the session's prepared statements.
            await _round_trip(conn, lambda pgconn: pgconn.send_query_params(b"ROLLBACK", None))
        raise error_from_result(failed, encoding=conn.info.encoding)
    last = results[-2]  # the last statement's (the one before COMMIT)
    if not last or last[0].ntuples == 0:
        return None
    transformer.set_pgresult(last[0])
    row = transformer.load_row(0, tuple)
    return row[0] if row else None


async def _round_trip(conn: AsyncConnection[Any], send: Callable[[PGconn], None]) -> list[list[PGresult]]:
    """Queue commands with ``send`` in pipeline mode, end them with a Sync, send them in one write
    and read every result; per command, its results."""
    pgconn = conn.pgconn
    async with conn.lock:
        pgconn.enter_pipeline_mode()
        try:
            send(pgconn)
            pgconn.pipeline_sync()
            results = await conn.wait(_exchange(pgconn))
            pgconn.exit_pipeline_mode()
        except BaseException:
            # Cancelled or broken half-way, results may be pending: close the connection, so that
            # the pool discards it instead of handing it to the next request.
            pgconn.finish()
            raise
    return results


@cache
def _numbered(sql: str) -> bytes:
    """psycopg's placeholders (%s, %% for a percent sign) as PostgreSQL's ($1, $2, ...)."""
    counter = itertools.count(1)
    return re.sub(r"%%|%s", lambda m: "%" if m.group() == "%%" else f"${next(counter)}", sql).encode()


def _exchange(pgconn: PGconn) -> PQGen[list[list[PGresult]]]:
    """Send what libpq has queued in one write, then read until the pipeline's Sync; the results
    of each command in order (an empty list for a command that returns none)."""
    while pgconn.flush():  # a big request: keep reading too, or both sides may wait on full buffers
        if (yield Wait.RW) & Ready.R:
            pgconn.consume_input()
    results: list[list[PGresult]] = []
    current: list[PGresult] = []
    while True:
        if pgconn.is_busy():
            if (yield Wait.R) & Ready.R:
                pgconn.consume_input()
            continue
        result = pgconn.get_result()
        if result is None:  # the end of one command's results
            results.append(current)
            current = []
        elif result.status == _SYNC:
            return results
        else:
            current.append(result)
