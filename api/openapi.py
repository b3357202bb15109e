"""The OpenAPI 3.1 document of the HTTP API (api/openapi.json), served at ``GET /api/v1/openapi.json``.

The document is written by hand and kept in the repository next to the route table it describes;
tests/api/test_openapi.py checks the two against each other. It is read and parsed once, at import,
so that a broken file stops the server at start rather than at the first request, and every request
gets the same bytes without work.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp import web

PATH = Path(__file__).with_name("openapi.json")
_BODY = PATH.read_bytes()
DOCUMENT: dict[str, Any] = json.loads(_BODY)


async def document(request: web.Request) -> web.Response:
    """GET /api/v1/openapi.json: the API's description, public like the API's shape is."""
    return web.Response(body=_BODY, content_type="application/json", charset="utf-8")
