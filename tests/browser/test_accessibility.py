"""Every admin, dashboard and learner page, checked by axe-core and at a phone's width, in Chromium.

Each page is loaded once, then looked at twice without reloading: at 1366 px and at 390 px. At each width
axe-core (bundled by ``axe-playwright-python``; nothing is downloaded) must find no *serious* or *critical*
violation; at 390 px the page must not scroll sideways, and no table may hide columns in a scroll box (the
Status and Actions columns must be on screen). Problems are gathered over the whole walk and reported together.
Screenshots of both widths go to ``test-artifacts/screenshots/a11y/`` (or ``$LC_SCREENSHOTS``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from flask_learning_contracts import services

from .conftest import ARTIFACTS

pytestmark = pytest.mark.browser

WIDE = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
BLOCKING = {"serious", "critical"}
ADMIN = "/admin/learning-contracts/"
CSV = b"email\nlearner13@example.com\nlearner14@example.com\nnot an email\nsomeone.new@example.org\n"
SHOTS = Path(os.environ.get("LC_SCREENSHOTS") or ARTIFACTS / "a11y")

#: Scroll boxes wider than their box at 390 px (a table in .table-responsive hides its last columns there).
HIDDEN_OVERFLOW_JS = """() => [...document.querySelectorAll('body *')].filter(el => {
  const style = getComputedStyle(el);
  return ['auto', 'scroll'].includes(style.overflowX) && el.scrollWidth > el.clientWidth + 1
      && el.offsetParent !== null;
}).map(el => el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).trim().split(/\\s+/).join('.') : '')
        + ' ' + el.scrollWidth + '>' + el.clientWidth)"""

#: Elements that stick out of the right edge of the viewport (what makes a page scroll sideways).
WIDE_ELEMENTS_JS = """() => [...document.querySelectorAll('body *')].filter(el => {
  const r = el.getBoundingClientRect();
  return r.width > 0 && r.right > window.innerWidth + 1;
}).slice(0, 5).map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
  + (el.className ? '.' + String(el.className).trim().split(/\\s+/).join('.') : '') + ' right=' + Math.round(el.getBoundingClientRect().right))"""


class Audit:
    """Looks at the current page at both widths; collects what is wrong instead of stopping at the first page."""

    def __init__(self, page: Page) -> None:
        from axe_playwright_python.sync_playwright import Axe

        self.page = page
        self.axe = Axe()
        self.problems: list[str] = []
        self.minor: dict[str, set[str]] = {}
        self.pages: list[str] = []
        SHOTS.mkdir(parents=True, exist_ok=True)

    def _axe(self, name: str, width: int) -> None:
        if not self.page.evaluate("() => typeof window.axe === 'object'"):  # once per page load, not per width
            self.page.evaluate(self.axe.axe_script)
        results = self.page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
        for violation in results["violations"]:
            targets = [" ".join(node["target"]) for node in violation["nodes"]][:4]
            line = f"{name} @{width}px: {violation['id']} ({violation['impact']}) {violation['help']} → {targets}"
            if violation["impact"] in BLOCKING:
                self.problems.append(line)
            else:
                self.minor.setdefault(f"{violation['id']} ({violation['impact']})", set()).add(name)

    def check(self, name: str) -> None:
        """Check the page now shown at 1366 px and at 390 px (no reload), then go back to 1366 px."""
        page = self.page
        page.wait_for_load_state()
        assert page.url.startswith("http"), name
        # The walk looks at the page it meant to: 200, or the error its name says (…-403, …-404, …-429).
        status = page.evaluate("() => performance.getEntriesByType('navigation')[0].responseStatus")
        expected = int(name.rsplit("-", 1)[1]) if name.rsplit("-", 1)[1] in {"403", "404", "429"} else 200
        assert status == expected, f"{name}: HTTP {status}, expected {expected}"
        self.pages.append(name)
        page.set_viewport_size(WIDE)
        self._axe(name, 1366)
        page.screenshot(path=str(SHOTS / f"{name}-1366.png"), full_page=True)
        page.set_viewport_size(PHONE)
        self._axe(name, 390)
        if not page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"):
            self.problems.append(f"{name} @390px: the page scrolls sideways: {page.evaluate(WIDE_ELEMENTS_JS)}")
        hidden = page.evaluate(HIDDEN_OVERFLOW_JS)
        if hidden:
            self.problems.append(f"{name} @390px: content hidden in a sideways scroll box: {hidden}")
        page.screenshot(path=str(SHOTS / f"{name}-390.png"), full_page=True)
        page.set_viewport_size(WIDE)

    def assert_clean(self) -> None:
        (SHOTS / f"report-{self.pages[0]}.json").write_text(json.dumps(
            {"pages": self.pages, "problems": self.problems,
             "not_blocking": {key: sorted(names) for key, names in self.minor.items()}}, indent=2))
        assert not self.problems, "\n".join(self.problems)


@pytest.fixture
def audit(page: Page) -> Audit:
    return Audit(page)


def _contract(app, code):
    from example_app.models import db

    model = app.extensions["learning_contracts"].models.Contract
    return db.session.execute(sa.select(model).where(model.code == code)).scalar_one()


def test_every_admin_page_passes_axe_and_fits_a_phone(page: Page, live_server, live_app, login, audit):
    login("admin@example.com")
    page.goto(live_server + "/admin/")
    audit.check("admin-home")
    page.goto(live_server + ADMIN)
    expect(page.locator("table.model-list")).to_be_visible()
    audit.check("admin-list")
    page.get_by_role("link", name="Add Filter").click()
    page.locator(".field-filters a", has_text="State").click()
    page.locator("#filter_form [type=submit]").click()
    expect(page.locator("table.filters .remove-filter")).to_be_visible()
    audit.check("admin-list-filtered")
    page.get_by_role("link", name="Create", exact=True).click()
    audit.check("admin-create")

    with live_app.app_context():
        contract = _contract(live_app, "ACME-2026")
        contract_id = contract.id
        invitation_id = next(inv.id for inv in services.invitation_page(contract, search="learner03").items)
    base = f"{live_server}{ADMIN}{contract_id}"
    page.goto(f"{live_server}{ADMIN}edit/?id={contract_id}")
    audit.check("admin-edit")
    page.goto(f"{base}/")
    expect(page.locator("#invitation-code")).to_be_visible()
    audit.check("admin-contract")
    page.goto(f"{base}/activities")
    audit.check("admin-activities")
    page.locator("table tbody tr").first.get_by_role("link", name="Remove").click()
    audit.check("admin-activity-remove-confirm")
    page.goto(f"{base}/activities/add")
    audit.check("admin-activities-add")
    page.goto(f"{base}/activities/import")
    audit.check("admin-activities-import")
    page.get_by_role("link", name="Globex all-access subscription").click()
    audit.check("admin-activities-import-preview")
    page.goto(f"{base}/invitations")
    audit.check("admin-invitations")
    page.goto(f"{base}/invite")
    audit.check("admin-invite")
    page.locator("input[type=file]").set_input_files({"name": "people.csv", "mimeType": "text/csv", "buffer": CSV})
    page.locator("form:has(input[type=file]) [type=submit]").first.click()
    expect(page.get_by_text("step 2 of 2")).to_be_visible()
    audit.check("admin-invite-activities")
    page.get_by_role("button", name="Send invitations").click()
    expect(page.locator("table.lc-report")).to_be_visible()
    audit.check("admin-invite-report")
    page.goto(f"{base}/history")
    audit.check("admin-history")
    page.goto(f"{base}/invitations/{invitation_id}/revoke")
    audit.check("admin-revoke-confirm")
    page.goto(f"{base}/invitations/{invitation_id}/activities")
    audit.check("admin-invitation-activities")
    page.goto(f"{base}/code/regenerate")
    audit.check("admin-regenerate-confirm")
    page.goto(f"{base}/delete")
    audit.check("admin-delete-confirm")
    page.goto(f"{live_server}{ADMIN}999999/")
    audit.check("admin-404")
    hooks = f"{live_server}{ADMIN.rstrip('/')}-webhooks/"
    page.goto(hooks)
    audit.check("admin-webhooks")
    page.get_by_label("Receiver URL").fill("https://hooks.example.com/lms")
    page.get_by_text("A contract was created (contract.created)").click()  # the custom checkbox's label
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.locator("#lc-webhook-secret")).to_be_visible()
    audit.check("admin-webhook-created")
    page.goto(hooks)
    audit.check("admin-webhooks-listed")
    page.goto(hooks + "deliveries/")
    audit.check("admin-webhook-deliveries")
    page.goto(hooks)
    page.get_by_role("button", name="Delete").click()  # leave the shared example app without endpoints
    expect(page.get_by_text("No webhook endpoints yet.")).to_be_visible()
    login("ben@example.com")
    page.goto(f"{base}/")
    audit.check("admin-403")
    audit.assert_clean()


def test_every_dashboard_page_passes_axe_and_fits_a_phone(page: Page, live_server, live_app, login, audit):
    with live_app.app_context():
        contract = _contract(live_app, "ACME-2026")
        contract_id = contract.id
        invitation_id = next(inv.id for inv in services.invitation_page(contract, search="learner04").items)
    base = f"{live_server}/learning-contracts/manage/{contract_id}"
    login("contracts@example.com")
    page.goto(live_server + "/learning-contracts/manage/")
    audit.check("dashboard-index")
    page.goto(base)
    audit.check("dashboard-contract")
    page.goto(f"{base}/invite")
    audit.check("dashboard-invite")
    page.locator("input[type=file]").set_input_files(
        {"name": "people.csv", "mimeType": "text/csv", "buffer": CSV.replace(b"learner1", b"learner0")})
    page.locator("form:has(input[type=file]) [type=submit]").first.click()
    page.get_by_role("button", name="Send invitations").wait_for()  # a Voucher: the activity step first
    audit.check("dashboard-invite-activities")
    page.get_by_role("button", name="Send invitations").click()
    expect(page.locator("table.lc-invite-report")).to_be_visible()
    audit.check("dashboard-invite-result")
    page.goto(f"{base}/invitations/{invitation_id}")
    audit.check("dashboard-invitation")
    page.goto(f"{base}/invitations/{invitation_id}/revoke")
    audit.check("dashboard-revoke-confirm")
    page.goto(f"{base}/code")
    audit.check("dashboard-regenerate-confirm")
    page.goto(f"{live_server}/learning-contracts/manage/999999")
    audit.check("dashboard-404")
    login("ben@example.com")  # administers no contract: the dashboard refuses (403)
    page.goto(live_server + "/learning-contracts/manage/")
    audit.check("dashboard-403")
    audit.assert_clean()


def test_every_learner_page_passes_axe_and_fits_a_phone(page: Page, live_server, live_app, login, audit):
    with live_app.app_context():
        acme = _contract(live_app, "ACME-2026").id
        globex = _contract(live_app, "GLOBEX-SUB").id
    login("ana@example.com")
    audit.check("learner-home-widget")
    page.goto(live_server + "/learning-contracts/")
    audit.check("learner-invitations")
    page.goto(f"{live_server}/learning-contracts/contracts/{globex}")
    audit.check("learner-contract-subscription")
    page.goto(f"{live_server}/learning-contracts/contracts/{acme}")
    audit.check("learner-contract-voucher")
    page.goto(f"{live_server}/learning-contracts/contracts/999999")
    audit.check("learner-404")
    login("learner10@example.com")
    page.goto(live_server + "/learning-contracts/")
    try:
        for _ in range(11):
            page.get_by_label("Invitation code", exact=True).fill("WRNG-WRNG-WRNG")
            page.get_by_role("button", name="Use code").first.click()
            page.wait_for_load_state()
        expect(page.get_by_role("heading", name="Too many wrong codes")).to_be_visible()
        audit.check("learner-429")
    finally:
        live_app.extensions["learning_contracts"].limiter.reset()
    audit.assert_clean()


def test_the_status_filter_shows_a_focus_ring(page: Page, live_server, live_app, login):
    """Keyboard focus on the Invitations tab's Status drop-down draws a visible outline (Bootstrap removes it)."""
    with live_app.app_context():
        contract_id = _contract(live_app, "ACME-2026").id
    login("admin@example.com")
    page.goto(f"{live_server}{ADMIN}{contract_id}/invitations")
    status = page.get_by_label("Status", exact=True)
    page.get_by_label("E-mail", exact=True).focus()
    page.keyboard.press("Tab")
    expect(status).to_be_focused()
    outline = status.evaluate("el => [getComputedStyle(el).outlineStyle, getComputedStyle(el).outlineWidth]")
    assert outline[0] != "none" and float(outline[1].removesuffix("px")) >= 2, outline


def test_the_contract_list_search_box_has_a_label(page: Page, live_server, login):
    login("admin@example.com")
    page.goto(live_server + ADMIN)
    expect(page.get_by_label("Search contracts")).to_have_attribute("name", "search")

