"""The bits of IMAP syntax the poller writes and reads itself (no server, no database)."""

from __future__ import annotations

import pytest

from jobs.mail_poll import _batches, _literals, _mailbox_name, _server_text, _uid_set


def test_uid_sets_write_runs_as_ranges() -> None:
    assert _uid_set([7]) == "7"
    assert _uid_set([3, 4, 5, 6, 7, 9, 12, 13]) == "3:7,9,12:13"
    assert _uid_set([13, 3, 4, 3]) == "3:4,13"


def test_folder_names_are_quoted_in_modified_utf7() -> None:
    assert _mailbox_name("INBOX") == '"INBOX"'
    assert _mailbox_name('Support "VIP"') == '"Support \\"VIP\\""'
    assert _mailbox_name("Erledigt/Überprüft & fertig") == '"Erledigt/&ANw-berpr&APw-ft &- fertig"'
    assert _mailbox_name("日本語") == '"&ZeVnLIqe-"'  # RFC 3501's example


def test_message_bodies_are_found_by_uid_wherever_the_server_puts_the_uid() -> None:
    answer = [(b"1 (UID 41 BODY[] {5}", b"first"), b")",
              b"7 (FLAGS (\\Seen))",  # an unsolicited update in between
              (b"2 (BODY[] {6}", b"second"), b" UID 42)",
              (b"3 (UID 43 BODY[]<0> {4}", b"trun"), b")"]
    assert _literals(answer) == {41: b"first", 42: b"second", 43: b"trun"}


def test_batches_are_bounded_by_count_and_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    from jobs import mail_poll

    monkeypatch.setattr(mail_poll, "BATCH_MESSAGES", 3)
    monkeypatch.setattr(mail_poll, "BATCH_BYTES", 100)
    sizes = {1: 10, 2: 10, 3: 10, 4: 10, 5: 95, 6: 200, 7: 1}
    assert list(_batches(list(sizes), sizes)) == [[1, 2, 3], [4], [5], [6], [7]]


def test_server_answers_lose_response_codes_and_timings() -> None:
    said = [b"[NONEXISTENT] Mailbox doesn't exist: Support (0.001 + 0.000 secs)."]
    assert _server_text(said) == "Mailbox doesn't exist: Support"
    assert _server_text(said, keep_codes=True).startswith("[NONEXISTENT]")
    assert _server_text([]) == "no reason given"
