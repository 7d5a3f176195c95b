"""Contracts through ``services``: fields and their validation, the fixed type, seats, the valid period,
activities (rule 11), contract admins and permissions (rule 15), deletion, and the transaction contract.

Each test reads like an example of the seed ("Creating Learning Contracts") and fails if its rule breaks.
"""
from __future__ import annotations

import datetime as dt

import pytest
from flask_login import AnonymousUserMixin

from flask_learning_contracts import ContractState, ContractType, InvitationStatus, errors, services

from . import host
from .conftest import count, invite_one

VOUCHER, SUBSCRIPTION = ContractType.VOUCHER, ContractType.SUBSCRIPTION


def actions(contract) -> list[str]:
    return [entry.action for entry in services.history(contract)]


# ---------------------------------------------------------------------------------------------
# creating: every field of the General Details and Seats & Scheduling steps
# ---------------------------------------------------------------------------------------------
def test_create_contract_stores_every_field_and_returns_the_contract(app, m):
    contract = services.create_contract(
        code="ACME-2026", title="  ACME onboarding ", contract_type="subscription", seats=25,
        valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2026, 12, 31), description="For ACME staff",
        per_user_limit=3, require_invitation_code=False, group="Sales", external_id="SF-42", source="salesforce",
    )
    assert isinstance(contract, m.Contract)
    stored = services.get_contract(contract.id)
    assert (stored.code, stored.title, stored.description) == ("ACME-2026", "ACME onboarding", "For ACME staff")
    assert stored.contract_type is SUBSCRIPTION
    assert (stored.seats, stored.seats_used, stored.per_user_limit) == (25, 0, 3)
    assert (stored.valid_from, stored.valid_until) == (dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    assert stored.require_invitation_code is False
    assert (stored.group, stored.external_id, stored.source) == ("Sales", "SF-42", "salesforce")
    assert stored.invitation_code


def test_optional_fields_default_sensibly(make_contract):
    contract = make_contract(VOUCHER)
    assert contract.per_user_limit == 0
    assert contract.require_invitation_code is True
    assert contract.group is None and contract.external_id is None and contract.source is None
    assert contract.seats_used == 0


# ---------------------------------------------------------------------------------------------
# rule 1: the type is fixed
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("original, other", [(VOUCHER, SUBSCRIPTION), (SUBSCRIPTION, VOUCHER)])
def test_contract_type_cannot_be_changed_after_creation(make_contract, original, other):
    """"You cannot change the Contract Type after you create the Learning Contract.\""""
    contract = make_contract(original)
    with pytest.raises(errors.ImmutableField) as refused:
        services.update_contract(contract, contract_type=other)
    assert refused.value.field == "contract_type"
    assert services.get_contract(contract.id).contract_type is original
    assert "edited" not in actions(contract)


def test_contract_type_change_is_refused_together_with_other_changes(make_contract):
    contract = make_contract(VOUCHER, title="Before")
    with pytest.raises(errors.ImmutableField):
        services.update_contract(contract, title="After", contract_type=SUBSCRIPTION)
    stored = services.get_contract(contract.id)
    assert (stored.title, stored.contract_type) == ("Before", VOUCHER)


def test_setting_the_same_type_again_is_a_no_op(make_contract):
    contract = make_contract(VOUCHER)
    assert services.update_contract(contract, contract_type=VOUCHER) is contract
    services.update_contract(contract, contract_type="voucher")
    assert services.get_contract(contract.id).contract_type is VOUCHER
    assert actions(contract) == ["created"]


def test_an_unknown_type_value_is_refused_as_immutable(make_contract):
    contract = make_contract(VOUCHER)
    with pytest.raises(errors.ImmutableField):
        services.update_contract(contract, contract_type="rental")


@pytest.mark.parametrize("field, value", [("seats_used", 3), ("invitation_code", "ABCDEFGHJKMN")])
def test_read_only_fields_cannot_be_set(make_contract, field, value):
    contract = make_contract(VOUCHER)
    before = contract.invitation_code
    with pytest.raises(errors.ImmutableField):
        services.update_contract(contract, **{field: value})
    stored = services.get_contract(contract.id)
    assert (stored.seats_used, stored.invitation_code) == (0, before)


# ---------------------------------------------------------------------------------------------
# the code is unique, case-insensitively; validation errors name the field
# ---------------------------------------------------------------------------------------------
def test_contract_code_is_unique_case_insensitively(make_contract, m, db):
    make_contract(VOUCHER, code="ACME-2026")
    with pytest.raises(errors.ValidationError) as refused:
        make_contract(VOUCHER, code="acme-2026")
    assert refused.value.field == "code"
    assert count(db, m.Contract) == 1


def test_renaming_a_code_onto_another_contracts_code_is_refused(make_contract):
    make_contract(VOUCHER, code="ACME-2026")
    other = make_contract(VOUCHER, code="GLOBEX")
    with pytest.raises(errors.ValidationError) as refused:
        services.update_contract(other, code="Acme-2026")
    assert refused.value.field == "code"
    assert services.get_contract(other.id).code == "GLOBEX"


def test_a_contract_may_change_the_case_of_its_own_code(make_contract):
    contract = make_contract(VOUCHER, code="ACME-2026")
    services.update_contract(contract, code="Acme-2026")
    assert services.get_contract(contract.id).code == "Acme-2026"


@pytest.mark.parametrize("changes, field", [
    ({"valid_from": dt.date(2026, 5, 2), "valid_until": dt.date(2026, 5, 1)}, "valid_until"),
    ({"seats": -1}, "seats"),
    ({"seats": "many"}, "seats"),
    ({"per_user_limit": -1}, "per_user_limit"),
    ({"code": "bad code!"}, "code"),
    ({"code": "ÄCME"}, "code"),
    ({"code": ""}, "code"),
    ({"title": "   "}, "title"),
    ({"title": ""}, "title"),
    ({"contract_type": "rental"}, "contract_type"),
    ({"valid_from": "next monday"}, "valid_from"),
])
def test_invalid_values_are_refused_naming_the_field(make_contract, m, db, changes, field):
    with pytest.raises(errors.ValidationError) as refused:
        make_contract(**{"contract_type": VOUCHER, **changes})
    assert refused.value.field == field
    assert str(refused.value)  # a message a person can read
    assert count(db, m.Contract) == 0
    assert count(db, m.HistoryEntry) == 0


@pytest.mark.parametrize("changes, field", [
    ({"valid_until": dt.date(2025, 12, 31)}, "valid_until"),
    ({"seats": -5}, "seats"),
    ({"code": "no spaces allowed"}, "code"),
    ({"title": " "}, "title"),
    ({"colour": "red"}, "colour"),
])
def test_invalid_edits_are_refused_naming_the_field_and_change_nothing(make_contract, changes, field):
    contract = make_contract(VOUCHER, title="Kept", seats=7)
    with pytest.raises(errors.ValidationError) as refused:
        services.update_contract(contract, **changes)
    assert refused.value.field == field
    stored = services.get_contract(contract.id)
    assert (stored.title, stored.seats, stored.valid_until) == ("Kept", 7, dt.date(2026, 12, 31))
    assert actions(contract) == ["created"]


def test_editing_fields_saves_them(make_contract):
    contract = make_contract(VOUCHER)
    services.update_contract(contract, title="New title", description="More", per_user_limit=2, seats=12,
                             valid_until=dt.date(2027, 1, 31), group="Ops")
    stored = services.get_contract(contract.id)
    assert (stored.title, stored.description, stored.per_user_limit, stored.seats) == ("New title", "More", 2, 12)
    assert (stored.valid_until, stored.group) == (dt.date(2027, 1, 31), "Ops")


# ---------------------------------------------------------------------------------------------
# rule 4: seats can never be lowered below seats used
# ---------------------------------------------------------------------------------------------
def test_seats_cannot_be_lowered_below_seats_used_but_may_equal_them(make_contract, make_course, make_user):
    course = make_course()
    contract = make_contract(VOUCHER, seats=5, activities=[course], require_invitation_code=False)
    for learner in (make_user(), make_user()):
        invite_one(contract, learner)
        services.enroll(learner, contract, course)
    assert services.get_contract(contract.id).seats_used == 2

    with pytest.raises(errors.ValidationError) as refused:
        services.update_contract(contract, seats=1)
    assert refused.value.field == "seats"
    assert services.get_contract(contract.id).seats == 5

    services.update_contract(contract, seats=2)
    stored = services.get_contract(contract.id)
    assert (stored.seats, stored.seats_used) == (2, 2)
    assert services.seat_summary(stored).available == 0

    third = make_user()
    invite_one(contract, third)
    with pytest.raises(errors.NoSeatsAvailable):
        services.enroll(third, contract, course)


def test_seats_can_be_raised_to_admit_more_learners(make_contract, make_course, make_user):
    course = make_course()
    contract = make_contract(VOUCHER, seats=1, activities=[course], require_invitation_code=False)
    first, second = make_user(), make_user()
    invite_one(contract, first)
    invite_one(contract, second)
    services.enroll(first, contract, course)
    with pytest.raises(errors.NoSeatsAvailable):
        services.enroll(second, contract, course)
    services.update_contract(contract, seats=2)
    services.enroll(second, contract, course)
    assert services.get_contract(contract.id).seats_used == 2
    assert services.check_seats() == []


# ---------------------------------------------------------------------------------------------
# rule 6: Future / Active / Expired
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("today, state", [
    (dt.date(2026, 2, 28), ContractState.FUTURE),
    (dt.date(2026, 3, 1), ContractState.ACTIVE),
    (dt.date(2026, 3, 15), ContractState.ACTIVE),
    (dt.date(2026, 3, 31), ContractState.ACTIVE),
    (dt.date(2026, 4, 1), ContractState.EXPIRED),
])
def test_contract_state_follows_the_valid_period_inclusive(make_contract, rules, today, state):
    contract = make_contract(VOUCHER, valid_from=dt.date(2026, 3, 1), valid_until=dt.date(2026, 3, 31))
    rules.set_today(today)
    assert services.contract_state(contract) is state
    assert services.seat_summary(contract).state is state


def test_a_one_day_contract_is_active_on_that_day_only(make_contract, rules):
    day = dt.date(2026, 7, 4)
    contract = make_contract(VOUCHER, valid_from=day, valid_until=day)
    rules.set_today(day)
    assert services.contract_state(contract) is ContractState.ACTIVE
    rules.set_today(day + dt.timedelta(days=1))
    assert services.contract_state(contract) is ContractState.EXPIRED


def test_contracts_for_admin_groups_by_state(make_contract, make_user, rules):
    admin = make_user()
    rules.set_today(dt.date(2026, 6, 15))
    past = make_contract(VOUCHER, valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2026, 1, 31))
    now = make_contract(VOUCHER)
    later = make_contract(VOUCHER, valid_from=dt.date(2026, 9, 1), valid_until=dt.date(2026, 9, 30))
    make_contract(VOUCHER)  # not theirs
    for contract in (past, now, later):
        services.add_contract_admin(contract, admin)
    grouped = services.contracts_for_admin(admin)
    assert [c.id for c in grouped[ContractState.ACTIVE]] == [now.id]
    assert [c.id for c in grouped[ContractState.FUTURE]] == [later.id]
    assert [c.id for c in grouped[ContractState.EXPIRED]] == [past.id]


# ---------------------------------------------------------------------------------------------
# rule 11: activities
# ---------------------------------------------------------------------------------------------
def test_add_activities_of_every_eligible_kind(make_contract, make_course):
    online, ilt, cert = make_course(kind="online"), make_course(kind="ilt"), make_course(kind="certification")
    contract = make_contract(VOUCHER)
    added = services.add_activities(contract, [online, ilt, cert])
    assert [a.id for a in added] == [online.id, ilt.id, cert.id]
    assert [a.id for a in services.get_contract(contract.id).activities] == [online.id, ilt.id, cert.id]


def test_an_activity_the_host_does_not_allow_is_refused_and_nothing_is_added(make_contract, make_course, m, db):
    good, retired = make_course(), make_course(retired=True)
    contract = make_contract(VOUCHER)
    with pytest.raises(errors.ValidationError) as refused:
        services.add_activities(contract, [good, retired])
    assert refused.value.field == "activities"
    assert services.get_contract(contract.id).activities == []
    assert count(db, m.ContractActivity) == 0
    assert "activity_added" not in actions(contract)


def test_unknown_activity_ids_are_refused(make_contract):
    contract = make_contract(VOUCHER)
    with pytest.raises(errors.ValidationError):
        services.add_activities(contract, [987654])


def test_adding_an_activity_twice_keeps_one(make_contract, make_course, m, db):
    course = make_course()
    contract = make_contract(VOUCHER, activities=[course])
    assert services.add_activities(contract, [course, course]) == []
    assert count(db, m.ContractActivity) == 1


def test_import_activities_is_a_union_without_duplicates(make_contract, make_course):
    """"Import Activities from Existing Contract – Import activities from another contract.\""""
    a, b, c = make_course("A"), make_course("B"), make_course("C")
    target = make_contract(VOUCHER, activities=[a, b])
    source = make_contract(SUBSCRIPTION, activities=[b, c])

    assert [x.id for x in services.preview_import(target, source)] == [c.id]
    added = services.import_activities(target, source)
    assert [x.id for x in added] == [c.id]
    assert [x.id for x in services.get_contract(target.id).activities] == [a.id, b.id, c.id]
    assert [x.id for x in services.get_contract(source.id).activities] == [b.id, c.id]
    assert services.preview_import(target, source) == []
    assert services.import_activities(target, source) == []
    assert [x.id for x in services.get_contract(target.id).activities] == [a.id, b.id, c.id]


def test_import_from_the_same_contract_is_refused(make_contract, make_course):
    contract = make_contract(VOUCHER, activities=[make_course()])
    with pytest.raises(errors.ValidationError):
        services.import_activities(contract, contract)


def test_removing_an_activity_shows_who_is_affected_and_keeps_enrollments_and_seats(
        make_contract, make_course, make_user, m, db):
    """"Removing an activity may affect students who are already enrolled or invited.\""""
    first, second = make_course("First"), make_course("Second")
    contract = make_contract(VOUCHER, seats=10, activities=[first, second], require_invitation_code=False)
    enrolled, invited, elsewhere = make_user(), make_user(), make_user()
    invite_one(contract, enrolled)
    invite_one(contract, invited)
    invite_one(contract, elsewhere, activities=[second])
    services.invite(contract, emails=["nobody-yet@example.com"], activities=[first])
    services.enroll(enrolled, contract, first)

    preview = services.activity_impact(contract, first)
    assert (preview.invited, preview.enrolled) == (3, 1)
    impact = services.remove_activity(contract, first)
    assert impact == preview

    stored = services.get_contract(contract.id)
    assert [a.id for a in stored.activities] == [second.id]
    assert stored.seats_used == 1
    assert count(db, m.Enrollment, m.Enrollment.activity_id == first.id) == 1
    assert count(db, m.Seat) == 1
    assert count(db, host.CourseEnrollment, host.CourseEnrollment.course_id == first.id) == 1
    assert services.check_seats() == []
    # the invitations no longer offer it
    invitation = services.invitations_for(invited)[0]
    assert [a.id for a in invitation.activities] == [second.id]
    with pytest.raises(errors.ActivityNotInInvitation):
        services.enroll(invited, contract, first)
    assert "activity_removed" in actions(contract)


def test_removing_an_activity_from_a_subscription_counts_every_live_invitation(
        make_contract, make_course, make_user):
    a, b = make_course(), make_course()
    contract = make_contract(SUBSCRIPTION, activities=[a, b], require_invitation_code=False)
    learners = [make_user() for _ in range(3)]
    for learner in learners:
        invite_one(contract, learner)
    services.revoke(services.invitations_for(learners[2])[0])
    services.enroll(learners[0], contract, b)
    assert services.activity_impact(contract, a) == services.ActivityImpact(invited=2, enrolled=0)
    assert services.activity_impact(contract, b) == services.ActivityImpact(invited=2, enrolled=1)


def test_removing_an_activity_not_in_the_contract_is_refused(make_contract, make_course):
    contract = make_contract(VOUCHER, activities=[make_course()])
    with pytest.raises(errors.ValidationError):
        services.remove_activity(contract, make_course())


# ---------------------------------------------------------------------------------------------
# contract admins and rule 15: permissions
# ---------------------------------------------------------------------------------------------
def test_contract_admins_are_added_once_and_removed(make_contract, make_user, m, db):
    contract = make_contract(VOUCHER)
    admin = make_user(name="Ada Admin")
    services.add_contract_admin(contract, admin)
    services.add_contract_admin(contract, admin)
    assert [u.id for u in services.get_contract(contract.id).admins] == [admin.id]
    assert count(db, m.ContractAdmin) == 1
    services.remove_contract_admin(contract, admin)
    assert services.get_contract(contract.id).admins == []
    assert actions(contract).count("admin_added") == 1
    assert "admin_removed" in actions(contract)


def test_only_managers_reach_the_admin_views(make_user):
    manager, learner = make_user(manager=True), make_user()
    services.ensure_can_manage(manager)
    for nobody in (learner, None, AnonymousUserMixin()):
        with pytest.raises(errors.PermissionDenied):
            services.ensure_can_manage(nobody)


def test_contract_admins_reach_only_their_contracts(make_contract, make_user):
    theirs, other = make_contract(VOUCHER), make_contract(VOUCHER)
    manager, admin, learner = make_user(manager=True), make_user(), make_user()
    services.add_contract_admin(theirs, admin)

    services.ensure_contract_admin(admin, theirs)
    services.ensure_contract_admin(manager, theirs)
    services.ensure_contract_admin(manager, other)
    with pytest.raises(errors.PermissionDenied):
        services.ensure_can_manage(admin)  # a contract admin is not a contract manager
    with pytest.raises(errors.PermissionDenied):
        services.ensure_contract_admin(admin, other)
    for nobody in (learner, None, AnonymousUserMixin()):
        with pytest.raises(errors.PermissionDenied):
            services.ensure_contract_admin(nobody, theirs)

    services.remove_contract_admin(theirs, admin)
    with pytest.raises(errors.PermissionDenied):
        services.ensure_contract_admin(admin, services.get_contract(theirs.id))


def test_get_invitation_scopes_to_the_learner_and_contract(make_contract, make_user):
    contract, other = make_contract(VOUCHER, activities=()), make_contract(SUBSCRIPTION)
    learner, stranger = make_user(), make_user()
    invitation = invite_one(other, learner)
    assert services.get_invitation(invitation.id, user=learner).id == invitation.id
    with pytest.raises(errors.ValidationError):
        services.get_invitation(invitation.id, user=stranger)
    with pytest.raises(errors.ValidationError):
        services.get_invitation(invitation.id, contract=contract)
    with pytest.raises(errors.ValidationError):
        services.get_contract("not-a-number")


# ---------------------------------------------------------------------------------------------
# deleting
# ---------------------------------------------------------------------------------------------
def test_delete_contract_removes_its_rows_but_keeps_host_enrollments_and_history(
        make_contract, make_course, make_user, m, db):
    a, b = make_course(), make_course()
    contract = make_contract(VOUCHER, seats=5, activities=[a, b], require_invitation_code=False)
    kept = make_contract(SUBSCRIPTION, activities=[a], require_invitation_code=False)
    learner, other, admin = make_user(), make_user(), make_user(name="Root", manager=True)
    services.add_contract_admin(contract, admin)
    invite_one(contract, learner)
    invite_one(kept, other)
    services.invite(contract, emails=["ghost@example.com"])
    services.enroll(learner, contract, a)
    services.enroll(other, kept, a)
    cid = contract.id

    services.delete_contract(contract, actor=admin)

    for model in (m.Contract, m.Invitation, m.Enrollment, m.Seat, m.ContractActivity, m.ContractAdmin):
        assert count(db, model, model.contract_id == cid if model is not m.Contract else model.id == cid) == 0
    assert count(db, m.InvitationActivity) == 0  # the other contract is a Subscription: no fixed activities
    assert count(db, host.CourseEnrollment, host.CourseEnrollment.account_id == learner.id) == 1
    # the other contract is untouched
    assert services.get_contract(kept.id).seats_used == 1
    assert count(db, m.Enrollment, m.Enrollment.contract_id == kept.id) == 1
    assert services.check_seats() == []
    with pytest.raises(errors.ValidationError):
        services.get_contract(cid)
    entries = db.session.query(m.HistoryEntry).filter_by(contract_id=cid).order_by(m.HistoryEntry.id).all()
    assert entries[-1].action == "deleted" and entries[-1].actor_name == "Root"
    assert {"created", "invited", "enrolled"} <= {e.action for e in entries}


# ---------------------------------------------------------------------------------------------
# the transaction contract
# ---------------------------------------------------------------------------------------------
def test_a_failing_call_leaves_nothing_behind(make_contract, make_course, make_user, rules, m, db):
    inside, outside = make_course(), make_course()
    contract = make_contract(VOUCHER, activities=[inside])
    learners = [make_user() for _ in range(3)]
    with pytest.raises(errors.ValidationError):
        services.invite(contract, users=learners, emails=["new@example.com"], activities=[inside, outside])
    assert count(db, m.Invitation) == 0
    assert count(db, m.InvitationActivity) == 0
    assert rules.sent == []
    assert actions(contract) == ["activity_added", "created"]
    assert not db.session.new and not db.session.dirty


def test_a_refused_create_writes_nothing_and_the_session_stays_usable(make_contract, m, db):
    make_contract(VOUCHER, code="DUP")
    with pytest.raises(errors.ValidationError):
        make_contract(SUBSCRIPTION, code="dup")
    assert count(db, m.Contract) == 1
    assert count(db, m.HistoryEntry) == 1
    assert make_contract(SUBSCRIPTION, code="FRESH").code == "FRESH"


def test_invitations_and_statuses_survive_in_the_report_of_seat_summary(make_contract):
    summary = services.seat_summary(make_contract(VOUCHER, seats=3))
    assert (summary.seats, summary.used, summary.available, summary.expired) == (3, 0, 3, 0)
    assert set(summary.by_status) == set(InvitationStatus)
    assert all(n == 0 for n in summary.by_status.values())


def test_the_extension_runs_on_a_host_with_its_own_table_and_column_names(app, m, make_contract, make_user,
                                                                          make_course):
    """The test host keeps users in ``accounts`` (e-mail in ``email_address``) and activities in ``courses``."""
    assert (host.Account.__tablename__, host.Course.__tablename__) == ("accounts", "courses")
    assert not hasattr(host.Account, "email")
    fks = {fk.target_fullname for fk in m.Invitation.__table__.foreign_keys | m.Enrollment.__table__.foreign_keys}
    assert {"accounts.id", "courses.id"} <= fks
    course = make_course()
    contract = make_contract(VOUCHER, activities=[course], require_invitation_code=False)
    learner = make_user("Host.User@Example.com")
    report = services.invite(contract, emails=["host.user@example.com"])
    assert [r.email for r in report.invited] == ["host.user@example.com"]
    assert services.enroll(learner, contract, course).user_id == learner.id
