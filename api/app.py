"""The aiohttp application: factory, connection pool, operator routes and the placeholder page.

Every route follows one path: authenticate, one transaction, set the request context through the
database, call one ``api.*`` function, return its JSON. The API routes arrive with their issue;
this module holds the factory, the pool and the operator endpoints.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from atumdesk.migrate import migration_ids
from atumdesk.queries import query
from atumdesk.settings import Settings

log = logging.getLogger("atumdesk.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", AsyncConnectionPool)
QUERIES = Path(__file__).with_name("queries.sql")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>ATUM DESK</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1d2433}
code{background:#eef1f6;padding:.1rem .3rem;border-radius:.2rem}</style></head>
<body><h1>ATUM DESK</h1><p>The service desk is running. The web app is being built; meanwhile the
database, the command line (<code>atumdesk --help</code>) and the operator endpoints
<a href="/healthz">/healthz</a> and <a href="/readyz">/readyz</a> are live.</p></body></html>
"""

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


async def index(request: web.Request) -> web.Response:
    """The placeholder page (the single-page app replaces it)."""
    return web.Response(text=PAGE, content_type="text/html")


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers. Deliberately does not touch the database."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: the database answers and every migration of this checkout is applied."""
    checks: dict[str, object] = {}
    try:
        async with request.app[POOL].connection(timeout=5) as conn:
            cur = await conn.execute(query("health", QUERIES))
            row = await cur.fetchone()
        facts = row[0] if row else {}
        missing = sorted(set(migration_ids()) - set(facts.get("migrations", [])))
        checks = {"database": "ok", "migrations": "ok" if not missing else f"pending: {', '.join(missing)}",
                  "cron_heartbeat_at": facts.get("cron_heartbeat_at")}
        ready = not missing
    except Exception as exc:  # any failure means not ready; the reason goes to the operator
        log.warning("readiness check failed: %s", exc)
        checks = {"database": f"unreachable: {type(exc).__name__}"}
        ready = False
    return web.json_response({"status": "ready" if ready else "not ready", "checks": checks},
                             status=200 if ready else 503)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Headers every response carries, also behind no proxy."""
    response = await handler(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


async def _pool(app: web.Application) -> AsyncIterator[None]:
    pool = AsyncConnectionPool(app[SETTINGS].database_url, open=False, min_size=1, max_size=10,
                               kwargs={"application_name": "atumdesk-http"})
    await pool.open(wait=False)
    app[POOL] = pool
    yield
    await pool.close()


def create_app(settings: Settings) -> web.Application:
    """The application factory."""
    app = web.Application(middlewares=[security_headers])
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_pool)
    app.router.add_get("/", index)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


def serve(settings: Settings, *, host: str, port: int) -> None:
    """Run the HTTP server until SIGINT or SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    web.run_app(create_app(settings), host=host, port=port, print=lambda msg: log.info("%s", msg.strip()),
                access_log=log)
