#!/usr/bin/env python
"""Performance benchmark of flask-learning-contracts, against floors measured in the same run.

    .venv/bin/python bench/run.py [--database-url postgresql+psycopg://…] [--repeat 3] \
        [--json bench/results/latest.json] [--only invite,enroll,concurrent,pages] [--no-sqlite]

Always runs on a fresh SQLite file (a temp directory); with ``--database-url`` also on that PostgreSQL
database (every table of it is dropped and recreated: use a scratch database such as ``lc_bench``).

Scenarios (each the median of ``--repeat`` runs; the ratio is module median / floor median):

1. ``invite``: ``services.invite_csv`` of 10,000 e-mails (half existing users, half unknown, a header,
   mixed case) into a fresh Subscription contract, vs the floor: Core ``conn.execute(insert(lc_invitation),
   rows)`` of the same 10,000 rows plus commit. Also the transient memory of the call (peak minus the
   returned report) for 10,000 and 40,000 e-mails, which must not grow with the file.
2. ``enroll``: 1,000 sequential ``services.enroll`` calls of distinct learners (one transaction each) vs the
   floor: 1,000 single-row Core insert transactions of the same enrollment rows.
3. ``concurrent``: enrollments/second of 4 worker processes (own app and engine each) against one contract,
   with ample seats and with too few seats; oversell (seat rows beyond seats, counter drift) must be 0.
4. ``pages``: Flask test client renders of the admin contract list (1,000 contracts), a contract's
   Invitations tab (100,000 invitations) and the learner's invitations page/widget (50 invitations): time
   and SQL query count. Skipped, with the reason, while a page does not exist.
"""
from __future__ import annotations

import argparse
import datetime as dt
import gc
import io
import json
import multiprocessing as mp
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench import host  # noqa: E402
from flask_learning_contracts import ContractType, InvitationStatus, errors, services  # noqa: E402

TODAY = dt.date.today()
N_INVITE = 10_000
N_ENROLL = 1_000
WORKERS = 4


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def state(app):
    return app.extensions["learning_contracts"]


@contextmanager
def count_queries(engine):
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
    gc.collect()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def median(values):
    return statistics.median(values) if values else None


def new_contract(code, contract_type=ContractType.SUBSCRIPTION, seats=100_000, require_code=False, **kw):
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
    db = host.db
    return list(db.session.execute(
        sa.select(host.Member.id).where(host.Member.is_manager.is_(False)).order_by(host.Member.id)
        .offset(offset).limit(limit)).scalars())


def clear_contract(cid):
    """Delete a contract's rows (keeps table sizes equal between repeats)."""
    m = state_models()
    with host.db.engine.begin() as conn:
        inv = sa.select(m.Invitation.id).where(m.Invitation.contract_id == cid).scalar_subquery()
        conn.execute(sa.delete(m.InvitationActivity.__table__).where(m.InvitationActivity.invitation_id.in_(inv)))
        for t in (m.Enrollment, m.Seat, m.Invitation, m.ContractActivity, m.ContractAdmin):
            conn.execute(sa.delete(t.__table__).where(t.contract_id == cid))
        conn.execute(sa.delete(host.ActivityEnrollment.__table__))


def state_models():
    from flask import current_app
    return state(current_app).models


# ---------------------------------------------------------------------------------------------
# 1. bulk invite by CSV
# ---------------------------------------------------------------------------------------------
def invite_csv_bytes(existing, r, n):
    unknown = [f"new{r}-{i}@example.net" for i in range(n - len(existing))]
    emails = [e.upper() if i % 3 == 0 else e for i, e in enumerate(existing)] + unknown
    random.Random(r).shuffle(emails)
    return ("Email\n" + "\n".join(emails) + "\n").encode("utf-8"), emails


def scenario_invite(app, repeat, n=N_INVITE):
    db, m = host.db, state(app).models
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


def _memory_child(url, n, conn):
    app = host.create_app(url)
    with app.app_context():
        existing = [e for e in host.db.session.execute(
            sa.select(host.Member.email).where(host.Member.is_manager.is_(False)).order_by(host.Member.id)
            .limit(n // 2)).scalars()]
        data, _emails = invite_csv_bytes(existing, 1000 + n, n)
        contract = new_contract(f"MEM-{n}")
        cid = contract.id
        contract.title  # noqa: B018 - load before tracing
        stream = io.BytesIO(data)
        del _emails
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        report = services.invite_csv(contract, stream)
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert report.created == n
        conn.send({"n": n, "peak": peak - base, "retained": current - base, "transient": peak - current,
                   "file_bytes": len(data)})
        host.db.session.remove()
        clear_contract(cid)
        host.db.engine.dispose()


def scenario_memory(url, sizes=(10_000, 40_000)):
    ctx = mp.get_context("spawn")
    results = []
    for n in sizes:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_memory_child, args=(url, n, child))
        proc.start()
        results.append(parent.recv())
        proc.join()
    return results


# ---------------------------------------------------------------------------------------------
# 2. sequential enrollments
# ---------------------------------------------------------------------------------------------
def scenario_enroll(app, repeat, n=N_ENROLL):
    db, m = host.db, state(app).models
    table = m.Enrollment.__table__
    out = {"module": [], "floor": [], "by_hand": [], "queries": None, "wal": {}}
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
        activity = db.session.execute(sa.select(host.Activity).order_by(host.Activity.id)).scalars().first()
        aid = activity.id
        uids = learner_ids(n)
        for r in range(repeat):
            contract = new_contract(f"ENR-{r}", ContractType.VOUCHER, seats=n)
            floor_contract = new_contract(f"ENRF-{r}", ContractType.VOUCHER, seats=n)
            hand_contract = new_contract(f"ENRH-{r}", ContractType.VOUCHER, seats=n)
            for c in (contract, floor_contract, hand_contract):
                services.add_activities(c, [aid])
                users = db.session.execute(sa.select(host.Member).where(host.Member.id.in_(uids))).scalars().all()
                services.invite(c, users=users)
            cid, fcid, hcid = contract.id, floor_contract.id, hand_contract.id
            inv_by_user = dict(db.session.execute(
                sa.select(m.Invitation.user_id, m.Invitation.id).where(m.Invitation.contract_id == fcid)).all())
            hand_inv_by_user = dict(db.session.execute(
                sa.select(m.Invitation.user_id, m.Invitation.id).where(m.Invitation.contract_id == hcid)).all())
            now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
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

            def module():
                total, queries = 0.0, 0
                contract = db.session.get(m.Contract, cid)
                activity = db.session.get(host.Activity, aid)
                for uid in uids:
                    user = db.session.get(host.Member, uid)
                    # loaded as the learner page has them when it calls enroll (it passes the activity object)
                    user.email, contract.title, activity.title  # noqa: B018
                    with count_queries(db.engine) as q:
                        start = time.perf_counter()
                        services.enroll(user, contract, activity)
                        total += time.perf_counter() - start
                    queries = max(queries, q["n"])
                return total, queries

            def floor():
                total = 0.0
                for row in floor_rows:
                    start = time.perf_counter()
                    with db.engine.begin() as conn:
                        conn.execute(sa.insert(table), row)
                    total += time.perf_counter() - start
                return total, None

            def by_hand():
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

            order = [("module", module), ("floor", floor), ("by_hand", by_hand)]
            order = order[r % 3:] + order[:r % 3]
            for name, fn in order:
                gc.collect()
                wal_before = wal_position(db.engine)
                elapsed, queries = fn()
                if wal_before is not None:
                    out["wal"].setdefault(name, []).append(float(wal_position(db.engine) - wal_before) / n)
                out[name].append(elapsed)
                if name == "module":
                    out["queries"] = queries
            db.session.remove()
            c = db.session.get(m.Contract, cid)
            assert c.seats_used == n, c.seats_used
            problems = [p for p in services.check_seats() if p.contract_id in (cid, fcid)]
            out.setdefault("check_seats", []).extend(p.problem for p in problems)
            if problems:
                seats_by_contract = db.session.execute(sa.select(m.Seat.contract_id, sa.func.count())
                                                       .group_by(m.Seat.contract_id)).all()
                print("  CHECK_SEATS MISMATCH", problems, seats_by_contract, flush=True)
            db.session.remove()
            clear_contract(cid)
            clear_contract(fcid)
            clear_contract(hcid)
    return out


# ---------------------------------------------------------------------------------------------
# 3. concurrent enrollments (4 processes)
# ---------------------------------------------------------------------------------------------
def _enroll_worker(url, cid, aid, uids, barrier, queue):
    app = host.create_app(url)
    counts = {"enrolled": 0, "no_seats": 0, "busy": 0, "other": 0, "again": 0}
    with app.app_context():
        db, m = host.db, state(app).models
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
    db, m = host.db, state(app).models
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


# ---------------------------------------------------------------------------------------------
# 4. pages
# ---------------------------------------------------------------------------------------------
def _login(client, user_id):
    with client.session_transaction() as sess:
        sess["_user_id"] = str(user_id)
        sess["_fresh"] = True


def _render(app, client, url, repeat, engine):
    times, queries, status, size = [], None, None, None
    for _ in range(repeat + 1):  # the first render warms Jinja's template cache
        with count_queries(engine) as q:
            start = time.perf_counter()
            response = client.get(url)
            elapsed = time.perf_counter() - start
        status, size = response.status_code, len(response.data)
        if status != 200:
            break
        times.append(elapsed)
        queries = q["n"]
    return {"url": url, "status": status, "bytes": size, "times": times[1:] or times, "queries": queries}


def scenario_pages(app, repeat):
    """Render the admin and learner pages at scale; skip (with a reason) pages that do not exist yet."""
    db, m = host.db, state(app).models
    out = {}
    admin = app.config.get("LEARNING_CONTRACTS_ADMIN_ENDPOINT", "lc_contract")
    rules = {r.endpoint: r for r in app.url_map.iter_rules() if "GET" in (r.methods or ())}
    list_rule = rules.get(admin + ".index_view")
    tab_rule = rules.get(admin + ".invitations_view")
    learner_rule = rules.get("learning_contracts.invitations")
    widget_rule = rules.get("bench_home") if "learning_contracts_widget" in app.jinja_env.globals else None
    dashboard_rule = rules.get("learning_contracts.manage_contract")
    with app.app_context():
        manager_id = db.session.execute(sa.select(host.Member.id).where(host.Member.is_manager.is_(True))).scalar_one()
        aids = list(db.session.execute(sa.select(host.Activity.id).order_by(host.Activity.id)).scalars())
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        # 1,000 contracts (Core: the module's create path is not what is measured here)
        existing = db.session.execute(sa.select(sa.func.count()).select_from(m.Contract)).scalar_one()
        with db.engine.begin() as conn:
            conn.execute(sa.insert(m.Contract.__table__), [{
                "code": f"PAGE-{i}", "code_key": f"page-{i}", "title": f"Contract {i}", "description": "",
                "contract_type": ContractType.VOUCHER if i % 2 else ContractType.SUBSCRIPTION, "seats": 100 + i,
                "seats_used": i % 100, "per_user_limit": 0, "valid_from": TODAY - dt.timedelta(days=i % 400),
                "valid_until": TODAY + dt.timedelta(days=200 - i % 300), "require_invitation_code": bool(i % 3),
                "invitation_code": f"PG{i:010d}", "created_at": now, "updated_at": now,
            } for i in range(max(0, 1000 - existing))])
        big = new_contract("BIG", ContractType.VOUCHER, seats=200_000)
        services.add_activities(big, aids[:2])
        big_id = big.id
        users = list(db.session.execute(sa.select(host.Member.id, host.Member.email)
                                        .where(host.Member.is_manager.is_(False)).order_by(host.Member.id)
                                        .limit(100_000)).all())
        rows = []
        for i in range(100_000):
            uid, email = users[i] if i < len(users) else (None, f"big{i}@example.org")
            rows.append({"contract_id": big_id, "user_id": uid, "email": email,
                         "status": InvitationStatus.OUTSTANDING if uid else InvitationStatus.NOT_REGISTERED,
                         "require_code": True, "enrolled_count": 0, "invited_at": now, "invited_by": "Manager",
                         "last_sent_at": now, "send_count": 1})
        with db.engine.begin() as conn:
            conn.execute(sa.insert(m.Invitation.__table__), rows)
            ids = list(conn.execute(sa.select(m.Invitation.id).where(m.Invitation.contract_id == big_id)).scalars())
            conn.execute(sa.insert(m.InvitationActivity.__table__),
                         [{"invitation_id": i, "activity_id": a} for i in ids for a in aids[:2]])
        # a learner with 50 invitations (half Voucher, half Subscription; some enrolled)
        learner = db.session.execute(sa.select(host.Member).where(host.Member.email == "learner150000@example.com")
                                     ).scalar_one_or_none()
        if learner is None:
            learner = host.Member(email="learner-pages@example.com", name="Page Learner")
            db.session.add(learner)
            db.session.commit()
        learner_id = learner.id
        for i in range(50):
            c = new_contract(f"L50-{i}", ContractType.VOUCHER if i % 2 else ContractType.SUBSCRIPTION, seats=10,
                             require_code=bool(i % 5 == 0), per_user_limit=2 if i % 7 == 0 else 0)
            services.add_activities(c, aids[: 1 + i % 3])
            services.invite(c, users=[db.session.get(host.Member, learner_id)])
            if i % 4 == 1 and i % 5 != 0:
                services.enroll(db.session.get(host.Member, learner_id), c, aids[0])
        db.session.remove()

    def run(name, rule, user_id, values):
        if rule is None:
            out[name] = {"skipped": "page not found in app.url_map yet"}
            return
        with app.test_request_context():
            from flask import url_for
            url = url_for(rule.endpoint, **values)
            engine = db.engine
        client = app.test_client()
        _login(client, user_id)
        out[name] = _render(app, client, url, repeat, engine)
        out[name]["endpoint"] = rule.endpoint

    run("admin contract list (1,000 contracts)", list_rule, manager_id, {})
    tab_values = {}
    if tab_rule is not None:
        for arg in tab_rule.arguments:
            tab_values[arg] = big_id
    run("admin Invitations tab (100,000 invitations)", tab_rule, manager_id, tab_values)
    run("contract-admin dashboard contract page (100,000 invitations)", dashboard_rule, manager_id,
        {"contract_id": big_id})
    run("learner invitations page (50 invitations)", learner_rule, learner_id, {})
    run("learner widget in a host page (50 invitations)", widget_rule, learner_id, {})
    return out


# ---------------------------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------------------------
def machine_info(pg_url=None):
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


def run_backend(name, url, args, report):
    print(f"\n== {name}: {url.split('@')[-1]}", flush=True)
    app = host.create_app(url)
    fresh_database(app, args.users)
    results = report.setdefault(name, {})
    only = set(args.only.split(",")) if args.only else {"invite", "memory", "enroll", "concurrent", "pages"}
    if "invite" in only:
        r = scenario_invite(app, args.repeat)
        results["invite"] = r
        print(f"  invite {N_INVITE:,}: module {median(r['module']):.3f}s floor {median(r['floor']):.3f}s "
              f"ratio {median(r['module']) / median(r['floor']):.2f} queries {r['queries']}", flush=True)
    if "enroll" in only:
        r = scenario_enroll(app, args.repeat)
        results["enroll"] = r
        print(f"  enroll {N_ENROLL:,}: module {median(r['module']):.3f}s floor {median(r['floor']):.3f}s "
              f"ratio {median(r['module']) / median(r['floor']):.2f} queries/enroll {r['queries']} "
              f"same writes by hand {median(r['by_hand']):.3f}s", flush=True)
    if "concurrent" in only:
        runs = [scenario_concurrent(app, url, seats=100_000, per_worker=250, tag=f"T{i}") for i in range(args.repeat)]
        exhaust = scenario_concurrent(app, url, seats=500, per_worker=250, tag="X")
        results["concurrent"] = {"throughput": runs, "exhaustion": exhaust}
        print(f"  concurrent: {median([x['enroll_per_s'] for x in runs]):.0f} enroll/s; oversell "
              f"{[x['oversell'] for x in runs]} / exhaustion {exhaust['oversell']} "
              f"(enrolled {exhaust['enrolled']} of {exhaust['seats']} seats, busy {exhaust['busy']})", flush=True)
    if "pages" in only:
        r = scenario_pages(app, args.repeat)
        results["pages"] = r
        for page, v in r.items():
            if "skipped" in v:
                print(f"  page {page}: SKIPPED ({v['skipped']})")
            else:
                t = median(v["times"])
                print(f"  page {page}: HTTP {v['status']} {t if t is None else round(t, 3)}s "
                      f"queries {v['queries']}", flush=True)
    if "memory" in only:
        r = scenario_memory(url)
        results["memory"] = r
        print("  memory:", ", ".join(f"{x['n']:,}: transient {x['transient'] / 1024:.0f} KiB, "
                                     f"report {x['retained'] / 1024:.0f} KiB" for x in r), flush=True)
    with app.app_context():
        host.db.session.remove()
        host.db.engine.dispose()


def table(report):
    lines = ["| Database | Scenario | Module | Floor | Ratio | SQL queries |", "|---|---|---|---|---|---|"]
    for db_name in ("SQLite", "PostgreSQL"):
        res = report.get(db_name)
        if not res:
            continue
        if "invite" in res:
            r = res["invite"]
            mod, flo = median(r["module"]), median(r["floor"])
            lines.append(f"| {db_name} | invite_csv {N_INVITE:,} e-mails (½ existing users) vs Core executemany | "
                         f"{mod:.3f} s | {flo:.3f} s | **{mod / flo:.2f}×** | {r['queries']} per call |")
        if "memory" in res:
            txt = "; ".join(f"{x['n']:,} e-mails: {x['transient'] / 1048576:.1f} MiB working, "
                            f"{x['retained'] / 1048576:.1f} MiB report" for x in res["memory"])
            lines.append(f"| {db_name} | invite_csv memory (tracemalloc peak − returned report) | {txt} | | | |")
        if "enroll" in res:
            r = res["enroll"]
            mod, flo = median(r["module"]), median(r["floor"])
            lines.append(f"| {db_name} | {N_ENROLL:,} sequential enroll() vs 1-row Core transactions | "
                         f"{mod:.3f} s ({mod / N_ENROLL * 1000:.2f} ms each) | {flo:.3f} s "
                         f"({flo / N_ENROLL * 1000:.2f} ms each) | **{mod / flo:.2f}×** | {r['queries']} per enroll |")
            if r.get("by_hand"):
                hand = median(r["by_hand"])
                lines.append(f"| {db_name} | the same enroll() vs the same writes by hand (Core, 6 statements, "
                             f"1 transaction each) | {mod:.3f} s | {hand:.3f} s ({hand / N_ENROLL * 1000:.2f} ms "
                             f"each) | {mod / hand:.2f}× | |")
            if r.get("wal"):
                wal = {k: median(v) for k, v in r["wal"].items()}
                lines.append(f"| {db_name} | write-ahead log per transaction: enroll() / 1-row floor / by hand | "
                             f"{wal['module']:,.0f} B | {wal['floor']:,.0f} B / {wal['by_hand']:,.0f} B | "
                             f"{wal['module'] / wal['floor']:.1f}× | |")
        if "concurrent" in res:
            runs, x = res["concurrent"]["throughput"], res["concurrent"]["exhaustion"]
            lines.append(f"| {db_name} | {WORKERS} processes enrolling into one contract | "
                         f"{median([y['enroll_per_s'] for y in runs]):.0f} enroll/s | | oversell "
                         f"{sum(y['oversell'] for y in runs)} (ample seats), {x['oversell']} "
                         f"({x['enrolled']}/{x['seats']} seats, {x['attempts']} attempts) | busy "
                         f"{sum(y['busy'] for y in runs) + x['busy']} |")
        for page, v in res.get("pages", {}).items():
            if "skipped" in v:
                lines.append(f"| {db_name} | page: {page} | skipped: {v['skipped']} | | | |")
            elif v["status"] != 200:
                lines.append(f"| {db_name} | page: {page} | HTTP {v['status']} | | | |")
            else:
                lines.append(f"| {db_name} | page: {page} | {median(v['times']) * 1000:.0f} ms | | | "
                             f"{v['queries']} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="PostgreSQL URL of a scratch database (all its tables are dropped)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario; the median is reported")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "latest.json"), help="JSON output path")
    parser.add_argument("--only", help="comma-separated scenarios: invite,memory,enroll,concurrent,pages")
    parser.add_argument("--users", type=int, default=20_000, help="learners in the host's users table")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite run")
    args = parser.parse_args(argv)

    report = {"machine": machine_info(args.database_url), "repeat": args.repeat,
              "started": dt.datetime.now().isoformat(timespec="seconds")}
    print(json.dumps(report["machine"]))
    with tempfile.TemporaryDirectory(prefix="lc-bench-") as tmp:
        if not args.no_sqlite:
            run_backend("SQLite", f"sqlite:///{tmp}/bench.db", args, report)
    if args.database_url:
        run_backend("PostgreSQL", args.database_url, args, report)
    report["machine"]["loadavg_end"] = os.getloadavg()
    print()
    print(table(report))
    print(f"\nload average: start {report['machine']['loadavg_start']}, end {report['machine']['loadavg_end']}")
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str))
    print(f"JSON: {path}")


if __name__ == "__main__":
    main()
