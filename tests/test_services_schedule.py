"""The scheduler (``services.run_schedule`` / ``flask contracts tick``) and "Remind all outstanding": reminders,
seats alerts and end-of-contract notices, each created once, re-armed when seats are added or the period is
extended, and recorded in the history. Races between ticks and enrollments: ``test_notifications_concurrency.py``.
"""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from flask_learning_contracts import ContractType, services
from flask_learning_contracts.enums import DeliveryStatus, NotificationKind

from .notify_support import use_shipped_mail

INVITED = dt.date(2026, 6, 15)  # the test clock's day: invitations below are sent then


@pytest.fixture
def courses(make_course):
    return [make_course("Safety"), make_course("Privacy")]


@pytest.fixture
def outbox(app):
    return use_shipped_mail(app).outbox


@pytest.fixture
def invited(app, make_contract, make_user, courses, outbox):
    """A Voucher contract with a contract admin and three invitations: Outstanding, Not Registered, Accepted."""
    contract = make_contract(ContractType.VOUCHER, code="ACME", title="Acme", activities=courses, seats=4,
                             valid_until=dt.date(2026, 12, 31))
    services.add_contract_admin(contract, make_user("boss@example.com", name="Boss"))
    ana, ben = make_user("ana@example.com"), make_user("ben@example.com")
    services.invite(contract, users=[ana, ben], emails=["new@example.com"])
    services.redeem_code(ben, contract.invitation_code)
    outbox.clear()
    return contract


def rules_of(app):
    return app.extensions["learning_contracts"].rules


def tick(app, day: dt.date) -> str:
    rules_of(app).set_today(day)
    result = app.test_cli_runner().invoke(args=["contracts", "tick"])
    assert result.exit_code == 0, result.output
    return result.output


def notices(db, m, kind: NotificationKind) -> list:
    db.session.rollback()
    return list(db.session.execute(sa.select(m.Notification).where(m.Notification.kind == kind)
                                   .order_by(m.Notification.id)).scalars())


def actions(contract) -> list[str]:
    return [h.action for h in services.history(services.get_contract(contract.id))]


# ---------------------------------------------------------------------------------------------
# reminders
# ---------------------------------------------------------------------------------------------
def test_tick_twice_at_a_frozen_clock_sends_one_reminder(app, db, m, invited, outbox):
    day3 = INVITED + dt.timedelta(days=3)
    assert tick(app, day3 - dt.timedelta(days=1)).startswith("0 reminders")  # not due before day 3
    assert tick(app, day3).startswith("2 reminders, 0 seats alerts")
    assert tick(app, day3).startswith("0 reminders, 0 seats alerts, 0 end-of-contract notices")
    assert sorted((msg.to[0], msg.subject) for msg in outbox) == [
        ("ana@example.com", "Reminder: your invitation to Acme"),
        ("new@example.com", "Reminder: your invitation to Acme")]
    assert sorted((n.recipient, n.status) for n in notices(db, m, NotificationKind.REMINDER)) == [
        ("ana@example.com", DeliveryStatus.SENT), ("new@example.com", DeliveryStatus.SENT)]
    assert actions(invited).count("reminded") == 1
    # the next step (day 10) once, then nothing until a new invitation
    assert tick(app, INVITED + dt.timedelta(days=9)).startswith("0 reminders")
    assert tick(app, INVITED + dt.timedelta(days=10)).startswith("2 reminders")
    assert tick(app, INVITED + dt.timedelta(days=12)).startswith("0 reminders")
    assert len(outbox) == 4


def test_a_missed_reminder_is_sent_late_within_a_week_then_never(app, db, m, invited):
    assert services.run_schedule(INVITED + dt.timedelta(days=9)).reminders == 2  # day 3's, six days late
    assert services.run_schedule(INVITED + dt.timedelta(days=30)).reminders == 0  # day 10's grace has passed
    assert {n.dedupe_key.rsplit(":", 1)[1] for n in notices(db, m, NotificationKind.REMINDER)} == {"3"}


def test_reminders_can_be_switched_off_per_contract(app, db, m, invited, outbox):
    services.update_contract(invited, reminders_enabled=False)
    assert services.run_schedule(INVITED + dt.timedelta(days=3)).reminders == 0
    assert outbox == [] and "reminders enabled: Yes → No" in services.history(invited)[0].message
    rules_of(app).set_today(INVITED + dt.timedelta(days=3))
    assert services.remind_outstanding(services.get_contract(invited.id)) == 2  # the manual button still works


def test_remind_outstanding_reminds_each_outstanding_learner_once_a_day(app, db, m, invited, outbox, make_user):
    admin = make_user("mgr@example.com", manager=True, name="Mia Manager")
    assert services.remind_outstanding(invited, actor=admin) == 2
    assert services.remind_outstanding(invited, actor=admin) == 0  # a second click the same day
    assert sorted(msg.to[0] for msg in outbox) == ["ana@example.com", "new@example.com"]
    entry = services.history(services.get_contract(invited.id))[0]
    assert (entry.action, entry.actor_name) == ("reminded", "Mia Manager") and "Reminded 2 learners" in entry.message
    rules_of(app).set_today(INVITED + dt.timedelta(days=1))
    assert services.remind_outstanding(services.get_contract(invited.id)) == 2


def test_a_reminder_no_longer_true_when_its_turn_comes_is_not_sent(app, db, m, invited, outbox, make_user):
    app.config["LEARNING_CONTRACTS_DELIVERY"] = "queued"
    assert services.run_schedule(INVITED + dt.timedelta(days=3)).reminders == 2
    ana = db.session.execute(sa.select(m.Invitation).where(m.Invitation.email == "ana@example.com")).scalar_one()
    services.redeem_code(ana.user, invited.invitation_code)  # she acted before the worker got to it
    report = services.deliver_notifications()
    assert (report.sent, report.skipped) == (1, 1)
    skipped = [n for n in notices(db, m, NotificationKind.REMINDER) if n.status is DeliveryStatus.SKIPPED]
    assert skipped[0].recipient == "ana@example.com" and "no longer outstanding" in skipped[0].last_error
    assert [msg.to for msg in outbox] == [["new@example.com"]]


# ---------------------------------------------------------------------------------------------
# seats alerts
# ---------------------------------------------------------------------------------------------
def enroll_new(contract, make_user, course, n: int) -> None:
    for _ in range(n):
        learner = make_user()
        services.invite(contract, users=[learner])
        services.redeem_code(learner, contract.invitation_code)
        services.enroll(learner, services.get_contract(contract.id), course)


def test_seats_alert_once_when_the_threshold_is_reached_and_again_after_seats_are_added(app, db, m, invited, outbox,
                                                                                       courses, make_user):
    enroll_new(invited, make_user, courses[0], 2)
    assert notices(db, m, NotificationKind.SEAT_ALERT) == []  # 50 %
    enroll_new(invited, make_user, courses[0], 1)  # 3 of 4: the enrollment that reached 75 % wrote the alert
    [alert] = notices(db, m, NotificationKind.SEAT_ALERT)
    assert (alert.recipient, alert.status, alert.payload["threshold"]) == ("boss@example.com", DeliveryStatus.SENT, 75)
    boss_mail = [msg for msg in outbox if msg.to == ["boss@example.com"]]
    assert [msg.subject for msg in boss_mail] == ["75% of the seats of Acme are used"]
    assert "3 of the 4 seats" in boss_mail[0].body and "1 seat is left." in boss_mail[0].body
    assert services.run_schedule(INVITED).seat_alerts == 0  # the tick finds it already sent
    assert "Seats alert: 75% of the seats are used (3 of 4); notified boss@example.com." in [
        h.message for h in services.history(services.get_contract(invited.id))]

    services.update_contract(services.get_contract(invited.id), seats=8)  # 3 of 8: re-armed
    assert services.run_schedule(INVITED).seat_alerts == 0
    enroll_new(invited, make_user, courses[0], 3)  # 6 of 8
    assert [(n.payload["seats"], n.payload["threshold"]) for n in notices(db, m, NotificationKind.SEAT_ALERT)] == [
        (4, 75), (8, 75)]


def test_one_seat_crossing_two_thresholds_sends_only_the_higher_alert(app, db, m, make_contract, make_user, courses,
                                                                      outbox):
    contract = make_contract(ContractType.SUBSCRIPTION, activities=courses, seats=2, require_invitation_code=False)
    services.add_contract_admin(contract, make_user("boss@example.com"))
    enroll_new(contract, make_user, courses[0], 1)  # 50 %
    enroll_new(contract, make_user, courses[0], 1)  # 100 %: crosses 75 and 100 at once
    assert [n.payload["threshold"] for n in notices(db, m, NotificationKind.SEAT_ALERT)] == [100]
    assert "No seats are left" in outbox[-1].body


def test_a_tick_alerts_for_seats_used_before_the_alerts_were_configured(app, db, m, invited, courses, make_user):
    app.config["LEARNING_CONTRACTS_SEAT_ALERTS"] = ()
    enroll_new(invited, make_user, courses[0], 4)
    assert notices(db, m, NotificationKind.SEAT_ALERT) == []
    app.config["LEARNING_CONTRACTS_SEAT_ALERTS"] = "75, 100"  # as text, the way an env-based config gives it
    assert services.run_schedule(INVITED).seat_alerts == 1
    assert [n.payload["threshold"] for n in notices(db, m, NotificationKind.SEAT_ALERT)] == [100]


# ---------------------------------------------------------------------------------------------
# end-of-contract notices
# ---------------------------------------------------------------------------------------------
def test_expiry_notices_once_per_step_and_again_when_the_period_is_extended(app, db, m, invited, outbox):
    end = invited.valid_until  # 31 Dec 2026; notices 30 and 7 days before
    assert tick(app, end - dt.timedelta(days=31)).startswith("0 reminders, 0 seats alerts, 0 end-of-contract")
    assert "1 end-of-contract notices" in tick(app, end - dt.timedelta(days=29))
    assert "0 end-of-contract notices" in tick(app, end - dt.timedelta(days=20))
    assert "1 end-of-contract notices" in tick(app, end - dt.timedelta(days=6))
    assert [msg.subject for msg in outbox if msg.to == ["boss@example.com"]] == [
        "Acme ends on 31 December 2026", "Acme ends on 31 December 2026"]
    assert "ends on 31 December 2026, in 6 days" in outbox[-1].body
    rules_of(app).set_today(end - dt.timedelta(days=6))
    services.update_contract(services.get_contract(invited.id), valid_until=dt.date(2027, 1, 31))
    assert services.run_schedule(end + dt.timedelta(days=2)).expiry_notices == 1  # 29 days before the new end
    steps = [(n.payload["valid_until"], n.payload["day"]) for n in notices(db, m, NotificationKind.EXPIRING)]
    assert steps == [("2026-12-31", 30), ("2026-12-31", 7), ("2027-01-31", 30)]


def test_a_contract_that_ended_with_unused_seats_tells_its_admins_once(app, db, m, invited, outbox):
    end = invited.valid_until
    assert services.run_schedule(end + dt.timedelta(days=1)).expiry_notices == 1
    assert services.run_schedule(end + dt.timedelta(days=2)).expiry_notices == 0
    [notice] = notices(db, m, NotificationKind.EXPIRED)
    assert notice.payload["unused"] == 4 and notice.status is DeliveryStatus.SENT
    assert outbox[-1].subject == "Acme ended with 4 unused seats"
    assert "expired" in actions(invited)
    assert services.run_schedule(end + dt.timedelta(days=400)).expiry_notices == 0  # long-ended contracts: no news


def test_a_contract_that_has_not_started_gets_no_end_notice(app, db, m, make_contract, make_user, courses, outbox):
    future = make_contract(ContractType.VOUCHER, activities=courses, valid_from=dt.date(2026, 7, 1),
                           valid_until=dt.date(2026, 7, 20))
    services.add_contract_admin(future, make_user("boss@example.com"))
    assert services.run_schedule(INVITED).total == 0  # ends within 30 days but has not started: no notice
    assert outbox == []
