"""What a hostile tester found after issue 14: a contract deleted while another call works on it, a Voucher
invitation left holding an activity the contract no longer has, addresses with invisible characters, ids
spelt several ways."""
from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from flask_learning_contracts import ContractType, errors, services

from .conftest import count, in_another_request, invite_one


def _delete_elsewhere(app, contract_id):
    in_another_request(app, lambda: services.delete_contract(services.get_contract(contract_id)))


@pytest.mark.parametrize("expire", [False, True], ids=["loaded", "expired"])
@pytest.mark.parametrize("call", [
    "revoke", "regenerate_code", "update_contract", "add_activities", "add_contract_admin", "invite_subscription",
    "invite_voucher", "add_invitation_activities",
])
def test_a_contract_deleted_meanwhile_is_refused_as_gone_and_nothing_is_written(
        app, db, m, make_user, make_course, make_contract, call, expire):
    course, other = make_course(), make_course()
    kind = ContractType.SUBSCRIPTION if call == "invite_subscription" else ContractType.VOUCHER
    contract = make_contract(kind, activities=[course])
    learner, newcomer = make_user(), make_user()
    invitation = invite_one(contract, learner)
    contract_id = contract.id
    _delete_elsewhere(app, contract_id)
    if expire:
        db.session.expire_all()
    run = {
        "revoke": lambda: services.revoke(invitation),
        "regenerate_code": lambda: services.regenerate_code(contract),
        "update_contract": lambda: services.update_contract(contract, title="Renamed"),
        "add_activities": lambda: services.add_activities(contract, [other]),
        "add_contract_admin": lambda: services.add_contract_admin(contract, newcomer),
        "invite_subscription": lambda: services.invite(contract, users=[newcomer], emails=["x@example.com"]),
        "invite_voucher": lambda: services.invite(contract, users=[newcomer]),
        "add_invitation_activities": lambda: services.add_invitation_activities(invitation, [course]),
    }[call]
    with pytest.raises(errors.ContractNotFound):
        run()
    for model in (m.Invitation, m.ContractActivity, m.ContractAdmin, m.Contract):
        assert count(db, model) == 0, model  # no orphan row for the deleted contract


def test_a_voucher_invitation_never_enrolls_in_an_activity_the_contract_no_longer_has(
        db, m, make_user, make_course, make_contract):
    kept, removed = make_course(), make_course()
    contract = make_contract(ContractType.VOUCHER, activities=[kept, removed], require_invitation_code=False)
    learner = make_user()
    invitation = invite_one(contract, learner)
    services.remove_activity(contract, removed)
    # What an invite racing the removal leaves behind: the invitation still lists the removed activity.
    db.session.execute(sa.insert(m.InvitationActivity), {"invitation_id": invitation.id, "activity_id": removed.id})
    db.session.commit()
    with pytest.raises(errors.ActivityNotInInvitation):
        services.enroll(learner, contract, removed)
    assert services.seat_summary(contract).used == 0
    assert services.enroll(learner, contract, kept).seat_used


@pytest.mark.parametrize("address", [
    "carol@example.com\u200b", "\ufeffcarol@example.com", "'carol@example.com'", "\u200bCarol@Example.com ",
])
def test_invisible_characters_and_quotes_around_an_address_are_dropped(make_user, make_course, make_contract,
                                                                          address):
    make_user("carol@example.com")
    contract = make_contract(ContractType.SUBSCRIPTION, activities=[make_course()])
    report = services.invite_csv(contract, io.BytesIO(address.encode("utf-8")))
    assert [r.email for r in report.invited] == ["carol@example.com"]


@pytest.mark.parametrize("address", [
    "ca\u200brol@example.com", "carol\u202e@example.com", "a\x00b@example.com", "a\x01b@example.com",
    "car ol@example.com",
])
def test_an_address_with_invisible_or_control_characters_inside_is_invalid(make_course, make_contract, address):
    contract = make_contract(ContractType.SUBSCRIPTION, activities=[make_course()])
    report = services.invite(contract, emails=[address])
    assert len(report.invalid) == 1 and not report.created


@pytest.mark.parametrize("spelling", [" 1 ", "1_0", "\u0661", "+1", "1.0", "0x1"])
def test_an_id_is_only_plain_digits(make_contract, spelling):
    contract = make_contract()
    assert contract.id == 1
    with pytest.raises(errors.ValidationError):
        services.get_contract(spelling)
    assert services.get_contract("1").id == 1


@pytest.mark.parametrize("path", [
    "/learning-contracts/manage/1?q=%00", "/learning-contracts/manage/1/invite?q=a%00@x.com",
    "/learning-contracts/?next=%00", "/admin/learning-contracts/?search=%00",
    "/admin/learning-contracts/1/invitations?q=%00", "/admin/learning-contracts/1/activities/add?q=%00",
])
def test_a_nul_character_in_a_request_is_a_bad_request_never_a_database_error(app, make_user, make_course,
                                                                                   make_contract, path):
    from .views_support import client_for

    manager = make_user(manager=True)
    contract = make_contract(activities=[make_course()])
    services.add_contract_admin(contract, manager)
    response = client_for(app, manager).get(path)
    assert response.status_code == 400
