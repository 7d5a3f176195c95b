"""The host LMS's own tables (named as this host likes; the extension adapts to them)."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask_login import UserMixin
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import orm
from werkzeug.security import check_password_hash, generate_password_hash


class Base(orm.DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)

KINDS = {"online": "Online course", "ilt": "Instructor-led training", "certification": "Certification program"}


class Member(db.Model, UserMixin):
    """A person with a login."""

    __tablename__ = "lms_members"
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    email: orm.Mapped[str] = orm.mapped_column(sa.String(320), unique=True)
    full_name: orm.Mapped[str] = orm.mapped_column(sa.String(120))
    password_hash: orm.Mapped[str] = orm.mapped_column(sa.String(256))
    is_admin: orm.Mapped[bool] = orm.mapped_column(default=False)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def __str__(self) -> str:
        return f"{self.full_name} <{self.email}>"


class LearningActivity(db.Model):
    """Something a member can enroll in."""

    __tablename__ = "lms_activities"
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    title: orm.Mapped[str] = orm.mapped_column(sa.String(200))
    kind: orm.Mapped[str] = orm.mapped_column(sa.String(20), default="online")
    published: orm.Mapped[bool] = orm.mapped_column(default=True)

    def __str__(self) -> str:
        return self.title


class ActivityEnrollment(db.Model):
    """The host's own enrollment record (the extension asks the host to write it)."""

    __tablename__ = "lms_enrollments"
    __table_args__ = (sa.UniqueConstraint("member_id", "activity_id"),)
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    member_id: orm.Mapped[int] = orm.mapped_column(sa.ForeignKey("lms_members.id"))
    activity_id: orm.Mapped[int] = orm.mapped_column(sa.ForeignKey("lms_activities.id"))
    enrolled_at: orm.Mapped[dt.datetime] = orm.mapped_column(default=lambda: dt.datetime.now(dt.UTC))
    member = orm.relationship(Member)
    activity = orm.relationship(LearningActivity)
