"""How the browser tests find things on the screens of the web app: by accessible role and name,
as a person with a screen reader would (a control without a name is not found, which is a finding
too). One place for all of it, so a renamed button is one edit."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.api.client import PASSWORD

ACCEPT = re.compile(r"^accept", re.I)
SUBMIT_TICKET = re.compile(r"^(open|send|submit|create)( the)?( ticket| request)?$", re.I)


def sign_in(page: Any, email: str, password: str = PASSWORD) -> None:
    """The sign-in screen as a person uses it: e-mail, password, the button."""
    page.goto("/login")
    expect(page.get_by_role("heading", name=re.compile("sign in", re.I))).to_be_visible()
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/login"))


def loads(page: Any) -> list[str]:
    """A list that grows by one URL each time ``page`` loads a document (not on the app's own,
    in-page route changes): a screen that "updates live" must not add to it."""
    loaded: list[str] = []
    page.on("load", lambda p: loaded.append(p.url))
    return loaded


def row(page: Any, text: str) -> Any:
    """The row (table row or list item) of a list on the screen that shows ``text``."""
    return page.locator("main").locator("tr, li, [role=row], article").filter(has_text=text).first


def open_ticket(page: Any, subject: str, description: str) -> int:
    """Open a ticket from the customer portal; its id (from the address of its page)."""
    page.goto("/portal/new")
    page.get_by_label(re.compile("^subject", re.I)).fill(subject)
    page.get_by_label(re.compile("^(description|details|describe|what happened)", re.I)).fill(description)
    page.get_by_role("button", name=SUBMIT_TICKET).click()
    expect(page).to_have_url(re.compile(r"/portal/tickets/\d+"))
    match = re.search(r"/portal/tickets/(\d+)", page.url)
    assert match is not None
    return int(match.group(1))


def accept(page: Any, entry: Any, priority: str, assignee_id: int) -> None:
    """In the triage inbox: accept the ticket of row ``entry`` with a priority (e.g. "High") and an
    assignee, in the dialog the row's button opens."""
    entry.get_by_role("button", name=ACCEPT).click()
    dialog = page.get_by_role("dialog", name=ACCEPT)
    expect(dialog).to_be_visible()
    dialog.get_by_role("radio", name=priority).check()
    dialog.get_by_label("Assignee").select_option(str(assignee_id))
    dialog.get_by_role("button", name=ACCEPT).click()
    expect(dialog).to_be_hidden()


def write_comment(page: Any, body: str, *, internal: bool) -> None:
    """On the ticket page (staff): a public reply, or an internal note; it shows in the timeline."""
    toggle = page.get_by_role("checkbox", name="Internal note")
    toggle.set_checked(internal)
    box = page.get_by_role("textbox", name=re.compile("internal note" if internal else "public reply", re.I))
    box.fill(body)
    page.get_by_role("button", name=re.compile("^add internal note" if internal else "^send reply", re.I)).click()
    expect(box).to_have_value("")  # sent: the form is empty again (the timeline may show it earlier, live)
    expect(page.locator("main").get_by_text(body, exact=True)).to_be_visible()


def status_is(page: Any, status: str) -> None:
    """The ticket's status as the screen shows it (e.g. "Resolved")."""
    expect(page.locator("main").get_by_text(re.compile(rf"^{status}", re.I)).first).to_be_visible()


def act(page: Any, move: str) -> None:
    """On a ticket page: the status move of that name (e.g. "Resolve", "Confirm resolution")."""
    page.get_by_role("group", name="Status actions").get_by_role("button", name=move).click()


def admin_form(page: Any, name: str) -> Any:
    """On an admin screen: the form (or section) under the heading ``name``, e.g. "New team"."""
    return page.locator("main").locator("form, section").filter(
        has=page.get_by_role("heading", name=name, exact=True)).first
