"""The closed vocabularies of the domain: contract types, invitation statuses, contract states, and the kinds
and delivery statuses of notifications."""
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


class NotificationKind(str, enum.Enum):
    """What a notification is about (each kind has its e-mail templates under ``learning_contracts/email/``)."""

    INVITATION = "invitation"  #: a new invitation (with the code when it requires one)
    RESEND = "resend"  #: an admin sent an Outstanding invitation again
    REMINDER = "reminder"  #: the scheduler or "Remind all outstanding" reminds an invited learner
    SEAT_ALERT = "seat_alert"  #: to contract admins: seats used reached a threshold
    EXPIRING = "expiring"  #: to contract admins: the contract ends soon
    EXPIRED = "expired"  #: to contract admins: the contract ended with unused seats
    WEBHOOK = "webhook"  #: an event POSTed to one webhook endpoint (see ``services.webhooks``)

    @property
    def label(self) -> str:
        return str(_KIND_LABELS[self])

    @property
    def is_for_learner(self) -> bool:
        """Invitation, resend and reminder go to the learner of one invitation; the rest to contract admins."""
        return self in (NotificationKind.INVITATION, NotificationKind.RESEND, NotificationKind.REMINDER)


class DeliveryStatus(str, enum.Enum):
    """Where one notification's delivery stands."""

    PENDING = "pending"  #: waiting for its first attempt or for its next retry
    SENDING = "sending"  #: claimed by a sender (comes back as due if the sender dies: see the lease)
    SENT = "sent"
    FAILED = "failed"  #: every attempt failed; an admin may retry it
    SKIPPED = "skipped"  #: not sent on purpose (nowhere to send it, or no longer true when its turn came)

    @property
    def label(self) -> str:
        return str(_DELIVERY_LABELS[self])


class ResendOutcome(str, enum.Enum):
    """What ``services.resend`` did (a second click within ``LEARNING_CONTRACTS_RESEND_INTERVAL`` does nothing)."""

    SENT = "sent"  #: sent now (immediate delivery; the host's hook accepted it)
    QUEUED = "queued"  #: recorded; a worker sends it (queued delivery)
    ALREADY_RESENT = "already_resent"  #: an earlier resend went out (or is going out) moments ago: nothing new
    ALREADY_QUEUED = "already_queued"  #: an earlier resend still waits for the worker: nothing new


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
_KIND_LABELS = {
    NotificationKind.INVITATION: _l("Invitation"),
    NotificationKind.RESEND: _l("Resend"),  # "Resend: Waiting to be sent" (never "sent again" before it is)
    NotificationKind.REMINDER: _l("Reminder"),
    NotificationKind.SEAT_ALERT: _l("Seats alert"),
    NotificationKind.EXPIRING: _l("Contract ending soon"),
    NotificationKind.EXPIRED: _l("Contract ended with unused seats"),
    NotificationKind.WEBHOOK: _l("Webhook"),
}
_DELIVERY_LABELS = {
    DeliveryStatus.PENDING: _l("Waiting to be sent"),
    DeliveryStatus.SENDING: _l("Being sent"),
    DeliveryStatus.SENT: _l("Sent"),
    DeliveryStatus.FAILED: _l("Failed"),
    DeliveryStatus.SKIPPED: _l("Not sent"),
}


class WebhookEvent(str, enum.Enum):
    """The events a webhook endpoint can subscribe to (SPEC § Integration API)."""

    CONTRACT_CREATED = "contract.created"
    CONTRACT_UPDATED = "contract.updated"
    INVITATION_CREATED = "invitation.created"
    INVITATION_REVOKED = "invitation.revoked"
    CODE_REDEEMED = "code.redeemed"
    ENROLLMENT_CREATED = "enrollment.created"
    SEATS_THRESHOLD = "seats.threshold"

    @property
    def label(self) -> str:
        return str(_EVENT_LABELS[self])


_EVENT_LABELS = {
    WebhookEvent.CONTRACT_CREATED: _l("A contract was created"),
    WebhookEvent.CONTRACT_UPDATED: _l("A contract was edited"),
    WebhookEvent.INVITATION_CREATED: _l("A learner was invited"),
    WebhookEvent.INVITATION_REVOKED: _l("An invitation was revoked"),
    WebhookEvent.CODE_REDEEMED: _l("A learner redeemed the invitation code"),
    WebhookEvent.ENROLLMENT_CREATED: _l("A learner enrolled in an activity"),
    WebhookEvent.SEATS_THRESHOLD: _l("Seats used reached an alert threshold"),
}
