"""``reconcile`` while learners enroll, in real processes (issue 14 item 5).

A repairer process tampers with the counters and flags of a contract and repairs them, over and over,
while learner processes enroll through it. Whoever wins each moment, once everyone is done the counters
must agree with the rows, and no seat may be oversold: a repair that counted rows it read before an
enrollment committed would write a stale count (and let the next enrollments oversell).

``LEARNING_CONTRACTS_RACE_REPORT=1`` prints the measured figures.
"""
from __future__ import annotations

import time
from typing import Any

import pytest
import sqlalchemy as sa

from flask_learning_contracts import ContractType, services

from . import host, race
from .test_concurrency import _contract, _count, _courses, _learners, _release, _report

pytestmark = pytest.mark.slow

LEARNER_PROCESSES = 3
ROUNDS = 25


def job_repair_or_enroll(barrier: Any, index: int, *, contract_id: int, role: str,
                         plan: list[tuple[Any, Any]]) -> dict[str, Any]:
    """The learners enroll ``plan``; the repairer tampers and repairs ``ROUNDS`` times."""
    if role == "learner":
        return race.job_enroll(barrier, index, contract_id=contract_id, plan=plan)
    if role == "checker":
        found = []
        for _ in range(ROUNDS):
            outcome, report = race._call(lambda: services.reconcile())
            found.append(len(report.mismatches) if report is not None else outcome)
        return {"outcomes": ["ok"] * len(found), "found": found}
    m = services._m()
    outcomes, repaired = [], 0
    for r in range(ROUNDS):
        with host.db.engine.begin() as connection:  # a person with database access, not a service
            connection.execute(sa.update(m.Invitation.__table__).where(
                m.Invitation.__table__.c.contract_id == contract_id).values(enrolled_count=0))
            connection.execute(sa.update(m.Enrollment.__table__).where(
                m.Enrollment.__table__.c.contract_id == contract_id)
                .values(seat_used=~m.Enrollment.__table__.c.seat_used))
            contract = m.Contract.__table__
            connection.execute(sa.update(contract).where(contract.c.id == contract_id,
                                                         contract.c.seats_used < contract.c.seats)
                               .values(seats_used=contract.c.seats_used + 1))
        time.sleep(0.002)
        outcome, report = race._call(lambda: services.reconcile(repair=True))
        outcomes.append(outcome)
        repaired += bool(report and report.repaired_contracts)
    return {"outcomes": outcomes, "repaired": repaired}


race.JOBS["repair_or_enroll"] = job_repair_or_enroll


@pytest.mark.skipif(race.START_METHOD != "fork", reason="the job is registered by this module (fork start only)")
@pytest.mark.parametrize("contract_type", [ContractType.VOUCHER, ContractType.SUBSCRIPTION])
def test_repair_while_learners_enroll_loses_and_doubles_nothing(app, db, contract_type):
    learners = _learners(db, 30, f"repair-{contract_type.value}-")
    courses = _courses(db, 3)
    seats = 40 if contract_type is ContractType.VOUCHER else 20
    contract = _contract(f"REPAIR-{contract_type.value}", contract_type, seats=seats, activities=courses)
    services.invite(contract, users=learners)
    cid = contract.id
    # Learner i enrolls in every course; the learners are shared out between the learner processes.
    plans = [[(learners[i].id, course.id) for i in range(p, len(learners), LEARNER_PROCESSES) for course in courses]
             for p in range(LEARNER_PROCESSES)]
    url = _release(db)

    started = time.perf_counter()
    reports = race.run("repair_or_enroll", url, LEARNER_PROCESSES + 1, lambda i: {
        "contract_id": cid, "role": "repairer" if i == LEARNER_PROCESSES else "learner",
        "plan": plans[i] if i < LEARNER_PROCESSES else []}, timeout=300)
    seconds = time.perf_counter() - started

    learner_outcomes = race.tally([r for r in reports if "repaired" not in r])
    (repairer,) = [r for r in reports if "repaired" in r]
    repair_outcomes = race.tally([repairer])
    assert set(learner_outcomes) <= {"ok", "NoSeatsAvailable", "Busy"}, learner_outcomes
    assert set(repair_outcomes) <= {"ok", "Busy"}, repair_outcomes
    # The last thing the repairer did was a repair: the counters agree with the rows, none oversold.
    assert race.tally([{"outcomes": repairer["outcomes"][-1:]}]) == {"ok": 1}
    final = services.reconcile()
    assert final.mismatches == [], final.mismatches
    db.session.remove()
    m = services._m()
    c = db.session.get(m.Contract, cid)
    seat_rows = _count(db, m.Seat, m.Seat.contract_id == cid)
    assert c.seats_used == seat_rows <= c.seats
    enrollments = _count(db, m.Enrollment, m.Enrollment.contract_id == cid)
    assert sum(i.enrolled_count for i in db.session.execute(
        sa.select(m.Invitation).where(m.Invitation.contract_id == cid)).scalars()) == enrollments
    assert learner_outcomes["ok"] == enrollments
    _report(f"repair while enrolling ({contract_type.value})", processes=LEARNER_PROCESSES + 1,
            attempts=sum(len(p) for p in plans), enrolled=enrollments, seats=f"{seat_rows}/{c.seats}",
            repairs=f"{repair_outcomes['ok']} ok/{repair_outcomes.get('Busy', 0)} busy",
            rounds_that_repaired=repairer["repaired"], retries=race.retries(reports), seconds=round(seconds, 1))


@pytest.mark.skipif(race.START_METHOD != "fork", reason="the job is registered by this module (fork start only)")
def test_check_while_learners_enroll_finds_nothing(app, db):
    """Each contract is read as one state: an enrollment committing half way through a check is not a mismatch."""
    learners = _learners(db, 30, "check-")
    courses = _courses(db, 3)
    contract = _contract("CHECK", ContractType.SUBSCRIPTION, seats=100, activities=courses)
    services.invite(contract, users=learners)
    plans = [[(learners[i].id, course.id) for i in range(p, len(learners), LEARNER_PROCESSES) for course in courses]
             for p in range(LEARNER_PROCESSES)]
    contract_id = contract.id  # read before the session is released: the contract is detached afterwards
    url = _release(db)
    reports = race.run("repair_or_enroll", url, LEARNER_PROCESSES + 1, lambda i: {
        "contract_id": contract_id, "role": "checker" if i == LEARNER_PROCESSES else "learner",
        "plan": plans[i] if i < LEARNER_PROCESSES else []}, timeout=300)
    (checker,) = [r for r in reports if "found" in r]
    assert race.tally([r for r in reports if "found" not in r]) == {"ok": 90}
    assert checker["found"] == [0] * ROUNDS
    _report("check while enrolling", processes=LEARNER_PROCESSES + 1, checks=ROUNDS, enrolled=90,
            mismatches_seen=sum(checker["found"]))
