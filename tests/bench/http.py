"""The HTTP API under load, side by side with pgbench calling the same ``api.*`` functions.

On a fresh database: one organization (the demo loader's ``demo``) with ``tickets`` tickets, and a
session of its first manager, who makes every request. The real server (``atumdesk serve``) runs
as a subprocess on a free local port, logging to a file as it would in production. For each
operation, after a warm-up, at the same concurrency and for the same time:

1. HTTP: ``wrk`` (or, when it is not installed, an aiohttp client in a process of its own) sends
   the route's requests with the bearer token: create a ticket (``POST /api/v1/tickets``), get a
   random ticket (``GET /api/v1/tickets/{id}``), the latest 50 (``GET /api/v1/tickets?limit=50``);
2. pgbench: the transaction the route runs (api/db.py: BEGIN; ``api.authenticate``; for reads SET
   TRANSACTION READ ONLY; the ``api.*`` call; COMMIT), as one pipeline of prepared statements, on
   as many connections as there are HTTP clients.

Reported per operation: rate, p50 and p99 latency and errors of both, and the ratio of the rates;
for the server: its processes' peak resident memory (the sum of their high-water marks). Both
sides share the two cores with PostgreSQL and with their load generator; that is the point.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row

from atumdesk import PROJECT_ROOT, demo
from atumdesk.instance import pg_bindir
from atumdesk.migrate import migrate
from atumdesk.settings import Settings
from tests.bench.rls import query

TICKETS = 100_000
CONCURRENCY = 32
SECONDS = 10.0
WARMUP_SECONDS = 3.0
GOAL_RATIO = 0.5
GOAL_P99_MS = 50.0
GOAL_RSS_MB = 200.0
HOST = "127.0.0.1"
CREATE_BODY = json.dumps({"subject": "Printer on the third floor is jammed",
                          "description": "Paper jam in tray 2, the display shows error E-104. "
                                         "Urgent: payroll runs today."})


@dataclass(frozen=True)
class Operation:
    """One measured route and the pgbench script of the transaction it runs."""

    name: str
    description: str
    method: str
    path: str  # "{id}" is replaced by a random ticket id of the organization
    body: str | None
    status: int
    pgbench: str  # block of bench.sql

    @property
    def random_id(self) -> bool:
        """Whether each request names a random ticket."""
        return "{id}" in self.path


OPERATIONS = (
    Operation("create", "create ticket (POST /api/v1/tickets)", "POST", "/api/v1/tickets", CREATE_BODY, 201,
              "pgbench_ticket_create"),
    Operation("get", "get ticket (GET /api/v1/tickets/{id})", "GET", "/api/v1/tickets/{id}", None, 200,
              "pgbench_ticket_get"),
    Operation("list", "list tickets, 50 per page (GET /api/v1/tickets?limit=50)", "GET",
              "/api/v1/tickets?limit=50", None, 200, "pgbench_ticket_list"),
)


@dataclass(frozen=True)
class Subject:
    """Who makes the requests, and which tickets there are to get."""

    organization_id: int
    user_id: int
    token: str
    first_id: int
    last_id: int
    tickets: int


def _prepare(settings: Settings, tickets: int, log: Callable[[str], None]) -> tuple[Subject, dict[str, Any]]:
    """Migrate, load one organization with ``tickets`` tickets, settle it, sign its manager in."""
    migrate(settings, schedule_cron=False)
    log(f"HTTP: loading one organization with {tickets:,} demo tickets ...")
    started = time.monotonic()
    summary = demo.load(settings, tickets=tickets, organizations=1, progress=False, out=io.StringIO())
    load = {"tickets": summary.tickets, "seconds": round(time.monotonic() - started, 1)}
    with psycopg.connect(settings.conninfo("owner"), row_factory=dict_row, autocommit=True,
                         application_name="atumdesk-bench") as owner:
        owner.execute(query("settle"))
        row = owner.execute(query("http_subject")).fetchone()
        assert row is not None, "the demo organization has no tickets"
        token = owner.execute(query("session_issue"), {"organization_id": row["organization_id"],
                                                       "user_id": row["user_id"]}).fetchone()
        assert token is not None
    if row["last_id"] - row["first_id"] + 1 != row["tickets"]:
        log(f"  note: ticket ids {row['first_id']}..{row['last_id']} have gaps; some gets will answer 404")
    return Subject(row["organization_id"], row["user_id"], str(token["token"]), row["first_id"], row["last_id"],
                   row["tickets"]), load


# --- the server -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Server:
    """``atumdesk serve`` as a subprocess on a free port, logging to a file."""

    def __init__(self, settings: Settings, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.port = _free_port()
        self.log_path = log_path
        environ = {**os.environ, **(env or {}), "ATUM_DATA_DIR": str(settings.data_dir),
                   "ATUM_PG_PORT": str(settings.pg_port), "ATUM_DATABASE_URL": settings.database_url,
                   "ATUM_OWNER_DATABASE_URL": settings.owner_database_url,
                   "ATUM_ADMIN_DATABASE_URL": settings.admin_database_url}
        self._log_file = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "atumdesk.cli", "serve", "--host", HOST, "--port", str(self.port)],
            env=environ, cwd=PROJECT_ROOT, stdout=self._log_file, stderr=subprocess.STDOUT)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://{HOST}:{self.port}"

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Poll /readyz until it answers 200; raise with the log's tail if the server dies or stalls."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with status {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the server was not ready within {timeout:.0f} s:\n{self.log_tail()}")

    def peak_rss_mb(self) -> float:
        """The high-water marks of resident memory of the server and its child processes, summed."""
        return round(sum(_vm_hwm_kb(pid) for pid in _process_tree(self.process.pid)) / 1024, 1)

    def log_tail(self, lines: int = 20) -> str:
        """The end of the server's log."""
        self._log_file.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """SIGINT (aiohttp's graceful shutdown), then SIGKILL if it does not end."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()


def _process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from /proc."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                pending.extend(int(child) for child in children.read_text().split())
            except OSError:
                continue
    return found


def _vm_hwm_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) if match else 0


# --- the HTTP load generator ------------------------------------------------------------------

WRK_SCRIPT = """
wrk.method = {method}
wrk.headers["Authorization"] = {authorization}
{body}
local first, last = {first_id}, {last_id}
local path = {path}
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("seed", threads)
end
function init(args)
  math.randomseed(seed or 1)
end
if {random_id} then
  request = function()
    return wrk.format(nil, (path:gsub("{{id}}", tostring(math.random(first, last)))))
  end
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nRESULT {{"requests": %d, "duration_us": %d, "socket_errors": %d, "bad_status": %d, '
    .. '"p50_us": %d, "p99_us": %d, "max_us": %d}}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def _lua(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal for this ASCII text


def _wrk(server: Server, operation: Operation, subject: Subject, seconds: float, workdir: Path) -> dict[str, Any]:
    """One wrk run; requests/s, p50/p99 in ms, errors."""
    body = ""
    if operation.body is not None:
        body = (f"wrk.body = {_lua(operation.body)}\n"
                'wrk.headers["Content-Type"] = "application/json"')
    script = workdir / f"{operation.name}.lua"
    script.write_text(WRK_SCRIPT.format(
        method=_lua(operation.method), authorization=_lua(f"Bearer {subject.token}"), body=body,
        first_id=subject.first_id, last_id=subject.last_id, path=_lua(operation.path),
        random_id="true" if operation.random_id else "false"))
    wrk = shutil.which("wrk")
    assert wrk is not None
    url = server.url + (operation.path if not operation.random_id else "/")
    done = subprocess.run([wrk, "-t", "2", "-c", str(CONCURRENCY), "-d", f"{seconds:.0f}s", "--timeout", "10s",
                           "-s", str(script), url], capture_output=True, text=True, check=True)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
    raw = json.loads(line.removeprefix("RESULT "))
    return {"requests": raw["requests"], "requests_per_second": round(raw["requests"] / (raw["duration_us"] / 1e6)),
            "p50_ms": round(raw["p50_us"] / 1000, 2), "p99_ms": round(raw["p99_us"] / 1000, 2),
            "max_ms": round(raw["max_us"] / 1000, 1), "errors": raw["socket_errors"] + raw["bad_status"]}


def _aiohttp(server: Server, operation: Operation, subject: Subject, seconds: float) -> dict[str, Any]:
    """One run of the aiohttp client (``main`` of this module) in a process of its own."""
    job = {"url": server.url, "method": operation.method, "path": operation.path, "body": operation.body,
           "status": operation.status, "token": subject.token, "first_id": subject.first_id,
           "last_id": subject.last_id, "seconds": seconds, "concurrency": CONCURRENCY}
    done = subprocess.run([sys.executable, "-m", "tests.bench.http", json.dumps(job)], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.splitlines()[-1]))


async def _client(job: dict[str, Any]) -> dict[str, Any]:
    """Closed loop: ``concurrency`` requests in flight for ``seconds``; latencies of each."""
    import random

    import aiohttp

    headers = {"Authorization": f"Bearer {job['token']}"}
    if job["body"] is not None:
        headers["Content-Type"] = "application/json"
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=job["concurrency"])
    async with aiohttp.ClientSession(job["url"], connector=connector, headers=headers) as session:
        deadline = time.perf_counter() + job["seconds"]

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                path = job["path"].replace("{id}", str(random.randint(job["first_id"], job["last_id"])))
                started = time.perf_counter()
                try:
                    async with session.request(job["method"], path, data=job["body"]) as response:
                        await response.read()
                        ok = response.status == job["status"]
                except aiohttp.ClientError:
                    ok = False
                latencies.append(time.perf_counter() - started)
                errors += not ok

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(job["concurrency"])))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {"requests": len(latencies), "requests_per_second": round(len(latencies) / elapsed),
            "p50_ms": round(statistics.median(latencies) * 1000, 2),
            "p99_ms": round(latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))] * 1000, 2),
            "max_ms": round(latencies[-1] * 1000, 1), "errors": errors}


def load_generator() -> str:
    """What sends the HTTP requests: wrk and its version, or the aiohttp client."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return "aiohttp client (wrk is not installed: Debian package wrk)"
    done = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).split("Copyright")[0].strip() or "wrk"


# --- pgbench ----------------------------------------------------------------------------------


def _pgbench(settings: Settings, operation: Operation, subject: Subject, seconds: float,
             workdir: Path, *, log_latencies: bool = True) -> dict[str, Any]:
    """One pgbench run of the operation's transaction; transactions/s, p50/p99 in ms, failures."""
    script = workdir / f"{operation.name}.pgbench"
    script.write_text(query(operation.pgbench) + "\n")
    prefix = workdir / f"pgbench-{operation.name}"
    for old in workdir.glob(f"{prefix.name}.*"):
        old.unlink()
    params = conninfo_to_dict(settings.database_url)
    env = {**os.environ, "PGHOST": str(params.get("host", "")), "PGPORT": str(params.get("port", "")),
           "PGUSER": str(params.get("user", "")), "PGDATABASE": str(params.get("dbname", "")),
           "PGAPPNAME": "atumdesk-bench-pgbench"}
    args = [str(pg_bindir() / "pgbench"), "-n", "-M", "prepared", "-c", str(CONCURRENCY), "-j", "2",
            "-T", f"{seconds:.0f}", "-f", str(script), "-D", f"token={subject.token}",
            "-D", f"first_id={subject.first_id}", "-D", f"last_id={subject.last_id}"]
    if log_latencies:
        args += ["-l", f"--log-prefix={prefix}"]
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    tps = re.search(r"^tps = ([\d.]+)", done.stdout, re.MULTILINE)
    if done.returncode != 0 or tps is None:
        raise RuntimeError(f"pgbench failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    failed = re.search(r"^number of failed transactions: (\d+)", done.stdout, re.MULTILINE)
    result: dict[str, Any] = {"transactions_per_second": round(float(tps.group(1))),
                              "errors": int(failed.group(1)) if failed else 0}
    if log_latencies:
        latencies = []
        for path in workdir.glob(f"{prefix.name}.*"):
            for line in path.read_text().splitlines():
                fields = line.split()
                if len(fields) >= 3 and fields[2].isdigit():
                    latencies.append(int(fields[2]))
        latencies.sort()
        result.update(transactions=len(latencies), p50_ms=round(statistics.median(latencies) / 1000, 2),
                      p99_ms=round(latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))] / 1000, 2),
                      max_ms=round(latencies[-1] / 1000, 1))
    return result


# --- the benchmark ----------------------------------------------------------------------------


def run(
    settings: Settings,
    *,
    tickets: int = TICKETS,
    seconds: float = SECONDS,
    warmup: float = WARMUP_SECONDS,
    server_env: dict[str, str] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Load the organization, serve it, and measure every operation over HTTP and with pgbench."""
    subject, load = _prepare(settings, tickets, log)
    use_wrk = shutil.which("wrk") is not None
    generator = load_generator()
    operations: dict[str, Any] = {}
    workdir = Path(tempfile.mkdtemp(prefix="atumdesk-http-bench-"))
    server = Server(settings, settings.data_dir / "http-bench-server.log", server_env)
    try:
        server.wait_ready()
        log(f"HTTP: server on {server.url}, load generator: {generator}; {CONCURRENCY} clients, "
            f"{seconds:.0f} s per run after {warmup:.0f} s of warm-up")

        def http(operation: Operation, duration: float) -> dict[str, Any]:
            if use_wrk:
                return _wrk(server, operation, subject, duration, workdir)
            return _aiohttp(server, operation, subject, duration)

        # Reads first, so that they see the organization as loaded; creates last.
        for operation in sorted(OPERATIONS, key=lambda o: o.method == "POST"):
            http(operation, warmup)
            over_http = http(operation, seconds)
            _pgbench(settings, operation, subject, warmup, workdir, log_latencies=False)
            direct = _pgbench(settings, operation, subject, seconds, workdir)
            ratio = over_http["requests_per_second"] / direct["transactions_per_second"]
            ratio_passed = ratio >= GOAL_RATIO and over_http["errors"] == 0
            p99_passed = over_http["p99_ms"] < GOAL_P99_MS
            operations[operation.name] = {
                "description": operation.description, "http": over_http, "pgbench": direct,
                "ratio": round(ratio, 3), "goal_ratio": GOAL_RATIO, "goal_p99_ms": GOAL_P99_MS,
                "ratio_passed": ratio_passed, "p99_passed": p99_passed, "passed": ratio_passed and p99_passed,
            }
            log(f"  {operation.name}: HTTP {over_http['requests_per_second']:,}/s "
                f"(p50 {over_http['p50_ms']} ms, p99 {over_http['p99_ms']} ms, {over_http['errors']} errors), "
                f"pgbench {direct['transactions_per_second']:,}/s (p50 {direct['p50_ms']} ms, "
                f"p99 {direct['p99_ms']} ms); ratio {ratio:.2f}")
        rss = server.peak_rss_mb()
        processes = len(_process_tree(server.process.pid))
    except Exception:
        log(f"HTTP: server log (tail):\n{server.log_tail()}")
        raise
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    with psycopg.connect(settings.conninfo("owner"), row_factory=dict_row, autocommit=True) as owner:
        after = owner.execute(query("http_tickets"), {"organization_id": subject.organization_id}).fetchone()
    log(f"  server peak memory {rss} MB in {processes} process(es)")
    return {
        "load": load, "tickets_before": subject.tickets, "tickets_after": after["tickets"] if after else None,
        "concurrency": CONCURRENCY, "seconds": seconds, "warmup_seconds": warmup, "load_generator": generator,
        "pgbench": "-M prepared, one pipeline per transaction, -j 2",
        "server": {"processes": processes, "peak_rss_mb": rss,
                   "pool_size": int((server_env or {}).get("ATUM_DB_POOL_SIZE") or settings.db_pool_size),
                   "goal_rss_mb": GOAL_RSS_MB, "passed": rss < GOAL_RSS_MB},
        "operations": operations,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """The aiohttp load generator's process: one JSON job in argv, one JSON line of figures out."""
    args = list(sys.argv[1:] if argv is None else argv)
    print(json.dumps(asyncio.run(_client(json.loads(args[0])))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
