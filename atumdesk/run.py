"""`atumdesk run` and `atumdesk stop`: the embedded instance and the server in the foreground.

`make run` ends here: create and start the cluster under the data directory (once), migrate,
load the demo organization if there is none, print the logins, start one `atumdesk worker` process
beside the server, serve until Ctrl-C or SIGTERM, then stop the worker and the cluster cleanly.
`make stop` (`atumdesk stop`) does the same from another terminal.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from atumdesk.errors import AtumError
from atumdesk.instance import Instance
from atumdesk.settings import Settings


def _pidfile(settings: Settings) -> Path:
    return settings.data_dir / "atumdesk.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _start_worker() -> subprocess.Popen[bytes]:
    """`atumdesk worker` as a child with the same environment (settings); its JSON log lines go to
    our stderr. It runs in its own session and stops when we send it SIGTERM."""
    # Its own session: a Ctrl-C in the terminal goes to the server only (it may arrive while the worker
    # is still importing, before its handlers are installed); the server stops the worker with SIGTERM.
    return subprocess.Popen([sys.executable, "-m", "atumdesk.cli", "worker"], start_new_session=True)


def _stop_worker(worker: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """SIGTERM (harmless if Ctrl-C already asked it to stop): it finishes its job and exits."""
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"the worker did not stop within {timeout:.0f} s; killing it", file=sys.stderr)
        worker.kill()
        worker.wait()


def run(settings: Settings, *, demo_tickets: int) -> int:
    """Start everything, serve in the foreground, stop everything on the way out."""
    from api.app import serve
    from atumdesk import demo
    from atumdesk.migrate import migrate

    pidfile = _pidfile(settings)
    if pidfile.exists():
        other = int(pidfile.read_text().strip() or 0)
        if other and other != os.getpid() and _alive(other):
            raise AtumError(f"already running (pid {other}); `make stop` stops it")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    instance = Instance(settings.pg_root, port=settings.pg_port)
    if instance.init():
        print(f"created PostgreSQL cluster in {instance.root}", file=sys.stderr)
    instance.start()
    # SIGTERM (make stop, systemd) takes the same clean path as Ctrl-C; while serving, aiohttp
    # handles both signals itself and returns from serve().
    signal.signal(signal.SIGTERM, _interrupt)
    pidfile.write_text(str(os.getpid()))
    worker: subprocess.Popen[bytes] | None = None
    try:
        migrate(settings, log=lambda msg: print(msg, file=sys.stderr))
        demo.load(settings, tickets=demo_tickets, organizations=None, if_empty=True, progress=True)
        worker = _start_worker()
        url = f"http://{settings.http_host}:{settings.http_port}"
        print(f"\nATUM DESK is serving on {url} (Ctrl-C or `make stop` to stop)\n", flush=True)
        serve(settings, host=settings.http_host, port=settings.http_port)
    except KeyboardInterrupt:
        pass
    finally:
        if worker is not None:
            _stop_worker(worker)  # before PostgreSQL goes, so it stops without connection errors
        with contextlib.suppress(FileNotFoundError):
            pidfile.unlink()
        print("stopping PostgreSQL ...", file=sys.stderr)
        instance.stop()
    return 0


def stop(settings: Settings) -> int:
    """Stop a running `atumdesk run` (and its cluster), or just the cluster."""
    pidfile = _pidfile(settings)
    if pidfile.exists():
        pid = int(pidfile.read_text().strip() or 0)
        if pid and _alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 60
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(pid):
                raise AtumError(f"process {pid} did not stop within 60 s")
            print(f"stopped atumdesk run (pid {pid})")
    instance = Instance(settings.pg_root, port=settings.pg_port)
    print("stopped PostgreSQL" if instance.stop() else "PostgreSQL was not running")
    return 0
