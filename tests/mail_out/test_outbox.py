"""Notifications at SQL level: each event queues exactly the right rows of atum.mail_outbox in its
own transaction (a rolled-back event leaves none), never to the actor, an inactive user or an
undeliverable address, nor in answer to an automatic message; SLA events and tokens expand once;
the state machine holds for every writer; secrets stay secret; only admins see the outbox and
manage the templates."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from tests.support import Database, Org, build_org, transition


@pytest.fixture
def org(owner: psycopg.Connection) -> Org:
    return build_org(owner, "acme")


def last_id(owner: psycopg.Connection) -> int:
    return owner.execute("SELECT coalesce(max(id), 0) FROM atum.mail_outbox").fetchone()[0]


def queued_since(owner: psycopg.Connection, after: int) -> list[dict[str, Any]]:
    """The notifications queued after ``after``, oldest first."""
    with owner.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM atum.mail_outbox WHERE id > %s ORDER BY id", [after]).fetchall()


def summary(rows: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(r["kind"], r["recipient_id"]) for r in rows]


def act(db: Database, token: str, statement: str, params: list[Any]) -> Any:
    """One statement as the user of ``token``, committed; its first value."""
    with db.acting_as(token) as conn:
        row = conn.execute(statement, params).fetchone()
        conn.commit()
    return next(iter(row.values())) if row else None


def comment(db: Database, org: Org, role: str, ticket: int, body: str = "We are on it.", internal: bool = False) -> Any:
    return act(db, org.tokens[role], "SELECT api.comment_create(%s, %s) AS c",
               [ticket, Jsonb({"body": body, "internal": internal})])


def assign(db: Database, org: Org, role: str, ticket: int, assignee: int | None) -> Any:
    return act(db, org.tokens[role], "SELECT api.ticket_assign(%s, %s) AS t",
               [ticket, Jsonb({"assignee_id": assignee})])


def open_ticket(db: Database, org: Org, role: str = "customer", **fields: Any) -> int:
    body = {"subject": "Printer on fire", "description": "Smoke everywhere.", **fields}
    return int(act(db, org.tokens[role], "SELECT api.ticket_create(%s) AS t", [Jsonb(body)])["id"])


def in_progress(db: Database, owner: psycopg.Connection, org: Org) -> int:
    """A ticket of the customer, accepted by the manager and being worked (no mail on the way
    but the acknowledgement)."""
    ticket = open_ticket(db, org)
    act(db, org.tokens["manager"], "SELECT api.ticket_accept(%s) AS t", [ticket])
    transition(db, org.tokens["agent"], ticket, "IN_PROGRESS")
    return ticket


# ---------------------------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------------------------
def test_a_customers_new_ticket_is_acknowledged_in_the_same_transaction(db: Database, owner: psycopg.Connection,
                                                                        org: Org) -> None:
    before = last_id(owner)
    with db.connect("atum_owner", row_factory=dict_row) as conn:
        # The owner may act through the API functions too: this lets the test look into the open
        # transaction, which the customer (who cannot read the outbox) could not.
        conn.execute("SELECT api.authenticate(%s)", [org.tokens["customer"]])
        ticket = conn.execute("SELECT api.ticket_create(%s) AS t",
                              [Jsonb({"subject": "Printer on fire", "description": "Smoke."})]).fetchone()["t"]
        inside = conn.execute("SELECT kind::text, recipient_id, ticket_id FROM atum.mail_outbox WHERE id > %s",
                              [before]).fetchall()
        assert inside == [{"kind": "ticket_received", "recipient_id": org.users["customer"], "ticket_id": ticket["id"]}]
        conn.rollback()
    assert queued_since(owner, before) == []  # the event rolled back: so did its notification

    ticket_id = open_ticket(db, org)
    [row] = queued_since(owner, before)
    assert (row["kind"], row["recipient_id"], row["ticket_id"], row["state"]) == (
        "ticket_received", org.users["customer"], ticket_id, "queued")
    assert row["to_address"] == "customer@acme.example" and row["message_id"] is None
    context = row["context"]
    assert context["ticket"]["reference"] == f"ATUM-{context['ticket']['number']}"
    assert context["ticket"]["subject"] == "Printer on fire" and context["organization"]["name"] == "Org acme"
    assert context["recipient"]["name"] == "Customer" and context["description"] == "Smoke everywhere."
    # Its job was queued with it.
    jobs = owner.execute("SELECT organization_id, payload FROM atum.jobs WHERE kind = 'mail.send' AND payload = %s",
                         [Jsonb({"outbox_id": row["id"]})]).fetchall()
    assert jobs == [(org.id, {"outbox_id": row["id"]})]


def test_a_ticket_staff_open_for_a_customer_is_not_acknowledged(db: Database, owner: psycopg.Connection,
                                                                org: Org) -> None:
    before = last_id(owner)
    open_ticket(db, org, "agent", requester_id=org.users["customer"])
    open_ticket(db, org, "agent")  # for themselves: they know
    assert queued_since(owner, before) == []


def test_public_staff_replies_go_to_the_requester_and_nothing_else_does(db: Database, owner: psycopg.Connection,
                                                                        org: Org) -> None:
    ticket = in_progress(db, owner, org)
    before = last_id(owner)
    reply = comment(db, org, "agent", ticket, "Please unplug it.\nWe are on our way.")
    comment(db, org, "agent", ticket, "Customer sounds worried.", internal=True)
    comment(db, org, "customer", ticket, "It is unplugged now.")
    rows = queued_since(owner, before)
    assert summary(rows) == [("staff_reply", org.users["customer"])]
    assert rows[0]["comment_id"] == reply["id"] and rows[0]["ticket_id"] == ticket
    assert rows[0]["context"]["comment"]["body"] == "Please unplug it.\nWe are on our way."
    assert rows[0]["context"]["comment"]["author_name"] == "Agent"


def test_nobody_is_told_about_their_own_action(db: Database, owner: psycopg.Connection, org: Org) -> None:
    own = open_ticket(db, org, "agent")  # the agent's own ticket
    ticket = in_progress(db, owner, org)
    before = last_id(owner)
    comment(db, org, "agent", own, "Note to self, but public.")
    assign(db, org, "agent", ticket, org.users["agent"])
    assign(db, org, "manager", ticket, org.users["manager"])
    assert queued_since(owner, before) == []


def test_a_new_assignee_is_told_by_whom(db: Database, owner: psycopg.Connection, org: Org) -> None:
    ticket = open_ticket(db, org)
    before = last_id(owner)
    # Accepting with an assignee, then handing it on, then unassigning: two new assignees.
    act(db, org.tokens["manager"], "SELECT api.ticket_accept(%s, NULL, %s) AS t", [ticket, org.users["agent"]])
    assign(db, org, "manager", ticket, org.users["admin"])
    assign(db, org, "manager", ticket, None)
    rows = queued_since(owner, before)
    assert summary(rows) == [("assigned", org.users["agent"]), ("assigned", org.users["admin"])]
    assert rows[0]["context"]["actor"]["name"] == "Manager"
    assert rows[0]["context"]["ticket"]["status"] == "ACCEPTED"


def test_the_requester_hears_their_ticket_was_resolved(db: Database, owner: psycopg.Connection, org: Org) -> None:
    ticket = in_progress(db, owner, org)
    before = last_id(owner)
    transition(db, org.tokens["agent"], ticket, "WAITING_CUSTOMER")
    transition(db, org.tokens["agent"], ticket, "RESOLVED", "Replaced the fuser unit.")
    transition(db, org.tokens["customer"], ticket, "CLOSED")
    rows = queued_since(owner, before)
    assert summary(rows) == [("resolved", org.users["customer"])]
    assert rows[0]["context"]["reason"] == "Replaced the fuser unit."
    assert rows[0]["context"]["organization"]["reopen_window_days"] == 14


def test_no_mail_to_inactive_users_or_undeliverable_addresses(db: Database, owner: psycopg.Connection,
                                                              org: Org) -> None:
    ticket = in_progress(db, owner, org)
    before = last_id(owner)
    owner.execute("UPDATE atum.users SET email_undeliverable_at = now(),"
                  " email_undeliverable_reason = '550 no such user' WHERE id = %s", [org.users["customer"]])
    comment(db, org, "agent", ticket)
    owner.execute("UPDATE atum.users SET email_undeliverable_at = NULL, is_active = false WHERE id = %s",
                  [org.users["customer"]])
    comment(db, org, "agent", ticket)
    transition(db, org.tokens["agent"], ticket, "RESOLVED")
    assert queued_since(owner, before) == []


def test_writers_without_a_request_context_notify_nobody_but_mail_does(db: Database, owner: psycopg.Connection,
                                                                       org: Org) -> None:
    """Imports, the demo and a DBA in psql change data silently (even e-mail tickets of the past);
    a ticket that ingestion opens for the message it is processing (no request context either: it
    names the message in atum.mail_message_id) is acknowledged."""
    before = last_id(owner)
    q = owner.execute
    imported = q("INSERT INTO atum.tickets (organization_id, subject, requester_id, channel, assignee_id)"
                 " VALUES (%s, 'Imported', %s, 'portal', %s) RETURNING id",
                 [org.id, org.users["customer"], org.users["agent"]]).fetchone()[0]
    q("INSERT INTO atum.ticket_comments (organization_id, ticket_id, author_id, body) VALUES (%s, %s, %s, 'Old reply')",
      [org.id, imported, org.users["agent"]])
    q("UPDATE atum.tickets SET status = 'ACCEPTED', assignee_id = %s WHERE id = %s", [org.users["manager"], imported])
    q("INSERT INTO atum.tickets (organization_id, subject, requester_id, channel)"
      " VALUES (%s, 'Imported mail', %s, 'email')", [org.id, org.users["customer"]])
    assert queued_since(owner, before) == []
    with owner.transaction():
        q("SELECT set_config('atum.mail_message_id', '<help-1@customer.example>', true)")
        mailed = q("INSERT INTO atum.tickets (organization_id, subject, requester_id, channel)"
                   " VALUES (%s, 'By mail', %s, 'email') RETURNING id", [org.id, org.users["customer"]]).fetchone()[0]
    rows = queued_since(owner, before)
    assert [(r["kind"], r["ticket_id"]) for r in rows] == [("ticket_received", mailed)]


def test_a_ticket_opened_by_an_automatic_message_is_never_acknowledged(db: Database, owner: psycopg.Connection,
                                                                      org: Org) -> None:
    """Ingestion names the message it is ingesting (atum.mail_message_id) and marks machine-sent
    mail (auto_submitted); should such a message ever open a ticket, no auto-reply answers it —
    when queueing, and again when sending (the send-time check sees the committed row)."""
    before = last_id(owner)
    with owner.transaction():
        owner.execute("INSERT INTO atum.mail_messages (organization_id, direction, message_id, from_address,"
                      " disposition, auto_submitted) VALUES (%s, 'inbound', '<ooo-1@customer.example>',"
                      " 'customer@acme.example', 'received', 'auto-replied')", [org.id])
        owner.execute("SELECT set_config('atum.mail_message_id', '<ooo-1@customer.example>', true)")
        owner.execute("INSERT INTO atum.tickets (organization_id, subject, requester_id, channel)"
                      " VALUES (%s, 'Out of office', %s, 'email')", [org.id, org.users["customer"]])
    assert queued_since(owner, before) == []

    # A person's message opened this one; an automatic message later claims the ticket as its own.
    with owner.transaction():
        owner.execute("SELECT set_config('atum.mail_message_id', '<help-2@customer.example>', true)")
        ticket = owner.execute("INSERT INTO atum.tickets (organization_id, subject, requester_id, channel)"
                               " VALUES (%s, 'Help', %s, 'email') RETURNING id",
                               [org.id, org.users["customer"]]).fetchone()[0]
    [row] = queued_since(owner, before)
    load = "SELECT atum_private.mail_outbox_load(%s, %s) -> 'answers_auto_submitted'"
    assert owner.execute(load, [org.id, row["id"]]).fetchone()[0] is False
    owner.execute("INSERT INTO atum.mail_messages (organization_id, direction, message_id, ticket_id, disposition,"
                  " auto_submitted)"
                  " VALUES (%s, 'inbound', '<auto-2@customer.example>', %s, 'ticket_created', 'auto-generated')",
                  [org.id, ticket])
    assert owner.execute(load, [org.id, row["id"]]).fetchone()[0] is True


# ---------------------------------------------------------------------------------------------
# Jobs that expand into notifications
# ---------------------------------------------------------------------------------------------
def test_sla_events_reach_each_manager_and_admin_once_per_job(db: Database, owner: psycopg.Connection,
                                                              org: Org) -> None:
    # build_org's second ticket waited a month before it was accepted: triage warning and breach.
    events = [r[0] for r in owner.execute("SELECT id FROM atum.sla_events WHERE organization_id = %s ORDER BY id",
                                          [org.id])]
    assert len(events) == 2
    owner.execute("UPDATE atum.users SET is_active = false WHERE id = %s", [org.users["agent"]])  # not a manager anyway
    before = last_id(owner)
    queue = "SELECT atum_private.mail_queue_sla(%s, %s, %s)"
    assert owner.execute(queue, [org.id, 9001, events]).fetchone()[0] == 4
    assert owner.execute(queue, [org.id, 9001, events]).fetchone()[0] == 0  # the same job, run again
    rows = queued_since(owner, before)
    assert sorted(summary(rows)) == sorted([(k, u) for k in ("sla_breach", "sla_warning")
                                            for u in (org.users["admin"], org.users["manager"])])
    assert {r["ticket_id"] for r in rows} == {org.other_ticket_id}  # one ticket: threaded with it
    breach = next(r for r in rows if r["kind"] == "sla_breach")
    [event] = breach["context"]["events"]
    assert (event["clock"], event["kind"], event["ticket_id"]) == ("triage", "breach", org.other_ticket_id)
    assert breach["context"]["ticket"]["id"] == org.other_ticket_id


def test_sla_events_of_several_tickets_make_one_digest(db: Database, owner: psycopg.Connection, org: Org) -> None:
    late = owner.execute("INSERT INTO atum.tickets (organization_id, subject, requester_id, created_at)"
                         " VALUES (%s, 'Also late', %s, now() - interval '30 days') RETURNING id",
                         [org.id, org.users["customer"]]).fetchone()[0]
    owner.execute("UPDATE atum.tickets SET status = 'ACCEPTED' WHERE id = %s", [late])
    owner.execute("UPDATE atum.users SET email_undeliverable_at = now() WHERE id = %s", [org.users["admin"]])
    breaches = [r[0] for r in owner.execute("SELECT id FROM atum.sla_events WHERE organization_id = %s"
                                            " AND kind = 'breach'", [org.id])]
    before = last_id(owner)
    owner.execute("SELECT atum_private.mail_queue_sla(%s, 9002, %s)", [org.id, breaches])
    [row] = queued_since(owner, before)
    assert (row["kind"], row["recipient_id"], row["ticket_id"]) == ("sla_breach", org.users["manager"], None)
    assert row["context"]["ticket_count"] == 2 and row["context"]["ticket"] is None
    assert {e["ticket_id"] for e in row["context"]["events"]} == {org.other_ticket_id, late}


def test_a_reset_token_moves_into_the_outbox_where_the_app_cannot_read_it(db: Database, owner: psycopg.Connection,
                                                                           org: Org) -> None:
    with db.connect("atum_app") as app:
        app.execute("SELECT api.password_reset_request('agent@acme.example', NULL, '192.0.2.1')")
        app.commit()
    job_id, payload = owner.execute("SELECT id, payload FROM atum.jobs WHERE kind = 'mail.password_reset'").fetchone()
    token = payload["token"]
    before = last_id(owner)
    queue = "SELECT atum_private.mail_queue_token(%s, %s, 'password_reset', %s, %s)"
    outbox_id = owner.execute(queue, [org.id, job_id, org.users["agent"], token]).fetchone()[0]
    assert owner.execute(queue, [org.id, job_id, org.users["agent"], token]).fetchone()[0] is None  # once per job
    [row] = queued_since(owner, before)
    assert row["id"] == outbox_id and row["secret"] == token and row["kind"] == "password_reset"
    assert token not in str(row["context"])
    assert "token" not in owner.execute("SELECT payload FROM atum.jobs WHERE id = %s", [job_id]).fetchone()[0]

    with db.acting_as(org.tokens["admin"]) as conn:
        assert conn.execute("SELECT kind::text FROM atum.mail_outbox WHERE id = %s", [outbox_id]).fetchone()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT secret FROM atum.mail_outbox")
    audit = owner.execute("SELECT new_values::text FROM atum.audit_log WHERE table_name = 'mail_outbox'").fetchall()
    assert audit and not any(token in r[0] for r in audit)
    assert any('"secret": "[redacted]"' in r[0] for r in audit)

    # Sent (or failed): the token is gone from the outbox too.
    owner.execute("SELECT atum_private.mail_outbox_begin(%s, %s, '<atum.test.1@example.test>', 'Reset',"
                  " 'x@example.test')", [org.id, outbox_id])
    owner.execute("SELECT atum_private.mail_outbox_finish(%s, %s)", [org.id, outbox_id])
    assert owner.execute("SELECT state::text, secret FROM atum.mail_outbox WHERE id = %s", [outbox_id]).fetchone() == (
        "sent", None)
    assert not any(token in r[0] for r in owner.execute(
        "SELECT coalesce(old_values::text, '') || coalesce(new_values::text, '') FROM atum.audit_log"))


def test_a_token_no_longer_valid_is_not_mailed(db: Database, owner: psycopg.Connection, org: Org) -> None:
    with db.connect("atum_app") as app:
        app.execute("SELECT api.password_reset_request('agent@acme.example', NULL, '192.0.2.1')")
        app.commit()
    job_id, payload = owner.execute("SELECT id, payload FROM atum.jobs WHERE kind = 'mail.password_reset'").fetchone()
    owner.execute("UPDATE atum.user_tokens SET used_at = now()")
    before = last_id(owner)
    assert owner.execute("SELECT atum_private.mail_queue_token(%s, %s, 'password_reset', %s, %s)",
                         [org.id, job_id, org.users["agent"], payload["token"]]).fetchone()[0] is None
    assert queued_since(owner, before) == []


# ---------------------------------------------------------------------------------------------
# The state machine, threading, who sees what
# ---------------------------------------------------------------------------------------------
BEGIN = "SELECT atum_private.mail_outbox_begin(%s, %s, %s, %s, 'helpdesk@example.test')"


def test_the_state_machine_holds_for_every_writer(db: Database, owner: psycopg.Connection, org: Org) -> None:
    [row] = queued_since(owner, 0)[:1]
    ident = [org.id, row["id"]]
    with pytest.raises(psycopg.errors.CheckViolation):
        owner.execute("UPDATE atum.mail_outbox SET state = 'sending' "
                      "WHERE organization_id = %s AND id = %s", ident)
    with pytest.raises(psycopg.Error) as refused:
        owner.execute("UPDATE atum.mail_outbox SET state = 'sent', sent_at = now() "
                      "WHERE organization_id = %s AND id = %s", ident)
    assert refused.value.sqlstate == "AT491"
    begun = owner.execute(BEGIN, [*ident, "<atum.x.1@example.test>", "S"]).fetchone()[0]
    assert begun["state"] == "sending" and begun["attempts"] == 1
    again = owner.execute(BEGIN, [*ident, "<atum.x.2@example.test>", "T"]).fetchone()[0]
    assert (again["message_id"], again["subject"], again["attempts"]) == ("<atum.x.1@example.test>", "S", 2)
    with pytest.raises(psycopg.Error):
        owner.execute("UPDATE atum.mail_outbox SET message_id = '<other@example.test>' "
                      "WHERE organization_id = %s AND id = %s", ident)
    assert owner.execute("SELECT atum_private.mail_outbox_finish(%s, %s, 'refused')", ident).fetchone()[0] is True
    assert owner.execute("SELECT atum_private.mail_outbox_finish(%s, %s)", ident).fetchone()[0] is False
    assert owner.execute(BEGIN, [*ident, "<atum.x.3@example.test>", "S"]).fetchone()[0] is None
    with pytest.raises(psycopg.Error):
        owner.execute("UPDATE atum.mail_outbox SET state = 'queued', failed_at = NULL "
                      "WHERE organization_id = %s AND id = %s", ident)
    assert owner.execute("SELECT disposition FROM atum.mail_messages WHERE message_id = '<atum.x.1@example.test>'"
                         ).fetchone() == ("failed",)


def test_threading_headers_follow_the_recipients_conversation(db: Database, owner: psycopg.Connection,
                                                              org: Org) -> None:
    """In-Reply-To: the latest message of the ticket between us and this recipient; References: the
    first and the last ten; fixed at the first attempt."""
    begin = "SELECT atum_private.mail_outbox_begin(%s, %s, %s, 'S', 'helpdesk@example.test')"
    # build_org: the customer's original mail (inbound) opened org.ticket_id; the agent's reply queued.
    [first] = queued_since(owner, 0)
    sent = owner.execute(begin, [org.id, first["id"], "<atum.acme.1@example.test>"]).fetchone()[0]
    assert sent["in_reply_to"] == "<printer-jam@acme.example>"
    assert sent["thread_references"] == ["<printer-jam@acme.example>"]
    assert sent["reply_to"] == "support@acme.example"  # answers go where ingestion fetches them
    for n in range(12):
        owner.execute("INSERT INTO atum.mail_messages (organization_id, direction, message_id, ticket_id, disposition,"
                      " created_at) VALUES (%s, 'inbound', %s, %s, 'comment_added', now() + %s * interval '1 second')",
                      [org.id, f"<reply-{n}@acme.example>", org.ticket_id, n + 1])
    owner.execute("INSERT INTO atum.mail_messages (organization_id, direction, message_id, ticket_id, disposition,"
                  " created_at)"
                  " VALUES (%s, 'inbound', '<note@acme.example>', %s, 'note_added', now() + interval '1 hour')",
                  [org.id, org.ticket_id])
    later = comment(db, org, "agent", org.ticket_id)
    row = owner.execute("SELECT id FROM atum.mail_outbox WHERE comment_id = %s", [later["id"]]).fetchone()[0]
    sent = owner.execute(begin, [org.id, row, "<atum.acme.2@example.test>"]).fetchone()[0]
    assert sent["in_reply_to"] == "<reply-11@acme.example>"  # not the staff member's note
    latest = [f"<reply-{n}@acme.example>" for n in range(2, 12)]
    assert sent["thread_references"] == ["<printer-jam@acme.example>", *latest]
    assert "<atum.acme.1@example.test>" not in sent["thread_references"]  # older than the last ten


def test_only_admins_see_the_outbox(db: Database, owner: psycopg.Connection, org: Org) -> None:
    for role in ("manager", "agent", "customer"):
        with db.acting_as(org.tokens[role]) as conn:
            assert conn.execute("SELECT count(*) AS n FROM atum.mail_outbox").fetchone()["n"] == 0
            with pytest.raises(psycopg.Error) as refused:
                conn.execute("SELECT api.mail_outbox_list('{}')")
            assert refused.value.sqlstate == "AT403"
    with db.acting_as(org.tokens["admin"]) as conn:
        page = conn.execute("SELECT api.mail_outbox_list(%s) AS p", [Jsonb({"state": "queued"})]).fetchone()["p"]
        assert [i["kind"] for i in page["items"]] == ["staff_reply"]
        assert "secret" not in page["items"][0] and "context" not in page["items"][0]


def test_admins_manage_the_organizations_templates(db: Database, owner: psycopg.Connection, org: Org) -> None:
    def call(role: str, statement: str, *params: Any) -> Any:
        with db.acting_as(org.tokens[role]) as conn:
            value = conn.execute(statement, list(params)).fetchone()
            conn.commit()
            return next(iter(value.values()))

    listed = call("admin", "SELECT api.mail_template_list()")
    assert [i["kind"] for i in listed["items"]] == ["ticket_received", "staff_reply", "assigned", "sla_warning",
                                                    "sla_breach", "resolved", "password_reset", "invitation"]
    assert [i["kind"] for i in listed["items"] if i["is_overridden"]] == ["resolved"]  # build_org's
    saved = call("admin", "SELECT api.mail_template_put('staff_reply', %s)",
                 Jsonb({"subject": "[{{ ticket.reference }}] News"}))
    assert saved["is_overridden"] and saved["subject"] == "[{{ ticket.reference }}] News" and saved["body_html"] is None
    assert call("admin", "SELECT api.mail_template_get('staff_reply')")["updated_by"] == org.users["admin"]
    for statement, params, code in (
        ("SELECT api.mail_template_get('nonsense')", [], "AT404"),
        ("SELECT api.mail_template_put('staff_reply', %s)", [Jsonb({})], "AT422"),
        ("SELECT api.mail_template_put('staff_reply', %s)", [Jsonb({"colour": "red"})], "AT422"),
        ("SELECT api.mail_template_put('staff_reply', %s)", [Jsonb({"subject": "x" * 2001})], "23514"),
        ("SELECT api.mail_template_delete('invitation')", [], "AT404"),
    ):
        with db.acting_as(org.tokens["admin"]) as conn, pytest.raises(psycopg.Error) as err:
            conn.execute(statement, params)
        assert err.value.sqlstate == code, statement
    for role in ("manager", "agent", "customer"):
        with db.acting_as(org.tokens[role]) as conn, pytest.raises(psycopg.Error) as err:
            conn.execute("SELECT api.mail_template_put('staff_reply', %s)", [Jsonb({"subject": "x"})])
        assert err.value.sqlstate == "AT403"
    assert call("admin", "SELECT api.mail_template_delete('staff_reply')")["is_overridden"] is False
