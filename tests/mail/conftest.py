"""Fixtures of the mail tests: settings whose attachment store is a temporary folder, two
organizations with everything in them (tests/support.build_org), and ``deliver`` — a message
ingested through the same function IMAP polling calls."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from atumdesk.settings import Settings
from jobs.mail_ingest import IngestResult, ingest
from tests.support import Database, Org, build_org

Deliver = Callable[..., IngestResult]


@pytest.fixture
def mail_settings(db: Database, tmp_path: Path) -> Settings:
    """The test cluster's settings, pointing at this test's database and a fresh data folder."""
    return dataclasses.replace(db.settings, data_dir=tmp_path, database_url=db.conninfo("atum_app"),
                               owner_database_url=db.conninfo("atum_owner"))


@pytest.fixture
def alpha(owner: psycopg.Connection) -> Org:
    return build_org(owner, "alpha")


@pytest.fixture
def beta(owner: psycopg.Connection, alpha: Org) -> Org:
    return build_org(owner, "beta")


@pytest.fixture
def deliver(owner: psycopg.Connection, mail_settings: Settings, alpha: Org) -> Deliver:
    """Ingest raw bytes into an organization (alpha unless told), as the IMAP poller does."""

    def run(raw: bytes, org: Org | None = None, *, settings: Settings | None = None,
            mailbox_id: int | None = None) -> IngestResult:
        return ingest(owner, settings or mail_settings, (org or alpha).id, raw, mailbox_id=mailbox_id)

    return run
