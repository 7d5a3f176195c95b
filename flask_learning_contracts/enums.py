"""The two closed vocabularies of the domain."""
from __future__ import annotations

import enum

from .i18n import _l


class ContractType(str, enum.Enum):
    """How a contract consumes seats (chosen at creation, never changed)."""

    VOUCHER = "voucher"
    SUBSCRIPTION = "subscription"

    @property
    def label(self) -> str:
        return str(_CONTRACT_TYPE_LABELS[self])

    @property
    def explanation(self) -> str:
        return str(_CONTRACT_TYPE_HELP[self])


class InvitationStatus(str, enum.Enum):
    """Where one learner's invitation to one contract stands."""

    OUTSTANDING = "outstanding"
    ACCEPTED = "accepted"
    ENROLLED = "enrolled"
    NOT_REGISTERED = "not_registered"
    REVOKED = "revoked"

    @property
    def label(self) -> str:
        return str(_STATUS_LABELS[self])


class ContractState(str, enum.Enum):
    """Where a contract stands in its valid period, relative to ``ContractRules.today()``."""

    FUTURE = "future"
    ACTIVE = "active"
    EXPIRED = "expired"

    @property
    def label(self) -> str:
        return str(_STATE_LABELS[self])


_CONTRACT_TYPE_LABELS = {ContractType.VOUCHER: _l("Voucher"), ContractType.SUBSCRIPTION: _l("Subscription")}
_CONTRACT_TYPE_HELP = {
    ContractType.VOUCHER: _l(
        "Every enrollment in an activity uses one seat: one learner in two activities uses two seats."
    ),
    ContractType.SUBSCRIPTION: _l(
        "Each learner uses one seat on their first enrollment and may then take every activity of the contract."
    ),
}
_STATUS_LABELS = {
    InvitationStatus.OUTSTANDING: _l("Outstanding"),
    InvitationStatus.ACCEPTED: _l("Accepted"),
    InvitationStatus.ENROLLED: _l("Enrolled"),
    InvitationStatus.NOT_REGISTERED: _l("Not Registered"),
    InvitationStatus.REVOKED: _l("Revoked"),
}
_STATE_LABELS = {
    ContractState.FUTURE: _l("Future"),
    ContractState.ACTIVE: _l("Active"),
    ContractState.EXPIRED: _l("Expired"),
}
