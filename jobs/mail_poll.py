"""The 'mail.poll' job: fetch a mailbox's new messages over IMAP and hand each to ingestion.

pg_cron queues one job per active mailbox every minute (``atum.mailbox_polls_enqueue`` in
sql/64_mail_poll.sql); nothing in Python schedules. For one mailbox the handler

1. takes the mailbox's poll lock (when another poll of it is running there is nothing to do);
2. connects — implicit TLS, or STARTTLS on the plain port; certificates are always verified, against
   the system's CAs and ``settings.mail_ca_file`` — logs in with the password decrypted here (the key
   never enters the database) and selects the folder;
3. finds the new messages: the UIDs above the last one handled, as long as the folder's UIDVALIDITY
   and the mailbox's server, account and folder are those the UID was recorded for. Otherwise
   (first poll, the server renumbered the folder, an admin pointed the mailbox elsewhere) it takes
   the unseen messages once and records the UID state again. Tracking UIDs rather than searching
   UNSEEN every time means that a person who reads the inbox in a mail program — marking messages
   read before the helpdesk saw them — takes nothing away from the helpdesk;
4. fetches them in small batches with ``BODY.PEEK[]`` (fetching does not mark them read), hands each
   raw message to ``jobs.mail_ingest.ingest`` — one transaction, committed when it returns — and only
   then flags the batch ``\\Seen`` or moves it to the processed folder (MOVE, or COPY, ``\\Deleted``
   and EXPUNGE where the server has no MOVE), and records the last UID handled;
5. stops after MAX_MESSAGES messages or MAX_SECONDS and queues its own continuation, so one full
   mailbox does not keep the worker from the others;
6. records the outcome for the admins: last poll, last success, last error in plain words (say,
   "authentication failed for support@example.com on imap.example.com:993"), never the password.

A crash anywhere loses nothing and duplicates nothing: a message whose ticket was committed but that
was not flagged yet is fetched again, ingestion knows its Message-ID (disposition 'duplicate',
nothing written), and it is flagged then. ``ATUM_CRASH_AT=mail.after_commit`` kills the worker at
exactly that point (the crash tests).

Errors: a problem an admin must fix (password, certificate, host name, folder, no STARTTLS) ends the
job at once (PermanentError) — pg_cron tries again after a backoff that grows with the failures in a
row, or at once after the mailbox's settings change; a passing one (timeout, refused or dropped
connection, a database error) is retried by the worker.
"""

from __future__ import annotations

import base64
import contextlib
import imaplib
import re
import socket
import ssl
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, LiteralString

import psycopg

from atumdesk import secrets
from atumdesk.db import first_line
from atumdesk.errors import AtumError
from atumdesk.queries import query
from atumdesk.settings import Settings
from jobs.faults import crash_point
from jobs.mail_ingest import ingest
from jobs.registry import Job, JobContext, PermanentError, handler
from jobs.tls import mail_tls_context

KIND = "mail.poll"
#: The associated data the API encrypts IMAP passwords with (api/mailboxes.py CONTEXT).
PASSWORD_CONTEXT = "mailbox:imap_password"
#: Bounds of one poll; the rest is left to a continuation job queued behind the others.
MAX_MESSAGES = 500
MAX_SECONDS = 60.0
#: Seconds any one network operation may take (connect, TLS handshake, one command).
TIMEOUT = 30.0
#: Messages fetched per command: few enough to bound memory, many enough to save round trips.
BATCH_MESSAGES = 25
BATCH_BYTES = 8 * 1024 * 1024
QUERIES = Path(__file__).with_name("mail_poll.sql")
_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_RESPONSE_CODE = re.compile(r"^\[[^\]]*\]\s*")
#: Dovecot ends its answers with timings, e.g. "(0.001 + 0.000 secs)": noise for admins.
_TIMINGS = re.compile(r"\s*\([0-9.+ ]+ secs\)\.?$")


def q(name: str) -> LiteralString:
    """A query of jobs/mail_poll.sql by name."""
    return query(name, QUERIES)


class PollError(Exception):
    """A poll failed; the message is in plain words for admins. ``permanent``: retrying the same
    job will not help (an admin must change something)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


@dataclass(frozen=True)
class Target:
    """A mailbox as the poll needs it: settings, encrypted password, where the last poll stopped."""

    organization_id: int
    mailbox_id: int
    imap_host: str
    imap_port: int
    imap_security: str
    imap_username: str
    imap_password_encrypted: bytes | None
    imap_folder: str
    processed_folder: str | None
    is_active: bool
    uid_scope: str | None
    uidvalidity: int | None
    last_uid: int

    @property
    def where(self) -> str:
        """host:port, as error messages name the server."""
        return f"{self.imap_host}:{self.imap_port}"

    @property
    def scope(self) -> str:
        """What a recorded UID belongs to: the same UID elsewhere means nothing."""
        return f"{self.imap_username}@{self.where}/{self.imap_folder}"


@dataclass
class Outcome:
    """What a poll did."""

    messages: int = 0
    more: bool = False


@handler(KIND)
def poll(ctx: JobContext, job: Job) -> None:
    """Poll one mailbox (payload ``{"mailbox_id": id}``), or with ``"check_only": true`` only log in
    and open the folder (the admin's connection test)."""
    mailbox_id = job.payload.get("mailbox_id")
    if not isinstance(mailbox_id, int) or job.organization_id is None:
        raise PermanentError(f"a {KIND} job needs an organization and an integer mailbox_id, got {job.payload!r}")
    check_only = bool(job.payload.get("check_only"))
    keys = {"organization_id": job.organization_id, "mailbox_id": mailbox_id}
    with ctx.connect() as conn:
        locked = conn.execute(q("lock"), keys).fetchone()
        conn.commit()
        if not (locked and locked["locked"]):
            ctx.log.info("mailbox %s is being polled by another job", mailbox_id)
            return
        try:
            row = conn.execute(q("target"), keys).fetchone()
            conn.commit()
            if row is None or not (row["is_active"] or check_only):
                return  # deleted or switched off since the job was queued
            target = Target(organization_id=job.organization_id, mailbox_id=mailbox_id, **row)
            _run(ctx, conn, target, check_only)
        finally:
            if not conn.closed and not conn.broken:
                conn.rollback()
                conn.execute(q("unlock"), keys)
                conn.commit()


def _run(ctx: JobContext, conn: psycopg.Connection[Any], target: Target, check_only: bool) -> None:
    """Poll, record the outcome, queue a continuation when the poll stopped at its bound."""
    poller = Poller(ctx.settings, conn, target, log=ctx.log)
    try:
        outcome = poller.check() if check_only else poller.poll()
    except PollError as exc:
        _record(ctx, conn, target, exc.message, poller.handed)
        ctx.log.warning("mailbox %s: %s", target.mailbox_id, exc.message)
        if exc.permanent:
            raise PermanentError(exc.message) from None
        raise
    except Exception as exc:
        _record(ctx, conn, target, f"polling failed: {first_line(exc)}", poller.handed)
        raise
    _record(ctx, conn, target, None, outcome.messages)
    if outcome.more:
        conn.execute(q("continue"), {"organization_id": target.organization_id, "mailbox_id": target.mailbox_id})
        conn.commit()
    ctx.log.info("mailbox %s: %s message(s) handed to ingestion%s", target.mailbox_id, outcome.messages,
                 ", more to come" if outcome.more else "")


def _record(ctx: JobContext, conn: psycopg.Connection[Any], target: Target, error: str | None, messages: int) -> None:
    """Store the poll's outcome for the admins (a failure to do so is logged, not raised over the
    poll's own error)."""
    try:
        conn.rollback()
        conn.execute(q("record"), {"organization_id": target.organization_id, "mailbox_id": target.mailbox_id,
                                   "error": error, "messages": messages})
        conn.commit()
    except psycopg.Error as exc:
        ctx.log.error("mailbox %s: could not record the poll's outcome: %s", target.mailbox_id, first_line(exc))


class Poller:
    """One poll of one mailbox over one IMAP connection."""

    def __init__(self, settings: Settings, conn: psycopg.Connection[Any], target: Target, *, log: Any) -> None:
        self.settings = settings
        self.conn = conn
        self.target = target
        self.log = log
        self.password = ""
        self.imap: imaplib.IMAP4 | None = None
        self.capabilities: set[str] = set()
        self.handed = 0  # messages handed to ingestion so far

    # -- the two jobs ------------------------------------------------------------------------------
    def check(self) -> Outcome:
        """Log in and open the folder read-only; fetch nothing."""
        with self.session():
            self.select(readonly=True)
        return Outcome()

    def poll(self) -> Outcome:
        """Ingest the new messages (at most MAX_MESSAGES, for at most MAX_SECONDS)."""
        started = time.monotonic()
        outcome = Outcome()
        with self.session():
            uidvalidity, uidnext = self.select(readonly=False)
            t = self.target
            resume = t.uidvalidity == uidvalidity and t.uid_scope == t.scope
            if not resume and t.uidvalidity is not None:
                self.log.info("mailbox %s: UID state no longer valid (UIDVALIDITY %s, was %s; %s, was %s): "
                              "reading the unseen messages", t.mailbox_id, uidvalidity, t.uidvalidity, t.scope,
                              t.uid_scope)
            last_uid = t.last_uid if resume else 0
            if resume:
                candidates = [u for u in self.search("UID", f"{last_uid + 1}:*", "NOT", "DELETED") if u > last_uid]
            else:
                candidates = self.search("UNSEEN", "NOT", "DELETED")
                self.progress(None, 0)  # until the unseen ones are all handled, there is no UID state
            todo = candidates[:MAX_MESSAGES]
            outcome.more = len(candidates) > len(todo)
            sizes = self.sizes(todo)
            for batch in _batches([u for u in todo if u in sizes], sizes):
                if time.monotonic() - started > MAX_SECONDS:
                    outcome.more = True
                    break
                done, failure = self.ingest_batch(batch, sizes)
                if resume and done:
                    last_uid = max(last_uid, *done)
                    self.progress(uidvalidity, last_uid)
                if failure is not None:
                    raise failure
            outcome.messages = self.handed
            if not resume and not outcome.more:
                # Everything unseen is handled: from now on, every UID above what existed at SELECT.
                highest = uidnext - 1 if uidnext else self.highest_uid()
                self.progress(uidvalidity, max(highest, *todo, 0))
        return outcome

    # -- connection ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def session(self) -> Iterator[imaplib.IMAP4]:
        """Connected and logged in; logged out at the end whatever happens."""
        self.password = self.decrypt_password()
        try:
            with self.phase("connecting to"):
                self.imap = self.connect()
            self.login()
            yield self.imap
        finally:
            if self.imap is not None:
                with contextlib.suppress(Exception):
                    self.imap.logout()
                self.imap = None

    def decrypt_password(self) -> str:
        """The mailbox's password in clear (only in this process's memory, only for this poll)."""
        t = self.target
        if t.imap_password_encrypted is None:
            raise PollError(f"no password is stored for {t.imap_username} on {t.where}: enter it in the mailbox "
                            "settings", permanent=True)
        try:
            key = secrets.load_key(self.settings, create=False)
            return secrets.decrypt(key, bytes(t.imap_password_encrypted), PASSWORD_CONTEXT)
        except AtumError as exc:
            raise PollError(f"the stored password of {t.imap_username} cannot be used: {exc}; enter it again in "
                            "the mailbox settings", permanent=True) from None

    def connect(self) -> imaplib.IMAP4:
        """The connection, encrypted before anything else is said."""
        t = self.target
        if t.imap_security == "tls":
            return imaplib.IMAP4_SSL(t.imap_host, t.imap_port, ssl_context=mail_tls_context(self.settings),
                                     timeout=TIMEOUT)
        imap = imaplib.IMAP4(t.imap_host, t.imap_port, timeout=TIMEOUT)
        try:
            if "STARTTLS" not in imap.capabilities:
                raise PollError(f"{t.where} does not offer STARTTLS: choose tls (usually port 993) or a server "
                                "that offers STARTTLS", permanent=True)
            imap.starttls(ssl_context=mail_tls_context(self.settings))
        except BaseException:
            with contextlib.suppress(Exception):
                imap.shutdown()
            raise
        return imap

    def login(self) -> None:
        """LOGIN, or AUTHENTICATE PLAIN in UTF-8 when name or password are not ASCII (LOGIN cannot
        carry them). Any refusal is an authentication failure for the admin."""
        t, imap = self.target, self._imap()
        with self.phase("logging in to"):
            try:
                if t.imap_username.isascii() and self.password.isascii():
                    imap.login(_quoted(t.imap_username), self.password)
                else:
                    credentials = f"\0{t.imap_username}\0{self.password}".encode()
                    imap.authenticate("PLAIN", lambda _challenge: credentials)
            except imaplib.IMAP4.abort:
                raise
            except imaplib.IMAP4.error:
                raise PollError(f"authentication failed for {t.imap_username} on {t.where}", permanent=True) from None
            typ, data = imap.capability()
            if typ == "OK" and data and isinstance(data[0], bytes):
                self.capabilities = set(data[0].decode(errors="replace").upper().split())

    def select(self, *, readonly: bool) -> tuple[int, int | None]:
        """Open the folder; its UIDVALIDITY and UIDNEXT (None when the server does not say)."""
        t, imap = self.target, self._imap()
        with self.phase("opening the folder on"):
            typ, data = imap.select(_mailbox_name(t.imap_folder), readonly=readonly)
            if typ != "OK":
                raise PollError(f'folder "{t.imap_folder}" does not exist for {t.imap_username} on {t.where} '
                                f"({_server_text(data)})", permanent=True)
            uidvalidity = _number(imap.response("UIDVALIDITY")[1])
            uidnext = _number(imap.response("UIDNEXT")[1])
        if uidvalidity is None:
            raise PollError(f"{t.where} did not report the UIDVALIDITY of folder \"{t.imap_folder}\"", permanent=True)
        return uidvalidity, uidnext

    # -- finding and fetching -----------------------------------------------------------------------
    def search(self, *criteria: str) -> list[int]:
        """UIDs matching a UID SEARCH, ascending."""
        with self.phase("searching on"):
            data = self._ok(self._imap().uid("SEARCH", *criteria), "search")
        return sorted({int(n) for item in data if isinstance(item, bytes) for n in item.split()})

    def highest_uid(self) -> int:
        """The highest UID in the folder (for servers that do not report UIDNEXT)."""
        return max(self.search("ALL"), default=0)

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        """RFC822.SIZE of each message (messages expunged meanwhile are absent)."""
        found: dict[int, int] = {}
        for chunk in range(0, len(uids), 500):
            part = uids[chunk:chunk + 500]
            if not part:
                continue
            with self.phase("listing messages on"):
                data = self._ok(self._imap().uid("FETCH", _uid_set(part), "(UID RFC822.SIZE)"), "list messages")
            for item in data:
                line = item[0] if isinstance(item, tuple) else item
                if isinstance(line, bytes) and (uid := _UID.search(line)) and (size := _SIZE.search(line)):
                    found[int(uid.group(1))] = int(size.group(1))
        return found

    def fetch(self, uids: Sequence[int], sizes: dict[int, int]) -> dict[int, bytes]:
        """The raw messages by UID, without marking them read. A message larger than
        settings.mail_max_bytes is fetched only up to one byte past the limit: enough for ingestion to
        read its headers and see that it is too large, without holding gigabytes in memory."""
        limit = self.settings.mail_max_bytes
        whole = [u for u in uids if sizes[u] <= limit]
        found: dict[int, bytes] = {}
        with self.phase("fetching messages from"):
            imap = self._imap()
            if whole:
                found.update(_literals(self._ok(imap.uid("FETCH", _uid_set(whole), "(UID BODY.PEEK[])"), "fetch")))
            for uid in (u for u in uids if sizes[u] > limit):
                part = f"(UID BODY.PEEK[]<0.{limit + 1}>)"
                found.update(_literals(self._ok(imap.uid("FETCH", str(uid), part), "fetch")))
        return found

    def ingest_batch(self, uids: Sequence[int], sizes: dict[int, int]) -> tuple[list[int], PollError | None]:
        """Fetch, ingest one by one (each committed), then flag or move those ingested. Returns the
        UIDs now behind us (ingested and flagged, or gone from the server meanwhile) and, if a
        message could not be ingested, the error (the messages after it wait for the next try)."""
        raws = self.fetch(uids, sizes)
        ingested: list[int] = []
        failure: PollError | None = None
        handled = list(uids)
        for index, uid in enumerate(uids):
            raw = raws.get(uid)
            if raw is None:
                continue  # expunged by someone else between SEARCH and FETCH
            try:
                ingest(self.conn, self.settings, self.target.organization_id, raw, mailbox_id=self.target.mailbox_id)
            except Exception as exc:
                with contextlib.suppress(psycopg.Error):
                    self.conn.rollback()
                failure = PollError(f'message UID {uid} in folder "{self.target.imap_folder}" could not be '
                                    f"ingested: {first_line(exc)}")
                failure.__cause__ = exc
                handled = list(uids[:index])
                break
            self.handed += 1
            ingested.append(uid)
            crash_point("mail.after_commit")
        if ingested:
            self.mark_done(ingested)
        return handled, failure

    def mark_done(self, uids: Sequence[int]) -> None:
        """Flag the messages \\Seen, and move them to the processed folder if there is one."""
        t, imap = self.target, self._imap()
        uid_set = _uid_set(uids)
        with self.phase("flagging messages on"):
            self._ok(imap.uid("STORE", uid_set, "+FLAGS.SILENT", r"(\Seen)"), "flag messages as seen")
        if t.processed_folder is None:
            return
        folder = _mailbox_name(t.processed_folder)
        with self.phase("moving messages on"):
            if "MOVE" in self.capabilities:
                self._transfer("MOVE", uid_set, folder)
                return
            self._transfer("COPY", uid_set, folder)
            self._ok(imap.uid("STORE", uid_set, "+FLAGS.SILENT", r"(\Deleted)"), "mark moved messages deleted")
            if "UIDPLUS" in self.capabilities:
                self._ok(imap.uid("EXPUNGE", uid_set), "expunge moved messages")
            else:
                self._ok(imap.expunge(), "expunge moved messages")

    def _transfer(self, command: str, uid_set: str, folder: str) -> None:
        """UID MOVE or UID COPY into the processed folder, creating it when the server says TRYCREATE."""
        imap = self._imap()
        typ, data = imap.uid(command, uid_set, folder)
        if typ != "OK" and "TRYCREATE" in _server_text(data, keep_codes=True).upper():
            imap.create(folder)
            typ, data = imap.uid(command, uid_set, folder)
        if typ != "OK":
            raise PollError(f'messages could not be moved to folder "{self.target.processed_folder}" on '
                            f"{self.target.where}: {_server_text(data)}", permanent=True)

    # -- plumbing -----------------------------------------------------------------------------------
    def progress(self, uidvalidity: int | None, last_uid: int) -> None:
        """Record how far the folder has been handled (committed at once)."""
        t = self.target
        self.conn.execute(q("progress"), {"organization_id": t.organization_id, "mailbox_id": t.mailbox_id,
                                          "uid_scope": t.scope, "uidvalidity": uidvalidity, "last_uid": last_uid})
        self.conn.commit()

    def _imap(self) -> imaplib.IMAP4:
        if self.imap is None:
            raise RuntimeError("not connected")
        return self.imap

    def _ok(self, answer: tuple[str, list[Any]], doing: str) -> list[Any]:
        typ, data = answer
        if typ != "OK":
            raise PollError(f"{self.target.where} refused to {doing}: {_server_text(data)}")
        return data

    @contextlib.contextmanager
    def phase(self, doing: str) -> Iterator[None]:
        """Turn what sockets, TLS and imaplib raise into one sentence an admin understands."""
        t = self.target
        try:
            yield
        except PollError as exc:
            exc.message = self._scrub(exc.message)
            raise
        except ssl.SSLCertVerificationError as exc:
            reason = exc.verify_message or exc.reason or "not valid"
            raise PollError(f"the TLS certificate of {t.where} is not trusted ({reason}); if the server uses a "
                            "private certificate authority, the operator adds it with ATUM_MAIL_CA_FILE",
                            permanent=True) from None
        except ssl.SSLError as exc:
            hint = {"tls": "is it a STARTTLS port? then choose starttls",
                    "starttls": "is it an implicit-TLS port such as 993? then choose tls"}[t.imap_security]
            reason = exc.reason or first_line(exc)
            if reason in ("WRONG_VERSION_NUMBER", "UNEXPECTED_EOF_WHILE_READING", "HTTP_REQUEST"):
                raise PollError(f"{t.where} did not answer in TLS ({reason}): {hint}", permanent=True) from None
            raise PollError(f"TLS with {t.where} failed while {doing} it ({reason})") from None
        except socket.gaierror:
            raise PollError(f"host not found: {t.imap_host}", permanent=True) from None
        except ConnectionRefusedError:
            raise PollError(f"connection refused by {t.where}: no IMAP server listens there") from None
        except TimeoutError:
            raise PollError(f"timed out after {TIMEOUT:.0f} s {doing} {t.where}") from None
        except imaplib.IMAP4.abort as exc:
            raise PollError(self._scrub(f"{t.where} broke off the connection while {doing} it: "
                                        f"{_error_text(exc)}")) from None
        except imaplib.IMAP4.error as exc:
            raise PollError(self._scrub(f"{t.where} refused while {doing} it: {_error_text(exc)}")) from None
        except OSError as exc:
            raise PollError(f"network error {doing} {t.where}: {exc.strerror or first_line(exc)}") from None

    def _scrub(self, text: str) -> str:
        """Whatever a server echoes, the password never reaches the admin page or the logs."""
        return text.replace(self.password, "[password]") if self.password else text


# -- IMAP syntax helpers -------------------------------------------------------------------------------
def _batches(uids: Sequence[int], sizes: dict[int, int]) -> Iterator[list[int]]:
    """Consecutive groups of at most BATCH_MESSAGES messages and about BATCH_BYTES."""
    batch: list[int] = []
    total = 0
    for uid in uids:
        if batch and (len(batch) >= BATCH_MESSAGES or total + sizes[uid] > BATCH_BYTES):
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += sizes[uid]
    if batch:
        yield batch


def _uid_set(uids: Sequence[int]) -> str:
    """An IMAP sequence set of UIDs, runs written as ranges: 3:7,9,12:13."""
    parts: list[str] = []
    ordered = sorted(set(uids))
    start = prev = ordered[0]
    for uid in [*ordered[1:], None]:
        if uid is not None and uid == prev + 1:
            prev = uid
            continue
        parts.append(str(start) if start == prev else f"{start}:{prev}")
        if uid is not None:
            start = prev = uid
    return ",".join(parts)


def _literals(data: list[Any]) -> dict[int, bytes]:
    """The message bodies of a UID FETCH answer by UID. imaplib gives (prefix, literal) pairs; the
    UID is in the prefix or, when a server sends it after the body, in the text that follows."""
    found: dict[int, bytes] = {}
    for index, item in enumerate(data):
        if not (isinstance(item, tuple) and b"BODY[" in item[0]):
            continue
        match = _UID.search(item[0])
        if match is None and index + 1 < len(data) and isinstance(data[index + 1], bytes):
            match = _UID.search(data[index + 1])
        if match is not None:
            found[int(match.group(1))] = item[1]
    return found


def _number(data: list[Any] | None) -> int | None:
    if data and isinstance(data[0], bytes) and data[0].strip().isdigit():
        return int(data[0])
    return None


def _quoted(text: str) -> str:
    """An IMAP quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _mailbox_name(name: str) -> str:
    """A folder name as IMAP wants it: modified UTF-7 (RFC 3501 5.1.3), quoted."""
    return _quoted(_utf7_imap(name))


def _utf7_imap(name: str) -> str:
    """Modified UTF-7: printable ASCII as is ("&" as "&-"), anything else as &<modified base64>-."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            encoded = base64.b64encode("".join(pending).encode("utf-16-be")).decode().rstrip("=")
            out.append("&" + encoded.replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def _server_text(data: list[Any] | None, *, keep_codes: bool = False) -> str:
    """What the server said, as text, at most 200 characters (response codes dropped unless asked)."""
    parts = [item.decode(errors="replace") if isinstance(item, bytes) else str(item)
             for item in (data or []) if item is not None]
    text = " ".join(parts).strip()
    if not keep_codes:
        text = _RESPONSE_CODE.sub("", text)
    return _TIMINGS.sub("", text)[:200] or "no reason given"


def _error_text(exc: BaseException) -> str:
    """imaplib's exception text, without its Python reprs of bytes."""
    text = re.sub(r"\[?b'([^']*)'\]?", r"\1", str(exc))
    return _TIMINGS.sub("", _RESPONSE_CODE.sub("", text))[:200]
