"""Scenario 1, ``invite``: bulk invite by CSV.

``services.invite_csv`` of 10,000 e-mails (half existing users, half unknown, a header, mixed case) into a
fresh Subscription contract, vs the floor: Core ``conn.execute(insert(lc_invitation), rows)`` of the same
10,000 rows plus commit. Module and floor runs alternate their order between repeats.
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


def scenario_invite(app, repeat, n=N_INVITE):
    """Time ``repeat`` module and floor runs of ``n`` e-mails: ``{"module": [s…], "floor": [s…], "queries": n}``
    (queries: SQL statements of one ``invite_csv`` call). The contracts' rows are deleted after each repeat."""
    db, m = host.db, models(app)
    table = m.Invitation.__table__
    out = {"module": [], "floor": [], "queries": None}
    with app.app_context():
        existing = [e for e in db.session.execute(
            sa.select(host.Member.email).where(host.Member.is_manager.is_(False)).order_by(host.Member.id)
            .limit(n // 2)).scalars()]
        ids_by_email = dict(db.session.execute(
            sa.select(host.Member.email, host.Member.id).where(host.Member.email.in_(existing))).all())
        for r in range(repeat):
            data, emails = invite_csv_bytes(existing, r, n)
            contract = new_contract(f"INV-{r}")
            floor_contract = new_contract(f"INVF-{r}")
            cid, fcid, require = contract.id, floor_contract.id, floor_contract.require_invitation_code
            now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
            rows = []
            for e in emails:
                uid = ids_by_email.get(e.lower())
                rows.append({
                    "contract_id": fcid, "user_id": uid, "email": e.lower(),
                    "status": InvitationStatus.OUTSTANDING if uid else InvitationStatus.NOT_REGISTERED,
                    "require_code": require, "enrolled_count": 0, "invited_at": now, "invited_by": "Manager",
                    "last_sent_at": now, "send_count": 1})

            def module():
                with count_queries(db.engine) as q:
                    report = services.invite_csv(contract, io.BytesIO(data))
                assert report.created == n and len(report.invited) == n // 2, (report.created, len(report.invited))
                return q["n"]

            def floor():
                with db.engine.begin() as conn:
                    conn.execute(sa.insert(table), rows)

            order = [("module", module), ("floor", floor)]
            if r % 2:
                order.reverse()
            for name, fn in order:
                elapsed, result = timed(fn)
                out[name].append(elapsed)
                if name == "module":
                    out["queries"] = result
            db.session.remove()
            clear_contract(cid)
            clear_contract(fcid)
    return out
