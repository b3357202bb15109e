"""The queue in the order an agent works it: due soonest first, each row's SLA badge in business
time (what the ticket page shows), and the order kept in the address and in saved views."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.browser.conftest import Site

pytestmark = pytest.mark.slow


def test_an_agent_sorts_the_queue_by_due_time(site: Site) -> None:
    made = [site.api("POST", "/api/v1/tickets", "customer", {"subject": subject, "description": "Please help."})
            for subject in ("VPN drops hourly", "Invoice address wrong", "Laptop will not boot")]
    agent_id = site.org.users["agent"]
    site.api("POST", f"/api/v1/internal/tickets/{made[0]['id']}/accept", "manager",
             {"priority": "LOW", "assignee_id": agent_id})
    site.api("POST", f"/api/v1/internal/tickets/{made[2]['id']}/accept", "manager",
             {"priority": "URGENT", "assignee_id": agent_id})

    page = site.page("agent")
    page.goto("/")
    queue = page.get_by_role("list", name=re.compile("^Tickets"))
    expect(queue).to_have_attribute("aria-label", "Tickets, newest first")
    page.get_by_label("Order").select_option(label="Due soonest")
    expect(page).to_have_url(re.compile(r"[?&]sort=due"))
    expect(queue).to_have_attribute("aria-label", "Tickets, due soonest")

    expected = [t["id"] for t in site.api("GET", "/api/v1/tickets?sort=due&limit=100", "agent")["items"]]
    shown = queue.locator("a.ticket-row")
    expect(shown).to_have_count(len(expected))
    assert [int(i) for i in shown.evaluate_all("rows => rows.map(r => r.dataset.ticketId)")] == expected

    # The urgent ticket's first response is due before the low one's: it comes first of the two,
    # and its badge counts business minutes left, as its ticket page does.
    assert expected.index(made[2]["id"]) < expected.index(made[0]["id"])
    urgent = page.locator(f'a.ticket-row[data-ticket-id="{made[2]["id"]}"]')
    detail = site.api("GET", f"/api/v1/tickets/{made[2]['id']}", "agent")
    left = detail["sla_clocks"]["first_response"]["remaining_business_minutes"]
    expect(urgent.locator("[data-sla]")).to_contain_text(re.compile(r"^First response: .* left"))
    assert left > 0
    expect(page.locator(f'a.ticket-row[data-ticket-id="{made[1]["id"]}"] [data-sla]')).to_contain_text("Triage:")

    # A saved view keeps the order; the default order comes back without it.
    page.get_by_role("button", name="Save these filters as a view…").click()
    page.get_by_label("Name of the view").fill("Due first")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_label("Order").select_option(label="Newest first")
    expect(queue).to_have_attribute("aria-label", "Tickets, newest first")
    page.get_by_role("group", name="Saved views").get_by_role("button", name="Due first", exact=True).click()
    expect(queue).to_have_attribute("aria-label", "Tickets, due soonest")
    site.screenshot(page, "queue-due-soonest")
