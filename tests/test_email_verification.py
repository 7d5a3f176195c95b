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


def test_an_unverified_learner_without_a_waiting_invitation_redeems_codes_as_usual(app, make_contract, courses,
                                                                                   make_user, unverified):
    other = make_contract(ContractType.SUBSCRIPTION, activities=courses)
    unverified.add("fresh@example.com")

    invitation = services.redeem_code(make_user("fresh@example.com"), other.invitation_code)

    assert invitation.status is InvitationStatus.ACCEPTED


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
