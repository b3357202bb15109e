"""Notifications as a mail server receives them: a real SMTP server (aiosmtpd on 127.0.0.1, with
STARTTLS and AUTH, or implicit TLS, its certificate signed by a CA this test makes) and a real worker
— `atumdesk worker --once` as a process where the process matters (end to end, crashes), the same
worker loop in this process elsewhere.

What must hold: every event's notification arrives once, well formed (Message-ID, In-Reply-To,
References, the ticket token in the subject, RFC 3834 markers, a text and an HTML part, customer
text escaped and unable to add headers); certificates are verified (a wrong CA fails clearly);
4xx is retried with the same Message-ID, 5xx fails at once; a worker killed between claim and
completion sends each notification exactly once after a restart (and the one window that can
duplicate keeps the Message-ID); a customer's answer to a notification threads back into the
ticket; an admin's template is used, a broken one refused; a reset link works and its token is
gone once sent.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import ipaddress
import os
import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

import jobs.mail_out  # noqa: F401  (registers the handlers the in-process worker runs)
from atumdesk import PROJECT_ROOT
from atumdesk.settings import Settings
from jobs.worker import Worker
from tests.api.client import Api, run_api
from tests.support import Database, Org, build_org

# aiosmtpd cannot tell that an implicit-TLS session is encrypted, and warns about AUTH without TLS.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

MAIL_DOMAIN = "helpdesk.test"
MAIL_FROM = "helpdesk@helpdesk.test"
PUBLIC_URL = "https://help.acme.test"
SMTP_USER, SMTP_PASSWORD = "atum", "s3cret smtp pass"
HOSTILE = "<script>alert(1)</script> Printer\r\nBcc: victim@evil.test"


# ---------------------------------------------------------------------------------------------
# A certificate authority, and an SMTP server that records what it receives
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Certs:
    ca: Path        # the CA that signed the server's certificate
    other_ca: Path  # a CA that did not
    cert: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(_name(common_name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A test CA, a server certificate it signed for 127.0.0.1 and localhost, and an unrelated CA."""
    folder = tmp_path_factory.mktemp("smtp-certs")
    ca_key, ca_cert = _ca("ATUM test CA")
    _, other_cert = _ca("Some other CA")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = Certs(folder / "ca.pem", folder / "other-ca.pem", folder / "server.pem", folder / "server.key")
    paths.ca.write_bytes(_pem(ca_cert))
    paths.other_ca.write_bytes(_pem(other_cert))
    paths.cert.write_bytes(_pem(cert))
    paths.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return paths


@dataclasses.dataclass
class Received:
    """One message as the server got it."""

    sender: str
    recipients: list[str]
    raw: bytes
    tls: bool
    login: str | None

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class Recorder:
    """The aiosmtpd handler: answers RCPT as scripted (e.g. a 451, then normally), keeps DATA."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.rcpt_replies: list[str] = []
        self.before_accepting: Callable[[], None] | None = None  # runs before DATA is answered 250

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if self.rcpt_replies:
            reply = self.rcpt_replies.pop(0)
            if not reply.startswith("2"):
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        login = getattr(session.auth_data, "login", None) if session.authenticated else None
        if self.before_accepting is not None:
            self.before_accepting()
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content,
                                      session.ssl is not None, login.decode() if login else None))
        return "250 Message accepted for delivery"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        SMTP_USER.encode(), SMTP_PASSWORD.encode())
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclasses.dataclass
class Sink:
    """A running SMTP server: ``security`` none, starttls (with AUTH required) or tls (implicit,
    with AUTH required)."""

    security: str
    port: int
    recorder: Recorder
    controller: Controller

    @property
    def messages(self) -> list[Received]:
        return self.recorder.messages


@pytest.fixture
def smtp_server(certs: Certs) -> Iterator[Callable[[str], Sink]]:
    started: list[Controller] = []

    def start(security: str = "none") -> Sink:
        recorder = Recorder()
        port = free_port()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certs.cert, certs.key)
        kwargs: dict[str, Any] = {}
        if security == "starttls":
            kwargs = {"tls_context": context, "require_starttls": True, "authenticator": _authenticate,
                      "auth_required": True, "auth_require_tls": True}
        elif security == "tls":
            # Implicit TLS: the whole session is encrypted (aiosmtpd cannot tell, hence not "require").
            kwargs = {"ssl_context": context, "authenticator": _authenticate, "auth_required": True,
                      "auth_require_tls": False}
        controller = Controller(recorder, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        started.append(controller)
        return Sink(security, port, recorder, controller)

    yield start
    for controller in started:
        controller.stop()


# ---------------------------------------------------------------------------------------------
# The world, the worker
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def org(owner: psycopg.Connection) -> Org:
    """An organization with everything in it, and an empty queue: what build_org queued (a
    notification without context, an SLA job) is not what these tests look at."""
    org = build_org(owner, "acme")
    owner.execute("DELETE FROM atum.jobs")
    owner.execute("DELETE FROM atum.mail_outbox")
    return org


def smtp_env(sink: Sink | None, certs: Certs, **extra: str) -> dict[str, str]:
    """The ATUM_* settings of a worker that sends through ``sink`` (None: SMTP not configured)."""
    env = {"ATUM_MAIL_DOMAIN": MAIL_DOMAIN, "ATUM_MAIL_FROM": MAIL_FROM, "ATUM_PUBLIC_URL": PUBLIC_URL,
           "ATUM_MAIL_CA_FILE": str(certs.ca)}
    if sink is not None:
        env |= {"ATUM_SMTP_HOST": "127.0.0.1", "ATUM_SMTP_PORT": str(sink.port), "ATUM_SMTP_SECURITY": sink.security}
        if sink.security != "none":
            env |= {"ATUM_SMTP_USERNAME": SMTP_USER, "ATUM_SMTP_PASSWORD": SMTP_PASSWORD}
    return env | extra


def worker_settings(db: Database, env: dict[str, str]) -> Settings:
    from atumdesk.settings import load

    return load({"ATUM_DATA_DIR": str(db.settings.data_dir),
                 "ATUM_DATABASE_URL": make_conninfo(db.settings.database_url, dbname=db.dbname), **env})


def run_worker(db: Database, env: dict[str, str]) -> None:
    """The worker loop in this process, until nothing is due."""
    assert Worker(worker_settings(db, env), once=True, poll_seconds=1).run() == 0


def run_worker_process(db: Database, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`atumdesk worker --once` as a process, until nothing is due (or it dies at a crash point)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ATUM_")}
    base |= {"ATUM_DATA_DIR": str(db.settings.data_dir),
             "ATUM_DATABASE_URL": make_conninfo(db.settings.database_url, dbname=db.dbname), **env}
    return subprocess.run([sys.executable, "-m", "atumdesk.cli", "worker", "--once"], cwd=PROJECT_ROOT, env=base,
                          capture_output=True, text=True, timeout=180, check=False)


def wait_until_workers_gone(owner: psycopg.Connection) -> None:
    """A killed worker's sessions linger a moment in pg_stat_activity; crash recovery waits for
    them to go (a live session keeps its job), and so does the test."""
    deadline = time.monotonic() + 30
    while owner.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND application_name = 'atumdesk-worker'").fetchone()[0]:
        assert time.monotonic() < deadline, "the killed worker's sessions did not end"
        time.sleep(0.05)


def act(db: Database, token: str, statement: str, params: list[Any]) -> Any:
    with db.acting_as(token) as conn:
        row = conn.execute(statement, params).fetchone()
        conn.commit()
    return next(iter(row.values())) if row else None


def outbox(owner: psycopg.Connection) -> list[dict[str, Any]]:
    with owner.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT id, kind::text, state::text, recipient_id, ticket_id, comment_id, message_id,"
                           " in_reply_to, thread_references, attempts, last_error, secret"
                           " FROM atum.mail_outbox ORDER BY id").fetchall()


def jobs_of(owner: psycopg.Connection, kind: str = "mail.send") -> list[dict[str, Any]]:
    with owner.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT id, state::text, attempts, last_error, payload FROM atum.jobs WHERE kind = %s"
                           " ORDER BY id", [kind]).fetchall()


def make_due(owner: psycopg.Connection) -> None:
    owner.execute("UPDATE atum.jobs SET run_after = now() WHERE state = 'failed'")


def customer_ticket(db: Database, org: Org, subject: str = "Printer on fire") -> int:
    return int(act(db, org.tokens["customer"], "SELECT api.ticket_create(%s) AS t",
                   [Jsonb({"subject": subject, "description": "Smoke comes out of it. <b>Help</b>"})])["id"])


def staff_reply(db: Database, org: Org, ticket: int, body: str) -> int:
    return int(act(db, org.tokens["agent"], "SELECT api.comment_create(%s, %s) AS c",
                   [ticket, Jsonb({"body": body})])["id"])


def parts(message: EmailMessage) -> dict[str, str]:
    """The text of each part of a multipart/alternative message, by content type."""
    assert message.get_content_type() == "multipart/alternative"
    found: dict[str, str] = {}
    for part in message.iter_parts():
        assert isinstance(part, EmailMessage)
        found[part.get_content_type()] = part.get_content().replace("\r\n", "\n")  # as sent: CRLF lines
    return found


MESSAGE_ID = re.compile(r"<atum\.(\d+)\.(\d+)\.[0-9a-f]{16}@" + re.escape(MAIL_DOMAIN) + ">")


# ---------------------------------------------------------------------------------------------
# End to end
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_tickets_notifications_arrive_well_formed_threaded_and_escaped(
        db: Database, owner: psycopg.Connection, org: Org, certs: Certs, smtp_server: Callable[[str], Sink]) -> None:
    """A customer opens a ticket with a hostile subject, a manager accepts it for an agent, the
    agent answers; `atumdesk worker --once` sends it all over STARTTLS with AUTH."""
    sink = smtp_server("starttls")
    ticket = customer_ticket(db, org, HOSTILE)
    act(db, org.tokens["manager"], "SELECT api.ticket_accept(%s, NULL, %s) AS t", [ticket, org.users["agent"]])
    staff_reply(db, org, ticket, "Please unplug it.\n<b>Not</b> a tag & not markup.")

    done = run_worker_process(db, smtp_env(sink, certs))
    assert done.returncode == 0, done.stderr
    rows = outbox(owner)
    assert [(r["kind"], r["state"]) for r in rows] == [("ticket_received", "sent"), ("assigned", "sent"),
                                                      ("staff_reply", "sent")]
    assert len(sink.messages) == 3
    by_id = {m.message["Message-ID"]: m for m in sink.messages}
    received, assigned, reply = (by_id[r["message_id"]] for r in rows)

    [(reference,)] = owner.execute("SELECT atum.ticket_reference(organization_id, number) FROM atum.tickets"
                                   " WHERE id = %s", [ticket]).fetchall()
    for got, row, to in ((received, rows[0], "customer@acme.example"), (assigned, rows[1], "agent@acme.example"),
                         (reply, rows[2], "customer@acme.example")):
        message = got.message
        assert got.tls and got.login == SMTP_USER  # STARTTLS, then AUTH
        assert got.sender == MAIL_FROM and got.recipients == [to]  # no Bcc smuggled into the envelope
        assert MESSAGE_ID.fullmatch(message["Message-ID"]).groups() == (str(org.id), str(row["id"]))
        assert message["To"].addresses[0].addr_spec == to
        assert message["From"].addresses[0].addr_spec == MAIL_FROM
        assert message["From"].addresses[0].display_name == "Org acme"
        assert message["Reply-To"] == "support@acme.example"  # answers go to the mailbox that is fetched
        assert message["Auto-Submitted"] == "auto-generated"
        assert message["X-Loop"] == f"atumdesk@{MAIL_DOMAIN}"
        assert message["X-ATUM-Ticket"] == reference
        assert message["Subject"].startswith(f"[{reference}] ")
        assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
        headers = got.raw.split(b"\r\n\r\n")[0]
        assert message.get_all("Bcc") is None and b"\r\nBcc:" not in headers
        assert message["Date"] is not None
        text, html = parts(message)["text/plain"], parts(message)["text/html"]
        assert f"{PUBLIC_URL}/tickets/{ticket}" in text and f'href="{PUBLIC_URL}/tickets/{ticket}"' in html
        assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<script>alert(1)</script>" in text  # plain text is plain: shown, never run
        assert "Org acme" in text
    assert received.message["Subject"] == f"[{reference}] <script>alert(1)</script> Printer Bcc: victim@evil.test"
    assert reply.message["Subject"] == f"[{reference}] Re: <script>alert(1)</script> Printer Bcc: victim@evil.test"
    assert assigned.message["Subject"].startswith(f"[{reference}] Assigned to you: ")
    reply_text, reply_html = parts(reply.message)["text/plain"], parts(reply.message)["text/html"]
    assert "Please unplug it.\n<b>Not</b> a tag & not markup." in reply_text
    assert "&lt;b&gt;Not&lt;/b&gt; a tag &amp; not markup." in reply_html

    # Threading: the reply answers the acknowledgement the customer got; the agent's notice is
    # another conversation (theirs) and stays out of it.
    assert received.message["In-Reply-To"] is None
    assert reply.message["In-Reply-To"] == received.message["Message-ID"]
    assert reply.message["References"] == received.message["Message-ID"]
    assert assigned.message["In-Reply-To"] is None
    logged = owner.execute("SELECT message_id, direction::text, disposition, ticket_id, comment_id"
                           " FROM atum.mail_messages WHERE direction = 'outbound' ORDER BY id").fetchall()
    assert logged == [(r["message_id"], "outbound", "sent", ticket, r["comment_id"]) for r in rows]
    assert rows[2]["comment_id"] is not None


def test_a_customers_answer_to_a_notification_threads_back_into_the_ticket(
        db: Database, owner: psycopg.Connection, org: Org, certs: Certs, smtp_server: Callable[[str], Sink]) -> None:
    mail_ingest = pytest.importorskip("jobs.mail_ingest", reason="inbound ingestion (jobs/mail_ingest.py) is not there")
    sink = smtp_server("none")
    ticket = customer_ticket(db, org)
    staff_reply(db, org, ticket, "Did you try turning it off and on again?")
    env = smtp_env(sink, certs)
    run_worker(db, env)
    notification = next(m.message for m in sink.messages if "Re:" in m.message["Subject"])

    # The customer's client answers: In-Reply-To and References, and a subject without the token.
    answer = EmailMessage()
    answer["From"] = "Customer <customer@acme.example>"
    answer["To"] = notification["Reply-To"]
    answer["Subject"] = "Re: your message"
    answer["Message-ID"] = "<answer-1@customer.example>"
    answer["In-Reply-To"] = notification["Message-ID"]
    answer["References"] = f"{notification['References'] or ''} {notification['Message-ID']}".strip()
    answer["Date"] = email.utils.format_datetime(datetime.now(UTC))
    answer.set_content("Yes, twice. It still smokes.\n\n> Did you try turning it off and on again?\n")
    result = mail_ingest.ingest(owner, worker_settings(db, env), org.id, answer.as_bytes())
    assert (result.disposition, result.ticket_id) == ("comment_added", ticket)
    [(author, body, internal)] = owner.execute(
        "SELECT author_id, body, is_internal FROM atum.ticket_comments WHERE id = %s", [result.comment_id]).fetchall()
    assert author == org.users["customer"] and not internal and body.startswith("Yes, twice.")
    # And it is the customer's own reply, not one of ours coming back: nobody is notified of it.
    run_worker(db, env)
    assert len(sink.messages) == 2


def test_a_ticket_opened_by_mail_is_acknowledged_in_its_thread_and_an_auto_reply_is_not(
        db: Database, owner: psycopg.Connection, org: Org, certs: Certs, smtp_server: Callable[[str], Sink]) -> None:
    mail_ingest = pytest.importorskip("jobs.mail_ingest", reason="inbound ingestion (jobs/mail_ingest.py) is not there")
    sink = smtp_server("none")
    env = smtp_env(sink, certs)

    def write(message_id: str, subject: str, **headers: str) -> Any:
        mail = EmailMessage()
        mail["From"] = "Dana Doe <dana@customer.example>"
        mail["To"] = "support@acme.example"
        mail["Subject"] = subject
        mail["Message-ID"] = message_id
        mail["Date"] = email.utils.format_datetime(datetime.now(UTC))
        for name, value in headers.items():
            mail[name.replace("_", "-")] = value
        mail.set_content("The VPN drops every hour.\n")
        return mail_ingest.ingest(owner, worker_settings(db, env), org.id, mail.as_bytes())

    opened = write("<vpn-1@customer.example>", "VPN drops")
    assert opened.disposition == "ticket_created"
    write("<ooo-1@customer.example>", "Out of office", Auto_Submitted="auto-replied")
    run_worker(db, env)
    [ack] = sink.messages
    assert ack.recipients == ["dana@customer.example"]
    assert ack.message["Subject"] == f"[{opened.reference}] Re: VPN drops"
    assert ack.message["In-Reply-To"] == "<vpn-1@customer.example>"  # the customer's client threads it
    assert ack.message["References"] == "<vpn-1@customer.example>"
    assert "Dana Doe" in parts(ack.message)["text/plain"]


# ---------------------------------------------------------------------------------------------
# Transport: TLS, verification, configuration, temporary and permanent refusals
# ---------------------------------------------------------------------------------------------
def test_implicit_tls_with_auth_verified_against_the_organizations_ca(
        db: Database, owner: psycopg.Connection, org: Org, certs: Certs, smtp_server: Callable[[str], Sink]) -> None:
    sink = smtp_server("tls")
    customer_ticket(db, org)
    run_worker(db, smtp_env(sink, certs))
    [got] = sink.messages
    assert got.login == SMTP_USER and got.recipients == ["customer@acme.example"]
    assert [r["state"] for r in outbox(owner)] == ["sent"]


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_a_certificate_the_configured_ca_did_not_sign_is_refused_clearly(
        db: Database, owner: psycopg.Connection, org: Org, certs: Certs, smtp_server: Callable[[str], Sink],
        security: str) -> None:
    sink = smtp_server(security)
    customer_ticket(db, org)
    run_worker(db, smtp_env(sink, certs, ATUM_MAIL_CA_FILE=str(certs.other_ca)))
    assert sink.messages == []
    [job] = jobs_of(owner)
    assert job["state"] == "failed"  # retried later: an operator can fix the CA meanwhile
    assert "certificate is not trusted" in job["last_error"] and "ATUM_MAIL_CA_FILE" in job["last_error"]
    [row] = outbox(owner)
    assert row["state"] == "sending" and "certificate is not trusted" in row["last_error"]


def test_without_smtp_configured_the_job_fails_visibly_and_nothing_is_dropped(
        db: Database, owner: psycopg.Connection, org: Org, certs: Certs, smtp_server: Callable[[str], Sink]) -> None:
    customer_ticket(db, org)
    run_worker(db, smtp_env(None, certs))
    [job] = jobs_of(owner)
    assert job["state"] == "failed" and job["last_error"] == "NotConfigured: SMTP is not configured: set ATUM_SMTP_HOST"
    [row] = outbox(owner)
    assert row["state"] == "queued" and row["last_error"] == "SMTP is not configured: set ATUM_SMTP_HOST"

    async def admin_view(api: Api) -> None:
        listed = await api.call("GET", "/api/v1/admin/mail-outbox?state=queued", token=org.tokens["admin"])
        assert listed.status == 200
        assert [i["last_error"] for i in listed.body["items"]] == ["SMTP is not configured: set ATUM_SMTP_HOST"]

    run_api(db, admin_view)
    # Configured later: the retry sends it.
    sink = smtp_server("none")
    make_due(owner)
    run_worker(db, smtp_env(sink, certs))
    assert len(sink.messages) == 1 and [r["state"] for r in outbox(owner)] == ["sent"]


def test_a_temporary_refusal_is_retried_with_the_same_message_id(
        db: Database, owner: psycopg.Connection, org: Org, certs: Certs, smtp_server: Callable[[str], Sink]) -> None:
    sink = smtp_server("starttls")
    sink.recorder.rcpt_replies = ["451 4.3.0 mailbox busy, try again later"]
    customer_ticket(db, org)
    env = smtp_env(sink, certs)
    run_worker(db, env)
    [first] = outbox(owner)
    assert (first["state"], first["attempts"]) == ("sending", 1) and "451" in first["last_error"]
    [job] = jobs_of(owner)
    assert job["state"] == "failed" and "451" in job["last_error"]
    make_due(owner)
    run_worker(db, env)
    [got] = sink.messages
    [row] = outbox(owner)
    assert (row["state"], row["attempts"]) == ("sent", 2)
    assert got.message["Message-ID"] == first["message_id"] == row["message_id"]
    assert jobs_of(owner)[0]["state"] == "succeeded"


def test_a_permanent_refusal_fails_the_notification_without_retrying(
        db: Database, owner: psycopg.Connection, org: Org, certs: Certs, smtp_server: Callable[[str], Sink]) -> None:
    sink = smtp_server("none")
    sink.recorder.rcpt_replies = ["550 5.1.1 no such user"]
    customer_ticket(db, org)
    run_worker(db, smtp_env(sink, certs))
    assert sink.messages == []
    [row] = outbox(owner)
    assert row["state"] == "failed" and "550 5.1.1 no such user" in row["last_error"]
    [job] = jobs_of(owner)
    assert (job["state"], job["attempts"]) == ("succeeded", 1)  # done with: nothing to retry
    assert owner.execute("SELECT disposition FROM atum.mail_messages WHERE message_id = %s",
                         [row["message_id"]]).fetchone() == ("failed",)


def test_a_recipient_deactivated_before_sending_gets_nothing(
        db: Database, owner: psycopg.Connection, org: Org, certs: Certs, smtp_server: Callable[[str], Sink]) -> None:
    sink = smtp_server("none")
    customer_ticket(db, org)
    owner.execute("UPDATE atum.users SET is_active = false WHERE id = %s", [org.users["customer"]])
    run_worker(db, smtp_env(sink, certs))
    assert sink.messages == []
    [row] = outbox(owner)
    assert (row["state"], row["last_error"]) == ("failed", "not sent: the recipient is inactive")
    assert row["message_id"] is None  # never handed to SMTP


# ---------------------------------------------------------------------------------------------
# Crashes
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("crash_at", ["worker.after_claim", "mail.before_send", "mail.after_commit",
                                      "worker.before_finish"])
def test_a_worker_killed_between_claim_and_completion_sends_each_notification_exactly_once(
        db: Database, owner: psycopg.Connection, org: Org, certs: Certs, smtp_server: Callable[[str], Sink],
        crash_at: str) -> None:
    sink = smtp_server("none")
    for n in range(3):
        customer_ticket(db, org, f"Problem {n}")
    env = smtp_env(sink, certs)
    crashed = run_worker_process(db, env | {"ATUM_CRASH_AT": crash_at})
    assert crashed.returncode == -9, crashed.stderr  # SIGKILL at the crash point, nothing cleaned up
    wait_until_workers_gone(owner)
    done = run_worker_process(db, env)
    assert done.returncode == 0, done.stderr
    rows = outbox(owner)
    assert [r["state"] for r in rows] == ["sent"] * 3
    ids = sorted(m.message["Message-ID"] for m in sink.messages)
    assert ids == sorted(r["message_id"] for r in rows)  # each exactly once
    assert {j["state"] for j in jobs_of(owner)} == {"succeeded"}


@pytest.mark.slow
def test_the_one_window_that_can_duplicate_keeps_the_message_id(
        db: Database, owner: psycopg.Connection, org: Org, certs: Certs, smtp_server: Callable[[str], Sink]) -> None:
    """Killed after the server accepted the message and before `sent` was committed: the job runs
    again and the message goes out twice — with the same Message-ID, which clients collapse."""
    sink = smtp_server("none")
    customer_ticket(db, org)
    env = smtp_env(sink, certs)
    assert run_worker_process(db, env | {"ATUM_CRASH_AT": "mail.after_send"}).returncode == -9
    wait_until_workers_gone(owner)
    assert run_worker_process(db, env).returncode == 0
    [row] = outbox(owner)
    assert row["state"] == "sent" and row["attempts"] == 2
    assert [m.message["Message-ID"] for m in sink.messages] == [row["message_id"]] * 2


@pytest.mark.slow
def test_a_worker_cut_off_from_the_database_after_the_server_accepted_sends_once(
        db: Database, owner: psycopg.Connection, org: Org, certs: Certs, smtp_server: Callable[[str], Sink]) -> None:
    """PostgreSQL drops the worker's sessions while the SMTP server is accepting the message: the
    worker records it as sent on a new connection, so nothing runs the job into a second copy."""
    sink = smtp_server("none")
    customer_ticket(db, org)

    def cut_off() -> None:
        with db.connect("atum_owner", autocommit=True) as conn:
            cut = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                               " WHERE datname = current_database() AND application_name = 'atumdesk-worker'")
            assert cut.fetchone()[0] >= 1

    sink.recorder.before_accepting = cut_off
    env = smtp_env(sink, certs)
    run_worker_process(db, env)  # its own connections were cut: it may give up (--once) or finish
    sink.recorder.before_accepting = None
    wait_until_workers_gone(owner)
    assert run_worker_process(db, env).returncode == 0
    [row] = outbox(owner)
    assert row["state"] == "sent" and row["attempts"] == 1
    assert [m.message["Message-ID"] for m in sink.messages] == [row["message_id"]]
    assert {j["state"] for j in jobs_of(owner)} == {"succeeded"}


# ---------------------------------------------------------------------------------------------
# Templates, tokens, SLA
# ---------------------------------------------------------------------------------------------
def test_an_admins_template_is_used_and_a_broken_one_is_refused(
        db: Database, owner: psycopg.Connection, org: Org, certs: Certs, smtp_server: Callable[[str], Sink]) -> None:
    sink = smtp_server("none")
    path = "/api/v1/admin/mail-templates/staff_reply"

    async def configure(api: Api) -> None:
        admin = org.tokens["admin"]
        shown = await api.call("GET", path, token=admin)
        assert shown.status == 200 and shown.body["is_overridden"] is False
        assert "{{ comment.body }}" in shown.body["defaults"]["body_text"]
        broken = await api.call("PUT", path, token=admin, json_body={
            "subject": "[{{ ticket.reference }}] fine", "body_html": "<p>{{ comment.body }</p>"})
        assert broken.status == 422 and broken.body["field"] == "body_html", broken.body
        assert "line 1" in broken.body["detail"]
        unsafe = await api.call("PUT", path, token=admin, json_body={"body_text": "{{ 'x' * 100000000 }}"})
        assert unsafe.status == 422 and unsafe.body["field"] == "body_text"
        assert (await api.call("PUT", path, token=org.tokens["manager"], json_body={"subject": "x"})).status == 403
        assert (await api.call("PUT", "/api/v1/admin/mail-templates/nonsense", token=admin,
                               json_body={"subject": "x"})).status == 404
        saved = await api.call("PUT", path, token=admin, json_body={
            "subject": "[{{ ticket.reference }}] News from {{ organization.name }}: {{ ticket.subject }}",
            "body_text": "Dear {{ recipient.name }},\n{{ comment.author_name }} wrote:\n{{ comment.body }}\n",
            "body_html": '{% extends "layout.html" %}{% block body %}<blockquote>{{ comment.body }}</blockquote>'
                         "{% endblock %}"})
        assert saved.status == 200 and saved.body["is_overridden"] is True, saved.body

    run_api(db, configure)
    ticket = customer_ticket(db, org)
    staff_reply(db, org, ticket, "A <new> toner is on its way.")
    run_worker(db, smtp_env(sink, certs))
    [reply] = [m.message for m in sink.messages if "News" in m.message["Subject"]]
    assert re.fullmatch(r"\[ATUM-\d+\] News from Org acme: Printer on fire", reply["Subject"])
    text, html = parts(reply)["text/plain"], parts(reply)["text/html"]
    assert text == "Dear Customer,\nAgent wrote:\nA <new> toner is on its way.\n"
    assert "<blockquote>A &lt;new&gt; toner is on its way.</blockquote>" in html and "Org acme" in html


def test_a_template_that_fails_when_rendering_falls_back_to_the_default_and_admins_see_why(
        db: Database, owner: psycopg.Connection, org: Org, certs: Certs, smtp_server: Callable[[str], Sink]) -> None:
    sink = smtp_server("none")
    # Saved before this check existed, say, or failing only on real data: the API refuses neither here.
    owner.execute("INSERT INTO atum.mail_templates (organization_id, kind, body_text)"
                  " VALUES (%s, 'ticket_received', %s)", [org.id, "{{ ticket.number / 0 }}"])
    customer_ticket(db, org)
    run_worker(db, smtp_env(sink, certs))
    [got] = sink.messages
    assert "we have received your request" in parts(got.message)["text/plain"]  # the default
    [(error,)] = owner.execute("SELECT render_error FROM atum.mail_templates WHERE organization_id = %s"
                               " AND kind = 'ticket_received'", [org.id]).fetchall()
    assert "body_text" in error and "ZeroDivisionError" in error

    async def admin_view(api: Api) -> None:
        shown = await api.call("GET", "/api/v1/admin/mail-templates/ticket_received", token=org.tokens["admin"])
        assert "ZeroDivisionError" in shown.body["render_error"]

    run_api(db, admin_view)


def test_a_password_reset_mail_carries_a_working_link_and_the_token_is_gone_once_sent(
        db: Database, owner: psycopg.Connection, org: Org, certs: Certs, smtp_server: Callable[[str], Sink]) -> None:
    sink = smtp_server("none")

    async def request(api: Api) -> None:
        asked = await api.call("POST", "/api/v1/auth/password-reset", browser=True,
                               json_body={"email": "agent@acme.example"})
        assert asked.status == 202
        invited = await api.call("POST", "/api/v1/admin/users/invite", token=org.tokens["admin"],
                                 json_body={"email": "new@acme.example", "role": "agent", "display_name": "Newcomer"})
        assert invited.status == 201

    run_api(db, request)
    run_worker(db, smtp_env(sink, certs))
    mails = {m.recipients[0]: m.message for m in sink.messages}
    assert set(mails) == {"agent@acme.example", "new@acme.example"}
    reset, invitation = mails["agent@acme.example"], mails["new@acme.example"]
    assert reset["Subject"] == "Reset your password for Org acme" and reset["X-ATUM-Ticket"] is None
    assert invitation["Subject"] == "You are invited to the help desk of Org acme"
    assert "Admin has invited you" in parts(invitation)["text/plain"]
    links = {}
    for name, message in (("reset", reset), ("invitation", invitation)):
        text, html = parts(message)["text/plain"], parts(message)["text/html"]
        [link] = re.findall(re.escape(PUBLIC_URL) + r"/[a-z-]+#token=[A-Za-z0-9_-]+", text)
        assert f'href="{link}"' in html
        links[name] = link
    tokens = {name: link.partition("#token=")[2] for name, link in links.items()}
    assert links["reset"].startswith(f"{PUBLIC_URL}/password-reset#") and tokens["reset"].startswith("atum_r_")
    assert links["invitation"].startswith(f"{PUBLIC_URL}/invitation#") and tokens["invitation"].startswith("atum_i_")

    # Nowhere readable any more: not in the jobs, not in the outbox, not in the audit trail.
    everything = " ".join(str(r) for r in owner.execute(
        "SELECT payload::text FROM atum.jobs UNION ALL SELECT coalesce(secret, '') FROM atum.mail_outbox"
        " UNION ALL SELECT coalesce(old_values::text, '') || coalesce(new_values::text, '') FROM atum.audit_log"))
    assert not any(token in everything for token in tokens.values())
    assert [r["secret"] for r in outbox(owner)] == [None, None]

    async def use(api: Api) -> None:
        done = await api.call("POST", "/api/v1/auth/password-reset/confirm", browser=True,
                              json_body={"token": tokens["reset"], "password": "a brand new secret"})
        assert done.status == 200, done.body
        assert (await api.login("agent@acme.example", "a brand new secret")).status == 200
        joined = await api.call("POST", "/api/v1/auth/invitation/accept", browser=True,
                                json_body={"token": tokens["invitation"], "password": "my first password"})
        assert joined.status == 200, joined.body

    run_api(db, use)


def test_sla_warnings_and_breaches_reach_the_managers(
        db: Database, owner: psycopg.Connection, org: Org, certs: Certs, smtp_server: Callable[[str], Sink]) -> None:
    sink = smtp_server("none")
    events = [r[0] for r in owner.execute("SELECT id FROM atum.sla_events WHERE organization_id = %s", [org.id])]
    owner.execute("SELECT atum_private.job_enqueue('sla.notify', %s, %s)",
                  [Jsonb({"recipients": "managers", "sla_event_ids": events}), org.id])
    run_worker(db, smtp_env(sink, certs))
    got = sorted((m.recipients[0], m.message["Subject"].split("]")[1].split(":")[0].strip()) for m in sink.messages)
    assert got == [("admin@acme.example", "SLA breach"), ("admin@acme.example", "SLA warning"),
                   ("manager@acme.example", "SLA breach"), ("manager@acme.example", "SLA warning")]
    breach = next(m.message for m in sink.messages if "breach" in m.message["Subject"])
    assert "triage due" in parts(breach)["text/plain"] and breach["X-ATUM-Ticket"].startswith("ATUM-")
    assert {j["state"] for j in jobs_of(owner, "sla.notify")} == {"succeeded"}
