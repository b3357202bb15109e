"""Routes of the reports and the navigation counters (sql/74_reports.sql).

Each report is one ``api.report`` call; its JSON carries the column list, so the CSV answer
(``Accept: text/csv``, or ``?format=csv`` for a plain download link) is that JSON written out as
rows here — formatting only, no figure is computed in Python.
"""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import Decimal
from typing import Any

from aiohttp import web
from psycopg.types.json import Jsonb

from api.db import call, q
from api.errors import Problem
from api.web_io import json_text

NAME = re.compile(r"[a-z0-9-]{1,64}")
#: A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


async def counters(request: web.Request) -> web.Response:
    """GET /api/v1/counters (staff): open tickets by status and priority, mine, the NEW inbox."""
    return json_text(await call(request, q("counters"), read_only=True))


async def report_list(request: web.Request) -> web.Response:
    """GET /api/v1/reports (managers): the reports there are."""
    return json_text(await call(request, q("report_list"), read_only=True))


def _wants_csv(request: web.Request) -> bool:
    wanted = request.query.get("format")
    if wanted is not None and wanted not in ("json", "csv"):
        raise Problem(422, "format must be json or csv", field="format")
    if wanted is not None:
        return wanted == "csv"
    accept = request.headers.get("Accept", "")
    return "text/csv" in accept and "application/json" not in accept


async def report(request: web.Request) -> web.Response:
    """GET /api/v1/reports/{name}?from=&to=&team_id=&priority= (managers): JSON, or CSV."""
    name = request.match_info["name"]
    if not NAME.fullmatch(name):
        raise Problem(404, "no such report", field="name")
    as_csv = _wants_csv(request)
    query = Jsonb({key: value for key, value in request.query.items() if key != "format"})
    text = await call(request, q("report"), [name, query], read_only=True)
    if not as_csv:
        return json_text(text)
    document = json.loads(text, parse_float=Decimal)  # numbers as the database wrote them (4.00)
    filename = f"{document['report']}-{document['from']}-{document['to']}.csv"
    return web.Response(body=to_csv(document).encode("utf-8"), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def csv_cell(value: Any) -> str:
    """One cell: empty for null; text that a spreadsheet would run as a formula gets a leading quote."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if isinstance(value, str) and text.startswith(FORMULA_START):
        return "'" + text
    return text


def to_csv(document: dict[str, Any]) -> str:
    """A report's rows as CSV (RFC 4180: a header row of column names, CRLF, quoting as needed)."""
    names = [column["name"] for column in document["columns"]]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(names)
    for row in document["rows"]:
        writer.writerow([csv_cell(row.get(name)) for name in names])
    return out.getvalue()


ROUTES: list[web.RouteDef] = [
    web.get("/api/v1/counters", counters, allow_head=False),
    web.get("/api/v1/reports", report_list, allow_head=False),
    web.get("/api/v1/reports/{name}", report, allow_head=False),
]
