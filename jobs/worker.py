"""`atumdesk worker`: runs the jobs of atum.jobs (SPEC 2) — the work SQL cannot do.

One process, one job at a time; run several processes for more (they share the queue safely).

- **Session.** The worker keeps one connection as the owner role open while it works (it acts for
  every organization). Its worker id names that session (``atum_private.job_worker_id``: host:pid /
  backend pid @ backend start), so that the database can tell when a worker died: its session is
  gone, and its running job is claimable again (checked by every claim and by pg_cron each minute).
  On that connection it LISTENs on ``atum_jobs`` and claims and finishes jobs, each call its own
  short transaction; a handler never runs inside one of them.
- **Loop.** Claim (the earliest due job of a kind this worker has a handler for, FOR UPDATE SKIP
  LOCKED) until nothing is due; then sleep until a notification, until the next job is due, or
  ``POLL_SECONDS`` at most; then claim again. Nothing here schedules: pg_cron queues the periodic
  jobs.
- **Outcome.** The handler returns: succeeded. It raises: failed and retried with exponential
  backoff, dead after ``max_attempts``; ``PermanentError``: dead at once. The error is kept as one
  line for admins (``GET /api/v1/admin/jobs``); the traceback is in this log.
- **Stopping.** SIGTERM or SIGINT: claim nothing more, let the running job finish, exit 0. A second
  SIGINT (Ctrl-C twice) aborts the running job; crash recovery hands it to the next worker.
- **Database away** at start or later: one log line saying so, and a new attempt after 1, 2, 4 …
  30 s. With ``--once`` (run what is due, then exit) it is a one-line error and a non-zero exit.
- **Logs** are JSON lines on stderr; every line written while a job runs carries the job's id,
  kind, organization and attempt, and the outcome line its duration and outcome.

Crash points for the tests (``jobs.faults``): ``worker.after_claim`` (claimed, handler not run) and
``worker.before_finish`` (handler done, outcome not recorded).
"""

from __future__ import annotations

import contextvars
import importlib
import logging
import os
import select
import signal
import socket
import time
from collections.abc import Mapping
from types import FrameType
from typing import Any

import psycopg
from psycopg.rows import dict_row

from api import logs
from atumdesk.db import first_line
from atumdesk.errors import AtumError
from atumdesk.settings import Settings
from jobs import handlers
from jobs.faults import crash_point
from jobs.registry import APPLICATION_NAME, HANDLERS, Job, JobContext, PermanentError, q

#: Comma-separated modules with more handlers, imported after jobs.handlers.MODULES (tests use it).
EXTRA_MODULES_ENV = "ATUM_WORKER_EXTRA_MODULES"
#: The longest an idle worker sleeps without a notification (a lost NOTIFY costs at most this).
POLL_SECONDS = 30.0
#: Waits between attempts to reach PostgreSQL: the first, doubled each time up to the longest.
RECONNECT_FIRST_SECONDS = 1.0
RECONNECT_MAX_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 10

log = logging.getLogger("atumdesk.worker")
_CURRENT_JOB: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("atum_job", default=None)


class Aborted(BaseException):
    """A second SIGINT while a job runs: leave it to crash recovery (BaseException: handlers that
    catch Exception do not swallow it)."""


class _JobFields(logging.Filter):
    """Adds the running job's fields to every log record (handlers' and libraries' lines too)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_CURRENT_JOB.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def error_line(exc: BaseException) -> str:
    """The error as admins read it: exception class and message on one line, no traceback."""
    message = " ".join(str(exc).split())
    return (f"{type(exc).__name__}: {message}" if message else type(exc).__name__)[:2000]


def handler_modules(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The modules whose import registers the handlers: jobs.handlers.MODULES, then the extra ones."""
    extra = tuple(m.strip() for m in environ.get(EXTRA_MODULES_ENV, "").split(",") if m.strip())
    return (*handlers.MODULES, *extra)


def load_handlers(modules: tuple[str, ...]) -> list[str]:
    """Import the handler modules; the job kinds now registered. AtumError naming a module that fails."""
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # any import failure is a configuration error to report in one line
            raise AtumError(f"cannot load job handlers from module {name!r} (jobs.handlers.MODULES or "
                            f"{EXTRA_MODULES_ENV}): {error_line(exc)}") from None
    return sorted(HANDLERS)


class Worker:
    """The worker loop (see the module docstring). ``run()`` returns the exit status."""

    def __init__(self, settings: Settings, *, once: bool = False, poll_seconds: float = POLL_SECONDS) -> None:
        self.settings = settings
        self.once = once
        self.poll_seconds = poll_seconds
        self.kinds = sorted(HANDLERS)
        self.label = f"{socket.gethostname()}:{os.getpid()}"
        self.stopping = False
        self.stop_reason = "stopped"
        self._job: Job | None = None
        self._session_ready = False
        # Signals write to this pipe (signal.set_wakeup_fd), so a sleeping worker wakes at once.
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    # -- signals ---------------------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop the worker gracefully (main thread only)."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Python runs this between bytecodes of the main thread, so logging here cannot split a line
        # (a record is written with one call) and its lock is re-entrant.
        name = signal.Signals(signum).name
        if signum == signal.SIGINT and self.stopping and self._job is not None:
            raise Aborted
        if not self.stopping:
            self.stopping = True
            self.stop_reason = f"stopped by {name}"
            log.info("%s: %s", name, "finishing the running job, then stopping" if self._job else "stopping",
                     extra={"signal": name})

    def _drain_wakeups(self) -> None:
        try:
            while os.read(self._wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def _pause(self, seconds: float) -> None:
        """Sleep, unless a signal comes first."""
        if not self.stopping:
            select.select([self._wake_r], [], [], seconds)
            self._drain_wakeups()

    # -- the loop --------------------------------------------------------------------------------
    def run(self) -> int:
        """Work until stopped (or, with once, until nothing is due); 0 on a clean stop, 1 when aborted."""
        delay = RECONNECT_FIRST_SECONDS
        try:
            while not self.stopping:
                try:
                    conn = psycopg.connect(self.settings.conninfo("owner"), autocommit=True, row_factory=dict_row,
                                           application_name=APPLICATION_NAME, connect_timeout=CONNECT_TIMEOUT_SECONDS)
                except psycopg.OperationalError as exc:
                    if self.once:
                        raise AtumError(f"cannot connect to PostgreSQL as the owner (ATUM_OWNER_DATABASE_URL): "
                                        f"{first_line(exc, 'connection failed')}") from None
                    log.error("cannot connect to PostgreSQL as the owner: %s; trying again in %.0f s",
                              first_line(exc, "connection failed"), delay, extra={"retry_in_seconds": delay})
                    self._pause(delay)
                    delay = min(delay * 2, RECONNECT_MAX_SECONDS)
                    continue
                self._session_ready = False
                try:
                    with conn:
                        self._serve(conn)
                except psycopg.Error as exc:
                    if self.once:
                        raise
                    if self._session_ready:
                        delay = RECONNECT_FIRST_SECONDS
                    log.error("lost the database session: %s; reconnecting in %.0f s",
                              first_line(exc, "connection failed"), delay, extra={"retry_in_seconds": delay})
                    self._pause(delay)
                    delay = min(delay * 2, RECONNECT_MAX_SECONDS)
        except Aborted:
            log.warning("aborted by a second interrupt; the running job is left to crash recovery")
            return 1
        log.info("worker %s", self.stop_reason)
        return 0

    def _serve(self, conn: psycopg.Connection[dict[str, Any]]) -> None:
        """One database session: claim and run until stopping (or, with once, until nothing is due)."""
        row = conn.execute(q("worker_id"), [self.label]).fetchone()
        assert row is not None
        worker_id = str(row["id"])
        conn.execute(q("listen"))
        unhandled = {r["kind"]: r["jobs"] for r in conn.execute(q("unhandled"), [self.kinds])}
        if unhandled:
            log.warning("pending jobs of kinds no handler of this worker takes: %s",
                        ", ".join(f"{k} ({n})" for k, n in unhandled.items()), extra={"unhandled": unhandled})
        self._session_ready = True
        log.info("worker ready", extra={"worker_id": worker_id, "kinds": self.kinds, "once": self.once})
        while not self.stopping:
            job = self._claim(conn, worker_id)
            if job is not None:
                self._run(conn, worker_id, job)
            elif self.once:
                self.stopping, self.stop_reason = True, "stopped: nothing is due"
            else:
                self._wait(conn)

    def _claim(self, conn: psycopg.Connection[dict[str, Any]], worker_id: str) -> Job | None:
        row = conn.execute(q("claim"), [worker_id, self.kinds]).fetchone()
        if row is None:
            return None
        self._job = Job(**row)
        crash_point("worker.after_claim")
        return self._job

    def _wait(self, conn: psycopg.Connection[dict[str, Any]]) -> None:
        """Sleep until a notification, a signal, or the next due job (POLL_SECONDS at most)."""
        row = conn.execute(q("due_in"), [self.kinds]).fetchone()
        due_in = row["seconds"] if row else None
        # Notifications that arrived during the last claim or the query above were read with their
        # results and wait in psycopg's backlog, not on the socket: they may be for jobs committed
        # after the claim's snapshot, so claim again rather than sleep on them. From here to the
        # select nothing reads the socket, so later ones wake the select.
        if list(conn.notifies(timeout=0)):
            return
        # A due job the claim did not get is being claimed by another worker this instant: a short
        # pause instead of a busy loop.
        timeout = self.poll_seconds if due_in is None else max(0.05, min(self.poll_seconds, due_in))
        if self.stopping:
            return
        readable, _, _ = select.select([conn.pgconn.socket, self._wake_r], [], [], timeout)
        if self._wake_r in readable:
            self._drain_wakeups()
        if conn.pgconn.socket in readable:
            list(conn.notifies(timeout=0))  # consumes them; raises if the server went away

    # -- one job ---------------------------------------------------------------------------------
    def _run(self, conn: psycopg.Connection[dict[str, Any]], worker_id: str, job: Job) -> None:
        fields = {"job_id": job.id, "kind": job.kind, "organization_id": job.organization_id,
                  "attempt": job.attempts, "max_attempts": job.max_attempts, "worker_id": worker_id}
        token = _CURRENT_JOB.set(fields)
        failure: Exception | None = None
        permanent = False
        try:
            log.info("job started")
            started = time.monotonic()
            context = JobContext(self.settings, worker_id, logging.getLogger(f"atumdesk.job.{job.kind}"))
            try:
                HANDLERS[job.kind](context, job)
            except PermanentError as exc:
                failure, permanent = exc, True
            except Exception as exc:  # every failure of a handler is an outcome, never the worker's end
                failure = exc
            duration_ms = round((time.monotonic() - started) * 1000, 1)
            crash_point("worker.before_finish")
            self._finish(conn, worker_id, job, failure, permanent, duration_ms)
        finally:
            self._job = None
            _CURRENT_JOB.reset(token)

    def _finish(self, conn: psycopg.Connection[dict[str, Any]], worker_id: str, job: Job,
                failure: Exception | None, permanent: bool, duration_ms: float) -> None:
        try:
            self._record(conn, worker_id, job, failure, permanent, duration_ms)
        except psycopg.OperationalError as exc:
            # The session is gone, maybe not the database: record the outcome on a new connection
            # under the same worker id (accepted while the job is still held by it), so that a
            # dropped connection does not make the job run again. Then reconnect as usual.
            log.warning("lost the database session before recording the outcome: %s; recording it on a new "
                        "connection", first_line(exc, "connection failed"))
            try:
                with psycopg.connect(self.settings.conninfo("owner"), autocommit=True, row_factory=dict_row,
                                     application_name=APPLICATION_NAME,
                                     connect_timeout=CONNECT_TIMEOUT_SECONDS) as other:
                    self._record(other, worker_id, job, failure, permanent, duration_ms)
            except psycopg.Error as again:
                log.error("could not record the outcome (%s): the job will run again", first_line(again),
                          extra={"outcome": "unrecorded"})
            raise

    def _record(self, conn: psycopg.Connection[dict[str, Any]], worker_id: str, job: Job,
                failure: Exception | None, permanent: bool, duration_ms: float) -> None:
        timing = {"duration_ms": duration_ms}
        if failure is None:
            row = conn.execute(q("succeed"), [job.id, worker_id]).fetchone()
            if row and row["recorded"]:
                log.info("job succeeded", extra={**timing, "outcome": "succeeded"})
            else:
                self._lost(timing)
            return
        error = error_line(failure)
        row = conn.execute(q("fail"), [job.id, worker_id, error, permanent]).fetchone()
        if row is None:
            self._lost(timing)
        elif row["state"] == "dead":
            why = "a permanent error" if permanent else f"attempt {job.attempts} of {job.max_attempts}"
            log.error("job dead after %s: %s", why, error, exc_info=failure,
                      extra={**timing, "outcome": "dead", "error": error})
        else:
            log.warning("job failed, retry at %s: %s", row["run_after"].isoformat(), error, exc_info=failure,
                        extra={**timing, "outcome": "retry", "error": error, "retry_at": row["run_after"].isoformat()})

    @staticmethod
    def _lost(timing: dict[str, Any]) -> None:
        log.warning("job finished, but this worker no longer held it (its session was lost and the job taken "
                    "back): the outcome of the attempt that holds it counts", extra={**timing, "outcome": "lost"})


def main(settings: Settings, *, once: bool = False, environ: Mapping[str, str] | None = None) -> int:
    """`atumdesk worker [--once]`: JSON logs, handler modules, signals, the loop; the exit status."""
    logs.configure()
    for log_handler in logging.getLogger().handlers:
        log_handler.addFilter(_JobFields())
    modules = handler_modules(os.environ if environ is None else environ)
    kinds = load_handlers(modules)
    worker = Worker(settings, once=once)
    worker.install_signal_handlers()
    log.info("worker starting", extra={"modules": list(modules), "kinds": kinds, "once": once})
    if not kinds:
        log.warning("no job handlers are registered (jobs.handlers.MODULES is empty): this worker runs nothing")
    return worker.run()
