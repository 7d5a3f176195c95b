"""The one invitation flow of the admin panel and the contract-admin dashboard, through the Flask test client.

Every test runs on both sides: step 1 (pick people, type ``emails``, upload a CSV — any mix), the Voucher activity
step, and the report behind Post/Redirect/Get (a refresh or a second POST of the same form never invites again).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re
import time
from html import unescape

import pytest
import sqlalchemy as sa

from flask_learning_contracts import ContractType, InvitationStatus, services

from .views_support import PREFIX, client_for, count_queries

ADMIN = "/admin/learning-contracts"
MANAGE = PREFIX + "/manage"


@dataclasses.dataclass
class Side:
    """One place that invites: its client (a manager in the admin panel, a contract admin on the dashboard)."""

    name: str
    client: object
    pick_field: str  # what the picker posts: user ids (admin) or addresses (dashboard)
    refused: int  # the status an outsider gets

    def base(self, contract) -> str:
        return f"{ADMIN}/{contract.id}/invite" if self.name == "admin" else f"{MANAGE}/{contract.id}/invite"

    def form(self, contract, query: str = ""):
        """GET step 1 and return (csrf token, run token, html)."""
        response = self.client.get(self.base(contract) + (f"?q={query}" if query else ""))
        assert response.status_code == 200, response.status_code
        html = response.get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
        run = re.search(r'name="run" value="([^"]+)"', html).group(1)
        return csrf, run, html

    def post(self, contract, data: dict | None = None, *, csv: str | None = None, csv_name: str = "people.csv",
             run: str | None = None, with_csrf: bool = True):
        csrf, fresh_run, _html = self.form(contract)
        payload = {"run": run or fresh_run, **(data or {})}
        if with_csrf:
            payload["csrf_token"] = csrf
        if csv is not None:
            payload["file"] = (io.BytesIO(csv.encode()), csv_name)
        return self.client.post(self.base(contract), data=payload, content_type="multipart/form-data")

    def pick(self, user) -> str:
        return str(user.id) if self.pick_field == "user_ids" else user.email_address


@pytest.fixture
def courses(make_course):
    return [make_course("Safety Basics"), make_course("Leadership Lab", kind="ilt")]


@pytest.fixture
def boss(make_user):
    return make_user("boss@example.com", manager=True, name="Bea Boss")


@pytest.fixture
def casey(make_user):
    return make_user("casey@example.com", name="Casey Contracts")


@pytest.fixture(params=["admin", "dashboard"])
def side(request, app, boss, casey):
    if request.param == "admin":
        return Side("admin", client_for(app, boss), "user_ids", 403)
    return Side("dashboard", client_for(app, casey), "people", 404)


@pytest.fixture
def make_flow_contract(make_contract, casey):
    def make(contract_type=ContractType.SUBSCRIPTION, **fields):
        contract = make_contract(contract_type, **fields)
        services.add_contract_admin(contract, casey)
        return contract
    return make


@pytest.fixture
def sub(make_flow_contract, courses):
    return make_flow_contract(ContractType.SUBSCRIPTION, activities=courses, title="Sub deal")


@pytest.fixture
def voucher(make_flow_contract, courses):
    return make_flow_contract(ContractType.VOUCHER, activities=courses, title="Voucher deal")


def words(response) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", response.get_data(as_text=True), flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).replace("\xa0", " ").split())


def report_rows(response) -> list[list[str]]:
    html = response.get_data(as_text=True)
    body = html.split("<tbody>")[1].split("</tbody>")[0]
    return [[" ".join(unescape(re.sub(r"<[^>]+>", " ", cell)).split()) for cell in re.findall(r"<td[^>]*>(.*?)</td>",
                                                                                               row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def headers(response) -> list[str]:
    html = response.get_data(as_text=True)
    return [" ".join(re.sub(r"<[^>]+>", " ", h).split()) for h in
            re.findall(r"<th scope=\"col\">(.*?)</th>", html.split("lc-invite-report")[1].split("</thead>")[0])]


def invitations(db, app) -> int:
    model = app.extensions["learning_contracts"].models.Invitation
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def follow(side, response):
    assert response.status_code == 302, (response.status_code, words(response)[:400])
    return side.client.get(response.headers["Location"])


# ---------------------------------------------------------------------------------------------
# typed addresses
# ---------------------------------------------------------------------------------------------
def test_typed_addresses_with_every_separator_are_invited(side, app, db, sub):
    typed = "a@example.com, b@example.com;c@example.com d@example.com\ne@example.com\r\n\tF@Example.com;; ,\n"
    report = follow(side, side.post(sub, {"emails": typed}))

    assert report.status_code == 200
    assert [row[1:3] for row in report_rows(report)] == [
        [f"{x}@example.com", "Not Registered"] for x in "abcdef"]
    assert headers(report) == ["Name", "E-mail", "Outcome", "Details"]  # no Line column without a CSV
    assert "Invited 6 learners." in words(report)
    assert services.seat_summary(sub).by_status[InvitationStatus.NOT_REGISTERED] == 6


def test_typed_addresses_that_are_not_addresses_are_reported_with_their_position(side, app, db, sub, make_user):
    make_user("known@example.com", name="Kim Known")
    report = follow(side, side.post(sub, {"emails": "known@example.com, nope;x@y\nknown@example.com"}))

    assert report_rows(report) == [
        ["Kim Known", "known@example.com", "Invited", "Invited."],
        ["", "nope", "Invalid", "Entry 2 is not a valid e-mail address."],
        ["", "x@y", "Invalid", "Entry 3 is not a valid e-mail address."],
        ["", "known@example.com", "Already invited", "Listed more than once."],
    ]
    assert "Invited 1 learner." in words(report)
    assert invitations(db, app) == 1


def test_picked_people_typed_addresses_and_a_csv_go_in_one_submit(side, app, db, sub, make_user):
    olga = make_user("olga@example.com", name="Olga Picked")
    make_user("carl@example.com", name="Carl Csv")
    report = follow(side, side.post(sub, {side.pick_field: [side.pick(olga)], "emails": "typed@example.org"},
                                    csv="Email\ncarl@example.com\nolga@example.com\nbad line\n"))

    rows = report_rows(report)
    assert headers(report) == ["Line", "Name", "E-mail", "Outcome", "Details"]
    assert [row[:4] for row in rows] == [
        ["", "Olga Picked", "olga@example.com", "Invited"],
        ["", "", "typed@example.org", "Not Registered"],
        ["2", "Carl Csv", "carl@example.com", "Invited"],
        ["3", "", "olga@example.com", "Already invited"],
        ["4", "", "bad line", "Invalid"],
    ]
    assert invitations(db, app) == 3


def test_the_picker_offers_no_unverified_account_for_an_exact_address(app, db, sub, casey, make_user, rules,
                                                                      monkeypatch):
    """A contract admin typing the address of an account that has not verified it is offered the address (Not
    Registered), not the account: the same address typed into ``emails`` is invited as Not Registered too."""
    make_user("squat@example.com", name="Sam Squatter")
    monkeypatch.setattr(rules, "email_verified", lambda user: user.email_address != "squat@example.com")
    side = Side("dashboard", client_for(app, casey), "people", 404)

    _csrf, _run, html = side.form(sub, query="squat@example.com")

    assert "Sam Squatter" not in html
    assert 'name="people" value="squat@example.com"' in html and "no account yet" in html
    report = follow(side, side.post(sub, {"people": ["squat@example.com"]}))
    assert report_rows(report)[0][1:3] == ["squat@example.com", "Not Registered"]


# ---------------------------------------------------------------------------------------------
# nothing to invite
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("payload", ["", "Email\n", "\ufeffe-mail\n\n   \n"], ids=["empty", "header", "header-blank"])
def test_a_csv_with_no_address_keeps_the_admin_on_the_first_step(side, app, db, sub, payload):
    response = side.post(sub, csv=payload, csv_name="list.csv")

    assert response.status_code == 400
    shown = words(response)
    assert "list.csv holds no e-mail address" in shown
    assert 'id="lc-invite-form"' in response.get_data(as_text=True)  # still step 1
    assert "Inviting 0" not in shown and "Invitation results" not in shown
    assert invitations(db, app) == 0


@pytest.mark.parametrize("typed", ["", " ,; \n"], ids=["empty", "only-separators"])
def test_nobody_to_invite_is_said_on_the_first_step(side, app, db, voucher, typed):
    response = side.post(voucher, {"emails": typed})

    assert response.status_code == 400
    assert "Nobody to invite yet" in words(response)
    assert "step 2" not in words(response).lower()
    assert invitations(db, app) == 0


# ---------------------------------------------------------------------------------------------
# outside the valid period
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("today, said", [(dt.date(2027, 2, 1), "expired on"), (dt.date(2025, 6, 1), "starts on")])
def test_outside_the_valid_period_the_form_is_disabled_and_a_forged_post_refused(side, app, db, voucher, rules,
                                                                                  today, said):
    rules.set_today(today)
    _csrf, _run, html = side.form(voucher)
    shown = " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())

    assert "Nobody can be invited now." in shown and said in shown
    assert re.search(r'<fieldset class="lc-invite-fields" disabled', html)

    response = side.post(voucher, {"emails": "a@example.com"})
    assert response.status_code == 409
    assert said in words(response)
    assert invitations(db, app) == 0


# ---------------------------------------------------------------------------------------------
# Voucher activity step, plurals
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("people, who, done", [
    (1, "Inviting 1 selected user.", "Invited 1 learner."),
    (2, "Inviting 2 selected users.", "Invited 2 learners."),
])
def test_voucher_invites_go_through_the_activity_step_with_plurals(side, app, db, voucher, courses, make_user,
                                                                   people, who, done):
    picked = [make_user(f"p{i}@example.com") for i in range(people)]
    step = side.post(voucher, {side.pick_field: [side.pick(u) for u in picked]})
    page = follow(side, step)

    assert who in words(page) and "Leadership Lab" in words(page)
    assert invitations(db, app) == 0  # nothing sent before the activities are chosen
    activities_url = step.headers["Location"]
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)).group(1)

    none = side.client.post(activities_url, data={"csrf_token": csrf})
    assert none.status_code == 400 and "Choose at least one activity" in words(none)

    sent = side.client.post(activities_url, data={"csrf_token": csrf, "activity_ids": [str(courses[1].id)]})
    report = follow(side, sent)
    assert done in words(report)
    assert all([a.title for a in services.invitations_for(u)[0].activities] == ["Leadership Lab"] for u in picked)

    again = side.client.post(activities_url, data={"csrf_token": csrf, "activity_ids": [str(courses[0].id)]})
    assert again.status_code == 302 and again.headers["Location"] == sent.headers["Location"]
    assert side.client.get(activities_url).headers["Location"] == sent.headers["Location"]
    assert invitations(db, app) == people


def test_a_csv_for_a_voucher_is_counted_on_the_activity_step(side, voucher):
    page = follow(side, side.post(voucher, csv="a@example.com\n", csv_name="one.csv"))
    assert "Inviting 1 line of one.csv." in words(page)
    page = follow(side, side.post(voucher, csv="a@example.com\nb@example.com\n", csv_name="two.csv"))
    assert "Inviting 2 lines of two.csv." in words(page)


# ---------------------------------------------------------------------------------------------
# Post/Redirect/Get and double submits
# ---------------------------------------------------------------------------------------------
def test_refreshing_the_report_shows_it_again_and_invites_nobody_again(side, app, db, sub):
    response = side.post(sub, {"emails": "a@example.com b@example.com"})
    first = follow(side, response)
    history = len(services.history(sub))

    for _refresh in range(3):
        again = side.client.get(response.headers["Location"])
        assert again.status_code == 200 and report_rows(again) == report_rows(first)

    assert invitations(db, app) == 2 and len(services.history(sub)) == history


def test_posting_the_same_form_twice_invites_once(side, app, db, sub):
    _csrf, run, _html = side.form(sub)
    first = side.post(sub, {"emails": "a@example.com"}, run=run)
    second = side.post(sub, {"emails": "a@example.com"}, run=run)  # a double click / a re-posting refresh

    assert second.status_code == 302 and second.headers["Location"] == first.headers["Location"]
    assert invitations(db, app) == 1
    assert [row[1] for row in report_rows(side.client.get(second.headers["Location"]))] == ["a@example.com"]


def test_a_refused_submit_can_be_corrected_and_sent_with_the_same_form(side, app, db, sub):
    _csrf, run, _html = side.form(sub)
    assert side.post(sub, {"emails": ""}, run=run).status_code == 400
    assert side.post(sub, {"emails": "a@example.com"}, run=run).status_code == 302
    assert invitations(db, app) == 1


def test_an_unknown_or_foreign_report_is_not_shown(side, app, sub, make_flow_contract):
    other = make_flow_contract(ContractType.SUBSCRIPTION)
    report_url = side.post(sub, {"emails": "a@example.com"}).headers["Location"]

    foreign = side.client.get(report_url.replace(f"/{sub.id}/", f"/{other.id}/"))
    unknown = side.client.get(side.base(sub) + "/" + "x" * 32)
    for response in (foreign, unknown):
        assert response.status_code == 302 and response.headers["Location"].split("#")[0].endswith(
            ("/invitations", f"/{other.id}", f"/{sub.id}"))


# ---------------------------------------------------------------------------------------------
# permissions and CSRF
# ---------------------------------------------------------------------------------------------
def test_outsiders_reach_no_step(side, app, db, voucher, make_user, make_flow_contract):
    report_url = side.post(voucher, {"emails": "a@example.com"}).headers["Location"]
    token = report_url.split("/")[-2] if report_url.endswith("/activities") else report_url.split("/")[-1]
    learner = client_for(app, make_user("lee@example.com"))
    urls = [side.base(voucher), f"{side.base(voucher)}/{token}/activities", f"{side.base(voucher)}/{token}"]
    for url in urls:
        assert learner.get(url).status_code == side.refused, url
    for url in urls[:2]:
        assert learner.post(url, data={"emails": "x@example.com"}).status_code == side.refused, url
    assert client_for(app).get(urls[0]).status_code in (302, 401)
    assert invitations(db, app) == 0


def test_posts_without_their_csrf_token_invite_nobody(side, app, db, voucher, courses):
    refused = side.post(voucher, {"emails": "a@example.com"}, with_csrf=False)
    assert refused.status_code == 400 and "Nothing was changed" in words(refused)

    step = side.post(voucher, {"emails": "a@example.com"})
    refused = side.client.post(step.headers["Location"], data={"activity_ids": [str(courses[0].id)]})
    assert refused.status_code == 400 and "Nothing was changed" in words(refused)
    assert invitations(db, app) == 0


# ---------------------------------------------------------------------------------------------
# queries
# ---------------------------------------------------------------------------------------------
def test_report_and_step_pages_query_the_same_whatever_the_rows(side, app, db, sub, voucher):
    counts = []
    for n in (2, 40):
        typed = " ".join(f"r{n}-{i}@example.com" for i in range(n))
        report_url = side.post(sub, {"emails": typed}).headers["Location"]
        step_url = side.post(voucher, {"emails": typed}).headers["Location"]
        db.session.expire_all()
        with count_queries(db) as report_queries:
            assert side.client.get(report_url).status_code == 200
        with count_queries(db) as step_queries:
            assert side.client.get(step_url).status_code == 200
        counts.append((len(report_queries), len(step_queries)))
    assert counts[0] == counts[1]


def test_every_step_renders_with_strict_undefined(side, app, voucher, make_user, courses):
    """No step leans on a template variable it was not given (both looks, every state)."""
    import jinja2

    app.jinja_env.undefined = jinja2.StrictUndefined
    make_user("zed@example.com", name="Zed")
    side.form(voucher, query="zed@example.com")
    assert side.post(voucher, csv="").status_code == 400
    step = side.post(voucher, {"emails": "zed@example.com, nope"}, csv="a@example.com\n")
    page = follow(side, step)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    report = follow(side, side.client.post(step.headers["Location"], data={
        "csrf_token": csrf, "activity_ids": [str(courses[0].id)]}))
    assert report.status_code == 200 and "Zed" in words(report)


def test_forgetting_a_person_drops_the_stored_reports_and_drafts_that_may_name_them(side, app, db, sub, voucher,
                                                                                     make_user):
    """A report page keeps names and addresses for INVITE_RUN_HOURS: forget_user must not leave them behind."""
    ann = make_user("ann@example.com", name="Ann Example")
    report_url = side.post(sub, {"emails": "ann@example.com, other@example.com"}).headers["Location"]
    draft = side.post(voucher, {"emails": "ann@example.com"})  # waits on the activity step
    assert draft.status_code == 302 and "ann@example.com" in words(side.client.get(report_url))

    services.forget_user(ann)

    page = side.client.get(report_url)
    assert "ann@example.com" not in page.get_data(as_text=True) and "Ann Example" not in page.get_data(as_text=True)
    runs = app.extensions["learning_contracts"].models.InviteRun
    stored = " ".join(str(row.submitted) + str(row.report) for row in db.session.execute(sa.select(runs)).scalars())
    assert "ann@example.com" not in stored and "Ann Example" not in stored


# ---------------------------------------------------------------------------------------------
# hostile input: lists pasted from a mail program, NUL bytes, pastes over the size limits
# ---------------------------------------------------------------------------------------------
def test_split_addresses_keeps_the_address_of_a_named_entry():
    pasted = ('Alice Smith <alice@example.com>, "Smith, Bob" <bob@example.com>; <c@example.com>\n'
              '"dee@example.com" <dee@example.com> eve@example.com, Nope Nobody, f@example.com<g@example.com>')

    assert services.split_addresses(pasted) == [
        "alice@example.com", "bob@example.com", "c@example.com", "dee@example.com", "eve@example.com", "Nope",
        "Nobody", "f@example.com", "g@example.com"]


def test_split_addresses_is_linear_on_a_huge_paste_without_addresses():
    started = time.perf_counter()
    pieces = services.split_addresses("word " * 100_000 + "<" + '"' * 1000)
    assert len(pieces) == 100_000 and time.perf_counter() - started < 2


def test_addresses_pasted_from_a_mail_program_are_invited_without_their_names(side, app, db, sub):
    pasted = 'Alice Smith <alice@example.com>, "Smith, Bob" <bob@example.com>; <c@example.com>'
    report = follow(side, side.post(sub, {"emails": pasted}))

    assert [row[1:3] for row in report_rows(report)] == [
        [f"{x}@example.com", "Not Registered"] for x in ("alice", "bob", "c")]
    assert invitations(db, app) == 3


def test_a_csv_line_with_a_named_address_invites_the_address(side, app, db, sub):
    report = follow(side, side.post(sub, csv='Alice Smith <alice@example.com>\n"Smith, Bob" <bob@example.com>,Sales\n'))

    assert [row[:4] for row in report_rows(report)] == [
        ["1", "", "alice@example.com", "Not Registered"], ["2", "", "bob@example.com", "Not Registered"]]


def test_a_paste_over_the_form_size_limit_gets_a_page_that_says_what_to_do(side, app, db, sub):
    """Werkzeug refuses form text over ``MAX_FORM_MEMORY_SIZE`` (500 kB by default; about 25,000 addresses) with
    413 before the view runs: the page says so in the site's look, not Werkzeug's bare "Request Entity Too Large"."""
    typed = "\n".join(f"person{i:06d}@example.com" for i in range(30_000))
    response = side.post(sub, {"emails": typed})

    assert response.status_code == 413
    page = words(response)
    assert "Request Entity Too Large" not in page
    assert "Too much was sent at once" in page and "CSV file" in page
    assert ("Administration" if side.name == "admin" else "Contracts dashboard") in page  # inside the site's layout
    assert invitations(db, app) == 0


def test_a_nul_byte_in_a_dashboard_form_gets_the_styled_400_page(app, db, sub, casey):
    side = Side("dashboard", client_for(app, casey), "people", 404)
    response = side.post(sub, {"emails": "a@example.com\x00"})

    assert response.status_code == 400
    page = words(response)
    assert "Bad Request" not in page and "could not be understood" in page and "Contracts dashboard" in page
    assert invitations(db, app) == 0


def test_a_run_that_fails_unexpectedly_is_given_back_so_the_same_form_can_be_sent_again(side, app, db, sub,
                                                                                         monkeypatch):
    """A crash while inviting (not a domain refusal: a bug, a lost connection) rolls the invitations back; the
    run must not stay "running" (its report page would say "still being sent" for a day and the same form,
    sent again, would only show that page)."""
    from flask_learning_contracts.services import invite_runs

    real = invite_runs.invite_submission

    def crash(*args, **kwargs):
        raise RuntimeError("connection lost")

    csrf, run, _html = side.form(sub)
    payload = {"csrf_token": csrf, "run": run, "emails": "late@example.com"}
    monkeypatch.setattr(invite_runs, "invite_submission", crash)
    with pytest.raises(RuntimeError):
        side.client.post(side.base(sub), data=payload)
    assert services.get_invite_run(sub, run) is None and invitations(db, app) == 0

    monkeypatch.setattr(invite_runs, "invite_submission", real)
    report = follow(side, side.client.post(side.base(sub), data=payload))
    assert [row[1:3] for row in report_rows(report)] == [["late@example.com", "Not Registered"]]


def test_a_draft_whose_sending_fails_unexpectedly_is_a_draft_again(side, app, db, voucher, courses, monkeypatch):
    from flask_learning_contracts.services import invite_runs

    step2 = side.post(voucher, {"emails": "late@example.com"})
    assert step2.status_code == 302 and step2.headers["Location"].endswith("/activities")
    token = step2.headers["Location"].rsplit("/", 2)[1]
    page = side.client.get(step2.headers["Location"]).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    monkeypatch.setattr(invite_runs, "invite_submission", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        side.client.post(step2.headers["Location"], data={"csrf_token": csrf, "activity_ids": [str(courses[0].id)]})

    assert services.get_invite_run(voucher, token).state == "draft" and invitations(db, app) == 0


def test_the_same_form_sent_again_with_other_people_is_a_new_run(side, app, db, sub, voucher):
    """Back after sending, change the list, send: a browser that restores the form's hidden ``run`` token (Firefox
    does) posts the old token with new content. That is a new submission, not a double click: it must be invited,
    not answered with the earlier report (the people just typed would be silently dropped)."""
    csrf, run, _html = side.form(sub)
    first = side.client.post(side.base(sub), data={"csrf_token": csrf, "run": run, "emails": "first@example.com"})
    again = side.client.post(side.base(sub), data={"csrf_token": csrf, "run": run, "emails": "first@example.com"})
    assert again.headers["Location"] == first.headers["Location"]  # a double click: the same report

    changed = side.client.post(side.base(sub), data={"csrf_token": csrf, "run": run, "emails": "second@example.com"})
    assert changed.status_code == 302 and changed.headers["Location"] != first.headers["Location"]
    assert [row[1] for row in report_rows(side.client.get(changed.headers["Location"]))] == ["second@example.com"]
    assert invitations(db, app) == 2

    csrf, run, _html = side.form(voucher)  # a Voucher draft changed on step 1 before its activity step
    draft = side.client.post(side.base(voucher), data={"csrf_token": csrf, "run": run, "emails": "a@example.com"})
    fixed = side.client.post(side.base(voucher), data={"csrf_token": csrf, "run": run, "emails": "b@example.com"})
    assert fixed.headers["Location"].endswith("/activities") and fixed.headers["Location"] != draft.headers["Location"]
    assert "1 typed address" in words(side.client.get(fixed.headers["Location"]))


def test_the_report_of_twenty_thousand_typed_addresses_renders_in_linear_time(side, app, db, sub):
    """Every row asked whether the report has CSV rows, and the answer scanned every row: 20,000 typed addresses
    (under the form's 500 kB) made the report page take minutes. It must take about as long as its rows."""
    typed = "\n".join(f"p{i:05d}@example.com" for i in range(20_000))
    location = side.post(sub, {"emails": typed}).headers["Location"]

    started = time.perf_counter()
    report = side.client.get(location)
    elapsed = time.perf_counter() - started

    assert report.status_code == 200 and "Invited 20,000 learners." in words(report)  # as the counts above it
    assert elapsed < 8, f"the report of 20,000 rows took {elapsed:.1f} s"


def test_a_csv_line_of_many_at_signs_after_an_angle_bracket_is_read_in_linear_time(side, app, db, sub):
    """The angle-bracket search on CSV lines must not backtrack over every ``@`` (a 9 MB such line hung)."""
    started = time.perf_counter()
    response = side.post(sub, csv="<" + "a@" * 20_000 + "\nok@example.com\n")
    elapsed = time.perf_counter() - started

    assert elapsed < 2, f"{elapsed:.1f} s"
    rows = report_rows(follow(side, response))
    assert [row[0] for row in rows] == ["1", "2"] and rows[0][3] == "Invalid" and rows[1][3] == "Not Registered"


def test_a_run_left_running_by_a_dead_process_says_it_was_not_sent(side, app, db, sub):
    """A process killed while inviting leaves its run "running" (its transaction, with every invitation, rolled
    back). After a few minutes the report must stop saying "still being sent" and say nothing was invited."""
    token = services.new_run_token()
    services.claim_invite_run(sub, token, services.Submission(emails="late@example.com"), draft=False)
    url = f"{side.base(sub)}/{token}"
    assert "still being sent" in words(side.client.get(url))

    table = app.extensions["learning_contracts"].models.InviteRun.__table__
    created = db.session.execute(sa.select(table.c.created_at).where(table.c.token == token)).scalar_one()
    db.session.execute(sa.update(table).where(table.c.token == token)
                       .values(created_at=created - dt.timedelta(minutes=30)))
    db.session.commit()
    page = words(side.client.get(url))

    assert "still being sent" not in page
    assert "Sending these invitations stopped before it finished: nobody was invited." in page
    assert invitations(db, app) == 0


def test_a_long_report_is_shown_a_page_at_a_time_and_by_outcome(side, app, db, sub, make_user):
    """A report of 100,000 lines rendered whole took seconds and tens of megabytes: it is paged like the
    invitations list (``LEARNING_CONTRACTS_PAGE_SIZE`` rows, in the report's order), and each outcome can be shown
    on its own (the few Invalid rows of a long file are what the admin must find); the counts stay whole."""
    app.config["LEARNING_CONTRACTS_PAGE_SIZE"] = 50
    make_user("known07@example.com")
    typed = [f"p{i:03d}@example.com" for i in range(115)] + ["not-an-address", "also@bad@x"] + ["known07@example.com"]
    location = side.post(sub, {"emails": "\n".join(typed)}).headers["Location"]

    first = side.client.get(location)
    assert [row[1] for row in report_rows(first)] == typed[:50]
    assert "Page 1 of 3" in words(first) and "Invited 116 learners." in words(first)
    last = side.client.get(location + "&page=3" if "?" in location else location + "?page=3")
    assert [row[1] for row in report_rows(last)] == typed[100:]
    beyond = side.client.get(location + ("&" if "?" in location else "?") + "page=99")
    assert report_rows(beyond) == report_rows(last) and "Page 3 of 3" in words(beyond)
    garbled = side.client.get(location + ("&" if "?" in location else "?") + "page=abc")
    assert garbled.status_code == 200 and report_rows(garbled) == report_rows(first)

    invalid = side.client.get(location + ("&" if "?" in location else "?") + "outcome=invalid")
    assert [row[1] for row in report_rows(invalid)] == ["not-an-address", "also@bad@x"]
    assert "Page 1 of" not in words(invalid) and 'aria-current="true"' in invalid.get_data(as_text=True)
    assert "Invalid (2)" in words(first) and "All (118)" in words(first)
    unknown = side.client.get(location + ("&" if "?" in location else "?") + "outcome=%3Cscript%3E")
    assert unknown.status_code == 200 and report_rows(unknown) == report_rows(first)
    assert "<script>" not in unknown.get_data(as_text=True).split("<main")[-1]
    next_link = re.search(r'href="([^"]+)">Next →', first.get_data(as_text=True)).group(1)
    assert [row[1] for row in report_rows(side.client.get(unescape(next_link)))] == typed[50:100]


def test_a_stored_report_reads_back_as_it_was_written():
    """The report is kept as JSON between the POST and the report page (and every refresh of it)."""
    import json

    rows = [services.ReportRow("zoë@example.com", "invited", "Invited.", "user", "Zoë Ångström"),
            services.ReportRow("x", "invalid", "Not an e-mail address.", "csv", None, 7, None),
            services.ReportRow("b@example.com", "already_invited", "Already invited.", "typed", None, None, 3)]
    report = services.StoredReport(rows, [("zoë@example.com", "The mail server refused it.")])

    again = services.StoredReport.from_json(json.loads(json.dumps(report.to_json())))

    assert again == report and again.count("invalid") == 1 and again.has_csv
