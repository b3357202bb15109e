"""Attachments as clients see them, against the real app and database: upload, list and download;
the size limit; hostile names; files a browser could run served only as downloads; other tenants'
and other customers' files answered like missing ones; the nginx hand-off; the orphan sweep."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import psycopg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from psycopg.conninfo import make_conninfo

from api.app import create_app
from atumdesk.attachments import stored_path, sweep
from atumdesk.settings import Settings, load
from tests.support import Database, Org, build_org

Check = Callable[[TestClient], Awaitable[Any]]


@pytest.fixture
def world(owner: psycopg.Connection) -> tuple[Org, Org]:
    return build_org(owner, "acme"), build_org(owner, "globex")


def settings_for(db: Database, data_dir: Path, **overrides: str) -> Settings:
    """The app's settings: this test's database, and a data directory of its own."""
    return load({"ATUM_DATA_DIR": str(data_dir),
                 "ATUM_DATABASE_URL": make_conninfo(db.settings.database_url, dbname=db.dbname),
                 "ATUM_OWNER_DATABASE_URL": db.conninfo("atum_owner"), **overrides})


def run(settings: Settings, check: Check) -> Any:
    async def main() -> Any:
        async with TestClient(TestServer(create_app(settings))) as client:
            return await check(client)

    return asyncio.run(main())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def form(content: bytes, filename: str = "file.bin", content_type: str = "application/octet-stream",
         **fields: str) -> tuple[bytes, dict[str, str]]:
    """A multipart body built by hand, so that any name (NUL, slashes, bidi controls) can be sent:
    the name travels RFC 5987-encoded as filename*, which the server decodes."""
    boundary = uuid.uuid4().hex
    parts = [f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n".encode()
             for name, value in fields.items()]
    parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                 f"filename*=UTF-8''{quote(filename, safe='')}\r\nContent-Type: {content_type}\r\n\r\n".encode()
                 + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


async def upload(client: TestClient, token: str, ticket: int, content: bytes, **kwargs: str) -> tuple[int, Any]:
    body, headers = form(content, **kwargs)
    response = await client.post(f"/api/v1/tickets/{ticket}/attachments", data=body,
                                 headers={**headers, **bearer(token)})
    return response.status, await response.json(content_type=None)


async def download(client: TestClient, token: str, attachment: int) -> tuple[int, dict[str, str], bytes]:
    response = await client.get(f"/api/v1/attachments/{attachment}", headers=bearer(token))
    return response.status, dict(response.headers), await response.read()


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def rows_of(owner: psycopg.Connection, ticket: int) -> int:
    return owner.execute("SELECT count(*) FROM atum.attachments WHERE ticket_id = %s", [ticket]).fetchone()[0]


def test_an_uploaded_file_comes_back_byte_for_byte(db: Database, world: tuple[Org, Org], tmp_path: Path) -> None:
    acme, _ = world
    settings = settings_for(db, tmp_path)
    content = os.urandom(300_000)

    async def check(client: TestClient) -> None:
        data = aiohttp.FormData()  # the way an ordinary client sends a file
        data.add_field("file", content, filename="report.pdf", content_type="application/pdf")
        response = await client.post(f"/api/v1/tickets/{acme.ticket_id}/attachments", data=data,
                                     headers=bearer(acme.tokens["customer"]))
        assert response.status == 201, await response.text()
        created = await response.json()
        assert created["sha256"] == hashlib.sha256(content).hexdigest()
        assert (created["filename"], created["content_type"], created["size_bytes"], created["internal"]) == (
            "report.pdf", "application/pdf", len(content), False)
        assert created["ticket_id"] == acme.ticket_id and created["comment_id"] is None
        assert stored_path(settings.attachments_dir, created["sha256"]).read_bytes() == content

        for token in (acme.tokens["customer"], acme.tokens["agent"]):
            status, headers, body = await download(client, token, created["id"])
            assert status == 200
            assert body == content and hashlib.sha256(body).hexdigest() == created["sha256"]
            assert headers["Content-Type"] == "application/pdf"
            assert headers["Content-Disposition"] == "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
            assert headers["X-Content-Type-Options"] == "nosniff"
            assert headers["Cache-Control"] == "private, no-store"

        listed = await (await client.get(f"/api/v1/tickets/{acme.ticket_id}/attachments",
                                         headers=bearer(acme.tokens["customer"]))).json()
        assert created in listed["items"] and listed["next"] is None

    run(settings, check)
    assert not list((settings.attachments_dir / "tmp").iterdir())  # no temporary file left behind


def test_the_same_content_is_stored_once_and_a_damaged_copy_is_healed(db: Database, world: tuple[Org, Org],
                                                                        tmp_path: Path) -> None:
    acme, _ = world
    settings = settings_for(db, tmp_path)
    path = stored_path(settings.attachments_dir, hashlib.sha256(b"same bytes").hexdigest())

    async def check(client: TestClient) -> list[Any]:
        answers = [await upload(client, acme.tokens["agent"], acme.ticket_id, b"same bytes", filename=name)
                   for name in ("one.txt", "two.txt")]
        path.write_bytes(b"rotten bits")  # same size, other content: bit rot, or a bad restore
        answers.append(await upload(client, acme.tokens["agent"], acme.ticket_id, b"same bytes"))
        return answers

    (s1, a1), (s2, a2), (s3, a3) = run(settings, check)
    assert (s1, s2, s3) == (201, 201, 201) and len({a1["id"], a2["id"], a3["id"]}) == 3
    assert a1["sha256"] == a2["sha256"] == a3["sha256"]
    assert files_under(settings.attachments_dir) == [path]
    assert path.read_bytes() == b"same bytes"


def test_a_browser_style_raw_name_with_a_path_is_cut_to_its_last_part(db: Database, world: tuple[Org, Org],
                                                                      tmp_path: Path) -> None:
    acme, _ = world
    body = ('--b\r\nContent-Disposition: form-data; name="file"; filename="../../etc/r\u00e9sum\u00e9.txt"\r\n'
            'Content-Type: text/plain\r\n\r\nhello\r\n--b--\r\n').encode()

    async def check(client: TestClient) -> Any:
        response = await client.post(f"/api/v1/tickets/{acme.ticket_id}/attachments", data=body,
                                     headers={"Content-Type": "multipart/form-data; boundary=b",
                                              **bearer(acme.tokens["agent"])})
        assert response.status == 201
        return await response.json()

    assert run(settings_for(db, tmp_path), check)["filename"] == "r\u00e9sum\u00e9.txt"


def test_past_the_size_limit_the_answer_is_413_and_nothing_is_kept(db: Database, owner: psycopg.Connection,
                                                                   world: tuple[Org, Org], tmp_path: Path) -> None:
    acme, _ = world
    settings = settings_for(db, tmp_path, ATUM_ATTACHMENT_MAX_BYTES="1000")
    before = rows_of(owner, acme.ticket_id)

    streamed, streamed_headers = form(b"x" * 20_000)

    async def chunks() -> Any:
        # No Content-Length: the limit must be found while the file streams in.
        for start in range(0, len(streamed), 4096):
            yield streamed[start:start + 4096]

    async def check(client: TestClient) -> list[tuple[int, Any]]:
        answers = [await upload(client, acme.tokens["agent"], acme.ticket_id, b"x" * 1000)]  # exactly the limit
        for size in (1001, 50_000, 500_000):  # over it; the last is refused from its Content-Length alone
            answers.append(await upload(client, acme.tokens["agent"], acme.ticket_id, b"x" * size))
        response = await client.post(f"/api/v1/tickets/{acme.ticket_id}/attachments", data=chunks(),
                                     headers={**streamed_headers, **bearer(acme.tokens["agent"])})
        answers.append((response.status, await response.json(content_type=None)))
        return answers

    (ok_status, ok), *refused = run(settings, check)
    assert ok_status == 201 and ok["size_bytes"] == 1000
    for status, problem in refused:
        assert status == 413
        assert problem["field"] == "file" and "1000 bytes" in problem["detail"]
    assert rows_of(owner, acme.ticket_id) == before + 1
    assert files_under(settings.attachments_dir) == [stored_path(settings.attachments_dir, ok["sha256"])]


@pytest.mark.parametrize(("hostile", "stored"), [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\Windows\\win.ini", "win.ini"),
    ("evil\x00.txt\x00.exe", "evil.txt.exe"),
    ("a" * 1000 + ".txt", "a" * 251 + ".txt"),
    ("invoice\u202efdp.exe", "invoicefdp.exe"),
    ("x." + "y" * 300, "x." + "y" * 20),
    ("\r\nSet-Cookie: a=b", "Set-Cookie: a=b"),
    ("résumé \u2066final\u2069.pdf", "résumé final.pdf"),
])
def test_hostile_file_names_are_stored_safely(db: Database, world: tuple[Org, Org], tmp_path: Path,
                                              hostile: str, stored: str) -> None:
    acme, _ = world
    data_dir = tmp_path / "data"
    settings = settings_for(db, data_dir)
    content = f"content for {hostile!r}".encode()

    async def check(client: TestClient) -> tuple[int, Any, tuple[int, dict[str, str], bytes]]:
        status, created = await upload(client, acme.tokens["agent"], acme.ticket_id, content, filename=hostile)
        return status, created, await download(client, acme.tokens["agent"], created["id"])

    status, created, (got, headers, body) = run(settings, check)
    assert status == 201 and created["filename"] == stored
    assert got == 200 and body == content
    disposition = headers["Content-Disposition"]
    assert disposition.isascii() and disposition.isprintable() and disposition.startswith("attachment; filename=\"")
    assert disposition.endswith("filename*=UTF-8''" + quote(stored, safe="!#$&+.^_`|~-"))
    assert "/" not in disposition.split(";")[1] and "\\" not in disposition
    # The only file written is the content-addressed one, inside the store.
    assert files_under(tmp_path) == [stored_path(settings.attachments_dir, hashlib.sha256(content).hexdigest())]


@pytest.mark.parametrize(("declared", "served", "content"), [
    ("text/html", "application/octet-stream", b"<html><script>alert(document.cookie)</script></html>"),
    ("image/svg+xml", "application/octet-stream", b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>"),
    ("application/xhtml+xml", "application/octet-stream", b"<html xmlns='http://www.w3.org/1999/xhtml'/>"),
    ("text/javascript", "application/octet-stream", b"alert(1)"),
    ("image/png", "image/png", b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script>"),  # a polyglot
])
def test_files_a_browser_could_run_are_only_ever_downloads(db: Database, world: tuple[Org, Org], tmp_path: Path,
                                                           declared: str, served: str, content: bytes) -> None:
    acme, _ = world

    async def check(client: TestClient) -> tuple[int, dict[str, str], bytes]:
        status, created = await upload(client, acme.tokens["customer"], acme.ticket_id, content,
                                       filename="page.html", content_type=declared)
        assert status == 201 and created["content_type"] == declared
        return await download(client, acme.tokens["agent"], created["id"])

    status, headers, body = run(settings_for(db, tmp_path), check)
    assert status == 200 and body == content
    assert headers["Content-Type"] == served
    assert headers["Content-Disposition"].startswith("attachment;")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Security-Policy"] == "sandbox; default-src 'none'"


def test_other_tenants_and_other_customers_get_404_like_for_a_missing_file(db: Database, owner: psycopg.Connection,
                                                                           world: tuple[Org, Org],
                                                                           tmp_path: Path) -> None:
    acme, globex = world
    settings = settings_for(db, tmp_path)
    before = rows_of(owner, acme.ticket_id)

    async def check(client: TestClient) -> None:
        status, created = await upload(client, acme.tokens["customer"], acme.ticket_id, b"private")
        assert status == 201
        missing = await client.get("/api/v1/attachments/999999999", headers=bearer(acme.tokens["agent"]))
        assert missing.status == 404
        expected = await missing.json()
        for token in (globex.tokens["admin"], acme.tokens["customer2"]):
            response = await client.get(f"/api/v1/attachments/{created['id']}", headers=bearer(token))
            problem = await response.json()
            assert response.status == 404 and response.content_type == "application/problem+json"
            assert problem["detail"] == f"no attachment {created['id']}"
            assert set(problem) == set(expected) and problem["code"] == expected["code"]
            listed = await client.get(f"/api/v1/tickets/{acme.ticket_id}/attachments", headers=bearer(token))
            assert listed.status == 404
            status, problem = await upload(client, token, acme.ticket_id, b"intruder")
            assert status == 404

    run(settings, check)
    assert rows_of(owner, acme.ticket_id) == before + 1
    assert len(files_under(settings.attachments_dir)) == 1  # the intruders' bytes were never stored


def test_customers_neither_see_nor_add_internal_files(db: Database, world: tuple[Org, Org], tmp_path: Path) -> None:
    acme, _ = world

    async def check(client: TestClient) -> None:
        status, internal = await upload(client, acme.tokens["agent"], acme.ticket_id, b"staff only",
                                        internal="true")
        assert status == 201 and internal["internal"] is True
        status, note_file = await upload(client, acme.tokens["agent"], acme.ticket_id, b"note file",
                                         comment_id=str(acme.internal_comment_id))
        assert status == 201 and note_file["internal"] is True
        status, public = await upload(client, acme.tokens["agent"], acme.ticket_id, b"for the customer")
        assert status == 201 and public["internal"] is False
        listed = await (await client.get(f"/api/v1/tickets/{acme.ticket_id}/attachments",
                                         headers=bearer(acme.tokens["customer"]))).json()
        ids = {item["id"] for item in listed["items"]}
        assert public["id"] in ids and not ids & {internal["id"], note_file["id"]}
        for hidden in (internal, note_file):
            assert (await download(client, acme.tokens["customer"], hidden["id"]))[0] == 404
        assert (await download(client, acme.tokens["customer"], public["id"]))[0] == 200
        status, problem = await upload(client, acme.tokens["customer"], acme.ticket_id, b"x", internal="true")
        assert status == 403 and problem["field"] == "internal"

    run(settings_for(db, tmp_path), check)


def test_bad_uploads_are_refused_with_the_field_at_fault(db: Database, world: tuple[Org, Org],
                                                         tmp_path: Path) -> None:
    acme, _ = world

    async def check(client: TestClient) -> None:
        headers = bearer(acme.tokens["agent"])
        path = f"/api/v1/tickets/{acme.ticket_id}/attachments"
        status, problem = await upload(client, acme.tokens["agent"], acme.ticket_id, b"abc", sha256="0" * 64)
        assert (status, problem["field"]) == (422, "sha256")
        status, problem = await upload(client, acme.tokens["agent"], acme.ticket_id, b"abc",
                                       sha256=hashlib.sha256(b"abc").hexdigest())
        assert status == 201
        status, problem = await upload(client, acme.tokens["agent"], acme.ticket_id, b"abc", colour="red")
        assert (status, problem["field"]) == (422, "colour")
        response = await client.post(path, data=b"--b\r\nContent-Disposition: form-data; name=\"internal\"\r\n\r\n"
                                                b"true\r\n--b--\r\n",
                                     headers={**headers, "Content-Type": "multipart/form-data; boundary=b"})
        assert response.status == 422 and (await response.json())["field"] == "file"
        response = await client.post(path, json={"file": "abc"}, headers=headers)
        assert response.status == 415
        response = await client.post(path, data=b"not multipart at all",
                                     headers={**headers, "Content-Type": "multipart/form-data; boundary=zzz"})
        assert response.status == 422
        status, _ = await upload(client, "atum_s_not-a-session", acme.ticket_id, b"anonymous")
        assert status == 401

    settings = settings_for(db, tmp_path)
    run(settings, check)
    assert not list((settings.attachments_dir / "tmp").iterdir())


def test_nginx_serves_the_bytes_when_a_redirect_prefix_is_set(db: Database, world: tuple[Org, Org],
                                                              tmp_path: Path) -> None:
    acme, _ = world

    async def check(client: TestClient) -> tuple[Any, tuple[int, dict[str, str], bytes]]:
        status, created = await upload(client, acme.tokens["agent"], acme.ticket_id, b"via nginx",
                                       filename="notes.txt", content_type="text/plain")
        assert status == 201
        return created, await download(client, acme.tokens["customer"], created["id"])

    created, (status, headers, body) = run(settings_for(db, tmp_path, ATUM_ACCEL_REDIRECT_PREFIX="/_attachments/"),
                                           check)
    sha = created["sha256"]
    assert status == 200 and body == b""
    assert headers["X-Accel-Redirect"] == f"/_attachments/{sha[:2]}/{sha[2:4]}/{sha}"
    assert headers["Content-Disposition"].startswith("attachment;")
    assert headers["Content-Type"] == "text/plain"
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_a_missing_file_is_a_logged_500_without_details(db: Database, world: tuple[Org, Org], tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    acme, _ = world
    settings = settings_for(db, tmp_path)

    async def check(client: TestClient) -> tuple[int, Any]:
        _, created = await upload(client, acme.tokens["agent"], acme.ticket_id, b"soon gone")
        stored_path(settings.attachments_dir, created["sha256"]).unlink()
        response = await client.get(f"/api/v1/attachments/{created['id']}", headers=bearer(acme.tokens["agent"]))
        return response.status, await response.json(content_type=None)

    status, problem = run(settings, check)
    assert status == 500 and problem["request_id"]
    assert "Traceback" not in str(problem) and str(settings.attachments_dir) not in str(problem)
    assert any(problem["request_id"] in record.getMessage() for record in caplog.records)


def test_the_sweep_removes_orphans_and_keeps_referenced_and_recent_files(db: Database, world: tuple[Org, Org],
                                                                         tmp_path: Path) -> None:
    acme, _ = world
    settings = settings_for(db, tmp_path)

    async def check(client: TestClient) -> Any:
        return (await upload(client, acme.tokens["agent"], acme.ticket_id, b"referenced"))[1]

    referenced = stored_path(settings.attachments_dir, run(settings, check)["sha256"])
    root = settings.attachments_dir

    def put(path: Path, content: bytes, age: float) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        os.utime(path, (time.time() - age, time.time() - age))
        return path

    orphan = put(stored_path(root, hashlib.sha256(b"orphan").hexdigest()), b"orphan", 7200)
    young_orphan = put(stored_path(root, hashlib.sha256(b"young").hexdigest()), b"young", 60)
    stale_temp = put(root / "tmp" / "upload-abc.part", b"half an upload", 7200)
    fresh_temp = put(root / "tmp" / "upload-def.part", b"an upload in flight", 60)
    stranger = put(root / "README", b"not ours to judge", 7200)
    os.utime(referenced, (time.time() - 7200, time.time() - 7200))

    report = sweep(root, settings.conninfo("owner"))

    assert not orphan.exists() and not stale_temp.exists()
    assert referenced.exists() and young_orphan.exists() and fresh_temp.exists() and stranger.exists()
    assert (report.orphans_removed, report.temp_removed) == (1, 1)
    assert report.bytes_freed == len(b"orphan") + len(b"half an upload")


def test_the_sweep_waits_for_an_upload_that_is_about_to_reference_a_file(db: Database, world: tuple[Org, Org],
                                                                         tmp_path: Path) -> None:
    """An upload that found its content already stored (an old file nothing references yet) holds
    the store lock until its row is committed; a sweep meanwhile waits, then sees the row."""
    acme, _ = world
    root = tmp_path / "attachments"
    content = b"stored long ago, referenced again now"
    sha = hashlib.sha256(content).digest()
    path = stored_path(root, sha.hex())
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    os.utime(path, (time.time() - 7200, time.time() - 7200))
    with db.acting_as(acme.tokens["agent"]) as conn:
        conn.execute("SELECT api.attachment_store_lock()")
        result: dict[str, Any] = {}
        sweeper = threading.Thread(target=lambda: result.update(report=sweep(root, db.conninfo("atum_owner"))))
        sweeper.start()
        sweeper.join(timeout=1.0)
        assert sweeper.is_alive(), "the sweep must wait for the upload's transaction"
        conn.execute("SELECT api.attachment_create(%s, '{}', 'again.txt', 'text/plain', %s, %s)",
                     [acme.ticket_id, len(content), sha])
        conn.commit()
        sweeper.join(timeout=30)
    assert not sweeper.is_alive()
    assert path.exists() and result["report"].orphans_removed == 0
