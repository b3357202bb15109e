"""The HTTP API's SQL functions called as the app role, the way api/db.py calls them: input errors
name their field, lists follow row-level security, sign-in throttling counts in the database,
Idempotency-Keys answer once, and the hourly purge clears old sign-in state."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.support import Database, build_org


def test_bad_input_raises_at422_naming_the_field(db: Database, owner: psycopg.Connection) -> None:
    alpha = build_org(owner, "alpha")
    cases = [
        ("SELECT api.ticket_create(%s)", {"subject": 7.5, "priority": "later"}, "priority"),
        ("SELECT api.ticket_create(%s)", {"subject": "x", "nonsense": 1}, "nonsense"),
        ("SELECT api.ticket_list(%s)", {"limit": "0"}, "limit"),
        ("SELECT api.ticket_list(%s)", {"after": "1.2.3"}, "after"),
        ("SELECT api.ticket_list(%s)", {"assignee_id": "someone"}, "assignee_id"),
    ]
    for sql, body, field in cases:
        with db.acting_as(alpha.tokens["agent"]) as conn, pytest.raises(psycopg.Error) as raised:
            conn.execute(sql, [Jsonb(body)])
        assert raised.value.diag.sqlstate == "AT422", body
        assert raised.value.diag.column_name == field, body


def test_the_list_shows_a_customer_only_their_tickets(db: Database, owner: psycopg.Connection) -> None:
    alpha = build_org(owner, "alpha")
    build_org(owner, "beta")
    with db.acting_as(alpha.tokens["customer"]) as conn:
        page = conn.execute("SELECT api.ticket_list('{}') AS p").fetchone()["p"]
    assert [t["id"] for t in page["items"]] == [alpha.ticket_id]
    with db.acting_as(alpha.tokens["manager"]) as conn:
        page = conn.execute("SELECT api.ticket_list('{}') AS p").fetchone()["p"]
    assert {t["id"] for t in page["items"]} == {alpha.ticket_id, alpha.other_ticket_id}


def test_failed_sign_ins_lock_the_account_in_the_database(db: Database, owner: psycopg.Connection) -> None:
    build_org(owner, "alpha")
    args = ["agent@alpha.example", None, "192.0.2.7"]
    with db.connect("atum_app", autocommit=True) as app:
        for _ in range(5):
            assert app.execute("SELECT api.login_complete(%s, %s, %s, 'test', NULL, NULL, NULL)",
                               args).fetchone()[0] == {"failed": True}
        locked = app.execute("SELECT api.login_candidates(%s, %s, %s)", args).fetchone()[0]
        assert 0 < locked["locked_for"] <= 900 and "candidates" not in locked
        other = app.execute("SELECT api.login_candidates('manager@alpha.example', NULL, '192.0.2.8')").fetchone()[0]
        assert other["candidates"] == []  # build_org's users have no password: nothing to check against


def test_an_idempotency_key_creates_once_per_user(db: Database, owner: psycopg.Connection) -> None:
    alpha = build_org(owner, "alpha")
    body = Jsonb({"subject": "Same request twice"})
    with db.connect("atum_app") as app:
        app.execute("SELECT api.authenticate(%s)", [alpha.tokens["customer"]])
        first = app.execute("SELECT api.ticket_create(%s, 'key-1')", [body]).fetchone()[0]
        second = app.execute("SELECT api.ticket_create(%s, 'key-1')", [body]).fetchone()[0]
        app.commit()
    assert first == second
    assert owner.execute("SELECT count(*) FROM atum.tickets WHERE subject = 'Same request twice'").fetchone() == (1,)


def test_the_hourly_purge_clears_old_sign_in_state_only(db: Database, owner: psycopg.Connection) -> None:
    alpha = build_org(owner, "alpha")
    owner.execute("INSERT INTO atum.login_throttles (key, failures, window_started_at) VALUES"
                  " ('address:192.0.2.1', 3, now() - interval '2 days'), ('address:192.0.2.2', 3, now())")
    owner.execute("INSERT INTO atum.idempotency_keys (organization_id, user_id, key, operation, request_hash,"
                  " created_at) VALUES (%s, %s, 'old', 'ticket_create', '\\x00', now() - interval '25 hours'),"
                  " (%s, %s, 'new', 'ticket_create', '\\x00', now())",
                  [alpha.id, alpha.users["customer"], alpha.id, alpha.users["customer"]])
    removed = owner.execute("SELECT atum.sign_in_state_purge()").fetchone()[0]
    assert removed == 2
    assert owner.execute("SELECT key FROM atum.login_throttles").fetchall() == [("address:192.0.2.2",)]
    assert owner.execute("SELECT key FROM atum.idempotency_keys").fetchall() == [("new",)]


def test_customers_cannot_edit_their_tickets_fields_even_with_sql(db: Database, owner: psycopg.Connection) -> None:
    alpha = build_org(owner, "alpha")
    for change in ("priority = 'URGENT'", "subject = 'changed'", f"assignee_id = {alpha.users['agent']}"):
        with db.acting_as(alpha.tokens["customer"]) as conn, pytest.raises(psycopg.Error) as raised:
            conn.execute(f"UPDATE atum.tickets SET {change} WHERE id = %s", [alpha.ticket_id])  # noqa: S608
        assert raised.value.diag.sqlstate == "AT403", change
    with db.acting_as(alpha.tokens["agent"]) as conn:  # staff may
        conn.execute("UPDATE atum.tickets SET priority = 'URGENT' WHERE id = %s", [alpha.ticket_id])
