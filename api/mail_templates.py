"""Admin routes for notification mail: the organization's own templates, and the outbox.

The rules are in sql/63_mail_outbox.sql (admins only, their organization only, never a secret).
What is done here in Python is the one check SQL cannot make: whether a template compiles and
renders in the jinja2 sandbox (jobs/mail_render.py). That is input validation — like a JSON body
that does not parse — so a broken template is a 422 naming the part (subject, body_text,
body_html), and nothing is saved. The sandbox runs in a thread: a template is the admin's code.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from aiohttp import web
from psycopg.types.json import Jsonb

from api.db import call, q
from api.errors import Problem
from api.web_io import json_body, json_text, only_fields, query_param
from jobs import mail_render

#: The longest template the table accepts per part (atum.mail_templates' checks): longer is a 422
#: before any compiling.
MAX_LENGTH = {"subject": 2000, "body_text": 100000, "body_html": 200000}
_KIND = re.compile(r"[A-Za-z0-9_.-]{1,100}")


def _kind(request: web.Request) -> str:
    """The kind in the path; the database answers 404 for an unknown one (a name that could not
    be one is answered the same way here, before it reaches the database)."""
    kind = request.match_info.get("kind", "")
    if not _KIND.fullmatch(kind):
        raise Problem(404, "no such mail template", field="kind")
    return kind


async def template_list(request: web.Request) -> web.Response:
    """GET /api/v1/admin/mail-templates (admin): every kind, with the organization's templates if any."""
    return json_text(await call(request, q("mail_template_list"), [], read_only=True))


async def template_get(request: web.Request) -> web.Response:
    """GET /api/v1/admin/mail-templates/{kind} (admin): the organization's templates of the kind and
    the built-in defaults (a starting point for writing one's own)."""
    kind = _kind(request)
    answer: dict[str, Any] = json.loads(await call(request, q("mail_template_get"), [kind], read_only=True))
    answer["defaults"] = {part: mail_render.default_source(kind, part) for part in mail_render.PARTS}
    return web.json_response(answer)


async def template_put(request: web.Request) -> web.Response:
    """PUT /api/v1/admin/mail-templates/{kind} {subject?, body_text?, body_html?} (admin): parts
    left out or null use the default. Each part is compiled and tried in the sandbox first."""
    kind = _kind(request)
    # Who may, and whether the kind exists, before the body is judged (403 and 404 come first).
    await call(request, q("mail_template_get"), [kind], read_only=True)
    body = await json_body(request)
    only_fields(body, set(mail_render.PARTS))
    for part in mail_render.PARTS:
        source = body.get(part)
        if source is None:
            continue
        if not isinstance(source, str):
            raise Problem(422, f"{part} must be a string (or null for the default)", field=part)
        if len(source) > MAX_LENGTH[part]:
            raise Problem(422, f"{part} must be at most {MAX_LENGTH[part]} characters", field=part)
        if not _printable_text(source):
            raise Problem(422, f"{part} must be Unicode text without NUL or control characters", field=part)
        if source.strip():
            error = await asyncio.to_thread(mail_render.check, kind, part, source)
            if error:
                raise Problem(422, f"{part} is not a usable template: {error}", field=part)
    return json_text(await call(request, q("mail_template_put"), [kind, Jsonb(body)]))


def _printable_text(source: str) -> bool:
    """Text with line breaks and tabs is fine; other control characters (and lone surrogates,
    which no text parameter can carry) are not."""
    try:
        source.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return all(c.isprintable() or c in "\n\r\t" for c in source)


async def template_delete(request: web.Request) -> web.Response:
    """DELETE /api/v1/admin/mail-templates/{kind} (admin): back to the defaults."""
    return json_text(await call(request, q("mail_template_delete"), [_kind(request)]))


async def outbox_list(request: web.Request) -> web.Response:
    """GET /api/v1/admin/mail-outbox?state=&limit=&after= (admin): notifications, newest first."""
    return json_text(await call(request, q("mail_outbox_list"), [query_param(request)], read_only=True))


ROUTES: list[web.RouteDef] = [
    web.get("/api/v1/admin/mail-templates", template_list, allow_head=False),
    web.get("/api/v1/admin/mail-templates/{kind}", template_get, allow_head=False),
    web.put("/api/v1/admin/mail-templates/{kind}", template_put),
    web.delete("/api/v1/admin/mail-templates/{kind}", template_delete),
    web.get("/api/v1/admin/mail-outbox", outbox_list, allow_head=False),
]
