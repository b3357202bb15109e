"""Errors in one place: SQLSTATE → HTTP status, and every error as ``application/problem+json``.

The database raises business errors with SQLSTATEs of our own class ``AT`` (AT404 not found, AT422
bad input, AT491 illegal move …) and a message meant for people; constraint violations carry the
constraint's name. This module maps codes, never parses messages (STYLE.md). Anything unexpected is
a 500 with a request id, logged with its traceback and never shown to the client.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import psycopg
from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from api.db import q

log = logging.getLogger("atumdesk.http")

PROBLEM = "application/problem+json"

# Our own codes, then PostgreSQL's, then PostgreSQL's classes (first two characters).
STATUS_BY_SQLSTATE = {
    "AT401": 401, "AT403": 403, "AT404": 404, "AT409": 409, "AT413": 413, "AT415": 415, "AT422": 422,
    "AT429": 429, "AT491": 409,
    "23505": 409,  # unique: already taken
    "23P01": 409,  # exclusion: overlaps
    "23503": 422,  # foreign key: names something that does not exist (or is another tenant's)
    "23502": 422, "23514": 422,
    "42501": 403,  # row-level security refused a write the caller could see
    "40001": 503, "40P01": 503,  # serialization failure, deadlock: safe to retry
    "57014": 503,  # statement timeout
}
STATUS_BY_CLASS = {"22": 422, "23": 422, "08": 503, "53": 503, "57": 503}

class Problem(Exception):
    """An HTTP error raised by the HTTP layer itself; the error middleware renders it."""

    def __init__(self, status: int, detail: str, *, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.field = field
        self.headers = headers


def problem_body(status: int, detail: str, *, field: str | None = None, **extra: Any) -> dict[str, Any]:
    """An RFC 9457 problem document."""
    from http import HTTPStatus

    body: dict[str, Any] = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status,
                            "detail": detail}
    if field:
        body["field"] = field
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def problem_response(status: int, detail: str, *, field: str | None = None,
                     headers: dict[str, str] | None = None, **extra: Any) -> web.Response:
    """A problem+json response."""
    return web.Response(status=status, content_type=PROBLEM, headers=headers,
                        text=json.dumps(problem_body(status, detail, field=field, **extra)))


# Constraint name -> the field it is about, read once from the catalog (atum.constraint_field):
# FOREIGN KEY (organization_id, calendar_id) is about calendar_id whatever the constraint is called.
CONSTRAINT_FIELDS: dict[str, str] = {}


async def load_constraint_fields(pool: AsyncConnectionPool) -> None:
    """Fill CONSTRAINT_FIELDS from the catalog (once per process; tried again after a failure)."""
    if CONSTRAINT_FIELDS:
        return
    try:
        async with pool.connection(timeout=2) as conn:
            cur = await conn.execute(q("constraint_fields"))
            row = await cur.fetchone()
        CONSTRAINT_FIELDS.update({k: v for k, v in json.loads(row[0] if row and row[0] else "{}").items() if v})
    except Exception as exc:  # the answer then names no field; the next violation tries again
        log.warning("could not read constraint fields from the catalog: %s", exc)


def _constraint_field(name: str | None) -> str | None:
    """The column a constraint is about (from the catalog)."""
    return CONSTRAINT_FIELDS.get(name or "")


def database_problem(exc: psycopg.Error, request_id: str) -> web.Response | None:
    """The response for a database refusal, or None when the error is not one we map (a 500)."""
    diag = exc.diag
    code = diag.sqlstate or ""
    if not code and isinstance(exc, psycopg.OperationalError):
        # No connection (PostgreSQL down or restarting, pool exhausted): the client may retry.
        return problem_response(503, "the database is unavailable; try again shortly", request_id=request_id,
                                headers={"Retry-After": "5"})
    status = STATUS_BY_SQLSTATE.get(code) or STATUS_BY_CLASS.get(code[:2])
    if status is None:
        return None
    field = diag.column_name
    detail = diag.message_primary or "the request was refused"
    if code.startswith("AT"):
        pass  # our own message, written for people
    elif code == "23505":
        field = field or _constraint_field(diag.constraint_name)
        detail = f"{field or 'this value'} is already taken"
    elif code == "23503":
        field = field or _constraint_field(diag.constraint_name)
        detail = f"{field or 'a referenced record'} does not exist"
    elif code in ("23514", "23P01"):
        field = field or _constraint_field(diag.constraint_name)
        detail = f"{field or 'a value'} is not valid ({diag.constraint_name})"
    elif code == "23502":
        detail = f"{field or 'a value'} is required"
    elif code == "42501":
        detail = "not allowed"
    elif status == 503:
        detail = "the database is busy; try again"
    return problem_response(status, detail, field=field, hint=diag.message_hint if code.startswith("AT") else None,
                            code=code, request_id=request_id,
                            headers={"Retry-After": "1"} if status == 503 else None)
