"""Real hosts vary; the extension adapts (SPEC "Integration surface"): here a host whose users and activities
have 26-character string primary keys (ULIDs) and whose e-mail column has another name, on its own
``SQLAlchemy()`` instance, working end to end through ``services``; and the installed SQLAlchemy series.
"""
from __future__ import annotations

import datetime as dt
import io
import os

import pytest
import sqlalchemy as sa

from flask_learning_contracts import ContractType, InvitationStatus, errors, services

from . import host_ulid
from .conftest import database_url

PG = "postgresql" if os.environ.get("LEARNING_CONTRACTS_TEST_DATABASE_URL") else "sqlite"


@pytest.fixture
def ulid_app(tmp_path):
    app = host_ulid.create_app(database_url(tmp_path))
    with app.app_context():
        host_ulid.db.drop_all()
        host_ulid.db.create_all()
        yield app
        host_ulid.db.session.remove()
        host_ulid.db.drop_all()
        host_ulid.db.engine.dispose()


@pytest.fixture
def people(ulid_app):
    db = host_ulid.db
    admin = host_ulid.Member(primary_email="Admin@Example.com", display="Ada Admin", staff=True)
    learners = [host_ulid.Member(primary_email=f"Learner{i}@Example.com") for i in range(3)]
    trainings = [host_ulid.Training(name=f"Training {i}", format=fmt)
                 for i, fmt in enumerate(["online", "ilt", "certification"])]
    db.session.add_all([admin, *learners, *trainings])
    db.session.commit()
    return admin, learners, trainings


def _contract(code, contract_type, trainings, **fields):
    contract = services.create_contract(
        code=code, title=f"{code} contract", contract_type=contract_type, seats=5,
        valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2026, 12, 31), **fields)
    services.add_activities(contract, trainings)
    return contract


def test_string_keys_are_copied_into_the_extension_tables(ulid_app):
    inspector = sa.inspect(host_ulid.db.engine)
    for table, column, target in [("lc_seat", "user_id", "members"), ("lc_seat", "activity_id", "trainings"),
                                  ("lc_invitation", "user_id", "members"), ("lc_enrollment", "activity_id", "trainings"),
                                  ("lc_contract_admin", "user_id", "members"),
                                  ("lc_contract_activity", "activity_id", "trainings")]:
        col = next(c for c in inspector.get_columns(table) if c["name"] == column)
        assert isinstance(col["type"], sa.String) and col["type"].length == 26, (table, column, col["type"])
        fks = [fk for fk in inspector.get_foreign_keys(table) if fk["constrained_columns"] == [column]]
        assert fks and fks[0]["referred_table"] == target and fks[0]["referred_columns"] == ["id"]


def test_voucher_flow_end_to_end_with_ulid_keys(ulid_app, people):
    admin, learners, trainings = people
    rules = ulid_app.extensions["learning_contracts"].rules
    contract = _contract("ULID-V", ContractType.VOUCHER, trainings[:2], require_invitation_code=True, actor=admin)
    services.add_contract_admin(contract, admin, actor=admin)
    assert rules.is_contract_admin(admin, services.get_contract(contract.id))

    report = services.invite(contract, users=[learners[0]], emails=["LEARNER1@example.com", "newcomer@example.com"],
                             activities=[trainings[0]], actor=admin)
    assert [r.email for r in report.invited] == ["learner0@example.com", "learner1@example.com"]
    assert [r.email for r in report.not_registered] == ["newcomer@example.com"]
    assert sorted(rules.sent) == ["learner0@example.com", "learner1@example.com", "newcomer@example.com"]
    invitation = services.get_invitation(report.invited[0].invitation_id)
    assert invitation.user_id == learners[0].id and len(invitation.user_id) == 26
    assert [a.id for a in invitation.activities] == [trainings[0].id]

    with pytest.raises(errors.CodeRequired):
        services.enroll(learners[0], contract, trainings[0])
    code = services.get_contract(contract.id).invitation_code
    redeemed = services.redeem_code(learners[0], code.lower())
    assert redeemed.id == invitation.id and redeemed.status is InvitationStatus.ACCEPTED

    enrollment = services.enroll(learners[0], contract, trainings[0].id)
    assert enrollment.user_id == learners[0].id and enrollment.activity_id == trainings[0].id
    assert services.enroll(learners[0], contract, trainings[0]).id == enrollment.id  # idempotent
    with pytest.raises(errors.ActivityNotInInvitation):
        services.enroll(learners[0], contract, trainings[1])
    assert rules.is_enrolled_in_activity(learners[0], trainings[0])

    # an uninvited learner redeems the code and gets every activity of the contract
    own = services.redeem_code(learners[2], code)
    assert own.status is InvitationStatus.ACCEPTED and {a.id for a in own.activities} == {t.id for t in trainings[:2]}
    services.enroll(learners[2], contract, trainings[1])

    # the newcomer signs up: the invitation links to the new string key
    newcomer = host_ulid.Member(primary_email="Newcomer@Example.com")
    host_ulid.db.session.add(newcomer)
    host_ulid.db.session.commit()
    (linked,) = services.link_registered_user(newcomer)
    assert linked.user_id == newcomer.id and linked.status is InvitationStatus.OUTSTANDING

    services.revoke(services.get_invitation(report.invited[1].invitation_id), actor=admin)
    summary = services.seat_summary(services.get_contract(contract.id))
    assert (summary.seats, summary.used, summary.available, summary.expired) == (5, 2, 3, 0)
    assert summary.by_status == {InvitationStatus.OUTSTANDING: 1, InvitationStatus.ACCEPTED: 0,
                                 InvitationStatus.ENROLLED: 2, InvitationStatus.NOT_REGISTERED: 0,
                                 InvitationStatus.REVOKED: 1}
    assert services.check_seats() == []
    actors = {h.actor_id for h in services.history(services.get_contract(contract.id)) if h.actor_id}
    assert admin.id in actors and learners[0].id in actors
    assert [o.contract.id for o in services.invitation_offers(learners[0])] == [contract.id]


def test_subscription_flow_and_csv_with_ulid_keys(ulid_app, people):
    admin, learners, trainings = people
    contract = _contract("ULID-S", ContractType.SUBSCRIPTION, trainings[:1], require_invitation_code=False,
                         per_user_limit=2)
    report = services.invite_csv(contract, io.BytesIO(
        "\ufeffE-mail\nlearner0@example.com\n LEARNER1@EXAMPLE.COM \nlearner0@example.com\nnot-an-email\n".encode()))
    assert [r.line for r in report.invited] == [2, 3]
    assert [r.line for r in report.already_invited] == [4] and [r.line for r in report.invalid] == [5]

    services.add_activities(contract, trainings[1:])  # Subscription invitations follow the contract
    for training in trainings[:2]:
        services.enroll(learners[0], contract, training)
    with pytest.raises(errors.PerUserLimitReached):
        services.enroll(learners[0], contract, trainings[2])
    services.enroll(learners[1], contract, trainings[2])

    summary = services.seat_summary(services.get_contract(contract.id))
    assert summary.used == 2  # one seat per learner
    assert host_ulid.db.session.execute(sa.select(sa.func.count()).select_from(host_ulid.TrainingSeat)).scalar() == 3
    assert services.check_seats() == []


def test_runs_on_the_installed_sqlalchemy():
    """Runs under whatever SQLAlchemy is installed (2.0.x or 2.1). CI's second pass pins the series it
    wants and says so in ``LEARNING_CONTRACTS_EXPECT_SQLALCHEMY`` (e.g. ``2.0``), so a pass that silently
    ran the wrong version fails here."""
    major, minor = (int(part) for part in sa.__version__.split(".")[:2])
    assert (major, minor) >= (2, 0)
    expected = os.environ.get("LEARNING_CONTRACTS_EXPECT_SQLALCHEMY")
    if expected:
        assert sa.__version__.startswith(expected.rstrip(".") + "."), (sa.__version__, expected)
