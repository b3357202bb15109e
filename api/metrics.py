"""Prometheus metrics of the HTTP process: requests by route and status, latency, pool usage."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from api.context import POOL
from api.db import q

log = logging.getLogger("atumdesk.http")

REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter("atumdesk_http_requests", "HTTP requests answered, by method, route and status.",
                   ["method", "route", "status"], registry=REGISTRY)
LATENCY = Histogram("atumdesk_http_request_duration_seconds", "Time to answer an HTTP request, by route.",
                    ["route"], registry=REGISTRY,
                    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
POOL_SIZE = Gauge("atumdesk_db_pool_connections", "Connections held by the database pool.", registry=REGISTRY)
POOL_AVAILABLE = Gauge("atumdesk_db_pool_available", "Idle connections in the database pool.", registry=REGISTRY)
POOL_WAITING = Gauge("atumdesk_db_pool_waiting", "Requests waiting for a database connection.", registry=REGISTRY)
# Backups (sql/76_backups.sql): read from the database at each scrape, so every server process
# reports the same values, whoever ran the backup (the worker, or `atumdesk backup`).
BACKUP_LAST_SUCCESS = Gauge("atumdesk_backup_last_success_timestamp_seconds",
                            "When the last successful backup finished (Unix time; 0: never).", registry=REGISTRY)
BACKUP_LAST_SIZE = Gauge("atumdesk_backup_last_size_bytes", "Size of the last successful backup archive.",
                         registry=REGISTRY)
BACKUP_VERIFIED = Gauge("atumdesk_backup_last_verification_ok",
                        "1 when the last verified backup restored with equal rows and checksums, 0 when its "
                        "verification failed (ALERT), -1 when none was verified yet.", registry=REGISTRY)
BACKUP_ALERT = Gauge("atumdesk_backup_verification_alert",
                     "1 while the latest backup verification failed: alert on this.", registry=REGISTRY)
WAL_LAST_ARCHIVED = Gauge("atumdesk_wal_last_archived_timestamp_seconds",
                          "When PostgreSQL last archived a WAL segment (0: never, or archiving is off).",
                          registry=REGISTRY)
BACKUP_STATUS_UP = Gauge("atumdesk_backup_status_up", "1 when the backup facts could be read from the database.",
                         registry=REGISTRY)


def observe(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request."""
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(route).observe(seconds)


def _timestamp(value: str | None) -> float:
    return datetime.fromisoformat(value).timestamp() if value else 0.0


async def backup_status(request: web.Request) -> dict[str, Any] | None:
    """api.backup_status() (operator facts, no tenant data); None when the database cannot say."""
    try:
        async with request.app[POOL].connection(timeout=2) as conn:
            cur = await conn.execute(q("backup_status"))
            row = await cur.fetchone()
    except Exception as exc:  # the metrics of the process itself are still worth answering
        log.warning("cannot read the backup status: %s", exc)
        return None
    return json.loads(row[0]) if row and row[0] else None  # the pool hands jsonb over as text


async def _backup_facts(request: web.Request) -> None:
    facts = await backup_status(request)
    BACKUP_STATUS_UP.set(0 if facts is None else 1)
    if facts is None:
        return
    BACKUP_LAST_SUCCESS.set(_timestamp(facts.get("last_success_at")))
    BACKUP_LAST_SIZE.set(facts.get("last_success_size_bytes") or 0)
    verification = facts.get("last_verification")
    BACKUP_VERIFIED.set(1 if verification == "passed" else 0 if verification == "failed" else -1)
    BACKUP_ALERT.set(1 if facts.get("alert") else 0)
    WAL_LAST_ARCHIVED.set(_timestamp((facts.get("wal_archiving") or {}).get("last_archived_at")))


async def metrics(request: web.Request) -> web.Response:
    """GET /metrics: the Prometheus text format."""
    stats = request.app[POOL].get_stats()
    POOL_SIZE.set(stats.get("pool_size", 0))
    POOL_AVAILABLE.set(stats.get("pool_available", 0))
    POOL_WAITING.set(stats.get("requests_waiting", 0))
    await _backup_facts(request)
    response = web.Response(body=generate_latest(REGISTRY))
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response
