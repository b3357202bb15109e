"""What inbound mail costs: messages ingested per second through jobs.mail_ingest.ingest, the path
IMAP polling takes (parse, sanitise, store attachments, one transaction with the audit trail, COMMIT).

On a fresh database: one organization, a generated corpus of ``messages`` messages (default 1,000)
from 200 senders — new requests in plain text and in HTML with an inline image and a remote
tracking pixel, replies by subject token and by In-Reply-To with quoted history, out-of-office
replies in a thread, newsletters, and every tenth message a second delivery of an earlier one (the
IMAP crash case). The corpus is generated before the clock starts; then, timed:

1. parsing and sanitising alone (no database), as messages per second;
2. ingesting every message, one transaction each, as one poller does, as messages per second
   (goal: at least 200), with the share of each disposition;
3. the same corpus into four organizations at once, a connection each (pollers of different
   organizations' mailboxes run side by side; within one organization writes queue on its audit
   chain, so this is how the worker scales).

Run alone as ``.venv/bin/python -m tests.bench.mail`` (a throwaway instance, like tests/bench/run.py).
"""

from __future__ import annotations

import random
import shutil
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

import psycopg

from atumdesk.migrate import migrate
from atumdesk.settings import Settings
from jobs.mail_ingest import ingest
from jobs.mail_parse import ParseOptions, parse

MESSAGES = 1000
PARALLEL = 4
SENDERS = 200
GOAL_PER_SECOND = 200.0
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
WORDS = ("printer", "invoice", "password", "VPN", "laptop", "monitor", "access", "report", "error", "update",
         "cannot", "since", "Monday", "please", "urgent", "again", "the", "with", "after", "login")


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def _message(rng: random.Random, n: int, earlier: list[tuple[str, int, str]]) -> tuple[bytes, str]:
    """Message number n, and its Message-ID. ``earlier``: (message id, ticket number, sender) of
    new requests so far (ticket numbers follow the order of creation)."""
    sender = f"customer{rng.randrange(SENDERS)}@customer{rng.randrange(20)}.example"
    msg = EmailMessage(policy=SMTP)
    message_id = f"<bench.{n}.{rng.getrandbits(48):x}@mail.customer.example>"
    msg["Message-ID"] = message_id
    msg["To"] = "support@bench.example"
    kind = rng.random()
    body = "\n".join(_sentence(rng, rng.randrange(6, 20)) for _ in range(rng.randrange(2, 8)))
    if earlier and kind < 0.30:  # a reply by token, with quoted history and a signature
        mid, number, sender = rng.choice(earlier)
        msg["From"] = sender
        msg["Subject"] = f"Re: [ATUM-{number}] " + _sentence(rng, 4)
        msg.set_content(body + f"\n\n-- \n{sender}\n\nOn Mon, 2 Mar 2026, Helpdesk <support@bench.example> wrote:\n"
                        + "\n".join("> " + _sentence(rng, 10) for _ in range(10)))
    elif earlier and kind < 0.40:  # a reply by In-Reply-To
        mid, number, sender = rng.choice(earlier)
        msg["From"] = sender
        msg["Subject"] = "Re: " + _sentence(rng, 4)
        msg["In-Reply-To"] = mid
        msg["References"] = mid
        msg.set_content(body)
    elif earlier and kind < 0.45:  # an out-of-office reply in a thread
        mid, number, sender = rng.choice(earlier)
        msg["From"] = sender
        msg["Subject"] = "Automatic reply: " + _sentence(rng, 3)
        msg["Auto-Submitted"] = "auto-replied"
        msg["In-Reply-To"] = mid
        msg.set_content("I am out of the office until Monday.")
    elif kind < 0.50:  # a newsletter
        msg["From"] = "news@shop.example"
        msg["Subject"] = "Our offers this week"
        msg["List-Unsubscribe"] = "<mailto:leave@shop.example>"
        msg.set_content(body)
    else:  # a new request, every third one in HTML with an inline screenshot and a tracking pixel
        msg["From"] = f"Customer {n} <{sender}>"
        msg["Subject"] = _sentence(rng, rng.randrange(3, 8))
        msg.set_content(body)
        if n % 3 == 0:
            paragraphs = "".join(f"<p>{line}</p>" for line in body.split("\n"))
            msg.add_alternative(f'<html><body>{paragraphs}<img src="cid:shot{n}@local">'
                                f'<img src="https://tracker.example/p.gif?id={n}" onload="x()"></body></html>',
                                subtype="html")
            msg.get_payload()[1].add_related(PNG + n.to_bytes(4, "big"), maintype="image", subtype="png",
                                             cid=f"<shot{n}@local>", filename="screenshot.png")
        earlier.append((message_id, len(earlier) + 1, sender))
    return msg.as_bytes(), message_id


def corpus(count: int, seed: int = 20260301) -> list[bytes]:
    """``count`` messages as the bench ingests them, every tenth a repeat of an earlier one."""
    rng = random.Random(seed)
    earlier: list[tuple[str, int, str]] = []
    out: list[bytes] = []
    for n in range(count):
        if out and n % 10 == 9:
            out.append(rng.choice(out))
        else:
            out.append(_message(rng, n, earlier)[0])
    return out


def run(settings: Settings, log: Callable[[str], None] = print, *, messages: int = MESSAGES) -> dict[str, Any]:
    """Migrate the database of ``settings``, ingest a generated corpus and time it."""
    migrate(settings, schedule_cron=False)
    log(f"mail: generating {messages:,} messages ...")
    raws = corpus(messages)
    options = ParseOptions.from_settings(settings)
    started = time.perf_counter()
    for raw in raws:
        parse(raw, options)
    parse_seconds = time.perf_counter() - started

    with psycopg.connect(settings.conninfo("owner"), autocommit=True, application_name="atumdesk-bench") as owner:
        org = owner.execute("SELECT id FROM atum.org_create('Bench mail', 'bench-mail')").fetchone()
        assert org is not None
        # The cap against mail loops is not what is measured here.
        owner.execute("UPDATE atum.organizations SET mail_tickets_per_sender_hour = 10000 WHERE id = %s", [org[0]])
        log(f"mail: ingesting {messages:,} messages ...")
        dispositions: Counter[str] = Counter()
        latencies = []
        started = time.perf_counter()
        for raw in raws:
            before = time.perf_counter()
            dispositions[ingest(owner, settings, org[0], raw).disposition] += 1
            latencies.append(time.perf_counter() - before)
        seconds = time.perf_counter() - started
        orgs = [owner.execute("SELECT id FROM atum.org_create(%s, %s)", [f"Bench {n}", f"bench-{n}"]).fetchone()
                for n in range(PARALLEL)]
        owner.execute("UPDATE atum.organizations SET mail_tickets_per_sender_hour = 10000")

    def poller(org_id: int) -> None:
        with psycopg.connect(settings.conninfo("owner"), autocommit=True, application_name="atumdesk-bench") as conn:
            for raw in raws:
                ingest(conn, settings, org_id, raw)

    log(f"mail: ingesting {messages:,} messages into each of {PARALLEL} organizations at once ...")
    threads = [threading.Thread(target=poller, args=(org_row[0],)) for org_row in orgs if org_row]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    parallel_seconds = time.perf_counter() - started
    rate = messages / seconds
    latencies.sort()
    result = {
        "messages": messages,
        "parse_per_second": round(messages / parse_seconds),
        "ingest_seconds": round(seconds, 2),
        "ingest_per_second": round(rate, 1),
        "median_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "dispositions": dict(sorted(dispositions.items())),
        "parallel_organizations": PARALLEL,
        "parallel_per_second": round(PARALLEL * messages / parallel_seconds, 1),
        "goal_per_second": GOAL_PER_SECOND,
        "passed": rate >= GOAL_PER_SECOND,
    }
    log(f"  mail ingest: {result['ingest_per_second']} messages/s (median {result['median_ms']} ms,"
        f" p99 {result['p99_ms']} ms); parse alone {result['parse_per_second']}/s;"
        f" {PARALLEL} organizations at once {result['parallel_per_second']}/s")
    return result


def main() -> None:
    """A throwaway instance (durability off, as in tests/bench/run.py), the benchmark, a JSON line."""
    import json

    from atumdesk import settings as settings_mod
    from atumdesk.instance import Instance

    root = Path(tempfile.mkdtemp(prefix="atumdesk-bench-mail-"))
    root.chmod(0o755)
    instance = Instance(root / "pg", port=54330,
                        extra_settings={"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"})
    try:
        instance.init()
        instance.start()
        settings = settings_mod.load({"ATUM_DATA_DIR": str(root), "ATUM_PG_PORT": "54330"})
        print(json.dumps(run(settings), indent=2))
    finally:
        instance.stop()
        if (root / "pg").is_symlink():
            shutil.rmtree((root / "pg").resolve(), ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
