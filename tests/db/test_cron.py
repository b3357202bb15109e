"""pg_cron really runs our jobs: jobs scheduled by `atumdesk migrate` succeed in
cron.job_run_details (not merely listed in cron.job) and `atumdesk cron` shows them."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from atumdesk.settings import Settings
from tests.conftest import CRON_DATABASE

HEARTBEAT = f"atum:{CRON_DATABASE}:heartbeat"


AUTO_CLOSE = f"atum:{CRON_DATABASE}:tickets-auto-close"


def succeeded_runs(admin: psycopg.Connection, job: str = HEARTBEAT) -> int:
    return admin.execute("""
        SELECT count(*) FROM cron.job_run_details d JOIN cron.job j USING (jobid)
         WHERE j.jobname = %s AND d.status = 'succeeded'""", [job]).fetchone()[0]


@pytest.mark.slow
def test_the_heartbeat_job_runs_and_succeeds(cluster: Settings) -> None:
    owner_url = make_conninfo(cluster.owner_database_url, dbname=CRON_DATABASE)
    with psycopg.connect(cluster.admin_database_url, autocommit=True) as admin, \
            psycopg.connect(owner_url, autocommit=True) as listener:
        listener.execute("LISTEN atum_cron_heartbeat")
        deadline = time.monotonic() + 150
        while succeeded_runs(admin) == 0 or succeeded_runs(admin, AUTO_CLOSE) == 0:
            left = deadline - time.monotonic()
            assert left > 0, "pg_cron did not run both jobs within 150 s"
            # Wait for the next minute tick to report in, then give the tick's other jobs a moment:
            # pg_cron records each outcome right after the job's transaction commits.
            if list(listener.notifies(timeout=left, stop_after=1)):
                settle = time.monotonic() + 10
                while ((succeeded_runs(admin) == 0 or succeeded_runs(admin, AUTO_CLOSE) == 0)
                       and time.monotonic() < settle):
                    time.sleep(0.05)
        assert succeeded_runs(admin) >= 1 and succeeded_runs(admin, AUTO_CLOSE) >= 1
        failed = admin.execute("SELECT d.return_message FROM cron.job_run_details d JOIN cron.job j USING (jobid)"
                               " WHERE j.jobname LIKE 'atum:%%' AND d.status = 'failed'").fetchall()
        assert failed == []
        beats = listener.execute("SELECT beats FROM atum.cron_heartbeats WHERE job_name = 'heartbeat'").fetchone()
        assert beats is not None and beats[0] >= 1

    env = dict(os.environ, ATUM_DATA_DIR=str(cluster.data_dir),
               ATUM_DATABASE_URL=make_conninfo(cluster.database_url, dbname=CRON_DATABASE))
    proc = subprocess.run([sys.executable, "-m", "atumdesk.cli", "cron"], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith(HEARTBEAT))
    assert "succeeded" in line and "* * * * *" in line
