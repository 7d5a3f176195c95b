"""The services behind every page and bulk operation issue a bounded number of SQL statements.

Counted with a ``before_cursor_execute`` listener (an ``executemany`` counts once, as one round trip of
batched rows). Page-level counts are asserted by the view tests; timings live in ``bench/run.py``.
"""
from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from flask_learning_contracts import ContractType, services

from . import host
from .views_support import count_queries as counting

VOUCHER, SUBSCRIPTION = ContractType.VOUCHER, ContractType.SUBSCRIPTION


@pytest.fixture
def courses(make_course):
    return [make_course() for _ in range(3)]


def _users(db, n, prefix):
    db.session.execute(sa.insert(host.Account.__table__), [
        {"email_address": f"{prefix}{i}@example.com", "name": f"{prefix} {i}", "is_manager": False}
        for i in range(n)])
    db.session.commit()
    return db.session.execute(sa.select(host.Account).where(host.Account.email_address.like(f"{prefix}%"))
                              .order_by(host.Account.id)).scalars().all()


def _learner_with_invitations(db, make_user, make_contract, courses, n, tag):
    """A learner invited to ``n`` contracts of both types, enrolled in some, with a code pending on others."""
    learner = make_user(f"{tag}@example.com")
    for i in range(n):
        kind = VOUCHER if i % 2 else SUBSCRIPTION
        contract = make_contract(kind, seats=5, activities=courses[: 1 + i % 3],
                                 require_invitation_code=(i % 3 == 0), per_user_limit=2 if i % 4 == 0 else 0,
                                 code=f"{tag}-{i}")
        services.invite(contract, users=[learner])
        if i % 3 != 0 and i % 2 == 1:
            services.enroll(learner, contract, courses[0])
    db.session.expire_all()
    return learner


def test_learner_widget_data_is_a_constant_number_of_queries(db, make_user, make_contract, courses):
    few = _learner_with_invitations(db, make_user, make_contract, courses, 2, "few")
    many = _learner_with_invitations(db, make_user, make_contract, courses, 24, "many")

    db.session.expire_all()
    with counting(db) as small:
        offers_few = services.invitation_offers(few)
    db.session.expire_all()
    with counting(db) as large:
        offers_many = services.invitation_offers(many)

    assert len(offers_few) == 2 and len(offers_many) == 24
    assert sum(len(o.activities) for o in offers_many) > 24  # activities of every invitation were listed
    assert len(large) == len(small), (len(small), len(large), large)


def test_seat_summaries_are_one_query_for_any_number_of_contracts(db, make_user, make_contract, courses):
    users = _users(db, 12, "sum")
    for i in range(30):
        contract = make_contract(SUBSCRIPTION if i % 2 else VOUCHER, seats=20, activities=courses[:1],
                                 code=f"SUM-{i}")
        services.invite(contract, users=users[: i % 12], emails=[f"nobody{i}@example.org"])
    model = app_models(db).Contract
    db.session.expire_all()
    two = db.session.execute(sa.select(model).order_by(model.id).limit(2)).scalars().all()
    thirty = db.session.execute(sa.select(model).order_by(model.id)).scalars().all()

    with counting(db) as small:
        summaries_two = services.seat_summaries(two)
    with counting(db) as large:
        summaries_thirty = services.seat_summaries(thirty)

    assert len(summaries_two) == 2 and len(summaries_thirty) == 30
    assert len(small) == len(large) == 1
    assert sum(s.by_status[s_status] for s in summaries_thirty.values()
               for s_status in s.by_status) == 30 + sum(i % 12 for i in range(30))


def app_models(db):
    from flask import current_app

    return current_app.extensions["learning_contracts"].models


@pytest.mark.parametrize("kind", [VOUCHER, SUBSCRIPTION])
def test_invite_is_batched_not_one_query_per_email(db, make_contract, courses, kind):
    users = _users(db, 500, "inv")
    small_contract = make_contract(kind, seats=10, activities=courses, code="SMALL")
    large_contract = make_contract(kind, seats=10, activities=courses, code="LARGE")
    small_contract.id, large_contract.id  # noqa: B018 - loaded before counting

    with counting(db) as small:
        report_small = services.invite(small_contract, users=users[:5],
                                       emails=[f"new{i}@example.org" for i in range(5)])
    large_contract.id  # noqa: B018
    with counting(db) as large:
        report_large = services.invite(large_contract, users=users,
                                       emails=[f"new{i}@example.org" for i in range(500)])

    assert report_small.created == 10 and report_large.created == 1000
    batches = -(-1000 // services._BATCH)
    # A fixed number of statements per batch of services._BATCH e-mails; never one per e-mail.
    assert len(large) <= len(small) * batches, (len(small), len(large))
    assert len(large) < 1000 / 20


def test_invite_csv_is_batched_not_one_query_per_line(db, make_contract, courses):
    users = _users(db, 500, "csv")
    small_contract = make_contract(VOUCHER, seats=10, activities=courses, code="CSV-SMALL")
    large_contract = make_contract(VOUCHER, seats=10, activities=courses, code="CSV-LARGE")

    def csv_of(emails):
        return io.BytesIO(("email\n" + "\n".join(emails) + "\n").encode())

    few = [u.email_address for u in users[:5]] + [f"x{i}@example.org" for i in range(5)]
    lots = [u.email_address.upper() for u in users] + [f"x{i}@example.org" for i in range(500)] + ["not-an-email"]
    small_contract.id, large_contract.id  # noqa: B018
    with counting(db) as small:
        report_small = services.invite_csv(small_contract, csv_of(few))
    large_contract.id  # noqa: B018
    with counting(db) as large:
        report_large = services.invite_csv(large_contract, csv_of(lots))

    assert report_small.created == 10
    assert report_large.created == 1000 and len(report_large.invited) == 500 and len(report_large.invalid) == 1
    batches = -(-1001 // services._BATCH)
    assert len(large) <= len(small) * batches, (len(small), len(large))
    assert len(large) < 1000 / 20


def test_one_enrollment_costs_the_same_queries_however_full_the_contract(db, make_contract, courses):
    users = _users(db, 60, "enr")
    contract = make_contract(VOUCHER, seats=100, activities=courses[:1], require_invitation_code=False,
                             code="ENR")
    services.invite(contract, users=users)
    counts, reads = [], []
    for i, user in enumerate(users):
        user.id, contract.id, courses[0].title  # loaded as the learner page has them
        with counting(db) as statements:
            services.enroll(user, contract, courses[0])
        if i in (0, 59):
            counts.append(len(statements))
        reads += [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert counts[0] == counts[1], counts
    # Issue 17: at most 8 statements per enrollment, the host's (here one INSERT) included. PostgreSQL: every
    # write of ours in one statement + the host's row. SQLite 3.35+: lock the invitation (RETURNING its id), take
    # a seat (RETURNING the counter, for the seats alert), seat, enrollment and history rows + the host's row.
    # Both: + the webhook event's INSERT … SELECT (inserts nothing when no endpoint subscribes).
    assert counts[0] == (3 if db.engine.dialect.name == "postgresql" else 7), counts
    # Nothing is read back: not the activity or the contract the caller passed, not the contract's admins.
    assert reads == [], reads[:3]
