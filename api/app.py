"""The aiohttp application: the factory, the pool's life, the operator endpoints; the web app is api/web_app.py.

Every API route follows one path (api/db.py): authenticate, one transaction, the request context
set through the database, one ``api.*`` call, its JSON returned as it is. The route table is
api/routes.py; what every request goes through is api/middleware.py.
"""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from aiohttp import web
from psycopg_pool import PoolTimeout

from api import live, logs, metrics, web_app
from api.context import POOL, SETTINGS
from api.db import make_pool, q, unreachable_reason
from api.middleware import middleware
from api.routes import ROUTES
from atumdesk.migrate import migration_ids
from atumdesk.settings import Settings

log = logging.getLogger("atumdesk.http")

async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers. Deliberately does not touch the database."""
    return web.json_response({"status": "ok"})


CRON_LATE = timedelta(minutes=5)


def _cron_check(heartbeat: str | None, now: str | None) -> tuple[bool, str]:
    """Whether pg_cron is running this database's jobs: its heartbeat job runs every minute. No
    heartbeat yet is fine (a database migrated a moment ago; `atumdesk migrate` refuses to finish
    without pg_cron); a heartbeat that stopped means the scheduler is gone."""
    if heartbeat is None or now is None:
        return True, "no run recorded yet (the heartbeat job runs every minute)"
    late = datetime.fromisoformat(now) - datetime.fromisoformat(heartbeat)
    if late > CRON_LATE:
        return False, f"no heartbeat for {int(late.total_seconds() // 60)} minutes: is pg_cron running?"
    return True, "ok"


async def readyz(request: web.Request) -> web.Response:
    """Readiness: the database answers, every migration of this checkout is applied, and pg_cron
    has not stopped running this database's jobs."""
    checks: dict[str, object] = {}
    try:
        async with request.app[POOL].connection(timeout=5) as conn:
            cur = await conn.execute(q("health"))
            row = await cur.fetchone()
        facts = json.loads(row[0]) if row else {}  # the pool hands jsonb over as text (api/db.py)
        missing = sorted(set(migration_ids()) - set(facts.get("migrations", [])))
        cron_ok, cron = _cron_check(facts.get("cron_heartbeat_at"), facts.get("database_time"))
        checks = {"database": "ok", "migrations": "ok" if not missing else f"pending: {', '.join(missing)}",
                  "pg_cron": cron, "cron_heartbeat_at": facts.get("cron_heartbeat_at")}
        ready = not missing and cron_ok
    except Exception as exc:  # any failure means not ready; the reason goes to the operator
        log.warning("readiness check failed: %s", exc)
        checks = {"database": f"unreachable: {type(exc).__name__}"}
        ready = False
    if ready:
        checks["backups"] = _backup_check(await metrics.backup_status(request))
    return web.json_response({"status": "ready" if ready else "not ready", "checks": checks},
                             status=200 if ready else 503)


def _backup_check(facts: dict[str, object] | None) -> str:
    """The backups in one line for operators. Informational: a failed backup verification is an
    alert (also on /metrics), but it does not take the server out of service."""
    if facts is None:
        return "unknown: the backup status could not be read"
    if facts.get("alert"):
        return f"ALERT: the backup verification of {facts.get('last_verification_failed_at')} failed (atum.backup_runs)"
    if not facts.get("last_success_at"):
        return "no backup yet (the backup job runs daily; `atumdesk backup` runs one now)"
    return f"ok: last backup at {facts.get('last_success_at')}, verification {facts.get('last_verification')}"


async def _pool(app: web.Application) -> AsyncIterator[None]:
    # open(wait=False): the server starts while PostgreSQL is still down and the pool keeps trying;
    # /readyz says "not ready" meanwhile, and requests get 503 instead of a traceback.
    pool = make_pool(app[SETTINGS])
    await pool.open(wait=False)
    app[POOL] = pool
    try:
        await pool.wait(timeout=5)
    except PoolTimeout:
        log.warning("PostgreSQL is not reachable (%s); serving 503 and retrying until it is",
                    await unreachable_reason(app[SETTINGS]))
    yield
    await pool.close()


def create_app(settings: Settings) -> web.Application:
    """The application factory."""
    app = web.Application(middlewares=[middleware], client_max_size=1024 * 1024)
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_pool)
    live.setup(app)  # after the pool: the LISTEN task and the open sockets (api/live.py)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics.metrics)
    app.add_routes(ROUTES)
    web_app.setup(app)  # last: its page route takes every GET left
    return app


async def _freeze_heap(app: web.Application) -> None:
    # Everything alive once the app has started (modules, routes, the OpenAPI document, the pool)
    # lives as long as the process: kept out of the collector's full passes, which otherwise walk
    # it all again and again under load.
    gc.freeze()


def serve(settings: Settings, *, host: str, port: int) -> None:
    """Run the HTTP server until SIGINT or SIGTERM; then stop accepting connections and let the
    requests in flight finish (up to 30 seconds) before closing the pool."""
    logs.configure()
    app = create_app(settings)
    app.on_startup.append(_freeze_heap)
    web.run_app(app, host=host, port=port, print=lambda msg: log.info("%s", msg.strip()),
                access_log=None, shutdown_timeout=30)
