"""Real-world and hostile mail through `atumdesk ingest-eml` (the code path IMAP polling uses):
every file ingests without a crash and gives the ticket a person would expect.

The real-world sample lives outside the repository (shared/corpus/email, beside the checkout, or
ATUM_MAIL_CORPUS); without it those tests are skipped. The hostile corpus is generated here.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import psycopg
import pytest

from atumdesk import PROJECT_ROOT, cli
from atumdesk.settings import Settings
from tests.support import Database

CORPUS = Path(os.environ.get("ATUM_MAIL_CORPUS") or PROJECT_ROOT.parent / "shared" / "corpus" / "email")
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the real-world mail sample is not at {CORPUS} "
                                                                "(set ATUM_MAIL_CORPUS to its folder)")

# file: (disposition, sender, subject, attachment names, start of the shown text)
EXPECTED: dict[str, tuple[str, str | None, str | None, list[str] | None, str | None]] = {
    "plain_emails/basic_email.eml": ("ticket_created", "test@lindsaar.net", "Testing 123", [], None),
    "plain_emails/raw_email.eml": ("ticket_created", "jamis@37signals.com", "NOTE: 한국말로 하는 것", [], None),
    "plain_emails/raw_email_with_partially_quoted_subject.eml": (
        "ticket_created", "jamis@37signals.com", 'Re: Test: "漢字" mid "漢字" tail', [], None),
    "plain_emails/raw_email_incorrect_header.eml": (
        "ticket_created", "xxx@xxx.xxx", "Stop adware/spyware once and for all.", [], "You are infected with:"),
    "plain_emails/mix_caps_content_type.eml": ("ticket_created", "bb@bug.com", "undef method parameter bug", [], None),
    "plain_emails/raw_email_multiple_from.eml": ("ticket_created", "tim@powerupdev.com", None, [], None),
    "plain_emails/raw_email10.eml": ("ticket_created", "xxx@xxxx.xxx", "(no subject)", [], "Test test. Hi. Waving."),
    "plain_emails/raw_email_reply.eml": ("ticket_created", None, "Re: Test reply email", [], "Message body"),
    "plain_emails/raw_email_trailing_dot.eml": ("dropped_auto", None, None, None, None),  # noreply@rubyforge.org
    "attachment_emails/attachment_pdf.eml": (
        "ticket_created", "xxxx@xxxx.com", "Another PDF with 🎉 Unicode chars in it 🍿", ["broken.pdf"], None),
    "attachment_emails/attachment_with_quoted_filename.eml": (
        "ticket_created", "jeff@37signals.com", "Eelanalüüsi päring", ["Eelanalüüsi päring.jpg"], None),
    "attachment_emails/attachment_nonascii_filename.eml": ("ticket_created", None, "testing", ["ciële.txt"], None),
    "attachment_emails/attachment_with_unquoted_name.eml": ("ticket_created", None, None, ["This is a test.txt"], None),
    "attachment_emails/attachment_with_base64_encoded_name.eml": (
        "ticket_created", None, "Fwd: Signed email causes file attachments", ["This is a test.pdf"], None),
    "attachment_emails/attachment_message_rfc822.eml": ("ticket_created", None, None, ["ForwardedMessage.eml"], None),
    "attachment_emails/attachment_only_email.eml": (
        "ticket_created", "rfinnie@domain.dom", "this message JUST contains an attachment", ["blah.gz"], None),
    "mime_emails/raw_email7.eml": ("ticket_created", None, None, ["test.rb", "test.pdf", "smime.p7s"], None),
    "mime_emails/raw_email_with_illegal_boundary.eml": (
        "ticket_created", "email_test@me.nowhere", "Testing outlook", [], "Hello\nThis is an outlook test"),
    "mime_emails/raw_email_with_binary_encoded.eml": (
        "ticket_created", None, None, ["2013-08-13_19-08-28-1.jpg"], None),
    # A delivery report from MAILER-DAEMON about mail we never sent.
    "mime_emails/raw_email_with_mimepart_without_content_type.eml": ("dropped_bounce", None, None, None, None),
    "mime_emails/raw_email_encoded_stack_level_too_deep.eml": ("dropped_auto", None, None, None, None),  # gmail-noreply
    "mime_emails/raw_email11.eml": ("dropped_sender", None, None, None, None),  # From: <xxxxx@xxxxx>, no domain
}
DISPOSITIONS = {"ticket_created", "comment_added", "dropped_auto", "dropped_bounce", "dropped_sender", "duplicate"}


@pytest.fixture
def atumdesk(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """The command line in this process, against the test database: (exit status, stdout lines, stderr)."""
    monkeypatch.setenv("ATUM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ATUM_DATABASE_URL", db.conninfo("atum_app"))
    monkeypatch.setenv("ATUM_OWNER_DATABASE_URL", db.conninfo("atum_owner"))

    def run(*args: str) -> tuple[int, list[str], str]:
        status = cli.main(list(args))
        out, err = capsys.readouterr()
        return status, out.splitlines(), err

    return run


def org(owner: psycopg.Connection, slug: str) -> int:
    return owner.execute("SELECT id FROM atum.org_create(%s, %s)", [f"Org {slug}", slug]).fetchone()[0]


def ticket_by_reference(owner: psycopg.Connection, org_id: int, reference: str) -> dict[str, Any]:
    number = int(reference.rsplit("-", 1)[1])
    return owner.execute("""
        SELECT jsonb_build_object('subject', t.subject, 'description', t.description, 'sender', u.email,
                                  'attachments', (SELECT coalesce(jsonb_agg(a.filename ORDER BY a.id), '[]')
                                                    FROM atum.attachments a
                                                   WHERE a.organization_id = t.organization_id AND a.ticket_id = t.id))
          FROM atum.tickets t JOIN atum.users u ON u.organization_id = t.organization_id AND u.id = t.requester_id
         WHERE t.organization_id = %s AND t.number = %s""", [org_id, number]).fetchone()[0]


@needs_corpus
def test_every_real_world_message_ingests_and_gives_the_expected_ticket(atumdesk, owner: psycopg.Connection) -> None:
    files = sorted(CORPUS.rglob("*.eml"))
    assert len(files) >= 40
    seen = set()
    for index, path in enumerate(files):
        name = path.relative_to(CORPUS).as_posix()
        org_id = org(owner, f"corpus-{index}")  # one each: several samples share a Message-ID
        status, lines, err = atumdesk("ingest-eml", "--org", f"corpus-{index}", str(path))
        assert status == 0 and err == "" and len(lines) == 1, (name, err)
        file, disposition, reference = lines[0].split("\t")
        assert file == str(path) and disposition in DISPOSITIONS, (name, disposition)
        if name not in EXPECTED:
            continue
        seen.add(name)
        want_disposition, sender, subject, attachments, text = EXPECTED[name]
        assert disposition == want_disposition, name
        if disposition != "ticket_created":
            assert reference == "-"
            continue
        got = ticket_by_reference(owner, org_id, reference)
        assert sender is None or got["sender"] == sender, (name, got)
        assert subject is None or got["subject"] == subject, (name, got)
        assert attachments is None or got["attachments"] == attachments, (name, got)
        assert text is None or got["description"].startswith(text), (name, got)
    assert seen == set(EXPECTED)


@needs_corpus
def test_the_corpus_ingested_twice_into_one_organization_duplicates_nothing(atumdesk,
                                                                            owner: psycopg.Connection) -> None:
    org_id = org(owner, "corpus")
    files = [str(p) for p in sorted(CORPUS.rglob("*.eml"))]
    status, first, _ = atumdesk("ingest-eml", "--org", "corpus", *files)
    tickets = owner.execute("SELECT count(*) FROM atum.tickets WHERE organization_id = %s", [org_id]).fetchone()[0]
    status2, second, _ = atumdesk("ingest-eml", "--org", "corpus", *files)
    assert status == status2 == 0 and len(first) == len(second) == len(files)
    assert {line.split("\t")[1] for line in second} == {"duplicate"}
    assert owner.execute("SELECT count(*) FROM atum.tickets WHERE organization_id = %s", [org_id]).fetchone()[0] \
        == tickets


def hostile_corpus(folder: Path) -> dict[str, bytes]:
    """Messages written to hurt a parser."""
    head = b"From: Eve <eve@hostile.example>\r\nTo: support@desk.example\r\nMIME-Version: 1.0\r\n"

    def nested(depth: int) -> bytes:
        body = b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
                        for i in range(depth))
        body += b"Content-Type: text/plain\r\n\r\ndeep inside\r\n"
        return body + b"".join(b"--b%d--\r\n" % i for i in reversed(range(depth)))

    rfc822_loop = b"".join(b"Content-Type: message/rfc822\r\n\r\nSubject: level %d\r\n" % i for i in range(300))
    rfc822_loop += b"\r\nthe bottom\r\n"
    messages = {
        "nested-50.eml": head + b"Subject: nested\r\nMessage-ID: <n50@hostile.example>\r\n" + nested(50),
        "nested-500.eml": head + b"Subject: nested deeper\r\nMessage-ID: <n500@hostile.example>\r\n" + nested(500),
        "rfc822-loop.eml": head + b"Subject: forwarded forever\r\nMessage-ID: <loop@hostile.example>\r\n"
                           b'Content-Type: multipart/mixed; boundary="o"\r\n\r\n--o\r\nContent-Type: text/plain\r\n\r\n'
                           b"see attached\r\n--o\r\n" + rfc822_loop + b"--o--\r\n",
        "malformed-headers.eml": b"From eve Mon Jan 1\r\nthis is no header\r\nFrom: eve@hostile.example\r\n"
                                 b"Subject: " + b"A" * 100_000 + b"\r\nBad Header Name: x\r\n: empty name\r\n"
                                 b"Content-Type: text/plain; charset=\r\nContent-Type: text/html\r\n"
                                 b"Message-ID: <<<>>>\r\n\r\nbody",
        "nul-bytes.eml": head + b"Subject: nul\x00byte\r\nMessage-ID: <nul@hostile.example>\r\n\r\nbefore\x00after\r\n",
        "wrong-charsets.eml": head + b"Subject: =?x-klingon?Q?qapla=E9?=\r\nMessage-ID: <cs@hostile.example>\r\n"
                              b'Content-Type: multipart/alternative; boundary="c"\r\n\r\n--c\r\n'
                              b"Content-Type: text/plain; charset=utf-8\r\n\r\ncaf\xe9 \xff\xfe\r\n--c\r\n"
                              b"Content-Type: text/html; charset=utf-7\r\n\r\n+ADw-script+AD4-alert(1)+ADw-/script+AD4-"
                              b"<p>x</p>\r\n--c--\r\n",
        "base64-garbage.eml": head + b"Subject: garbage\r\nMessage-ID: <b64@hostile.example>\r\n"
                              b'Content-Type: multipart/mixed; boundary="g"\r\n\r\n--g\r\n'
                              b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                              b"!!!@@@###$$$\r\n--g\r\n"
                              b"Content-Type: application/pdf; name=x.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                              + base64.b64encode(b"%PDF")[:-1] + b"*\r\n--g--\r\n",
        "same-boundary-nested.eml": head + b"Subject: boundaries\r\nMessage-ID: <sb@hostile.example>\r\n"
                                    b'Content-Type: multipart/mixed; boundary=""\r\n\r\n--\r\nContent-Type: '
                                    b'multipart/mixed; boundary=""\r\n\r\n--\r\n\r\nx\r\n----\r\n',
        "eight-bit-from.eml": b"From: J\xfcrgen \xc3\xa9 <j@hostile.example>\r\nSubject: \xe4\xf6\xfc\r\n\r\nhi\r\n",
        "empty.eml": b"",
        "only-headers.eml": b"From: eve@hostile.example\r\nSubject: nothing else",
    }
    for name, data in messages.items():
        (folder / name).write_bytes(data)
    return messages


def test_a_hostile_corpus_ingests_without_a_crash(atumdesk, owner: psycopg.Connection, tmp_path: Path) -> None:
    org_id = org(owner, "hostile")
    messages = hostile_corpus(tmp_path)
    status, lines, err = atumdesk("ingest-eml", "--org", "hostile", *[str(tmp_path / n) for n in messages])
    assert status == 0 and err == "", err
    outcome = {Path(line.split("\t")[0]).name: line.split("\t")[1:] for line in lines}
    assert set(outcome) == set(messages)
    assert {d for d, _ in outcome.values()} <= {"ticket_created", "dropped_sender"}
    assert outcome["empty.eml"][0] == "dropped_sender"

    def ticket(name: str) -> dict[str, Any]:
        return ticket_by_reference(owner, org_id, outcome[name][1])

    assert "deep inside" in ticket("nested-50.eml")["description"]
    assert "nested more than 64 levels deep were left out" in ticket("nested-500.eml")["description"]
    assert ticket("rfc822-loop.eml")["attachments"] == ["message.eml"]
    assert ticket("nul-bytes.eml")["description"] == "beforeafter"
    assert ticket("wrong-charsets.eml")["description"].startswith("café")
    assert ticket("eight-bit-from.eml")["subject"] == "äöü"
    html = owner.execute("SELECT description_html FROM atum.tickets WHERE organization_id = %s AND subject = %s",
                         [org_id, "qaplaé"]).fetchone()[0]
    assert "<script" not in (html or "")


def test_bad_input_to_the_command_ingests_nothing(atumdesk, owner: psycopg.Connection, tmp_path: Path,
                                                  mail_settings: Settings) -> None:
    org(owner, "cli")
    good = tmp_path / "good.eml"
    good.write_bytes(b"From: ann@customer.example\r\nSubject: hi\r\n\r\nhello\r\n")
    status, lines, err = atumdesk("ingest-eml", "--org", "cli", str(good), str(tmp_path / "missing.eml"))
    assert (status, lines) == (2, []) and err.startswith("atumdesk: error: ") and "missing.eml" in err
    status, lines, err = atumdesk("ingest-eml", "--org", "nope", str(good))
    assert (status, lines) == (2, []) and "no organization with slug 'nope'" in err
    assert owner.execute("SELECT count(*) FROM atum.tickets").fetchone()[0] == 0
    status, lines, err = atumdesk("ingest-eml", "--org", "cli", str(good))
    assert status == 0 and lines[0].endswith("\tticket_created\tATUM-1")
