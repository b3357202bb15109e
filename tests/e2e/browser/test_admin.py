"""The admin screens as an admin uses them: create a team, change an SLA target, add a mailbox
(its health shows "pending" until the worker has checked it), create an API token (its secret is
shown once, and never again). And the admin screens pass axe-core at a desktop's width and at
360 px, without horizontal scrolling, like the other screens (test_accessibility.py)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.browser.conftest import Site, require
from tests.e2e.browser.screens import admin_form, row
from tests.e2e.browser.test_accessibility import findings

pytestmark = pytest.mark.slow

ADMIN_SCREENS = [
    ("admin-users", "/admin/users"),
    ("admin-mailboxes", "/admin/mailboxes"),
    ("admin-sla", "/admin/sla"),
    ("admin-mail-template", "/admin/mail/templates/staff_reply"),
    ("admin-mail-outbox", "/admin/mail/outbox"),
]


def test_an_admin_sets_up_a_team_an_sla_target_a_mailbox_and_an_api_token(site: Site) -> None:
    admin = site.page("admin")
    admin.goto("/")
    admin.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    expect(admin.get_by_role("heading", name="Administration", level=1)).to_be_visible()

    # A team.
    admin.get_by_role("navigation", name="Administration").get_by_role("link", name="Teams").click()
    form = admin_form(admin, "New team")
    form.get_by_label("Team name").fill("Second level")
    form.get_by_label("Description (optional)").fill("Hard cases")
    form.get_by_role("button", name="Create team").click()
    expect(form.get_by_role("status")).to_contain_text("Second level")
    expect(admin.get_by_role("heading", name="Second level", level=3)).to_be_visible()
    site.screenshot(admin, "01-team")

    # An SLA target: urgent tickets get a first response within 45 business minutes.
    admin.goto("/admin/sla")
    first = admin.get_by_label("Urgent: first response (minutes)")
    first.fill("45")
    resolution = admin.get_by_label("Urgent: resolution (minutes)")
    if int(resolution.input_value() or "0") < 45:
        resolution.fill("480")
    admin.get_by_role("button", name="Save urgent").click()
    expect(admin.get_by_role("status").filter(has_text="Urgent priority saved")).to_be_visible()
    policies = site.api("GET", "/api/v1/admin/sla-policies", "admin")["items"]
    assert [p["first_response_minutes"] for p in policies if p["priority"] == "URGENT"] == [45]
    site.screenshot(admin, "02-sla")

    # A mailbox: the password is never shown again, and the health is "pending" until checked.
    admin.goto("/admin/mailboxes")
    form = admin_form(admin, "Add a mailbox")
    form.get_by_label("Mailbox name").fill("Support desk")
    form.get_by_label("E-mail address").fill("desk@alpha.example")
    form.get_by_label("IMAP server").fill("imap.alpha.example")
    form.get_by_label("User name").fill("desk")
    form.get_by_label("Password").fill("imap-secret-1")
    form.get_by_role("button", name="Add mailbox").click()
    expect(form.get_by_role("status")).to_contain_text("Support desk")
    entry = row(admin, "desk@alpha.example")
    expect(entry.get_by_text(re.compile("^pending", re.I))).to_be_visible()
    assert "imap-secret-1" not in admin.content()
    entry.get_by_role("button", name="Edit Support desk").click()
    edit = admin_form(admin, "Edit Support desk")
    expect(edit.get_by_label("Password")).to_have_value("")
    expect(edit.get_by_text("Leave empty to keep it")).to_be_visible()
    site.screenshot(admin, "03-mailbox")

    # An API token: shown once, with a warning and a copy button; gone after a reload.
    admin.goto("/admin/tokens")
    form = admin_form(admin, "New token")
    form.get_by_label("Token name").fill("Monitoring")
    form.get_by_label("Acts with the role").select_option("agent")
    form.get_by_role("button", name="Create token").click()
    secret = admin.get_by_label("The new API token")
    expect(secret).to_have_text(re.compile(r"^atum_t_[A-Za-z0-9_-]{43}$"))
    token = secret.inner_text()
    expect(admin.get_by_text(re.compile("shown only once", re.I))).to_be_visible()
    expect(admin.get_by_role("button", name="Copy token")).to_be_visible()
    expect(row(admin, "Monitoring")).to_be_visible()
    site.screenshot(admin, "04-token")
    admin.reload()
    expect(row(admin, "Monitoring")).to_be_visible()
    assert token not in admin.content()


def test_a_team_in_use_cannot_be_deleted_and_the_screen_says_why(site: Site) -> None:
    team = site.api("POST", "/api/v1/admin/teams", "admin", {"name": "Routed to"})
    ticket = site.api("POST", "/api/v1/tickets", "customer", {"subject": "Printer", "description": "Jammed."})
    site.api("PATCH", f"/api/v1/tickets/{ticket['id']}", "manager", {"team_id": team["id"]})
    admin = site.page("admin")
    admin.goto("/admin/teams")
    card = admin.locator("main li.team").filter(has=admin.get_by_role("heading", name="Routed to"))
    card.get_by_role("button", name="Delete").click()
    card.get_by_role("button", name="Delete Routed to").click()
    expect(card.get_by_role("alert")).to_be_visible()
    expect(admin.get_by_role("heading", name="Routed to")).to_be_visible()


def test_an_admin_edits_a_notification_template_and_reads_the_outbox(site: Site) -> None:
    admin = site.page("admin")
    admin.goto("/admin/mail")
    templates = admin.get_by_role("table", name="Notification templates")
    expect(templates).to_contain_text("Staff reply")
    templates.get_by_role("link", name="Resolved").click()  # the test world customised this one
    subject = admin.get_by_label("Subject")
    expect(subject).to_have_value(re.compile("Done:"))

    # A broken template is refused next to its field; a good one is saved and used from then on.
    subject.fill("[{{ ticket.reference }] Done")
    admin.get_by_role("button", name="Save templates").click()
    expect(admin.get_by_role("alert")).to_contain_text("Subject")
    subject.fill("[{{ ticket.reference }}] All done: {{ ticket.subject }}")
    admin.get_by_role("button", name="Save templates").click()
    expect(admin.get_by_role("status")).to_contain_text("Saved")
    saved = site.api("GET", "/api/v1/admin/mail-templates/resolved", "admin")
    assert saved["subject"] == "[{{ ticket.reference }}] All done: {{ ticket.subject }}"
    admin.get_by_role("button", name="Use the defaults").click()
    admin.get_by_role("button", name="Really use the defaults?").click()
    expect(admin.get_by_role("status")).to_contain_text("built-in")
    assert site.api("GET", "/api/v1/admin/mail-templates/resolved", "admin")["is_overridden"] is False
    site.screenshot(admin, "05-mail-template")

    # The outbox: the world's queued reply notification, to the customer.
    admin.get_by_role("navigation", name="Notification mail").get_by_role("link", name="Outbox").click()
    outbox = admin.get_by_role("table", name="Mail outbox")
    expect(outbox).to_contain_text("customer@alpha.example")
    admin.get_by_label("Show").select_option("failed")
    expect(admin.get_by_text("No notification failed.")).to_be_visible()
    site.screenshot(admin, "06-mail-outbox")


@pytest.mark.parametrize(("screen", "path"), ADMIN_SCREENS, ids=[s[0] for s in ADMIN_SCREENS])
def test_admin_screens_have_no_serious_accessibility_violation(site: Site, screen: str, path: str) -> None:
    require(axe=True)
    found = findings(site, screen, "admin", path)
    assert not found, f"{screen} ({path}):\n" + "\n".join(found)
