"""An e-mail address that changes hands: host user A holds X and is invited; the host changes A's address to Y;
a new user B signs up with X.

An invitation linked to an account belongs to that person, whatever address it was sent to: the address only
identifies an invitation while no account is linked to it (Not Registered). So B is a stranger to A's
invitations: B can be invited, can redeem the code, and A's revoked invitation does not shut B out — while A,
under the new address, keeps their invitation and stays revoked where they were revoked.
"""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from flask_learning_contracts import ContractType, InvitationStatus, errors, services
from flask_learning_contracts.enums import DeliveryStatus, NotificationKind

from . import host
from .conftest import count, invite_one
from .notify_support import use_rules, use_shipped_mail
from .views_support import PREFIX, client_for, token

S = InvitationStatus
X, Y = "x@example.com", "y@example.com"


@pytest.fixture
def courses(make_course):
    return [make_course(f"Course {i}") for i in range(1, 3)]


@pytest.fixture
def moved(db, make_user):
    """``make(contract)`` → (A, A's invitation): A was invited while holding X, and now holds Y."""

    def make(contract, *, revoke: bool = False, redeem: bool = False):
        a = make_user(X, name="A")
        invitation = invite_one(contract, a)
        if redeem:
            services.redeem_code(a, contract.invitation_code)
        if revoke:
            services.revoke(invitation)
        a.email_address = Y
        db.session.commit()
        return a, invitation

    return make


@pytest.mark.parametrize("contract_type", [ContractType.VOUCHER, ContractType.SUBSCRIPTION])
def test_the_new_holder_of_an_address_can_be_invited(make_contract, make_user, courses, moved, contract_type, m, db):
    contract = make_contract(contract_type, activities=courses)
    a, old = moved(contract)
    b = make_user(X, name="B")

    report = services.invite(contract, users=[b])

    assert [r.email for r in report.invited] == [X] and report.already_invited == []
    new = services.get_invitation(report.invited[0].invitation_id)
    assert new.user_id == b.id and new.status is S.OUTSTANDING
    assert services.get_invitation(old.id).user_id == a.id  # A keeps theirs
    assert [i.id for i in services.invitations_for(a)] == [old.id]
    assert [i.id for i in services.invitations_for(b)] == [new.id]


def test_inviting_the_address_reaches_its_new_holder(make_contract, make_user, courses, moved):
    contract = make_contract(ContractType.VOUCHER, activities=courses)
    moved(contract)
    b = make_user(X, name="B")

    report = services.invite(contract, emails=[X.upper()])

    assert [r.email for r in report.invited] == [X]
    assert services.get_invitation(report.invited[0].invitation_id).user_id == b.id


def test_inviting_the_address_before_anyone_holds_it_again_waits_for_its_next_holder(make_contract, make_user,
                                                                                    courses, moved):
    contract = make_contract(ContractType.VOUCHER, activities=courses)
    moved(contract)

    report = services.invite(contract, emails=[X])

    assert [r.email for r in report.not_registered] == [X]
    b = make_user(X, name="B")
    assert [i.id for i in services.link_registered_user(b)] == [report.not_registered[0].invitation_id]
    assert services.get_invitation(report.not_registered[0].invitation_id).status is S.OUTSTANDING


@pytest.mark.parametrize("contract_type", [ContractType.VOUCHER, ContractType.SUBSCRIPTION])
def test_the_new_holder_of_an_address_can_redeem_the_code(make_contract, make_user, courses, moved, contract_type,
                                                         m, db):
    contract = make_contract(contract_type, activities=courses)
    _a, old = moved(contract)
    b = make_user(X, name="B")

    invitation = services.redeem_code(b, contract.invitation_code)

    assert invitation.user_id == b.id and invitation.status is S.ACCEPTED and invitation.id != old.id
    services.enroll(b, contract, courses[0])
    assert services.get_invitation(invitation.id).status is S.ENROLLED
    assert services.get_invitation(old.id).status is S.OUTSTANDING
    assert count(db, m.Invitation, m.Invitation.contract_id == contract.id, m.Invitation.status != S.REVOKED) == 2
    assert services.reconcile().ok


def test_a_revoked_invitation_stays_with_the_person_not_the_address(make_contract, make_user, courses, moved):
    contract = make_contract(ContractType.VOUCHER, activities=courses)
    a, _old = moved(contract, revoke=True)
    b = make_user(X, name="B")

    # B never was revoked: not invited yet (the code admits them)
    with pytest.raises(errors.NotInvited):
        services.enroll(b, contract, courses[0])
    assert services.redeem_code(b, contract.invitation_code).user_id == b.id
    # A, under the new address, still is
    with pytest.raises(errors.InvitationRevoked):
        services.redeem_code(a, contract.invitation_code)
    with pytest.raises(errors.InvitationRevoked):
        services.enroll(a, contract, courses[0])


def test_a_revoked_address_nobody_held_still_refuses_whoever_signs_up_with_it(make_contract, make_user, courses):
    """Revoking a Not Registered invitation revokes the address (nobody else was ever behind it)."""
    contract = make_contract(ContractType.VOUCHER, activities=courses)
    report = services.invite(contract, emails=[X])
    services.revoke(services.get_invitation(report.not_registered[0].invitation_id))
    b = make_user(X)
    with pytest.raises(errors.InvitationRevoked):
        services.redeem_code(b, contract.invitation_code)


def test_the_old_holder_keeps_using_their_invitation_under_the_new_address(make_contract, moved, courses):
    contract = make_contract(ContractType.SUBSCRIPTION, activities=courses, require_invitation_code=False)
    a, old = moved(contract)
    services.enroll(a, contract, courses[0])
    assert services.get_invitation(old.id).status is S.ENROLLED


def test_forgetting_the_old_holder_scrubs_their_invitations_but_not_the_new_holders(make_contract, make_user,
                                                                                   courses, moved, m, db):
    contract = make_contract(ContractType.VOUCHER, activities=courses)
    a, old = moved(contract, redeem=True)
    b = make_user(X, name="B")
    new = invite_one(contract, b)
    services.redeem_code(b, contract.invitation_code)

    services.forget_user(a)

    entries = db.session.execute(sa.select(m.HistoryEntry).where(m.HistoryEntry.contract_id == contract.id)).scalars()
    about = {}
    for entry in entries:
        about.setdefault(entry.invitation_id, []).append(entry.message)
    assert services.get_invitation(old.id).email.endswith("@forgotten.invalid")
    assert about[old.id] and not any(X in message for message in about[old.id])
    assert any(X in message for message in about[new.id])  # B's own entries keep B's address
    assert services.get_invitation(new.id).email == X and services.get_invitation(new.id).user_id == b.id
    assert services.get_invitation(new.id).status is S.ACCEPTED
    assert services.reconcile().ok


def test_picking_a_person_while_an_invitation_to_their_address_waits_merges_it_on_linking(make_contract, make_user,
                                                                                        courses, m, db):
    """B gets an invitation of their own; the one waiting for X folds into it when B's address is linked."""
    contract = make_contract(ContractType.VOUCHER, activities=courses)
    waiting = services.invite(contract, emails=[X], activities=[courses[1]]).not_registered[0].invitation_id
    b = make_user(X, name="B")

    own = invite_one(contract, b, activities=[courses[0]])

    assert services.link_registered_user(b) == []
    live = db.session.execute(sa.select(m.Invitation.id).where(
        m.Invitation.contract_id == contract.id, m.Invitation.status != S.REVOKED)).scalars().all()
    assert live == [own.id] and waiting != own.id
    assert [a.id for a in services.get_invitation(own.id).activities] == [courses[0].id, courses[1].id]
    assert services.reconcile().ok


# ---------------------------------------------------------------------------------------------
# what is sent about A's invitation goes to A's address now, never to X (B's now)
# ---------------------------------------------------------------------------------------------
def _current_rules(app):
    return app.extensions["learning_contracts"].rules


def _no_address_for(app, monkeypatch, user) -> None:
    """The host no longer has an address for ``user`` (``ContractRules.user_email`` answers ``None``)."""
    rules = _current_rules(app)
    original = rules.user_email
    monkeypatch.setattr(rules, "user_email", lambda u: None if u.id == user.id else original(u))


def _notes(db, m, kind):
    db.session.rollback()
    return list(db.session.execute(sa.select(m.Notification).where(m.Notification.kind == kind)
                                   .order_by(m.Notification.id)).scalars())


def test_resend_goes_to_the_learners_current_address(app, rules, make_contract, make_user, courses, moved, m, db):
    """A host that overrides ``send_invitation`` reads ``invitation.email``: it is A's address now."""
    contract = make_contract(ContractType.VOUCHER, activities=courses)
    _a, old = moved(contract)
    make_user(X, name="B")
    rules.sent.clear()

    result = services.resend(services.get_invitation(old.id))

    assert rules.sent == [(Y, True)]
    assert Y in result.message and X not in result.message
    assert [n.recipient for n in _notes(db, m, NotificationKind.RESEND)] == [Y]
    resent = [h.message for h in services.history(services.get_contract(contract.id)) if h.action == "resent"]
    assert resent == [f"Resent the invitation to {Y}."]
    # the invitation keeps the address it was made for (see README: an address that changes hands)
    assert services.get_invitation(old.id).email == X


def test_shipped_resend_email_goes_to_the_learners_current_address(app, make_contract, make_user, courses, moved):
    outbox = use_shipped_mail(app).outbox
    contract = make_contract(ContractType.VOUCHER, activities=courses)
    _a, old = moved(contract)
    make_user(X, name="B")
    outbox.clear()

    services.resend(services.get_invitation(old.id))

    assert [message.to for message in outbox] == [[Y]]


def test_reminders_go_to_the_learners_current_address(app, make_contract, make_user, courses, moved, m, db):
    outbox = use_shipped_mail(app).outbox
    contract = make_contract(ContractType.VOUCHER, activities=courses, valid_until=dt.date(2026, 12, 31))
    moved(contract)
    make_user(X, name="B")
    outbox.clear()

    assert services.remind_outstanding(contract) == 1
    _current_rules(app).set_today(dt.date(2026, 6, 18))
    assert services.run_schedule().reminders == 1

    assert [message.to for message in outbox] == [[Y], [Y]]
    assert {n.recipient for n in _notes(db, m, NotificationKind.REMINDER)} == {Y}


def test_a_queued_notice_goes_to_the_address_the_learner_has_when_it_is_sent(app, make_contract, make_user,
                                                                           courses, m, db):
    app.config["LEARNING_CONTRACTS_DELIVERY"] = "queued"
    outbox = use_shipped_mail(app).outbox
    contract = make_contract(ContractType.VOUCHER, activities=courses)
    a = make_user(X, name="A")
    invitation = invite_one(contract, a)
    services.resend(services.get_invitation(invitation.id))
    a.email_address = Y
    db.session.commit()
    make_user(X, name="B")

    assert services.deliver_notifications().sent == 2

    assert [message.to for message in outbox] == [[Y], [Y]]
    assert [n.recipient for n in _notes(db, m, NotificationKind.INVITATION)] == [Y]
    assert [n.recipient for n in _notes(db, m, NotificationKind.RESEND)] == [Y]


def test_nothing_is_sent_about_a_learner_who_has_no_address_now(app, monkeypatch, make_contract, make_user,
                                                               courses, moved, m, db):
    outbox = use_shipped_mail(app).outbox
    contract = make_contract(ContractType.VOUCHER, activities=courses, valid_until=dt.date(2026, 12, 31))
    a, old = moved(contract)
    make_user(X, name="B")
    outbox.clear()
    _no_address_for(app, monkeypatch, a)

    with pytest.raises(errors.LearningContractError, match="no e-mail address"):
        services.resend(services.get_invitation(old.id))
    assert services.remind_outstanding(contract) == 1

    assert outbox == []
    [reminder] = _notes(db, m, NotificationKind.REMINDER)
    assert reminder.status is DeliveryStatus.SKIPPED and "no e-mail address" in reminder.last_error
    assert X not in {n.recipient for n in _notes(db, m, NotificationKind.RESEND)}


# ---------------------------------------------------------------------------------------------
# rule 8, re-inviting, the address going back, and a race
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("contract_type", [ContractType.VOUCHER, ContractType.SUBSCRIPTION])
def test_rule_8_a_revoked_invitation_of_the_old_holder_never_refuses_the_new_holder_on_the_learner_page(
        app, make_contract, make_user, courses, moved, contract_type, m, db):
    """Rule 8: "a learner whose invitation was revoked cannot re-enter by code" is about that learner, not the
    address: B enters the code on the learner page with the address A was revoked under, and gets in."""
    contract = make_contract(contract_type, activities=courses)
    a, revoked = moved(contract, revoke=True)
    b = make_user(X, name="B")
    client = client_for(app, b)

    response = client.post(PREFIX + "/code", data={"code": contract.invitation_code,
                                                     "csrf_token": token(client)})

    assert response.status_code == 302
    [mine] = services.invitations_for(b)
    assert mine.id != revoked.id and mine.user_id == b.id and mine.status is S.ACCEPTED
    services.enroll(b, contract, courses[0])
    assert services.get_invitation(revoked.id).status is S.REVOKED  # A's stays revoked, still A's
    assert services.get_invitation(revoked.id).user_id == a.id
    with pytest.raises(errors.InvitationRevoked):
        services.redeem_code(a, contract.invitation_code)
    assert services.reconcile().ok


@pytest.mark.parametrize("how", ["pick", "type"])
def test_re_inviting_the_old_holder_after_the_address_change(make_contract, make_user, courses, moved, how, rules):
    """Only a re-invite restores a revoked learner (rule 8): A, revoked under X, is re-invited under Y (picked, or
    Y typed); the new invitation is A's, sent to Y; B, holding X now, is untouched."""
    contract = make_contract(ContractType.VOUCHER, activities=courses)
    a, revoked = moved(contract, revoke=True)
    b = make_user(X, name="B")
    rules.sent.clear()

    report = services.invite(contract, users=[a]) if how == "pick" else services.invite(contract, emails=[Y])

    assert [r.email for r in report.invited] == [Y]
    again = services.get_invitation(report.invited[0].invitation_id)
    assert again.id != revoked.id and again.user_id == a.id and again.status is S.OUTSTANDING
    assert rules.sent == [(Y, False)]
    assert services.redeem_code(a, contract.invitation_code).id == again.id
    assert services.invitations_for(b) == []
    assert services.reconcile().ok


def test_the_old_holder_taking_the_address_back(make_contract, make_user, courses, moved, rules, m, db):
    """A held X, moved to Y; B took X and was invited; B moves to Z and A takes X back. Each keeps their own
    invitation; X, typed or picked, is A's again (already invited); each resend reaches its learner's address now."""
    contract = make_contract(ContractType.VOUCHER, activities=courses)
    a, mine = moved(contract)
    b = make_user(X, name="B")
    theirs = invite_one(contract, b)
    b.email_address = "z@example.com"
    db.session.commit()
    a.email_address = X
    db.session.commit()

    assert services.link_registered_user(a) == [] and services.link_registered_user(b) == []
    assert [r.email for r in services.invite(contract, emails=[X]).already_invited] == [X]
    assert [r.email for r in services.invite(contract, users=[a, b]).already_invited] == [X, "z@example.com"]
    assert [i.id for i in services.invitations_for(a)] == [mine.id]
    assert [i.id for i in services.invitations_for(b)] == [theirs.id]
    rules.sent.clear()
    services.resend(services.get_invitation(theirs.id))
    services.resend(services.get_invitation(mine.id))
    assert rules.sent == [("z@example.com", True), (X, True)]
    assert count(db, m.Invitation, m.Invitation.contract_id == contract.id, m.Invitation.status != S.REVOKED) == 2
    assert services.reconcile().ok


RACE_ROUNDS = 6


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["link", "merge"])
def test_the_new_holder_linked_from_four_processes_at_once_gets_one_invitation(app, db, m, make_contract,
                                                                              courses, scenario):
    """Round ``r``: A_r was invited under X_r and moved to Y_r; X_r was then invited while nobody held it (Not
    Registered); B_r signs up with X_r. Four processes link B_r at once (two through ``link_registered_user``,
    two loading the learner page). ``merge``: B_r had been picked already (an invitation of their own), so the
    waiting invitation folds into B_r's. Whoever wins: B_r has exactly one live invitation, A_r keeps theirs, and nobody sees an error."""
    from . import race
    from .test_concurrency import _not_one_link_entry, _release

    contract = make_contract(ContractType.VOUCHER, activities=courses, require_invitation_code=False)
    olds = [host.Account(email_address=f"x{r}@race.example.com", name=f"A{r}") for r in range(RACE_ROUNDS)]
    db.session.add_all(olds)
    db.session.commit()
    services.invite(contract, users=olds, activities=[courses[0]])
    for r, a in enumerate(olds):
        a.email_address = f"y{r}@race.example.com"
    db.session.commit()
    addresses = [f"x{r}@race.example.com" for r in range(RACE_ROUNDS)]
    assert len(services.invite(contract, emails=addresses, activities=[courses[1]]).not_registered) == RACE_ROUNDS
    news = [host.Account(email_address=x, name=f"B{r}") for r, x in enumerate(addresses)]
    db.session.add_all(news)
    db.session.commit()
    if scenario == "merge":  # B_r was picked (an invitation of their own) before their address was linked
        services.invite(contract, users=news, activities=[courses[0]])
    cid, a_ids, b_ids = contract.id, [a.id for a in olds], [b.id for b in news]
    expected = [c.id for c in courses] if scenario == "merge" else [courses[1].id]
    url = _release(db)

    reports = race.run("link_or_page", url, 4, lambda w: {"path": PREFIX + "/", "user_ids": b_ids})

    db.session.remove()
    problems = []
    for a_id, b_id, x in zip(a_ids, b_ids, addresses):
        live = db.session.execute(sa.select(m.Invitation).where(
            m.Invitation.contract_id == cid, m.Invitation.status != S.REVOKED,
            sa.or_(m.Invitation.user_id == b_id, sa.and_(m.Invitation.email == x, m.Invitation.user_id.is_(None))))
        ).scalars().all()
        if len(live) != 1 or live[0].user_id != b_id:
            problems.append(f"{x}: {[(i.user_id, i.status.value) for i in live]}")
        elif sorted(a.id for a in live[0].fixed_activities) != expected:
            problems.append(f"{x}: covers {[a.id for a in live[0].fixed_activities]}")
        problems += _not_one_link_entry(db, m, cid, scenario, x)
        old = db.session.execute(sa.select(m.Invitation).where(
            m.Invitation.contract_id == cid, m.Invitation.user_id == a_id)).scalars().all()
        if [(i.email, i.status) for i in old] != [(x, S.OUTSTANDING)]:
            problems.append(f"A of {x}: {[(i.email, i.status.value) for i in old]}")
    outcomes = race.tally(reports)
    assert outcomes == {"ok": 4 * RACE_ROUNDS} and not problems, (dict(outcomes), problems)
    assert services.reconcile().ok


def test_retrying_a_failed_invitation_email_reaches_the_learners_current_address(app, make_contract, make_user,
                                                                                courses, db):
    from .test_services_notifications import FlakyRules

    app.config["LEARNING_CONTRACTS_DELIVERY_ATTEMPTS"] = 1
    flaky = use_rules(app, FlakyRules())
    contract = make_contract(ContractType.VOUCHER, activities=courses)
    a = make_user(X, name="A")
    invite_one(contract, a)  # the mail server is down: Failed
    a.email_address = Y
    db.session.commit()
    make_user(X, name="B")
    flaky.failing = None

    assert services.retry_notifications(contract) == 1

    assert [message.to for message in flaky.messages] == [Y]
