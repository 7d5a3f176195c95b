"""A small host LMS for the benchmark, shaped like ``tests/host.py`` and like a real LMS at scale.

Differences from the test host, on purpose: the clock is real (contracts are valid around today), the
users table has the index a host with many users has for case-insensitive e-mail look-ups
(``lower(email)``), and notifications are queued in memory (a real host would enqueue a mail job).
Everything else is the extension as shipped: the default ``find_users_by_email`` (one query per batch),
the default engine settings of SQLAlchemy / pysqlite / psycopg.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import Flask, render_template_string
from flask_login import LoginManager, UserMixin
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import orm

from flask_learning_contracts import ContractRules, LearningContracts


class Base(orm.DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Member(db.Model, UserMixin):
    __tablename__ = "bench_members"
    __table_args__ = (sa.Index("ix_bench_members_email_lower", sa.text("lower(email)")),)
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    email: orm.Mapped[str] = orm.mapped_column(sa.String(320), unique=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(100), default="")
    is_manager: orm.Mapped[bool] = orm.mapped_column(default=False)


class Activity(db.Model):
    __tablename__ = "bench_activities"
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    title: orm.Mapped[str] = orm.mapped_column(sa.String(200))
    kind: orm.Mapped[str] = orm.mapped_column(sa.String(20), default="online")


class ActivityEnrollment(db.Model):
    __tablename__ = "bench_activity_enrollments"
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    member_id: orm.Mapped[int] = orm.mapped_column(sa.ForeignKey("bench_members.id"))
    activity_id: orm.Mapped[int] = orm.mapped_column(sa.ForeignKey("bench_activities.id"))


#: The minimal floor's table: an invitation with nothing but what any invitation needs (id, contract, e-mail,
#: status, time) and one unique index, no foreign keys. Inserting into it is the least any module could do.
minimal_invitation = sa.Table(
    "bench_minimal_invitation", db.metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("contract_id", sa.Integer, nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("invited_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("contract_id", "email", name="uq_bench_minimal_invitation"),
)


class BenchRules(ContractRules):
    def __init__(self) -> None:
        self.outbox: list[str] = []

    def can_manage_contracts(self, user) -> bool:
        return bool(getattr(user, "is_manager", False))

    def enroll_in_activity(self, user, activity, contract) -> None:
        db.session.add(ActivityEnrollment(member_id=user.id, activity_id=activity.id))

    def send_invitation(self, invitation, resend: bool = False) -> None:
        self.outbox.append(invitation.email)  # a real host enqueues a mail job here


def create_app(database_url: str, rules: ContractRules | None = None, **config) -> Flask:
    """The bench host on ``database_url``, with ``rules`` (default :class:`BenchRules`, "our host")."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="bench-secret", SQLALCHEMY_DATABASE_URI=database_url, TESTING=True,
        **config,
    )
    db.init_app(app)
    login = LoginManager(app)

    @login.user_loader
    def load(user_id: str):
        return db.session.get(Member, int(user_id))

    LearningContracts(app, db=db, user_model=Member, activity_model=Activity, rules=rules or BenchRules())

    @app.route("/bench-home")
    def bench_home():  # the host's own page embedding the learner widget
        return render_template_string("<main><h1>Home</h1>{{ learning_contracts_widget() }}</main>")

    return app
