"""Typed keys shared by the modules of the HTTP layer: what the app holds, what a request carries."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from atumdesk.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", AsyncConnectionPool)

# Set on each request by the middlewares (api/middleware.py).
REQUEST_ID = web.RequestKey("request_id", str)
TOKEN = web.RequestKey[str | None]("token")          # the session or API token presented
AUTH_KIND = web.RequestKey[str | None]("auth_kind")  # "cookie", "bearer" or None
CLIENT_IP = web.RequestKey[str | None]("client_ip")  # X-Forwarded-For counts only from a trusted proxy
IS_HTTPS = web.RequestKey("is_https", bool)

QUERIES = Path(__file__).with_name("queries.sql")
SESSION_COOKIE = "atum_session"
