"""The reply box on a phone, and what a tab does when its session ends elsewhere.

At 360 px the native file control's button was cut off: the box has a button of its own, with an
accessible name, that opens the file chooser; the chosen files are listed by name (a name with a
right-to-left override shows the control as a marker) and are sent with the reply.

A session that ends (sign-out in another tab of the same browser) closes the live socket with 4401:
the other tab goes to the sign-in page at once and says why; the tab that signed out does not."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.browser.conftest import PHONE, Site

pytestmark = pytest.mark.slow


def test_a_customer_attaches_a_file_on_a_phone(site: Site) -> None:
    ticket = site.api("POST", "/api/v1/tickets", "customer", {"subject": "Broken screen", "description": "Cracked."})
    phone = site.page("customer", PHONE)
    phone.goto(f"/portal/tickets/{ticket['id']}")
    reply = phone.get_by_role("form", name="Reply")
    attach = reply.get_by_role("button", name="Attach files")
    expect(attach).to_be_visible()
    box = attach.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    site.screenshot(phone, "reply-box-phone")

    with phone.expect_file_chooser() as chosen:
        attach.click()
    chosen.value.set_files([
        {"name": "photo.png", "mimeType": "image/png", "buffer": b"\x89PNG\r\n\x1a\n"},
        {"name": "\u202egnp.exe", "mimeType": "application/octet-stream", "buffer": b"MZ"},
    ])
    files = reply.get_by_role("list", name="Files to send")
    expect(files).to_contain_text("photo.png")
    expect(files).to_contain_text("\u27e8U+202E\u27e9gnp.exe")
    files.get_by_role("button", name="Remove \u27e8U+202E\u27e9gnp.exe").click()
    expect(files).not_to_contain_text("gnp.exe")

    reply.get_by_label("Your reply").fill("Here is a photo.")
    reply.get_by_role("button", name="Send reply").click()
    expect(phone.get_by_role("list", name="Files of this reply")).to_contain_text("photo.png")
    overflow = phone.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{overflow} px too wide at 360 px"


def test_signing_out_in_one_tab_sends_the_other_to_the_sign_in_page(site: Site) -> None:
    context = site.context()
    first = site.page("agent", context=context)
    with first.expect_websocket(lambda ws: ws.url.endswith("/api/v1/live")) as opened:
        first.goto("/")
    # The first tab's live socket is open once it hears of a change.
    with opened.value.expect_event("framereceived"):
        site.api("POST", "/api/v1/tickets", "customer", {"subject": "Heard live", "description": "."})
    second = context.new_page()
    second.goto("/")

    second.get_by_role("button", name="Sign out").click()
    expect(second).to_have_url(re.compile(r"/login$"))
    expect(first).to_have_url(re.compile(r"/login$"))
    expect(first.get_by_role("status")).to_have_text("Your session ended — sign in again")
    expect(second.get_by_role("heading", name=re.compile("sign in", re.I))).to_be_visible()
    expect(second.get_by_text("Your session ended")).to_have_count(0)
