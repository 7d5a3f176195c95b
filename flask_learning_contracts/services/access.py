"""Looking contracts and invitations up, and who may act on them (rule 15)."""
from __future__ import annotations

from .. import errors
from ..enums import ContractState
from ..i18n import _
from ..models import Contract, Invitation
from ..rules import HostUser
from ._core import _as_int, _format_date, _m, _rules, _session, _state, _today


def get_contract(contract_id: object) -> Contract:
    """The contract with this id, or raise ``ValidationError`` (views show it as 404)."""
    contract = _session().get(_m().Contract, _as_int(contract_id))
    if contract is None:
        raise errors.ValidationError(_("This learning contract does not exist (it may have been deleted)."))
    return contract


def get_invitation(invitation_id: object, *, contract: Contract | None = None, user: HostUser | None = None
                   ) -> Invitation:
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
