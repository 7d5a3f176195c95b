"""A CSV invite that loses a race to a concurrent invite is retried from the start of the file."""
from __future__ import annotations

import io

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


def test_a_csv_invite_that_hits_a_concurrent_invite_is_retried_and_reports_it(app, db, rules, make_course):
    contract = services.create_contract(
        code="RACE", title="Race", contract_type=ContractType.SUBSCRIPTION, seats=5,
        valid_from=rules.today(), valid_until=rules.today())
    m = app.extensions["learning_contracts"].models
    inserts = []

    def concurrent_invite(conn, cursor, statement, parameters, context, executemany):
        # Just before our first INSERT, another worker invites b@example.com and commits first.
        if statement.startswith("INSERT INTO lc_invitation ") and not inserts:
            inserts.append(statement)
            with db.engine.connect() as other:
                other.execute(sa.insert(m.Invitation.__table__).values(
                    contract_id=contract.id, email="b@example.com", status=InvitationStatus.NOT_REGISTERED.value,
                    require_code=True, enrolled_count=0, invited_at=rules.now().replace(tzinfo=None),
                    send_count=0))
                other.commit()
        elif statement.startswith("INSERT INTO lc_invitation "):
            inserts.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", concurrent_invite)
    try:
        report = services.invite_csv(contract, OneWayStream(b"a@example.com\nb@example.com\nc@example.com\n"))
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", concurrent_invite)

    assert len(inserts) >= 2  # the first attempt lost the race; the file was read again from its start
    assert sorted(r.email for r in report.not_registered) == ["a@example.com", "c@example.com"]
    assert [(r.email, r.line) for r in report.already_invited] == [("b@example.com", 2)]
    emails = db.session.execute(sa.select(m.Invitation.email).where(m.Invitation.contract_id == contract.id)
                                .order_by(m.Invitation.email)).scalars().all()
    assert emails == ["a@example.com", "b@example.com", "c@example.com"]
