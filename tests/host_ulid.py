"""A second host LMS for the tests: 26-character string primary keys (ULIDs) and an e-mail column with
another name, on its OWN ``SQLAlchemy()`` instance (the extension builds its models once per metadata).

Tables ``members`` and ``trainings``; the member's e-mail lives in the column ``mail`` behind the
attribute ``primary_email``; the hooks say so (the host never adapts to the extension).
"""
from __future__ import annotations

import datetime as dt
import os
import time

import sqlalchemy as sa
from flask import Flask
from flask_login import UserMixin
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import orm

from flask_learning_contracts import ContractRules, LearningContracts

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_ulid() -> str:
    """A ULID: 48-bit millisecond time + 80 random bits, 26 Crockford base-32 characters."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


class Base(orm.DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Member(db.Model, UserMixin):
    __tablename__ = "members"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(26), primary_key=True, default=new_ulid)
    primary_email: orm.Mapped[str] = orm.mapped_column("mail", sa.String(254), unique=True)
    display: orm.Mapped[str] = orm.mapped_column(sa.String(100), default="")
    staff: orm.Mapped[bool] = orm.mapped_column(default=False)


class Training(db.Model):
    __tablename__ = "trainings"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(26), primary_key=True, default=new_ulid)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(200))
    format: orm.Mapped[str] = orm.mapped_column(sa.String(20), default="online")


class TrainingSeat(db.Model):
    __tablename__ = "training_seats"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(26), primary_key=True, default=new_ulid)
    member_id: orm.Mapped[str] = orm.mapped_column(sa.ForeignKey("members.id"))
    training_id: orm.Mapped[str] = orm.mapped_column(sa.ForeignKey("trainings.id"))


class UlidRules(ContractRules):
    """Hooks for this host: its own e-mail attribute, activity name and kind, one-query user lookup."""

    def __init__(self) -> None:
        self.clock = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.timezone.utc)
        self.sent: list[str] = []

    def now(self) -> dt.datetime:
        return self.clock

    def can_manage_contracts(self, user) -> bool:
        return bool(getattr(user, "staff", False))

    def user_email(self, user) -> str | None:
        return user.primary_email

    def user_display_name(self, user) -> str:
        return user.display or user.primary_email

    def find_user_by_email(self, email: str):
        return db.session.execute(
            sa.select(Member).where(sa.func.lower(Member.primary_email) == email.lower())).scalars().first()

    def find_users_by_email(self, emails):
        wanted = sorted({e.lower() for e in emails})
        rows = db.session.execute(sa.select(Member).where(sa.func.lower(Member.primary_email).in_(wanted))).scalars()
        return {m.primary_email.lower(): m for m in rows}

    def search_users(self, text: str, limit: int = 20):
        return list(db.session.execute(
            sa.select(Member).where(Member.primary_email.contains(text, autoescape=True)).limit(limit)).scalars())

    def activity_title(self, activity) -> str:
        return activity.name

    def activity_kind(self, activity) -> str:
        return activity.format

    def enroll_in_activity(self, user, activity, contract) -> None:
        db.session.add(TrainingSeat(member_id=user.id, training_id=activity.id))
        db.session.flush()

    def is_enrolled_in_activity(self, user, activity) -> bool:
        return db.session.execute(sa.select(TrainingSeat.id).where(
            TrainingSeat.member_id == user.id, TrainingSeat.training_id == activity.id)).first() is not None

    def send_invitation(self, invitation, resend: bool = False) -> None:
        self.sent.append(invitation.email)


def create_app(database_url: str, **config) -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="ulid-secret", SQLALCHEMY_DATABASE_URI=database_url, TESTING=True, **config)
    db.init_app(app)
    LearningContracts(app, db=db, user_model=Member, activity_model=Training, rules=UlidRules())
    return app
