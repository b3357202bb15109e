"""Inbound e-mail: one raw RFC 5322 message in, a ticket, comment or recorded drop out.

:func:`ingest` is the one code path for every received message: IMAP polling (jobs/mail_poll.py)
calls it for each fetched message, and ``atumdesk ingest-eml`` for each file (:func:`ingest_files`).
Parsing is :mod:`jobs.mail_parse` (pure); every decision — threading, who may write where, user
creation, state moves, duplicates, loops, bounces, the rate cap — is ``atum_private.mail_ingest``
(sql/62_mail_ingest.sql), called once in one transaction.

Order of work, so that a crash at any point loses nothing and duplicates nothing:

1. parse; write each attachment to a temporary file in the store and fsync it (outside any
   transaction: slow disk work does not hold locks);
2. one transaction: take the store lock (shared), call ``mail_ingest`` — which claims the
   Message-ID first — then put in place exactly the files it recorded, and COMMIT;
3. return. The caller flags or moves the message on the IMAP server only now.

A crash before the commit leaves at most temporary or unreferenced files (the attachment sweeper
removes them); a crash after it, before the IMAP flag, makes the next poll fetch the message again,
and ``mail_ingest`` answers ``duplicate`` without writing anything.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import psycopg
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb

from atumdesk.attachments import Upload, place
from atumdesk.db import connect, first_line, refusal
from atumdesk.errors import AtumError
from atumdesk.queries import query
from atumdesk.settings import Settings
from jobs.faults import crash_point
from jobs.mail_parse import ParsedMail, ParseOptions, parse

QUERIES = Path(__file__).with_name("ingest_queries.sql")

# What became of a message (the "disposition" of IngestResult and of atum.mail_messages).
CREATED = frozenset({"ticket_created", "followup_created"})
ADDED = frozenset({"comment_added", "note_added", "auto_noted", "bounce_noted"})
DROPPED = frozenset({"duplicate", "dropped_loop", "dropped_auto", "dropped_bounce", "dropped_sender",
                     "dropped_rate_cap"})


@dataclass(frozen=True)
class IngestResult:
    """The outcome of ingesting one message.

    ``disposition`` is one of: ``ticket_created`` (a NEW ticket, channel email), ``followup_created``
    (a reply to a closed or rejected ticket opened a new ticket linked to it), ``comment_added`` (a
    public reply of the requester; a WAITING_CUSTOMER ticket resumes), ``note_added`` (staff wrote:
    an internal note by them), ``auto_noted`` (machine-sent mail that belongs to a ticket: an internal
    system note), ``bounce_noted`` (a delivery failure: a system note on the bounced message's ticket,
    the recipient marked undeliverable), ``duplicate`` (this Message-ID was ingested before: nothing
    written), ``dropped_loop`` (our own mail coming back), ``dropped_auto`` (machine-sent mail that
    belongs to no ticket), ``dropped_bounce`` (a delivery report about nothing of ours, or only a
    delay), ``dropped_sender`` (no usable sender address), ``dropped_rate_cap`` (the sender opened too
    many tickets this hour). Every disposition but ``duplicate`` is recorded in atum.mail_messages.
    """

    disposition: str
    ticket_id: int | None
    comment_id: int | None
    message_id: str
    reference: str | None = None  # the ticket's human reference, e.g. ATUM-1234


def organization_id(conn: psycopg.Connection[Any], slug: str) -> int:
    """The id of the organization with this slug; AtumError when there is none."""
    row = conn.cursor(row_factory=tuple_row).execute(query("mail_organization_id", QUERIES), {"slug": slug}).fetchone()
    if row is None:
        raise AtumError(f"no organization with slug {slug!r}")
    return int(row[0])


def _stage(settings: Settings, parsed: ParsedMail) -> dict[str, Upload]:
    """Each distinct attachment written to a temporary file of the store and fsynced."""
    staged: dict[str, Upload] = {}
    try:
        for attachment in parsed.attachments:
            if attachment.sha256 in staged:
                continue
            upload = Upload(settings.attachments_dir, max(attachment.size, 1))
            staged[attachment.sha256] = upload
            upload.write(attachment.content)
            upload.finish()
    except BaseException:
        for upload in staged.values():
            upload.discard()
        raise
    return staged


def ingest(conn: psycopg.Connection[Any], settings: Settings, organization_id: int, raw: bytes, *,
           mailbox_id: int | None = None, size: int | None = None) -> IngestResult:
    """Ingest one raw message into an organization and return after COMMIT.

    ``conn`` is an owner connection that is not in a transaction. ``size`` is the message's size on
    the server when ``raw`` is only its beginning (a message over ``settings.mail_max_bytes``, fetched
    partially: its ticket says how large it was). Database errors (PostgreSQL away, an unknown
    organization or mailbox: AT404) propagate; the message itself never makes this raise.
    """
    parsed = parse(raw, ParseOptions.from_settings(settings), size=size)
    staged = _stage(settings, parsed)
    try:
        with conn.transaction():
            cur = conn.cursor(row_factory=tuple_row)
            if staged:
                cur.execute(query("mail_store_lock", QUERIES))
            row = cur.execute(query("mail_ingest", QUERIES), {
                "organization_id": organization_id, "mailbox_id": mailbox_id, "message": Jsonb(parsed.as_json()),
            }).fetchone()
            assert row is not None  # a function call returns one row
            result: dict[str, Any] = row[0]
            for sha256 in result["stored"]:
                place(staged[sha256])  # in place before the rows that name them are committed
            crash_point("mail.ingest_before_commit")
        crash_point("mail.ingest_after_commit")
    finally:
        for upload in staged.values():
            upload.discard()  # the unused ones; a no-op for files placed
    return IngestResult(disposition=result["disposition"], ticket_id=result["ticket_id"],
                        comment_id=result["comment_id"], message_id=result["message_id"],
                        reference=result["reference"])


def ingest_files(settings: Settings, slug: str, paths: Sequence[str], *, out: TextIO | None = None,
                 err: TextIO | None = None) -> int:
    """``atumdesk ingest-eml``: ingest files through :func:`ingest`, one line per file on ``out``
    (file, disposition, ticket reference or -), tab-separated.

    Every file is checked before anything is ingested: a missing or unreadable file, or an unknown
    organization, is an AtumError and nothing is ingested. A file whose ingestion then fails (the
    database refused it) is reported on ``err`` and the others are still ingested; the exit status
    is 1 when any failed, else 0.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    files = [Path(p) for p in paths]
    for path in files:
        if not path.is_file():
            raise AtumError(f"{path}: no such file")
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            raise AtumError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    failed = 0
    with connect(settings.conninfo("owner"), "the owner (atum_owner)", autocommit=True,
                 application_name="atumdesk-ingest-eml") as conn:
        org = organization_id(conn, slug)
        for path in files:
            try:
                result = ingest(conn, settings, org, path.read_bytes())
            except (OSError, psycopg.Error) as exc:
                failed += 1
                reason = refusal(exc) if isinstance(exc, psycopg.Error) else first_line(exc)
                print(f"atumdesk: error: {path}: {reason}", file=err, flush=True)
                continue
            print(f"{path}\t{result.disposition}\t{result.reference or '-'}", file=out, flush=True)
    return 1 if failed else 0
