"""Issue 15 polish of the admin panel, through the Flask test client: the group picker and filter
(``ContractRules.groups``), every contract-form error after one submit, styled 400/403/404 pages that leave the
host's own error pages alone, the tabs while editing, plurals and one label per status."""
from __future__ import annotations

import datetime as dt
import json
import re
from html import unescape

import pytest
import sqlalchemy as sa

from flask_learning_contracts import ContractType, errors, services

from .admin_support import (  # noqa: F401 - fixtures
    as_manager,
    csrf_token,
    field_errors,
    learner,
    login_client,
    manager,
    post_form,
    text,
    url,
)
from .conftest import invite_one

GROUPS = [("acme", "Acme Corp"), ("globex", "Globex Inc.")]
GOOD = {
    "code": "ACME-1", "title": "Acme training", "description": "", "group": "", "external_id": "", "source": "",
    "contract_type": "voucher", "seats": "10", "per_user_limit": "0", "valid_from": "2026-01-01",
    "valid_until": "2026-12-31", "require_invitation_code": "yes", "reminders_enabled": "yes",
}


@pytest.fixture
def groups(rules):
    rules.groups = lambda: GROUPS
    return GROUPS


def _filters(html):
    """The list page's filters as Flask-Admin hands them to its script: {label: [{arg, options …}]}."""
    return json.loads(unescape(re.search(r'id="filter-groups-data"[^>]*>(.*?)</div>', html, re.DOTALL).group(1)))


def _contract(app, code):
    model = app.extensions["learning_contracts"].models.Contract
    return app.extensions["learning_contracts"].db.session.execute(
        sa.select(model).where(model.code == code)).scalar_one_or_none()


# ---------------------------------------------------------------------------------------------
# groups: the hook, through the services
# ---------------------------------------------------------------------------------------------
def test_services_accept_any_group_when_the_host_lists_none(app, make_contract):
    assert services.contract_groups() == []
    assert make_contract(group="Anything at all").group == "Anything at all"


def test_services_refuse_a_group_the_host_does_not_list(app, groups, make_contract):
    with pytest.raises(errors.ValidationError) as refused:
        make_contract(group="initech")
    assert refused.value.field == "group"
    assert "Choose one of the listed groups" in str(refused.value)
    contract = make_contract(group="acme")
    assert contract.group == "acme" and services.group_label("acme") == "Acme Corp"
    with pytest.raises(errors.ValidationError):
        services.update_contract(contract, group="initech")
    assert services.update_contract(contract, group="").group is None  # the group stays optional


def test_a_group_set_before_the_host_listed_its_groups_is_kept_until_changed(app, rules, make_contract):
    contract = make_contract(group="Legacy team")
    rules.groups = lambda: GROUPS
    services.update_contract(contract, group="Legacy team", title="Renamed")  # saving the form keeps it
    assert contract.group == "Legacy team"
    services.update_contract(contract, group="globex")
    with pytest.raises(errors.ValidationError):
        services.update_contract(contract, group="Legacy team")  # once changed, only listed groups


# ---------------------------------------------------------------------------------------------
# groups: the picker and the list filter
# ---------------------------------------------------------------------------------------------
def test_without_groups_the_form_keeps_a_free_text_group(app, as_manager):
    html = as_manager.get(url("new/")).get_data(as_text=True)
    assert re.search(r'<input[^>]*name="group"', html) and '<select id="group"' not in html


def test_the_form_offers_the_hosts_groups_with_an_empty_choice(app, groups, as_manager):
    html = as_manager.get(url("new/")).get_data(as_text=True)
    select = re.search(r'<select id="group" name="group".*?</select>', html, re.DOTALL).group(0)
    options = re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select)
    assert options == [("", "No group"), ("acme", "Acme Corp"), ("globex", "Globex Inc.")]
    assert '<label for="group"' in html


def test_the_form_refuses_a_group_not_in_the_list_next_to_the_field(app, groups, as_manager):
    response = post_form(as_manager, url("new/"), data={**GOOD, "group": "initech"})
    assert response.status_code == 200
    assert field_errors(response, "group") == ["Choose one of the listed groups."]
    assert _contract(app, "ACME-1") is None
    response = post_form(as_manager, url("new/"), data={**GOOD, "group": "globex"})
    assert response.status_code == 302
    contract = _contract(app, "ACME-1")
    assert contract.group == "globex"
    assert "Group Globex Inc." in text(as_manager.get(url(f"{contract.id}/")))


def test_editing_shows_a_legacy_group_as_an_option_and_keeps_it(app, rules, make_contract, as_manager):
    contract = make_contract(group="Legacy team")
    rules.groups = lambda: GROUPS
    html = as_manager.get(url(f"edit/?id={contract.id}")).get_data(as_text=True)
    assert '<option value="Legacy team" selected>Legacy team (not one of the listed groups)</option>' in html


def test_the_contract_list_filters_by_group_with_labels(app, groups, make_contract, as_manager):
    make_contract(code="A-1", title="First Acme", group="acme")
    make_contract(code="G-1", title="Only Globex", group="globex")
    make_contract(code="N-1", title="No group at all")
    html = as_manager.get(url()).get_data(as_text=True)
    assert '"Group"' in html or ">Group<" in html
    group = _filters(html)["Group"][0]
    assert group["options"] == [["acme", "Acme Corp"], ["globex", "Globex Inc."]]
    arg = group["arg"]
    page = text(as_manager.get(url(f"?flt0_{arg}=acme")))
    assert "First Acme" in page and "Only Globex" not in page and "No group at all" not in page
    assert "A-1 First Acme Acme Corp Voucher" in page  # the Group column shows the label
    page = text(as_manager.get(url(f"?flt0_{arg}=nobody")))  # not a listed group: ignored, never a 500
    assert "Only Globex" in page


def test_without_groups_the_list_filters_by_group_text(app, make_contract, as_manager):
    make_contract(code="A-1", title="First Acme", group="Acme team")
    make_contract(code="G-1", title="Only Globex", group="Globex")
    html = as_manager.get(url()).get_data(as_text=True)
    group = _filters(html)["Group"][0]
    assert group["options"] is None and group["operation"] == "contains"
    arg = group["arg"]
    page = text(as_manager.get(url(f"?flt0_{arg}=acme")))
    assert "First Acme" in page and "Only Globex" not in page


# ---------------------------------------------------------------------------------------------
# every error at once
# ---------------------------------------------------------------------------------------------
def test_services_report_every_wrong_field_at_once(app, make_contract):
    make_contract(code="TAKEN")
    with pytest.raises(errors.InvalidFields) as refused:
        services.create_contract(code="taken", title="", contract_type="voucher", seats=-1,
                                 valid_from=dt.date(2026, 6, 1), valid_until=dt.date(2026, 5, 1))
    assert sorted(e.field for e in refused.value.errors) == ["code", "seats", "title", "valid_until"]
    assert isinstance(refused.value, errors.ValidationError)  # callers catching one error still do


def test_one_wrong_field_is_still_a_plain_validation_error(app, make_contract):
    with pytest.raises(errors.ValidationError) as refused:
        make_contract(seats=-1)
    assert not isinstance(refused.value, errors.InvalidFields) and refused.value.field == "seats"


def test_the_create_form_shows_every_error_after_one_submit(app, make_contract, as_manager):
    make_contract(code="TAKEN")
    response = post_form(as_manager, url("new/"), data={
        **GOOD, "code": "taken", "seats": "-1", "valid_from": "2026-06-01", "valid_until": "2026-05-01"})
    assert response.status_code == 200
    assert field_errors(response, "seats") == ["Enter a number from 0 to 10,000,000."]
    assert field_errors(response, "valid_until") == ["The end date must be on or after the start date."]
    assert field_errors(response, "code") == ["Another contract already uses the code taken. Choose a different code."]
    assert "The contract was not saved: correct 3 problems." in text(response)


def test_a_value_the_form_cannot_read_does_not_hide_the_other_errors(app, make_contract, as_manager):
    make_contract(code="TAKEN")
    response = post_form(as_manager, url("new/"), data={
        **GOOD, "code": "TAKEN", "title": "", "seats": "-1", "valid_from": "not a date"})
    assert field_errors(response, "valid_from")  # WTForms could not read it
    assert field_errors(response, "seats") == ["Enter a number from 0 to 10,000,000."]
    assert field_errors(response, "code") == ["Another contract already uses the code TAKEN. Choose a different code."]
    assert field_errors(response, "title")
    assert "correct 4 problems" in text(response)


def test_the_edit_form_shows_every_error_with_seats_below_used(app, make_contract, make_course, make_user,
                                                               as_manager):
    course = make_course("Safety")
    contract = make_contract(code="EDIT-1", seats=2, activities=[course], require_invitation_code=False)
    make_contract(code="TAKEN")
    learner_ = make_user()
    invite_one(contract, learner_)
    services.enroll(learner_, contract, course)
    response = post_form(as_manager, url(f"edit/?id={contract.id}"), data={
        **GOOD, "code": "TAKEN", "seats": "0", "valid_from": "2026-06-01", "valid_until": "2026-05-01"})
    assert field_errors(response, "seats") == ["Seats cannot be lower than the 1 seat already used."]
    assert field_errors(response, "valid_until") == ["The end date must be on or after the start date."]
    assert field_errors(response, "code")
    assert "correct 3 problems" in text(response)
    assert _contract(app, "EDIT-1").seats == 2


def test_a_single_error_says_problem_in_the_singular(app, as_manager):
    response = post_form(as_manager, url("new/"), data={**GOOD, "seats": "-1"})
    assert "The contract was not saved: correct 1 problem." in text(response)


# ---------------------------------------------------------------------------------------------
# error pages
# ---------------------------------------------------------------------------------------------
def test_admin_404_is_styled_inside_the_admin_layout(app, as_manager):
    response = as_manager.get(url("999999/"))
    assert response.status_code == 404
    page = text(response)
    assert "Page not found" in page and "Error 404" in page
    assert "Go to the learning contracts" in page and "Administration" in page  # the admin menu is there
    assert "The requested URL was not found on the server" not in page


def test_admin_403_is_styled_for_a_signed_in_learner(app, learner, login_client):
    response = login_client(learner).get(url())
    assert response.status_code == 403
    page = text(response)
    assert "You are not allowed to see this page" in page and "Go to the learning contracts" not in page
    assert "Forbidden" not in page


def test_admin_400_is_styled(app, as_manager):
    response = as_manager.get(url("?search=a%00b"))
    assert response.status_code == 400
    assert "This request could not be understood" in text(response)


def test_the_hosts_own_404_pages_stay_untouched(app, as_manager):
    response = as_manager.get("/no-such-page-of-the-host")
    assert response.status_code == 404
    assert "Page not found" not in text(response) and "Not Found" in text(response)


def test_a_hosts_404_handler_still_answers_for_its_routes(tmp_path):
    from . import host
    from .conftest import database_url, reset_database

    app = host.create_app(database_url(tmp_path))

    @app.errorhandler(404)
    def host_not_found(error):
        return "the host's own 404", 404

    with app.app_context():
        reset_database(host.db)
        client = app.test_client()
        assert client.get("/missing").get_data(as_text=True) == "the host's own 404"
        host.db.session.remove()
        host.db.engine.dispose()


# ---------------------------------------------------------------------------------------------
# tabs, plurals, labels
# ---------------------------------------------------------------------------------------------
def _active_tabs(html):
    return re.findall(r'class="nav-link active"[^>]*>([^<]+)</a>', html)


def test_editing_highlights_no_tab_and_says_where_you_are(app, make_contract, as_manager):
    contract = make_contract(code="TAB-1")
    html = as_manager.get(url(f"{contract.id}/")).get_data(as_text=True)
    assert _active_tabs(html) == ["Overview"]
    html = as_manager.get(url(f"edit/?id={contract.id}")).get_data(as_text=True)
    assert _active_tabs(html) == []
    assert re.search(r'<li class="breadcrumb-item active" aria-current="page">Edit</li>', html)
    assert re.search(r'btn-primary active"[^>]*aria-current="page">Edit contract', html)
    html = as_manager.get(url(f"{contract.id}/delete")).get_data(as_text=True)
    assert _active_tabs(html) == []


def test_date_inputs_repeat_the_date_the_way_pages_show_it(app, make_contract, as_manager):
    contract = make_contract(code="DATE-1")
    response = as_manager.get(url(f"edit/?id={contract.id}"))
    html = response.get_data(as_text=True)
    assert 'type="date"' in html
    assert "Shown as 1 Jan 2026" in text(response) and "Shown as 31 Dec 2026" in text(response)
    assert "1 Jan 2026 – 31 Dec 2026" in text(response)  # the header says the same


@pytest.mark.parametrize(("seats", "expected"), [(1, "0 of 1 seat has been used."),
                                                 (2, "0 of 2 seats have been used.")])
def test_delete_confirmation_counts_in_words(app, make_contract, as_manager, seats, expected):
    contract = make_contract(seats=seats)
    page = text(as_manager.get(url(f"{contract.id}/delete")))
    assert expected in page
    assert "0 invitations (in every status) will be deleted." in page


@pytest.mark.parametrize(("courses", "expected"), [(1, "Added 1 activity to the contract."),
                                                   (2, "Added 2 activities to the contract.")])
def test_adding_activities_counts_in_words(app, make_contract, make_course, as_manager, courses, expected):
    contract = make_contract()
    ids = [str(make_course(f"Course {i}").id) for i in range(courses)]
    page = url(f"{contract.id}/activities/add")
    response = as_manager.post(page, data={"csrf_token": csrf_token(as_manager, page), "activity_ids": ids},
                               follow_redirects=True)
    assert expected in text(response)


def test_history_counts_in_words(app, make_contract, as_manager):
    one = make_contract(seats=1, contract_type=ContractType.SUBSCRIPTION)
    assert "with 1 seat." in text(as_manager.get(url(f"{one.id}/history")))


def test_not_registered_reads_the_same_everywhere(app, make_contract, make_course, make_user, as_manager):
    contract = make_contract(code="LBL-1", activities=[make_course("Safety")])
    services.invite(contract, emails=["nobody.yet@example.org"])
    admin = make_user("casey@example.com")
    services.add_contract_admin(contract, admin)
    pages = [text(as_manager.get(url(f"{contract.id}/invitations"))),
             text(as_manager.get(url(f"{contract.id}/")))]
    from .views_support import PREFIX, client_for
    pages.append(text(client_for(app, admin).get(f"{PREFIX}/manage/{contract.id}")))
    for page in pages:
        assert "Not registered" not in page
    assert "Not Registered" in pages[0] and "Not Registered" in pages[2]
