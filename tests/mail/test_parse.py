"""jobs.mail_parse without a database: what a received message is taken to say, for well-formed
mail and for the malformed and hostile mail every helpdesk receives. Parsing never raises."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.mail_parse import (
    ParseOptions,
    decode_bytes,
    decode_header_value,
    html_to_text,
    normalize_message_id,
    parse,
    sanitize_html,
    trim_quotes,
)
from tests.mail.messages import dsn, mail

OPTIONS = ParseOptions(mail_domain="desk.example.com", own_addresses=frozenset({"helpdesk@desk.example.com"}))


def test_a_plain_message() -> None:
    p = parse(mail("Hello", "Body\n", sender='"Doe, Jane" <Jane.Doe@Example.COM>',
                   message_id="<abc@example.com>", headers={"In-Reply-To": "<x@y>", "References": "<a@b> <c@d> <x@y>"}))
    assert (p.from_address, p.from_name, p.subject, p.message_id) == (
        "jane.doe@example.com", "Doe, Jane", "Hello", "<abc@example.com>")
    assert p.references == ("<x@y>", "<c@d>", "<a@b>")  # In-Reply-To first, then newest first
    assert (p.text, p.html, p.auto_submitted, p.loop, p.dsn, p.attachments) == ("Body", None, None, None, None, ())


def test_encoded_words_charsets_and_8bit_headers() -> None:
    assert decode_header_value("=?utf-8?B?5ryi5a2X?= =?utf-8?Q?_tail?=") == "漢字 tail"
    assert decode_header_value("=?UTF-8?B?4oCc?= =?UTF-8?B?4oCd?=") == "“”"  # words joined before decoding
    # A character split between two encoded words still decodes.
    assert decode_header_value("=?utf-8?Q?B=C3?= =?utf-8?Q?=BCro?=") == "Büro"
    assert decode_header_value("=?x-unknown?Q?caf=C3=A9?=") == "café"
    assert decode_header_value("=?iso-8859-1?q?caf=E9?= ok") == "café ok"
    assert decode_header_value("=?utf-8?B?broken base64?=") != ""
    assert decode_header_value("caf\udcc3\udca9") == "café"  # raw 8-bit UTF-8 in a header
    assert decode_header_value("line\r\n folded") == "line folded"
    assert decode_bytes("Grüße".encode("cp1252"), "utf-8") == "Grüße"  # wrong label
    assert decode_bytes("Grüße".encode(), "iso-8859-1") == "Grüße"  # mislabelled UTF-8
    assert decode_bytes("Grüße".encode("latin-1"), "no-such-charset") == "Grüße"
    assert decode_bytes(b"\\x41", "unicode-escape") == "\\x41"  # not a charset: not interpreted


def test_message_ids() -> None:
    assert normalize_message_id(" <a.b@c> (comment)") == "<a.b@c>"
    assert normalize_message_id("201002191008.30117.foo.bar@company.com") == "<201002191008.30117.foo.bar@company.com>"
    assert normalize_message_id("two words") is None
    assert normalize_message_id("<" + "x" * 2000 + ">") is None
    raw = mail("No id", message_id=None)
    assert parse(raw).message_id == f"<{hashlib.sha256(raw).hexdigest()}@synthetic.invalid>"


def test_loops_and_our_own_headers() -> None:
    assert parse(mail(message_id="<atum.1.2.r@desk.example.com>"), OPTIONS).loop == "our-message-id"
    assert parse(mail(headers={"X-Loop": "atumdesk@desk.example.com"}), OPTIONS).loop == "x-loop"
    assert parse(mail(headers={"X-Loop": "other@list.example"}), OPTIONS).loop is None
    assert parse(mail(sender="Helpdesk <HELPDESK@desk.example.com>"), OPTIONS).loop == "our-address"
    p = parse(mail(headers={"X-ATUM-Ticket": "1", "x-atum-organization": "2"}))
    assert not [h for h in p.header_names if h.lower().startswith("x-atum")]
    assert "Subject" in p.header_names


def test_machine_senders() -> None:
    assert parse(mail(headers={"Auto-Submitted": "no"})).auto_submitted is None
    assert parse(mail(headers={"Auto-Submitted": "Auto-Replied"})).auto_submitted == "auto-replied"
    assert parse(mail(headers={"Precedence": "Bulk"})).auto_submitted == "bulk"
    assert parse(mail(headers={"X-Auto-Response-Suppress": "None"})).auto_submitted is None
    assert parse(mail(sender="noreply-alerts@bank.example")).auto_submitted == "noreply"
    assert parse(mail(sender="noreen@bank.example")).auto_submitted is None
    assert parse(mail(sender="replyto@bank.example")).auto_submitted is None


def test_delivery_status_notifications() -> None:
    p = parse(dsn("<atum.1.9.q@desk.example.com>", "Bob@Example.com"))
    assert p.auto_submitted == "delivery-status" and p.dsn is not None
    assert p.dsn.original_message_ids == ("<atum.1.9.q@desk.example.com>",)
    assert [(r.address, r.status) for r in p.dsn.failed] == [("bob@example.com", "5.1.1")]
    assert "could not" in p.text
    delayed = parse(dsn("<m@x>", "bob@example.com", action="delayed", status="4.4.1"))
    assert delayed.dsn is not None and delayed.dsn.failed == ()
    attached = parse(dsn("<m2@x>", "bob@example.com", attach="message"))
    assert attached.dsn is not None and attached.dsn.original_message_ids == ("<m2@x>",)


def test_quote_trimming() -> None:
    assert trim_quotes("Yes.\n\nOn Tue, 3 Mar 2026 at 10:00, Helpdesk <h@x.example> wrote:\n> Did it work?") == "Yes."
    assert trim_quotes("Ja.\n\nAm 03.03.2026 um 10:00 schrieb Helpdesk <h@x.example>:\n> Geht es?") == "Ja."
    assert trim_quotes("Ok\nOn Tue, 3 Mar 2026 at 10:00 Very Long Name\n<h@x.example> wrote:\n> q") == "Ok"
    outlook = "Top.\n\n________________________________\nFrom: Helpdesk\nSent: Monday\nTo: Ann\n\nold"
    assert trim_quotes(outlook) == "Top."
    assert trim_quotes("Fine.\n-----Original Message-----\nold") == "Fine."
    assert trim_quotes("Thanks\n-- \nAnn\nPhone 123") == "Thanks"
    assert trim_quotes("> a\nmy answer\n> b\nmore") == "my answer\nmore"
    assert trim_quotes("> only quotes") == "> only quotes"  # nothing new: the whole text
    forwarded = "Please look.\n\n---------- Forwarded message ---------\nFrom: Bob\nDate: Mon\n\nThe problem."
    assert trim_quotes(forwarded) == forwarded  # a forward is the request itself


def test_html_sanitising_and_text() -> None:
    clean = sanitize_html('<p style="x" onmouseover="a()">Hi<script>b()</script><img src="cid:ab@c">'
                          '<img src="http://t.example/p.gif"><a href="javascript:c()">x</a></p>', {"ab@c": 2})
    assert clean == '<p>Hi<img src="cid:atum-inline-2"><img><a rel="noopener noreferrer nofollow">x</a></p>'
    assert html_to_text("<div>a<br>b</div><table><tr><td>c</td><td>d</td></tr></table>") == "a\nb\n\n c d"
    assert html_to_text("<p>x</p><blockquote><p>old</p></blockquote>") == "x\n\n> old"


def test_hostile_attachment_names_are_passed_on_intact_for_the_database_to_normalise() -> None:
    p = parse(mail(attachments=[("..\\..\\win.ini", "text/plain", b"x"), ("a\u202egpj.exe", "text/plain", b"y")]))
    assert [a.filename for a in p.attachments] == ["..\\..\\win.ini", "a\u202egpj.exe"]
    assert [a.sha256 for a in p.attachments] == [hashlib.sha256(b"x").hexdigest(), hashlib.sha256(b"y").hexdigest()]


def test_limits() -> None:
    raw = mail(attachments=[("big.bin", "application/octet-stream", b"\x01" * 5000)])
    p = parse(raw, ParseOptions(attachment_max_bytes=1000))
    assert p.attachments == () and "'big.bin' (5,000 bytes) was not kept" in p.text
    huge = parse(raw, ParseOptions(max_bytes=1024))
    assert huge.too_large and huge.attachments == () and f"{len(raw):,} bytes" in huge.text
    assert huge.subject == "Printer on floor 3 is broken" and huge.from_address == "ann@customer.example"
    fetched_in_part = parse(raw[:1025], ParseOptions(max_bytes=1024), size=50_000_000)
    assert fetched_in_part.raw_size == 50_000_000 and "50,000,000 bytes" in fetched_in_part.text


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_any_bytes_parse_without_an_exception(raw: bytes) -> None:
    p = parse(raw)
    assert p.message_id.startswith("<") and "\x00" not in p.text + p.subject + p.from_name


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([
    b"Subject: =?utf-8?B?", b"=?iso-8859-1?Q?=E9?=", b"\r\n", b"\n\n", b"Content-Type: multipart/mixed; boundary=b\r\n",
    b"--b\r\n", b"--b--\r\n", b"Content-Type: message/rfc822\r\n", b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Disposition: attachment; filename*=utf-8''%E2%80%AE.exe\r\n", b"From: <@>\r\n", b"\x00\xff\xfe",
    b"Content-Type: text/html; charset=utf-7\r\n", b"<img src=x onerror=alert(1)>", b"QUJD!!!==\r\n",
]), max_size=40))
def test_mime_shaped_garbage_parses_without_an_exception(pieces: list[bytes]) -> None:
    p = parse(b"".join(pieces))
    assert "onerror" not in (p.html or "")
