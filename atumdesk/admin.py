"""Administration commands run as the owner: organizations, users, pg_cron status."""

from __future__ import annotations

from typing import Any, TextIO

import psycopg

from atumdesk.db import connect, refusal
from atumdesk.errors import AtumError
from atumdesk.migrate import cron_job_name
from atumdesk.passwords import hash_password, password_problem
from atumdesk.queries import query
from atumdesk.settings import Settings


def _owner(settings: Settings) -> psycopg.Connection[dict[str, Any]]:
    return connect(settings.conninfo("owner"), "the owner (ATUM_OWNER_DATABASE_URL)", dict_rows=True,
                   application_name="atumdesk-cli")


def org_create(settings: Settings, *, name: str, slug: str, time_zone: str) -> dict[str, Any]:
    """Create an organization with default calendars and SLA policies."""
    with _owner(settings) as conn:
        try:
            row = conn.execute(query("org_create"), {"name": name, "slug": slug, "time_zone": time_zone}).fetchone()
        except psycopg.Error as exc:
            raise refusal(exc) from None
    assert row is not None
    return row


def read_password(stream: TextIO, *, required: bool) -> str | None:
    """The password from the first line of ``stream`` (a pipe or a terminal prompt)."""
    if not required:
        return None
    if stream.isatty():
        import getpass

        password = getpass.getpass("password: ")
    else:
        password = stream.readline().rstrip("\r\n")
    problem = password_problem(password)
    if problem:
        raise AtumError(f"{problem} (it is read from standard input)")
    return password


def user_create(
    settings: Settings, *, org: str, email: str, role: str, name: str, password: str | None
) -> dict[str, Any]:
    """Create a user; the password is hashed with argon2id before it leaves this process."""
    password_hash = hash_password(password) if password is not None else None
    with _owner(settings) as conn:
        try:
            row = conn.execute(query("user_create"), {"org": org, "email": email, "role": role, "name": name,
                                                      "password_hash": password_hash}).fetchone()
        except psycopg.Error as exc:
            raise refusal(exc) from None
    assert row is not None
    return row


def cron_status(settings: Settings) -> list[dict[str, Any]]:
    """pg_cron's jobs for this database with their last run (read from the pg_cron database)."""
    from psycopg.conninfo import make_conninfo

    admin = "the administrator (ATUM_ADMIN_DATABASE_URL)"
    try:
        with connect(settings.conninfo("admin"), admin, dict_rows=True) as conn:
            row = conn.execute(query("cron_database")).fetchone()
            cron_db = row["name"] if row else None
        if not cron_db:
            raise AtumError("pg_cron is not preloaded in this PostgreSQL (see deploy/postgresql/atumdesk.conf)")
        with connect(make_conninfo(settings.conninfo("admin"), dbname=cron_db), admin, dict_rows=True) as conn:
            return conn.execute(query("cron_status"),
                                {"prefix": cron_job_name(settings.database_name, "")}).fetchall()
    except psycopg.Error as exc:
        raise refusal(exc) from None
