"""The `atumdesk` command line as an operator uses it: real processes against a real database.
Bad input gives one line on stderr, exit status 2, and leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest
from argon2 import PasswordHasher, extract_parameters
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tests.support import Database


@pytest.fixture
def atumdesk(db: Database):
    env = dict(os.environ, ATUM_DATA_DIR=str(db.settings.data_dir),
               ATUM_DATABASE_URL=make_conninfo(db.settings.database_url, dbname=db.dbname))

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "atumdesk.cli", *args], input=stdin, env=env,
                              capture_output=True, text=True, timeout=120, check=False)

    return run


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("atumdesk: error: ")
    return proc.stderr.strip()


def count(owner: psycopg.Connection, table: str) -> int:
    return owner.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("atum", table))).fetchone()[0]


def test_org_create_gives_default_sla_policies_and_calendars(atumdesk, owner: psycopg.Connection) -> None:
    proc = atumdesk("org", "create", "Globex Support", "--slug", "globex", "--time-zone", "America/New_York")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("created organization globex")
    org = owner.execute("SELECT id, name, time_zone FROM atum.organizations WHERE slug = 'globex'").fetchone()
    assert org[1:] == ("Globex Support", "America/New_York")
    policies = owner.execute("SELECT priority::text, first_response_minutes, resolution_minutes FROM atum.sla_policies"
                             " WHERE organization_id = %s ORDER BY sla_policies.priority", [org[0]]).fetchall()
    assert [p[0] for p in policies] == ["LOW", "MEDIUM", "HIGH", "URGENT"]
    assert all(0 < fr <= res for _, fr, res in policies)
    hours = owner.execute("SELECT count(*) FROM atum.calendar_hours h JOIN atum.business_calendars c"
                          " ON c.organization_id = h.organization_id AND c.id = h.calendar_id"
                          " WHERE c.organization_id = %s AND c.is_default", [org[0]]).fetchone()[0]
    assert hours == 5


@pytest.mark.parametrize(("args", "message"), [
    (["Bad", "--slug", "Bad Slug!"], "slug 'Bad Slug!' is not valid"),
    (["", "--slug", "empty-name"], "name must be 1 to 200 characters"),
    (["Moon", "--slug", "moon", "--time-zone", "Moon/Base"], "unknown time zone 'Moon/Base'"),
    (["No slug"], "the following arguments are required: --slug"),
])
def test_org_create_refuses_bad_input_and_creates_nothing(atumdesk, owner: psycopg.Connection,
                                                          args: list[str], message: str) -> None:
    assert message in one_line_error(atumdesk("org", "create", *args))
    assert count(owner, "organizations") == 0
    assert count(owner, "business_calendars") == 0


def test_org_create_refuses_a_taken_slug(atumdesk, owner: psycopg.Connection) -> None:
    assert atumdesk("org", "create", "Initech", "--slug", "initech").returncode == 0
    assert "an organization with slug initech already exists" in one_line_error(
        atumdesk("org", "create", "Initech 2", "--slug", "initech"))
    assert count(owner, "organizations") == 1


def test_user_create_reads_the_password_from_stdin_and_stores_argon2id(atumdesk, owner: psycopg.Connection) -> None:
    assert atumdesk("org", "create", "Initech", "--slug", "initech").returncode == 0
    proc = atumdesk("user", "create", "--org", "initech", "--email", "Peter@Initech.Example", "--role", "agent",
                    "--name", "Peter Gibbons", stdin="tps reports 4ever\n")
    assert proc.returncode == 0, proc.stderr
    email, name, role, stored = owner.execute(
        "SELECT email, display_name, role::text, password_hash FROM atum.users").fetchone()
    assert (email, name, role) == ("peter@initech.example", "Peter Gibbons", "agent")
    params = extract_parameters(stored)
    assert params.type.name == "ID"
    assert params.memory_cost >= 19 * 1024 and params.time_cost >= 2 and params.parallelism == 1
    assert PasswordHasher().verify(stored, "tps reports 4ever")


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["--org", "initech", "--email", "a@initech.example", "--role", "agent"], "short\n",
     "the password must have at least 8 characters"),
    (["--org", "nowhere", "--email", "a@initech.example", "--role", "agent"], "long enough pw\n",
     "no organization with slug 'nowhere'"),
    (["--org", "initech", "--email", "not-an-address", "--role", "agent"], "long enough pw\n",
     "'not-an-address' is not a valid e-mail address"),
    (["--org", "initech", "--email", "a@initech.example", "--role", "king"], "long enough pw\n",
     "invalid choice: 'king'"),
    (["--org", "initech", "--email", "a@initech.example", "--role", "agent"], "",
     "the password must have at least 8 characters"),
])
def test_user_create_refuses_bad_input_and_creates_nothing(atumdesk, owner: psycopg.Connection,
                                                           args: list[str], stdin: str, message: str) -> None:
    assert atumdesk("org", "create", "Initech", "--slug", "initech").returncode == 0
    assert message in one_line_error(atumdesk("user", "create", *args, stdin=stdin))
    assert count(owner, "users") == 0


def test_user_create_refuses_a_duplicate_email_in_any_case(atumdesk, owner: psycopg.Connection) -> None:
    assert atumdesk("org", "create", "Initech", "--slug", "initech").returncode == 0
    first = ["--org", "initech", "--email", "bob@initech.example", "--role", "customer"]
    assert atumdesk("user", "create", *first, stdin="long enough pw\n").returncode == 0
    again = ["--org", "initech", "--email", "BOB@initech.example", "--role", "admin"]
    assert "already exists" in one_line_error(atumdesk("user", "create", *again, stdin="long enough pw\n"))
    assert count(owner, "users") == 1


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("ATUM_PORT", "eighty", "ATUM_PORT must be a whole number"),
    ("ATUM_PG_PORT", "70000", "ATUM_PG_PORT must be between 1 and 65535"),
    ("ATUM_DATABASE_URL", "host=/tmp port=notaport = =",
     "ATUM_DATABASE_URL is not a valid PostgreSQL connection string"),
])
def test_bad_settings_are_named_in_one_line(variable: str, value: str, message: str) -> None:
    env = dict(os.environ, **{variable: value})
    proc = subprocess.run([sys.executable, "-m", "atumdesk.cli", "migrate"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert message in one_line_error(proc)
