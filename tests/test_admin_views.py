"""The Learning Contracts screens in Flask-Admin, driven with the Flask test client.

Each screen is checked for what a manager sees and can do, what anonymous users and learners get
(401 / 403), that a POST without its CSRF token changes nothing, and that service refusals show next
to the field or as a message, never as a server error.
"""
from __future__ import annotations

import datetime as dt
import io
import re
from html import unescape

import pytest
import sqlalchemy as sa

from flask_learning_contracts import ContractType, InvitationStatus, services

from . import host
from .admin_support import (  # noqa: F401 - fixtures
    as_manager, csrf_token, field_errors, learner, login_client, manager, post_form, text, url,
)
from .conftest import count

GOOD = {
    "code": "ACME-1", "title": "Acme training", "description": "For Acme staff", "group": "Acme",
    "external_id": "SF-001", "source": "salesforce", "contract_type": "voucher", "seats": "10",
    "per_user_limit": "0", "valid_from": "2026-01-01", "valid_until": "2026-12-31", "require_invitation_code": "yes",
}


def contract_model(app):
    return app.extensions["learning_contracts"].models.Contract


def invitation_model(app):
    return app.extensions["learning_contracts"].models.Invitation


@pytest.fixture
def voucher(make_contract, make_course):
    courses = [make_course("Safety", "online"), make_course("Leadership", "ilt")]
    return make_contract(ContractType.VOUCHER, code="VOU-1", title="Voucher deal", seats=10, activities=courses)


# ---------------------------------------------------------------------------------------------
# access
# ---------------------------------------------------------------------------------------------
def _pages(contract, invitation, activity_id):
    c = contract.id
    return [
        url(), url("new/"), url(f"edit/?id={c}"), url(f"{c}/"), url(f"{c}/code/regenerate"),
        url(f"{c}/activities"), url(f"{c}/activities/add"), url(f"{c}/activities/import"),
        url(f"{c}/activities/{activity_id}/remove"), url(f"{c}/invitations"),
        url(f"{c}/invitations/{invitation.id}/activities"), url(f"{c}/invitations/{invitation.id}/revoke"),
        url(f"{c}/invite"), url(f"{c}/history"), url(f"{c}/delete"),
    ]


def _posts(contract, invitation, activity_id):
    c = contract.id
    return [
        url("new/"), url(f"edit/?id={c}"), url(f"{c}/code/regenerate"), url(f"{c}/admins/add"),
        url(f"{c}/admins/remove"), url(f"{c}/activities/add"), url(f"{c}/activities/import"),
        url(f"{c}/activities/{activity_id}/remove"), url(f"{c}/invitations/{invitation.id}/activities"),
        url(f"{c}/invitations/{invitation.id}/resend"), url(f"{c}/invitations/{invitation.id}/revoke"),
        url(f"{c}/invite"), url(f"{c}/invite/{'r' * 32}/activities"), url(f"{c}/delete"),
    ]


def test_every_page_is_for_managers_only(app, voucher, login_client, manager, learner):
    invitation = services.invite(voucher, users=[learner]).invited[0]
    inv = services.get_invitation(invitation.invitation_id)
    activity_id = voucher.activities[0].id
    anonymous, as_learner, as_boss = login_client(), login_client(learner), login_client(manager)
    for page in _pages(voucher, inv, activity_id):
        assert anonymous.get(page).status_code == 401, page
        assert as_learner.get(page).status_code == 403, page
        assert as_boss.get(page).status_code == 200, page


def test_every_post_refuses_anonymous_and_learners_and_changes_nothing(app, voucher, login_client, manager,
                                                                       learner, make_user):
    inv = services.get_invitation(services.invite(voucher, users=[learner]).invited[0].invitation_id)
    activity_id = voucher.activities[0].id
    other = make_user("other@example.com")
    # A learner with a valid CSRF token of their own session still gets 403: access is checked first.
    as_learner = login_client(learner)
    token = csrf_token(login_client(manager), url(f"{voucher.id}/delete"))
    code_before = voucher.invitation_code
    for action in _posts(voucher, inv, activity_id):
        data = {"csrf_token": token, "user_id": str(other.id), "activity_ids": str(activity_id), **GOOD}
        assert login_client().post(action, data=data).status_code == 401, action
        assert as_learner.post(action, data=data).status_code == 403, action
    host.db.session.expire_all()
    assert voucher.invitation_code == code_before
    assert count(host.db, contract_model(app)) == 1
    assert inv.status is InvitationStatus.OUTSTANDING
    assert len(voucher.activities) == 2 and voucher.admins == []


def test_anonymous_users_are_sent_to_the_hosts_login_page(app, voucher, login_client):
    app.add_url_rule("/sign-in", "sign_in", lambda: "sign in")
    app.login_manager.login_view = "sign_in"
    response = login_client().get(url(f"{voucher.id}/invitations"))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in")


def test_menu_entry_under_the_configured_category(app, as_manager):
    admin = app.extensions["learning_contracts"].admin
    view = next(v for v in admin._views if v.endpoint == "lc_contract")
    assert view.category == "Activities and Learning" and view.name == "Learning Contracts"
    page = text(as_manager.get(url()))
    assert "Activities and Learning" in page and "Learning Contracts" in page


# ---------------------------------------------------------------------------------------------
# list
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def three_contracts(make_contract, rules):
    rules.set_today(dt.date(2026, 6, 15))
    return [
        make_contract(ContractType.VOUCHER, code="PAST-1", title="Old deal", valid_from=dt.date(2025, 1, 1),
                      valid_until=dt.date(2025, 12, 31), external_id="EXT-OLD"),
        make_contract(ContractType.SUBSCRIPTION, code="NOW-1", title="Current subscription", seats=25),
        make_contract(ContractType.VOUCHER, code="NEXT-1", title="Next year", valid_from=dt.date(2027, 1, 1),
                      valid_until=dt.date(2027, 6, 30)),
    ]


def test_list_shows_people_readable_columns(three_contracts, as_manager):
    page = text(as_manager.get(url()))
    for label in ("Code", "Title", "Type", "Seats used / seats", "Valid period", "State"):
        assert label in page
    assert "NOW-1 Current subscription — Subscription 0 / 25 1 Jan 2026 – 31 Dec 2026 Active" in page
    assert "PAST-1 Old deal — Voucher 0 / 10 1 Jan 2025 – 31 Dec 2025 Expired" in page
    assert "Next year — Voucher 0 / 10 1 Jan 2027 – 30 Jun 2027 Future" in page
    assert "voucher" not in page and "subscription" not in page.replace("Current subscription", "")


def test_list_search_by_code_title_and_external_id(three_contracts, as_manager):
    assert "Old deal" in text(as_manager.get(url("?search=EXT-OLD")))
    by_title = text(as_manager.get(url("?search=current")))
    assert "NOW-1" in by_title and "PAST-1" not in by_title
    by_code = text(as_manager.get(url("?search=next-1")))
    assert "NEXT-1" in by_code and "NOW-1" not in by_code


def _filter_arg(view, label):
    """The query argument Flask-Admin uses for the filter with ``label``."""
    for index, flt in enumerate(view._filters):
        if str(flt.name) == label:
            return f"flt{index}_{index}"
    raise AssertionError(label)


def test_list_filters_by_type_and_state(app, three_contracts, as_manager):
    view = next(v for v in app.extensions["learning_contracts"].admin._views if v.endpoint == "lc_contract")
    args = {flt.name: arg for flt, arg in ((f, _filter_arg(view, str(f.name))) for f in view._filters)}
    by_type = text(as_manager.get(url(f"?{args['Type']}=subscription")))
    assert "NOW-1" in by_type and "PAST-1" not in by_type and "NEXT-1" not in by_type
    expired = text(as_manager.get(url(f"?{args['State']}=expired")))
    assert "PAST-1" in expired and "NOW-1" not in expired and "NEXT-1" not in expired
    future = text(as_manager.get(url(f"?{args['State']}=future")))
    assert "NEXT-1" in future and "PAST-1" not in future
    active = text(as_manager.get(url(f"?{args['State']}=active")))
    assert "NOW-1" in active and "NEXT-1" not in active
    assert as_manager.get(url(f"?{args['State']}=nonsense")).status_code == 200


def test_list_sorts_and_paginates(app, three_contracts, as_manager, make_contract):
    by_code = text(as_manager.get(url("?sort=0")))
    assert by_code.index("NEXT-1") < by_code.index("NOW-1") < by_code.index("PAST-1")
    by_code_desc = text(as_manager.get(url("?sort=0&desc=1")))
    assert by_code_desc.index("PAST-1") < by_code_desc.index("NOW-1")
    for i in range(3):
        make_contract(code=f"ZZ-{i}")
    view = next(v for v in app.extensions["learning_contracts"].admin._views if v.endpoint == "lc_contract")
    view.page_size = 5
    first = text(as_manager.get(url("?sort=0")))
    second = text(as_manager.get(url("?sort=0&page=1")))
    assert "ZZ-2" not in first and "ZZ-2" in second


# ---------------------------------------------------------------------------------------------
# create / edit
# ---------------------------------------------------------------------------------------------
def test_create_form_has_two_sections_and_explains_the_choices(as_manager):
    page = text(as_manager.get(url("new/")))
    assert "General Details" in page and "Seats & Scheduling" in page
    assert "Every enrollment in an activity uses one seat" in page
    assert "Each learner uses one seat on their first enrollment" in page
    assert "0 = no limit" in page
    assert "Learners must enter the invitation code" in page
    assert "cannot be changed after the contract is created" in page.lower()


def test_create_makes_the_contract_and_shows_its_code(app, as_manager, manager):
    response = post_form(as_manager, url("new/"), data=GOOD)
    assert response.status_code == 302
    contract = host.db.session.execute(sa.select(contract_model(app))).scalar_one()
    assert response.headers["Location"].endswith(url(f"{contract.id}/"))
    assert (contract.code, contract.contract_type, contract.seats, contract.group) == (
        "ACME-1", ContractType.VOUCHER, 10, "Acme")
    assert contract.require_invitation_code is True and contract.external_id == "SF-001"
    page = as_manager.get(response.headers["Location"])
    shown = text(page)
    formatted = "-".join(contract.invitation_code[i:i + 4] for i in (0, 4, 8))
    assert formatted in shown and "Copy" in shown and "Regenerate" in shown
    assert "Created the learning contract ACME-1" in shown
    assert services.history(contract)[0].actor_name == "Bea Boss"


@pytest.mark.parametrize("change, field, message", [
    ({"valid_until": "2025-12-31"}, "valid_until", "The end date must be on or after the start date."),
    ({"seats": "-1"}, "seats", "Enter a number from 0 to 10,000,000."),
    ({"per_user_limit": "-3"}, "per_user_limit", "Enter a number from 0 to 10,000,000."),
    ({"code": "bad code!"}, "code", "Use 1 to 64 letters"),
    ({"title": ""}, "title", "This field is required."),
])
def test_create_shows_validation_errors_next_to_the_field(app, as_manager, change, field, message):
    response = post_form(as_manager, url("new/"), data={**GOOD, **change})
    assert response.status_code == 200
    assert any(message in error for error in field_errors(response, field)), field_errors(response, field)
    assert count(host.db, contract_model(app)) == 0


def test_create_refuses_a_duplicate_code_case_insensitively(app, as_manager, make_contract):
    make_contract(code="acme-1")
    response = post_form(as_manager, url("new/"), data=GOOD)
    assert response.status_code == 200
    assert field_errors(response, "code") == [
        "Another contract already uses the code ACME-1. Choose a different code."]
    assert count(host.db, contract_model(app)) == 1


def test_create_without_csrf_token_creates_nothing(app, as_manager):
    response = as_manager.post(url("new/"), data=GOOD)
    assert response.status_code == 200
    assert "Nothing was changed" in text(response)
    assert count(host.db, contract_model(app)) == 0


def test_edit_shows_type_and_seats_used_read_only(voucher, as_manager):
    page = as_manager.get(url(f"edit/?id={voucher.id}"))
    html = page.get_data(as_text=True)
    assert 'name="contract_type"' not in html and 'name="seats_used"' not in html
    shown = text(page)
    assert "Contract type Voucher" in shown and "cannot be changed after the contract is created" in shown
    assert "Seats used 0" in shown
    assert "does not affect existing invitations" in shown


def test_edit_saves_changes_but_never_the_type(app, voucher, as_manager):
    data = {**GOOD, "code": "VOU-1", "title": "Renamed", "seats": "12", "contract_type": "subscription",
            "require_invitation_code": "no"}
    response = post_form(as_manager, url(f"edit/?id={voucher.id}"), data=data)
    assert response.status_code == 302
    host.db.session.expire_all()
    assert (voucher.title, voucher.seats, voucher.contract_type) == ("Renamed", 12, ContractType.VOUCHER)
    assert voucher.require_invitation_code is False


def test_edit_refuses_seats_below_seats_used(app, make_contract, make_course, make_user, as_manager):
    course = make_course()
    contract = make_contract(ContractType.VOUCHER, code="USED", seats=3, activities=[course],
                             require_invitation_code=False)
    learners = [make_user() for _ in range(2)]
    services.invite(contract, users=learners)
    for person in learners:
        services.enroll(person, contract, course)
    data = {**GOOD, "code": "USED", "seats": "1"}
    response = post_form(as_manager, url(f"edit/?id={contract.id}"), data=data)
    assert response.status_code == 200
    assert field_errors(response, "seats") == ["Seats cannot be lower than the 2 seats already used."]
    host.db.session.expire_all()
    assert contract.seats == 3


def test_edit_without_csrf_token_changes_nothing(voucher, as_manager):
    response = as_manager.post(url(f"edit/?id={voucher.id}"), data={**GOOD, "code": "VOU-1", "title": "Hacked"})
    assert "Nothing was changed" in text(response)
    host.db.session.expire_all()
    assert voucher.title == "Voucher deal"


def test_unknown_contract_is_404(as_manager):
    assert as_manager.get(url("999/")).status_code == 404
    assert as_manager.get(url("edit/?id=999")).status_code == 404


# ---------------------------------------------------------------------------------------------
# overview: code, seats, contract admins
# ---------------------------------------------------------------------------------------------
def test_regenerate_code_asks_first_then_replaces_it(voucher, as_manager):
    old = voucher.invitation_code
    confirm = text(as_manager.get(url(f"{voucher.id}/code/regenerate")))
    assert "Regenerate the invitation code?" in confirm and "stops working at once" in confirm
    assert voucher.invitation_code == old  # asking changes nothing
    response = post_form(as_manager, url(f"{voucher.id}/code/regenerate"), follow_redirects=True)
    host.db.session.expire_all()
    assert voucher.invitation_code != old
    new = "-".join(voucher.invitation_code[i:i + 4] for i in (0, 4, 8))
    assert f"New invitation code: {new}" in text(response)


def test_regenerate_without_csrf_token_keeps_the_code(voucher, as_manager):
    old = voucher.invitation_code
    response = as_manager.post(url(f"{voucher.id}/code/regenerate"), follow_redirects=True)
    assert "Nothing was changed" in text(response)
    host.db.session.expire_all()
    assert voucher.invitation_code == old


def test_seats_panel_shows_seats_and_the_chart_by_status(voucher, make_user, as_manager):
    learners = [make_user() for _ in range(3)]
    services.invite(voucher, users=learners, emails=["nobody@example.org"])
    services.revoke(services.get_invitation(services.invitation_page(voucher, search=learners[0].email_address)
                                            .items[0].id))
    page = as_manager.get(url(f"{voucher.id}/"))
    shown = text(page)
    assert "Seats 10 Used 0 Available 10 Expired 0" in shown
    html = page.get_data(as_text=True)
    assert "<svg" in html and "Outstanding 2, Accepted 0, Enrolled 0, Not Registered 1, Revoked 1" in html


def test_expired_contract_reports_expired_seats(voucher, rules, as_manager):
    rules.set_today(dt.date(2027, 1, 5))
    shown = text(as_manager.get(url(f"{voucher.id}/")))
    assert "Seats 10 Used 0 Available 0 Expired 10" in shown and "Expired" in shown


def test_contract_admin_picker_searches_and_adds_then_removes(voucher, make_user, as_manager):
    casey = make_user("casey@example.com", name="Casey Contracts")
    make_user("someone@example.com")
    found = text(as_manager.get(url(f"{voucher.id}/?admin_q=casey")))
    assert "Casey Contracts casey@example.com Add as contract admin" in found
    assert "someone@example.com" not in found
    response = post_form(as_manager, url(f"{voucher.id}/?admin_q=casey"), url(f"{voucher.id}/admins/add"),
                         data={"user_id": str(casey.id)}, follow_redirects=True)
    assert "Casey Contracts is now a contract admin." in text(response)
    host.db.session.expire_all()
    assert voucher.admins == [casey]
    assert "Already a contract admin" in text(as_manager.get(url(f"{voucher.id}/?admin_q=casey")))
    post_form(as_manager, url(f"{voucher.id}/"), url(f"{voucher.id}/admins/remove"),
              data={"user_id": str(casey.id)})
    host.db.session.expire_all()
    assert voucher.admins == []


def test_contract_admin_add_without_csrf_token_changes_nothing(voucher, make_user, as_manager):
    casey = make_user("casey@example.com")
    as_manager.post(url(f"{voucher.id}/admins/add"), data={"user_id": str(casey.id)})
    host.db.session.expire_all()
    assert voucher.admins == []


def test_user_picker_never_lists_everyone(voucher, make_user, as_manager):
    for i in range(30):
        make_user(f"person{i:02d}@example.com")
    page = text(as_manager.get(url(f"{voucher.id}/")))
    assert "person00@example.com" not in page  # no search, no list
    found = text(as_manager.get(url(f"{voucher.id}/?admin_q=person")))
    assert found.count("Add as contract admin") == 20  # capped


# ---------------------------------------------------------------------------------------------
# activities
# ---------------------------------------------------------------------------------------------
def test_activities_tab_lists_activities_with_their_kind(voucher, as_manager):
    shown = text(as_manager.get(url(f"{voucher.id}/activities")))
    assert "Safety Online" in shown and "Leadership Instructor-led" in shown
    assert "Add Learning Activities" in shown and "Import Activities from Existing Contract" in shown
    assert "adding an activity does not update existing invitations" in shown


def test_add_activities_picker_filters_by_kind_and_text_and_adds_several(voucher, make_course, as_manager):
    cert = make_course("PMP certification", "certification")
    online = make_course("Excel basics", "online")
    make_course("Retired thing", "online", retired=True)
    all_eligible = text(as_manager.get(url(f"{voucher.id}/activities/add")))
    assert "PMP certification" in all_eligible and "Excel basics" in all_eligible
    assert "Retired thing" not in all_eligible and "Safety" not in all_eligible  # not eligible / already there
    certs = text(as_manager.get(url(f"{voucher.id}/activities/add?kind=certification")))
    assert "PMP certification" in certs and "Excel basics" not in certs
    assert "Excel basics" in text(as_manager.get(url(f"{voucher.id}/activities/add?q=excel")))
    response = post_form(as_manager, url(f"{voucher.id}/activities/add"),
                         data={"activity_ids": [str(cert.id), str(online.id)]}, follow_redirects=True)
    assert "Added 2 activities to the contract." in text(response)
    host.db.session.expire_all()
    assert {c.title for c in voucher.activities} == {"Safety", "Leadership", "PMP certification", "Excel basics"}


def test_add_activities_picker_is_paginated(voucher, make_course, as_manager):
    for i in range(25):
        make_course(f"Course {i:02d}")
    first = text(as_manager.get(url(f"{voucher.id}/activities/add")))
    assert "Course 00" in first and "Course 24" not in first and "Page 1 of 2" in first
    assert "Course 24" in text(as_manager.get(url(f"{voucher.id}/activities/add?page=2")))


def test_adding_an_ineligible_activity_is_refused_with_a_message(voucher, make_course, as_manager):
    retired = make_course("Retired", retired=True)
    response = post_form(as_manager, url(f"{voucher.id}/activities/add"), data={"activity_ids": [str(retired.id)]})
    assert response.status_code == 200
    assert "cannot be added to a learning contract" in text(response)
    host.db.session.expire_all()
    assert len(voucher.activities) == 2


def test_import_previews_then_adds_the_union(voucher, make_contract, make_course, as_manager):
    extra = make_course("Extra", "certification")
    source = make_contract(ContractType.SUBSCRIPTION, code="SRC", title="Source",
                           activities=[voucher.activities[0], extra])
    chooser = text(as_manager.get(url(f"{voucher.id}/activities/import")))
    assert "Source (SRC)" in chooser
    preview = text(as_manager.get(url(f"{voucher.id}/activities/import?source={source.id}")))
    assert "Extra (Certification program)" in preview and "Import 1 activity" in preview
    assert "Safety (" not in preview
    response = post_form(as_manager, url(f"{voucher.id}/activities/import?source={source.id}"),
                         url(f"{voucher.id}/activities/import"), data={"source_contract": str(source.id)},
                         follow_redirects=True)
    assert "Imported 1 activity from SRC." in text(response)
    host.db.session.expire_all()
    assert [a.title for a in voucher.activities] == ["Safety", "Leadership", "Extra"]


def test_remove_activity_shows_impact_then_keeps_enrollments(app, make_contract, make_course, make_user, as_manager):
    course, other = make_course("Kept"), make_course("Other")
    contract = make_contract(ContractType.VOUCHER, code="RM", activities=[course, other], require_invitation_code=False)
    people = [make_user() for _ in range(3)]
    services.invite(contract, users=people)
    services.enroll(people[0], contract, course)
    confirm = text(as_manager.get(url(f"{contract.id}/activities/{course.id}/remove")))
    assert "3 invited learners have this activity" in confirm
    assert "1 learner is enrolled in it through this contract" in confirm
    response = post_form(as_manager, url(f"{contract.id}/activities/{course.id}/remove"), follow_redirects=True)
    assert "Removed Kept." in text(response)
    host.db.session.expire_all()
    assert [a.title for a in contract.activities] == ["Other"]
    assert count(host.db, host.CourseEnrollment) == 1
    assert contract.seats_used == 1


def test_remove_activity_without_csrf_token_keeps_it(voucher, as_manager):
    activity = voucher.activities[0]
    as_manager.post(url(f"{voucher.id}/activities/{activity.id}/remove"))
    host.db.session.expire_all()
    assert len(voucher.activities) == 2


# ---------------------------------------------------------------------------------------------
# invitations
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def invited(app, make_contract, make_course, make_user):
    """A Voucher contract (code not required) with learners in every status."""
    courses = [make_course("Safety"), make_course("Privacy")]
    contract = make_contract(ContractType.VOUCHER, code="INV", activities=courses, require_invitation_code=False)
    people = {name: make_user(f"{name}@example.com", name=name.title()) for name in
              ("olga", "anna", "erin", "rex")}
    services.invite(contract, users=list(people.values()), emails=["ghost@example.org"], activities=[courses[0]])
    services.redeem_code(people["anna"], contract.invitation_code)
    services.enroll(people["erin"], contract, courses[0])

    def invitation(name):
        email = f"{name}@example.com" if name != "ghost" else "ghost@example.org"
        return services.invitation_page(contract, search=email).items[0]

    services.revoke(invitation("rex"))
    return contract, courses, invitation


def _row(response, email: str) -> str:
    """The text of the table row that shows ``email``."""
    html = response.get_data(as_text=True)
    row = next(r for r in html.split("<tr") if email in r)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", "<tr" + row)).split())


def test_invitations_tab_lists_learners_with_status_and_allowed_actions(invited, as_manager):
    contract, courses, invitation = invited
    response = as_manager.get(url(f"{contract.id}/invitations"))
    assert "Learner E-mail Status Invited Activities E-mail delivery Actions" in text(response)
    sent = "Invitation Sent 15 Jun 2026, 12:00 UTC"  # the host's send_invitation hook took it
    assert _row(response, "olga@example.com") == (
        f"Olga olga@example.com Outstanding 15 Jun 2026, 12:00 UTC Safety {sent} View Activities Resend Revoke")
    assert _row(response, "anna@example.com") == (
        f"Anna anna@example.com Accepted 15 Jun 2026, 12:00 UTC Safety {sent} View Activities Revoke")
    assert _row(response, "erin@example.com") == (
        f"Erin erin@example.com Enrolled 15 Jun 2026, 12:00 UTC Safety {sent} View Activities")
    assert _row(response, "rex@example.com") == f"Rex rex@example.com Revoked 15 Jun 2026, 12:00 UTC Safety {sent} View Activities"
    assert _row(response, "ghost@example.org") == (
        f"No account yet ghost@example.org Not Registered 15 Jun 2026, 12:00 UTC Safety {sent} View Activities Revoke")


def test_invitations_search_and_status_filter(invited, as_manager):
    contract = invited[0]
    outstanding = text(as_manager.get(url(f"{contract.id}/invitations?status=outstanding")))
    assert "olga@example.com" in outstanding and "anna@example.com" not in outstanding
    assert "(1)" in outstanding
    by_email = text(as_manager.get(url(f"{contract.id}/invitations?q=ANNA")))
    assert "anna@example.com" in by_email and "olga@example.com" not in by_email
    assert as_manager.get(url(f"{contract.id}/invitations?status=bogus&page=abc")).status_code == 200


def test_invitations_tab_is_paginated(app, make_contract, make_course, as_manager):
    contract = make_contract(ContractType.SUBSCRIPTION, code="BIG")
    app.config["LEARNING_CONTRACTS_PAGE_SIZE"] = 10
    services.invite(contract, emails=[f"p{i:02d}@example.org" for i in range(25)])
    first = text(as_manager.get(url(f"{contract.id}/invitations")))
    assert first.count("@example.org") == 10 and "Page 1 of 3" in first
    last = text(as_manager.get(url(f"{contract.id}/invitations?page=3")))
    assert last.count("@example.org") == 5


def test_resend_only_for_outstanding_invitations(invited, rules, as_manager):
    contract, _courses, invitation = invited
    olga, anna = invitation("olga"), invitation("anna")
    rules.sent.clear()
    page = url(f"{contract.id}/invitations")
    response = post_form(as_manager, page, url(f"{contract.id}/invitations/{olga.id}/resend"), follow_redirects=True)
    assert "Resent the invitation to olga@example.com." in text(response)
    assert rules.sent == [("olga@example.com", True)]
    refused = post_form(as_manager, page, url(f"{contract.id}/invitations/{anna.id}/resend"), follow_redirects=True)
    assert refused.status_code == 200
    assert "Only outstanding invitations can be resent; this one is Accepted." in text(refused)
    assert rules.sent == [("olga@example.com", True)]


def test_resend_without_csrf_token_sends_nothing(invited, rules, as_manager):
    contract, _courses, invitation = invited
    rules.sent.clear()
    as_manager.post(url(f"{contract.id}/invitations/{invitation('olga').id}/resend"))
    assert rules.sent == []


def test_resend_failure_is_a_message_not_a_500(invited, rules, as_manager):
    contract, _courses, invitation = invited
    rules.fail_notification = RuntimeError("mail server down")
    response = post_form(as_manager, url(f"{contract.id}/invitations"),
                         url(f"{contract.id}/invitations/{invitation('olga').id}/resend"), follow_redirects=True)
    assert response.status_code == 200
    assert "The invitation could not be sent: mail server down" in text(response)


def test_revoke_asks_then_revokes_before_enrollment_only(invited, as_manager):
    contract, _courses, invitation = invited
    olga, erin = invitation("olga"), invitation("erin")
    confirm = text(as_manager.get(url(f"{contract.id}/invitations/{olga.id}/revoke")))
    assert "Revoke the invitation of olga@example.com?" in confirm
    response = post_form(as_manager, url(f"{contract.id}/invitations/{olga.id}/revoke"), follow_redirects=True)
    assert "Revoked the invitation of olga@example.com." in text(response)
    host.db.session.expire_all()
    assert olga.status is InvitationStatus.REVOKED
    refused = post_form(as_manager, url(f"{contract.id}/invitations/{erin.id}/revoke"), follow_redirects=True)
    assert "cannot be revoked: the learner has already enrolled" in text(refused)
    host.db.session.expire_all()
    assert erin.status is InvitationStatus.ENROLLED


def test_revoke_without_csrf_token_changes_nothing(invited, as_manager):
    contract, _courses, invitation = invited
    olga = invitation("olga")
    as_manager.post(url(f"{contract.id}/invitations/{olga.id}/revoke"))
    host.db.session.expire_all()
    assert olga.status is InvitationStatus.OUTSTANDING


def test_invitation_of_another_contract_is_404(invited, make_contract, as_manager):
    contract, _courses, invitation = invited
    other = make_contract(code="OTHER")
    assert as_manager.get(url(f"{other.id}/invitations/{invitation('olga').id}/activities")).status_code == 404


def test_view_activities_and_add_one_to_a_voucher_invitation(invited, as_manager):
    contract, courses, invitation = invited
    olga = invitation("olga")
    page = url(f"{contract.id}/invitations/{olga.id}/activities")
    shown = text(as_manager.get(page))
    assert "Activities of the invitation of olga@example.com" in shown
    assert "Safety Online" in shown and "Add contract activities to this invitation" in shown
    assert "Privacy (Online)" in shown
    response = post_form(as_manager, page, data={"activity_ids": [str(courses[1].id)]}, follow_redirects=True)
    assert "Added 1 activity to the invitation of olga@example.com." in text(response)
    host.db.session.expire_all()
    assert [a.title for a in olga.activities] == ["Safety", "Privacy"]
    assert "already covers every activity" in text(as_manager.get(page))


def test_subscription_invitation_activities_follow_the_contract(make_contract, make_course, make_user, as_manager):
    contract = make_contract(ContractType.SUBSCRIPTION, code="SUB", activities=[make_course("One")])
    services.invite(contract, users=[make_user("s@example.com")])
    inv = services.invitation_page(contract).items[0]
    shown = text(as_manager.get(url(f"{contract.id}/invitations/{inv.id}/activities")))
    assert "One Online" in shown and "always cover every activity" in shown
    assert "Add to the invitation" not in shown


# ---------------------------------------------------------------------------------------------
# inviting
# ---------------------------------------------------------------------------------------------
CSV = "\ufeffEmail\nOlga@Example.com\nnot-an-email\n\n  newbie@example.org  \nolga@example.com\n"
_RUN = re.compile(r'name="run" value="([^"]+)"')


def _step1(client, contract, data=None, query=""):
    """POST step 1 of Add Invitations (with the page's CSRF and run tokens)."""
    page = client.get(url(f"{contract.id}/invite{query}")).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    payload = {"csrf_token": token, "run": _RUN.search(page).group(1), **(data or {})}
    return client.post(url(f"{contract.id}/invite"), data=payload, content_type="multipart/form-data")


def _upload(client, contract, payload=CSV, name="people.csv", **extra):
    return _step1(client, contract, {"file": (io.BytesIO(payload.encode()), name), **extra})


def _followed(client, response):
    assert response.status_code == 302, text(response)[:300]
    return client.get(response.headers["Location"])


def test_invite_by_csv_reports_every_row(app, make_contract, make_course, make_user, as_manager):
    contract = make_contract(ContractType.SUBSCRIPTION, code="CSV", activities=[make_course()])
    make_user("olga@example.com", name="Olga")
    response = _followed(as_manager, _upload(as_manager, contract))
    assert response.status_code == 200
    shown = text(response)
    assert "Invitation results" in shown
    assert "2 Olga olga@example.com Invited Invited." in shown
    assert "3 not-an-email Invalid Not a valid e-mail address." in shown
    assert "5 newbie@example.org Not Registered" in shown
    assert "6 olga@example.com Already invited Listed earlier on line 2." in shown
    assert count(host.db, invitation_model(app)) == 2


@pytest.mark.parametrize("lines", [
    [f"twice{i}@example.org" for i in range(500)] * 2,  # the same 500 addresses pasted twice
    ["one@example.org"] * 1001,  # one address on 1,001 lines
], ids=["500-twice", "one-address-1001-lines"])
def test_csv_of_repeated_addresses_reports_the_duplicates(app, make_contract, make_course, as_manager, lines):
    """Issue 14, item 2: a later 500-line batch of addresses already seen was a 500 (IndexError)."""
    contract = make_contract(ContractType.SUBSCRIPTION, code="CSV", activities=[make_course()])
    response = _followed(as_manager, _upload(as_manager, contract, payload="\n".join(lines)))
    assert response.status_code == 200
    assert "Invitation results" in text(response)
    report, shown, page = response.request.path, text(response), 1
    while "Next →" in text(response):  # the report is shown a page at a time
        page += 1
        response = as_manager.get(f"{report}?page={page}")
        shown += text(response)
    unique = len(set(lines))
    assert f"{len(lines)} {lines[-1]} Already invited Listed earlier on line {lines.index(lines[-1]) + 1}." in shown
    assert shown.count("Already invited Listed earlier on line") == len(lines) - unique
    assert count(host.db, invitation_model(app)) == unique


def test_csv_that_cannot_be_read_is_refused_with_a_message(make_contract, as_manager):
    contract = make_contract(ContractType.SUBSCRIPTION, code="CSV")
    response = _upload(as_manager, contract, payload="", name="empty.csv")
    assert response.status_code == 400
    assert "empty.csv holds no e-mail address" in text(response)
    response = _upload(as_manager, contract, payload="\x00\x01binary", name="photo.csv")
    assert response.status_code == 400 and "does not look like a CSV text file" in text(response)


def test_a_submit_with_nobody_in_it_shows_the_error_next_to_the_field(make_contract, as_manager):
    contract = make_contract(ContractType.SUBSCRIPTION, code="CSV")
    response = _step1(as_manager, contract)
    assert response.status_code == 400
    assert "Nobody to invite yet" in text(response)


def test_csv_upload_without_csrf_token_invites_nobody(app, make_contract, as_manager):
    contract = make_contract(ContractType.SUBSCRIPTION, code="CSV")
    data = {"file": (io.BytesIO(b"a@example.com\n"), "a.csv")}
    response = as_manager.post(url(f"{contract.id}/invite"), data=data, content_type="multipart/form-data")
    assert "Nothing was changed" in text(response)
    assert count(host.db, invitation_model(app)) == 0


def test_voucher_with_several_activities_asks_which_ones_in_a_second_step(app, voucher, as_manager):
    posted = _upload(as_manager, voucher, payload="a@example.com\nb@example.com\n")
    step = _followed(as_manager, posted)
    shown = text(step)
    assert "step 2 of 2" in shown and "Safety" in shown and "Leadership" in shown
    assert "Inviting 2 lines of people.csv." in shown
    assert count(host.db, invitation_model(app)) == 0  # nothing sent yet
    safety = voucher.activities[0]
    report = _followed(as_manager, as_manager.post(posted.headers["Location"], data={
        "csrf_token": csrf_token(as_manager, url(f"{voucher.id}/invite")), "activity_ids": [str(safety.id)]}))
    assert "Invitation results" in text(report)
    invitations = services.invitation_page(voucher).items
    assert len(invitations) == 2
    assert all([a.title for a in inv.activities] == ["Safety"] for inv in invitations)


def test_invite_selected_users_from_the_search(app, make_contract, make_course, make_user, as_manager):
    contract = make_contract(ContractType.VOUCHER, code="ONE", activities=[make_course("Only")])
    olga, omar = make_user("olga@example.com", name="Olga"), make_user("omar@example.com", name="Omar")
    found = text(as_manager.get(url(f"{contract.id}/invite?q=o")))
    assert "Olga olga@example.com" in found and "Omar omar@example.com" in found
    response = _followed(as_manager, _step1(as_manager, contract, {"user_ids": [str(olga.id), str(omar.id)]},
                                            query="?q=o"))
    shown = text(response)
    assert "Olga olga@example.com Invited" in shown and "Omar omar@example.com Invited" in shown
    assert count(host.db, invitation_model(app)) == 2


def test_invite_users_for_voucher_goes_through_the_activity_step(app, voucher, make_user, as_manager):
    olga = make_user("olga@example.com")
    posted = _step1(as_manager, voucher, {"user_ids": [str(olga.id)]})
    assert "Inviting 1 selected user." in text(_followed(as_manager, posted))
    leadership = voucher.activities[1]
    as_manager.post(posted.headers["Location"], data={
        "csrf_token": csrf_token(as_manager, url(f"{voucher.id}/invite")), "activity_ids": [str(leadership.id)]})
    inv = services.invitation_page(voucher).items[0]
    assert [a.title for a in inv.activities] == ["Leadership"]


def test_inviting_outside_the_valid_period_is_a_message(voucher, rules, make_user, as_manager):
    rules.set_today(dt.date(2027, 2, 1))
    assert "can only be sent while the contract is active" in text(as_manager.get(url(f"{voucher.id}/invite")))
    olga = make_user("olga@example.com")
    response = _step1(as_manager, voucher, {"user_ids": [str(olga.id)]})
    assert response.status_code == 409
    assert "expired on 31 December 2026" in text(response)


# ---------------------------------------------------------------------------------------------
# history and delete
# ---------------------------------------------------------------------------------------------
def test_history_lists_who_did_what_when(voucher, manager, as_manager):
    services.regenerate_code(voucher, actor=manager)
    shown = text(as_manager.get(url(f"{voucher.id}/history")))
    assert "When Who What" in shown
    assert "15 Jun 2026, 12:00 UTC Bea Boss Regenerated the invitation code" in shown
    assert "Added activities: Safety, Leadership." in shown


def test_delete_states_what_is_lost_then_deletes_and_keeps_host_enrollments(app, make_contract, make_course,
                                                                           make_user, as_manager):
    course = make_course()
    contract = make_contract(ContractType.VOUCHER, code="GONE", activities=[course], require_invitation_code=False)
    people = [make_user() for _ in range(2)]
    services.invite(contract, users=people)
    services.enroll(people[0], contract, course)
    confirm = text(as_manager.get(url(f"{contract.id}/delete")))
    assert "Delete the learning contract GONE?" in confirm
    assert "1 of 10 seats have been used." in confirm
    assert "2 invitations (in every status) will be deleted." in confirm
    assert "1 enrollment record of" in confirm and "nobody is unenrolled" in confirm
    response = post_form(as_manager, url(f"{contract.id}/delete"), follow_redirects=True)
    assert "Deleted the learning contract GONE. Host enrollments were kept." in text(response)
    assert count(host.db, contract_model(app)) == 0
    assert count(host.db, host.CourseEnrollment) == 1


def test_delete_without_csrf_token_deletes_nothing(app, voucher, as_manager):
    response = as_manager.post(url(f"{voucher.id}/delete"))
    assert "Nothing was changed" in text(response)
    assert count(host.db, contract_model(app)) == 1


def test_builtin_flask_admin_delete_is_disabled(app, voucher, as_manager):
    token = csrf_token(as_manager, url(f"{voucher.id}/delete"))
    as_manager.post(url("delete/"), data={"id": str(voucher.id), "csrf_token": token})
    assert count(host.db, contract_model(app)) == 1


def test_list_sorts_by_computed_columns(three_contracts, as_manager):
    page = as_manager.get(url())
    html = page.get_data(as_text=True)
    for label in ("Seats used / seats", "Valid period", "State"):
        assert f'title="Sort by {label}"' in html
    by_start = text(as_manager.get(url("?sort=4")))
    assert by_start.index("PAST-1") < by_start.index("NOW-1") < by_start.index("NEXT-1")
    by_state_desc = text(as_manager.get(url("?sort=5&desc=1")))
    assert by_state_desc.index("NEXT-1") < by_state_desc.index("NOW-1") < by_state_desc.index("PAST-1")


def test_pages_render_with_strict_undefined(app, invited, as_manager):
    """No template leans on a variable it was not given (Flask-Admin's own test practice)."""
    import jinja2

    contract, courses, invitation = invited
    olga = invitation("olga")
    app.jinja_env.undefined = jinja2.StrictUndefined
    pages = _pages(contract, olga, courses[0].id) + [
        url(f"{contract.id}/?admin_q=olga"), url(f"{contract.id}/invite?q=o"),
        url(f"{contract.id}/activities/import?source={contract.id}"), url(f"{contract.id}/invitations?status=revoked"),
    ]
    for page in pages:
        assert as_manager.get(page).status_code == 200, page
