"""Bulk invites racing other writers: a concurrent invite is reported, a retried transaction rereads the file."""
from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from flask_learning_contracts import ContractType, InvitationStatus, services


class OneWayStream(io.RawIOBase):
    """A stream that cannot seek (like a socket or a pipe upload)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: int = -1) -> bytes:
        return self._data.read(size)


CSV = b"a@example.com\nb@example.com\nc@example.com\n"


@pytest.fixture
def contract(app, rules):
    return services.create_contract(
        code="RACE", title="Race", contract_type=ContractType.SUBSCRIPTION, seats=5,
        valid_from=rules.today(), valid_until=rules.today())


def our_insert(statement: str) -> bool:
    # On PostgreSQL the batch insert is a data-modifying WITH that also writes the batch's notifications.
    head = statement.lstrip()
    return (head.startswith("INSERT INTO lc_invitation ") or (head.startswith("WITH ") and "INSERT INTO lc_invitation "
                                                                in head)) and "ON CONFLICT" in statement


def emails_of(db, m, contract):
    return db.session.execute(sa.select(m.Invitation.email).where(m.Invitation.contract_id == contract.id)
                              .order_by(m.Invitation.email)).scalars().all()


def test_an_invite_committed_by_another_worker_meanwhile_is_reported_already_invited(db, m, rules, contract):
    done = []

    def concurrent_invite(conn, cursor, statement, parameters, context, executemany):
        # Just before our invite writes anything (it first takes the contract's row, which on SQLite is the
        # database's write lock), another worker commits b@example.com; our insert then meets it.
        if statement.startswith("UPDATE lc_contract SET updated_at") and not done:
            done.append(True)
            with db.engine.connect() as other:
                other.execute(sa.insert(m.Invitation.__table__).values(
                    contract_id=contract.id, email="b@example.com", status=InvitationStatus.NOT_REGISTERED.value,
                    require_code=True, enrolled_count=0, invited_at=rules.now().replace(tzinfo=None), send_count=0))
                other.commit()

    sa.event.listen(db.engine, "before_cursor_execute", concurrent_invite)
    try:
        report = services.invite_csv(contract, io.BytesIO(CSV))
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", concurrent_invite)

    assert done
    assert sorted(r.email for r in report.not_registered) == ["a@example.com", "c@example.com"]
    assert [(r.email, r.line, r.message) for r in report.already_invited] == [
        ("b@example.com", 2, "Already invited (Not Registered).")]
    assert emails_of(db, m, contract) == ["a@example.com", "b@example.com", "c@example.com"]


def test_a_retried_csv_invite_reads_a_one_way_upload_again_from_its_start(db, m, contract):
    attempts = []

    def locked_once(conn, cursor, statement, parameters, context, executemany):
        if our_insert(statement):
            attempts.append(statement)
            if len(attempts) == 1:
                raise sa.exc.OperationalError(statement, parameters, Exception("database is locked"))

    sa.event.listen(db.engine, "before_cursor_execute", locked_once)
    try:
        report = services.invite_csv(contract, OneWayStream(CSV))
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", locked_once)

    assert len(attempts) == 2  # the transaction was retried, and the second attempt saw the whole file
    assert sorted(r.email for r in report.not_registered) == ["a@example.com", "b@example.com", "c@example.com"]
    assert emails_of(db, m, contract) == ["a@example.com", "b@example.com", "c@example.com"]
