"""Mail comes in over IMAP: a real Dovecot with TLS and a test user (tests/mail_poll/dovecot.py), the
real worker (`atumdesk worker --once` as a process) and a real database. Messages delivered into the
mailbox become tickets, are flagged as seen (or moved) only once their ticket is committed, are
never ingested twice — also when the worker is killed in between — and what goes wrong is told to
the admins in plain words."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from atumdesk import secrets
from atumdesk.settings import Settings
from jobs import mail_poll
from jobs.registry import Job, JobContext, PermanentError
from tests.api.client import Api, run_api, settings_for
from tests.api.client import world as two_organizations
from tests.mail_poll import dovecot
from tests.support import Database

pytestmark = pytest.mark.slow  # whole processes: a mail server and workers
_ADDRESSES = itertools.count(1)


@pytest.fixture
def server() -> Iterator[dovecot.Dovecot]:
    """A fresh Dovecot for the test, stopped and removed afterwards."""
    with dovecot.running() as running:
        yield running


@dataclass
class World:
    """An organization with a mailbox on the test server, and how to run the worker against them."""

    db: Database
    server: dovecot.Dovecot
    org_id: int
    settings: Settings

    def owner(self) -> psycopg.Connection[dict[str, Any]]:
        """An autocommit owner connection with dict rows."""
        return self.db.connect("atum_owner", autocommit=True, row_factory=dict_row)

    def add_mailbox(self, *, security: str = "tls", password: str = dovecot.PASSWORD, folder: str = "INBOX",
                    processed_folder: str | None = None, port: int | None = None, active: bool = True,
                    username: str = dovecot.USERNAME) -> int:
        """A mailbox of the organization on the test server; its id."""
        key = secrets.load_key(self.settings)
        if port is None:
            port = self.server.imaps_port if security == "tls" else self.server.imap_port
        with self.owner() as conn:
            row = conn.execute(
                "INSERT INTO atum.mailboxes (organization_id, name, address, imap_host, imap_port, imap_security,"
                " imap_username, imap_password_encrypted, imap_folder, processed_folder, is_active)"
                " VALUES (%s, 'Support', %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                [self.org_id, f"support{next(_ADDRESSES)}@mail.example", self.server.host, port, security,
                 username, secrets.encrypt(key, password, mail_poll.PASSWORD_CONTEXT), folder,
                 processed_folder, active]).fetchone()
        assert row is not None
        return int(row["id"])

    def cron(self) -> int:
        """What pg_cron runs every minute: queue the polls."""
        with self.owner() as conn:
            row = conn.execute("SELECT atum.mailbox_polls_enqueue() AS n").fetchone()
        assert row is not None
        return int(row["n"])

    def worker(self, *, trust_ca: bool = True, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
        """`atumdesk worker --once` against the test database: runs what is due, then exits."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATUM_")}
        env.update(ATUM_DATA_DIR=str(self.settings.data_dir), ATUM_DATABASE_URL=self.settings.database_url,
                   ATUM_OWNER_DATABASE_URL=self.settings.owner_database_url)
        if trust_ca:
            env["ATUM_MAIL_CA_FILE"] = str(self.server.ca_file)
        if crash_at:
            env["ATUM_CRASH_AT"] = crash_at
        return subprocess.run([sys.executable, "-m", "atumdesk.cli", "worker", "--once"], env=env,
                              capture_output=True, text=True, timeout=180, check=False)

    def poll(self, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """pg_cron's tick, then the worker."""
        self.cron()
        proc = self.worker(**kwargs)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc

    def health(self, mailbox_id: int) -> dict[str, Any]:
        with self.owner() as conn:
            row = conn.execute("SELECT * FROM atum.mailbox_health WHERE mailbox_id = %s", [mailbox_id]).fetchone()
        assert row is not None
        return row

    def ingested(self, mailbox_id: int) -> dict[str, str]:
        """Message-ID → disposition of the messages ingested from the mailbox."""
        with self.owner() as conn:
            return {r["message_id"]: r["disposition"] for r in conn.execute(
                "SELECT message_id, disposition FROM atum.mail_messages WHERE mailbox_id = %s", [mailbox_id])}

    def tickets(self) -> list[str]:
        with self.owner() as conn:
            return [r["subject"] for r in conn.execute(
                "SELECT subject FROM atum.tickets WHERE organization_id = %s ORDER BY id", [self.org_id])]

    def jobs(self) -> list[dict[str, Any]]:
        with self.owner() as conn:
            return conn.execute("SELECT id, state::text, dedupe_key, payload, attempts, last_error FROM atum.jobs"
                                " WHERE kind = 'mail.poll' ORDER BY id").fetchall()


@pytest.fixture
def imap(db: Database, server: dovecot.Dovecot) -> World:
    settings = settings_for(db, ATUM_OWNER_DATABASE_URL=db.conninfo("atum_owner"),
                            ATUM_MAIL_CA_FILE=str(server.ca_file))
    with db.connect("atum_owner", autocommit=True) as owner:
        org_id = owner.execute("SELECT id FROM atum.org_create('Mail Org', 'mail', 'Europe/Berlin')").fetchone()[0]
    return World(db, server, org_id, settings)


def message(n: int, *, subject: str | None = None) -> bytes:
    """A customer's message; each from its own sender (no per-sender rate cap is reached)."""
    return (f"From: Customer {n} <customer{n}@client.example>\r\n"
            f"To: {dovecot.USERNAME}\r\n"
            f"Subject: {subject or f'Printer {n} prints blank pages'}\r\n"
            f"Message-ID: <imap-{n}@client.example>\r\n"
            "Date: Tue, 25 Nov 2025 09:00:00 +0100\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "\r\n"
            f"Hello, printer {n} has printed only blank pages since this morning.\r\n").encode()


def mid(n: int) -> str:
    return f"<imap-{n}@client.example>"


# -- pg_cron's side --------------------------------------------------------------------------------

def test_cron_queues_one_poll_per_active_mailbox_and_never_two(imap: World) -> None:
    first, second = imap.add_mailbox(), imap.add_mailbox(security="starttls")
    imap.add_mailbox(folder="Archive", active=False)
    with imap.owner() as conn:
        schedule = conn.execute("SELECT schedule, command FROM atum.cron_jobs() WHERE name = 'mail-poll'").fetchone()
    assert schedule == {"schedule": "* * * * *", "command": "SELECT atum.mailbox_polls_enqueue()"}

    assert imap.cron() == 2
    assert imap.cron() == 0  # still queued: not a second one
    jobs = imap.jobs()
    assert [(j["dedupe_key"], j["payload"]) for j in jobs] == [
        (f"mailbox:{first}", {"mailbox_id": first}), (f"mailbox:{second}", {"mailbox_id": second})]

    # A mailbox that failed three times in a row waits 4 minutes — unless an admin changes it.
    with imap.owner() as conn:
        conn.execute("DELETE FROM atum.jobs")
        conn.execute("INSERT INTO atum.mailbox_health (organization_id, mailbox_id, last_poll_at, last_error,"
                     " last_error_at, consecutive_failures) VALUES (%s, %s, now(), 'timed out', now(), 3)",
                     [imap.org_id, first])
    assert imap.cron() == 1
    assert [j["dedupe_key"] for j in imap.jobs()] == [f"mailbox:{second}"]
    with imap.owner() as conn:
        conn.execute("UPDATE atum.mailboxes SET imap_port = imap_port WHERE id = %s", [first])
    assert imap.cron() == 1
    with imap.owner() as conn:
        backoff = conn.execute("SELECT array_agg(atum.mailbox_poll_backoff(n) ORDER BY n) AS b"
                               " FROM generate_series(1, 8) n").fetchone()
    assert [int(i.total_seconds() // 60) for i in backoff["b"]] == [1, 2, 4, 8, 16, 30, 30, 30]


# -- the whole path: IMAP to ticket -----------------------------------------------------------------

def test_new_mail_becomes_tickets_and_is_flagged_seen_only_once(imap: World, server: dovecot.Dovecot) -> None:
    box = imap.add_mailbox()
    server.deliver(*(message(n) for n in range(1, 6)))

    imap.poll()

    assert sorted(imap.ingested(box)) == sorted(mid(n) for n in range(1, 6))
    assert set(imap.ingested(box).values()) == {"ticket_created"}
    assert sorted(imap.tickets()) == sorted(f"Printer {n} prints blank pages" for n in range(1, 6))
    assert all("\\Seen" in flags for flags in server.flags().values())
    health = imap.health(box)
    assert health["last_success_at"] is not None and health["last_error"] is None
    assert health["consecutive_failures"] == 0 and health["last_poll_messages"] == 5
    assert [j["state"] for j in imap.jobs()] == ["succeeded"]

    # Nothing new: nothing happens. Then a message someone reads in a mail program before the
    # helpdesk polls is still new to the helpdesk (UIDs are tracked, not the \Seen flag).
    imap.poll()
    assert imap.health(box)["last_poll_messages"] == 0
    server.deliver(message(6))
    with server.session() as conn:
        conn.select("INBOX")
        conn.store("1:*", "+FLAGS", r"(\Seen)")
    imap.poll()
    assert len(imap.ingested(box)) == 6 and len(imap.tickets()) == 6
    assert imap.health(box)["last_poll_messages"] == 1


def test_starttls_and_a_processed_folder_that_is_made_on_first_use(imap: World, server: dovecot.Dovecot) -> None:
    box = imap.add_mailbox(security="starttls", processed_folder="Processed/Helpdesk")
    server.deliver(*(message(n) for n in range(1, 4)))
    assert not server.folder_exists("Processed/Helpdesk")

    imap.poll()

    assert len(imap.ingested(box)) == 3
    assert server.flags("INBOX") == {}
    moved = server.flags("Processed/Helpdesk")
    assert sorted(moved) == [mid(1), mid(2), mid(3)]
    assert all("\\Seen" in flags and "\\Deleted" not in flags for flags in moved.values())
    imap.poll()
    assert len(imap.ingested(box)) == 3 and imap.health(box)["last_poll_messages"] == 0


def test_when_the_server_renumbers_the_folder_the_unseen_messages_are_read_again(imap: World,
                                                                                  server: dovecot.Dovecot) -> None:
    box = imap.add_mailbox()
    server.deliver(message(1), message(2))
    imap.poll()
    # A restored server or a recreated folder: UIDVALIDITY differs from the one recorded. The
    # messages handled before are \Seen and stay behind; the new one is ingested.
    with imap.owner() as conn:
        conn.execute("UPDATE atum.mailbox_health SET uidvalidity = 1, last_uid = 999 WHERE mailbox_id = %s", [box])
    server.deliver(message(3))
    imap.poll()
    assert sorted(imap.ingested(box)) == [mid(1), mid(2), mid(3)]
    assert imap.health(box)["last_poll_messages"] == 1
    assert imap.health(box)["uidvalidity"] != 1
    server.deliver(message(4))
    imap.poll()
    assert len(imap.ingested(box)) == 4 and imap.health(box)["last_poll_messages"] == 1


# -- crashes --------------------------------------------------------------------------------------

def test_a_worker_killed_between_commit_and_flag_loses_nothing_and_duplicates_nothing(
        imap: World, server: dovecot.Dovecot) -> None:
    box = imap.add_mailbox(processed_folder="Done")
    server.deliver(*(message(n) for n in range(1, 7)))
    imap.cron()

    crashed = imap.worker(crash_at="mail.after_commit")

    assert crashed.returncode == -9, crashed.stderr[-2000:]
    assert list(imap.ingested(box)) == [mid(1)]  # committed ...
    assert len(server.flags("INBOX")) == 6  # ... but not moved

    restarted = imap.worker()

    assert restarted.returncode == 0, restarted.stderr[-3000:]
    ingested = imap.ingested(box)
    assert sorted(ingested) == sorted(mid(n) for n in range(1, 7))  # each exactly once (unique Message-ID)
    assert len(imap.tickets()) == 6
    assert server.flags("INBOX") == {}
    assert sorted(server.flags("Done")) == sorted(mid(n) for n in range(1, 7))
    job = imap.jobs()[-1]
    assert job["state"] == "succeeded" and job["attempts"] == 2


# -- what admins are told ---------------------------------------------------------------------------

def test_a_wrong_password_is_told_in_plain_words_and_ends_the_job(imap: World, server: dovecot.Dovecot) -> None:
    box = imap.add_mailbox(password="not-the-password")
    server.deliver(message(1))
    imap.poll()

    expected = f"authentication failed for {server.username} on 127.0.0.1:{server.imaps_port}"
    health = imap.health(box)
    assert health["last_error"] == expected
    assert health["last_success_at"] is None and health["consecutive_failures"] == 1
    [job] = imap.jobs()
    assert job["state"] == "dead" and expected in job["last_error"]
    assert "not-the-password" not in str(health) + str(job)
    assert imap.ingested(box) == {}
    assert imap.cron() == 0  # waits out its backoff


@pytest.mark.parametrize("case", ["untrusted certificate", "missing folder", "connection refused",
                                  "STARTTLS on the TLS port"])
def test_connection_problems_are_told_in_plain_words(imap: World, server: dovecot.Dovecot, case: str) -> None:
    where = f"127.0.0.1:{server.imaps_port}"
    if case == "untrusted certificate":
        box = imap.add_mailbox()
        imap.cron()
        imap.worker(trust_ca=False)
        expected, state = f"the TLS certificate of {where} is not trusted (", "dead"
    elif case == "missing folder":
        box = imap.add_mailbox(folder="Support Queue")
        imap.poll()
        expected = f'folder "Support Queue" does not exist for {server.username} on {where}'
        state = "dead"
    elif case == "connection refused":
        port = dovecot.free_port()
        box = imap.add_mailbox(port=port)
        imap.poll()
        expected, state = f"connection refused by 127.0.0.1:{port}", "failed"  # retried soon
    else:
        box = imap.add_mailbox(security="tls", port=server.imap_port)
        imap.poll()
        expected = f"127.0.0.1:{server.imap_port} did not answer in TLS"
        state = "dead"
    health = imap.health(box)
    assert health["last_error"].startswith(expected), health["last_error"]
    assert health["consecutive_failures"] == 1
    [job] = imap.jobs()
    assert job["state"] == state and expected in job["last_error"]


def test_admins_see_the_health_and_can_test_the_connection(db: Database, server: dovecot.Dovecot) -> None:
    alpha, _ = two_organizations(db)
    settings = settings_for(db, ATUM_OWNER_DATABASE_URL=db.conninfo("atum_owner"),
                            ATUM_MAIL_CA_FILE=str(server.ca_file))
    imap = World(db, server, alpha.id, settings)
    with imap.owner() as conn:
        conn.execute("UPDATE atum.mailboxes SET is_active = false WHERE organization_id = %s", [alpha.id])
    box = imap.add_mailbox()
    broken = imap.add_mailbox(password="wrong", folder="Other", active=False)
    server.deliver(message(1), message(2))
    imap.poll()
    admin = alpha.tokens["admin"]

    from tests.api.test_openapi import Checked

    async def look(api: Api) -> dict[str, Any]:
        checked = Checked(api.client, admin)
        listed = await checked.call("GET", "/api/v1/admin/mailboxes", expect=200)
        by_id = {m["id"]: m for m in listed["items"]}
        assert by_id[broken]["health"]["state"] == "inactive"
        got = await checked.call("GET", f"/api/v1/admin/mailboxes/{box}", expect=200)
        queued = await checked.call("POST", f"/api/v1/admin/mailboxes/{broken}/test", expect=202)
        assert queued["mailbox_id"] == broken and queued["job_id"] is not None
        again = await checked.call("POST", f"/api/v1/admin/mailboxes/{broken}/test", expect=202)
        assert again["job_id"] is None  # one check at a time
        await checked.call("POST", "/api/v1/admin/mailboxes/999999/test", expect=404)
        await Checked(api.client, alpha.tokens["manager"]).call("POST", f"/api/v1/admin/mailboxes/{box}/test",
                                                                expect=403)
        return got

    got = run_api(db, look)
    health = got["health"]
    assert health["state"] == "ok" and health["ingested_today"] == 2 and health["consecutive_failures"] == 0
    assert health["last_success_at"] is not None and health["last_error"] is None

    proc = imap.worker()  # runs the connection check of the inactive mailbox
    assert proc.returncode == 0, proc.stderr[-3000:]

    async def after(api: Api) -> dict[str, Any]:
        reply = await api.call("GET", f"/api/v1/admin/mailboxes/{broken}", token=admin)
        assert reply.status == 200
        return reply.body["health"]

    checked = run_api(db, after)
    assert checked["last_error"] == f"authentication failed for {server.username} on 127.0.0.1:{server.imaps_port}"
    assert checked["last_poll_at"] is not None and checked["state"] == "inactive"
    assert imap.ingested(broken) == {}

    # Deleting a mailbox takes its health along.
    with imap.owner() as conn:
        conn.execute("DELETE FROM atum.mailboxes WHERE id = %s", [box])
        assert conn.execute("SELECT count(*) AS n FROM atum.mailbox_health WHERE mailbox_id = %s",
                            [box]).fetchone() == {"n": 0}


# -- in-process: the bounds of one poll, a server without MOVE, two polls at once --------------------

def context(imap: World) -> JobContext:
    return JobContext(settings=imap.settings, worker_id="test", log=logging.getLogger("test.mail_poll"))


def job_for(imap: World, box: int, **payload: Any) -> Job:
    return Job(id=0, kind="mail.poll", organization_id=imap.org_id, payload={"mailbox_id": box, **payload},
               attempts=1, max_attempts=3)


def test_one_poll_does_a_bounded_amount_of_work_and_queues_the_rest(imap: World, server: dovecot.Dovecot,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    box = imap.add_mailbox()
    server.deliver(*(message(n) for n in range(1, 8)))
    monkeypatch.setattr(mail_poll, "MAX_MESSAGES", 3)
    monkeypatch.setattr(mail_poll, "BATCH_MESSAGES", 2)

    mail_poll.poll(context(imap), job_for(imap, box))

    assert sorted(imap.ingested(box)) == [mid(1), mid(2), mid(3)]
    assert [(j["dedupe_key"], j["state"]) for j in imap.jobs()] == [(f"mailbox:{box}:more", "queued")]
    flags = server.flags()
    assert [n for n in range(1, 8) if "\\Seen" in flags[mid(n)]] == [1, 2, 3]

    for _ in range(2):
        mail_poll.poll(context(imap), job_for(imap, box))
    assert len(imap.ingested(box)) == 7
    assert all("\\Seen" in f for f in server.flags().values())


def test_without_move_messages_are_copied_deleted_and_expunged(imap: World, server: dovecot.Dovecot,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    box = imap.add_mailbox(processed_folder="Done")
    server.deliver(*(message(n) for n in range(1, 4)))
    login = mail_poll.Poller.login

    def login_without_move(self: mail_poll.Poller) -> None:
        login(self)
        self.capabilities.discard("MOVE")

    monkeypatch.setattr(mail_poll.Poller, "login", login_without_move)
    mail_poll.poll(context(imap), job_for(imap, box))

    assert len(imap.ingested(box)) == 3
    assert server.flags("INBOX") == {}
    assert sorted(server.flags("Done")) == [mid(1), mid(2), mid(3)]


def test_a_password_and_folder_names_beyond_ascii(imap: World, server: dovecot.Dovecot) -> None:
    box = imap.add_mailbox(username=dovecot.UNICODE_USERNAME, password=dovecot.UNICODE_PASSWORD,
                           processed_folder="Erledigt/Überprüft & fertig")
    other = dataclasses.replace(server, username=dovecot.UNICODE_USERNAME, password=dovecot.UNICODE_PASSWORD)
    other.deliver(message(1))

    mail_poll.poll(context(imap), job_for(imap, box))

    assert list(imap.ingested(box)) == [mid(1)]
    assert other.flags("INBOX") == {}
    with other.session() as conn:
        typ, data = conn.list('""', "*")
    assert typ == "OK" and any(b'"Erledigt/&ANw-berpr&APw-ft &- fertig"' in item for item in data), data


def test_a_server_that_never_answers_times_out_in_plain_words(imap: World, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel does) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        box = imap.add_mailbox(port=silent.getsockname()[1])
        monkeypatch.setattr(mail_poll, "TIMEOUT", 1.0)
        with pytest.raises(mail_poll.PollError, match=r"timed out after 1 s connecting to 127\.0\.0\.1:"):
            mail_poll.poll(context(imap), job_for(imap, box))
    assert imap.health(box)["last_error"].startswith("timed out after 1 s connecting to 127.0.0.1:")


def test_a_poll_that_meets_another_of_the_same_mailbox_leaves_it_alone(imap: World, server: dovecot.Dovecot) -> None:
    box = imap.add_mailbox()
    server.deliver(message(1))
    with imap.owner() as other:
        assert other.execute("SELECT atum_private.mailbox_poll_lock(%s) AS ok", [box]).fetchone() == {"ok": True}
        mail_poll.poll(context(imap), job_for(imap, box))
        assert imap.ingested(box) == {}
    mail_poll.poll(context(imap), job_for(imap, box))
    assert list(imap.ingested(box)) == [mid(1)]


def test_a_mailbox_without_password_or_with_a_password_from_another_key(imap: World) -> None:
    box = imap.add_mailbox()
    with imap.owner() as conn:
        conn.execute("UPDATE atum.mailboxes SET imap_password_encrypted = NULL WHERE id = %s", [box])
    with pytest.raises(PermanentError, match="no password is stored for"):
        mail_poll.poll(context(imap), job_for(imap, box))
    with imap.owner() as conn:
        other_key = secrets._decode("A" * 43, "test")  # a valid key, not this installation's
        conn.execute("UPDATE atum.mailboxes SET imap_password_encrypted = %s WHERE id = %s",
                     [secrets.encrypt(other_key, "x", mail_poll.PASSWORD_CONTEXT), box])
    with pytest.raises(PermanentError, match=r"cannot be used: .* enter it again"):
        mail_poll.poll(context(imap), job_for(imap, box))
    assert imap.health(box)["consecutive_failures"] == 2


def test_the_worker_decrypts_with_the_context_the_api_encrypts_with() -> None:
    from api import mailboxes

    assert mail_poll.PASSWORD_CONTEXT == mailboxes.CONTEXT
