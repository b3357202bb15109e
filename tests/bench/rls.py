"""What row-level security costs: tenant-scoped ticket lists with and without policies.

"With": as ``atum_app``, in a transaction that first presents a session token to
``api.authenticate`` (not timed), then runs the list query with no tenant filter at all, so the
policies alone decide which rows are visible. "Without": the same query as ``atum_owner``, which
bypasses RLS, with the tenant (and for customers the requester) written into the WHERE clause.
Both sides run interleaved, alternating which goes first, after a warm-up, over several
organizations; only the query is timed (execute and fetch, so the client round trip is in both).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from atumdesk.queries import query as _query
from atumdesk.settings import Settings

SQL_PATH = Path(__file__).with_name("bench.sql")
GOAL_RATIO = 1.2


def query(name: str) -> Any:
    """A named block of ``bench.sql``."""
    return _query(name, path=SQL_PATH)


@dataclass(frozen=True)
class Variant:
    """One list query, as the app writes it and as the owner would without policies."""

    name: str
    description: str
    rls_query: str
    owner_query: str
    as_customer: bool


VARIANTS = (
    Variant("staff_list", "staff: latest 50 tickets", "rls_list", "owner_list", False),
    Variant("staff_new", "staff: latest 50 NEW tickets", "rls_list_new", "owner_list_new", False),
    Variant("customer_list", "customer: own latest 50, policy only", "rls_list", "owner_list_customer", True),
    Variant("customer_own", "customer: own latest 50, explicit filter", "rls_list_own", "owner_list_customer",
            True),
)


@dataclass(frozen=True)
class Subject:
    """An organization with a signed-in staff user and customer."""

    organization_id: int
    slug: str
    staff_id: int
    customer_id: int
    tickets: int
    staff_token: str
    customer_token: str


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _subjects(owner: psycopg.Connection[dict[str, Any]], count: int) -> list[Subject]:
    """Pick organizations and users, and sign them in (sessions issued as the owner)."""

    def issue(organization_id: int, user_id: int) -> str:
        row = owner.execute(query("session_issue"), {"organization_id": organization_id, "user_id": user_id})
        return str(row.fetchone()["token"])  # type: ignore[index]  # one row, always

    with owner.transaction():
        return [
            Subject(r["organization_id"], r["slug"], r["staff_id"], r["customer_id"], r["tickets"],
                    issue(r["organization_id"], r["staff_id"]), issue(r["organization_id"], r["customer_id"]))
            for r in owner.execute(query("pick_organizations"), {"count": count}).fetchall()
        ]


def _explain(app: psycopg.Connection[dict[str, Any]], token: str, block: str) -> str:
    with app.transaction():
        app.execute(query("authenticate"), {"token": token})
        rows = app.execute(query(block)).fetchall()
    return "\n".join(next(iter(r.values())) for r in rows)


def _server_side(owner: psycopg.Connection[dict[str, Any]], app: psycopg.Connection[dict[str, Any]],
                 subjects: list[Subject], samples: int = 400, rounds: int = 3) -> dict[str, Any]:
    """Median server-side microseconds of the staff and customer lists, with and without RLS.

    Timed inside a procedure (cached plans, one transaction per sample, no client round trip):
    what the policies add to a query the API runs inside an ``api.*`` function.
    """
    owner.execute(query("server_timing_create"))
    figures: dict[str, dict[str, list[float]]] = {
        "server_staff_list": {"with": [], "without": []},
        "server_customer_own": {"with": [], "without": []},
    }

    def call(conn: psycopg.Connection[dict[str, Any]], token: str | None, org: int | None, user: int | None) -> float:
        row = conn.execute(query("server_timing"), {"token": token, "organization_id": org, "user_id": user,
                                                    "samples": samples}).fetchone()
        return float(row["p_median_us"])  # type: ignore[index]  # CALL returns the INOUT row

    for _ in range(rounds):
        for subject in subjects:
            staff, customer = figures["server_staff_list"], figures["server_customer_own"]
            staff["with"].append(call(app, subject.staff_token, None, None))
            staff["without"].append(call(owner, None, subject.organization_id, None))
            customer["with"].append(call(app, subject.customer_token, None, subject.customer_id))
            customer["without"].append(call(owner, None, subject.organization_id, subject.customer_id))
    result = {}
    for name, sides in figures.items():
        with_us, without_us = statistics.median(sides["with"]), statistics.median(sides["without"])
        ratio = with_us / without_us
        result[name] = {
            "description": ("staff: latest 50 tickets" if "staff" in name else "customer: own latest 50")
                           + ", server-side (cached plan, no round trip)",
            "with_median_ms": round(with_us / 1000, 4),
            "with_p95_ms": round(_percentile(sides["with"], 0.95) / 1000, 4),
            "without_median_ms": round(without_us / 1000, 4),
            "without_p95_ms": round(_percentile(sides["without"], 0.95) / 1000, 4),
            "ratio": round(ratio, 3), "goal_ratio": GOAL_RATIO, "passed": ratio < GOAL_RATIO,
            "samples": samples * rounds * len(subjects),
        }
    return result


def run(
    settings: Settings,
    *,
    iterations: int = 150,
    warmup: int = 15,
    organizations: int = 10,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Time every variant with and without policies; returns figures, ratios and the RLS plans."""
    with psycopg.connect(settings.conninfo("owner"), row_factory=dict_row, autocommit=True,
                         application_name="atumdesk-bench") as owner, \
         psycopg.connect(settings.conninfo("app"), row_factory=dict_row, autocommit=True,
                         application_name="atumdesk-bench") as app:
        subjects = _subjects(owner, organizations)
        demo = next((s for s in subjects if s.slug == "demo"), subjects[0])
        plans = {
            "staff_list": _explain(app, demo.staff_token, "explain_rls_list"),
            "staff_new": _explain(app, demo.staff_token, "explain_rls_list_new"),
            "customer_list": _explain(app, demo.customer_token, "explain_rls_list"),
        }
        for name, text in plans.items():
            log(f"\nEXPLAIN (ANALYZE, BUFFERS) of the RLS query {name!r} in {demo.slug!r}, as atum_app:\n{text}")
        timings: dict[str, dict[str, list[float]]] = {v.name: {"with": [], "without": []} for v in VARIANTS}

        def with_rls(subject: Subject, variant: Variant) -> float:
            with app.transaction():
                app.execute(query("authenticate"),
                            {"token": subject.customer_token if variant.as_customer else subject.staff_token})
                started = time.perf_counter()
                app.execute(query(variant.rls_query)).fetchall()
                return time.perf_counter() - started

        def without_rls(subject: Subject, variant: Variant) -> float:
            params = {"organization_id": subject.organization_id, "user_id": subject.customer_id}
            with owner.transaction():
                started = time.perf_counter()
                owner.execute(query(variant.owner_query), params).fetchall()
                return time.perf_counter() - started

        for iteration in range(warmup + iterations):
            for position, subject in enumerate(subjects):
                for variant in VARIANTS:
                    # alternate which side goes first, so neither always finds the caches warmer
                    first_with = (iteration + position) % 2 == 0
                    sides = [("with", with_rls), ("without", without_rls)]
                    for side, measure in sides if first_with else sides[::-1]:
                        seconds = measure(subject, variant)
                        if iteration >= warmup:
                            timings[variant.name][side].append(seconds * 1000)

        server = _server_side(owner, app, subjects)

    variants: dict[str, Any] = {}
    for variant in VARIANTS:
        with_ms, without_ms = timings[variant.name]["with"], timings[variant.name]["without"]
        ratio = statistics.median(with_ms) / statistics.median(without_ms)
        variants[variant.name] = {
            "description": variant.description,
            "with_median_ms": round(statistics.median(with_ms), 4),
            "with_p95_ms": round(_percentile(with_ms, 0.95), 4),
            "without_median_ms": round(statistics.median(without_ms), 4),
            "without_p95_ms": round(_percentile(without_ms, 0.95), 4),
            "ratio": round(ratio, 3),
            "goal_ratio": GOAL_RATIO,
            "passed": ratio < GOAL_RATIO,
            "samples": len(with_ms),
        }
    variants.update(server)
    return {
        "organizations": [{"slug": s.slug, "tickets": s.tickets} for s in subjects],
        "iterations": iterations,
        "warmup": warmup,
        "variants": variants,
        "plans": plans,
    }
