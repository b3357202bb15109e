"""`atumdesk serve` as an operator runs it: JSON log lines with request ids, and on SIGTERM the
requests in flight finish before the process exits."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from atumdesk import PROJECT_ROOT
from tests.support import Database, build_org

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """An `atumdesk serve` process whose log lines are read in the background."""

    def __init__(self, db: Database) -> None:
        self.port = free_port()
        env = {**os.environ, "ATUM_DATA_DIR": str(db.settings.data_dir),
               "ATUM_DATABASE_URL": make_conninfo(db.settings.database_url, dbname=db.dbname)}
        self.proc = subprocess.Popen([sys.executable, "-m", "atumdesk.cli", "serve", "--port", str(self.port)],
                                     cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, predicate: Any, timeout: float = 60) -> dict[str, Any]:
        """The first JSON log line for which ``predicate`` holds (every line must be JSON)."""
        while True:
            line = self.lines.get(timeout=timeout)
            if line is None:
                pytest.fail("the server ended early")
            record = json.loads(line)
            if predicate(record):
                return record

    def request(self, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


def test_logs_are_json_and_sigterm_lets_requests_in_flight_finish(db: Database) -> None:
    with db.connect("atum_owner", autocommit=True) as owner:
        alpha = build_org(owner, "alpha")
    server = Server(db)
    try:
        server.wait_for(lambda r: "Running on" in r.get("message", "") or "http://" in r.get("message", ""))
        status, me = server.request("GET", "/api/v1/me", alpha.tokens["agent"])
        assert status == 200 and me["role"] == "agent"
        access = server.wait_for(lambda r: r.get("path") == "/api/v1/me")
        assert access["status"] == 200 and len(access["request_id"]) == 32 and access["route"] == "/api/v1/me"

        # A change that has to wait for a row lock is in flight when SIGTERM arrives.
        with db.connect("atum_owner") as blocker:
            blocker.execute("SELECT 1 FROM atum.tickets WHERE organization_id = %s AND id = %s FOR UPDATE",
                            [alpha.id, alpha.ticket_id])
            answer: dict[str, Any] = {}
            worker = threading.Thread(target=lambda: answer.update(reply=server.request(
                "PATCH", f"/api/v1/tickets/{alpha.ticket_id}", alpha.tokens["agent"], {"priority": "HIGH"})))
            worker.start()
            with psycopg.connect(db.conninfo("postgres"), autocommit=True) as watcher:
                while not watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                                          " AND application_name = 'atumdesk-http' AND wait_event_type = 'Lock'",
                                          [db.dbname]).fetchone()[0]:
                    watcher.execute("SELECT pg_sleep(0.05)")  # the event: the request waits on the lock
            server.proc.send_signal(signal.SIGTERM)
            blocker.commit()  # the lock goes; the request may finish
        worker.join(timeout=60)
        assert answer["reply"][0] == 200 and answer["reply"][1]["priority"] == "HIGH"
        assert server.proc.wait(timeout=60) == 0
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
