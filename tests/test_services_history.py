"""History (rule 16) and signals: every state change is recorded with who, when and what; the host's
signals fire after the change is committed, with the documented arguments, and never for a failed call.
"""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from flask_learning_contracts import ContractType, InvitationStatus, errors, services, signals

from .conftest import invite_one

VOUCHER, SUBSCRIPTION = ContractType.VOUCHER, ContractType.SUBSCRIPTION


@pytest.fixture
def courses(make_course):
    return [make_course(f"Course {i}") for i in range(1, 4)]


def actions(contract) -> list[str]:
    return [entry.action for entry in services.history(contract)]


# ---------------------------------------------------------------------------------------------
# rule 16: history
# ---------------------------------------------------------------------------------------------
def test_every_state_change_is_recorded_with_who_and_what(make_user, make_course, rules):
    admin = make_user(name="Ada Admin", manager=True)
    learner = make_user(name="Lea Learner")
    first, second, third = make_course("Intro"), make_course("Advanced"), make_course("Expert")
    other = services.create_contract(code="OTHER", title="Other", contract_type=VOUCHER, seats=5,
                                     valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2026, 12, 31))
    services.add_activities(other, [third])

    contract = services.create_contract(code="ACME", title="ACME", contract_type=VOUCHER, seats=5,
                                        valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2026, 12, 31),
                                        actor=admin)
    services.update_contract(contract, title="ACME 2026", seats=6, actor=admin)
    services.add_activities(contract, [first, second], actor=admin)
    services.import_activities(contract, other, actor=admin)
    services.add_contract_admin(contract, learner, actor=admin)
    services.remove_contract_admin(contract, learner, actor=admin)
    invitation = invite_one(contract, learner, activities=[first], actor=admin)
    services.resend(invitation, actor=admin)
    bystander = invite_one(contract, make_user(), actor=admin)
    services.revoke(bystander, actor=admin)
    services.add_invitation_activities(invitation, [second], actor=admin)
    code = services.regenerate_code(contract, actor=admin)
    services.redeem_code(learner, code)
    services.enroll(learner, contract, first)
    services.remove_activity(contract, third, actor=admin)

    entries = list(reversed(services.history(contract)))
    who = [(e.action, e.actor_name) for e in entries]
    assert who == [
        ("created", "Ada Admin"),
        ("edited", "Ada Admin"),
        ("activity_added", "Ada Admin"),
        ("activity_added", "Ada Admin"),
        ("activities_imported", "Ada Admin"),
        ("admin_added", "Ada Admin"),
        ("admin_removed", "Ada Admin"),
        ("invited", "Ada Admin"),
        ("resent", "Ada Admin"),
        ("invited", "Ada Admin"),
        ("revoked", "Ada Admin"),
        ("invitation_activities_added", "Ada Admin"),
        ("code_regenerated", "Ada Admin"),
        ("code_redeemed", "Lea Learner"),
        ("enrolled", "Lea Learner"),
        ("activity_removed", "Ada Admin"),
    ]
    by_action = {e.action: e for e in entries}
    assert all(e.actor_id == str(admin.id) for e in entries if e.actor_name == "Ada Admin")
    assert by_action["enrolled"].actor_id == str(learner.id)
    # what: messages a person can read
    assert "ACME 2026" in by_action["edited"].message and "6" in by_action["edited"].message
    assert "Intro" in by_action["enrolled"].message and "seat" in by_action["enrolled"].message
    assert "OTHER" in by_action["activities_imported"].message
    assert "Expert" in by_action["activity_removed"].message
    assert "Advanced" in by_action["invitation_activities_added"].message
    assert by_action["resent"].invitation_id == invitation.id
    assert by_action["revoked"].invitation_id == bystander.id
    assert by_action["enrolled"].invitation_id == invitation.id
    # when: the host's clock (naive UTC)
    assert {e.at for e in entries} == {rules.clock.replace(tzinfo=None)}
    assert all(e.contract_code == "ACME" for e in entries)
    assert actions(other) == ["activity_added", "created"]


def test_changes_without_an_actor_are_recorded_as_the_system(make_contract):
    contract = make_contract(VOUCHER)
    [entry] = services.history(contract)
    assert (entry.action, entry.actor_id, entry.actor_name) == ("created", None, "System")


def test_the_seat_used_is_part_of_the_enrollment_record(make_contract, make_user, courses):
    contract = make_contract(SUBSCRIPTION, activities=courses, require_invitation_code=False)
    learner = make_user()
    invite_one(contract, learner)
    services.enroll(learner, contract, courses[0])
    services.enroll(learner, contract, courses[1])
    later, first = [e.message for e in services.history(contract) if e.action == "enrolled"]
    assert "one seat used" in first
    assert "no seat used" in later


def test_history_is_newest_first_and_pages(make_contract, rules):
    contract = make_contract(VOUCHER)
    for day in range(1, 6):
        rules.set_today(dt.date(2026, 7, day))
        services.update_contract(contract, title=f"Title {day}")
    entries = services.history(contract)
    assert [e.action for e in entries] == ["edited"] * 5 + ["created"]
    assert [e.at.day for e in entries[:5]] == [5, 4, 3, 2, 1]
    assert [e.id for e in services.history(contract, limit=2, offset=1)] == [entries[1].id, entries[2].id]


def test_refused_and_no_op_calls_write_no_history(make_contract, make_user, courses):
    contract = make_contract(VOUCHER, activities=courses, require_invitation_code=False)
    learner = make_user()
    invitation = invite_one(contract, learner)
    services.enroll(learner, contract, courses[0])
    before = actions(contract)

    services.update_contract(contract, title=contract.title)  # nothing changed
    services.add_activities(contract, [courses[0]])  # already there
    services.import_activities(contract, make_contract(VOUCHER))  # nothing to import
    services.invite(contract, users=[learner])  # already invited
    services.enroll(learner, contract, courses[0])  # already enrolled
    with pytest.raises(errors.ImmutableField):
        services.update_contract(contract, contract_type=SUBSCRIPTION)
    with pytest.raises(errors.RevokeNotAllowed):
        services.revoke(invitation)
    with pytest.raises(errors.ResendNotAllowed):
        services.resend(services.get_invitation(invitation.id))
    with pytest.raises(errors.InvalidCode):
        services.redeem_code(learner, "WRONG-CODE-0000")

    assert actions(contract) == before


# ---------------------------------------------------------------------------------------------
# signals
# ---------------------------------------------------------------------------------------------
def committed(db, model, *where) -> int:
    """Rows of ``model`` another connection sees, i.e. rows that were committed."""
    with db.engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(model).where(*where)).scalar_one()


def test_contract_created_is_sent_after_commit(app, db, m, make_user, received):
    admin = make_user(manager=True)
    calls = received(signals.contract_created, lambda kw: committed(db, m.Contract, m.Contract.id == kw["contract"].id))
    contract = services.create_contract(code="SIG", title="Signals", contract_type=VOUCHER, seats=1,
                                        valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2026, 12, 31),
                                        actor=admin)
    [(sender, kwargs, visible)] = calls
    assert sender is app
    assert kwargs["contract"].id == contract.id and kwargs["actor"] is admin
    assert visible == 1


def test_invitation_created_is_sent_once_per_new_invitation_after_commit(app, db, m, make_contract, make_user,
                                                                         courses, received, rules, monkeypatch):
    contract = make_contract(VOUCHER, activities=courses)
    admin, known = make_user(manager=True), make_user()
    invite_one(contract, known)
    calls = received(signals.invitation_created,
                     lambda kw: committed(db, m.Invitation, m.Invitation.id == kw["invitation"].id))
    notified_after_commit = []
    original = rules.send_invitation
    monkeypatch.setattr(rules, "send_invitation", lambda inv, resend=False: (
        notified_after_commit.append(committed(db, m.Invitation, m.Invitation.id == inv.id)),
        original(inv, resend))[1])

    report = services.invite(contract, users=[make_user(), known], emails=["x@example.com", "bad"], actor=admin)
    created = {r.invitation_id for r in report.invited + report.not_registered}
    assert len(created) == 2
    assert {kw["invitation"].id for _, kw, _ in calls} == created
    assert all(sender is app and kw["actor"] is admin and visible == 1 for sender, kw, visible in calls)
    assert notified_after_commit == [1, 1]


def test_invitation_revoked_is_sent_after_commit(db, m, make_contract, make_user, courses, received):
    contract = make_contract(VOUCHER, activities=courses)
    admin = make_user(manager=True)
    invitation = invite_one(contract, make_user())
    calls = received(signals.invitation_revoked, lambda kw: committed(
        db, m.Invitation, m.Invitation.id == kw["invitation"].id, m.Invitation.status == InvitationStatus.REVOKED))
    services.revoke(invitation, actor=admin)
    [(_, kwargs, visible)] = calls
    assert kwargs["invitation"].id == invitation.id and kwargs["actor"] is admin and visible == 1


def test_code_redeemed_is_sent_after_commit_the_first_time_only(db, m, make_contract, make_user, courses, received):
    contract = make_contract(VOUCHER, activities=courses)
    learner = make_user()
    calls = received(signals.code_redeemed, lambda kw: committed(
        db, m.Invitation, m.Invitation.id == kw["invitation"].id, m.Invitation.code_redeemed_at.is_not(None)))
    invitation = services.redeem_code(learner, contract.invitation_code)
    services.redeem_code(learner, contract.invitation_code)
    [(_, kwargs, visible)] = calls
    assert kwargs["invitation"].id == invitation.id and kwargs["user"] is learner and visible == 1


def test_enrollment_created_and_seat_used_are_sent_after_commit(db, m, make_contract, make_user, courses,
                                                                received):
    contract = make_contract(SUBSCRIPTION, activities=courses, require_invitation_code=False)
    learner = make_user()
    invite_one(contract, learner)
    enrolled = received(signals.enrollment_created,
                        lambda kw: committed(db, m.Enrollment, m.Enrollment.id == kw["enrollment"].id))
    seats = received(signals.seat_used, lambda kw: committed(db, m.Seat, m.Seat.contract_id == kw["contract"].id))

    first = services.enroll(learner, contract, courses[0])
    second = services.enroll(learner, contract, courses[1])
    services.enroll(learner, contract, courses[1])  # idempotent: nothing new to announce

    assert [(kw["enrollment"].id, kw["user"] is learner, kw["seat_used"], visible)
            for _, kw, visible in enrolled] == [(first.id, True, True, 1), (second.id, True, False, 1)]
    [(_, kwargs, visible)] = seats  # Subscription: only the first enrollment uses a seat
    assert kwargs["contract"].id == contract.id and kwargs["user"] is learner
    assert kwargs["enrollment"].id == first.id and visible == 1


def test_seat_used_is_sent_for_every_voucher_enrollment(make_contract, make_user, courses, received):
    contract = make_contract(VOUCHER, activities=courses, require_invitation_code=False)
    learner = make_user()
    invite_one(contract, learner)
    seats = received(signals.seat_used)
    for course in courses:
        services.enroll(learner, contract, course)
    assert len(seats) == 3


def test_no_signal_is_sent_when_the_call_fails(make_contract, make_user, make_course, courses, rules, received):
    every = [received(s) for s in (signals.contract_created, signals.invitation_created, signals.invitation_revoked,
                                   signals.code_redeemed, signals.enrollment_created, signals.seat_used)]
    contract = make_contract(VOUCHER, activities=courses, seats=1, require_invitation_code=False)
    for calls in every:
        calls.clear()
    learner, other = make_user(), make_user()

    with pytest.raises(errors.ValidationError):
        make_contract(VOUCHER, code=contract.code.lower())
    with pytest.raises(errors.ValidationError):
        services.invite(contract, users=[learner], activities=[make_course()])
    with pytest.raises(errors.InvalidCode):
        services.redeem_code(learner, "0000-0000-0000")
    assert [len(calls) for calls in every] == [0] * 6

    invite_one(contract, learner)
    invite_one(contract, other)
    rules.fail_enrollment = RuntimeError("boom")
    with pytest.raises(errors.HostEnrollmentFailed):
        services.enroll(learner, contract, courses[0])
    rules.fail_enrollment = None
    services.enroll(learner, contract, courses[0])
    enrollments_before = len(every[4])
    with pytest.raises(errors.NoSeatsAvailable):
        services.enroll(other, contract, courses[0])
    with pytest.raises(errors.RevokeNotAllowed):
        services.revoke(services.invitations_for(learner)[0])
    assert len(every[4]) == enrollments_before == 1
    assert len(every[5]) == 1
    assert every[2] == []
    rules.set_today(dt.date(2027, 1, 1))
    with pytest.raises(errors.ContractNotActive):
        services.redeem_code(other, contract.invitation_code)
    assert every[3] == []
