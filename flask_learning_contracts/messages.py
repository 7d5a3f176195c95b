"""The record a notification hook receives: one rendered message to one person, immutable.

Built by the delivery pass from the stored notification row (``lc_notification``) and the shipped (or the
host's) e-mail templates, then handed to ``ContractRules.send_notifications`` / ``send_notification``.
"""
from __future__ import annotations

import dataclasses

from .enums import NotificationKind


@dataclasses.dataclass(frozen=True)
class Message:
    """One notification, rendered: who it goes to, its subject, text and HTML bodies, and what it is about."""

    kind: NotificationKind
    #: The recipient's e-mail address.
    to: str
    subject: str
    #: The plain-text body (``learning_contracts/email/<kind>.txt``).
    text: str
    #: The HTML body (``learning_contracts/email/<kind>.html``).
    html: str
    contract_id: int | None
    #: The invitation a learner notification is about (``None`` for the contract-admin alerts).
    invitation_id: int | None
    #: The stored notification's id: stable across retries, so a mailer can drop a duplicate it already sent.
    notification_id: int | None = None
