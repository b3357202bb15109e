"""Typed keys shared by the modules of the HTTP layer: what the app holds, what a request carries."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from atumdesk.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", AsyncConnectionPool)

# Set on each request by the middlewares (api/middleware.py).
REQUEST_ID = "atum.request_id"
TOKEN = "atum.token"            # the session or API token presented, or None
AUTH_KIND = "atum.auth_kind"    # "cookie", "bearer" or None
CLIENT_IP = "atum.client_ip"    # the client's address (X-Forwarded-For only from a trusted proxy)
IS_HTTPS = "atum.is_https"

QUERIES = Path(__file__).with_name("queries.sql")
SESSION_COOKIE = "atum_session"
