"""A host whose users and activities have UUID primary keys (``sa.Uuid``): services take keys as UUIDs or as the
text a form, a URL or a CSV carries."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_login import UserMixin
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import orm

from flask_learning_contracts import ContractRules, ContractType, LearningContracts, errors, services

from .conftest import database_url


class Base(orm.DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Learner(db.Model, UserMixin):
    __tablename__ = "uuid_learners"
    id: orm.Mapped[uuid.UUID] = orm.mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    email: orm.Mapped[str] = orm.mapped_column(sa.String(320))


class Module(db.Model):
    __tablename__ = "uuid_modules"
    id: orm.Mapped[uuid.UUID] = orm.mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    title: orm.Mapped[str] = orm.mapped_column(sa.String(200))


class ModuleEnrollment(db.Model):
    __tablename__ = "uuid_module_enrollments"
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    learner_id: orm.Mapped[uuid.UUID] = orm.mapped_column(sa.ForeignKey("uuid_learners.id"))
    module_id: orm.Mapped[uuid.UUID] = orm.mapped_column(sa.ForeignKey("uuid_modules.id"))


class UuidRules(ContractRules["Learner", "Module"]):
    def now(self) -> dt.datetime:
        return dt.datetime(2026, 6, 15, 12, tzinfo=dt.timezone.utc)

    def enroll_in_activity(self, user, activity, contract) -> None:
        db.session.add(ModuleEnrollment(learner_id=user.id, module_id=activity.id))


@pytest.fixture
def uuid_app(tmp_path):
    app = Flask(__name__)
    app.config.update(SECRET_KEY="uuid", SQLALCHEMY_DATABASE_URI=database_url(tmp_path), TESTING=True)
    db.init_app(app)
    LearningContracts(app, db=db, user_model=Learner, activity_model=Module, rules=UuidRules)
    with app.app_context():
        db.drop_all()
        db.create_all()
        yield app
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def test_activity_keys_written_as_text_find_their_uuid_activities(uuid_app):
    learner, first, second = Learner(email="ada@example.com"), Module(title="One"), Module(title="Two")
    db.session.add_all([learner, first, second])
    db.session.commit()
    contract = services.create_contract(code="UUID-1", title="Keys", contract_type=ContractType.VOUCHER, seats=5,
                                        valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2026, 12, 31),
                                        require_invitation_code=False)
    added = services.add_activities(contract, [str(first.id), str(second.id).upper()])
    assert {a.id for a in added} == {first.id, second.id}
    services.invite(contract, users=[learner], activities=[str(first.id)])
    enrollment = services.enroll(learner, contract, str(first.id))
    assert enrollment.activity_id == first.id
    assert services.seat_summary(contract).used == 1
    with pytest.raises(errors.ActivityNotInInvitation):
        services.enroll(learner, contract, str(second.id))  # on the contract, not on this Voucher invitation
    with pytest.raises(errors.ValidationError):
        services.add_activities(contract, ["not-a-uuid"])  # refused as an activity that cannot be added
    assert services.activity_impact(contract, str(first.id)).enrolled == 1


def test_notifications_reach_uuid_keyed_learners_and_contract_admins(uuid_app):
    """The shipped e-mails with UUID-keyed users: invitation (code and link), resend once per double click,
    a scheduled reminder, and the seats alert to a contract admin who is a UUID-keyed user too."""
    from flask_mailman import Mail

    uuid_app.config.update(MAIL_BACKEND="locmem", MAIL_DEFAULT_SENDER="lms@example.com",
                           LEARNING_CONTRACTS_BASE_URL="https://lms.example.com")
    outbox = Mail().init_app(uuid_app).outbox = []
    learner, admin, module = Learner(email="ada@example.com"), Learner(email="boss@example.com"), Module(title="One")
    db.session.add_all([learner, admin, module])
    db.session.commit()
    contract = services.create_contract(code="UUID-2", title="Keys", contract_type=ContractType.VOUCHER, seats=1,
                                        valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2026, 12, 31))
    services.add_activities(contract, [module])
    services.add_contract_admin(contract, admin)
    report = services.invite(contract, users=[learner], emails=["new@example.com"])
    invitation = services.get_invitation(report.invited[0].invitation_id)
    assert services.resend(invitation).outcome is services.ResendOutcome.SENT
    assert services.resend(services.get_invitation(invitation.id)).outcome is services.ResendOutcome.ALREADY_RESENT
    services.run_schedule(dt.date(2026, 6, 18))  # 3 days later: both are reminded
    to_ada = [m.subject for m in outbox if m.to == ["ada@example.com"]]
    assert to_ada == ["You are invited: Keys", "Your invitation to Keys", "Reminder: your invitation to Keys"]
    assert "https://lms.example.com/learning-contracts/" in outbox[0].body
    services.redeem_code(learner, contract.invitation_code)
    services.enroll(learner, services.get_contract(contract.id), str(module.id))
    assert [m.subject for m in outbox if m.to == ["boss@example.com"]] == ["100% of the seats of Keys are used"]
