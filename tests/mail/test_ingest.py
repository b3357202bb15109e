"""Inbound mail as a helpdesk's users meet it: a customer writes and gets a ticket, replies land on
the right ticket, machines and loops never open tickets, nothing is ingested twice, and nobody can
write into someone else's ticket by guessing its number. Through jobs.mail_ingest.ingest (the IMAP
poller's path) against the real database."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
from typing import Any

import psycopg
import pytest

from atumdesk.attachments import stored_path
from atumdesk.settings import Settings
from tests.mail.conftest import Deliver
from tests.mail.messages import dsn, mail, new_message_id
from tests.support import Database, Org

CUSTOMER = "Customer <customer@alpha.example>"  # the requester of alpha.ticket_id (ATUM-1)


def one(owner: psycopg.Connection, sql: str, params: Any = None) -> Any:
    row = owner.execute(sql, params or []).fetchone()
    return row if row is None or len(row) > 1 else row[0]


def ticket(owner: psycopg.Connection, org: Org, ticket_id: int) -> dict[str, Any]:
    return one(owner, "SELECT to_jsonb(t) FROM atum.tickets t WHERE organization_id = %s AND id = %s",
               [org.id, ticket_id])


def comment(owner: psycopg.Connection, org: Org, comment_id: int) -> dict[str, Any]:
    return one(owner, "SELECT to_jsonb(c) FROM atum.ticket_comments c WHERE organization_id = %s AND id = %s",
               [org.id, comment_id])


def counts(owner: psycopg.Connection, org: Org) -> dict[str, int]:
    tables = ("tickets", "ticket_comments", "users", "attachments", "mail_messages", "audit_log")
    return {t: one(owner, f"SELECT count(*) FROM atum.{t} WHERE organization_id = %s", [org.id])  # noqa: S608
            for t in tables}


def move(owner: psycopg.Connection, org: Org, ticket_id: int, *statuses: str) -> None:
    """Status moves made by the system (no request context), with a reason where one is needed."""
    for status in statuses:
        with owner.transaction():
            owner.execute("SELECT set_config('atum.status_reason', 'test', true)")
            owner.execute("UPDATE atum.tickets SET status = %s WHERE organization_id = %s AND id = %s",
                          [status, org.id, ticket_id])


# ---------------------------------------------------------------------------------------------
# New tickets
# ---------------------------------------------------------------------------------------------
def test_a_first_message_opens_a_new_ticket_for_a_new_customer(deliver: Deliver, owner: psycopg.Connection,
                                                                alpha: Org) -> None:
    message_id = new_message_id()
    result = deliver(mail("Printer on floor 3 is broken", "It jams on every page.\n\nAnn",
                          sender="Ann Example <Ann@Customer.Example>", message_id=message_id))
    assert result.disposition == "ticket_created"
    assert result.message_id == message_id and result.comment_id is None
    t = ticket(owner, alpha, result.ticket_id)
    assert (t["subject"], t["status"], t["channel"]) == ("Printer on floor 3 is broken", "NEW", "email")
    assert t["description"] == "It jams on every page.\n\nAnn"
    assert result.reference == f"ATUM-{t['number']}"
    user = one(owner, "SELECT to_jsonb(u) FROM atum.users u WHERE organization_id = %s AND id = %s",
               [alpha.id, t["requester_id"]])
    assert (user["email"], user["display_name"], user["role"]) == ("ann@customer.example", "Ann Example", "customer")
    assert one(owner, "SELECT password_hash IS NULL FROM atum.users WHERE id = %s", [user["id"]])
    row = one(owner, "SELECT direction::text, disposition, ticket_id, from_address, raw_size > 0, auto_submitted"
                     " FROM atum.mail_messages WHERE organization_id = %s AND message_id = %s", [alpha.id, message_id])
    assert row == ("inbound", "ticket_created", t["id"], "ann@customer.example", True, None)


def test_a_known_customer_keeps_their_account_and_a_missing_subject_is_named(deliver: Deliver,
                                                                             owner: psycopg.Connection,
                                                                             alpha: Org) -> None:
    before = counts(owner, alpha)["users"]
    result = deliver(mail("", sender=CUSTOMER, message_id=None))
    t = ticket(owner, alpha, result.ticket_id)
    assert (t["requester_id"], t["subject"]) == (alpha.users["customer"], "(no subject)")
    assert counts(owner, alpha)["users"] == before


# ---------------------------------------------------------------------------------------------
# Replies
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("subject", [
    "Re: [ATUM-1] Printer jams on every page",
    "AW: [ ATUM - 1 ] Printer jams",
    "Fwd: WG: SV: [atum-1]",
    "RE: RE: Printer [Atum-0001] still jammed",
    "[ATUM#1]",
    "Antw: [ATUM–1] (en dash)",
])
def test_a_reply_by_subject_token_becomes_a_public_comment(deliver: Deliver, owner: psycopg.Connection, alpha: Org,
                                                           subject: str) -> None:
    result = deliver(mail(subject, "Still broken.\n\nOn Mon, 1 Jun 2026, Agent <agent@alpha.example> wrote:\n> We"
                                   " are on it.\n", sender=CUSTOMER))
    assert (result.disposition, result.ticket_id, result.reference) == ("comment_added", alpha.ticket_id, "ATUM-1")
    c = comment(owner, alpha, result.comment_id)
    assert (c["author_id"], c["is_internal"], c["channel"], c["body"]) == (
        alpha.users["customer"], False, "email", "Still broken.")
    assert "> We are on it." in c["body_full"]


def test_a_reply_by_in_reply_to_or_references_finds_the_ticket_of_a_message_in_or_out(
        deliver: Deliver, owner: psycopg.Connection, alpha: Org) -> None:
    first = deliver(mail("VPN drops", sender=CUSTOMER))
    ours = "<atum.1.42.x7Kq@atumdesk.localhost>"
    owner.execute("INSERT INTO atum.mail_messages (organization_id, direction, message_id, ticket_id, disposition)"
                  " VALUES (%s, 'outbound', %s, %s, 'sent')", [alpha.id, ours, alpha.other_ticket_id])
    by_in_reply_to = deliver(mail("Re: VPN drops", "Also at home.", sender=CUSTOMER,
                                  headers={"In-Reply-To": first.message_id}))
    assert (by_in_reply_to.disposition, by_in_reply_to.ticket_id) == ("comment_added", first.ticket_id)
    # Our notification about ATUM-2 went to customer2; their reply quotes it in References only,
    # with an unrelated token in the subject. The headers win.
    by_references = deliver(mail("Re: your ticket [ATUM-1]", "Thanks", sender="customer2@alpha.example",
                                 headers={"References": f"<unrelated@elsewhere.example> {ours}"}))
    assert (by_references.disposition, by_references.ticket_id) == ("comment_added", alpha.other_ticket_id)


def test_a_reply_resumes_a_ticket_waiting_for_the_customer(deliver: Deliver, owner: psycopg.Connection,
                                                          alpha: Org) -> None:
    move(owner, alpha, alpha.ticket_id, "ACCEPTED", "IN_PROGRESS", "WAITING_CUSTOMER")
    result = deliver(mail("Re: [ATUM-1] Printer jams", "Here is the model number.", sender=CUSTOMER))
    assert result.disposition == "comment_added"
    t = ticket(owner, alpha, alpha.ticket_id)
    assert (t["status"], t["paused_at"]) == ("IN_PROGRESS", None)


def test_a_reply_to_a_closed_ticket_opens_a_linked_follow_up_and_the_next_reply_joins_it(
        deliver: Deliver, owner: psycopg.Connection, alpha: Org) -> None:
    move(owner, alpha, alpha.ticket_id, "ACCEPTED", "IN_PROGRESS", "RESOLVED", "CLOSED")
    first = deliver(mail("Re: [ATUM-1] Printer jams on every page", "It is back.", sender=CUSTOMER))
    assert first.disposition == "followup_created"
    follow_up = ticket(owner, alpha, first.ticket_id)
    assert (follow_up["parent_ticket_id"], follow_up["status"], follow_up["requester_id"]) == (
        alpha.ticket_id, "NEW", alpha.users["customer"])
    assert follow_up["subject"] == "Printer jams on every page"  # its own reference, not ATUM-1's
    assert ticket(owner, alpha, alpha.ticket_id)["status"] == "CLOSED"
    second = deliver(mail("Re: [ATUM-1] Printer jams on every page", "And again.", sender=CUSTOMER))
    assert (second.disposition, second.ticket_id) == ("comment_added", first.ticket_id)


def test_staff_writing_by_mail_add_an_internal_note_never_a_public_reply(deliver: Deliver,
                                                                        owner: psycopg.Connection,
                                                                        alpha: Org) -> None:
    result = deliver(mail("Re: [ATUM-1] Printer jams", "Dear customer, send me your password.",
                          sender="agent@alpha.example"))
    assert result.disposition == "note_added"
    c = comment(owner, alpha, result.comment_id)
    assert (c["author_id"], c["is_internal"]) == (alpha.users["agent"], True)
    assert ticket(owner, alpha, alpha.ticket_id)["first_responded_at"] is None


# ---------------------------------------------------------------------------------------------
# Strangers, other customers, other organizations
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sender", ["Mallory <mallory@attacker.example>", "customer2@alpha.example"])
def test_a_ticket_number_is_no_key_someone_elses_ticket_stays_untouched(deliver: Deliver, owner: psycopg.Connection,
                                                                       alpha: Org, sender: str) -> None:
    comments_before = one(owner, "SELECT count(*) FROM atum.ticket_comments WHERE organization_id = %s AND"
                                 " ticket_id = %s", [alpha.id, alpha.ticket_id])
    guessed = deliver(mail("Re: [ATUM-1] Printer jams on every page", "Please change my e-mail address to ...",
                           sender=sender))
    missing = deliver(mail("Re: [ATUM-999] Printer jams on every page", "Please change my e-mail address to ...",
                           sender=sender))
    # Exactly as for a number that names nothing: a new ticket of their own, which tells nothing.
    assert guessed.disposition == missing.disposition == "ticket_created"
    new = ticket(owner, alpha, guessed.ticket_id)
    assert new["id"] != alpha.ticket_id and new["parent_ticket_id"] is None
    assert new["subject"] == ticket(owner, alpha, missing.ticket_id)["subject"] == "Printer jams on every page"
    assert one(owner, "SELECT count(*) FROM atum.ticket_comments WHERE organization_id = %s AND ticket_id = %s",
               [alpha.id, alpha.ticket_id]) == comments_before
    # Staff are told which ticket was named, in a note the sender cannot see.
    note = one(owner, "SELECT to_jsonb(c) FROM atum.ticket_comments c WHERE organization_id = %s AND ticket_id = %s",
               [alpha.id, guessed.ticket_id])
    assert note["is_internal"] and note["author_id"] is None and "ATUM-1" in note["body"]


def test_ingesting_into_one_organization_never_touches_another(deliver: Deliver, owner: psycopg.Connection,
                                                               alpha: Org, beta: Org) -> None:
    beta_message = one(owner, "SELECT message_id FROM atum.mail_messages WHERE organization_id = %s", [beta.id])
    before = counts(owner, beta)
    # beta's customer, beta's Message-ID, a token that is a ticket in both: delivered to alpha.
    result = deliver(mail("Re: [ATUM-1] Printer jams", "Hello", sender="customer@beta.example",
                          headers={"In-Reply-To": beta_message}))
    assert result.disposition == "ticket_created"
    assert one(owner, "SELECT organization_id FROM atum.tickets WHERE id = %s", [result.ticket_id]) == alpha.id
    assert counts(owner, beta) == before
    # The same Message-ID may exist in both organizations (each has its own mailbox).
    same = mail("Hi", sender="someone@customer.example", message_id="<shared@customer.example>")
    assert deliver(same, alpha).disposition == deliver(same, beta).disposition == "ticket_created"


def test_an_unknown_organization_or_a_foreign_mailbox_is_refused(deliver: Deliver, alpha: Org, beta: Org,
                                                                owner: psycopg.Connection) -> None:
    beta_mailbox = one(owner, "SELECT id FROM atum.mailboxes WHERE organization_id = %s", [beta.id])
    with pytest.raises(psycopg.Error) as err:
        deliver(mail(), alpha, mailbox_id=beta_mailbox)
    assert err.value.sqlstate == "AT404"
    own = one(owner, "SELECT id FROM atum.mailboxes WHERE organization_id = %s", [alpha.id])
    result = deliver(mail(), alpha, mailbox_id=own)
    assert one(owner, "SELECT mailbox_id FROM atum.mail_messages WHERE message_id = %s", [result.message_id]) == own


# ---------------------------------------------------------------------------------------------
# Never twice
# ---------------------------------------------------------------------------------------------
def test_the_same_message_id_is_ingested_once(deliver: Deliver, owner: psycopg.Connection, alpha: Org) -> None:
    raw = mail("Once only", sender=CUSTOMER)
    first = deliver(raw)
    before = counts(owner, alpha)
    again = deliver(raw)
    assert (again.disposition, again.ticket_id, again.message_id) == ("duplicate", first.ticket_id, first.message_id)
    assert counts(owner, alpha) == before


def test_a_message_without_message_id_gets_a_stable_synthetic_one(deliver: Deliver, owner: psycopg.Connection,
                                                                  alpha: Org) -> None:
    raw = mail("No id", sender=CUSTOMER, message_id=None)
    first = deliver(raw)
    assert first.message_id == f"<{hashlib.sha256(raw).hexdigest()}@synthetic.invalid>"
    assert deliver(raw).disposition == "duplicate"
    assert deliver(raw.replace(b"No id", b"No ID")).disposition == "ticket_created"  # other bytes, other id


def test_a_crash_after_commit_before_the_imap_flag_duplicates_nothing(db: Database, owner: psycopg.Connection,
                                                                     mail_settings: Settings, alpha: Org,
                                                                     tmp_path: Any) -> None:
    path = tmp_path / "message.eml"
    path.write_bytes(mail("Crash test", sender=CUSTOMER, attachments=[("log.txt", "text/plain", b"lines\n")]))
    env = dict(os.environ, ATUM_DATA_DIR=str(mail_settings.data_dir), ATUM_DATABASE_URL=db.conninfo("atum_app"),
               ATUM_OWNER_DATABASE_URL=db.conninfo("atum_owner"), ATUM_CRASH_AT="mail.ingest_after_commit")
    command = [sys.executable, "-m", "atumdesk.cli", "ingest-eml", "--org", "alpha", str(path)]
    crashed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert crashed.returncode == -9, crashed  # SIGKILL: no clean-up ran
    env.pop("ATUM_CRASH_AT")
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0, again.stderr
    assert again.stdout.split("\t")[1:] == ["duplicate", "ATUM-3\n"]
    assert one(owner, "SELECT count(*) FROM atum.tickets WHERE organization_id = %s AND subject = 'Crash test'",
               [alpha.id]) == 1
    sha = hashlib.sha256(b"lines\n").hexdigest()
    assert stored_path(mail_settings.attachments_dir, sha).read_bytes() == b"lines\n"


# ---------------------------------------------------------------------------------------------
# Bounces, loops, machines
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("attach", ["headers", "message"])
def test_a_bounce_is_noted_on_its_ticket_and_marks_the_address_until_they_write_again(
        deliver: Deliver, owner: psycopg.Connection, alpha: Org, attach: str) -> None:
    ours = "<atum.1.7.Zx9@atumdesk.localhost>"
    owner.execute("INSERT INTO atum.mail_messages (organization_id, direction, message_id, ticket_id, subject,"
                  " disposition) VALUES (%s, 'outbound', %s, %s, 'We received your request', 'sent')",
                  [alpha.id, ours, alpha.ticket_id])
    result = deliver(dsn(ours, "Customer@alpha.example", attach=attach))
    assert (result.disposition, result.ticket_id) == ("bounce_noted", alpha.ticket_id)
    note = comment(owner, alpha, result.comment_id)
    assert (note["author_id"], note["is_internal"]) == (None, True)
    assert "customer@alpha.example" in note["body"] and "5.1.1" in note["body"] and ours in note["body"]
    marked = one(owner, "SELECT email_undeliverable_at IS NOT NULL, email_undeliverable_reason FROM atum.users"
                        " WHERE id = %s", [alpha.users["customer"]])
    assert marked[0] and "User unknown" in marked[1]
    assert one(owner, "SELECT auto_submitted FROM atum.mail_messages WHERE message_id = %s",
               [result.message_id]) == "delivery-status"
    deliver(mail("Re: [ATUM-1] sorry, my mailbox was full", sender=CUSTOMER))
    assert one(owner, "SELECT (email_undeliverable_at, email_undeliverable_reason) IS NULL FROM atum.users"
                      " WHERE id = %s", [alpha.users["customer"]])


def test_a_bounce_marks_nobody_outside_its_ticket_and_delays_or_strangers_note_nothing(
        deliver: Deliver, owner: psycopg.Connection, alpha: Org) -> None:
    ours = "<atum.1.8.Qq1@atumdesk.localhost>"
    owner.execute("INSERT INTO atum.mail_messages (organization_id, direction, message_id, ticket_id, disposition)"
                  " VALUES (%s, 'outbound', %s, %s, 'sent')", [alpha.id, ours, alpha.ticket_id])
    forged = deliver(dsn(ours, "manager@alpha.example"))  # the manager is not on ATUM-1
    assert forged.disposition == "bounce_noted"
    assert one(owner, "SELECT count(*) FROM atum.users WHERE organization_id = %s"
                      " AND email_undeliverable_at IS NOT NULL", [alpha.id]) == 0
    delayed = deliver(dsn(ours, "customer@alpha.example", action="delayed", status="4.4.1"))
    assert delayed.disposition == "dropped_bounce"
    assert deliver(dsn("<never@sent.example>", "customer@alpha.example")).disposition == "dropped_bounce"


@pytest.mark.parametrize("headers", [
    {"Message-ID": "<atum.1.99.abc@atumdesk.localhost>"},
    {"X-Loop": "atumdesk@atumdesk.localhost"},
])
def test_our_own_mail_coming_back_is_dropped(deliver: Deliver, owner: psycopg.Connection, alpha: Org,
                                             headers: dict[str, str]) -> None:
    before = counts(owner, alpha)["tickets"]
    raw = mail("[ATUM-1] We received your request", sender="helpdesk@localhost", message_id=None, headers=headers)
    assert deliver(raw).disposition == "dropped_loop"
    assert deliver(mail("Loop", sender="support@alpha.example")).disposition == "dropped_loop"  # our mailbox
    assert counts(owner, alpha)["tickets"] == before


def test_our_own_sent_message_delivered_back_is_a_loop_not_a_duplicate(deliver: Deliver, owner: psycopg.Connection,
                                                                       alpha: Org) -> None:
    sent = "<atum.1.5.k2@mail.example.net>"
    owner.execute("INSERT INTO atum.mail_messages (organization_id, direction, message_id, ticket_id, disposition)"
                  " VALUES (%s, 'outbound', %s, %s, 'sent')", [alpha.id, sent, alpha.ticket_id])
    assert deliver(mail("Re: x", sender=CUSTOMER, message_id=sent)).disposition == "dropped_loop"


def test_headers_only_we_may_set_are_ignored(deliver: Deliver, owner: psycopg.Connection, alpha: Org) -> None:
    result = deliver(mail("Hello", sender="mallory@attacker.example",
                          headers={"X-ATUM-Ticket": str(alpha.ticket_id), "X-ATUM-Organization": "2",
                                   "X-Atum-Internal": "true"}))
    assert result.disposition == "ticket_created" and result.ticket_id != alpha.ticket_id


@pytest.mark.parametrize(("headers", "sender", "kind"), [
    ({"Auto-Submitted": "auto-replied"}, CUSTOMER, "auto-replied"),
    ({"Auto-Submitted": "auto-generated; owner-email=x@y.example"}, CUSTOMER, "auto-generated"),
    ({"Precedence": "bulk"}, CUSTOMER, "bulk"),
    ({"Precedence": "list"}, CUSTOMER, "list"),
    ({"Precedence": "junk"}, CUSTOMER, "junk"),
    ({"Precedence": "auto_reply"}, CUSTOMER, "auto-reply"),
    ({"X-Autoreply": "yes"}, CUSTOMER, "autoreply"),
    ({"X-Autorespond": "yes"}, CUSTOMER, "autorespond"),
    ({"X-Auto-Response-Suppress": "All"}, CUSTOMER, "auto-response-suppress"),
    ({"List-Id": "<news.shop.example>"}, "news@shop.example", "list"),
    ({"List-Unsubscribe": "<mailto:leave@shop.example>"}, "news@shop.example", "bulk"),
    ({"Return-Path": "<>"}, "someone@customer.example", "null-sender"),
    ({}, "MAILER-DAEMON@mx.customer.example", "mailer-daemon"),
    ({}, "postmaster@customer.example", "mailer-daemon"),
    ({}, "no-reply@shop.example", "noreply"),
    ({}, "Shop <noreply@shop.example>", "noreply"),
    ({}, "do-not-reply@shop.example", "noreply"),
])
def test_machine_sent_mail_never_opens_a_ticket(deliver: Deliver, owner: psycopg.Connection, alpha: Org,
                                                headers: dict[str, str], sender: str, kind: str) -> None:
    before = counts(owner, alpha)
    result = deliver(mail("Out of office", "I am away.", sender=sender, headers=headers))
    assert (result.disposition, result.ticket_id) == ("dropped_auto", None)
    after = counts(owner, alpha)
    assert (after["tickets"], after["users"], after["ticket_comments"]) == (
        before["tickets"], before["users"], before["ticket_comments"])
    assert one(owner, "SELECT (disposition, auto_submitted) FROM atum.mail_messages WHERE message_id = %s",
               [result.message_id]) == ("dropped_auto", kind)


def test_an_auto_reply_in_a_thread_is_a_system_note_the_outbound_side_must_not_answer(
        deliver: Deliver, owner: psycopg.Connection, alpha: Org) -> None:
    first = deliver(mail("Laptop", sender="ann@customer.example"))
    move(owner, alpha, first.ticket_id, "ACCEPTED", "IN_PROGRESS", "WAITING_CUSTOMER")
    result = deliver(mail("Automatic reply: Laptop", "I am out of office until Monday.", sender="ann@customer.example",
                          headers={"In-Reply-To": first.message_id, "Auto-Submitted": "auto-replied"}))
    assert (result.disposition, result.ticket_id) == ("auto_noted", first.ticket_id)
    note = comment(owner, alpha, result.comment_id)
    assert (note["author_id"], note["is_internal"]) == (None, True)
    assert "out of office until Monday" in note["body"]
    assert ticket(owner, alpha, first.ticket_id)["status"] == "WAITING_CUSTOMER"  # not a reply of the customer
    assert one(owner, "SELECT auto_submitted FROM atum.mail_messages WHERE message_id = %s",
               [result.message_id]) == "auto-replied"
    # By a guessable token, an auto-reply counts only from someone allowed on the ticket.
    stranger = deliver(mail("Re: [ATUM-1] Auto", sender="x@elsewhere.example",
                            headers={"Auto-Submitted": "auto-replied"}))
    assert stranger.disposition == "dropped_auto"


def test_a_sender_over_the_hourly_cap_opens_no_more_tickets_but_may_still_reply(
        deliver: Deliver, owner: psycopg.Connection, alpha: Org) -> None:
    owner.execute("UPDATE atum.organizations SET mail_tickets_per_sender_hour = 3 WHERE id = %s", [alpha.id])
    results = [deliver(mail(f"Loop {n}", sender="robot@customer.example")) for n in range(5)]
    assert [r.disposition for r in results] == ["ticket_created"] * 3 + ["dropped_rate_cap"] * 2
    assert deliver(mail("Hello", sender="other@customer.example")).disposition == "ticket_created"
    reply = deliver(mail(f"Re: {results[0].reference}", sender="robot@customer.example",
                         headers={"In-Reply-To": results[0].message_id}))
    assert reply.disposition == "comment_added"
    # An hour later the sender starts afresh.
    owner.execute("UPDATE atum.mail_sender_windows SET window_started_at = now() - interval '61 minutes'")
    assert deliver(mail("Loop 6", sender="robot@customer.example")).disposition == "ticket_created"


def test_a_sender_without_a_usable_address_is_recorded_and_opens_nothing(deliver: Deliver,
                                                                         owner: psycopg.Connection,
                                                                         alpha: Org) -> None:
    for sender in ("root@localhost", "Undisclosed sender:;"):
        result = deliver(mail("Hello", sender=sender))
        assert (result.disposition, result.ticket_id) == ("dropped_sender", None)


# ---------------------------------------------------------------------------------------------
# Bodies and attachments
# ---------------------------------------------------------------------------------------------
def test_html_is_sanitised_and_never_loads_anything_remote(deliver: Deliver, owner: psycopg.Connection,
                                                           alpha: Org, mail_settings: Settings) -> None:
    from email.message import EmailMessage
    from email.policy import SMTP

    msg = EmailMessage(policy=SMTP)
    msg["From"], msg["To"], msg["Subject"] = CUSTOMER, "support@alpha.example", "Screenshot"
    msg["Message-ID"] = new_message_id()
    msg.set_content("See the screenshot.")
    msg.add_alternative(
        '<html><head><style>body{background:url(https://track.example/bg.png)}</style><title>T</title></head>'
        '<body><p onclick="steal()">See <b>the</b> screenshot:</p><script>alert(1)</script>'
        '<img src="cid:shot@local" onerror="alert(2)" alt="shot">'
        '<img src="https://track.example/pixel.gif?u=ann" width="1">'
        '<img src="data:image/png;base64,AAAA">'
        '<a href="javascript:alert(3)">click</a> <a href="https://example.com/manual">manual</a>'
        '<iframe src="https://evil.example"></iframe><form action="https://evil.example"><input name="pw"></form>'
        '</body></html>', subtype="html")
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    msg.get_payload()[1].add_related(png, maintype="image", subtype="png", cid="<shot@local>", filename="shot.png")
    result = deliver(msg.as_bytes())
    t = ticket(owner, alpha, result.ticket_id)
    html = t["description_html"]
    for bad in ("<script", "onclick", "onerror", "javascript:", "track.example", "data:", "<iframe", "<form",
                "<input", "<style", "steal"):
        assert bad not in html, bad
    attachment = one(owner, "SELECT id FROM atum.attachments WHERE organization_id = %s AND ticket_id = %s",
                     [alpha.id, t["id"]])
    assert f'src="/api/v1/attachments/{attachment}"' in html
    assert 'href="https://example.com/manual"' in html and 'rel="noopener noreferrer nofollow"' in html
    assert t["description"] == "See the screenshot."


def test_html_only_mail_gets_a_plain_text_version(deliver: Deliver, owner: psycopg.Connection, alpha: Org) -> None:
    raw = (b"From: ann@customer.example\r\nSubject: html only\r\nMessage-ID: <h1@customer.example>\r\n"
           b"Content-Type: text/html; charset=utf-8\r\n\r\n"
           b"<p>Hello&nbsp;team,</p><ul><li>one</li><li>two</li></ul><p>See <a href='https://x.example/a'>this</a>"
           b"</p><blockquote>old quoted text</blockquote>")
    t = ticket(owner, alpha, deliver(raw).ticket_id)
    assert t["description"] == "Hello team,\n\n- one\n- two\n\nSee this <https://x.example/a>"
    assert "> old quoted text" in t["description_full"]


def test_quoted_history_is_trimmed_for_display_and_kept_in_full(deliver: Deliver, owner: psycopg.Connection,
                                                                alpha: Org) -> None:
    body = ("The fix worked, thank you!\n\n-- \nAnn Example\nACME Corp\n\n"
            "-----Original Message-----\nFrom: Helpdesk <helpdesk@alpha.example>\nSent: Monday\n"
            "Subject: [ATUM-1]\n\nPlease try the new driver.\n")
    result = deliver(mail("RE: [ATUM-1] Printer", body, sender=CUSTOMER))
    c = comment(owner, alpha, result.comment_id)
    assert c["body"] == "The fix worked, thank you!"
    assert c["body_full"].rstrip("\n") == body.rstrip("\n")


def test_attachments_are_stored_by_content_with_safe_names(deliver: Deliver, owner: psycopg.Connection,
                                                           alpha: Org, mail_settings: Settings) -> None:
    files = [
        ("../../../etc/passwd", "text/plain", b"root:x:0:0\n"),
        ("invoice\u202efdp.exe", "application/octet-stream", b"MZ\x90\x00"),
        ("nul\x00byte.txt", "text/plain", b"nul"),
        ("x" * 300 + ".pdf", "application/pdf", b"%PDF-1.4\n"),
        ("C:\\Users\\ann\\report.docx", "application/msword", b"doc"),
        ("..", "text/plain", b"dots"),
    ]
    result = deliver(mail("Files", sender=CUSTOMER, attachments=files))
    rows = owner.execute("SELECT filename, size_bytes, encode(sha256, 'hex'), uploaded_by, comment_id IS NULL"
                         " FROM atum.attachments WHERE organization_id = %s AND ticket_id = %s ORDER BY id",
                         [alpha.id, result.ticket_id]).fetchall()
    names = [r[0] for r in rows]
    assert names[0] == "passwd" and names[1] == "invoicefdp.exe" and names[2] == "nulbyte.txt"
    assert len(names[3]) == 255 and names[3].endswith(".pdf") and names[4] == "report.docx" and names[5] == "attachment"
    for (_, size, sha, uploaded_by, on_ticket), (_, _, data) in zip(rows, files, strict=True):
        assert (size, sha, uploaded_by, on_ticket) == (len(data), hashlib.sha256(data).hexdigest(),
                                                      alpha.users["customer"], True)
        assert stored_path(mail_settings.attachments_dir, sha).read_bytes() == data
    assert not list((mail_settings.attachments_dir / "tmp").iterdir())  # nothing left behind


def test_charsets_and_encoded_words_are_decoded(deliver: Deliver, owner: psycopg.Connection, alpha: Org) -> None:
    raw = (b"From: =?iso-8859-1?Q?J=FCrgen_M=FCller?= <juergen@customer.example>\r\n"
           b"Subject: =?utf-8?B?RHJ1Y2tlciBkZWZla3Q=?= =?utf-8?Q?_=E2=80=93_B=C3=BC?= =?utf-8?Q?ro_3?=\r\n"
           b"Message-ID: <cs1@customer.example>\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=koi8-r\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
    raw += "Принтер не работает".encode("koi8-r")
    t = ticket(owner, alpha, deliver(raw).ticket_id)
    assert (t["subject"], t["description"]) == ("Drucker defekt – Büro 3", "Принтер не работает")
    assert one(owner, "SELECT display_name FROM atum.users WHERE id = %s", [t["requester_id"]]) == "Jürgen Müller"
    wrong_label = (b"From: ann@customer.example\r\nSubject: caf\xc3\xa9 8-bit header\r\nMessage-ID: <cs2@c.example>\r\n"
                   b"Content-Type: text/plain; charset=us-ascii\r\n\r\nna\xc3\xafve caf\xe9")
    t2 = ticket(owner, alpha, deliver(wrong_label).ticket_id)
    assert t2["subject"] == "café 8-bit header"
    assert t2["description"] == "naïve café"


def test_a_ten_thousand_line_body_is_kept_whole(deliver: Deliver, owner: psycopg.Connection, alpha: Org) -> None:
    body = "".join(f"log line {n:05d}: disk full\n" for n in range(10_000))
    t = ticket(owner, alpha, deliver(mail("Logs", body, sender=CUSTOMER)).ticket_id)
    assert len(t["description"]) <= 100_000 and "shortened" in t["description"]
    assert t["description_full"].count("\n") == 9_999 and t["description_full"].endswith("log line 09999: disk full")


def test_a_message_over_the_size_limit_is_not_parsed_and_says_so(deliver: Deliver, owner: psycopg.Connection,
                                                                 alpha: Org, mail_settings: Settings) -> None:
    small = dataclasses.replace(mail_settings, mail_max_bytes=4096)
    raw = mail("Huge scan", sender=CUSTOMER, attachments=[("scan.tif", "image/tiff", os.urandom(20_000))])
    result = deliver(raw, settings=small)
    t = ticket(owner, alpha, result.ticket_id)
    assert (result.disposition, t["subject"]) == ("ticket_created", "Huge scan")
    assert f"{len(raw):,} bytes" in t["description"] and "too large" in t["description"]
    assert one(owner, "SELECT count(*) FROM atum.attachments WHERE organization_id = %s AND ticket_id = %s",
               [alpha.id, t["id"]]) == 0
    assert deliver(raw, settings=small).disposition == "duplicate"  # its Message-ID was still read


def test_only_the_mail_path_writes_html(db: Database, alpha: Org, owner: psycopg.Connection,
                                        deliver: Deliver) -> None:
    with db.acting_as(alpha.tokens["agent"]) as conn, pytest.raises(psycopg.Error) as err:  # its author
        conn.execute("UPDATE atum.ticket_comments SET body_html = '<img src=x onerror=alert(1)>'"
                     " WHERE organization_id = %s AND id = %s", [alpha.id, alpha.public_comment_id])
    assert err.value.sqlstate == "AT403"
    result = deliver(mail("Re: [ATUM-1]", "Still broken", sender=CUSTOMER, html="<p>Still <b>broken</b></p>"))
    assert comment(owner, alpha, result.comment_id)["body_html"] == "<p>Still <b>broken</b></p>"
