"""Reading requests and writing answers: JSON bodies, query strings, path ids, JSON pass-through."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from psycopg.types.json import Jsonb

from api.errors import Problem

MAX_ID = 2**63 - 1


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object ({} for an empty body); 422 for anything else."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise Problem(422, "the request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise Problem(422, "the request body must be a JSON object")
    return value


async def body_param(request: web.Request) -> Jsonb:
    """The JSON body as a jsonb parameter (the api function reads the fields and names bad ones)."""
    return Jsonb(await json_body(request))


def query_param(request: web.Request) -> Jsonb:
    """The query string as a jsonb object of strings (the last value wins for a repeated name)."""
    return Jsonb({key: value for key, value in request.query.items()})


def path_id(request: web.Request, name: str = "id") -> int:
    """A numeric id from the path; ids that cannot exist answer 404 like ids that do not."""
    raw = request.match_info.get(name, "")
    if not raw.isdigit() or int(raw) > MAX_ID:
        raise Problem(404, f"no such {name.removesuffix('_id') or 'record'}", field=name)
    return int(raw)


def json_text(text: str, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """PostgreSQL's JSON text as the response body, unchanged."""
    return web.Response(text=text, status=status, content_type="application/json", headers=headers)


def _transportable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def header_text(request: web.Request, name: str) -> str | None:
    """A request header as text the database can be sent. aiohttp keeps header bytes that are not
    UTF-8 as lone surrogates (surrogateescape), which no text parameter can carry; they become
    U+FFFD here, and the database judges the value as usual (e.g. an Idempotency-Key must be ASCII)."""
    value = request.headers.get(name)
    return None if value is None else value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def only_fields(body: dict[str, Any], allowed: set[str]) -> None:
    """422 naming the first field outside ``allowed`` (the SQL side does this with atum.input_check)."""
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise Problem(422, f"unknown field \"{unknown[0][:100]}\"", field=unknown[0][:100])


def text_field(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    """A string field read in Python (only for the few routes that must act before SQL: sign-in)."""
    value = body.get(name)
    if value is None:
        if required:
            raise Problem(422, f"{name} is required", field=name)
        return None
    if not isinstance(value, str):
        raise Problem(422, f"{name} must be a string", field=name)
    if "\x00" in value or not _transportable(value):
        # PostgreSQL text holds neither NUL nor a lone surrogate ("\ud800" in JSON): the driver
        # would fail before the database could refuse it, as a 500 instead of this 422.
        raise Problem(422, f"{name} must be Unicode text without NUL characters", field=name)
    if required and not value.strip():
        raise Problem(422, f"{name} must not be empty", field=name)
    return value
