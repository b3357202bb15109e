"""The single-page app (web/), served by the same server: the hashed files of the build under
/assets/ (cached for a year: a new build has new names) and, for every other page address, the HTML
shell (never cached, so a deploy shows at the next load) with a Content-Security-Policy that allows
nothing from other hosts. The app's router then shows the screen of the address (/tickets/5 …).

Without a build (web/dist missing, e.g. a checkout where `make run` has not run yet) the page is a
placeholder that says so; the API and the operator endpoints work all the same.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from aiohttp import web

log = logging.getLogger("atumdesk.http")

# ATUM_WEB_DIST serves another build (a developer's build of a branch, tests of a build elsewhere).
DIST = Path(os.environ.get("ATUM_WEB_DIST") or Path(__file__).resolve().parents[1] / "web" / "dist")
ASSETS_DIR = web.AppKey("web_assets", Path)

# The shell's policy: scripts, styles, fonts and connections (fetch and the same-origin WebSocket,
# which CSP Level 3 'self' covers) from this origin only; images also as data: and blob: URLs
# (previews of attachments); no frames, plugins, <base> or form posts elsewhere.
SHELL_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
             "font-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
             "form-action 'self'; object-src 'none'")
SHELL_HEADERS = {"Cache-Control": "no-cache", "Content-Security-Policy": SHELL_CSP}
ASSET_HEADERS = {"Cache-Control": "public, max-age=31536000, immutable"}
# Types set explicitly (the platform's mimetypes table may lack fonts; nosniff needs them right).
TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css", ".woff2": "font/woff2",
         ".woff": "font/woff", ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon",
         ".json": "application/json", ".txt": "text/plain", ".map": "application/json"}

PLACEHOLDER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>ATUM DESK</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1d2433}
code{background:#eef1f6;padding:.1rem .3rem;border-radius:.2rem}</style></head>
<body><h1>ATUM DESK</h1><p>The service desk is running. The web app is being built; meanwhile the
database, the command line (<code>atumdesk --help</code>) and the operator endpoints
<a href="/healthz">/healthz</a> and <a href="/readyz">/readyz</a> are live.</p>
<p>The web app has not been built in this checkout: run <code>make run</code>
(or <code>make web</code>).</p></body></html>
"""


class Shell:
    """index.html of the build, read at start-up and read again only when a new build replaced it
    (`make web` while the server runs: the old shell would name hashed files that are gone)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stamp: int | None = None
        self.text: str | None = None
        self.current()
        if self.text is None:
            log.warning("no web app build in %s: serving a placeholder page (run `make run` or `make web`)",
                        path.parent)

    def current(self) -> str | None:
        """The shell's text, or None without a build."""
        try:
            stamp = self.path.stat().st_mtime_ns
            if stamp != self.stamp:
                self.text, self.stamp = self.path.read_text(encoding="utf-8"), stamp
        except OSError:
            self.text = self.stamp = None
        return self.text


SHELL = web.AppKey("web_shell", Shell)


async def shell(request: web.Request) -> web.Response:
    """GET of any page address: the app's HTML shell (or the placeholder without a build)."""
    text = request.app[SHELL].current()
    if text is None:
        text = PLACEHOLDER
        # The placeholder's inline style needs the general policy of api/middleware.py.
        return web.Response(text=text, content_type="text/html", headers={"Cache-Control": "no-cache"})
    return web.Response(text=text, content_type="text/html", headers=SHELL_HEADERS)


async def asset(request: web.Request) -> web.StreamResponse:
    """GET /assets/<file>: a file of the build, only from web/dist/assets, cached for good."""
    base = request.app[ASSETS_DIR]
    name = request.match_info["filename"]
    try:
        path = (base / name).resolve()
    except (OSError, ValueError):
        raise web.HTTPNotFound() from None
    if not path.is_relative_to(base) or not path.is_file():
        raise web.HTTPNotFound()
    headers = dict(ASSET_HEADERS)
    if path.suffix in TYPES:
        headers["Content-Type"] = TYPES[path.suffix]
    return web.FileResponse(path, headers=headers)


def setup(app: web.Application, dist: Path | None = None) -> None:
    """Add the app's routes; call after every other route (the page route takes what is left).
    The shell is read here, from ``dist`` (default: web/dist of this checkout), and again after a
    rebuild."""
    dist = dist if dist is not None else DIST
    app[SHELL] = Shell(dist / "index.html")
    app[ASSETS_DIR] = (dist / "assets").resolve()
    app.router.add_get("/assets/{filename:.+}", asset)
    # Every GET not taken by a route above, except under /api/ (those stay problem+json 404s).
    app.router.add_get(r"/{tail:(?!api(?:/|$)).*}", shell)
