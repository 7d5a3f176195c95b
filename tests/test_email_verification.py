"""Whoever holds an address does not claim its invitations until the host says the address is verified.

An invitation sent to an address without an account is Not Registered; it is linked to the user with that
address on sign-up (``link_registered_user``) or lazily by the learner pages, ``redeem_code`` and ``enroll``.
On a host that does not verify addresses, anyone could sign up as ``victim@example.com`` and take the victim's
invitation and seat. ``ContractRules.email_verified(user)`` (default: true) now gates every linking.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from flask_learning_contracts import ContractType, InvitationStatus, errors, services
from flask_learning_contracts.codes import format_code
from flask_learning_contracts.rules import ContractRules

from .views_support import PREFIX, client_for, csrf_for, text

VICTIM = "victim@example.com"


@pytest.fixture
def unverified(rules, monkeypatch):
    """The addresses the host has not verified (``email_verified`` answers False for their users)."""
    addresses: set[str] = set()
    monkeypatch.setattr(rules, "email_verified", lambda user: user.email_address.lower() not in addresses)
    return addresses


@pytest.fixture
def courses(make_course):
    return [make_course("Safety"), make_course("Leadership")]


@pytest.fixture
def contract(make_contract, courses):
    contract = make_contract(ContractType.VOUCHER, title="Victim's contract", activities=courses,
                             require_invitation_code=False)
    report = services.invite(contract, emails=[VICTIM], activities=courses[:1])
    assert [r.email for r in report.not_registered] == [VICTIM]
    return contract


def _victims_invitation(app, db):
    m = app.extensions["learning_contracts"].models
    db.session.expire_all()
    return db.session.execute(sa.select(m.Invitation).where(m.Invitation.email == VICTIM)).scalars().one()


def test_the_default_hook_trusts_the_hosts_addresses(app, rules, make_user):
    assert rules.email_verified(make_user()) is True


def test_an_unverified_address_links_nothing(app, db, contract, make_user, unverified):
    unverified.add(VICTIM)
    squatter = make_user(VICTIM)

    assert services.link_registered_user(squatter) == []
    assert services.invitations_for(squatter) == []
    assert services.invitation_offers(squatter) == []
    invitation = _victims_invitation(app, db)
    assert invitation.status is InvitationStatus.NOT_REGISTERED and invitation.user_id is None


def test_learner_pages_and_enrolling_never_link_an_unverified_address(app, db, contract, courses, make_user,
                                                                     unverified):
    unverified.add(VICTIM)
    squatter = make_user(VICTIM)
    client = client_for(app, squatter)

    page = text(client.get(PREFIX + "/"))
    widget_page = client.get(f"{PREFIX}/contracts/{contract.id}")
    enrolled = client.post(f"{PREFIX}/contracts/{contract.id}/activities/{courses[0].id}/enroll",
                           data={"csrf_token": csrf_for(app, client)})
    with pytest.raises(errors.NotInvited):
        services.enroll(squatter, contract, courses[0])

    assert "Victim&#39;s contract" not in page and "Victim's contract" not in page
    assert "once you have confirmed your e-mail address" in page
    assert widget_page.status_code == 404 and enrolled.status_code == 404
    invitation = _victims_invitation(app, db)
    assert invitation.status is InvitationStatus.NOT_REGISTERED and invitation.user_id is None
    assert contract.seats_used == 0


def test_redeeming_the_code_asks_an_unverified_holder_to_confirm_the_address_first(app, db, contract, make_user,
                                                                                  unverified):
    """The code would give a new Accepted invitation, but the address already has one waiting: confirm first."""
    unverified.add(VICTIM)
    squatter = make_user(VICTIM)

    with pytest.raises(errors.EmailNotVerified):
        services.redeem_code(squatter, contract.invitation_code)

    client = client_for(app, squatter)
    response = client.post(PREFIX + "/code", data={"csrf_token": csrf_for(app, client),
                                                   "code": format_code(contract.invitation_code)},
                           follow_redirects=True)
    assert response.status_code == 200 and "Confirm your e-mail address" in text(response)
    invitation = _victims_invitation(app, db)
    assert invitation.status is InvitationStatus.NOT_REGISTERED and invitation.user_id is None


def test_an_unverified_user_redeems_no_code_at_all(app, db, make_contract, courses, make_user, unverified):
    """A squatter redeeming a code first would get an Accepted invitation under the victim's address: the
    admin's later invite of the address would say "Already invited (Accepted)" and the squatter could enroll."""
    other = make_contract(ContractType.SUBSCRIPTION, activities=courses, require_invitation_code=False)
    unverified.add(VICTIM)
    squatter = make_user(VICTIM)

    with pytest.raises(errors.EmailNotVerified, match="Confirm your e-mail address first"):
        services.redeem_code(squatter, other.invitation_code)

    assert services.invitations_for(squatter) == []
    report = services.invite(other, emails=[VICTIM])
    assert [r.email for r in report.not_registered] == [VICTIM]
    with pytest.raises(errors.NotInvited):
        services.enroll(squatter, other, courses[0])
    unverified.clear()  # the owner (here the same account) confirms the address: the code works
    assert services.redeem_code(squatter, other.invitation_code).status is InvitationStatus.ACCEPTED


def test_inviting_an_address_an_unverified_account_holds_waits_for_its_owner(app, db, make_contract, courses,
                                                                           make_user, unverified):
    """The admin invites the address after the squatter signed up: Not Registered, not the squatter's."""
    other = make_contract(ContractType.VOUCHER, activities=courses, require_invitation_code=False)
    unverified.add(VICTIM)
    squatter = make_user(VICTIM)

    report = services.invite(other, emails=[VICTIM.upper()])

    assert [r.email for r in report.not_registered] == [VICTIM] and report.invited == []
    assert services.invitations_for(squatter) == []
    page = text(client_for(app, squatter).get(PREFIX + "/"))
    assert "Victim&#39;s contract" not in page
    unverified.clear()  # the owner confirms: the invitation becomes theirs
    assert [i.contract_id for i in services.link_registered_user(squatter)] == [other.id]


def test_an_admin_picking_an_unverified_account_invites_that_account(app, make_contract, courses, make_user,
                                                                    unverified):
    """Picking the account (not typing an address) is the admin's deliberate choice: it is invited."""
    other = make_contract(ContractType.VOUCHER, activities=courses, require_invitation_code=False)
    unverified.add("picked@example.com")
    picked = make_user("picked@example.com")

    report = services.invite(other, users=[picked])

    assert [r.email for r in report.invited] == ["picked@example.com"]
    assert [i.user_id for i in services.invitations_for(picked)] == [picked.id]


def test_verification_is_asked_once_per_batch_of_addresses(app, rules, make_contract, courses, make_user,
                                                           unverified, monkeypatch):
    """A host that verifies addresses gets one ``find_users_by_email`` call per 500 addresses, never one each."""
    other = make_contract(ContractType.SUBSCRIPTION, activities=courses)
    make_user("known@example.com")
    calls: list[int] = []
    original = rules.find_users_by_email
    monkeypatch.setattr(rules, "find_users_by_email", lambda emails: calls.append(len(list(emails))) or
                        original(emails))
    monkeypatch.setattr(rules, "find_user_by_email", lambda email: pytest.fail("one lookup per address"))

    report = services.invite(other, emails=["known@example.com"] + [f"n{i}@example.com" for i in range(699)])

    assert calls == [500, 200]
    assert [r.email for r in report.invited] == ["known@example.com"] and len(report.not_registered) == 699


def test_the_default_hooks_resolve_addresses_without_building_users(app, make_contract, courses, make_user,
                                                                    rules, monkeypatch):
    """No ``email_verified`` override: the fast path (one query of two columns, no user objects) stays."""
    other = make_contract(ContractType.SUBSCRIPTION, activities=courses)
    make_user("known@example.com")
    # Patched on ContractRules itself, so that the host's rules still count as not overriding it.
    monkeypatch.setattr(ContractRules, "find_users_by_email", lambda self, emails: pytest.fail("users were built"))

    report = services.invite(other, emails=["known@example.com", "new@example.com"])

    assert [r.email for r in report.invited] == ["known@example.com"]


def test_forgetting_an_unverified_account_leaves_the_invitations_waiting_for_the_address(app, db, contract,
                                                                                       make_user, unverified):
    """``forget_user(squatter)`` (and the CLI, whose EMAIL finds the squatter) must not revoke and scrub the
    Not Registered invitations waiting for the real owner: the address is not the squatter's."""
    unverified.add(VICTIM)
    squatter = make_user(VICTIM)

    services.forget_user(squatter)
    result = app.test_cli_runner().invoke(args=["contracts", "forget-user", VICTIM, "--yes"])

    assert result.exit_code == 0, result.output
    invitation = _victims_invitation(app, db)
    assert invitation.status is InvitationStatus.NOT_REGISTERED and invitation.email == VICTIM
    assert invitation.pseudonym is None
    unverified.clear()
    assert [i.id for i in services.link_registered_user(squatter)] == [invitation.id]


def test_the_invitation_is_linked_once_the_address_is_verified(app, db, contract, make_user, unverified):
    unverified.add(VICTIM)
    owner = make_user(VICTIM)
    assert services.invitations_for(owner) == []

    unverified.clear()  # the owner clicked the host's confirmation link
    page = text(client_for(app, owner).get(PREFIX + "/"))

    assert "Victim&#39;s contract" in page
    assert "confirmed your e-mail address" not in page
    invitation = _victims_invitation(app, db)
    assert invitation.status is InvitationStatus.OUTSTANDING and invitation.user_id == owner.id
