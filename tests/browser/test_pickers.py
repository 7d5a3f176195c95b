"""The pickers search as you type (issue 15 item 13), in Chromium: the invite picker in the admin panel and on the
dashboard (type, pick with the keyboard, invite), the contract-admin picker, and the import chooser.

Each opened listbox is checked by axe-core (no serious or critical violation); screenshots at 1366 and 390 px go
to ``test-artifacts/screenshots/pickers/`` (or ``$LC_PICKER_SHOTS``).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from .conftest import ARTIFACTS
from .test_accessibility import BLOCKING, PHONE, WIDE, _contract

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("LC_PICKER_SHOTS") or ARTIFACTS / "pickers")
ADMIN = "/admin/learning-contracts/"


def _axe_and_shoot(page: Page, name: str) -> None:
    """No serious/critical axe violation with the listbox open, at both widths; a screenshot of each."""
    from axe_playwright_python.sync_playwright import Axe

    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate(Axe().axe_script)
    problems = []
    for size in (WIDE, PHONE):
        page.set_viewport_size(size)
        results = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
        problems += [f"{name} @{size['width']}: {v['id']} {[n['target'] for n in v['nodes']][:3]}"
                     for v in results["violations"] if v["impact"] in BLOCKING]
        page.screenshot(path=str(SHOTS / f"{name}-{size['width']}.png"), full_page=True)
    page.set_viewport_size(WIDE)
    assert not problems, "\n".join(problems)


def _combobox(page: Page, selector: str):
    box = page.locator(selector)
    expect(box).to_have_attribute("role", "combobox")
    expect(box).to_have_attribute("aria-expanded", "false")
    return box


def test_the_admin_invite_picker_searches_as_you_type_and_picks_with_the_keyboard(page: Page, live_server,
                                                                                  live_app, login):
    with live_app.app_context():
        contract_id = _contract(live_app, "GLOBEX-SUB").id
    login("admin@example.com")
    page.goto(f"{live_server}{ADMIN}{contract_id}/invite")
    box = _combobox(page, "#lc-invite-q")
    listbox = page.get_by_role("listbox", name="Matching people")
    box.press_sequentially("learner1", delay=30)
    expect(listbox).to_be_visible()
    expect(box).to_have_attribute("aria-expanded", "true")
    options = listbox.get_by_role("option")
    expect(options.first).to_contain_text("learner1")
    count = options.count()
    assert 1 < count <= 20
    _axe_and_shoot(page, "admin-invite-listbox")
    box.press("ArrowDown")
    box.press("ArrowDown")
    second = options.nth(1)
    expect(second).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", second.get_attribute("id"))
    box.press("ArrowUp")
    expect(options.first).to_have_attribute("aria-selected", "true")
    picked_name = options.first.locator("span").first.inner_text()
    box.press("Enter")  # picks; does not submit the search form
    expect(listbox).to_be_hidden()
    expect(box).to_have_attribute("aria-expanded", "false")
    expect(box).to_have_value("")
    picked = page.locator("#lc-picked input[type=checkbox]")
    expect(picked).to_have_count(1)
    expect(picked.first).to_be_checked()
    expect(page.locator("#lc-picked")).to_contain_text(picked_name)
    expect(page.locator("#lc-invite-q-status")).to_contain_text("Picked")
    # Escape closes the list without picking
    box.press_sequentially("learner20", delay=30)
    expect(listbox).to_be_visible()
    box.press("Escape")
    expect(listbox).to_be_hidden()
    expect(picked).to_have_count(1)
    # a second person, by mouse
    box.fill("")
    box.press_sequentially("learner19", delay=30)
    listbox.get_by_role("option").first.click()
    expect(picked).to_have_count(2)
    _axe_and_shoot(page, "admin-invite-picked")
    page.get_by_role("button", name="Send invitations").click()
    report = page.locator("table.lc-report")
    expect(report).to_be_visible()
    expect(report).to_contain_text("learner19@example.com")
    expect(report).to_contain_text(picked_name)


def test_the_dashboard_invite_picker_finds_an_exact_address_for_a_contract_admin(page: Page, live_server,
                                                                                 live_app, login):
    with live_app.app_context():
        contract_id = _contract(live_app, "GLOBEX-SUB").id
    login("contracts@example.com")
    page.goto(f"{live_server}/learning-contracts/manage/{contract_id}/invite")
    box = _combobox(page, "#lc-invite-q")
    listbox = page.get_by_role("listbox", name="Matching people")
    status = page.locator("#lc-invite-q-status")
    box.press_sequentially("learner1", delay=30)
    expect(status).to_contain_text("Nobody matches")  # a contract admin never gets a list of users
    expect(listbox).to_be_hidden()
    box.fill("")
    box.press_sequentially("learner12@example.com", delay=20)
    expect(listbox.get_by_role("option")).to_have_count(1)
    expect(listbox).to_contain_text("Learner 12")
    _axe_and_shoot(page, "dashboard-invite-listbox")
    box.press("ArrowDown")
    box.press("Enter")
    picked = page.locator("#lc-picked input[type=checkbox]")
    expect(picked).to_have_count(1)
    expect(picked.first).to_have_value("learner12@example.com")
    _axe_and_shoot(page, "dashboard-invite-picked")
    page.get_by_role("button", name="Send invitations").click()
    expect(page.locator("table.lc-table")).to_contain_text("learner12@example.com")


def test_the_contract_admin_picker_adds_the_chosen_user(page: Page, live_server, live_app, login):
    with live_app.app_context():
        contract_id = _contract(live_app, "UMBRELLA-2025").id
    login("admin@example.com")
    page.goto(f"{live_server}{ADMIN}{contract_id}/")
    box = _combobox(page, "#admin_q")
    box.press_sequentially("learner07", delay=30)
    listbox = page.get_by_role("listbox", name="Matching users")
    expect(listbox.get_by_role("option")).to_have_count(1)
    _axe_and_shoot(page, "admin-contract-admin-listbox")
    box.press("ArrowDown")
    box.press("Enter")
    expect(page.get_by_text("Learner 07 is now a contract admin.")).to_be_visible()
    expect(page.locator("#contract-admins table").first).to_contain_text("learner07@example.com")


def test_the_import_chooser_filters_as_you_type(page: Page, live_server, live_app, login):
    with live_app.app_context():
        contract_id = _contract(live_app, "ACME-2026").id
    login("admin@example.com")
    page.goto(f"{live_server}{ADMIN}{contract_id}/activities/import")
    expect(page.locator("select")).to_have_count(0)
    box = _combobox(page, "#import-find")
    box.press_sequentially("glob", delay=30)
    listbox = page.get_by_role("listbox", name="Matching contracts")
    expect(listbox.get_by_role("option")).to_have_count(1)
    expect(listbox).to_contain_text("GLOBEX-SUB")
    _axe_and_shoot(page, "admin-import-listbox")
    box.press("ArrowDown")
    box.press("Enter")
    expect(page.get_by_text("What importing from Globex all-access subscription (GLOBEX-SUB) adds")).to_be_visible()
