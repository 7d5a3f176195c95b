"""Invitations through ``services``: statuses (rule 9), revoke and resend (rule 10), which activities an
invitation covers (rule 12), inviting by selection and by CSV upload (rule 13), and batch host look-ups.
"""
from __future__ import annotations

import contextlib
import io

import pytest
import sqlalchemy as sa

from flask_learning_contracts import ContractType, InvitationStatus, errors, services

from .conftest import count, invite_one

VOUCHER, SUBSCRIPTION = ContractType.VOUCHER, ContractType.SUBSCRIPTION
S = InvitationStatus


@pytest.fixture
def courses(make_course):
    return [make_course(f"Course {i}") for i in range(1, 4)]


def status_of(invitation):
    return services.get_invitation(invitation.id).status


def ids(items) -> list:
    return [getattr(i, "id", i) for i in items]


def actions(contract) -> list[str]:
    return [entry.action for entry in services.history(contract)]


# ---------------------------------------------------------------------------------------------
# rule 9: statuses
# ---------------------------------------------------------------------------------------------
def test_an_invited_learner_goes_outstanding_accepted_enrolled(make_contract, make_user, courses):
    contract = make_contract(VOUCHER, activities=courses)
    learner = make_user()
    invitation = invite_one(contract, learner)
    assert invitation.status is S.OUTSTANDING
    assert invitation.contract_id == contract.id

    assert services.redeem_code(learner, contract.invitation_code).id == invitation.id
    assert status_of(invitation) is S.ACCEPTED
    services.enroll(learner, contract, courses[0])
    assert status_of(invitation) is S.ENROLLED
    services.enroll(learner, contract, courses[1])
    assert status_of(invitation) is S.ENROLLED


def test_an_email_without_an_account_is_not_registered(make_contract, courses):
    contract = make_contract(VOUCHER, activities=courses)
    report = services.invite(contract, emails=["Outsider@Example.com"])
    assert [r.email for r in report.not_registered] == ["outsider@example.com"]
    assert report.invited == []
    invitation = services.get_invitation(report.not_registered[0].invitation_id)
    assert invitation.status is S.NOT_REGISTERED and invitation.user_id is None


def test_link_registered_user_makes_not_registered_outstanding(make_contract, make_user, courses):
    """"Not Registered - External Students invited without an account" until they sign up."""
    contract = make_contract(VOUCHER, activities=courses[:2])
    other = make_contract(SUBSCRIPTION, activities=courses)
    services.invite(contract, emails=["new.person@example.com"], activities=[courses[1]])
    services.invite(other, emails=["NEW.PERSON@example.com"])
    learner = make_user("New.Person@Example.com")

    linked = services.link_registered_user(learner)
    assert sorted(i.contract_id for i in linked) == sorted([contract.id, other.id])
    for invitation in linked:
        stored = services.get_invitation(invitation.id)
        assert (stored.status, stored.user_id) == (S.OUTSTANDING, learner.id)
    assert ids(services.invitations_for(learner)[0].activities) in ([courses[1].id], ids(courses))
    assert services.link_registered_user(learner) == []  # nothing left to link
    assert "linked" in actions(contract)


def test_the_learner_pages_link_lazily_through_invitations_for(make_contract, make_user, courses):
    contract = make_contract(SUBSCRIPTION, activities=courses)
    services.invite(contract, emails=["late@example.com"])
    learner = make_user("late@example.com")
    [invitation] = services.invitations_for(learner)
    assert invitation.status is S.OUTSTANDING and invitation.contract_id == contract.id
    assert ids(invitation.activities) == ids(courses)


def test_a_not_registered_invitation_merges_into_one_taken_by_code(make_contract, make_user, courses, m, db):
    contract = make_contract(VOUCHER, activities=courses)
    services.invite(contract, emails=["early@example.com"], activities=[courses[0]])
    learner = make_user("early@example.com")
    # the learner redeems before any link happened: one live invitation remains
    invitation = services.redeem_code(learner, contract.invitation_code)
    assert count(db, m.Invitation, m.Invitation.contract_id == contract.id, m.Invitation.status != S.REVOKED) == 1
    assert services.get_invitation(invitation.id).status is S.ACCEPTED


def test_a_not_registered_invitation_merges_when_a_learner_changes_email(make_contract, make_user, courses,
                                                                        m, db):
    """The learner already holds an invitation under their old e-mail: one live invitation remains, with the
    activities of both."""
    contract = make_contract(VOUCHER, activities=courses)
    learner = make_user("old@example.com")
    kept = invite_one(contract, learner, activities=[courses[0]])
    services.invite(contract, emails=["new@example.com"], activities=[courses[1]])
    learner.email_address = "new@example.com"
    db.session.commit()

    assert services.link_registered_user(learner) == []
    live = db.session.execute(sa.select(m.Invitation).where(
        m.Invitation.contract_id == contract.id, m.Invitation.status != S.REVOKED)).scalars().all()
    assert [i.id for i in live] == [kept.id]
    assert ids(services.get_invitation(kept.id).activities) == [courses[0].id, courses[1].id]
    assert "invitation_merged" in actions(contract)


def test_seat_summary_counts_every_status(make_contract, make_user, courses):
    contract = make_contract(VOUCHER, activities=courses, seats=5)
    outstanding, accepted, enrolled, revoked = (make_user() for _ in range(4))
    for learner in (outstanding, accepted, enrolled, revoked):
        invite_one(contract, learner)
    services.invite(contract, emails=["nobody1@example.com", "nobody2@example.com"])
    services.redeem_code(accepted, contract.invitation_code)
    services.redeem_code(enrolled, contract.invitation_code)
    services.enroll(enrolled, contract, courses[0])
    services.revoke(services.invitations_for(revoked)[0])

    summary = services.seat_summary(services.get_contract(contract.id))
    assert summary.by_status == {S.OUTSTANDING: 1, S.ACCEPTED: 1, S.ENROLLED: 1, S.NOT_REGISTERED: 2, S.REVOKED: 1}
    assert (summary.seats, summary.used, summary.available, summary.expired) == (5, 1, 4, 0)


# ---------------------------------------------------------------------------------------------
# rule 10: revoke and resend
# ---------------------------------------------------------------------------------------------
def test_revoke_without_enrollments_keeps_the_record(make_contract, make_user, courses, m, db):
    contract = make_contract(VOUCHER, activities=courses)
    learner = make_user()
    invitation = invite_one(contract, learner)
    services.revoke(invitation)
    stored = services.get_invitation(invitation.id)
    assert stored.status is S.REVOKED and stored.revoked_at is not None
    assert count(db, m.Invitation) == 1
    assert services.invitations_for(learner) == []
    with pytest.raises(errors.RevokeNotAllowed):
        services.revoke(stored)


@pytest.mark.parametrize("contract_type", [VOUCHER, SUBSCRIPTION])
def test_revoke_is_refused_once_the_learner_enrolled(make_contract, make_user, courses, contract_type):
    """"Invitations can be revoked only if the student has not enrolled in a Learning Contract activity.\""""
    contract = make_contract(contract_type, activities=courses, require_invitation_code=False)
    learner = make_user()
    invitation = invite_one(contract, learner)
    services.enroll(learner, contract, courses[0])
    with pytest.raises(errors.RevokeNotAllowed):
        services.revoke(services.get_invitation(invitation.id))
    assert status_of(invitation) is S.ENROLLED
    assert "revoked" not in actions(contract)


def test_accepted_and_not_registered_invitations_can_be_revoked(make_contract, make_user, courses):
    contract = make_contract(VOUCHER, activities=courses)
    learner = make_user()
    invitation = invite_one(contract, learner)
    services.redeem_code(learner, contract.invitation_code)
    services.revoke(services.get_invitation(invitation.id))
    ghost = services.invite(contract, emails=["ghost@example.com"]).not_registered[0]
    services.revoke(services.get_invitation(ghost.invitation_id))
    assert status_of(invitation) is S.REVOKED
    assert services.get_invitation(ghost.invitation_id).status is S.REVOKED


def test_re_invite_after_revoke_creates_a_new_record(make_contract, make_user, courses, m, db):
    """"The Revoked status record will remain, and a new record will be created.\""""
    contract = make_contract(VOUCHER, activities=courses, require_invitation_code=False)
    learner = make_user()
    first = invite_one(contract, learner)
    services.revoke(first)
    second = invite_one(contract, learner)
    assert second.id != first.id
    rows = db.session.execute(sa.select(m.Invitation.status).where(m.Invitation.user_id == learner.id)
                              .order_by(m.Invitation.id)).scalars().all()
    assert rows == [S.REVOKED, S.OUTSTANDING]
    services.enroll(learner, contract, courses[0])
    assert status_of(second) is S.ENROLLED and status_of(first) is S.REVOKED


def test_re_invite_of_a_revoked_email_creates_a_new_record(make_contract, courses, m, db):
    contract = make_contract(VOUCHER, activities=courses)
    first = services.invite(contract, emails=["ghost@example.com"]).not_registered[0]
    services.revoke(services.get_invitation(first.invitation_id))
    again = services.invite(contract, emails=["ghost@example.com"])
    assert len(again.not_registered) == 1 and again.already_invited == []
    assert count(db, m.Invitation) == 2


def test_resend_an_outstanding_invitation_calls_the_hook_again(make_contract, make_user, courses, rules):
    contract = make_contract(VOUCHER, activities=courses)
    learner = make_user()
    invitation = invite_one(contract, learner)
    assert rules.sent == [(invitation.email, False)]
    services.resend(invitation)
    assert rules.sent == [(invitation.email, False), (invitation.email, True)]
    stored = services.get_invitation(invitation.id)
    assert stored.send_count == 2 and stored.status is S.OUTSTANDING
    assert "resent" in actions(contract)


def test_resend_is_only_for_outstanding_invitations(make_contract, make_user, courses, rules):
    """"Resend – ... This is only available for status Outstanding.\""""
    contract = make_contract(VOUCHER, activities=courses)
    accepted, enrolled, revoked = make_user(), make_user(), make_user()
    for learner in (accepted, enrolled, revoked):
        invite_one(contract, learner)
    services.redeem_code(accepted, contract.invitation_code)
    services.redeem_code(enrolled, contract.invitation_code)
    services.enroll(enrolled, contract, courses[0])
    services.revoke(services.invitations_for(revoked)[0])
    ghost = services.invite(contract, emails=["ghost@example.com"]).not_registered[0]
    invitations = [services.get_invitation(i.id) for i in services.invitations_for(accepted)
                   + services.invitations_for(enrolled)]
    invitations += [services.get_invitation(ghost.invitation_id)]
    invitations += [services.get_invitation(i) for i in db_revoked_ids(contract)]
    assert {i.status for i in invitations} == {S.ACCEPTED, S.ENROLLED, S.NOT_REGISTERED, S.REVOKED}
    sent_before = list(rules.sent)
    for invitation in invitations:
        with pytest.raises(errors.ResendNotAllowed):
            services.resend(invitation)
    assert rules.sent == sent_before
    assert "resent" not in actions(contract)


def db_revoked_ids(contract):
    return [i.id for i in services.invitations_for_contract(contract)] if hasattr(
        services, "invitations_for_contract") else _revoked_ids(contract)


def _revoked_ids(contract):
    from flask import current_app
    m = current_app.extensions["learning_contracts"].models
    session = current_app.extensions["learning_contracts"].db.session
    return session.execute(sa.select(m.Invitation.id).where(
        m.Invitation.contract_id == contract.id, m.Invitation.status == S.REVOKED)).scalars().all()


def test_a_failing_notification_on_resend_raises_and_is_recorded(make_contract, make_user, courses, rules):
    contract = make_contract(VOUCHER, activities=courses)
    invitation = invite_one(contract, make_user())
    rules.fail_notification = ConnectionError("SMTP down")
    with pytest.raises(errors.LearningContractError) as refused:
        services.resend(invitation)
    assert not isinstance(refused.value, errors.ResendNotAllowed)
    assert "SMTP down" in str(refused.value)
    [failure] = [e for e in services.history(contract) if e.action == "notification_failed"]
    assert "SMTP down" in failure.message and failure.invitation_id == invitation.id
    stored = services.get_invitation(invitation.id)
    assert stored.send_count == 1 and stored.status is S.OUTSTANDING
    assert "resent" not in actions(contract)


def test_a_failing_notification_on_invite_keeps_the_invitation_and_reports_it(make_contract, make_user, courses,
                                                                              rules, m, db):
    contract = make_contract(VOUCHER, activities=courses)
    rules.fail_notification = ConnectionError("SMTP down")
    report = services.invite(contract, users=[make_user()])
    assert len(report.invited) == 1
    assert [(r.email, msg) for r, msg in report.notification_failures] == [(report.invited[0].email, "SMTP down")]
    assert count(db, m.Invitation) == 1
    assert "notification_failed" in actions(contract)


def test_resend_outside_the_valid_period_is_refused(make_contract, make_user, courses, rules):
    import datetime as dt
    contract = make_contract(VOUCHER, activities=courses, valid_until=dt.date(2026, 6, 30))
    invitation = invite_one(contract, make_user())
    rules.set_today(dt.date(2026, 7, 1))
    with pytest.raises(errors.ContractNotActive):
        services.resend(invitation)
    assert len(rules.sent) == 1


# ---------------------------------------------------------------------------------------------
# rule 12: Subscription invitations follow the contract; Voucher invitations are fixed
# ---------------------------------------------------------------------------------------------
def test_subscription_invitations_include_activities_added_later(make_contract, make_user, make_course):
    """"For Subscription type Learning Contracts, invitations will be updated to include any additional
    activities added after invitations have been sent.\""""
    first, later = make_course(), make_course()
    contract = make_contract(SUBSCRIPTION, activities=[first], require_invitation_code=False)
    learner = make_user()
    invitation = invite_one(contract, learner)
    services.add_activities(contract, [later])
    assert ids(services.get_invitation(invitation.id).activities) == [first.id, later.id]
    services.enroll(learner, contract, later)


def test_voucher_invitations_are_fixed_when_activities_are_added(make_contract, make_user, make_course):
    """"For Voucher type Learning Contracts, adding an activity after invitations have been sent will not
    update the invitations.\""""
    first, later = make_course(), make_course()
    contract = make_contract(VOUCHER, activities=[first], require_invitation_code=False)
    learner = make_user()
    invitation = invite_one(contract, learner)
    services.add_activities(contract, [later])
    assert ids(services.get_invitation(invitation.id).activities) == [first.id]
    with pytest.raises(errors.ActivityNotInInvitation):
        services.enroll(learner, contract, later)

    # "View Activities": an admin adds contract activities to one learner's invitation
    added = services.add_invitation_activities(invitation, [later])
    assert ids(added) == [later.id]
    assert ids(services.get_invitation(invitation.id).activities) == [first.id, later.id]
    assert services.add_invitation_activities(invitation, [first, later]) == []
    services.enroll(learner, contract, later)
    assert "invitation_activities_added" in actions(contract)


def test_add_invitation_activities_only_adds_contract_activities(make_contract, make_user, make_course, m, db):
    inside, outside = make_course(), make_course()
    contract = make_contract(VOUCHER, activities=[inside])
    invitation = invite_one(contract, make_user())
    with pytest.raises(errors.ValidationError):
        services.add_invitation_activities(invitation, [outside])
    assert count(db, m.InvitationActivity) == 1


def test_add_invitation_activities_refuses_subscription_and_revoked_invitations(make_contract, make_user,
                                                                                courses):
    subscription = make_contract(SUBSCRIPTION, activities=courses)
    with pytest.raises(errors.ValidationError):
        services.add_invitation_activities(invite_one(subscription, make_user()), courses[:1])
    voucher = make_contract(VOUCHER, activities=courses[:1])
    invitation = invite_one(voucher, make_user())
    services.add_activities(voucher, courses[1:2])
    services.revoke(invitation)
    with pytest.raises(errors.ValidationError):
        services.add_invitation_activities(services.get_invitation(invitation.id), courses[1:2])


def test_a_voucher_invite_covers_the_chosen_activities(make_contract, make_user, courses):
    """Step 2 of inviting picks one, some or all activities."""
    contract = make_contract(VOUCHER, activities=courses)
    one = invite_one(contract, make_user(), activities=[courses[1]])
    some = invite_one(contract, make_user(), activities=[courses[2].id, courses[0].id])
    every = invite_one(contract, make_user(), activities=None)
    assert ids(one.activities) == [courses[1].id]
    assert ids(some.activities) == [courses[0].id, courses[2].id]
    assert ids(every.activities) == ids(courses)


def test_a_voucher_invite_with_an_activity_outside_the_contract_creates_nothing(make_contract, make_user,
                                                                                 make_course, m, db, rules):
    inside, outside = make_course(), make_course()
    contract = make_contract(VOUCHER, activities=[inside])
    with pytest.raises(errors.ValidationError) as refused:
        services.invite(contract, users=[make_user()], activities=[inside, outside])
    assert refused.value.field == "activities"
    assert count(db, m.Invitation) == 0 and rules.sent == []


def test_a_voucher_contract_without_activities_cannot_invite(make_contract, make_user, m, db):
    contract = make_contract(VOUCHER)
    with pytest.raises(errors.ValidationError):
        services.invite(contract, users=[make_user()])
    assert count(db, m.Invitation) == 0


# ---------------------------------------------------------------------------------------------
# rule 13: inviting a selection
# ---------------------------------------------------------------------------------------------
def test_invite_reports_every_input(make_contract, make_user, courses):
    contract = make_contract(VOUCHER, activities=courses)
    ada, bob = make_user("ada@example.com"), make_user("bob@example.com")
    invite_one(contract, bob)
    report = services.invite(contract, users=[ada, bob],
                             emails=["ADA@example.com", "carol@example.com", "not an email", ""])
    assert [r.email for r in report.invited] == ["ada@example.com"]
    assert sorted(r.email for r in report.already_invited) == ["ada@example.com", "bob@example.com"]
    assert [r.email for r in report.not_registered] == ["carol@example.com"]
    assert [r.email for r in report.invalid] == ["not an email", ""]
    assert report.created == 2
    assert all(r.message for r in report.rows)


def test_registered_emails_are_matched_case_insensitively(make_contract, make_user, courses):
    contract = make_contract(SUBSCRIPTION, activities=courses)
    learner = make_user("Mixed.Case@Example.com")
    report = services.invite(contract, emails=["mixed.case@EXAMPLE.COM"])
    assert len(report.invited) == 1
    assert services.get_invitation(report.invited[0].invitation_id).user_id == learner.id


# ---------------------------------------------------------------------------------------------
# rule 13: CSV upload
# ---------------------------------------------------------------------------------------------
def csv_file(text: str, *, bom: bool = False) -> io.BytesIO:
    return io.BytesIO(text.encode("utf-8-sig" if bom else "utf-8"))


def by_outcome(report) -> dict[str, list[tuple[int, str]]]:
    return {outcome: [(r.line, r.email) for r in getattr(report, outcome)]
            for outcome in ("invited", "already_invited", "not_registered", "invalid")}


def test_csv_tolerates_header_blank_lines_spaces_bom_duplicates_and_case(make_contract, make_user, courses):
    contract = make_contract(VOUCHER, activities=courses)
    make_user("ada@example.com")
    make_user("bob@example.com")
    upload = csv_file(
        "Email\n"
        "ada@example.com\n"
        "\n"
        "   BOB@Example.COM   \n"
        "Ada@Example.com\n"
        "carol@example.com\r\n"
        "not-an-email\n"
        "   \n",
        bom=True,
    )
    report = services.invite_csv(contract, upload)
    assert by_outcome(report) == {
        "invited": [(2, "ada@example.com"), (4, "bob@example.com")],
        "already_invited": [(5, "ada@example.com")],
        "not_registered": [(6, "carol@example.com")],
        "invalid": [(7, "not-an-email")],
    }
    assert "2" in report.already_invited[0].message  # points at the earlier line
    assert [r.line for r in report.rows] == [2, 4, 5, 6, 7]


def test_every_reported_invitation_id_is_that_rows_invitation(make_contract, make_user, courses, m, db):
    """Ids in the report belong to the right e-mail and contract, across batches, when some rows are skipped as
    already invited and other contracts' invitations sit between this contract's rows."""
    contract = make_contract(VOUCHER, activities=courses)
    other = make_contract(SUBSCRIPTION, activities=courses)
    users = [make_user(f"user{i}@example.com") for i in range(0, 1200, 7)]
    services.invite(contract, emails=[f"user{i}@example.com" for i in range(0, 1200, 5)])
    services.invite(other, emails=[f"user{i}@example.com" for i in range(0, 1200, 3)])
    lines = [f"USER{i}@example.com" for i in range(1200)]
    report = services.invite_csv(contract, csv_file("\n".join(lines)))

    assert len(report.already_invited) == len(range(0, 1200, 5))
    created = report.invited + report.not_registered
    assert len(created) == 1200 - len(report.already_invited)
    stored = {row.id: row for row in db.session.execute(
        sa.select(m.Invitation.id, m.Invitation.email, m.Invitation.contract_id, m.Invitation.user_id)
        .where(m.Invitation.id.in_([r.invitation_id for r in created]))).all()}
    registered = {u.email_address: u.id for u in users}
    for result in created:
        row = stored[result.invitation_id]
        assert (row.email, row.contract_id) == (result.email, contract.id)
        assert row.user_id == registered.get(result.email)
    assert len(stored) == len(created)


def test_bulk_written_invitations_read_and_filter_like_any_other_row(make_contract, make_user, rules, courses, m, db):
    """The bulk insert converts values itself (once per distinct value): what it stores must be exactly what
    SQLAlchemy would store, or comparisons in SQL (dates, statuses) would silently miss the rows."""
    contract = make_contract(SUBSCRIPTION, activities=courses)
    make_user("known@example.com")
    report = services.invite_csv(contract, csv_file("known@example.com\nnew@example.com\nKNOWN2@example.com"))
    assert len(report.invited) == 1 and len(report.not_registered) == 2
    now = rules.now().replace(tzinfo=None)
    inv = m.Invitation
    for status, expected in ((S.OUTSTANDING, ["known@example.com"]),
                             (S.NOT_REGISTERED, ["known2@example.com", "new@example.com"])):
        found = db.session.execute(sa.select(inv.email).where(
            inv.contract_id == contract.id, inv.status == status, inv.invited_at == now, inv.last_sent_at == now,
            inv.require_code.is_(contract.require_invitation_code), inv.send_count == 1, inv.enrolled_count == 0,
        ).order_by(inv.email)).scalars().all()
        assert found == expected
    stored = db.session.execute(sa.select(inv).where(inv.contract_id == contract.id)).scalars().all()
    assert {(i.invited_at, i.status.__class__) for i in stored} == {(now, S)}


def test_csv_needs_no_header(make_contract, courses):
    contract = make_contract(SUBSCRIPTION, activities=courses)
    report = services.invite_csv(contract, csv_file("first@example.com\nsecond@example.com"))
    assert by_outcome(report)["not_registered"] == [(1, "first@example.com"), (2, "second@example.com")]


def test_csv_takes_the_first_cell_of_each_row(make_contract, courses):
    contract = make_contract(SUBSCRIPTION, activities=courses)
    report = services.invite_csv(contract, csv_file('E-mail,Name\n"dan@example.com",Dan\neve@example.com , Eve\n'))
    assert by_outcome(report)["not_registered"] == [(2, "dan@example.com"), (3, "eve@example.com")]


@pytest.mark.parametrize("stream", [
    lambda: io.StringIO("email\nada@example.com\n"),
    lambda: io.StringIO("\ufeffemail\nada@example.com\n"),
    lambda: io.BytesIO(b"\xef\xbb\xbfemail\r\nada@example.com\r\n"),
    lambda: io.BytesIO("email\nada@example.com\n".encode("utf-16")),
])
def test_csv_accepts_text_and_binary_streams(make_contract, make_user, courses, stream):
    contract = make_contract(VOUCHER, activities=courses)
    make_user("ada@example.com")
    report = services.invite_csv(contract, stream())
    assert by_outcome(report)["invited"] == [(2, "ada@example.com")]
    assert report.invalid == []


def test_csv_reports_already_invited_users(make_contract, make_user, courses):
    contract = make_contract(VOUCHER, activities=courses)
    learner = make_user("known@example.com")
    invite_one(contract, learner)
    services.invite(contract, emails=["pending@example.com"])
    report = services.invite_csv(contract, csv_file("known@example.com\nPENDING@example.com\nnew@example.com\n"))
    assert by_outcome(report)["already_invited"] == [(1, "known@example.com"), (2, "pending@example.com")]
    assert by_outcome(report)["not_registered"] == [(3, "new@example.com")]


def test_csv_reports_invalid_lines_with_their_number_and_invites_the_good_ones(make_contract, courses, m, db):
    contract = make_contract(VOUCHER, activities=courses)
    report = services.invite_csv(contract, csv_file(
        "good1@example.com\n"
        "no-at-sign.example.com\n"
        "two@@example.com\n"
        "good2@example.com\n"
        "spaces in@example.com\n"
        + "x" * 400 + "@example.com\n"
    ))
    assert [r.line for r in report.invalid] == [2, 3, 5, 6]
    assert all(r.message for r in report.invalid)
    assert [r.line for r in report.not_registered] == [1, 4]
    assert count(db, m.Invitation) == 2


def test_csv_formula_injection_cells_are_reported_invalid(make_contract, courses, m, db):
    contract = make_contract(VOUCHER, activities=courses)
    report = services.invite_csv(contract, csv_file(
        "=cmd|' /C calc'!A0\n"
        "+cmd@example.com\n"
        "-2+3@example.com\n"
        "@SUM(1+1)*cmd|' /C calc'!A0\n"
        "=HYPERLINK(\"http://evil.example\")@example.com\n"
        "fine@example.com\n"
    ))
    assert [r.line for r in report.invalid] == [1, 2, 3, 4, 5]
    assert [r.line for r in report.not_registered] == [6]
    assert count(db, m.Invitation) == 1


def test_csv_unicode_emails_work(make_contract, make_user, courses):
    contract = make_contract(SUBSCRIPTION, activities=courses)
    zoe = make_user("zoë@exämple.com")
    report = services.invite_csv(contract, csv_file("ZOË@EXÄMPLE.COM\njürgen@münchen.de\n"))
    assert by_outcome(report)["invited"] == [(1, "zoë@exämple.com")]
    assert by_outcome(report)["not_registered"] == [(2, "jürgen@münchen.de")]
    assert services.get_invitation(report.invited[0].invitation_id).user_id == zoe.id


@pytest.mark.parametrize("content", [
    b"ada@example.com\ncaf\xe9@example.com\n",  # Latin-1, not UTF-8
    b"PK\x03\x04\x14\x00\x00\x00\x08\x00ada@example.com\n",  # a binary (zip) file
    b"\xff\xfe" + "ada@example.com\x00\x00\n".encode("utf-16-le"),  # binary behind a UTF-16 BOM
    b"",  # empty
    b"\n\n   \n",  # only blank lines
    b"email\n",  # only a header
])
def test_unreadable_csv_files_are_refused_and_nothing_is_written(make_contract, courses, m, db, rules, content):
    contract = make_contract(VOUCHER, activities=courses)
    with pytest.raises(errors.ValidationError) as refused:
        services.invite_csv(contract, io.BytesIO(content))
    assert refused.value.field == "file"
    assert str(refused.value)
    assert count(db, m.Invitation) == 0 and rules.sent == []


def test_oversize_csv_is_refused(make_contract, courses, app, m, db):
    app.config["LEARNING_CONTRACTS_CSV_MAX_BYTES"] = 64
    contract = make_contract(VOUCHER, activities=courses)
    text = "".join(f"learner{i}@example.com\n" for i in range(10))
    for stream in (io.BytesIO(text.encode()), io.StringIO(text)):
        with pytest.raises(errors.ValidationError) as refused:
            services.invite_csv(contract, stream)
        assert refused.value.field == "file"
    assert count(db, m.Invitation) == 0
    assert services.invite_csv(contract, csv_file("a@example.com\n")).created == 1


def test_csv_with_too_many_rows_is_refused(make_contract, courses, app, m, db):
    app.config["LEARNING_CONTRACTS_CSV_MAX_ROWS"] = 3
    contract = make_contract(VOUCHER, activities=courses)
    with pytest.raises(errors.ValidationError):
        services.invite_csv(contract, csv_file("".join(f"l{i}@example.com\n" for i in range(6))))
    assert count(db, m.Invitation) == 0
    report = services.invite_csv(contract, csv_file("email\n" + "".join(f"l{i}@example.com\n" for i in range(3))))
    assert report.created == 3


def test_csv_is_never_half_written(make_contract, courses, rules, monkeypatch, m, db):
    """A failure part-way through a large upload (here: the host look-up of the second batch) keeps none
    of the first batch's invitations."""
    contract = make_contract(VOUCHER, activities=courses)
    original = rules.find_users_by_email
    calls = []

    def flaky(emails):
        calls.append(len(list(emails)))
        if len(calls) == 2:
            raise RuntimeError("directory unavailable")
        return original(emails)

    monkeypatch.setattr(rules, "find_users_by_email", flaky)
    with pytest.raises(RuntimeError):
        services.invite_csv(contract, csv_file("".join(f"l{i}@example.com\n" for i in range(700))))
    assert len(calls) == 2
    assert count(db, m.Invitation) == 0 and count(db, m.InvitationActivity) == 0
    assert rules.sent == []
    assert "invited" not in actions(contract)


def test_csv_to_an_expired_contract_writes_nothing(make_contract, courses, rules, m, db):
    import datetime as dt
    contract = make_contract(VOUCHER, activities=courses, valid_until=dt.date(2026, 6, 30))
    rules.set_today(dt.date(2026, 7, 1))
    with pytest.raises(errors.ContractNotActive):
        services.invite_csv(contract, csv_file("a@example.com\n"))
    assert count(db, m.Invitation) == 0


# ---------------------------------------------------------------------------------------------
# batch host look-ups
# ---------------------------------------------------------------------------------------------
@contextlib.contextmanager
def recorded_queries(engine):
    statements: list[str] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)


@pytest.mark.parametrize("how", ["emails", "csv"])
def test_inviting_300_emails_looks_users_up_in_one_batch(make_contract, make_user, courses, rules, monkeypatch,
                                                         db, m, how):
    contract = make_contract(VOUCHER, activities=courses)
    known = [make_user(f"known{i}@example.com") for i in range(20)]
    emails = [u.email_address for u in known] + [f"new{i}@example.com" for i in range(280)]
    batch_calls, single_calls = [], []
    original = rules.find_users_by_email
    monkeypatch.setattr(rules, "find_users_by_email", lambda e: batch_calls.append(list(e)) or original(e))
    monkeypatch.setattr(rules, "find_user_by_email", lambda e: single_calls.append(e))

    with recorded_queries(db.engine) as queries:
        if how == "emails":
            report = services.invite(contract, emails=emails)
        else:
            report = services.invite_csv(contract, csv_file("\n".join(emails)))

    assert (len(report.invited), len(report.not_registered)) == (20, 280)
    assert len(batch_calls) == 1 and len(batch_calls[0]) == 300
    assert single_calls == []
    assert len(queries) < 30, len(queries)  # a fixed number, not one (or more) per e-mail
    assert count(db, m.Invitation) == 300


def test_large_invites_batch_the_lookups(make_contract, courses, rules, monkeypatch, db):
    contract = make_contract(SUBSCRIPTION, activities=courses)
    calls = []
    original = rules.find_users_by_email
    monkeypatch.setattr(rules, "find_users_by_email", lambda e: calls.append(len(list(e))) or original(e))
    with recorded_queries(db.engine) as queries:
        report = services.invite(contract, emails=[f"bulk{i}@example.com" for i in range(1200)])
    assert report.created == 1200
    assert 1 < len(calls) <= 3 and sum(calls) == 1200
    assert len(queries) < 60, len(queries)


# ---------------------------------------------------------------------------------------------
# CSV files whose later batches repeat earlier addresses (issue 14, item 2)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("lines, unique", [
    ([f"twice{i}@example.com" for i in range(500)] * 2, 500),  # the same 500 addresses pasted twice
    (["one@example.com"] * 1001, 1),  # one address on 1,001 lines
], ids=["500-twice", "one-address-1001-lines"])
def test_csv_whose_later_batch_holds_only_repeated_addresses_is_reported(make_contract, courses, m, db, lines,
                                                                         unique):
    """A 500-line batch that holds only addresses already seen is all duplicates: nothing to insert, every
    line reported, the rest of the file still read."""
    contract = make_contract(VOUCHER, activities=courses)
    report = services.invite_csv(contract, csv_file("\n".join(lines) + "\n"))
    assert len(report.not_registered) == unique and report.invited == report.invalid == []
    assert [r.line for r in report.already_invited] == list(range(unique + 1, len(lines) + 1))
    first_line = {email: number for number, email in reversed(list(enumerate(lines, start=1)))}
    for row in report.already_invited:
        assert row.message == f"Listed earlier on line {first_line[row.email]}."
    assert count(db, m.Invitation) == unique
    assert count(db, m.InvitationActivity) == unique * len(courses)


def test_oversize_csv_of_one_repeated_address_is_refused_as_too_large(make_contract, courses, m, db):
    """An 11 MiB file of one address (the default limit is 10 MiB): "too large", whatever its later batches
    hold."""
    contract = make_contract(VOUCHER, activities=courses)
    line = b"same.person@example.com\n"
    upload = io.BytesIO(line * (11 * 1024 * 1024 // len(line) + 1))
    with pytest.raises(errors.ValidationError) as refused:
        services.invite_csv(contract, upload)
    assert refused.value.field == "file"
    assert "larger than 10.0 MB" in str(refused.value)
    assert count(db, m.Invitation) == 0
