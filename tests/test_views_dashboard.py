"""Contract-admin dashboard: the contract list, code, title, inviting, the invitations list and its actions."""
from __future__ import annotations

import datetime as dt
import io
import re

import pytest

from flask_learning_contracts import ContractType, InvitationStatus, services
from flask_learning_contracts.codes import format_code

from .views_support import PREFIX, client_for, count_queries, text, token

MANAGE = PREFIX + "/manage"


@pytest.fixture
def courses(make_course):
    return [make_course("Safety Basics"), make_course("Leadership Lab", kind="ilt")]


@pytest.fixture
def admin(make_user):
    return make_user("casey@example.com", name="Casey Contracts")


@pytest.fixture
def contract(make_contract, admin, courses):
    contract = make_contract(title="Acme training", activities=courses, seats=20)
    services.add_contract_admin(contract, admin)
    return contract


@pytest.fixture
def client(app, admin):
    return client_for(app, admin)


def fresh(db, obj):
    db.session.expire_all()
    return db.session.get(type(obj), obj.id)


# ---------------------------------------------------------------------------------------------
# who may see what
# ---------------------------------------------------------------------------------------------
def test_permissions_on_dashboard_and_contract_pages(app, make_user, make_contract, contract, admin):
    learner, manager, other_admin = make_user(), make_user(manager=True), make_user()
    other = make_contract(title="Other organisation")
    services.add_contract_admin(other, other_admin)
    pages = [f"{MANAGE}/{contract.id}", f"{MANAGE}/{contract.id}/invite", f"{MANAGE}/{contract.id}/code"]

    assert client_for(app).get(MANAGE + "/").status_code == 401
    assert client_for(app, learner).get(MANAGE + "/").status_code == 403
    assert "not named as an admin" in text(client_for(app, learner).get(MANAGE + "/"))
    for url in pages:
        assert client_for(app, learner).get(url).status_code == 404
        assert client_for(app, other_admin).get(url).status_code == 404
        assert client_for(app, admin).get(url).status_code == 200
        assert client_for(app, manager).get(url).status_code == 200
    assert client_for(app, admin).get(f"{MANAGE}/{other.id}").status_code == 404
    assert client_for(app, admin).get(f"{MANAGE}/424242").status_code == 404
    assert client_for(app, manager).get(MANAGE + "/").status_code == 200


def test_posts_by_someone_elses_admin_are_not_found_and_change_nothing(app, db, make_user, contract):
    intruder = make_user()
    client = client_for(app, intruder)
    csrf = token(client)

    assert client.post(f"{MANAGE}/{contract.id}/title", data={"title": "Hacked", "csrf_token": csrf}).status_code == 404
    assert client.post(f"{MANAGE}/{contract.id}/code", data={"csrf_token": csrf}).status_code == 404
    code = contract.invitation_code
    assert fresh(db, contract).title == "Acme training" and fresh(db, contract).invitation_code == code


def test_dashboard_groups_contracts_active_expired_future_with_seats_and_chart(app, make_contract, admin,
                                                                                contract, make_user, courses):
    expired = make_contract(title="Last year", valid_from=dt.date(2025, 1, 1), valid_until=dt.date(2025, 12, 31),
                            seats=7)
    future = make_contract(ContractType.SUBSCRIPTION, title="Next year", valid_from=dt.date(2027, 1, 1),
                           valid_until=dt.date(2027, 12, 31))
    for c in (expired, future):
        services.add_contract_admin(c, admin)
    services.invite(contract, users=[make_user(), make_user()], emails=["nobody@example.com"])

    page = text(client_for(app, admin).get(MANAGE + "/"))

    active_at, expired_at, future_at = (page.index(f'id="lc-group-{s}"') for s in ("active", "expired", "future"))
    assert active_at < page.index("Acme training") < expired_at < page.index("Last year") < future_at
    assert page.index("Next year") > future_at
    assert "Valid until 31 Dec 2026" in page and "Expired on 31 Dec 2025" in page
    assert "Starts on 1 Jan 2027" in page
    assert "Voucher" in page and "Subscription" in page
    assert "Expired unused" in page
    assert page.count("<svg") == 3
    assert 'aria-label="Invitations by status: Outstanding 2, Accepted 0, Enrolled 0, Not Registered 1, Revoked 0"' in page


# ---------------------------------------------------------------------------------------------
# the contract page: code and title
# ---------------------------------------------------------------------------------------------
def test_contract_page_shows_the_code_for_copying_and_the_seats(client, contract):
    page = text(client.get(f"{MANAGE}/{contract.id}"))

    assert format_code(contract.invitation_code) in page
    assert "data-lc-copy" in page and "Copy code" in page
    assert "Regenerate code" in page
    assert "Nobody has been invited yet." in page


def test_regenerate_code_asks_for_confirmation_then_replaces_the_code(client, db, contract):
    old = contract.invitation_code
    confirm = text(client.get(f"{MANAGE}/{contract.id}/code"))
    assert "stops working at once" in confirm and format_code(old) in confirm
    assert fresh(db, contract).invitation_code == old

    response = client.post(f"{MANAGE}/{contract.id}/code", data={"csrf_token": token(client)}, follow_redirects=True)

    new = fresh(db, contract).invitation_code
    assert new != old
    assert format_code(new) in text(response) and "previous code no longer works" in text(response)


def test_edit_title(client, db, contract):
    response = client.post(f"{MANAGE}/{contract.id}/title", data={"title": "Acme 2026", "csrf_token": token(client)},
                           follow_redirects=True)
    assert "Title saved." in text(response)
    assert fresh(db, contract).title == "Acme 2026"

    empty = client.post(f"{MANAGE}/{contract.id}/title", data={"title": "  ", "csrf_token": token(client)},
                        follow_redirects=True)
    assert "Enter a title learners will see." in text(empty)
    assert fresh(db, contract).title == "Acme 2026"


def test_missing_csrf_token_is_400_and_changes_nothing(client, db, contract, make_user):
    invitation_report = services.invite(contract, users=[make_user()])
    iid = invitation_report.invited[0].invitation_id
    old_code = contract.invitation_code

    for url, data in [
        (f"{MANAGE}/{contract.id}/title", {"title": "Changed"}),
        (f"{MANAGE}/{contract.id}/code", {}),
        (f"{MANAGE}/{contract.id}/invite", {"emails": "someone@example.com"}),
        (f"{MANAGE}/{contract.id}/invitations/{iid}/revoke", {}),
        (f"{MANAGE}/{contract.id}/invitations/{iid}/resend", {}),
    ]:
        assert client.post(url, data=data).status_code == 400, url

    contract = fresh(db, contract)
    assert contract.title == "Acme training" and contract.invitation_code == old_code
    assert services.seat_summary(contract).by_status[InvitationStatus.OUTSTANDING] == 1
    assert services.seat_summary(contract).by_status[InvitationStatus.NOT_REGISTERED] == 0


# ---------------------------------------------------------------------------------------------
# inviting
# ---------------------------------------------------------------------------------------------
def test_user_search_lists_only_matches_never_everyone(app, contract, make_user):
    manager = client_for(app, make_user("boss@example.com", manager=True))
    make_user("zoe.match@example.com")
    make_user("yann.match@example.com")
    make_user("unrelated@example.com")

    assert "zoe.match@example.com" not in text(manager.get(f"{MANAGE}/{contract.id}/invite"))
    assert "zoe.match" not in text(manager.get(f"{MANAGE}/{contract.id}/invite?q=z"))  # too short
    page = text(manager.get(f"{MANAGE}/{contract.id}/invite?q=MATCH"))
    assert "zoe.match@example.com" in page and "yann.match@example.com" in page
    assert "unrelated@example.com" not in page
    assert "Nobody matches" in text(manager.get(f"{MANAGE}/{contract.id}/invite?q=qqqq"))


def test_a_contract_admin_finds_only_the_exact_email_address_they_type(app, client, contract, make_user,
                                                                      make_contract):
    """A contract admin of one contract searching ``@e`` used to see every user of the LMS, other customers'
    admins and learners included. By default they find one person, by the full address, and nobody else."""
    other = make_contract(title="Another customer")
    their_admin = make_user("rival.admin@other.example", name="Rita Rival")
    services.add_contract_admin(other, their_admin)
    make_user("zoe.match@example.com", name="Zoe Match")
    make_user("yann.match@example.com", name="Yann Match")

    for query in ("@e", "example", "match", "Rita", "rival", "@other.example", "zoe.match", "%", "_@%"):
        page = text(client.get(f"{MANAGE}/{contract.id}/invite", query_string={"q": query}))
        assert "Zoe Match" not in page and "Yann Match" not in page and "Rita Rival" not in page, query
        assert "@example.com" not in page.replace("casey@example.com", ""), query

    exact = text(client.get(f"{MANAGE}/{contract.id}/invite", query_string={"q": " Zoe.Match@Example.com "}))
    assert "Zoe Match" in exact and "zoe.match@example.com" in exact and "Yann Match" not in exact
    assert "Type the full e-mail address of the learner" in exact


def _step1(client, contract, data=None, query=""):
    """POST step 1 of inviting (with the page's CSRF and run tokens); returns the response."""
    page = text(client.get(f"{MANAGE}/{contract.id}/invite{query}"))
    payload = {"csrf_token": re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1),
               "run": re.search(r'name="run" value="([^"]+)"', page).group(1), **(data or {})}
    return client.post(f"{MANAGE}/{contract.id}/invite", data=payload, content_type="multipart/form-data")


def _activities(client, contract, posted, activities):
    """Step 2 (Voucher): send the activities chosen, follow to the report."""
    assert posted.status_code == 302, text(posted)[:300]
    sent = client.post(posted.headers["Location"], data={"csrf_token": token(client),
                                                         "activity_ids": [str(a.id) for a in activities]})
    assert sent.status_code == 302, text(sent)[:300]
    return client.get(sent.headers["Location"])


def _rows(response):
    """(line, e-mail, outcome) of each report row."""
    body = text(response).split("<tbody>")[1].split("</tbody>")[0]
    return [(cells[0], cells[2], re.sub(r"<[^>]+>", "", cells[3]))
            for cells in (re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in re.findall(r"<tr>(.*?)</tr>",
                                                                                            body, re.S))]


def test_a_typed_address_without_an_account_can_still_be_invited(app, db, client, contract, courses):
    page = text(client.get(f"{MANAGE}/{contract.id}/invite", query_string={"q": "newcomer@example.com"}))
    assert 'name="people" value="newcomer@example.com"' in page

    response = _activities(client, contract, _step1(client, contract, {"people": ["newcomer@example.com"]}),
                           courses[:1])

    assert response.status_code == 200 and "Not Registered</span>" in text(response)
    assert services.seat_summary(fresh(db, contract)).by_status[InvitationStatus.NOT_REGISTERED] == 1


def test_what_a_picker_reveals_is_the_hosts_decision(app, rules, client, contract, make_user, monkeypatch):
    """``ContractRules.search_users_for(actor, text, contract=, limit=)`` decides; a host that overrode the older
    ``search_users(text, limit)`` keeps working: managers' pickers still call it."""
    make_user("zoe.match@example.com", name="Zoe Match")
    manager_user = make_user("boss@example.com", manager=True)
    found_by_host = make_user("found.by.host@example.com", name="Found By Host")
    calls = []

    def old_style_search(text, limit=20):  # a host's override written for the old signature
        calls.append((text, limit))
        return [found_by_host]

    monkeypatch.setattr(rules, "search_users", old_style_search)
    manager_page = text(client_for(app, manager_user).get(f"{MANAGE}/{contract.id}/invite?q=anything"))
    admin_page = text(client_for(app, manager_user).get(f"/admin/learning-contracts/{contract.id}/invite?q=x"))
    assert "Found By Host" in manager_page and "Found By Host" in admin_page
    assert calls == [("anything", 20), ("x", 20)]
    assert "Found By Host" not in text(client.get(f"{MANAGE}/{contract.id}/invite?q=anything"))  # contract admin

    colleague = make_user("colleague@example.com", name="A Colleague")
    seen = []

    def organisation_search(actor, text, *, contract=None, limit=20):
        seen.append((actor.email_address, text, contract.id, limit))
        return [colleague]

    monkeypatch.setattr(rules, "search_users_for", organisation_search)
    assert "A Colleague" in text(client.get(f"{MANAGE}/{contract.id}/invite?q=coll"))
    assert seen == [("casey@example.com", "coll", contract.id, 20)]


def test_invite_selected_users_with_the_voucher_activity_step(client, db, contract, courses, make_user):
    zoe = make_user("zoe@example.com")
    page = text(client.get(f"{MANAGE}/{contract.id}/invite?q=zoe@example.com"))
    assert "Continue to activities" in page and "Step 1 of 2" in page

    posted = _step1(client, contract, {"people": ["zoe@example.com", "ghost@example.com"]})
    assert "Leadership Lab" in text(client.get(posted.headers["Location"]))
    result = text(_activities(client, contract, posted, courses[1:]))

    assert "Invited</span>" in result and "Not Registered</span>" in result
    invitation = services.invitations_for(zoe)[0]
    assert [c.id for c in invitation.activities] == [courses[1].id]


def test_invite_needs_at_least_one_activity_and_one_learner(client, db, contract, make_user):
    make_user("zoe@example.com")
    posted = _step1(client, contract, {"people": ["zoe@example.com"]})
    none_chosen = client.post(posted.headers["Location"], data={"csrf_token": token(client)})
    assert none_chosen.status_code == 400 and "Choose at least one activity" in text(none_chosen)
    nobody = _step1(client, contract)
    assert nobody.status_code == 400 and "Nobody to invite yet" in text(nobody)
    assert services.seat_summary(contract).by_status[InvitationStatus.OUTSTANDING] == 0


def test_subscription_and_single_activity_contracts_skip_the_activity_step(client, make_contract, admin, courses):
    sub = make_contract(ContractType.SUBSCRIPTION, activities=courses)
    single = make_contract(activities=courses[:1])
    for c in (sub, single):
        services.add_contract_admin(c, admin)
        page = text(client.get(f"{MANAGE}/{c.id}/invite"))
        assert "Continue to activities" not in page and "Send invitations" in page


def test_csv_upload_reports_each_line(client, db, contract, make_user):
    make_user("known@example.com")
    make_user("already@example.com")
    services.invite(contract, emails=["already@example.com"])
    csv = "\ufeffEmail\nKnown@Example.com\n\nnot-an-email\nalready@example.com\nnew.person@example.org\nknown@example.com\n"

    response = _activities(client, contract, _step1(client, contract, {
        "file": (io.BytesIO(csv.encode()), "people.csv")}), contract.activities)

    assert response.status_code == 200
    assert _rows(response) == [("2", "known@example.com", "Invited"), ("4", "not-an-email", "Invalid"),
                               ("5", "already@example.com", "Already invited"),
                               ("6", "new.person@example.org", "Not Registered"),
                               ("7", "known@example.com", "Already invited")]


@pytest.mark.parametrize("lines", [
    [f"twice{i}@example.org" for i in range(500)] * 2,  # the same 500 addresses pasted twice
    ["one@example.org"] * 1001,  # one address on 1,001 lines
], ids=["500-twice", "one-address-1001-lines"])
def test_csv_upload_of_repeated_addresses_reports_the_duplicates(client, contract, lines):
    """Issue 14, item 2: a later 500-line batch of addresses already seen was a 500 (IndexError)."""
    response = _activities(client, contract, _step1(client, contract, {
        "file": (io.BytesIO("\n".join(lines).encode()), "people.csv")}), contract.activities)

    assert response.status_code == 200
    unique = len(set(lines))
    shown, page, report = _rows(response), 1, response.request.full_path
    while "Next →" in text(response):  # the report is shown a page at a time
        page += 1
        response = client.get(f"{report}&page={page}")
        shown += _rows(response)
    assert shown == [(str(n), email, "Not Registered" if n <= unique else "Already invited")
                     for n, email in enumerate(lines, start=1)]
    assert services.seat_summary(contract).by_status[InvitationStatus.NOT_REGISTERED] == unique


def test_csv_that_is_not_text_is_refused_with_a_message(client, contract):
    response = _step1(client, contract, {"file": (io.BytesIO(b"\x00\x01\x02binary"), "photo.csv")})
    assert response.status_code == 400 and "does not look like a CSV text file" in text(response)
    assert services.seat_summary(contract).by_status[InvitationStatus.OUTSTANDING] == 0


# ---------------------------------------------------------------------------------------------
# the invitations list and its actions
# ---------------------------------------------------------------------------------------------
def test_invitations_list_search_filter_and_pages(app, client, contract, make_user):
    app.config["LEARNING_CONTRACTS_PAGE_SIZE"] = 2
    users = [make_user(f"person{i}@example.com") for i in range(3)]
    services.invite(contract, users=users, emails=["outsider@example.org"])
    services.redeem_code(users[0], contract.invitation_code)
    url = f"{MANAGE}/{contract.id}"

    first = text(client.get(url))
    assert "Page 1 of 2" in first and first.count("<tr>") == 3  # header + 2 rows
    assert "Page 2 of 2" in text(client.get(url + "?page=2"))
    found = text(client.get(url + "?q=PERSON1"))
    assert "person1@example.com" in found and "person2@example.com" not in found
    accepted = text(client.get(url + "?status=accepted"))
    assert "person0@example.com" in accepted and "person1@example.com" not in accepted
    not_registered = text(client.get(url + "?status=not_registered"))
    assert "outsider@example.org" in not_registered and "Not Registered" in not_registered
    assert client.get(url + "?status=bogus&page=x").status_code == 200


def test_resend_only_outstanding(client, rules, contract, make_user):
    ana, ben = make_user(), make_user()
    report = services.invite(contract, users=[ana, ben])
    services.redeem_code(ben, contract.invitation_code)
    ana_id, ben_id = (r.invitation_id for r in report.invited)
    rules.sent.clear()

    page = text(client.get(f"{MANAGE}/{contract.id}"))
    assert page.count(">Resend<") == 1
    ok = client.post(f"{MANAGE}/{contract.id}/invitations/{ana_id}/resend", data={"csrf_token": token(client)},
                     follow_redirects=True)
    assert "Resent the invitation to" in text(ok)
    refused = client.post(f"{MANAGE}/{contract.id}/invitations/{ben_id}/resend", data={"csrf_token": token(client)},
                          follow_redirects=True)
    assert "Only outstanding invitations can be resent" in text(refused)
    assert rules.sent == [(ana.email_address, True)]


def test_head_shows_the_confirmations_and_never_acts_even_with_csrf_off(app, client, db, contract, make_user):
    """The regenerate and revoke views used to test ``method == "GET"``, so HEAD ran the POST branch and, on a
    host with CSRF switched off, ``HEAD /manage/1/code`` regenerated the code."""
    app.config["WTF_CSRF_ENABLED"] = False
    learner = make_user()
    report = services.invite(contract, users=[learner], activities=contract.activities)
    invitation_id = report.invited[0].invitation_id
    code = contract.invitation_code

    regenerate = client.open(f"{MANAGE}/{contract.id}/code", method="HEAD")
    revoke = client.open(f"{MANAGE}/{contract.id}/invitations/{invitation_id}/revoke", method="HEAD")

    assert (regenerate.status_code, revoke.status_code) == (200, 200)
    assert fresh(db, contract).invitation_code == code
    assert services.get_invitation(invitation_id).status is InvitationStatus.OUTSTANDING
    assert client.post(f"{MANAGE}/{contract.id}/code").status_code == 302  # only a POST acts
    assert fresh(db, contract).invitation_code != code


def test_revoke_with_confirmation_only_before_enrollment(client, db, contract, courses, make_user):
    ana, ben = make_user(), make_user()
    report = services.invite(contract, users=[ana, ben])
    ana_id, ben_id = (r.invitation_id for r in report.invited)
    services.redeem_code(ben, contract.invitation_code)
    services.enroll(ben, contract, courses[0])

    page = text(client.get(f"{MANAGE}/{contract.id}"))
    assert page.count(">Revoke<") == 1
    confirm = text(client.get(f"{MANAGE}/{contract.id}/invitations/{ana_id}/revoke"))
    assert f"Revoke the invitation of {ana.email_address}?" in confirm
    assert services.get_invitation(ana_id).status is InvitationStatus.OUTSTANDING

    done = client.post(f"{MANAGE}/{contract.id}/invitations/{ana_id}/revoke", data={"csrf_token": token(client)},
                       follow_redirects=True)
    assert f"The invitation of {ana.email_address} was revoked." in text(done)
    db.session.expire_all()
    assert services.get_invitation(ana_id).status is InvitationStatus.REVOKED

    refused = client.post(f"{MANAGE}/{contract.id}/invitations/{ben_id}/revoke", data={"csrf_token": token(client)},
                          follow_redirects=True)
    assert "already enrolled" in text(refused)
    db.session.expire_all()
    assert services.get_invitation(ben_id).status is InvitationStatus.ENROLLED


def test_invitation_of_another_contract_is_not_found(client, make_contract, make_user, contract, courses):
    other = make_contract(title="Other", activities=courses)
    iid = services.invite(other, users=[make_user()]).invited[0].invitation_id

    assert client.get(f"{MANAGE}/{contract.id}/invitations/{iid}").status_code == 404
    assert client.post(f"{MANAGE}/{contract.id}/invitations/{iid}/revoke",
                       data={"csrf_token": token(client)}).status_code == 404


def test_view_activities_and_add_one_to_a_voucher_invitation(client, db, contract, courses, make_user):
    ana = make_user()
    iid = services.invite(contract, users=[ana], activities=[courses[0]]).invited[0].invitation_id
    url = f"{MANAGE}/{contract.id}/invitations/{iid}"

    page = text(client.get(url))
    assert "Safety Basics" in page and "Add activities of the contract" in page

    client.post(url, data={"csrf_token": token(client), "activities": [str(courses[1].id)]})

    db.session.expire_all()
    assert {c.id for c in services.get_invitation(iid).activities} == {courses[0].id, courses[1].id}
    assert "Add activities of the contract" not in text(client.get(url))


def _list_queries(app, db, make_user, make_contract, admin, courses, n):
    contract = make_contract(title=f"Contract with {n}", activities=courses)
    services.add_contract_admin(contract, admin)
    for start in range(0, n, 10):  # learners with and without an account on every page
        emails = [f"bulk{n}-{i}@example.com" for i in range(start, start + 10)]
        services.invite(contract, users=[make_user(e) for e in emails[:5]], emails=emails[5:])
    app.config["LEARNING_CONTRACTS_PAGE_SIZE"] = 500  # the largest page size
    client = client_for(app, admin)
    client.get(f"{MANAGE}/{contract.id}")
    with count_queries(db) as queries:
        page = text(client.get(f"{MANAGE}/{contract.id}"))
    assert page.count("<tr>") == min(n, 500) + 1
    return len(queries)


def test_invitations_list_issues_the_same_queries_for_10_or_1000_invitations(app, db, make_user, make_contract,
                                                                             admin, courses):
    assert _list_queries(app, db, make_user, make_contract, admin, courses, 10) == \
        _list_queries(app, db, make_user, make_contract, admin, courses, 1000)
