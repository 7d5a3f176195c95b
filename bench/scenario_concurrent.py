"""Scenario 3, ``concurrent``: enrollments from 4 processes at once.

Enrollments/second of 4 worker processes (own app and engine each, started together at a barrier) against one
contract, with ample seats and with too few seats; every worker also repeats a tenth of its neighbour's
learners (double clicks). Oversell (seat rows beyond seats, counter drift) must be 0.
"""
from __future__ import annotations

import multiprocessing as mp
import time

import sqlalchemy as sa

from bench import host
from bench.common import WORKERS, clear_contract, learner_ids, models, new_contract
from flask_learning_contracts import ContractType, errors, services


def _enroll_worker(url, cid, aid, uids, barrier, queue):
    """Process target: enroll each of ``uids`` into contract ``cid`` / activity ``aid`` (a transaction each),
    timed from the ``barrier``; put the start and end times and the outcome counts on ``queue``."""
    app = host.create_app(url)
    counts = {"enrolled": 0, "no_seats": 0, "busy": 0, "other": 0, "again": 0}
    with app.app_context():
        db, m = host.db, models(app)
        db.session.execute(sa.select(1)).all()  # connect before the start line
        db.session.remove()
        barrier.wait()
        start = time.perf_counter()
        for uid in uids:
            contract = db.session.get(m.Contract, cid)
            user = db.session.get(host.Member, uid)
            try:
                before = db.session.execute(sa.select(m.Enrollment.id).where(
                    m.Enrollment.contract_id == cid, m.Enrollment.user_id == uid)).first()
                services.enroll(user, contract, aid)
                counts["again" if before else "enrolled"] += 1
            except errors.NoSeatsAvailable:
                counts["no_seats"] += 1
            except errors.Busy:
                counts["busy"] += 1
            except errors.LearningContractError as exc:
                counts["other"] += 1
                counts.setdefault("messages", []).append(str(exc))
            finally:
                db.session.remove()
        end = time.perf_counter()
        db.engine.dispose()
    queue.put({"start": start, "end": end, **counts})


def scenario_concurrent(app, url, seats, per_worker, tag):
    """One run of ``WORKERS`` processes, ``per_worker`` learners each, into a new contract of ``seats`` seats
    (code ``CONC-<tag>``): throughput, outcome counts and the oversell check; the contract's rows are deleted
    after."""
    db, m = host.db, models(app)
    with app.app_context():
        aid = db.session.execute(sa.select(host.Activity.id).order_by(host.Activity.id)).scalars().first()
        uids = learner_ids(per_worker * WORKERS, offset=2000)
        contract = new_contract(f"CONC-{tag}", ContractType.VOUCHER, seats=seats)
        services.add_activities(contract, [aid])
        users = db.session.execute(sa.select(host.Member).where(host.Member.id.in_(uids))).scalars().all()
        services.invite(contract, users=users)
        cid = contract.id
        db.session.remove()
        db.engine.dispose()
    slices = [uids[w::WORKERS] for w in range(WORKERS)]
    # every worker also double-clicks a tenth of its neighbour's learners
    plans = [slices[w] + slices[(w + 1) % WORKERS][: max(1, per_worker // 10)] for w in range(WORKERS)]
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(WORKERS), ctx.Queue()
    procs = [ctx.Process(target=_enroll_worker, args=(url, cid, aid, plans[w], barrier, queue)) for w in range(WORKERS)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    with app.app_context():
        seat_rows = db.session.execute(sa.select(sa.func.count()).select_from(m.Seat)
                                       .where(m.Seat.contract_id == cid)).scalar_one()
        enrollments = db.session.execute(sa.select(sa.func.count()).select_from(m.Enrollment)
                                         .where(m.Enrollment.contract_id == cid)).scalar_one()
        used = db.session.execute(sa.select(m.Contract.seats_used).where(m.Contract.id == cid)).scalar_one()
        mismatches = [p.problem for p in services.check_seats() if p.contract_id == cid]
        db.session.remove()
        clear_contract(cid)
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    enrolled = sum(r["enrolled"] for r in results)
    return {
        "seats": seats, "attempts": sum(len(p) for p in plans), "learners": len(uids), "enrolled": enrolled,
        "repeat_clicks_ok": sum(r["again"] for r in results), "no_seats": sum(r["no_seats"] for r in results),
        "busy": sum(r["busy"] for r in results), "other_errors": sum(r["other"] for r in results),
        "messages": sorted({msg for r in results for msg in r.get("messages", [])})[:5],
        "wall_s": wall, "enroll_per_s": enrolled / wall if wall else None,
        "seat_rows": seat_rows, "enrollment_rows": enrollments, "seats_used": used,
        "oversell": max(0, seat_rows - seats) + max(0, enrollments - seats) + abs(seat_rows - used),
        "check_seats": mismatches,
    }
