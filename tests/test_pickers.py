"""The pickers' search-as-you-type JSON endpoints (issue 15 item 13), through the Flask test client.

* ``…/invite/people.json`` in the admin panel and on the dashboard: the invite picker's people, through
  ``ContractRules.search_users_for`` like the page's own search (managers search freely, a contract admin finds
  one verified account by its exact address), at most 20 rows, a constant number of queries;
* ``…/admins/people.json`` (admin panel): users to add as contract admins, present admins disabled;
* ``…/activities/import/contracts.json`` (admin panel): the contracts to import from, by code or title.

Each answers GET/HEAD only and refuses whoever may not open its page (403 admin panel, 404 dashboard).
"""
from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa

from flask_learning_contracts import ContractType, services

from . import host
from .views_support import PREFIX, client_for, count_queries

ADMIN = "/admin/learning-contracts"
MANAGE = PREFIX + "/manage"


@pytest.fixture
def boss(make_user):
    return make_user("boss@example.com", manager=True, name="Bea Boss")


@pytest.fixture
def casey(make_user):
    return make_user("casey@example.com", name="Casey Contracts")


@pytest.fixture
def contract(make_contract, make_course, casey):
    contract = make_contract(ContractType.SUBSCRIPTION, activities=[make_course("Safety")], code="ACME-1",
                             title="Acme safety")
    services.add_contract_admin(contract, casey)
    return contract


def _people(db, n, prefix="pat"):
    db.session.execute(sa.insert(host.Account.__table__), [
        {"email_address": f"{prefix}{i:03d}@example.com", "name": f"Pat {prefix} {i:03d}", "is_manager": False}
        for i in range(n)])
    db.session.commit()


def _json(client, url):
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_json()


def invite_search(side, contract):
    return f"{ADMIN}/{contract.id}/invite/people.json" if side == "admin" else f"{MANAGE}/{contract.id}/invite/people.json"


# -- the invite picker ----------------------------------------------------------------------------------
@pytest.mark.parametrize("side", ["admin", "dashboard"])
def test_a_manager_finds_people_by_part_of_the_address_at_most_twenty(app, db, boss, contract, side):
    _people(db, 30)
    data = _json(client_for(app, boss), invite_search(side, contract) + "?q=PAT0")
    assert data["query"] == "PAT0"
    assert len(data["results"]) == 20
    first = data["results"][0]
    assert first["email"] == "pat000@example.com" and first["name"] == "Pat pat 000"
    # the admin panel picks account ids, the dashboard addresses: the same values the page's checkboxes post
    pat = db.session.execute(sa.select(host.Account).where(host.Account.email_address == "pat000@example.com")
                             ).scalar_one()
    assert first["value"] == (str(pat.id) if side == "admin" else "pat000@example.com")


def test_a_contract_admin_finds_only_a_verified_account_by_its_exact_address(app, db, rules, casey, contract,
                                                                             monkeypatch):
    _people(db, 5)
    client = client_for(app, casey)
    url = invite_search("dashboard", contract)
    assert [r["email"] for r in _json(client, url + "?q=pat")["results"]] == []
    assert [r["email"] for r in _json(client, url + "?q=example.com")["results"]] == []
    assert [r["email"] for r in _json(client, url + "?q=pat003@example.com")["results"]] == ["pat003@example.com"]
    monkeypatch.setattr(rules, "email_verified", lambda user: user.email_address != "pat003@example.com")
    rows = _json(client, url + "?q=pat003@example.com")["results"]
    # not the unverified account: only the typed address itself, invited as Not Registered
    assert [(r["value"], r["name"], r["email"]) for r in rows] == [("pat003@example.com", "pat003@example.com", "")]
    assert "no account yet" in rows[0]["note"]


def test_the_dashboard_needs_two_characters_and_an_empty_query_finds_nobody(app, db, boss, contract):
    _people(db, 3)
    client = client_for(app, boss)
    url = invite_search("dashboard", contract)
    assert _json(client, url)["results"] == []
    assert _json(client, url + "?q=p")["results"] == []
    assert len(_json(client, url + "?q=pa")["results"]) == 3


@pytest.mark.parametrize("side", ["admin", "dashboard"])
def test_the_invite_search_is_refused_to_learners_and_other_contracts_admins(app, db, make_user, make_contract,
                                                                            contract, side):
    _people(db, 3)
    learner = make_user("lee@example.com")
    other_admin = make_user("olga@example.com")
    services.add_contract_admin(make_contract(code="OTHER"), other_admin)
    refused = 403 if side == "admin" else 404
    for user in (learner, other_admin):
        response = client_for(app, user).get(invite_search(side, contract) + "?q=pat001@example.com")
        assert response.status_code == refused, (user.email_address, response.status_code)
        assert b"pat001" not in response.data


def test_the_admin_panel_search_is_refused_to_a_contract_admin(app, db, casey, contract):
    response = client_for(app, casey).get(invite_search("admin", contract) + "?q=casey@example.com")
    assert response.status_code == 403


@pytest.mark.parametrize("side", ["admin", "dashboard"])
def test_an_unknown_contract_is_404(app, boss, side):
    base = ADMIN if side == "admin" else MANAGE
    assert client_for(app, boss).get(f"{base}/999999/invite/people.json?q=pat").status_code == 404


@pytest.mark.parametrize("side", ["admin", "dashboard"])
def test_the_invite_search_answers_get_and_head_only(app, boss, contract, side):
    client = client_for(app, boss)
    url = invite_search(side, contract) + "?q=pat"
    assert client.head(url).status_code == 200
    for method in (client.post, client.put, client.delete):
        assert method(url).status_code == 405


@pytest.mark.parametrize("side", ["admin", "dashboard"])
def test_the_invite_search_costs_the_same_queries_for_2_and_200_people(app, db, boss, contract, side):
    client = client_for(app, boss)
    url = invite_search(side, contract) + "?q=pat"
    _people(db, 2, "pat")
    client.get(url)  # warm the login and caches
    db.session.expire_all()
    with count_queries(db) as few:
        assert len(_json(client, url)["results"]) == 2
    _people(db, 198, "patb")
    db.session.expire_all()
    with count_queries(db) as many:
        assert len(_json(client, url)["results"]) == 20
    assert len(few) == len(many), (few, many)


def test_nobody_is_found_while_the_contract_cannot_invite(app, db, boss, make_contract, make_course, rules):
    import datetime as dt
    ended = make_contract(ContractType.SUBSCRIPTION, valid_from=dt.date(2020, 1, 1), valid_until=dt.date(2020, 2, 1))
    _people(db, 3)
    assert _json(client_for(app, boss), invite_search("admin", ended) + "?q=pat")["results"] == []


def test_the_invite_page_wires_the_picker_and_ships_the_script(app, db, boss, casey, contract):
    for client, page in ((client_for(app, boss), f"{ADMIN}/{contract.id}/invite"),
                         (client_for(app, casey), f"{MANAGE}/{contract.id}/invite")):
        html = client.get(page).get_data(as_text=True)
        source = re.search(r'data-lc-source="([^"]+)"', html).group(1)
        assert source.endswith(f"/{contract.id}/invite/people.json")
        assert 'data-lc-picker="pick"' in html and 'id="lc-picked"' in html
        script = re.search(r'<script src="([^"]+picker\.js)"', html).group(1)
        response = client.get(script)
        assert response.status_code == 200 and b'role", "combobox"' in response.data
        # without the script the page still searches on submit
        assert 'name="q" type="search"' in html


# -- the contract-admin picker -----------------------------------------------------------------------
def test_the_contract_admin_picker_finds_users_and_marks_present_admins(app, db, boss, casey, contract):
    _people(db, 25)
    client = client_for(app, boss)
    url = f"{ADMIN}/{contract.id}/admins/people.json"
    rows = _json(client, url + "?q=example.com")["results"]
    assert len(rows) == 20
    rows = _json(client, url + "?q=casey")["results"]
    assert [(r["value"], r["email"], r["disabled"]) for r in rows] == [(str(casey.id), "casey@example.com", True)]
    assert rows[0]["note"] == "already a contract admin"
    rows = _json(client, url + "?q=pat001")["results"]
    assert [(r["email"], r["disabled"]) for r in rows] == [("pat001@example.com", False)]


def test_the_contract_admin_picker_is_managers_only_and_get_only(app, db, make_user, casey, boss, contract):
    url = f"{ADMIN}/{contract.id}/admins/people.json?q=casey"
    for user in (make_user("lee@example.com"), casey):
        assert client_for(app, user).get(url).status_code == 403
    assert client_for(app, boss).post(url).status_code == 405
    assert client_for(app, boss).head(url).status_code == 200


def test_the_contract_page_wires_the_admin_picker_to_a_csrf_protected_add_form(app, boss, contract):
    html = client_for(app, boss).get(f"{ADMIN}/{contract.id}/").get_data(as_text=True)
    form = re.search(r'<form method="post" action="([^"]+)" id="lc-add-admin" hidden>(.*?)</form>', html, re.S)
    assert form.group(1).endswith(f"/{contract.id}/admins/add")
    assert 'name="csrf_token"' in form.group(2) and 'name="user_id"' in form.group(2)
    assert 'data-lc-picker="submit"' in html and f"/{contract.id}/admins/people.json" in html


def test_the_contract_admin_picker_costs_the_same_queries_for_2_and_200_users(app, db, boss, contract):
    client = client_for(app, boss)
    url = f"{ADMIN}/{contract.id}/admins/people.json?q=pat"
    _people(db, 2, "pat")
    client.get(url)
    db.session.expire_all()
    with count_queries(db) as few:
        assert len(_json(client, url)["results"]) == 2
    _people(db, 198, "patb")
    db.session.expire_all()
    with count_queries(db) as many:
        assert len(_json(client, url)["results"]) == 20
    assert len(few) == len(many), (few, many)


# -- the import chooser ------------------------------------------------------------------------------
@pytest.fixture
def many_contracts(make_contract):
    return [make_contract(code=f"IMP-{i:03d}", title=f"Import source {i:03d}") for i in range(45)]


def test_the_import_search_finds_contracts_by_code_or_title_but_never_the_contract_itself(app, boss, contract,
                                                                                          many_contracts):
    client = client_for(app, boss)
    url = f"{ADMIN}/{contract.id}/activities/import/contracts.json"
    rows = _json(client, url + "?q=imp-00")["results"]
    assert [r["email"] for r in rows] == [f"IMP-00{i}" for i in range(10)]
    assert rows[0]["name"] == "Import source 000"
    assert rows[0]["url"].endswith(f"/{contract.id}/activities/import?source={many_contracts[0].id}")
    assert [r["email"] for r in _json(client, url + "?q=SOURCE 044")["results"]] == ["IMP-044"]
    assert len(_json(client, url + "?q=import")["results"]) == 20
    assert _json(client, url + "?q=acme")["results"] == []  # the contract itself is not a source
    assert client.post(url).status_code == 405


def test_the_import_search_is_managers_only(app, make_user, casey, contract):
    url = f"{ADMIN}/{contract.id}/activities/import/contracts.json?q=imp"
    for user in (make_user("lee@example.com"), casey):
        assert client_for(app, user).get(url).status_code == 403


def test_the_import_page_lists_twenty_and_searches_without_script(app, boss, contract, many_contracts):
    client = client_for(app, boss)
    page = f"{ADMIN}/{contract.id}/activities/import"
    html = client.get(page).get_data(as_text=True)
    assert "<select" not in html
    listed = re.findall(r'source=(\d+)', html.split('lc-import-sources')[1].split("</ul>")[0])
    assert len(listed) == 20
    assert "Showing 20 of 45 contracts" in html
    html = client.get(page + "?find=source+03").get_data(as_text=True)
    listed = re.findall(r'>Import source (\d+)</a>', html)
    assert listed == [f"03{i}" for i in range(10)]
    assert "Showing" not in html
    html = client.get(page + "?find=nothing-like-it").get_data(as_text=True)
    assert "No contract matches" in html
    # a chosen source is previewed, also one beyond the first twenty, and its import still works
    late = many_contracts[-1]
    html = client.get(page + f"?source={late.id}").get_data(as_text=True)
    assert "What importing from Import source 044 (IMP-044) adds" in html
    assert client.get(page + f"?source={contract.id}").status_code == 200
    assert "What importing from" not in client.get(page + f"?source={contract.id}").get_data(as_text=True)
    assert "What importing from" not in client.get(page + "?source=abc").get_data(as_text=True)


def test_importing_from_a_searched_contract_adds_its_activities(app, db, boss, make_contract, make_course, contract):
    source = make_contract(code="SRC-9", title="Source nine", activities=[make_course("Fire drill")])
    client = client_for(app, boss)
    page = f"{ADMIN}/{contract.id}/activities/import"
    html = client.get(page + f"?source={source.id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    response = client.post(page, data={"csrf_token": token, "source_contract": str(source.id)})
    assert response.status_code == 302
    db.session.expire_all()
    assert len(services.get_contract(contract.id).activities) == 2



def test_importing_twice_a_double_click_says_nothing_was_left_to_import(app, db, boss, make_contract, make_course,
                                                                        contract):
    """The second POST of a double click imports nothing: it must not add "Imported 0 activities" under the
    first one's "Imported 1 activity"."""
    source = make_contract(code="SRC-9", title="Source nine", activities=[make_course("Fire drill")])
    client = client_for(app, boss)
    page = f"{ADMIN}/{contract.id}/activities/import"
    html = client.get(page + f"?source={source.id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    for _click in range(2):
        assert client.post(page, data={"csrf_token": token, "source_contract": str(source.id)}).status_code == 302
    shown = " ".join(re.sub(r"<[^>]+>", " ", client.get(f"{ADMIN}/{contract.id}/activities").get_data(as_text=True)).split())

    assert "Imported 1 activity from SRC-9." in shown and "Imported 0" not in shown
    assert "Every activity of SRC-9 is already in this contract." in shown
    db.session.expire_all()
    assert len(services.get_contract(contract.id).activities) == 2


# -- a refused submit keeps the people picked ---------------------------------------------------------
@pytest.mark.parametrize("side", ["admin", "dashboard"])
def test_a_refused_submit_shows_the_picked_people_again(app, db, boss, casey, contract, side):
    _people(db, 3)
    pat = db.session.execute(sa.select(host.Account).where(host.Account.email_address == "pat001@example.com")
                             ).scalar_one()
    client = client_for(app, boss if side == "admin" else casey)
    page = f"{ADMIN}/{contract.id}/invite" if side == "admin" else f"{MANAGE}/{contract.id}/invite"
    html = client.get(page).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    run = re.search(r'name="run" value="([^"]+)"', html).group(1)
    field, value = ("user_ids", str(pat.id)) if side == "admin" else ("people", "pat001@example.com")
    response = client.post(page, data={"csrf_token": token, "run": run, field: [value, "oops"],
                                       "file": (io.BytesIO(b"email\n"), "people.csv")},
                           content_type="multipart/form-data")  # a header-only file: refused, nothing sent
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    picked = re.search(r'<ul class="[^"]*" id="lc-picked"[^>]*>(.*?)</ul>', html, re.S).group(1)
    assert f'name="{field}" value="{value}" checked' in picked
    assert "pat001@example.com" in picked
    assert 'id="lc-picked-wrap" hidden' not in html
