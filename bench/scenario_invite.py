"""Scenario 1, ``invite``: bulk invite by CSV.

``services.invite_csv`` of 10,000 e-mails (half existing users, half unknown, a header, mixed case) into a
fresh Subscription contract, on two hosts (``bench/host.py`` and ``bench/host_hooks.py``: per-invitation hooks
and a chunked user look-up), vs two floors: Core ``conn.execute(insert(lc_invitation), rows)`` of the same
10,000 rows plus commit (our own table, with its indexes and foreign keys), and the same into a minimal table
(id, contract, e-mail, status, time; one unique index). The order of the four runs rotates between repeats.
"""
from __future__ import annotations

import datetime as dt
import io
import random

import sqlalchemy as sa

from bench import host
from bench.common import (
    N_INVITE,
    clear_contract,
    count_queries,
    models,
    new_contract,
    timed,
)
from flask_learning_contracts import InvitationStatus, services


def invite_csv_bytes(existing, r, n):
    """A CSV upload (header ``Email``) of ``n`` addresses: ``existing`` (every third upper-cased) plus unknown
    ones, shuffled with seed ``r``. Returns (the file's bytes, the addresses in file order)."""
    unknown = [f"new{r}-{i}@example.net" for i in range(n - len(existing))]
    emails = [e.upper() if i % 3 == 0 else e for i, e in enumerate(existing)] + unknown
    random.Random(r).shuffle(emails)
    return ("Email\n" + "\n".join(emails) + "\n").encode("utf-8"), emails


def scenario_invite(apps, repeat, n=N_INVITE):
    """Time ``repeat`` runs of ``n`` e-mails on each host of ``apps`` (name → app; the first one also runs the
    floors): ``{"module": {host: [s…]}, "floor": [s…], "floor_minimal": [s…], "queries": {host: n}}``
    (queries: SQL statements of one ``invite_csv`` call). The order of the runs rotates between repeats; the
    contracts' rows are deleted after each repeat."""
    db = host.db
    main = next(iter(apps.values()))
    m = models(main)
    table = m.Invitation.__table__
    out = {"module": {name: [] for name in apps}, "floor": [], "floor_minimal": [], "queries": {}}
    with main.app_context():
        existing = [e for e in db.session.execute(
            sa.select(host.Member.email).where(host.Member.is_manager.is_(False)).order_by(host.Member.id)
            .limit(n // 2)).scalars()]
        ids_by_email = dict(db.session.execute(
            sa.select(host.Member.email, host.Member.id).where(host.Member.email.in_(existing))).all())
    for r in range(repeat):
        data, emails = invite_csv_bytes(existing, r, n)
        contracts = {}
        for name, app in apps.items():
            with app.app_context():
                contracts[name] = new_contract(f"INV-{name}-{r}").id
        with main.app_context():
            floor_contract = new_contract(f"INVF-{r}")
            fcid, require = floor_contract.id, floor_contract.require_invitation_code
            db.session.remove()
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        rows, minimal_rows = [], []
        for e in emails:
            uid = ids_by_email.get(e.lower())
            status = InvitationStatus.OUTSTANDING if uid else InvitationStatus.NOT_REGISTERED
            rows.append({
                "contract_id": fcid, "user_id": uid, "email": e.lower(), "status": status,
                "require_code": require, "enrolled_count": 0, "invited_at": now, "invited_by": "Manager",
                "last_sent_at": now, "send_count": 1})
            minimal_rows.append({"contract_id": r, "email": e.lower(), "status": status.value, "invited_at": now})

        def module(name, contracts=contracts, data=data):
            app = apps[name]

            def run():
                with app.app_context():
                    contract = db.session.get(m.Contract, contracts[name])
                    with count_queries(db.engine) as q:
                        report = services.invite_csv(contract, io.BytesIO(data))
                    assert report.created == n and len(report.invited) == n // 2, (
                        report.created, len(report.invited))
                    db.session.remove()
                    return q["n"]
            return run

        def floor(rows=rows):
            with main.app_context(), db.engine.begin() as conn:
                conn.execute(sa.insert(table), rows)

        def floor_minimal(minimal_rows=minimal_rows):
            with main.app_context(), db.engine.begin() as conn:
                conn.execute(sa.insert(host.minimal_invitation), minimal_rows)

        order = [(name, module(name)) for name in apps] + [("floor", floor), ("floor_minimal", floor_minimal)]
        order = order[r % len(order):] + order[:r % len(order)]
        for name, fn in order:
            elapsed, result = timed(fn)
            if name in apps:
                out["module"][name].append(elapsed)
                out["queries"][name] = result
            else:
                out[name].append(elapsed)
        with main.app_context():
            for cid in (*contracts.values(), fcid):
                clear_contract(cid)
            with db.engine.begin() as conn:
                conn.execute(sa.delete(host.minimal_invitation))
    return out
