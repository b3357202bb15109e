"""What the reports cost: one organization with N tickets (default 1,000,000) opened over the last
90 days, every report timed as its manager sees it (``api.report`` as atum_app under RLS), and what
the reports' triggers add to accepting a ticket.

On a fresh database, as the owner: the organization (Berlin time; its SLA policies on a 24x7
calendar, see tests/bench/reports.sql), 8 teams, 50 agents, 1,000 customers; the tickets inserted
set-based with the ticket triggers off (8% open, 2% rejected, 90% resolved or closed; about 3% late
first replies and 4% late resolutions, with their breach events; 2% reopened), then
``atum.reports_rebuild`` computes the report facts and counts, and a vacuum settles the tables.

Timed: each report for the whole 90 days and for the default 30, median of ``RUNS`` runs, each in
its own read-only transaction as the HTTP layer runs it. Then a manager accepting 220 NEW tickets
one by one (the first 20 warm up), with the reports' ticket triggers disabled and enabled: the cost
they add to the latency-critical accept path.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from atumdesk.migrate import migrate
from atumdesk.queries import query as named
from atumdesk.settings import Settings

SQL_PATH = Path(__file__).with_name("reports.sql")
REPORTS = ("backlog", "created-resolved", "sla-compliance", "response-times", "agent-workload", "reopen-rate")
GOAL_MS = 300.0
RUNS = 5
ACCEPTS = 220


def query(name: str) -> Any:
    """A named block of ``reports.sql``."""
    return named(name, SQL_PATH)


def _time_report(app: psycopg.Connection[Any], token: str, name: str, params: dict[str, str]) -> float:
    """Median milliseconds of ``RUNS`` runs (one warm-up first), each its own transaction."""
    samples = []
    for run in range(RUNS + 1):
        with app.transaction():
            app.execute("SELECT api.authenticate(%s)", [token])
            app.execute("SET TRANSACTION READ ONLY")
            started = time.perf_counter()
            app.execute(query("reports_time"), {"name": name, "query": Jsonb(params)}).fetchone()
            if run:
                samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 1)


def _accept(owner: psycopg.Connection[Any], app: psycopg.Connection[Any]) -> dict[str, float]:
    subject = owner.execute(query("reports_new_tickets"), {"count": ACCEPTS}).fetchone() or {}
    row = app.execute(query("reports_accept_timing"), {"token": subject["token"], "ticket_ids": subject["ids"]}
                      ).fetchone() or {}
    return {"median_ms": round(float(row["p_median_us"]) / 1000, 3), "p95_ms": round(float(row["p_p95_us"]) / 1000, 3)}


def run(settings: Settings, *, tickets: int, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Load the reports database and time every report and the accept path."""
    migrate(settings, schedule_cron=False)
    with psycopg.connect(settings.conninfo("owner"), row_factory=dict_row, autocommit=True,
                         application_name="atumdesk-bench") as owner, \
         psycopg.connect(settings.conninfo("app"), row_factory=dict_row, autocommit=True,
                         application_name="atumdesk-bench") as app:
        log(f"reports: {tickets:,} tickets of one organization over 90 days ...")
        owner.execute(query("reports_setup"))
        started = time.monotonic()
        psycopg.ClientCursor(owner).execute(query("reports_tickets"), {"tickets": tickets})
        load_seconds = time.monotonic() - started
        started = time.monotonic()
        facts = owner.execute(query("reports_rebuild")).fetchone()["facts"]  # type: ignore[index]
        rebuild_seconds = time.monotonic() - started
        owner.execute(query("reports_settle"))
        owner.execute(query("reports_settle_facts"))
        log(f"  loaded in {load_seconds:.0f} s; facts of {facts:,} tickets rebuilt in {rebuild_seconds:.0f} s")

        token = owner.execute(query("reports_manager_token")).fetchone()["token"]  # type: ignore[index]
        today = date.today()
        ranges = {"90_days": {"from": str(today - timedelta(days=89)), "to": str(today)}, "30_days": {}}
        reports: dict[str, Any] = {}
        for name in REPORTS:
            reports[name] = {span: _time_report(app, token, name, params) for span, params in ranges.items()}
            reports[name]["passed"] = max(reports[name]["90_days"], reports[name]["30_days"]) < GOAL_MS
            log(f"  {name}: 90 days {reports[name]['90_days']} ms, 30 days {reports[name]['30_days']} ms")

        owner.execute(query("reports_triggers_off"))
        without = _accept(owner, app)
        owner.execute(query("reports_triggers_on"))
        with_triggers = _accept(owner, app)
        log(f"  accept: {without['median_ms']} ms without the reports' triggers, {with_triggers['median_ms']} ms with")
    return {"tickets": tickets, "facts": facts, "load_seconds": round(load_seconds, 1),
            "rebuild_seconds": round(rebuild_seconds, 1), "goal_ms": GOAL_MS, "runs": RUNS, "reports": reports,
            "accept": {"without_report_triggers": without, "with_report_triggers": with_triggers}}
