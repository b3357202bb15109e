"""The life of a ticket as three people see it at the same time, each in a browser of their own:
the customer opens it in the portal, it appears in the manager's triage inbox while that page stays
open, the manager accepts it with a priority and the SLA badge appears, an agent replies and adds an
internal note, the customer sees the reply and never the note, the agent resolves it and the
customer confirms. The customer uses a phone's 360 px wide screen, staff a desktop's. Screenshots of
each screen on the way are kept as artifacts."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.browser.conftest import PHONE, Site
from tests.e2e.browser.screens import accept, act, loads, open_ticket, row, sign_in, status_is, write_comment

pytestmark = pytest.mark.slow


def test_a_ticket_from_the_portal_to_the_customers_confirmation(site: Site) -> None:
    # The customer, on a phone (360 px wide), signs in through the sign-in screen and lands in the portal.
    customer = site.page(None, PHONE)
    customer.goto("/login")
    site.screenshot(customer, "01-sign-in")
    sign_in(customer, site.email(site.org, "customer"))
    expect(customer).to_have_url(re.compile(r"/portal$"))
    site.screenshot(customer, "02-portal")

    # The manager has the triage inbox open before the ticket exists.
    manager = site.page("manager")
    manager.goto("/inbox")
    expect(manager.get_by_role("heading", name=re.compile("inbox", re.I)).first).to_be_visible()
    inbox_loads = loads(manager)

    subject = "Laptop will not start after the update"
    ticket = open_ticket(customer, subject, "The screen stays black; the power light blinks twice.")
    site.screenshot(customer, "03-portal-ticket-new")

    entry = row(manager, subject)
    expect(entry).to_be_visible()
    assert inbox_loads == [], f"the ticket appeared only after the inbox was loaded again: {inbox_loads}"
    site.screenshot(manager, "04-inbox-live")

    # Accepting with a priority and the agent as assignee.
    accept(manager, entry, "High", site.org.users["agent"])
    expect(row(manager, subject)).to_have_count(0)
    accepted = site.api("GET", f"/api/v1/tickets/{ticket}", "manager")
    assert (accepted["status"], accepted["priority"]) == ("ACCEPTED", "HIGH")

    # The ticket page shows the SLA badge counting down.
    manager.goto(f"/tickets/{ticket}")
    expect(manager.get_by_role("heading", name=subject)).to_be_visible()
    clocks = manager.get_by_role("group", name="SLA clocks")
    expect(clocks).to_contain_text(re.compile(r"First response: .*(left|overdue)"))
    site.screenshot(manager, "05-ticket-accepted-sla")

    # The customer watches the ticket; the agent replies and notes.
    customer.goto(f"/portal/tickets/{ticket}")
    expect(customer.get_by_role("heading", name=subject)).to_be_visible()
    portal_loads = loads(customer)
    agent = site.page("agent")
    agent.goto(f"/tickets/{ticket}")
    reply = "Please hold the power button for 30 seconds, then start it again."
    note = "Known firmware issue KB-4711; replace the board if this does not help."
    write_comment(agent, reply, internal=False)
    write_comment(agent, note, internal=True)
    site.screenshot(agent, "06-ticket-reply-and-note")

    expect(customer.get_by_text(reply)).to_be_visible()
    assert portal_loads == [], f"the reply appeared only after the ticket page was loaded again: {portal_loads}"
    assert note not in customer.content()
    customer.reload()
    expect(customer.get_by_text(reply)).to_be_visible()
    assert note not in customer.content(), "the internal note reached the customer's page"
    site.screenshot(customer, "07-portal-ticket-reply")

    # The agent starts work and resolves …
    act(agent, "Start work")
    status_is(agent, "In progress")
    act(agent, "Resolve")
    status_is(agent, "Resolved")

    # … and the customer, still on the ticket's page, confirms.
    act(customer, "Confirm resolution")
    status_is(customer, "Closed")
    site.screenshot(customer, "08-portal-ticket-closed")
    assert site.api("GET", f"/api/v1/tickets/{ticket}", "manager")["status"] == "CLOSED"


def test_the_timeline_shows_each_move_with_its_reason(site: Site) -> None:
    opened = site.api("POST", "/api/v1/tickets", "customer", {"subject": "Second printer jam", "description": "."})
    ticket = opened["id"]
    site.api("POST", f"/api/v1/tickets/{ticket}/transition", "manager",
             {"status": "REJECTED", "reason": "Duplicate of the first printer ticket"})
    manager = site.page("manager")
    manager.goto(f"/tickets/{ticket}")
    move = manager.get_by_role("note").filter(has_text="changed the status")
    expect(move).to_have_count(1)
    expect(move).to_contain_text(re.compile(r"changed the status from New\s*to Rejected"))
    expect(move).to_contain_text("Reason: Duplicate of the first printer ticket")
