"""Learner pages: invitations page and widget, the code form and its rate limit, the contract page, enrolling."""
from __future__ import annotations

import datetime as dt
import time

import pytest
from flask import render_template_string
from flask_login import login_user

from flask_learning_contracts import ContractType, InvitationStatus, services
from flask_learning_contracts.codes import format_code

from . import host
from .conftest import count
from .views_support import PREFIX, client_for, count_queries, text, token


@pytest.fixture
def state(app):
    return app.extensions["learning_contracts"]


@pytest.fixture
def courses(make_course):
    return [make_course("Safety Basics"), make_course("Leadership Lab", kind="ilt"),
            make_course("Certified Trainer", kind="certification")]


def invited(contract, user, **kw):
    services.invite(contract, users=[user], **kw)
    return services.invitations_for(user)[0]


def seats_used(db, contract) -> int:
    db.session.expire_all()
    return db.session.get(type(contract), contract.id).seats_used


def enroll_url(contract, course) -> str:
    return f"{PREFIX}/contracts/{contract.id}/activities/{course.id}/enroll"


# ---------------------------------------------------------------------------------------------
# who may see what
# ---------------------------------------------------------------------------------------------
def test_anonymous_visitors_are_handed_to_the_hosts_login_manager(app):
    app.add_url_rule("/login", "login_page", lambda: "log in here")
    assert client_for(app).get(PREFIX + "/").status_code == 401  # no login view configured yet

    app.login_manager.login_view = "login_page"
    response = client_for(app).get(PREFIX + "/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    assert client_for(app).post(PREFIX + "/code", data={"code": "X"}).status_code == 302


def test_invitations_page_lists_the_learners_own_invitation_in_words(app, make_user, make_contract, courses):
    ana, ben = make_user(), make_user()
    mine = make_contract(title="Acme safety", description="Courses for Acme staff.", activities=courses[:2],
                         require_invitation_code=False, valid_until=dt.date(2026, 12, 31))
    theirs = make_contract(title="Someone else's contract", activities=courses[:1])
    invited(mine, ana)
    invited(theirs, ben)

    page = text(client_for(app, ana).get(PREFIX + "/"))

    assert "Acme safety" in page and "Courses for Acme staff." in page
    assert "31 Dec 2026" in page
    assert "Outstanding" in page
    assert "Safety Basics" in page and "Online course" in page
    assert "Leadership Lab" in page and "Instructor-led training" in page
    assert page.count(">Enroll<") == 2
    assert "Someone else" not in page
    assert "2026-12-31" not in page and "voucher" not in page.replace("Voucher", "")


def test_another_learners_contract_is_not_found(app, db, make_user, make_contract, courses):
    ana, ben = make_user(), make_user()
    contract = make_contract(activities=courses[:1], require_invitation_code=False)
    invited(contract, ben)
    client = client_for(app, ana)

    assert client.get(f"{PREFIX}/contracts/{contract.id}").status_code == 404
    assert client.get(f"{PREFIX}/contracts/99999").status_code == 404
    response = client.post(enroll_url(contract, courses[0]), data={"csrf_token": token(client)})
    assert response.status_code == 404
    assert count(db, host.CourseEnrollment) == 0
    assert seats_used(db, contract) == 0


def test_an_activity_outside_the_voucher_invitation_is_not_found(app, db, make_user, make_contract, courses):
    ana = make_user()
    contract = make_contract(activities=courses[:2], require_invitation_code=False)
    invited(contract, ana, activities=[courses[0]])
    client = client_for(app, ana)

    response = client.post(enroll_url(contract, courses[1]), data={"csrf_token": token(client)})

    assert response.status_code == 404
    assert seats_used(db, contract) == 0


# ---------------------------------------------------------------------------------------------
# the code form
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("typed", ["lower", "spaces", "dashes"])
def test_code_is_accepted_in_lower_case_with_spaces_or_dashes(app, make_user, make_contract, courses, typed):
    ana = make_user()
    contract = make_contract(title="Code contract", activities=courses[:2])
    code = contract.invitation_code
    entered = {"lower": code.lower(), "spaces": " ".join(format_code(code).split("-")),
               "dashes": format_code(code).lower()}[typed]
    client = client_for(app, ana)

    response = client.post(PREFIX + "/code", data={"code": entered, "csrf_token": token(client)})

    assert response.status_code == 302
    assert response.headers["Location"] == f"{PREFIX}/contracts/{contract.id}"
    page = text(client.get(response.headers["Location"]))
    assert "Code accepted" in page and "Safety Basics" in page and page.count(">Enroll<") == 2
    assert services.invitations_for(ana)[0].status is InvitationStatus.ACCEPTED


def test_wrong_code_says_so_and_changes_nothing(app, db, make_user, make_contract, courses):
    ana = make_user()
    make_contract(activities=courses[:1])
    client = client_for(app, ana)

    response = client.post(PREFIX + "/code", data={"code": "WRONG-CODE-0000", "csrf_token": token(client)},
                           follow_redirects=True)

    assert response.status_code == 200
    assert "That invitation code is not valid" in text(response)
    assert services.invitations_for(ana) == []


def test_invitation_that_requires_a_code_shows_the_code_form_before_enroll(app, db, make_user, make_contract,
                                                                           courses):
    ana = make_user()
    contract = make_contract(title="Needs a code", activities=courses[:1], require_invitation_code=True)
    invited(contract, ana)
    client = client_for(app, ana)

    page = text(client.get(PREFIX + "/"))
    assert f'id="lc-code-{contract.id}"' in page
    assert "Enter the invitation code first." in page
    assert ">Enroll<" not in page

    response = client.post(enroll_url(contract, courses[0]), data={"csrf_token": token(client)},
                           follow_redirects=True)
    assert "Enter this learning contract&#39;s invitation code before you enroll." in text(response)
    assert seats_used(db, contract) == 0


def test_missing_csrf_token_is_refused_with_400_and_changes_nothing(app, db, make_user, make_contract, courses):
    ana = make_user()
    contract = make_contract(activities=courses[:1], require_invitation_code=False)
    invited(contract, ana)
    client = client_for(app, ana)

    enroll = client.post(enroll_url(contract, courses[0]))
    redeem = client.post(PREFIX + "/code", data={"code": contract.invitation_code})
    forged = client.post(enroll_url(contract, courses[0]), data={"csrf_token": "forged"})

    assert enroll.status_code == redeem.status_code == forged.status_code == 400
    assert "The form has expired" in text(enroll)
    assert seats_used(db, contract) == 0
    assert services.invitations_for(ana)[0].status is InvitationStatus.OUTSTANDING


# ---------------------------------------------------------------------------------------------
# rate limit on wrong codes
# ---------------------------------------------------------------------------------------------
def wrong_code(client, csrf):
    return client.post(PREFIX + "/code", data={"code": "AAAA-BBBB-CCCC", "csrf_token": csrf})


def test_wrong_codes_are_rate_limited_per_learner_and_per_ip(app, make_user, make_contract, courses):
    mallory, carol, dave = make_user(), make_user(), make_user()
    contract = make_contract(activities=courses[:1])
    attacker = client_for(app, mallory, REMOTE_ADDR="10.0.0.1")
    csrf = token(attacker)

    assert [wrong_code(attacker, csrf).status_code for _ in range(10)] == [302] * 10
    blocked = wrong_code(attacker, csrf)
    assert blocked.status_code == 429
    assert "Too many wrong invitation codes" in text(blocked)
    # Blocked even with the right code, and from another address: the learner's own counter is full.
    assert attacker.post(PREFIX + "/code", data={"code": contract.invitation_code, "csrf_token": csrf}).status_code == 429
    elsewhere = client_for(app, mallory, REMOTE_ADDR="10.0.0.9")
    assert wrong_code(elsewhere, token(elsewhere)).status_code == 429
    # Another learner behind the same address is blocked too: the IP's counter is full.
    same_ip = client_for(app, dave, REMOTE_ADDR="10.0.0.1")
    assert same_ip.post(PREFIX + "/code", data={"code": contract.invitation_code,
                                                "csrf_token": token(same_ip)}).status_code == 429
    # A correct code by another learner elsewhere still works.
    other = client_for(app, carol, REMOTE_ADDR="10.0.0.2")
    response = other.post(PREFIX + "/code", data={"code": contract.invitation_code, "csrf_token": token(other)})
    assert response.status_code == 302
    assert services.invitations_for(carol)[0].contract_id == contract.id
    assert services.invitations_for(mallory) == [] and services.invitations_for(dave) == []


def test_correct_codes_do_not_count_and_the_limit_lifts_when_the_window_passes(app, make_user, make_contract,
                                                                               courses):
    from flask_learning_contracts.views import CodeAttemptLimiter

    app.extensions["learning_contracts"].limiter = CodeAttemptLimiter("2 per 1 second", "memory://")
    ana = make_user()
    contract = make_contract(activities=courses[:1])
    client = client_for(app, ana, REMOTE_ADDR="10.0.0.3")
    csrf = token(client)
    for _ in range(3):  # right codes are never counted
        assert client.post(PREFIX + "/code", data={"code": contract.invitation_code,
                                                   "csrf_token": csrf}).status_code == 302
    assert [wrong_code(client, csrf).status_code for _ in range(3)] == [302, 302, 429]
    time.sleep(1.1)
    assert wrong_code(client, csrf).status_code == 302


def test_wrong_codes_from_many_threads_never_exceed_the_limit(app, make_user, monkeypatch):
    """``memory://`` counters are shared by the threads of one worker process: 16 threads post 2 wrong codes
    each at the same moment, every evaluation slowed down by 20 ms (a busy database). Exactly 10 are evaluated;
    the others are refused with 429 before their code is looked at."""
    import threading

    from flask_learning_contracts.views import CodeAttemptLimiter

    app.extensions["learning_contracts"].limiter = CodeAttemptLimiter("10 per 10 minutes", "memory://")
    learners = [make_user() for _ in range(2)]
    clients = [client_for(app, learners[i % 2], REMOTE_ADDR="10.0.0.5") for i in range(16)]
    tokens = [token(client) for client in clients]
    redeem = services.redeem_code

    def slow_redeem(user, code):
        time.sleep(0.02)
        return redeem(user, code)

    monkeypatch.setattr(services, "redeem_code", slow_redeem)
    barrier, statuses = threading.Barrier(len(clients)), []

    def attempts(client, csrf):
        barrier.wait(30)
        for _ in range(2):
            with app.app_context():  # a request of this thread (the test's own context is the main thread's)
                statuses.append(wrong_code(client, csrf).status_code)

    threads = [threading.Thread(target=attempts, args=pair) for pair in zip(clients, tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert (statuses.count(302), statuses.count(429)) == (10, 22), statuses


def test_a_refused_or_given_back_attempt_counts_nothing():
    from flask_learning_contracts.views import CodeAttemptLimiter

    limiter = CodeAttemptLimiter("2 per minute", "memory://")
    held = [limiter.reserve("ana", "10.0.0.1") for _ in range(2)]
    assert None not in held and limiter.reserve("ana", "10.0.0.1") is None
    limiter.release(held[0])  # a right code gives its attempt back
    assert limiter.reserve("ana", "10.0.0.1") is not None and limiter.reserve("ana", "10.0.0.1") is None
    # Refused by the full address: nothing is held for the learner either.
    assert limiter.reserve("bob", "10.0.0.1") is None
    assert [limiter.reserve("bob", "10.0.0.2") is not None for _ in range(3)] == [True, True, False]


def test_a_storage_that_cannot_reserve_attempts_is_refused_at_start(monkeypatch):
    from flask_learning_contracts.views import ratelimit

    monkeypatch.setattr(ratelimit, "storage_from_string", lambda uri: object())  # e.g. memcached://
    with pytest.raises(ValueError, match="use memory:// .* or a Redis URI"):
        ratelimit.CodeAttemptLimiter("10 per minute", "memcached://localhost:11211")


def test_limit_and_storage_come_from_config(tmp_path):
    from .conftest import database_url

    app = host.create_app(database_url(tmp_path), LEARNING_CONTRACTS_CODE_ATTEMPTS_LIMIT="3 per hour",
                          LEARNING_CONTRACTS_RATELIMIT_STORAGE_URI="memory://")
    limiter = app.extensions["learning_contracts"].limiter
    assert (limiter.item.amount, limiter.item.get_expiry()) == (3, 3600)
    other = host.create_app(database_url(tmp_path))
    assert other.extensions["learning_contracts"].limiter is not limiter


# ---------------------------------------------------------------------------------------------
# enrolling
# ---------------------------------------------------------------------------------------------
def test_voucher_two_activities_use_two_seats_through_the_pages(app, db, make_user, make_contract, courses):
    ana = make_user()
    contract = make_contract(ContractType.VOUCHER, seats=5, activities=courses[:2], require_invitation_code=False)
    invited(contract, ana)
    client = client_for(app, ana)
    csrf = token(client)

    for course in courses[:2]:
        response = client.post(enroll_url(contract, course), data={"csrf_token": csrf}, follow_redirects=True)
        assert f"You are enrolled in {course.title}." in text(response)

    assert seats_used(db, contract) == 2
    assert count(db, host.CourseEnrollment) == 2
    page = text(client.get(f"{PREFIX}/contracts/{contract.id}"))
    assert page.count("lc-state lc-state-ok") == 2 and ">Enroll<" not in page


def test_subscription_two_activities_use_one_seat_through_the_pages(app, db, make_user, make_contract, courses):
    ana = make_user()
    contract = make_contract(ContractType.SUBSCRIPTION, seats=5, activities=courses[:2],
                             require_invitation_code=False)
    invited(contract, ana)
    client = client_for(app, ana)
    csrf = token(client)

    for course in courses[:2]:
        assert client.post(enroll_url(contract, course), data={"csrf_token": csrf}).status_code == 302

    assert seats_used(db, contract) == 1
    assert count(db, host.CourseEnrollment) == 2


def test_enroll_through_the_widget_returns_to_the_host_page(app, db, make_user, make_contract, courses):
    import re

    ana = make_user()
    contract = make_contract(title="Widget contract", activities=courses[:1], require_invitation_code=False)
    invited(contract, ana)
    with app.test_request_context("/my-dashboard?tab=learning"):
        login_user(ana)
        widget = str(render_template_string("<div>{{ learning_contracts_widget() }}</div>"))
    assert "Learning Contract Invitations" in widget and "Widget contract" in widget
    action = re.search(r'<form method="post" action="([^"]+/enroll)"', widget).group(1)
    next_url = re.search(r'name="next" value="([^"]+)"', widget).group(1)
    assert next_url == "/my-dashboard?tab=learning"

    client = client_for(app, ana)
    response = client.post(action, data={"csrf_token": token(client), "next": next_url})

    assert response.status_code == 302 and response.headers["Location"] == "/my-dashboard?tab=learning"
    assert seats_used(db, contract) == 1


def test_widget_is_empty_for_anonymous_visitors(app):
    with app.test_request_context("/"):
        assert str(render_template_string("{{ learning_contracts_widget() }}")) == ""


def test_next_pointing_to_another_site_is_ignored(app, make_user, make_contract, courses):
    ana = make_user()
    contract = make_contract(activities=courses[:1], require_invitation_code=False)
    invited(contract, ana)
    client = client_for(app, ana)

    response = client.post(enroll_url(contract, courses[0]),
                           data={"csrf_token": token(client), "next": "//evil.example.com/x"})

    assert response.headers["Location"] == f"{PREFIX}/contracts/{contract.id}"


def test_no_seats_left_is_a_friendly_message(app, db, make_user, make_contract, courses):
    ana, ben = make_user(), make_user()
    contract = make_contract(title="Tiny contract", seats=1, activities=courses[:1], require_invitation_code=False)
    invited(contract, ana)
    invited(contract, ben)
    ana_client, ben_client = client_for(app, ana), client_for(app, ben)
    ben_csrf = token(ben_client)  # Ben's page still offers Enroll …
    assert ana_client.post(enroll_url(contract, courses[0]), data={"csrf_token": token(ana_client)}).status_code == 302

    response = ben_client.post(enroll_url(contract, courses[0]), data={"csrf_token": ben_csrf},
                               follow_redirects=True)  # … but the seat is gone

    assert response.status_code == 200
    assert "There are no seats left on Tiny contract" in text(response)
    assert "Traceback" not in text(response)
    assert seats_used(db, contract) == 1
    page = text(ben_client.get(PREFIX + "/"))
    assert "No seats left." in page and ">Enroll<" not in page


def test_contract_page_says_how_many_more_activities_the_learner_may_take(app, make_user, make_contract, courses):
    ana = make_user()
    contract = make_contract(ContractType.VOUCHER, activities=courses, per_user_limit=2,
                             require_invitation_code=False, valid_from=dt.date(2026, 1, 1),
                             valid_until=dt.date(2026, 12, 31))
    invited(contract, ana)
    client = client_for(app, ana)
    url = f"{PREFIX}/contracts/{contract.id}"

    assert "2 more activities" in text(client.get(url))
    client.post(enroll_url(contract, courses[0]), data={"csrf_token": token(client)})
    client.post(enroll_url(contract, courses[1]), data={"csrf_token": token(client)})
    page = text(client.get(url))
    assert "0 more activities" in page
    assert "You have reached your limit of 2 activities." in page
    assert "1 Jan 2026 to 31 Dec 2026" in page
    assert "Each activity you enroll in uses one seat" in page


def test_expired_contract_says_why_enroll_is_not_available(app, rules, make_user, make_contract, courses):
    ana = make_user()
    contract = make_contract(activities=courses[:1], require_invitation_code=False)
    invited(contract, ana)
    rules.set_today(dt.date(2027, 1, 5))

    page = text(client_for(app, ana).get(PREFIX + "/"))

    assert "The contract expired on 31 December 2026." in page
    assert ">Enroll<" not in page


def test_not_registered_invitation_attaches_lazily_when_the_learner_opens_the_page(app, db, make_contract,
                                                                                    courses):
    contract = make_contract(title="For newcomers", activities=courses[:1], require_invitation_code=False)
    services.invite(contract, emails=["Newcomer@Example.com"])
    newcomer = host.Account(email_address="newcomer@example.com")  # signed up without the host calling the hook
    db.session.add(newcomer)
    db.session.commit()

    page = text(client_for(app, newcomer).get(PREFIX + "/"))

    assert "For newcomers" in page and "Outstanding" in page


def test_revoked_invitation_disappears_and_its_contract_is_not_found(app, make_user, make_contract, courses):
    ana = make_user()
    contract = make_contract(title="Revoked one", activities=courses[:1], require_invitation_code=False)
    services.revoke(invited(contract, ana))
    client = client_for(app, ana)

    assert "Revoked one" not in text(client.get(PREFIX + "/"))
    assert client.get(f"{PREFIX}/contracts/{contract.id}").status_code == 404


# ---------------------------------------------------------------------------------------------
# constant number of queries
# ---------------------------------------------------------------------------------------------
def _queries_for_pages(app, db, make_user, make_contract, courses, n):
    ana = make_user()
    for i in range(n):
        contract = make_contract(ContractType.VOUCHER if i % 2 else ContractType.SUBSCRIPTION,
                                 title=f"Contract {i}", activities=courses, require_invitation_code=bool(i % 3))
        invited(contract, ana)
    client = client_for(app, ana)
    client.get(PREFIX + "/")  # warm up (lazy linking, session)
    with count_queries(db) as page_queries:
        page = text(client.get(PREFIX + "/"))
    assert page.count('class="lc-card lc-offer"') == n
    with app.test_request_context("/"):
        login_user(ana)
        with count_queries(db) as widget_queries:
            widget = str(render_template_string("{{ learning_contracts_widget() }}"))
    assert widget.count('class="lc-card lc-offer"') == n
    return len(page_queries), len(widget_queries)


def test_invitations_page_and_widget_issue_the_same_queries_for_2_or_30_invitations(app, db, make_user,
                                                                                     make_contract, courses):
    few = _queries_for_pages(app, db, make_user, make_contract, courses, 2)
    many = _queries_for_pages(app, db, make_user, make_contract, courses, 30)
    assert few == many, (few, many)


# ---------------------------------------------------------------------------------------------
# a contract deleted while the learner enrolls (issue 14, item 8)
# ---------------------------------------------------------------------------------------------
def test_enrolling_in_a_contract_deleted_meanwhile_shows_that_it_is_gone(app, db, make_user, make_contract, courses,
                                                                        monkeypatch):
    """The contract is deleted between the page finding the learner's invitation and the enrollment."""
    from .conftest import in_another_request

    ana = make_user()
    contract = make_contract(activities=courses[:1], require_invitation_code=False)
    invited(contract, ana)
    cid = contract.id
    client = client_for(app, ana)
    csrf = token(client)
    offers = services.invitation_offers

    def offers_then_delete(user, invitations=None):
        found = offers(user, invitations)
        in_another_request(app, lambda: services.delete_contract(services.get_contract(cid)))
        return found

    monkeypatch.setattr(services, "invitation_offers", offers_then_delete)
    response = client.post(enroll_url(contract, courses[0]),  # posted from the contract's page, which is gone
                           data={"csrf_token": csrf, "next": f"{PREFIX}/contracts/{cid}"})
    monkeypatch.undo()

    assert response.status_code == 302 and response.headers["Location"].endswith(PREFIX + "/")
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    assert "This learning contract no longer exists: it may have been deleted." in text(page)
    assert count(db, host.CourseEnrollment) == 0


def test_enrolling_while_the_contract_is_deleted_during_a_retry_is_not_a_server_error(app, db, make_user,
                                                                                     make_contract, courses,
                                                                                     monkeypatch):
    """A locked database makes the enrollment retry, and the contract is deleted before the retry."""
    from sqlalchemy import exc as sa_exc

    from flask_learning_contracts.services import _core

    from .conftest import in_another_request

    ana = make_user()
    contract = make_contract(activities=courses[:1], require_invitation_code=False)
    invited(contract, ana)
    cid = contract.id
    client = client_for(app, ana)
    csrf = token(client)
    rules = app.extensions["learning_contracts"].rules

    def locked(user, activity, on_contract):
        raise sa_exc.OperationalError("INSERT …", {}, Exception("database is locked"))

    monkeypatch.setattr(rules, "enroll_in_activity", locked)
    monkeypatch.setattr(_core.time, "sleep", lambda seconds: in_another_request(
        app, lambda: services.delete_contract(services.get_contract(cid))))
    response = client.post(enroll_url(contract, courses[0]), data={"csrf_token": csrf}, follow_redirects=True)

    assert response.status_code == 200
    assert "This learning contract no longer exists: it may have been deleted." in text(response)
    assert count(db, host.CourseEnrollment) == 0
