"""Seat summaries, history, paged and exported invitation lists, what a deletion removes."""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeGuard

import sqlalchemy as sa

from ..config import config_value
from ..enums import ContractState, ContractType, InvitationStatus
from ..models import CREATED_SQL, Contract, ContractActivity, Enrollment, HistoryEntry, Invitation
from ..rules import HostUser
from ._core import _BATCH, _m, _rules, _session, _state, _today


@dataclasses.dataclass(frozen=True)
class SeatSummary:
    """Seats of one contract today."""

    seats: int
    used: int
    available: int  #: 0 once the contract has expired
    expired: int  #: seats that expired unused (0 until the end date has passed)
    state: ContractState
    by_status: dict[InvitationStatus, int]  #: every status present, zero when none


def seat_summaries(contracts: Sequence[Contract]) -> dict[int, SeatSummary]:
    """:func:`seat_summary` for many contracts with one query."""
    m = _m()
    ids = [c.id for c in contracts]
    counts: dict[int, Counter[InvitationStatus]] = defaultdict(Counter)
    if ids:
        for cid, status, n in _session().execute(
            sa.select(m.Invitation.contract_id, m.Invitation.status, sa.func.count())
            .where(m.Invitation.contract_id.in_(ids)).group_by(m.Invitation.contract_id, m.Invitation.status)
        ):
            counts[cid][status] = n
    today = _today()
    result = {}
    for c in contracts:
        state = c.state_on(today)
        unused = max(c.seats - c.seats_used, 0)
        expired = state is ContractState.EXPIRED
        result[c.id] = SeatSummary(
            seats=c.seats, used=c.seats_used, available=0 if expired else unused, expired=unused if expired else 0,
            state=state, by_status={s: counts[c.id].get(s, 0) for s in InvitationStatus},
        )
    return result


def seat_summary(contract: Contract) -> SeatSummary:
    """Seats, used, available, expired and invitations per status for ``contract`` today."""
    return seat_summaries([contract])[contract.id]


def history(contract: Contract, *, limit: int = 100, offset: int = 0) -> list[HistoryEntry]:
    """The contract's history, newest first: the entries of its id from its own "created" entry on.

    Ids are never reused (``AUTOINCREMENT`` on SQLite, sequences on PostgreSQL), and a database that reused
    one before that (SQLite, before the ``lc0002`` migration) still cannot show a deleted contract's entries
    here: they are older than the "created" entry of the contract that has the id now. (History ids are
    never reused either, so "older" is exact, whatever the clocks did.)
    """
    h = _m().HistoryEntry
    created = h.__table__.alias("created")
    # The condition as SQL text, not a parameter, so that SQLite uses the partial index of "created" rows.
    start = (sa.select(sa.func.coalesce(sa.func.max(created.c.id), 0))
             .where(created.c.contract_id == contract.id, sa.text(f"created.{CREATED_SQL}"))
             .scalar_subquery())
    return list(_session().execute(
        sa.select(h).where(h.contract_id == contract.id, h.id >= start)
        .order_by(h.id.desc()).limit(limit).offset(offset)
    ).scalars())


@dataclasses.dataclass
class InvitationPage:
    """One page of a contract's invitations, each with the host activities it covers."""

    items: list[Any]
    activities: dict[int, list[Any]]  #: invitation id -> the activities it covers
    total: int  #: invitations matching the filters, on every page
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def invitation_page(contract: Contract, *, search: str | None = None, status: InvitationStatus | str | None = None,
                    page: int = 1, per_page: int | None = None,
                    counts: Mapping[InvitationStatus, int] | None = None) -> InvitationPage:
    """The invitations of ``contract`` newest first, filtered by e-mail text and status, one page at a time.

    Issues the same number of queries whatever the page size or the number of invitations (count, page,
    learners, activities), so admin lists of 100,000 invitations stay fast. ``counts``, the contract's
    invitations per status as :func:`seat_summary` just gave them (``by_status``), spares the count when
    there is no e-mail search: counting a large contract's invitations is the costly part of the page.
    """
    m, st, session = _m(), _state(), _session()
    per_page = max(1, min(int(per_page or config_value("PAGE_SIZE")), 500))
    where = _invitation_filters(contract, search, status)
    if counts is not None and not _searching(search):
        total = counts.get(InvitationStatus(status), 0) if status else sum(counts.values())
    else:
        total = session.execute(sa.select(sa.func.count()).select_from(m.Invitation).where(*where)).scalar_one()
    page = max(1, min(int(page or 1), max(1, -(-total // per_page))))
    start = (page - 1) * per_page
    newest_first = (m.Invitation.invited_at.desc(), m.Invitation.id.desc())
    query = sa.select(m.Invitation).where(*where).options(sa.orm.selectinload(m.Invitation.user))
    if start > total // 2:
        # Past the middle the page is read from the oldest end and turned round: an OFFSET makes the database
        # step over every row before the page, and from this end there are fewer (the last page of 100,000
        # invitations skips 0 rows, not 99,950).
        shown = max(0, min(per_page, total - start))
        oldest_first = (m.Invitation.invited_at.asc(), m.Invitation.id.asc())
        items = list(session.execute(query.order_by(*oldest_first).limit(shown).offset(total - start - shown))
                     .scalars())[::-1]
    else:
        items = list(session.execute(query.order_by(*newest_first).limit(per_page).offset(start)).scalars())
    activities: dict[int, list[Any]] = {inv.id: [] for inv in items}
    if items and contract.contract_type is ContractType.SUBSCRIPTION:
        shared = list(contract.activities)
        activities = {inv.id: shared for inv in items}
    elif items:
        for iid, activity in session.execute(
            sa.select(m.InvitationActivity.invitation_id, st.activity_model)
            .join(st.activity_model, st.activity_pk_column == m.InvitationActivity.activity_id)
            .where(m.InvitationActivity.invitation_id.in_(list(activities))).order_by(st.activity_pk_column)
        ):
            activities[iid].append(activity)
    return InvitationPage(items, activities, total, page, per_page)


def _searching(search: str | None) -> TypeGuard[str]:
    """Whether ``search`` filters the list by e-mail text (blank text does not)."""
    return bool(search and search.strip())


def _invitation_filters(contract: Contract, search: str | None, status: InvitationStatus | str | None
                        ) -> list[sa.ColumnElement[bool]]:
    """The WHERE clauses of a contract's invitation list: e-mail text (case-insensitive) and status."""
    m = _m()
    where = [m.Invitation.contract_id == contract.id]
    if _searching(search):
        where.append(m.Invitation.email.contains(search.strip().lower(), autoescape=True))
    if status:
        where.append(m.Invitation.status == InvitationStatus(status))
    return where


@dataclasses.dataclass(frozen=True)
class InvitationExportRow:
    """One invitation as the CSV export shows it."""

    email: str
    learner: str  #: the learner's display name ("" while no account uses the e-mail)
    status: InvitationStatus
    invited_at: dt.datetime
    invited_by: str | None
    code_redeemed_at: dt.datetime | None
    enrolled: int  #: activities the learner enrolled in through the contract


def invitation_export_rows(contract: Contract, *, search: str | None = None,
                           status: InvitationStatus | str | None = None,
                           batch_size: int = _BATCH) -> Iterator[InvitationExportRow]:
    """Every invitation of ``contract`` matching the list's filters, newest first, read ``batch_size`` at a time.

    Two queries per batch (the invitations, then their learners) whatever the number of invitations, and no
    more than one batch in memory: the admin and dashboard CSV exports stream these rows.
    """
    m, session, rules = _m(), _session(), _rules()
    where = _invitation_filters(contract, search, status)
    last_id = None
    while True:
        stmt = (sa.select(m.Invitation).where(*where)
                .options(sa.orm.selectinload(m.Invitation.user), sa.orm.lazyload(m.Invitation.contract))
                .order_by(m.Invitation.id.desc()).limit(batch_size))
        if last_id is not None:
            stmt = stmt.where(m.Invitation.id < last_id)
        batch = list(session.execute(stmt).scalars())
        for inv in batch:
            yield InvitationExportRow(
                inv.email, rules.user_display_name(inv.user) if inv.user is not None else "", inv.status,
                inv.invited_at, inv.invited_by, inv.code_redeemed_at, inv.enrolled_count)
        if len(batch) < batch_size:
            return
        last_id = batch[-1].id


@dataclasses.dataclass(frozen=True)
class DeletionImpact:
    """What deleting a contract removes (host enrollments are always kept)."""

    seats_used: int
    invitations: int
    enrollments: int  #: the contract's enrollment records (the host's own enrollments stay)
    activities: int


def deletion_impact(contract: Contract) -> DeletionImpact:
    """Count what :func:`delete_contract` would remove, to show before asking for confirmation."""
    m, session = _m(), _session()

    def count(model: type[Invitation | Enrollment | ContractActivity]) -> int:
        return session.execute(
            sa.select(sa.func.count()).select_from(model).where(model.contract_id == contract.id)).scalar_one()

    return DeletionImpact(contract.seats_used, count(m.Invitation), count(m.Enrollment), count(m.ContractActivity))


def contracts_for_admin(user: HostUser) -> dict[ContractState, list[Contract]]:
    """The contracts ``user`` is a contract admin of, grouped Active / Future / Expired."""
    m, st = _m(), _state()
    contracts = _session().execute(
        sa.select(m.Contract).join(m.ContractAdmin, m.ContractAdmin.contract_id == m.Contract.id)
        .where(m.ContractAdmin.user_id == st.user_id(user)).order_by(m.Contract.valid_until, m.Contract.title)
    ).scalars().all()
    grouped: dict[ContractState, list[Any]] = {ContractState.ACTIVE: [], ContractState.FUTURE: [],
                                               ContractState.EXPIRED: []}
    today = _today()
    for contract in contracts:
        grouped[contract.state_on(today)].append(contract)
    return grouped
