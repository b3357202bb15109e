"""Outbound notifications (SPEC 7): the worker's side of atum.mail_outbox.

Events queue notifications in their own transaction (sql/63_mail_outbox.sql); each queued row gets
a ``mail.send`` job. The handlers here:

* ``mail.send`` {outbox_id}: render the notification (jobs/mail_render.py), fix its Message-ID and
  threading headers, hand it to SMTP (jobs/smtp.py), record the outcome.
* ``sla.notify`` {recipients: "managers", sla_event_ids}: one notification per active manager (and
  admin) and kind — a warning, a breach — about the listed SLA events.
* ``mail.password_reset`` {user_id, token} and ``mail.invitation`` {user_id, invited_by, token}: the
  mail carrying the single-use link; the token moves from the job into the outbox row's secret
  column (never readable by the app, redacted in the audit trail, cleared once sent).

Exactly once. A notification moves queued → sending → sent | failed (the database enforces it):

1. ``begin`` — committed BEFORE the message is handed to SMTP: state sending, the Message-ID
   ``<atum.<org>.<id>.<random>@<ATUM_MAIL_DOMAIN>>`` and Date, In-Reply-To, References fixed on the
   first attempt and kept on every later one, and the message recorded in atum.mail_messages (so a
   reply threads back even if the worker dies the next instant);
2. SMTP;
3. ``finish`` — committed after the server's final 250: state sent.

A sent or failed row is never sent again, whatever runs the job again (a retry, the crash recovery
of a killed worker, an admin's retry of a dead job), and a session advisory lock keeps two workers
from sending the same row at once. A worker killed before step 2 completes leaves the row sending
and its job running; crash recovery runs the job again and the message goes out once. The one
window that can duplicate: the server accepted the message (step 2 done) and the worker died
before step 3 committed. The job runs again and sends the message a second time — with the same
Message-ID, so mail clients and most servers show it once. No protocol closes that window without
the server's help (RFC 5321 §4.1.1.4 has the same gap for a lost final reply). A worker that is
alive but lost its database connection at that moment (PostgreSQL restarted) does not leave it
open: it records step 3 on a new connection, retrying for a minute, before it gives up.

Temporary failures (no relay configured, connection, TLS or authentication trouble, a 4xx) raise:
the job is retried with backoff and the row keeps the reason in last_error for admins. A 5xx for the
recipient or the message fails the row at once (no retry). A recipient who became inactive or
undeliverable, a reset link that expired before it could be sent, or an acknowledgement of a ticket
that an automatic message opened: the row is failed with the reason, nothing is sent.
"""

from __future__ import annotations

import copy
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any, LiteralString
from urllib.parse import quote

import psycopg

from atumdesk.queries import query
from atumdesk.settings import Settings
from jobs import mail_render, smtp
from jobs.faults import crash_point
from jobs.registry import Job, JobContext, PermanentError, handler

QUERIES = Path(__file__).with_name("mail_out.sql")
#: Links that carry a token (the web app reads it from the fragment, which no server log records).
TOKEN_PATHS = {"password_reset": "password-reset", "invitation": "invitation"}

Conn = psycopg.Connection[dict[str, Any]]


def q(name: str) -> LiteralString:
    """A query of jobs/mail_out.sql by name."""
    return query(name, QUERIES)


def _one(conn: Conn, name: str, params: dict[str, Any]) -> Any:
    """The value a query of jobs/mail_out.sql returns (a function call: one row, one column)."""
    row = conn.execute(q(name), params).fetchone()
    assert row is not None  # a SELECT of a function call always returns its row
    return next(iter(row.values()))


class Busy(Exception):
    """Another worker is sending this notification right now (the job is retried later)."""


def _organization(job: Job) -> int:
    if job.organization_id is None:
        raise PermanentError(f"a {job.kind} job needs an organization")
    return job.organization_id


def _int(job: Job, name: str, *, required: bool = True) -> int | None:
    value = job.payload.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise PermanentError(f"the payload's {name} must be an id, got {value!r}")
    return int(value)


# ---------------------------------------------------------------------------------------------
# mail.send
# ---------------------------------------------------------------------------------------------
def message_id(organization_id: int, outbox_id: int, domain: str) -> str:
    """A new Message-ID for a notification; random so that it cannot be guessed from the ids."""
    return f"<atum.{organization_id}.{outbox_id}.{secrets.token_hex(8)}@{domain}>"


def template_context(row: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """What the templates see: the row's context, with the links built from ATUM_PUBLIC_URL."""
    context: dict[str, Any] = copy.deepcopy(row.get("context") or {})
    base = settings.base_url
    context["kind"] = row["kind"]
    context["portal_url"] = base
    ticket = context.get("ticket")
    if isinstance(ticket, dict) and ticket.get("id") is not None:
        ticket["url"] = f"{base}/tickets/{ticket['id']}"
    for event in context.get("events") or []:
        if isinstance(event, dict) and event.get("ticket_id") is not None:
            event["url"] = f"{base}/tickets/{event['ticket_id']}"
    if row.get("secret") and row["kind"] in TOKEN_PATHS:
        context["link"] = f"{base}/{TOKEN_PATHS[row['kind']]}#token={quote(row['secret'], safe='')}"
    return context


def _address(name: str | None, address: str) -> Address:
    display = mail_render.one_line(name or "", 200)
    return Address(display_name="" if display == address else display, addr_spec=address)


def build_message(row: dict[str, Any], rendered: mail_render.Rendered, settings: Settings,
                  organization_name: str, recipient_name: str | None) -> EmailMessage:
    """The message as it goes to SMTP: identity and threading headers from the row (the same on
    every attempt), RFC 3834 markers, and the text and HTML parts (multipart/alternative)."""
    message = EmailMessage(policy=SMTP)
    message["From"] = _address(organization_name, settings.mail_from)
    message["To"] = _address(recipient_name, row["to_address"])
    if row.get("reply_to"):
        message["Reply-To"] = row["reply_to"]
    message["Subject"] = mail_render.one_line(row.get("subject") or rendered.subject)
    sending_at = datetime.fromisoformat(row["sending_at"]) if row.get("sending_at") else datetime.now(UTC)
    message["Date"] = format_datetime(sending_at)
    message["Message-ID"] = row["message_id"]
    if row.get("in_reply_to"):
        message["In-Reply-To"] = row["in_reply_to"]
    if row.get("thread_references"):
        message["References"] = " ".join(row["thread_references"])
    # Automatic mail (RFC 3834): auto-responders must not answer it, Exchange neither, and our own
    # ingestion recognises it should it come back.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message["X-Loop"] = f"atumdesk@{settings.mail_domain}"
    reference = ((row.get("context") or {}).get("ticket") or {}).get("reference")
    if reference:
        message["X-ATUM-Ticket"] = mail_render.one_line(str(reference), 40)
    message.set_content(rendered.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message


def _skip_reason(row: dict[str, Any]) -> str | None:
    """Why a notification is no longer to be sent at all (None: it is)."""
    recipient = row.get("recipient")
    if not recipient:
        return "not sent: the recipient no longer exists"
    if not recipient.get("is_active"):
        return "not sent: the recipient is inactive"
    if recipient.get("is_undeliverable"):
        return "not sent: mail to the recipient's address bounced (undeliverable)"
    if row.get("answers_auto_submitted"):
        return "not sent: the ticket was opened by an automatic message, which is never answered (RFC 3834)"
    if row.get("secret") is not None and not row.get("token_valid"):
        return "not sent: the link was used, replaced or expired before it could be sent"
    if row["kind"] in TOKEN_PATHS and row["state"] == "queued" and row.get("secret") is None:
        return "not sent: the link is gone"
    return None


#: How long a worker that lost its connection after the server's 250 keeps trying to record the
#: notification as sent (a PostgreSQL restart takes seconds), before it lets the job run again.
RECORD_SENT_SECONDS = 60.0


def _record_sent(conn: Conn, ids: dict[str, int], reconnect: Callable[[], Conn] | None) -> None:
    """Step 3: state sent. The server has the message now, so a lost connection is not a reason to
    send it again: the same update is made on a new connection, until RECORD_SENT_SECONDS."""
    try:
        conn.execute(q("finish"), {**ids, "error": None})
        conn.commit()
        return
    except psycopg.OperationalError:
        if reconnect is None:
            raise
    deadline = time.monotonic() + RECORD_SENT_SECONDS
    while True:
        try:
            with reconnect() as fresh:
                fresh.execute(q("finish"), {**ids, "error": None})
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def deliver(conn: Conn, settings: Settings, organization_id: int, outbox_id: int, log: Any,
            reconnect: Callable[[], Conn] | None = None) -> str:
    """Send one notification (see the module docstring); returns what became of it. ``reconnect``
    opens a new connection (committed when its block ends) to record the outcome on if ``conn`` is
    lost after the server accepted the message."""
    ids = {"organization_id": organization_id, "id": outbox_id}
    if not _one(conn, "lock", ids):
        raise Busy(f"notification {outbox_id} is being sent by another worker")
    conn.commit()
    row = _one(conn, "load", ids)
    if row is None or row["state"] in ("sent", "failed"):
        conn.commit()
        return "gone" if row is None else f"already {row['state']}"
    reason = _skip_reason(row)
    if reason:
        conn.execute(q("finish"), {**ids, "error": reason})
        conn.commit()
        log.info("notification %s (%s) not sent: %s", outbox_id, row["kind"], reason)
        return "skipped"
    if not settings.smtp_host:
        conn.execute(q("note"), {**ids, "error": smtp.NOT_CONFIGURED})
        conn.commit()
        raise smtp.NotConfigured(smtp.NOT_CONFIGURED)

    rendered = mail_render.render(row["kind"], template_context(row, settings), row.get("templates"))
    if rendered.errors:
        error = "; ".join(rendered.errors) + " — the default template was used"
        conn.execute(q("template_failed"), {"organization_id": organization_id, "kind": row["kind"], "error": error})
        log.warning("organization template for %s failed, default used: %s", row["kind"], error)
    candidate = message_id(organization_id, outbox_id, settings.mail_domain)
    sending = _one(conn, "begin", {**ids, "message_id": candidate, "subject": rendered.subject,
                                   "from_address": settings.mail_from})
    conn.commit()  # the Message-ID and the threading headers are fixed before SMTP sees anything
    if sending is None:
        return "gone"
    crash_point("mail.before_send")

    message = build_message(sending, rendered, settings, row.get("organization_name") or "",
                            (row.get("recipient") or {}).get("name"))
    try:
        smtp.send(settings, message, sender=settings.mail_from, recipient=sending["to_address"])
    except smtp.Refused as exc:
        conn.execute(q("finish"), {**ids, "error": str(exc)})
        conn.commit()
        log.warning("notification %s refused for good: %s", outbox_id, exc)
        return "failed"
    except Exception as exc:
        conn.rollback()
        conn.execute(q("note"), {**ids, "error": str(exc) or type(exc).__name__})
        conn.commit()
        raise
    crash_point("mail.after_send")
    _record_sent(conn, ids, reconnect)
    crash_point("mail.after_commit")
    log.info("notification %s (%s) sent to %s as %s", outbox_id, row["kind"], sending["to_address"],
             sending["message_id"])
    return "sent"


@handler("mail.send")
def send_notification(ctx: JobContext, job: Job) -> None:
    """Job mail.send {outbox_id}: send one notification of the outbox, exactly once."""
    organization_id = _organization(job)
    outbox_id = _int(job, "outbox_id")
    assert outbox_id is not None
    with ctx.connect() as conn:
        deliver(conn, ctx.settings, organization_id, outbox_id, ctx.log, reconnect=ctx.connect)


# ---------------------------------------------------------------------------------------------
# Jobs that expand into notifications
# ---------------------------------------------------------------------------------------------
@handler("sla.notify")
def queue_sla_notifications(ctx: JobContext, job: Job) -> None:
    """Job sla.notify {recipients: "managers", sla_event_ids}: one notification per active manager
    and admin and kind (warning, breach); queued once per job, also when the job runs twice."""
    organization_id = _organization(job)
    event_ids = job.payload.get("sla_event_ids")
    if not isinstance(event_ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in event_ids):
        raise PermanentError(f"sla_event_ids must be a list of ids, got {event_ids!r}")
    if job.payload.get("recipients", "managers") != "managers":
        raise PermanentError(f"unknown recipients {job.payload.get('recipients')!r} (only \"managers\")")
    with ctx.connect() as conn:
        queued = _one(conn, "queue_sla", {"organization_id": organization_id, "job_id": job.id,
                                          "event_ids": event_ids})
    ctx.log.info("SLA events %s: %s notification(s) queued", event_ids[:20], queued)


def _queue_token_mail(ctx: JobContext, job: Job, kind: str) -> None:
    organization_id = _organization(job)
    user_id = _int(job, "user_id")
    token = job.payload.get("token")
    if token is None:
        # An earlier run of this job moved the token into the outbox already (and committed).
        ctx.log.info("%s job %s: the token was queued before", kind, job.id)
        return
    if not isinstance(token, str) or not token:
        raise PermanentError("the payload's token must be a string")
    with ctx.connect() as conn:
        outbox_id = _one(conn, "queue_token", {
            "organization_id": organization_id, "job_id": job.id, "kind": kind, "user_id": user_id, "token": token,
            "invited_by": _int(job, "invited_by", required=False)})
    ctx.log.info("%s for user %s: %s", kind, user_id,
                 f"notification {outbox_id} queued" if outbox_id else "nothing to send (user or link no longer valid)")


@handler("mail.password_reset")
def queue_password_reset(ctx: JobContext, job: Job) -> None:
    """Job mail.password_reset {user_id, token}: queue the reset mail (sent by mail.send)."""
    _queue_token_mail(ctx, job, "password_reset")


@handler("mail.invitation")
def queue_invitation(ctx: JobContext, job: Job) -> None:
    """Job mail.invitation {user_id, invited_by, token}: queue the invitation mail (sent by mail.send)."""
    _queue_token_mail(ctx, job, "invitation")
