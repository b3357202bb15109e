"""The shipped nginx site (deploy/nginx/atumdesk.conf), rendered by the shipped renderer and run by
Debian's nginx in front of the real server: what a browser, an attacker and an operator meet."""

from __future__ import annotations

import asyncio
import json
import math
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from api.attachments import MULTIPART_OVERHEAD
from api.middleware import SECURITY_HEADERS
from api.web_app import SHELL_CSP
from atumdesk.attachments import relative_path
from atumdesk.settings import Settings
from tests.api.client import PASSWORD, world
from tests.ops.nginx import (
    SERVER_NAME,
    SITE_VALUES,
    TEMPLATE,
    Front,
    Nginx,
    free_port,
    front,
    make_root,
    renderer,
    require_nginx,
    self_signed,
    site_values,
)
from tests.support import Database

__all__ = ["front"]  # the fixture, imported for the tests below
pytestmark = pytest.mark.slow  # whole processes: nginx and the server

#: The headers every HTTPS answer carries exactly once, whoever made it (app or nginx).
SECURITY = ("Strict-Transport-Security", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy",
            "Content-Security-Policy")


def secured(headers: Any, where: str) -> None:
    """Each security header once (two copies of a CSP would both apply; of others, either may win)."""
    for name in SECURITY:
        values = headers.getall(name, [])
        assert len(values) == 1, f"{where}: {name} is {values!r}, expected exactly one"
    assert headers["X-Frame-Options"] == "DENY", where
    assert headers["X-Content-Type-Options"] == "nosniff", where
    assert "preload" not in headers["Strict-Transport-Security"], where
    assert "max-age=" in headers["Strict-Transport-Security"], where


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# --- the template itself -------------------------------------------------------------------------


def test_the_fallback_headers_of_nginx_are_the_apps_own() -> None:
    """Where nginx answers itself (assets, 429, 413) it sends the app's shell policy word for word."""
    text = TEMPLATE.read_text()
    csp = re.search(r'map \$upstream_http_content_security_policy \$\w+ \{\s*"" "([^"]+)";', text)
    assert csp is not None and csp.group(1) == SHELL_CSP
    referrer = re.search(r'map \$upstream_http_referrer_policy \$\w+ \{\s*"" "([^"]+)";', text)
    assert referrer is not None and referrer.group(1) == SECURITY_HEADERS["Referrer-Policy"]


def test_uploads_as_large_as_the_app_allows_get_through() -> None:
    limit = Settings.attachment_max_bytes + MULTIPART_OVERHEAD
    body = re.search(r"location ~ \^/api/v1/tickets/\[0-9\]\+/attachments\$ \{[^}]*client_max_body_size (\d+)m;",
                     TEMPLATE.read_text())
    assert body is not None
    assert limit <= int(body.group(1)) * 1024 * 1024 <= limit + 2 * 1024 * 1024


def test_the_operators_values_fill_every_placeholder_and_nothing_else() -> None:
    render = renderer()
    values = render.parse_values(SITE_VALUES.read_text())
    site = render.render(TEMPLATE.read_text(), values)
    assert renderer().PLACEHOLDER.search(site) is None
    assert "server_name helpdesk.example.org;" in site
    assert "return 301 https://helpdesk.example.org$request_uri;" in site


@pytest.mark.parametrize(("change", "refusal"), [
    ({"SERVER_NAME": "help.example.org; include /etc/shadow"}, "SERVER_NAME="),
    ({"WEB_ROOT": "/srv/web dist"}, "WEB_ROOT="),
    ({"UPSTREAM": "127.0.0.1:8080}"}, "UPSTREAM="),
    ({"SERVER_NAM": "typo.example.org"}, "not a placeholder"),
])
def test_the_renderer_refuses_values_that_would_change_the_configuration(change: dict[str, str],
                                                                         refusal: str) -> None:
    render = renderer()
    values = {**render.parse_values(SITE_VALUES.read_text()), **change}
    with pytest.raises(render.RenderError, match=re.escape(refusal)):
        render.render(TEMPLATE.read_text(), values)


def test_the_renderer_says_which_value_is_missing(tmp_path: Path) -> None:
    values = tmp_path / "site.env"
    values.write_text("\n".join(line for line in SITE_VALUES.read_text().splitlines()
                                if not line.startswith("TLS_CERTIFICATE_KEY=")))
    script = TEMPLATE.with_name("render_site.py")
    result = subprocess.run([sys.executable, str(script), str(values)], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == "render_site: no value for TLS_CERTIFICATE_KEY"


def test_nginx_accepts_the_shipped_site() -> None:
    """nginx -t on the template rendered with a real certificate and folders."""
    require_nginx()
    root = make_root()
    try:
        cert, key = self_signed(root)
        (root / "data" / "attachments").mkdir(parents=True)
        (root / "dist" / "assets").mkdir(parents=True)
        nginx = Nginx(root / "nginx", site_values(root, free_port(), free_port(), 8080, cert, key,
                                                  root / "data" / "attachments", root / "dist"))
        result = nginx.test()
        assert result.returncode == 0, result.stderr
        assert "syntax is ok" in result.stderr and "test is successful" in result.stderr
        assert "[warn]" not in result.stderr, result.stderr
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- nginx in front of the app -------------------------------------------------------------------


def test_plain_http_is_redirected_to_the_one_https_address(db: Database, front: Front) -> None:
    async def scenario() -> None:
        async with front.session() as http:
            reply = await http.get(f"http://{SERVER_NAME}:{front.http_port}/tickets/5?tab=history",
                                   allow_redirects=False)
            assert reply.status == 301
            assert reply.headers["Location"] == f"{front.origin}/tickets/5?tab=history"
            # Whatever port or path was asked for, the target is the configured origin.
            reply = await http.post(f"http://{SERVER_NAME}:{front.http_port}/api/v1/auth/login",
                                    allow_redirects=False)
            assert reply.status == 301
            assert reply.headers["Location"].startswith(front.origin + "/")

    run(scenario())


def test_unknown_host_names_are_refused(front: Front) -> None:
    # Plain HTTP with a Host that is not ours, or with none: closed without an answer (444).
    assert front.raw_http(b"GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n") == b""
    assert front.raw_http(b"GET / HTTP/1.0\r\n\r\n") == b""
    assert front.raw_http(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{front.http_port}\r\n\r\n".encode()) == b""
    # TLS for another name: the handshake itself is refused, no certificate is shown.
    with pytest.raises(ssl.SSLError):
        front.raw_https(b"GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n", server_name="evil.example")
    # Our name in TLS, another in Host: closed unanswered (or 421 from newer nginx).
    answer = front.raw_https(b"GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
    assert answer == b"" or answer.startswith(b"HTTP/1.1 421"), answer[:200]


def test_every_kind_of_answer_carries_the_security_headers_once(db: Database, front: Front) -> None:
    alpha, _ = world(db)

    async def scenario() -> None:
        async with front.session() as http:
            # The HTML shell of a page address: the app's strict policy, not cached.
            reply = await http.get(f"{front.origin}/tickets/{alpha.ticket_id}")
            assert reply.status == 200
            secured(reply.headers, "the SPA shell")
            assert reply.headers["Content-Security-Policy"] == SHELL_CSP
            assert reply.headers["Cache-Control"] == "no-cache"
            # An API answer, and an API error.
            reply = await http.get(f"{front.origin}/api/v1/me",
                                   headers={"Authorization": f"Bearer {alpha.tokens['agent']}"})
            assert reply.status == 200 and (await reply.json())["email"] == "agent@alpha.example"
            secured(reply.headers, "GET /api/v1/me")
            reply = await http.get(f"{front.origin}/api/v1/no-such-route")
            assert reply.status == 404 and reply.content_type == "application/problem+json"
            secured(reply.headers, "an API 404")
            # A hashed asset, served by nginx from the build: cached for a year, typed, secured.
            reply = await http.get(f"{front.origin}/assets/app-4f2a9c1e.js")
            assert reply.status == 200 and await reply.text() == "console.log('ATUM DESK');\n"
            assert reply.headers.getall("Cache-Control") == ["public, max-age=31536000, immutable"]
            assert reply.content_type == "application/javascript"
            secured(reply.headers, "an asset")
            # A missing asset is not cached for a year.
            reply = await http.get(f"{front.origin}/assets/app-00000000.js")
            assert reply.status == 404 and "Cache-Control" not in reply.headers
            secured(reply.headers, "a missing asset")
            # Metrics are not published through the proxy.
            reply = await http.get(f"{front.origin}/metrics")
            assert reply.status == 404
            # The operator's endpoints are.
            reply = await http.get(f"{front.origin}/healthz")
            assert reply.status == 200
            secured(reply.headers, "/healthz")

    run(scenario())


def test_attachments_are_sent_by_nginx_only_after_the_app_said_yes(db: Database, front: Front) -> None:
    alpha, beta = world(db)
    content = b"%PDF-1.4 pretend\n" + bytes(range(256)) * 8000  # ~2 MB: past the 1 MiB limit of JSON bodies

    async def scenario() -> None:
        async with front.session() as http:
            agent = {"Authorization": f"Bearer {alpha.tokens['agent']}"}
            form = aiohttp.FormData(quote_fields=False)  # the name as a browser sends it
            form.add_field("file", content, filename="Rechnung März.pdf", content_type="application/pdf")
            reply = await http.post(f"{front.origin}/api/v1/tickets/{alpha.ticket_id}/attachments", data=form,
                                    headers=agent)
            assert reply.status == 201, await reply.text()
            attachment = await reply.json()
            secured(reply.headers, "the upload's answer")

            reply = await http.get(f"{front.origin}/api/v1/attachments/{attachment['id']}", headers=agent)
            assert reply.status == 200
            assert await reply.read() == content  # the app sends no bytes here: nginx did
            headers = reply.headers
            secured(headers, "a download")
            assert headers.getall("Content-Security-Policy") == ["sandbox; default-src 'none'"]
            assert headers.getall("Content-Disposition") == [
                "attachment; filename=\"Rechnung Marz.pdf\"; filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf"]
            assert headers.getall("Content-Type") == ["application/pdf"]
            assert headers.getall("Cache-Control") == ["private, no-store"]
            assert headers.getall("Cross-Origin-Resource-Policy") == ["same-origin"]
            assert "X-Accel-Redirect" not in headers

            # The same file asked for by someone who may not see it: 404 from the app, no bytes.
            reply = await http.get(f"{front.origin}/api/v1/attachments/{attachment['id']}",
                                   headers={"Authorization": f"Bearer {beta.tokens['agent']}"})
            assert reply.status == 404 and content[:8] not in await reply.read()
            # The private location itself, asked for directly: 404, however it is spelled.
            stored = relative_path(attachment["sha256"])
            for path in (f"/_attachments/{stored}", f"/_attachments//{stored}", f"/%5Fattachments/{stored}",
                         f"/_attachments/../_attachments/{stored}"):
                reply = await http.get(f"{front.origin}{path}", headers=agent)
                assert reply.status in (400, 404), path
                assert content[:8] not in await reply.read(), path

    run(scenario())


def test_bodies_past_the_limits_get_413_before_they_are_sent(db: Database, front: Front) -> None:
    alpha, _ = world(db)
    upload_limit = 26 * 1024 * 1024
    # Only the headers: nginx answers from Content-Length, before a byte of the body.
    answer = front.raw_https(
        f"POST /api/v1/tickets/{alpha.ticket_id}/attachments HTTP/1.1\r\nHost: {SERVER_NAME}\r\n"
        f"Authorization: Bearer {alpha.tokens['agent']}\r\nContent-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {upload_limit + 1}\r\nConnection: close\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"\r\nX-Frame-Options: DENY\r\n" in answer and b"\r\nStrict-Transport-Security: " in answer
    # A JSON body past 1 MiB anywhere else.
    answer = front.raw_https(
        f"POST /api/v1/tickets HTTP/1.1\r\nHost: {SERVER_NAME}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {2 * 1024 * 1024}\r\nConnection: close\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_bursts_of_sign_ins_and_api_calls_get_429(db: Database, front: Front) -> None:
    """Sign-in 1 request/s with a burst of 5, the API 10/s with a burst of 40, per client address.
    What passes is counted against what the limits allow for the time the burst really took (a
    slow machine spreads it out and earns more), so the test holds on any machine."""
    alpha, _ = world(db)

    def allowed(burst: int, rate: int, started: float) -> int:
        return burst + 1 + rate * math.ceil(time.monotonic() - started)

    async def scenario() -> None:
        async with front.session(keepalive=True) as http:
            async def sign_in() -> tuple[int, str, Any]:
                reply = await http.post(f"{front.origin}/api/v1/auth/login",
                                        json={"email": "customer@alpha.example", "password": PASSWORD},
                                        headers={"X-Requested-With": "XMLHttpRequest"})
                await reply.read()
                return reply.status, reply.content_type, reply.headers

            started = time.monotonic()
            replies = await asyncio.gather(*(sign_in() for _ in range(20)))
            statuses = [status for status, _, _ in replies]
            assert 200 in statuses and statuses.count(200) <= allowed(5, 1, started), statuses
            assert set(statuses) == {200, 429}, statuses
            for status, content_type, headers in replies:
                if status == 429:
                    assert content_type == "text/html"  # nginx's answer: the app never saw it
                    secured(headers, "nginx's 429")

            agent = {"Authorization": f"Bearer {alpha.tokens['agent']}"}

            async def me() -> int:
                reply = await http.get(f"{front.origin}/api/v1/me", headers=agent)
                await reply.read()
                return reply.status

            started = time.monotonic()
            statuses = list(await asyncio.gather(*(me() for _ in range(150))))
            assert statuses.count(200) >= 41, statuses
            assert statuses.count(200) <= allowed(40, 10, started), statuses
            assert set(statuses) == {200, 429}, statuses

    run(scenario())


def test_live_updates_reach_a_signed_in_tab_through_nginx(db: Database, front: Front) -> None:
    alpha, _ = world(db)

    async def scenario() -> None:
        async with front.session() as http:
            browser = {"X-Requested-With": "XMLHttpRequest", "Origin": front.origin}
            reply = await http.post(f"{front.origin}/api/v1/auth/login", headers=browser,
                                    json={"email": "agent@alpha.example", "password": PASSWORD})
            assert reply.status == 200, await reply.text()
            async with http.ws_connect(f"{front.origin}/api/v1/live", origin=front.origin, heartbeat=None) as ws:
                reply = await http.post(f"{front.origin}/api/v1/tickets",
                                        headers={"Authorization": f"Bearer {alpha.tokens['customer']}"},
                                        json={"subject": "Through the proxy", "description": "Live?"})
                assert reply.status == 201, await reply.text()
                ticket = await reply.json()
                while True:
                    message = await asyncio.wait_for(ws.receive(), timeout=30)
                    assert message.type == aiohttp.WSMsgType.TEXT, message
                    event = json.loads(message.data)
                    if event.get("kind") == "ticket.created" and event.get("ticket_id") == ticket["id"]:
                        break
            # A cookie-authenticated upgrade from another origin is still refused behind the proxy.
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(f"{front.origin}/api/v1/live", origin="https://evil.example")
            assert refused.value.status == 403

    run(scenario())


def test_the_app_learns_the_clients_address_and_scheme_from_nginx_only(db: Database, front: Front) -> None:
    """nginx tells the app who connected (X-Forwarded-For) and that it was HTTPS; what a client
    writes in those headers itself is not passed on."""
    world(db)

    async def scenario() -> None:
        async with front.session() as http:
            reply = await http.get(f"{front.origin}/api/v1/forwarding-probe",
                                   headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "http"})
            assert reply.status == 404
            # A cookie sign-in from our HTTPS origin is accepted: the app knows the scheme was https.
            reply = await http.post(f"{front.origin}/api/v1/auth/login",
                                    headers={"X-Requested-With": "XMLHttpRequest", "Origin": front.origin},
                                    json={"email": "agent@alpha.example", "password": PASSWORD})
            assert reply.status == 200, await reply.text()
            assert "secure" in (reply.headers.get("Set-Cookie") or "").lower()

    run(scenario())
    line = json.loads(front.app.wait_for("/api/v1/forwarding-probe"))
    assert line["client"] == "127.0.0.1"  # nginx's view of the client, not the forged 203.0.113.9


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_tls_is_1_2_or_1_3_with_forward_secret_aead_ciphers_only(front: Front) -> None:
    alpn: list[str | None] = []

    def handshake(context: ssl.SSLContext) -> tuple[str | None, tuple[str, str, int] | None]:
        with socket.create_connection(("127.0.0.1", front.https_port), timeout=30) as raw, \
                context.wrap_socket(raw, server_hostname=SERVER_NAME) as tls:
            alpn.append(tls.selected_alpn_protocol())
            return tls.version(), tls.cipher()

    context = front.ssl_context()
    context.set_alpn_protocols(["h2", "http/1.1"])
    assert handshake(context)[0] == "TLSv1.3"
    assert alpn == ["h2"]  # HTTP/2 offered to browsers
    context = front.ssl_context()
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    version, cipher = handshake(context)
    assert version == "TLSv1.2" and cipher is not None
    assert cipher[0].startswith("ECDHE-") and ("GCM" in cipher[0] or "CHACHA20" in cipher[0]), cipher
    # A client offering only CBC ciphers, or only TLS 1.1, gets no connection.
    context = front.ssl_context()
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA")
    with pytest.raises(ssl.SSLError):
        handshake(context)
    context = front.ssl_context()
    context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("ALL:@SECLEVEL=0")
    with pytest.raises(ssl.SSLError):
        handshake(context)
