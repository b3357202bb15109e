"""The knowledge base's rules in the database, as atum_app: who reads which articles (staff all,
customers public published ones, anonymous visitors of a named organization the same and nothing
else, another organization nothing), one changeable vote per user, search that finds the article a
user means and never fails on what they type, the organization's search language, and the
deflection counts BI tools read."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from api.kb_markdown import render
from tests.support import Database, Org, build_org

MARK_START, MARK_END = "\ue000", "\ue001"
VOTE = "INSERT INTO atum.kb_votes (organization_id, article_id, user_id, is_helpful) VALUES (%s, %s, %s, false)"


@pytest.fixture
def world(owner: psycopg.Connection) -> tuple[Org, Org]:
    return build_org(owner, "alpha"), build_org(owner, "beta")


def save(db: Database, token: str, body: dict[str, Any], article: int | None = None) -> dict[str, Any]:
    """An article written through api.kb_article_save as the user of ``token`` (committed)."""
    with db.acting_as(token) as conn:
        row = conn.execute("SELECT api.kb_article_save(%s, %s, %s) AS a",
                           [article, Jsonb(body), render(body["body"]) if "body" in body else None]).fetchone()
        conn.commit()
    return row["a"]


def search(db: Database, token: str, q: str, **extra: Any) -> list[dict[str, Any]]:
    with db.acting_as(token) as conn:
        return conn.execute("SELECT api.kb_search(%s) AS r", [Jsonb({"q": q, **extra})]).fetchone()["r"]["items"]


def visible_titles(conn: psycopg.Connection, org: Org) -> set[str]:
    return {r["title"] for r in conn.execute("SELECT title FROM atum.kb_articles WHERE organization_id = %s", [org.id])}


def three_articles(db: Database, org: Org) -> None:
    agent = org.tokens["agent"]
    save(db, agent, {"title": "Draft: new VPN client", "body": "Coming soon.", "is_public": True})
    save(db, agent, {"title": "Internal: escalation matrix", "body": "Call the duty manager.", "state": "published"})
    save(db, agent, {"title": "Reset your password", "body": "Use *Forgot password*.", "state": "published",
                     "is_public": True})


def test_staff_see_everything_customers_only_public_published_and_nobody_another_organization(
        db: Database, owner: psycopg.Connection, world: tuple[Org, Org]) -> None:
    alpha, beta = world
    three_articles(db, alpha)
    everything = {"Clearing a paper jam", "Draft: new VPN client", "Internal: escalation matrix", "Reset your password"}
    for role in ("agent", "manager", "admin"):
        with db.acting_as(alpha.tokens[role]) as conn:
            assert visible_titles(conn, alpha) == everything
    with db.acting_as(alpha.tokens["customer"]) as conn:
        assert visible_titles(conn, alpha) == {"Clearing a paper jam", "Reset your password"}
        # Not even through the API's own functions, nor by guessing ids.
        ids = [r["id"] for r in conn.execute("SELECT id FROM atum.kb_articles")]
        hidden = owner.execute(
            "SELECT id FROM atum.kb_articles WHERE organization_id = %s AND NOT (is_public AND state = 'published')",
            [alpha.id]).fetchall()
        assert all(h[0] not in ids for h in hidden)
        assert conn.execute("SELECT atum.kb_article_json(%s) AS j", [hidden[0][0]]).fetchone()["j"] is None
    for role in ("admin", "customer"):
        with db.acting_as(beta.tokens[role]) as conn:
            assert visible_titles(conn, alpha) == set()
            assert search(db, beta.tokens[role], "password") == []


def test_customers_cannot_write_articles_and_staff_cannot_write_into_another_organization(
        db: Database, world: tuple[Org, Org]) -> None:
    alpha, beta = world
    with db.acting_as(alpha.tokens["customer"]) as conn, pytest.raises(psycopg.Error) as err:
        conn.execute("SELECT api.kb_article_save(NULL, %s, '')", [Jsonb({"title": "Mine"})])
    assert err.value.sqlstate == "AT403"
    with db.acting_as(alpha.tokens["customer"]) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("INSERT INTO atum.kb_articles (organization_id, title, author_id) VALUES (%s, 'x', %s)",
                     [alpha.id, alpha.users["customer"]])
    with db.acting_as(alpha.tokens["admin"]) as conn:
        assert conn.execute("UPDATE atum.kb_articles SET title = 'pwned' WHERE organization_id = %s",
                            [beta.id]).rowcount == 0


def test_an_anonymous_visitor_of_a_named_organization_reads_its_public_knowledge_base_and_nothing_else(
        db: Database, world: tuple[Org, Org]) -> None:
    alpha, beta = world
    three_articles(db, alpha)
    with db.connect("atum_app", row_factory=dict_row) as conn:
        conn.execute("SELECT api.kb_visitor_enter('Alpha ')")
        assert visible_titles(conn, alpha) == {"Clearing a paper jam", "Reset your password"}
        assert visible_titles(conn, beta) == set()
        for table in ("users", "tickets", "ticket_comments", "kb_votes", "kb_suggestion_sessions", "sessions"):
            assert conn.execute(f"SELECT count(*) AS n FROM atum.{table}").fetchone()["n"] == 0, table  # noqa: S608
        hits = conn.execute("SELECT api.kb_search(%s) AS r", [Jsonb({"q": "password"})]).fetchone()["r"]["items"]
        assert [h["title"] for h in hits] == ["Reset your password"]
        internal = conn.execute("SELECT api.kb_search(%s) AS r", [Jsonb({"q": "escalation"})]).fetchone()
        assert internal["r"]["items"] == []
        assert conn.execute("UPDATE atum.kb_articles SET title = 'x'").rowcount == 0  # nothing to write with
        conn.rollback()
        # The context was for that transaction only.
        assert visible_titles(conn, alpha) == set()
        conn.rollback()
        with pytest.raises(psycopg.Error) as err:
            conn.execute("SELECT api.kb_visitor_enter('no-such-org')")
        assert err.value.sqlstate == "AT404"
        conn.rollback()
        # The app cannot write a visitor context of its own.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO atum.kb_visitor_contexts VALUES (pg_backend_pid(), transaction_timestamp(), %s)",
                         [beta.id])


def test_one_vote_per_user_and_article_which_can_be_changed_and_withdrawn(db: Database, owner: psycopg.Connection,
                                                                          world: tuple[Org, Org]) -> None:
    alpha, _ = world
    article = owner.execute("SELECT id FROM atum.kb_articles WHERE organization_id = %s",
                                               [alpha.id]).fetchone()[0]

    def vote(token: str, helpful: Any) -> dict[str, Any]:
        with db.acting_as(token) as conn:
            row = conn.execute("SELECT api.kb_article_vote(%s, %s) AS a",
                               [article, Jsonb({"helpful": helpful})]).fetchone()
            conn.commit()
        return row["a"]

    # build_org's customer already found it helpful.
    assert vote(alpha.tokens["customer"], False)["not_helpful_count"] == 1
    counted = vote(alpha.tokens["customer2"], True)
    assert (counted["helpful_count"], counted["not_helpful_count"], counted["my_vote"]) == (1, 1, True)
    assert vote(alpha.tokens["customer2"], True)["helpful_count"] == 1  # the same answer again counts once
    withdrawn = vote(alpha.tokens["customer"], None)
    assert (withdrawn["helpful_count"], withdrawn["not_helpful_count"], withdrawn["my_vote"]) == (1, 0, None)
    with db.acting_as(alpha.tokens["customer2"]) as conn, pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(VOTE, [alpha.id, article, alpha.users["customer2"]])
    with db.acting_as(alpha.tokens["customer2"]) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(VOTE, [alpha.id, article, alpha.users["customer"]])  # in someone else's name


# A small knowledge base of the kind a help desk has, and what people type when they look for it.
ARTICLES = [
    ("Reset your password", "Forgot your password? On the sign-in page choose **Forgot password** and follow the "
                            "link we e-mail you. The link is valid for one hour."),
    ("Clearing a paper jam on the office printer", "When the printer jams, open tray 2, pull the stuck sheet out "
                                                   "slowly and close the tray. Damp paper jams more often."),
    ("Connecting to the VPN from home", "Install the VPN client, sign in with your company account and choose the "
                                        "nearest gateway. Without VPN the intranet is not reachable."),
    ("Setting up e-mail on your phone", "Add an Exchange account on iOS or Android with your work address; "
                                        "mail, calendar and contacts synchronise automatically."),
    ("Requesting a new laptop", "Laptops are replaced every four years. Managers request replacements through the "
                                "hardware form; delivery takes about two weeks."),
    ("Booking a meeting room", "Rooms are booked in the calendar: add the room as a guest of your meeting. "
                               "Screens and video conferencing are in every room."),
    ("Sharing large files securely", "Use the file share rather than e-mail attachments for anything over 25 MB; "
                                     "links expire after seven days."),
    ("Two-factor authentication", "Protect your account with an authenticator app: scan the code shown on your "
                                  "profile page. Lost your phone? Ask the service desk to reset it."),
    ("Printing in colour", "Colour printing is available on the third floor printer; choose the colour profile "
                           "in the print dialog. Toner is replaced by facilities."),
    ("Working with shared calendars", "Open a colleague's calendar from the address book. Delegates may accept "
                                      "meeting invitations on your behalf."),
]
QUERIES = [
    ("forgot password", "Reset your password"),
    ("printer jammed", "Clearing a paper jam on the office printer"),        # stemmed: jammed -> jam
    ("vpn", "Connecting to the VPN from home"),
    ("mail on my phone", "Setting up e-mail on your phone"),
    ("iphone email not syncing", "Setting up e-mail on your phone"),        # no article has every word
    ("new laptop", "Requesting a new laptop"),
    ("book a room for a meeting", "Booking a meeting room"),
    ("2fa authenticator", "Two-factor authentication"),
    ("colour prin", "Printing in colour"),                                   # prefix while typing
    ("shared calend", "Working with shared calendars"),                       # prefix while typing
    ("large files", "Sharing large files securely"),
]


def test_search_ranks_the_article_a_user_means_first(db: Database, world: tuple[Org, Org]) -> None:
    alpha, _ = world
    for title, body in ARTICLES:
        save(db, alpha.tokens["agent"], {"title": title, "body": body, "state": "published", "is_public": True})
    failures = []
    for query, expected in QUERIES:
        hits = search(db, alpha.tokens["customer"], query)
        if not hits or hits[0]["title"] != expected:
            failures.append((query, expected, [h["title"] for h in hits[:3]]))
    assert failures == []
    # Highlights are marker characters around the words found, in title and snippet.
    [hit, *_] = search(db, alpha.tokens["customer"], "printer jammed")
    assert f"{MARK_START}printer{MARK_END}" in hit["title_highlight"]
    assert f"{MARK_START}jams{MARK_END}" in hit["snippet"]


def test_snippets_are_text_that_carries_no_markup(db: Database, world: tuple[Org, Org]) -> None:
    alpha, _ = world
    save(db, alpha.tokens["agent"], {"title": "Escaping <b>markup</b> \ue000fake\ue001",
                                     "body": "Type <script>alert(1)</script> & see: the widget shows it.",
                                     "state": "published", "is_public": True})
    [hit] = search(db, alpha.tokens["customer"], "widget")
    assert "<script>alert(1)</script> & see" in hit["snippet"]  # the text itself, for the SPA to show as text
    assert hit["title_highlight"] == "Escaping <b>markup</b> fake"  # its own markers cannot fake a highlight


HOSTILE = ["", " ", "'", "\\", "!", "&", "|", ":*", "a:*", "(", ")", "<->", "!(a | b)", "\"unclosed", "-", "--",
           "or or or", "' OR 1=1 --", "%", "x" * 200, "😀 emoji", "ß", "\u202e", "a & b | !c <2> d",
           "foo:ABCD", "\t\n", "...", "the", "the a an", "-vpn", "vpn -"]


@pytest.mark.parametrize("text", HOSTILE)
def test_whatever_is_typed_the_search_answers(db: Database, world: tuple[Org, Org], text: str) -> None:
    alpha, _ = world
    with db.acting_as(alpha.tokens["customer"]) as conn:
        conn.execute("SELECT api.kb_article_list(%s)", [Jsonb({"q": text})])
        conn.execute("SELECT api.kb_suggest(%s)", [Jsonb({"subject": text})])
        if text.strip():
            conn.execute("SELECT api.kb_search(%s)", [Jsonb({"q": text})])


def test_the_search_language_is_the_organizations_and_changing_it_reindexes(db: Database,
                                                                           world: tuple[Org, Org]) -> None:
    alpha, _ = world
    save(db, alpha.tokens["agent"], {"title": "Drucker druckt nicht", "body": "Prüfen Sie die Druckerkabel.",
                                     "state": "published", "is_public": True})
    assert search(db, alpha.tokens["customer"], "druckern") == []  # english stems leave German alone
    with db.acting_as(alpha.tokens["admin"]) as conn:
        assert conn.execute("SELECT api.kb_settings_update(%s) AS s",
                            [Jsonb({"language": "German"})]).fetchone()["s"]["language"] == "german"
        conn.commit()
    assert [h["title"] for h in search(db, alpha.tokens["customer"], "druckern")] == ["Drucker druckt nicht"]
    for bad in ("klingon", "pg_catalog.english; DROP TABLE x", ""):
        with db.acting_as(alpha.tokens["admin"]) as conn, pytest.raises(psycopg.Error) as err:
            conn.execute("SELECT api.kb_settings_update(%s)", [Jsonb({"language": bad})])
        assert err.value.sqlstate == "AT422" and err.value.diag.column_name == "language"
    with db.acting_as(alpha.tokens["agent"]) as conn, pytest.raises(psycopg.Error) as err:
        conn.execute("SELECT api.kb_settings_update(%s)", [Jsonb({"language": "french"})])
    assert err.value.sqlstate == "AT403"


def test_deflection_is_counted_per_organization_and_day_for_reporting_roles(db: Database, owner: psycopg.Connection,
                                                                           world: tuple[Org, Org]) -> None:
    alpha, beta = world
    save(db, alpha.tokens["agent"], {"title": "Printer offline", "body": "Turn it off and on.", "state": "published",
                                     "is_public": True})

    def suggest(token: str, subject: str) -> dict[str, Any]:
        with db.acting_as(token) as conn:
            answer = conn.execute("SELECT api.kb_suggest(%s) AS s", [Jsonb({"subject": subject})]).fetchone()["s"]
            conn.commit()
        return answer

    def event(token: str, session: int, body: dict[str, Any]) -> None:
        with db.acting_as(token) as conn:
            conn.execute("SELECT api.kb_suggestion_event(%s, %s)", [session, Jsonb(body)])
            conn.commit()

    customer, other = alpha.tokens["customer"], alpha.tokens["customer2"]
    deflected = suggest(customer, "printer is offline")
    assert deflected["items"] and deflected["session_id"]
    event(customer, deflected["session_id"], {"kind": "followed", "article_id": deflected["items"][0]["id"]})
    gave_up = suggest(other, "printer offline again")
    event(other, gave_up["session_id"], {"kind": "followed", "article_id": gave_up["items"][0]["id"]})
    event(other, gave_up["session_id"], {"kind": "submitted"})
    submitted = suggest(customer, "printer")
    event(customer, submitted["session_id"], {"kind": "submitted"})
    assert suggest(customer, "quantum entanglement")["session_id"] is None  # nothing shown: no session
    with db.acting_as(other) as conn, pytest.raises(psycopg.Error) as err:  # not their session
        conn.execute("SELECT api.kb_suggestion_event(%s, %s)", [deflected["session_id"], Jsonb({"kind": "submitted"})])
    assert err.value.sqlstate == "AT404"
    # build_org left one followed session in each organization as well.
    with db.connect("atum_reporting", row_factory=dict_row) as conn:
        rows = conn.execute("SELECT * FROM reporting.kb_deflection ORDER BY organization_id").fetchall()
    [a, b] = rows
    today = owner.execute("SELECT (now() AT TIME ZONE 'Europe/Berlin')::date").fetchone()[0]
    assert a == {"organization_id": alpha.id, "day": today, "suggestion_sessions": 4, "followed": 3, "submitted": 2,
                 "deflected": 2}
    assert b["organization_id"] == beta.id and b["suggestion_sessions"] == 1
    # The manager's report reads the same view: the day, then the total.
    with db.acting_as(alpha.tokens["manager"]) as conn:
        report = conn.execute("SELECT api.report('kb-deflection', %s) AS r",
                              [Jsonb({"from": str(today), "to": str(today)})]).fetchone()["r"]
    day = {"suggestion_sessions": 4, "followed": 3, "submitted": 2, "deflected": 2, "percent": 50.0}
    assert report["rows"] == [{"day": str(today), **day}, {"day": None, **day}], report
    owner.execute("SELECT api.revoke_reporting('atum_reporting', %s)", [beta.id])
    with db.connect("atum_reporting") as conn:
        assert [r[0] for r in conn.execute("SELECT organization_id FROM reporting.kb_deflection")] == [alpha.id]
