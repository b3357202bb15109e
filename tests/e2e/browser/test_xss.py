"""Hostile text stays text. Payloads that would run a script if any screen put them into the page
as markup (or as a link, or as a template) are written where customers control the words: ticket
subjects and descriptions, comments, the customer's display name. Staff (queue, triage inbox,
ticket page) and the customer (portal, ticket) look at all of them: no dialog opens (the harness
fails the test on any), no request leaves the origin (likewise), no payload turns into an element
or a ``javascript:`` link, and each payload is on screen as the characters that were typed."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browser.conftest import PHONE, Site

pytestmark = pytest.mark.slow

LONG = "W" * 3000  # one unbreakable word, longer than any screen is wide
PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    '"><svg onload=alert(1)>',
    "javascript:alert(1)",
    "[click me](javascript:alert(1))",
    "{{constructor.constructor('alert(1)')()}}",
    "${alert(1)}",
    "<a href=\"javascript:alert(1)\">click me</a>",
    "<iframe srcdoc=\"<script>parent.alert(1)</script>\"></iframe>",
    "\u202egnp.exe\u202c invoice",  # right-to-left override
    "<style>*{display:none}</style>",
]
#: What a payload would leave in the document if it were treated as markup.
INJECTED = ("img[src='x'], script:not([src]), svg[onload], iframe, style, [onerror], [onload], "
            "a[href^='javascript:' i], a[href^='data:' i]")
DISPLAY_NAME = '<img src=x onerror=alert("name")> Mallory'


BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def as_shown(text: str) -> str:
    """``text`` as the screens show user-controlled text: bidi controls as visible markers."""
    return BIDI_CONTROLS.sub(lambda m: f"\u27e8U+{ord(m.group()):04X}\u27e9", text)


def injected(page: Any) -> list[str]:
    """Elements in the screen's content that only an injected payload would have made."""
    return list(page.locator("main").locator(INJECTED).evaluate_all("els => els.map(e => e.outerHTML.slice(0, 120))"))


def shows(page: Any, text: str) -> None:
    """``text`` is on the screen as text (long strings: their start), bidi controls as markers."""
    expect(page.locator("main").get_by_text(as_shown(text)[:200], exact=False).first).to_be_visible()


def test_payloads_in_subjects_descriptions_comments_and_names_stay_text(site: Site) -> None:
    with site.db.connect("atum_owner", autocommit=True) as owner:
        owner.execute("UPDATE atum.users SET display_name = %s WHERE organization_id = %s AND id = %s",
                      [DISPLAY_NAME, site.org.id, site.org.users["customer"]])
    tickets: list[tuple[int, str]] = []
    for n, payload in enumerate([*PAYLOADS, LONG]):
        subject = f"#{n} {payload}"[:300]
        ticket = site.api("POST", "/api/v1/tickets", "customer", {"subject": subject, "description": payload})
        site.api("POST", f"/api/v1/tickets/{ticket['id']}/comments", "agent", {"body": f"Reply {payload}"})
        site.api("POST", f"/api/v1/tickets/{ticket['id']}/comments", "agent",
                 {"body": f"Note {payload}", "internal": True})
        site.api("POST", f"/api/v1/tickets/{ticket['id']}/comments", "customer", {"body": f"Customer {payload}"})
        tickets.append((ticket["id"], payload))
    shown: dict[str, list[str]] = {}

    # The manager's triage inbox lists every one of them, and the agent's queue whatever it lists.
    manager = site.page("manager")
    manager.goto("/inbox")
    for n, payload in enumerate(PAYLOADS):
        shows(manager, f"#{n} {payload}")
    site.screenshot(manager, "inbox-payloads")
    shown["inbox"] = injected(manager)
    agent = site.page("agent")
    agent.goto("/")
    expect(agent.get_by_role("heading", level=1).first).to_be_visible()
    site.screenshot(agent, "queue-payloads")
    shown["queue"] = injected(agent)

    # Each ticket, by staff and by its customer.
    customer = site.page("customer")
    for ticket, payload in tickets:
        agent.goto(f"/tickets/{ticket}")
        for text in (payload, f"Reply {payload}", f"Note {payload}", f"Customer {payload}"):
            shows(agent, text)
        shows(agent, "Mallory")
        shown[f"ticket {ticket} (staff)"] = injected(agent)
        customer.goto(f"/portal/tickets/{ticket}")
        for text in (payload, f"Reply {payload}", f"Customer {payload}"):
            shows(customer, text)
        shown[f"ticket {ticket} (customer)"] = injected(customer)
    site.screenshot(agent, "ticket-payloads-staff")
    site.screenshot(customer, "ticket-payloads-customer")
    customer.goto("/portal")
    expect(customer.get_by_role("heading", level=1).first).to_be_visible()
    shown["portal"] = injected(customer)

    assert {where: elements for where, elements in shown.items() if elements} == {}

    # The unbreakable string wraps (or is cut) instead of making a phone's screen scroll sideways.
    long_ticket = tickets[-1][0]
    for role, path in (("agent", f"/tickets/{long_ticket}"), ("customer", f"/portal/tickets/{long_ticket}"),
                       ("manager", "/inbox"), ("customer", "/portal")):
        phone = site.page(role, PHONE)
        phone.goto(path)
        shows(phone, LONG)
        overflow = phone.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} as {role} at 360 px: {overflow} px too wide with a long word"


def test_a_right_to_left_override_cannot_reverse_what_staff_read(site: Site) -> None:
    """A customer hides an executable as a picture with U+202E: "gnp.exe" would read "exe.png". The
    screens show the control character as a marker and keep the text in the order it was typed."""
    subject = "Invoice \u202egnp.exe\u202c attached"
    ticket = site.api("POST", "/api/v1/tickets", "customer", {"subject": subject, "description": "See the file."})
    manager = site.page("manager")
    manager.goto("/inbox")
    entry = manager.locator(f"[data-ticket-id='{ticket['id']}']")
    expect(entry).to_contain_text("Invoice \u27e8U+202E\u27e9gnp.exe\u27e8U+202C\u27e9 attached")
    assert "\u202e" not in entry.inner_text()
    # Reading order on screen: the left edge of each piece, in the order it was typed.
    lefts = entry.locator(".ticket-subject").evaluate("""(el) => {
        const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
        const node = walker.nextNode();
        return ['Invoice', 'gnp', '.exe', 'attached'].map((word) => {
            const range = document.createRange();
            const at = node.textContent.indexOf(word);
            range.setStart(node, at);
            range.setEnd(node, at + 1);
            return range.getBoundingClientRect().left;
        });
    }""")
    assert lefts == sorted(lefts), f"pieces not left to right: {lefts}"
    reference = entry.locator(".ticket-ref").bounding_box()
    subject_box = entry.locator(".ticket-subject").bounding_box()
    assert reference is not None and subject_box is not None
    assert reference["x"] < subject_box["x"] or reference["y"] < subject_box["y"], "the reference stays first"

    agent = site.page("agent")
    agent.goto(f"/tickets/{ticket['id']}")
    expect(agent.get_by_role("heading", level=1)).to_contain_text("\u27e8U+202E\u27e9gnp.exe")
    expect(agent).to_have_title(re.compile("\u27e8U\\+202E\u27e9gnp\\.exe"))
