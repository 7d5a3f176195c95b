"""Consistency checks of stored counters against the rows they summarise (``flask contracts check``)."""
from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from ._core import _m, _session


@dataclasses.dataclass(frozen=True)
class SeatMismatch:
    """A contract whose counters disagree with its seat and enrollment rows."""

    contract_id: int
    code: str
    seats_used: int
    seat_rows: int
    problem: str


def check_seats() -> list[SeatMismatch]:
    """Recompute seats used from the seat rows for every contract; return every disagreement found."""
    m, session = _m(), _session()
    seat_counts = dict(session.execute(
        sa.select(m.Seat.contract_id, sa.func.count()).group_by(m.Seat.contract_id)).all())
    problems = []
    for cid, code, used, seats in session.execute(
        sa.select(m.Contract.id, m.Contract.code, m.Contract.seats_used, m.Contract.seats).order_by(m.Contract.id)
    ):
        rows = seat_counts.get(cid, 0)
        if rows != used:
            problems.append(SeatMismatch(cid, code, used, rows,
                                         f"seats_used is {used} but {rows} seat rows exist"))
        elif used > seats:
            problems.append(SeatMismatch(cid, code, used, rows, f"{used} seats used of {seats}"))
    enrolled = dict(session.execute(
        sa.select(m.Enrollment.invitation_id, sa.func.count()).group_by(m.Enrollment.invitation_id)).all())
    for iid, cid, code, count in session.execute(
        sa.select(m.Invitation.id, m.Invitation.contract_id, m.Contract.code, m.Invitation.enrolled_count)
        .join(m.Contract, m.Contract.id == m.Invitation.contract_id)
        .where(m.Invitation.enrolled_count > 0)
    ):
        if enrolled.get(iid, 0) != count:
            problems.append(SeatMismatch(cid, code, count, enrolled.get(iid, 0),
                                         f"invitation {iid} counts {count} enrollments but has {enrolled.get(iid, 0)}"))
    return problems
