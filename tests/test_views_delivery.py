"""What the admin and the dashboard say about invitation e-mails (issue 16 leftovers): the dashboard shows each
invitation's delivery state in words with Retry for a failed one, "Remind all outstanding" says how many
invitations have an e-mail that could not be sent, and a failed resend says "retried automatically" only when a
retry will happen (``LEARNING_CONTRACTS_DELIVERY_ATTEMPTS``)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from flask_learning_contracts import ContractType, services
from flask_learning_contracts.enums import DeliveryStatus

from . import admin_support
from .admin_support import post_form, url
from .notify_support import use_rules
from .test_services_notifications import FlakyRules
from .views_support import PREFIX, client_for, token

MANAGE = PREFIX + "/manage"


@pytest.fixture
def flaky(app):
    app.config["LEARNING_CONTRACTS_DELIVERY_ATTEMPTS"] = 1  # the first failure is final
    return use_rules(app, FlakyRules())


@pytest.fixture
def boss(make_user):
    return make_user("casey@example.com", name="Casey Contracts")


@pytest.fixture
def contract(make_contract, make_course, boss):
    contract = make_contract(ContractType.VOUCHER, code="ACME", title="Acme", activities=[make_course("Safety")])
    services.add_contract_admin(contract, boss)
    return contract


@pytest.fixture
def dashboard(app, boss):
    return client_for(app, boss)


@pytest.fixture
def as_manager(app, make_user):
    """The admin panel, as someone the host lets manage contracts."""
    return client_for(app, make_user("bea@example.com", manager=True, name="Bea Boss"))


def read(response) -> str:
    return admin_support.text(response)


def read_html(html: str) -> str:
    class Page:
        def get_data(self, as_text: bool = True) -> str:
            return html

    return admin_support.text(Page())


def _notification_of(db, m, email):
    db.session.rollback()
    return db.session.execute(sa.select(m.Notification).where(m.Notification.recipient == email)
                              .order_by(m.Notification.id.desc()).limit(1)).scalar_one()


# ---------------------------------------------------------------------------------------------
# (a) the dashboard shows each invitation's delivery state, and retries a failed one
# ---------------------------------------------------------------------------------------------
def test_the_dashboard_shows_each_invitations_email_delivery_in_words(app, flaky, db, contract, make_user,
                                                                      dashboard):
    services.invite(contract, users=[make_user("olga@example.com", name="Olga")])  # fails: Failed at once
    flaky.failing = None
    services.invite(contract, users=[make_user("sam@example.com", name="Sam")])  # sent
    app.config["LEARNING_CONTRACTS_DELIVERY"] = "queued"
    services.invite(contract, emails=["wait@example.org"])  # waits for the worker

    html = dashboard.get(f"{MANAGE}/{contract.id}").get_data(as_text=True)
    page = read_html(html)
    form = html[html.index("/notifications/"):][:800]
    assert 'name="csrf_token"' in form and 'name="next"' in form  # the Retry form

    assert "E-mail delivery" in page
    assert "olga@example.com Outstanding" in page and "Invitation: Failed (relay unreachable) Retry" in page
    assert "Invitation: Sent 15 Jun 2026, 12:00 UTC" in page
    assert "Invitation: Waiting to be sent" in page
    assert page.count("Retry") == 1  # only the failed one


def test_retry_on_the_dashboard_sends_the_failed_invitation_again(flaky, db, m, contract, make_user, dashboard):
    services.invite(contract, users=[make_user("olga@example.com", name="Olga")])
    failed = _notification_of(db, m, "olga@example.com")
    assert failed.status is DeliveryStatus.FAILED
    flaky.failing = None
    page = f"{MANAGE}/{contract.id}"

    response = dashboard.post(f"{page}/notifications/{failed.id}/retry",
                              data={"csrf_token": token(dashboard, page)}, follow_redirects=True)

    assert response.status_code == 200
    assert "Retrying 1 notification." in read(response) and "Invitation: Sent" in read(response)
    assert [msg.to for msg in flaky.messages] == [["olga@example.com"]] or \
        [msg.to for msg in flaky.messages] == ["olga@example.com"]
    assert _notification_of(db, m, "olga@example.com").status is DeliveryStatus.SENT


def test_dashboard_retry_needs_the_token_and_the_contract(app, flaky, db, m, contract, make_contract, make_user,
                                                         dashboard):
    services.invite(contract, users=[make_user("olga@example.com")])
    failed = _notification_of(db, m, "olga@example.com")
    flaky.failing = None
    other = make_contract(ContractType.VOUCHER, code="OTHER")

    assert dashboard.post(f"{MANAGE}/{contract.id}/notifications/{failed.id}/retry").status_code == 400
    assert client_for(app, make_user()).post(
        f"{MANAGE}/{contract.id}/notifications/{failed.id}/retry").status_code == 404
    response = dashboard.post(f"{MANAGE}/{other.id}/notifications/{failed.id}/retry",
                              data={"csrf_token": token(dashboard, f"{MANAGE}/{contract.id}")})
    assert response.status_code == 404  # not one of the boss's contracts
    assert flaky.messages == [] and _notification_of(db, m, "olga@example.com").status is DeliveryStatus.FAILED
    for huge in (2**31, 2**63, 10**30):  # no notification can have it: nothing to retry, never an error page
        response = dashboard.post(f"{MANAGE}/{contract.id}/notifications/{huge}/retry",
                                  data={"csrf_token": token(dashboard, f"{MANAGE}/{contract.id}")},
                                  follow_redirects=True)
        assert response.status_code == 200 and "Nothing to retry" in read(response)


# ---------------------------------------------------------------------------------------------
# (b) "Remind all outstanding" says how many invitations have a failed e-mail
# ---------------------------------------------------------------------------------------------
def test_remind_all_outstanding_says_how_many_invitations_have_a_failed_email(flaky, db, contract, make_user,
                                                                             as_manager):
    services.invite(contract, users=[make_user("olga@example.com"), make_user("sam@example.com")])  # both fail
    flaky.failing = None
    services.invite(contract, users=[make_user("ana@example.com")])  # sent
    page = url(f"{contract.id}/invitations")

    response = post_form(as_manager, page, url(f"{contract.id}/invitations/remind"), follow_redirects=True)

    said = read(response)
    assert ('Reminded 3 learners. 2 invitations have an e-mail that could not be sent; they are listed under '
            '"Notifications that could not be sent", with Retry.') in said
    assert "Notifications that could not be sent (2)" in said
    assert said.count("Reminder Sent") == 3  # each invitation's latest e-mail: it alone would hide the failures


def test_remind_all_outstanding_in_queued_mode_says_the_reminders_are_queued(app, rules, db, contract, make_user,
                                                                            as_manager):
    app.config["LEARNING_CONTRACTS_DELIVERY"] = "queued"
    services.invite(contract, users=[make_user("olga@example.com")])
    page = url(f"{contract.id}/invitations")

    response = post_form(as_manager, page, url(f"{contract.id}/invitations/remind"), follow_redirects=True)

    assert "Queued 1 reminder; it goes out with the next delivery run." in read(response)
    assert "could not be sent" not in read(response)


# ---------------------------------------------------------------------------------------------
# (c) a failed resend says whether it will be retried
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("attempts", [1, 3])
@pytest.mark.parametrize("where", ["admin", "dashboard"])
def test_a_failed_resend_says_whether_it_will_be_retried(app, db, contract, make_user, as_manager, dashboard,
                                                        attempts, where):
    invitation = services.get_invitation(
        services.invite(contract, users=[make_user("olga@example.com")]).invited[0].invitation_id)
    flaky = use_rules(app, FlakyRules())
    app.config["LEARNING_CONTRACTS_DELIVERY_ATTEMPTS"] = attempts

    if where == "admin":
        page = url(f"{contract.id}/invitations")
        response = post_form(as_manager, page, url(f"{contract.id}/invitations/{invitation.id}/resend"),
                             follow_redirects=True)
    else:
        page = f"{MANAGE}/{contract.id}"
        response = dashboard.post(f"{page}/invitations/{invitation.id}/resend",
                                  data={"csrf_token": token(dashboard, page)}, follow_redirects=True)

    said = read(response)
    assert "The invitation could not be sent: relay unreachable." in said
    if attempts == 1:
        assert "It will be retried automatically" not in said
        assert "It will not be retried automatically; click Resend to try again." in said
    else:
        assert "It will be retried automatically." in said
    assert flaky.messages == []
