"""The route table of the HTTP API, in one place, and the ticket handlers.

Each handler is the same few lines: read the path id, the JSON body or the query string, make one
``api.*`` call (api/db.py) and return its JSON unchanged. The database decides everything else.
"""

from __future__ import annotations

from aiohttp import web

from api import admin, attachments, auth, jobs_admin, kb, live, mail_templates, mailboxes, openapi, reports
from api.db import call, q
from api.web_io import body_param, header_text, json_text, path_id, query_param


async def ticket_create(request: web.Request) -> web.Response:
    """POST /api/v1/tickets (Idempotency-Key honoured): 201."""
    return json_text(await call(request, q("ticket_create"),
                                [await body_param(request), header_text(request, "Idempotency-Key")]), status=201)


async def ticket_list(request: web.Request) -> web.Response:
    """GET /api/v1/tickets?status=&priority=&assignee_id=&q=&limit=&after="""
    return json_text(await call(request, q("ticket_list"), [query_param(request)], read_only=True))


async def ticket_get(request: web.Request) -> web.Response:
    """GET /api/v1/tickets/{id}"""
    return json_text(await call(request, q("ticket_get"), [path_id(request)], read_only=True))


async def ticket_update(request: web.Request) -> web.Response:
    """PATCH /api/v1/tickets/{id} {priority?, category_id?, team_id?, tags?} (staff)."""
    return json_text(await call(request, q("ticket_update"), [path_id(request), await body_param(request)]))


async def ticket_transition(request: web.Request) -> web.Response:
    """POST /api/v1/tickets/{id}/transition {status, reason?}: 409 for an illegal move."""
    return json_text(await call(request, q("ticket_move"), [path_id(request), await body_param(request)]))


async def ticket_assign(request: web.Request) -> web.Response:
    """POST /api/v1/tickets/{id}/assign {assignee_id}"""
    return json_text(await call(request, q("ticket_assign"), [path_id(request), await body_param(request)]))


async def comment_list(request: web.Request) -> web.Response:
    """GET /api/v1/tickets/{id}/comments?limit=&after="""
    return json_text(await call(request, q("comment_list"), [path_id(request), query_param(request)],
                                read_only=True))


async def comment_create(request: web.Request) -> web.Response:
    """POST /api/v1/tickets/{id}/comments {body, internal?} (Idempotency-Key honoured): 201."""
    return json_text(await call(request, q("comment_create"),
                                [path_id(request), await body_param(request), header_text(request, "Idempotency-Key")]),
                     status=201)


async def ticket_history(request: web.Request) -> web.Response:
    """GET /api/v1/tickets/{id}/history?limit=&after= (staff)."""
    return json_text(await call(request, q("ticket_history"), [path_id(request), query_param(request)],
                                read_only=True))


async def triage_inbox(request: web.Request) -> web.Response:
    """GET /api/v1/internal/tickets/new?limit=&after= (manager)."""
    return json_text(await call(request, q("triage_inbox"), [query_param(request)], read_only=True))


async def ticket_accept(request: web.Request) -> web.Response:
    """POST /api/v1/internal/tickets/{id}/accept {priority?, assignee_id?} (manager): the SLA clock starts."""
    return json_text(await call(request, q("ticket_accept"), [path_id(request), await body_param(request)]))


async def ticket_reject(request: web.Request) -> web.Response:
    """POST /api/v1/internal/tickets/{id}/reject {reason} (manager)."""
    return json_text(await call(request, q("ticket_reject"), [path_id(request), await body_param(request)]))


ID = r"{id:\d+}"
ROUTES: list[web.RouteDef] = [
    web.post("/api/v1/auth/login", auth.login),
    web.post("/api/v1/auth/logout", auth.logout),
    web.post("/api/v1/auth/password-reset", auth.password_reset_request),
    web.post("/api/v1/auth/password-reset/confirm", auth.redeem),
    web.post("/api/v1/auth/invitation/accept", auth.redeem),
    web.get("/api/v1/me", auth.me, allow_head=False),
    web.post("/api/v1/tickets", ticket_create),
    web.get("/api/v1/tickets", ticket_list, allow_head=False),
    web.get(f"/api/v1/tickets/{ID}", ticket_get, allow_head=False),
    web.patch(f"/api/v1/tickets/{ID}", ticket_update),
    web.post(f"/api/v1/tickets/{ID}/transition", ticket_transition),
    web.post(f"/api/v1/tickets/{ID}/assign", ticket_assign),
    web.get(f"/api/v1/tickets/{ID}/comments", comment_list, allow_head=False),
    web.post(f"/api/v1/tickets/{ID}/comments", comment_create),
    web.get(f"/api/v1/tickets/{ID}/attachments", attachments.attachment_list, allow_head=False),
    web.post(f"/api/v1/tickets/{ID}/attachments", attachments.upload),
    web.get(f"/api/v1/attachments/{ID}", attachments.download, allow_head=False),
    web.get(f"/api/v1/tickets/{ID}/history", ticket_history, allow_head=False),
    web.get("/api/v1/internal/tickets/new", triage_inbox, allow_head=False),
    web.post(f"/api/v1/internal/tickets/{ID}/accept", ticket_accept),
    web.post(f"/api/v1/internal/tickets/{ID}/reject", ticket_reject),
    web.post("/api/v1/admin/users/invite", auth.user_invite),
    web.get("/api/v1/admin/api-tokens", auth.api_token_list, allow_head=False),
    web.post("/api/v1/admin/api-tokens", auth.api_token_create),
    web.delete(f"/api/v1/admin/api-tokens/{ID}", auth.api_token_revoke),
    web.get("/api/v1/openapi.json", openapi.document, allow_head=False),
    web.get("/api/v1/live", live.live, allow_head=False),  # the WebSocket of live updates
]
ROUTES += admin.ROUTES  # users, teams, categories, SLA policies, calendars, organization
ROUTES += mailboxes.ROUTES
ROUTES += jobs_admin.ROUTES  # the organization's background jobs
ROUTES += mail_templates.ROUTES  # notification templates and the mail outbox
ROUTES += kb.ROUTES  # knowledge base: articles, categories, search, suggestions
ROUTES += reports.ROUTES  # reports as JSON or CSV, and the navigation counters
