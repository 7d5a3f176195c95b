"""Plumbing every service shares: the app's state, time, transactions with retries, history rows."""
from __future__ import annotations

import contextvars
import datetime as dt
import functools
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy import exc as sa_exc, orm

from .. import errors
from ..config import config_value
from ..enums import ContractType, InvitationStatus
from ..i18n import _, _l
from ..models import Contract, Invitation, Models
from ..records import ContractRecord, InvitationRecord
from ..rules import ActivityRef, ContractRules, HostUser
from ..state import LearningContractsState, current_state

if TYPE_CHECKING:
    from flask_sqlalchemy.session import Session as FlaskSession

F = TypeVar("F", bound=Callable[..., Any])


_in_transaction: contextvars.ContextVar[list[Callable[[], object]] | None] = contextvars.ContextVar(
    "learning_contracts_after_commit", default=None
)


LIVE = InvitationStatus.REVOKED  # used as "status != LIVE" in queries of live invitations


_BATCH = 500


def _state() -> LearningContractsState:
    """The current app's extension state."""
    return current_state()


def _m() -> Models:
    """The current app's mapped model classes."""
    return current_state().models


def _session() -> orm.scoped_session[FlaskSession]:
    """The host's Flask-SQLAlchemy session (our services join its transaction)."""
    return current_state().db.session


def _rules() -> ContractRules[Any, Any]:
    """The host's rule hooks."""
    return current_state().rules


def _statement(name: str, build: Callable[[Models], Any]) -> Any:
    """A statement of the hot paths, built once per set of models and executed with bind parameters.

    Building SQLAlchemy expressions costs Python time on every call; these are built once."""
    m = _m()
    cache = m.statements
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


def _app() -> Flask:
    """The app itself rather than the ``current_app`` proxy: after-commit callbacks keep it."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]  # werkzeug LocalProxy API
    return app


def _rowcount(result: sa.Result[Any]) -> int:
    """Rows matched by an UPDATE or DELETE (``session.execute`` types its result as a plain ``Result``)."""
    return cast("sa.CursorResult[Any]", result).rowcount


def _after_commit(callback: Callable[[], object]) -> None:
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
            pending: list[Callable[[], object]] = []
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
            except (orm.exc.ObjectDeletedError, orm.exc.StaleDataError) as error:
                # A row the caller loaded (the contract, or its invitation, deleted with it) is gone.
                session.rollback()
                raise errors.ContractNotFound() from error
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


def _lock_contract(contract: Contract) -> None:
    """Hold ``contract``'s row until the transaction ends, or refuse with ``ContractNotFound`` when it has been
    deleted since the caller loaded it: nothing is then written for a contract that no longer exists (a
    concurrent delete waits for this transaction, and its cleanup sees what this one wrote)."""
    identity = sa.inspect(contract).identity
    contract_id = identity[0] if identity else contract.id
    table = _m().Contract.__table__
    locked = _session().execute(sa.update(table).where(table.c.id == contract_id)
                                .values(updated_at=table.c.updated_at))
    if _rowcount(locked) != 1:
        raise errors.ContractNotFound()


def _revoked_for(contract_id: int, user: HostUser) -> sa.Select[Any]:
    """SQL: a Revoked invitation of ``user`` to the contract (rule 8: only a re-invite restores access).

    A revoke stays with the person it was about: an invitation linked to ``user``, or one revoked while it
    was linked to nobody (Not Registered) and sent to ``user``'s address (that address was the invitee).
    An invitation revoked while linked to someone else is theirs, even when ``user`` now holds the address it
    was sent to (the host moved the address from one account to another)."""
    m, st = _m(), _state()
    email = _normalize_email(st.rules.user_email(user) or "")
    return sa.select(m.Invitation.id).where(
        m.Invitation.contract_id == contract_id, m.Invitation.status == InvitationStatus.REVOKED,
        sa.or_(m.Invitation.user_id == st.user_id(user),
               sa.and_(m.Invitation.user_id.is_(None), m.Invitation.pseudonym.is_(None),
                       m.Invitation.email == email) if email else sa.false()))


def _actor_fields(actor: HostUser | None) -> dict[str, Any]:
    if actor is None or not getattr(actor, "is_authenticated", True):
        return {"actor_id": None, "actor_name": _("System")}
    st = _state()
    return {"actor_id": str(st.user_id(actor)), "actor_name": st.rules.user_display_name(actor)}


def _record(contract: Contract, action: str, message: str, *, actor: HostUser | None = None,
            invitation: Invitation | None = None, subject: HostUser | None = None) -> None:
    """Write one history row in the current transaction. ``subject``: the person the message names by name
    (stored as their key, so that forgetting them finds this row without matching names)."""
    _session().execute(
        _statement("insert_history", lambda m: sa.insert(m.HistoryEntry.__table__)),
        {"at": _now(), "contract_id": contract.id, "contract_code": contract.code, "action": action,
         "message": message, "invitation_id": getattr(invitation, "id", None),
         "subject_id": None if subject is None else str(_state().user_id(subject)), **_actor_fields(actor)},
    )


def _record_separately(contract_id: int, contract_code: str, action: str, message: str, *,
                       actor: HostUser | None = None,
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


def _activity_title(activity: ActivityRef) -> str:
    return _rules().activity_title(activity)


def _describe(value: object) -> str:
    if isinstance(value, (ContractType, InvitationStatus)):
        return value.label
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, dt.date):
        return value.isoformat()
    return "" if value is None else str(value)


_DIGITS = re.compile(r"-?[0-9]+")


def _whole_number(value: object, bits: int = 64) -> int | None:
    """``value`` as a whole number that fits a signed ``bits``-bit database integer, else ``None``.

    Larger numbers never match a row, and the driver would raise for them instead of finding nothing
    (SQLite: ``OverflowError``; PostgreSQL: "integer out of range"), so they are refused here."""
    if isinstance(value, str):
        # Only plain ASCII digits: int() would also read " 2 ", "1_0" or Arabic-Indic digits as numbers, so
        # several spellings would name one row.
        if not _DIGITS.fullmatch(value):
            return None
    elif isinstance(value, bool) or not isinstance(value, int):
        return None
    try:
        number = int(value)
    except ValueError:  # more digits than Python converts (4,300): no key is that long
        return None
    limit = 1 << (bits - 1)
    return number if -limit <= number < limit else None


def _as_int(value: object, bits: int = 64) -> int:
    """``value`` as an id (``-1``, which matches nothing, when it is not a whole number or does not fit ``bits``)."""
    number = _whole_number(value, bits)
    return -1 if number is None else number


#: Month names of the dates in e-mails and messages: translated messages (``strftime('%B')`` would follow the
#: server's C locale rather than the reader's language).
_MONTH_NAMES = (_l("January"), _l("February"), _l("March"), _l("April"), _l("May"), _l("June"), _l("July"),
                _l("August"), _l("September"), _l("October"), _l("November"), _l("December"))


def _format_date(value: dt.date) -> str:
    return f"{value.day} {_MONTH_NAMES[value.month - 1]} {value.year}"


#: Invisible characters a copy and paste brings along (zero-width spaces and joiners, word joiner, BOM, soft
#: hyphen): around an address they are dropped like spaces; inside one they make it invalid.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad"


def _normalize_email(text: str) -> str:
    """An e-mail address as stored and compared: without surrounding spaces, invisible characters, quotes or
    angle brackets, in lower case."""
    return text.strip().strip(_INVISIBLE).strip().strip("<>'\"").strip().strip(_INVISIBLE).lower()


def _is_postgresql() -> bool:
    return _session().get_bind().dialect.name == "postgresql"


def _one_of(expression: sa.ColumnElement[Any], values: list[Any]) -> sa.ColumnElement[bool]:
    """``expression IN values``. On PostgreSQL one array parameter (``= ANY(:values)``): the SQL text stays
    short and the same for every batch, so the driver and the server do not parse a 500-item list each time."""
    if _is_postgresql():
        from sqlalchemy.dialects.postgresql import ARRAY

        item_type = sa.String() if isinstance(expression.type, sa.types.NullType) else expression.type
        return expression == sa.any_(sa.bindparam(None, list(values), type_=ARRAY(item_type)))
    return expression.in_(values)


def _invitation_record(invitation: Invitation, contract: ContractRecord | None = None) -> InvitationRecord:
    """The immutable record of ``invitation`` as the running transaction left it (for a signal sent after the
    commit): its columns, its contract's record (``contract``, else built from the loaded contract) and, for a
    Voucher invitation, its activity ids (one query of ids)."""
    contract = contract or ContractRecord.of(invitation.contract)
    activity_ids: tuple[Any, ...] = ()
    if contract.contract_type is ContractType.VOUCHER:
        ia = _m().InvitationActivity.__table__.c
        activity_ids = tuple(_session().execute(sa.select(ia.activity_id).where(ia.invitation_id == invitation.id)
                                                .order_by(ia.activity_id)).scalars())
    return InvitationRecord(invitation.id, invitation.contract_id, invitation.email, invitation.status,
                            invitation.require_code, invitation.user_id, invitation.invited_at, invitation.invited_by,
                            contract, invitation.code_redeemed_at, activity_ids)
