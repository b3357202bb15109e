"""Attachments over HTTP: the streaming upload, the list of a ticket's files and the download.

The database decides who may attach and see what (sql/57_api_attachments.sql), normalises names and
types, and records the files; the store (atumdesk/attachments.py) holds the bytes. This module only
moves bytes between the two and chooses response headers that keep a browser from ever rendering
an attachment as part of our origin.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import BodyPartReader, hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from psycopg.types.json import Jsonb

from api.context import REQUEST_ID, SETTINGS
from api.db import call, q, transaction
from api.errors import Problem
from api.middleware import MULTIPART_ROUTES
from api.web_io import json_text, path_id, query_param
from atumdesk.attachments import TooLarge, Upload, place, relative_path, stored_path

log = logging.getLogger("atumdesk.http")

UPLOAD_ROUTE = "/api/v1/tickets/{id}/attachments"
MULTIPART_ROUTES.add(UPLOAD_ROUTE)

CHUNK_BYTES = 64 * 1024
# Room for the boundaries, part headers and the small fields around the file: a body declared
# larger than the limit plus this is refused before a byte of it is read.
MULTIPART_OVERHEAD = 64 * 1024
FIELD_MAX_BYTES = 200
FIELDS_MAX = 10
# Longer than any name the database keeps (255): enough for it to keep the extension of.
NAME_MAX_CHARS = 4096

# Types a browser shows without running anything of ours. Anything else — HTML, SVG, XML, XHTML,
# JavaScript, PDF-with-forms-as-HTML polyglots declared as something harmless, types we do not know
# — is served as application/octet-stream. Every download is also `Content-Disposition: attachment`,
# `nosniff` and CSP `sandbox`, so even a false type cannot turn a file into a page of this site.
PASSIVE_TYPES = frozenset({
    "text/plain", "text/csv", "application/pdf", "application/json", "application/zip", "application/gzip",
    "application/x-7z-compressed", "application/x-tar",
    "image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/avif", "image/tiff", "image/heic",
    "audio/mpeg", "audio/ogg", "audio/wav", "audio/webm", "video/mp4", "video/webm", "video/ogg", "video/quicktime",
    "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
})
DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "Cache-Control": "private, no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_FALLBACK_UNSAFE = re.compile(r"[^A-Za-z0-9 ._()+,=@-]")


def _transportable(text: str | None) -> str | None:
    """Text PostgreSQL can be sent. NUL cannot travel in a text parameter and a lone surrogate
    cannot be encoded, so those two go here; every other rule for names and types is the
    database's (atum.attachment_filename, atum.attachment_content_type)."""
    if text is None:
        return None
    return text[:NAME_MAX_CHARS].replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _too_large(limit: int) -> Problem:
    return Problem(413, f"the file is larger than the limit of {limit} bytes", field="file")


async def _small_field(part: BodyPartReader, name: str) -> str:
    """A form field other than the file: a few bytes of UTF-8, never more."""
    data = b""
    while chunk := await part.read_chunk(FIELD_MAX_BYTES + 1):
        data += chunk
        if len(data) > FIELD_MAX_BYTES:
            raise Problem(422, f"{name[:100]} is too long", field=name[:100])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise Problem(422, f"{name[:100]} is not UTF-8 text", field=name[:100]) from None


async def _receive(request: web.Request, root: Path,
                   limit: int) -> tuple[Upload, str | None, str | None, dict[str, str]]:
    """Read the multipart body: the file streamed into an Upload (never whole in memory), the
    other fields as short text. On any failure the partial file is removed before the error leaves."""
    fields: dict[str, str] = {}
    upload: Upload | None = None
    filename = content_type = None
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or not part.name:
                raise Problem(422, "every part of the form needs a name, and parts cannot nest")
            if part.name == "file":
                if upload is not None:
                    raise Problem(422, "one file per request", field="file")
                upload = Upload(root, limit)
                filename = _transportable(part.filename)
                content_type = _transportable(part.headers.get(hdrs.CONTENT_TYPE))
                while chunk := await part.read_chunk(CHUNK_BYTES):
                    upload.write(chunk)  # raises TooLarge past the limit, before writing the chunk
            elif part.name in fields or len(fields) >= FIELDS_MAX:
                raise Problem(422, f"the field {part.name[:100]} is repeated, or there are too many fields",
                              field=part.name[:100])
            else:
                fields[part.name] = await _small_field(part, part.name)
    except BaseException as exc:
        if upload is not None:
            upload.discard()
        if isinstance(exc, TooLarge):
            # Reading stops here. aiohttp still reads and drops what the client sends for a few
            # seconds (lingering close), so that it sees this answer rather than a reset connection.
            raise _too_large(limit) from None
        if isinstance(exc, ValueError):  # aiohttp's multipart parser on a malformed body
            raise Problem(422, f"the multipart body cannot be read: {str(exc)[:200]}") from None
        if isinstance(exc, ConnectionResetError | HttpProcessingError):
            # The client went away or sent less than it announced: its doing, not a 500 to log.
            raise Problem(400, "the upload ended before its body did") from None
        raise
    if upload is None:
        raise Problem(422, "the form must have a file part named 'file'", field="file")
    return upload, filename, content_type, fields


async def upload(request: web.Request) -> web.Response:
    """POST /api/v1/tickets/{id}/attachments (multipart: file, internal?, comment_id?, sha256?): 201."""
    ticket_id = path_id(request)
    settings = request.app[SETTINGS]
    limit = settings.attachment_max_bytes
    if (request.content_length or 0) > limit + MULTIPART_OVERHEAD:
        raise _too_large(limit)  # announced too large: refused before a byte of the body is read
    # Also before the body: an unauthenticated caller, or one who cannot see the ticket, gets its
    # 401 or 404 without filling the disk. The row's insert checks everything again.
    await call(request, q("attachment_upload_check"), [ticket_id], read_only=True)
    received, filename, content_type, fields = await _receive(request, settings.attachments_dir, limit)
    try:
        await asyncio.to_thread(received.finish)  # fsync the bytes before anything refers to them
        async with transaction(request) as conn:
            # The store lock (shared) keeps the orphan sweep away from the moment the file is in
            # place until the row that references it is committed: file first, row second.
            await conn.execute(q("attachment_store_lock"))
            await asyncio.to_thread(place, received)
            cur = await conn.execute(q("attachment_create"), [
                ticket_id, Jsonb(fields), filename, content_type, received.size, received.sha256])
            row = await cur.fetchone()
    finally:
        received.discard()  # a no-op once the file is in place
    return json_text(str(row[0]) if row else "null", status=201)


async def attachment_list(request: web.Request) -> web.Response:
    """GET /api/v1/tickets/{id}/attachments?limit=&after= (customers: public ones)."""
    return json_text(await call(request, q("attachment_list"), [path_id(request), query_param(request)],
                                read_only=True))


def served_type(content_type: str) -> str:
    """The Content-Type a download is served with: the stored one if a browser cannot run it."""
    return content_type if content_type in PASSIVE_TYPES else "application/octet-stream"


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the exact name in RFC 5987 encoding (RFC 6266)."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", filename) if not unicodedata.combining(c))
    fallback = _FALLBACK_UNSAFE.sub("_", plain).strip(" .") or "attachment"
    exact = quote(filename, safe="!#$&+.^_`|~-", encoding="utf-8")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}"


def download_headers(meta: dict[str, Any]) -> dict[str, str]:
    """The headers of a download: never rendered, never sniffed, never cached by a shared cache."""
    return {**DOWNLOAD_HEADERS, "Content-Type": served_type(str(meta["content_type"])),
            "Content-Disposition": content_disposition(str(meta["filename"]))}


async def download(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/attachments/{id}: the file, after the database said the caller may see it."""
    meta = json.loads(await call(request, q("attachment_get"), [path_id(request)], read_only=True))
    settings = request.app[SETTINGS]
    headers = download_headers(meta)
    sha = str(meta["sha256"])
    if settings.accel_redirect_prefix:
        # nginx serves the bytes from its internal location (docs/operations.md); we send none.
        headers["X-Accel-Redirect"] = f"{settings.accel_redirect_prefix}/{relative_path(sha)}"
        return web.Response(status=200, headers=headers)
    path = stored_path(settings.attachments_dir, sha)
    try:
        size = path.stat().st_size
    except OSError as exc:
        log.error("attachment %s: its file %s cannot be read: %s (request %s)", meta["id"], path, exc,
                  request[REQUEST_ID])
        raise Problem(500, "the file of this attachment cannot be read; the operator has been told") from None
    if size != meta["size_bytes"]:
        log.error("attachment %s: its file %s has %d bytes, not %s (request %s)", meta["id"], path, size,
                  meta["size_bytes"], request[REQUEST_ID])
        raise Problem(500, "the file of this attachment is damaged; the operator has been told")
    return web.FileResponse(path, chunk_size=256 * 1024, headers=headers)
