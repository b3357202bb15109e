"""The knowledge base in a real browser: a customer typing a new ticket's subject on a phone is
offered an article, opens it instead of submitting, and that counts as deflected; an agent writes an
article in Markdown, previews it as the server renders it (raw HTML stays text, nothing runs) and
publishes it, and a customer finds it by searching as they type, with the words highlighted; and
the knowledge base screens have no serious accessibility violation at desktop width and at 360 px."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.api.client import owner_query
from tests.e2e.browser.conftest import PHONE, Site, require
from tests.e2e.browser.test_accessibility import findings

pytestmark = pytest.mark.slow


def publish(site: Site, title: str, body: str, *, public: bool = True) -> int:
    made = site.api("POST", "/api/v1/kb/articles", "agent",
                    {"title": title, "body": body, "state": "published", "is_public": public})
    return int(made["id"])


def deflection(site: Site) -> tuple[int, int, int, int]:
    [row] = owner_query(site.db, "SELECT sum(suggestion_sessions), sum(followed), sum(submitted), sum(deflected)"
                                 " FROM reporting.kb_deflection WHERE organization_id = %s", [site.org.id])
    return tuple(int(v or 0) for v in row)  # type: ignore[return-value]


def test_a_suggestion_opened_instead_of_a_ticket_counts_as_deflected(site: Site) -> None:
    article = publish(site, "VPN disconnects every hour", "Update the VPN client to version 5 or later.")
    before = deflection(site)
    customer = site.page("customer", PHONE)
    customer.goto("/portal/new")
    customer.get_by_label("Subject").press_sequentially("my vpn keeps disconn", delay=20)
    suggestions = customer.get_by_role("region", name="These articles may answer your question")
    link = suggestions.get_by_role("link", name=re.compile("VPN disconnects every hour"))
    expect(link).to_be_visible()
    expect(link.locator("mark").first).to_have_text(re.compile("VPN", re.I))
    site.screenshot(customer, "01-portal-suggestion")
    link.click()
    expect(customer).to_have_url(re.compile(rf"/kb/{article}$"))
    expect(customer.get_by_role("heading", level=1, name="VPN disconnects every hour")).to_be_visible()
    expect(customer.frame_locator("iframe[title^='Article']").get_by_text("Update the VPN client")).to_be_visible()
    customer.get_by_role("button", name=re.compile("^Yes")).click()
    expect(customer.get_by_role("status").filter(has_text="Thank you")).to_be_visible()
    site.screenshot(customer, "02-article-helpful")
    sessions, followed, submitted, deflected = deflection(site)
    assert (sessions, followed, submitted, deflected) == (before[0] + 1, before[1] + 1, before[2], before[3] + 1)
    # Back on the form, what was typed is still there.
    customer.goto("/portal/new")
    expect(customer.get_by_label("Subject")).to_have_value("my vpn keeps disconn")


def test_staff_write_preview_and_publish_and_customers_find_it_as_they_type(site: Site) -> None:
    agent = site.page("agent")
    agent.goto("/kb")
    agent.get_by_role("link", name="New article").click()
    agent.get_by_label("Title").fill("Printer shows offline")
    agent.get_by_label("Text (Markdown)").fill(
        "Turn the printer **off and on**.\n\n<script>alert('x')</script> <img src=x onerror=alert(1)>")
    agent.get_by_role("button", name="Preview").click()
    preview = agent.frame_locator("iframe[title='Preview of the article text']")
    expect(preview.locator("strong")).to_have_text("off and on")
    expect(preview.get_by_text("<script>alert('x')</script>", exact=False)).to_be_visible()  # text, not markup
    expect(preview.locator("script, img")).to_have_count(0)
    agent.get_by_label(re.compile("^Public")).check()
    site.screenshot(agent, "01-editor-preview")
    agent.get_by_role("button", name="Publish").click()
    expect(agent.get_by_role("status").filter(has_text="Saved and published.")).to_be_visible()
    expect(agent).to_have_url(re.compile(r"/kb/\d+/edit$"))
    article = int(agent.url.rsplit("/", 2)[-2])
    assert site.api("GET", f"/api/v1/kb/articles/{article}", "customer")["state"] == "published"

    customer = site.page("customer", PHONE)
    customer.goto("/kb")
    customer.get_by_label("Search articles").press_sequentially("printer offl", delay=20)
    result = customer.get_by_role("link", name="Printer shows offline")
    expect(result).to_be_visible()
    expect(result.locator("mark")).to_have_count(2)
    site.screenshot(customer, "02-search-as-you-type")
    result.click()
    expect(customer.get_by_role("heading", level=1, name="Printer shows offline")).to_be_visible()

    # Unpublished, it is gone for customers.
    agent.get_by_role("button", name="Unpublish").click()
    expect(agent.get_by_role("status").filter(has_text="Saved as a draft.")).to_be_visible()
    customer.reload()
    expect(customer.get_by_role("heading", level=1, name="Article not found")).to_be_visible()


def test_the_knowledge_base_screens_have_no_serious_accessibility_violation(site: Site) -> None:
    require(axe=True)
    article = publish(site, "Connecting to the VPN from home", "Install the client, then **sign in**.")
    draft = site.api("POST", "/api/v1/kb/articles", "agent", {"title": "Draft notes", "body": "Soon."})["id"]
    found: list[str] = []
    for screen, role, address in (("kb-customer", "customer", "/kb"),
                                  ("kb-search", "customer", "/kb?q=vpn"),
                                  ("kb-article", "customer", f"/kb/{article}"),
                                  ("kb-staff", "agent", "/kb"),
                                  ("kb-edit", "agent", f"/kb/{draft}/edit"),
                                  ("kb-new", "agent", "/kb/new"),
                                  ("help-visitor", None, "/help/alpha"),
                                  ("help-visitor-article", None, f"/help/alpha/{article}")):
        found += [f"{screen}: {f}" for f in findings(site, screen, role, address)]
    assert not found, "\n".join(found)
