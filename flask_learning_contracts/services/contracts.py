"""Contracts: create, edit, delete; contract admins (rules 1, 4 seats never below used, 6 period, 7)."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

import sqlalchemy as sa

from .. import errors, signals
from ..enums import ContractType, NotificationKind, WebhookEvent
from ..i18n import _, _n
from ..models import ALERTS_SQL, Contract
from ..records import ContractRecord
from ..rules import HostUser
from . import webhooks
from ._core import (_actor_fields, _after_commit, _app, _describe, _lock_contract, _m, _now, _record, _rowcount,
                    _rules, _session, _state, transactional)
from .redemption import _new_invitation_code
from .reports import seat_summary

_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")


_TEXT_LIMITS = {"title": 200, "description": 5000, "group": 200, "external_id": 128, "source": 128}


_EDITABLE = {
    "code", "title", "description", "group", "external_id", "source", "seats", "per_user_limit",
    "valid_from", "valid_until", "require_invitation_code", "reminders_enabled",
}


_IMMUTABLE = {"contract_type", "seats_used", "invitation_code", "id", "created_at"}


def _clean_fields(values: dict[str, Any], *, current: Contract | None = None) -> dict[str, Any]:
    """Validate and normalise contract fields; raise ``ValidationError`` naming the field (``InvalidFields`` with
    every problem when several fields are wrong, so a form shows them all after one submit)."""
    clean, problems = _check_fields(values, current=current)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise errors.InvalidFields(problems)
    return clean


def contract_field_errors(values: dict[str, Any], *, contract: Contract | None = None) -> list[errors.ValidationError]:
    """Every problem of these contract fields (``contract``: the one being edited), without changing anything.

    The same checks ``create_contract`` and ``update_contract`` make: for a form that could not read some of its
    values, so the values it could read are checked in the same submit."""
    return _check_fields(values, current=contract)[1]


def _check_fields(values: dict[str, Any], *, current: Contract | None
                  ) -> tuple[dict[str, Any], list[errors.ValidationError]]:
    clean: dict[str, Any] = {}
    problems: list[errors.ValidationError] = []
    for name, value in values.items():
        try:
            clean[name] = _clean_field(name, value, current)
        except errors.ValidationError as problem:
            problems.append(problem)
    start = clean.get("valid_from", getattr(current, "valid_from", None))
    end = clean.get("valid_until", getattr(current, "valid_until", None))
    if start and end and end < start:
        problems.append(errors.ValidationError(_("The end date must be on or after the start date."),
                                               field="valid_until"))
    if current is not None and "seats" in clean and clean["seats"] < current.seats_used:
        # Checked again atomically when saving (update_contract); here so the form names it with the others.
        problems.append(_seats_below_used(current.seats_used))
    if "code" in clean:
        query = sa.select(_m().Contract.id).where(_m().Contract.code_key == clean["code"].lower())
        if current is not None:
            query = query.where(_m().Contract.id != current.id)
        if _session().execute(query).first() is not None:
            problems.append(errors.ValidationError(
                _("Another contract already uses the code %(code)s. Choose a different code.", code=clean["code"]),
                field="code",
            ))
    source = clean.get("source", getattr(current, "source", None))
    external_id = clean.get("external_id", getattr(current, "external_id", None))
    if ("source" in clean or "external_id" in clean) and source and external_id:
        same = sa.select(_m().Contract.code).where(_m().Contract.source == source,
                                                   _m().Contract.external_id == external_id)
        if current is not None:
            same = same.where(_m().Contract.id != current.id)
        other = _session().execute(same).scalars().first()
        if other is not None:  # the unique index uq_lc_contract_external would refuse it
            problems.append(errors.ValidationError(
                _("Contract %(code)s already has this source and external ID.", code=other), field="external_id"))
    return clean, problems


def _seats_below_used(used: int) -> errors.ValidationError:
    return errors.ValidationError(
        _n("Seats cannot be lower than the %(num)s seat already used.",
           "Seats cannot be lower than the %(num)s seats already used.", used),
        field="seats",
    )


def _clean_field(name: str, value: Any, current: Contract | None) -> Any:
    """One contract field, normalised; raises ``ValidationError`` naming it."""
    if name == "code":
        code = (value or "").strip()
        if not code:
            raise errors.ValidationError(_("Enter a code for the contract."), field="code")
        if not _CODE_RE.match(code):
            raise errors.ValidationError(
                _("Use 1 to 64 letters, digits, dots, dashes or underscores for the code."), field="code"
            )
        return code
    if name in _TEXT_LIMITS:
        text = (value or "").strip()
        if name == "title" and not text:
            raise errors.ValidationError(_("Enter a title learners will see."), field="title")
        if len(text) > _TEXT_LIMITS[name]:
            raise errors.ValidationError(_("Keep this under %(n)s characters.", n=_TEXT_LIMITS[name]), field=name)
        if name == "group" and text:
            _check_group(text, current)
        return text if (text or name in {"title", "description"}) else None
    if name in {"seats", "per_user_limit"}:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise errors.ValidationError(_("Enter a whole number."), field=name) from None
        if number < 0 or number > 10_000_000:
            raise errors.ValidationError(_("Enter a number from 0 to 10,000,000."), field=name)
        return number
    if name in {"valid_from", "valid_until"}:
        if isinstance(value, dt.datetime):
            value = value.date()
        if not isinstance(value, dt.date):
            raise errors.ValidationError(_("Enter a date."), field=name)
        return value
    if name in {"require_invitation_code", "reminders_enabled"}:
        return bool(value)
    if name == "contract_type":
        try:
            return ContractType(value)
        except ValueError:
            raise errors.ValidationError(_("Choose Voucher or Subscription."), field=name) from None
    raise errors.ValidationError(_("Unknown contract field %(name)s.", name=name), field=name)


def contract_groups() -> list[tuple[str, str]]:
    """The host's groups (``ContractRules.groups()``) as ``(value, label)`` pairs; empty: the group is free text."""
    return [(str(value), str(label)) for value, label in _rules().groups()]


def group_label(value: str | None) -> str:
    """How people see a contract's group: its label among the host's groups, else the stored text itself."""
    if not value:
        return ""
    return dict(contract_groups()).get(value, value)


def _check_group(value: str, current: Contract | None) -> None:
    """When the host lists its groups, a contract's group must be one of them; a contract keeps the group it
    already has (set as free text before the host listed its groups) until someone picks another."""
    groups = contract_groups()
    if not groups or value in {key for key, _label in groups}:
        return
    if current is not None and value == current.group:
        return
    raise errors.ValidationError(_("Choose one of the listed groups."), field="group")


@transactional
def create_contract(
    *, code: str, title: str, contract_type: ContractType | str, seats: int, valid_from: dt.date,
    valid_until: dt.date, description: str = "", per_user_limit: int = 0, require_invitation_code: bool = True,
    group: str | None = None, external_id: str | None = None, source: str | None = None, actor: HostUser | None = None,
    reminders_enabled: bool = True,
) -> Contract:
    """Create a contract with a freshly generated invitation code and return it."""
    fields = _clean_fields(
        dict(code=code, title=title, contract_type=contract_type, seats=seats, valid_from=valid_from,
             valid_until=valid_until, description=description, per_user_limit=per_user_limit,
             require_invitation_code=require_invitation_code, group=group, external_id=external_id, source=source,
             reminders_enabled=reminders_enabled)
    )
    now = _now()
    contract = _m().Contract(
        **fields, code_key=fields["code"].lower(), seats_used=0, invitation_code=_new_invitation_code(),
        created_at=now, updated_at=now,
    )
    session = _session()
    session.add(contract)
    session.flush()
    _record(contract, "created", _n("Created %(type)s contract %(code)s with %(num)s seat.",
                                    "Created %(type)s contract %(code)s with %(num)s seats.", contract.seats,
                                    type=contract.contract_type.label, code=contract.code),
            actor=actor)
    webhooks.record_event(WebhookEvent.CONTRACT_CREATED, contract.id, {"contract": webhooks.contract_data(contract)})
    if signals.contract_created.receivers:
        app, record = _app(), ContractRecord.of(contract)
        _after_commit(lambda: signals.contract_created.send(app, contract=record, actor=actor))
    return contract


@transactional
def update_contract(contract: Contract, *, actor: HostUser | None = None, **changes: Any) -> Contract:
    """Change editable fields of ``contract``. The type, seats used and code cannot be set here.

    Seats can never go below the seats already used (checked atomically). Changing
    ``require_invitation_code`` does not alter existing invitations.
    """
    _lock_contract(contract)
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
    described, changed = [], {}
    for name, value in fields.items():
        old = getattr(contract, name)
        if old != value:
            described.append(f"{name.replace('_', ' ')}: {_describe(old) or '—'} → {_describe(value) or '—'}")
            changed[name] = {"from": webhooks.jsonable(old), "to": webhooks.jsonable(value)}
    if not described:
        return contract
    if "seats" in fields:
        result = _session().execute(
            sa.update(model).where(model.id == contract.id, model.seats_used <= fields["seats"])
            .values(seats=fields["seats"]).execution_options(synchronize_session=False)
        )
        if _rowcount(result) != 1:
            _session().refresh(contract)
            raise _seats_below_used(contract.seats_used)
        fields.pop("seats")
    if "code" in fields:
        fields["code_key"] = fields["code"].lower()
    for name, value in fields.items():
        setattr(contract, name, value)
    contract.updated_at = _now()
    _session().flush()
    webhooks.record_event(WebhookEvent.CONTRACT_UPDATED, contract.id,
                          {"contract": webhooks.contract_ref(contract), "changes": changed})
    _session().expire(contract)
    _record(contract, "edited", _("Edited %(changes)s.", changes="; ".join(described)), actor=actor)
    return contract


@transactional
def delete_contract(contract: Contract, *, actor: HostUser | None = None) -> None:
    """Delete ``contract`` with its activities list, admins, invitations, seats and enrollment records.

    Host enrollments made through it are never removed; the history is kept.
    """
    m, session = _m(), _session()
    cid, code, title = contract.id, contract.code, contract.title
    summary = seat_summary(contract)
    invitation_ids = sa.select(m.Invitation.id).where(m.Invitation.contract_id == cid).scalar_subquery()
    session.execute(sa.delete(m.InvitationActivity).where(m.InvitationActivity.invitation_id.in_(invitation_ids)))
    notification = m.Notification.__table__.c  # by its invitations, then its alerts (see the table's indexes)
    session.execute(sa.delete(m.Notification).where(notification.invitation_id.in_(invitation_ids)))
    # (Webhook deliveries stay: what they announced happened, and their receivers still expect them.)
    session.execute(sa.delete(m.Notification).where(notification.contract_id == cid, sa.text(ALERTS_SQL),
                                                    notification.kind != NotificationKind.WEBHOOK.value))
    for table in (m.Enrollment, m.Seat, m.Invitation, m.ContractActivity, m.ContractAdmin, m.InviteRun):
        session.execute(sa.delete(table).where(table.contract_id == cid).execution_options(synchronize_session=False))
    session.execute(sa.delete(m.Contract).where(m.Contract.id == cid).execution_options(synchronize_session=False))
    session.expunge(contract)
    session.add(m.HistoryEntry(
        at=_now(), contract_id=cid, contract_code=code, action="deleted",
        message=_n("Deleted contract %(code)s (%(title)s): %(used)s of %(seats)s seat was used. Host enrollments "
                   "were kept.", "Deleted contract %(code)s (%(title)s): %(used)s of %(seats)s seats were used. Host "
                   "enrollments were kept.", summary.seats, code=code, title=title, used=summary.used,
                   seats=summary.seats),
        **_actor_fields(actor),
    ))


@transactional
def add_contract_admin(contract: Contract, user: HostUser, *, actor: HostUser | None = None) -> None:
    """Name ``user`` a contract admin of ``contract`` (no change if already one)."""
    _lock_contract(contract)
    m, st = _m(), _state()
    uid = st.user_id(user)
    exists = _session().get(m.ContractAdmin, (contract.id, uid))
    if exists is None:
        _session().add(m.ContractAdmin(contract_id=contract.id, user_id=uid))
        _record(contract, "admin_added", _("Named %(user)s a contract admin.", user=st.rules.user_display_name(user)),
                actor=actor, subject=user)
        _session().flush()
        _session().expire(contract, ["admins"])


@transactional
def remove_contract_admin(contract: Contract, user: HostUser, *, actor: HostUser | None = None) -> None:
    """Remove ``user`` from ``contract``'s contract admins (no change if not one)."""
    _lock_contract(contract)
    m, st = _m(), _state()
    row = _session().get(m.ContractAdmin, (contract.id, st.user_id(user)))
    if row is not None:
        _session().delete(row)
        _record(contract, "admin_removed",
                _("Removed %(user)s from the contract admins.", user=st.rules.user_display_name(user)), actor=actor,
                subject=user)
        _session().flush()
        _session().expire(contract, ["admins"])


def importable_contracts(contract: Contract, text: str = "", *, limit: int = 20) -> tuple[list[Contract], int]:
    """The other contracts whose activities ``contract`` may import, matching ``text`` in the code or title
    (case-insensitive), ordered by code: at most ``limit`` of them, and how many match in all (two queries,
    however many contracts there are)."""
    m = _m()
    where = [m.Contract.id != contract.id]
    text = text.strip()
    if text:
        needle = text.lower()
        where.append(sa.or_(sa.func.lower(m.Contract.code).contains(needle, autoescape=True),
                            sa.func.lower(m.Contract.title).contains(needle, autoescape=True)))
    session = _session()
    found = list(session.execute(sa.select(m.Contract).where(*where).order_by(m.Contract.code).limit(limit)).scalars())
    total = len(found) if len(found) < limit else session.execute(
        sa.select(sa.func.count()).select_from(m.Contract).where(*where)).scalar_one()
    return found, int(total)
