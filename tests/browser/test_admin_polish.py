"""Issue 15 in Chromium: the group picker and filter, every form error after one submit, the styled admin 404,
at 1366 px and 390 px. Screenshots go to ``test-artifacts/screenshots/`` (or ``$LC_SHOTS_DIR``)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .conftest import ARTIFACTS

pytestmark = pytest.mark.browser

ADMIN = "/admin/learning-contracts/"
SHOTS = Path(os.environ.get("LC_SHOTS_DIR") or ARTIFACTS)


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _no_horizontal_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.mark.parametrize("width", [1366, 390])
def test_group_picker_errors_filter_and_404(page, live_server, login, width):
    page.set_viewport_size({"width": width, "height": 900})
    login("admin@example.com")

    # Every error after one submit, and the group picker.
    page.goto(live_server + ADMIN + "new/")
    group = page.get_by_label("Group", exact=True)
    expect(group.locator("option")).to_have_text(["No group", "Acme Corp", "Globex", "Initech"])
    page.get_by_label("Code", exact=True).fill("ACME-2026")  # the demo contract's code
    page.get_by_label("Title", exact=True).fill("Errors at once")
    group.select_option(label="Globex")
    page.locator("label[for=contract_type-0]").click()
    page.get_by_label("Number of seats").fill("-1")
    page.get_by_label("Valid from").fill("2026-12-01")
    expect(page.locator("#valid_from-shown")).to_have_text("Shown as 1 Dec 2026")
    page.get_by_label("Valid until").fill("2026-11-01")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_text("The contract was not saved: correct 3 problems.")).to_be_visible()
    expect(page.locator(".invalid-feedback")).to_have_count(3)
    expect(page.get_by_label("Group", exact=True)).to_have_value("globex")  # kept for the next try
    _shot(page, f"form-errors-{width}")

    # The list filters by group, with labels.
    page.goto(live_server + ADMIN)
    page.get_by_role("link", name="Add Filter").click()
    page.locator("a.dropdown-item.filter", has_text="Group").click()
    page.locator("select.filter-val").last.select_option(label="Acme Corp", force=True)  # behind select2
    page.get_by_role("button", name="Apply").click()
    rows = page.locator("table.model-list tbody tr")
    expect(rows.filter(has_text="ACME-2026")).to_have_count(1)
    expect(rows.filter(has_text="GLOBEX-SUB")).to_have_count(0)
    expect(rows.first).to_contain_text("Acme Corp")
    _shot(page, f"list-group-filter-{width}")

    # A contract that does not exist: the admin's own styled page.
    response = page.goto(live_server + ADMIN + "987654/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.get_by_role("link", name="Go to the learning contracts")).to_be_visible()
    _no_horizontal_scroll(page)
    _shot(page, f"admin-404-{width}")


@pytest.mark.parametrize("width", [1366, 390])
def test_api_docs_api_keys_and_webhooks_pages_fit_the_screen(page, live_server, live_app, login, width):
    """The API docs page and the admin's API keys page (whose rows stack like the Webhooks page's) fit a
    390 px screen: nothing scrolls sideways."""
    from flask_learning_contracts import services

    with live_app.app_context():
        if not services.api_keys():
            services.create_api_key("Shop integration with a rather long descriptive name", ["contracts:read",
                                                                                            "contracts:write"])
    page.set_viewport_size({"width": width, "height": 900})
    login("admin@example.com")
    for name, url in [("api-docs", "/learning-contracts/api/v1/docs"), ("api-keys", "/admin/learning-contracts-api-keys/"),
                      ("webhooks", "/admin/learning-contracts-webhooks/")]:
        page.goto(live_server + url)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        _shot(page, f"admin-{name}-{width}")
        _no_horizontal_scroll(page)
