"""What a job handler sees: the job, its context, the error that ends it at once, the registry.

A handler is a function ``(ctx, job) -> None`` registered for one job kind::

    from jobs.registry import Job, JobContext, PermanentError, handler

    @handler("mail.send")
    def send(ctx: JobContext, job: Job) -> None:
        with ctx.connect() as conn:   # a new owner connection: committed on success, closed at the end
            ...

It returns normally on success. Any exception fails the attempt: the job runs again after an
exponential backoff (attempt n waits min(15 s * 2^(n-1), 1 h), less up to 25% jitter) until
``max_attempts``, then it is dead. ``PermanentError`` makes it dead at once (a bad payload, a row
that no longer exists, a password an admin must fix). Either way the error is kept in
``atum.jobs.last_error`` as one line (exception class and message) for admins; the traceback goes to
the worker's log. A job can run more than once — its worker may die after the handler's work and
before the outcome is recorded — so handlers are idempotent (ingestion knows its Message-IDs, the
outbox its sent rows).

The worker imports the modules named in ``jobs.handlers.MODULES`` (and ``ATUM_WORKER_EXTRA_MODULES``)
at start; importing a module runs its ``@handler`` decorators.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, LiteralString

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from atumdesk.queries import query
from atumdesk.settings import Settings

#: application_name of every connection of the worker (its session and the handlers' connections).
APPLICATION_NAME = "atumdesk-worker"
#: The jobs_kind_format check of atum.jobs.
KIND_FORMAT = re.compile(r"[a-z][a-z0-9_.]{1,60}")
QUERIES = Path(__file__).with_name("queue.sql")


def q(name: str) -> LiteralString:
    """A query of jobs/queue.sql by name."""
    return query(name, QUERIES)


@dataclass(frozen=True)
class Job:
    """One claimed job, as its handler gets it."""

    id: int
    kind: str
    organization_id: int | None
    payload: dict[str, Any]
    #: This attempt's number, counting from 1 (a claim whose worker died counts too).
    attempts: int
    max_attempts: int


class PermanentError(Exception):
    """The job cannot succeed by retrying (bad payload, missing row): dead at once, message kept."""


@dataclass(frozen=True)
class JobContext:
    """What a handler may use besides its job.

    ``connect()`` opens a NEW connection as the owner role (the worker acts for every
    organization, so row-level security does not narrow it): dict rows, autocommit off,
    application_name ``atumdesk-worker``. The caller closes it; ``with ctx.connect() as conn:``
    commits when the block ends normally, rolls back on an exception, and closes it either way.
    """

    settings: Settings
    #: The worker holding the job (atum.jobs.locked_by), for log lines.
    worker_id: str
    #: The logger for this job's kind (``atumdesk.job.<kind>``); while a job runs, every log line
    #: of the worker process carries its id, kind, organization and attempt.
    log: logging.Logger

    def connect(self) -> psycopg.Connection[dict[str, Any]]:
        """A new owner connection (see the class docstring)."""
        return psycopg.connect(self.settings.conninfo("owner"), row_factory=dict_row, autocommit=False,
                               application_name=APPLICATION_NAME)


Handler = Callable[[JobContext, Job], None]
#: Job kind → its handler, filled by ``@handler`` when the handler modules are imported.
HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of job ``kind`` (one handler per kind)."""
    if not KIND_FORMAT.fullmatch(kind):
        raise ValueError(f"job kind {kind!r} must match {KIND_FORMAT.pattern} (the jobs_kind_format check)")

    def register(function: Handler) -> Handler:
        existing = HANDLERS.get(kind)
        if existing is not None and existing is not function:
            raise ValueError(f"job kind {kind!r} has two handlers: {_name(existing)} and {_name(function)}")
        HANDLERS[kind] = function
        return function

    return register


def enqueue(conn: psycopg.Connection[Any], kind: str, payload: dict[str, Any] | None = None, *,
            organization_id: int | None = None, dedupe_key: str | None = None, run_after: datetime | None = None,
            max_attempts: int = 10) -> int | None:
    """Queue a job in ``conn``'s transaction (``atum_private.job_enqueue``; workers wake at commit).

    Returns the job id, or None when a job of this kind with this dedupe key is still pending.
    ``conn`` must be an owner connection, such as ``ctx.connect()``'s.
    """
    row = conn.execute(q("enqueue"), {"kind": kind, "payload": Jsonb(payload or {}),
                                      "organization_id": organization_id, "dedupe_key": dedupe_key,
                                      "run_after": run_after, "max_attempts": max_attempts}).fetchone()
    if row is None:
        return None
    value = row["id"] if isinstance(row, dict) else row[0]
    return None if value is None else int(value)


def _name(function: Handler) -> str:
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', repr(function))}"
