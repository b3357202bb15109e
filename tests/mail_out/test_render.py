"""Notification templates and messages without a database: every default renders, customer text is
escaped in HTML and cannot start a header, admins' templates are sandboxed and fall back to the
default when they fail, and ATUM_PUBLIC_URL is validated."""

from __future__ import annotations

import email
import email.policy
from typing import Any

import pytest

from atumdesk.errors import SettingsError
from atumdesk.settings import load
from jobs import mail_out, mail_render

HOSTILE = '<script>alert("x")</script>\r\nBcc: victim@evil.test & "quotes"'


def hostile(value: Any) -> Any:
    """The example context with every text replaced by something nasty."""
    if isinstance(value, dict):
        return {k: v if k in ("time_zone", "due_at", "expires_at", "created_at", "recorded_at") else hostile(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [hostile(v) for v in value]
    return HOSTILE if isinstance(value, str) else value


@pytest.mark.parametrize("kind", mail_render.KINDS)
def test_every_default_renders_and_escapes_what_it_shows(kind: str) -> None:
    plain = mail_render.render(kind, mail_render.example_context(kind))
    assert plain.errors == () and plain.text.strip() and "<html" in plain.html
    if kind not in ("password_reset", "invitation"):
        assert plain.subject.startswith("[ATUM-1042] ")
    nasty = mail_render.render(kind, hostile(mail_render.example_context(kind)))
    assert "<script>" not in nasty.html and "\r" not in nasty.subject and "\n" not in nasty.subject
    assert "&lt;script&gt;" in nasty.html


def test_one_line_keeps_a_value_from_starting_a_header() -> None:
    assert mail_render.one_line("a\r\nBcc: x\x00\u2028y\tz") == "a Bcc: x y z"
    assert len(mail_render.one_line("x" * 1000)) == mail_render.SUBJECT_MAX


@pytest.mark.parametrize(("source", "expected"), [
    ("{{ ticket.subject ", "line 1: unexpected end of template"),
    ("{% for x in y %}", "line 1: Unexpected end of template"),
    ("{{ x | no_such_filter }}", "No filter named 'no_such_filter'"),
    ("{{ 'a' * 100000000 }}", "longer than"),
    ("{{ 10 ** 1000 }}", "exponent"),
    ("{{ ticket.update({}) }}", "SecurityError"),
    ("{% for i in range(10000000) %}{% endfor %}", "range too big"),
])
def test_an_admins_template_is_checked_in_the_sandbox(source: str, expected: str) -> None:
    error = mail_render.check("staff_reply", "body_text", source)
    assert error is not None and expected.lower() in error.lower(), error


def test_python_internals_are_out_of_reach() -> None:
    rendered = mail_render.render("staff_reply", mail_render.example_context("staff_reply"),
                                  {"body_text": "[{{ ''.__class__.__mro__ }}][{{ recipient.__init__ }}]"})
    assert rendered.errors == ("body_text: SecurityError: access to attribute '__class__' of 'str' object is unsafe.",)
    assert "class" not in rendered.text and "has replied" not in rendered.text


def test_a_failing_part_falls_back_to_the_default_and_says_why() -> None:
    context = mail_render.example_context("resolved")
    rendered = mail_render.render("resolved", context, {"subject": "Closed: {{ ticket.subject }}",
                                                        "body_text": "{{ 1 / 0 }}", "body_html": ""})
    assert rendered.subject == "Closed: Printer on fire"
    assert "has been resolved" in rendered.text  # the default
    assert rendered.errors == ("body_text: ZeroDivisionError: division by zero",)
    assert mail_render.render("resolved", context, {"subject": "{{ '' }}"}).subject.startswith("[ATUM-1042]")


def test_a_message_is_built_with_its_identity_threading_and_markers() -> None:
    settings = load({"ATUM_DATA_DIR": "/nonexistent", "ATUM_MAIL_DOMAIN": "helpdesk.test",
                     "ATUM_MAIL_FROM": "helpdesk@helpdesk.test", "ATUM_PUBLIC_URL": "https://help.example.com/"})
    context = mail_render.example_context("staff_reply")
    row = {"kind": "staff_reply", "context": context, "to_address": "chris@example.net",
           "reply_to": "support@example.com", "subject": None, "sending_at": "2026-01-05T10:00:00+00:00",
           "message_id": mail_out.message_id(1, 42, settings.mail_domain),
           "in_reply_to": "<first@example.net>", "thread_references": ["<first@example.net>", "<atum.1.40.x@h.test>"]}
    rendered = mail_render.render("staff_reply", mail_out.template_context(row, settings))
    built = mail_out.build_message(row, rendered, settings, "Example\r\nBcc: evil@x.test", "Chris\nCustomer")
    raw = built.as_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    headers = raw.split(b"\r\n\r\n")[0]
    assert b"\r\nBcc:" not in headers and parsed.get_all("Bcc") is None
    assert parsed["From"].addresses[0].display_name == "Example Bcc: evil@x.test"
    assert parsed["To"].addresses[0].display_name == "Chris Customer"
    assert parsed["Message-ID"].startswith("<atum.1.42.") and parsed["Message-ID"].endswith("@helpdesk.test>")
    assert parsed["In-Reply-To"] == "<first@example.net>"
    assert parsed["References"] == "<first@example.net> <atum.1.40.x@h.test>"
    assert parsed["Date"] == "Mon, 05 Jan 2026 10:00:00 +0000"
    assert (parsed["Auto-Submitted"], parsed["X-Loop"], parsed["X-ATUM-Ticket"]) == (
        "auto-generated", "atumdesk@helpdesk.test", "ATUM-1042")
    assert "https://help.example.com/tickets/42" in rendered.text


@pytest.mark.parametrize("value", ["ftp://help.example.com", "help.example.com", "https://help example.com",
                                   "https://help.example.com/?next=x", "javascript:alert(1)"])
def test_the_public_url_must_be_an_http_url(value: str) -> None:
    with pytest.raises(SettingsError, match="ATUM_PUBLIC_URL"):
        load({"ATUM_DATA_DIR": "/nonexistent", "ATUM_PUBLIC_URL": value})


def test_the_public_url_defaults_to_where_the_server_listens() -> None:
    assert load({"ATUM_DATA_DIR": "/x", "ATUM_PUBLIC_URL": "https://help.example.com/desk/"}).base_url == (
        "https://help.example.com/desk")
    assert load({"ATUM_DATA_DIR": "/x", "ATUM_PORT": "9000"}).base_url == "http://127.0.0.1:9000"


def test_a_reply_subject_does_not_stack_reply_prefixes() -> None:
    reply_subject = mail_render.reply_subject
    assert reply_subject("Printer on fire") == "Re: Printer on fire"
    assert reply_subject("RE: AW:Fwd:  Printer on fire") == "Re: Printer on fire"
    assert reply_subject("Re[2]: Printer") == "Re: Printer"
    assert reply_subject("Return of the printer") == "Re: Return of the printer"
