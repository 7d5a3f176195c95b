"""Issue 14 item 5: ``flask contracts check`` reconciles every stored counter and flag with the rows it
summarises, in both directions, and reports each mismatch by kind; ``--repair`` recomputes what the rows
determine (never deleting a row) and records what it changed in the contract's history.

Each test tampers with the database the way the issue describes, with plain SQL, as a person with database
access (or a bug) would.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from flask_learning_contracts import ContractType, InvitationStatus, errors, services
from flask_learning_contracts.services import MismatchKind

from .conftest import count, invite_one

VOUCHER, SUBSCRIPTION = ContractType.VOUCHER, ContractType.SUBSCRIPTION
K = MismatchKind


@pytest.fixture
def courses(make_course):
    return [make_course(f"Course {i}") for i in range(1, 4)]


@pytest.fixture
def enrolled(make_contract, make_user, courses):
    """Factory: a contract where ``ann`` is enrolled in two activities (and ``bob`` is invited, not enrolled)."""

    def make(contract_type=VOUCHER, **fields):
        contract = make_contract(contract_type, activities=courses, require_invitation_code=False, **fields)
        ann, bob = make_user(), make_user()
        ann_invitation, bob_invitation = invite_one(contract, ann), invite_one(contract, bob)
        services.enroll(ann, contract, courses[0])
        services.enroll(ann, contract, courses[1])
        return contract, ann, bob, ann_invitation, bob_invitation

    return make


def kinds(report=None) -> set[MismatchKind]:
    report = report if report is not None else services.reconcile()
    return {m.kind for m in report.remaining}


def tamper(db, *statements) -> None:
    for statement in statements:
        db.session.execute(statement.execution_options(synchronize_session=False))
    db.session.commit()
    db.session.expire_all()


def check(app, *args):
    return app.test_cli_runner().invoke(args=["contracts", "check", *args])


def rows(db, m) -> dict[str, int]:
    return {name: count(db, model) for name, model in
            (("seats", m.Seat), ("enrollments", m.Enrollment), ("invitations", m.Invitation))}


# ---------------------------------------------------------------------------------------------
# a healthy database
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("contract_type", [VOUCHER, SUBSCRIPTION])
def test_a_healthy_database_is_clean(app, enrolled, contract_type):
    enrolled(contract_type)
    report = services.reconcile()
    assert report.ok and report.mismatches == []
    assert services.check_seats() == []
    result = check(app)
    assert result.exit_code == 0 and "agree" in result.output


# ---------------------------------------------------------------------------------------------
# the list
# ---------------------------------------------------------------------------------------------
def test_enrolled_count_zeroed_while_enrollments_remain(app, db, m, enrolled):
    contract, ann, _bob, invitation, _ = enrolled(VOUCHER, per_user_limit=2)
    tamper(db, sa.update(m.Invitation).where(m.Invitation.id == invitation.id).values(enrolled_count=0))
    # What the tampering re-opened: revoking, and the per-user limit.
    assert services.get_invitation(invitation.id).can_be_revoked

    result = check(app)
    assert result.exit_code == 1
    assert "[enrolled_count]" in result.output and "counts 0 enrollments but has 2" in result.output

    result = check(app, "--repair")
    assert result.exit_code == 0, result.output
    assert "REPAIRED" in result.output
    db.session.expire_all()
    assert services.get_invitation(invitation.id).enrolled_count == 2
    with pytest.raises(errors.RevokeNotAllowed):
        services.revoke(services.get_invitation(invitation.id))
    assert services.reconcile().ok


def test_seat_row_deleted_with_a_matching_decrement(app, db, m, enrolled, courses):
    contract, ann, *_ = enrolled(VOUCHER)
    tamper(db, sa.delete(m.Seat).where(m.Seat.contract_id == contract.id, m.Seat.activity_id == courses[1].id),
           sa.update(m.Contract).where(m.Contract.id == contract.id).values(seats_used=1))
    report = services.reconcile()
    assert kinds(report) == {K.ENROLLMENT_WITHOUT_SEAT}
    (mismatch,) = report.remaining
    assert mismatch.contract_id == contract.id and courses[1].title in mismatch.problem

    repaired = services.reconcile(repair=True)
    assert repaired.ok and [m_.repaired for m_ in repaired.mismatches] == [True]
    assert services.get_contract(contract.id).seats_used == 2 and count(db, m.Seat) == 2
    assert services.reconcile().ok


def test_phantom_seat_row_with_a_matching_increment(app, db, m, enrolled, courses):
    contract, ann, bob, *_ = enrolled(VOUCHER)
    tamper(db, sa.insert(m.Seat).values(contract_id=contract.id, user_id=bob.id, activity_id=courses[2].id,
                                        created_at=sa.func.current_timestamp()),
           sa.update(m.Contract).where(m.Contract.id == contract.id).values(seats_used=3))
    assert kinds() == {K.SEAT_WITHOUT_ENROLLMENT}
    before = rows(db, m)

    result = check(app, "--repair")
    assert result.exit_code == 1  # a phantom seat is never deleted for you: a person decides
    assert "[seat_without_enrollment]" in result.output
    assert rows(db, m) == before
    assert kinds() == {K.SEAT_WITHOUT_ENROLLMENT}


def test_seat_row_moved_to_another_learner(db, m, enrolled, courses):
    contract, ann, bob, *_ = enrolled(VOUCHER)
    tamper(db, sa.update(m.Seat).where(m.Seat.contract_id == contract.id, m.Seat.activity_id == courses[0].id)
           .values(user_id=bob.id))
    report = services.reconcile()
    assert kinds(report) == {K.SEAT_WITHOUT_ENROLLMENT, K.ENROLLMENT_WITHOUT_SEAT}
    assert all(mm.contract_id == contract.id for mm in report.remaining)


@pytest.mark.parametrize("contract_type", [VOUCHER, SUBSCRIPTION])
def test_seat_used_flags_cleared(db, m, enrolled, contract_type):
    contract, ann, *_ = enrolled(contract_type)
    tamper(db, sa.update(m.Enrollment).values(seat_used=False))
    assert kinds() == {K.SEAT_FLAG}

    report = services.reconcile(repair=True)
    assert report.ok and report.mismatches and all(mm.repaired for mm in report.mismatches)
    flags = db.session.execute(sa.select(m.Enrollment.seat_used).order_by(m.Enrollment.id)).scalars().all()
    assert flags == ([True, True] if contract_type is VOUCHER else [True, False])


def test_subscription_learner_flagged_twice(db, m, enrolled):
    enrolled(SUBSCRIPTION)
    tamper(db, sa.update(m.Enrollment).values(seat_used=True))
    assert kinds() == {K.SEAT_FLAG}
    assert services.reconcile(repair=True).ok
    assert db.session.execute(sa.select(m.Enrollment.seat_used).order_by(m.Enrollment.id)).scalars().all() == [
        True, False]


def test_subscription_seat_deleted_with_a_matching_decrement(db, m, enrolled):
    contract, ann, *_ = enrolled(SUBSCRIPTION)
    tamper(db, sa.delete(m.Seat), sa.update(m.Contract).values(seats_used=0))
    assert kinds() == {K.ENROLLMENT_WITHOUT_SEAT}
    assert services.reconcile(repair=True).ok
    assert count(db, m.Seat) == 1 and services.get_contract(contract.id).seats_used == 1


def test_learners_enrollments_deleted_and_count_zeroed(app, db, m, enrolled):
    contract, ann, _bob, invitation, _ = enrolled(VOUCHER)
    tamper(db, sa.delete(m.Enrollment).where(m.Enrollment.invitation_id == invitation.id),
           sa.update(m.Invitation).where(m.Invitation.id == invitation.id).values(enrolled_count=0))
    assert kinds() == {K.SEAT_WITHOUT_ENROLLMENT, K.INVITATION_STATUS}

    report = services.reconcile(repair=True)
    # The status follows the rows; the two seats without enrollments stay for a person to look at.
    assert {(mm.kind, mm.repaired) for mm in report.mismatches} == {
        (K.INVITATION_STATUS, True), (K.SEAT_WITHOUT_ENROLLMENT, False)}
    assert services.get_invitation(invitation.id).status is InvitationStatus.OUTSTANDING
    assert count(db, m.Seat) == 2
    result = check(app)
    assert result.exit_code == 1 and result.output.count("[seat_without_enrollment]") == 2


def test_seats_used_counter_corrupted_both_ways(db, m, enrolled, make_contract):
    contract, *_ = enrolled(VOUCHER)
    empty = make_contract(SUBSCRIPTION, seats=10)
    tamper(db, sa.update(m.Contract).where(m.Contract.id == contract.id).values(seats_used=0),
           sa.update(m.Contract).where(m.Contract.id == empty.id).values(seats_used=4))
    report = services.reconcile()
    assert {(mm.kind, mm.contract_id, mm.stored, mm.actual) for mm in report.remaining} == {
        (K.SEATS_USED, contract.id, 0, 2), (K.SEATS_USED, empty.id, 4, 0)}
    assert services.reconcile(repair=True).ok
    assert (services.get_contract(contract.id).seats_used, services.get_contract(empty.id).seats_used) == (2, 0)


def test_more_seat_rows_than_seats(db, m, enrolled, courses):
    contract, ann, bob, *_ = enrolled(VOUCHER, seats=2)
    tamper(db, sa.insert(m.Seat).values(contract_id=contract.id, user_id=bob.id, activity_id=courses[0].id,
                                        created_at=sa.func.current_timestamp()))
    report = services.reconcile(repair=True)
    assert {mm.kind for mm in report.remaining} == {K.SEATS_USED, K.SEATS_EXCEEDED, K.SEAT_WITHOUT_ENROLLMENT}
    assert services.get_contract(contract.id).seats_used == 2  # never above the seats (CHECK constraint)


def test_invitation_status_disagrees_with_enrollments(db, m, enrolled):
    contract, ann, bob, ann_invitation, bob_invitation = enrolled(VOUCHER)
    tamper(db, sa.update(m.Invitation).where(m.Invitation.id == ann_invitation.id)
           .values(status=InvitationStatus.OUTSTANDING),
           sa.update(m.Invitation).where(m.Invitation.id == bob_invitation.id)
           .values(status=InvitationStatus.ENROLLED))
    report = services.reconcile()
    assert {(mm.kind, mm.invitation_id) for mm in report.remaining} == {
        (K.INVITATION_STATUS, ann_invitation.id), (K.INVITATION_STATUS, bob_invitation.id)}
    assert services.reconcile(repair=True).ok
    assert services.get_invitation(ann_invitation.id).status is InvitationStatus.ENROLLED
    assert services.get_invitation(bob_invitation.id).status is InvitationStatus.OUTSTANDING


def test_revoked_invitation_with_enrollments_is_reported_not_repaired(db, m, enrolled):
    contract, ann, bob, invitation, _ = enrolled(VOUCHER)
    tamper(db, sa.update(m.Invitation).where(m.Invitation.id == invitation.id)
           .values(status=InvitationStatus.REVOKED))
    report = services.reconcile(repair=True)
    assert [(mm.kind, mm.repaired) for mm in report.mismatches] == [(K.INVITATION_STATUS, False)]
    assert "Revoked" in report.mismatches[0].problem


def test_enrollment_linked_to_another_contracts_or_learners_invitation(db, m, enrolled, make_contract, make_user,
                                                                        courses):
    contract, ann, bob, ann_invitation, bob_invitation = enrolled(VOUCHER)
    other = make_contract(VOUCHER, activities=courses)
    stranger = invite_one(other, make_user())
    first, second = db.session.execute(sa.select(m.Enrollment.id).order_by(m.Enrollment.id)).scalars().all()
    tamper(db, sa.update(m.Enrollment).where(m.Enrollment.id == first).values(invitation_id=stranger.id),
           sa.update(m.Enrollment).where(m.Enrollment.id == second).values(invitation_id=bob_invitation.id))
    found = {mm.kind for mm in services.reconcile().remaining}
    assert K.ENROLLMENT_INVITATION in found
    messages = [mm.problem for mm in services.reconcile().remaining if mm.kind is K.ENROLLMENT_INVITATION]
    assert len(messages) == 2 and any("another contract" in p for p in messages)


# ---------------------------------------------------------------------------------------------
# --repair: history, never deleting, exit codes; check_seats stays
# ---------------------------------------------------------------------------------------------
def test_repair_writes_one_history_entry_per_contract_changed(app, db, m, enrolled, make_contract):
    first, *_ = enrolled(VOUCHER)
    second, _ann, _bob, invitation, _ = enrolled(SUBSCRIPTION)
    untouched = make_contract(VOUCHER)
    tamper(db, sa.update(m.Contract).where(m.Contract.id == first.id).values(seats_used=0),
           sa.update(m.Invitation).where(m.Invitation.id == invitation.id).values(enrolled_count=0),
           sa.update(m.Enrollment).where(m.Enrollment.contract_id == second.id).values(seat_used=False))
    before = rows(db, m)

    result = check(app, "--repair")
    assert result.exit_code == 0, result.output
    assert rows(db, m) == before
    repaired = {c.id: [e for e in services.history(c) if e.action == "repaired"]
                for c in (first, second, untouched)}
    assert [len(entries) for entries in repaired.values()] == [1, 1, 0]
    assert "seats used 0 → 2" in repaired[first.id][0].message
    message = repaired[second.id][0].message
    assert "enrolled count 0 → 2" in message and "seat used" in message
    assert check(app).exit_code == 0


def test_check_seats_keeps_its_shape(db, m, enrolled):
    contract, *_ = enrolled(VOUCHER)
    tamper(db, sa.update(m.Contract).where(m.Contract.id == contract.id).values(seats_used=1))
    (mismatch,) = services.check_seats()
    assert (mismatch.contract_id, mismatch.code, mismatch.seats_used, mismatch.seat_rows) == (
        contract.id, contract.code, 1, 2)
    assert mismatch.problem == "seats_used is 1 but 2 seat rows exist"
