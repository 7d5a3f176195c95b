"""Stored counters and flags reconciled with the rows they summarise (``flask contracts check``).

What is stored twice, and which side is the truth:

* the **enrollment rows** are the facts (each one stands for a host enrollment that happened);
* the **seat rows** follow from them by the seat rules: Voucher, one seat per (learner, activity) with an
  enrollment; Subscription, one seat per learner with any enrollment;
* the **counters and flags** summarise rows: ``contract.seats_used`` counts the seat rows (never above
  ``seats``); ``enrollment.seat_used`` marks the enrollments that took a seat (every Voucher enrollment, the
  first Subscription enrollment of each learner); ``invitation.enrolled_count`` counts the invitation's
  enrollments; the invitation is Enrolled exactly when it has enrollments (and a Revoked one has none);
  each enrollment goes through an invitation of the same contract and learner.

:func:`reconcile` checks all of it in both directions and reports each mismatch by kind. With
``repair=True`` it recomputes what the rows determine: missing seat rows from the enrollments (within the
contract's seats), flags, counters and statuses. It never deletes a row: a seat row without an enrollment,
an enrollment linked to the wrong invitation or more seats taken than the contract has are left for a
person to decide, and stay reported.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from ..enums import ContractType, InvitationStatus
from ..i18n import _, _l
from ..models import Contract
from ..rules import HostUser
from ._core import _activity_title, _m, _record, _session, _state, transactional


class MismatchKind(str, enum.Enum):
    """What disagrees with what. The value is the short name ``flask contracts check`` prints."""

    SEATS_USED = "seats_used"
    SEATS_EXCEEDED = "seats_exceeded"
    SEAT_WITHOUT_ENROLLMENT = "seat_without_enrollment"
    ENROLLMENT_WITHOUT_SEAT = "enrollment_without_seat"
    SEAT_FLAG = "seat_flag"
    ENROLLED_COUNT = "enrolled_count"
    INVITATION_STATUS = "invitation_status"
    ENROLLMENT_INVITATION = "enrollment_invitation"
    MISSING_USER = "missing_user"

    @property
    def label(self) -> str:
        """The kind in words."""
        return str(_KIND_LABELS[self])

    @property
    def repairable(self) -> bool:
        """Whether ``--repair`` can recompute it from the rows (it never deletes one)."""
        return self in _REPAIRABLE


_KIND_LABELS = {
    MismatchKind.SEATS_USED: _l("Seats used counter disagrees with the seat rows"),
    MismatchKind.SEATS_EXCEEDED: _l("More seats taken than the contract has"),
    MismatchKind.SEAT_WITHOUT_ENROLLMENT: _l("Seat without the enrollment it pays for"),
    MismatchKind.ENROLLMENT_WITHOUT_SEAT: _l("Enrollment without its seat"),
    MismatchKind.SEAT_FLAG: _l("Enrollment's seat-used flag disagrees with the seat rows"),
    MismatchKind.ENROLLED_COUNT: _l("Invitation's enrollment count disagrees with its enrollments"),
    MismatchKind.INVITATION_STATUS: _l("Invitation status disagrees with its enrollments"),
    MismatchKind.ENROLLMENT_INVITATION: _l("Enrollment linked to an invitation of another contract or learner"),
    MismatchKind.MISSING_USER: _l("Rows of a host user who no longer exists"),
}
_REPAIRABLE = {MismatchKind.SEATS_USED, MismatchKind.ENROLLMENT_WITHOUT_SEAT, MismatchKind.SEAT_FLAG,
               MismatchKind.ENROLLED_COUNT, MismatchKind.INVITATION_STATUS}


@dataclasses.dataclass(frozen=True)
class Mismatch:
    """One disagreement between a stored summary and the rows it summarises."""

    kind: MismatchKind
    contract_id: int
    code: str
    #: What is wrong, in a sentence an operator can act on.
    problem: str
    #: The row it is about, stable across a repair (``"contract"``, ``"seat 12"``, ``"invitation 7"`` …).
    subject: str
    #: The stored counter and what the rows say, for counter mismatches.
    stored: int | None = None
    actual: int | None = None
    invitation_id: int | None = None
    #: Set by ``reconcile(repair=True)`` when the repair made it go away.
    repaired: bool = False


@dataclasses.dataclass(frozen=True)
class ReconcileReport:
    """What :func:`reconcile` found (and, with ``repair=True``, what it repaired)."""

    mismatches: list[Mismatch]
    #: Ids of the contracts the repair changed (each got one "repaired" history entry).
    repaired_contracts: list[int] = dataclasses.field(default_factory=list)

    @property
    def remaining(self) -> list[Mismatch]:
        """The mismatches still there."""
        return [m for m in self.mismatches if not m.repaired]

    @property
    def ok(self) -> bool:
        return not self.remaining


@dataclasses.dataclass(frozen=True)
class SeatMismatch:
    """A mismatch in the shape ``check_seats`` has always returned (``seats_used``/``seat_rows`` carry the
    stored counter and what the rows say; 0 when the mismatch is not about a counter)."""

    contract_id: int
    code: str
    seats_used: int
    seat_rows: int
    problem: str
    kind: str = MismatchKind.SEATS_USED.value


def check_seats() -> list[SeatMismatch]:
    """Every mismatch :func:`reconcile` finds (without repairing), in the shape of :class:`SeatMismatch`."""
    return [SeatMismatch(m.contract_id, m.code, m.stored or 0, m.actual or 0, m.problem, m.kind.value)
            for m in reconcile().mismatches]


def reconcile(*, repair: bool = False, actor: HostUser | None = None) -> ReconcileReport:
    """Reconcile every stored counter and flag with the rows it summarises; return every mismatch by kind.

    With ``repair=True``, recompute from the rows what they determine (missing seat rows within the seats,
    ``seat_used`` flags, ``seats_used``, ``enrolled_count``, statuses), never deleting a row, and record what
    changed in one "repaired" history entry per contract.

    Each contract is checked in a transaction of its own, on one consistent view of its rows (a read
    transaction on SQLite, ``REPEATABLE READ`` on PostgreSQL), so a busy database never shows an enrollment
    committing meanwhile as a mismatch, and no lock is held for long. A contract that needs a repair is
    checked again with its row and its invitations locked (on SQLite, under the database's write lock)
    and repaired in that transaction: enrollments running at the same time are never counted twice or lost.
    """
    mismatches: list[Mismatch] = []
    repaired_ids: list[int] = []
    for cid in _contract_ids():
        found = _check_one(cid)
        if repair and any(m.kind.repairable for m in found):
            found, changed = _repair_one(cid, actor)
            if changed:
                repaired_ids.append(cid)
        mismatches.extend(found)
    mismatches.extend(_missing_users())
    return ReconcileReport(mismatches, repaired_ids)


@transactional
def _contract_ids() -> list[int]:
    return list(_session().execute(sa.select(_m().Contract.id).order_by(_m().Contract.id)).scalars())


@transactional
def _check_one(contract_id: int) -> list[Mismatch]:
    _consistent_view(write=False)
    data = _load(contract_id)
    return [] if data is None else _check_contract(data)


@transactional
def _repair_one(contract_id: int, actor: HostUser | None) -> tuple[list[Mismatch], bool]:
    """Check one contract again under its locks, repair it, and say which mismatches the repair removed."""
    _consistent_view(write=True)
    data = _load(contract_id, lock=True)
    if data is None:  # deleted meanwhile
        return [], False
    before = _check_contract(data)
    changes = _repair(data, before)
    after = _load(contract_id)
    left = {(m.kind, m.subject) for m in (_check_contract(after) if after is not None else [])}
    if changes:
        _record(data.contract, "repaired",
                _("Repaired from the rows (flask contracts check --repair): %(changes)s.", changes="; ".join(changes)),
                actor=actor)
    return [dataclasses.replace(m, repaired=(m.kind, m.subject) not in left) for m in before], bool(changes)


def _consistent_view(*, write: bool) -> None:
    """Make the rest of this transaction read one state of the database, when it is starting now.

    SQLite: the driver opens a transaction only before a data change, so each ``SELECT`` would read the
    latest commit; an explicit ``BEGIN`` (``BEGIN IMMEDIATE``, the write lock, for a repair) makes them one
    read. PostgreSQL: ``REPEATABLE READ`` for a check (one snapshot for every statement); a repair keeps
    ``READ COMMITTED`` and locks the contract and its invitations first, after which nothing it reads can
    change (every enrollment locks its invitation, every seat the contract).
    """
    session = _session()
    if session.get_bind().dialect.name == "postgresql":
        if not write and not session().in_transaction():
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        return
    connection = session.connection()
    dbapi = connection.connection.dbapi_connection
    if connection.dialect.name == "sqlite" and dbapi is not None and not getattr(dbapi, "in_transaction", True):
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


# ---------------------------------------------------------------------------------------------------------
# One contract's rows
# ---------------------------------------------------------------------------------------------------------
#: A learner: ``("user", host key)``, or ``("forgotten", pseudonym)`` once forgotten (``services.forget_user``).
Learner = tuple[str, Any]


def _learner(user_id: Any, pseudonym: str | None) -> Learner | None:
    if user_id is not None:
        return ("user", user_id)
    return ("forgotten", pseudonym) if pseudonym is not None else None


@dataclasses.dataclass
class _Seat:
    id: int
    learner: Learner | None
    activity_id: Any


@dataclasses.dataclass
class _Enrollment:
    id: int
    invitation_id: int
    learner: Learner | None
    activity_id: Any
    seat_used: bool
    created_at: dt.datetime


@dataclasses.dataclass
class _Invitation:
    id: int
    contract_id: int
    learner: Learner | None
    email: str
    status: InvitationStatus
    enrolled_count: int
    code_redeemed_at: dt.datetime | None


@dataclasses.dataclass
class _ContractRows:
    contract: Contract
    seats: list[_Seat]
    enrollments: list[_Enrollment]
    #: The contract's invitations, and any other invitation one of its enrollments points at.
    invitations: dict[int, _Invitation]

    @property
    def voucher(self) -> bool:
        return self.contract.contract_type is ContractType.VOUCHER

    def emails(self) -> dict[Learner, str]:
        """The e-mail each learner was invited with (their live invitation's, else any)."""
        found: dict[Learner, str] = {}
        for inv in sorted(self.invitations.values(), key=lambda i: i.status is not InvitationStatus.REVOKED):
            if inv.learner is not None and inv.contract_id == self.contract.id:
                found[inv.learner] = inv.email
        return found


def _load(contract_id: int, *, lock: bool = False) -> _ContractRows | None:
    """The contract and its invitation, seat and enrollment rows (``None`` if the contract is gone). With
    ``lock``, the contract row and the invitations are locked first, in that order."""
    m, session = _m(), _session()
    query = sa.select(m.Contract).where(m.Contract.id == contract_id).execution_options(populate_existing=True)
    contract = session.execute(query.with_for_update() if lock else query).scalars().first()
    if contract is None:
        return None
    inv = m.Invitation
    columns = (inv.id, inv.contract_id, inv.user_id, inv.pseudonym, inv.email, inv.status, inv.enrolled_count,
               inv.code_redeemed_at)
    query = sa.select(*columns).where(
        sa.or_(inv.contract_id == contract_id,
               inv.id.in_(sa.select(m.Enrollment.invitation_id).where(m.Enrollment.contract_id == contract_id))))
    invitations = {r.id: _invitation(r) for r in session.execute(query.with_for_update() if lock else query)}
    seats = [_Seat(r.id, _learner(r.user_id, r.pseudonym), r.activity_id) for r in session.execute(
        sa.select(m.Seat.id, m.Seat.user_id, m.Seat.pseudonym, m.Seat.activity_id)
        .where(m.Seat.contract_id == contract_id).order_by(m.Seat.id))]
    enrollments = [_Enrollment(r.id, r.invitation_id, _learner(r.user_id, r.pseudonym), r.activity_id,
                               bool(r.seat_used),
                               r.created_at)
                   for r in session.execute(
                       sa.select(m.Enrollment.id, m.Enrollment.invitation_id, m.Enrollment.user_id,
                                 m.Enrollment.pseudonym,
                                 m.Enrollment.activity_id, m.Enrollment.seat_used, m.Enrollment.created_at)
                       .where(m.Enrollment.contract_id == contract_id).order_by(m.Enrollment.id))]
    # An enrollment committed between the two reads above could point at an invitation read too early (only
    # where there is no consistent view): read the ones still missing.
    unknown = {e.invitation_id for e in enrollments} - invitations.keys()
    if unknown:
        invitations.update({r.id: _invitation(r) for r in session.execute(
            sa.select(*columns).where(inv.id.in_(unknown)))})
    return _ContractRows(contract, seats, enrollments, invitations)


def _invitation(row: Any) -> _Invitation:
    return _Invitation(row.id, row.contract_id, _learner(row.user_id, row.pseudonym), row.email, row.status,
                       row.enrolled_count, row.code_redeemed_at)


@dataclasses.dataclass
class _Expected:
    """What the enrollment rows say the seats and flags should be."""

    #: Seat key (learner, activity or None) → the enrollments that need it, oldest first.
    seat_keys: dict[tuple[Learner | None, Any], list[_Enrollment]]
    #: Enrollment id → whether it should be marked as having taken a seat.
    flags: dict[int, bool]


def _seat_key(data: _ContractRows, learner: Learner | None, activity_id: Any) -> tuple[Learner | None, Any]:
    return (learner, activity_id) if data.voucher else (learner, None)


def _wrong_kind(data: _ContractRows, seat: _Seat) -> bool:
    """A Subscription seat (no activity) on a Voucher contract, or a Voucher seat on a Subscription one."""
    return (seat.activity_id is None) == data.voucher


def _held(data: _ContractRows) -> set[tuple[Learner | None, Any]]:
    """The seat keys the contract's seat rows hold (seats of the wrong kind hold nothing)."""
    return {_seat_key(data, s.learner, s.activity_id) for s in data.seats if not _wrong_kind(data, s)}


def _expected(data: _ContractRows) -> _Expected:
    seat_keys: dict[tuple[Learner | None, Any], list[_Enrollment]] = defaultdict(list)
    for e in data.enrollments:
        seat_keys[_seat_key(data, e.learner, e.activity_id)].append(e)
    flags: dict[int, bool] = {}
    for enrollments in seat_keys.values():
        # Voucher: every enrollment took its seat. Subscription: the learner's first one did (the one
        # already marked, if any, else the oldest).
        marked = [e for e in enrollments if e.seat_used] or enrollments
        for e in enrollments:
            flags[e.id] = data.voucher or e is marked[0]
    return _Expected(seat_keys, flags)


def _check_contract(data: _ContractRows) -> list[Mismatch]:
    c = data.contract
    found: list[Mismatch] = []
    names = _Names(data)

    def add(kind: MismatchKind, subject: str, problem: str, **extra: Any) -> None:
        found.append(Mismatch(kind, c.id, c.code, problem, subject, **extra))

    expected = _expected(data)
    seat_keys = _held(data)
    for seat in data.seats:
        if _wrong_kind(data, seat):
            add(MismatchKind.SEAT_WITHOUT_ENROLLMENT, f"seat {seat.id}",
                _("seat row %(id)s of %(learner)s is a %(kind)s seat on a %(type)s contract",
                  id=seat.id, learner=names.learner(seat.learner),
                  kind=_("Voucher") if seat.activity_id is not None else _("Subscription"),
                  type=c.contract_type.label))
        elif (seat.learner, seat.activity_id) not in expected.seat_keys:
            add(MismatchKind.SEAT_WITHOUT_ENROLLMENT, f"seat {seat.id}",
                _("seat row %(id)s of %(learner)s%(activity)s has no enrollment to pay for; delete it by hand "
                  "if it is wrong (the repair never deletes rows)", id=seat.id, learner=names.learner(seat.learner),
                  activity=names.in_activity(seat.activity_id)))
    for (learner, activity_id), enrollments in expected.seat_keys.items():
        if (learner, activity_id) not in seat_keys:
            add(MismatchKind.ENROLLMENT_WITHOUT_SEAT, f"seat of enrollment {enrollments[0].id}",
                _("%(learner)s is enrolled%(activity)s (enrollment %(id)s) but holds no seat for it",
                  learner=names.learner(learner), activity=names.in_activity(enrollments[0].activity_id),
                  id=enrollments[0].id))
    if c.seats_used != len(data.seats):
        add(MismatchKind.SEATS_USED, "contract",
            _("seats_used is %(used)s but %(rows)s seat rows exist", used=c.seats_used, rows=len(data.seats)),
            stored=c.seats_used, actual=len(data.seats))
    if len(data.seats) > c.seats:
        add(MismatchKind.SEATS_EXCEEDED, "seats",
            _("%(rows)s seat rows for %(seats)s seats", rows=len(data.seats), seats=c.seats),
            stored=c.seats, actual=len(data.seats))
    for e in data.enrollments:
        seat_held = _seat_key(data, e.learner, e.activity_id) in seat_keys
        if seat_held and e.seat_used != expected.flags[e.id]:
            add(MismatchKind.SEAT_FLAG, f"enrollment {e.id}",
                _("enrollment %(id)s of %(learner)s%(activity)s is marked %(marked)s",
                  id=e.id, learner=names.learner(e.learner), activity=names.in_activity(e.activity_id),
                  marked=_("as having taken a seat") if e.seat_used else _("as having taken no seat")),
                stored=int(e.seat_used), actual=int(expected.flags[e.id]))
    _check_invitations(data, add, names)
    return found


#: Adds one mismatch: ``add(kind, subject, problem, **fields)``.
_Add = Callable[..., None]


def _check_invitations(data: _ContractRows, add: _Add, names: _Names) -> None:
    c = data.contract
    by_invitation: dict[int, int] = defaultdict(int)
    for e in data.enrollments:
        inv = data.invitations.get(e.invitation_id)
        if inv is None or inv.contract_id != c.id:
            add(MismatchKind.ENROLLMENT_INVITATION, f"enrollment {e.id}",
                _("enrollment %(id)s of %(learner)s goes through invitation %(invitation)s, which belongs to "
                  "another contract", id=e.id, learner=names.learner(e.learner), invitation=e.invitation_id)
                if inv is not None else
                _("enrollment %(id)s of %(learner)s goes through invitation %(invitation)s, which does not exist",
                  id=e.id, learner=names.learner(e.learner), invitation=e.invitation_id))
            continue
        by_invitation[inv.id] += 1
        if inv.learner != e.learner:
            add(MismatchKind.ENROLLMENT_INVITATION, f"enrollment {e.id}",
                _("enrollment %(id)s of %(learner)s goes through the invitation of %(email)s",
                  id=e.id, learner=names.learner(e.learner), email=inv.email), invitation_id=inv.id)
    for inv in sorted(data.invitations.values(), key=lambda i: i.id):
        if inv.contract_id != c.id:
            continue
        n = by_invitation.get(inv.id, 0)
        if inv.enrolled_count != n:
            add(MismatchKind.ENROLLED_COUNT, f"invitation {inv.id}",
                _("invitation %(id)s (%(email)s) counts %(stored)s enrollments but has %(actual)s",
                  id=inv.id, email=inv.email, stored=inv.enrolled_count, actual=n),
                stored=inv.enrolled_count, actual=n, invitation_id=inv.id)
        wanted = _status(inv, n)
        if inv.status is not wanted:
            problem = (_("invitation %(id)s (%(email)s) is Revoked, yet %(n)s enrollments go through it; a person "
                         "must decide (the learner is enrolled)", id=inv.id, email=inv.email, n=n)
                       if inv.status is InvitationStatus.REVOKED else
                       _("invitation %(id)s (%(email)s) is %(status)s but has %(n)s enrollments",
                         id=inv.id, email=inv.email, status=inv.status.label, n=n))
            add(MismatchKind.INVITATION_STATUS, f"invitation {inv.id} status", problem, invitation_id=inv.id)


def _status(inv: _Invitation, enrollments: int) -> InvitationStatus:
    """The status an invitation's rows give it (a Revoked one stays Revoked: the repair leaves it alone)."""
    if inv.status is InvitationStatus.REVOKED:
        return InvitationStatus.REVOKED if not enrollments else InvitationStatus.ENROLLED
    if enrollments:
        return InvitationStatus.ENROLLED
    if inv.status is not InvitationStatus.ENROLLED:
        return inv.status
    if inv.learner is None:
        return InvitationStatus.NOT_REGISTERED
    if inv.learner[0] == "forgotten":  # nobody can use it any more (``forget_user`` revokes these)
        return InvitationStatus.REVOKED
    return InvitationStatus.ACCEPTED if inv.code_redeemed_at is not None else InvitationStatus.OUTSTANDING


class _Names:
    """Learners and activities as people know them, looked up only when a message needs them."""

    def __init__(self, data: _ContractRows) -> None:
        self._data = data
        self._emails: dict[Learner, str] | None = None

    def learner(self, learner: Learner | None) -> str:
        if learner is None:
            return str(_("an unknown learner"))
        if self._emails is None:
            self._emails = self._data.emails()
        email = self._emails.get(learner)
        if email:
            return email
        if learner[0] == "forgotten":
            return str(_("forgotten user %(key)s", key=learner[1]))
        return str(_("user %(id)s", id=learner[1]))

    def in_activity(self, activity_id: Any) -> str:
        if activity_id is None:
            return ""
        activity = _session().get(_state().activity_model, activity_id)
        title = _activity_title(activity) if activity is not None else str(activity_id)
        return str(_(" in %(title)s", title=title))


# ---------------------------------------------------------------------------------------------------------
# Repair
# ---------------------------------------------------------------------------------------------------------
def _repair(data: _ContractRows, mismatches: Sequence[Mismatch]) -> list[str]:
    """Recompute what the rows determine for one locked contract; return the changes in words."""
    if not any(m.kind.repairable for m in mismatches):
        return []
    m, session, c, names = _m(), _session(), data.contract, _Names(data)
    changes: list[str] = []
    expected = _expected(data)
    held = _held(data)
    missing = [(key, enrollments) for key, enrollments in expected.seat_keys.items() if key not in held]
    seat_rows = len(data.seats)
    if missing and seat_rows + len(missing) <= c.seats:
        for (learner, activity_id), enrollments in missing:
            session.execute(sa.insert(m.Seat.__table__).values(
                contract_id=c.id, **_learner_columns(learner), activity_id=activity_id,
                created_at=enrollments[0].created_at))
            held.add((learner, activity_id))
            changes.append(str(_("seat added for %(learner)s%(activity)s", learner=names.learner(learner),
                                 activity=names.in_activity(activity_id))))
        seat_rows += len(missing)
    # Missing seats that do not fit stay reported: raise the contract's seats, then repair again.
    for e in data.enrollments:
        wanted = expected.flags[e.id]
        if _seat_key(data, e.learner, e.activity_id) in held and e.seat_used != wanted:
            session.execute(sa.update(m.Enrollment.__table__).where(m.Enrollment.__table__.c.id == e.id)
                            .values(seat_used=wanted))
            changes.append(str(_("enrollment %(id)s of %(learner)s%(activity)s marked as %(marked)s", id=e.id,
                                 learner=names.learner(e.learner), activity=names.in_activity(e.activity_id),
                                 marked=_("seat used") if wanted else _("no seat used"))))
    if c.seats_used != seat_rows and seat_rows <= c.seats:
        session.execute(sa.update(m.Contract.__table__).where(m.Contract.__table__.c.id == c.id)
                        .values(seats_used=seat_rows))
        changes.append(str(_("seats used %(old)s → %(new)s", old=c.seats_used, new=seat_rows)))
    changes.extend(_repair_invitations(data))
    session.expire(c)
    return changes


def _repair_invitations(data: _ContractRows) -> Iterable[str]:
    m, session = _m(), _session()
    counts: dict[int, int] = defaultdict(int)
    for e in data.enrollments:
        counts[e.invitation_id] += 1
    for inv in sorted(data.invitations.values(), key=lambda i: i.id):
        if inv.contract_id != data.contract.id:
            continue
        n = counts.get(inv.id, 0)
        values: dict[str, Any] = {}
        said: list[str] = []
        if inv.enrolled_count != n:
            values["enrolled_count"] = n
            said.append(str(_("enrolled count %(old)s → %(new)s", old=inv.enrolled_count, new=n)))
        status = _status(inv, n)
        if status is not inv.status and inv.status is not InvitationStatus.REVOKED:
            values["status"] = status
            said.append(str(_("status %(old)s → %(new)s", old=inv.status.label, new=status.label)))
        if values:
            session.execute(sa.update(m.Invitation.__table__).where(m.Invitation.__table__.c.id == inv.id)
                            .values(**values))
            yield str(_("invitation of %(email)s: %(changes)s", email=inv.email, changes=", ".join(said)))


def _learner_columns(learner: Learner | None) -> dict[str, Any]:
    """The seat columns naming ``learner``."""
    if learner is not None and learner[0] == "forgotten":
        return {"user_id": None, "pseudonym": learner[1]}
    return {"user_id": learner[1] if learner is not None else None, "pseudonym": None}


# ---------------------------------------------------------------------------------------------------------
# Rows of host users who no longer exist (SQLite without foreign keys lets the host delete them)
# ---------------------------------------------------------------------------------------------------------
@transactional
def _missing_users() -> list[Mismatch]:
    m, session = _m(), _session()
    user_pk = m.user_pk
    counts: dict[tuple[int, Any], dict[str, int]] = defaultdict(dict)
    tables = ((m.Enrollment, _("enrollments")), (m.Seat, _("seats")), (m.Invitation, _("invitations")),
              (m.ContractAdmin, _("contract admin roles")))
    for model, what in tables:
        table = model.__table__
        for cid, uid, n in session.execute(
            sa.select(table.c.contract_id, table.c.user_id, sa.func.count())
            .where(table.c.user_id.is_not(None), ~sa.exists().where(user_pk == table.c.user_id))
            .group_by(table.c.contract_id, table.c.user_id)
        ):
            counts[(cid, uid)][str(what)] = n
    if not counts:
        return []
    codes = dict(session.execute(sa.select(m.Contract.id, m.Contract.code)
                                 .where(m.Contract.id.in_({cid for cid, _uid in counts}))).all())
    return [Mismatch(MismatchKind.MISSING_USER, cid, codes.get(cid, "?"),
                     str(_("host user %(id)s no longer exists but %(rows)s still point at them; run "
                           "'flask contracts forget-user' for them", id=uid,
                           rows=", ".join(f"{n} {what}" for what, n in sorted(rows.items())))),
                     f"user {uid}")
            for (cid, uid), rows in sorted(counts.items(), key=lambda item: (item[0][0], str(item[0][1])))]

