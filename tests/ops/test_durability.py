"""Durability (issue 8): nothing answered is lost, nothing is done twice, and the product comes back
by itself.

- The API: clients open tickets through a real `atumdesk serve` without pause, each request with
  its own Idempotency-Key, sent again with the same key when no answer came. The server is killed
  with SIGKILL while every client's transaction is inside PostgreSQL (they commit after it died)
  and a new one started; then PostgreSQL is stopped in immediate mode (every backend killed, crash
  recovery at start) and started again, and later kept away for 18 s, while the load goes on: the
  same server process must serve again within seconds without being restarted (its pool
  reconnects). Every ticket answered 201 exists, exactly once; no other ticket was made.
- The worker: SIGKILL while a notification is inside SMTP (the server holds it unanswered); a new
  worker takes the job back and the notification is sent — each message answered once, the copy
  in flight carrying the same Message-ID (the at-least-once contract of jobs/mail_out.py). Then
  PostgreSQL restarts under the running worker: it logs, reconnects and sends the next one.

The figures the operations issue asks for are printed (``pytest -s``) and recorded as properties
(JUnit XML): tickets answered vs found, duplicates, and seconds to recover.

Everything runs on a cluster of this module's own (tests/ops/durability.py), so the restarts do
not disturb the shared test cluster.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from tests.ops.durability import (
    Cluster,
    HoldingSmtp,
    LoadGenerator,
    Server,
    WorkerChild,
    free_port,
    own_cluster,
    wait_until,
)
from tests.support import Database, Org, build_org

pytestmark = pytest.mark.slow

#: Tickets answered between two events of the API test (enough for requests to be in flight at each).
PHASE = 40
#: "Within seconds": how long after PostgreSQL is back the product may take to serve again.
RECOVERY_LIMIT_SECONDS = 8.0
#: The longer outage: more than a request waits for a connection (ATUM_DB_WAIT, 10 s), and long
#: enough for a connection pool's growing pauses between attempts (1, 2, 4, 8, 16 s) to matter.
OUTAGE_SECONDS = 18.0
SUBJECTS = "durability"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """This module's own PostgreSQL cluster (it is restarted by the tests)."""
    with own_cluster() as created:
        yield created


Figure = Callable[[str, Any], None]


@pytest.fixture
def figure(record_property: Callable[[str, Any], None]) -> Figure:
    """Record a figure for the closing note: printed (pytest -s) and kept as a test property."""
    def record(name: str, value: Any) -> None:
        record_property(name, value)
        print(f"DURABILITY {name} = {value}")

    return record


def seconds(start: float, end: float) -> float:
    """A duration for the figures, rounded to milliseconds."""
    return round(end - start, 3)


# ---------------------------------------------------------------------------------------------
# The API
# ---------------------------------------------------------------------------------------------
def test_tickets_answered_201_survive_a_killed_server_and_postgresql_restarts_exactly_once(
        cluster: Cluster, figure: Figure) -> None:
    db = cluster.database("atum_durability_api")
    with db.connect("atum_owner", autocommit=True) as owner:
        org = build_org(owner, "alpha")
    port = free_port()
    env = cluster.env(db)
    servers = [Server(env, port)]
    load = LoadGenerator(servers[0].origin, [org.tokens[role] for role in ("customer", "customer2", "agent")],
                         SUBJECTS)
    try:
        servers[0].wait_listening()
        load.start()

        # kill -9 while requests are inside PostgreSQL: the organization's row is locked, so every
        # client's transaction waits at the ticket's foreign key check, with its whole pipeline (up
        # to COMMIT) already sent.
        # Released after the kill, they commit with nobody left to answer: only the Idempotency-Key
        # tells the clients' retries from new requests. Then a new server on the same address (what
        # systemd's Restart= does).
        load.wait_answers(PHASE)
        with db.connect("atum_owner") as holder, db.connect("postgres", autocommit=True) as admin:
            holder.execute("SELECT 1 FROM atum.organizations WHERE id = %s FOR UPDATE", [org.id])
            held = wait_until(lambda: (n := _waiting_on_a_lock(admin)) >= load.clients and n,
                              "every client's request to wait for the organization's row")
            servers[0].kill9()
            killed_at = time.monotonic()
            holder.rollback()
        servers.append(Server(env, port))
        servers[1].wait_listening()
        after_kill = load.first_answer_after(killed_at)
        before_restart = len(load.answers)

        # PostgreSQL stopped in immediate mode and started again, under load; the server stays.
        load.wait_answers(before_restart + PHASE)
        down_at, up_at = cluster.restart("immediate")
        ready_at = wait_until(lambda: servers[1].ready() and time.monotonic(), "/readyz to answer 200 again")
        first_201 = load.first_answer_after(up_at)

        # A longer outage (maintenance, a fail-over): clients get 503s meanwhile and keep retrying.
        load.wait_answers(len(load.answers) + PHASE)
        out_at, back_at = cluster.restart("fast", down_for=OUTAGE_SECONDS)
        back_ready_at = wait_until(lambda: servers[1].ready() and time.monotonic(), "/readyz to answer 200 again")
        back_201 = load.first_answer_after(back_at)
        assert servers[1].alive(), "the server process ended when PostgreSQL restarted"
        load.wait_answers(len(load.answers) + PHASE)
    finally:
        load.stop()
        for server in servers:
            server.stop()
    assert not load.failures, load.failures[:5]

    answered = {a.subject: a.ticket_id for a in load.answers}
    assert len(answered) == len(load.answers)  # each request answered once
    with db.connect("atum_owner", autocommit=True) as owner:
        rows = owner.execute("SELECT subject, id, extract(epoch FROM created_at)::float8 FROM atum.tickets"
                             " WHERE organization_id = %s AND subject LIKE %s", [org.id, f"{SUBJECTS} %"]).fetchall()
        found = {subject: ticket for subject, ticket, _ in rows}
        created_at = {subject: at for subject, _, at in rows}
        duplicates = owner.execute("SELECT subject, count(*) FROM atum.tickets WHERE organization_id = %s"
                                   " GROUP BY subject HAVING count(*) > 1", [org.id]).fetchall()
        created = owner.execute("SELECT count(*) FROM atum.tickets WHERE organization_id = %s AND subject LIKE %s",
                                [org.id, f"{SUBJECTS} %"]).fetchone()
    missing = {s: i for s, i in answered.items() if found.get(s) != i}
    # Answered from the Idempotency-Key: the ticket existed before the attempt that got the 201 was sent.
    from_key = sum(1 for a in load.answers if a.attempts > 1 and created_at.get(a.subject, a.sent_at) < a.sent_at)
    unasked = sorted(set(found) - set(answered))

    figure("api_tickets_answered_201", len(answered))
    figure("api_tickets_found", sum(1 for s, i in answered.items() if found.get(s) == i))
    figure("api_tickets_in_database", created[0] if created else None)
    figure("api_duplicate_subjects", len(duplicates))
    figure("api_requests_sent_again", sum(1 for a in load.answers if a.attempts > 1))
    figure("api_requests_inside_postgresql_at_kill9", held)
    figure("api_retries_answered_from_idempotency_key", from_key)
    figure("api_unanswered_attempts", dict(load.unanswered))
    figure("api_seconds_from_kill9_to_next_201_new_process", seconds(killed_at, after_kill))
    figure("api_seconds_postgresql_down_immediate_stop_to_start", seconds(down_at, up_at))
    figure("api_seconds_from_postgresql_up_to_readyz_200", seconds(up_at, ready_at))
    figure("api_seconds_from_postgresql_up_to_next_201", seconds(up_at, first_201))
    figure("api_seconds_postgresql_away_fast_stop_to_start", seconds(out_at, back_at))
    figure("api_seconds_from_postgresql_back_to_readyz_200", seconds(back_at, back_ready_at))
    figure("api_seconds_from_postgresql_back_to_next_201", seconds(back_at, back_201))

    assert not missing, f"answered 201 but not in the database: {sorted(missing.items())[:10]}"
    assert not duplicates, duplicates[:10]
    assert not unasked, f"tickets nobody was answered for: {unasked[:10]}"
    assert created == (len(answered),)
    # The requests that committed after their server died were answered on a retry, by their key.
    assert from_key >= held
    # The same server process served again within seconds of PostgreSQL's return (pool reconnect).
    for what, back, served in (("an immediate restart", up_at, max(ready_at, first_201)),
                               (f"an outage of {OUTAGE_SECONDS:.0f} s", back_at, max(back_ready_at, back_201))):
        assert served - back <= RECOVERY_LIMIT_SECONDS, f"{served - back:.1f} s to serve again after {what}"
    # The test proved something only if requests were in flight when things broke.
    assert sum(load.unanswered.values()) > 0


def _waiting_on_a_lock(admin: psycopg.Connection[Any]) -> int:
    """Requests of the HTTP server whose transaction waits for a lock."""
    row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND application_name = 'atumdesk-http' AND wait_event_type = 'Lock'").fetchone()
    return int(row[0]) if row else 0


# ---------------------------------------------------------------------------------------------
# The worker
# ---------------------------------------------------------------------------------------------
MAIL = {"ATUM_MAIL_DOMAIN": "helpdesk.test", "ATUM_MAIL_FROM": "helpdesk@helpdesk.test",
        "ATUM_PUBLIC_URL": "https://help.acme.test", "ATUM_SMTP_HOST": "127.0.0.1", "ATUM_SMTP_SECURITY": "none"}


def open_ticket(db: Database, org: Org, subject: str) -> int:
    """A customer opens a ticket (committed): its acknowledgement is queued for the worker."""
    with db.acting_as(org.tokens["customer"]) as conn:
        ticket = conn.execute("SELECT api.ticket_create(%s) AS t",
                              [Jsonb({"subject": subject, "description": "Please help."})]).fetchone()
        conn.commit()
    assert ticket is not None
    return int(ticket["t"]["id"])


def notifications(owner: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """The outbox with each row's mail.send job."""
    with owner.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT o.id, o.state::text, o.message_id, o.attempts, j.state::text AS job_state,"
            " j.attempts AS job_attempts FROM atum.mail_outbox o"
            " JOIN atum.jobs j ON j.kind = 'mail.send' AND (j.payload ->> 'outbox_id')::bigint = o.id"
            " ORDER BY o.id").fetchall()


def worker_sessions(owner: psycopg.Connection[Any]) -> int:
    """Sessions of workers in this database (a killed worker's linger until its backends notice)."""
    row = owner.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND application_name = 'atumdesk-worker'").fetchone()
    return int(row[0]) if row else 0


def test_a_worker_killed_mid_job_loses_nothing_and_a_postgresql_restart_does_not_stop_it(
        cluster: Cluster, figure: Figure) -> None:
    db = cluster.database("atum_durability_worker")
    with db.connect("atum_owner", autocommit=True) as owner:
        org = build_org(owner, "acme")
        owner.execute("DELETE FROM atum.jobs")  # what build_org queued is not what this test looks at
        owner.execute("DELETE FROM atum.mail_outbox")
    for n in range(3):
        open_ticket(db, org, f"Printer {n} is on fire")

    workers: list[WorkerChild] = []
    with HoldingSmtp() as smtp, db.connect("atum_owner", autocommit=True) as owner:
        env = cluster.env(db, **MAIL, ATUM_SMTP_PORT=str(smtp.port))
        try:
            # The first worker claims a notification and hands it to SMTP, which holds it: killed there.
            workers.append(WorkerChild(env))
            assert smtp.holding.wait(60), "no message reached the SMTP server"
            [in_flight] = [r for r in notifications(owner) if r["message_id"] == smtp.held[0]]
            assert (in_flight["state"], in_flight["job_state"]) == ("sending", "running")
            workers[0].kill9()
            # Crash recovery takes a job back once its worker's session is gone (sql/61_jobs.sql).
            wait_until(lambda: worker_sessions(owner) == 0, "the killed worker's sessions to end")

            workers.append(second := WorkerChild(env))
            second.ready()
            rows = wait_until(lambda: _all_sent(owner, 3), "every notification to be sent")
            figure("worker_notifications_queued", 3)
            figure("worker_notifications_sent", sum(1 for r in rows if r["state"] == "sent"))
            figure("worker_messages_answered_250", len(smtp.accepted))
            figure("worker_copies_in_flight_at_the_kill", len(smtp.held))
            assert sorted(smtp.accepted) == sorted(r["message_id"] for r in rows)  # each accepted exactly once
            assert smtp.held == [in_flight["message_id"]]  # the copy in flight: same Message-ID, no other
            assert {r["job_state"] for r in rows} == {"succeeded"}
            assert sorted(r["job_attempts"] for r in rows) == [1, 1, 2]  # the killed one ran again, once
            assert next(r for r in rows if r["id"] == in_flight["id"])["job_attempts"] == 2

            # PostgreSQL restarts under the running worker: it says so, reconnects, carries on.
            down_at, up_at = cluster.restart("immediate")
            lost = second.wait_for(lambda r: str(r.get("message", "")).startswith("lost the database session"),
                                   "the lost session to be logged", RECOVERY_LIMIT_SECONDS)
            second.ready(RECOVERY_LIMIT_SECONDS)
            ready_at = time.monotonic()
            assert ready_at - up_at <= RECOVERY_LIMIT_SECONDS
            assert lost["level"] == "error"
            open_ticket(db, org, "After the restart")
            with db.connect("atum_owner", autocommit=True) as again:  # the test's own session ended too
                wait_until(lambda: _all_sent(again, 4), "the notification after the restart to be sent",
                           RECOVERY_LIMIT_SECONDS)
            sent_at = time.monotonic()
            assert second.alive()
            assert len(smtp.accepted) == 4
            figure("worker_seconds_postgresql_down_immediate_stop_to_start", seconds(down_at, up_at))
            figure("worker_seconds_from_postgresql_up_to_ready", seconds(up_at, ready_at))
            figure("worker_seconds_from_postgresql_up_to_next_mail_sent", seconds(up_at, sent_at))
            assert second.stop() == 0
            assert "Traceback" not in "".join(second.output)
        finally:
            for worker in workers:
                worker.stop()


def _all_sent(owner: psycopg.Connection[Any], count: int) -> list[dict[str, Any]] | None:
    rows = notifications(owner)
    done = len(rows) == count and all(r["state"] == "sent" and r["job_state"] == "succeeded" for r in rows)
    return rows if done else None
