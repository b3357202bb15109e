"""Routes of the kb (filled in by its issue)."""

from __future__ import annotations

from aiohttp import web

ROUTES: list[web.RouteDef] = []
