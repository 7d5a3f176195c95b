"""Multi-process proofs of the seat guarantees (SPEC rules 4, 5, 8, 9, 10), on a SQLite file and on PostgreSQL.

Every race runs in real OS processes, each with its own app, engine and connections (like gunicorn
workers), released together by a barrier. Assertions never depend on who wins a race, only on the
invariants that must hold whoever wins: ``seats_used == count(seat rows) <= seats``, one enrollment
per (learner, activity), the per-user limit, revoke-xor-enroll, no half-redeemed code, one live invitation
per newly linked learner, one "code redeemed" entry per learner, nothing left of a deleted contract.

``LEARNING_CONTRACTS_RACE_REPORT=1`` prints the measured figures (attempts, seats, retries, time).
"""
from __future__ import annotations

import datetime as dt
import os
import time

import pytest
import sqlalchemy as sa

from flask_learning_contracts import ContractType, InvitationStatus, errors, services

from . import host, race
from .conftest import PG_URL

pytestmark = pytest.mark.slow

WORKERS = 8
ATTEMPTS_PER_WORKER = 50
SEATS = 100
REPORT = bool(os.environ.get("LEARNING_CONTRACTS_RACE_REPORT"))


def _report(name: str, **figures) -> None:
    if REPORT:
        dialect = "postgresql" if PG_URL else "sqlite"
        print(f"\n[race] {dialect} {name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


def _release(db) -> str:
    """Close every connection of the parent before forking; return the database URL for the workers."""
    url = db.engine.url.render_as_string(hide_password=False)
    db.session.remove()
    db.engine.dispose()
    return url


def _learners(db, n: int, prefix: str) -> list:
    users = [host.Account(email_address=f"{prefix}{i}@race.example.com") for i in range(n)]
    db.session.add_all(users)
    db.session.commit()
    return users


def _courses(db, n: int) -> list:
    courses = [host.Course(title=f"Race course {i}") for i in range(n)]
    db.session.add_all(courses)
    db.session.commit()
    return courses


def _contract(code: str, contract_type: ContractType, *, seats: int, activities, **fields):
    contract = services.create_contract(
        code=code, title=f"Race {code}", contract_type=contract_type, seats=seats,
        valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2026, 12, 31), require_invitation_code=False, **fields)
    services.add_activities(contract, activities)
    return contract


def _count(db, model, *where) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model).where(*where)).scalar_one()


def _not_one_link_entry(db, m, contract_id: int, scenario: str, email: str) -> list[str]:
    """``[]`` when the history has exactly one "linked" (``scenario`` "link") or "invitation_merged" entry
    about ``email``, else the problem."""
    action = "invitation_merged" if scenario == "merge" else "linked"
    entries = _count(db, m.HistoryEntry, m.HistoryEntry.contract_id == contract_id, m.HistoryEntry.action == action,
                     m.HistoryEntry.message.contains(email))
    return [] if entries == 1 else [f"{email}: {entries} '{action}' history entries"]


def _assert_counters_agree(db, contract_id: int) -> tuple[int, int]:
    """``seats_used == count(seat rows) <= seats``, enrollments that used a seat match, and the
    reconciliation check finds nothing. Returns (seats_used, seats)."""
    m = services._m()
    db.session.remove()
    contract = db.session.get(m.Contract, contract_id)
    seat_rows = _count(db, m.Seat, m.Seat.contract_id == contract_id)
    seated_enrollments = _count(db, m.Enrollment, m.Enrollment.contract_id == contract_id,
                                m.Enrollment.seat_used.is_(True))
    assert contract.seats_used == seat_rows == seated_enrollments
    assert contract.seats_used <= contract.seats
    assert services.check_seats() == []
    return contract.seats_used, contract.seats


# ---------------------------------------------------------------------------------------------
# 8 processes x 50 attempts for 100 seats
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("journal", ["default", "wal", "serializable"])
@pytest.mark.parametrize("contract_type", [ContractType.VOUCHER, ContractType.SUBSCRIPTION])
def test_many_processes_never_oversell(app, db, contract_type, journal, monkeypatch):
    """400 attempts for 100 seats. Attempt i enrolls learner i // 2 in activity i % 2, so every learner
    is enrolled twice at the same moment by two different processes (Voucher: two seats; Subscription:
    one seat, the second enrollment is free).

    ``serializable``: a PostgreSQL host whose engine runs every transaction SERIALIZABLE (conflicts then
    abort instead of waiting; the service layer retries them)."""
    if journal == "wal":
        if PG_URL:
            pytest.skip("journal mode is a SQLite setting")
        with db.engine.connect() as connection:  # persistent in the file; the workers' engines are untouched
            assert connection.exec_driver_sql("PRAGMA journal_mode=WAL").scalar() == "wal"
    if journal == "serializable":
        if not PG_URL:
            pytest.skip("an isolation level of a PostgreSQL host")
        monkeypatch.setenv("LC_RACE_ISOLATION", "SERIALIZABLE")
    attempts = WORKERS * ATTEMPTS_PER_WORKER
    learners = _learners(db, attempts // 2, f"{contract_type.value}-{journal}-")
    courses = _courses(db, 2)
    contract = _contract("RACE", contract_type, seats=SEATS, activities=courses)
    report = services.invite(contract, users=learners)
    assert len(report.invited) == len(learners)
    cid = contract.id
    plan = [(learners[i // 2].id, courses[i % 2].id) for i in range(attempts)]
    url = _release(db)

    started = time.perf_counter()
    reports = race.run("enroll", url, WORKERS,
                       lambda w: {"contract_id": cid, "plan": [p for i, p in enumerate(plan) if i % WORKERS == w]})
    elapsed = time.perf_counter() - started

    outcomes = race.tally(reports)
    assert sum(outcomes.values()) == attempts
    # no other error leaks; under SERIALIZABLE a conflict that outlasts the retries is "Busy" (try again)
    allowed = {"ok", "NoSeatsAvailable"} | ({"Busy"} if journal == "serializable" else set())
    assert set(outcomes) <= allowed, outcomes
    used, seats = _assert_counters_agree(db, cid)
    assert used == seats == SEATS  # demand exceeds supply: every seat is used, none oversold
    m = services._m()
    enrollments = _count(db, m.Enrollment, m.Enrollment.contract_id == cid)
    if contract_type is ContractType.VOUCHER:
        assert outcomes["ok"] == enrollments == SEATS
    else:  # a learner either holds a seat and has both activities, or has neither (a "Busy" one may miss one)
        busy = outcomes["Busy"]
        assert outcomes["ok"] == enrollments and 2 * SEATS - busy <= enrollments <= 2 * SEATS
        per_learner = db.session.execute(
            sa.select(sa.func.count()).select_from(m.Enrollment).where(m.Enrollment.contract_id == cid)
            .group_by(m.Enrollment.user_id)).scalars().all()
        assert len(per_learner) == SEATS and set(per_learner) <= ({2} if not busy else {1, 2})
    assert outcomes["NoSeatsAvailable"] == attempts - outcomes["ok"] - outcomes["Busy"]
    host_enrollments = _count(db, host.CourseEnrollment)
    assert host_enrollments == enrollments  # the host enrollment is atomic with ours
    enrolled_count = db.session.execute(
        sa.select(sa.func.sum(m.Invitation.enrolled_count)).where(m.Invitation.contract_id == cid)).scalar_one()
    assert enrolled_count == enrollments
    _report(f"seats {contract_type.value} journal={journal}", processes=WORKERS, attempts=attempts, seats=seats,
            seats_used=used, oversold=max(0, used - seats), enrolled=outcomes["ok"],
            refused=outcomes["NoSeatsAvailable"], busy=outcomes["Busy"], retries=race.retries(reports),
            seconds=f"{elapsed:.2f}")


# ---------------------------------------------------------------------------------------------
# double clicks, one learner in many activities, per-user limit
# ---------------------------------------------------------------------------------------------
ROUNDS = 5


def _race_rounds(db, code: str, prefix: str, contract_type: ContractType, *, n_courses: int, processes: int,
                 seats: int, course_of, **fields) -> tuple[int, list, list, float]:
    """A new contract with ``n_courses`` activities and ``ROUNDS`` invited learners; ``processes`` processes
    enroll every learner, one round per learner, worker ``w`` in activity ``course_of(w)``.
    Returns (contract id, learner ids, the workers' reports, seconds)."""
    learners = _learners(db, ROUNDS, prefix)
    courses = _courses(db, n_courses)
    contract = _contract(code, contract_type, seats=seats, activities=courses, **fields)
    services.invite(contract, users=learners)
    cid, user_ids, course_ids = contract.id, [u.id for u in learners], [c.id for c in courses]
    url = _release(db)

    started = time.perf_counter()
    reports = race.run("enroll_rounds", url, processes, lambda w: {
        "contract_id": cid, "rounds": [(u, course_ids[course_of(w)]) for u in user_ids]})
    return cid, user_ids, reports, time.perf_counter() - started


@pytest.mark.parametrize("seats", [SEATS, ROUNDS], ids=["ample-seats", "last-seat"])
def test_same_learner_same_activity_from_eight_processes(app, db, seats):
    """A double click (here eight) is one enrollment and one seat, also when that seat is the last one: the
    click that loses the race gets the winner's enrollment, not "no seats left"."""
    cid, user_ids, reports, elapsed = _race_rounds(db, "TWIN", "twin", ContractType.VOUCHER, n_courses=1,
                                                   processes=WORKERS, seats=seats, course_of=lambda w: 0)

    outcomes = race.tally(reports)
    assert outcomes == {"ok": WORKERS * ROUNDS}, outcomes  # idempotent: every click gets the enrollment
    for r in range(ROUNDS):
        assert len({rep["enrollment_ids"][r] for rep in reports}) == 1  # ... the same one
    m = services._m()
    used, _ = _assert_counters_agree(db, cid)
    assert used == ROUNDS
    for user_id in user_ids:
        assert _count(db, m.Enrollment, m.Enrollment.user_id == user_id) == 1
        assert _count(db, m.Seat, m.Seat.user_id == user_id) == 1
    assert _count(db, host.CourseEnrollment) == ROUNDS
    _report("same learner+activity x8", rounds=ROUNDS, calls=WORKERS * ROUNDS, seats_used=used,
            retries=race.retries(reports), seconds=f"{elapsed:.2f}")


@pytest.mark.parametrize("seats", [SEATS, ROUNDS], ids=["ample-seats", "last-seat"])
def test_subscription_learner_in_five_activities_at_once(app, db, seats):
    """One Subscription seat however many activities the learner starts at once, also when it is the last
    seat: the learner's other activities then need no seat and must not be refused for lack of one."""
    cid, user_ids, reports, elapsed = _race_rounds(db, "SUB5", "sub", ContractType.SUBSCRIPTION, n_courses=5,
                                                   processes=5, seats=seats, course_of=lambda w: w)

    outcomes = race.tally(reports)
    assert outcomes == {"ok": 5 * ROUNDS}, outcomes
    m = services._m()
    used, _ = _assert_counters_agree(db, cid)
    assert used == ROUNDS  # one seat per learner
    for user_id in user_ids:
        assert _count(db, m.Seat, m.Seat.user_id == user_id) == 1
        assert _count(db, m.Enrollment, m.Enrollment.user_id == user_id) == 5
        invitation = db.session.execute(sa.select(m.Invitation).where(m.Invitation.user_id == user_id)).scalar_one()
        assert invitation.enrolled_count == 5 and invitation.status is InvitationStatus.ENROLLED
    _report("subscription 5 activities x5", rounds=ROUNDS, seats_used=used, retries=race.retries(reports),
            seconds=f"{elapsed:.2f}")


@pytest.mark.parametrize("contract_type", [ContractType.VOUCHER, ContractType.SUBSCRIPTION])
def test_per_user_limit_holds_under_six_simultaneous_enrollments(app, db, contract_type):
    cid, user_ids, reports, elapsed = _race_rounds(db, "LIMIT", f"limit-{contract_type.value}-", contract_type,
                                                   n_courses=6, processes=6, seats=SEATS, course_of=lambda w: w,
                                                   per_user_limit=2)

    for r in range(ROUNDS):
        in_round = sorted(rep["outcomes"][r] for rep in reports)
        assert in_round == ["PerUserLimitReached"] * 4 + ["ok"] * 2, in_round
    m = services._m()
    used, _ = _assert_counters_agree(db, cid)
    assert used == (2 * ROUNDS if contract_type is ContractType.VOUCHER else ROUNDS)
    for user_id in user_ids:
        assert _count(db, m.Enrollment, m.Enrollment.user_id == user_id) == 2
    assert _count(db, host.CourseEnrollment) == 2 * ROUNDS
    _report(f"per-user limit 2, 6 at once ({contract_type.value})", rounds=ROUNDS, seats_used=used,
            retries=race.retries(reports), seconds=f"{elapsed:.2f}")


# ---------------------------------------------------------------------------------------------
# revoke vs enroll; redeem vs regenerate
# ---------------------------------------------------------------------------------------------
RACE_ROUNDS = 12


def _delays(r: int, first: str, roles: tuple[str, ...]) -> dict[str, int]:
    """``first`` starts at once; the others 0-15 ms later, differently each round, so both sides get to win
    (the learner's side does more work before it takes its lock)."""
    return {role: 0 if role == first else (r % 6) * 3 for role in roles}


def test_revoke_and_enroll_at_the_same_moment(app, db):
    admins = [host.Account(email_address=f"admin{i}@race.example.com", is_manager=True) for i in range(2)]
    db.session.add_all(admins)
    learners = _learners(db, RACE_ROUNDS, "revokee")
    courses = _courses(db, 1)
    contract = _contract("REVOKE", ContractType.VOUCHER, seats=SEATS, activities=courses)
    report = services.invite(contract, users=learners)
    invitation_ids = [r.invitation_id for r in report.invited]
    cid = contract.id
    roles = ("admin0", "admin1", "learner")
    rounds = [{"user_id": learners[r].id, "activity_id": courses[0].id, "invitation_id": invitation_ids[r],
               "delay_ms": _delays(r, "learner", roles)} for r in range(RACE_ROUNDS)]
    admin_ids, user_ids = [a.id for a in admins], [u.id for u in learners]
    url = _release(db)

    started = time.perf_counter()
    reports = race.run("revoke_or_enroll", url, 3, lambda w: {
        "contract_id": cid, "role": roles[w],
        "rounds": [dict(r, admin_id=admin_ids[w % 2]) for r in rounds]})
    elapsed = time.perf_counter() - started

    m = services._m()
    db.session.remove()
    wins = {"revoke": 0, "enroll": 0}
    for r in range(RACE_ROUNDS):
        revokes = sorted(reports[w]["outcomes"][r] for w in (0, 1))
        enrolled = reports[2]["outcomes"][r]
        invitation = db.session.get(m.Invitation, invitation_ids[r])
        seats = _count(db, m.Seat, m.Seat.user_id == user_ids[r])
        enrollments = _count(db, m.Enrollment, m.Enrollment.invitation_id == invitation_ids[r])
        if enrolled == "ok":  # the enrollment won: nobody revoked
            wins["enroll"] += 1
            assert revokes == ["RevokeNotAllowed", "RevokeNotAllowed"], (r, revokes)
            assert invitation.status is InvitationStatus.ENROLLED and invitation.revoked_at is None
            assert (seats, enrollments, invitation.enrolled_count) == (1, 1, 1)
        else:  # one revoke won, the other admin and the learner were refused
            wins["revoke"] += 1
            assert enrolled == "InvitationRevoked", (r, enrolled)
            assert revokes == ["RevokeNotAllowed", "ok"], (r, revokes)
            assert invitation.status is InvitationStatus.REVOKED and invitation.revoked_at is not None
            assert (seats, enrollments, invitation.enrolled_count) == (0, 0, 0)
    _assert_counters_agree(db, cid)
    assert _count(db, host.CourseEnrollment) == wins["enroll"]
    _report("revoke x2 vs enroll", rounds=RACE_ROUNDS, enroll_won=wins["enroll"], revoke_won=wins["revoke"],
            retries=race.retries(reports), seconds=f"{elapsed:.2f}")


def test_redeem_and_regenerate_code_at_the_same_moment(app, db):
    learners = _learners(db, RACE_ROUNDS, "redeemer")
    courses = _courses(db, 2)
    contract = _contract("REGEN", ContractType.VOUCHER, seats=SEATS, activities=courses)
    cid, user_ids, emails = contract.id, [u.id for u in learners], [u.email_address for u in learners]
    course_ids = {c.id for c in courses}
    roles = ("learner", "admin")
    rounds = [{"user_id": user_ids[r], "delay_ms": _delays(r, "learner", roles)} for r in range(RACE_ROUNDS)]
    url = _release(db)

    started = time.perf_counter()
    reports = race.run("redeem_or_regenerate", url, 2, lambda w: {"contract_id": cid, "role": roles[w],
                                                                  "rounds": rounds})
    elapsed = time.perf_counter() - started

    learner, admin = reports
    assert set(admin["outcomes"]) == {"ok"}  # regenerating always succeeds
    m = services._m()
    db.session.remove()
    wins = {"redeem": 0, "regenerate first": 0}
    for r in range(RACE_ROUNDS):
        old_code, _ = learner["codes"][r]
        admin_old, new_code = admin["codes"][r]
        assert old_code == admin_old != new_code  # both started from the same code
        invitations = db.session.execute(
            sa.select(m.Invitation).where(m.Invitation.user_id == user_ids[r])).scalars().all()
        if learner["outcomes"][r] == "ok":  # redeemed while the old code was still the contract's code
            wins["redeem"] += 1
            assert len(invitations) == 1
            invitation = invitations[0]
            assert invitation.status is InvitationStatus.ACCEPTED and invitation.code_redeemed_at is not None
            assert {a.id for a in invitation.activities} == course_ids  # not half-written
        else:  # the regenerate committed first: the old code no longer works and nothing was written
            wins["regenerate first"] += 1
            assert learner["outcomes"][r] == "InvalidCode"
            assert invitations == []
        redeemed = _count(db, m.HistoryEntry, m.HistoryEntry.contract_id == cid,
                          m.HistoryEntry.action == "code_redeemed",
                          m.HistoryEntry.message.contains(emails[r]))
        assert redeemed == len(invitations)
    orphans = _count(db, m.InvitationActivity, ~m.InvitationActivity.invitation_id.in_(sa.select(m.Invitation.id)))
    assert orphans == 0
    contract = db.session.get(m.Contract, cid)
    assert contract.invitation_code == admin["codes"][-1][1]
    assert _count(db, m.HistoryEntry, m.HistoryEntry.action == "code_regenerated") == RACE_ROUNDS
    late = _learners(db, 1, "late")[0]
    with pytest.raises(errors.InvalidCode):  # every old code is dead afterwards
        services.redeem_code(late, admin["codes"][0][0])
    _report("redeem vs regenerate", rounds=RACE_ROUNDS, redeem_won=wins["redeem"],
            regenerate_first=wins["regenerate first"], retries=race.retries(reports), seconds=f"{elapsed:.2f}")


# ---------------------------------------------------------------------------------------------
# a new learner opens several learner pages at once (issue 14, item 1)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("processes", [2, WORKERS])
@pytest.mark.parametrize("scenario", ["link", "merge"])
def test_a_new_learner_opening_pages_at_once_keeps_one_invitation(app, db, scenario, processes):
    """An e-mail invitation to an address without an account; the person signs up and ``processes`` learner
    pages load at the same moment, each linking the invitation through ``invitations_for``.

    ``link``: the invitation becomes the learner's (Outstanding). ``merge``: the learner already holds an
    invitation under their previous e-mail, so the e-mail invitation is merged into it (one invitation
    covering the activities of both). Either way: exactly one live invitation, no error page."""
    courses = _courses(db, 2)
    contract = _contract("LINK", ContractType.VOUCHER, seats=SEATS, activities=courses)
    learners = _learners(db, RACE_ROUNDS, f"{scenario}-old-" if scenario == "merge" else "unused-")
    if scenario == "merge":  # invited under their old address (first course), then by e-mail (second course)
        services.invite(contract, users=learners, activities=[courses[0]])
    emails = [f"{scenario}-new-{r}@race.example.com" for r in range(RACE_ROUNDS)]
    report = services.invite(contract, emails=emails, activities=[courses[1]])
    assert len(report.not_registered) == RACE_ROUNDS
    for learner, email in zip(learners, emails):  # sign-up (link) or e-mail change (merge)
        learner.email_address = email
    db.session.commit()
    cid, user_ids, course_ids = contract.id, [u.id for u in learners], [c.id for c in courses]
    url = _release(db)

    started = time.perf_counter()
    reports = race.run("learner_pages", url, processes, lambda w: {"path": "/learning-contracts/",
                                                                   "user_ids": user_ids})
    elapsed = time.perf_counter() - started

    m = services._m()
    db.session.remove()
    problems = []  # every broken round, so a failure shows how often each violation happened
    for user_id, email in zip(user_ids, emails):
        live = db.session.execute(sa.select(m.Invitation).where(
            m.Invitation.contract_id == cid, m.Invitation.status != InvitationStatus.REVOKED,
            sa.or_(m.Invitation.user_id == user_id, m.Invitation.email == email))).scalars().all()
        if len(live) != 1:
            problems.append(f"{email}: {len(live)} live invitations")
            continue
        [invitation] = live
        if (invitation.user_id, invitation.status) != (user_id, InvitationStatus.OUTSTANDING):
            problems.append(f"{email}: {invitation.status} for {invitation.user_id}")
        expected = course_ids if scenario == "merge" else course_ids[1:]
        if sorted(a.id for a in invitation.fixed_activities) != expected:
            problems.append(f"{email}: covers {[a.id for a in invitation.fixed_activities]}")
        problems += _not_one_link_entry(db, m, cid, scenario, email)
    outcomes = race.tally(reports)
    assert outcomes == {"ok": processes * RACE_ROUNDS} and not problems, (dict(outcomes), problems)
    orphans = _count(db, m.InvitationActivity, ~m.InvitationActivity.invitation_id.in_(sa.select(m.Invitation.id)))
    assert orphans == 0
    _report(f"new learner, {processes} pages at once ({scenario})", rounds=RACE_ROUNDS, processes=processes,
            lost=0, retries=race.retries(reports), seconds=f"{elapsed:.2f}")


# ---------------------------------------------------------------------------------------------
# one learner redeems the code from several tabs at once (issue 14, item 7)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("invited", [True, False], ids=["invited", "uninvited"])
def test_simultaneous_redeems_by_one_learner_write_one_history_entry(app, db, invited):
    """8 processes redeem the code for the same learner at once (each with its own clock): every call succeeds,
    one "code redeemed" history entry is written, and the redeem time is the first redeem's (the one that wrote
    that entry), never overwritten by a later call."""
    courses = _courses(db, 2)
    contract = _contract("REDEEM", ContractType.VOUCHER, seats=SEATS, activities=courses)
    services.update_contract(contract, require_invitation_code=True)
    learners = _learners(db, ROUNDS, "redeem-invited-" if invited else "redeem-new-")
    if invited:
        services.invite(contract, users=learners)
    cid, code, course_ids = contract.id, contract.invitation_code, [c.id for c in courses]
    user_ids, emails = [u.id for u in learners], [u.email_address for u in learners]
    url = _release(db)

    started = time.perf_counter()
    reports = race.run("redeem_rounds", url, WORKERS, lambda w: {"rounds": [(u, code) for u in user_ids]})
    elapsed = time.perf_counter() - started

    m = services._m()
    db.session.remove()
    clocks = {rep["clock"].replace(tzinfo=None) for rep in reports}
    problems = []
    for user_id, email in zip(user_ids, emails):
        invitations = db.session.execute(sa.select(m.Invitation).where(
            m.Invitation.contract_id == cid, m.Invitation.user_id == user_id)).scalars().all()
        entries = db.session.execute(sa.select(m.HistoryEntry).where(
            m.HistoryEntry.contract_id == cid, m.HistoryEntry.action == "code_redeemed",
            m.HistoryEntry.message.contains(email))).scalars().all()
        if len(invitations) != 1 or not entries:
            problems.append(f"{email}: {len(invitations)} invitations, {len(entries)} 'code redeemed' entries")
            continue
        [invitation], first = invitations, min(entries, key=lambda e: e.id)
        if len(entries) != 1:
            problems.append(f"{email}: {len(entries)} 'code redeemed' entries")
        if invitation.status is not InvitationStatus.ACCEPTED or invitation.code_redeemed_at not in clocks:
            problems.append(f"{email}: {invitation.status} redeemed at {invitation.code_redeemed_at}")
        elif invitation.code_redeemed_at != first.at:
            problems.append(f"{email}: redeem time {invitation.code_redeemed_at} overwrote the first, {first.at}")
        if sorted(a.id for a in invitation.fixed_activities) != course_ids:
            problems.append(f"{email}: covers {[a.id for a in invitation.fixed_activities]}")
    outcomes = race.tally(reports)
    assert outcomes == {"ok": WORKERS * ROUNDS} and not problems, (dict(outcomes), problems)
    _report(f"redeem x{WORKERS} ({'invited' if invited else 'uninvited'})", rounds=ROUNDS, duplicates=0,
            retries=race.retries(reports), seconds=f"{elapsed:.2f}")


# ---------------------------------------------------------------------------------------------
# a contract deleted while its learners enroll (issue 14, item 8)
# ---------------------------------------------------------------------------------------------
def test_enrolling_while_the_contract_is_deleted(app, db):
    """Round ``r``: 5 learners who loaded contract ``r`` enroll while an admin deletes it (0-15 ms apart, so
    either side gets there first). Every learner is enrolled or told the contract no longer exists (never an
    unexpected error), the delete always succeeds, and nothing of the contract is left behind."""
    n_learners = 5
    admin = host.Account(email_address="deleter@race.example.com", is_manager=True)
    db.session.add(admin)
    learners = _learners(db, n_learners, "deleted-")
    courses = _courses(db, 1)
    contract_ids = []
    for r in range(RACE_ROUNDS):
        contract = _contract(f"GONE{r}", ContractType.VOUCHER, seats=SEATS, activities=courses)
        services.invite(contract, users=learners)
        contract_ids.append(contract.id)
    admin_id, user_ids, course_id = admin.id, [u.id for u in learners], courses[0].id
    url = _release(db)

    started = time.perf_counter()
    reports = race.run("enroll_or_delete", url, n_learners + 1, lambda w: {
        "role": "admin" if w == n_learners else "learner",
        "rounds": [{"contract_id": cid, "user_id": admin_id if w == n_learners else user_ids[w],
                    "activity_id": course_id, "delay_ms": 0 if w == n_learners else (r % 6) * 3}
                   for r, cid in enumerate(contract_ids)]})
    elapsed = time.perf_counter() - started

    *learner_reports, admin_report = reports
    assert set(admin_report["outcomes"]) == {"ok"}, admin_report["outcomes"]
    outcomes = race.tally(learner_reports)
    assert set(outcomes) <= {"ok", "ContractNotFound"}, outcomes
    m = services._m()
    db.session.remove()
    for model in (m.Contract, m.Invitation, m.Seat, m.Enrollment, m.InvitationActivity, m.ContractActivity):
        assert _count(db, model) == 0, model
    assert _count(db, host.CourseEnrollment) == outcomes["ok"]  # host enrollments are kept
    _report("enroll x5 vs delete", rounds=RACE_ROUNDS, enrolled=outcomes["ok"], refused=outcomes["ContractNotFound"],
            retries=race.retries(reports), seconds=f"{elapsed:.2f}")
