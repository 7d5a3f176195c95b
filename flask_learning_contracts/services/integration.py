"""What the integration API needs beyond the admin's services: the upsert of a contract by the purchase it comes
from (source, external id), lists read in keyset pages (cursors), inviting by host user ids, and look-ups that
say "not found" rather than "not valid"."""
from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from .. import errors
from ..enums import ContractState, ContractType, InvitationStatus
from ..i18n import _
from ..models import Contract, Invitation
from ..rules import ActivityRef, HostUser
from ._core import _Conflict, _m, _session, _state, _today, transactional
from .access import parse_key
from .contracts import _CODE_RE, create_contract, update_contract
from .inviting import InviteReport, InviteResult, invite

#: Fields an upsert may set (the type only at creation).
UPSERT_FIELDS = ("code", "title", "description", "group", "contract_type", "seats", "per_user_limit", "valid_from",
                 "valid_until", "require_invitation_code", "reminders_enabled")
#: Fields an upsert that creates the contract must give.
_NEEDED_TO_CREATE = ("title", "contract_type", "seats", "valid_from", "valid_until")


@dataclasses.dataclass(frozen=True)
class Upserted:
    """What :func:`upsert_contract_by_external` did: the contract, and whether this call created it."""

    contract: Contract
    created: bool


def _by_external(source: str, external_id: str) -> Contract | None:
    m = _m()
    return _session().execute(sa.select(m.Contract).where(
        m.Contract.source == source, m.Contract.external_id == external_id)).scalars().first()


def _default_code(source: str, external_id: str) -> str:
    """A contract code made of the source and external id (characters a code may not hold become dashes)."""
    text = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "._-") else "-" for ch in f"{source}-{external_id}")
    text = text.lstrip("._-")[:64] or "contract"
    return text if _CODE_RE.match(text) else "contract"


@transactional
def upsert_contract_by_external(source: str, external_id: str, fields: dict[str, Any], *,
                                actor: HostUser | None = None) -> Upserted:
    """Create the contract of this (source, external id), or update it with ``fields``.

    The same call twice leaves one contract (a partial unique index on (source, external id) settles concurrent
    creations: the losing transaction is retried and updates the winner's contract). A different
    ``contract_type`` than the existing contract's raises ``ContractTypeChanged``. Without ``code`` a new contract
    is coded ``<source>-<external id>``."""
    unknown = set(fields) - set(UPSERT_FIELDS)
    if unknown:
        raise errors.ValidationError(_("Unknown contract field %(name)s.", name=min(unknown)),
                                     field=min(unknown))
    source, external_id = (source or "").strip(), (external_id or "").strip()
    if not source or not external_id:
        raise errors.ValidationError(_("Give both the source and the external ID."), field="external_id")
    existing = _by_external(source, external_id)
    if existing is None:
        values = {k: v for k, v in fields.items() if v is not None}
        values.setdefault("code", _default_code(source, external_id))
        missing = [errors.ValidationError(_("Needed to create the contract."), field=name)
                   for name in _NEEDED_TO_CREATE if name not in values]
        if missing:
            raise errors.InvalidFields(missing) if len(missing) > 1 else missing[0]
        try:
            return Upserted(create_contract(source=source, external_id=external_id, actor=actor, **values), True)
        except errors.ValidationError:
            if _by_external(source, external_id) is not None:  # a concurrent upsert created it: update that one
                raise _Conflict() from None
            raise
    wanted_type = fields.get("contract_type")
    if wanted_type is not None and ContractType(wanted_type) is not existing.contract_type:
        raise errors.ContractTypeChanged(
            _("Contract %(code)s is a %(type)s contract; its type cannot be changed.", code=existing.code,
              type=existing.contract_type.label))
    changes = {k: v for k, v in fields.items() if k != "contract_type" and v is not None}
    return Upserted(update_contract(existing, actor=actor, **changes), False)


def _require(model: type[Any], raw: object, missing: type[errors.LearningContractError]) -> Any:
    key = parse_key(model.id, raw)
    row = _session().get(model, key) if key is not None else None
    if row is None:
        raise missing()
    return row


def require_contract(contract_id: object) -> Contract:
    """The contract with this id, or ``ContractNotFound`` (any value accepted, as for ``get_contract``)."""
    contract: Contract = _require(_m().Contract, contract_id, errors.ContractNotFound)
    return contract


def require_invitation(invitation_id: object) -> Invitation:
    """The invitation with this id, or ``InvitationNotFound``."""
    invitation: Invitation = _require(_m().Invitation, invitation_id, errors.InvitationNotFound)
    return invitation


# -- cursors ---------------------------------------------------------------------------------------------------
def encode_cursor(values: Sequence[Any]) -> str:
    """An opaque cursor holding the sort key of the last row of a page."""
    return base64.urlsafe_b64encode(json.dumps(list(values), separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, size: int) -> list[Any] | None:
    """The values a cursor of :func:`encode_cursor` holds; ``ValidationError`` for anything else."""
    if not cursor:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != size:
        raise errors.ValidationError(_("This cursor is not valid: use the next_cursor of a previous page."),
                                     field="cursor")
    return values


@dataclasses.dataclass(frozen=True)
class CursorPage:
    """One page of a keyset-paged list, and the cursor of the next page (``None`` on the last)."""

    items: list[Any]
    next_cursor: str | None


def _page_size(limit: int | None) -> int:
    return max(1, min(int(limit or 50), 200))


def contracts_page(*, state: ContractState | str | None = None, source: str | None = None,
                   external_id: str | None = None, cursor: str | None = None, limit: int | None = None
                   ) -> CursorPage:
    """Contracts by id, filtered by state today, source and external id, ``limit`` (≤ 200) at a time."""
    m, size = _m(), _page_size(limit)
    where: list[sa.ColumnElement[bool]] = []
    today = _today()
    if state:
        state = ContractState(state)
        where.append({ContractState.FUTURE: m.Contract.valid_from > today,
                      ContractState.EXPIRED: m.Contract.valid_until < today,
                      ContractState.ACTIVE: sa.and_(m.Contract.valid_from <= today,
                                                    m.Contract.valid_until >= today)}[state])
    if source is not None:
        where.append(m.Contract.source == source)
    if external_id is not None:
        where.append(m.Contract.external_id == external_id)
    after = decode_cursor(cursor, 1)
    if after is not None:
        if not isinstance(after[0], int) or isinstance(after[0], bool):
            raise errors.ValidationError(_("This cursor is not valid: use the next_cursor of a previous page."),
                                         field="cursor")
        where.append(m.Contract.id > after[0])
    rows = list(_session().execute(
        sa.select(m.Contract).where(*where).options(sa.orm.selectinload(m.Contract.activities))
        .order_by(m.Contract.id).limit(size + 1)).scalars())
    more = len(rows) > size
    rows = rows[:size]
    return CursorPage(rows, encode_cursor([rows[-1].id]) if more else None)


def invitations_page(contract: Contract, *, status: InvitationStatus | str | None = None, cursor: str | None = None,
                     limit: int | None = None) -> CursorPage:
    """The contract's invitations newest first (the order of its page indexes), ``limit`` (≤ 200) at a time."""
    m, size = _m(), _page_size(limit)
    where = [m.Invitation.contract_id == contract.id]
    if status:
        where.append(m.Invitation.status == InvitationStatus(status))
    after = decode_cursor(cursor, 2)
    if after is not None:
        try:
            at, iid = dt.datetime.fromisoformat(after[0]), int(after[1])
        except (TypeError, ValueError):
            raise errors.ValidationError(_("This cursor is not valid: use the next_cursor of a previous page."),
                                         field="cursor") from None
        where.append(sa.or_(m.Invitation.invited_at < at,
                            sa.and_(m.Invitation.invited_at == at, m.Invitation.id < iid)))
    rows = list(_session().execute(
        sa.select(m.Invitation).where(*where)
        .order_by(m.Invitation.invited_at.desc(), m.Invitation.id.desc()).limit(size + 1)).scalars())
    more = len(rows) > size
    rows = rows[:size]
    return CursorPage(rows, encode_cursor([rows[-1].invited_at.isoformat(), rows[-1].id]) if more else None)


@transactional
def invite_by_ids(contract: Contract, *, user_ids: Iterable[object] = (), emails: Iterable[str] = (),
                  activities: Iterable[ActivityRef] | None = None, actor: HostUser | None = None) -> InviteReport:
    """:func:`invite` for host user ids given as text or keys: ids no user has are reported invalid, one row each."""
    st = _state()
    column = st.user_pk_column
    wanted = list(dict.fromkeys(str(raw) for raw in user_ids))
    keys = {raw: parse_key(column, raw) for raw in wanted}
    found = {st.user_id(user): user for user in _session().execute(
        sa.select(st.user_model).where(column.in_([k for k in keys.values() if k is not None]))).scalars()
    } if any(k is not None for k in keys.values()) else {}
    users = [found[key] for key in keys.values() if key is not None and key in found]
    report = invite(contract, users=users, emails=list(emails), activities=activities, actor=actor)
    for raw, key in keys.items():
        if key is None or key not in found:
            report.add(InviteResult(raw, "invalid", _("No user has the id %(id)s.", id=raw), source="user",
                                    user_id=raw))
    return report
