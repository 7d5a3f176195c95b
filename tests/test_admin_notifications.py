"""The admin's view of notifications: delivery state per invitation, failed deliveries with Retry, "Remind all
outstanding" on the Invitations tab, reminders and alerts in the History tab, the per-contract reminder switch."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from flask_learning_contracts import ContractType, services
from flask_learning_contracts.enums import DeliveryStatus

from .admin_support import as_manager, login_client, manager, post_form, text, url  # noqa: F401 - fixtures
from .notify_support import use_rules
from .test_services_notifications import FlakyRules


@pytest.fixture
def flaky(app):
    app.config["LEARNING_CONTRACTS_DELIVERY_ATTEMPTS"] = 1  # the first failure is final: shown to admins at once
    return use_rules(app, FlakyRules())


@pytest.fixture
def contract(make_contract, make_course):
    return make_contract(ContractType.VOUCHER, code="ACME", title="Acme", activities=[make_course("Safety")])


def test_failed_deliveries_are_listed_with_their_error_and_retry_sends_them(flaky, db, m, contract, make_user,
                                                                             as_manager):
    services.invite(contract, users=[make_user("olga@example.com", name="Olga")])
    page = url(f"{contract.id}/invitations")
    before = text(as_manager.get(page))
    assert "Notifications that could not be sent (1)" in before
    assert "Invitation 15 Jun 2026, 12:00 UTC olga@example.com 1 relay unreachable Retry" in before
    assert "Invitation Failed relay unreachable" in before  # the invitation's own delivery column

    flaky.failing = None
    response = post_form(as_manager, page, url(f"{contract.id}/notifications/retry"), follow_redirects=True)
    after = text(response)
    assert "Retrying 1 notification." in after and "Notifications that could not be sent" not in after
    assert "Invitation Sent" in after
    assert [msg.to for msg in flaky.messages] == ["olga@example.com"]
    history = text(as_manager.get(url(f"{contract.id}/history")))
    assert "Retried 1 notification that could not be sent." in history


def test_retry_of_one_notification_leaves_the_others_failed(flaky, db, m, contract, make_user, as_manager):
    services.invite(contract, users=[make_user("a@example.com"), make_user("b@example.com")])
    first = db.session.execute(sa.select(m.Notification.id).where(m.Notification.recipient == "a@example.com")
                               ).scalar_one()
    flaky.failing = None
    page = url(f"{contract.id}/invitations")
    post_form(as_manager, page, url(f"{contract.id}/notifications/retry"), {"notification_id": str(first)})
    db.session.rollback()
    statuses = dict(db.session.execute(sa.select(m.Notification.recipient, m.Notification.status)).all())
    assert statuses == {"a@example.com": DeliveryStatus.SENT, "b@example.com": DeliveryStatus.FAILED}


def test_remind_all_outstanding_from_the_invitations_tab(db, rules, contract, make_user, as_manager):
    services.invite(contract, users=[make_user("olga@example.com")], emails=["ghost@example.org"])
    rules.sent.clear()
    page = url(f"{contract.id}/invitations")
    assert "Remind all outstanding" in text(as_manager.get(page))
    response = post_form(as_manager, page, url(f"{contract.id}/invitations/remind"), follow_redirects=True)
    assert "Reminded 2 learners." in text(response)
    assert sorted(rules.sent) == [("ghost@example.org", True), ("olga@example.com", True)]  # the host's hook
    assert "Reminder Sent" in text(response)
    again = post_form(as_manager, page, url(f"{contract.id}/invitations/remind"), follow_redirects=True)
    assert "Nobody to remind: every outstanding learner was already reminded today." in text(again)
    history = text(as_manager.get(url(f"{contract.id}/history")))
    assert "Bea Boss Reminded 2 learners who have not acted on their invitation yet." in history


def test_remind_without_csrf_token_reminds_nobody(db, rules, contract, make_user, as_manager):
    services.invite(contract, users=[make_user()])
    rules.sent.clear()
    as_manager.post(url(f"{contract.id}/invitations/remind"))
    assert rules.sent == []


def test_the_contract_form_switches_reminders_off(app, db, contract, as_manager):
    form = text(as_manager.get(url(f"edit/?id={contract.id}")))
    assert "Send reminders Yes No" in form
    data = {"code": "ACME", "title": "Acme", "description": "", "group": "", "external_id": "", "source": "",
            "seats": "10", "per_user_limit": "0", "valid_from": "2026-01-01", "valid_until": "2026-12-31",
            "require_invitation_code": "yes", "reminders_enabled": "no"}
    post_form(as_manager, url(f"edit/?id={contract.id}"), data=data)
    db.session.rollback()
    assert services.get_contract(contract.id).reminders_enabled is False
