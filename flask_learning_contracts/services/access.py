"""Looking contracts and invitations up, and who may act on them (rule 15)."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from .. import errors
from ..enums import ContractState
from ..i18n import _
from ..models import Contract, Invitation
from ..rules import HostKey, HostUser
from ._core import _format_date, _m, _rules, _session, _state, _today, _whole_number

#: Bits of a signed integer column by SQLAlchemy type, on databases that size integers by type (PostgreSQL,
#: MySQL …). SQLite stores every integer in 64 bits. The most specific type comes first.
_INTEGER_BITS: tuple[tuple[type[sa.types.TypeEngine[Any]], int], ...] = (
    (sa.SmallInteger, 16), (sa.BigInteger, 64), (sa.Integer, 32))


def _integer_bits(column: Any) -> int:
    """How many bits (signed) the database stores in the integer ``column``."""
    dialect = _session().get_bind().dialect
    if dialect.name == "sqlite":
        return 64
    column_type = getattr(column, "type", None)
    if isinstance(column_type, sa.types.TypeDecorator):
        column_type = column_type.load_dialect_impl(dialect)
    return next((bits for kind, bits in _INTEGER_BITS if isinstance(column_type, kind)), 64)


def parse_key(column: Any, raw: object) -> HostKey | None:
    """The value of the key ``column`` that ``raw`` (text from a URL or a form) names, or ``None`` when no row
    can have it: not of the column's type, or a number outside what the column stores on this database.

    Such values are refused before they reach the database, where they would raise an error (SQLite's
    ``OverflowError`` past 2^63, PostgreSQL's "integer out of range" past 2^31 for ``integer`` columns)
    instead of finding nothing. ``column`` is a mapped attribute or a table column."""
    try:
        python_type = column.type.python_type
    except NotImplementedError:  # pragma: no cover - exotic key types are passed through
        return raw if isinstance(raw, str) else None
    if python_type is int:
        return _whole_number(raw, _integer_bits(column))
    if isinstance(raw, python_type):
        key: HostKey = raw
        return key
    try:
        key = python_type(raw)
    except (TypeError, ValueError, OverflowError):
        return None
    return key


def get_contract(contract_id: object) -> Contract:
    """The contract with this id, or raise ``ValidationError`` (views show it as 404). Any value is accepted:
    one that cannot be a contract's id (not a number, too large for the column) does not exist either."""
    m = _m()
    key = parse_key(m.Contract.id, contract_id)
    contract = _session().get(m.Contract, key) if key is not None else None
    if contract is None:
        raise errors.ValidationError(_("This learning contract does not exist (it may have been deleted)."))
    return contract


def get_invitation(invitation_id: object, *, contract: Contract | None = None, user: HostUser | None = None
                   ) -> Invitation:
    """The invitation with this id, optionally required to belong to ``contract`` or to ``user`` (any value is
    accepted, as for :func:`get_contract`)."""
    m = _m()
    key = parse_key(m.Invitation.id, invitation_id)
    invitation = _session().get(m.Invitation, key) if key is not None else None
    st = _state()
    if (
        invitation is None
        or (contract is not None and invitation.contract_id != contract.id)
        or (user is not None and invitation.user_id != st.user_id(user))
    ):
        raise errors.ValidationError(_("This invitation does not exist."))
    return invitation


def ensure_can_manage(user: HostUser) -> None:
    """Raise ``PermissionDenied`` unless the host's ``can_manage_contracts`` hook approves ``user``."""
    if user is None or not getattr(user, "is_authenticated", False) or not _rules().can_manage_contracts(user):
        raise errors.PermissionDenied()


def ensure_contract_admin(user: HostUser, contract: Contract) -> None:
    """Raise ``PermissionDenied`` unless ``user`` manages contracts or is one of ``contract``'s admins."""
    if user is None or not getattr(user, "is_authenticated", False):
        raise errors.PermissionDenied()
    rules = _rules()
    if not (rules.can_manage_contracts(user) or rules.is_contract_admin(user, contract)):
        raise errors.PermissionDenied()


def contract_state(contract: Contract) -> ContractState:
    """Future, Active or Expired today (``ContractRules.today()``)."""
    return contract.state_on(_today())


def _ensure_active(contract: Contract) -> None:
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
