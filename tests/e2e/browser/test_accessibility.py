"""The main screens for everyone: axe-core finds no serious or critical violation on any of them,
at a desktop's width and at a phone's 360 px, where nothing may be wider than the screen (no
horizontal scrolling). A screenshot of each screen at each width is kept as an artifact."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browser.conftest import AXE, DESKTOP, PHONE, Site, require

pytestmark = pytest.mark.slow

#: name, who looks (None: signed out), the address (``{ticket}``: the test world's ticket with
#: a public reply and an internal note).
SCREENS = [
    ("sign-in", None, "/login"),
    ("queue", "agent", "/"),
    ("inbox", "manager", "/inbox"),
    ("ticket", "agent", "/tickets/{ticket}"),
    ("portal", "customer", "/portal"),
    ("portal-new", "customer", "/portal/new"),
    ("portal-ticket", "customer", "/portal/tickets/{ticket}"),
]
SERIOUS = ("serious", "critical")
# axe's own result, trimmed to what a reader of a failure needs.
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
}"""


def screen_ready(page: Any) -> None:
    """The screen has drawn its heading and is no longer loading."""
    expect(page.get_by_role("heading", level=1).first).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Loading")).to_have_count(0)


def violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    return [v for v in page.evaluate(RUN_AXE) if v["impact"] in SERIOUS]


def findings(site: Site, screen: str, role: str | None, address: str) -> list[str]:
    """What axe-core finds serious or critical on the screen, and horizontal scrolling, at desktop
    width and at 360 px; screenshots of both."""
    found: list[str] = []
    for width, viewport in (("desktop", DESKTOP), ("360px", PHONE)):
        context = site.context(viewport)
        # An init script runs outside the page's Content-Security-Policy, which (rightly) refuses
        # inline scripts; axe only reads the page.
        context.add_init_script(path=str(AXE))
        page = site.page(role, viewport, context=context)
        page.goto(address)
        screen_ready(page)
        site.screenshot(page, f"{screen}-{width}")
        found += [f"{width}: {v['impact']} {v['id']} ({v['help']}) at {v['nodes']}" for v in violations(page)]
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if overflow > 0:
            found.append(f"{width}: the page is {overflow} px wider than the window (horizontal scrolling)")
    return found


@pytest.mark.parametrize(("screen", "role", "path"), SCREENS, ids=[s[0] for s in SCREENS])
def test_no_serious_accessibility_violation_and_no_horizontal_scrolling(site: Site, screen: str, role: str | None,
                                                                       path: str) -> None:
    require(axe=True)
    address = path.format(ticket=site.org.ticket_id)
    found = findings(site, screen, role, address)
    assert not found, f"{screen} ({address}):\n" + "\n".join(found)
