"""A minimal host for the built-wheel check in ``.ci/run`` (not collected by pytest).

Run with the Python of a fresh virtualenv where only the wheel is installed, from outside the checkout:
``FLASK_APP=/path/to/smoke_host.py flask contracts db upgrade`` and the other commands. It proves the wheel
carries the whole package (every subpackage, templates, static files, migrations).
"""
from __future__ import annotations

import os

import sqlalchemy as sa
from flask import Flask
from flask_login import LoginManager, UserMixin
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import orm

from flask_learning_contracts import ContractRules, LearningContracts


class Base(orm.DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Member(db.Model, UserMixin):  # type: ignore[name-defined, misc]
    __tablename__ = "members"
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    email: orm.Mapped[str] = orm.mapped_column(sa.String(320), unique=True)


class Training(db.Model):  # type: ignore[name-defined, misc]
    __tablename__ = "trainings"
    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    title: orm.Mapped[str] = orm.mapped_column(sa.String(200))


def create_app() -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="smoke", SQLALCHEMY_DATABASE_URI=os.environ["SMOKE_DATABASE_URL"])
    db.init_app(app)
    LoginManager(app)
    LearningContracts(app, db=db, user_model=Member, activity_model=Training, rules=ContractRules())
    with app.app_context():  # the host's own tables first (a host would run its own migrations)
        Member.__table__.create(db.engine, checkfirst=True)
        Training.__table__.create(db.engine, checkfirst=True)
    return app


app = create_app()
