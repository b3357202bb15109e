"""End-to-end IMAP-to-ticket throughput: messages in a real Dovecot, one `atumdesk worker --once`.

On a fresh database: one organization with one mailbox on a throwaway Dovecot (tests/mail_poll/
dovecot.py: implicit TLS on loopback, its own CA handed to the worker with ATUM_MAIL_CA_FILE).
``MESSAGES`` plain customer messages, each from its own sender (so no per-sender rate cap applies),
are delivered into the inbox; then pg_cron's function queues the poll and the worker runs as a
process until the queue is empty — connect, log in, fetch, parse, one committed transaction per
message (user, ticket, mail log, audit), flag \\Seen. Reported: the worker's wall time (process
start included, and the other jobs the messages caused, such as "ticket received" notifications),
the poll job's own time (claim to finish, from atum.jobs) and messages per second for both; the goal
applies to the job's rate. Afterwards every message must be a ticket and flagged.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.rows import dict_row

from atumdesk import secrets
from atumdesk.migrate import migrate
from atumdesk.settings import Settings
from jobs.mail_poll import PASSWORD_CONTEXT
from tests.mail_poll import dovecot

MESSAGES = 500
GOAL_PER_SECOND = 50.0


def _message(n: int) -> bytes:
    return (f"From: Customer {n} <bench-customer{n}@client.example>\r\n"
            f"To: {dovecot.USERNAME}\r\n"
            f"Subject: Bench request {n}: the VPN drops every hour\r\n"
            f"Message-ID: <bench-{n}@client.example>\r\n"
            "Date: Tue, 25 Nov 2025 09:00:00 +0100\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "\r\n"
            "Hello,\r\n\r\nsince the update the VPN drops every hour and I have to sign in again.\r\n"
            "It happens on the office network and at home.\r\n\r\nRegards\r\n").encode()


def run(settings: Settings, log: Callable[[str], None], *, messages: int = MESSAGES) -> dict[str, Any]:
    """Migrate ``settings``' database, deliver ``messages`` into Dovecot, poll them; the figures."""
    migrate(settings, schedule_cron=False)
    with dovecot.running() as server:
        log(f"delivering {messages:,} messages into Dovecot ...")
        server.deliver(*(_message(n) for n in range(messages)))
        key = secrets.load_key(settings)
        with psycopg.connect(settings.conninfo("owner"), autocommit=True, row_factory=dict_row) as conn:
            org = conn.execute("SELECT id FROM atum.org_create('Bench Mail', 'bench-mail', 'UTC')").fetchone()
            assert org is not None
            conn.execute("INSERT INTO atum.mailboxes (organization_id, name, address, imap_host, imap_port,"
                         " imap_security, imap_username, imap_password_encrypted)"
                         " VALUES (%s, 'Support', 'support@bench.example', %s, %s, 'tls', %s, %s)",
                         [org["id"], server.host, server.imaps_port, server.username,
                          secrets.encrypt(key, server.password, PASSWORD_CONTEXT)])
            conn.execute("SELECT atum.mailbox_polls_enqueue()")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATUM_")}
        env.update(ATUM_DATA_DIR=str(settings.data_dir), ATUM_DATABASE_URL=settings.database_url,
                   ATUM_OWNER_DATABASE_URL=settings.owner_database_url, ATUM_MAIL_CA_FILE=str(server.ca_file))
        log("polling them with one `atumdesk worker --once` ...")
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "atumdesk.cli", "worker", "--once"], env=env,
                              capture_output=True, text=True, timeout=1800, check=False)
        wall = time.monotonic() - started
        if proc.returncode != 0:
            raise RuntimeError(f"worker failed ({proc.returncode}): {proc.stderr[-2000:]}")
        flags = server.flags()
        with psycopg.connect(settings.conninfo("owner"), row_factory=dict_row) as conn:
            figures = conn.execute(
                "SELECT (SELECT count(*) FROM atum.tickets WHERE organization_id = %(org)s) AS tickets,"
                "       (SELECT count(*) FROM atum.mail_messages WHERE organization_id = %(org)s"
                "           AND mailbox_id IS NOT NULL) AS ingested,"
                "       (SELECT extract(epoch FROM max(j.finished_at) - min(j.locked_at)) FROM atum.jobs j"
                "         WHERE j.kind = 'mail.poll' AND j.state = 'succeeded') AS job_seconds",
                {"org": org["id"]}).fetchone()
            # What else the worker ran meanwhile (the "ticket received" notifications, say): its
            # wall time includes them, the poll job's time does not.
            others = {f"{r['kind']} {r['state']}": r["n"] for r in conn.execute(
                "SELECT kind, state::text, count(*) AS n FROM atum.jobs WHERE kind <> 'mail.poll'"
                " GROUP BY 1, 2 ORDER BY 1, 2")}
    assert figures is not None
    seen = sum(1 for f in flags.values() if "\\Seen" in f)
    job_seconds = float(figures["job_seconds"] or 0.0)
    rate = messages / job_seconds if job_seconds else 0.0
    return {
        "messages": messages,
        "tickets": figures["tickets"],
        "ingested": figures["ingested"],
        "flagged_seen": seen,
        "worker_seconds": round(wall, 2),
        "worker_messages_per_second": round(messages / wall, 1),
        "other_jobs": others,
        "job_seconds": round(job_seconds, 2),
        "messages_per_second": round(rate, 1),
        "goal_per_second": GOAL_PER_SECOND,
        "passed": rate >= GOAL_PER_SECOND and figures["tickets"] == messages and seen == messages,
    }
