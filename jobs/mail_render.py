"""Notification templates: the built-in defaults (``jobs/templates/``) and the organizations' own,
rendered with jinja2 in a sandbox.

Each kind of notification (``KINDS``) has three parts: a subject, a text/plain body and a text/html
body. The defaults are ``<kind>.subject.txt``, ``<kind>.txt`` and ``<kind>.html`` (they extend
``layout.txt`` / ``layout.html``). An organization's admins may replace any part
(``atum.mail_templates``, ``PUT /api/v1/admin/mail-templates/{kind}``). Admins write those, so every
template — ours too, the code path is one — is compiled and rendered in jinja2's immutable sandbox:
no attribute of Python internals, no method that changes data, ``range`` bounded, and here also no
string or list multiplied past ``MAX_OUTPUT`` and no power past ``MAX_EXPONENT``.

Escaping: the HTML environment autoescapes every value, so a customer's ``<script>`` in a subject
or a reply arrives as text. The subject is reduced to one line of at most ``SUBJECT_MAX`` characters
(``one_line``), so no value can start a header of its own.

Where templates are checked (a decision, documented in docs/architecture.md): an admin's template
is compiled and rendered with an example context when it is saved (``check``, called by
api/mail_templates.py: a syntax error is a 422 naming the part). A template that still fails when a
real notification is rendered (it divides by a value that is zero today, say) does not stop the
mail: that part falls back to the default and the error is recorded on the template for the admins
(``Rendered.errors`` → ``atum.mail_templates.render_error``).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import FileSystemLoader, Template, TemplateError, TemplateSyntaxError, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

KINDS = ("ticket_received", "staff_reply", "assigned", "sla_warning", "sla_breach", "resolved",
         "password_reset", "invitation")
#: The parts of a kind's templates, as the API and atum.mail_templates name them.
PARTS = ("subject", "body_text", "body_html")
TEMPLATE_DIR = Path(__file__).with_name("templates")
_SUFFIX = {"subject": "subject.txt", "body_text": "txt", "body_html": "html"}
#: Longest rendered part (characters); a longer one is an error (and falls back to the default).
MAX_OUTPUT = 1_000_000
MAX_EXPONENT = 100
SUBJECT_MAX = 250
_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with the arithmetic that could exhaust memory or CPU bounded."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator_name: str, left: Any, right: Any) -> Any:
        """``*`` and ``**`` as usual, unless their result would be absurdly large."""
        if operator_name == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise SecurityError(f"exponent {right} is larger than {MAX_EXPONENT}")
            return operator.pow(left, right)
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(count, int) and len(seq) * count > MAX_OUTPUT:
                raise SecurityError(f"the result would be longer than {MAX_OUTPUT} characters")
        return operator.mul(left, right)


def humanize(value: Any) -> str:
    """``IN_PROGRESS`` → ``in progress``, ``first_response`` → ``first response``."""
    return str(value or "").replace("_", " ").lower()


@pass_context
def format_datetime(context: Context, value: Any) -> str:
    """An ISO timestamp (as the context holds them) in the organization's time zone, to the minute."""
    if not value:
        return ""
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    organization = context.get("organization")
    zone_name = organization.get("time_zone") if isinstance(organization, Mapping) else None
    try:
        zone = ZoneInfo(str(zone_name)) if zone_name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


_REPLY_PREFIX = re.compile(r"^(?:\s*(?:re|aw|sv|vs|wg|fw|fwd|antw|odp|r)\s*(?:\[\d+\])?\s*:\s*)+", re.IGNORECASE)


def reply_subject(subject: str | None) -> str:
    """``Re: `` and the subject without the reply and forward prefixes it may carry already, so that a
    thread does not grow ``Re: Re: AW:`` chains."""
    return "Re: " + _REPLY_PREFIX.sub("", subject or "").strip()


def _environment(html: bool) -> _Sandbox:
    env = _Sandbox(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=html, trim_blocks=True, lstrip_blocks=True,
                   keep_trailing_newline=False, finalize=lambda value: "" if value is None else value)
    env.filters["humanize"] = humanize
    env.filters["datetime"] = format_datetime
    env.filters["reply_subject"] = reply_subject
    return env


_TEXT = _environment(html=False)
_HTML = _environment(html=True)


def _env(part: str) -> _Sandbox:
    return _HTML if part == "body_html" else _TEXT


@lru_cache(maxsize=256)
def _compile(part: str, source: str) -> Template:
    """An organization's template, compiled once per process (the same source compiles the same)."""
    return _env(part).from_string(source)


def default_source(kind: str, part: str) -> str:
    """The text of a built-in template (what GET /api/v1/admin/mail-templates/{kind} shows)."""
    return (TEMPLATE_DIR / f"{kind}.{_SUFFIX[part]}").read_text(encoding="utf-8")


def _render(template: Template, context: Mapping[str, Any]) -> str:
    text = template.render(context)
    if len(text) > MAX_OUTPUT:
        raise SecurityError(f"the result is longer than {MAX_OUTPUT} characters")
    return text


def one_line(text: str, limit: int = SUBJECT_MAX) -> str:
    """One header line: line breaks and control characters become spaces, runs of spaces one, at
    most ``limit`` characters (a CR/LF in a value must never begin a header of its own)."""
    flat = " ".join(_LINE_BREAKING.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def describe(error: Exception) -> str:
    """An error of a template as one line for an admin: where and what."""
    if isinstance(error, TemplateSyntaxError):
        return one_line(f"line {error.lineno}: {error.message or error}", 500)
    return one_line(f"{type(error).__name__}: {error}", 500)


@dataclass(frozen=True)
class Rendered:
    """A notification's subject and bodies, and the organization templates that failed."""

    subject: str
    text: str
    html: str
    #: "<part>: <error>" for each of the organization's parts that failed (the default was used).
    errors: tuple[str, ...] = ()


def render(kind: str, context: Mapping[str, Any], overrides: Mapping[str, str | None] | None = None) -> Rendered:
    """Render a notification: the organization's part where it has one and it renders, the
    default otherwise. The subject is rendered first and is available to the bodies as ``subject``."""
    if kind not in KINDS:
        raise ValueError(f"unknown mail kind {kind!r}")
    values: dict[str, Any] = dict(context)
    errors: list[str] = []
    out: dict[str, str] = {}
    for part in PARTS:
        source = (overrides or {}).get(part)
        text: str | None = None
        if source:
            try:
                text = _render(_compile(part, source), values)
                if part == "subject" and not one_line(text):
                    raise TemplateError("the subject is empty")
            except Exception as exc:  # any failure of an admin's template: the default is sent instead
                errors.append(f"{part}: {describe(exc)}")
                text = None
        if text is None:
            text = _render(_env(part).get_template(f"{kind}.{_SUFFIX[part]}"), values)
        if part == "subject":
            text = one_line(text)
            values["subject"] = text
        out[part] = text.strip("\n") + "\n" if part != "subject" else text
    return Rendered(out["subject"], out["body_text"], out["body_html"], tuple(errors))


def check(kind: str, part: str, source: str) -> str | None:
    """Why an admin's template for ``kind``/``part`` cannot be used (None: it can). Compiled in the
    sandbox and rendered with an example context of the kind, so that syntax errors, unknown
    filters and forbidden operations are found when the template is saved, not when mail is sent."""
    if kind not in KINDS or part not in PARTS:
        raise ValueError(f"unknown mail template {kind}/{part}")
    try:
        text = _render(_compile(part, source), example_context(kind))
    except Exception as exc:  # what the admin must fix, whatever it is
        return describe(exc)
    if part == "subject" and not one_line(text):
        return "the subject is empty"
    return None


def example_context(kind: str) -> dict[str, Any]:
    """A context of the shape real notifications of ``kind`` have (sql/63_mail_outbox.sql), with
    made-up values: templates are tried with it when saved."""
    organization = {"id": 1, "name": "Example Ltd", "slug": "example", "time_zone": "Europe/Berlin",
                    "reopen_window_days": 14}
    ticket = {"id": 42, "number": 1042, "reference": "ATUM-1042", "subject": "Printer on fire", "status": "IN_PROGRESS",
              "priority": "HIGH", "channel": "email", "created_at": "2026-01-05T09:30:00+00:00",
              "requester_name": "Chris Customer", "url": "https://help.example.com/tickets/42"}
    agent = {"id": 7, "name": "Alex Agent", "email": "alex@example.com", "role": "agent"}
    customer = {"id": 9, "name": "Chris Customer", "email": "chris@example.net", "role": "customer"}
    manager = {"id": 3, "name": "Morgan Manager", "email": "morgan@example.com", "role": "manager"}
    base = {"organization": organization, "portal_url": "https://help.example.com", "kind": kind}
    event = {**ticket, "ticket_id": ticket["id"], "event_id": 5,
             "kind": "warning" if kind == "sla_warning" else "breach", "clock": "first_response",
             "due_at": "2026-01-05T13:30:00+00:00", "recorded_at": "2026-01-05T13:31:00+00:00"}
    by_kind: dict[str, dict[str, Any]] = {
        "ticket_received": {"ticket": ticket, "recipient": customer, "actor": customer,
                            "description": "It started smoking this morning."},
        "staff_reply": {"ticket": ticket, "recipient": customer, "actor": agent,
                        "comment": {"id": 11, "body": "Please unplug it.\nWe are on our way.",
                                    "author_name": agent["name"], "created_at": "2026-01-05T10:00:00+00:00"}},
        "assigned": {"ticket": ticket, "recipient": agent, "actor": manager},
        "resolved": {"ticket": ticket, "recipient": customer, "actor": agent, "reason": None},
        "sla_warning": {"ticket": ticket, "recipient": manager, "events": [event], "event_count": 1, "ticket_count": 1},
        "sla_breach": {"ticket": ticket, "recipient": manager, "events": [event], "event_count": 1, "ticket_count": 1},
        "password_reset": {"recipient": agent, "expires_at": "2026-01-05T11:00:00+00:00",
                           "link": "https://help.example.com/password-reset#token=atum_r_example"},
        "invitation": {"recipient": agent, "invited_by": manager, "expires_at": "2026-01-12T10:00:00+00:00",
                       "link": "https://help.example.com/invitation#token=atum_i_example"},
    }
    return {**base, **by_kind[kind], "subject": "[ATUM-1042] Re: Printer on fire"}
