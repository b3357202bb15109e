"""The operator endpoints as a load balancer or an operator sees them: liveness, readiness with
its reasons, and the security headers every response carries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from psycopg.conninfo import make_conninfo

from api.app import create_app
from atumdesk.migrate import migration_ids
from atumdesk.settings import Settings, load
from tests.support import Database


def settings_for(db: Database, **overrides: str) -> Settings:
    app_url = make_conninfo(db.settings.database_url, dbname=db.dbname)
    return load({"ATUM_DATA_DIR": str(db.settings.data_dir), "ATUM_DATABASE_URL": app_url, **overrides})


def call(settings: Settings, check: Callable[[TestClient], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        async with TestClient(TestServer(create_app(settings))) as client:
            return await check(client)

    return asyncio.run(run())


async def get(client: TestClient, path: str) -> tuple[int, dict[str, str], Any]:
    response = await client.get(path)
    body = await (response.json() if response.content_type == "application/json" else response.text())
    return response.status, dict(response.headers), body


def test_liveness_and_readiness_of_a_migrated_database(db: Database) -> None:
    async def check(client: TestClient) -> None:
        status, headers, body = await get(client, "/healthz")
        assert (status, body) == (200, {"status": "ok"})
        status, headers, body = await get(client, "/readyz")
        assert status == 200
        assert body["status"] == "ready" and body["checks"]["database"] == "ok"
        assert body["checks"]["migrations"] == "ok"
        for name in ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"):
            assert name in headers

    call(settings_for(db), check)


def test_readiness_names_a_pending_migration(db: Database) -> None:
    newest = migration_ids()[-1]
    with psycopg.connect(db.conninfo("atum_owner"), autocommit=True) as owner:
        owner.execute("DELETE FROM public._yoyo_migration WHERE migration_id = %s", [newest])

    async def check(client: TestClient) -> None:
        status, _, body = await get(client, "/readyz")
        assert status == 503
        assert body["status"] == "not ready"
        assert body["checks"]["migrations"] == f"pending: {newest}"

    call(settings_for(db), check)


def test_readiness_fails_but_liveness_holds_without_a_database(db: Database) -> None:
    unreachable = make_conninfo(host="/nonexistent-socket-dir", user="atum_app", dbname="atumdesk",
                                connect_timeout="1")

    async def check(client: TestClient) -> None:
        assert (await get(client, "/healthz"))[0] == 200
        status, _, body = await get(client, "/readyz")
        assert status == 503
        assert body["checks"]["database"].startswith("unreachable")

    call(settings_for(db, ATUM_DATABASE_URL=unreachable), check)


def test_with_postgresql_down_the_server_starts_says_why_and_answers_503(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    nowhere = make_conninfo(host=str(tmp_path), port=5999, user="atum_app", dbname="atumdesk")
    settings = load({"ATUM_DATA_DIR": str(tmp_path), "ATUM_DATABASE_URL": nowhere, "ATUM_DB_WAIT": "1"})

    async def check(client: TestClient) -> None:
        assert (await client.get("/healthz")).status == 200
        assert (await client.get("/readyz")).status == 503
        response = await client.get("/api/v1/me", headers={"Authorization": "Bearer atum_s_x"})
        assert response.status == 503 and response.content_type == "application/problem+json"
        assert "Retry-After" in response.headers

    with caplog.at_level(logging.WARNING, logger="atumdesk.http"):
        call(settings, check)
    assert any("PostgreSQL is not reachable" in r.getMessage() for r in caplog.records)


def test_readiness_fails_when_pg_cron_stopped_running_the_jobs(db: Database) -> None:
    with psycopg.connect(db.conninfo("atum_owner"), autocommit=True) as owner:
        owner.execute("INSERT INTO atum.cron_heartbeats (job_name, beat_at)"
                      " VALUES ('heartbeat', now() - interval '9 minutes')"
                      " ON CONFLICT (job_name) DO UPDATE SET beat_at = EXCLUDED.beat_at")

    async def check(client: TestClient) -> None:
        status, _, body = await get(client, "/readyz")
        assert status == 503 and "pg_cron" in body["checks"]["pg_cron"]

    call(settings_for(db), check)
