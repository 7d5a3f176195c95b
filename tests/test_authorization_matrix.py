"""Authorization matrix: every route of the extension × every method × seven roles, with the exact status code.

Roles: anonymous, a learner invited to contract A, another learner (invited to B only), a contract admin of
B, a contract admin of A, a logged-in user without the manage privilege, and a manager.

Who gets what (read from the views, stated here once):

* admin panel (``lc_contract.*``): anonymous → the host's login manager (no ``login_view`` here → 401);
  every logged-in non-manager, contract admins of A included → 403; managers → the page.
* contract-admin dashboard index: anonymous 401; contract admins (of any contract) and managers 200; 403 else.
* dashboard pages of contract A: anonymous 401; A's contract admins and managers reach them; everyone else
  404, so ids of other organisations' contracts and invitations reveal nothing.
* learner pages: anonymous 401; the invitations page and the code form are every learner's own; contract A's
  learner page and its enroll button answer 404 to whoever has no live invitation to A.
* the packaged CSS/JS: 200 for everyone.

Every POST carries a valid CSRF token for the client's session, so a refusal is the permission check, not
CSRF. A refused request must change nothing (contracts, invitations, seats, history, enrollments,
notifications); an allowed POST must change what it is meant to (which also proves the token was valid).
Each route runs against one fresh set of contracts; roles go refused-first, allowed-last.

Two more columns for every route:

* **large ids**: each id the route carries (in its URL or its form) is replaced, one at a time, by a number no
  database column of the host holds (2^31: past PostgreSQL's ``integer``; 2^63: past every 64-bit integer),
  and every GET also gets ``?page=`` of those numbers and a negative one. Whoever was allowed now gets 404 for
  an id in the URL and 400 for an id in a form (unless the case says otherwise), never a 500; refusals stay
  what they were; nothing changes.
* **HEAD**: HEAD is GET everywhere: the same status as GET for every role, and nothing changes even with CSRF
  switched off and the POST's form data in the body; a POST-only route answers 405.
"""
from __future__ import annotations

import dataclasses
import io
import re
import types
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from flask_learning_contracts import ContractType, services

from . import host
from .views_support import client_for, csrf_for

ADMIN = "/admin/learning-contracts"
LC = "/learning-contracts"
#: The token of an invite run nobody started (the steps after the first answer with a redirect and a message).
RUN = "r" * 32
ROLES = ("anonymous", "other_learner", "no_privilege", "admin_of_b", "learner", "admin_of_a", "manager")


# ---------------------------------------------------------------------------------------------
# the world every route is tried against
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass
class World:
    a: Any
    b: Any
    courses: list[Any]
    users: dict[str, Any]
    invitation: Any  #: the learner's invitation to A
    other_invitation: Any  #: the other learner's invitation to B


@pytest.fixture
def world(db, make_user, make_course, make_contract) -> World:
    courses = [make_course("Safety"), make_course("Leadership", kind="ilt"), make_course("Not on A")]
    a = make_contract(ContractType.VOUCHER, code="ACME", title="Acme", activities=courses[:2],
                      require_invitation_code=False)
    b = make_contract(ContractType.VOUCHER, code="BETA", title="Beta", activities=courses[:1])
    users = {role: make_user(f"{role.replace('_', '-')}@example.com", manager=role == "manager", name=role)
             for role in ROLES if role != "anonymous"}
    users["anonymous"] = None
    services.add_contract_admin(a, users["admin_of_a"])
    services.add_contract_admin(b, users["admin_of_b"])
    services.invite(a, users=[users["learner"]], activities=courses[:1])
    services.invite(b, users=[users["other_learner"]])
    invitation = services.invitations_for(users["learner"])[0]
    other_invitation = services.invitations_for(users["other_learner"])[0]
    return World(a, b, courses, users, invitation, other_invitation)


def snapshot(db, app) -> dict[str, Any]:
    """Everything a request could change: the extension's rows, the host's enrollments, notifications sent."""
    db.session.expire_all()
    m = app.extensions["learning_contracts"].models

    def rows(*columns: Any) -> list[tuple]:
        return [tuple(r) for r in db.session.execute(sa.select(*columns).order_by(columns[0])).all()]

    def count(model: Any) -> int:
        return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()

    C, I = m.Contract, m.Invitation  # noqa: N806
    state = {
        "contracts": rows(C.id, C.code, C.title, C.description, C.seats, C.seats_used, C.per_user_limit,
                          C.valid_from, C.valid_until, C.require_invitation_code, C.invitation_code),
        "invitations": rows(I.id, I.contract_id, I.user_id, I.email, I.status, I.enrolled_count, I.send_count,
                            I.code_redeemed_at, I.revoked_at, I.last_sent_at),
        **{name: count(model) for name, model in {
            "history": m.HistoryEntry, "enrollments": m.Enrollment, "seats": m.Seat,
            "contract_activities": m.ContractActivity, "invitation_activities": m.InvitationActivity,
            "contract_admins": m.ContractAdmin, "host_enrollments": host.CourseEnrollment,
            "notifications": m.Notification}.items()},
        "sent": list(app.extensions["learning_contracts"].rules.sent),
    }
    db.session.rollback()
    return state


# ---------------------------------------------------------------------------------------------
# the matrix
# ---------------------------------------------------------------------------------------------
def admin_only(code: int) -> dict[str, int]:
    return {"anonymous": 401, "other_learner": 403, "no_privilege": 403, "admin_of_b": 403, "learner": 403,
            "admin_of_a": 403, "manager": code}


def contract_admins_of_a(code: int) -> dict[str, int]:
    return {"anonymous": 401, "other_learner": 404, "no_privilege": 404, "admin_of_b": 404, "learner": 404,
            "admin_of_a": code, "manager": code}


def every_learner(code: int) -> dict[str, int]:
    return {"anonymous": 401, **{role: code for role in ROLES if role != "anonymous"}}


def invited_to_a(code: int) -> dict[str, int]:
    return {"anonymous": 401, "other_learner": 404, "no_privilege": 404, "admin_of_b": 404, "learner": code,
            "admin_of_a": 404, "manager": 404}


EVERYONE_200 = {role: 200 for role in ROLES}
DASHBOARD_INDEX = {"anonymous": 401, "other_learner": 403, "no_privilege": 403, "admin_of_b": 200, "learner": 403,
                   "admin_of_a": 200, "manager": 200}


@dataclasses.dataclass(frozen=True)
class Case:
    endpoint: str
    method: str
    path: Callable[[World], str]
    expected: dict[str, int]
    data: Callable[[World], dict] = lambda w: {}
    #: whether the first allowed role's POST changes state (False: it shows a page or redirects). Later allowed
    #: roles repeat an action already done (rename to the same title, revoke a revoked invitation …).
    changes: bool = True
    #: what the allowed roles get when an id in the URL / in the form is too large for any database column.
    big_in_url: int = 404
    big_in_form: int = 400


def _contract_form(code: str) -> Callable[[World], dict]:
    return lambda w: {"code": code, "title": "Renamed", "description": "", "group": "", "external_id": "",
                      "source": "", "contract_type": "voucher", "seats": "12", "per_user_limit": "0",
                      "valid_from": "2026-01-01", "valid_until": "2026-12-31", "require_invitation_code": "yes"}


def _csv(**extra: Any) -> Callable[[World], dict]:
    return lambda w: {"file": (io.BytesIO(b"newcomer@example.com\n"), "people.csv"),
                      **{k: v(w) if callable(v) else v for k, v in extra.items()}}


def _course(i: int) -> Callable[[World], str]:
    return lambda w: str(w.courses[i].id)


def _a(suffix: str = "") -> Callable[[World], str]:
    return lambda w: f"{ADMIN}/{w.a.id}/{suffix}"


def _inv(suffix: str = "") -> Callable[[World], str]:
    return lambda w: f"{ADMIN}/{w.a.id}/invitations/{w.invitation.id}{suffix}"


def _m(suffix: str = "") -> Callable[[World], str]:
    return lambda w: f"{LC}/manage/{w.a.id}{suffix}"


def _minv(suffix: str = "") -> Callable[[World], str]:
    return lambda w: f"{LC}/manage/{w.a.id}/invitations/{w.invitation.id}{suffix}"


CASES = [
    # --- admin panel (Flask-Admin view, endpoint lc_contract) ----------------------------------------------
    Case("lc_contract.index_view", "GET", lambda w: ADMIN + "/", admin_only(200)),
    Case("lc_contract.create_view", "GET", lambda w: ADMIN + "/new/", admin_only(200)),
    Case("lc_contract.create_view", "POST", lambda w: ADMIN + "/new/", admin_only(302), _contract_form("NEW-1")),
    Case("lc_contract.edit_view", "GET", lambda w: f"{ADMIN}/edit/?id={w.a.id}", admin_only(200)),
    Case("lc_contract.edit_view", "POST", lambda w: f"{ADMIN}/edit/?id={w.a.id}", admin_only(302),
         _contract_form("ACME")),
    Case("lc_contract.contract_view", "GET", _a(), admin_only(200)),
    Case("lc_contract.regenerate_code_view", "GET", _a("code/regenerate"), admin_only(200)),
    Case("lc_contract.regenerate_code_view", "POST", _a("code/regenerate"), admin_only(302)),
    Case("lc_contract.add_admin_view", "POST", _a("admins/add"), admin_only(302),
         lambda w: {"user_id": str(w.users["no_privilege"].id)}),
    Case("lc_contract.remove_admin_view", "POST", _a("admins/remove"), admin_only(302),
         lambda w: {"user_id": str(w.users["admin_of_a"].id)}),
    Case("lc_contract.activities_view", "GET", _a("activities"), admin_only(200)),
    Case("lc_contract.add_activities_view", "GET", _a("activities/add"), admin_only(200)),
    Case("lc_contract.add_activities_view", "POST", _a("activities/add"), admin_only(302),
         lambda w: {"activity_ids": [str(w.courses[2].id)]}),
    Case("lc_contract.import_activities_view", "GET", _a("activities/import"), admin_only(200)),
    Case("lc_contract.import_activities_view", "POST", lambda w: f"{ADMIN}/{w.b.id}/activities/import",
         admin_only(302), lambda w: {"source_contract": str(w.a.id)}, big_in_form=200),  # unknown: choose again
    Case("lc_contract.remove_activity_view", "GET", lambda w: f"{ADMIN}/{w.a.id}/activities/{w.courses[1].id}/remove",
         admin_only(200)),
    Case("lc_contract.remove_activity_view", "POST",
         lambda w: f"{ADMIN}/{w.a.id}/activities/{w.courses[1].id}/remove", admin_only(302)),
    Case("lc_contract.invitations_view", "GET", _a("invitations"), admin_only(200)),
    Case("lc_contract.invitations_export_view", "GET", _a("invitations/export.csv"), admin_only(200)),
    Case("lc_contract.invitation_activities_view", "GET", _inv("/activities"), admin_only(200)),
    Case("lc_contract.invitation_activities_view", "POST", _inv("/activities"), admin_only(302),
         lambda w: {"activity_ids": [str(w.courses[1].id)]}),
    Case("lc_contract.resend_view", "POST", _inv("/resend"), admin_only(302)),
    Case("lc_contract.remind_outstanding_view", "POST", _a("invitations/remind"), admin_only(302)),
    # Nothing failed in this world: the allowed POST retries nothing (the refusals are what is checked here).
    Case("lc_contract.retry_notifications_view", "POST", _a("notifications/retry"), admin_only(302),
         changes=False),
    Case("lc_contract.revoke_view", "GET", _inv("/revoke"), admin_only(200)),
    Case("lc_contract.revoke_view", "POST", _inv("/revoke"), admin_only(302)),
    Case("lc_contract.invite_view", "GET", _a("invite"), admin_only(200)),
    Case("lc_contract.invite_search_view", "GET", _a("invite/people.json?q=example"), admin_only(200)),
    Case("lc_contract.admin_search_view", "GET", _a("admins/people.json?q=example"), admin_only(200)),
    Case("lc_contract.import_search_view", "GET", _a("activities/import/contracts.json?q=a"), admin_only(200)),
    # A Voucher contract with two activities: step 1 stores the submission and redirects to the activity step.
    Case("lc_contract.invite_view", "POST", _a("invite"), admin_only(302),
         lambda w: {"user_ids": [str(w.users["no_privilege"].id)], **_csv()(w)}, changes=False, big_in_form=302),
    # An unknown (or expired) run: back to the invitations list with a message.
    Case("lc_contract.invite_activities_view", "GET", _a(f"invite/{RUN}/activities"), admin_only(302)),
    Case("lc_contract.invite_activities_view", "POST", _a(f"invite/{RUN}/activities"), admin_only(302),
         lambda w: {"activity_ids": [str(w.courses[0].id)]}, changes=False, big_in_form=302),
    Case("lc_contract.invite_report_view", "GET", _a(f"invite/{RUN}"), admin_only(302)),
    Case("lc_contract.history_view", "GET", _a("history"), admin_only(200)),
    Case("lc_contract.delete_contract_view", "GET", _a("delete"), admin_only(200)),
    Case("lc_contract.delete_contract_view", "POST", _a("delete"), admin_only(302)),
    Case("lc_contract.static", "GET", lambda w: ADMIN + "/static/admin.css", EVERYONE_200),
    # Flask-Admin's built-in routes, switched off for this view (can_delete/can_view_details/can_export False,
    # no list actions, no inline editing): managers are sent back to the list, everyone else refused.
    Case("lc_contract.details_view", "GET", lambda w: f"{ADMIN}/details/?id={w.a.id}", admin_only(302),
         big_in_url=302),
    Case("lc_contract.delete_view", "POST", lambda w: ADMIN + "/delete/", admin_only(302),
         lambda w: {"id": str(w.a.id)}, changes=False, big_in_form=302),
    Case("lc_contract.action_view", "POST", lambda w: ADMIN + "/action/", admin_only(302),
         lambda w: {"action": "delete", "rowid": [str(w.a.id)]}, changes=False, big_in_form=302),
    Case("lc_contract.export", "GET", lambda w: ADMIN + "/export/csv/", admin_only(302)),
    # No ajax lookups or editable list columns are configured: Flask-Admin answers 404 to managers.
    Case("lc_contract.ajax_lookup", "GET", lambda w: ADMIN + "/ajax/lookup/?name=admins&query=a", admin_only(404)),
    Case("lc_contract.ajax_update", "POST", lambda w: ADMIN + "/ajax/update/", admin_only(404),
         lambda w: {"list_form_pk": str(w.a.id), "title": "Hacked"}, changes=False),
    # --- learner pages ---------------------------------------------------------------------------------------
    Case("learning_contracts.invitations", "GET", lambda w: LC + "/", every_learner(200)),
    Case("learning_contracts.redeem", "POST", lambda w: LC + "/code", every_learner(302),
         lambda w: {"code": "WRONG-CODE-123"}, changes=False),
    Case("learning_contracts.contract", "GET", lambda w: f"{LC}/contracts/{w.a.id}", invited_to_a(200)),
    Case("learning_contracts.enroll", "POST", lambda w: f"{LC}/contracts/{w.a.id}/activities/{w.courses[0].id}/enroll",
         invited_to_a(302)),
    Case("learning_contracts.static", "GET", lambda w: LC + "/static/learning_contracts/learning_contracts.css",
         EVERYONE_200),
    # --- contract-admin dashboard ----------------------------------------------------------------------------
    Case("learning_contracts.dashboard", "GET", lambda w: LC + "/manage/", DASHBOARD_INDEX),
    Case("learning_contracts.manage_contract", "GET", _m(), contract_admins_of_a(200)),
    Case("learning_contracts.manage_export", "GET", _m("/invitations.csv"), contract_admins_of_a(200)),
    Case("learning_contracts.manage_title", "POST", _m("/title"), contract_admins_of_a(302),
         lambda w: {"title": "Renamed"}),
    Case("learning_contracts.manage_regenerate", "GET", _m("/code"), contract_admins_of_a(200)),
    Case("learning_contracts.manage_regenerate", "POST", _m("/code"), contract_admins_of_a(302)),
    Case("learning_contracts.manage_invite", "GET", _m("/invite"), contract_admins_of_a(200)),
    Case("learning_contracts.manage_invite_search", "GET", _m("/invite/people.json?q=example"),
         contract_admins_of_a(200)),
    Case("learning_contracts.manage_invite", "POST", _m("/invite"), contract_admins_of_a(302),
         lambda w: {"people": ["no-privilege@example.com"], **_csv()(w)}, changes=False),
    Case("learning_contracts.manage_invite_activities", "GET", _m(f"/invite/{RUN}/activities"),
         contract_admins_of_a(302)),
    Case("learning_contracts.manage_invite_activities", "POST", _m(f"/invite/{RUN}/activities"),
         contract_admins_of_a(302), lambda w: {"activity_ids": [str(w.courses[0].id)]}, changes=False,
         big_in_form=302),
    Case("learning_contracts.manage_invite_report", "GET", _m(f"/invite/{RUN}"), contract_admins_of_a(302)),
    Case("learning_contracts.manage_invitation", "GET", _minv(), contract_admins_of_a(200)),
    Case("learning_contracts.manage_invitation", "POST", _minv(), contract_admins_of_a(302),
         lambda w: {"activities": [str(w.courses[1].id)]}, big_in_form=302),
    Case("learning_contracts.manage_resend", "POST", _minv("/resend"), contract_admins_of_a(302)),
    # Nothing failed in this world: the allowed POST retries nothing (the refusals are what is checked here).
    Case("learning_contracts.manage_retry", "POST", _m("/notifications/1/retry"), contract_admins_of_a(302),
         changes=False),
    Case("learning_contracts.manage_revoke", "GET", _minv("/revoke"), contract_admins_of_a(200)),
    Case("learning_contracts.manage_revoke", "POST", _minv("/revoke"), contract_admins_of_a(302)),
]


def extension_routes(app) -> set[tuple[str, str]]:
    """(endpoint, method) of every route of the extension: its blueprint and its Flask-Admin view."""
    admin_endpoint = app.config.get("LEARNING_CONTRACTS_ADMIN_ENDPOINT", "lc_contract")
    return {(rule.endpoint, method) for rule in app.url_map.iter_rules()
            if rule.endpoint.startswith(("learning_contracts.", admin_endpoint + "."))
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def test_the_matrix_lists_every_route_and_method(app):
    listed = {(case.endpoint, case.method) for case in CASES}
    routes = extension_routes(app)

    assert routes - listed == set(), "routes missing from the authorization matrix: add them to CASES"
    assert listed - routes == set(), "the matrix lists routes that no longer exist"
    assert len(listed) == len(CASES), "a route is listed twice"


def _send(app, client, method: str, path: str, data: dict | None):
    if method == "GET":
        return client.get(path)
    if method == "HEAD":
        return client.open(path, method="HEAD", data=data or None, content_type="multipart/form-data")
    return client.post(path, data={"csrf_token": csrf_for(app, client), **(data or {})},
                       content_type="multipart/form-data")


@pytest.mark.parametrize("case", CASES, ids=[f"{c.method} {c.endpoint}" for c in CASES])
def test_each_role_gets_the_exact_status_and_refusals_change_nothing(app, db, world, case):
    assert set(case.expected) == set(ROLES)
    wrong, allowed_before = [], False
    for role in ROLES:
        client = client_for(app, world.users[role])
        path = case.path(world)
        before = snapshot(db, app)
        response = _send(app, client, case.method, path, case.data(world))
        response.close()
        expected = case.expected[role]
        if response.status_code != expected:
            wrong.append(f"{role}: {response.status_code} (expected {expected})")
            continue
        after = snapshot(db, app)
        refused = expected in (401, 403, 404)
        if case.method == "POST" and refused and after != before:
            wrong.append(f"{role}: refused with {expected} but changed "
                         f"{sorted(k for k in before if before[k] != after[k])}")
        if case.method == "POST" and not refused and case.changes and not allowed_before and after == before:
            wrong.append(f"{role}: allowed with {expected} but changed nothing (was the CSRF token refused?)")
        if case.method == "GET" and after != before:
            wrong.append(f"{role}: GET changed {sorted(k for k in before if before[k] != after[k])}")
        allowed_before = allowed_before or not refused
    assert not wrong, f"{case.method} {case.endpoint}:\n" + "\n".join(wrong)


# ---------------------------------------------------------------------------------------------
# the large-id column
# ---------------------------------------------------------------------------------------------
REFUSED = (401, 403, 404, 405)


def _large(world: World) -> tuple[int, ...]:
    """Ids no integer key column holds on this database: on PostgreSQL past ``integer`` (the extension's own
    ids and the test host's keys) and past ``bigint``; on SQLite past its 64-bit integers."""
    if sa.inspect(world.a).session.get_bind().dialect.name == "sqlite":
        return (2**63, 10**25 - 1)
    return (2**31, 2**63)


def _slots(world: World) -> dict[str, Callable[[int], World]]:
    """Each object whose id a route may carry, with how to swap its id for a large one (one at a time)."""
    def big(number: int) -> types.SimpleNamespace:
        return types.SimpleNamespace(id=number)

    slots: dict[str, Callable[[int], World]] = {
        "contract A": lambda n: dataclasses.replace(world, a=big(n)),
        "contract B": lambda n: dataclasses.replace(world, b=big(n)),
        "invitation": lambda n: dataclasses.replace(world, invitation=big(n)),
    }
    for i in range(len(world.courses)):
        slots[f"course {i}"] = lambda n, i=i: dataclasses.replace(
            world, courses=[big(n) if j == i else c for j, c in enumerate(world.courses)])
    for role in ROLES[1:]:
        slots[f"user {role}"] = lambda n, role=role: dataclasses.replace(world, users={**world.users, role: big(n)})
    return slots


def _comparable(data: dict) -> dict:
    return {k: v[1] if isinstance(v, tuple) else v for k, v in data.items()}  # an upload: its file name


def _large_id_requests(case: Case, world: World
                       ) -> list[tuple[str, str, Callable[[], dict], dict[str, int]]]:
    """(what, path, its form data, expected status per role) of the large-id column of ``case``."""
    requests = []
    path, data = case.path(world), _comparable(case.data(world))
    for slot, swap in _slots(world).items():
        for number in _large(world):
            big = swap(number)
            big_path = case.path(big)
            if big_path == path and _comparable(case.data(big)) == data:
                continue  # the route does not carry this id
            allowed = case.big_in_url if big_path != path else case.big_in_form
            expected = {role: code if code in REFUSED else allowed for role, code in case.expected.items()}
            requests.append((f"{slot} = {number}", big_path, lambda big=big: case.data(big), expected))
    if case.method == "GET":
        for number in (*_large(world), -5):
            page = path + ("&" if "?" in path else "?") + f"page={number}"
            requests.append((f"page = {number}", page, dict, dict(case.expected)))
    return requests


def test_every_route_is_in_the_large_id_column(world):
    """Each route whose URL carries an id has it swapped; every GET also gets large page numbers."""
    for case in CASES:
        requests = _large_id_requests(case, world)
        if re.search(r"[/=]\d+(?:[/?&]|$)", case.path(world)):
            assert any(not what.startswith("page") for what, *_rest in requests), case
        assert case.method != "GET" or any(what.startswith("page") for what, *_rest in requests), case


@pytest.mark.parametrize("case", CASES, ids=[f"{c.method} {c.endpoint}" for c in CASES])
def test_ids_too_large_for_the_database_are_not_found_never_a_server_error(app, db, world, case):
    wrong = []
    for what, path, data, expected in _large_id_requests(case, world):
        before = snapshot(db, app)
        for role in ROLES:
            client = client_for(app, world.users[role])
            try:
                response = _send(app, client, case.method, path, data())
            except Exception as error:  # noqa: BLE001 - the test client re-raises what became a 500
                db.session.rollback()
                wrong.append(f"{what}, {role}: {type(error).__name__}: {str(error)[:120]}")
                continue
            response.close()
            if response.status_code != expected[role]:
                wrong.append(f"{what}, {role}: {response.status_code} (expected {expected[role]})")
        after = snapshot(db, app)
        if after != before:
            wrong.append(f"{what}: changed {sorted(k for k in before if before[k] != after[k])}")
    assert not wrong, f"{case.method} {case.endpoint}:\n" + "\n".join(wrong)


# ---------------------------------------------------------------------------------------------
# the HEAD column
# ---------------------------------------------------------------------------------------------
def _head_cases() -> list[tuple[str, Case, Case | None]]:
    """(endpoint, its GET case or its POST case when it has no GET, the POST case whose form HEAD sends)."""
    by_endpoint: dict[str, dict[str, Case]] = {}
    for case in CASES:
        by_endpoint.setdefault(case.endpoint, {})[case.method] = case
    return [(endpoint, methods.get("GET") or methods["POST"], methods.get("POST"))
            for endpoint, methods in by_endpoint.items()]


HEAD_CASES = _head_cases()


@pytest.mark.parametrize("endpoint, case, post", HEAD_CASES, ids=[e for e, _c, _p in HEAD_CASES])
def test_head_is_get_everywhere_and_never_acts_even_without_csrf(app, db, world, endpoint, case, post):
    """HEAD answers what GET answers (405 where there is no GET) and changes nothing, with CSRF switched off
    and the POST's form in the body: only a POST acts."""
    app.config["WTF_CSRF_ENABLED"] = False
    data = post.data(world) if post is not None else {}
    expected = case.expected if case.method == "GET" else {role: 405 for role in ROLES}
    wrong = []
    for role in ROLES:
        client = client_for(app, world.users[role])
        before = snapshot(db, app)
        response = _send(app, client, "HEAD", case.path(world), post.data(world) if post is not None else data)
        response.close()
        if response.status_code != expected[role]:
            wrong.append(f"{role}: {response.status_code} (expected {expected[role]})")
        after = snapshot(db, app)
        if after != before:
            wrong.append(f"{role}: HEAD changed {sorted(k for k in before if before[k] != after[k])}")
    assert not wrong, f"HEAD {endpoint}:\n" + "\n".join(wrong)


# ---------------------------------------------------------------------------------------------
# ids from another contract or another learner
# ---------------------------------------------------------------------------------------------
def test_an_invitation_id_of_another_contract_is_not_found_anywhere(app, db, world):
    """Swapping the invitation id in a URL for one of another contract answers 404 and changes nothing,
    even for the admins of both contracts and for managers."""
    a, b, inv_a, inv_b = world.a, world.b, world.invitation, world.other_invitation
    attempts = [
        ("admin_of_a", "GET", f"{LC}/manage/{a.id}/invitations/{inv_b.id}"),
        ("admin_of_a", "POST", f"{LC}/manage/{a.id}/invitations/{inv_b.id}/revoke"),
        ("admin_of_a", "POST", f"{LC}/manage/{a.id}/invitations/{inv_b.id}/resend"),
        ("admin_of_b", "POST", f"{LC}/manage/{b.id}/invitations/{inv_a.id}/revoke"),
        ("admin_of_b", "POST", f"{LC}/manage/{b.id}/invitations/{inv_a.id}/resend"),
        ("admin_of_b", "GET", f"{LC}/manage/{b.id}/invitations/{inv_a.id}"),
        ("manager", "GET", f"{ADMIN}/{b.id}/invitations/{inv_a.id}/activities"),
        ("manager", "POST", f"{ADMIN}/{b.id}/invitations/{inv_a.id}/revoke"),
        ("manager", "POST", f"{ADMIN}/{b.id}/invitations/{inv_a.id}/resend"),
        ("other_learner", "GET", f"{LC}/manage/{b.id}/invitations/{inv_b.id}"),  # their own, but not an admin
        ("other_learner", "POST", f"{LC}/contracts/{a.id}/activities/{world.courses[0].id}/enroll"),
        ("learner", "POST", f"{LC}/contracts/{b.id}/activities/{world.courses[0].id}/enroll"),
        ("learner", "GET", f"{LC}/contracts/{b.id}"),
        ("learner", "POST", f"{LC}/contracts/{a.id}/activities/{world.courses[2].id}/enroll"),  # not on A
    ]
    before = snapshot(db, app)
    for role, method, path in attempts:
        client = client_for(app, world.users[role])
        if method == "GET":
            response = client.get(path)
        else:
            response = client.post(path, data={"csrf_token": csrf_for(app, client)})
        assert response.status_code == 404, (role, method, path, response.status_code)
    assert snapshot(db, app) == before


def test_the_learner_sees_only_their_own_invitations(app, world):
    mine = client_for(app, world.users["learner"]).get(LC + "/").get_data(as_text=True)
    theirs = client_for(app, world.users["other_learner"]).get(LC + "/").get_data(as_text=True)

    assert "Acme" in mine and "Beta" not in mine
    assert "Beta" in theirs and "Acme" not in theirs
