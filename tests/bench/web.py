"""What the web app costs a person opening it, measured in headless Chromium (Debian's
/usr/bin/chromium, driven by Playwright) against the real server on localhost.

On a fresh database: one organization with an agent and ``tickets`` open tickets assigned to
nobody in particular (at least 50, so the queue's first page is full). Then:

1. the first screen's weight: the sign-in screen loaded signed out, then the queue after signing
   in, in one page; every JavaScript and CSS response the page received is gzipped here (level 6,
   as nginx does by default) and the sizes summed — what a person's browser downloads before
   the queue is usable, whatever the server itself compresses (goal: under 250 KB);
2. time to an interactive queue: a signed-in agent navigates to ``/``, ``runs`` times, each in a
   fresh browser context (a cold cache); the clock runs from the start of the navigation (the
   page's own ``performance.timeOrigin``) to the first animation frame in which the queue shows
   50 ticket rows and its search field can take the focus (goal: under 1 s). Median and maximum.
"""

from __future__ import annotations

import gzip
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from atumdesk import PROJECT_ROOT
from atumdesk.migrate import migrate
from atumdesk.passwords import hash_password
from atumdesk.settings import Settings
from tests.bench.http import Server
from tests.e2e.browser.chromium import CHROMIUM, launch

GOAL_FIRST_SCREEN_KB = 250.0
GOAL_INTERACTIVE_MS = 1000.0
TICKETS = 60
ROWS = 50
RUNS = 5
PASSWORD = "bench web password"
EMAIL = "agent@bench-web.example"

# True in the first frame where the queue shows ROWS ticket rows (each links to its ticket page)
# and its search field is there, visible and takes the focus; then the time since navigation.
INTERACTIVE = """(rows) => {
  const main = document.querySelector('main');
  if (!main) return false;
  const count = main.querySelectorAll('a[href^="/tickets/"]').length;
  const search = main.querySelector('input[type=search], [role=searchbox]')
    || document.querySelector('input[type=search], [role=searchbox]');
  if (count < rows || !search || search.disabled || search.getClientRects().length === 0) return false;
  search.focus();
  return document.activeElement === search ? performance.now() : false;
}"""


def _arrange(settings: Settings, tickets: int) -> None:
    """An organization, an agent who can sign in, its customer's ``tickets`` accepted tickets."""
    migrate(settings, schedule_cron=False)
    with psycopg.connect(settings.conninfo("owner"), autocommit=True, application_name="atumdesk-bench") as owner:
        org = owner.execute("SELECT id FROM atum.org_create('Bench web', 'bench-web', 'Europe/Berlin')").fetchone()
        assert org is not None
        agent = owner.execute("SELECT id FROM atum.user_create('bench-web', %s, 'agent', 'Agent')",
                              [EMAIL]).fetchone()
        customer = owner.execute("SELECT id FROM atum.user_create('bench-web', 'customer@bench-web.example',"
                                 " 'customer', 'Customer')").fetchone()
        assert agent is not None and customer is not None
        owner.execute("UPDATE atum.users SET password_hash = %s WHERE organization_id = %s AND id = %s",
                      [hash_password(PASSWORD), org[0], agent[0]])
        owner.execute(
            "INSERT INTO atum.tickets (organization_id, subject, description, requester_id, created_at)"
            " SELECT %s, 'Bench ticket ' || n, 'Opened for the web benchmark.', %s, now() - n * interval '1 minute'"
            " FROM generate_series(1, %s) AS n", [org[0], customer[0], tickets])
        owner.execute("UPDATE atum.tickets SET status = 'ACCEPTED' WHERE organization_id = %s", [org[0]])


def _sign_in(context: Any) -> None:
    reply = context.request.post("/api/v1/auth/login", data={"email": EMAIL, "password": PASSWORD},
                                 headers={"X-Requested-With": "XMLHttpRequest"})
    if not reply.ok:
        raise RuntimeError(f"the benchmark's agent could not sign in: {reply.status} {reply.text()}")


def _first_screen(browser: Any, origin: str) -> dict[str, Any]:
    """JavaScript and CSS of sign-in and queue, each body gzipped, summed."""
    context = browser.new_context(base_url=origin)
    bodies: dict[str, bytes] = {}

    def keep(response: Any) -> None:
        kind = response.request.resource_type
        if kind in ("script", "stylesheet") and response.url.startswith(origin) and response.ok:
            bodies[response.url] = response.body()

    page = context.new_page()
    page.on("response", keep)
    page.goto("/login", wait_until="networkidle")
    _sign_in(context)
    page.goto("/", wait_until="networkidle")
    page.wait_for_function(INTERACTIVE, arg=ROWS, polling="raf", timeout=30_000)
    context.close()
    sizes = {url.removeprefix(origin): len(gzip.compress(body, compresslevel=6)) for url, body in bodies.items()}
    js = sum(size for url, size in sizes.items() if url.endswith((".js", ".mjs")))
    total_kb = round(sum(sizes.values()) / 1024, 1)
    return {"files": len(sizes), "gzipped_kb": total_kb, "javascript_kb": round(js / 1024, 1),
            "css_kb": round((sum(sizes.values()) - js) / 1024, 1),
            "raw_kb": round(sum(len(b) for b in bodies.values()) / 1024, 1),
            "goal_kb": GOAL_FIRST_SCREEN_KB, "passed": total_kb < GOAL_FIRST_SCREEN_KB}


def _interactive_ms(browser: Any, origin: str) -> float:
    context = browser.new_context(base_url=origin)
    try:
        _sign_in(context)
        page = context.new_page()
        page.goto("/", wait_until="commit")
        return float(page.wait_for_function(INTERACTIVE, arg=ROWS, polling="raf", timeout=30_000).json_value())
    finally:
        context.close()


def run(settings: Settings, log: Callable[[str], None] = print, *, tickets: int = TICKETS,
        runs: int = RUNS) -> dict[str, Any]:
    """Arrange the organization, serve it, and measure the first screen in headless Chromium."""
    if not CHROMIUM.exists() or not (PROJECT_ROOT / "web" / "dist" / "index.html").exists():
        log("web: skipped (needs /usr/bin/chromium and web/dist: make web)")
        return {"skipped": "needs /usr/bin/chromium and web/dist"}
    from playwright.sync_api import sync_playwright

    _arrange(settings, max(tickets, ROWS))
    server = Server(settings, settings.data_dir / "web-bench-server.log")
    try:
        server.wait_ready()
        with sync_playwright() as playwright:
            browser = launch(playwright)
            try:
                weight = _first_screen(browser, server.url)
                log(f"web: first screen {weight['gzipped_kb']} KB gzipped in {weight['files']} files "
                    f"(JS {weight['javascript_kb']} KB, CSS {weight['css_kb']} KB)")
                _interactive_ms(browser, server.url)  # warm-up: the server's pool and caches
                times = [_interactive_ms(browser, server.url) for _ in range(runs)]
            finally:
                browser.close()
    finally:
        server.stop()
    median = round(statistics.median(times), 1)
    log(f"web: queue of {ROWS} interactive after {median} ms (median of {runs}, max {max(times):.1f} ms)")
    return {"first_screen": weight,
            "queue_interactive": {"rows": ROWS, "runs": runs, "median_ms": median, "max_ms": round(max(times), 1),
                                  "goal_ms": GOAL_INTERACTIVE_MS, "passed": median < GOAL_INTERACTIVE_MS}}


def main() -> None:
    """``python -m tests.bench.web``: this benchmark alone, on a throwaway instance (as make bench does)."""
    import json
    import tempfile

    from atumdesk.instance import Instance
    from tests.bench import run as bench_run

    root = Path(tempfile.mkdtemp(prefix="atumdesk-web-bench-"))
    root.chmod(0o755)  # the server runs as an unprivileged user that must reach its folder
    instance = Instance(root / "pg", port=bench_run.PORT, extra_settings=bench_run.FAST_SETTINGS)
    try:
        instance.init()
        instance.start()
        print(json.dumps(run(bench_run._settings(root, "bench_web")), indent=2))
    finally:
        instance.stop()
        bench_run._remove(root)


if __name__ == "__main__":
    main()
