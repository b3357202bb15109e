"""Knowledge base search over 100,000 articles of one organization: the p95 of a few hundred
realistic queries through ``api.kb_search``, as a customer (public published articles, by policy)
and as an agent (everything), with ranking and highlighted snippets. Goal: p95 under 20 ms.

The articles are generated in SQL from word lists (help-desk topics, actions, symptoms, and a long
tail of ordinary words drawn with a skewed distribution, so that some words are common and most are
rare, as in real text), with the title and body search vectors computed by the same trigger as in
production. Each query runs in a transaction that first presents a session token to
``api.authenticate`` (not timed); the call and the fetch of its JSON are timed.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from atumdesk.migrate import migrate
from atumdesk.queries import query as _query
from atumdesk.settings import Settings

SQL_PATH = Path(__file__).with_name("kb.sql")

ARTICLES = 100_000
QUERIES = 300
GOAL_P95_MS = 20.0
BATCH = 10_000

SUBJECTS = ["printer", "vpn", "password", "laptop", "email", "calendar", "wifi", "monitor", "keyboard", "mouse",
            "headset", "webcam", "docking station", "projector", "phone", "badge", "account", "licence", "backup",
            "file share", "intranet", "browser", "spreadsheet", "invoice", "payroll", "expense report", "timesheet",
            "meeting room", "video call", "chat", "mailbox", "shared drive", "tablet", "scanner", "toner",
            "authenticator", "certificate", "firewall", "antivirus", "database", "report", "dashboard", "server"]
ACTIONS = ["reset", "install", "configure", "connect", "update", "replace", "request", "troubleshoot", "fix",
           "enable", "disable", "share", "synchronise", "restore", "remove", "set up", "order", "renew",
           "unlock", "export", "import", "print", "book", "migrate", "archive"]
SYMPTOMS = ["not working", "is slow", "shows offline", "gives an error", "crashes", "freezes", "disconnects",
            "jams", "will not start", "is locked", "cannot sign in", "keeps asking for a password",
            "does not sync", "is missing", "prints blank pages", "has no sound", "is full", "has expired"]
CONTEXTS = ["from home", "on a Mac", "on Windows", "on Android", "on iPhone", "in the office", "after the update",
            "for new employees", "for managers", "while travelling", "in the meeting room", "on the second floor"]
FILLER = ["the", "a", "to", "of", "and", "in", "for", "on", "with", "your", "you", "is", "it", "this", "that", "be",
          "can", "if", "are", "or", "by", "from", "at", "when", "not", "as", "your", "click", "open", "select",
          "choose", "then", "after", "before", "page", "menu", "settings", "button", "window", "screen", "again",
          "please", "team", "colleague", "manager", "service", "desk", "help", "support", "ticket", "request", "user",
          "device", "computer", "system", "network", "connection", "access", "permission", "group", "folder",
          "document", "file", "message", "mail", "address", "number", "code", "link", "website", "application",
          "version", "update", "download", "upload", "install", "restart", "sign", "login", "logout", "profile",
          "option", "field", "form", "list", "table", "column", "row", "value", "name", "date", "time", "day", "week",
          "month", "year", "hour", "minute", "office", "building", "floor", "room", "desk", "location", "country",
          "region", "language", "currency", "amount", "total", "budget", "cost", "price", "approval", "review",
          "check", "confirm", "verify", "test", "error", "warning", "problem", "issue", "cause", "solution", "step",
          "guide", "instruction", "note", "tip", "information", "policy", "rule", "security", "privacy", "data",
          "storage", "space", "quota", "limit", "size", "format", "type", "default", "custom", "automatic", "manual",
          "daily", "weekly", "monthly", "first", "last", "next", "previous", "new", "old", "current", "other", "same",
          "different", "important", "urgent", "normal", "low", "high", "quick", "easy", "simple", "complete", "full",
          "partial", "temporary", "permanent"]


def _queries(rng: random.Random, count: int) -> list[str]:
    """What people type: a topic, an action and a topic, a symptom, half-typed words."""
    out = []
    for i in range(count):
        subject = rng.choice(SUBJECTS)
        kind = i % 6
        if kind == 0:
            out.append(subject)
        elif kind == 1:
            out.append(f"{rng.choice(ACTIONS)} {subject}")
        elif kind == 2:
            out.append(f"{subject} {rng.choice(SYMPTOMS)}")
        elif kind == 3:
            out.append(f"{rng.choice(ACTIONS)} {subject[:max(3, len(subject) - 2)]}")  # still typing
        elif kind == 4:
            out.append(f"my {subject} {rng.choice(SYMPTOMS)} {rng.choice(CONTEXTS)}")
        else:
            out.append(f"{subject} {rng.choice(FILLER)}")
    return out


def query(name: str) -> Any:
    """A named block of ``kb.sql``."""
    return _query(name, path=SQL_PATH)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _time(settings: Settings, token: str, queries: list[str]) -> list[float]:
    timings = []
    with psycopg.connect(settings.database_url) as conn:
        for text in queries:  # a warm-up pass, then the measured one
            conn.execute(query("authenticate"), [token])
            conn.execute(query("search"), [Jsonb({"q": text})]).fetchone()
            conn.rollback()
        for text in queries:
            conn.execute(query("authenticate"), [token])
            started = time.perf_counter()
            conn.execute(query("search"), [Jsonb({"q": text})]).fetchone()
            timings.append((time.perf_counter() - started) * 1000)
            conn.rollback()
    return timings


def run(settings: Settings, *, articles: int = ARTICLES, queries: int = QUERIES,
        log: Callable[[str], None] = print) -> dict[str, Any]:
    """Migrate a fresh database, generate the articles, time the searches; the figures."""
    migrate(settings, schedule_cron=False)
    with psycopg.connect(settings.conninfo("owner"), autocommit=True) as owner:
        org = owner.execute(query("org_create")).fetchone()[0]  # type: ignore[index]
        users = {role: owner.execute(query("user_create"), {"email": f"{role}@kb-bench.example", "role": role,
                                                            "name": role.title()}).fetchone()[0]  # type: ignore[index]
                 for role in ("agent", "customer")}
        category = owner.execute(query("category_create"), {"org": org}).fetchone()[0]  # type: ignore[index]
        log(f"generating {articles:,} knowledge base articles ...")
        started = time.monotonic()
        words = {"subjects": SUBJECTS, "actions": ACTIONS, "symptoms": SYMPTOMS, "contexts": CONTEXTS,
                 "filler": FILLER}
        for first in range(1, articles + 1, BATCH):
            owner.execute(query("articles_generate"), {**words, "org": org, "category": category,
                                                       "author": users["agent"], "first": first,
                                                       "last": min(first + BATCH - 1, articles)})
        load_seconds = time.monotonic() - started
        owner.execute(query("vacuum"))
        issued = {role: owner.execute(query("session_issue"), {"org": org, "user": user}).fetchone()
                  for role, user in users.items()}
        tokens = {role: str(row[0]) for role, row in issued.items() if row}
    sample = _queries(random.Random(7), queries)
    result: dict[str, Any] = {"articles": articles, "queries": len(sample), "load_seconds": round(load_seconds, 1),
                              "goal_p95_ms": GOAL_P95_MS}
    for role in ("customer", "agent"):
        log(f"searching as {role}: {len(sample)} queries ...")
        timings = _time(settings, tokens[role], sample)
        result[role] = {"median_ms": round(statistics.median(timings), 2),
                        "p95_ms": round(_percentile(timings, 0.95), 2), "max_ms": round(max(timings), 2)}
    result["passed"] = all(result[role]["p95_ms"] < GOAL_P95_MS for role in ("customer", "agent"))
    return result
