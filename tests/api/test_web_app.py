"""The web app as a browser fetches it from the real server: the HTML shell for any page address
(the app's router shows the screen), with a policy that allows nothing from other hosts and no
caching; the build's hashed files cached for a year; the API's own 404s untouched."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from api import web_app
from tests.api.test_operator_endpoints import call, settings_for
from tests.support import Database

SHELL = ('<!doctype html><html><head><script type="module" src="/assets/index-abc123.js"></script>'
         '<link rel="stylesheet" href="/assets/index-def456.css"></head><body><div id="root"></div></body></html>')


@pytest.fixture
def dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A build of the web app as `npm run build` leaves it."""
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(SHELL)
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log('atum');")
    (tmp_path / "assets" / "index-abc123.js.gz").write_bytes(gzip.compress(b"console.log('atum');"))
    (tmp_path / "assets" / "index-def456.css").write_text("body{color:#000}")
    (tmp_path / "assets" / "inter-latin-400-normal-x1.woff2").write_bytes(b"wOF2fake")
    (tmp_path / "secret.txt").write_text("outside the assets")
    monkeypatch.setattr(web_app, "DIST", tmp_path)
    return tmp_path


def test_the_shell_answers_every_page_address_with_a_strict_policy(db: Database, dist: Path) -> None:
    async def check(client: TestClient) -> None:
        for path in ("/", "/login", "/tickets/5", "/portal/tickets/7", "/inbox?status=NEW", "/no/such/page"):
            response = await client.get(path)
            assert response.status == 200, path
            assert response.content_type == "text/html"
            assert await response.text() == SHELL
            assert response.headers["Cache-Control"] == "no-cache"
            csp = response.headers["Content-Security-Policy"]
            assert csp == web_app.SHELL_CSP
            directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
            assert directives["default-src"] == "'self'"
            assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
            assert directives["connect-src"] == "'self'" and directives["font-src"] == "'self'"
            assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
            assert "unsafe" not in csp and "http" not in csp
            assert response.headers["X-Content-Type-Options"] == "nosniff"

    call(settings_for(db), check)


def test_built_files_are_cached_for_good_and_only_they_are_served(db: Database, dist: Path) -> None:
    async def check(client: TestClient) -> None:
        for name, kind in (("index-abc123.js", "text/javascript"), ("index-def456.css", "text/css"),
                           ("inter-latin-400-normal-x1.woff2", "font/woff2")):
            response = await client.get(f"/assets/{name}")
            assert response.status == 200, name
            assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            assert response.content_type == kind
            assert await response.read() == (dist / "assets" / name).read_bytes()
        zipped = await client.get("/assets/index-abc123.js", headers={"Accept-Encoding": "gzip"})
        assert zipped.status == 200 and zipped.headers["Content-Encoding"] == "gzip"
        assert zipped.content_type == "text/javascript" and "immutable" in zipped.headers["Cache-Control"]
        assert await zipped.read() == b"console.log('atum');"  # the client unpacks it
        missing = await client.get("/assets/index-000000.js")
        assert missing.status == 404
        assert "immutable" not in missing.headers.get("Cache-Control", "")
        for sneaky in ("/assets/../secret.txt", "/assets/%2e%2e/secret.txt", "/assets/..%2Fsecret.txt"):
            response = await client.get(sneaky)
            assert response.status == 404 or "outside the assets" not in await response.text(), sneaky

    call(settings_for(db), check)


def test_the_api_keeps_its_own_answers(db: Database, dist: Path) -> None:
    async def check(client: TestClient) -> None:
        for path in ("/api/v1/no-such-route", "/api/nothing", "/api"):
            response = await client.get(path)
            assert response.status == 404, path
            assert response.content_type == "application/problem+json"
        signed_out = await client.get("/api/v1/me")
        assert signed_out.status == 401 and signed_out.content_type == "application/problem+json"
        wrong_method = await client.get("/api/v1/auth/login")
        assert wrong_method.status == 405
        health = await client.get("/healthz")
        assert await health.json() == {"status": "ok"}
        posted = await client.post("/tickets/5", headers={"X-Requested-With": "XMLHttpRequest"})
        assert posted.status == 405  # pages are only read

    call(settings_for(db), check)


def test_without_a_build_the_placeholder_says_how_to_get_one(db: Database, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web_app, "DIST", tmp_path / "dist")

    async def check(client: TestClient) -> None:
        for path in ("/", "/tickets/5"):
            response = await client.get(path)
            assert response.status == 200
            text = await response.text()
            assert "ATUM DESK" in text and "make run" in text
        assert (await client.get("/assets/index-abc123.js")).status == 404

    call(settings_for(db), check)


def test_a_rebuild_while_the_server_runs_is_served_at_the_next_load(db: Database, dist: Path) -> None:
    async def check(client: TestClient) -> None:
        assert await (await client.get("/tickets/5")).text() == SHELL
        rebuilt = SHELL.replace("index-abc123.js", "index-987fed.js")
        (dist / "index.html").write_text(rebuilt)
        stat = (dist / "index.html").stat()
        os.utime(dist / "index.html", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        assert await (await client.get("/tickets/5")).text() == rebuilt

    call(settings_for(db), check)
