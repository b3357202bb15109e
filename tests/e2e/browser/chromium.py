"""Debian's Chromium as the browser tests and the web benchmark start it: headless, through
Playwright (whose own browser download is not used), with the browser's background traffic off so
that nothing but the pages under test talks to the network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
#: --no-sandbox: the tests run as root on CI. The rest: no updates, safe browsing, sync, field
#: trials or QUIC probes, and /tmp instead of a small /dev/shm in containers.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic", "--disable-default-apps", "--disable-dev-shm-usage",
        "--disable-features=Translate,OptimizationHints,MediaRouter"]


def launch(playwright: Any) -> Any:
    """A headless Chromium of ``playwright`` (the sync API's ``sync_playwright()`` object)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
