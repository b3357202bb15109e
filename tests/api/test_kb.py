"""The knowledge base over HTTP: staff write, preview, publish and unpublish articles; Markdown comes
out as inert HTML; customers and anonymous portal visitors read and search public published
articles only; another organization's article is a 404; bad input is a 422 naming the field;
votes and the portal's suggestion sessions."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from tests.api.client import Api, owner_query, run_api, world
from tests.support import Database

XSS = """# Hello <script>alert('x')</script>

[click me](javascript:alert(1)) <img src=x onerror=alert(2)> <a href="https://evil.example" onclick="steal()">a</a>

<iframe src="https://evil.example"></iframe> [ok](https://example.com "fine")

| col | <b>bold</b> |
|-----|-----|
| 1 | <svg onload=alert(3)> |
"""


class Markup(HTMLParser):
    """The elements and attributes of an HTML fragment, as a browser would parse them."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: list[tuple[str, str]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes += [(name, value or "") for name, value in attrs]


def test_staff_write_preview_publish_and_unpublish_and_markdown_comes_out_inert(db: Database) -> None:
    alpha, _ = world(db)
    agent = alpha.tokens["agent"]

    async def scenario(api: Api) -> None:
        preview = await api.call("POST", "/api/v1/kb/preview", token=agent, json_body={"body": XSS})
        assert preview.status == 200
        created = await api.call("POST", "/api/v1/kb/articles", token=agent,
                                 json_body={"title": "  Safe rendering  ", "body": XSS, "is_public": True})
        assert created.status == 201, created.body
        article = created.body
        assert article["title"] == "Safe rendering" and article["state"] == "draft" and article["published_at"] is None
        assert article["body"] == XSS and article["author"]["id"] == alpha.users["agent"]
        for html in (preview.body["body_html"], article["body_html"]):
            markup = Markup(html)
            assert not markup.tags & {"script", "iframe", "img", "svg", "b"}, html
            assert not [a for a in markup.attributes if a[0].startswith("on") or "javascript" in a[1].lower()], html
            assert "&lt;script&gt;" in html  # shown as text
            assert '<a href="https://example.com" title="fine" rel="noopener noreferrer nofollow">ok</a>' in html
            assert "<table>" in html
        published = await api.call("PATCH", f"/api/v1/kb/articles/{article['id']}", token=agent,
                                   json_body={"state": "PUBLISHED"})
        assert published.status == 200 and published.body["state"] == "published" and published.body["published_at"]
        customer_view = await api.call("GET", f"/api/v1/kb/articles/{article['id']}", token=alpha.tokens["customer"])
        assert customer_view.status == 200 and customer_view.body["body"] is None  # readers get HTML only
        unpublished = await api.call("PATCH", f"/api/v1/kb/articles/{article['id']}", token=agent,
                                     json_body={"state": "draft"})
        assert unpublished.body["published_at"] is None
        hidden = await api.call("GET", f"/api/v1/kb/articles/{article['id']}", token=alpha.tokens["customer"])
        assert hidden.status == 404
        drafts = await api.call("GET", "/api/v1/kb/articles?state=draft", token=agent)
        assert [a["id"] for a in drafts.body["items"]] == [article["id"]]
        assert (await api.call("DELETE", f"/api/v1/kb/articles/{article['id']}", token=agent)).status == 200

    run_api(db, scenario)
    actions = owner_query(db, "SELECT action FROM atum.audit_log WHERE table_name = 'kb_articles'"
                              " AND organization_id = %s ORDER BY seq", [alpha.id])
    assert [a for (a,) in actions][-4:] == ["INSERT", "UPDATE", "UPDATE", "DELETE"]  # views are not audited


def test_bad_input_is_a_422_naming_the_field_and_roles_are_checked(db: Database) -> None:
    alpha, beta = world(db)
    agent = alpha.tokens["agent"]
    [(beta_category,)] = owner_query(db, "SELECT id FROM atum.kb_categories WHERE organization_id = %s", [beta.id])

    async def scenario(api: Api) -> None:
        cases: list[tuple[dict[str, Any], str]] = [
            ({"body": "no title"}, "title"),
            ({"title": "   "}, "title"),
            ({"title": "x" * 201}, "title"),
            ({"title": "ok", "state": "archived"}, "state"),
            ({"title": "ok", "is_public": "maybe"}, "is_public"),
            ({"title": "ok", "body": 42}, "body"),
            ({"title": "ok", "body": "x" * 100_001}, "body"),
            ({"title": "ok", "colour": "red"}, "colour"),
            ({"title": "ok", "category_id": beta_category}, "category_id"),
            ({"title": "ok", "category_id": "abc"}, "category_id"),
        ]
        for body, field in cases:
            reply = await api.call("POST", "/api/v1/kb/articles", token=agent, json_body=body)
            assert (reply.status, reply.body.get("field")) == (422, field), (body, reply.body)
            assert reply.headers["Content-Type"].startswith("application/problem+json")
        for path, query_field in (("/api/v1/kb/search", "q"), ("/api/v1/kb/search?q=" + "x" * 201, "q"),
                                  ("/api/v1/kb/articles?state=lost", "state"),
                                  ("/api/v1/kb/articles?after=zz", "after"),
                                  ("/api/v1/kb/search?q=a&limit=99", "limit"), ("/api/v1/kb/articles?sort=x", "sort")):
            reply = await api.call("GET", path, token=alpha.tokens["customer"])
            assert (reply.status, reply.body.get("field")) == (422, query_field), (path, reply.body)
        customer = alpha.tokens["customer"]
        assert (await api.call("POST", "/api/v1/kb/articles", token=customer, json_body={"title": "x"})).status == 403
        assert (await api.call("POST", "/api/v1/kb/preview", token=customer, json_body={"body": "x"})).status == 403
        assert (await api.call("POST", "/api/v1/kb/categories", token=customer, json_body={"name": "x"})).status == 403
        language = await api.call("PATCH", "/api/v1/kb/settings", token=agent, json_body={"language": "german"})
        assert language.status == 403
        duplicate = await api.call("POST", "/api/v1/kb/categories", token=agent, json_body={"name": "Printing"})
        assert (duplicate.status, duplicate.body["field"]) == (409, "name")
        vote = await api.call("POST", "/api/v1/kb/articles/1/vote", token=customer, json_body={"helpful": "yes"})
        assert vote.status in (404, 422)

    run_api(db, scenario)


def test_readers_see_public_published_articles_only_and_another_organizations_are_missing(db: Database) -> None:
    alpha, beta = world(db)
    [(beta_article,)] = owner_query(db, "SELECT id FROM atum.kb_articles WHERE organization_id = %s", [beta.id])

    async def scenario(api: Api) -> None:
        agent = alpha.tokens["agent"]
        ids = {}
        for name, body in (("internal", {"title": "Escalation phone numbers", "body": "Call the duty printer manager.",
                                         "state": "published"}),
                           ("draft", {"title": "Printer fleet replacement plan", "body": "Draft.", "is_public": True}),
                           ("public", {"title": "Printer shows offline", "body": "Restart the printer.",
                                       "state": "published", "is_public": True})):
            ids[name] = (await api.call("POST", "/api/v1/kb/articles", token=agent, json_body=body)).body["id"]
        staff_hits = await api.call("GET", "/api/v1/kb/search?q=printer", token=agent)
        assert {h["id"] for h in staff_hits.body["items"]} >= {ids["internal"], ids["draft"], ids["public"]}
        customer = alpha.tokens["customer"]
        hits = await api.call("GET", "/api/v1/kb/search?q=printer", token=customer)
        assert [h["id"] for h in hits.body["items"]] == [ids["public"]]
        assert hits.body["items"][0]["title_highlight"] == "\ue000Printer\ue001 shows offline"
        listed = await api.call("GET", "/api/v1/kb/articles", token=customer)
        assert ids["public"] in {a["id"] for a in listed.body["items"]}
        assert not {ids["internal"], ids["draft"]} & {a["id"] for a in listed.body["items"]}
        first = await api.call("GET", f"/api/v1/kb/articles/{ids['public']}", token=customer)
        second = await api.call("GET", f"/api/v1/kb/articles/{ids['public']}", token=customer)
        assert second.body["view_count"] == first.body["view_count"] + 1 == 2
        for hidden in (ids["internal"], ids["draft"], beta_article, 9_000_000_000_000):
            reply = await api.call("GET", f"/api/v1/kb/articles/{hidden}", token=customer)
            assert reply.status == 404 and reply.body["detail"].startswith("no article"), reply.body
        foreign = await api.call("GET", f"/api/v1/kb/articles/{beta_article}", token=alpha.tokens["admin"])
        assert foreign.status == 404
        beta_hits = await api.call("GET", "/api/v1/kb/search?q=printer", token=beta.tokens["admin"])
        assert not {ids["internal"], ids["draft"], ids["public"]} & {h["id"] for h in beta_hits.body["items"]}

        # Anonymous portal visitors: by organization slug, public published only, nothing to write.
        anon = await api.call("GET", "/api/v1/kb/search?q=printer&organization=alpha")
        assert [h["id"] for h in anon.body["items"]] == [ids["public"]]
        assert (await api.call("GET", f"/api/v1/kb/articles/{ids['public']}?organization=alpha")).status == 200
        for hidden in (ids["internal"], ids["draft"]):
            assert (await api.call("GET", f"/api/v1/kb/articles/{hidden}?organization=alpha")).status == 404
        assert (await api.call("GET", f"/api/v1/kb/articles/{ids['public']}?organization=beta")).status == 404
        categories = await api.call("GET", "/api/v1/kb/categories?organization=alpha")
        assert [c["name"] for c in categories.body["items"]] == ["Printing"]
        assert (await api.call("GET", "/api/v1/kb/search?q=printer")).status == 401
        assert (await api.call("GET", "/api/v1/kb/search?q=printer&organization=nope")).status == 404
        refused = await api.call("POST", "/api/v1/kb/articles?organization=alpha", json_body={"title": "x"},
                                 browser=True)
        assert refused.status == 401

    run_api(db, scenario)


def test_votes_and_suggestion_sessions_over_http(db: Database) -> None:
    alpha, _ = world(db)
    customer = alpha.tokens["customer"]

    async def scenario(api: Api) -> None:
        made = await api.call("POST", "/api/v1/kb/articles", token=alpha.tokens["agent"],
                              json_body={"title": "VPN disconnects every hour", "body": "Update the VPN client.",
                                         "state": "published", "is_public": True})
        article = made.body["id"]
        vote = f"/api/v1/kb/articles/{article}/vote"
        voted = await api.call("POST", vote, token=customer, json_body={"helpful": False})
        assert (voted.status, voted.body["my_vote"], voted.body["not_helpful_count"]) == (200, False, 1)
        changed = await api.call("POST", vote, token=customer, json_body={"helpful": True})
        assert (changed.body["helpful_count"], changed.body["not_helpful_count"]) == (1, 0)
        shown = await api.call("POST", "/api/v1/kb/suggestions", token=customer,
                               json_body={"subject": "my vpn keeps disconn"})
        assert shown.status == 200 and [i["id"] for i in shown.body["items"]] == [article]
        session = shown.body["session_id"]
        again = await api.call("POST", "/api/v1/kb/suggestions", token=customer,
                               json_body={"subject": "my vpn keeps disconnecting", "session_id": session})
        assert again.body["session_id"] == session
        followed = await api.call("POST", f"/api/v1/kb/suggestions/{session}/events", token=customer,
                                  json_body={"kind": "followed", "article_id": article})
        assert followed.status == 200 and followed.body["shown_count"] == 2 and followed.body["followed_at"]
        other = await api.call("POST", f"/api/v1/kb/suggestions/{session}/events", token=alpha.tokens["customer2"],
                               json_body={"kind": "submitted"})
        assert other.status == 404
        bad = await api.call("POST", f"/api/v1/kb/suggestions/{session}/events", token=customer,
                             json_body={"kind": "abandoned"})
        assert (bad.status, bad.body["field"]) == (422, "kind")

    run_api(db, scenario)
    [(followed, submitted)] = owner_query(db, "SELECT sum(followed), sum(submitted) FROM reporting.kb_deflection"
                                              " WHERE organization_id = %s", [alpha.id])
    assert (followed, submitted) == (2, 0)  # build_org's session and this one


def test_staff_manage_categories_and_admins_the_search_language(db: Database) -> None:
    alpha, _ = world(db)
    agent, admin, customer = alpha.tokens["agent"], alpha.tokens["admin"], alpha.tokens["customer"]

    async def scenario(api: Api) -> None:
        made = await api.call("POST", "/api/v1/kb/categories", token=agent,
                              json_body={"name": "Accounts", "description": "Passwords and sign-in", "position": 2})
        assert made.status == 201 and made.body["article_count"] == 0
        category = made.body["id"]
        renamed = await api.call("PATCH", f"/api/v1/kb/categories/{category}", token=agent,
                                 json_body={"name": "Accounts and access"})
        assert renamed.body["name"] == "Accounts and access" and renamed.body["position"] == 2
        article = await api.call("POST", "/api/v1/kb/articles", token=agent,
                                 json_body={"title": "Unlock your account", "category_id": category,
                                            "state": "published", "is_public": True})
        staff_view = await api.call("GET", "/api/v1/kb/categories", token=agent)
        assert [c["name"] for c in staff_view.body["items"]] == ["Printing", "Accounts and access"]
        filtered = await api.call("GET", f"/api/v1/kb/articles?category={category}", token=customer)
        assert [a["id"] for a in filtered.body["items"]] == [article.body["id"]]
        assert (await api.call("DELETE", f"/api/v1/kb/categories/{category}", token=agent)).status == 200
        kept = await api.call("GET", f"/api/v1/kb/articles/{article.body['id']}", token=customer)
        assert kept.status == 200 and kept.body["category_id"] is None  # the article stays, uncategorised

        settings = await api.call("GET", "/api/v1/kb/settings", token=customer)
        assert settings.body["language"] == "english" and "german" in settings.body["languages"]
        changed = await api.call("PATCH", "/api/v1/kb/settings", token=admin, json_body={"language": "simple"})
        assert changed.status == 200 and changed.body["language"] == "simple"
        unknown = await api.call("PATCH", "/api/v1/kb/settings", token=admin, json_body={"language": "elvish"})
        assert (unknown.status, unknown.body["field"]) == (422, "language")

    run_api(db, scenario)
