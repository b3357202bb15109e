"""The one way a route reaches the database (api/db.py): a pipelined transaction of prepared
statements on a pooled connection, which keeps working whatever happened to that connection
before — an error, prepared statements dropped behind its back, a request abandoned half-way."""

from __future__ import annotations

import asyncio

import pytest

from api.context import POOL
from api.db import pipelined
from tests.api.client import Api, run_api, world
from tests.support import Database

NEW_TICKET = {"subject": "Printer jammed", "description": "Tray 2."}


def test_reads_and_writes_keep_working_after_errors_on_the_same_connections(db: Database) -> None:
    alpha, _ = world(db)

    async def scenario(api: Api) -> None:
        token = alpha.tokens["agent"]
        for _ in range(3):  # with a pool of two, every connection sees each outcome
            assert (await api.call("GET", f"/api/v1/tickets/{alpha.ticket_id}", token=token)).status == 200
            assert (await api.call("GET", "/api/v1/tickets/999999999", token=token)).status == 404
            assert (await api.call("GET", "/api/v1/tickets", token="atum_s_unknown")).status == 401
            assert (await api.call("POST", "/api/v1/tickets", token=token, json_body={"subject": " "})).status == 422
            made = await api.call("POST", "/api/v1/tickets", token=token, json_body=NEW_TICKET)
            assert made.status == 201
            got = await api.call("GET", f"/api/v1/tickets/{made.body['id']}", token=token)
            assert got.status == 200 and got.body["subject"] == NEW_TICKET["subject"]

    run_api(db, scenario, ATUM_DB_POOL_SIZE="2")


def test_a_connection_whose_prepared_statements_were_dropped_prepares_them_again(db: Database) -> None:
    alpha, _ = world(db)

    async def scenario(api: Api) -> None:
        token = alpha.tokens["agent"]
        for _ in range(4):
            assert (await api.call("GET", f"/api/v1/tickets/{alpha.ticket_id}", token=token)).status == 200
        pool = api.client.app[POOL]
        # What psycopg does after a rollback of its own (e.g. the pool resetting a connection).
        async with pool.connection() as first, pool.connection() as second:
            for conn in (first, second):
                await conn.execute("DEALLOCATE ALL")
        for _ in range(4):
            assert (await api.call("GET", f"/api/v1/tickets/{alpha.ticket_id}", token=token)).status == 200

    run_api(db, scenario, ATUM_DB_POOL_SIZE="2")


def test_a_call_abandoned_half_way_closes_its_connection_and_the_pool_replaces_it(db: Database) -> None:
    alpha, _ = world(db)

    async def scenario(api: Api) -> None:
        pool = api.client.app[POOL]
        async with pool.connection() as conn:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(pipelined(conn, [("SELECT pg_sleep(%s)", [2])]), 0.2)
            assert conn.closed  # its results are still on the way: nobody may use it again
        reply = await api.call("GET", f"/api/v1/tickets/{alpha.ticket_id}", token=alpha.tokens["agent"])
        assert reply.status == 200

    run_api(db, scenario, ATUM_DB_POOL_SIZE="2")
