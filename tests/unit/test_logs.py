"""Log lines are JSON objects an operator's tools can parse, with the request's fields."""

from __future__ import annotations

import json
import logging
import sys

from api.logs import JsonFormatter


def test_a_log_record_becomes_one_json_line_with_its_extra_fields_and_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("atumdesk.http").makeRecord(
            "atumdesk.http", logging.ERROR, __file__, 1, "failed %s", ("GET /x",), sys.exc_info(),
            extra={"request_id": "abc123", "status": 500})
    line = JsonFormatter().format(record)
    assert "\n" not in line  # one record, one line
    parsed = json.loads(line)
    assert parsed["message"] == "failed GET /x" and parsed["level"] == "error"
    assert parsed["request_id"] == "abc123" and parsed["status"] == 500
    assert "ValueError: boom" in parsed["traceback"]
