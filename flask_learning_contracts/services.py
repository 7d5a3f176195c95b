"""Every rule of Learning Contracts, in one place.

Plain functions, usable in any app context. Each public call is one transaction: it commits on
success and rolls back on any failure, leaving nothing behind. Refusals raise subclasses of
:class:`~flask_learning_contracts.errors.LearningContractError` with messages fit for people.
Transient database conflicts (deadlocks, serialization failures, a locked SQLite file) are retried
a bounded number of times (``LEARNING_CONTRACTS_RETRY_ATTEMPTS``), then reported as ``Busy``.

Seats are race-free by construction, under the host's own engine settings:

* the seat counter only moves through ``UPDATE … SET seats_used = seats_used + 1 WHERE seats_used < seats``
  (and a CHECK constraint ``seats_used <= seats`` backs it up);
* one seat row per (learner, activity) for Voucher and per learner for Subscription, under unique indexes;
* a learner's enrollments are serialised on their invitation row, whose conditional update also holds
  the per-user limit and loses cleanly against a concurrent revoke.
"""
from __future__ import annotations

import contextvars
import csv
import dataclasses
import datetime as dt
import codecs
import functools
import itertools
import random
import re
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any, TypeVar

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import exc as sa_exc
from sqlalchemy import orm as sa_orm

from . import codes, errors, signals
from .config import config_value
from .enums import ContractState, ContractType, InvitationStatus
from .i18n import _
from .models import EnumString

__all__ = [
    "create_contract", "update_contract", "delete_contract", "add_contract_admin", "remove_contract_admin",
    "add_activities", "import_activities", "preview_import", "remove_activity", "activity_impact",
    "invite", "invite_csv", "add_invitation_activities", "invitation_activity_options", "needs_activity_choice",
    "resend", "revoke", "regenerate_code",
    "redeem_code", "enroll", "link_registered_user", "invitations_for", "invitation_offers",
    "seat_summary", "seat_summaries", "contract_state", "history", "check_seats", "contracts_for_admin",
    "ensure_can_manage", "ensure_contract_admin", "get_contract", "get_invitation",
    "InviteReport", "InviteResult", "SeatSummary", "ActivityImpact", "ActivityOffer", "InvitationOffer",
    "SeatMismatch", "invitation_page", "InvitationPage", "deletion_impact", "DeletionImpact",
    "invitation_export_rows", "InvitationExportRow",
]

F = TypeVar("F", bound=Callable[..., Any])
_in_transaction: contextvars.ContextVar[list[Callable[[], None]] | None] = contextvars.ContextVar(
    "learning_contracts_after_commit", default=None
)
LIVE = InvitationStatus.REVOKED  # used as "status != LIVE" in queries of live invitations
_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")
_EMAIL_RE = re.compile(r"^[^@\s\"(),:;<>\[\]\\=+\-][^@\s\"(),:;<>\[\]\\]*@[^@\s\"(),:;<>\[\]\\]+\.[^@\s\"(),:;<>\[\]\\]+$")
_HEADER_WORDS = {"email", "e-mail", "emails", "email address", "e-mail address", "mail", "user", "login"}
_BATCH = 500


# ---------------------------------------------------------------------------------------------
# plumbing: state, time, transactions, history
# ---------------------------------------------------------------------------------------------
def _state() -> Any:
    try:
        return current_app.extensions["learning_contracts"]
    except KeyError:  # pragma: no cover - a host wiring mistake
        raise RuntimeError("LearningContracts is not initialised on this app (call init_app)") from None


def _m() -> Any:
    return _state().models


def _session() -> Any:
    return _state().db.session


def _rules() -> Any:
    return _state().rules


def _statement(name: str, build: Callable[[Any], Any]) -> Any:
    """A statement of the hot paths, built once per set of models and executed with bind parameters.

    Building SQLAlchemy expressions costs Python time on every call; these are built once."""
    m = _m()
    cache = m.__dict__.setdefault("statements", {})
    statement = cache.get(name)
    if statement is None:
        statement = cache[name] = build(m)
    return statement


def _now() -> dt.datetime:
    """``rules.now()`` as naive UTC, the form stored in our DateTime columns."""
    moment = _rules().now()
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment


def _today() -> dt.date:
    return _rules().today()


def _after_commit(callback: Callable[[], None]) -> None:
    """Run ``callback`` once the current service transaction has committed (signals, notifications)."""
    pending = _in_transaction.get()
    if pending is None:  # pragma: no cover - only reachable from internal helpers misuse
        callback()
    else:
        pending.append(callback)


def _is_transient(error: BaseException) -> bool:
    orig = getattr(error, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate in {"40001", "40P01", "55P03"}:
        return True
    text = str(orig or error).lower()
    if "database is locked" in text or "database table is locked" in text:
        return True
    return bool(getattr(error, "connection_invalidated", False))


#: Transactions retried by :func:`transactional` in this process, by kind ("transient" conflicts such as
#: deadlocks, serialization failures or a locked SQLite file; "integrity" races on a unique key).
retry_counts: Counter[str] = Counter()
#: Whether the running service transaction is the last attempt :func:`transactional` will make.
_last_attempt: contextvars.ContextVar[bool] = contextvars.ContextVar("learning_contracts_last_attempt", default=True)


class _Conflict(Exception):
    """A concurrent transaction changed what this one decided on: :func:`transactional` runs it again."""


def transactional(fn: F) -> F:
    """Make ``fn`` one transaction: commit on success, roll back on any error, retry transient conflicts."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _in_transaction.get() is not None:  # called from another service: join its transaction
            return fn(*args, **kwargs)
        session = _session()
        attempts = max(1, int(config_value("RETRY_ATTEMPTS")))
        last_error: BaseException | None = None
        for attempt in range(attempts):
            pending: list[Callable[[], None]] = []
            token = _in_transaction.set(pending)
            last_token = _last_attempt.set(attempt == attempts - 1)
            try:
                result = fn(*args, **kwargs)
                session.commit()
            except (sa_exc.OperationalError, sa_exc.IntegrityError, sa_exc.DBAPIError, _Conflict) as error:
                session.rollback()
                transient = _is_transient(error)
                if attempt == attempts - 1 or not (transient or isinstance(error, (sa_exc.IntegrityError, _Conflict))):
                    if transient or isinstance(error, _Conflict):
                        raise errors.Busy() from error
                    raise
                last_error = error
                retry_counts["transient" if transient else "conflict" if isinstance(error, _Conflict) else "integrity"] += 1
                time.sleep(min(0.2, 0.005 * 2**attempt) * (0.5 + random.random()))
                continue
            except BaseException:
                session.rollback()
                raise
            finally:
                _in_transaction.reset(token)
                _last_attempt.reset(last_token)
            for callback in pending:
                callback()
            return result
        raise errors.Busy() from last_error  # pragma: no cover - loop always returns or raises

    return wrapper  # type: ignore[return-value]


def _actor_fields(actor: Any) -> dict[str, Any]:
    if actor is None or not getattr(actor, "is_authenticated", True):
        return {"actor_id": None, "actor_name": _("System")}
    st = _state()
    return {"actor_id": str(st.user_id(actor)), "actor_name": st.rules.user_display_name(actor)}


def _record(contract: Any, action: str, message: str, *, actor: Any = None, invitation: Any = None) -> None:
    """Write one history row in the current transaction."""
    _session().execute(
        _statement("insert_history", lambda m: sa.insert(m.HistoryEntry.__table__)),
        {"at": _now(), "contract_id": contract.id, "contract_code": contract.code, "action": action,
         "message": message, "invitation_id": getattr(invitation, "id", None), **_actor_fields(actor)},
    )


def _record_separately(contract_id: int, contract_code: str, action: str, message: str, *, actor: Any = None,
                       invitation_id: int | None = None) -> None:
    """Write one history row in a transaction of its own (used to keep a trace of a failure)."""
    session = _session()
    session.rollback()
    session.add(
        _m().HistoryEntry(
            at=_now(), contract_id=contract_id, contract_code=contract_code, action=action, message=message,
            invitation_id=invitation_id, **_actor_fields(actor),
        )
    )
    session.commit()


def _activity_title(activity: Any) -> str:
    return _rules().activity_title(activity)


def _describe(value: Any) -> str:
    if isinstance(value, (ContractType, InvitationStatus)):
        return value.label
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, dt.date):
        return value.isoformat()
    return "" if value is None else str(value)


# ---------------------------------------------------------------------------------------------
# lookups and permissions
# ---------------------------------------------------------------------------------------------
def get_contract(contract_id: Any) -> Any:
    """The contract with this id, or raise ``ValidationError`` (views show it as 404)."""
    contract = _session().get(_m().Contract, _as_int(contract_id))
    if contract is None:
        raise errors.ValidationError(_("This learning contract does not exist (it may have been deleted)."))
    return contract


def get_invitation(invitation_id: Any, *, contract: Any = None, user: Any = None) -> Any:
    """The invitation with this id, optionally required to belong to ``contract`` or to ``user``."""
    invitation = _session().get(_m().Invitation, _as_int(invitation_id))
    st = _state()
    if (
        invitation is None
        or (contract is not None and invitation.contract_id != contract.id)
        or (user is not None and invitation.user_id != st.user_id(user))
    ):
        raise errors.ValidationError(_("This invitation does not exist."))
    return invitation


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def ensure_can_manage(user: Any) -> None:
    """Raise ``PermissionDenied`` unless the host's ``can_manage_contracts`` hook approves ``user``."""
    if user is None or not getattr(user, "is_authenticated", False) or not _rules().can_manage_contracts(user):
        raise errors.PermissionDenied()


def ensure_contract_admin(user: Any, contract: Any) -> None:
    """Raise ``PermissionDenied`` unless ``user`` manages contracts or is one of ``contract``'s admins."""
    if user is None or not getattr(user, "is_authenticated", False):
        raise errors.PermissionDenied()
    rules = _rules()
    if not (rules.can_manage_contracts(user) or rules.is_contract_admin(user, contract)):
        raise errors.PermissionDenied()


def contract_state(contract: Any) -> ContractState:
    """Future, Active or Expired today (``ContractRules.today()``)."""
    return contract.state_on(_today())


def _ensure_active(contract: Any) -> None:
    state = contract_state(contract)
    if state is ContractState.FUTURE:
        raise errors.ContractNotActive(
            _("The learning contract %(title)s starts on %(date)s.", title=contract.title,
              date=_format_date(contract.valid_from))
        )
    if state is ContractState.EXPIRED:
        raise errors.ContractNotActive(
            _("The learning contract %(title)s expired on %(date)s.", title=contract.title,
              date=_format_date(contract.valid_until))
        )


def _format_date(value: dt.date) -> str:
    return f"{value.day} {value.strftime('%B %Y')}"


# ---------------------------------------------------------------------------------------------
# contracts
# ---------------------------------------------------------------------------------------------
_TEXT_LIMITS = {"title": 200, "description": 5000, "group": 200, "external_id": 128, "source": 128}
_EDITABLE = {
    "code", "title", "description", "group", "external_id", "source", "seats", "per_user_limit",
    "valid_from", "valid_until", "require_invitation_code",
}
_IMMUTABLE = {"contract_type", "seats_used", "invitation_code", "id", "created_at"}


def _clean_fields(values: dict[str, Any], *, current: Any = None) -> dict[str, Any]:
    """Validate and normalise contract fields; raise ``ValidationError`` naming the field."""
    clean: dict[str, Any] = {}
    for name, value in values.items():
        if name == "code":
            code = (value or "").strip()
            if not code:
                raise errors.ValidationError(_("Enter a code for the contract."), field="code")
            if not _CODE_RE.match(code):
                raise errors.ValidationError(
                    _("Use 1 to 64 letters, digits, dots, dashes or underscores for the code."), field="code"
                )
            clean["code"] = code
        elif name in _TEXT_LIMITS:
            text = (value or "").strip()
            if name == "title" and not text:
                raise errors.ValidationError(_("Enter a title learners will see."), field="title")
            if len(text) > _TEXT_LIMITS[name]:
                raise errors.ValidationError(
                    _("Keep this under %(n)s characters.", n=_TEXT_LIMITS[name]), field=name
                )
            clean[name] = text if (text or name in {"title", "description"}) else None
        elif name in {"seats", "per_user_limit"}:
            try:
                number = int(value)
            except (TypeError, ValueError):
                raise errors.ValidationError(_("Enter a whole number."), field=name) from None
            if number < 0 or number > 10_000_000:
                raise errors.ValidationError(_("Enter a number from 0 to 10,000,000."), field=name)
            clean[name] = number
        elif name in {"valid_from", "valid_until"}:
            if isinstance(value, dt.datetime):
                value = value.date()
            if not isinstance(value, dt.date):
                raise errors.ValidationError(_("Enter a date."), field=name)
            clean[name] = value
        elif name == "require_invitation_code":
            clean[name] = bool(value)
        elif name == "contract_type":
            try:
                clean[name] = ContractType(value)
            except ValueError:
                raise errors.ValidationError(_("Choose Voucher or Subscription."), field=name) from None
        else:
            raise errors.ValidationError(_("Unknown contract field %(name)s.", name=name), field=name)
    start = clean.get("valid_from", getattr(current, "valid_from", None))
    end = clean.get("valid_until", getattr(current, "valid_until", None))
    if start and end and end < start:
        raise errors.ValidationError(_("The end date must be on or after the start date."), field="valid_until")
    if "code" in clean:
        query = sa.select(_m().Contract.id).where(_m().Contract.code_key == clean["code"].lower())
        if current is not None:
            query = query.where(_m().Contract.id != current.id)
        if _session().execute(query).first() is not None:
            raise errors.ValidationError(
                _("Another contract already uses the code %(code)s. Choose a different code.", code=clean["code"]),
                field="code",
            )
    return clean


def _new_invitation_code() -> str:
    contract = _m().Contract
    for _attempt in range(10):
        code = codes.normalize_code(_rules().generate_code())
        if not _session().execute(sa.select(contract.id).where(contract.invitation_code == code)).first():
            return code
    raise RuntimeError("ContractRules.generate_code keeps returning codes already in use")  # pragma: no cover


@transactional
def create_contract(
    *, code: str, title: str, contract_type: ContractType | str, seats: int, valid_from: dt.date,
    valid_until: dt.date, description: str = "", per_user_limit: int = 0, require_invitation_code: bool = True,
    group: str | None = None, external_id: str | None = None, source: str | None = None, actor: Any = None,
) -> Any:
    """Create a contract with a freshly generated invitation code and return it."""
    fields = _clean_fields(
        dict(code=code, title=title, contract_type=contract_type, seats=seats, valid_from=valid_from,
             valid_until=valid_until, description=description, per_user_limit=per_user_limit,
             require_invitation_code=require_invitation_code, group=group, external_id=external_id, source=source)
    )
    now = _now()
    contract = _m().Contract(
        **fields, code_key=fields["code"].lower(), seats_used=0, invitation_code=_new_invitation_code(),
        created_at=now, updated_at=now,
    )
    session = _session()
    session.add(contract)
    session.flush()
    _record(contract, "created", _("Created %(type)s contract %(code)s with %(seats)s seats.",
                                   type=contract.contract_type.label, code=contract.code, seats=contract.seats),
            actor=actor)
    app = current_app._get_current_object()
    _after_commit(lambda: signals.contract_created.send(app, contract=contract, actor=actor))
    return contract


@transactional
def update_contract(contract: Any, *, actor: Any = None, **changes: Any) -> Any:
    """Change editable fields of ``contract``. The type, seats used and code cannot be set here.

    Seats can never go below the seats already used (checked atomically). Changing
    ``require_invitation_code`` does not alter existing invitations.
    """
    for name in changes:
        if name in _IMMUTABLE:
            if name == "contract_type" and changes[name] in {contract.contract_type, contract.contract_type.value}:
                continue
            raise errors.ImmutableField(
                _("%(field)s cannot be changed after the contract is created.", field=name.replace("_", " ").capitalize()),
                field=name,
            )
        if name not in _EDITABLE:
            raise errors.ValidationError(_("Unknown contract field %(name)s.", name=name), field=name)
    changes = {k: v for k, v in changes.items() if k != "contract_type"}
    fields = _clean_fields(changes, current=contract)
    model = _m().Contract
    described = []
    for name, value in fields.items():
        old = getattr(contract, name)
        if old != value:
            described.append(f"{name.replace('_', ' ')}: {_describe(old) or '—'} → {_describe(value) or '—'}")
    if not described:
        return contract
    if "seats" in fields:
        result = _session().execute(
            sa.update(model).where(model.id == contract.id, model.seats_used <= fields["seats"])
            .values(seats=fields["seats"]).execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            _session().refresh(contract)
            raise errors.ValidationError(
                _("Seats cannot be lower than the %(used)s seats already used.", used=contract.seats_used),
                field="seats",
            )
        fields.pop("seats")
    if "code" in fields:
        fields["code_key"] = fields["code"].lower()
    for name, value in fields.items():
        setattr(contract, name, value)
    contract.updated_at = _now()
    _session().flush()
    _session().expire(contract)
    _record(contract, "edited", _("Edited %(changes)s.", changes="; ".join(described)), actor=actor)
    return contract


@transactional
def delete_contract(contract: Any, *, actor: Any = None) -> None:
    """Delete ``contract`` with its activities list, admins, invitations, seats and enrollment records.

    Host enrollments made through it are never removed; the history is kept.
    """
    m, session = _m(), _session()
    cid, code, title = contract.id, contract.code, contract.title
    summary = seat_summary(contract)
    invitation_ids = sa.select(m.Invitation.id).where(m.Invitation.contract_id == cid).scalar_subquery()
    session.execute(sa.delete(m.InvitationActivity).where(m.InvitationActivity.invitation_id.in_(invitation_ids)))
    for table in (m.Enrollment, m.Seat, m.Invitation, m.ContractActivity, m.ContractAdmin):
        session.execute(sa.delete(table).where(table.contract_id == cid).execution_options(synchronize_session=False))
    session.execute(sa.delete(m.Contract).where(m.Contract.id == cid).execution_options(synchronize_session=False))
    session.expunge(contract)
    session.add(m.HistoryEntry(
        at=_now(), contract_id=cid, contract_code=code, action="deleted",
        message=_("Deleted contract %(code)s (%(title)s): %(used)s of %(seats)s seats were used. "
                  "Host enrollments were kept.", code=code, title=title, used=summary.used, seats=summary.seats),
        **_actor_fields(actor),
    ))


@transactional
def add_contract_admin(contract: Any, user: Any, *, actor: Any = None) -> None:
    """Name ``user`` a contract admin of ``contract`` (no change if already one)."""
    m, st = _m(), _state()
    uid = st.user_id(user)
    exists = _session().get(m.ContractAdmin, (contract.id, uid))
    if exists is None:
        _session().add(m.ContractAdmin(contract_id=contract.id, user_id=uid))
        _record(contract, "admin_added", _("Named %(user)s a contract admin.", user=st.rules.user_display_name(user)),
                actor=actor)
        _session().flush()
        _session().expire(contract, ["admins"])


@transactional
def remove_contract_admin(contract: Any, user: Any, *, actor: Any = None) -> None:
    """Remove ``user`` from ``contract``'s contract admins (no change if not one)."""
    m, st = _m(), _state()
    row = _session().get(m.ContractAdmin, (contract.id, st.user_id(user)))
    if row is not None:
        _session().delete(row)
        _record(contract, "admin_removed",
                _("Removed %(user)s from the contract admins.", user=st.rules.user_display_name(user)), actor=actor)
        _session().flush()
        _session().expire(contract, ["admins"])


# ---------------------------------------------------------------------------------------------
# activities
# ---------------------------------------------------------------------------------------------
def _activity_ids(activities: Iterable[Any]) -> list[Any]:
    st = _state()
    ids = []
    for activity in activities:
        ids.append(activity if not isinstance(activity, st.activity_model) else st.activity_id(activity))
    return list(dict.fromkeys(ids))


def _contract_activity_ids(contract: Any) -> set[Any]:
    ca = _m().ContractActivity
    return set(_session().execute(sa.select(ca.activity_id).where(ca.contract_id == contract.id)).scalars())


def _load_activities(ids: Iterable[Any]) -> list[Any]:
    st = _state()
    ids = list(ids)
    if not ids:
        return []
    rows = _session().execute(sa.select(st.activity_model).where(st.activity_pk_column.in_(ids))).scalars()
    by_id = {st.activity_id(a): a for a in rows}
    return [by_id[i] for i in ids if i in by_id]


@transactional
def add_activities(contract: Any, activities: Iterable[Any], *, actor: Any = None) -> list[Any]:
    """Attach eligible host activities to ``contract``; return the ones newly added (duplicates skipped).

    Subscription invitations include them at once; Voucher invitations are not changed.
    """
    st, m = _state(), _m()
    wanted = _activity_ids(activities)
    if not wanted:
        return []
    eligible_stmt = st.rules.eligible_activities().where(st.activity_pk_column.in_(wanted))
    eligible = {st.activity_id(a): a for a in _session().execute(eligible_stmt).scalars()}
    refused = [i for i in wanted if i not in eligible]
    if refused:
        raise errors.ValidationError(
            _("%(n)s of the chosen activities cannot be added to a learning contract (not an eligible activity).",
              n=len(refused)), field="activities",
        )
    present = _contract_activity_ids(contract)
    new = [eligible[i] for i in wanted if i not in present]
    if not new:
        return []
    now = _now()
    _session().execute(sa.insert(m.ContractActivity), [
        {"contract_id": contract.id, "activity_id": st.activity_id(a), "added_at": now} for a in new
    ])
    _session().expire(contract, ["activities"])
    _record(contract, "activity_added",
            _("Added activities: %(titles)s.", titles=", ".join(_activity_title(a) for a in new)), actor=actor)
    return new


def preview_import(contract: Any, source_contract: Any) -> list[Any]:
    """The activities of ``source_contract`` that importing would add to ``contract``."""
    present = _contract_activity_ids(contract)
    st = _state()
    return [a for a in source_contract.activities if st.activity_id(a) not in present]


@transactional
def import_activities(contract: Any, source_contract: Any, *, actor: Any = None) -> list[Any]:
    """Add every activity of ``source_contract`` that ``contract`` lacks (a union); return the ones added."""
    if source_contract.id == contract.id:
        raise errors.ValidationError(_("Choose a different contract to import from."), field="source_contract")
    added = add_activities(contract, preview_import(contract, source_contract), actor=actor)
    if added:
        _record(contract, "activities_imported",
                _("Imported %(n)s activities from contract %(code)s.", n=len(added), code=source_contract.code),
                actor=actor)
    return added


@dataclasses.dataclass(frozen=True)
class ActivityImpact:
    """Who removing an activity from a contract affects."""

    invited: int  #: live invitations that cover the activity
    enrolled: int  #: learners enrolled in it through the contract (their enrollments and seats stay)


def activity_impact(contract: Any, activity: Any) -> ActivityImpact:
    """Count the invitations and enrollments that removing ``activity`` from ``contract`` would touch."""
    m, st = _m(), _state()
    aid = activity if not isinstance(activity, st.activity_model) else st.activity_id(activity)
    live_any = sa.and_(m.Invitation.contract_id == contract.id, m.Invitation.status != LIVE)
    if contract.contract_type is ContractType.SUBSCRIPTION:
        invited_stmt = sa.select(sa.func.count()).select_from(m.Invitation).where(live_any)
    else:
        invited_stmt = (
            sa.select(sa.func.count()).select_from(m.InvitationActivity)
            .join(m.Invitation, m.Invitation.id == m.InvitationActivity.invitation_id)
            .where(live_any, m.InvitationActivity.activity_id == aid)
        )
    enrolled = _session().execute(
        sa.select(sa.func.count()).select_from(m.Enrollment)
        .where(m.Enrollment.contract_id == contract.id, m.Enrollment.activity_id == aid)
    ).scalar_one()
    return ActivityImpact(invited=_session().execute(invited_stmt).scalar_one(), enrolled=enrolled)


@transactional
def remove_activity(contract: Any, activity: Any, *, actor: Any = None) -> ActivityImpact:
    """Detach ``activity`` from ``contract`` and from its invitations; enrollments and used seats stay.

    Returns the impact (as :func:`activity_impact` would have previewed it).
    """
    m, st = _m(), _state()
    aid = activity if not isinstance(activity, st.activity_model) else st.activity_id(activity)
    if aid not in _contract_activity_ids(contract):
        raise errors.ValidationError(_("This activity is not part of the contract."), field="activity")
    impact = activity_impact(contract, aid)
    loaded = _load_activities([aid])
    title = _activity_title(loaded[0]) if loaded else str(aid)
    invitation_ids = sa.select(m.Invitation.id).where(m.Invitation.contract_id == contract.id).scalar_subquery()
    _session().execute(sa.delete(m.InvitationActivity).where(
        m.InvitationActivity.invitation_id.in_(invitation_ids), m.InvitationActivity.activity_id == aid))
    _session().execute(sa.delete(m.ContractActivity).where(
        m.ContractActivity.contract_id == contract.id, m.ContractActivity.activity_id == aid))
    _session().expire(contract, ["activities"])
    _record(contract, "activity_removed",
            _("Removed activity %(title)s (%(invited)s invitations covered it, %(enrolled)s learners were enrolled; "
              "their enrollments were kept).", title=title, invited=impact.invited, enrolled=impact.enrolled),
            actor=actor)
    return impact


# ---------------------------------------------------------------------------------------------
# inviting
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass
class InviteResult:
    """The outcome of one input of an invite: a user, an e-mail, or one line of a CSV file."""

    email: str
    outcome: str  #: "invited", "already_invited", "not_registered" or "invalid"
    message: str
    line: int | None = None
    invitation_id: int | None = None


@dataclasses.dataclass
class InviteReport:
    """Per-input outcomes of :func:`invite` / :func:`invite_csv`, in input order within each list."""

    invited: list[InviteResult] = dataclasses.field(default_factory=list)
    already_invited: list[InviteResult] = dataclasses.field(default_factory=list)
    not_registered: list[InviteResult] = dataclasses.field(default_factory=list)
    invalid: list[InviteResult] = dataclasses.field(default_factory=list)
    #: ``(InviteResult, message)`` for notifications the host's ``send_invitation`` failed to send.
    notification_failures: list[tuple[InviteResult, str]] = dataclasses.field(default_factory=list)

    @property
    def rows(self) -> list[InviteResult]:
        """Every result, ordered by CSV line (then input order)."""
        everything = self.invited + self.already_invited + self.not_registered + self.invalid
        return sorted(everything, key=lambda r: (r.line is None, r.line or 0))

    @property
    def created(self) -> int:
        """How many invitations were created (registered and not registered)."""
        return len(self.invited) + len(self.not_registered)

    def add(self, result: InviteResult) -> None:
        getattr(self, result.outcome).append(result)


@dataclasses.dataclass
class _Candidate:
    email: str
    line: int | None
    user: Any = None


def _normalize_email(text: str) -> str:
    return text.strip().strip("<>").strip().lower()


def _invite_activity_ids(contract: Any, activities: Iterable[Any] | None) -> list[Any]:
    """The activity ids a new Voucher invitation covers (validated); [] for Subscription (it follows the contract)."""
    if contract.contract_type is ContractType.SUBSCRIPTION:
        return []
    present = _contract_activity_ids(contract)
    if activities is None:
        chosen = [i for i in _activity_ids(contract.activities)]
    else:
        chosen = _activity_ids(activities)
        outside = [i for i in chosen if i not in present]
        if outside:
            raise errors.ValidationError(
                _("Invitations can only cover the contract's own activities."), field="activities"
            )
    if not chosen:
        raise errors.ValidationError(
            _("Add activities to this Voucher contract (or choose at least one) before inviting learners."),
            field="activities",
        )
    return chosen


def _invite_candidates(contract: Any, candidates: Iterable[_Candidate], activities: Iterable[Any] | None,
                       report: InviteReport, actor: Any, source: str) -> InviteReport:
    """Create invitations for ``candidates`` in batches (one transaction) and fill ``report``.

    ``candidates`` may be a generator (a CSV being read): it is consumed ``_BATCH`` at a time, so the
    working memory does not grow with the file; a fixed number of statements is issued per batch.
    """
    _ensure_active(contract)
    activity_ids = _invite_activity_ids(contract, activities)
    st, m, session = _state(), _m(), _session()
    now, invited_by = _now(), _actor_fields(actor)["actor_name"]
    seen: dict[str, int | None] = {}
    created_ids: list[tuple[InviteResult, int]] = []
    pending_candidates = iter(candidates)
    while batch := list(itertools.islice(pending_candidates, _BATCH)):
        unique_batch = []
        for cand in batch:
            if cand.email in seen:
                where = seen[cand.email]
                report.add(InviteResult(
                    cand.email, "already_invited",
                    _("Listed earlier on line %(line)s.", line=where) if where else _("Listed more than once."),
                    cand.line))
                continue
            seen[cand.email] = cand.line
            unique_batch.append(cand)
        lookup = [c.email for c in unique_batch if c.user is None]
        user_ids = _user_ids_by_email(lookup) if lookup else {}
        rows, results = [], []
        for cand in unique_batch:
            uid = st.user_id(cand.user) if cand.user is not None else user_ids.get(cand.email)
            registered = uid is not None
            rows.append({
                "contract_id": contract.id, "user_id": uid, "email": cand.email,
                "status": InvitationStatus.OUTSTANDING if registered else InvitationStatus.NOT_REGISTERED,
                "require_code": contract.require_invitation_code, "enrolled_count": 0, "invited_at": now,
                "invited_by": invited_by, "last_sent_at": now, "send_count": 1,
            })
            results.append(InviteResult(
                cand.email, "invited" if registered else "not_registered",
                _("Invited.") if registered else _("Invited; no account uses this e-mail yet."), cand.line))
        # One statement per batch: the live-invitation unique indexes (per e-mail, per learner) skip whoever is
        # already invited, and RETURNING says which rows went in. Concurrent invites cannot slip between a check
        # and the insert. E-mails are unique within a batch, so ids are matched back by e-mail.
        id_by_email = _insert_invitations(rows)
        skipped = [(row, result) for row, result in zip(rows, results) if row["email"] not in id_by_email]
        if skipped:
            live = session.execute(
                sa.select(m.Invitation.email, m.Invitation.user_id, m.Invitation.status).where(
                    m.Invitation.contract_id == contract.id, m.Invitation.status != LIVE,
                    sa.or_(m.Invitation.email.in_([row["email"] for row, _r in skipped]),
                           m.Invitation.user_id.in_([row["user_id"] for row, _r in skipped if row["user_id"] is not None])),
                )).all()
            by_email = {r.email: r.status for r in live}
            by_user = {r.user_id: r.status for r in live if r.user_id is not None}
            for row, result in skipped:
                status = by_user.get(row["user_id"]) or by_email.get(row["email"]) or InvitationStatus.OUTSTANDING
                result.outcome, result.message = "already_invited", _("Already invited (%(status)s).",
                                                                       status=status.label)
        pairs = [(result, id_by_email[row["email"]]) for row, result in zip(rows, results)
                 if row["email"] in id_by_email]
        for row, result in skipped:
            report.add(result)
        if not pairs:
            continue
        ids = [iid for _result, iid in pairs]
        if activity_ids:
            session.connection().execute(sa.insert(m.InvitationActivity.__table__), [
                {"invitation_id": iid, "activity_id": aid} for iid in ids for aid in activity_ids
            ])
        for result, iid in pairs:
            result.invitation_id = iid
            report.add(result)
            created_ids.append((result, iid))
    if created_ids:
        _record(contract, "invited",
                _("Invited %(n)s learners by %(source)s (%(reg)s registered, %(unreg)s not registered; "
                  "%(dup)s already invited, %(bad)s invalid).", n=len(created_ids), source=source,
                  reg=len(report.invited), unreg=len(report.not_registered), dup=len(report.already_invited),
                  bad=len(report.invalid)),
                actor=actor)
    app = current_app._get_current_object()
    _after_commit(lambda: _notify_new(app, contract.id, created_ids, report, actor))
    return report


def _user_ids_by_email(emails: list[str]) -> dict[str, Any]:
    """Lower-case e-mail → host user key for ``emails``, through the host's batch hook.

    With the default hooks this is one query of two columns (no user objects are built).
    """
    st = _state()
    from .rules import ContractRules

    def is_default(name: str) -> bool:
        return getattr(getattr(st.rules, name), "__func__", None) is getattr(ContractRules, name)

    if is_default("find_users_by_email") and is_default("find_user_by_email"):
        column = getattr(st.user_model, config_value("USER_EMAIL_ATTR"))
        found = _session().execute(
            sa.select(column, st.user_pk_column).where(_one_of(sa.func.lower(column), sorted(set(emails))))).all()
        return {email.lower(): uid for email, uid in found}
    return {email: st.user_id(user) for email, user in st.rules.find_users_by_email(emails).items()}


def _is_postgresql() -> bool:
    return _session().get_bind().dialect.name == "postgresql"


def _one_of(expression: Any, values: list[Any]) -> Any:
    """``expression IN values``. On PostgreSQL one array parameter (``= ANY(:values)``): the SQL text stays
    short and the same for every batch, so the driver and the server do not parse a 500-item list each time."""
    if _is_postgresql():
        from sqlalchemy.dialects.postgresql import ARRAY

        item_type = sa.String() if isinstance(expression.type, sa.types.NullType) else expression.type
        return expression == sa.any_(sa.bindparam(None, list(values), type_=ARRAY(item_type)))
    return expression.in_(values)


def _insert_invitations(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert ``rows`` into lc_invitation, skipping any a live invitation already covers; e-mail → new id."""
    table, session = _m().Invitation.__table__, _session()
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # INSERT … SELECT unnest(:column_array) …: one short statement with one array per column, instead of
        # a VALUES list the driver would have to parse for every batch.
        from sqlalchemy.dialects.postgresql import ARRAY
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        columns = list(rows[0])
        arrays = []
        for name in columns:
            column_type = table.c[name].type
            values = [row[name] for row in rows]
            if isinstance(column_type, EnumString):
                column_type, values = sa.String(20), [None if v is None else v.value for v in values]
            arrays.append(sa.func.unnest(sa.bindparam(None, values, type_=ARRAY(column_type))))
        stmt = (pg_insert(table).from_select(columns, sa.select(*arrays)).on_conflict_do_nothing()
                .returning(table.c.id, table.c.email))
        return {email: iid for iid, email in session.connection().execute(stmt)}
    if dialect == "sqlite":
        # The driver's own executemany (no RETURNING: a multi-row VALUES statement would be built in Python),
        # then the rows that went in are the newest ``rowcount`` ids: SQLite lets one writer in at a time and
        # this transaction holds that lock from its first write to its commit, and a new row's id is the
        # table's largest plus one, so nobody else's rows can be among them.
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        conn = session.connection()
        inserted = _executemany_converted(conn, sqlite_insert(table).on_conflict_do_nothing(), table, rows)
        if not inserted:
            return {}
        newest = sa.select(table.c.id, table.c.email).order_by(table.c.id.desc()).limit(inserted)
        return {email: iid for iid, email in conn.execute(newest)}
    # Other databases: a plain insert (a conflict with a concurrent invite rolls back and the call is retried).
    stmt = sa.insert(table).returning(table.c.id, table.c.email)  # pragma: no cover
    return {email: iid for iid, email in session.connection().execute(stmt, rows)}  # pragma: no cover


def _executemany_converted(conn: Any, statement: Any, table: sa.Table, rows: list[dict[str, Any]]) -> int:
    """Run ``statement`` once per row through the driver's ``executemany``, with each column's bind conversion
    (dates to text, enums to their value…) done once per distinct value instead of once per row and column:
    a bulk invite repeats the same timestamps, status and flags in every row. Returns the rows written."""
    columns = list(rows[0])
    compiled = statement.compile(dialect=conn.dialect, column_keys=columns)
    order = compiled.positiontup
    if order is None or sorted(order) != sorted(columns):  # pragma: no cover - a named-parameter driver
        return conn.execute(statement, rows).rowcount
    converters = []
    for name in order:
        process = table.c[name].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        converters.append((name, functools.cache(process) if process is not None else None))
    values = [tuple(row[name] if convert is None else convert(row[name]) for name, convert in converters)
              for row in rows]
    return conn.exec_driver_sql(compiled.string, values).rowcount


def _notify_new(app: Any, contract_id: int, created: list[tuple[InviteResult, int]], report: InviteReport,
                actor: Any) -> None:
    """After the invite committed: notify learners through the host and send signals; record failures."""
    if not created:
        return
    m, session = _m(), _session()
    by_id = {iid: result for result, iid in created}
    failures: list[tuple[Any, Exception]] = []
    ids = sorted(by_id)
    for start in range(0, len(ids), _BATCH):
        chunk = ids[start:start + _BATCH]
        # A key range (two parameters) rather than a 500-item IN list: the new ids of one bulk insert are
        # nearly contiguous, and rows of other invites in the range are filtered out here. All share one
        # contract, so ``invitation.contract`` comes from the identity map instead of a join per batch.
        invitations = [inv for inv in session.execute(
            sa.select(m.Invitation)
            .where(m.Invitation.contract_id == contract_id, m.Invitation.id.between(chunk[0], chunk[-1]))
            .order_by(m.Invitation.id).options(sa_orm.lazyload(m.Invitation.contract))
        ).scalars() if inv.id in by_id]
        failures.extend(_rules().send_invitations(invitations))
        if signals.invitation_created.receivers:
            for invitation in invitations:
                signals.invitation_created.send(app, invitation=invitation, actor=actor)
    if failures:
        contract = session.get(m.Contract, contract_id)
        for invitation, error in failures:
            report.notification_failures.append((by_id[invitation.id], str(error) or error.__class__.__name__))
        sample = "; ".join(f"{inv.email}: {err}" for inv, err in failures[:5])
        _record_separately(contract_id, contract.code, "notification_failed",
                           _("%(n)s invitation notifications could not be sent (the invitations exist): %(sample)s",
                             n=len(failures), sample=sample), actor=actor)


@transactional
def invite(contract: Any, *, users: Iterable[Any] = (), emails: Iterable[str] = (),
           activities: Iterable[Any] | None = None, actor: Any = None) -> InviteReport:
    """Invite existing ``users`` and/or ``emails`` to ``contract``; return the per-input report.

    Voucher: the invitation covers ``activities`` (default: all the contract's current activities).
    Subscription: it always covers every activity of the contract, including ones added later.
    E-mails without an account get a Not Registered invitation. Only while the contract is active.
    """
    st = _state()
    report = InviteReport()
    candidates: list[_Candidate] = []
    users = list(users)
    _refresh_expired(st.user_model, users)
    for user in users:
        email = _normalize_email(st.rules.user_email(user) or "")
        if not email:
            report.add(InviteResult(str(st.user_id(user)), "invalid", _("This user has no e-mail address.")))
            continue
        candidates.append(_Candidate(email, None, user))
    for raw in emails:
        email = _normalize_email(raw or "")
        if not _valid_email(email):
            report.add(InviteResult(raw or "", "invalid", _("Not a valid e-mail address.")))
            continue
        candidates.append(_Candidate(email, None))
    return _invite_candidates(contract, candidates, activities, report, actor, _("selection"))


def _refresh_expired(model: type, objects: list[Any]) -> None:
    """Reload expired (e.g. committed since they were loaded) ``model`` instances with one query per
    batch, instead of one query each on their first attribute access."""
    keys = []
    for obj in objects:
        state = sa.inspect(obj, raiseerr=False)
        if state is not None and state.expired and state.identity is not None and len(state.identity) == 1:
            keys.append(state.identity[0])
    pk = _primary_key_column(model)
    for start in range(0, len(keys), _BATCH):
        _session().execute(sa.select(model).where(pk.in_(keys[start:start + _BATCH]))).scalars().all()


def _primary_key_column(model: type) -> Any:
    return list(sa.inspect(model).primary_key)[0]


def _valid_email(email: str) -> bool:
    return 3 <= len(email) <= 320 and bool(_EMAIL_RE.match(email))


_CHUNK = 1 << 16


def _too_large(limit: int) -> errors.ValidationError:
    return errors.ValidationError(
        _("The file is larger than %(mb)s MB. Split it into smaller files.", mb=round(limit / 1048576, 1)),
        field="file")


def _upload_chunks(stream: IO[Any]) -> Iterator[str]:
    """The decoded text of an uploaded file (binary or text stream), read and checked 64 KiB at a time
    (size limit, binary content, encoding), so a large file is never held in memory whole."""
    limit = int(config_value("CSV_MAX_BYTES"))
    size, decoder, first = 0, None, True
    while True:
        data = stream.read(_CHUNK)
        if not data:
            break
        if isinstance(data, str):
            size += len(data.encode("utf-8", "surrogatepass"))
            if size > limit:
                raise _too_large(limit)
            if first:
                data, first = data.lstrip("\ufeff"), False
            yield data
            continue
        size += len(data)
        if size > limit:
            raise _too_large(limit)
        if decoder is None:
            encoding = "utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
            decoder = codecs.getincrementaldecoder(encoding)()
        # NUL bytes mean a binary file, except in UTF-16 text (checked once decoded instead).
        if b"\x00" in data and encoding != "utf-16":
            raise errors.ValidationError(
                _("This does not look like a CSV text file. Upload a .csv with one e-mail address per line."),
                field="file")
        try:
            text = decoder.decode(data)
        except UnicodeDecodeError:
            _raise_encoding()
        if "\x00" in text:
            raise errors.ValidationError(
                _("This does not look like a CSV text file. Upload a .csv with one e-mail address per line."),
                field="file")
        yield text
    if decoder is not None:
        try:
            tail = decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            _raise_encoding()
        if tail:
            yield tail


def _upload_lines(chunks: Iterable[str]) -> Iterator[str]:
    """The lines of streamed text, cut as ``str.splitlines`` cuts them, without their line endings."""
    pending = ""
    for chunk in chunks:
        parts = (pending + chunk).splitlines(keepends=True)
        pending = parts.pop() if parts else ""  # may be cut mid-line (or between \r and \n): wait for more
        for part in parts:
            yield part.splitlines()[0]
    if pending:
        yield pending.splitlines()[0]


def _raise_encoding() -> str:
    raise errors.ValidationError(
        _("The file is not UTF-8 text. Save it as \"CSV UTF-8\" and upload it again."), field="file")


def _parse_csv_lines(lines: Iterable[str], report: InviteReport) -> Iterator[_Candidate]:
    """One e-mail per line (first cell when there are several), yielded as the file is read. Tolerates a
    header, blank lines, spaces, a BOM, duplicates and mixed case; every other bad line is reported as
    invalid with its number."""
    max_rows = int(config_value("CSV_MAX_ROWS"))
    first_content = True
    lines = iter(lines)
    for number, line in enumerate(lines, start=1):
        if number > max_rows + 1:
            total = number + sum(1 for _line in lines)
            raise errors.ValidationError(
                _("The file has %(n)s lines; at most %(max)s can be invited at once. Split it into smaller files.",
                  n=f"{total:,}", max=f"{max_rows:,}"), field="file")
        if not line.strip():
            continue
        if '"' in line or "," in line:  # the csv module only for lines that need it (most hold one address)
            try:
                cells = next(csv.reader([line], skipinitialspace=True))
            except csv.Error:
                cells = [line]
        else:
            cells = [line]
        cell = next((c for c in cells if c.strip()), "")
        email = _normalize_email(cell)
        if first_content:
            first_content = False
            if "@" not in email and email.replace("_", " ") in _HEADER_WORDS:
                continue
        if len(cell) > 320:
            report.add(InviteResult(cell[:60] + "…", "invalid", _("Line %(n)s is too long to be an e-mail address.", n=number), number))
        elif not _valid_email(email):
            report.add(InviteResult(cell.strip(), "invalid", _("Not a valid e-mail address."), number))
        else:
            yield _Candidate(email, number)


def invite_csv(contract: Any, stream: IO[Any], *, activities: Iterable[Any] | None = None,
               actor: Any = None) -> InviteReport:
    """Invite every e-mail of an uploaded CSV (binary or text stream). Returns the per-line report.

    A file that cannot be read as a whole (too large, not text, not UTF-8, too many rows) raises
    ``ValidationError`` and invites nobody; otherwise every good line is invited in one transaction
    and every bad one is reported with its line number.
    """
    stream = _rewindable(stream)
    return _invite_csv(contract, stream, stream.tell(), activities=activities, actor=actor)


def _rewindable(stream: IO[Any]) -> IO[Any]:
    """``stream`` itself when it can seek, else a spooled copy: a retried transaction reads the file again."""
    try:
        if stream.seekable():
            return stream
    except (AttributeError, ValueError):
        pass
    first = stream.read(_CHUNK)
    copy: IO[Any] = tempfile.SpooledTemporaryFile(max_size=1 << 20, mode="w+" if isinstance(first, str) else "w+b")
    budget = int(config_value("CSV_MAX_BYTES")) + _CHUNK  # enough for the size check to refuse an oversize file
    while first and budget > 0:
        copy.write(first)
        budget -= len(first)
        first = stream.read(_CHUNK)
    copy.seek(0)
    return copy


@transactional
def _invite_csv(contract: Any, stream: IO[Any], start: int, *, activities: Iterable[Any] | None,
                actor: Any) -> InviteReport:
    stream.seek(start)
    report = InviteReport()
    # Streamed: read, parsed and written one batch at a time (memory does not grow with the file). A file
    # found unreadable part-way raises, and the transaction rolls back whatever was already written.
    candidates = _parse_csv_lines(_upload_lines(_upload_chunks(stream)), report)
    first = list(itertools.islice(candidates, _BATCH))
    if not first and not report.invalid:
        raise errors.ValidationError(_("The file has no e-mail addresses."), field="file")
    return _invite_candidates(contract, itertools.chain(first, candidates), activities, report, actor,
                              _("CSV upload"))


@transactional
def add_invitation_activities(invitation: Any, activities: Iterable[Any], *, actor: Any = None) -> list[Any]:
    """Add contract activities to one learner's Voucher invitation; return the ones added."""
    contract, m = invitation.contract, _m()
    if contract.contract_type is ContractType.SUBSCRIPTION:
        raise errors.ValidationError(_("Subscription invitations already cover every activity of the contract."),
                                     field="activities")
    if invitation.status is InvitationStatus.REVOKED:
        raise errors.ValidationError(_("This invitation was revoked; invite the learner again instead."))
    wanted = _activity_ids(activities)
    present = _contract_activity_ids(contract)
    if any(a not in present for a in wanted):
        raise errors.ValidationError(_("Invitations can only cover the contract's own activities."),
                                     field="activities")
    have = set(_session().execute(sa.select(m.InvitationActivity.activity_id)
                                  .where(m.InvitationActivity.invitation_id == invitation.id)).scalars())
    new = [a for a in wanted if a not in have]
    if new:
        _session().execute(sa.insert(m.InvitationActivity),
                           [{"invitation_id": invitation.id, "activity_id": a} for a in new])
        _session().expire(invitation, ["fixed_activities"])
        added = _load_activities(new)
        _record(contract, "invitation_activities_added",
                _("Added %(titles)s to the invitation of %(email)s.",
                  titles=", ".join(_activity_title(a) for a in added), email=invitation.email),
                actor=actor, invitation=invitation)
        return added
    return []


def invitation_activity_options(invitation: Any) -> tuple[list[Any], list[Any]]:
    """``(covered, addable)``: the activities ``invitation`` covers, and the contract activities an admin may
    still add to it (rule 12: only a live Voucher invitation takes more; otherwise ``addable`` is empty)."""
    st = _state()
    covered = invitation.activities
    if invitation.contract.contract_type is not ContractType.VOUCHER or not invitation.is_live:
        return covered, []
    covered_ids = {st.activity_id(a) for a in covered}
    return covered, [a for a in invitation.contract.activities if st.activity_id(a) not in covered_ids]


def needs_activity_choice(contract: Any) -> bool:
    """Whether inviting to ``contract`` has the Voucher step of choosing one, some or all activities."""
    return contract.contract_type is ContractType.VOUCHER and len(contract.activities) > 1


def resend(invitation: Any, *, actor: Any = None) -> Any:
    """Send an Outstanding invitation's notification again (through ``ContractRules.send_invitation``).

    A failing notification raises ``LearningContractError`` and is recorded in the history.
    """
    _check_resend(invitation)
    contract = invitation.contract
    try:
        _rules().send_invitation(invitation, resend=True)
    except errors.LearningContractError:
        raise
    except Exception as exc:  # noqa: BLE001 - the host's failure is reported, not hidden
        _record_separately(contract.id, contract.code, "notification_failed",
                           _("Could not resend the invitation to %(email)s: %(error)s", email=invitation.email,
                             error=str(exc) or exc.__class__.__name__), actor=actor, invitation_id=invitation.id)
        raise errors.LearningContractError(
            _("The invitation could not be sent: %(error)s. Try again later.", error=str(exc) or exc.__class__.__name__)
        ) from exc
    return _mark_resent(invitation, actor=actor)


def _check_resend(invitation: Any) -> None:
    if not invitation.can_be_resent:
        raise errors.ResendNotAllowed(
            _("Only outstanding invitations can be resent; this one is %(status)s.", status=invitation.status.label))
    _ensure_active(invitation.contract)


@transactional
def _mark_resent(invitation: Any, *, actor: Any = None) -> Any:
    invitation.last_sent_at = _now()
    invitation.send_count = (invitation.send_count or 0) + 1
    _record(invitation.contract, "resent", _("Resent the invitation to %(email)s.", email=invitation.email),
            actor=actor, invitation=invitation)
    return invitation


@transactional
def revoke(invitation: Any, *, actor: Any = None) -> Any:
    """Revoke an invitation whose learner has no enrollment through the contract. The record stays."""
    m = _m()
    # Invitation.can_be_revoked, decided atomically (a concurrent enrollment or revoke wins or loses cleanly).
    result = _session().execute(
        sa.update(m.Invitation)
        .where(m.Invitation.id == invitation.id, m.Invitation.status != LIVE, m.Invitation.enrolled_count == 0)
        .values(status=InvitationStatus.REVOKED, revoked_at=_now())
        .execution_options(synchronize_session=False)
    )
    _session().expire(invitation)
    if result.rowcount != 1:
        if invitation.status is InvitationStatus.REVOKED:
            raise errors.RevokeNotAllowed(_("This invitation is already revoked."))
        raise errors.RevokeNotAllowed()
    _record(invitation.contract, "revoked", _("Revoked the invitation of %(email)s.", email=invitation.email),
            actor=actor, invitation=invitation)
    app = current_app._get_current_object()
    _after_commit(lambda: signals.invitation_revoked.send(app, invitation=invitation, actor=actor))
    return invitation


@transactional
def regenerate_code(contract: Any, *, actor: Any = None) -> str:
    """Give ``contract`` a new invitation code; the old one stops working at once. Returns the new code."""
    code = _new_invitation_code()
    contract.invitation_code = code
    contract.updated_at = _now()
    _record(contract, "code_regenerated", _("Regenerated the invitation code; the previous code no longer works."),
            actor=actor)
    return code


# ---------------------------------------------------------------------------------------------
# learners
# ---------------------------------------------------------------------------------------------
def _live_invitation(contract_id: int, user: Any) -> Any:
    # The caller holds the contract: ``invitation.contract`` comes from the identity map when needed,
    # instead of a join plus a select-in load of the contract's admins on every enrollment.
    statement = _statement("live_invitation", lambda m: sa.select(m.Invitation).where(
        m.Invitation.contract_id == sa.bindparam("p_c"), m.Invitation.user_id == sa.bindparam("p_u"),
        m.Invitation.status != LIVE).options(sa_orm.lazyload(m.Invitation.contract)))
    return _session().execute(statement, {"p_c": contract_id, "p_u": _state().user_id(user)}).scalars().first()


@transactional
def link_registered_user(user: Any) -> list[Any]:
    """Attach Not Registered invitations sent to ``user``'s e-mail; they become Outstanding.

    Call it when a user signs up or changes e-mail; the learner pages also call it lazily.
    Returns the invitations that were linked.
    """
    st, m, session = _state(), _m(), _session()
    email = _normalize_email(st.rules.user_email(user) or "")
    if not email:
        return []
    pending = session.execute(
        sa.select(m.Invitation).where(m.Invitation.email == email,
                                      m.Invitation.status == InvitationStatus.NOT_REGISTERED)
    ).scalars().all()
    linked = []
    uid = st.user_id(user)
    for invitation in pending:
        existing = _live_invitation(invitation.contract_id, user)
        if existing is not None:
            # The learner already joined this contract another way (e.g. by code): keep one invitation.
            if invitation.contract.contract_type is ContractType.VOUCHER:
                have = {st.activity_id(a) for a in existing.fixed_activities}
                extra = [st.activity_id(a) for a in invitation.fixed_activities if st.activity_id(a) not in have]
                if extra:
                    session.execute(sa.insert(m.InvitationActivity),
                                    [{"invitation_id": existing.id, "activity_id": a} for a in extra])
            session.execute(sa.delete(m.InvitationActivity).where(m.InvitationActivity.invitation_id == invitation.id))
            _record(invitation.contract, "invitation_merged",
                    _("Merged the invitation sent to %(email)s into the learner's existing invitation.", email=email),
                    invitation=existing)
            session.delete(invitation)
            continue
        invitation.user_id = uid
        invitation.status = InvitationStatus.OUTSTANDING
        _record(invitation.contract, "linked",
                _("%(email)s registered; the invitation is now Outstanding.", email=email), invitation=invitation)
        linked.append(invitation)
    if pending:
        session.flush()
    return linked


@transactional
def redeem_code(user: Any, code: str) -> Any:
    """Redeem a contract's invitation code for ``user``; return the learner's invitation.

    An invited learner's invitation becomes Accepted; a learner never invited gets a new Accepted
    invitation covering the contract's activities; a revoked learner is refused (only a re-invite helps).
    Wrong codes raise ``InvalidCode`` (rate limiting is the caller's job, see the learner pages).
    """
    m, st, session = _m(), _state(), _session()
    normalized = codes.normalize_code(code or "")
    if not codes.is_well_formed(normalized):
        raise errors.InvalidCode()
    contract = session.execute(
        sa.select(m.Contract).where(m.Contract.invitation_code == normalized)
    ).scalars().first()
    if contract is None or not codes.codes_match(contract.invitation_code, normalized):
        raise errors.InvalidCode()
    _ensure_active(contract)
    link_registered_user(user)
    now = _now()
    invitation = _live_invitation(contract.id, user)
    if invitation is not None:
        first_time = invitation.code_redeemed_at is None
        values: dict[str, Any] = {}
        if first_time:
            values["code_redeemed_at"] = now
        if invitation.status is InvitationStatus.OUTSTANDING:
            values["status"] = InvitationStatus.ACCEPTED
        if values:
            session.execute(
                sa.update(m.Invitation).where(m.Invitation.id == invitation.id, m.Invitation.status != LIVE)
                .values(**values).execution_options(synchronize_session=False))
            session.expire(invitation)
    else:
        revoked = session.execute(
            sa.select(m.Invitation.id).where(
                m.Invitation.contract_id == contract.id, m.Invitation.status == InvitationStatus.REVOKED,
                sa.or_(m.Invitation.user_id == st.user_id(user),
                       m.Invitation.email == _normalize_email(st.rules.user_email(user) or "")))
        ).first()
        if revoked is not None:
            raise errors.InvitationRevoked()
        first_time = True
        invitation = m.Invitation(
            contract_id=contract.id, user_id=st.user_id(user),
            email=_normalize_email(st.rules.user_email(user) or "") or f"user-{st.user_id(user)}",
            status=InvitationStatus.ACCEPTED, require_code=contract.require_invitation_code, enrolled_count=0,
            invited_at=now, invited_by=_("Invitation code"), code_redeemed_at=now, send_count=0,
        )
        session.add(invitation)
        session.flush()
        if contract.contract_type is ContractType.VOUCHER:
            ids = _activity_ids(contract.activities)
            if ids:
                session.execute(sa.insert(m.InvitationActivity),
                                [{"invitation_id": invitation.id, "activity_id": a} for a in ids])
    # The code must still be the contract's code when this commits (a concurrent regenerate wins).
    still_valid = session.execute(
        sa.update(m.Contract).where(m.Contract.id == contract.id, m.Contract.invitation_code == normalized)
        .values(updated_at=m.Contract.updated_at).execution_options(synchronize_session=False)
    )
    if still_valid.rowcount != 1:
        raise errors.InvalidCode()
    if first_time:
        _record(contract, "code_redeemed", _("%(email)s redeemed the invitation code.", email=invitation.email),
                actor=user, invitation=invitation)
        app = current_app._get_current_object()
        _after_commit(lambda: signals.code_redeemed.send(app, invitation=invitation, user=user))
    return invitation


def _enrollment_for(contract_id: int, user_id: Any, activity_id: Any) -> Any:
    statement = _statement("enrollment_for", lambda m: sa.select(m.Enrollment).where(
        m.Enrollment.contract_id == sa.bindparam("p_c"), m.Enrollment.user_id == sa.bindparam("p_u"),
        m.Enrollment.activity_id == sa.bindparam("p_a")))
    return _session().execute(statement, {"p_c": contract_id, "p_u": user_id, "p_a": activity_id}).scalars().first()


def _covers_activity(m: Any, voucher: bool, invitation_id: Any, contract_id: Any) -> Any:
    """SQL: the invitation covers activity ``:p_a`` (rule 12 — Voucher: its own list; Subscription: the
    contract's)."""
    if voucher:
        ia = m.InvitationActivity.__table__.c
        return sa.exists().where(ia.invitation_id == invitation_id, ia.activity_id == sa.bindparam("p_a"))
    ca = m.ContractActivity.__table__.c
    return sa.exists().where(ca.contract_id == contract_id, ca.activity_id == sa.bindparam("p_a"))


def _enrollment_in_activity(m: Any, contract_id: Any, user_id: Any) -> Any:
    """SQL: the learner's enrollment in activity ``:p_a`` through the contract."""
    e = m.Enrollment.__table__.c
    return sa.select(e.id).where(e.contract_id == contract_id, e.user_id == user_id,
                                 e.activity_id == sa.bindparam("p_a"))


def _subscription_seat(m: Any) -> Any:
    """SQL: the learner's Subscription seat on the contract (``:p_c``, ``:p_u``), if they hold one."""
    seat = m.Seat.__table__.c
    return sa.select(seat.id).where(seat.contract_id == sa.bindparam("p_c"), seat.user_id == sa.bindparam("p_u"),
                                    seat.activity_id.is_(None))


def _take_seat(m: Any) -> Any:
    """SQL: take one seat from the contract's counter, never beyond ``seats`` and only inside the valid period."""
    con = m.Contract.__table__
    return (sa.update(con)
            .where(con.c.id == sa.bindparam("p_c"), con.c.seats_used < con.c.seats,
                   con.c.valid_from <= sa.bindparam("p_today"), con.c.valid_until >= sa.bindparam("p_today"))
            .values(seats_used=con.c.seats_used + 1))


def _enrollment_statement(m: Any) -> Any:
    """The learner's live invitation, with (in the same query) their enrollment in the activity if any and
    whether the invitation covers the activity (Voucher: its own list; Subscription: the contract's)."""
    inv = m.Invitation.__table__.c
    return (sa.select(inv.id, inv.require_code, inv.code_redeemed_at,
                      _enrollment_in_activity(m, inv.contract_id, inv.user_id).scalar_subquery()
                      .label("enrollment_id"),
                      _covers_activity(m, True, inv.id, inv.contract_id).label("in_invitation"),
                      _covers_activity(m, False, inv.id, inv.contract_id).label("in_contract"))
            .where(inv.contract_id == sa.bindparam("p_c"), inv.user_id == sa.bindparam("p_u"), inv.status != LIVE))


def _check_enrollable(user: Any, contract: Any, activity_id: Any) -> tuple[Any, Any]:
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
        revoked = _session().execute(sa.select(m.Invitation.id).where(
            m.Invitation.contract_id == contract.id, m.Invitation.status == InvitationStatus.REVOKED,
            sa.or_(m.Invitation.user_id == st.user_id(user),
                   m.Invitation.email == _normalize_email(st.rules.user_email(user) or "")))).first()
        raise errors.InvitationRevoked() if revoked else errors.NotInvited()
    _ensure_active(contract)
    if row.require_code and row.code_redeemed_at is None:
        raise errors.CodeRequired()
    covered = row.in_invitation if contract.contract_type is ContractType.VOUCHER else row.in_contract
    if not covered:
        raise errors.ActivityNotInInvitation()
    return row.id, None


@dataclasses.dataclass
class _SeatOutcome:
    """What the write step of an enrollment did: ``enrollment_id`` is ``None`` when nobody was enrolled."""

    invitation_id: int | None  # the learner's invitation, when it passed every check and was locked
    seat_taken: bool
    enrollment_id: int | None


def _lock_statement(m: Any, voucher: bool) -> Any:
    """Lock the learner's live invitation, only if it allows this enrollment: code entered when required,
    activity covered (Voucher: the invitation's own list; Subscription: the contract's), not enrolled in it
    yet, under the per-user limit. Serialises the learner's requests and loses cleanly to a revoke."""
    inv, p = m.Invitation.__table__, sa.bindparam
    return (sa.update(inv)
            .where(inv.c.contract_id == p("p_c"), inv.c.user_id == p("p_u"), inv.c.status != LIVE,
                   sa.or_(inv.c.require_code.is_(False), inv.c.code_redeemed_at.is_not(None)),
                   sa.or_(p("p_limit") == 0, inv.c.enrolled_count < p("p_limit")),
                   _covers_activity(m, voucher, inv.c.id, p("p_c")),
                   ~_enrollment_in_activity(m, p("p_c"), p("p_u")).exists())
            .values(enrolled_count=inv.c.enrolled_count + 1, status=InvitationStatus.ENROLLED))


def _enrollment_writes(m: Any, voucher: bool) -> Any:
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
    needed = sa.select(locked.c.id)
    if not voucher:
        needed = needed.where(~_subscription_seat(m).exists())
    needed = needed.cte("needed")
    taken = _take_seat(m).where(sa.exists(needed.select())).returning(con.c.id).cte("taken")
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
                      sa.select(enrolled.c.id).scalar_subquery().label("enrollment_id"))
            .add_cte(seat_row, history))


def _enrollment_message(email: str, title: str, seat_used: bool) -> str:
    return str(_("%(email)s enrolled in %(title)s (%(seat)s).", email=email, title=title,
                 seat=_("one seat used") if seat_used else _("no seat used: Subscription seat already held")))


def _holds_subscription_seat(conn: Any, contract_id: int, uid: Any) -> bool:
    return conn.execute(_statement("subscription_seat", _subscription_seat),
                        {"p_c": contract_id, "p_u": uid}).first() is not None


def _write_enrollment(conn: Any, contract: Any, user: Any, uid: Any, aid: Any, email: str, title: str,
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
        return _SeatOutcome(row.invitation_id, row.seat_taken, row.enrollment_id)

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
    if seat_needed:
        if conn.execute(_statement("take_seat", _take_seat), params).rowcount != 1:
            return _SeatOutcome(invitation_id, False, None)
        conn.execute(_statement("insert_seat", lambda m: sa.insert(m.Seat.__table__)), {
            "contract_id": contract.id, "user_id": uid, "created_at": now, "activity_id": aid if voucher else None})
    enrollment_id = conn.execute(_statement("insert_enrollment", lambda m: sa.insert(m.Enrollment.__table__)), {
        "contract_id": contract.id, "invitation_id": invitation_id, "user_id": uid, "activity_id": aid,
        "seat_used": seat_needed, "created_at": now}).inserted_primary_key[0]
    conn.execute(_statement("insert_history", lambda m: sa.insert(m.HistoryEntry.__table__)), {
        "at": now, "contract_id": contract.id, "contract_code": contract.code, "action": "enrolled",
        "message": _enrollment_message(email, title, seat_needed), "invitation_id": invitation_id, **actor})
    return _SeatOutcome(invitation_id, seat_needed, enrollment_id)


def _ensure_not_enrolled_by_host(user: Any, activity: Any) -> None:
    if _rules().is_enrolled_in_activity(user, activity):
        raise errors.ValidationError(
            _("You are already enrolled in %(title)s; no seat was used.", title=_activity_title(activity)))


def _refuse_enrollment(user: Any, contract: Any, invitation_id: int, uid: Any, aid: Any, activity: Any,
                       outcome: _SeatOutcome) -> Any:
    """Explain why the write step enrolled nobody although every check had passed a moment before: the
    learner's own concurrent request may have won (then its enrollment is the answer, as for a repeat), the
    host has the learner already, a revoke, the per-user limit, or the last seat went to someone else."""
    m, session = _m(), _session()
    existing = _enrollment_for(contract.id, uid, aid)
    if existing is not None:
        session.rollback()
        return _enrollment_for(contract.id, uid, aid)
    _ensure_not_enrolled_by_host(user, activity)
    if outcome.invitation_id is None:  # the lock was refused
        status = session.execute(sa.select(m.Invitation.status).where(m.Invitation.id == invitation_id)).scalar_one()
        if status is InvitationStatus.REVOKED:
            raise errors.InvitationRevoked()
        raise errors.PerUserLimitReached(
            _("You may take at most %(n)s activities through %(title)s.", n=contract.per_user_limit,
              title=contract.title))
    if contract.contract_type is ContractType.SUBSCRIPTION and _holds_subscription_seat(
            session.connection(), contract.id, uid):
        raise _Conflict()  # the learner's seat was taken by their own concurrent request after our snapshot
    session.expire(contract)
    _ensure_active(contract)
    raise errors.NoSeatsAvailable(
        _("There are no seats left on %(title)s. Ask the contract's administrator for more seats.",
          title=contract.title))


@transactional
def enroll(user: Any, contract: Any, activity: Any) -> Any:
    """Enroll ``user`` in ``activity`` through ``contract``, using a seat when the rules say so.

    Voucher: one seat per activity. Subscription: one seat on the learner's first enrollment.
    Idempotent: enrolling again in the same activity returns the existing enrollment and uses nothing.
    The host's ``enroll_in_activity`` runs in the same transaction: if it fails no seat is used.
    """
    st, m, session = _state(), _m(), _session()
    aid = activity if not isinstance(activity, st.activity_model) else st.activity_id(activity)
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
    try:
        st.rules.enroll_in_activity(user, activity_obj, contract)
        session.flush()
    except errors.LearningContractError:
        raise
    except (sa_exc.OperationalError, sa_exc.DBAPIError) as error:
        if _is_transient(error) and not _last_attempt.get():
            raise  # a deadlock or dropped connection: @transactional runs the whole enrollment again
        _enrollment_failed(failure, user, error)
    except Exception as error:  # noqa: BLE001 - any host failure refuses the enrollment
        _enrollment_failed(failure, user, error)
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
    app, seat_used = current_app._get_current_object(), outcome.seat_taken

    def _send() -> None:
        signals.enrollment_created.send(app, enrollment=enrollment, user=user, seat_used=seat_used)
        if seat_used:
            signals.seat_used.send(app, contract=contract, user=user, enrollment=enrollment)

    _after_commit(_send)
    return enrollment


@dataclasses.dataclass
class _FailedEnrollment:
    contract_id: int
    contract_code: str
    invitation_id: int
    email: str
    title: str


def _enrollment_failed(failure: _FailedEnrollment, user: Any, error: Exception) -> None:
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


def invitations_for(user: Any) -> list[Any]:
    """The learner's live invitations (newest contracts last), after linking Not Registered ones."""
    m, st = _m(), _state()
    link_registered_user(user)
    return list(_session().execute(
        sa.select(m.Invitation).join(m.Invitation.contract)
        .where(m.Invitation.user_id == st.user_id(user), m.Invitation.status != LIVE)
        .order_by(m.Contract.valid_until, m.Contract.id)
    ).scalars())


@dataclasses.dataclass
class ActivityOffer:
    """One activity of a learner's invitation, and whether the learner can enroll in it now."""

    activity: Any
    activity_id: Any
    title: str
    kind: str
    enrolled: bool
    can_enroll: bool
    reason: str | None  #: why not, in words (None when enrolled or enrollable)
    url: str | None = None


@dataclasses.dataclass
class InvitationOffer:
    """What the learner's widget shows for one invitation."""

    invitation: Any
    contract: Any
    state: ContractState
    needs_code: bool
    activities: list[ActivityOffer]
    enrolled_count: int
    remaining: int | None  #: activities the learner may still take (None = no per-user limit)
    seats_available: int


def invitation_offers(user: Any, invitations: Sequence[Any] | None = None) -> list[InvitationOffer]:
    """For each live invitation of ``user``: its activities with enrolled / enrollable / why not.

    Issues a fixed number of queries whatever the number of invitations and activities.
    """
    st, m, session, rules = _state(), _m(), _session(), _rules()
    invitations = list(invitations_for(user) if invitations is None else invitations)
    if not invitations:
        return []
    contract_ids = {inv.contract_id for inv in invitations}
    contract_acts: dict[int, list[Any]] = defaultdict(list)
    for cid, activity in session.execute(
        sa.select(m.ContractActivity.contract_id, st.activity_model)
        .join(st.activity_model, st.activity_pk_column == m.ContractActivity.activity_id)
        .where(m.ContractActivity.contract_id.in_(contract_ids)).order_by(st.activity_pk_column)
    ):
        contract_acts[cid].append(activity)
    fixed: dict[int, set[Any]] = defaultdict(set)
    for iid, aid in session.execute(
        sa.select(m.InvitationActivity.invitation_id, m.InvitationActivity.activity_id)
        .where(m.InvitationActivity.invitation_id.in_([i.id for i in invitations]))
    ):
        fixed[iid].add(aid)
    enrolled: dict[int, set[Any]] = defaultdict(set)
    for cid, aid in session.execute(
        sa.select(m.Enrollment.contract_id, m.Enrollment.activity_id)
        .where(m.Enrollment.user_id == st.user_id(user), m.Enrollment.contract_id.in_(contract_ids))
    ):
        enrolled[cid].add(aid)
    has_sub_seat = set(session.execute(
        sa.select(m.Seat.contract_id).where(m.Seat.user_id == st.user_id(user), m.Seat.activity_id.is_(None),
                                            m.Seat.contract_id.in_(contract_ids))).scalars())
    today = _today()
    offers = []
    for inv in invitations:
        contract = inv.contract
        state = contract.state_on(today)
        available = max(contract.seats - contract.seats_used, 0) if state is not ContractState.EXPIRED else 0
        acts = contract_acts[contract.id]
        if contract.contract_type is ContractType.VOUCHER:
            acts = [a for a in acts if st.activity_id(a) in fixed[inv.id]]
        taken = len(enrolled[contract.id])
        remaining = None if not contract.per_user_limit else max(contract.per_user_limit - taken, 0)
        needs_code = not inv.code_satisfied
        seat_free = contract.contract_type is ContractType.SUBSCRIPTION and contract.id in has_sub_seat
        items = []
        for activity in acts:
            aid = st.activity_id(activity)
            is_enrolled = aid in enrolled[contract.id]
            reason = None
            if not is_enrolled:
                if state is ContractState.EXPIRED:
                    reason = _("The contract expired on %(date)s.", date=_format_date(contract.valid_until))
                elif state is ContractState.FUTURE:
                    reason = _("Available from %(date)s.", date=_format_date(contract.valid_from))
                elif needs_code:
                    reason = _("Enter the invitation code first.")
                elif remaining == 0:
                    reason = _("You have reached your limit of %(n)s activities.", n=contract.per_user_limit)
                elif available <= 0 and not seat_free:
                    reason = _("No seats left.")
            items.append(ActivityOffer(
                activity=activity, activity_id=aid, title=rules.activity_title(activity),
                kind=rules.activity_kind(activity), enrolled=is_enrolled, can_enroll=not is_enrolled and reason is None,
                reason=reason, url=rules.activity_url(activity) if is_enrolled else None,
            ))
        offers.append(InvitationOffer(inv, contract, state, needs_code, items, taken, remaining, available))
    return offers


# ---------------------------------------------------------------------------------------------
# reporting
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SeatSummary:
    """Seats of one contract today."""

    seats: int
    used: int
    available: int  #: 0 once the contract has expired
    expired: int  #: seats that expired unused (0 until the end date has passed)
    state: ContractState
    by_status: dict[InvitationStatus, int]  #: every status present, zero when none


def seat_summaries(contracts: Sequence[Any]) -> dict[int, SeatSummary]:
    """:func:`seat_summary` for many contracts with one query."""
    m = _m()
    ids = [c.id for c in contracts]
    counts: dict[int, Counter] = defaultdict(Counter)
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


def seat_summary(contract: Any) -> SeatSummary:
    """Seats, used, available, expired and invitations per status for ``contract`` today."""
    return seat_summaries([contract])[contract.id]


def history(contract: Any, *, limit: int = 100, offset: int = 0) -> list[Any]:
    """The contract's history, newest first."""
    m = _m()
    return list(_session().execute(
        sa.select(m.HistoryEntry).where(m.HistoryEntry.contract_id == contract.id)
        .order_by(m.HistoryEntry.id.desc()).limit(limit).offset(offset)
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


def invitation_page(contract: Any, *, search: str | None = None, status: InvitationStatus | str | None = None,
                    page: int = 1, per_page: int | None = None) -> InvitationPage:
    """The invitations of ``contract`` newest first, filtered by e-mail text and status, one page at a time.

    Issues the same number of queries whatever the page size or the number of invitations (count, page,
    learners, activities), so admin lists of 100,000 invitations stay fast.
    """
    m, st, session = _m(), _state(), _session()
    per_page = max(1, min(int(per_page or config_value("PAGE_SIZE")), 500))
    where = _invitation_filters(contract, search, status)
    total = session.execute(sa.select(sa.func.count()).select_from(m.Invitation).where(*where)).scalar_one()
    page = max(1, min(int(page or 1), max(1, -(-total // per_page))))
    items = list(session.execute(
        sa.select(m.Invitation).where(*where).options(sa.orm.selectinload(m.Invitation.user))
        .order_by(m.Invitation.invited_at.desc(), m.Invitation.id.desc())
        .limit(per_page).offset((page - 1) * per_page)
    ).scalars())
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


def _invitation_filters(contract: Any, search: str | None, status: InvitationStatus | str | None) -> list[Any]:
    """The WHERE clauses of a contract's invitation list: e-mail text (case-insensitive) and status."""
    m = _m()
    where = [m.Invitation.contract_id == contract.id]
    if search and search.strip():
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


def invitation_export_rows(contract: Any, *, search: str | None = None, status: InvitationStatus | str | None = None,
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


def deletion_impact(contract: Any) -> DeletionImpact:
    """Count what :func:`delete_contract` would remove, to show before asking for confirmation."""
    m, session = _m(), _session()

    def count(model: Any) -> int:
        return session.execute(
            sa.select(sa.func.count()).select_from(model).where(model.contract_id == contract.id)).scalar_one()

    return DeletionImpact(contract.seats_used, count(m.Invitation), count(m.Enrollment), count(m.ContractActivity))


def contracts_for_admin(user: Any) -> dict[ContractState, list[Any]]:
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

