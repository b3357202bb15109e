"""Browser tests: Debian's Chromium (headless, driven by Playwright) against the real server on a
fresh test database.

Each test gets its own database (the ``db`` fixture of tests/conftest.py) holding the test world of
tests/api/client.py (organizations alpha and beta, a user of every role, the test password) and an
``atumdesk serve`` process on a free local port in front of it. The browser is started once per module;
every user gets a browser context of their own (own cookies), so a test can have the customer,
the manager and the agent on screen at once.

Every context is guarded for the whole test: a request to any other origin than the server's is
aborted and recorded, and so is any JavaScript dialog (the sign of an injected script), anything the
Content-Security-Policy refused (an injected inline script, a load from elsewhere) and any uncaught
error in a page; the test fails at its end if any of that happened. Screenshots go to ``$ATUM_TEST_ARTIFACTS`` (default
tests/artifacts/), which git ignores.

Nothing is built here: the Makefile builds web/dist before the tests run. When web/dist or
/usr/bin/chromium is missing these tests are skipped on a developer's machine, and fail where
``ATUM_REQUIRE_BROWSER=1`` or ``CI`` is set (``make test`` sets the former).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from psycopg.conninfo import make_conninfo

from atumdesk import PROJECT_ROOT
from tests.api.client import PASSWORD, world
from tests.e2e.browser.chromium import CHROMIUM, launch
from tests.serve import ServeProcess as Server
from tests.support import Database, Org

WEB_DIST = Path(os.environ.get("ATUM_WEB_DIST") or PROJECT_ROOT / "web" / "dist")
AXE = PROJECT_ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(os.environ.get("ATUM_TEST_ARTIFACTS") or PROJECT_ROOT / "tests" / "artifacts")
#: How long a screen may take to show what a test waits for (a loaded CI machine is slow).
TIMEOUT_MS = 15_000
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}


def required() -> bool:
    """Whether a missing browser or web build is an error rather than a reason to skip."""
    return any(os.environ.get(name, "") not in ("", "0", "false") for name in ("ATUM_REQUIRE_BROWSER", "CI"))


def missing(*, axe: bool = False) -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (Debian package chromium; `make test` installs it)"
    if not (WEB_DIST / "index.html").exists():
        return f"{WEB_DIST}/index.html is missing (`make web` builds it)"
    if axe and not AXE.exists():
        return f"{AXE} is missing (run `npm install` in web/)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the Python package playwright is missing (requirements.lock)"
    return None


def require(*, axe: bool = False) -> None:
    """Skip (or, where required, fail) the test when the browser or the web build is missing."""
    reason = missing(axe=axe)
    if reason is not None:
        if required():
            pytest.fail(f"browser tests cannot run: {reason}", pytrace=False)
        pytest.skip(reason)


@dataclass
class Guard:
    """What the pages of one context did that they must not: dialogs opened and foreign requests."""

    origin: str
    dialogs: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about"):
            return True
        own = urlsplit(self.origin)
        return parts.scheme in ("http", "ws") and parts.netloc == own.netloc

    def attach(self, context: Any) -> None:
        def route(route: Any) -> None:
            url = route.request.url
            self.requests.append(url)
            if self.allowed(url):
                route.continue_()
            else:
                self.foreign.append(url)
                route.abort("blockedbyclient")

        def dialog(dialog: Any) -> None:
            self.dialogs.append(f"{dialog.type}: {dialog.message!r} on {dialog.page.url if dialog.page else '?'}")
            dialog.dismiss()

        def websocket(ws: Any) -> None:
            self.requests.append(ws.url)
            if not self.allowed(ws.url):
                self.foreign.append(ws.url)

        def console(message: Any) -> None:
            # What the Content-Security-Policy refused: an injected script, or a load from elsewhere.
            if message.type == "error" and "Content Security Policy" in message.text:
                self.refused.append(message.text)

        def page_error(page: Any, error: Any) -> None:
            self.errors.append(f"{page.url}: {error}")

        def page(page: Any) -> None:
            page.on("websocket", websocket)
            page.on("pageerror", lambda error: page_error(page, error))

        context.route("**/*", route)
        context.on("dialog", dialog)
        context.on("console", console)
        context.on("page", page)

    def problems(self) -> list[str]:
        return ([f"a dialog opened (script injection?): {d}" for d in self.dialogs]
                + [f"a request left the origin {self.origin}: {u}" for u in self.foreign]
                + [f"the Content-Security-Policy refused something: {m}" for m in self.refused]
                + [f"an uncaught error in the page: {e}" for e in self.errors])


@dataclass
class Site:
    """The app under test as its users meet it: the server, the organization and a browser context
    per user."""

    server: Server
    browser: Any
    db: Database
    org: Org
    other_org: Org
    artifacts: Path
    guards: list[Guard] = field(default_factory=list)
    contexts: list[Any] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return self.server.origin

    @staticmethod
    def email(org: Org, role: str) -> str:
        return f"{role}@{org.slug}.example"

    def context(self, viewport: dict[str, int] | None = None) -> Any:
        """A fresh browser context (no cookies), guarded, its relative URLs resolved against the server."""
        context = self.browser.new_context(base_url=self.origin, viewport=viewport or DESKTOP,
                                           service_workers="block", locale="en-GB", timezone_id="Europe/Berlin")
        context.set_default_timeout(TIMEOUT_MS)
        guard = Guard(self.origin)
        guard.attach(context)
        self.guards.append(guard)
        self.contexts.append(context)
        return context

    def page(self, role: str | None, viewport: dict[str, int] | None = None, context: Any = None) -> Any:
        """A page of a new context (or of ``context``), signed in as ``role`` of organization alpha
        (through the API, as the sign-in screen does; the screen itself is used in test_flow) or
        signed out (``None``)."""
        context = context or self.context(viewport)
        if role is not None:
            reply = context.request.post("/api/v1/auth/login", data={
                "email": self.email(self.org, role), "password": PASSWORD},
                headers={"X-Requested-With": "XMLHttpRequest"})
            assert reply.ok, f"sign-in of {role} failed: {reply.status} {reply.text()}"
        return context.new_page()

    def api(self, method: str, path: str, role: str, body: Any = None) -> Any:
        """Arrange through the HTTP API as ``role`` of organization alpha (bearer token); the JSON reply."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.origin}{path}", data=data, method=method, headers={
            "Authorization": f"Bearer {self.org.tokens[role]}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{method} {path} as {role}: {error.code} {error.read()!r}") from None
        return json.loads(raw) if raw else None

    def screenshot(self, page: Any, name: str) -> Path:
        """A full-page screenshot kept as a test artifact."""
        path = self.artifacts / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def problems(self) -> list[str]:
        return [problem for guard in self.guards for problem in guard.problems()]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module (Playwright's sync API keeps an event loop of its own
    while it runs; per module, it is gone before other tests use asyncio)."""
    require()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def site(request: pytest.FixtureRequest, db: Database, browser: Any) -> Iterator[Site]:
    """The server on a fresh database with the test world, and a place for this test's screenshots.

    At the end the test fails if any page opened a dialog or sent a request away from the origin."""
    alpha, beta = world(db)
    env = {"ATUM_DATA_DIR": str(db.settings.data_dir),
           "ATUM_DATABASE_URL": make_conninfo(db.settings.database_url, dbname=db.dbname)}
    server = Server(env)
    callspec = getattr(request.node, "callspec", None)
    artifacts = (ARTIFACTS / request.node.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
                 / re.sub(r"[^A-Za-z0-9_.-]+", "-", callspec.id if callspec else request.node.name))
    shutil.rmtree(artifacts, ignore_errors=True)  # only this run's screenshots
    artifacts.mkdir(parents=True)
    site = Site(server, browser, db, alpha, beta, artifacts)
    try:
        server.wait_listening()
        yield site
    finally:
        for context in site.contexts:
            context.close()
        server.stop()
    problems = site.problems()
    assert not problems, "\n".join(problems)
