"""Shared fixtures: a host app on SQLite (or PostgreSQL when LEARNING_CONTRACTS_TEST_DATABASE_URL is set)."""
from __future__ import annotations

import datetime as dt
import itertools
import os

import pytest
import sqlalchemy as sa

from flask_learning_contracts import ContractType, services

from . import host

PG_URL = os.environ.get("LEARNING_CONTRACTS_TEST_DATABASE_URL")
if os.environ.get("LC_REQUIRE_POSTGRES") and not (PG_URL or "").startswith("postgresql"):
    raise pytest.UsageError("LC_REQUIRE_POSTGRES is set but LEARNING_CONTRACTS_TEST_DATABASE_URL is not PostgreSQL")
_emails = itertools.count(1)


def database_url(tmp_path) -> str:
    return PG_URL or f"sqlite:///{tmp_path / 'test.db'}"


def reset_database(db) -> None:
    db.drop_all()
    db.create_all()


def _host_app(tmp_path, **config):
    app = host.create_app(database_url(tmp_path), **config)
    with app.app_context():
        reset_database(host.db)
        yield app
        host.db.session.remove()
        if PG_URL:
            host.db.drop_all()
        host.db.engine.dispose()


@pytest.fixture
def app(tmp_path):
    yield from _host_app(tmp_path)


@pytest.fixture
def api_app(tmp_path):
    """The host app with the integration API switched on (tests/test_api*.py)."""
    yield from _host_app(tmp_path, LEARNING_CONTRACTS_API=True)


@pytest.fixture
def db(app):
    return host.db


@pytest.fixture
def rules(app):
    return app.extensions["learning_contracts"].rules


@pytest.fixture
def make_user(db):
    def make(email: str | None = None, *, manager: bool = False, name: str = ""):
        user = host.Account(email_address=email or f"learner{next(_emails)}@example.com", is_manager=manager,
                            name=name)
        db.session.add(user)
        db.session.commit()
        return user

    return make


@pytest.fixture
def make_course(db):
    counter = itertools.count(1)

    def make(title: str | None = None, kind: str = "online", retired: bool = False):
        course = host.Course(title=title or f"Course {next(counter)}", kind=kind, retired=retired)
        db.session.add(course)
        db.session.commit()
        return course

    return make


@pytest.fixture
def make_contract(app):
    counter = itertools.count(1)

    def make(contract_type=ContractType.VOUCHER, *, seats=10, activities=(), **fields):
        values = dict(
            code=f"LC-{next(counter)}", title="Contract", contract_type=contract_type, seats=seats,
            valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2026, 12, 31),
        )
        values.update(fields)
        contract = services.create_contract(**values)
        if activities:
            services.add_activities(contract, activities)
        return contract

    return make


def count(db, model, *where) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model).where(*where)).scalar_one()


@pytest.fixture
def m(app):
    """The extension's model classes (built on the host's metadata)."""
    return app.extensions["learning_contracts"].models


def invite_one(contract, user, **kwargs):
    """Invite one registered learner and return the new invitation."""
    report = services.invite(contract, users=[user], **kwargs)
    assert len(report.invited) == 1, report
    return services.get_invitation(report.invited[0].invitation_id)


def in_another_request(app, work):
    """Run ``work()`` as another request would, while the caller is in the middle of a service call: in a
    thread of its own (so outside the caller's transaction), with its own app context and session, committed
    before this returns. Returns what ``work`` returned; re-raises what it raised."""
    import threading

    outcome: dict = {}

    def run():
        with app.app_context():
            try:
                outcome["value"] = work()
            except BaseException as error:  # noqa: BLE001 - handed to the caller
                outcome["error"] = error
            finally:
                host.db.session.remove()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


@pytest.fixture
def received():
    """``received(signal, probe=None)`` starts recording ``signal``; each call is (sender, kwargs, probe())."""
    connected = []

    def listen(signal, probe=None):
        calls = []

        def receiver(sender, **kwargs):
            calls.append((sender, kwargs, probe(kwargs) if probe else None))

        signal.connect(receiver, weak=False)
        connected.append((signal, receiver))
        return calls

    yield listen
    for signal, receiver in connected:
        signal.disconnect(receiver)
