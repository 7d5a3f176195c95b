"""Invitation codes (rule 8): generated at creation, high entropy, unambiguous, typed any way, regenerable,
redeemable by an uninvited learner, closed to a revoked one.
"""
from __future__ import annotations

import datetime as dt
import math
from collections import Counter

import pytest

from flask_learning_contracts import ContractType, InvitationStatus, codes, errors, services

from .conftest import count, in_another_request, invite_one

VOUCHER, SUBSCRIPTION = ContractType.VOUCHER, ContractType.SUBSCRIPTION
S = InvitationStatus


@pytest.fixture
def courses(make_course):
    return [make_course(f"Course {i}") for i in range(1, 4)]


def ids(items) -> list:
    return [i.id for i in items]


# ---------------------------------------------------------------------------------------------
# the code itself
# ---------------------------------------------------------------------------------------------
def test_a_code_is_generated_when_the_contract_is_created(make_contract):
    """"After the Learning Contract is created ... The Invitation Code is generated.\""""
    code = make_contract(VOUCHER).invitation_code
    assert len(code) == 12
    assert set(code) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    assert not set(code) & set("ILOU")


def test_codes_are_unique_across_contracts(make_contract):
    contract_codes = [make_contract(VOUCHER).invitation_code for _ in range(25)]
    assert len(set(contract_codes)) == 25


def test_a_colliding_code_from_the_host_is_replaced(make_contract, rules, monkeypatch):
    first = make_contract(VOUCHER)
    answers = iter([first.invitation_code.lower(), "7Q4M-9ZX2-KP3R"])
    monkeypatch.setattr(rules, "generate_code", lambda: next(answers))
    second = make_contract(VOUCHER)
    assert second.invitation_code == "7Q4M9ZX2KP3R"
    assert second.invitation_code != first.invitation_code


def test_generate_code_has_enough_entropy():
    assert codes.CODE_LENGTH * math.log2(len(codes.ALPHABET)) >= 50
    assert not set(codes.ALPHABET) & set("ILOU")
    sample = [codes.generate_code() for _ in range(20_000)]
    assert len(set(sample)) == len(sample)
    assert all(len(c) == 12 for c in sample)
    # every character appears in every position, roughly uniformly (expected 625 per cell)
    for position in range(12):
        seen = Counter(code[position] for code in sample)
        assert set(seen) == set(codes.ALPHABET)
        assert 450 < min(seen.values()) and max(seen.values()) < 800, (position, seen)


@pytest.mark.parametrize("typed, normalized", [
    ("abcd-efgh-jkmn", "ABCDEFGHJKMN"),
    ("  ABCD EFGH\tJKMN ", "ABCDEFGHJKMN"),
    ("abcd_efgh_jkmn", "ABCDEFGHJKMN"),
    ("0O1IL", "00111"),
    ("", ""),
])
def test_normalize_code(typed, normalized):
    assert codes.normalize_code(typed) == normalized


def test_format_code_groups_for_reading():
    assert codes.format_code("ABCDEFGHJKMN") == "ABCD-EFGH-JKMN"
    assert codes.normalize_code(codes.format_code("ABCDEFGHJKMN")) == "ABCDEFGHJKMN"


# ---------------------------------------------------------------------------------------------
# redeeming
# ---------------------------------------------------------------------------------------------
def typed_forms(code: str) -> list[str]:
    return [code.lower(), codes.format_code(code), " ".join(codes.format_code(code).split("-")).lower(),
            f"  {code}  "]


def test_a_code_is_entered_case_insensitively_with_spaces_and_dashes(make_contract, make_user, courses):
    contract = make_contract(VOUCHER, activities=courses)
    for typed in typed_forms(contract.invitation_code):
        learner = make_user()
        invitation = services.redeem_code(learner, typed)
        assert invitation.contract_id == contract.id and invitation.status is S.ACCEPTED


@pytest.mark.parametrize("wrong", ["", "   ", "NOPE", "!!!!-????", "ABCDEFGHJKMN" * 4])
def test_a_wrong_code_is_refused(make_contract, make_user, wrong, m, db):
    make_contract(VOUCHER)
    with pytest.raises(errors.InvalidCode):
        services.redeem_code(make_user(), wrong)
    assert count(db, m.Invitation) == 0


def test_a_near_miss_code_is_refused(make_contract, make_user):
    code = make_contract(VOUCHER).invitation_code
    near = code[:-1] + ("0" if code[-1] != "0" else "1")
    with pytest.raises(errors.InvalidCode):
        services.redeem_code(make_user(), near)


@pytest.mark.parametrize("contract_type", [VOUCHER, SUBSCRIPTION])
def test_an_uninvited_learner_who_redeems_gets_an_accepted_invitation(make_contract, make_user, make_course,
                                                                      courses, m, db, contract_type):
    """A learner never invited may redeem the code and gets an invitation covering the contract's activities."""
    contract = make_contract(contract_type, activities=courses[:2])
    learner = make_user()
    invitation = services.redeem_code(learner, contract.invitation_code)
    assert invitation.status is S.ACCEPTED
    assert (invitation.contract_id, invitation.user_id, invitation.email) == (contract.id, learner.id,
                                                                             learner.email_address)
    assert ids(invitation.activities) == ids(courses[:2])
    # redeeming again changes nothing
    assert services.redeem_code(learner, contract.invitation_code).id == invitation.id
    assert count(db, m.Invitation) == 1
    services.enroll(learner, contract, courses[0])
    assert services.get_invitation(invitation.id).status is S.ENROLLED
    # the usual type rules apply to activities added later
    services.add_activities(contract, [courses[2]])
    expected = ids(courses) if contract_type is SUBSCRIPTION else ids(courses[:2])
    assert ids(services.get_invitation(invitation.id).activities) == expected


def test_redeeming_does_not_move_an_enrolled_invitation_back(make_contract, make_user, courses):
    contract = make_contract(VOUCHER, activities=courses, require_invitation_code=False)
    learner = make_user()
    invitation = invite_one(contract, learner)
    services.enroll(learner, contract, courses[0])
    services.redeem_code(learner, contract.invitation_code)
    assert services.get_invitation(invitation.id).status is S.ENROLLED


def test_a_revoked_learner_cannot_re_enter_by_code(make_contract, make_user, courses, m, db):
    """"A learner whose invitation was revoked cannot re-enter by code; only a re-invite restores access.\""""
    contract = make_contract(VOUCHER, activities=courses)
    learner = make_user()
    services.revoke(invite_one(contract, learner))

    with pytest.raises(errors.InvitationRevoked):
        services.redeem_code(learner, contract.invitation_code)
    assert count(db, m.Invitation) == 1
    with pytest.raises(errors.InvitationRevoked):
        services.enroll(learner, contract, courses[0])

    invite_one(contract, learner)
    invitation = services.redeem_code(learner, contract.invitation_code)
    assert invitation.status is S.ACCEPTED
    services.enroll(learner, contract, courses[0])


def test_a_learner_revoked_before_registering_cannot_redeem_after_signing_up(make_contract, make_user, courses):
    contract = make_contract(VOUCHER, activities=courses)
    ghost = services.invite(contract, emails=["later@example.com"]).not_registered[0]
    services.revoke(services.get_invitation(ghost.invitation_id))
    learner = make_user("Later@Example.com")
    with pytest.raises(errors.InvitationRevoked):
        services.redeem_code(learner, contract.invitation_code)


def test_a_repeated_redeem_keeps_the_first_redeem_time_and_one_history_entry(make_contract, make_user, courses,
                                                                            rules, m, db):
    contract = make_contract(VOUCHER, activities=courses)
    learner = make_user()
    invitation = invite_one(contract, learner)
    first = services.redeem_code(learner, contract.invitation_code).code_redeemed_at
    rules.clock += dt.timedelta(hours=1)
    again = services.redeem_code(learner, contract.invitation_code)
    assert again.id == invitation.id and again.status is S.ACCEPTED and again.code_redeemed_at == first
    assert count(db, m.HistoryEntry, m.HistoryEntry.action == "code_redeemed") == 1


def test_an_invitation_revoked_while_its_code_is_redeemed_is_refused(app, make_contract, make_user, courses,
                                                                    monkeypatch, m, db):
    """The admin's revoke commits between the redeem reading the learner's invitation and writing it."""
    from flask_learning_contracts.services import redemption

    contract = make_contract(VOUCHER, activities=courses)
    learner = make_user()
    invitation_id = invite_one(contract, learner).id
    read = redemption._live_invitation

    def read_then_revoke(contract_id, user):
        found = read(contract_id, user)
        in_another_request(app, lambda: services.revoke(services.get_invitation(invitation_id)))
        return found

    monkeypatch.setattr(redemption, "_live_invitation", read_then_revoke)
    with pytest.raises(errors.InvitationRevoked):
        services.redeem_code(learner, contract.invitation_code)
    db.session.remove()
    stored = services.get_invitation(invitation_id)
    assert stored.status is S.REVOKED and stored.code_redeemed_at is None
    assert count(db, m.HistoryEntry, m.HistoryEntry.action == "code_redeemed") == 0


def test_a_revoked_learner_on_one_contract_may_still_redeem_another(make_contract, make_user, courses):
    closed, other = make_contract(VOUCHER, activities=courses), make_contract(VOUCHER, activities=courses)
    learner = make_user()
    services.revoke(invite_one(closed, learner))
    assert services.redeem_code(learner, other.invitation_code).contract_id == other.id


# ---------------------------------------------------------------------------------------------
# regenerating
# ---------------------------------------------------------------------------------------------
def test_regenerate_returns_a_new_code_and_the_old_one_stops_working_at_once(make_contract, make_user, courses):
    contract = make_contract(VOUCHER, activities=courses)
    old = contract.invitation_code
    new = services.regenerate_code(contract)
    assert new != old and len(new) == 12 and not set(new) & set("ILOU")
    assert services.get_contract(contract.id).invitation_code == new
    for typed in typed_forms(old):
        with pytest.raises(errors.InvalidCode):
            services.redeem_code(make_user(), typed)
    assert services.redeem_code(make_user(), new.lower()).contract_id == contract.id


def test_regenerating_leaves_existing_invitations_untouched(make_contract, make_user, courses, m, db):
    contract = make_contract(VOUCHER, activities=courses)
    accepted, outstanding = make_user(), make_user()
    accepted_invitation = invite_one(contract, accepted)
    outstanding_invitation = invite_one(contract, outstanding)
    services.redeem_code(accepted, contract.invitation_code)

    old = contract.invitation_code
    new = services.regenerate_code(contract)

    assert services.get_invitation(accepted_invitation.id).status is S.ACCEPTED
    assert services.get_invitation(outstanding_invitation.id).status is S.OUTSTANDING
    assert count(db, m.Invitation) == 2
    services.enroll(accepted, contract, courses[0])  # a redeemed code stays redeemed
    with pytest.raises(errors.InvalidCode):
        services.redeem_code(outstanding, old)
    with pytest.raises(errors.CodeRequired):
        services.enroll(outstanding, contract, courses[0])
    services.redeem_code(outstanding, new)
    services.enroll(outstanding, contract, courses[0])


def test_each_regeneration_gives_a_different_code(make_contract):
    contract = make_contract(SUBSCRIPTION)
    seen = {contract.invitation_code}
    for _ in range(5):
        seen.add(services.regenerate_code(contract))
    assert len(seen) == 6
