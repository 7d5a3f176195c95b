"""An LMS administrator walks the whole Learning Contracts workflow in the Flask-Admin panel, in Chromium.

create a Voucher contract → add activities → import activities from another contract → invite by CSV
with one bad row → per-row report → revoke an Outstanding invitation → resend another → regenerate the
code. Screenshots of every main page go to ``test-artifacts/screenshots/admin-*.png``.
"""
from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

ADMIN = "/admin/learning-contracts/"
CSV = b"email\nlearner03@example.com\nlearner04@example.com\nnot an email\nfresh.hire@example.org\n"


def _row(page, email):
    return page.locator("table tbody tr", has_text=email)


def test_admin_creates_and_runs_a_voucher_contract(page, live_server, login, shot):
    login("admin@example.com")
    page.goto(live_server + ADMIN)
    expect(page.get_by_role("heading", name="Learning Contracts")).to_be_visible()
    expect(page.locator("table.model-list").get_by_text("ACME-2026")).to_be_visible()
    shot("admin-list")

    # Create a Voucher contract.
    page.get_by_role("link", name="Create", exact=True).click()
    page.get_by_label("Code", exact=True).fill("BROWSER-1")
    page.get_by_label("Title", exact=True).fill("Browser test contract")
    page.get_by_label("Description").fill("Created by the browser journey.")
    page.get_by_label("Group", exact=True).select_option(label="Initech")  # the example lists its groups
    page.locator("label[for=contract_type-0]").click()  # Voucher
    page.get_by_label("Number of seats").fill("20")
    page.get_by_label("Per-user limit").fill("2")
    today = dt.date.today()
    page.get_by_label("Valid from").fill(today.isoformat())
    page.get_by_label("Valid until").fill((today + dt.timedelta(days=90)).isoformat())
    shot("admin-create")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_text("Created the learning contract BROWSER-1")).to_be_visible()
    code = page.locator("#invitation-code").inner_text()  # the page has loaded: the flash above is visible
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", code)
    shot("admin-contract")

    # Add activities from the picker, filtered by kind.
    page.get_by_role("link", name="Activities", exact=True).click()
    page.wait_for_url(re.compile(r".*/activities$"))  # under load, "Add" must not be looked for on the old page
    page.get_by_role("button", name="Add", exact=True).click()
    page.get_by_role("link", name="Add Learning Activities").click()
    page.get_by_label("Kind").select_option("online")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("Leadership Workshop (Berlin)")).to_have_count(0)
    page.get_by_label("Workplace Safety Essentials").check()
    page.get_by_label("Data Privacy Basics").check()
    shot("admin-activities-add")
    page.get_by_role("button", name="Add selected activities").click()
    expect(page.get_by_text("Added 2 activities to the contract.")).to_be_visible()

    # Import the activities of another contract (a union: nothing is duplicated).
    page.get_by_role("button", name="Add", exact=True).click()
    page.get_by_role("link", name="Import Activities from Existing Contract").click()
    page.get_by_label("Find a contract by code or title").fill("acme")
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_role("link", name="Acme Corp compliance training").click()
    preview = page.locator(".card-body ul").last
    expect(preview.get_by_text("Leadership Workshop (Berlin)")).to_be_visible()
    expect(preview.get_by_text("Workplace Safety Essentials")).to_have_count(0)
    shot("admin-activities-import")
    page.get_by_role("button", name=re.compile(r"Import 2 activities")).click()
    expect(page.get_by_text("Imported 2 activities from ACME-2026.")).to_be_visible()
    expect(page.locator("table tbody tr")).to_have_count(4)
    shot("admin-activities")

    # Invite by CSV with one bad row plus two typed addresses, in one submit; pick the activities in step 2;
    # read the per-row report; a refresh shows the same report and invites nobody again.
    page.get_by_role("link", name="Invitations", exact=True).click()
    page.get_by_role("link", name="Add Invitations").click()
    page.locator("input[type=file]").set_input_files({"name": "people.csv", "mimeType": "text/csv", "buffer": CSV})
    page.get_by_label("E-mail addresses", exact=True).fill("typed.one@example.org; typed.two@example.org")
    shot("admin-invite")
    page.get_by_role("button", name="Continue to activities").click()
    expect(page.get_by_text("step 2 of 2")).to_be_visible()
    expect(page.get_by_text("Inviting 2 typed addresses and 4 lines of people.csv.")).to_be_visible()
    page.get_by_label("Leadership Workshop (Berlin)").uncheck(force=True)
    shot("admin-invite-activities")
    page.get_by_role("button", name="Send invitations").click()
    report = page.locator("table.lc-report")
    expect(report.locator("tr", has_text="not an email").locator("td")).to_have_text(
        ["4", "", "not an email", "Invalid", "Not a valid e-mail address."])
    expect(report.locator("tr", has_text="learner03@example.com")).to_contain_text("Invited")
    expect(report.locator("tr", has_text="fresh.hire@example.org")).to_contain_text("Not Registered")
    expect(report.locator("tr", has_text="typed.two@example.org")).to_contain_text("Not Registered")
    shot("admin-invite-report")
    expect(report.locator("tbody tr")).to_have_count(6)
    page.reload()  # Post/Redirect/Get: the same report, nobody invited twice
    expect(report.locator("tbody tr")).to_have_count(6)
    page.get_by_role("link", name="Go to the invitations").click()
    expect(page.locator("table tbody tr", has_text="typed.two@example.org")).to_have_count(1)
    page.go_back()

    # Revoke one Outstanding invitation (with confirmation), resend another.
    page.get_by_role("link", name="Go to the invitations").click()
    expect(_row(page, "learner03@example.com")).to_contain_text("Outstanding")
    shot("admin-invitations")
    _row(page, "learner03@example.com").get_by_role("link", name="Revoke").click()
    expect(page.get_by_text("Revoke the invitation of learner03@example.com?")).to_be_visible()
    shot("admin-revoke-confirm")
    page.get_by_role("button", name="Revoke the invitation").click()
    expect(page.get_by_text("Revoked the invitation of learner03@example.com.")).to_be_visible()
    revoked = _row(page, "learner03@example.com")
    expect(revoked).to_contain_text("Revoked")
    expect(revoked.get_by_role("button", name="Resend")).to_have_count(0)
    expect(revoked.get_by_role("link", name="Revoke")).to_have_count(0)
    _row(page, "learner04@example.com").get_by_role("button", name="Resend").click()
    expect(page.get_by_text("Resent the invitation to learner04@example.com.")).to_be_visible()

    # View Activities of one invitation and add the one left out.
    _row(page, "learner04@example.com").get_by_role("link", name="View Activities").click()
    page.get_by_label("Leadership Workshop (Berlin)").check(force=True)
    shot("admin-invitation-activities")
    page.get_by_role("button", name="Add to the invitation").click()
    expect(page.get_by_text("Added 1 activity to the invitation of learner04@example.com.")).to_be_visible()

    # Regenerate the code (with confirmation); the new one replaces it.
    page.get_by_role("link", name="Overview").click()
    page.get_by_role("link", name="Regenerate").click()
    expect(page.get_by_text("Regenerate the invitation code?")).to_be_visible()
    page.get_by_role("button", name="Regenerate the code").click()
    expect(page.get_by_text("New invitation code:")).to_be_visible()
    new_code = page.locator("#invitation-code").inner_text()
    assert new_code != code
    expect(page.get_by_text(f"New invitation code: {new_code}")).to_be_visible()
    page.get_by_role("button", name="Copy", exact=True).click()
    assert page.locator("#copy-status").inner_text() in {"Copied to the clipboard", ""}
    shot("admin-contract-after")

    page.get_by_role("link", name="History").click()
    expect(page.get_by_text("Regenerated the invitation code")).to_be_visible()
    shot("admin-history")
    page.get_by_role("link", name="Edit contract").click()
    expect(page.locator("#contract-type")).to_contain_text("Voucher")
    shot("admin-edit")
    page.get_by_role("link", name="Delete contract").click()
    expect(page.get_by_text("nobody is unenrolled", exact=False)).to_be_visible()
    shot("admin-delete-confirm")
