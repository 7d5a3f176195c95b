"""Enrolling a learner through a contract, race-free: seats, per-user limit, host enrollment (rules 2-5, 14)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy import exc as sa_exc, orm as sa_orm

from .. import errors, signals
from ..enums import ContractState, ContractType, InvitationStatus, WebhookEvent
from ..i18n import _, _n
from ..models import Contract, Enrollment, Models
from ..records import ContractRecord, EnrollmentRecord
from ..rules import ActivityRef, HostKey, HostUser
from . import webhooks
from ._core import (_activity_title, _actor_fields, _after_commit, _app, _Conflict, _is_transient, _last_attempt, LIVE,
                    _m, _normalize_email, _now, _record_separately, _revoked_for, _rules, _session, _state,
                    _statement, _today, transactional)
from .access import _ensure_active, contract_state
from .activities import _activity_key
from .invitations import link_registered_user
from .schedule import alert_if_threshold_reached


def _enrollment_for(contract_id: int, user_id: HostKey, activity_id: HostKey) -> Enrollment | None:
    statement = _statement("enrollment_for", lambda m: sa.select(m.Enrollment).where(
        m.Enrollment.contract_id == sa.bindparam("p_c"), m.Enrollment.user_id == sa.bindparam("p_u"),
        m.Enrollment.activity_id == sa.bindparam("p_a")))
    return _session().execute(statement, {"p_c": contract_id, "p_u": user_id, "p_a": activity_id}).scalars().first()


def _covers_activity(m: Models, voucher: bool, invitation_id: Any, contract_id: Any) -> sa.Exists:
    """SQL: the invitation covers activity ``:p_a`` (rule 12 — Voucher: its own list; Subscription: the
    contract's)."""
    if voucher:
        ia = m.InvitationActivity.__table__.c
        return sa.exists().where(ia.invitation_id == invitation_id, ia.activity_id == sa.bindparam("p_a"))
    ca = m.ContractActivity.__table__.c
    return sa.exists().where(ca.contract_id == contract_id, ca.activity_id == sa.bindparam("p_a"))


def _enrollment_in_activity(m: Models, contract_id: Any, user_id: Any) -> sa.Select[tuple[int]]:
    """SQL: the learner's enrollment in activity ``:p_a`` through the contract."""
    e = m.Enrollment.__table__.c
    return sa.select(e.id).where(e.contract_id == contract_id, e.user_id == user_id,
                                 e.activity_id == sa.bindparam("p_a"))


def _subscription_seat(m: Models) -> sa.Select[tuple[int]]:
    """SQL: the learner's Subscription seat on the contract (``:p_c``, ``:p_u``), if they hold one."""
    seat = m.Seat.__table__.c
    return sa.select(seat.id).where(seat.contract_id == sa.bindparam("p_c"), seat.user_id == sa.bindparam("p_u"),
                                    seat.activity_id.is_(None))


def _take_seat(m: Models) -> sa.Update:
    """SQL: take one seat from the contract's counter, never beyond ``seats`` and only inside the valid period."""
    con = m.Contract.__table__
    return (sa.update(con)
            .where(con.c.id == sa.bindparam("p_c"), con.c.seats_used < con.c.seats,
                   con.c.valid_from <= sa.bindparam("p_today"), con.c.valid_until >= sa.bindparam("p_today"))
            .values(seats_used=con.c.seats_used + 1))


def _enrollment_statement(m: Models) -> sa.Select[Any]:
    """The learner's live invitation, with (in the same query) their enrollment in the activity if any and
    whether the invitation covers the activity (Voucher: its own list; Subscription: the contract's)."""
    inv = m.Invitation.__table__.c
    return (sa.select(inv.id, inv.require_code, inv.code_redeemed_at,
                      _enrollment_in_activity(m, inv.contract_id, inv.user_id).scalar_subquery()
                      .label("enrollment_id"),
                      _covers_activity(m, True, inv.id, inv.contract_id).label("in_invitation"),
                      _covers_activity(m, False, inv.id, inv.contract_id).label("in_contract"))
            .where(inv.contract_id == sa.bindparam("p_c"), inv.user_id == sa.bindparam("p_u"), inv.status != LIVE))


def _check_enrollable(user: HostUser, contract: Contract, activity_id: HostKey) -> tuple[int, Enrollment | None]:
    """Every check of an enrollment, in one query, to explain why the lock was refused.

    Returns ``(invitation_id, enrollment)``: ``enrollment`` is the learner's existing enrollment in the
    activity (enrolling again is idempotent, whatever the date), else ``None`` after every check passed;
    raises the refusal otherwise."""
    st, m = _state(), _m()
    row = _session().connection().execute(_statement("enrollment_check", _enrollment_statement),
                                          {"p_c": contract.id, "p_u": st.user_id(user), "p_a": activity_id}).first()
    if row is not None and row.enrollment_id is not None:
        return row.id, _session().get(m.Enrollment, row.enrollment_id)
    if row is None:
        _ensure_contract_exists(contract)
        revoked = _session().execute(_revoked_for(contract.id, user)).first()
        raise errors.InvitationRevoked() if revoked else errors.NotInvited()
    _ensure_active(contract)
    if row.require_code and row.code_redeemed_at is None:
        raise errors.CodeRequired()
    covered = (row.in_invitation and row.in_contract) if contract.contract_type is ContractType.VOUCHER \
        else row.in_contract
    if not covered:
        raise errors.ActivityNotInInvitation()
    return row.id, None


@dataclasses.dataclass
class _SeatOutcome:
    """What the write step of an enrollment did: ``enrollment_id`` is ``None`` when nobody was enrolled."""

    invitation_id: int | None  # the learner's invitation, when it passed every check and was locked
    seat_taken: bool
    enrollment_id: int | None
    #: The contract's counter and seats as the seat's UPDATE left them (``None``: no seat taken, or not returned).
    seats_used: int | None = None
    seats: int | None = None


def _lock_statement(m: Models, voucher: bool) -> sa.Update:
    """Lock the learner's live invitation, only if it allows this enrollment: code entered when required,
    activity covered (Voucher: the invitation's own list; Subscription: the contract's), not enrolled in it
    yet, under the per-user limit. Serialises the learner's requests and loses cleanly to a revoke."""
    inv, p = m.Invitation.__table__, sa.bindparam
    return (sa.update(inv)
            .where(inv.c.contract_id == p("p_c"), inv.c.user_id == p("p_u"), inv.c.status != LIVE,
                   sa.or_(inv.c.require_code.is_(False), inv.c.code_redeemed_at.is_not(None)),
                   sa.or_(p("p_limit") == 0, inv.c.enrolled_count < p("p_limit")),
                   _covers_activity(m, voucher, inv.c.id, p("p_c")),
                   # A Voucher invitation covers only activities the contract still has (an invite racing a
                   # removal can leave a removed activity on an invitation).
                   *([_covers_activity(m, False, inv.c.id, p("p_c"))] if voucher else []),
                   ~_enrollment_in_activity(m, p("p_c"), p("p_u")).exists())
            .values(enrolled_count=inv.c.enrolled_count + 1, status=InvitationStatus.ENROLLED))


def _enrollment_writes(m: Models, voucher: bool) -> sa.Select[Any]:
    """PostgreSQL: every write of an enrollment in one statement (one round trip instead of six).

    In order: lock the learner's invitation if it allows the enrollment (:func:`_lock_statement`), decide
    whether a seat is due (Voucher: always; Subscription: when the learner holds none), take it from the
    counter (never beyond ``seats``, only inside the valid period), write the seat row, the enrollment and the
    history row. Returns one row saying which steps happened, so that a refusal can be explained. The counter
    and invitation updates re-check their conditions on the latest row version when they waited for a lock
    (READ COMMITTED), and the unique seat and enrollment indexes stop a twin that decided on an older snapshot."""
    inv, con = m.Invitation.__table__, m.Contract.__table__
    seat, enr, hist = m.Seat.__table__, m.Enrollment.__table__, m.HistoryEntry.__table__
    p = sa.bindparam

    def param(name: str, column: Any) -> Any:
        return sa.cast(p(name), column.type)

    locked = _lock_statement(m, voucher).returning(inv.c.id).cte("locked")
    needed_select = sa.select(locked.c.id)
    if not voucher:
        needed_select = needed_select.where(~_subscription_seat(m).exists())
    needed = needed_select.cte("needed")
    taken = (_take_seat(m).where(sa.exists(needed.select())).returning(con.c.id, con.c.seats_used, con.c.seats)
             .cte("taken"))
    seat_row = (sa.insert(seat)
                .from_select(["contract_id", "user_id", "activity_id", "created_at"],
                             sa.select(taken.c.id, param("p_u", seat.c.user_id),
                                       param("p_a" if voucher else "p_none", seat.c.activity_id),
                                       param("p_now", seat.c.created_at)))
                .returning(seat.c.id).cte("seat_row"))
    seat_used = sa.exists(taken.select())
    enrolled = (sa.insert(enr)
                .from_select(["contract_id", "invitation_id", "user_id", "activity_id", "seat_used", "created_at"],
                             sa.select(param("p_c", enr.c.contract_id), locked.c.id, param("p_u", enr.c.user_id),
                                       param("p_a", enr.c.activity_id), seat_used, param("p_now", enr.c.created_at))
                             .where(sa.or_(seat_used, ~sa.exists(needed.select()))))
                .returning(enr.c.id, enr.c.invitation_id, enr.c.seat_used).cte("enrolled"))
    history = (sa.insert(hist)
               .from_select(["at", "contract_id", "contract_code", "action", "message", "invitation_id",
                             "actor_id", "actor_name"],
                            sa.select(param("p_now", hist.c.at), param("p_c", hist.c.contract_id),
                                      param("p_code", hist.c.contract_code), sa.literal("enrolled", sa.String),
                                      sa.case((enrolled.c.seat_used, param("p_message_seat", hist.c.message)),
                                              else_=param("p_message_free", hist.c.message)),
                                      enrolled.c.invitation_id, param("p_actor_id", hist.c.actor_id),
                                      param("p_actor_name", hist.c.actor_name)))
               .returning(hist.c.id).cte("history"))
    return (sa.select(sa.select(locked.c.id).scalar_subquery().label("invitation_id"), seat_used.label("seat_taken"),
                      sa.select(enrolled.c.id).scalar_subquery().label("enrollment_id"),
                      sa.select(taken.c.seats_used).scalar_subquery().label("seats_used"),
                      sa.select(taken.c.seats).scalar_subquery().label("seats"))
            .add_cte(seat_row, history))


def _enrollment_message(email: str, title: str, seat_used: bool) -> str:
    return str(_("%(email)s enrolled in %(title)s (%(seat)s).", email=email, title=title,
                 seat=_("one seat used") if seat_used else _("no seat used: Subscription seat already held")))


def _holds_subscription_seat(conn: sa.Connection, contract_id: int, uid: HostKey) -> bool:
    return conn.execute(_statement("subscription_seat", _subscription_seat),
                        {"p_c": contract_id, "p_u": uid}).first() is not None


def _write_enrollment(conn: sa.Connection, contract: Contract, user: HostUser, uid: HostKey, aid: HostKey, email: str,
                      title: str,
                      now: dt.datetime) -> _SeatOutcome:
    """Lock the learner's invitation if it allows the enrollment, take a seat when one is due, write the seat,
    enrollment and history rows.

    On PostgreSQL one statement (:func:`_enrollment_writes`); elsewhere one statement per step, in the same
    order (SQLite lets one writer in at a time, so every step after the first write sees the latest data)."""
    voucher = contract.contract_type is ContractType.VOUCHER
    kind = "voucher" if voucher else "subscription"
    actor = _actor_fields(user)
    params = {"p_limit": contract.per_user_limit, "p_c": contract.id, "p_u": uid, "p_a": aid,
              "p_today": _today(), "p_now": now}
    if conn.dialect.name == "postgresql":
        row = conn.execute(_statement(f"enroll_{kind}", lambda m: _enrollment_writes(m, voucher)), {
            **params, "p_none": None, "p_code": contract.code,
            "p_message_seat": _enrollment_message(email, title, True),
            "p_message_free": _enrollment_message(email, title, False),
            "p_actor_id": actor["actor_id"], "p_actor_name": str(actor["actor_name"])}).one()
        return _SeatOutcome(row.invitation_id, row.seat_taken, row.enrollment_id, row.seats_used, row.seats)

    if conn.dialect.update_returning:  # SQLite 3.35+
        invitation_id = conn.execute(_statement(f"lock_{kind}_returning", lambda m: _lock_statement(m, voucher)
                                                .returning(m.Invitation.__table__.c.id)), params).scalar()
    elif conn.execute(_statement(f"lock_{kind}", lambda m: _lock_statement(m, voucher)), params).rowcount == 1:
        invitation_id = conn.execute(_statement("live_invitation_id", lambda m: sa.select(m.Invitation.id).where(
            m.Invitation.contract_id == sa.bindparam("p_c"), m.Invitation.user_id == sa.bindparam("p_u"),
            m.Invitation.status != LIVE)), params).scalar_one()
    else:
        invitation_id = None
    if invitation_id is None:
        return _SeatOutcome(None, False, None)
    seat_needed = voucher or not _holds_subscription_seat(conn, contract.id, uid)
    counter: tuple[int, int] | None = None
    if seat_needed:
        if conn.dialect.update_returning:  # the counter as this UPDATE left it: no read for the seats alert
            taken = conn.execute(_statement("take_seat_returning", lambda m: _take_seat(m).returning(
                m.Contract.__table__.c.seats_used, m.Contract.__table__.c.seats)), params).first()
            if taken is None:
                return _SeatOutcome(invitation_id, False, None)
            counter = (taken[0], taken[1])
        elif conn.execute(_statement("take_seat", _take_seat), params).rowcount != 1:
            return _SeatOutcome(invitation_id, False, None)
        conn.execute(_statement("insert_seat", lambda m: sa.insert(m.Seat.__table__)), {
            "contract_id": contract.id, "user_id": uid, "created_at": now, "activity_id": aid if voucher else None})
    enrollment_id = conn.execute(_statement("insert_enrollment", lambda m: sa.insert(m.Enrollment.__table__)), {
        "contract_id": contract.id, "invitation_id": invitation_id, "user_id": uid, "activity_id": aid,
        "seat_used": seat_needed, "created_at": now}).inserted_primary_key[0]  # type: ignore[index]  # an INSERT
    conn.execute(_statement("insert_history", lambda m: sa.insert(m.HistoryEntry.__table__)), {
        "at": now, "contract_id": contract.id, "contract_code": contract.code, "action": "enrolled",
        "message": _enrollment_message(email, title, seat_needed), "invitation_id": invitation_id, **actor})
    return _SeatOutcome(invitation_id, seat_needed, enrollment_id, *(counter or (None, None)))


def _ensure_not_enrolled_by_host(user: HostUser, activity: ActivityRef) -> None:
    if _rules().is_enrolled_in_activity(user, activity):
        raise errors.ValidationError(
            _("You are already enrolled in %(title)s; no seat was used.", title=_activity_title(activity)))


def _refuse_enrollment(user: HostUser, contract: Contract, invitation_id: int, uid: HostKey, aid: HostKey,
                       activity: ActivityRef,
                       outcome: _SeatOutcome) -> Enrollment:
    """Explain why the write step enrolled nobody although every check had passed a moment before: the
    learner's own concurrent request may have won (then its enrollment is the answer, as for a repeat), the
    host has the learner already, a revoke, the per-user limit, or the last seat went to someone else."""
    m, session = _m(), _session()
    existing = _enrollment_for(contract.id, uid, aid)
    if existing is not None:
        session.rollback()
        return _enrollment_for(contract.id, uid, aid) or existing
    _ensure_not_enrolled_by_host(user, activity)
    if outcome.invitation_id is None:  # the lock was refused
        status = session.execute(sa.select(m.Invitation.status).where(m.Invitation.id == invitation_id)).scalar()
        if status is None:  # deleted with its contract since the checks
            _ensure_contract_exists(contract)
            raise errors.NotInvited()
        if status is InvitationStatus.REVOKED:
            raise errors.InvitationRevoked()
        raise errors.PerUserLimitReached(
            _n("You may take at most %(num)s activity through %(title)s.",
               "You may take at most %(num)s activities through %(title)s.", contract.per_user_limit,
               title=contract.title))
    if contract.contract_type is ContractType.SUBSCRIPTION and _holds_subscription_seat(
            session.connection(), contract.id, uid):
        raise _Conflict()  # the learner's seat was taken by their own concurrent request after our snapshot
    session.expire(contract)
    _ensure_active(contract)
    raise errors.NoSeatsAvailable(
        _("There are no seats left on %(title)s. Ask the contract's administrator for more seats.",
          title=contract.title))


def _contract_exists(contract: Contract) -> bool:
    """Whether ``contract``'s row is still there (read without reloading the object, which may be expired)."""
    identity = sa.inspect(contract).identity
    cid = identity[0] if identity else contract.id
    m = _m()
    return _session().execute(sa.select(m.Contract.id).where(m.Contract.id == cid)).first() is not None


def _ensure_contract_exists(contract: Contract) -> None:
    """Refuse with ``ContractNotFound`` when ``contract`` was deleted since the caller loaded it."""
    if not _contract_exists(contract):
        raise errors.ContractNotFound()


@transactional
def enroll(user: HostUser, contract: Contract, activity: ActivityRef) -> Enrollment:
    """Enroll ``user`` in ``activity`` through ``contract``, using a seat when the rules say so.

    Voucher: one seat per activity. Subscription: one seat on the learner's first enrollment.
    Idempotent: enrolling again in the same activity returns the existing enrollment and uses nothing.
    The host's ``enroll_in_activity`` runs in the same transaction: if it fails no seat is used.
    A contract deleted since the caller loaded it (another request, even between two retries of this one)
    is refused with ``ContractNotFound``; nothing is written.
    """
    try:
        return _enroll(user, contract, activity)
    except sa_orm.exc.ObjectDeletedError:  # the caller's contract reloaded on use, and its row is gone
        _ensure_contract_exists(contract)
        raise


def _enroll(user: HostUser, contract: Contract, activity: ActivityRef) -> Enrollment:
    st, m, session = _state(), _m(), _session()
    aid = _activity_key(activity)
    if aid is None:  # text that no activity's key can be
        raise errors.ActivityNotInInvitation()
    uid = st.user_id(user)
    # The host's own object when the caller passed one (the learner page does).
    activity_obj = activity if isinstance(activity, st.activity_model) else session.get(st.activity_model, aid)
    title = _activity_title(activity_obj) if activity_obj is not None else str(aid)
    now, conn, email = _now(), session.connection(), st.rules.user_email(user) or ""
    # Fast path: on an active contract, one write step that also checks the invitation allows it.
    outcome = None
    if contract_state(contract) is ContractState.ACTIVE and activity_obj is not None:
        outcome = _write_enrollment(conn, contract, user, uid, aid, email, title, now)
    if outcome is None or outcome.invitation_id is None:
        # Refused (or not tried): find out why, in one query. Invited by e-mail before signing up? Link those
        # invitations (lazily: only when it can change the answer), then decide again.
        try:
            invitation_id, existing = _check_enrollable(user, contract, aid)
        except (errors.NotInvited, errors.InvitationRevoked, errors.ActivityNotInInvitation):
            link_registered_user(user)
            invitation_id, existing = _check_enrollable(user, contract, aid)
        if existing is not None:
            return existing
        if activity_obj is None:
            raise errors.ActivityNotInInvitation()
        # Every check passes now: a concurrent change (a twin, a revoke, the limit) made the lock fail, or
        # the learner was just linked. Try the write step once more, then explain.
        outcome = _write_enrollment(conn, contract, user, uid, aid, email, title, now)
    else:
        invitation_id = outcome.invitation_id
    if outcome.enrollment_id is None:
        return _refuse_enrollment(user, contract, invitation_id, uid, aid, activity_obj, outcome)
    # The host: already enrolled by another route? Then nothing of ours is kept (no seat used).
    _ensure_not_enrolled_by_host(user, activity_obj)
    # The host enrollment, in the same transaction. What a failure report needs is read now: a failed flush
    # leaves the session unusable until it is rolled back, and every loaded attribute expired.
    failure = _FailedEnrollment(contract.id, contract.code, invitation_id, email, title)
    # The hook and the signals get the contract's record, with the counter the seat's UPDATE returned.
    record = ContractRecord.of(contract, **({} if outcome.seats_used is None else
                                            {"seats_used": outcome.seats_used, "seats": outcome.seats}))
    try:
        st.rules.enroll_in_activity(user, activity_obj, record)
        session.flush()
    except errors.LearningContractError:
        raise
    except (sa_exc.OperationalError, sa_exc.DBAPIError) as error:
        if _is_transient(error) and not _last_attempt.get():
            raise  # a deadlock or dropped connection: @transactional runs the whole enrollment again
        _enrollment_failed(failure, user, error)
    except Exception as error:  # noqa: BLE001 - any host failure refuses the enrollment
        _enrollment_failed(failure, user, error)
    webhooks.record_event(WebhookEvent.ENROLLMENT_CREATED, failure.contract_id, {
        "enrollment": {"id": outcome.enrollment_id, "activity_id": webhooks.jsonable(aid), "seat_used": outcome.seat_taken,
                       "created_at": webhooks.jsonable(now)},
        "learner": {"id": webhooks.jsonable(uid), "email": email}, "invitation": {"id": invitation_id},
        "contract": webhooks.contract_ref(contract)})
    if outcome.seat_taken:  # seats alert when this seat reached a threshold (same transaction)
        alert_if_threshold_reached(contract, None if outcome.seats_used is None else (record.seats_used, record.seats))
    # The rows were written with Core: hand the caller a persistent Enrollment without reading it back, and
    # let loaded copies of the contract and invitation reload their counters.
    enrollment = m.Enrollment(id=outcome.enrollment_id, contract_id=contract.id, invitation_id=invitation_id,
                              user_id=uid, activity_id=aid, seat_used=outcome.seat_taken, created_at=now)
    sa_orm.make_transient_to_detached(enrollment)
    session.add(enrollment)
    session.expire(contract)
    loaded = session.identity_map.get(sa_orm.util.identity_key(m.Invitation, invitation_id))
    if loaded is not None:
        session.expire(loaded)
    if signals.enrollment_created.receivers or (outcome.seat_taken and signals.seat_used.receivers):
        _after_commit(functools.partial(_signal_enrollment, _app(), user, EnrollmentRecord(
            outcome.enrollment_id, record.id, invitation_id, uid, aid, outcome.seat_taken, now, record)))
    return enrollment


def _signal_enrollment(app: Flask, user: HostUser, enrollment: EnrollmentRecord) -> None:
    """After the enrollment committed: ``enrollment_created``, and ``seat_used`` when it took a seat."""
    signals.enrollment_created.send(app, enrollment=enrollment, user=user, seat_used=enrollment.seat_used)
    if enrollment.seat_used:
        signals.seat_used.send(app, contract=enrollment.contract, user=user, enrollment=enrollment)


@dataclasses.dataclass
class _FailedEnrollment:
    contract_id: int
    contract_code: str
    invitation_id: int
    email: str
    title: str


def _enrollment_failed(failure: _FailedEnrollment, user: HostUser, error: Exception) -> None:
    """Record the failed enrollment in the history (in a transaction of its own, best effort: the database
    may be the thing that failed), then refuse: ``Busy`` after the last retry of a transient database error,
    ``HostEnrollmentFailed`` otherwise. Nothing of the enrollment is kept."""
    cid, code, iid, email, title = (failure.contract_id, failure.contract_code, failure.invitation_id,
                                    failure.email, failure.title)
    detail = (str(getattr(error, "orig", None) or error).strip().splitlines() or [""])[0][:300]
    current_app.logger.warning("Host enrollment failed for %s in %s: %r", email, title, error)
    if _is_transient(error):
        message = _("Enrolling %(email)s in %(title)s failed: the database stayed busy or unreachable after "
                    "several attempts (%(error)s); no seat was used.", email=email, title=title,
                    error=detail or error.__class__.__name__)
    else:
        message = _("The host refused to enroll %(email)s in %(title)s (%(error)s); no seat was used.",
                    email=email, title=title, error=detail or error.__class__.__name__)
    try:
        _record_separately(cid, code, "enrollment_failed", message, actor=user, invitation_id=iid)
    except Exception:  # noqa: BLE001 - the refusal below matters more than its trace
        _session().rollback()
        current_app.logger.exception("Could not record the failed enrollment of %s in %s", email, title)
    if _is_transient(error):
        raise errors.Busy() from error
    raise errors.HostEnrollmentFailed() from error
