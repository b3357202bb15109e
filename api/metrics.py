"""Prometheus metrics of the HTTP process: requests by route and status, latency, pool usage."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from api.context import POOL

REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter("atumdesk_http_requests", "HTTP requests answered, by method, route and status.",
                   ["method", "route", "status"], registry=REGISTRY)
LATENCY = Histogram("atumdesk_http_request_duration_seconds", "Time to answer an HTTP request, by route.",
                    ["route"], registry=REGISTRY,
                    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
POOL_SIZE = Gauge("atumdesk_db_pool_connections", "Connections held by the database pool.", registry=REGISTRY)
POOL_AVAILABLE = Gauge("atumdesk_db_pool_available", "Idle connections in the database pool.", registry=REGISTRY)
POOL_WAITING = Gauge("atumdesk_db_pool_waiting", "Requests waiting for a database connection.", registry=REGISTRY)


def observe(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request."""
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(route).observe(seconds)


async def metrics(request: web.Request) -> web.Response:
    """GET /metrics: the Prometheus text format."""
    stats = request.app[POOL].get_stats()
    POOL_SIZE.set(stats.get("pool_size", 0))
    POOL_AVAILABLE.set(stats.get("pool_available", 0))
    POOL_WAITING.set(stats.get("requests_waiting", 0))
    response = web.Response(body=generate_latest(REGISTRY))
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response
