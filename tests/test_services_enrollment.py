"""Enrolling through a contract: seats for both types (rules 2–4), the per-user limit (rule 5), the valid
period (rule 6), "Require Invitation Code" (rule 7) and the host enrollment hook (rule 14).
"""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from flask_learning_contracts import ContractType, InvitationStatus, errors, services

from . import host
from .conftest import count, in_another_request, invite_one

VOUCHER, SUBSCRIPTION = ContractType.VOUCHER, ContractType.SUBSCRIPTION


@pytest.fixture
def courses(make_course):
    return [make_course(f"Course {i}") for i in range(1, 5)]


def open_contract(make_contract, contract_type, activities, **fields):
    """A contract whose invitations need no code, so learners enroll straight from their widget."""
    return make_contract(contract_type, activities=activities, require_invitation_code=False, **fields)


def seats_used(contract) -> int:
    return services.get_contract(contract.id).seats_used


def status_of(invitation):
    return services.get_invitation(invitation.id).status


# ---------------------------------------------------------------------------------------------
# rule 2: Voucher — every enrollment in an activity uses one seat
# ---------------------------------------------------------------------------------------------
def test_voucher_one_user_in_one_activity_uses_one_seat(make_contract, make_user, courses):
    contract = open_contract(make_contract, VOUCHER, courses[:2])
    learner = make_user()
    invite_one(contract, learner)
    enrollment = services.enroll(learner, contract, courses[0])
    assert enrollment.seat_used is True
    assert seats_used(contract) == 1


def test_voucher_one_user_in_two_activities_uses_two_seats(make_contract, make_user, courses, m, db):
    """"One user enrolls in two invited activities = two seats used.\""""
    contract = open_contract(make_contract, VOUCHER, courses[:2])
    learner = make_user()
    invite_one(contract, learner)
    services.enroll(learner, contract, courses[0])
    services.enroll(learner, contract, courses[1])
    assert seats_used(contract) == 2
    assert count(db, m.Seat, m.Seat.contract_id == contract.id) == 2
    assert services.check_seats() == []


def test_voucher_two_users_in_one_activity_use_two_seats(make_contract, make_user, courses):
    """"Two users each enroll in one invited activity = two seats used.\""""
    contract = open_contract(make_contract, VOUCHER, courses[:1])
    for learner in (make_user(), make_user()):
        invite_one(contract, learner)
        services.enroll(learner, contract, courses[0])
    assert seats_used(contract) == 2
    summary = services.seat_summary(services.get_contract(contract.id))
    assert (summary.seats, summary.used, summary.available) == (10, 2, 8)
    assert services.check_seats() == []


# ---------------------------------------------------------------------------------------------
# rule 3: Subscription — one seat per learner, however many activities
# ---------------------------------------------------------------------------------------------
def test_subscription_one_user_in_many_activities_uses_one_seat(make_contract, make_user, courses, m, db):
    """"One user enrolls in an activity under the contract = one seat used, even if they later enroll in
    multiple linked activities.\""""
    contract = open_contract(make_contract, SUBSCRIPTION, courses)
    learner = make_user()
    invite_one(contract, learner)
    first = services.enroll(learner, contract, courses[0])
    later = [services.enroll(learner, contract, c) for c in courses[1:]]
    assert first.seat_used is True
    assert [e.seat_used for e in later] == [False, False, False]
    assert seats_used(contract) == 1
    assert count(db, m.Enrollment, m.Enrollment.contract_id == contract.id) == 4
    assert count(db, m.Seat, m.Seat.contract_id == contract.id) == 1
    assert count(db, host.CourseEnrollment, host.CourseEnrollment.account_id == learner.id) == 4


def test_subscription_two_users_use_two_seats_however_many_activities(make_contract, make_user, courses):
    """"Two users enroll under the contract = two seats used, regardless of how many activities each takes.\""""
    contract = open_contract(make_contract, SUBSCRIPTION, courses)
    busy, light = make_user(), make_user()
    invite_one(contract, busy)
    invite_one(contract, light)
    for course in courses:
        services.enroll(busy, contract, course)
    services.enroll(light, contract, courses[2])
    assert seats_used(contract) == 2
    assert services.check_seats() == []


@pytest.mark.parametrize("contract_type", [VOUCHER, SUBSCRIPTION])
def test_enrolling_twice_in_the_same_activity_uses_one_seat(make_contract, make_user, courses, m, db,
                                                            contract_type):
    contract = open_contract(make_contract, contract_type, courses[:2])
    learner = make_user()
    invitation = invite_one(contract, learner)
    first = services.enroll(learner, contract, courses[0])
    again = services.enroll(learner, contract, courses[0])
    assert again.id == first.id
    assert seats_used(contract) == 1
    assert count(db, m.Enrollment) == 1
    assert count(db, m.Seat) == 1
    assert count(db, host.CourseEnrollment) == 1
    assert services.get_invitation(invitation.id).enrolled_count == 1
    assert services.check_seats() == []


def test_enroll_accepts_an_activity_id_as_well_as_the_object(make_contract, make_user, courses):
    contract = open_contract(make_contract, VOUCHER, courses[:1])
    learner = make_user()
    invite_one(contract, learner)
    enrollment = services.enroll(learner, contract, courses[0].id)
    assert enrollment.activity_id == courses[0].id
    assert services.enroll(learner, contract, courses[0]).id == enrollment.id


def test_the_rules_hold_without_update_returning(make_contract, make_user, courses, m, db, monkeypatch):
    """SQLite older than 3.35 has no ``UPDATE … RETURNING``: the lock then reads the invitation back."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL writes an enrollment in one statement")
    monkeypatch.setattr(db.engine.dialect, "update_returning", False)
    contract = open_contract(make_contract, VOUCHER, courses, seats=3, per_user_limit=2)
    learner, other = make_user(), make_user()
    invitation = invite_one(contract, learner)
    invite_one(contract, other)
    first = services.enroll(learner, contract, courses[0])
    assert services.enroll(learner, contract, courses[0]).id == first.id  # idempotent
    assert services.enroll(learner, contract, courses[1]).invitation_id == invitation.id
    with pytest.raises(errors.PerUserLimitReached):
        services.enroll(learner, contract, courses[2])
    services.enroll(other, contract, courses[0])
    with pytest.raises(errors.NoSeatsAvailable):
        services.enroll(other, contract, courses[1])
    assert seats_used(contract) == 3
    assert count(db, m.Enrollment) == 3
    assert services.get_invitation(invitation.id).enrolled_count == 2
    assert services.check_seats() == []


def test_seat_counter_always_equals_the_seat_rows(make_contract, make_user, courses, m, db):
    voucher = open_contract(make_contract, VOUCHER, courses, seats=6)
    subscription = open_contract(make_contract, SUBSCRIPTION, courses, seats=3)
    learners = [make_user() for _ in range(4)]
    for i, learner in enumerate(learners):
        invite_one(voucher, learner)
        invite_one(subscription, learner)
        for course in courses[: i + 1]:
            for contract in (voucher, subscription):
                try:
                    services.enroll(learner, contract, course)
                except errors.NoSeatsAvailable:
                    pass
    assert seats_used(voucher) == 6
    assert seats_used(subscription) == 3
    for contract in (voucher, subscription):
        assert count(db, m.Seat, m.Seat.contract_id == contract.id) == seats_used(contract)
    assert services.check_seats() == []


# ---------------------------------------------------------------------------------------------
# rule 4: never oversold; a clear refusal; nothing written
# ---------------------------------------------------------------------------------------------
def test_no_seat_left_is_refused_and_nothing_is_written(make_contract, make_user, courses, m, db):
    contract = open_contract(make_contract, VOUCHER, courses[:2], seats=1)
    first, second = make_user(), make_user()
    invite_one(contract, first)
    waiting = invite_one(contract, second)
    services.enroll(first, contract, courses[0])

    with pytest.raises(errors.NoSeatsAvailable) as refused:
        services.enroll(second, contract, courses[0])
    assert "no seats left" in str(refused.value).lower()
    with pytest.raises(errors.NoSeatsAvailable):  # Voucher: the first learner's second activity needs a seat too
        services.enroll(first, contract, courses[1])

    assert seats_used(contract) == 1
    assert count(db, m.Enrollment) == 1
    assert count(db, m.Seat) == 1
    assert count(db, host.CourseEnrollment) == 1
    stored = services.get_invitation(waiting.id)
    assert (stored.status, stored.enrolled_count) == (InvitationStatus.OUTSTANDING, 0)
    assert services.check_seats() == []


def test_a_contract_with_zero_seats_admits_nobody(make_contract, make_user, courses, m, db):
    contract = open_contract(make_contract, SUBSCRIPTION, courses[:1], seats=0)
    learner = make_user()
    invite_one(contract, learner)
    with pytest.raises(errors.NoSeatsAvailable):
        services.enroll(learner, contract, courses[0])
    assert count(db, m.Enrollment) == 0


def test_subscription_learner_holding_a_seat_takes_more_activities_when_the_contract_is_full(
        make_contract, make_user, courses):
    contract = open_contract(make_contract, SUBSCRIPTION, courses, seats=1)
    holder, latecomer = make_user(), make_user()
    invite_one(contract, holder)
    invite_one(contract, latecomer)
    services.enroll(holder, contract, courses[0])
    assert services.seat_summary(services.get_contract(contract.id)).available == 0

    with pytest.raises(errors.NoSeatsAvailable):
        services.enroll(latecomer, contract, courses[0])
    for course in courses[1:]:
        assert services.enroll(holder, contract, course).seat_used is False
    assert seats_used(contract) == 1
    assert services.check_seats() == []


# ---------------------------------------------------------------------------------------------
# rule 5: per-user limit (0 = no limit)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("contract_type, seats_after_two", [(VOUCHER, 2), (SUBSCRIPTION, 1)])
def test_per_user_limit_caps_the_activities_one_learner_takes(make_contract, make_user, courses, m, db,
                                                            contract_type, seats_after_two):
    contract = open_contract(make_contract, contract_type, courses, per_user_limit=2)
    learner, other = make_user(), make_user()
    invitation = invite_one(contract, learner)
    invite_one(contract, other)
    services.enroll(learner, contract, courses[0])
    services.enroll(learner, contract, courses[1])

    with pytest.raises(errors.PerUserLimitReached) as refused:
        services.enroll(learner, contract, courses[2])
    assert "2" in str(refused.value)
    assert seats_used(contract) == seats_after_two
    assert count(db, m.Enrollment, m.Enrollment.user_id == learner.id) == 2
    assert count(db, host.CourseEnrollment, host.CourseEnrollment.account_id == learner.id) == 2
    assert services.get_invitation(invitation.id).enrolled_count == 2
    # re-enrolling in an activity already taken is still fine (idempotent, not a third activity)
    services.enroll(learner, contract, courses[1])
    # the limit is per learner: another learner starts from zero
    services.enroll(other, contract, courses[2])
    services.enroll(other, contract, courses[3])
    assert services.check_seats() == []


@pytest.mark.parametrize("contract_type, seats", [(VOUCHER, 4), (SUBSCRIPTION, 1)])
def test_per_user_limit_zero_means_no_limit(make_contract, make_user, courses, contract_type, seats):
    contract = open_contract(make_contract, contract_type, courses, per_user_limit=0)
    learner = make_user()
    invite_one(contract, learner)
    for course in courses:
        services.enroll(learner, contract, course)
    assert seats_used(contract) == seats


def test_raising_the_per_user_limit_lets_the_learner_continue(make_contract, make_user, courses):
    contract = open_contract(make_contract, VOUCHER, courses, per_user_limit=1)
    learner = make_user()
    invite_one(contract, learner)
    services.enroll(learner, contract, courses[0])
    with pytest.raises(errors.PerUserLimitReached):
        services.enroll(learner, contract, courses[1])
    services.update_contract(contract, per_user_limit=2)
    services.enroll(learner, services.get_contract(contract.id), courses[1])
    assert seats_used(contract) == 2


# ---------------------------------------------------------------------------------------------
# rule 6: the valid period, both ends inclusive
# ---------------------------------------------------------------------------------------------
START, END = dt.date(2026, 3, 1), dt.date(2026, 3, 31)


@pytest.fixture
def march(make_contract, courses, rules):
    rules.set_today(START)
    return make_contract(VOUCHER, seats=10, activities=courses[:2], valid_from=START, valid_until=END)


def test_first_day_of_the_period_allows_invite_redeem_and_enroll(march, make_user, courses, rules):
    rules.set_today(START)
    learner = make_user()
    invite_one(march, learner)
    services.redeem_code(learner, march.invitation_code)
    services.enroll(learner, march, courses[0])
    assert seats_used(march) == 1


def test_last_day_of_the_period_allows_invite_redeem_and_enroll(march, make_user, courses, rules):
    rules.set_today(END)
    learner = make_user()
    invitation = invite_one(march, learner)
    assert services.redeem_code(learner, march.invitation_code).id == invitation.id
    services.enroll(learner, march, courses[0])
    assert seats_used(march) == 1


def test_the_day_before_start_refuses_invite_redeem_and_enroll(march, make_user, courses, rules, m, db):
    invited = make_user()
    invitation = invite_one(march, invited)  # on the first day
    rules.set_today(START - dt.timedelta(days=1))
    with pytest.raises(errors.ContractNotActive):
        services.invite(march, users=[make_user()])
    with pytest.raises(errors.ContractNotActive):
        services.invite(march, emails=["someone@example.com"])
    with pytest.raises(errors.ContractNotActive):
        services.redeem_code(invited, march.invitation_code)
    with pytest.raises(errors.ContractNotActive):
        services.redeem_code(make_user(), march.invitation_code)
    with pytest.raises(errors.ContractNotActive):
        services.enroll(invited, march, courses[0])
    assert count(db, m.Invitation) == 1
    assert services.get_invitation(invitation.id).status is InvitationStatus.OUTSTANDING
    assert seats_used(march) == 0


def test_the_day_after_end_refuses_everything_and_unused_seats_expire(march, make_user, courses, rules, m, db):
    """"After the end date, no new invitations can be sent, users typically cannot enroll in activities
    through that contract, and any unused seats expire.\""""
    ready, late = make_user(), make_user()
    invite_one(march, ready)
    services.redeem_code(ready, march.invitation_code)
    services.enroll(ready, march, courses[0])
    invitation = invite_one(march, late)
    services.redeem_code(late, march.invitation_code)
    before = services.seat_summary(services.get_contract(march.id))
    assert (before.available, before.expired) == (9, 0)

    rules.set_today(END + dt.timedelta(days=1))
    with pytest.raises(errors.ContractNotActive):
        services.invite(march, users=[make_user()])
    with pytest.raises(errors.ContractNotActive):
        services.redeem_code(make_user(), march.invitation_code)
    with pytest.raises(errors.ContractNotActive):
        services.enroll(late, march, courses[0])
    with pytest.raises(errors.ContractNotActive):
        services.enroll(ready, march, courses[1])
    assert services.get_invitation(invitation.id).status is InvitationStatus.ACCEPTED
    assert count(db, m.Enrollment) == 1

    summary = services.seat_summary(services.get_contract(march.id))
    assert (summary.seats, summary.used, summary.available, summary.expired) == (10, 1, 0, 9)
    # re-opening a past enrollment is still idempotent: it returns what the learner already has
    assert services.enroll(ready, march, courses[0]).activity_id == courses[0].id


# ---------------------------------------------------------------------------------------------
# rule 7: Require Invitation Code, snapshotted per invitation
# ---------------------------------------------------------------------------------------------
def test_require_code_yes_an_invited_learner_must_redeem_before_enrolling(make_contract, make_user, courses,
                                                                         rules, m, db):
    """"Yes – The student must enter an invitation code ... to enroll, even if they have received an
    invitation notification.\""""
    contract = make_contract(VOUCHER, activities=courses[:1], require_invitation_code=True)
    learner = make_user()
    invitation = invite_one(contract, learner)
    assert (invitation.email, False) in rules.sent  # notified

    with pytest.raises(errors.CodeRequired):
        services.enroll(learner, contract, courses[0])
    assert count(db, m.Enrollment) == 0 and seats_used(contract) == 0
    assert status_of(invitation) is InvitationStatus.OUTSTANDING

    services.redeem_code(learner, contract.invitation_code)
    assert status_of(invitation) is InvitationStatus.ACCEPTED
    services.enroll(learner, contract, courses[0])
    assert status_of(invitation) is InvitationStatus.ENROLLED


def test_require_code_no_an_invited_learner_enrolls_directly(make_contract, make_user, courses):
    """"No – The activity will automatically appear in the student's widget once they are invited, and no
    invitation code is required to enroll.\""""
    contract = make_contract(VOUCHER, activities=courses[:2], require_invitation_code=False)
    learner = make_user()
    invitation = invite_one(contract, learner)
    [offer] = services.invitation_offers(learner)
    assert offer.needs_code is False
    assert [(a.activity_id, a.can_enroll) for a in offer.activities] == [(courses[0].id, True), (courses[1].id, True)]
    services.enroll(learner, contract, courses[1])
    assert status_of(invitation) is InvitationStatus.ENROLLED


def test_turning_the_code_requirement_off_does_not_change_existing_invitations(make_contract, make_user, courses):
    """"Updating this setting does not affect existing invitations.\""""
    contract = make_contract(SUBSCRIPTION, activities=courses[:1], require_invitation_code=True)
    before, after = make_user(), make_user()
    invite_one(contract, before)
    services.update_contract(contract, require_invitation_code=False)
    invite_one(contract, after)

    with pytest.raises(errors.CodeRequired):
        services.enroll(before, contract, courses[0])
    services.enroll(after, contract, courses[0])
    services.redeem_code(before, contract.invitation_code)
    services.enroll(before, contract, courses[0])


def test_turning_the_code_requirement_on_does_not_change_existing_invitations(make_contract, make_user, courses):
    contract = make_contract(VOUCHER, activities=courses[:1], require_invitation_code=False)
    before, after = make_user(), make_user()
    invite_one(contract, before)
    services.update_contract(contract, require_invitation_code=True)
    invite_one(contract, after)

    services.enroll(before, contract, courses[0])
    with pytest.raises(errors.CodeRequired):
        services.enroll(after, contract, courses[0])
    assert [o.needs_code for o in services.invitation_offers(after)] == [True]


# ---------------------------------------------------------------------------------------------
# who may enroll in what
# ---------------------------------------------------------------------------------------------
def test_an_uninvited_learner_cannot_enroll(make_contract, make_user, courses, m, db):
    contract = open_contract(make_contract, SUBSCRIPTION, courses[:1])
    with pytest.raises(errors.NotInvited):
        services.enroll(make_user(), contract, courses[0])
    assert count(db, m.Enrollment) == 0


def test_a_voucher_learner_enrolls_only_in_invited_activities(make_contract, make_user, courses):
    contract = open_contract(make_contract, VOUCHER, courses[:2])
    learner = make_user()
    invite_one(contract, learner, activities=[courses[1]])
    with pytest.raises(errors.ActivityNotInInvitation):
        services.enroll(learner, contract, courses[0])
    with pytest.raises(errors.ActivityNotInInvitation):
        services.enroll(learner, contract, courses[3])  # not even in the contract
    services.enroll(learner, contract, courses[1])
    assert seats_used(contract) == 1


def test_a_subscription_learner_enrolls_only_in_contract_activities(make_contract, make_user, courses):
    contract = open_contract(make_contract, SUBSCRIPTION, courses[:2])
    learner = make_user()
    invite_one(contract, learner)
    with pytest.raises(errors.ActivityNotInInvitation):
        services.enroll(learner, contract, courses[3])
    assert seats_used(contract) == 0


def test_a_revoked_learner_cannot_enroll(make_contract, make_user, courses):
    contract = open_contract(make_contract, VOUCHER, courses[:1])
    learner = make_user()
    services.revoke(invite_one(contract, learner))
    with pytest.raises(errors.InvitationRevoked):
        services.enroll(learner, contract, courses[0])
    assert seats_used(contract) == 0


@pytest.mark.parametrize("seats", [5, 0], ids=["seats-left", "no-seats-left"])
def test_a_learner_the_host_already_enrolled_uses_no_seat(make_contract, make_user, courses, rules, monkeypatch,
                                                          m, db, seats):
    """Told they are enrolled already (not "no seats left", even on a full contract); nothing is written."""
    contract = open_contract(make_contract, VOUCHER, courses[:1], seats=seats)
    learner = make_user()
    invitation = invite_one(contract, learner)
    monkeypatch.setattr(rules, "is_enrolled_in_activity", lambda user, activity: True)
    with pytest.raises(errors.ValidationError, match="already enrolled in Course 1; no seat was used"):
        services.enroll(learner, contract, courses[0])
    assert seats_used(contract) == 0
    assert count(db, m.Enrollment) == count(db, m.Seat) == 0
    assert services.get_invitation(invitation.id).enrolled_count == 0


def test_a_not_registered_invitation_is_linked_when_the_learner_enrolls(make_contract, make_user, courses):
    contract = open_contract(make_contract, VOUCHER, courses[:1])
    services.invite(contract, emails=["New.Person@example.com"])
    learner = make_user("new.person@example.com")
    enrollment = services.enroll(learner, contract, courses[0])
    assert services.get_invitation(enrollment.invitation_id).status is InvitationStatus.ENROLLED


# ---------------------------------------------------------------------------------------------
# rule 14: the host enrollment is atomic with the seat
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("contract_type, failure", [
    (VOUCHER, RuntimeError("boom")),
    (SUBSCRIPTION, RuntimeError("boom")),
    (VOUCHER, sa.exc.IntegrityError("INSERT INTO course_enrollments", {}, Exception("boom: duplicate"))),
])
def test_a_failing_host_enrollment_uses_no_seat_and_leaves_nothing_behind(make_contract, make_user, courses,
                                                                         rules, m, db, contract_type, failure):
    contract = open_contract(make_contract, contract_type, courses[:2], seats=1)
    learner = make_user(name="Lea Learner")
    invitation = invite_one(contract, learner)
    rules.fail_enrollment = failure

    with pytest.raises(errors.HostEnrollmentFailed) as refused:
        services.enroll(learner, contract, courses[0])
    assert "no seat was used" in str(refused.value).lower()

    assert seats_used(contract) == 0
    assert count(db, m.Seat) == 0
    assert count(db, m.Enrollment) == 0
    assert count(db, host.CourseEnrollment) == 0
    stored = services.get_invitation(invitation.id)
    assert (stored.status, stored.enrolled_count) == (InvitationStatus.OUTSTANDING, 0)
    [failure] = [e for e in services.history(contract) if e.action == "enrollment_failed"]
    assert "boom" in failure.message and failure.actor_name == "Lea Learner"
    assert failure.invitation_id == invitation.id
    assert "enrolled" not in [e.action for e in services.history(contract)]
    assert services.check_seats() == []

    # once the host works again, the same learner takes the last seat
    rules.fail_enrollment = None
    services.enroll(learner, contract, courses[0])
    assert seats_used(contract) == 1
    assert count(db, host.CourseEnrollment) == 1


def test_a_failing_host_enrollment_on_a_later_subscription_activity_keeps_the_seat_held(
        make_contract, make_user, courses, rules, m, db):
    contract = open_contract(make_contract, SUBSCRIPTION, courses[:2], seats=3)
    learner = make_user()
    invite_one(contract, learner)
    services.enroll(learner, contract, courses[0])
    rules.fail_enrollment = RuntimeError("course full")
    with pytest.raises(errors.HostEnrollmentFailed):
        services.enroll(learner, contract, courses[1])
    assert seats_used(contract) == 1
    assert count(db, m.Enrollment) == 1
    assert count(db, host.CourseEnrollment) == 1
    assert services.check_seats() == []


# ---------------------------------------------------------------------------------------------
# what the learner's widget is told (the same rules, as reasons in words)
# ---------------------------------------------------------------------------------------------
def reasons(learner) -> list[list[tuple[str, bool, str | None]]]:
    return [[(a.title, a.can_enroll, a.reason) for a in offer.activities] for offer in services.invitation_offers(learner)]


def test_the_widget_explains_why_an_activity_cannot_be_taken(make_contract, make_user, courses, rules):
    rules.set_today(dt.date(2026, 6, 15))
    coded = make_contract(VOUCHER, activities=courses[:1], title="Coded")
    full = make_contract(VOUCHER, activities=courses[:2], seats=1, require_invitation_code=False, title="Full")
    limited = make_contract(SUBSCRIPTION, activities=courses[:2], per_user_limit=1, require_invitation_code=False)
    later = make_contract(VOUCHER, activities=courses[:1], valid_from=dt.date(2026, 6, 15),
                          valid_until=dt.date(2026, 6, 30), require_invitation_code=False)
    learner = make_user()
    for contract in (coded, full, limited, later):
        invite_one(contract, learner)
    services.enroll(learner, full, courses[0])
    services.enroll(learner, limited, courses[0])

    offers = {o.contract.id: o for o in services.invitation_offers(learner)}
    assert offers[coded.id].needs_code and offers[coded.id].activities[0].reason == "Enter the invitation code first."
    assert [(a.enrolled, a.can_enroll, a.reason) for a in offers[full.id].activities] == [
        (True, False, None), (False, False, "No seats left.")]
    assert offers[limited.id].remaining == 0
    assert "limit" in offers[limited.id].activities[1].reason
    assert offers[later.id].activities[0].can_enroll

    rules.set_today(dt.date(2026, 7, 1))
    offers = {o.contract.id: o for o in services.invitation_offers(learner)}
    assert offers[later.id].seats_available == 0
    assert "expired" in offers[later.id].activities[0].reason


def test_seat_summaries_match_seat_summary(make_contract, make_user, courses):
    contracts = [open_contract(make_contract, t, courses[:2], seats=s) for t, s in ((VOUCHER, 3), (SUBSCRIPTION, 2))]
    learner = make_user()
    for contract in contracts:
        invite_one(contract, learner)
        services.enroll(learner, contract, courses[0])
        services.enroll(learner, contract, courses[1])
    contracts = [services.get_contract(c.id) for c in contracts]
    many = services.seat_summaries(contracts)
    assert [many[c.id] for c in contracts] == [services.seat_summary(c) for c in contracts]
    assert [(many[c.id].used, many[c.id].available) for c in contracts] == [(2, 1), (1, 1)]


# ---------------------------------------------------------------------------------------------
# a contract deleted while a learner enrolls (issue 14, item 8)
# ---------------------------------------------------------------------------------------------
def _load_then_delete(app, db, contract, learner, course):
    """The caller loads the contract, learner and activity; then another request deletes the contract."""
    cid, uid, aid = contract.id, learner.id, course.id
    db.session.remove()
    contract = services.get_contract(cid)
    loaded = contract, db.session.get(host.Account, uid), db.session.get(host.Course, aid)
    in_another_request(app, lambda: services.delete_contract(services.get_contract(cid)))
    return loaded


def _nothing_written(db, m) -> None:
    db.session.remove()
    assert count(db, m.Enrollment) == count(db, m.Seat) == count(db, m.Invitation) == 0
    assert count(db, host.CourseEnrollment) == 0


@pytest.mark.parametrize("contract_type", [VOUCHER, SUBSCRIPTION])
@pytest.mark.parametrize("caller", ["loaded", "expired"])
def test_enrolling_through_a_contract_deleted_meanwhile_is_refused_as_gone(app, db, make_contract, make_user,
                                                                          courses, m, contract_type, caller):
    """``expired``: the caller's session committed after loading the contract (its attributes reload on use),
    which raised ``ObjectDeletedError``; ``loaded``: they did not, which said "You have not been invited"."""
    contract = open_contract(make_contract, contract_type, courses[:2])
    learner = make_user()
    invite_one(contract, learner)
    contract, learner, course = _load_then_delete(app, db, contract, learner, courses[0])
    if caller == "expired":
        db.session.expire(contract)

    with pytest.raises(errors.ContractNotFound) as refused:
        services.enroll(learner, contract, course)
    assert str(refused.value) == "This learning contract no longer exists: it may have been deleted."
    _nothing_written(db, m)


def test_a_contract_deleted_while_an_enrollment_waits_to_retry_is_refused_as_gone(app, db, make_contract,
                                                                                 make_user, courses, rules, m,
                                                                                 monkeypatch):
    """The first attempt hits a locked database; before the retry, another request deletes the contract."""
    from sqlalchemy import exc as sa_exc

    from flask_learning_contracts.services import _core

    contract = open_contract(make_contract, VOUCHER, courses[:1])
    learner = make_user()
    invite_one(contract, learner)
    cid = contract.id
    contract, learner, course = services.get_contract(cid), learner, courses[0]
    attempts = []

    def locked_once(user, activity, on_contract):
        attempts.append(on_contract)
        if len(attempts) == 1:
            raise sa_exc.OperationalError("INSERT …", {}, Exception("database is locked"))

    monkeypatch.setattr(rules, "enroll_in_activity", locked_once)
    monkeypatch.setattr(_core.time, "sleep", lambda seconds: in_another_request(
        app, lambda: services.delete_contract(services.get_contract(cid))))
    with pytest.raises(errors.ContractNotFound):
        services.enroll(learner, contract, course)
    assert len(attempts) == 1
    _nothing_written(db, m)
