"""The learner and contract-admin journeys through the example LMS in headless Chromium.

One module-scoped server with the demo data (example_app/demo.py); the tests run in order and build
on each other's changes, as the people in the demo would.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from playwright.sync_api import Page, expect

from flask_learning_contracts import ContractType, InvitationStatus, services
from flask_learning_contracts.codes import format_code


def contract_by_code(app, code):
    """The contract with this code (call inside ``with app.app_context()``)."""
    from example_app.models import db

    model = app.extensions["learning_contracts"].models.Contract
    return db.session.execute(sa.select(model).where(model.code == code)).scalar_one()


def seats_used(app, code: str) -> int:
    with app.app_context():
        return contract_by_code(app, code).seats_used


def member(app, email):
    """The demo member with this e-mail (call inside ``with app.app_context()``)."""
    from example_app.models import Member, db

    return db.session.execute(sa.select(Member).where(Member.email == email)).scalar_one()


def test_learner_enters_a_code_and_enrolls_in_two_voucher_activities(page: Page, live_server, live_app, login, shot):
    with live_app.app_context():
        code = contract_by_code(live_app, "ACME-2026").invitation_code
    before = seats_used(live_app, "ACME-2026")
    login("ben@example.com")
    expect(page.get_by_role("heading", name="Learning Contract Invitations")).to_be_visible()
    expect(page.get_by_text("Acme Corp compliance training").first).to_be_visible()
    shot("01-learner-home-widget")

    page.get_by_role("link", name="Learning contract invitations").click()
    expect(page.get_by_role("heading", name="Learning Contract Invitations", level=1)).to_be_visible()
    expect(page.get_by_text("Enter the invitation code first.").first).to_be_visible()
    shot("02-learner-invitations-code-needed")

    typed = " ".join(format_code(code).lower().split("-"))  # "abcd efgh jkmn": any case, spaces allowed
    page.get_by_label("Invitation code", exact=True).fill(typed)
    page.get_by_role("button", name="Use code").first.click()
    expect(page.get_by_text("Code accepted")).to_be_visible()
    shot("03-learner-contract-after-code")

    page.get_by_role("button", name="Enroll in Workplace Safety Essentials").click()
    expect(page.get_by_text("You are enrolled in Workplace Safety Essentials.")).to_be_visible()
    page.get_by_role("button", name="Enroll in Data Privacy Basics").click()
    expect(page.get_by_text("You are enrolled in Data Privacy Basics.")).to_be_visible()
    expect(page.get_by_text("1 more activity")).to_be_visible()  # per-user limit 3
    shot("04-learner-voucher-two-enrolled")
    assert seats_used(live_app, "ACME-2026") == before + 2


def test_subscription_learner_enrolls_in_two_activities_for_one_seat(page: Page, live_server, live_app, login, shot):
    before = seats_used(live_app, "GLOBEX-SUB")
    login("ana@example.com")
    widget = page.locator(".lc-widget")
    globex = widget.locator("article", has_text="Globex all-access subscription")
    globex.get_by_role("button", name="Enroll in Customer Service Excellence").click()
    expect(page.get_by_text("You are enrolled in Customer Service Excellence.")).to_be_visible()
    page.locator(".lc-widget article", has_text="Globex all-access subscription") \
        .get_by_role("button", name="Enroll in First Aid Training (on site)").click()
    expect(page.get_by_text("You are enrolled in First Aid Training (on site).")).to_be_visible()
    expect(page).to_have_url(live_server + "/")  # the widget returns to the host's page
    shot("05-learner-subscription-two-enrolled-widget")
    assert seats_used(live_app, "GLOBEX-SUB") == before + 1


def test_learner_sees_a_friendly_message_when_no_seats_are_left(page: Page, live_server, live_app, login, shot):
    with live_app.app_context():
        from example_app.models import LearningActivity, db

        today = dt.date.today()
        activity = db.session.execute(sa.select(LearningActivity).where(
            LearningActivity.title == "Customer Service Excellence")).scalar_one()
        tiny = services.create_contract(
            code="TINY-1", title="Initrode pilot (1 seat)", contract_type=ContractType.VOUCHER, seats=1,
            valid_from=today - dt.timedelta(days=1), valid_until=today + dt.timedelta(days=60),
            description="A one-seat pilot.", require_invitation_code=False)
        services.add_activities(tiny, [activity])
        services.invite(tiny, users=[member(live_app, "cleo@example.com"), member(live_app, "learner20@example.com")])
        activity_id = activity.id
    login("cleo@example.com")
    page.goto(live_server + "/learning-contracts/")
    button = page.get_by_role("button", name="Enroll in Customer Service Excellence")
    expect(button).to_be_visible()
    with live_app.app_context():  # someone else takes the last seat while Cleo is reading
        services.enroll(member(live_app, "learner20@example.com"), contract_by_code(live_app, "TINY-1"), activity_id)
    button.click()
    expect(page.get_by_role("alert")).to_contain_text("There are no seats left on Initrode pilot (1 seat)")
    expect(page.get_by_text("No seats left.")).to_be_visible()
    shot("06-learner-no-seats-left")
    assert seats_used(live_app, "TINY-1") == 1


def test_contract_admin_sees_the_chart_invites_by_csv_and_revokes(page: Page, live_server, live_app, login, shot,
                                                                   tmp_path):
    login("contracts@example.com")
    page.get_by_role("link", name="Learning contracts dashboard").click()
    expect(page.get_by_role("heading", name="Learning contracts dashboard")).to_be_visible()
    expect(page.locator("svg[role=img]").first).to_be_visible()
    expect(page.get_by_role("heading", name="Active")).to_be_visible()
    shot("07-admin-dashboard-chart")

    page.get_by_role("link", name="Acme Corp compliance training").first.click()
    expect(page.get_by_role("heading", name="Acme Corp compliance training", level=1)).to_be_visible()
    with live_app.app_context():
        code = contract_by_code(live_app, "ACME-2026").invitation_code
    expect(page.locator("#lc-invitation-code")).to_have_text(format_code(code))
    expect(page.get_by_role("button", name="Copy code")).to_be_visible()
    shot("08-admin-contract")

    page.get_by_role("link", name="Invite learners").click()
    csv = tmp_path / "invite.csv"
    csv.write_text("email\nlearner15@example.com\nLEARNER16@example.com\n\nnot an email\nana@example.com\n"
                   "new.hire@example.org\n")
    page.get_by_label("CSV file", exact=True).set_input_files(str(csv))
    page.get_by_label("E-mail addresses", exact=True).fill("typed.dash@example.org, not-typed-well")
    shot("09-admin-invite-page")
    page.get_by_role("button", name="Continue to activities").click()
    expect(page.get_by_text("Inviting 2 typed addresses and 5 lines of invite.csv.")).to_be_visible()
    shot("09b-admin-invite-activities")
    page.get_by_role("button", name="Send invitations").click()
    expect(page.get_by_role("heading", name="Invitation results for Acme Corp compliance training")).to_be_visible()
    rows = page.locator("table.lc-table tbody tr")
    expect(rows).to_have_count(7)
    expect(rows.nth(0)).to_contain_text("typed.dash@example.org")
    expect(rows.nth(1)).to_contain_text("Entry 2 is not a valid e-mail address.")
    expect(rows.nth(2)).to_contain_text("learner15@example.com")
    expect(rows.nth(4)).to_contain_text("Invalid")
    expect(rows.nth(5)).to_contain_text("Already invited")
    expect(rows.nth(6)).to_contain_text("Not Registered")
    shot("10-admin-invite-results")
    page.reload()  # Post/Redirect/Get: the same report
    expect(rows).to_have_count(7)
    page.get_by_role("link", name="Go to the invitations").click()
    page.get_by_label("Search by e-mail").fill("learner15")
    page.get_by_role("button", name="Show invitations").click()
    row = page.locator("table.lc-table tbody tr", has_text="learner15@example.com")
    row.get_by_role("link", name="View activities").click()
    expect(page.get_by_role("heading", name="Activities in the invitation of learner15@example.com")).to_be_visible()
    shot("11a-admin-view-activities")
    page.go_back()
    row.get_by_role("link", name="Revoke").click()
    expect(page.get_by_role("heading", name="Revoke the invitation of learner15@example.com?")).to_be_visible()
    shot("11-admin-revoke-confirm")
    page.get_by_role("button", name="Revoke invitation").click()
    expect(page.get_by_text("The invitation of learner15@example.com was revoked.")).to_be_visible()
    shot("12-admin-after-revoke")
    with live_app.app_context():
        statuses = [inv.status for inv in services.invitation_page(
            contract_by_code(live_app, "ACME-2026"), search="learner15").items]
    assert statuses == [InvitationStatus.REVOKED]


def test_wrong_codes_end_in_a_friendly_429_page(page: Page, live_server, live_app, login, shot):
    login("learner10@example.com")
    page.goto(live_server + "/learning-contracts/")
    try:
        for _ in range(10):
            page.get_by_label("Invitation code", exact=True).fill("WRNG-WRNG-WRNG")
            page.get_by_role("button", name="Use code").first.click()
            expect(page.get_by_role("alert")).to_contain_text("That invitation code is not valid")
        page.get_by_label("Invitation code", exact=True).fill("WRNG-WRNG-WRNG")
        with page.expect_response(lambda r: r.url.endswith("/learning-contracts/code")) as answer:
            page.get_by_role("button", name="Use code").first.click()
        assert answer.value.status == 429
        expect(page.get_by_role("heading", name="Too many wrong codes")).to_be_visible()
        shot("13-learner-too-many-wrong-codes")
    finally:
        live_app.extensions["learning_contracts"].limiter.reset()


def test_invitations_page_on_a_phone(page: Page, live_server, login, shot):
    page.set_viewport_size({"width": 390, "height": 844})
    login("ana@example.com")
    page.goto(live_server + "/learning-contracts/")
    expect(page.get_by_role("heading", name="Learning Contract Invitations", level=1)).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot("14-learner-invitations-phone")
