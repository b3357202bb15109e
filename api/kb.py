"""Routes of the knowledge base: articles, categories, search, votes, the portal's suggestions and
the search language. The rules are sql/72_kb.sql; two things happen here before the one call:

- Markdown is rendered and sanitised (api/kb_markdown.py) and handed over beside the body, the way
  api/mailboxes.py hands over an encrypted password;
- a request without a session or token that names an organization (``?organization=slug``) is an
  anonymous portal visitor: instead of ``api.authenticate`` the transaction starts with
  ``api.kb_visitor_enter(slug)``, after which row-level security shows that organization's public,
  published articles and categories, and nothing else. Rate limiting of these open routes is the
  reverse proxy's (deploy/, the API zone).
"""

from __future__ import annotations

from typing import Any, LiteralString

from aiohttp import web
from psycopg.types.json import Jsonb

from api.context import POOL, TOKEN
from api.db import READ_ONLY, call, pipelined, q
from api.errors import Problem
from api.kb_markdown import body_html
from api.web_io import body_param, json_body, json_text, only_fields, path_id, query_param


def _visitor_slug(request: web.Request) -> str | None:
    """The organization an anonymous visitor names; None when the request is signed in or names none."""
    if request.get(TOKEN) is not None:
        return None
    slug = request.query.get("organization")
    if slug is None:
        return None
    # aiohttp keeps undecodable bytes as lone surrogates, which no text parameter can carry.
    return slug.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


async def _read(request: web.Request, sql: LiteralString, params: list[Any], *, read_only: bool = True) -> str:
    """One call, as the signed-in user or, without a session, as a visitor of the named organization."""
    slug = _visitor_slug(request)
    if slug is None:
        return await call(request, sql, params, read_only=read_only)
    statements: list[tuple[LiteralString, list[Any]]] = [(q("kb_visitor_enter"), [slug])]
    if read_only:
        statements.append((READ_ONLY, []))
    statements.append((sql, params))
    async with request.app[POOL].connection() as conn:
        value = await pipelined(conn, statements)
    return "null" if value is None else str(value)


def _article_params(body: dict[str, Any]) -> tuple[Jsonb, str | None]:
    """The body as jsonb and, when it carries Markdown, that Markdown rendered."""
    html = body_html(body["body"]) if "body" in body else None
    return Jsonb(body), html


async def article_list(request: web.Request) -> web.Response:
    """GET /api/v1/kb/articles?category=&state=&visibility=&q=&limit=&after= (visitors: &organization=)."""
    return json_text(await _read(request, q("kb_article_list"), [query_param(request)]))


async def article_get(request: web.Request) -> web.Response:
    """GET /api/v1/kb/articles/{id} (visitors: ?organization=): counts a view."""
    return json_text(await _read(request, q("kb_article_get"), [path_id(request), query_param(request)],
                                 read_only=False))


async def article_create(request: web.Request) -> web.Response:
    """POST /api/v1/kb/articles {title, body?, category_id?, state?, is_public?} (staff): 201."""
    body, html = _article_params(await json_body(request))
    return json_text(await call(request, q("kb_article_save"), [None, body, html]), status=201)


async def article_update(request: web.Request) -> web.Response:
    """PATCH /api/v1/kb/articles/{id} (staff): the fields present; state publishes or unpublishes."""
    article = path_id(request)
    body, html = _article_params(await json_body(request))
    return json_text(await call(request, q("kb_article_save"), [article, body, html]))


async def article_delete(request: web.Request) -> web.Response:
    """DELETE /api/v1/kb/articles/{id} (staff)."""
    return json_text(await call(request, q("kb_article_delete"), [path_id(request)]))


async def article_vote(request: web.Request) -> web.Response:
    """POST /api/v1/kb/articles/{id}/vote {helpful: true|false|null} (signed in)."""
    return json_text(await call(request, q("kb_article_vote"), [path_id(request), await body_param(request)]))


async def preview(request: web.Request) -> web.Response:
    """POST /api/v1/kb/preview {body} (staff): the HTML the Markdown renders to, sanitised."""
    body = await json_body(request)
    only_fields(body, {"body"})
    if "body" not in body:
        raise Problem(422, "body is required", field="body")
    return json_text(await call(request, q("kb_preview"), [body_html(body["body"])], read_only=True))


async def search(request: web.Request) -> web.Response:
    """GET /api/v1/kb/search?q=&limit=&category= (visitors: &organization=): ranked, highlighted."""
    return json_text(await _read(request, q("kb_search"), [query_param(request)]))


async def category_list(request: web.Request) -> web.Response:
    """GET /api/v1/kb/categories (visitors: ?organization=)."""
    return json_text(await _read(request, q("kb_category_list"), [query_param(request)]))


async def category_create(request: web.Request) -> web.Response:
    """POST /api/v1/kb/categories {name, description?, position?} (staff): 201."""
    return json_text(await call(request, q("kb_category_save"), [None, await body_param(request)]), status=201)


async def category_update(request: web.Request) -> web.Response:
    """PATCH /api/v1/kb/categories/{id} (staff)."""
    return json_text(await call(request, q("kb_category_save"), [path_id(request), await body_param(request)]))


async def category_delete(request: web.Request) -> web.Response:
    """DELETE /api/v1/kb/categories/{id} (staff): its articles stay, uncategorised."""
    return json_text(await call(request, q("kb_category_delete"), [path_id(request)]))


async def suggest(request: web.Request) -> web.Response:
    """POST /api/v1/kb/suggestions {subject, session_id?, limit?} (signed in): articles for a new ticket."""
    return json_text(await call(request, q("kb_suggest"), [await body_param(request)]))


async def suggestion_event(request: web.Request) -> web.Response:
    """POST /api/v1/kb/suggestions/{id}/events {kind: followed|submitted, article_id?, ticket_id?}."""
    return json_text(await call(request, q("kb_suggestion_event"), [path_id(request), await body_param(request)]))


async def settings_get(request: web.Request) -> web.Response:
    """GET /api/v1/kb/settings (signed in): the search language."""
    return json_text(await call(request, q("kb_settings_get"), [], read_only=True))


async def settings_update(request: web.Request) -> web.Response:
    """PATCH /api/v1/kb/settings {language} (admin): re-indexes the articles."""
    return json_text(await call(request, q("kb_settings_update"), [await body_param(request)]))


ID = r"{id:\d+}"
ROUTES: list[web.RouteDef] = [
    web.get("/api/v1/kb/articles", article_list, allow_head=False),
    web.post("/api/v1/kb/articles", article_create),
    web.get(f"/api/v1/kb/articles/{ID}", article_get, allow_head=False),
    web.patch(f"/api/v1/kb/articles/{ID}", article_update),
    web.delete(f"/api/v1/kb/articles/{ID}", article_delete),
    web.post(f"/api/v1/kb/articles/{ID}/vote", article_vote),
    web.post("/api/v1/kb/preview", preview),
    web.get("/api/v1/kb/search", search, allow_head=False),
    web.get("/api/v1/kb/categories", category_list, allow_head=False),
    web.post("/api/v1/kb/categories", category_create),
    web.patch(f"/api/v1/kb/categories/{ID}", category_update),
    web.delete(f"/api/v1/kb/categories/{ID}", category_delete),
    web.post("/api/v1/kb/suggestions", suggest),
    web.post(f"/api/v1/kb/suggestions/{ID}/events", suggestion_event),
    web.get("/api/v1/kb/settings", settings_get, allow_head=False),
    web.patch("/api/v1/kb/settings", settings_update),
]
