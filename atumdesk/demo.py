"""`atumdesk demo`: organizations, people and realistic tickets to try ATUM DESK with.

The data is generated inside PostgreSQL, set-based, by the named statements of ``demo.sql``, and
written as the owner through the real tables, so the triggers run exactly as for any other writer
(ticket numbers, audit trail). Python only plans who gets how much and drives the batches.

Transactions: organizations are created in small groups, each group in one transaction together
with its users, teams, categories and tags, so an interrupted load never leaves an organization
half set up. Tickets (with their comments and tags) follow in batches of at most
``BATCH_TICKETS``, each committed on its own: an interrupted load keeps complete organizations
with fewer tickets. Nothing is created before the showcase organization ``demo`` is committed, so
after an interruption a re-run refuses (or, with ``--if-empty``, keeps what is there).

Two connections ("lanes", see ``LANES``) load at once, each its own share of the organizations.

Reproducible: the plan comes from a seeded ``random.Random`` and every transaction starts with
``setseed()``, so the same arguments give the same organizations, people and tickets (dated
relative to the moment of the load).
"""

from __future__ import annotations

import math
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, LiteralString, TextIO

import psycopg
from tqdm import tqdm

from atumdesk import demo_kb
from atumdesk.db import connect, refusal
from atumdesk.errors import AtumError
from atumdesk.passwords import hash_password
from atumdesk.queries import query as _query
from atumdesk.settings import Settings

SQL_PATH = Path(__file__).with_name("demo.sql")
Conn = psycopg.Connection[dict[str, Any]]
APPLICATION_NAME = "atumdesk-demo"

DEMO_SLUG = "demo"
DEMO_NAME = "Demo Company"
DEMO_TIME_ZONE = "Europe/Berlin"
DEMO_PREFIX = "DEMO"
DEMO_PASSWORD = "demo-password"
DEMO_ROLES = ("admin", "manager", "agent", "customer")

#: Up to this many tickets, three organizations; above it, one organization per 1,000 tickets.
SMALL_LOAD = 100_000
TICKETS_PER_ORGANIZATION = 1_000
DEFAULT_ORGANIZATIONS = 3
#: Tickets per statement (and transaction): big enough that per-statement costs vanish, small
#: enough that a batch's audit payload and sort stay in memory.
BATCH_TICKETS = 10_000
#: At most this many tickets of one organization per transaction. The numbering trigger updates the
#: organization's counter row once per ticket; the versions one transaction leaves behind cannot be
#: pruned before it ends, and every update walks them, so the cost grows with the square of this.
ORG_SLICE_TICKETS = 1_000
#: Organizations set up per transaction.
ORG_GROUP = 25
#: Connections loading at once, each with its own organizations. Per organization the work is
#: serial (its audit chain head and ticket counter are locked until commit), but organizations are
#: independent, and the audit trigger keeps a server core busy per connection. Fixed rather than
#: taken from the CPU count, so that the same arguments give the same data on every machine.
LANES = 2
SEED = 20_240_501

_COMPANY_WORDS = (
    "Northwind", "Bluefin", "Silverline", "Brightwater", "Ironbridge", "Redwood", "Greenfield",
    "Lakeside", "Summit", "Harbor", "Pinecrest", "Stonegate", "Riverbend", "Oakridge", "Clearview",
    "Highland", "Sunfield", "Westport", "Eastgate", "Maple", "Falcon", "Copperleaf", "Granite",
    "Meridian", "Evergreen",
)  # fmt: skip
_COMPANY_TRADES = (
    "Logistics", "Dental", "Consulting", "Foods", "Legal", "Engineering", "Media", "Insurance",
    "Hotels", "Clinics", "Software", "Retail", "Architects", "Energy", "Bakery", "Realty",
    "Pharma", "Textiles", "Robotics", "Travel",
)  # fmt: skip
_COMPANY_PLACES = (
    "Berlin", "Hamburg", "Munich", "Vienna", "Zurich", "London", "Dublin", "Amsterdam", "Paris",
    "Lyon", "Madrid", "Lisbon", "Milan", "Prague", "Warsaw", "Stockholm", "Oslo", "Toronto",
    "Boston", "Austin",
)  # fmt: skip
_LEGAL_FORMS = ("GmbH", "Ltd", "Inc.", "AG", "B.V.", "S.A.", "LLC", "KG", "Oy", "AB")
_TIME_ZONES = (
    "Europe/Berlin", "Europe/London", "Europe/Paris", "Europe/Vienna", "Europe/Amsterdam",
    "Europe/Madrid", "Europe/Stockholm", "America/New_York", "America/Chicago", "America/Toronto",
    "Asia/Tokyo", "Australia/Sydney",
)  # fmt: skip


def query(name: str) -> LiteralString:
    """A named block of ``demo.sql``."""
    return _query(name, path=SQL_PATH)


@dataclass(frozen=True)
class OrgPlan:
    """One organization to create and how much to put in it."""

    name: str
    slug: str
    time_zone: str
    prefix: str
    tickets: int
    agents: int
    customers: int


@dataclass
class Summary:
    """What a load created, and how long it took."""

    organizations: int = 0
    users: int = 0
    tickets: int = 0
    comments: int = 0
    tags: int = 0
    seconds: float = 0.0
    skipped: bool = False


def default_organizations(tickets: int) -> int:
    """Three organizations for small loads; one per 1,000 tickets above 100,000."""
    if tickets <= SMALL_LOAD:
        return DEFAULT_ORGANIZATIONS
    return math.ceil(tickets / TICKETS_PER_ORGANIZATION)


def _company_names(count: int, rng: random.Random) -> Iterator[tuple[str, str, str]]:
    """(name, slug, ticket prefix) of ``count`` fictitious companies, all slugs distinct."""
    pairs = [(w, t) for w in _COMPANY_WORDS for t in _COMPANY_TRADES]
    rng.shuffle(pairs)
    places = (None, *_COMPANY_PLACES)
    for i in range(count):
        word, trade = pairs[i % len(pairs)]
        place = places[(i // len(pairs)) % len(places)]
        lap = i // (len(pairs) * len(places))  # beyond 8,400 companies, number them
        name = " ".join(filter(None, (word, trade, place, str(lap + 1) if lap else None,
                                      _LEGAL_FORMS[(i * 7) % len(_LEGAL_FORMS)])))
        slug = "-".join(filter(None, (word, trade, place, str(lap + 1) if lap else None))).lower()
        yield name, slug, (word[:3] + trade[0]).upper()


def _staffing(tickets: int) -> tuple[int, int]:
    """(agents, customers) for an organization with this many tickets over 90 days."""
    agents = min(40, max(3, round(tickets / 120)))
    customers = min(4000, max(10, round(tickets / 8)))
    return agents, customers


def plan(tickets: int, organizations: int | None = None) -> list[OrgPlan]:
    """The organizations of a load: ``demo`` first (the largest share), then other companies.

    Tickets are shared out by deterministic weights: the other organizations between a third and
    three times an average share (real desks differ in size); the showcase twice an average share,
    and at least half of all tickets when there are only a few organizations (the default three).
    """
    count = organizations if organizations is not None else default_organizations(tickets)
    if count < 1:
        raise AtumError("at least one organization is needed")
    rng = random.Random(SEED)
    others = [min(3.0, max(0.3, rng.lognormvariate(0, 0.5))) for _ in range(count - 1)]
    weights = [max(2.0, sum(others)) if count <= DEFAULT_ORGANIZATIONS else 2.0, *others]
    total = sum(weights)
    exact = [tickets * w / total for w in weights]
    shares = [math.floor(x) for x in exact]
    # largest remainders get the tickets rounding left over, so the shares add up exactly
    for i in sorted(range(count), key=lambda j: exact[j] - shares[j], reverse=True)[: tickets - sum(shares)]:
        shares[i] += 1
    names = _company_names(count - 1, rng)
    plans = [OrgPlan(DEMO_NAME, DEMO_SLUG, DEMO_TIME_ZONE, DEMO_PREFIX, shares[0], *_staffing(shares[0]))]
    for share, (name, slug, prefix) in zip(shares[1:], names, strict=True):
        plans.append(OrgPlan(name, slug, rng.choice(_TIME_ZONES), prefix, share, *_staffing(share)))
    return plans


def _batches(orgs: list[tuple[int, int]]) -> Iterator[list[tuple[int, int, int, int]]]:
    """Slices (org id, first k, last k, org total) grouped into batches of at most BATCH_TICKETS.

    A batch holds at most one slice per organization (ORG_SLICE_TICKETS at most): when an
    organization has more tickets, the batch ends after its slice and the next one continues it.
    """
    batch: list[tuple[int, int, int, int]] = []
    size = 0
    for org_id, total in orgs:
        k = 1
        while k <= total:
            last = min(total, k + min(ORG_SLICE_TICKETS, BATCH_TICKETS - size) - 1)
            batch.append((org_id, k, last, total))
            size += last - k + 1
            k = last + 1
            if size >= BATCH_TICKETS or k <= total:
                yield batch
                batch, size = [], 0
    if batch:
        yield batch


def _lanes(plans: list[OrgPlan], lanes: int) -> list[list[int]]:
    """Indexes into ``plans`` shared out over ``lanes`` connections with about equal ticket counts.

    Biggest organizations first, each to the lane with the least work so far; within a lane the
    plan's order is kept, so the showcase organization is created first.
    """
    load = [0] * lanes
    owner: dict[int, int] = {}
    for i in sorted(range(len(plans)), key=lambda j: (-plans[j].tickets - plans[j].customers, j)):
        lane = min(range(lanes), key=lambda n: (load[n], n))
        owner[i] = lane
        load[lane] += plans[i].tickets + plans[i].customers
    return [[i for i in range(len(plans)) if owner[i] == lane] for lane in range(lanes)]


def _seed(*parts: int) -> float:
    """A setseed() argument (between 0 and 1) derived from the run's seed and a position."""
    value = SEED
    for part in parts:
        value = (value * 1_000_003 + part) % 2_147_483_647
    return value / 2_147_483_647


def _connect(settings: Settings) -> Conn:
    return connect(settings.conninfo("owner"), "the owner (ATUM_OWNER_DATABASE_URL)", dict_rows=True,
                   application_name=APPLICATION_NAME)


def _db_error(exc: psycopg.Error) -> AtumError:
    return refusal(exc, prefix="demo data not loaded: ")


def load(
    settings: Settings,
    *,
    tickets: int,
    organizations: int | None = None,
    if_empty: bool = False,
    progress: bool = True,
    on_batch: Callable[[int, float], None] | None = None,
    out: TextIO | None = None,
) -> Summary:
    """Create the demo organizations, their people and ``tickets`` tickets; print the logins.

    ``if_empty``: when an organization ``demo`` exists, say so and do nothing (otherwise that is an
    error and nothing is created). ``on_batch(tickets_so_far, seconds_so_far)`` is called after each
    committed ticket batch (benchmarks use it). Output goes to ``out`` (default standard output),
    the progress bars to standard error.
    """
    out = out if out is not None else sys.stdout
    if tickets < 0:
        raise AtumError("the number of tickets cannot be negative")
    plans = plan(tickets, organizations)
    started = time.monotonic()
    summary = Summary()
    with _connect(settings) as conn:
        try:
            taken = [r["slug"] for r in conn.execute(query("demo_slugs_taken"), {"slugs": [DEMO_SLUG]})]
            if taken:
                if if_empty:
                    print(f"organization {DEMO_SLUG!r} exists already: demo data kept "
                          f"(sign in as admin@{DEMO_SLUG}.example, password {DEMO_PASSWORD})", file=out)
                    summary.skipped = True
                    return summary
                raise AtumError(f"an organization with slug {DEMO_SLUG!r} exists already: demo data is "
                                "loaded (use --if-empty to accept that, or load into an empty database)")
            slugs = [p.slug for p in plans]
            taken = [r["slug"] for r in conn.execute(query("demo_slugs_taken"), {"slugs": slugs})]
            if taken:
                raise AtumError(f"organization slug(s) {', '.join(taken[:3])} are taken: "
                                "load the demo into an empty database")
            conn.commit()
        except psycopg.Error as exc:
            raise _db_error(exc) from None
        _Loader(settings, plans, progress, summary, started, on_batch).run()
        try:
            _knowledge_base(conn)
            conn.execute(query("demo_analyze"))
            counts = conn.execute(query("demo_counts"), {"slugs": [p.slug for p in plans]}).fetchone()
            conn.commit()
        except psycopg.Error as exc:
            raise _db_error(exc) from None
    assert counts is not None
    summary.users = counts["users"]
    summary.seconds = time.monotonic() - started
    _print_summary(summary, plans, out)
    return summary


def _knowledge_base(conn: Conn) -> None:
    """The showcase organization's knowledge base (atumdesk/demo_kb.py)."""
    from api.kb_markdown import render  # the API's renderer: demo articles look as staff's would

    categories: dict[str, int] = {}
    for position, (name, description) in enumerate(demo_kb.CATEGORIES):
        row = conn.execute(query("demo_kb_category"), {"slug": DEMO_SLUG, "name": name, "description": description,
                                                       "position": position}).fetchone()
        assert row is not None
        categories[name] = row["id"]
    for article in demo_kb.ARTICLES:
        conn.execute(query("demo_kb_article"), {
            "slug": DEMO_SLUG, "category_id": categories[article.category], "title": article.title,
            "body": article.body, "body_html": render(article.body),
            "state": "published" if article.published else "draft", "public": article.public})


class _Loader:
    """Runs the lanes: one thread and one owner connection each, sharing the progress bars."""

    def __init__(self, settings: Settings, plans: list[OrgPlan], progress: bool, summary: Summary,
                 started: float, on_batch: Callable[[int, float], None] | None) -> None:
        self.settings = settings
        self.plans = plans
        self.summary = summary
        self.started = started
        self.on_batch = on_batch
        self.as_of = datetime.now(UTC)
        # argon2 is slow on purpose: hash once, every demo user gets the same string
        self.password_hash = hash_password(DEMO_PASSWORD)
        self.stop = threading.Event()
        # the other lanes wait for the showcase organization: nothing exists without it
        self.demo_committed = threading.Event()
        self.lock = threading.Lock()
        self.connections: list[Conn] = []
        # One bar, over tickets; while organizations are being set up, it says how far that is.
        self.bar = tqdm(total=sum(p.tickets for p in plans), unit="ticket", unit_scale=True, desc="tickets",
                        disable=not progress, file=sys.stderr, dynamic_ncols=True)

    def run(self) -> None:
        """Load every lane; on an error or Ctrl-C, cancel the others' statements and re-raise."""
        lanes = [lane for lane in _lanes(self.plans, LANES) if lane]
        try:
            with ThreadPoolExecutor(max_workers=len(lanes), thread_name_prefix="demo-lane") as pool:
                futures = [pool.submit(self._lane, number, lane) for number, lane in enumerate(lanes)]
                try:
                    for future in as_completed(futures):
                        future.result()
                except BaseException:
                    self.stop.set()
                    with self.lock:
                        for conn in self.connections:
                            if not conn.closed:
                                conn.cancel_safe()
                    raise
        finally:
            self.bar.close()

    def _lane(self, lane: int, indexes: list[int]) -> None:
        plans = [self.plans[i] for i in indexes]
        if all(p.slug != DEMO_SLUG for p in plans):
            while not self.demo_committed.wait(0.05):
                if self.stop.is_set():
                    raise AtumError("demo load interrupted")
        with _connect(self.settings) as conn:
            with self.lock:
                self.connections.append(conn)
            try:
                org_ids = self._organizations(conn, lane, plans)
                self._tickets(conn, lane, list(zip(org_ids, (p.tickets for p in plans), strict=True)))
            except psycopg.Error as exc:
                if self.stop.is_set():
                    raise AtumError("demo load interrupted") from None
                raise _db_error(exc) from None

    def _organizations(self, conn: Conn, lane: int, plans: list[OrgPlan]) -> list[int]:
        """Organizations with users, teams, categories and tags; ORG_GROUP of them per transaction."""
        ids: list[int] = []
        for start in range(0, len(plans), ORG_GROUP):
            if self.stop.is_set():
                raise AtumError("demo load interrupted")
            group = plans[start:start + ORG_GROUP]
            with conn.transaction():
                conn.execute(query("demo_setseed"), {"seed": _seed(lane, 0, start)})
                rows = conn.execute(query("demo_orgs_create"), {
                    "names": [p.name for p in group], "slugs": [p.slug for p in group],
                    "time_zones": [p.time_zone for p in group]}).fetchall()
                group_ids = [r["id"] for r in rows]
                conn.execute(query("demo_orgs_prefix"), {
                    "org_ids": group_ids, "prefixes": [p.prefix for p in group], "as_of": self.as_of})
                conn.execute(query("demo_users_create"), {
                    "org_ids": group_ids, "slugs": [p.slug for p in group],
                    "agents": [p.agents for p in group], "customers": [p.customers for p in group],
                    "password_hash": self.password_hash, "as_of": self.as_of})
                conn.execute(query("demo_config_create"), {"org_ids": group_ids, "as_of": self.as_of})
                conn.execute(query("demo_team_members_create"), {"org_ids": group_ids})
            ids.extend(group_ids)
            if any(p.slug == DEMO_SLUG for p in group):
                self.demo_committed.set()
            with self.lock:
                self.summary.organizations += len(group)
                done = self.summary.organizations
                self.bar.set_postfix_str(f"organizations {done:,}/{len(self.plans):,}" if done < len(self.plans)
                                         else "", refresh=True)
        return ids

    def _tickets(self, conn: Conn, lane: int, orgs: list[tuple[int, int]]) -> None:
        """Tickets with their comments and tags, one committed transaction per batch."""
        for number, batch in enumerate(_batches(orgs), start=1):
            if self.stop.is_set():
                raise AtumError("demo load interrupted")
            org_ids, k_from, k_to, k_total = (list(column) for column in zip(*batch, strict=True))
            with conn.transaction():
                conn.execute(query("demo_setseed"), {"seed": _seed(lane, 1, number)})
                row = conn.execute(query("demo_tickets_create"), {
                    "org_ids": org_ids, "k_from": k_from, "k_to": k_to, "k_total": k_total,
                    "as_of": self.as_of}).fetchone()
            assert row is not None
            with self.lock:
                self.summary.tickets += row["tickets"]
                self.summary.comments += row["comments"]
                self.summary.tags += row["tags"]
                self.bar.update(row["tickets"])
                if self.on_batch is not None:
                    self.on_batch(self.summary.tickets, time.monotonic() - self.started)


def _print_summary(summary: Summary, plans: list[OrgPlan], out: TextIO) -> None:
    print(f"demo data loaded in {summary.seconds:.1f} s: {summary.organizations:,} organization(s), "
          f"{summary.users:,} users, {summary.tickets:,} tickets, {summary.comments:,} comments", file=out)
    print(f"sign in to organization {DEMO_SLUG!r} ({DEMO_NAME}) with password {DEMO_PASSWORD}:", file=out)
    for role in DEMO_ROLES:
        print(f"  {role + '@' + DEMO_SLUG + '.example':<26} {role}", file=out)
    if len(plans) > 1:
        other = plans[1].slug
        print(f"other organizations have the same logins at their own domain, e.g. admin@{other}.example "
              f"in {other!r}", file=out)
