"""A small host LMS for the tests: its own table names, key and e-mail columns, and enrollment table.

It deliberately does not use the defaults the extension guesses (``users``/``email``): tables are
``accounts`` and ``courses``, the e-mail column is ``email_address``.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import Flask
from flask_login import LoginManager, UserMixin
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import orm

from flask_learning_contracts import ContractRules, LearningContracts


class Base(orm.DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Account(db.Model, UserMixin):
    __tablename__ = "accounts"
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    email_address: orm.Mapped[str] = orm.mapped_column(sa.String(320), unique=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(100), default="")
    is_manager: orm.Mapped[bool] = orm.mapped_column(default=False)


class Course(db.Model):
    __tablename__ = "courses"
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    title: orm.Mapped[str] = orm.mapped_column(sa.String(200))
    kind: orm.Mapped[str] = orm.mapped_column(sa.String(20), default="online")
    retired: orm.Mapped[bool] = orm.mapped_column(default=False)


class CourseEnrollment(db.Model):
    __tablename__ = "course_enrollments"
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    account_id: orm.Mapped[int] = orm.mapped_column(sa.ForeignKey("accounts.id"))
    course_id: orm.Mapped[int] = orm.mapped_column(sa.ForeignKey("courses.id"))


class HostRules(ContractRules):
    """Hooks as a host would write them, plus knobs the tests turn (clock, failures)."""

    def __init__(self) -> None:
        self.clock = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.timezone.utc)
        self.sent: list[tuple[str, bool]] = []
        self.fail_enrollment: Exception | None = None
        self.fail_notification: Exception | None = None

    def now(self) -> dt.datetime:
        return self.clock

    def set_today(self, day: dt.date) -> None:
        self.clock = dt.datetime(day.year, day.month, day.day, 12, 0, tzinfo=dt.timezone.utc)

    def can_manage_contracts(self, user) -> bool:
        return bool(getattr(user, "is_manager", False))

    def eligible_activities(self):
        return sa.select(Course).where(Course.retired.is_(False))

    def enroll_in_activity(self, user, activity, contract) -> None:
        db.session.add(CourseEnrollment(account_id=user.id, course_id=activity.id))
        db.session.flush()
        if self.fail_enrollment is not None:
            raise self.fail_enrollment

    def is_enrolled_in_activity(self, user, activity) -> bool:
        return False

    def send_invitation(self, invitation, resend: bool = False) -> None:
        if self.fail_notification is not None:
            raise self.fail_notification
        self.sent.append((invitation.email, resend))


def create_app(database_url: str, **config) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="test-secret", SQLALCHEMY_DATABASE_URI=database_url, TESTING=True,
        LEARNING_CONTRACTS_USER_EMAIL_ATTR="email_address", **config,
    )
    db.init_app(app)
    login = LoginManager(app)

    @login.user_loader
    def load(user_id: str):
        return db.session.get(Account, int(user_id))

    LearningContracts(app, db=db, user_model=Account, activity_model=Course, rules=HostRules())
    return app
