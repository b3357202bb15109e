"""The request context: only a valid session or API token establishes it, it lasts one
transaction, and policies evaluate it once per statement."""

from __future__ import annotations

from typing import LiteralString

import psycopg
import pytest
from psycopg import sql

from tests.support import Database, Org, build_org, wait_backend_gone


@pytest.fixture
def org(owner: psycopg.Connection) -> Org:
    return build_org(owner, "acme")


def authenticate_error(db: Database, token: str | None) -> str:
    with db.connect("atum_app") as conn, pytest.raises(psycopg.Error) as err:
        conn.execute("SELECT api.authenticate(%s)", [token])
    return err.value.sqlstate or ""


def test_a_session_token_establishes_user_role_and_organization(db: Database, org: Org) -> None:
    with db.connect("atum_app") as conn:
        user = conn.execute("SELECT api.authenticate(%s)", [org.tokens["manager"]]).fetchone()[0]
        assert user["email"] == "manager@acme.example"
        assert user["role"] == "manager"
        assert user["organization"]["slug"] == "acme"
        assert user["time_zone"] == "Europe/Berlin"
        assert conn.execute("SELECT atum.current_org(), atum.current_user_id(), atum.current_user_role()").fetchone() \
            == (org.id, org.users["manager"], "manager")


@pytest.mark.parametrize("token", ["", None, "atum_s_nonsense", "atum_t_nonsense", "Bearer x", "atum_s_" + "A" * 43])
def test_unknown_tokens_are_refused_with_401s_code(db: Database, org: Org, token: str | None) -> None:
    assert authenticate_error(db, token) == "AT401"


@pytest.mark.parametrize("change", [
    "revoked_at = now()",
    "expires_at = now() - interval '1 second'",
    "last_seen_at = now() - interval '3 hours'",
])
def test_ended_sessions_are_refused(db: Database, owner: psycopg.Connection, org: Org, change: LiteralString) -> None:
    owner.execute(sql.SQL("UPDATE atum.sessions SET {} WHERE user_id = %s").format(sql.SQL(change)),
                  [org.users["agent"]])
    assert authenticate_error(db, org.tokens["agent"]) == "AT401"


def test_deactivated_users_lose_their_sessions(db: Database, owner: psycopg.Connection, org: Org) -> None:
    owner.execute("UPDATE atum.users SET is_active = false WHERE id = %s", [org.users["agent"]])
    assert authenticate_error(db, org.tokens["agent"]) == "AT401"


def test_an_api_token_acts_with_its_scope_not_the_users_full_role(db: Database, org: Org) -> None:
    with db.connect("atum_app") as conn:
        user = conn.execute("SELECT api.authenticate(%s)", ["atum_t_acme-integration-token"]).fetchone()[0]
    assert (user["email"], user["role"]) == ("admin@acme.example", "agent")


def test_sessions_record_activity_at_most_once_a_minute(db: Database, owner: psycopg.Connection, org: Org) -> None:
    owner.execute("UPDATE atum.sessions SET last_seen_at = now() - interval '10 minutes' WHERE user_id = %s",
                  [org.users["agent"]])
    for _ in range(3):
        with db.connect("atum_app") as conn:
            conn.execute("SELECT api.authenticate(%s)", [org.tokens["agent"]])
            conn.commit()
    seen = owner.execute("SELECT now() - last_seen_at < interval '1 minute' FROM atum.sessions WHERE user_id = %s",
                         [org.users["agent"]]).fetchone()[0]
    assert seen
    updates = owner.execute("SELECT count(*) FROM atum.audit_log WHERE table_name = 'sessions' AND action = 'UPDATE'"
                            ).fetchone()[0]
    assert updates == 0, "activity updates are bookkeeping, not audit events"


def test_a_transaction_can_be_made_read_only_after_authenticating(db: Database, org: Org) -> None:
    with db.connect("atum_app") as conn:
        assert conn.execute("SELECT api.authenticate(%s)", [org.tokens["agent"]]).fetchone()[0]["role"] == "agent"
        conn.execute("SET LOCAL transaction_read_only = on")  # what the API does for GET requests
        assert conn.execute("SELECT count(*) FROM atum.tickets").fetchone() == (2,)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("UPDATE atum.tickets SET subject = 'x'")


def test_policies_evaluate_the_context_once_per_statement_not_per_row(db: Database, owner: psycopg.Connection,
                                                                      org: Org) -> None:
    owner.execute("INSERT INTO atum.tickets (organization_id, subject, requester_id)"
                  " SELECT %s, 'Ticket ' || g, %s FROM generate_series(1, 500) g", [org.id, org.users["customer"]])
    with db.acting_as(org.tokens["customer"]) as conn:
        # Scans of the context table (sequential or through its key) in this transaction so far.
        lookups = ("SELECT pg_stat_get_xact_numscans('atum.request_contexts'::regclass)"
                   " + pg_stat_get_xact_numscans('atum.request_contexts_pkey'::regclass) AS n")
        before = conn.execute(lookups).fetchone()["n"]
        visible = conn.execute("SELECT count(*) AS n FROM atum.tickets").fetchone()["n"]
        after = conn.execute(lookups).fetchone()["n"]
    assert visible == 501
    assert 1 <= after - before <= 4, f"context looked up {after - before} times for 502 rows"


def test_contexts_of_ended_backends_are_purged_and_live_ones_kept(db: Database, owner: psycopg.Connection,
                                                                  org: Org) -> None:
    owner.commit()
    with db.connect("atum_app") as ended:
        ended.execute("SELECT api.authenticate(%s)", [org.tokens["agent"]])
        ended.commit()
        ended_pid = ended.info.backend_pid
    with db.connect("atum_app") as live:
        live.execute("SELECT api.authenticate(%s)", [org.tokens["agent"]])
        live.commit()
        wait_backend_gone(owner, ended_pid)
        assert owner.execute("SELECT atum.request_contexts_purge()").fetchone()[0] >= 1
        left = {r[0] for r in owner.execute("SELECT backend_pid FROM atum.request_contexts")}
        assert live.info.backend_pid in left and ended_pid not in left
