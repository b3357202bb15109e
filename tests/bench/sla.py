"""What the SLA engine costs: the pg_cron sweep over many open tickets, accepting a ticket, and
computing warning and due times in bulk.

On a fresh database: ``organizations`` organizations (Berlin office hours, URGENT 24x7), each with
``tickets / organizations`` open tickets accepted just now in mixed priorities, imported in batches
(the triggers compute their times and arm their timers; the import rate is reported). Then, all
timed inside the server:

1. the sweep with nothing due, repeated (each run its own transaction, as pg_cron runs it);
2. the sweep after one open ticket in a hundred passed a threshold, in three rounds with a
   different hundredth each;
3. a manager accepting NEW tickets one by one (``api.ticket_accept`` as atum_app, under RLS);
4. warning and due times for 100,000 open tickets, as tickets per second.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.rows import dict_row

from atumdesk.migrate import migrate
from atumdesk.settings import Settings
from tests.bench.rls import query

GOAL_IDLE_MS = 10.0
GOAL_CROSSING_MS = 200.0
GOAL_ACCEPT_MS = 1.0
ORGS_PER_BATCH = 100
ROUNDS = 3


def _load(owner: psycopg.Connection[dict[str, Any]], organizations: int, per_organization: int,
          log: Callable[[str], None]) -> dict[str, Any]:
    owner.execute(query("sla_setup"))
    owner.execute(query("sla_organizations"), {"organizations": organizations})
    first, last = (owner.execute("SELECT min(organization_id) AS a, max(organization_id) AS b FROM bench.sla_orgs")
                   .fetchone() or {}).values()
    started = time.monotonic()
    for batch_first in range(first, last + 1, ORGS_PER_BATCH):
        owner.execute(query("sla_open_tickets"), {"per_organization": per_organization, "first": batch_first,
                                                  "last": min(last, batch_first + ORGS_PER_BATCH - 1)})
        log(f"  ... open tickets for organizations up to {min(last, batch_first + ORGS_PER_BATCH - 1) - first + 1:,}")
    seconds = time.monotonic() - started
    owner.execute(query("sla_settle"))
    open_tickets = owner.execute(query("sla_open_count")).fetchone()["open"]  # type: ignore[index]
    return {"organizations": organizations, "open_tickets": open_tickets, "import_seconds": round(seconds, 1),
            "import_tickets_per_second": round(open_tickets / seconds)}


def _sweep(owner: psycopg.Connection[dict[str, Any]], samples: int) -> dict[str, Any]:
    row = owner.execute(query("sla_sweep_timing"), {"samples": samples}).fetchone() or {}
    return {"median_ms": round(float(row["p_median_us"]) / 1000, 3), "max_ms": round(float(row["p_max_us"]) / 1000, 3),
            "recorded": row["p_recorded"]}


def run(settings: Settings, *, tickets: int, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Set up the SLA database and time the sweep, acceptance and bulk due times."""
    migrate(settings, schedule_cron=False)
    organizations = max(1, tickets // 1000)
    with psycopg.connect(settings.conninfo("owner"), row_factory=dict_row, autocommit=True,
                         application_name="atumdesk-bench") as owner, \
         psycopg.connect(settings.conninfo("app"), row_factory=dict_row, autocommit=True,
                         application_name="atumdesk-bench") as app:
        log(f"SLA: {tickets:,} open tickets in {organizations:,} organizations ...")
        load = _load(owner, organizations, max(1, tickets // organizations), log)

        due_before = owner.execute(query("sla_due_now")).fetchone()["due"]  # type: ignore[index]
        idle = _sweep(owner, 200)
        idle.update(open_tickets=load["open_tickets"], due_before=due_before, goal_ms=GOAL_IDLE_MS,
                    passed=due_before == 0 and idle["recorded"] == 0 and idle["median_ms"] < GOAL_IDLE_MS)
        log(f"  sweep, nothing due: median {idle['median_ms']} ms")

        rounds = []
        for round_no in range(ROUNDS):
            crossing = owner.execute(query("sla_cross"), {"round": round_no}).rowcount
            owner.execute(query("sla_settle"))
            result = _sweep(owner, 1)
            result["crossing"] = crossing
            rounds.append(result)
            log(f"  sweep, {crossing:,} crossing: {result['median_ms']} ms, {result['recorded']:,} recorded")
        crossing_ms = statistics.median(r["median_ms"] for r in rounds)
        crossed = {"rounds": rounds, "median_ms": crossing_ms, "goal_ms": GOAL_CROSSING_MS,
                   "passed": crossing_ms < GOAL_CROSSING_MS and all(r["recorded"] == r["crossing"] for r in rounds)}

        new_ids = [r["id"] for r in owner.execute(query("sla_new_tickets"), {"count": 220})]
        token = owner.execute(query("sla_manager_token")).fetchone()["token"]  # type: ignore[index]
        row = app.execute(query("sla_accept_timing"), {"token": token, "ticket_ids": new_ids}).fetchone() or {}
        accept = {"samples": len(new_ids) - 20, "median_ms": round(float(row["p_median_us"]) / 1000, 3),
                  "p95_ms": round(float(row["p_p95_us"]) / 1000, 3), "goal_ms": GOAL_ACCEPT_MS}
        accept["passed"] = accept["median_ms"] < GOAL_ACCEPT_MS
        log(f"  accept: median {accept['median_ms']} ms, p95 {accept['p95_ms']} ms")

        count = min(100_000, load["open_tickets"])
        seconds = float(owner.execute(query("sla_due_rate"), {"tickets": count}).fetchone()["seconds"])  # type: ignore[index]
        due_rate = {"tickets": count, "seconds": round(seconds, 2), "tickets_per_second": round(count / seconds)}
        log(f"  due times: {due_rate['tickets_per_second']:,} tickets/s")
    return {"load": load, "sweep_idle": idle, "sweep_crossing": crossed, "accept": accept, "due_times": due_rate}
