"""pg_cron really runs our jobs: jobs scheduled by `atumdesk migrate` succeed in
cron.job_run_details (not merely listed in cron.job) and `atumdesk cron` shows them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from atumdesk.settings import Settings
from tests.conftest import CRON_DATABASE

HEARTBEAT = f"atum:{CRON_DATABASE}:heartbeat"
JOBS = [HEARTBEAT, f"atum:{CRON_DATABASE}:tickets-auto-close", f"atum:{CRON_DATABASE}:sla-sweep",
        f"atum:{CRON_DATABASE}:jobs-reclaim", f"atum:{CRON_DATABASE}:mail-poll"]


def succeeded_runs(admin: psycopg.Connection, job: str, since: datetime) -> int:
    return admin.execute("""
        SELECT count(*) FROM cron.job_run_details d JOIN cron.job j USING (jobid)
         WHERE j.jobname = %s AND d.status = 'succeeded' AND d.start_time > %s""", [job, since]).fetchone()[0]


@pytest.mark.slow
def test_pg_cron_runs_the_heartbeat_auto_close_sla_sweep_job_reclaim_and_mail_polls(cluster: Settings) -> None:
    owner_url = make_conninfo(cluster.owner_database_url, dbname=CRON_DATABASE)
    with psycopg.connect(cluster.admin_database_url, autocommit=True) as admin, \
            psycopg.connect(owner_url, autocommit=True) as listener:
        # A ticket left in the queue for a day: only the sweep records its triage warning and breach.
        org = listener.execute("SELECT id FROM atum.org_create('Cron Org', 'cron-org', 'UTC')").fetchone()[0]
        customer = listener.execute("SELECT id FROM atum.user_create('cron-org', 'c@cron.example', 'customer', 'C')"
                                    ).fetchone()[0]
        ticket = listener.execute(
            "INSERT INTO atum.tickets (organization_id, subject, requester_id, created_at)"
            " VALUES (%s, 'Still waiting', %s, now() - interval '1 day') RETURNING id", [org, customer]).fetchone()[0]
        # A mailbox: only the mail-poll job queues its poll.
        mailbox = listener.execute(
            "INSERT INTO atum.mailboxes (organization_id, name, address, imap_host, imap_username)"
            " VALUES (%s, 'Support', 'support@cron.example', 'imap.cron.example', 'support') RETURNING id",
            [org]).fetchone()[0]
        # A job left running by a worker whose session is gone: only the reclaim job frees it.
        orphan = listener.execute(
            "INSERT INTO atum.jobs (kind, state, attempts, locked_by, locked_at)"
            " VALUES ('test.orphan', 'running', 1, 'gone:1/1@1', now()) RETURNING id").fetchone()[0]
        since = listener.execute("SELECT now()").fetchone()[0]

        def waiting() -> list[str]:
            """Jobs without a successful run that started after the ticket was there."""
            return [job for job in JOBS if succeeded_runs(admin, job, since) == 0]

        listener.execute("LISTEN atum_cron_heartbeat")
        deadline = time.monotonic() + 150
        while waiting():
            left = deadline - time.monotonic()
            assert left > 0, f"pg_cron did not run {waiting()} within 150 s"
            # Wait for the next minute tick to report in, then give the tick's other jobs a moment:
            # pg_cron records each outcome right after the job's transaction commits.
            if list(listener.notifies(timeout=left, stop_after=1)):
                settle = time.monotonic() + 10
                while waiting() and time.monotonic() < settle:
                    time.sleep(0.05)
        failed = admin.execute("SELECT d.return_message FROM cron.job_run_details d JOIN cron.job j USING (jobid)"
                               " WHERE j.jobname LIKE 'atum:%%' AND d.status = 'failed'").fetchall()
        assert failed == []
        beats = listener.execute("SELECT beats FROM atum.cron_heartbeats WHERE job_name = 'heartbeat'").fetchone()
        assert beats is not None and beats[0] >= 1
        events = listener.execute("SELECT e.clock::text, e.kind::text FROM atum.sla_events e WHERE e.ticket_id = %s"
                                  " ORDER BY e.kind", [ticket]).fetchall()
        assert events == [("triage", "warning"), ("triage", "breach")]
        jobs = listener.execute("SELECT count(*) FROM atum.jobs WHERE organization_id = %s AND kind = 'sla.notify'",
                                [org]).fetchone()
        assert jobs == (1,)
        orphaned = listener.execute("SELECT state::text, last_error FROM atum.jobs WHERE id = %s", [orphan]).fetchone()
        assert orphaned == ("failed", "WorkerLost: the worker gone:1/1@1 stopped while running attempt 1 of 10")
        polls = listener.execute("SELECT payload FROM atum.jobs WHERE organization_id = %s AND kind = 'mail.poll'",
                                 [org]).fetchall()
        assert polls == [({"mailbox_id": mailbox},)]

    env = dict(os.environ, ATUM_DATA_DIR=str(cluster.data_dir),
               ATUM_DATABASE_URL=make_conninfo(cluster.database_url, dbname=CRON_DATABASE))
    proc = subprocess.run([sys.executable, "-m", "atumdesk.cli", "cron"], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith(HEARTBEAT))
    assert "succeeded" in line and "* * * * *" in line
    assert any(x.startswith(f"atum:{CRON_DATABASE}:jobs-purge ") for x in proc.stdout.splitlines())
