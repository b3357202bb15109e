"""What every request goes through, in one middleware: a request id, who the client is (address,
HTTPS, token), the same-origin and content-type checks, the error mapping, security headers, the
access log and the metrics."""

from __future__ import annotations

import ipaddress
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

import psycopg
from aiohttp import web

from api import metrics
from api.context import AUTH_KIND, CLIENT_IP, IS_HTTPS, POOL, REQUEST_ID, SESSION_COOKIE, SETTINGS, TOKEN
from api.errors import Problem, database_problem, load_constraint_fields, problem_response
from atumdesk.settings import Settings

log = logging.getLogger("atumdesk.http")
access_log = logging.getLogger("atumdesk.access")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Routes that take a multipart upload instead of JSON (api/attachments.py marks them).
MULTIPART_ROUTES: set[str] = set()


def _address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None


def _trusted(settings: Settings, address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
    return address is not None and any(address in network for network in settings.trusted_proxies)


def client_of(request: web.Request, settings: Settings) -> tuple[str | None, bool]:
    """The client's address and whether it came over HTTPS. X-Forwarded-For and -Proto count only
    when the peer is a configured proxy; then the address is the rightmost one that is not a proxy."""
    peer = _address(request.remote)
    https = request.scheme == "https"
    if not _trusted(settings, peer):
        return (str(peer) if peer else None), https
    client = peer
    for hop in reversed(request.headers.get("X-Forwarded-For", "").split(",")):
        address = _address(hop)
        if address is None:
            break  # garbage: stop believing the chain here
        client = address
        if not _trusted(settings, address):
            break
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return (str(client) if client else None), https or proto == "https"


def _token(request: web.Request) -> tuple[str | None, str | None]:
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Problem(401, "the Authorization header must be 'Bearer <token>'")
        return value.strip(), "bearer"
    cookie = request.cookies.get(SESSION_COOKIE)
    return (cookie, "cookie") if cookie else (None, None)


def _check_origin(request: web.Request) -> None:
    """A browser-sent request that changes state must come from our own pages: cookies ride along
    with cross-site requests, so the custom header (which a cross-site page cannot add without a
    CORS grant we never give) and Origin / Sec-Fetch-Site (where the browser sends them) prove it.
    Requests with a bearer token carry no ambient credentials and need no proof."""
    if request.method in SAFE_METHODS or request[AUTH_KIND] == "bearer":
        return
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        raise Problem(403, "cross-site request refused")
    origin = request.headers.get("Origin")
    if origin is not None:
        expected = f"{'https' if request[IS_HTTPS] else 'http'}://{request.host}"
        if origin.lower() != expected.lower():
            raise Problem(403, "cross-origin request refused")
    if not request.headers.get("X-Requested-With"):
        raise Problem(403, "requests that change data must send the header X-Requested-With "
                           "(or authenticate with a bearer token)")


def _check_content_type(request: web.Request) -> None:
    if request.method in SAFE_METHODS or request.method == "DELETE":
        return
    has_body = (request.content_length or 0) > 0 or "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if not has_body:
        return
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else ""
    wanted = "multipart/form-data" if route in MULTIPART_ROUTES else "application/json"
    if request.content_type != wanted:
        raise Problem(415, f"the request body must be {wanted}, not {request.content_type or 'unspecified'}")


def _route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id, client, checks, errors as problem+json, headers, access log, metrics."""
    started = time.perf_counter()
    settings = request.app[SETTINGS]
    request_id = uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    client_ip, is_https = client_of(request, settings)
    request[CLIENT_IP] = client_ip
    request[IS_HTTPS] = is_https
    request[TOKEN] = request[AUTH_KIND] = None
    response: web.StreamResponse
    try:
        token, auth_kind = _token(request)
        request[TOKEN] = token
        request[AUTH_KIND] = auth_kind
        if request.path.startswith("/api/"):
            _check_origin(request)
            _check_content_type(request)
        response = await handler(request)
    except Problem as problem:
        response = problem_response(problem.status, problem.detail, field=problem.field, headers=problem.headers,
                                    request_id=request_id)
    except psycopg.Error as exc:
        if exc.diag.constraint_name:
            await load_constraint_fields(request.app[POOL])
        mapped = database_problem(exc, request_id)
        if mapped is None:
            log.exception("database error in %s %s (request %s)", request.method, request.path, request_id)
            mapped = problem_response(500, "internal error", request_id=request_id)
        response = mapped
    except web.HTTPException as exc:
        if exc.status >= 400:
            response = problem_response(exc.status, exc.reason, request_id=request_id,
                                        headers={k: v for k, v in exc.headers.items() if k in ("Allow",)})
        else:
            response = exc  # redirects and the like
    except Exception:
        log.exception("unexpected error in %s %s (request %s)", request.method, request.path, request_id)
        response = problem_response(500, "internal error", request_id=request_id)
    if not response.prepared:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers["X-Request-Id"] = request_id
    seconds = time.perf_counter() - started
    route = _route_name(request)
    metrics.observe(request.method, route, response.status, seconds)
    access_log.info("request", extra={"request_id": request_id, "method": request.method, "path": request.path,
                                      "route": route, "status": response.status,
                                      "duration_ms": round(seconds * 1000, 2), "client": request[CLIENT_IP]})
    return response
