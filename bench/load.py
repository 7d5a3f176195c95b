#!/usr/bin/env python
"""Scale-out proof: the example app under gunicorn (4 workers) on PostgreSQL, Redis for the code-attempt
limiter, queued delivery with a worker process, and locust on loopback (run by hand; ``--smoke`` in CI).

    .venv/bin/pip install -e ".[test,load]"
    createdb -h 127.0.0.1 -U postgres lc_load
    .venv/bin/python bench/load.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/lc_load \
        [--redis-url redis://127.0.0.1:6379/0] [--learners 200 --seats 100 --admins 4 --time 90] [--smoke]

Every table of that database is dropped and created again: use a scratch database. The run:

1. seeds the database: ``--learners`` members who were never invited, ``--admins`` LMS administrators, one
   Subscription contract of ``--seats`` seats that requires its invitation code, with three activities and
   ``--invitations`` earlier invitations (so the Invitations tab has pages to browse);
2. starts ``gunicorn -w 4 bench.load_app:create()`` and ``flask contracts deliver --loop`` (the worker that
   sends what requests queued);
3. runs ``locust --headless`` (bench/locustfile.py) on loopback, bounded in count (each learner logs in,
   redeems the code and enrolls once) and in time (``--time``): learners race for the seats while the
   admins browse the Invitations tab and the contract-admin dashboard;
4. reports requests/s, p50/p95/p99 per page, the 5xx answers (gunicorn's access log and locust's failures)
   and oversell, read from the database afterwards: ``seats_used <= seats`` and seat rows == ``seats_used``.

Exit status 1 on any 5xx, failed request or oversell (CI fails on it). ``--smoke``: 30 seconds, 60 learners
for 30 seats, 2 admins, 2,000 invitations, locust and the delivery worker at low priority.
"""
from __future__ import annotations

import argparse
import collections
import csv
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa
from werkzeug.security import generate_password_hash

PASSWORD = "load-pass-1"
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed(args, env) -> dict:
    """Drop and create every table, seed members, the contract and its earlier invitations; return the plan
    the locust users read (logins, code, URLs)."""
    os.environ.update(env)
    from bench.load_app import create
    from example_app.models import LearningActivity, Member, db
    from flask_learning_contracts import ContractType, InvitationStatus, services

    app = create()
    with app.app_context():
        db.drop_all()
        db.create_all()
        m = app.extensions["learning_contracts"].models
        # A cheap hash: the run measures the contract pages, not password hashing (scrypt costs ~0.1 s of CPU).
        password_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
        admins = [f"load-admin{i}@example.com" for i in range(args.admins)]
        learners = [f"load-learner{i}@example.com" for i in range(args.learners)]
        with db.engine.begin() as conn:
            conn.execute(sa.insert(Member.__table__), [
                {"email": e, "full_name": f"Admin {i}", "password_hash": password_hash, "is_admin": True}
                for i, e in enumerate(admins)] + [
                {"email": e, "full_name": f"Learner {i}", "password_hash": password_hash, "is_admin": False}
                for i, e in enumerate(learners)])
            conn.execute(sa.insert(LearningActivity.__table__), [
                {"title": f"Load activity {i}", "kind": "online", "published": True} for i in range(3)])
        activity_ids = list(db.session.execute(sa.select(LearningActivity.id).order_by(LearningActivity.id)).scalars())
        today = dt.date.today()
        contract = services.create_contract(
            code="LOAD", title="Load test contract", contract_type=ContractType.SUBSCRIPTION, seats=args.seats,
            valid_from=today - dt.timedelta(days=1), valid_until=today + dt.timedelta(days=30),
            require_invitation_code=True)
        services.add_activities(contract, activity_ids)
        admin_member = db.session.execute(sa.select(Member).where(Member.email == admins[0])).scalar_one()
        services.add_contract_admin(contract, admin_member)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with db.engine.begin() as conn:
            conn.execute(sa.insert(m.Invitation.__table__), [{
                "contract_id": contract.id, "user_id": None, "email": f"earlier{i}@example.org",
                "status": InvitationStatus.NOT_REGISTERED, "require_code": True, "enrolled_count": 0,
                "invited_at": now - dt.timedelta(minutes=args.invitations - i), "invited_by": "Admin 0",
                "send_count": 1} for i in range(args.invitations)])
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        cid, code = contract.id, contract.invitation_code
        with app.test_request_context():
            from flask import url_for
            admin_endpoint = app.config.get("LEARNING_CONTRACTS_ADMIN_ENDPOINT", "lc_contract")
            plan = {
                "password": PASSWORD, "learners": learners, "admins": admins, "n_learners": args.learners,
                "n_admins": args.admins, "code": code, "pages": max(1, args.invitations // 50),
                "invitations_url": url_for("learning_contracts.invitations"),
                "redeem_url": url_for("learning_contracts.redeem"),
                "contract_url": url_for("learning_contracts.contract", contract_id=cid),
                "enroll_url": url_for("learning_contracts.enroll", contract_id=cid, activity_id=str(activity_ids[0])),
                "tab_url": url_for(admin_endpoint + ".invitations_view", contract_id=cid),
                "dashboard_url": url_for("learning_contracts.manage_contract", contract_id=cid),
                "contract_id": cid,
            }
        db.session.remove()
        db.engine.dispose()
    return plan


def check_database(env, contract_id: int) -> dict:
    """Oversell and delivery state read from the database after the run."""
    os.environ.update(env)
    from bench.load_app import create
    from example_app.models import db

    app = create()
    with app.app_context():
        m = app.extensions["learning_contracts"].models
        contract = db.session.get(m.Contract, contract_id)
        seat_rows = db.session.execute(sa.select(sa.func.count()).select_from(m.Seat)
                                       .where(m.Seat.contract_id == contract_id)).scalar_one()
        enrollments = db.session.execute(sa.select(sa.func.count()).select_from(m.Enrollment)
                                         .where(m.Enrollment.contract_id == contract_id)).scalar_one()
        notifications = dict(db.session.execute(sa.select(m.Notification.status, sa.func.count())
                                                .group_by(m.Notification.status)).all())
        out = {
            "seats": contract.seats, "seats_used": contract.seats_used, "seat_rows": seat_rows,
            "enrollments": enrollments,
            "oversell": max(0, contract.seats_used - contract.seats) + abs(seat_rows - contract.seats_used),
            "notifications": {str(getattr(k, "value", k)): v for k, v in notifications.items()},
        }
        db.session.remove()
        db.engine.dispose()
    return out


def _wait_for(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"gunicorn did not answer {url} within {timeout:.0f} s")
        time.sleep(0.3)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _status_counts(access_log: Path) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    for line in access_log.read_text().splitlines():
        status = line.split(" ", 1)[0]
        if status.isdigit():
            counts[int(status)] += 1
    return counts


def _locust_stats(prefix: str) -> list[dict]:
    rows = []
    with open(prefix + "_stats.csv", newline="") as f:
        for row in csv.DictReader(f):
            rows.append({
                "name": row["Name"], "requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
                "rps": float(row["Requests/s"]), "p50": float(row["50%"] or 0), "p95": float(row["95%"] or 0),
                "p99": float(row["99%"] or 0),
            })
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="PostgreSQL URL of a scratch database (tables dropped)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="rate-limit storage")
    parser.add_argument("--learners", type=int, default=200)
    parser.add_argument("--seats", type=int, default=100)
    parser.add_argument("--admins", type=int, default=4)
    parser.add_argument("--invitations", type=int, default=10_000, help="earlier invitations of the contract")
    parser.add_argument("--time", type=int, default=90, help="seconds locust runs at most")
    parser.add_argument("--spawn-rate", type=float, default=20, help="users started per second")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--smoke", action="store_true", help="the CI version: 30 s, 60 learners, 30 seats")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    if args.smoke:
        args.time, args.learners, args.seats, args.admins, args.invitations = 30, 60, 30, 2, 2_000
        args.spawn_rate = 10
    if not args.database_url.startswith("postgresql"):
        parser.error("the load test runs on PostgreSQL")

    tmp = Path(tempfile.mkdtemp(prefix="lc-load-"))
    env = {"LC_LOAD_DATABASE_URL": args.database_url, "LC_LOAD_REDIS_URL": args.redis_url,
           "LC_LOAD_OUTBOX": str(tmp / "outbox")}
    plan = seed(args, env)
    (tmp / "plan.json").write_text(json.dumps(plan))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    child_env = {**os.environ, **env, "LC_LOAD_PLAN": str(tmp / "plan.json"), "PYTHONPATH": str(ROOT)}
    access_log = tmp / "access.log"
    nice = ["nice", "-n", "10"] if args.smoke else []
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "-w", str(args.workers), "-b", f"127.0.0.1:{port}", "--access-logfile",
         str(access_log), "--access-logformat", "%(s)s %(m)s %(U)s", "--error-logfile", str(tmp / "gunicorn.log"),
         "--timeout", "60", "bench.load_app:create()"], cwd=ROOT, env=child_env)
    with open(tmp / "deliver.log", "w") as deliver_log:
        worker = subprocess.Popen(
            [*nice, str(BIN / "flask"), "--app", "bench.load_app:create", "contracts", "deliver", "--loop",
             "--interval", "1"], cwd=ROOT, env=child_env, stdout=deliver_log, stderr=subprocess.STDOUT)
    started = time.time()
    try:
        _wait_for(base + "/login", 60)
        access_log.write_text("")  # the readiness probe is not part of the run
        users = args.learners + args.admins
        locust = subprocess.run(
            [*nice, str(BIN / "locust"), "-f", str(ROOT / "bench" / "locustfile.py"), "--headless", "-u", str(users),
             "-r", str(args.spawn_rate), "-t", f"{args.time}s", "--host", base, "--csv", str(tmp / "locust"),
             "--only-summary", "--stop-timeout", "10", "--loglevel", "WARNING"],
            cwd=ROOT, env=child_env, check=False)
        elapsed = time.time() - started
        time.sleep(2)  # let the delivery worker take what the last requests queued
    finally:
        _stop(worker)
        _stop(server)
    statuses = _status_counts(access_log)
    stats = _locust_stats(str(tmp / "locust"))
    database = check_database(env, plan["contract_id"])
    server_errors = sum(n for s, n in statuses.items() if s >= 500)
    failures = next((r["failures"] for r in stats if r["name"] == "Aggregated"), None)
    result = {"args": vars(args), "elapsed_s": round(elapsed, 1), "statuses": dict(sorted(statuses.items())),
              "server_errors": server_errors, "locust_failures": failures, "locust_exit": locust.returncode,
              "stats": stats, "database": database, "loadavg": os.getloadavg(), "logs": str(tmp)}
    print(f"\n== load: {args.workers} gunicorn workers, {args.learners} learners for {args.seats} seats, "
          f"{args.admins} admins, {args.invitations:,} earlier invitations, {args.time} s (logs: {tmp})")
    print("| Page | Requests | Requests/s | p50 | p95 | p99 | Failures |")
    print("|---|---|---|---|---|---|---|")
    for r in stats:
        print(f"| {r['name']} | {r['requests']} | {r['rps']:.1f} | {r['p50']:.0f} ms | {r['p95']:.0f} ms | "
              f"{r['p99']:.0f} ms | {r['failures']} |")
    print(f"HTTP statuses (gunicorn access log): {dict(sorted(statuses.items()))}; 5xx: {server_errors}")
    print(f"database: seats {database['seats']}, seats_used {database['seats_used']}, seat rows "
          f"{database['seat_rows']}, enrollments {database['enrollments']}, oversell {database['oversell']}; "
          f"notifications {database['notifications']}")
    print(f"load average at the end: {os.getloadavg()}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
    ok = server_errors == 0 and not failures and database["oversell"] == 0
    print("load: OK" if ok else "load: FAILED (5xx, failed requests or oversell)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
