"""The audit trail: every change to tenant data is logged by triggers with who, when and what;
the log is append-only and its hash chain exposes any edit made behind its back."""

from __future__ import annotations

import threading
from typing import Any, LiteralString

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from tests.support import Database, Org, audited_tables, build_org, transition


@pytest.fixture
def org(owner: psycopg.Connection) -> Org:
    return build_org(owner, "acme")


def audit(owner: psycopg.Connection, where: LiteralString = "true", params: list | None = None
          ) -> list[dict[str, Any]]:
    """Audit rows matching a condition written in the test (never from input)."""
    query = sql.SQL("SELECT * FROM atum.audit_log WHERE {} ORDER BY organization_id, seq").format(sql.SQL(where))
    with owner.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params or []).fetchall()


def problems(owner: psycopg.Connection, org_id: int) -> list[tuple[int, str]]:
    return owner.execute("SELECT seq, problem FROM atum.audit_verify(%s)", [org_id]).fetchall()


def test_every_tenant_table_change_of_the_world_was_audited(owner: psycopg.Connection, org: Org) -> None:
    audited = {r["table_name"] for r in audit(owner, "organization_id = %s", [org.id])}
    expected = set(audited_tables(owner))
    assert expected <= audited


def test_a_change_through_the_app_records_actor_fields_and_values(db: Database, owner: psycopg.Connection,
                                                                  org: Org) -> None:
    with db.connect("atum_app") as conn:
        conn.execute("SELECT api.authenticate(%s)", [org.tokens["agent"]])
        conn.execute("UPDATE atum.tickets SET priority = 'HIGH', assignee_id = %s WHERE id = %s",
                     [org.users["agent"], org.ticket_id])
        conn.commit()
    [entry] = audit(owner, "table_name = 'tickets' AND action = 'UPDATE' AND db_role = 'atum_app'")
    assert entry["actor_user_id"] == org.users["agent"]
    assert entry["actor_role"] == "agent"
    assert entry["db_role"] == "atum_app"
    assert entry["ticket_id"] == org.ticket_id
    assert entry["row_key"] == {"id": org.ticket_id}
    # Only what changed; updated_at is bookkeeping and left out.
    assert entry["old_values"] == {"priority": "MEDIUM", "assignee_id": None}
    assert entry["new_values"] == {"priority": "HIGH", "assignee_id": org.users["agent"]}


def test_inserts_and_deletes_keep_the_whole_row(owner: psycopg.Connection, org: Org) -> None:
    owner.execute("DELETE FROM atum.ticket_comments WHERE id = %s", [org.internal_comment_id])
    [inserted] = audit(owner, "table_name = 'ticket_comments' AND action = 'INSERT' AND row_key = %s",
                       [psycopg.types.json.Jsonb({"id": org.internal_comment_id})])
    [deleted] = audit(owner, "table_name = 'ticket_comments' AND action = 'DELETE'")
    assert inserted["new_values"]["body"] == "Customer is on the legacy plan."
    assert deleted["old_values"] == inserted["new_values"]
    assert "organization_id" not in deleted["old_values"]


def test_secrets_never_reach_the_audit_log(owner: psycopg.Connection, org: Org) -> None:
    owner.execute("UPDATE atum.users SET password_hash = '$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA' WHERE id = %s",
                  [org.users["agent"]])
    [entry] = audit(owner, "table_name = 'users' AND action = 'UPDATE'")
    assert entry["new_values"] == {"password_hash": "[redacted]"}
    tokens = audit(owner, "table_name IN ('sessions', 'api_tokens')")
    assert tokens and all(e["new_values"]["token_hash"] == "[redacted]" for e in tokens)


def test_an_update_that_changes_nothing_leaves_no_entry(owner: psycopg.Connection, org: Org) -> None:
    before = len(audit(owner))
    owner.execute("UPDATE atum.tickets SET subject = subject WHERE organization_id = %s", [org.id])
    assert len(audit(owner)) == before


def test_bulk_changes_are_one_entry_per_row_in_one_chain(owner: psycopg.Connection, org: Org) -> None:
    before = len(audit(owner, "organization_id = %s", [org.id]))
    owner.execute("INSERT INTO atum.tags (organization_id, name) SELECT %s, 'tag-' || g FROM generate_series(1, 250) g",
                  [org.id])
    entries = audit(owner, "organization_id = %s", [org.id])
    assert len(entries) == before + 250
    added = entries[before:]
    assert len({e["lane"] for e in added}) == 1, "one statement appends to one chain"
    assert [e["seq"] for e in added] == sorted({e["seq"] for e in added}), "seq increases along the chain"
    assert [e["prev_hash"] for e in added[1:]] == [e["hash"] for e in added[:-1]]
    assert problems(owner, org.id) == []


def test_the_audit_log_cannot_be_altered_by_the_app(db: Database, org: Org) -> None:
    with db.connect("atum_app") as conn:
        conn.execute("SELECT api.authenticate(%s)", [org.tokens["admin"]])
        assert conn.execute("SELECT count(*) FROM atum.audit_log").fetchone()[0] > 0  # admins may read it
        for statement in ("UPDATE atum.audit_log SET action = 'X'", "DELETE FROM atum.audit_log",
                          "TRUNCATE atum.audit_log",
                          "INSERT INTO atum.audit_log (organization_id, seq, occurred_at, db_role, action,"
                          " transaction_id, prev_hash, hash) SELECT organization_id, seq + 1000, occurred_at,"
                          " db_role, action, 0, hash, hash FROM atum.audit_log LIMIT 1"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute(statement)


def test_customers_cannot_read_the_audit_log(db: Database, org: Org) -> None:
    with db.acting_as(org.tokens["customer"]) as conn:
        assert conn.execute("SELECT count(*) AS n FROM atum.audit_log").fetchone()["n"] == 0


@pytest.mark.parametrize("statement", [
    "UPDATE atum.audit_log SET action = 'DELETE' WHERE seq = 1",
    "DELETE FROM atum.audit_log WHERE seq = 1",
    "TRUNCATE atum.audit_log",
])
def test_even_the_owner_cannot_alter_it_without_the_maintenance_path(owner: psycopg.Connection, org: Org,
                                                                     statement: str) -> None:
    with pytest.raises(psycopg.Error) as err:
        owner.execute(statement)
    assert err.value.sqlstate == "AT403"
    assert problems(owner, org.id) == []


@pytest.mark.parametrize(("tampering", "expected"), [
    ("UPDATE atum.audit_log SET new_values = jsonb_set(new_values, '{subject}', '\"Nothing happened\"')"
     " WHERE organization_id = %(org)s AND table_name = 'tickets' AND action = 'INSERT' AND seq = %(seq)s",
     "content does not match its hash (row edited)"),
    ("DELETE FROM atum.audit_log WHERE organization_id = %(org)s AND seq = %(seq)s",
     "does not link to the previous row's hash (row removed or replaced before it)"),
    ("DELETE FROM atum.audit_log WHERE organization_id = %(org)s AND seq = (SELECT min(seq) FROM atum.audit_log"
     " WHERE organization_id = %(org)s)", "the chain does not start here (rows removed at the start)"),
    ("DELETE FROM atum.audit_log WHERE organization_id = %(org)s AND seq = (SELECT max(seq) FROM atum.audit_log"
     " WHERE organization_id = %(org)s)", "the chain ends before its recorded head (rows removed at the end)"),
])
def test_the_hash_chain_exposes_edits_made_by_the_owner(owner: psycopg.Connection, org: Org,
                                                        tampering: str, expected: str) -> None:
    seq = owner.execute("SELECT min(seq) FROM atum.audit_log WHERE organization_id = %s AND table_name = 'tickets'",
                        [org.id]).fetchone()[0]
    owner.execute("SET atum.audit_maintenance = on")
    owner.execute(tampering, {"org": org.id, "seq": seq})
    found = [p for _, p in problems(owner, org.id)]
    assert expected.format(seq=seq) in found


def test_a_forged_row_with_a_recomputed_hash_still_breaks_the_link(owner: psycopg.Connection, org: Org) -> None:
    """An editor who recomputes the edited row's hash breaks the next row's link instead."""
    seq = owner.execute("SELECT min(seq) FROM atum.audit_log WHERE organization_id = %s AND table_name = 'tickets'",
                        [org.id]).fetchone()[0]
    owner.execute("SET atum.audit_maintenance = on")
    owner.execute("""
        UPDATE atum.audit_log a SET new_values = '{}',
               hash = sha256(a.prev_hash || convert_to(atum_private.audit_payload(a.organization_id, a.seq,
                   a.occurred_at, a.actor_user_id, a.actor_role, a.db_role, a.application, a.action, a.table_name,
                   a.row_key, a.ticket_id, a.old_values, '{}', a.transaction_id, a.reason), 'UTF8'))
         WHERE organization_id = %s AND seq = %s""", [org.id, seq])
    following = owner.execute("""
        SELECT min(a.seq) FROM atum.audit_log a JOIN atum.audit_log e USING (organization_id, lane)
         WHERE a.organization_id = %s AND e.seq = %s AND a.seq > e.seq""", [org.id, seq]).fetchone()[0]
    assert following is not None
    assert problems(owner, org.id) == [(following, "does not link to the previous row's hash "
                                                   "(row removed or replaced before it)")]


def test_the_reason_of_a_change_is_hashed_with_its_row(db: Database, owner: psycopg.Connection, org: Org) -> None:
    ticket = owner.execute("INSERT INTO atum.tickets (organization_id, subject, requester_id)"
                           " VALUES (%s, 'Printer', %s) RETURNING id", [org.id, org.users["customer"]]).fetchone()[0]
    transition(db, org.tokens["manager"], ticket, "REJECTED", "Duplicate of ATUM-1")
    seq = owner.execute("SELECT seq FROM atum.audit_log WHERE ticket_id = %s AND reason IS NOT NULL",
                        [ticket]).fetchone()[0]
    assert problems(owner, org.id) == []
    owner.execute("SET atum.audit_maintenance = on")
    owner.execute("UPDATE atum.audit_log SET reason = 'No reason' WHERE organization_id = %s AND seq = %s",
                  [org.id, seq])
    assert problems(owner, org.id) == [(seq, "content does not match its hash (row edited)")]


def test_concurrent_writers_in_one_organization_keep_a_valid_chain(db: Database, owner: psycopg.Connection,
                                                                   org: Org) -> None:
    errors: list[BaseException] = []

    def write(role: str) -> None:
        try:
            for i in range(15):
                with db.connect("atum_app") as conn:
                    conn.execute("SELECT api.authenticate(%s)", [org.tokens[role]])
                    conn.execute("INSERT INTO atum.ticket_comments (organization_id, ticket_id, author_id, body)"
                                 " VALUES (%s, %s, atum.current_user_id(), %s)", [org.id, org.ticket_id, f"{role} {i}"])
                    conn.commit()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(role,)) for role in ("agent", "manager", "admin")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(audit(owner, "table_name = 'ticket_comments' AND action = 'INSERT'")) == 2 + 45
    assert problems(owner, org.id) == []
