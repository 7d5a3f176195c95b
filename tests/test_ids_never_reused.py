"""Issue 14 item 4: ids are never reused, and a contract's history never shows another contract's entries.

SQLite hands out ``max(id) + 1`` for a plain ``INTEGER PRIMARY KEY``: delete the newest contract (or
invitation) and the next one gets its id back, and with it the deleted one's history. The tables are
``AUTOINCREMENT`` on SQLite (PostgreSQL sequences never go back), and ``services.history`` starts a contract's
history at its own "created" entry, so even a database that reused ids before the migration cannot show a
deleted contract's entries.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from flask_learning_contracts import ContractType, services

from .conftest import invite_one

VOUCHER = ContractType.VOUCHER


@pytest.fixture
def learner_and_course(make_user, make_course):
    return make_user("ann@example.com"), make_course("Safety 101")


def test_a_deleted_contract_id_is_never_given_to_a_new_contract(make_contract, learner_and_course):
    learner, course = learner_and_course
    make_contract(VOUCHER, activities=[course])
    newest = make_contract(VOUCHER, activities=[course], require_invitation_code=False)
    invitation = invite_one(newest, learner)
    services.enroll(learner, newest, course)
    deleted_id, deleted_invitation_id = newest.id, invitation.id
    services.delete_contract(newest)

    again = make_contract(VOUCHER, activities=[course], require_invitation_code=False)
    assert again.id > deleted_id
    assert invite_one(again, learner).id > deleted_invitation_id
    assert [entry.action for entry in reversed(services.history(again))] == ["created", "activity_added", "invited"]


def test_a_deleted_invitation_id_is_never_given_to_a_new_invitation(db, m, make_contract, make_user, make_course):
    """``link_registered_user`` deletes a Not Registered invitation it merges into the learner's own."""
    course = make_course()
    contract = make_contract(VOUCHER, activities=[course])
    # The learner joined by code under one address; the admin then invited their other address ...
    learner = make_user("early@example.com")
    services.redeem_code(learner, contract.invitation_code)
    services.invite(contract, emails=["late@example.com"])
    merged_id = db.session.execute(sa.select(sa.func.max(m.Invitation.id))).scalar_one()
    # ... and the learner moved to that address: the newest invitation is merged into theirs and deleted.
    learner.email_address = "late@example.com"
    db.session.commit()
    services.link_registered_user(learner)
    assert db.session.get(m.Invitation, merged_id) is None

    fresh = invite_one(contract, make_user("new@example.com"))
    assert fresh.id > merged_id


def test_history_starts_at_the_contracts_own_creation_even_when_its_id_was_reused(db, m, make_contract,
                                                                                  learner_and_course):
    """A database that reused an id before the migration: the old entries stay with the deleted contract."""
    learner, course = learner_and_course
    old = make_contract(VOUCHER, code="OLD", activities=[course])
    invite_one(old, learner)
    old_id = old.id
    services.delete_contract(old)
    new_id = make_contract(VOUCHER, code="NEW").id
    # What SQLite did before AUTOINCREMENT: the new contract took the deleted one's id.
    db.session.execute(sa.update(m.Contract).where(m.Contract.id == new_id).values(id=old_id))
    db.session.execute(sa.update(m.HistoryEntry).where(m.HistoryEntry.contract_id == new_id)
                       .values(contract_id=old_id))
    db.session.commit()
    db.session.expire_all()

    reused = services.get_contract(old_id)
    services.add_activities(reused, [course])
    entries = services.history(reused)
    assert [e.action for e in reversed(entries)] == ["created", "activity_added"]
    assert {e.contract_code for e in entries} == {"NEW"}
    # The deleted contract's entries are still stored (history is kept after a deletion).
    stored = db.session.execute(sa.select(m.HistoryEntry.contract_code).where(m.HistoryEntry.contract_id == old_id))
    assert "OLD" in set(stored.scalars())


def test_history_pages_stay_within_the_contract(db, m, make_contract, learner_and_course):
    learner, course = learner_and_course
    contract = make_contract(VOUCHER, activities=[course])
    invite_one(contract, learner)
    everything = services.history(contract)
    assert [e.action for e in services.history(contract, limit=1, offset=2)] == [everything[2].action] == ["created"]
    assert services.history(contract, limit=5, offset=3) == []
