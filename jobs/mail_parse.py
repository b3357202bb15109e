"""Raw RFC 5322 bytes to a :class:`ParsedMail`: pure parsing, no database, no file system.

What a received message says, as the ingest function (``atum_private.mail_ingest``, the rules) needs
it: sender, subject, Message-ID, the Message-IDs it answers, whether a machine sent it, whether it is
our own mail coming back, the delivery report it may be, its text (quoted history trimmed for
display, and in full), its HTML sanitised by an allow-list, and its attachments.

Mail is hostile input written by every program on earth, so :func:`parse` never raises: the
structure comes from the standard library's parser (compat32, with policy.default as the second
opinion where it fails, then a bare split into header lines and body), and every call into the
parsed tree is guarded. Header text is decoded here rather than by policy.default's header objects
(which are slow, and raise on malformed headers), so that unknown or wrong charsets, 8-bit bytes
in headers and broken RFC 2047 encoded words all end as readable text instead of an exception.
Limits (nesting depth, number of parts and attachments, text length, message size) keep a crafted
message from costing more than an ordinary one.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import html
import mimetypes
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email import policy
from email.generator import BytesGenerator
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser, HeaderParser
from email.utils import getaddresses
from functools import cached_property
from html.parser import HTMLParser
from io import BytesIO
from typing import Any

import nh3

from atumdesk.settings import Settings

MAX_DEPTH = 64  # MIME nesting beyond this is not looked into (real mail nests 3 or 4 deep)
MAX_PARTS = 500
MAX_ATTACHMENTS = 100
MAX_TEXT_CHARS = 2_000_000  # matches the *_full and *_html columns (migrations/0014)
MAX_REFERENCES = 30
HEADER_SCAN_BYTES = 256 * 1024  # of a message too large to parse, only this much is read for headers
SYNTHETIC_DOMAIN = "synthetic.invalid"  # .invalid can never be a real domain (RFC 2606)
LOOP_HEADER_LOCAL = "atumdesk"  # our outbound mail carries X-Loop: atumdesk@<ATUM_MAIL_DOMAIN>

# Codecs that are not character sets even though Python can decode with them: a label naming one
# is treated as an unknown charset.
_NOT_CHARSETS = frozenset({"unicode-escape", "raw-unicode-escape", "unicode-internal", "punycode", "idna",
                           "undefined", "mbcs", "oem"})
# Labels whose text is, in practice, often UTF-8 mislabelled: valid UTF-8 with non-ASCII bytes wins.
_WEAK_LABELS = frozenset({"ascii", "us-ascii", "latin-1", "latin1", "iso-8859-1", "iso8859-1", "cp1252",
                          "windows-1252", "iso-8859-15", "x-unknown", "unknown-8bit", "default"})
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,75})\?([bBqQ])\?([^?\s]*)\?=")
_MESSAGE_ID = re.compile(r"<([^<>\s]{1,990})>")
_ADDRESS = re.compile(r"[^\s<>\"(),;:@\[\]]{1,200}@[A-Za-z0-9\u00a0-\uffff][A-Za-z0-9.\-\u00a0-\uffff]{0,252}")
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NOREPLY = re.compile(r"(^|[-_.+])(no-?reply|do-?not-?reply|donotreply)([-_.+]|$)|^(mailer-daemon|postmaster)$",
                      re.IGNORECASE)
_PRECEDENCE = {"bulk": "bulk", "list": "list", "junk": "junk", "auto_reply": "auto-reply", "auto-reply": "auto-reply"}


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Attachment:
    """A file of the message (attachment or inline image), with its bytes."""

    content: bytes = field(repr=False)
    filename: str
    content_type: str
    content_id: str | None
    inline: bool

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.content)

    @cached_property
    def sha256(self) -> str:
        """SHA-256 of the content in lower-case hex (the store key)."""
        return hashlib.sha256(self.content).hexdigest()


@dataclass(frozen=True)
class DsnRecipient:
    """One recipient a delivery status notification reports on."""

    address: str
    action: str
    status: str
    diagnostic: str


@dataclass(frozen=True)
class Dsn:
    """A delivery status notification (RFC 3464): which of our messages, and who did not get it."""

    original_message_ids: tuple[str, ...]
    recipients: tuple[DsnRecipient, ...]

    @property
    def failed(self) -> tuple[DsnRecipient, ...]:
        """Recipients the message could not be delivered to (not mere delays)."""
        return tuple(r for r in self.recipients
                     if r.action == "failed" or (not r.action and r.status.startswith("5")))


@dataclass(frozen=True)
class ParsedMail:
    """Everything ingestion needs to know about one message."""

    message_id: str
    from_address: str | None
    from_name: str
    subject: str
    references: tuple[str, ...]  # In-Reply-To first, then References newest first
    auto_submitted: str | None  # why a machine sent it, e.g. auto-replied, bulk, list, noreply
    loop: str | None  # why it is our own mail coming back
    dsn: Dsn | None
    text: str  # for display: quoted history and signature trimmed
    text_full: str
    html: str | None  # sanitised; inline images as cid:atum-inline-N placeholders
    attachments: tuple[Attachment, ...]
    raw_size: int
    raw_sha256: str
    too_large: bool = False
    notes: tuple[str, ...] = ()  # what was left out, and why (also appended to the text)
    header_names: tuple[str, ...] = ()  # the headers read, after ours (X-ATUM-*) were removed

    def as_json(self) -> dict[str, Any]:
        """The message as ``atum_private.mail_ingest`` takes it (attachments as metadata only)."""
        return {
            "message_id": self.message_id,
            "from_address": self.from_address,
            "from_name": self.from_name,
            "subject": self.subject,
            "references": list(self.references),
            "auto_submitted": self.auto_submitted,
            "loop": self.loop,
            "dsn": None if self.dsn is None else {
                "original_message_ids": list(self.dsn.original_message_ids),
                "failed": [{"address": r.address, "status": r.status, "diagnostic": r.diagnostic}
                           for r in self.dsn.failed],
            },
            "text": self.text,
            "text_full": self.text_full,
            "html": self.html,
            "attachments": [{"sha256": a.sha256, "size": a.size, "filename": a.filename,
                             "content_type": a.content_type, "content_id": a.content_id, "inline": a.inline}
                            for a in self.attachments],
            "raw_size": self.raw_size,
            "raw_sha256": self.raw_sha256,
        }


@dataclass(frozen=True)
class ParseOptions:
    """What parsing needs from the settings."""

    mail_domain: str = "atumdesk.localhost"
    max_bytes: int = 40 * 1024 * 1024
    attachment_max_bytes: int = 25 * 1024 * 1024
    own_addresses: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings) -> ParseOptions:
        """The options the running instance uses."""
        return cls(mail_domain=settings.mail_domain.lower(), max_bytes=settings.mail_max_bytes,
                   attachment_max_bytes=settings.attachment_max_bytes,
                   own_addresses=frozenset({settings.mail_from.lower()}))


# ---------------------------------------------------------------------------------------------
# Text and headers
# ---------------------------------------------------------------------------------------------
def clean_text(text: str) -> str:
    """Text PostgreSQL and JSON can carry: no NUL or other control characters but tab and line
    breaks, line breaks as \\n, no lone surrogates."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROLS.sub("", text)
    return text.encode("utf-8", "replace").decode("utf-8")


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = name.split("*", 1)[0]  # RFC 2231 language suffix: utf-8*en
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if info.name in _NOT_CHARSETS or not getattr(info, "_is_text_encoding", True):
        return None
    return info.name


def _cp1252_fallback(error: UnicodeError) -> tuple[str, int]:
    """Decoding error handler: bytes that are not UTF-8 are read as Windows-1252 (Latin-1 for the
    five bytes it leaves undefined), so text that mixes both, as mail often does, reads right."""
    assert isinstance(error, UnicodeDecodeError)
    chunk = error.object[error.start:error.end]
    return "".join(bytes([b]).decode("cp1252", "strict") if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D) else chr(b)
                   for b in chunk), error.end


codecs.register_error("atum-cp1252-fallback", _cp1252_fallback)


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes in a declared charset, whatever the declaration is worth: an unknown or wrong label,
    or bytes the label does not fit, are read as UTF-8 with anything that is not UTF-8 read as
    Windows-1252. Never raises."""
    label = (charset or "").strip().strip("\"'").lower()
    declared = _codec(label)
    if declared is not None and not (label in _WEAK_LABELS and not data.isascii()):
        try:
            return data.decode(declared)
        except (UnicodeDecodeError, LookupError, ValueError):
            pass
    # No label, an unknown one, or a weak one on 8-bit text (mislabelled UTF-8 is the commonest
    # lie, and Latin-1 text is almost never valid UTF-8).
    return data.decode("utf-8", "atum-cp1252-fallback")


def _header_bytes(value: str) -> bytes:
    # The bytes parser keeps 8-bit header bytes as surrogate escapes.
    return value.encode("utf-8", "surrogateescape")


def _decode_word(charset: str, encoding: str, payload: str) -> bytes:
    if encoding in "bB":
        try:
            return base64.b64decode(payload + "=" * (-len(payload) % 4), validate=False)
        except (binascii.Error, ValueError):
            return payload.encode("ascii", "replace")
    out = bytearray()
    i = 0
    while i < len(payload):
        ch = payload[i]
        if ch == "_":
            out.append(0x20)
        elif ch == "=" and re.fullmatch(r"[0-9A-Fa-f]{2}", payload[i + 1:i + 3]):
            out.append(int(payload[i + 1:i + 3], 16))
            i += 2
        else:
            out.extend(ch.encode("utf-8", "replace"))
        i += 1
    return bytes(out)


def decode_header_value(value: str | None) -> str:
    """A header's text: unfolded, 8-bit bytes and RFC 2047 encoded words decoded (adjacent words in
    one charset are joined before decoding, so a character split across two words survives)."""
    if not value:
        return ""
    text = re.sub(r"\r?\n[ \t]*", " ", value)
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        text = decode_bytes(_header_bytes(text), None)
    pieces: list[str] = []
    pending: tuple[str, bytearray] | None = None
    position = 0
    for match in _ENCODED_WORD.finditer(text):
        between = text[position:match.start()]
        if between and (pending is None or between.strip()):
            if pending is not None:
                pieces.append(decode_bytes(bytes(pending[1]), pending[0]))
                pending = None
            pieces.append(between)
        charset, encoding, payload = match.groups()
        data = _decode_word(charset, encoding, payload)
        if pending is not None and pending[0].lower() == charset.lower():
            pending[1].extend(data)
        else:
            if pending is not None:
                pieces.append(decode_bytes(bytes(pending[1]), pending[0]))
            pending = (charset, bytearray(data))
        position = match.end()
    if pending is not None:
        pieces.append(decode_bytes(bytes(pending[1]), pending[0]))
    pieces.append(text[position:])
    return clean_text("".join(pieces)).replace("\n", " ").strip()


def _raw_headers(msg: Message, name: str) -> list[str]:
    """Every value of a header as stored by the parser (no policy header object is built: those
    are what raises on malformed headers)."""
    wanted = name.lower()
    try:
        return [v if isinstance(v, str) else str(v) for k, v in msg.raw_items() if k.lower() == wanted]
    except Exception:  # a broken message object: no such header
        return []


def _header(msg: Message, name: str) -> str:
    values = _raw_headers(msg, name)
    return decode_header_value(values[0]) if values else ""


def normalize_message_id(value: str | None) -> str | None:
    """``<id>`` from a Message-ID-like header value, or None when it holds nothing usable."""
    if not value:
        return None
    text = value.strip()
    match = _MESSAGE_ID.search(text)
    candidate = match.group(1) if match else text.strip("<>")
    if not candidate or len(candidate) > 990 or not candidate.isprintable() or any(c.isspace() for c in candidate):
        return None
    return f"<{candidate}>"


def _message_ids(values: Iterable[str]) -> list[str]:
    found = []
    for value in values:
        found += [f"<{m}>" for m in _MESSAGE_ID.findall(value) if m.isprintable()]
    return found


def _address(value: str) -> tuple[str | None, str]:
    """(address, display name) of the first mailbox in an address header, however malformed."""
    decoded_value = re.sub(r"\r?\n[ \t]*", " ", value)
    try:
        for name, addr in getaddresses([decoded_value]):
            if "@" in addr and _ADDRESS.fullmatch(addr.strip()):
                return addr.strip(), decode_header_value(name).strip("\"' ")
    except Exception:  # getaddresses on hostile input: fall back to a search
        pass
    match = _ADDRESS.search(decoded_value)
    if not match:
        return None, ""
    before = decoded_value[:match.start()].strip(" \t\"'<(")
    return match.group(0), decode_header_value(before).strip("\"' ")


def normalize_address(address: str | None) -> str | None:
    """An address in the form users are stored in: lower case, an IDN domain as punycode."""
    if not address:
        return None
    address = address.strip().strip("<>").strip()
    local, _, domain = address.rpartition("@")
    if not local or not domain:
        return None
    domain = domain.rstrip(".").lower()
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return clean_text(f"{local}@{domain}".lower())


# ---------------------------------------------------------------------------------------------
# Structure
# ---------------------------------------------------------------------------------------------
_CONTENT_TYPE_FIELD = re.compile(rb"(?im)^content-type:[^\n]*(?:\r?\n[ \t][^\n]*)*")
_UNQUOTED_BOUNDARY = re.compile(rb'(?i)(\bboundary\s*=\s*)([^"\s;][^\s;]*)')
_HEADER_LINE = re.compile(rb"^([!-9;-~]{1,100}:|[ \t])")


def _quote_boundaries(raw: bytes) -> bytes:
    """Unquoted boundaries in Content-Type fields quoted. Outlook writes boundary=----=_NextPart_...
    unquoted; '=' is not allowed in an unquoted value, and the parser then sees no parts at all."""
    if b"oundary" not in raw and b"OUNDARY" not in raw:
        return raw
    return _CONTENT_TYPE_FIELD.sub(lambda m: _UNQUOTED_BOUNDARY.sub(rb'\1"\2"', m.group(0)), raw)


def _repair_header_block(raw: bytes) -> bytes | None:
    """The message without the lines of its header block that are no header (a stray word before a
    field name ends the header block for the parser, and From and Subject go to the body); None
    when there is nothing to repair."""
    newline = b"\r\n" if b"\r\n" in raw[:2000] else b"\n"
    head, separator, body = raw.partition(newline + newline)
    lines = head.split(newline)
    kept = [line for line in lines if _HEADER_LINE.match(line)]
    if len(kept) == len(lines) or not separator:
        return None
    return newline.join(kept) + separator + body


def _parse_structure(raw: bytes) -> Message:
    """The MIME tree: compat32, else policy.default, else a bare split into headers and body.

    compat32 first: it keeps header values as the strings received, which is all this module reads
    (decode_header_value does the decoding, robustly), and it builds the tree twelve times faster
    than policy.default, whose header objects are parsed on every access and raise on malformed
    headers. policy.default is the second opinion when compat32 fails on a message."""
    raw = _quote_boundaries(raw)
    for parser_policy in (policy.compat32, policy.default):
        try:
            message: Message = BytesParser(policy=parser_policy).parsebytes(raw)
            message.get_content_type()  # touches the Content-Type header: raises where it is broken
            if not _raw_headers(message, "from"):
                repaired = _repair_header_block(raw)
                if repaired is not None:
                    message = BytesParser(policy=parser_policy).parsebytes(repaired)
                    message.get_content_type()
            return message
        except Exception:  # hostile input: try the next parser
            continue
    return _bare_message(raw)


def _bare_message(raw: bytes) -> Message:
    """Header lines up to the first empty line and everything after as a text body."""
    message = Message(policy=policy.compat32)
    head, _, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    for line in re.split(rb"\n(?![ \t])", head):
        name, sep, value = line.partition(b":")
        if sep and re.fullmatch(rb"[!-9;-~]{1,100}", name):
            message[name.decode("ascii")] = value.strip().decode("utf-8", "surrogateescape")
    message.set_payload(body.decode("utf-8", "surrogateescape"))
    return message


def _parse_headers_only(raw: bytes) -> Message:
    end = len(raw)
    for separator in (b"\r\n\r\n", b"\n\n"):
        found = raw.find(separator, 0, HEADER_SCAN_BYTES)
        if found != -1:
            end = min(end, found)
    head = raw[:min(end, HEADER_SCAN_BYTES)]
    for parser_policy in (policy.compat32, policy.default):
        try:
            return BytesHeaderParser(policy=parser_policy).parsebytes(head)
        except Exception:
            continue
    return _bare_message(head)


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "application/octet-stream"


def _param(part: Message, name: str, header: str = "content-type") -> str | None:
    try:
        value = part.get_param(name, header=header)
    except Exception:
        return None
    if isinstance(value, tuple):  # RFC 2231 (charset, language, value) in compat32
        try:
            value = decode_bytes(value[2].encode("latin-1", "replace"), value[0])
        except Exception:
            value = str(value[2])
    return None if value is None else str(value)


def _disposition(part: Message) -> str:
    values = _raw_headers(part, "content-disposition")
    return values[0].split(";", 1)[0].strip().lower() if values else ""


_RAW_NAME = re.compile(r'(?i)\b(?:file)?name\s*=\s*(?:"([^"]*)"|([^;]*))')


def _raw_name(part: Message) -> str | None:
    """A file name as written, for what the parameter parsers get wrong: unquoted names with spaces
    (name=This is a test.txt) and unquoted encoded words (filename==?utf-8?B?...?=)."""
    for header in ("content-disposition", "content-type"):
        for value in _raw_headers(part, header):
            match = _RAW_NAME.search(re.sub(r"\r?\n[ \t]*", " ", value))
            if match:
                name = (match.group(1) if match.group(1) is not None else match.group(2) or "").strip()
                if name:
                    return name
    return None


def _filename(part: Message) -> str | None:
    name: str | None = None
    try:
        name = part.get_filename()
    except Exception:
        name = None
    name = name or _param(part, "filename", "content-disposition") or _param(part, "name")
    raw = _raw_name(part)
    eight_bit = raw is not None and any("\udc80" <= ch <= "\udcff" for ch in raw)
    if raw and (not name or (raw.startswith(name) and len(raw) > len(name)) or raw.startswith("=?") or eight_bit):
        name = raw
    if not name:
        return None
    if any("\udc80" <= ch <= "\udcff" for ch in name) or "=?" in name:
        name = decode_header_value(name)
    return clean_text(name)[:4096] or None


def _payload_bytes(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    try:
        payload = part.get_payload()
    except Exception:
        return b""
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape")
    return b""


def _message_bytes(part: Message) -> bytes:
    """An attached message (message/rfc822) as bytes, to be kept as an .eml file."""
    try:
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if isinstance(inner, Message):
            out = BytesIO()
            BytesGenerator(out, mangle_from_=False, policy=policy.compat32).flatten(inner)
            return out.getvalue()
    except Exception:  # fall back to the text form
        pass
    try:
        text = str(part.get_payload(0) if part.is_multipart() else part.get_payload())
        return text.encode("utf-8", "surrogateescape")
    except Exception:
        return b""


def _children(part: Message) -> list[Message]:
    try:
        payload = part.get_payload()
    except Exception:
        return []
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []


def _part_text(part: Message) -> str:
    charset = _param(part, "charset")
    return clean_text(decode_bytes(_payload_bytes(part), charset))


@dataclass
class _Block:
    plain: str | None = None
    html: str | None = None


@dataclass
class _Walk:
    blocks: list[_Block] = field(default_factory=list)
    files: list[Attachment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    parts: int = 0
    skipped: int = 0

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def _default_name(content_type: str, index: int) -> str:
    if content_type == "message/rfc822":
        return "message.eml"
    extension = mimetypes.guess_extension(content_type, strict=False) or ".bin"
    return f"{'image' if content_type.startswith('image/') else 'attachment'}-{index}{extension}"


def _keep_file(part: Message, content_type: str, walk: _Walk, options: ParseOptions) -> None:
    data = _message_bytes(part) if content_type == "message/rfc822" else _payload_bytes(part)
    name = _filename(part) or _default_name(content_type, len(walk.files) + 1)
    if len(walk.files) >= MAX_ATTACHMENTS:
        walk.skipped += 1
        walk.note(f"[More than {MAX_ATTACHMENTS} attachments: the rest were not kept.]")
        return
    if len(data) > options.attachment_max_bytes:
        walk.note(f"[The attachment {name!r} ({len(data):,} bytes) was not kept: "
                  f"it is larger than the limit of {options.attachment_max_bytes:,} bytes.]")
        return
    content_id = normalize_message_id(_raw_headers(part, "content-id")[0]) if _raw_headers(part, "content-id") else None
    walk.files.append(Attachment(
        content=data, filename=name, content_type=content_type,
        content_id=content_id[1:-1] if content_id else None,
        inline=_disposition(part) == "inline" or (content_id is not None and _disposition(part) != "attachment"),
    ))


def _visit(part: Message, depth: int, walk: _Walk, options: ParseOptions) -> None:
    walk.parts += 1
    if walk.parts > MAX_PARTS:
        walk.note(f"[The message has more than {MAX_PARTS} parts: the rest were left out.]")
        return
    if depth > MAX_DEPTH:
        walk.note(f"[Parts nested more than {MAX_DEPTH} levels deep were left out.]")
        return
    content_type = _content_type(part)
    if content_type.startswith("message/"):
        # Attached messages are kept whole, not walked into: a forwarded message stays one file,
        # and a message nested in itself a thousand times costs one file, not a thousand parts.
        if content_type not in ("message/delivery-status", "message/disposition-notification"):
            _keep_file(part, "message/rfc822" if content_type == "message/rfc822" else content_type, walk, options)
        return
    if part.is_multipart():
        children = _children(part)
        if content_type != "multipart/alternative":
            for child in children:
                _visit(child, depth + 1, walk, options)
            return
        # Alternatives of one content: the first plain-text rendering and the last HTML one (the
        # richest, RFC 2046 orders them plainest first).
        chosen = _Block()
        for child in children:
            inner = _Walk(files=walk.files, notes=walk.notes, parts=walk.parts)
            _visit(child, depth + 1, inner, options)
            walk.parts = inner.parts
            plains = [b.plain for b in inner.blocks if b.plain is not None]
            htmls = [b.html for b in inner.blocks if b.html is not None]
            if plains and chosen.plain is None:
                chosen.plain = "\n\n".join(plains)
            if htmls:
                chosen.html = "".join(htmls)
        if chosen.plain is not None or chosen.html is not None:
            walk.blocks.append(chosen)
        return
    attached = _disposition(part) == "attachment" or _filename(part) is not None
    if content_type == "text/plain" and not attached:
        walk.blocks.append(_Block(plain=_part_text(part)))
    elif content_type == "text/html" and not attached:
        walk.blocks.append(_Block(html=_part_text(part)))
    elif content_type in ("application/pgp-signature", "application/pkcs7-signature",
                          "application/x-pkcs7-signature") and not _payload_bytes(part).strip():
        return  # an empty signature part is not a file anyone wants
    else:
        _keep_file(part, content_type, walk, options)


# ---------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------
_TAGS = frozenset(nh3.ALLOWED_TAGS) - {"area", "map"}
_ATTRIBUTES: dict[str, set[str]] = {tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()}
_ATTRIBUTES["img"] = {"alt", "src", "width", "height", "title"}
_ATTRIBUTES["a"] = {"href", "hreflang", "title"}
_ATTRIBUTES["*"] = {"dir", "lang"}
# Tags dropped with everything inside them (their content is not text for a reader).
_CLEAN_CONTENT = frozenset({"script", "style", "title", "head", "template", "noscript", "iframe", "object", "embed",
                            "svg", "math", "textarea", "select", "button", "frameset", "applet"})
_URL_SCHEMES = frozenset({"http", "https", "mailto", "cid"})


def sanitize_html(source: str, inline_ids: dict[str, int]) -> str:
    """HTML reduced to an allow-list of tags and attributes (nh3): no scripts, styles, event
    handlers, forms or frames, links only to http(s) and mailto. Images never load anything from
    elsewhere: an inline image (``cid:``) becomes the placeholder ``cid:atum-inline-N`` that the
    database points at its stored attachment; any other source is removed, so opening a ticket
    never tells a sender (or a tracker) that it was read."""

    def attribute_filter(tag: str, attribute: str, value: str) -> str | None:
        if tag == "img" and attribute == "src":
            target = value.strip()
            if target[:4].lower() != "cid:":
                return None
            index = inline_ids.get(target[4:].strip().strip("<>")) or inline_ids.get(target[4:].strip("<> ").lower())
            return f"cid:atum-inline-{index}" if index else None
        return value

    try:
        return nh3.clean(source, tags=set(_TAGS), clean_content_tags=set(_CLEAN_CONTENT), attributes=_ATTRIBUTES,
                         attribute_filter=attribute_filter, url_schemes=set(_URL_SCHEMES), strip_comments=True,
                         link_rel="noopener noreferrer nofollow")
    except Exception:  # nh3 refused the input: keep its text only
        return html.escape(html_to_text(source))


class _TextExtractor(HTMLParser):
    """Readable text from HTML: blocks on their own lines, list items as "- ", links with their
    address, quoted blocks (<blockquote>) with "> " so the quote trimmer recognises them."""

    BLOCKS = frozenset({"p", "div", "br", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "pre", "ul", "ol",
                        "dl", "dt", "dd", "section", "article", "header", "footer", "address", "center"})
    SKIP = frozenset({"script", "style", "head", "title", "template", "noscript", "svg", "math"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.pre = 0
        self.quote = 0
        self.href: list[str | None] = []

    def _newline(self) -> None:
        self.out.append("\n" + "> " * self.quote)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skip += 1
        elif tag == "blockquote":
            self.quote += 1
            self._newline()
        elif tag == "li":
            self._newline()
            self.out.append("- ")
        elif tag in self.BLOCKS:
            self.pre += tag == "pre"
            self._newline()
        elif tag == "a":
            self.href.append(dict(attrs).get("href"))
        elif tag in ("td", "th"):
            self.out.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "blockquote":
            self.quote = max(0, self.quote - 1)
            self._newline()
        elif tag == "a" and self.href:
            href = self.href.pop()
            if href and re.match(r"(?i)https?:|mailto:", href) and href not in "".join(self.out[-3:]):
                self.out.append(f" <{href}>")
        elif tag in self.BLOCKS:
            self.pre = max(0, self.pre - (tag == "pre"))
            self._newline()

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        data = data.replace("\u00a0", " ")
        if not self.pre:
            data = re.sub(r"\s+", " ", data)
        elif self.quote:
            data = data.replace("\n", "\n" + "> " * self.quote)
        self.out.append(data)


def html_to_text(source: str) -> str:
    """Plain text of an HTML body (for mail that has no text/plain part)."""
    try:
        extractor = _TextExtractor()
        extractor.feed(source)
        extractor.close()
        text = "".join(extractor.out)
    except Exception:  # the parser gave up: strip the tags crudely
        text = html.unescape(re.sub(r"<[^>]*>", " ", source))
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(line if line.strip(" >") else "" for line in lines)).strip()


# ---------------------------------------------------------------------------------------------
# Quoted history
# ---------------------------------------------------------------------------------------------
_ATTRIBUTION = re.compile(
    r"^(On\s.{1,300}\swrote|Am\s.{1,300}\sschrieb.{0,200}|Le\s.{1,300}\sa\s+écrit|El\s.{1,300}\sescribió"
    r"|Il\s.{1,300}\sha\s+scritto|Op\s.{1,300}\sschreef.{0,200}|Den\s.{1,300}\sskrev.{0,200}"
    r"|.{1,200}<[^<>\s]+@[^<>\s]+>\s+(wrote|schrieb|a écrit|escribió|skrev|schreef))\s*:\s*$",
    re.IGNORECASE)
_ORIGINAL = re.compile(r"^-{2,}\s*(Original Message|Ursprüngliche Nachricht|Message d'origine|Mensaje original"
                       r"|Messaggio originale|Oorspronkelijk bericht|Originalmeddelande)\s*-{2,}\s*$", re.IGNORECASE)
_FORWARD = re.compile(r"^-{2,}\s*(Forwarded message|Weitergeleitete Nachricht|Message transféré|Mensaje reenviado"
                      r"|Messaggio inoltrato|Doorgestuurd bericht|Vidarebefordrat meddelande)\s*-{2,}\s*$",
                      re.IGNORECASE)
_OUTLOOK_FROM = re.compile(r"^\*?(From|Von|De|Da|Van|Från|Fra|Od)\s*:\*?\s", re.IGNORECASE)
_OUTLOOK_SENT = re.compile(r"^\*?(Sent|Gesendet|Date|Datum|Envoyé|Enviado|Inviato|Verzonden|Skickat|Sendt|Wysłano)"
                           r"\s*:\*?\s", re.IGNORECASE)


def trim_quotes(text: str) -> str:
    """The new part of a reply: the text before the quoted history ("On ... wrote:", Outlook's
    "-----Original Message-----" or "From: ... Sent: ..." block) and before the signature ("-- "),
    without lines quoted with ">". The whole text when nothing is left."""
    lines = text.split("\n")
    cut = len(lines)
    forward = len(lines)
    for i, line in enumerate(lines):
        stripped = line.strip()
        if _FORWARD.match(stripped):
            forward = cut = i  # what follows is the forwarded request itself: kept whole
            break
        if line.rstrip("\r") == "-- " or stripped == "--":
            cut = i
            break
        if _ORIGINAL.match(stripped) or _ATTRIBUTION.match(stripped):
            cut = i
            break
        if i + 1 < len(lines) and stripped and _ATTRIBUTION.match(stripped + " " + lines[i + 1].strip()) \
                and re.match(r"(?i)(on|am|le|el|il|op|den)\s", stripped):
            cut = i  # Gmail folds long attributions over two lines
            break
        if _OUTLOOK_FROM.match(stripped) and any(_OUTLOOK_SENT.match(n.strip()) for n in lines[i + 1:i + 5]):
            cut = i - 1 if i > 0 and re.fullmatch(r"_{5,}", lines[i - 1].strip()) else i
            break
    kept = [line for line in lines[:cut] if not line.lstrip().startswith(">")] + lines[forward:]
    result = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
    return result or text.strip()


# ---------------------------------------------------------------------------------------------
# Machines, loops, delivery reports
# ---------------------------------------------------------------------------------------------
def _kind(value: str) -> str:
    kind = re.sub(r"[^a-z0-9_-]+", "-", value.lower()).strip("-_")[:40]
    if not kind:
        return "auto"
    return kind if kind[:1].isalpha() else "auto-" + kind[:35]


def _auto_submitted(msg: Message, sender: str | None, dsn: bool) -> str | None:
    """Why a machine sent this message (RFC 3834 and the conventions around it), or None."""
    if dsn:
        return "delivery-status"
    if _content_type(msg) == "multipart/report":
        return _kind(_param(msg, "report-type") or "report")
    auto = _header(msg, "auto-submitted").split(";", 1)[0].strip().lower()
    if auto and auto != "no":
        return _kind(auto)
    precedence = _header(msg, "precedence").strip().lower()
    if precedence in _PRECEDENCE:
        return _PRECEDENCE[precedence]
    for name in ("x-autoreply", "x-autorespond", "x-autoresponder"):
        if _raw_headers(msg, name):
            return name[2:]
    suppress = _header(msg, "x-auto-response-suppress").strip().lower()
    if suppress and suppress != "none":
        return "auto-response-suppress"
    local = (sender or "").rpartition("@")[0]
    if local and _NOREPLY.search(local):
        return "mailer-daemon" if local.lower() in ("mailer-daemon", "postmaster") else "noreply"
    return_path = _raw_headers(msg, "return-path")
    if return_path and return_path[0].strip() in ("<>", ""):
        return "null-sender"
    if _raw_headers(msg, "list-id"):
        return "list"
    if _raw_headers(msg, "list-unsubscribe"):
        return "bulk"
    return None


def _loop(message_id: str, sender: str | None, msg: Message, options: ParseOptions) -> str | None:
    """Why this is our own mail coming back, or None."""
    if message_id.lower().endswith(f"@{options.mail_domain}>"):
        return "our-message-id"
    ours = f"{LOOP_HEADER_LOCAL}@{options.mail_domain}"
    if any(decode_header_value(v).strip().strip("<>").lower() == ours for v in _raw_headers(msg, "x-loop")):
        return "x-loop"
    if sender is not None and sender in options.own_addresses:
        return "our-address"
    return None


def _fields(block: Message | str) -> list[tuple[str, str]]:
    if isinstance(block, Message):
        return [(k.lower(), decode_header_value(v if isinstance(v, str) else str(v))) for k, v in block.raw_items()]
    return [(m.group(1).lower(), m.group(2).strip()) for m in re.finditer(r"(?m)^([A-Za-z-]+):[ \t]*(.*)$", block)]


def _dsn(msg: Message) -> Dsn | None:
    """The delivery status notification this message is (RFC 3464), or None."""
    if _content_type(msg) != "multipart/report" or (_param(msg, "report-type") or "").lower() != "delivery-status":
        return None
    originals: list[str] = []
    recipients: list[DsnRecipient] = []
    for part in _children(msg):
        content_type = _content_type(part)
        if content_type == "message/delivery-status":
            try:
                payload = part.get_payload()
            except Exception:
                payload = None
            blocks: list[Message | str]
            if isinstance(payload, list):
                blocks = list(payload)
            else:
                blocks = re.split(r"\n\s*\n", decode_bytes(_payload_bytes(part), None))
            for block in blocks:
                fields = dict(reversed(_fields(block)))
                originals += _message_ids([fields.get("original-message-id", "")])
                recipient = fields.get("final-recipient") or fields.get("original-recipient")
                if recipient:
                    address = normalize_address(recipient.rpartition(";")[2].strip())
                    if address:
                        recipients.append(DsnRecipient(
                            address=address[:320], action=fields.get("action", "").strip().lower()[:40],
                            status=fields.get("status", "").strip()[:40],
                            diagnostic=fields.get("diagnostic-code", "").rpartition(";")[2].strip()[:500]))
        elif content_type == "message/rfc822":
            inner = _children(part)
            if inner:
                originals += _message_ids(_raw_headers(inner[0], "message-id"))
        elif content_type in ("text/rfc822-headers", "message/rfc822-headers"):
            try:
                headers = HeaderParser(policy=policy.compat32).parsestr(_part_text(part))
                originals += _message_ids(_raw_headers(headers, "message-id"))
            except Exception:
                continue
    originals += _message_ids(_raw_headers(msg, "original-message-id"))
    return Dsn(original_message_ids=tuple(dict.fromkeys(originals))[:MAX_REFERENCES], recipients=tuple(recipients[:50]))


# ---------------------------------------------------------------------------------------------
# The whole message
# ---------------------------------------------------------------------------------------------
def _strip_ours(msg: Message) -> tuple[str, ...]:
    """Remove the headers only we may set (X-ATUM-*) before anything reads them; the names left."""
    try:
        names = list(dict.fromkeys(k for k, _ in msg.raw_items()))
        for name in names:
            if name.lower().startswith("x-atum-"):
                del msg[name]
        return tuple(k for k in dict.fromkeys(k for k, _ in msg.raw_items()))
    except Exception:
        return ()


def _clip(text: str, notes: list[str]) -> str:
    if len(text) <= MAX_TEXT_CHARS:
        return text
    notes.append(f"[The text was shortened: it has {len(text):,} characters.]")
    return text[:MAX_TEXT_CHARS - 1000]


def parse(raw: bytes, options: ParseOptions | None = None, *, size: int | None = None) -> ParsedMail:
    """Parse one raw message. Never raises for any input bytes.

    ``size``: the message's real size when ``raw`` is only its beginning (the IMAP poller fetches
    no more than ``max_bytes + 1`` bytes of a message it knows to be larger)."""
    options = options or ParseOptions()
    raw_sha256 = hashlib.sha256(raw).hexdigest()
    size = max(size or 0, len(raw))
    too_large = size > options.max_bytes
    msg = _parse_headers_only(raw) if too_large else _parse_structure(raw)
    header_names = _strip_ours(msg)

    message_id = normalize_message_id(_raw_headers(msg, "message-id")[0] if _raw_headers(msg, "message-id") else None)
    # A message without a usable Message-ID gets one derived from its bytes: the same message
    # fetched again gets the same id, so it is not ingested twice either.
    message_id = message_id or f"<{raw_sha256}@{SYNTHETIC_DOMAIN}>"
    sender_value = next((v for name in ("from", "sender") for v in _raw_headers(msg, name) if v.strip()), "")
    if any("\udc80" <= ch <= "\udcff" for ch in sender_value):
        sender_value = decode_bytes(_header_bytes(sender_value), None)
    address, name = _address(sender_value) if sender_value else (None, "")
    address = normalize_address(address)
    if name and address and name.strip().lower() == address:
        name = ""
    references = _message_ids(_raw_headers(msg, "in-reply-to"))
    references += list(reversed(_message_ids(_raw_headers(msg, "references"))[-MAX_REFERENCES:]))
    references = [r for r in dict.fromkeys(references) if r != message_id][:MAX_REFERENCES]

    notes: list[str] = []
    dsn = None if too_large else _dsn(msg)
    files: list[Attachment] = []
    html_body: str | None = None
    if too_large:
        notes.append(f"[This message was too large to process: {size:,} bytes, the limit is "
                     f"{options.max_bytes:,} bytes. Its text and attachments were not kept; "
                     "please ask the sender to send it again in smaller parts.]")
        text_full = ""
    else:
        walk = _Walk()
        try:
            _visit(msg, 0, walk, options)
        except RecursionError:
            walk.note("[The message is nested too deeply to read completely.]")
        files = walk.files
        notes += walk.notes
        text_full = "\n\n".join(b.plain if b.plain is not None else html_to_text(b.html or "")
                                for b in walk.blocks).strip()
        htmls = [b.html if b.html is not None else f"<pre>{html.escape(b.plain or '')}</pre>" for b in walk.blocks]
        if any(b.html is not None for b in walk.blocks):
            inline_ids: dict[str, int] = {}
            for index, attachment in enumerate(files, start=1):
                if attachment.content_id:
                    inline_ids.setdefault(attachment.content_id, index)
                    inline_ids.setdefault(attachment.content_id.lower(), index)
            html_body = sanitize_html("".join(htmls), inline_ids).strip()
            if len(html_body) > MAX_TEXT_CHARS:
                notes.append("[The HTML version was too large to keep; the text version is shown.]")
                html_body = None
        text_full = _clip(text_full, notes)
    text = trim_quotes(text_full) if text_full else ""
    if notes:
        suffix = "\n\n" + "\n".join(notes)
        text = (text + suffix).strip()
        text_full = (text_full + suffix).strip()
    return ParsedMail(
        message_id=message_id,
        from_address=address,
        from_name=clean_text(name)[:200],
        subject=_header(msg, "subject")[:1000],
        references=tuple(references),
        auto_submitted=_auto_submitted(msg, address, dsn is not None),
        loop=_loop(message_id, address, msg, options),
        dsn=dsn,
        text=text,
        text_full=text_full,
        html=html_body,
        attachments=tuple(files),
        raw_size=size,
        raw_sha256=raw_sha256,
        too_large=too_large,
        notes=tuple(notes),
        header_names=header_names,
    )
