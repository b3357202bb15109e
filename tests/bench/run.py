"""`make bench`: how fast the demo loads and what row-level security costs, on a throwaway instance.

Run from the repository root as ``.venv/bin/python -m tests.bench.run [--tickets N] [--output PATH]``.
It creates its own PostgreSQL cluster in a temporary directory (durability switched off: these are
CPU figures, not disk figures), migrates two databases, and measures

1. ``atumdesk demo --tickets 100000`` (three organizations), the command as a user runs it;
2. ``atumdesk demo --tickets N`` (default 1,000,000, so 1,000 organizations), also noting when the
   100,000th ticket was committed;
3. the RLS cost on the larger database (see tests/bench/rls.py);
4. the SLA engine on a third database with N open tickets in N/1000 organizations: the sweep with
   nothing due and with 1% crossing a threshold, accepting a ticket, bulk due times
   (see tests/bench/sla.py);
5. the HTTP API at 32 concurrent clients against pgbench calling the same ``api.*`` functions, on a
   fourth database with one organization of min(N, 100,000) tickets (see tests/bench/http.py).

Also (each on a database of its own) mail ingestion, IMAP polling, the web app, backups, and
knowledge base search over 100,000 articles of one organization (see tests/bench/kb.py).

``--only`` runs some of them while developing (``rls`` includes the two demo loads).

A table is printed at the end and the figures are written as JSON (default ``bench-results.json``
at the repository root). ``ATUM_BENCH_TICKETS`` and ``ATUM_BENCH_OUTPUT`` set N and the path when
the options are not given. The instance is stopped and its directory removed in every case.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from atumdesk import PROJECT_ROOT, demo
from atumdesk import settings as settings_mod
from atumdesk.instance import Instance
from atumdesk.migrate import migrate
from atumdesk.settings import APP_ROLE, Settings
from tests.bench import backup as backup_bench
from tests.bench import http, imap, kb, mail, reports, rls, sla, web

PORT = 54329
#: These are CPU benchmarks: nothing needs to survive a crash of the throwaway cluster.
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
SMALL_TICKETS = 100_000
DEFAULT_TICKETS = 1_000_000
GOAL_SMALL_SECONDS = 30.0
GOAL_FULL_SECONDS = 300.0  # "a few minutes"
BENCHMARKS = ("rls", "sla", "http", "mail", "imap", "web", "backup", "kb", "reports")


def _log(message: str) -> None:
    print(message, flush=True)


def _settings(root: Path, dbname: str) -> Settings:
    """Settings for one database of the throwaway instance (socket under root/pg/run)."""
    socket_dir = root / "pg" / "run"
    return settings_mod.load({
        "ATUM_DATA_DIR": str(root),
        "ATUM_PG_PORT": str(PORT),
        "ATUM_DATABASE_URL": make_conninfo(host=str(socket_dir), port=PORT, user=APP_ROLE, dbname=dbname),
    })


def _machine(settings: Settings) -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                if line.startswith("model name")), platform.processor())
    memory = next((line.split(":", 1)[1].strip() for line in _read("/proc/meminfo").splitlines()
                   if line.startswith("MemTotal")), "")
    with psycopg.connect(settings.conninfo("owner")) as conn:
        row = conn.execute(rls.query("server_version")).fetchone()
    return {"nproc": os.cpu_count(), "cpu": cpu, "memory": memory, "platform": platform.platform(),
            "python": platform.python_version(), "postgresql": row[0] if row else None}


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _load(settings: Settings, tickets: int) -> dict[str, Any]:
    """Migrate a fresh database and time ``demo.load`` on it, as the CLI calls it."""
    migrate(settings, schedule_cron=False)
    marks: dict[str, float] = {}

    def on_batch(done: int, seconds: float) -> None:
        if done >= SMALL_TICKETS and "seconds_at_100k" not in marks:
            marks["seconds_at_100k"] = round(seconds, 2)

    started = time.monotonic()
    summary = demo.load(settings, tickets=tickets, progress=sys.stderr.isatty(), on_batch=on_batch,
                        out=io.StringIO())
    seconds = time.monotonic() - started
    return {"tickets": summary.tickets, "organizations": summary.organizations, "users": summary.users,
            "comments": summary.comments, "seconds": round(seconds, 2),
            "tickets_per_second": round(summary.tickets / seconds) if seconds else None, **marks}


def _settle(settings: Settings) -> None:
    """Vacuum the measured tables and checkpoint, so background work does not skew the timings."""
    with psycopg.connect(settings.conninfo("owner"), autocommit=True) as conn:
        conn.execute(rls.query("settle"))
    with psycopg.connect(settings.conninfo("admin"), autocommit=True) as conn:
        conn.execute(rls.query("checkpoint"))


def _remove(root: Path) -> None:
    """Remove the temporary directory, and the cluster folder if instance.py had to relocate it."""
    pg = root / "pg"
    if pg.is_symlink():
        shutil.rmtree(pg.resolve(), ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)


def bench(tickets: int, *, only: Sequence[str] = BENCHMARKS, http_seconds: float = http.SECONDS) -> dict[str, Any]:
    """Run the benchmarks (all, or those in ``only``) on a throwaway instance; returns the JSON document."""
    root = Path(tempfile.mkdtemp(prefix="atumdesk-bench-"))
    root.chmod(0o755)  # the server runs as an unprivileged user that must reach its folder
    instance = Instance(root / "pg", port=PORT, extra_settings=FAST_SETTINGS)
    results: dict[str, Any] = {}
    try:
        instance.init()
        instance.start()
        databases: list[Settings] = []
        if "rls" in only:
            databases.append(_load_and_rls(root, tickets, results))
        if "sla" in only:
            databases.append(_settings(root, "bench_sla"))
            results["sla"] = sla.run(databases[-1], tickets=tickets, log=_log)
        if "http" in only:
            databases.append(_settings(root, "bench_http"))
            results["http"] = http.run(databases[-1], tickets=min(tickets, http.TICKETS), seconds=http_seconds,
                                       log=_log)
        if "mail" in only:
            databases.append(_settings(root, "bench_mail"))
            results["mail"] = mail.run(databases[-1], log=_log)
        if "imap" in only:
            databases.append(_settings(root, "bench_imap"))
            results["imap"] = imap.run(databases[-1], log=_log)
        if "web" in only:
            databases.append(_settings(root, "bench_web"))
            results["web"] = web.run(databases[-1], log=_log)
        if "backup" in only:
            # The large database the RLS benchmark loaded, when there is one: not loaded twice.
            databases.append(databases[0] if "rls" in only else _settings(root, "bench_backup"))
            results["backup"] = backup_bench.run(databases[-1], tickets=tickets, log=_log)
        if "kb" in only:
            databases.append(_settings(root, "bench_kb"))
            results["kb"] = kb.run(databases[-1], log=_log)
        if "reports" in only:
            databases.append(_settings(root, "bench_reports"))
            results["reports"] = reports.run(databases[-1], tickets=tickets, log=_log)
        machine = _machine(databases[0])
    finally:
        try:
            instance.stop()
        finally:
            _remove(root)
    passed = [r["passed"] for k, r in results.items() if k.startswith("demo_load")]
    if "rls" in results:
        passed += [v["passed"] for v in results["rls"]["variants"].values()]
    if "sla" in results:
        passed += [results["sla"][k]["passed"] for k in ("sweep_idle", "sweep_crossing", "accept")]
    if "http" in results:
        for o in results["http"]["operations"].values():
            passed += [o["ratio_passed"], o["p99_passed"]]
        passed.append(results["http"]["server"]["passed"])
    passed += [results[k]["passed"] for k in ("mail", "imap") if k in results]
    if "kb" in results:
        passed.append(results["kb"]["passed"])
    if "reports" in results:
        passed += [r["passed"] for r in results["reports"]["reports"].values()]
    if "web" in results and "skipped" not in results["web"]:
        passed += [results["web"][k]["passed"] for k in ("first_screen", "queue_interactive")]
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "instance_settings": FAST_SETTINGS,
        "requested_tickets": tickets,
        "results": results,
        "goals_met": sum(passed),
        "goals": len(passed),
    }


def _load_and_rls(root: Path, tickets: int, results: dict[str, Any]) -> Settings:
    """The two demo loads, then the RLS benchmark on the larger database (returned)."""
    small_tickets = min(tickets, SMALL_TICKETS)
    small = _settings(root, "bench_small")
    _log(f"loading {small_tickets:,} demo tickets (default organizations) ...")
    results["demo_load_small"] = _load(small, small_tickets)
    results["demo_load_small"].update(goal_seconds=GOAL_SMALL_SECONDS,
                                      passed=results["demo_load_small"]["seconds"] < GOAL_SMALL_SECONDS)
    measured = small
    if tickets > SMALL_TICKETS:
        measured = _settings(root, "bench_full")
        _log(f"loading {tickets:,} demo tickets (default organizations) ...")
        results["demo_load_full"] = _load(measured, tickets)
        results["demo_load_full"].update(goal_seconds=GOAL_FULL_SECONDS,
                                         passed=results["demo_load_full"]["seconds"] < GOAL_FULL_SECONDS)
    _log("measuring the cost of row-level security ...")
    _settle(measured)
    results["rls"] = rls.run(measured, log=_log)
    return measured


def table(document: dict[str, Any]) -> str:
    """The results as a fixed-width table."""
    rows = [("benchmark", "measured", "goal", "")]
    results = document["results"]
    for key in ("demo_load_small", "demo_load_full"):
        if key in results:
            r = results[key]
            rows.append((f"demo load: {r['tickets']:,} tickets, {r['organizations']:,} orgs",
                         f"{r['seconds']:.1f} s", f"< {r['goal_seconds']:.0f} s", "ok" if r["passed"] else "MISSED"))
            if "seconds_at_100k" in r and r["tickets"] > SMALL_TICKETS:
                rows.append(("  ... first 100,000 tickets committed", f"{r['seconds_at_100k']:.1f} s", "", ""))
    for name, v in results.get("rls", {}).get("variants", {}).items():
        rows.append((f"RLS {name}: {v['description']}",
                     f"{v['with_median_ms']:.3f} / {v['without_median_ms']:.3f} ms", "", ""))
        rows.append(("  p95 with / without RLS; ratio of medians",
                     f"{v['with_p95_ms']:.3f} / {v['without_p95_ms']:.3f} ms; {v['ratio']:.2f}x",
                     f"< {v['goal_ratio']}x", "ok" if v["passed"] else "MISSED"))
    if "sla" in results:
        rows.extend(_sla_rows(results["sla"]))
    if "http" in results:
        rows.extend(_http_rows(results["http"]))
    if "mail" in results:
        r = results["mail"]
        rows += [(f"ingest-eml path: {r['messages']:,} messages, parse + sanitise + commit",
                  f"{r['ingest_per_second']:,} msg/s", f">= {r['goal_per_second']}", "ok" if r["passed"] else "MISSED"),
                 ("  parse alone; median / p99 per message",
                  f"{r['parse_per_second']:,} msg/s; {r['median_ms']} / {r['p99_ms']} ms", "", ""),
                 (f"  {r['parallel_organizations']} organizations at once",
                  f"{r['parallel_per_second']:,} msg/s", "", "")]
    if "imap" in results:
        r = results["imap"]
        rows.append((f"IMAP to ticket: {r['messages']:,} messages in Dovecot, one worker",
                     f"{r['messages_per_second']:,} msg/s", f">= {r['goal_per_second']}",
                     "ok" if r["passed"] else "MISSED"))
    if "web" in results:
        r = results["web"]
        if "skipped" in r:
            rows.append(("web app", f"skipped: {r['skipped']}", "", ""))
        else:
            f, q = r["first_screen"], r["queue_interactive"]
            rows += [(f"web: JS and CSS of the first screen, gzipped ({f['files']} files)", f"{f['gzipped_kb']} KB",
                      f"< {f['goal_kb']} KB", "ok" if f["passed"] else "MISSED"),
                     (f"web: navigation to an interactive queue of {q['rows']} tickets, median of {q['runs']}",
                      f"{q['median_ms']} ms", f"< {q['goal_ms']} ms", "ok" if q["passed"] else "MISSED")]
    if "backup" in results:
        r = results["backup"]
        rows += [(f"backup: {r['tickets']:,} tickets, {r['attachment_files']:,} files; archive size",
                  f"{r['backup_seconds']:.1f} s; {r['archive_bytes'] / 1e6:,.0f} MB", "", ""),
                 ("  verification (scratch restore + checksums); restore into a new database",
                  f"{r['verify_seconds']:.1f} s; {r['restore_seconds']:.1f} s", "", "")]
    if "kb" in results:
        r = results["kb"]
        for role in ("customer", "agent"):
            rows.append((f"KB search as {role}: {r['queries']} queries over {r['articles']:,} articles, p95 (median)",
                         f"{r[role]['p95_ms']:.2f} ms ({r[role]['median_ms']:.2f})", f"< {r['goal_p95_ms']:.0f} ms",
                         "ok" if r[role]["p95_ms"] < r["goal_p95_ms"] else "MISSED"))
    if "reports" in results:
        r = results["reports"]
        rows.append((f"reports: {r['tickets']:,} tickets of one organization over 90 days (median of {r['runs']})",
                     "90 days / 30 days", "", ""))
        for name, figures in r["reports"].items():
            rows.append((f"  {name}", f"{figures['90_days']:.1f} / {figures['30_days']:.1f} ms",
                         f"< {r['goal_ms']:.0f} ms", "ok" if figures["passed"] else "MISSED"))
        without, with_triggers = r["accept"]["without_report_triggers"], r["accept"]["with_report_triggers"]
        rows.append(("  accept a ticket without / with the reports' triggers (median)",
                     f"{without['median_ms']:.3f} / {with_triggers['median_ms']:.3f} ms", "", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    machine = document["machine"]
    lines.append(f"\n{machine['nproc']} CPU(s) {machine['cpu']}, {machine['memory']}, PostgreSQL "
                 f"{machine['postgresql']}; goals met: {document['goals_met']}/{document['goals']}")
    return "\n".join(lines)


def _sla_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    def verdict(result: dict[str, Any]) -> str:
        return "ok" if result["passed"] else "MISSED"

    idle, crossing, accept, load = r["sweep_idle"], r["sweep_crossing"], r["accept"], r["load"]
    rounds = crossing["rounds"]
    return [
        (f"SLA sweep, nothing due: {load['open_tickets']:,} open tickets, {load['organizations']:,} orgs",
         f"{idle['median_ms']:.3f} ms", f"< {idle['goal_ms']:.0f} ms", verdict(idle)),
        (f"SLA sweep, {rounds[0]['crossing']:,} crossing (1%), median of {len(rounds)}",
         f"{crossing['median_ms']:.1f} ms", f"< {crossing['goal_ms']:.0f} ms", verdict(crossing)),
        ("accept a ticket (api.ticket_accept, median / p95)", f"{accept['median_ms']:.3f} / {accept['p95_ms']:.3f} ms",
         f"< {accept['goal_ms']:.0f} ms", verdict(accept)),
        ("warning and due times, bulk", f"{r['due_times']['tickets_per_second']:,} tickets/s", "", ""),
        ("import of accepted tickets (times, timers, audit)",
         f"{load['import_tickets_per_second']:,} tickets/s", "", ""),
    ]


def _http_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The HTTP benchmark's rows: per operation the two rates and their ratio, then latencies."""
    rows = [(f"HTTP API vs pgbench, {r['concurrency']} clients, one organization of {r['tickets_before']:,} tickets",
             "HTTP / pgbench", "", "")]
    for o in r["operations"].values():
        h, p = o["http"], o["pgbench"]
        rows += [
            (f"  {o['description']}",
             f"{h['requests_per_second']:,} / {p['transactions_per_second']:,} per s = {o['ratio']:.2f}x",
             f">= {o['goal_ratio']}x", "ok" if o["ratio_passed"] else "MISSED"),
            ("    p50 / p99", f"{h['p50_ms']:.1f} / {h['p99_ms']:.1f} ms ({p['p50_ms']:.1f} / {p['p99_ms']:.1f})",
             f"p99 < {o['goal_p99_ms']:.0f} ms", "ok" if o["p99_passed"] else "MISSED"),
        ]
        if h["errors"] or p["errors"]:
            rows.append(("    errors", f"{h['errors']:,} / {p['errors']:,}", "0", "MISSED"))
    server = r["server"]
    rows.append((f"  server peak memory ({server['processes']} process(es), pool of {server['pool_size']})",
                 f"{server['peak_rss_mb']:.0f} MB", f"< {server['goal_rss_mb']:.0f} MB",
                 "ok" if server["passed"] else "MISSED"))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run, print the table, write the JSON."""
    parser = argparse.ArgumentParser(prog="python -m tests.bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int,
                        default=int(os.environ.get("ATUM_BENCH_TICKETS") or DEFAULT_TICKETS),
                        help="tickets of the large load (env ATUM_BENCH_TICKETS; default 1,000,000)")
    parser.add_argument("--output", type=Path,
                        default=Path(os.environ.get("ATUM_BENCH_OUTPUT") or PROJECT_ROOT / "bench-results.json"),
                        help="where the JSON goes (env ATUM_BENCH_OUTPUT; default bench-results.json)")
    parser.add_argument("--only", action="append", choices=BENCHMARKS,
                        help="run only this benchmark (repeatable; rls includes the demo loads)")
    parser.add_argument("--http-seconds", type=float, default=http.SECONDS,
                        help=f"seconds per HTTP and pgbench run (default {http.SECONDS:.0f})")
    args = parser.parse_args(argv)
    if args.tickets < 1:
        parser.error("--tickets must be at least 1")
    if args.http_seconds < 1:
        parser.error("--http-seconds must be at least 1")
    document = bench(args.tickets, only=args.only or BENCHMARKS, http_seconds=args.http_seconds)
    print()
    print(table(document))
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"figures written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
