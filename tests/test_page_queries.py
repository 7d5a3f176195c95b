"""Every page of the admin panel, the contract-admin dashboard and the learner's pages issues the same number of
SQL statements with 10 rows of everything (host users and activities, the contract's activities, invitations,
contract admins and history entries) as with 1,000.

Page-specific tests (tests/test_admin_queries.py, test_views_dashboard.py, test_views_learner.py) also fill
whole pages; this one walks every GET page of one contract, so that a new page or a new per-row query on an
old one is caught.
"""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from flask_learning_contracts import ContractType, services

from . import host
from .views_support import PREFIX, client_for, count_queries

ADMIN = "/admin/learning-contracts"
FEW, MANY = 10, 1000


def _accounts(db, start: int, stop: int) -> list[int]:
    db.session.execute(sa.insert(host.Account.__table__), [
        {"email_address": f"person{i}@example.com", "name": f"Person {i}", "is_manager": False}
        for i in range(start, stop)])
    db.session.commit()
    return list(db.session.execute(sa.select(host.Account.id).where(
        host.Account.email_address.in_([f"person{i}@example.com" for i in range(start, stop)]))).scalars())


def _courses(db, start: int, stop: int) -> list[int]:
    db.session.execute(sa.insert(host.Course.__table__), [
        {"title": f"Course {i:04d}", "kind": "online", "retired": False} for i in range(start, stop)])
    db.session.commit()
    return list(db.session.execute(sa.select(host.Course.id).where(
        host.Course.title.in_([f"Course {i:04d}" for i in range(start, stop)]))).scalars())


def _grow(db, m, contract, first_courses, start: int, stop: int) -> None:
    """Add rows ``start``..``stop`` of everything a contract's pages list or count."""
    people = _accounts(db, start, stop)
    services.add_activities(contract, _courses(db, start, stop))
    half = (stop - start) // 2
    invited = db.session.execute(sa.select(host.Account).where(host.Account.id.in_(people[:half]))).scalars().all()
    for i in range(0, half, 5):  # learners with and without an account on every page of the lists
        services.invite(contract, users=invited[i:i + 5], activities=first_courses,
                        emails=[f"unknown{n}@example.org" for n in range(start + i, start + i + 5)])
    db.session.execute(sa.insert(m.ContractAdmin.__table__),
                       [{"contract_id": contract.id, "user_id": uid} for uid in people[half:]])
    db.session.execute(sa.insert(m.HistoryEntry.__table__), [
        {"at": dt.datetime(2026, 6, 1, 9, 0), "contract_id": contract.id, "contract_code": contract.code,
         "action": "edited", "message": f"Edit number {i}.", "actor_name": "Someone"} for i in range(start, stop)])
    db.session.commit()


def _statements_per_page(app, db, pages: list[tuple[str, object]]) -> dict[str, int]:
    counts = {}
    for path, user in pages:
        client = client_for(app, user)
        client.get(path)  # warm-up: first-request work and caches
        db.session.expire_all()
        with count_queries(db) as statements:
            response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        counts[path] = len(statements)
    return counts


@pytest.mark.parametrize("contract_type", [ContractType.VOUCHER, ContractType.SUBSCRIPTION])
def test_every_page_issues_the_same_statements_with_10_or_1000_rows(app, db, m, make_user, make_contract,
                                                                    contract_type):
    manager = make_user("boss@example.com", manager=True, name="Bea Boss")
    contract_admin = make_user("admin@example.com", name="Ada Admin")
    learner = make_user("learner@example.com", name="Lee Learner")
    first_courses = _courses(db, -3, 0)
    contract = make_contract(contract_type, seats=5000, activities=first_courses, title="Big contract",
                             require_invitation_code=False)
    services.add_contract_admin(contract, contract_admin)
    invitation = services.get_invitation(services.invite(contract, users=[learner]).invited[0].invitation_id)
    services.enroll(learner, contract, db.session.get(host.Course, first_courses[0]))
    _grow(db, m, contract, first_courses, 0, FEW)

    cid, iid, aid = contract.id, invitation.id, first_courses[1]
    pages = [(f"{ADMIN}/{path}", manager) for path in (
        "", "new/", f"edit/?id={cid}", f"{cid}/", f"{cid}/activities", f"{cid}/activities/add",
        f"{cid}/activities/import", f"{cid}/activities/{aid}/remove", f"{cid}/invitations",
        f"{cid}/invitations/{iid}/activities", f"{cid}/invitations/{iid}/revoke", f"{cid}/invite",
        f"{cid}/history", f"{cid}/delete", f"{cid}/code/regenerate")]
    pages += [(f"{PREFIX}/manage/{path}", contract_admin) for path in (
        "", f"{cid}", f"{cid}/invite", f"{cid}/invitations/{iid}", f"{cid}/invitations/{iid}/revoke", f"{cid}/code")]
    pages += [(f"{PREFIX}/", learner), (f"{PREFIX}/contracts/{cid}", learner)]
    if contract_type is ContractType.SUBSCRIPTION:  # Subscription invitations have no activity picker
        pages = [(p, u) for p, u in pages if not p.endswith((f"invitations/{iid}/activities", f"invitations/{iid}"))]

    few = _statements_per_page(app, db, pages)
    _grow(db, m, contract, first_courses, FEW, MANY)
    many = _statements_per_page(app, db, pages)

    assert many == few
    db.session.expire_all()  # the contract really holds the rows
    assert len(services.get_contract(cid).activities) == 3 + MANY
    assert db.session.execute(sa.select(sa.func.count()).select_from(m.Invitation)
                              .where(m.Invitation.contract_id == cid)).scalar_one() == 1 + MANY
