"""`atumdesk worker` as an operator runs it: real processes against a real database, with the test
handlers of tests/jobs/plugin.py (loaded through ATUM_WORKER_EXTRA_MODULES).

What must hold: several workers run each job exactly once; a job queued while a worker idles is
picked up at once (LISTEN), a job due later when it is due; failures are retried and die with their
error kept as one line (the traceback in the log); SIGTERM lets the running job finish; a worker
killed between claim and completion leaves nothing undone or done twice once a worker runs again;
and an unreachable database is a clear log line, not a traceback.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from atumdesk import PROJECT_ROOT
from tests.jobs.plugin import KIND
from tests.support import Database

pytestmark = pytest.mark.slow

EFFECTS = """
    CREATE TABLE public.job_effects (job_id bigint PRIMARY KEY, runs integer NOT NULL, attempts integer[] NOT NULL,
                                     worker_id text NOT NULL);
    GRANT ALL ON public.job_effects TO atum_owner;
"""


class WorkerProcess:
    """An `atumdesk worker` process whose stderr (JSON log lines) is read in the background."""

    def __init__(self, db: Database, *args: str, dbname: str | None = None, **env: str) -> None:
        base = {k: v for k, v in os.environ.items() if not k.startswith("ATUM_")}
        base |= {"ATUM_DATA_DIR": str(db.settings.data_dir),
                 "ATUM_DATABASE_URL": make_conninfo(db.settings.database_url, dbname=dbname or db.dbname),
                 "ATUM_WORKER_EXTRA_MODULES": "tests.jobs.plugin", **env}
        self.proc = subprocess.Popen([sys.executable, "-m", "atumdesk.cli", "worker", *args], cwd=PROJECT_ROOT,
                                     env=base, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)
        self.lines.put(None)

    def records(self) -> list[dict[str, Any]]:
        """The JSON log lines read so far."""
        return [json.loads(line) for line in self.output if line.startswith("{")]

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 60) -> dict[str, Any]:
        """The first log record (new or already read) for which ``predicate`` holds."""
        for record in self.records():
            if predicate(record):
                return record
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no such log line within {timeout} s:\n{''.join(self.output)}")
            if line is None:
                pytest.fail(f"the worker ended early ({self.proc.wait()}):\n{''.join(self.output)}")
            self.output.append(line)
            if line.startswith("{") and predicate(json.loads(line)):
                return json.loads(line)

    def ready(self) -> dict[str, Any]:
        return self.wait_for(lambda r: r["message"] == "worker ready")

    def finish(self, timeout: float = 60) -> int:
        """Wait for the exit; the status. Reads the rest of the output."""
        status = self.proc.wait(timeout=timeout)
        while (line := self.lines.get(timeout=10)) is not None:
            self.output.append(line)
        return status

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.finish()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    """Worker processes a test starts; whatever is still running at the end is killed."""
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.kill()


@pytest.fixture
def effects(owner: psycopg.Connection) -> psycopg.Connection:
    """The table the test handler records its runs in (created as a superuser: public is not the owner's)."""
    with psycopg.connect(make_conninfo(owner.info.dsn, user="postgres"), autocommit=True) as admin:
        admin.execute(EFFECTS)
    return owner


def enqueue(owner: psycopg.Connection, payload: dict[str, Any] | None = None, count: int = 1, *,
            max_attempts: int = 10, run_after: Any = None) -> list[int]:
    """``count`` jobs of the test kind in one transaction (one notification)."""
    rows = owner.execute(
        "SELECT atum_private.job_enqueue(%(kind)s, %(payload)s::jsonb, p_run_after => %(run_after)s,"
        " p_max_attempts => %(max_attempts)s) FROM generate_series(1, %(count)s)",
        {"kind": KIND, "payload": json.dumps(payload or {}), "count": count, "run_after": run_after,
         "max_attempts": max_attempts}).fetchall()
    return [r[0] for r in rows]


def job(owner: psycopg.Connection, job_id: int) -> dict[str, Any]:
    cur = owner.execute("SELECT state::text, attempts, last_error, run_after, finished_at, locked_by"
                        " FROM atum.jobs WHERE id = %s", [job_id])
    row = cur.fetchone()
    assert row is not None and cur.description is not None
    return dict(zip([c.name for c in cur.description], row, strict=True))


def wait_until(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    """Poll the database until ``check()`` is truthy (the event), or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.02)
    return value


def state_is(owner: psycopg.Connection, job_id: int, *states: str) -> Callable[[], bool]:
    return lambda: job(owner, job_id)["state"] in states


def effects_of(owner: psycopg.Connection) -> dict[int, tuple[int, list[int], str]]:
    return {r[0]: (r[1], r[2], r[3]) for r in owner.execute("SELECT job_id, runs, attempts, worker_id"
                                                            " FROM public.job_effects")}


def worker_sessions(owner: psycopg.Connection) -> int:
    return int(owner.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                             " AND application_name = 'atumdesk-worker'").fetchone()[0])


def handler_waits(owner: psycopg.Connection) -> bool:
    """A handler's connection waits for a lock (the test holds it to keep a job running)."""
    return bool(owner.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'atumdesk-worker'"
                              " AND wait_event_type = 'Lock' AND datname = current_database()").fetchone()[0])


def test_three_workers_run_300_jobs_each_exactly_once_and_stop_on_sigterm(
        db: Database, effects: psycopg.Connection, workers: list[WorkerProcess]) -> None:
    owner = effects
    workers += [WorkerProcess(db) for _ in range(3)]
    ids = {w.ready()["worker_id"] for w in workers}
    assert len(ids) == 3
    jobs = enqueue(owner, count=300)
    wait_until(lambda: owner.execute("SELECT count(*) FROM atum.jobs WHERE id = ANY (%s) AND state = 'succeeded'",
                                     [jobs]).fetchone()[0] == 300, "300 jobs succeeded")
    done = effects_of(owner)
    assert sorted(done) == sorted(jobs)
    assert {runs for runs, _, _ in done.values()} == {1}
    assert {tuple(attempts) for _, attempts, _ in done.values()} == {(1,)}
    assert len({worker for _, _, worker in done.values()}) >= 2, "the jobs were not shared"
    for worker in workers:
        assert worker.stop() == 0
        assert worker.records()[-1]["message"] == "worker stopped by SIGTERM"
        assert "Traceback" not in "".join(worker.output)


def test_an_idle_worker_wakes_for_a_new_job_at_once_and_for_a_later_job_when_it_is_due(
        db: Database, effects: psycopg.Connection, workers: list[WorkerProcess]) -> None:
    owner = effects
    workers.append(worker := WorkerProcess(db))
    worker.ready()
    # One job at a time, each queued while the worker idles (or is just going idle: a notification
    # that arrives during its last queries must not be slept on); the poll interval is 30 s.
    for _ in range(20):
        [now_job] = enqueue(owner)
        wait_until(state_is(owner, now_job, "succeeded"), "the new job ran at once", timeout=10)

    [later] = enqueue(owner, run_after=owner.execute("SELECT now() + interval '1.5 seconds'").fetchone()[0])
    wait_until(state_is(owner, later, "succeeded"), "the later job ran when due", timeout=15)
    row = job(owner, later)
    assert row["finished_at"] >= row["run_after"]
    record = worker.wait_for(lambda r: r.get("job_id") == later and r.get("outcome") == "succeeded")
    assert record["kind"] == KIND and record["attempt"] == 1 and record["duration_ms"] >= 0
    assert "organization_id" in record and record["worker_id"].startswith(worker.ready()["worker_id"].split("/")[0])
    assert worker.stop(signal.SIGINT) == 0


def test_failures_are_retried_then_dead_with_the_error_in_one_line_and_the_traceback_in_the_log(
        db: Database, effects: psycopg.Connection, workers: list[WorkerProcess]) -> None:
    owner = effects
    workers.append(worker := WorkerProcess(db))
    worker.ready()
    [flaky] = enqueue(owner, {"fail_until_attempt": 1}, max_attempts=3)
    [hopeless] = enqueue(owner, {"fail_until_attempt": 99}, max_attempts=1)
    [permanent] = enqueue(owner, {"permanent": True}, max_attempts=5)

    wait_until(state_is(owner, flaky, "failed"), "the first attempt failed")
    row = job(owner, flaky)
    assert row["last_error"] == "RuntimeError: boom on attempt 1 (the second line of the message)"
    wait = (row["run_after"] - owner.execute("SELECT now()").fetchone()[0]).total_seconds()
    assert 5 < wait <= 15, "the first retry waits 15 s less jitter"
    owner.execute("UPDATE atum.jobs SET run_after = now() WHERE id = %s", [flaky])  # as if 15 s had passed
    owner.execute("NOTIFY atum_jobs")
    wait_until(state_is(owner, flaky, "succeeded"), "the retry succeeded")
    assert (job(owner, flaky)["attempts"], effects_of(owner)[flaky][1]) == (2, [1, 2])

    wait_until(state_is(owner, hopeless, "dead"), "the job out of attempts died")
    wait_until(state_is(owner, permanent, "dead"), "the permanent failure died")
    assert job(owner, hopeless)["last_error"] == "RuntimeError: boom on attempt 1 (the second line of the message)"
    assert (job(owner, permanent)["attempts"], job(owner, permanent)["last_error"]) == (
        1, f"PermanentError: job {permanent} names nothing that exists")
    dead = worker.wait_for(lambda r: r.get("job_id") == hopeless and r.get("outcome") == "dead")
    assert dead["level"] == "error" and dead["attempt"] == 1 and dead["kind"] == KIND
    assert "Traceback" in dead["traceback"] and "RuntimeError: boom on attempt 1" in dead["traceback"]
    retry = worker.wait_for(lambda r: r.get("job_id") == flaky and r.get("outcome") == "retry")
    assert retry["retry_at"] and retry["error"].startswith("RuntimeError")
    assert worker.wait_for(lambda r: r.get("job_id") == flaky and r["message"] == "effect recorded")["attempt"] == 1
    assert worker.stop() == 0


def test_sigterm_lets_the_running_job_finish_claims_nothing_more_and_exits_0(
        db: Database, effects: psycopg.Connection, workers: list[WorkerProcess]) -> None:
    owner = effects
    workers.append(worker := WorkerProcess(db))
    worker.ready()
    with db.connect("atum_owner", autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(4242)")
        [running] = enqueue(owner, {"lock": 4242})
        wait_until(lambda: handler_waits(owner), "the handler waits for the lock")
        [waiting] = enqueue(owner)
        worker.proc.send_signal(signal.SIGTERM)
        stopping = worker.wait_for(lambda r: r["message"] == "SIGTERM: finishing the running job, then stopping")
        assert stopping["job_id"] == running
        worker.proc.send_signal(signal.SIGTERM)  # a second SIGTERM still lets the job finish
        holder.execute("SELECT pg_advisory_unlock(4242)")
    assert worker.finish() == 0
    assert job(owner, running)["state"] == "succeeded"
    assert job(owner, waiting)["state"] == "queued"
    assert worker.records()[-1]["message"] == "worker stopped by SIGTERM"


def test_a_second_ctrl_c_aborts_the_running_job_and_the_next_worker_runs_it(
        db: Database, effects: psycopg.Connection, workers: list[WorkerProcess]) -> None:
    owner = effects
    workers.append(worker := WorkerProcess(db))
    worker.ready()
    with db.connect("atum_owner", autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(4343)")
        [stuck] = enqueue(owner, {"lock": 4343})
        wait_until(lambda: handler_waits(owner), "the handler waits for the lock")
        worker.proc.send_signal(signal.SIGINT)
        worker.wait_for(lambda r: r["message"] == "SIGINT: finishing the running job, then stopping")
        worker.proc.send_signal(signal.SIGINT)
        assert worker.finish() == 1
        assert worker.records()[-1]["message"].startswith("aborted by a second interrupt")
    wait_until(lambda: worker_sessions(owner) == 0, "the aborted worker's sessions are gone")
    workers.append(again := WorkerProcess(db, "--once"))
    assert again.finish() == 0
    row = job(owner, stuck)
    assert (row["state"], row["attempts"]) == ("succeeded", 2)
    assert row["last_error"].startswith("WorkerLost: the worker ")


@pytest.mark.parametrize("point", ["worker.after_claim", "worker.before_finish"])
def test_a_worker_killed_between_claim_and_completion_leaves_every_job_done_exactly_once(
        db: Database, effects: psycopg.Connection, workers: list[WorkerProcess], point: str) -> None:
    owner = effects
    jobs = enqueue(owner, count=5)
    workers.append(doomed := WorkerProcess(db, ATUM_CRASH_AT=point))
    assert doomed.finish() == -signal.SIGKILL
    crashed = job(owner, jobs[0])
    assert (crashed["state"], crashed["attempts"]) == ("running", 1)
    assert all(job(owner, j)["state"] == "queued" for j in jobs[1:])
    wait_until(lambda: worker_sessions(owner) == 0, "the killed worker's sessions are gone")

    workers.append(restarted := WorkerProcess(db, "--once"))
    assert restarted.finish() == 0
    assert "Traceback" not in "".join(restarted.output)
    assert [job(owner, j)["state"] for j in jobs] == ["succeeded"] * 5
    assert [job(owner, j)["attempts"] for j in jobs] == [2, 1, 1, 1, 1]
    assert job(owner, jobs[0])["last_error"].startswith(f"WorkerLost: the worker {crashed['locked_by']} stopped")
    done = effects_of(owner)
    assert sorted(done) == sorted(jobs)  # each job's effect exactly once
    # The handler had run (and committed) before the kill at before_finish: it ran again, idempotently.
    assert done[jobs[0]][:2] == ((1, [2]) if point == "worker.after_claim" else (2, [1, 2]))
    assert all(done[j][:2] == (1, [1]) for j in jobs[1:])


def test_an_unreachable_database_is_a_clear_line_then_the_worker_connects_when_it_is_there(
        db: Database, effects: psycopg.Connection, workers: list[WorkerProcess]) -> None:
    owner = effects
    [queued] = enqueue(owner)
    owner.close()  # the new database is a copy of this one: nobody may be connected to it
    later = f"{db.dbname}_later"

    once = WorkerProcess(db, "--once", dbname=later)
    assert once.finish() == 2
    assert once.output[-1].startswith("atumdesk: error: cannot connect to PostgreSQL as the owner")
    assert len([x for x in once.output if not x.startswith("{")]) == 1 and "Traceback" not in "".join(once.output)

    workers.append(patient := WorkerProcess(db, dbname=later))
    failure = patient.wait_for(lambda r: r["message"].startswith("cannot connect to PostgreSQL as the owner"))
    assert failure["level"] == "error" and failure["retry_in_seconds"] == 1
    with psycopg.connect(db.settings.admin_database_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{later}" TEMPLATE "{db.dbname}"')
        try:
            patient.ready()
            with psycopg.connect(make_conninfo(db.conninfo("atum_owner"), dbname=later), autocommit=True) as there:
                wait_until(state_is(there, queued, "succeeded"), "the job queued before ran")
            assert patient.stop() == 0
            assert "Traceback" not in "".join(patient.output)
        finally:
            patient.kill()
            admin.execute(f'DROP DATABASE IF EXISTS "{later}" WITH (FORCE)')


def test_a_handler_module_that_cannot_be_loaded_is_a_one_line_error(db: Database) -> None:
    worker = WorkerProcess(db, ATUM_WORKER_EXTRA_MODULES="tests.jobs.no_such_module")
    assert worker.finish() == 2
    assert worker.output[-1].startswith(
        "atumdesk: error: cannot load job handlers from module 'tests.jobs.no_such_module'")
    assert "Traceback" not in "".join(worker.output)


def session_pid(worker_id: str) -> int:
    """The backend pid a worker id names (host:pid/backend pid@backend start)."""
    return int(worker_id.rsplit("/", 1)[1].split("@")[0])


def test_a_lost_database_session_is_a_log_line_and_the_worker_carries_on_without_running_a_job_twice(
        db: Database, effects: psycopg.Connection, workers: list[WorkerProcess]) -> None:
    owner = effects
    workers.append(worker := WorkerProcess(db))
    first = worker.ready()["worker_id"]
    with psycopg.connect(make_conninfo(owner.info.dsn, user="postgres"), autocommit=True) as admin:
        # Idle: the session ends under it (a restart, a DBA, a network cut); it reconnects.
        admin.execute("SELECT pg_terminate_backend(%s)", [session_pid(first)])
        lost = worker.wait_for(lambda r: r["message"].startswith("lost the database session"))
        assert lost["level"] == "error" and lost["retry_in_seconds"] == 1
        second = worker.wait_for(lambda r: r["message"] == "worker ready" and r["worker_id"] != first)["worker_id"]

        # Busy: the session ends while a job runs; the outcome is recorded on a new connection under
        # the same worker id, so the job is not taken back and run again.
        with db.connect("atum_owner", autocommit=True) as holder:
            holder.execute("SELECT pg_advisory_lock(4444)")
            [busy] = enqueue(owner, {"lock": 4444})
            wait_until(lambda: handler_waits(owner), "the handler waits for the lock")
            admin.execute("SELECT pg_terminate_backend(%s)", [session_pid(second)])
            holder.execute("SELECT pg_advisory_unlock(4444)")
        wait_until(state_is(owner, busy, "succeeded"), "the job's outcome was recorded")
    assert job(owner, busy)["attempts"] == 1 and effects_of(owner)[busy][:2] == (1, [1])
    assert worker.wait_for(lambda r: r["message"] == "worker ready" and r["worker_id"] not in (first, second))
    [after] = enqueue(owner)
    wait_until(state_is(owner, after, "succeeded"), "a job after the reconnect ran")
    assert worker.stop() == 0
    assert "Traceback" not in "".join(worker.output)
