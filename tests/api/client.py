"""Driving the real application in API tests: the aiohttp server on a local port, the test database
behind it, and a small client that speaks to it the way a browser or an integration does."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDict
from psycopg.conninfo import make_conninfo

from api.app import create_app
from atumdesk.passwords import hash_password
from atumdesk.settings import Settings, load
from tests.support import Database, Org, build_org

PASSWORD = "correct horse battery"
_PASSWORD_HASH = hash_password(PASSWORD)  # hashing costs ~50 ms: once per run, not per user


def settings_for(db: Database, **overrides: str) -> Settings:
    """Settings of the app under test: the test database, the test cluster's data directory."""
    app_url = make_conninfo(db.settings.database_url, dbname=db.dbname)
    return load({"ATUM_DATA_DIR": str(db.settings.data_dir), "ATUM_DATABASE_URL": app_url, **overrides})


@dataclass
class Reply:
    """What came back: status, headers, and the body (decoded when it is JSON)."""

    status: int
    headers: CIMultiDict[str]
    body: Any
    cookies: dict[str, Any]


class Api:
    """A client of the app under test. ``token`` sends a bearer token; ``browser`` sends the session
    cookie the client holds with the header the web app adds."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    async def call(self, method: str, path: str, *, token: str | None = None, json_body: Any = None,
                   browser: bool = False, headers: dict[str, str] | None = None, data: Any = None) -> Reply:
        """One request; returns the reply."""
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if browser:
            sent.setdefault("X-Requested-With", "XMLHttpRequest")
        kwargs: dict[str, Any] = {"headers": sent}
        if json_body is not None:
            kwargs["json"] = json_body
        if data is not None:
            kwargs["data"] = data
        response = await self.client.request(method, path, **kwargs)
        raw = await response.read()
        body: Any = raw.decode(errors="replace")
        if response.content_type in ("application/json", "application/problem+json") and raw:
            body = json.loads(raw)
        cookies = {name: morsel for name, morsel in response.cookies.items()}
        return Reply(response.status, CIMultiDict(response.headers), body, cookies)

    async def login(self, email: str, password: str = PASSWORD, organization: str | None = None,
                    headers: dict[str, str] | None = None) -> Reply:
        """Sign in as a browser does (the session cookie stays in the client's jar)."""
        body: dict[str, Any] = {"email": email, "password": password}
        if organization is not None:
            body["organization"] = organization
        return await self.call("POST", "/api/v1/auth/login", json_body=body, browser=True, headers=headers)


def run_api(db: Database, scenario: Callable[[Api], Awaitable[Any]], **settings: str) -> Any:
    """Serve the app against ``db`` on a local port and run ``scenario`` against it."""
    async def run() -> Any:
        async with TestClient(TestServer(create_app(settings_for(db, **settings)))) as client:
            return await scenario(Api(client))

    return asyncio.run(run())


def world(db: Database) -> tuple[Org, Org]:
    """Two organizations, alpha and beta, each with a user per role (all with the test password)
    and a row in every tenant table (tests/support.py build_org)."""
    with db.connect("atum_owner", autocommit=True) as owner:
        alpha, beta = build_org(owner, "alpha"), build_org(owner, "beta")
        owner.execute("UPDATE atum.users SET password_hash = %s", [_PASSWORD_HASH])
    return alpha, beta


def owner_query(db: Database, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """Rows of a query run as the owner (for arranging and checking what the API did)."""
    with db.connect("atum_owner", autocommit=True) as owner:
        cur = owner.execute(sql, params) if params else owner.execute(sql)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []

