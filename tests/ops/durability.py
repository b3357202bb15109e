"""What the durability tests (tests/ops/test_durability.py) drive: a PostgreSQL cluster of their own
that can be restarted, `atumdesk serve` and `atumdesk worker` as processes that can be killed, a load
generator that opens tickets the way a careful client does, and an SMTP server that keeps a message
unanswered until its sender is gone.

The cluster is the tests' own (created by atumdesk.instance like every other one, as an unprivileged
user when the tests run as root): restarting the shared session cluster would break every other
test running against it.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiosmtpd.controller import Controller
from psycopg import sql
from psycopg.conninfo import make_conninfo

from atumdesk import PROJECT_ROOT
from atumdesk import settings as settings_mod
from atumdesk.instance import Instance, pg_bindir
from atumdesk.migrate import migrate
from tests.serve import free_port
from tests.support import Database

#: Settings of the tests' cluster. synchronous_commit stays ON (the default, as in production): a
#: commit is acknowledged only once its WAL is written, which is what "answered 201 means it
#: exists" rests on when the server is stopped in immediate mode. fsync and full-page writes are
#: off to save the shared machine's disk; they guard against an operating-system crash, which these
#: tests do not simulate (a killed PostgreSQL leaves its written WAL in the page cache).
CLUSTER_SETTINGS = {"fsync": "off", "full_page_writes": "off", "max_connections": "50"}
TEMPLATE = "atum_durability_template"


def wait_until(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    """Poll until ``check()`` is truthy and return it (for states the database announces to nobody)."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
    return value


# ---------------------------------------------------------------------------------------------
# The cluster
# ---------------------------------------------------------------------------------------------
@dataclass
class Cluster:
    """A PostgreSQL cluster of the tests' own, with a migrated template database."""

    root: Path
    instance: Instance
    settings: settings_mod.Settings

    def database(self, name: str) -> Database:
        """A new database cloned from the migrated template."""
        with Database(self.settings, "postgres").connect("postgres", autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name),
                                                                           sql.Identifier(TEMPLATE)))
        return Database(self.settings, name)

    def app_url(self, db: Database) -> str:
        """ATUM_DATABASE_URL of a database of this cluster (the app role)."""
        return make_conninfo(self.settings.database_url, dbname=db.dbname)

    def env(self, db: Database, **extra: str) -> dict[str, str]:
        """The environment of a product process working on ``db``: the caller's, minus any ATUM_*
        setting of the developer's own, plus this cluster's."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("ATUM_")}
        return base | {"ATUM_DATA_DIR": str(self.root), "ATUM_DATABASE_URL": self.app_url(db), **extra}

    def restart(self, mode: str = "immediate", down_for: float = 0.0) -> tuple[float, float]:
        """Stop PostgreSQL (``immediate``: every backend killed at once, crash recovery at the next
        start, as after a crash of the server; ``fast``: sessions ended, a clean shut-down), leave
        it down for ``down_for`` seconds and start it again. Returns the monotonic times at which it
        was down and at which it accepted connections again."""
        self._pg_ctl("stop", "-w", "-t", "60", "-m", mode)
        down = time.monotonic()
        time.sleep(down_for)  # the outage's length is the scenario itself, not a wait for an event
        self.instance.start()  # pg_ctl start -w: returns once connections are accepted
        return down, time.monotonic()

    def _pg_ctl(self, *args: str) -> None:
        user = self.instance.os_user  # PostgreSQL's programs refuse to run as root
        kwargs: dict[str, Any] = {"user": user.uid, "group": user.gid, "extra_groups": []} if user else {}
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "HOME": user.home if user else os.environ.get("HOME", "/")}
        proc = subprocess.run([str(pg_bindir() / "pg_ctl"), *args, "-D", str(self.instance.data.resolve())],
                              capture_output=True, text=True, env=env, cwd="/", timeout=120, check=False, **kwargs)
        assert proc.returncode == 0, proc.stderr or proc.stdout


@contextmanager
def own_cluster() -> Iterator[Cluster]:
    """Create, start and migrate a cluster in a temporary folder; stop and remove it at the end."""
    root = Path(tempfile.mkdtemp(prefix="atum-durability-"))
    root.chmod(0o755)  # the server's user must reach the cluster folder inside
    instance = Instance(root / "pg", extra_settings=CLUSTER_SETTINGS)
    try:
        instance.init()
        instance.start()
        settings = settings_mod.load({"ATUM_DATA_DIR": str(root)})
        migrate(settings, dbname=TEMPLATE, schedule_cron=False)
        yield Cluster(root, instance, settings)
    finally:
        instance.stop()
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Product processes
# ---------------------------------------------------------------------------------------------
class Child:
    """An `atumdesk` command as a child process; its output lines are read in the background and
    kept, and JSON log lines can be awaited in order."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "atumdesk.cli", *args], cwd=PROJECT_ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.output: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    @property
    def pid(self) -> int:
        """The process id."""
        return self.proc.pid

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.proc.poll() is None

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], what: str, timeout: float = 60) -> dict[str, Any]:
        """The next JSON log record (after those already awaited) for which ``predicate`` holds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no log line for {what} within {timeout} s:\n{''.join(self.output)}") from None
            if line is None:
                raise AssertionError(f"the process ended ({self.proc.wait()}) before {what}:\n{''.join(self.output)}")
            self.output.append(line)
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and predicate(record):
                return record

    def kill9(self) -> None:
        """SIGKILL, as the OOM killer or a power cut would: no clean-up of any kind."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM and wait (SIGKILL if it does not end); the exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class Server(Child):
    """`atumdesk serve` on a given loopback port."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        super().__init__(["serve", "--host", "127.0.0.1", "--port", str(port)], env)
        self.port = port
        self.origin = f"http://127.0.0.1:{port}"

    def wait_listening(self, timeout: float = 60) -> None:
        """Until the server logs the address it listens on."""
        self.wait_for(lambda r: f":{self.port}" in str(r.get("message", "")), "the server to listen", timeout)

    def ready(self) -> bool:
        """Whether /readyz answers 200 now."""
        try:
            with urllib.request.urlopen(f"{self.origin}/readyz", timeout=5) as reply:
                return bool(reply.status == 200)
        except (urllib.error.URLError, OSError):
            return False


class WorkerChild(Child):
    """`atumdesk worker` (the long-running loop, not --once)."""

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__(["worker"], env)

    def ready(self, timeout: float = 60) -> dict[str, Any]:
        """The next "worker ready" record (a session is open and it claims)."""
        return self.wait_for(lambda r: r.get("message") == "worker ready", "the worker to be ready", timeout)


# ---------------------------------------------------------------------------------------------
# The load generator
# ---------------------------------------------------------------------------------------------
#: A client retries a request that got no answer (or a 503) after this pause, with the same key.
RETRY_PAUSE_SECONDS = 0.05
#: ... and gives a request up after this long (a failure of the test).
REQUEST_DEADLINE_SECONDS = 60.0


@dataclass(frozen=True)
class Answer:
    """A ticket whose creation was answered 201."""

    subject: str
    ticket_id: int
    attempts: int
    answered_at: float  # time.monotonic()
    #: Wall-clock time (time.time()) at which the answered attempt was sent: a ticket created
    #: before it was created by an earlier attempt, whose answer was lost.
    sent_at: float


@dataclass
class LoadGenerator:
    """Clients that open tickets through POST /api/v1/tickets, each request with a unique subject
    and an Idempotency-Key of its own, until stopped. A request that got no answer (connection
    refused or reset, a timeout) or a 503 is sent again with the SAME key after a short pause, as a
    real client that cannot know whether its request was done must; any other answer but 201 is
    recorded as a failure."""

    origin: str
    tokens: list[str]
    prefix: str
    clients: int = 6
    answers: list[Answer] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    #: Why attempts were not answered (exception class or status), how often.
    unanswered: Counter[str] = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the clients in a thread of their own (with its own event loop)."""
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()

    def stop(self, timeout: float = REQUEST_DEADLINE_SECONDS + 10) -> None:
        """Let every client finish its current request, then end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            assert not self._thread.is_alive(), "the load generator did not stop"

    def wait_answers(self, count: int, timeout: float = 60) -> None:
        """Until at least ``count`` tickets have been answered 201 in all."""
        self._wait(lambda: len(self.answers) >= count, f"{count} tickets answered", timeout)

    def first_answer_after(self, moment: float, timeout: float = 60) -> float:
        """The monotonic time of the first 201 answered after ``moment`` (waits for it)."""
        def after() -> list[float]:
            return [a.answered_at for a in self.answers if a.answered_at > moment]

        self._wait(lambda: bool(after()), "a ticket answered 201", timeout)
        return min(after())

    def _wait(self, condition: Callable[[], bool], what: str, timeout: float) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: condition() or bool(self.failures), timeout):
                raise AssertionError(f"timed out after {timeout} s waiting for {what}; so far: {self.summary()}")
        assert not self.failures, self.failures[:5]

    def summary(self) -> str:
        """Counts for a failure message or a log line."""
        return (f"{len(self.answers)} answered, failures {self.failures[:3]}, "
                f"unanswered attempts {dict(self.unanswered)}")

    async def _main(self) -> None:
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await asyncio.gather(*(self._client(session, n) for n in range(self.clients)))

    async def _client(self, session: aiohttp.ClientSession, number: int) -> None:
        token = self.tokens[number % len(self.tokens)]
        sequence = 0
        while not self._stop.is_set():
            sequence += 1
            await self._create(session, token, f"{self.prefix} {number}-{sequence}", str(uuid.uuid4()))

    async def _create(self, session: aiohttp.ClientSession, token: str, subject: str, key: str) -> None:
        body = {"subject": subject, "description": "Opened by the durability test's load generator."}
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
        deadline = time.monotonic() + REQUEST_DEADLINE_SECONDS
        attempts = 0
        while True:
            attempts += 1
            sent_at = time.time()
            status: int | None = None
            text = ""
            try:
                async with session.post(f"{self.origin}/api/v1/tickets", json=body, headers=headers) as reply:
                    status, text = reply.status, await reply.text()
            except (aiohttp.ClientError, TimeoutError) as exc:
                text = type(exc).__name__
            if status == 201:
                answer = Answer(subject, int(json.loads(text)["id"]), attempts, time.monotonic(), sent_at)
                with self._changed:
                    self.answers.append(answer)
                    self._changed.notify_all()
                return
            if status not in (None, 503):
                self._fail(f"{subject}: {status} {text[:300]}")
                return
            self.unanswered[text if status is None else str(status)] += 1
            if time.monotonic() > deadline:
                self._fail(f"{subject}: no answer within {REQUEST_DEADLINE_SECONDS} s ({attempts} attempts)")
                return
            await asyncio.sleep(RETRY_PAUSE_SECONDS)  # a client's back-off, not a wait for an event

    def _fail(self, failure: str) -> None:
        with self._changed:
            self.failures.append(failure)
            self._changed.notify_all()


# ---------------------------------------------------------------------------------------------
# An SMTP server that holds a message
# ---------------------------------------------------------------------------------------------
class HoldingSmtp:
    """aiosmtpd on 127.0.0.1 (no TLS, no AUTH). The first message is received but never answered:
    the server keeps its sender waiting for the final reply until the connection is lost (aiosmtpd
    then cancels the handler), so a worker can be killed while its handler is inside SMTP. Every
    later message is answered 250. Messages are known by their Message-ID."""

    def __init__(self) -> None:
        self.port = free_port()
        self.held: list[str] = []  # received, never answered
        self.accepted: list[str] = []  # answered 250
        self.holding = threading.Event()
        self._hold_next = True
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> HoldingSmtp:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """aiosmtpd's hook for a message's data."""
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        message_id = str(message["Message-ID"])
        if self._hold_next:
            self._hold_next = False
            self.held.append(message_id)
            self.holding.set()
            await asyncio.Event().wait()  # ends only by cancellation: the sender's connection is lost
        self.accepted.append(message_id)
        return "250 Message accepted for delivery"
