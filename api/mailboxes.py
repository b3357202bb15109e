"""Admin routes for mailboxes. The only thing done in Python is encrypting the password (the key
never reaches the database); the rest is sql/58_api_mailboxes.sql."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from psycopg.types.json import Jsonb

from api.context import SETTINGS
from api.db import call, q
from api.errors import Problem
from api.web_io import json_body, json_text, path_id, query_param
from atumdesk import secrets

CONTEXT = "mailbox:imap_password"


async def _password(request: web.Request, body: dict[str, Any]) -> tuple[bytes | None, bool]:
    """Takes "password" out of the body: (encrypted value or None, whether to clear it)."""
    if "password" not in body:
        return None, False
    password = body.pop("password")
    if password is None:
        return None, True
    if not isinstance(password, str) or not password or len(password) > 1024 or "\x00" in password:
        raise Problem(422, "password must be a non-empty string of at most 1024 characters", field="password")
    key = await asyncio.to_thread(secrets.load_key, request.app[SETTINGS])
    return secrets.encrypt(key, password, CONTEXT), False


async def mailbox_list(request: web.Request) -> web.Response:
    """GET /api/v1/admin/mailboxes (admin)."""
    return json_text(await call(request, q("mailbox_list"), [query_param(request)], read_only=True))


async def mailbox_get(request: web.Request) -> web.Response:
    """GET /api/v1/admin/mailboxes/{id} (admin)."""
    return json_text(await call(request, q("mailbox_get"), [path_id(request)], read_only=True))


async def mailbox_create(request: web.Request) -> web.Response:
    """POST /api/v1/admin/mailboxes (admin): 201; the password is write-only."""
    body = await json_body(request)
    encrypted, clear = await _password(request, body)
    return json_text(await call(request, q("mailbox_save"), [None, Jsonb(body), encrypted, clear]), status=201)


async def mailbox_update(request: web.Request) -> web.Response:
    """PATCH /api/v1/admin/mailboxes/{id} (admin): the fields present; "password": null removes it."""
    mailbox = path_id(request)
    body = await json_body(request)
    encrypted, clear = await _password(request, body)
    return json_text(await call(request, q("mailbox_save"), [mailbox, Jsonb(body), encrypted, clear]))


async def mailbox_delete(request: web.Request) -> web.Response:
    """DELETE /api/v1/admin/mailboxes/{id} (admin)."""
    return json_text(await call(request, q("mailbox_delete"), [path_id(request)]))


async def mailbox_test(request: web.Request) -> web.Response:
    """POST /api/v1/admin/mailboxes/{id}/test (admin): 202; the worker tries to log in and open the
    folder, and the outcome appears in the mailbox's health (no IMAP in the HTTP process)."""
    return json_text(await call(request, q("mailbox_test"), [path_id(request)]), status=202)


ID = r"{id:\d+}"
ROUTES: list[web.RouteDef] = [
    web.get("/api/v1/admin/mailboxes", mailbox_list, allow_head=False),
    web.post("/api/v1/admin/mailboxes", mailbox_create),
    web.get(f"/api/v1/admin/mailboxes/{ID}", mailbox_get, allow_head=False),
    web.patch(f"/api/v1/admin/mailboxes/{ID}", mailbox_update),
    web.delete(f"/api/v1/admin/mailboxes/{ID}", mailbox_delete),
    web.post(f"/api/v1/admin/mailboxes/{ID}/test", mailbox_test),
]
