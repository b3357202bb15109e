"""PostgreSQL's client programs (pg_dump, pg_dumpall, pg_restore, psql) run for the backups, and
the little things every step shares: queries by name, progress bars, the one-line error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, LiteralString

from psycopg.conninfo import conninfo_to_dict, make_conninfo
from tqdm import tqdm

from atumdesk.backups.archive import BackupError
from atumdesk.instance import pg_bindir
from atumdesk.queries import query

QUERIES = Path(__file__).with_name("queries.sql")


def q(name: str) -> LiteralString:
    """A query of atumdesk/backups/queries.sql by name."""
    return query(name, QUERIES)


def program(name: str) -> str:
    """The path of a PostgreSQL client program of the server's version (ATUM_PG_BINDIR overrides)."""
    return str(pg_bindir() / name)


def libpq(conninfo: str) -> tuple[str, dict[str, str]]:
    """A connection string for a program's --dbname, and its environment: the password travels in
    PGPASSWORD, never on a command line that `ps` shows."""
    params = conninfo_to_dict(conninfo)
    password = params.pop("password", None)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env |= {"LC_ALL": "C.UTF-8", "PGAPPNAME": "atumdesk-backup", "PGTZ": "UTC"}
    if password is not None:
        env["PGPASSWORD"] = str(password)
    return make_conninfo("", **{k: str(v) for k, v in params.items()}), env


def last_line(text: str, default: str) -> str:
    """The last non-empty line of a program's stderr (where it says what went wrong)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else default


def run(args: list[str], conninfo: str, what: str, *, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """Run a client program against ``conninfo``; BackupError with its last error line on failure."""
    dsn, env = libpq(conninfo)
    proc = subprocess.run([*args, f"--dbname={dsn}"], capture_output=True, text=True, env=env, timeout=timeout,
                          check=False)
    if proc.returncode != 0:
        raise BackupError(f"{what} failed: {last_line(proc.stderr, f'exit status {proc.returncode}')}")
    return proc


def bar(progress: bool, **kwargs: Any) -> tqdm:
    """A progress bar on standard error, shown only when asked for and stderr is a terminal."""
    return tqdm(disable=not (progress and sys.stderr.isatty()), file=sys.stderr, dynamic_ncols=True,
                leave=False, **kwargs)
