"""Multi-process proofs that each notice exists once and each notification is sent once (SPEC § Notifications:
"each notice is created once, even when two ticks or many enrollments run at once"), on a SQLite file and on
PostgreSQL, in real OS processes released together by a barrier (see ``tests/race.py``).

``LEARNING_CONTRACTS_RACE_REPORT=1`` prints the measured figures.
"""
from __future__ import annotations

import datetime as dt
import time
from collections import Counter

import pytest
import sqlalchemy as sa

from flask_learning_contracts import ContractType, services
from flask_learning_contracts.enums import DeliveryStatus, NotificationKind

from . import race
from .test_concurrency import _count, _courses, _learners, _release, _report

pytestmark = pytest.mark.slow

WORKERS = 8
ROUNDS = 5
INVITED = dt.date(2026, 6, 15)  # the test clock's day (tests/host.py)


def _alerts(db, contract_id: int) -> list[tuple[int, int, str]]:
    m = services._m()
    rows = db.session.execute(sa.select(m.Notification).where(
        m.Notification.contract_id == contract_id, m.Notification.kind == NotificationKind.SEAT_ALERT)).scalars()
    return sorted((n.payload["seats"], n.payload["threshold"], n.recipient) for n in rows)


def test_eight_processes_crossing_a_seats_threshold_together_write_one_alert(app, db):
    """Each round: a contract of 8 seats with 5 used (62.5 %) and one contract admin; 8 processes enroll 8 new
    learners at the same moment. Seats 6 (75 %) and 8 (100 %) are taken by two of them; 5 are refused. Exactly
    one alert per threshold, one history entry each, whoever wins."""
    admin = _learners(db, 1, "seat-admin-")[0]
    [course] = _courses(db, 1)
    plans: list[list[dict]] = [[] for _ in range(WORKERS)]
    contract_ids = []
    for r in range(ROUNDS):
        contract = services.create_contract(
            code=f"ALERT-{r}", title=f"Alert {r}", contract_type=ContractType.VOUCHER, seats=8,
            valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2026, 12, 31), require_invitation_code=False)
        services.add_activities(contract, [course])
        services.add_contract_admin(contract, admin)
        early, racing = _learners(db, 5, f"early{r}-"), _learners(db, WORKERS, f"racer{r}-")
        services.invite(contract, users=early + racing)
        for learner in early:
            services.enroll(learner, services.get_contract(contract.id), course.id)
        assert _alerts(db, contract.id) == []
        contract_ids.append(contract.id)
        for w, learner in enumerate(racing):
            plans[w].append({"contract_id": contract.id, "user_id": learner.id, "activity_id": course.id})
    url = _release(db)

    started = time.perf_counter()
    reports = race.run("enroll_each_round", url, WORKERS, lambda w: {"rounds": plans[w]})
    elapsed = time.perf_counter() - started

    outcomes = race.tally(reports)
    assert outcomes == {"ok": 3 * ROUNDS, "NoSeatsAvailable": 5 * ROUNDS}, outcomes
    m = services._m()
    for cid in contract_ids:
        assert _alerts(db, cid) == [(8, 75, admin.email_address), (8, 100, admin.email_address)]
        history = db.session.execute(sa.select(m.HistoryEntry.message).where(
            m.HistoryEntry.contract_id == cid, m.HistoryEntry.action == NotificationKind.SEAT_ALERT.value)).scalars()
        assert sorted(h.split(":")[1].split("%")[0].strip() for h in history) == ["100", "75"]
    _report("seats alert x8 processes", rounds=ROUNDS, alerts_per_threshold=1, retries=race.retries(reports),
            seconds=f"{elapsed:.2f}")


def test_eight_ticks_at_once_create_each_notice_once(app, db):
    """40 outstanding invitations 3 days old, a contract 80 % used that ends in 20 days: 8 schedulers at once
    create 40 reminders, one seats alert and one end-of-contract notice, nothing twice."""
    admin = _learners(db, 1, "tick-admin-")[0]
    learners, enrolled = _learners(db, 40, "tick-"), _learners(db, 8, "tick-enrolled-")
    [course] = _courses(db, 1)
    contract = services.create_contract(
        code="TICK", title="Tick", contract_type=ContractType.SUBSCRIPTION, seats=10,
        valid_from=dt.date(2026, 1, 1), valid_until=INVITED + dt.timedelta(days=23), require_invitation_code=False)
    services.add_activities(contract, [course])
    app.config["LEARNING_CONTRACTS_SEAT_ALERTS"] = ()  # the 80 % is reached before alerts exist: the tick finds it
    services.invite(contract, users=learners + enrolled)
    for learner in enrolled:
        services.enroll(learner, services.get_contract(contract.id), course.id)
    services.add_contract_admin(services.get_contract(contract.id), admin)
    cid = contract.id
    url = _release(db)

    started = time.perf_counter()
    reports = race.run("tick", url, WORKERS, lambda w: {"day": (INVITED + dt.timedelta(days=3)).isoformat()})
    elapsed = time.perf_counter() - started

    assert race.tally(reports) == {"ok": WORKERS}
    m = services._m()
    kinds = Counter(db.session.execute(sa.select(m.Notification.kind).where(m.Notification.contract_id == cid)
                                       .where(m.Notification.kind != NotificationKind.INVITATION)).scalars())
    assert kinds == {NotificationKind.REMINDER: 40, NotificationKind.SEAT_ALERT: 1, NotificationKind.EXPIRING: 1}
    assert sum(r["created"] for r in reports) == 42  # split between the processes, never duplicated
    _report("tick x8 processes", notices=42, retries=race.retries(reports), seconds=f"{elapsed:.2f}")


def test_four_delivery_workers_send_each_notification_once(app, db):
    """300 queued invitations; 4 ``deliver`` workers start at once, claiming 10 at a time. Every notification
    is claimed by one of them (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: the conditional claim under its
    single write lock) and sent once."""
    app.config["LEARNING_CONTRACTS_DELIVERY"] = "queued"
    [course] = _courses(db, 1)
    contract = services.create_contract(
        code="MANY", title="Many", contract_type=ContractType.VOUCHER, seats=10,
        valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2026, 12, 31))
    services.add_activities(contract, [course])
    report = services.invite(contract, emails=[f"q{i}@example.com" for i in range(300)])
    assert report.created == 300
    url = _release(db)

    started = time.perf_counter()
    reports = race.run("deliver", url, 4, lambda w: {"limit": 10})
    elapsed = time.perf_counter() - started

    assert race.tally(reports) == {"ok": 4}
    sent = [email for r in reports for email, _resend in r["sent"]]
    assert len(sent) == len(set(sent)) == 300
    assert sum(1 for r in reports if r["sent"]) >= 2  # the work was shared, not done by one worker alone
    m = services._m()
    assert _count(db, m.Notification, m.Notification.status == DeliveryStatus.SENT) == 300
    _report("deliver x4 processes", notifications=300, per_worker=[len(r["sent"]) for r in reports],
            retries=race.retries(reports), seconds=f"{elapsed:.2f}")


def test_resend_clicked_in_two_processes_at_once_sends_one_email(app, db):
    """A double click whose two requests reach two server processes at the same moment: per invitation, one
    resend goes out; the other click says it was already resent (or is being resent). 10 rounds."""
    [course] = _courses(db, 1)
    contract = services.create_contract(
        code="RESEND", title="Resend", contract_type=ContractType.VOUCHER, seats=10,
        valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2026, 12, 31))
    services.add_activities(contract, [course])
    learners = _learners(db, ROUNDS * 2, "resend-")
    report = services.invite(contract, users=learners)
    ids = [r.invitation_id for r in report.invited]
    url = _release(db)

    reports = race.run("resend_rounds", url, 2, lambda w: {"invitation_ids": ids})

    assert race.tally(reports) == {"ok": 2 * len(ids)}
    resent = [email for r in reports for email, resend in r["sent"] if resend]
    assert len(resent) == len(set(resent)) == len(ids)  # each invitation resent once, whoever won
    for said in zip(*(r["said"] for r in reports)):
        assert sorted(said) == ["already_resent", "sent"], said
    m = services._m()
    assert _count(db, m.Notification, m.Notification.kind == NotificationKind.RESEND) == len(ids)
