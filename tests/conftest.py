"""Test harness: one throwaway PostgreSQL 15 cluster with pg_cron for the whole run, and for each
test a fresh database cloned from a migrated template (pytest-postgresql's janitor does the cloning).

The cluster is created by the same code as `make run` (atumdesk.instance), so it runs as an
unprivileged user when the tests run as root.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pytest_postgresql import factories
from pytest_postgresql.executors import NoopExecutor
from pytest_postgresql.janitor import DatabaseJanitor

from atumdesk import settings as settings_mod
from atumdesk.instance import Instance
from atumdesk.migrate import migrate
from tests.support import Database

# A database migrated with the full production path (cron jobs scheduled) at the start of the run,
# so the pg_cron test at the end finds runs without waiting a whole minute of its own.
CRON_DATABASE = "atum_cron_check"
_RUN: dict[str, settings_mod.Settings] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run slow tests (pg_cron's minute tick, whole processes) last, so the tick has passed."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is not None)


@pytest.fixture(scope="session")
def cluster() -> Iterator[settings_mod.Settings]:
    """A PostgreSQL cluster with pg_cron in a temporary directory; settings that point at it."""
    root = Path(tempfile.mkdtemp(prefix="atum-test-"))
    root.chmod(0o755)  # the server's user must reach the cluster folder inside
    instance = Instance(
        root / "pg",
        extra_settings={
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "track_functions": "'all'",  # lets tests count how often policy functions run
            "max_connections": "60",
        },
    )
    try:
        instance.init()
        instance.start()
        settings = settings_mod.load({"ATUM_DATA_DIR": str(root)})
        _RUN["settings"] = settings
        migrate(settings, dbname=CRON_DATABASE, schedule_cron=True)
        yield settings
    finally:
        instance.stop()
        shutil.rmtree(root, ignore_errors=True)


def _load_schema(host: str, port: int, user: str, dbname: str, password: str | None = None, **_: Any) -> None:
    """Template loader: the real `atumdesk migrate` path, without touching pg_cron's job list."""
    migrate(_RUN["settings"], dbname=dbname, schedule_cron=False)


@pytest.fixture(scope="session")
def atum_template(cluster: settings_mod.Settings) -> Iterator[NoopExecutor]:
    """The migrated template database; pytest-postgresql clones it for every test."""
    server = NoopExecutor(host=str(cluster.socket_dir), port=cluster.pg_port, user="postgres", options="",
                          dbname="atum_test")
    janitor = DatabaseJanitor(user=server.user, host=server.host, port=server.port, dbname=server.template_dbname,
                              maintenance_dbname="postgres", as_template=True)
    with janitor:
        janitor.load(_load_schema)
        yield server


postgresql = factories.postgresql("atum_template")


@pytest.fixture
def db(postgresql: psycopg.Connection, cluster: settings_mod.Settings) -> Database:
    """A fresh, migrated database for one test, with helpers to connect as each role."""
    dbname = postgresql.info.dbname
    postgresql.close()  # the janitor's superuser connection is not needed
    return Database(settings=cluster, dbname=dbname)


@pytest.fixture
def owner(db: Database) -> Iterator[psycopg.Connection]:
    """A connection as atum_owner (autocommit): arranging data the way the CLI does."""
    with db.connect("atum_owner", autocommit=True) as conn:
        yield conn

