"""Faults: the host's enrollment hook or notification hook failing, the database connection dropping,
deadlocks and serialization failures (SPEC rules 4, 14, 16; issue "Faults"), and the reconciliation check.

Chosen behaviour for notifications: an invitation is committed first and the host is notified after;
a failed notification never removes the invitation, it is reported in ``report.notification_failures``
and in the contract's history so the admin can resend.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from flask_learning_contracts import ContractType, InvitationStatus, errors, services

from . import host
from .conftest import PG_URL, count


@pytest.fixture
def m(app):
    return app.extensions["learning_contracts"].models


@pytest.fixture
def setup(make_contract, make_user, make_course):
    """A Voucher contract with one seat left for a learner who may enroll straight away."""
    courses = [make_course("Safety 101"), make_course("Safety 102")]
    contract = make_contract(ContractType.VOUCHER, seats=1, activities=courses, require_invitation_code=False)
    learner = make_user("learner@example.com")
    report = services.invite(contract, users=[learner])
    return contract, learner, courses, services.get_invitation(report.invited[0].invitation_id)


class _Orig(Exception):
    """A DB-API error carrying an SQLSTATE, as psycopg raises them."""

    def __init__(self, message: str, sqlstate: str | None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def db_error(message: str, sqlstate: str | None = None, **kw) -> sa_exc.OperationalError:
    return sa_exc.OperationalError("UPDATE lc_contract SET seats_used=seats_used + 1", {}, _Orig(message, sqlstate), **kw)


def hook_that(rules, monkeypatch, behave):
    """Replace the host's enrollment hook: do the real host enrollment, then ``behave(call_number)``."""
    calls = []
    real = type(rules).enroll_in_activity

    def hook(user, activity, contract):
        calls.append(1)
        real(rules, user, activity, contract)
        behave(len(calls))

    monkeypatch.setattr(rules, "enroll_in_activity", hook)
    return calls


def snapshot(db, m, contract, invitation):
    db.session.rollback()
    db.session.expire_all()
    inv = services.get_invitation(invitation.id)
    return {
        "seats_used": services.get_contract(contract.id).seats_used,
        "seat_rows": count(db, m.Seat), "enrollments": count(db, m.Enrollment),
        "host_enrollments": count(db, host.CourseEnrollment),
        "status": inv.status, "enrolled_count": inv.enrolled_count, "code_redeemed_at": inv.code_redeemed_at,
    }


def failures_in_history(contract):
    return [h for h in services.history(services.get_contract(contract.id)) if h.action == "enrollment_failed"]


# ---------------------------------------------------------------------------------------------
# the host enrollment hook fails
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("failure", [
    RuntimeError("LMS enrollment API returned 500"),
    TimeoutError("LMS enrollment API timed out after 30 s"),
    db_error("disk I/O error"),  # a database error that is not worth retrying
    ValueError(""),  # no message at all
], ids=["raises", "times-out", "database-error", "silent"])
def test_failing_enrollment_hook_leaves_nothing_behind(db, m, rules, setup, monkeypatch, failure):
    contract, learner, courses, invitation = setup
    before = snapshot(db, m, contract, invitation)

    def fail(call):
        raise failure

    calls = hook_that(rules, monkeypatch, fail)
    with pytest.raises(errors.HostEnrollmentFailed) as refused:
        services.enroll(learner, contract, courses[0])

    assert len(calls) == 1  # a host refusal is not retried
    assert "No seat was used" in str(refused.value)
    assert snapshot(db, m, contract, invitation) == before  # no seat, no enrollment, host row rolled back
    assert before["seat_rows"] == before["host_enrollments"] == 0
    (failed,) = failures_in_history(contract)
    assert "learner@example.com" in failed.message and "Safety 101" in failed.message
    assert (str(getattr(failure, "orig", None) or failure) or type(failure).__name__) in failed.message

    # the seat is still there for the next attempt once the host recovers
    monkeypatch.undo()
    services.enroll(learner, contract, courses[0])
    assert services.get_contract(contract.id).seats_used == 1


def test_host_row_refused_by_the_database_at_flush(db, m, rules, setup, monkeypatch):
    """The host's own row breaks one of its constraints: the failure surfaces in our flush, which leaves the
    session needing a rollback. The learner still gets the refusal and the history its entry."""
    contract, learner, courses, invitation = setup
    before = snapshot(db, m, contract, invitation)

    def bad_row(user, activity, contract):
        db.session.add(host.CourseEnrollment(account_id=None, course_id=activity.id))  # NOT NULL broken

    monkeypatch.setattr(rules, "enroll_in_activity", bad_row)
    with pytest.raises(errors.HostEnrollmentFailed):
        services.enroll(learner, contract, courses[0])
    assert snapshot(db, m, contract, invitation) == before
    (failed,) = failures_in_history(contract)
    assert "learner@example.com" in failed.message and "Safety 101" in failed.message


def test_connection_invalidated_inside_the_hook(db, m, rules, setup, monkeypatch):
    """The hook's connection is invalidated (as when a pooled connection dies under it)."""
    contract, learner, courses, invitation = setup
    before = snapshot(db, m, contract, invitation)

    def drop(call):
        db.session.connection().invalidate()
        db.session.execute(sa.text("SELECT 1"))

    hook_that(rules, monkeypatch, drop)
    with pytest.raises(errors.HostEnrollmentFailed):
        services.enroll(learner, contract, courses[0])
    assert snapshot(db, m, contract, invitation) == before
    assert len(failures_in_history(contract)) == 1


def _drop_connection(db):
    """Really lose the connection on PostgreSQL (the server ends the backend); on SQLite, invalidate it and
    raise what SQLAlchemy raises for a lost connection."""
    if PG_URL:
        db.session.execute(sa.text("SELECT pg_terminate_backend(pg_backend_pid())"))
    connection = db.session.connection()
    connection.invalidate()
    raise db_error("server closed the connection unexpectedly", None, connection_invalidated=True)


def test_connection_dropped_once_is_retried_and_enrolls_once(db, m, rules, setup, monkeypatch):
    contract, learner, courses, invitation = setup
    retried = services.retry_counts["transient"]

    def drop_first(call):
        if call == 1:
            _drop_connection(db)

    calls = hook_that(rules, monkeypatch, drop_first)
    services.enroll(learner, contract, courses[0])

    assert len(calls) == 2
    assert services.retry_counts["transient"] == retried + 1
    after = snapshot(db, m, contract, invitation)
    assert (after["seats_used"], after["seat_rows"], after["enrollments"], after["host_enrollments"]) == (1, 1, 1, 1)
    assert after["status"] is InvitationStatus.ENROLLED and after["enrolled_count"] == 1
    assert failures_in_history(contract) == []


def test_connection_that_keeps_dropping_gives_up_cleanly(app, db, m, rules, setup, monkeypatch):
    contract, learner, courses, invitation = setup
    app.config["LEARNING_CONTRACTS_RETRY_ATTEMPTS"] = 3
    before = snapshot(db, m, contract, invitation)
    calls = hook_that(rules, monkeypatch, lambda call: _drop_connection(db))

    with pytest.raises(errors.Busy):
        services.enroll(learner, contract, courses[0])
    assert len(calls) == 3
    assert snapshot(db, m, contract, invitation) == before
    (failed,) = failures_in_history(contract)
    assert "no seat was used" in failed.message


# ---------------------------------------------------------------------------------------------
# deadlocks and serialization failures: retried a bounded number of times, then Busy
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sqlstate", ["40001", "40P01"], ids=["serialization-failure", "deadlock"])
def test_transient_conflicts_are_retried_then_reported_busy(app, db, m, rules, setup, monkeypatch, sqlstate):
    contract, learner, courses, invitation = setup
    before = snapshot(db, m, contract, invitation)
    attempts = app.config["LEARNING_CONTRACTS_RETRY_ATTEMPTS"]
    assert 1 < attempts <= 10  # bounded
    retried = services.retry_counts["transient"]

    def conflict(call):
        raise db_error("could not serialize access due to concurrent update", sqlstate)

    calls = hook_that(rules, monkeypatch, conflict)
    with pytest.raises(errors.Busy) as busy:
        services.enroll(learner, contract, courses[0])

    assert len(calls) == attempts
    assert services.retry_counts["transient"] == retried + attempts - 1
    assert busy.value.http_status == 503 and "try again" in str(busy.value)
    assert snapshot(db, m, contract, invitation) == before
    assert len(failures_in_history(contract)) == 1


def test_retry_limit_is_configurable(app, db, rules, setup, monkeypatch):
    contract, learner, courses, _ = setup
    app.config["LEARNING_CONTRACTS_RETRY_ATTEMPTS"] = 2

    def conflict(call):
        raise db_error("deadlock detected", "40P01")

    calls = hook_that(rules, monkeypatch, conflict)
    with pytest.raises(errors.Busy):
        services.enroll(learner, contract, courses[0])
    assert len(calls) == 2


def test_transient_conflict_then_success_uses_one_seat(db, m, rules, setup, monkeypatch):
    contract, learner, courses, invitation = setup

    def conflict_twice(call):
        if call <= 2:
            raise db_error("could not serialize access due to concurrent update", "40001")

    calls = hook_that(rules, monkeypatch, conflict_twice)
    enrollment = services.enroll(learner, contract, courses[0])

    assert len(calls) == 3 and enrollment.id is not None
    after = snapshot(db, m, contract, invitation)
    assert (after["seats_used"], after["seat_rows"], after["enrollments"], after["host_enrollments"]) == (1, 1, 1, 1)
    assert after["enrolled_count"] == 1 and after["status"] is InvitationStatus.ENROLLED
    assert services.check_seats() == []


# ---------------------------------------------------------------------------------------------
# the notification hook fails: the invitation stays and the failure is reported
# ---------------------------------------------------------------------------------------------
def test_failing_notification_keeps_invitation_and_reports_it(db, m, rules, make_contract, make_user, make_course):
    contract = make_contract(ContractType.SUBSCRIPTION, activities=[make_course()])
    ok_user, failing_user = make_user("fine@example.com"), make_user("bounce@example.com")
    real_send = type(rules).send_invitation

    def send(invitation, resend=False):
        if invitation.email == "bounce@example.com":
            raise ConnectionRefusedError("SMTP server refused the connection")
        real_send(rules, invitation, resend)

    rules.send_invitation = send
    report = services.invite(contract, users=[ok_user, failing_user])

    assert {r.email for r in report.invited} == {"fine@example.com", "bounce@example.com"}
    ((failed, message),) = report.notification_failures
    assert failed.email == "bounce@example.com" and "SMTP server refused" in message
    assert rules.sent == [("fine@example.com", False)]
    db.session.rollback()
    db.session.expire_all()
    statuses = dict(db.session.execute(sa.select(m.Invitation.email, m.Invitation.status)).all())
    assert statuses == {"fine@example.com": InvitationStatus.OUTSTANDING,
                        "bounce@example.com": InvitationStatus.OUTSTANDING}
    entries = [h for h in services.history(services.get_contract(contract.id)) if h.action == "notification_failed"]
    assert len(entries) == 1 and "bounce@example.com" in entries[0].message


def test_failing_notification_in_csv_invite_is_reported(db, m, rules, make_contract, make_user, make_course):
    import io

    contract = make_contract(ContractType.SUBSCRIPTION, activities=[make_course()])
    make_user("a@example.com")
    rules.fail_notification = TimeoutError("mail relay timed out")
    report = services.invite_csv(contract, io.BytesIO(b"email\na@example.com\nnew@example.com\n"))
    assert len(report.invited) == 1 and len(report.not_registered) == 1
    assert len(report.notification_failures) == 2
    assert count(db, m.Invitation) == 2
    assert any(h.action == "notification_failed" for h in services.history(services.get_contract(contract.id)))


def test_failing_resend_is_refused_recorded_and_changes_nothing(db, m, rules, setup):
    contract, learner, courses, invitation = setup
    sent_before = services.get_invitation(invitation.id).send_count
    rules.fail_notification = ConnectionRefusedError("SMTP down")
    with pytest.raises(errors.LearningContractError) as refused:
        services.resend(services.get_invitation(invitation.id))
    assert "SMTP down" in str(refused.value)
    db.session.rollback()
    db.session.expire_all()
    assert services.get_invitation(invitation.id).send_count == sent_before
    assert any(h.action == "notification_failed" and "SMTP down" in h.message
               for h in services.history(services.get_contract(contract.id)))


# ---------------------------------------------------------------------------------------------
# flask contracts check: reconciliation of the counters with the seat and enrollment rows
# ---------------------------------------------------------------------------------------------
def test_check_command_passes_on_a_healthy_database(app, setup):
    contract, learner, courses, _ = setup
    services.enroll(learner, contract, courses[0])
    result = app.test_cli_runner().invoke(args=["contracts", "check"])
    assert result.exit_code == 0, result.output
    assert "agree" in result.output


def test_check_command_finds_a_corrupted_seat_counter(app, db, m, setup, make_contract):
    contract, learner, courses, _ = setup
    services.enroll(learner, contract, courses[0])
    other = make_contract(ContractType.SUBSCRIPTION, seats=10)
    db.session.execute(sa.update(m.Contract).where(m.Contract.id == other.id).values(seats_used=3))
    db.session.commit()

    result = app.test_cli_runner().invoke(args=["contracts", "check"])
    assert result.exit_code == 1
    assert f"MISMATCH {other.code}" in result.output
    assert "seats_used is 3 but 0 seat rows exist" in result.output
    assert contract.code not in result.output.replace(other.code, "")


def test_check_command_finds_a_corrupted_enrollment_counter(app, db, m, setup):
    contract, learner, courses, invitation = setup
    services.enroll(learner, contract, courses[0])
    db.session.execute(sa.update(m.Invitation).where(m.Invitation.id == invitation.id).values(enrolled_count=2))
    db.session.commit()

    result = app.test_cli_runner().invoke(args=["contracts", "check"])
    assert result.exit_code == 1
    assert "counts 2 enrollments but has 1" in result.output
