"""Password hashing parameters and the named-query loader."""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher, extract_parameters
from hypothesis import given, settings
from hypothesis import strategies as st

from atumdesk import passwords
from atumdesk.migrate import _yoyo_uri
from atumdesk.queries import query


def test_hashes_are_argon2id_at_or_above_the_owasp_floor() -> None:
    params = extract_parameters(passwords.hash_password("correct horse battery staple"))
    assert params.type.name == "ID"
    assert params.memory_cost >= 19 * 1024
    assert params.time_cost >= 2
    assert params.parallelism == 1


def test_weaker_old_hashes_ask_for_a_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("pw-of-old")
    assert passwords.verify_password(weak, "pw-of-old")
    assert passwords.needs_rehash(weak)
    assert not passwords.needs_rehash(passwords.hash_password("pw-of-new"))


@settings(max_examples=5, deadline=None)
@given(st.text(min_size=8, max_size=40))
def test_a_password_verifies_and_a_different_one_does_not(pw: str) -> None:
    stored = passwords.hash_password(pw)
    assert passwords.verify_password(stored, pw)
    assert not passwords.verify_password(stored, pw + "x")


@pytest.mark.parametrize(("pw", "problem"), [
    ("short", "at least 8"), ("        ", "blank"), ("x" * 2000, "at most 1024"), ("long enough", None)])
def test_password_rules(pw: str, problem: str | None) -> None:
    found = passwords.password_problem(pw)
    assert (found is None) if problem is None else (problem in (found or ""))


def test_malformed_stored_hashes_do_not_verify() -> None:
    assert not passwords.verify_password("not-a-hash", "anything")


def test_named_queries_load_by_name(tmp_path: Path) -> None:
    path = tmp_path / "q.sql"
    path.write_text("-- preamble\n\n-- first --\nSELECT 1\n\n-- second_one --\nSELECT 2\n  FROM x\n")
    assert query("first", path) == "SELECT 1"
    assert query("second_one", path) == "SELECT 2\n  FROM x"
    with pytest.raises(KeyError):
        query("third", path)


def test_yoyo_gets_a_url_that_keeps_the_socket_and_quotes_secrets() -> None:
    uri = _yoyo_uri("host=/srv/atum/pg/run port=5433 user=atum_owner password=p@ss/word dbname=atumdesk")
    assert uri == "postgresql+psycopg://atum_owner:p%40ss%2Fword@/atumdesk?host=%2Fsrv%2Fatum%2Fpg%2Frun&port=5433"
