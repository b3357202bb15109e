"""Connecting the command-line tools to PostgreSQL, and turning refusals into one-line errors."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from atumdesk.errors import AtumError

# Missing relation, schema or function: the schema is not there (yet).
_NOT_MIGRATED = ("42P01", "3F000", "42883")


def first_line(exc: BaseException, default: str = "unknown error") -> str:
    """The first non-empty line of an exception's text (libpq's messages span several lines)."""
    return (str(exc).strip().splitlines() or [default])[0]


def connect(conninfo: str, what: str, *, dict_rows: bool = False, **kwargs: Any) -> psycopg.Connection[Any]:
    """A connection, or an AtumError naming who could not connect and why."""
    try:
        if dict_rows:
            return psycopg.connect(conninfo, row_factory=dict_row, **kwargs)
        return psycopg.connect(conninfo, **kwargs)
    except psycopg.OperationalError as exc:
        raise AtumError(f"cannot connect to PostgreSQL as {what}: {first_line(exc, 'connection failed')} "
                        "(is it running? `make run` starts the embedded one)") from None


def refusal(exc: psycopg.Error, prefix: str = "") -> AtumError:
    """A database refusal as a one-line error: our AT codes carry a message meant for people."""
    message = exc.diag.message_primary or first_line(exc, "database error")
    if exc.diag.sqlstate in _NOT_MIGRATED:
        message += " (run `atumdesk migrate` first)"
    return AtumError(prefix + message)
