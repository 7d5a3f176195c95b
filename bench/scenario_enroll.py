"""Scenario 2, ``enroll``: sequential enrollments.

1,000 sequential ``services.enroll`` calls of distinct learners (one transaction each) vs the floor: 1,000
single-row Core insert transactions of the same enrollment rows, and 1,000 single-row transactions into the
minimal table (id, contract, e-mail, status, time), on both bench hosts. Also, for information, the same writes by
hand, and on PostgreSQL the write-ahead-log bytes per transaction of each. The order of the three rotates
between repeats.
"""
from __future__ import annotations

import datetime as dt
import gc
import time

import sqlalchemy as sa

from bench import host
from bench.common import (
    N_ENROLL,
    clear_contract,
    count_queries,
    learner_ids,
    models,
    new_contract,
    wal_position,
)
from flask_learning_contracts import ContractType, InvitationStatus, services


def scenario_enroll(apps, repeat, n=N_ENROLL):
    """Time ``repeat`` runs of ``n`` enrollments each way, on each host of ``apps`` (name → app; the first one
    also runs the floors): ``{"module": {host: [s…]}, "floor": [s…], "floor_minimal": [s…], "by_hand": [s…],
    "queries": {host: most SQL statements of one enroll}, "wal": {way: [bytes per transaction…]} (PostgreSQL
    only), "check_seats": [problems…]}``. Asserts each module contract used exactly ``n`` seats; prints any
    ``check_seats`` mismatch. The contracts' rows are deleted after each repeat."""
    db = host.db
    app = next(iter(apps.values()))
    m = models(app)
    table = m.Enrollment.__table__
    out = {"module": {name: [] for name in apps}, "floor": [], "floor_minimal": [], "by_hand": [], "queries": {},
           "wal": {}}
    inv_t, con_t = m.Invitation.__table__, m.Contract.__table__
    # "The same writes by hand": what the module writes for one enrollment, as plain Core statements in one
    # transaction (no checks, no retries, no hooks): lock the invitation, take a seat, seat / enrollment /
    # history rows, the host's enrollment row. Informational: the target compares with the one-row floor.
    lock = (sa.update(inv_t).where(inv_t.c.id == sa.bindparam("p_i"))
            .values(enrolled_count=inv_t.c.enrolled_count + 1, status=InvitationStatus.ENROLLED))
    take = (sa.update(con_t).where(con_t.c.id == sa.bindparam("p_c"), con_t.c.seats_used < con_t.c.seats)
            .values(seats_used=con_t.c.seats_used + 1))
    inserts = [sa.insert(t) for t in (m.Seat.__table__, table, m.HistoryEntry.__table__,
                                      host.ActivityEnrollment.__table__)]
    with app.app_context():
        activity_ids = list(db.session.execute(sa.select(host.Activity.id).order_by(host.Activity.id)).scalars())
        aid = activity_ids[0]
        # each host enrolls the learners in an activity of its own: the host's enrollment rows of one host
        # must not make the other's learners "already enrolled"
        host_aid = {name: activity_ids[i % len(activity_ids)] for i, name in enumerate(apps)}
        uids = learner_ids(n)
        for r in range(repeat):
            contracts = {name: new_contract(f"ENR-{name}-{r}", ContractType.VOUCHER, seats=n) for name in apps}
            floor_contract = new_contract(f"ENRF-{r}", ContractType.VOUCHER, seats=n)
            hand_contract = new_contract(f"ENRH-{r}", ContractType.VOUCHER, seats=n)
            for name, c in [*contracts.items(), ("", floor_contract), ("", hand_contract)]:
                services.add_activities(c, [host_aid.get(name, aid)])
                users = db.session.execute(sa.select(host.Member).where(host.Member.id.in_(uids))).scalars().all()
                services.invite(c, users=users)
            cids = {name: c.id for name, c in contracts.items()}
            fcid, hcid = floor_contract.id, hand_contract.id
            inv_by_user = dict(db.session.execute(
                sa.select(m.Invitation.user_id, m.Invitation.id).where(m.Invitation.contract_id == fcid)).all())
            hand_inv_by_user = dict(db.session.execute(
                sa.select(m.Invitation.user_id, m.Invitation.id).where(m.Invitation.contract_id == hcid)).all())
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            minimal_rows = [{"contract_id": fcid, "email": f"learner{u}@example.com", "status": "enrolled",
                             "invited_at": now} for u in uids]
            floor_rows = [{"contract_id": fcid, "invitation_id": inv_by_user[u], "user_id": u, "activity_id": aid,
                           "seat_used": True, "created_at": now} for u in uids]
            hand_rows = [(
                {"p_i": hand_inv_by_user[u], "p_c": hcid},
                [{"contract_id": hcid, "user_id": u, "activity_id": aid, "created_at": now},
                 {"contract_id": hcid, "invitation_id": hand_inv_by_user[u], "user_id": u, "activity_id": aid,
                  "seat_used": True, "created_at": now},
                 {"at": now, "contract_id": hcid, "contract_code": f"ENRH-{r}", "action": "enrolled",
                  "message": f"learner {u} enrolled (one seat used).", "invitation_id": hand_inv_by_user[u],
                  "actor_id": str(u), "actor_name": f"Learner {u}"},
                 {"member_id": u, "activity_id": aid}]) for u in uids]
            db.session.remove()

            def module(name, cids=cids):
                def run():
                    total, queries = 0.0, 0
                    with apps[name].app_context():
                        contract = db.session.get(m.Contract, cids[name])
                        activity = db.session.get(host.Activity, host_aid[name])
                        for uid in uids:
                            user = db.session.get(host.Member, uid)
                            # loaded as the learner page has them when it calls enroll (it passes the activity)
                            user.email, contract.title, activity.title  # noqa: B018
                            with count_queries(db.engine) as q:
                                start = time.perf_counter()
                                services.enroll(user, contract, activity)
                                total += time.perf_counter() - start
                            queries = max(queries, q["n"])
                        db.session.remove()
                    return total, queries
                return run

            def floor_minimal(minimal_rows=minimal_rows):
                total = 0.0
                for row in minimal_rows:
                    start = time.perf_counter()
                    with db.engine.begin() as conn:
                        conn.execute(sa.insert(host.minimal_invitation), row)
                    total += time.perf_counter() - start
                return total, None

            def floor(floor_rows=floor_rows):
                total = 0.0
                for row in floor_rows:
                    start = time.perf_counter()
                    with db.engine.begin() as conn:
                        conn.execute(sa.insert(table), row)
                    total += time.perf_counter() - start
                return total, None

            def by_hand(hand_rows=hand_rows):
                total = 0.0
                for params, rows in hand_rows:
                    start = time.perf_counter()
                    with db.engine.begin() as conn:
                        conn.execute(lock, params)
                        conn.execute(take, params)
                        for statement, row in zip(inserts, rows):
                            conn.execute(statement, row)
                    total += time.perf_counter() - start
                return total, None

            order = [(name, module(name)) for name in apps] + [
                ("floor", floor), ("floor_minimal", floor_minimal), ("by_hand", by_hand)]
            order = order[r % len(order):] + order[:r % len(order)]
            for name, fn in order:
                gc.collect()
                wal_before = wal_position(db.engine)
                elapsed, queries = fn()
                if wal_before is not None:
                    key = "module" if name == next(iter(apps)) else name
                    out["wal"].setdefault(key, []).append(float(wal_position(db.engine) - wal_before) / n)
                if name in apps:
                    out["module"][name].append(elapsed)
                    out["queries"][name] = queries
                else:
                    out[name].append(elapsed)
            db.session.remove()
            for cid in cids.values():
                c = db.session.get(m.Contract, cid)
                assert c.seats_used == n, c.seats_used
            # the module's contracts only: the floor writes bare enrollment rows (no seats) on purpose
            problems = [p for p in services.check_seats() if p.contract_id in cids.values()]
            out.setdefault("check_seats", []).extend(p.problem for p in problems)
            if problems:
                print(f"  CHECK_SEATS MISMATCH: {len(problems)} problems, first: {problems[0]}", flush=True)
            db.session.remove()
            for cid in cids.values():
                clear_contract(cid)
            clear_contract(fcid)
            with db.engine.begin() as conn:
                conn.execute(sa.delete(host.minimal_invitation))
            clear_contract(hcid)
    return out
