"""The job queue in SQL (sql/61_jobs.sql), as the worker and pg_cron use it: queueing with
notification and dedupe, claiming with SKIP LOCKED, retries with backoff, dead jobs with their error,
recovery of the jobs of a worker whose session died, and retention."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from tests.support import Database, wait_backend_gone

KIND = "test.effect"


@contextmanager
def worker_session(db: Database, label: str = "test:1", **kwargs: Any) -> Iterator[tuple[psycopg.Connection, str]]:
    """An owner connection as the worker holds one, with its worker id."""
    with db.connect("atum_owner", autocommit=kwargs.pop("autocommit", True), row_factory=dict_row, **kwargs) as conn:
        yield conn, conn.execute("SELECT atum_private.job_worker_id(%s) AS id", [label]).fetchone()["id"]


def enqueue(conn: psycopg.Connection, kind: str = KIND, *, payload: Jsonb | None = None,
            dedupe_key: str | None = None, run_after: Any = None, max_attempts: int = 10) -> int | None:
    """atum_private.job_enqueue as pg_cron and the SQL functions call it; the id or None."""
    row = conn.execute("SELECT atum_private.job_enqueue(%s, %s, NULL, %s, %s, %s)",
                       [kind, payload or Jsonb({}), dedupe_key, run_after, max_attempts]).fetchone()
    assert row is not None
    return row[0]


def claim(conn: psycopg.Connection, worker_id: str, kinds: tuple[str, ...] = (KIND,)) -> dict[str, Any] | None:
    return conn.execute("SELECT * FROM atum_private.job_claim(%s, %s)", [worker_id, list(kinds)]).fetchone()


def job(owner: psycopg.Connection, job_id: int) -> dict[str, Any]:
    with owner.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT *, run_after - now() AS wait FROM atum.jobs WHERE id = %s", [job_id]).fetchone()
    assert row is not None
    return row


def make_due(owner: psycopg.Connection, job_id: int) -> None:
    """As if the backoff had passed."""
    owner.execute("UPDATE atum.jobs SET run_after = now() WHERE id = %s", [job_id])


def wait_until_gone(owner: psycopg.Connection, worker_id: str) -> None:
    """The event: the closed session's backend has left pg_stat_activity."""
    wait_backend_gone(owner, int(worker_id.rsplit("/", 1)[1].split("@")[0]))


def test_a_queued_job_wakes_the_workers_and_a_dedupe_key_holds_while_the_job_is_pending(
        db: Database, owner: psycopg.Connection) -> None:
    with db.connect("atum_owner", autocommit=True) as listener:
        listener.execute("LISTEN atum_jobs")
        first = enqueue(owner, dedupe_key="mailbox:1", payload=Jsonb({"mailbox_id": 1}))
        assert first is not None
        assert [n.payload for n in listener.notifies(timeout=5, stop_after=1)] == [KIND]
        assert enqueue(owner, dedupe_key="mailbox:1") is None
        assert enqueue(owner, dedupe_key="mailbox:2") is not None
        assert list(listener.notifies(timeout=5, stop_after=1))  # only the new job notified
        # Waiting for a retry still counts as pending; once the job is dead, a new one may be queued.
        owner.execute("UPDATE atum.jobs SET state = 'failed', attempts = 1 WHERE id = %s", [first])
        assert enqueue(owner, dedupe_key="mailbox:1") is None
        owner.execute("UPDATE atum.jobs SET state = 'dead', finished_at = now() WHERE id = %s", [first])
        assert enqueue(owner, dedupe_key="mailbox:1") is not None
    row = job(owner, first)
    assert (row["state"], row["attempts"], row["max_attempts"], row["payload"]) == ("dead", 1, 10, {"mailbox_id": 1})


def test_backoff_doubles_from_15_seconds_up_to_an_hour_with_jitter_below_the_schedule(
        owner: psycopg.Connection) -> None:
    rows = owner.execute("SELECT n, extract(epoch FROM atum_private.job_backoff(n))::float8"
                         " FROM generate_series(1, 14) n, generate_series(1, 20) sample").fetchall()
    for attempt, seconds in rows:
        nominal = min(15 * 2 ** (attempt - 1), 3600)
        assert 0.75 * nominal <= seconds <= nominal, (attempt, seconds)
    assert len({round(s, 3) for n, s in rows if n == 1}) > 1, "no jitter"
    huge = owner.execute("SELECT atum_private.job_backoff(100000)").fetchone()[0]
    assert timedelta(minutes=45) <= huge <= timedelta(hours=1)


def test_a_failing_job_is_retried_after_the_backoff_until_max_attempts_then_dead_with_its_error(
        db: Database, owner: psycopg.Connection) -> None:
    job_id = enqueue(owner, max_attempts=3)
    assert job_id is not None
    with worker_session(db) as (conn, worker):
        for attempt in (1, 2):
            claimed = claim(conn, worker)
            assert claimed is not None and (claimed["id"], claimed["attempts"]) == (job_id, attempt)
            failed = conn.execute(
                "SELECT state::text, run_after - now() AS wait FROM atum_private.job_fail(%s, %s, %s)",
                [job_id, worker, f"RuntimeError: boom {attempt}\n  Traceback-ish line"]).fetchone()
            nominal = timedelta(seconds=15 * 2 ** (attempt - 1))
            assert failed["state"] == "failed" and 0.75 * nominal - timedelta(seconds=1) <= failed["wait"] <= nominal
            row = job(owner, job_id)
            assert (row["state"], row["finished_at"], row["last_error"]) == (
                "failed", None, f"RuntimeError: boom {attempt} Traceback-ish line")
            assert claim(conn, worker) is None, "claimed before its retry time"
            make_due(owner, job_id)
        assert claim(conn, worker)["attempts"] == 3
        assert conn.execute("SELECT state::text FROM atum_private.job_fail(%s, %s, 'RuntimeError: boom 3')",
                            [job_id, worker]).fetchone()["state"] == "dead"
    row = job(owner, job_id)
    assert (row["state"], row["attempts"], row["last_error"]) == ("dead", 3, "RuntimeError: boom 3")
    assert row["finished_at"] is not None


def test_a_permanent_error_makes_the_job_dead_at_once(db: Database, owner: psycopg.Connection) -> None:
    job_id = enqueue(owner)
    with worker_session(db) as (conn, worker):
        claim(conn, worker)
        conn.execute("SELECT atum_private.job_fail(%s, %s, 'PermanentError: no mailbox 7', true)", [job_id, worker])
    row = job(owner, job_id)
    assert (row["state"], row["attempts"], row["last_error"]) == ("dead", 1, "PermanentError: no mailbox 7")


def test_a_success_is_recorded_once_and_keeps_the_last_error(db: Database, owner: psycopg.Connection) -> None:
    job_id = enqueue(owner)
    with worker_session(db) as (conn, worker):
        claim(conn, worker)
        conn.execute("SELECT atum_private.job_fail(%s, %s, 'OSError: timed out')", [job_id, worker])
        make_due(owner, job_id)
        claim(conn, worker)
        assert conn.execute("SELECT atum_private.job_succeed(%s, %s)", [job_id, worker]).fetchone()
        assert conn.execute("SELECT atum_private.job_succeed(%s, %s) AS ok", [job_id, worker]).fetchone()["ok"] is False
    row = job(owner, job_id)
    assert (row["state"], row["attempts"], row["last_error"]) == ("succeeded", 2, "OSError: timed out")
    assert row["finished_at"] is not None and row["locked_by"] == worker


def test_concurrent_claims_skip_locked_jobs_instead_of_waiting(db: Database, owner: psycopg.Connection) -> None:
    first, second = enqueue(owner), enqueue(owner)
    with worker_session(db, "a:1", autocommit=False) as (a, worker_a), \
            worker_session(db, "b:2", options="-c lock_timeout=2s") as (b, worker_b):
        a.commit()
        got_a = claim(a, worker_a)  # a's transaction stays open: the row stays locked
        got_b = claim(b, worker_b)  # would fail with a lock timeout if it waited for a
        assert got_a is not None and got_b is not None
        assert {got_a["id"], got_b["id"]} == {first, second} and got_a["id"] != got_b["id"]
        assert claim(b, worker_b) is None
        a.commit()
    assert {job(owner, i)["locked_by"] for i in (first, second)} == {worker_a, worker_b}


def test_only_the_kinds_a_worker_handles_are_claimed_and_it_knows_when_the_next_is_due(
        db: Database, owner: psycopg.Connection) -> None:
    other = enqueue(owner, "test.other")
    later = enqueue(owner, run_after=owner.execute("SELECT now() + interval '60 seconds'").fetchone()[0])
    with worker_session(db) as (conn, worker):
        assert claim(conn, worker) is None
        due_in = lambda kinds: conn.execute("SELECT atum_private.job_due_in(%s) AS s", [kinds]).fetchone()["s"]  # noqa: E731
        assert 55 < due_in([KIND]) <= 60
        assert due_in(["test.other"]) == 0
        assert due_in(["test.none"]) is None
        assert claim(conn, worker, ("test.other",))["id"] == other
    assert job(owner, later)["state"] == "queued"


def test_a_worker_id_names_its_own_session_only(db: Database, owner: psycopg.Connection) -> None:
    enqueue(owner)
    with worker_session(db, "a:1") as (_, worker_a), worker_session(db, "b:2") as (b, _), \
            pytest.raises(psycopg.errors.InvalidParameterValue):
        claim(b, worker_a)
    assert worker_a.startswith("a:1/")


def test_the_job_of_a_worker_whose_session_died_is_due_again_with_its_attempt_counted(
        db: Database, owner: psycopg.Connection) -> None:
    job_id = enqueue(owner, max_attempts=2)
    with worker_session(db, "slow:1") as (alive, slow_worker):
        slow = enqueue(owner)
        # The first claim takes job_id (older); the slow worker holds the second one and lives on.
        with worker_session(db, "doomed:2") as (doomed, dead_worker):
            assert claim(doomed, dead_worker)["id"] == job_id
            assert claim(alive, slow_worker)["id"] == slow
        wait_until_gone(owner, dead_worker)

        assert owner.execute("SELECT atum_private.jobs_reclaim()").fetchone()[0] == 1
        row = job(owner, job_id)
        assert (row["state"], row["attempts"]) == ("failed", 1) and row["wait"] <= timedelta(0)
        assert row["last_error"] == f"WorkerLost: the worker {dead_worker} stopped while running attempt 1 of 2"
        assert job(owner, slow)["state"] == "running", "a slow worker that is alive keeps its job"
        # The dead worker's late outcome does not count; the next claim runs attempt 2.
        assert owner.execute("SELECT atum_private.job_succeed(%s, %s)", [job_id, dead_worker]).fetchone() == (False,)
        with worker_session(db, "next:3") as (conn, worker):
            assert claim(conn, worker)["attempts"] == 2
        wait_until_gone(owner, worker)
        # A job that keeps killing its workers ends dead after max_attempts.
        assert owner.execute("SELECT atum_private.jobs_reclaim()").fetchone()[0] == 1
        row = job(owner, job_id)
        assert (row["state"], row["attempts"]) == ("dead", 2) and row["finished_at"] is not None
        assert row["last_error"].startswith("WorkerLost: ") and row["last_error"].endswith("attempt 2 of 2")


def test_two_reclaims_at_once_neither_wait_nor_both_take_the_job(db: Database, owner: psycopg.Connection) -> None:
    job_id = enqueue(owner)
    with worker_session(db, "doomed:1") as (doomed, dead_worker):
        claim(doomed, dead_worker)
    wait_until_gone(owner, dead_worker)
    with db.connect("atum_owner") as first, db.connect("atum_owner", options="-c lock_timeout=2s") as second:
        assert first.execute("SELECT atum_private.jobs_reclaim()").fetchone() == (1,)  # not committed yet
        assert second.execute("SELECT atum_private.jobs_reclaim()").fetchone() == (0,)  # skipped, did not wait
        second.commit()
        first.commit()
    assert job(owner, job_id)["state"] == "failed"


def test_retention_deletes_succeeded_jobs_after_a_week_and_dead_ones_after_90_days(
        owner: psycopg.Connection) -> None:
    rows = [("succeeded", "8 days"), ("succeeded", "6 days"), ("dead", "91 days"), ("dead", "30 days"),
            ("failed", "200 days"), ("queued", "200 days")]
    for state, age in rows:
        owner.execute("INSERT INTO atum.jobs (kind, state, attempts, created_at, finished_at)"
                      " VALUES (%s, %s, 1, now() - %s::interval, CASE WHEN %s IN ('succeeded', 'dead')"
                      " THEN now() - %s::interval END)", [f"test.{state}", state, age, state, age])
    assert owner.execute("SELECT atum.jobs_purge()").fetchone() == (2,)
    left = owner.execute("SELECT state::text, count(*) FROM atum.jobs WHERE kind LIKE 'test.%%'"
                         " GROUP BY 1 ORDER BY 1").fetchall()
    assert left == [("dead", 1), ("failed", 1), ("queued", 1), ("succeeded", 1)]


def test_the_app_role_cannot_reach_the_queue(db: Database) -> None:
    with db.connect("atum_app") as app:
        for sql in ("SELECT atum_private.job_enqueue('test.effect')", "SELECT count(*) FROM atum.jobs",
                    "SELECT atum_private.jobs_reclaim()"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(sql)  # type: ignore[arg-type]
            app.rollback()
