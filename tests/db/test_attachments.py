"""The attachment rules in SQL, as the app role sees them: hostile names and types are normalised
by one rule, who may attach and see what is row-level security, and what cannot be seen answers
exactly like what does not exist."""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.support import Database, Org, build_org

SHA = hashlib.sha256(b"hello").digest()


@pytest.fixture
def world(owner: psycopg.Connection) -> tuple[Org, Org]:
    return build_org(owner, "alpha"), build_org(owner, "beta")


def sqlstate(call: Any) -> str:
    with pytest.raises(psycopg.Error) as err:
        call()
    return err.value.sqlstate or ""


def create(conn: psycopg.Connection, ticket: int, fields: dict[str, Any] | None = None,
           filename: str | None = "hello.txt", content_type: str | None = "text/plain") -> dict[str, Any]:
    row = conn.execute("SELECT api.attachment_create(%s, %s, %s, %s, 5, %s) AS a",
                       [ticket, Jsonb(fields or {}), filename, content_type, SHA]).fetchone()
    return row["a"]


@pytest.mark.parametrize(("given", "stored"), [
    ("report.pdf", "report.pdf"),
    ("../../etc/passwd", "passwd"),
    ("..\\..\\Windows\\system32\\cmd.exe", "cmd.exe"),
    ("/absolute/path/", "attachment"),
    ("invoice\u202efdp.exe", "invoicefdp.exe"),
    ("a\u2066b\u2069c\u200fd\u061ce", "abcde"),
    ("line\nbreak\r\ttab\x7f\x85.txt", "linebreaktab.txt"),
    ("para\u2028graph\u2029.txt", "paragraph.txt"),
    ("  spaced name.txt  ", "spaced name.txt"),
    ("..", "attachment"),
    (" . ", "attachment"),
    ("", "attachment"),
    (None, "attachment"),
    ("a" * 1000, "a" * 255),
    ("a" * 1000 + ".pdf", "a" * 251 + ".pdf"),
    ("x." + "y" * 300, "x." + "y" * 20),
    ("s" * 240 + "." + "e" * 30, "s" * 234 + "." + "e" * 20),
    ("日本語のファイル.txt", "日本語のファイル.txt"),
])
def test_file_names_are_normalised_by_one_rule(db: Database, world: tuple[Org, Org], given: str | None,
                                               stored: str) -> None:
    alpha, _ = world
    with db.acting_as(alpha.tokens["customer"]) as conn:
        assert conn.execute("SELECT atum.attachment_filename(%s) AS n", [given]).fetchone()["n"] == stored
        attachment = create(conn, alpha.ticket_id, filename=given)
        assert attachment["filename"] == stored


@pytest.mark.parametrize(("given", "stored"), [
    ("text/HTML; charset=utf-8", "text/html"),
    (" Application/PDF ", "application/pdf"),
    ("image/svg+xml", "image/svg+xml"),
    ("not a type", "application/octet-stream"),
    ("a/b/c", "application/octet-stream"),
    ("text/plain\r\nX-Injected: 1", "application/octet-stream"),
    (None, "application/octet-stream"),
])
def test_content_types_are_normalised(db: Database, world: tuple[Org, Org], given: str | None, stored: str) -> None:
    alpha, _ = world
    with db.acting_as(alpha.tokens["agent"]) as conn:
        assert create(conn, alpha.ticket_id, content_type=given)["content_type"] == stored


def test_a_direct_insert_with_a_path_in_the_name_is_refused(db: Database, world: tuple[Org, Org]) -> None:
    """psql users and later code paths that skip the rule still meet the table's CHECK."""
    alpha, _ = world
    with db.acting_as(alpha.tokens["agent"]) as conn:
        assert sqlstate(lambda: conn.execute(
            "INSERT INTO atum.attachments (organization_id, ticket_id, filename, size_bytes, sha256)"
            " VALUES (%s, %s, '../x', 1, %s)", [alpha.id, alpha.ticket_id, SHA])) == "23514"


def test_the_created_row_says_who_uploaded_what(db: Database, world: tuple[Org, Org]) -> None:
    alpha, _ = world
    with db.acting_as(alpha.tokens["customer"]) as conn:
        attachment = create(conn, alpha.ticket_id)
    assert attachment["sha256"] == SHA.hex()
    assert attachment["size_bytes"] == 5
    assert attachment["internal"] is False
    assert attachment["uploaded_by"] == alpha.users["customer"]
    assert attachment["ticket_id"] == alpha.ticket_id


def test_customers_attach_public_files_to_their_own_tickets_only(db: Database, world: tuple[Org, Org]) -> None:
    alpha, beta = world
    with db.acting_as(alpha.tokens["customer"]) as conn:
        assert sqlstate(lambda: create(conn, alpha.ticket_id, {"internal": True})) == "AT403"
    with db.acting_as(alpha.tokens["customer"]) as conn:
        assert sqlstate(lambda: create(conn, alpha.other_ticket_id)) == "AT404"  # customer2's ticket
    with db.acting_as(alpha.tokens["customer"]) as conn:
        assert sqlstate(lambda: create(conn, beta.ticket_id)) == "AT404"
    with db.acting_as(alpha.tokens["customer"]) as conn:
        # The agent's public reply is visible to the customer but not theirs to attach files to.
        assert sqlstate(lambda: create(conn, alpha.ticket_id, {"comment_id": alpha.public_comment_id})) == "AT422"


def test_files_of_an_internal_note_are_internal(db: Database, world: tuple[Org, Org]) -> None:
    alpha, _ = world
    with db.acting_as(alpha.tokens["agent"]) as conn:
        attachment = create(conn, alpha.ticket_id, {"comment_id": alpha.internal_comment_id})
        assert attachment["internal"] is True and attachment["comment_id"] == alpha.internal_comment_id
    with db.acting_as(alpha.tokens["agent"]) as conn:
        assert sqlstate(lambda: create(conn, alpha.ticket_id, {"comment_id": alpha.internal_comment_id,
                                                               "internal": False})) == "AT422"
    with db.acting_as(alpha.tokens["agent"]) as conn:
        # A comment of another ticket is not one to attach to.
        assert sqlstate(lambda: create(conn, alpha.other_ticket_id, {"comment_id": alpha.public_comment_id})) == "AT422"


def test_a_hash_that_does_not_match_is_refused(db: Database, world: tuple[Org, Org]) -> None:
    alpha, _ = world
    with db.acting_as(alpha.tokens["agent"]) as conn:
        assert create(conn, alpha.ticket_id, {"sha256": SHA.hex().upper()})["sha256"] == SHA.hex()
    with db.acting_as(alpha.tokens["agent"]) as conn:
        assert sqlstate(lambda: create(conn, alpha.ticket_id, {"sha256": "0" * 64})) == "AT422"
    with db.acting_as(alpha.tokens["agent"]) as conn:
        assert sqlstate(lambda: create(conn, alpha.ticket_id, {"colour": "red"})) == "AT422"


def test_what_cannot_be_seen_answers_like_what_does_not_exist(db: Database, world: tuple[Org, Org]) -> None:
    alpha, beta = world
    with db.acting_as(alpha.tokens["agent"]) as conn:
        public = create(conn, alpha.ticket_id)["id"]
        internal = create(conn, alpha.ticket_id, {"internal": True})["id"]
        conn.commit()
    with db.acting_as(alpha.tokens["customer"]) as conn:
        assert conn.execute("SELECT api.attachment_get(%s) AS a", [public]).fetchone()["a"]["id"] == public
        listed = conn.execute("SELECT api.attachment_list(%s, '{}') AS l", [alpha.ticket_id]).fetchone()["l"]
        ids = [item["id"] for item in listed["items"]]
        assert public in ids and internal not in ids
        assert all(not item["internal"] for item in listed["items"])
    for token, attachment in ((alpha.tokens["customer"], internal), (alpha.tokens["customer2"], public),
                              (beta.tokens["admin"], public), (alpha.tokens["agent"], 999_999_999)):
        with db.acting_as(token) as conn:
            assert sqlstate(lambda c=conn, a=attachment: c.execute("SELECT api.attachment_get(%s)", [a])) == "AT404"
    with db.acting_as(alpha.tokens["customer2"]) as conn:
        assert sqlstate(lambda: conn.execute("SELECT api.attachment_list(%s, '{}')", [alpha.ticket_id])) == "AT404"
    with db.acting_as(beta.tokens["agent"]) as conn:
        assert sqlstate(lambda: conn.execute("SELECT api.attachment_upload_check(%s)", [alpha.ticket_id])) == "AT404"


def test_the_list_is_keyset_paginated(db: Database, world: tuple[Org, Org]) -> None:
    alpha, _ = world
    with db.acting_as(alpha.tokens["agent"]) as conn:
        before = conn.execute("SELECT api.attachment_list(%s, '{}') AS l", [alpha.ticket_id]).fetchone()["l"]
        created = [create(conn, alpha.ticket_id, filename=f"f{i}.txt")["id"] for i in range(3)]
        seen: list[int] = []
        after = None
        while True:
            page = conn.execute("SELECT api.attachment_list(%s, %s) AS l",
                                [alpha.ticket_id, Jsonb({"limit": "2", **({"after": after} if after else {})})]
                                ).fetchone()["l"]
            seen += [item["id"] for item in page["items"]]
            after = page["next"]
            if after is None:
                break
    assert seen == [item["id"] for item in before["items"]] + created
