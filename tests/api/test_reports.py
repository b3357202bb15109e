"""Reports over HTTP: managers read them as JSON or CSV, others are refused, bad names and ranges
are answered as problems naming the field; the numbers are the known answers of
tests/db/test_reports.py, CSV included."""

from __future__ import annotations

import csv
import io

import psycopg

from api.reports import csv_cell, to_csv
from tests.api.client import Api, run_api
from tests.db.test_reports import RANGE, Fixture, known  # noqa: F401  (known is a fixture)
from tests.support import Database

QUERY = "from=2026-03-01&to=2026-03-07"


def test_managers_read_reports_as_json_and_csv(db: Database, known: Fixture) -> None:  # noqa: F811
    async def scenario(api: Api) -> None:
        listed = await api.call("GET", "/api/v1/reports", token=known.token)
        assert listed.status == 200 and [r["name"] for r in listed.body["items"]][:2] == ["backlog", "created-resolved"]
        as_json = await api.call("GET", f"/api/v1/reports/backlog?{QUERY}", token=known.token)
        assert as_json.status == 200 and as_json.headers["Content-Type"].startswith("application/json")
        assert as_json.body["rows"] == [{"status": "NEW", "priority": "LOW", "tickets": 1},
                                        {"status": "IN_PROGRESS", "priority": "HIGH", "tickets": 1},
                                        {"status": "WAITING_CUSTOMER", "priority": "MEDIUM", "tickets": 1}]
        for extra, headers in (("", {"Accept": "text/csv"}), ("&format=csv", {})):
            as_csv = await api.call("GET", f"/api/v1/reports/created-resolved?{QUERY}{extra}", token=known.token,
                                    headers=headers)
            assert as_csv.status == 200 and as_csv.headers["Content-Type"] == "text/csv; charset=utf-8"
            assert as_csv.headers["Content-Disposition"] == \
                'attachment; filename="created-resolved-2026-03-01-2026-03-07.csv"'
            assert as_csv.body == ("day,created,resolved\r\n2026-03-01,0,0\r\n2026-03-02,3,2\r\n2026-03-03,2,1\r\n"
                                   "2026-03-04,3,1\r\n2026-03-05,0,0\r\n2026-03-06,0,0\r\n2026-03-07,0,0\r\n")
        times = await api.call("GET", f"/api/v1/reports/response-times?{QUERY}&priority=HIGH",
                               token=known.token, headers={"Accept": "text/csv"})
        assert list(csv.reader(io.StringIO(times.body))) == [
            ["priority", "triaged", "triage_median_hours", "triage_p90_hours", "responded",
             "first_response_median_hours", "first_response_p90_hours", "resolved", "resolution_median_hours",
             "resolution_p90_hours"],
            ["HIGH", "2", "1.75", "2.75", "2", "1.25", "1.85", "1", "4.00", "4.00"],
            ["ALL", "2", "1.75", "2.75", "2", "1.25", "1.85", "1", "4.00", "4.00"]]

    run_api(db, scenario)


def test_csv_cells_cannot_become_formulas_and_are_quoted(db: Database, owner: psycopg.Connection,
                                                         known: Fixture) -> None:  # noqa: F811
    owner.execute("UPDATE atum.teams SET name = %s WHERE id = %s", ['=HYPERLINK("x", "a,b")', known.teams["Billing"]])
    owner.execute("UPDATE atum.users SET display_name = '@Alice' WHERE id = %s", [known.users["alice"]])

    async def scenario(api: Api) -> None:
        reply = await api.call("GET", f"/api/v1/reports/sla-compliance?{QUERY}", token=known.token,
                               headers={"Accept": "text/csv"})
        rows = list(csv.reader(io.StringIO(reply.body)))
        names = [r[2] for r in rows[1:]]
        assert "'=HYPERLINK(\"x\", \"a,b\")" in names and "'@Alice" in names
        assert '"\'=HYPERLINK(""x"", ""a,b"")"' in reply.body  # RFC 4180 quoting of the comma and quotes

    run_api(db, scenario)
    assert [csv_cell(v) for v in ("-1+2", "+x", "plain", None, 3, -3, True)] == \
        ["'-1+2", "'+x", "plain", "", "3", "-3", "true"]
    assert to_csv({"columns": [{"name": "a"}], "rows": [{"a": "line\nbreak"}]}) == 'a\r\n"line\nbreak"\r\n'


def test_who_may_read_reports_and_what_bad_requests_get(db: Database, owner: psycopg.Connection,
                                                        known: Fixture) -> None:  # noqa: F811
    agent = owner.execute("SELECT atum_private.session_issue(%s, %s)", [known.org, known.users["alice"]]).fetchone()[0]
    customer = owner.execute("SELECT atum_private.session_issue(%s, %s)",
                             [known.org, known.users["customer"]]).fetchone()[0]

    async def scenario(api: Api) -> None:
        for token in (agent, customer):
            for path in ("/api/v1/reports", "/api/v1/reports/backlog", "/api/v1/reports/backlog?format=csv"):
                refused = await api.call("GET", path, token=token)
                assert refused.status == 403, path
                assert refused.headers["Content-Type"].startswith("application/problem+json")
        assert (await api.call("GET", "/api/v1/reports/backlog")).status == 401
        missing = await api.call("GET", "/api/v1/reports/kb-nothing", token=known.token,
                                 headers={"Accept": "text/csv"})
        assert missing.status == 404 and missing.body["field"] == "name"
        assert (await api.call("GET", "/api/v1/reports/%00", token=known.token)).status == 404
        for query, field in (("from=2026-03-08&to=2026-03-07", "from"), ("from=2025-01-01&to=2026-03-07", "to"),
                             ("from=yesterday", "from"), ("to=2026-13-01", "to"), ("priority=SOON", "priority"),
                             ("team_id=abc", "team_id"), ("format=xlsx", "format"), ("colour=red", "colour")):
            bad = await api.call("GET", f"/api/v1/reports/backlog?{query}", token=known.token)
            assert (bad.status, bad.body.get("field")) == (422, field), query
        counters = await api.call("GET", "/api/v1/counters", token=agent)
        assert counters.status == 200 and counters.body["by_status"] == {
            "NEW": 1, "ACCEPTED": 0, "IN_PROGRESS": 1, "WAITING_CUSTOMER": 1}
        assert counters.body["new"] == 1 and counters.body["mine"] == 0
        assert (await api.call("GET", "/api/v1/counters", token=customer)).status == 403

    run_api(db, scenario)
