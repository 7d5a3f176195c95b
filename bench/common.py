"""Shared helpers of the benchmark scenarios: sizes, timing, query counting, a fresh database, machine info.

Every place where the bench needs the extension's per-app state goes through :func:`models` (and the host's
``host.db``), so a change in how the extension exposes its models is fixed here once.
"""
from __future__ import annotations

import datetime as dt
import gc
import os
import platform
import sqlite3
import statistics
import time
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from bench import host
from flask_learning_contracts import ContractType, services

TODAY = dt.date.today()
N_INVITE = 10_000
N_ENROLL = 1_000
WORKERS = 4


def models(app=None):
    """The extension's model classes (``Contract``, ``Invitation``, ``Seat``, …) of ``app``, or of the current
    app when ``app`` is None. The one place the bench reaches the extension's per-app state."""
    if app is None:
        from flask import current_app
        app = current_app
    return app.extensions["learning_contracts"].models


@contextmanager
def count_queries(engine):
    """Yield a dict whose ``"n"`` counts the SQL statements ``engine`` sends to the database inside the block."""
    counter = {"n": 0}

    def before(conn, cursor, statement, parameters, context, executemany):
        counter["n"] += 1

    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        yield counter
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)


def wal_position(engine):
    """PostgreSQL's current write-ahead-log position in bytes (None elsewhere): what a commit must flush
    grows with it, so bytes per transaction explain a ratio that moves with the disk's flush latency."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')")).scalar_one()


def timed(fn):
    """Collect garbage, then call ``fn()``: return (seconds it took, its result)."""
    gc.collect()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def median(values):
    """The median of ``values``, None when there are none."""
    return statistics.median(values) if values else None


def new_contract(code, contract_type=ContractType.SUBSCRIPTION, seats=100_000, require_code=False, **kw):
    """A contract created through ``services.create_contract``, valid from 30 days ago to a year from now."""
    return services.create_contract(
        code=code, title=f"Bench {code}", contract_type=contract_type, seats=seats,
        valid_from=TODAY - dt.timedelta(days=30), valid_until=TODAY + dt.timedelta(days=365),
        require_invitation_code=require_code, **kw)


def fresh_database(app, n_users):
    """Drop and create every table; seed managers, learners and activities with Core."""
    db = host.db
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.create_all()
        with db.engine.begin() as conn:
            conn.execute(sa.insert(host.Member.__table__), [
                {"email": "manager@example.com", "name": "Manager", "is_manager": True}])
            conn.execute(sa.insert(host.Member.__table__), [
                {"email": f"learner{i}@example.com", "name": f"Learner {i}", "is_manager": False}
                for i in range(n_users)])
            conn.execute(sa.insert(host.Activity.__table__), [
                {"title": f"Activity {i}", "kind": "online"} for i in range(1, 6)])


def learner_ids(limit, offset=0):
    """Ids of ``limit`` learners (non-managers) in id order, skipping the first ``offset``."""
    db = host.db
    return list(db.session.execute(
        sa.select(host.Member.id).where(host.Member.is_manager.is_(False)).order_by(host.Member.id)
        .offset(offset).limit(limit)).scalars())


def clear_contract(cid):
    """Delete a contract's rows (keeps table sizes equal between repeats)."""
    m = models()
    with host.db.engine.begin() as conn:
        inv = sa.select(m.Invitation.id).where(m.Invitation.contract_id == cid).scalar_subquery()
        conn.execute(sa.delete(m.InvitationActivity.__table__).where(m.InvitationActivity.invitation_id.in_(inv)))
        for t in (m.Notification, m.Enrollment, m.Seat, m.Invitation, m.ContractActivity, m.ContractAdmin):
            conn.execute(sa.delete(t.__table__).where(t.contract_id == cid))
        conn.execute(sa.delete(host.ActivityEnrollment.__table__))


def machine_info(pg_url=None):
    """CPU, versions and the load average at the start; with ``pg_url`` also the server's version and its
    ``fsync`` / ``synchronous_commit`` settings."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version, "sqlalchemy": sa.__version__, "platform": platform.platform(),
        "loadavg_start": os.getloadavg(),
    }
    if pg_url:
        engine = sa.create_engine(pg_url)
        with engine.connect() as conn:
            info["postgresql"] = conn.execute(sa.text("SHOW server_version")).scalar_one()
            info["postgresql_fsync"] = conn.execute(sa.text("SHOW fsync")).scalar_one()
            info["postgresql_synchronous_commit"] = conn.execute(sa.text("SHOW synchronous_commit")).scalar_one()
        engine.dispose()
    return info
