"""The reports as a manager uses them: open Reports from the navigation, see a chart (with its text
alternative) and the table of figures, switch report, download the CSV; and the screen passes
axe-core at a desktop's width and at 360 px without horizontal scrolling."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.browser.conftest import Site, require
from tests.e2e.browser.test_accessibility import findings

pytestmark = pytest.mark.slow


def fold(site: Site) -> None:
    """What pg_cron does every minute: the report facts catch up with the tickets."""
    with site.db.connect("atum_owner", autocommit=True) as owner:
        owner.execute("SELECT atum.reports_fold()")


def test_a_manager_reads_a_report_and_downloads_it_as_csv(site: Site) -> None:
    fold(site)
    manager = site.page("manager")
    manager.goto("/")
    manager.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    expect(manager.get_by_role("heading", name="Reports", level=1)).to_be_visible()
    expect(manager.get_by_role("table", name="Created and resolved")).to_be_visible()
    chart = manager.get_by_role("img", name="Line chart of Created and resolved")
    expect(chart).to_be_visible()
    expect(chart.locator("canvas")).to_have_count(1)

    manager.get_by_role("button", name="Backlog").click()
    table = manager.get_by_role("table", name="Backlog")
    expect(table).to_be_visible()
    # The test world's open tickets: one NEW opened today, one ACCEPTED opened 30 days ago (before
    # the default range of the last 30 days, today included).
    expect(table.get_by_role("row")).to_have_count(2)
    expect(table.get_by_role("rowheader", name="New")).to_be_visible()
    expect(manager.get_by_role("img", name="Bar chart of Backlog")).to_be_visible()
    site.screenshot(manager, "backlog")

    with manager.expect_download() as download:
        manager.get_by_role("link", name="Download CSV").click()
    saved = Path(download.value.path())
    lines = saved.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "status,priority,tickets"
    assert lines[1:] == ["NEW,MEDIUM,1"]
    assert download.value.suggested_filename.startswith("backlog-")


def test_agents_have_no_reports(site: Site) -> None:
    agent = site.page("agent")
    agent.goto("/")
    expect(agent.get_by_role("navigation", name="Main").get_by_role("link", name="Queue")).to_be_visible()
    expect(agent.get_by_role("navigation", name="Main").get_by_role("link", name="Reports")).to_have_count(0)
    agent.goto("/reports")
    expect(agent.get_by_role("heading", name="Reports", level=1)).to_have_count(0)


def test_the_reports_screen_is_accessible_at_desktop_and_phone_width(site: Site) -> None:
    require(axe=True)
    fold(site)
    found = findings(site, "reports", "manager", "/reports?report=sla-compliance")
    found += findings(site, "reports-line", "manager", "/reports")
    assert not found, "\n".join(found)
