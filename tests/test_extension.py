"""The extension object as a host wires it: mistakes in the wiring are refused with a message that says what to do."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_admin import Admin
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import orm

from flask_learning_contracts import ContractRules, LearningContracts, models

from . import host


def _app(tmp_path, name: str) -> Flask:
    app = Flask(name)
    app.config.update(SECRET_KEY="x", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / name}.db")
    return app


def _other_host():
    """A second host with its own ``db`` (and so its own metadata and mapped classes)."""

    class Base(orm.DeclarativeBase):
        pass

    db = SQLAlchemy(model_class=Base)

    class Person(db.Model):
        __tablename__ = "people"
        id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
        email: orm.Mapped[str] = orm.mapped_column(sa.String(320))

    class Lesson(db.Model):
        __tablename__ = "lessons"
        id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
        title: orm.Mapped[str] = orm.mapped_column(sa.String(200))

    return db, Person, Lesson


@pytest.mark.parametrize("option", ["rule", "url_prefx", "user"])
def test_a_misspelt_option_is_refused_instead_of_silently_ignored(tmp_path, option):
    app = _app(tmp_path, "typo")
    host.db.init_app(app)
    with pytest.raises(TypeError, match=f"unknown option.*{option}"):
        LearningContracts(app, db=host.db, user_model=host.Account, activity_model=host.Course,
                          **{option: "x"})
    with pytest.raises(TypeError, match="unknown option"):
        LearningContracts(db=host.db, user_model=host.Account, activity_model=host.Course).init_app(
            app, **{option: "x"})


def test_settings_in_lower_case_are_options(tmp_path):
    app = _app(tmp_path, "prefix")
    host.db.init_app(app)
    LearningContracts(app, db=host.db, user_model=host.Account, activity_model=host.Course, url_prefix="/lc")
    assert app.config["LEARNING_CONTRACTS_URL_PREFIX"] == "/lc"


def test_one_rules_instance_cannot_serve_two_databases(tmp_path):
    rules = ContractRules()
    first = _app(tmp_path, "first")
    host.db.init_app(first)
    LearningContracts(first, db=host.db, user_model=host.Account, activity_model=host.Course, rules=rules)
    db, person, lesson = _other_host()
    second = _app(tmp_path, "second")
    db.init_app(second)
    with pytest.raises(RuntimeError, match="another database.*class or a dotted path"):
        LearningContracts(second, db=db, user_model=person, activity_model=lesson, rules=rules)
    # A class gives each app its own instance.
    third = _app(tmp_path, "third")
    db.init_app(third)
    LearningContracts(third, db=db, user_model=person, activity_model=lesson, rules=ContractRules)


def test_one_admin_cannot_show_the_contracts_of_two_databases(tmp_path):
    admin = Admin()
    first = _app(tmp_path, "first")
    host.db.init_app(first)
    admin.init_app(first)
    LearningContracts(first, db=host.db, user_model=host.Account, activity_model=host.Course, admin=admin)
    db, person, lesson = _other_host()
    second = _app(tmp_path, "second")
    db.init_app(second)
    with pytest.raises(RuntimeError, match="already shows learning contracts.*another database"):
        LearningContracts(second, db=db, user_model=person, activity_model=lesson, admin=admin)


def test_typed_classes_annotate_and_the_mapped_classes_query(app):
    mapped = app.extensions["learning_contracts"].models
    assert issubclass(mapped.Contract, models.Contract)
    assert mapped.Contract.__qualname__ == "Models.Contract"  # never mistaken for the typed class in an error
    with pytest.raises(sa.exc.ArgumentError, match=r"models\.Contract"):
        sa.select(models.Contract)  # the typed class is not mapped: query with state.models.Contract
