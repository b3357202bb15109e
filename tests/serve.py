"""``atumdesk serve`` as a separate process for tests that need the real server (browser and nginx
tests): a free loopback port, its output kept for failure messages and readable line by line."""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping

from atumdesk import PROJECT_ROOT


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    """``atumdesk serve`` on a free loopback port with ``env`` added to this process's environment."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.log: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "atumdesk.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=PROJECT_ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def wait_listening(self, timeout: float = 60) -> None:
        """Until the server logs the address it listens on (aiohttp's "Running on …")."""
        while True:
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                raise RuntimeError(f"the server did not start within {timeout} s:\n{''.join(self.log)}") from None
            if line is None:
                raise RuntimeError(f"the server ended early:\n{''.join(self.log)}")
            self.log.append(line)
            if f":{self.port}" in line:
                return

    def wait_for(self, fragment: str, timeout: float = 30) -> str:
        """The next output line containing ``fragment`` (e.g. the access log line of a request)."""
        while True:
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"the server logged no line with {fragment!r} within {timeout} s") from None
            if line is None:
                raise AssertionError(f"the server ended before logging {fragment!r}:\n{''.join(self.log)}")
            self.log.append(line)
            if fragment in line:
                return line

    def stop(self) -> None:
        """SIGTERM, and SIGKILL if it lingers."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
