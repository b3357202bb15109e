"""Admin routes for the organization's background jobs (mail, polls): the list, and a retry of a
dead one. The rules are in sql/61_jobs.sql: admins only, their organization only, never a payload."""

from __future__ import annotations

from aiohttp import web

from api.db import call, q
from api.web_io import json_text, path_id, query_param


async def jobs_list(request: web.Request) -> web.Response:
    """GET /api/v1/admin/jobs?state=&kind=&limit=&after= (admin): newest first."""
    return json_text(await call(request, q("jobs_list"), [query_param(request)], read_only=True))


async def job_retry(request: web.Request) -> web.Response:
    """POST /api/v1/admin/jobs/{id}/retry (admin): a dead or failed job is queued again now."""
    return json_text(await call(request, q("job_retry"), [path_id(request)]))


ID = r"{id:\d+}"
ROUTES: list[web.RouteDef] = [
    web.get("/api/v1/admin/jobs", jobs_list, allow_head=False),
    web.post(f"/api/v1/admin/jobs/{ID}/retry", job_retry),
]
