"""`make run` as a person uses it: an embedded instance created in a fresh directory, demo data,
the server answering, Ctrl-C stopping everything; a second run reuses it and `make stop` stops it.

The data directory sits under pytest's private tmp folder, so when the tests run as root this
also proves the cluster is relocated where its unprivileged user can reach it."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from atumdesk import PROJECT_ROOT
from atumdesk.instance import Instance

pytestmark = pytest.mark.slow


class Running:
    """A `make run` process group whose output is read line by line in the background."""

    def __init__(self, env: dict[str, str]) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        self.proc = subprocess.Popen(["make", "--no-print-directory", "run", "DEMO_TICKETS=60"], cwd=PROJECT_ROOT,
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, text: str, timeout: float = 240) -> None:
        """Block until a line containing ``text`` is printed (the event), or fail with the output."""
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                pytest.fail(f"no {text!r} within {timeout} s:\n{''.join(self.output)}")
            if line is None:
                pytest.fail(f"make run ended before {text!r}:\n{''.join(self.output)}")
            self.output.append(line)
            if text in line:
                return

    def finish(self, timeout: float = 90) -> str:
        self.proc.wait(timeout=timeout)
        while (line := self.lines.get(timeout=10)) is not None:
            self.output.append(line)
        return "".join(self.output)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    data = tmp_path / "data"
    yield data
    instance = Instance(data / "pg")
    if instance.is_initialised():
        instance.stop()
    real = (data / "pg").resolve()
    shutil.rmtree(real, ignore_errors=True)


def test_make_run_serves_demo_data_and_stops_on_ctrl_c_then_reuses_it(data_dir: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATUM_", "MAKE", "MFLAGS"))}
    env |= {"ATUM_DATA_DIR": str(data_dir), "ATUM_PORT": str(port)}
    base = f"http://127.0.0.1:{port}"

    first = Running(env)
    first.wait_for("Running on")
    status, headers, body = get(f"{base}/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    status, _, body = get(f"{base}/readyz")
    assert status == 200 and json.loads(body)["status"] == "ready"
    status, headers, body = get(f"{base}/")
    assert status == 200 and b"ATUM DESK" in body
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    socket_dir = data_dir / "pg" / "run"
    with psycopg.connect(host=str(socket_dir), user="atum_owner", dbname="atumdesk") as conn:
        assert conn.execute("SELECT count(*) FROM atum.organizations WHERE slug = 'demo'").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM atum.tickets").fetchone()[0] >= 60
    assert "demo-password" in "".join(first.output)
    # The demo's knowledge base answers a portal visitor's search.
    status, _, body = get(f"{base}/api/v1/kb/search?organization=demo&q=paper+jam")
    assert status == 200 and json.loads(body)["items"][0]["title"] == "Clear a paper jam", body
    if os.geteuid() == 0:
        assert (data_dir / "pg" / "data").resolve().stat().st_uid != 0, "PostgreSQL's files must not be root's"

    os.killpg(first.proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
    output = first.finish()
    assert "stopping PostgreSQL" in output
    assert not Instance(data_dir / "pg").is_running()
    assert "Traceback" not in output

    second = Running(env)
    second.wait_for("Running on")
    assert "created PostgreSQL cluster" not in "".join(second.output)
    assert get(f"{base}/healthz")[0] == 200
    stop = subprocess.run(["make", "--no-print-directory", "stop"], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    output = second.finish()
    assert second.proc.returncode == 0, output
    assert not Instance(data_dir / "pg").is_running()
