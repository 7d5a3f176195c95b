"""The immutable records hooks and signals receive: what was just written, never an ORM object reloaded for them.

A record is built from the values the service wrote in its own transaction (and the contract it already had
loaded), so handing 10,000 new invitations to ``send_invitations`` costs no query. Field names are the model's
column names (``invitation.email``, ``invitation.status``, ``invitation.contract_id``, ``enrollment.seat_used`` …)
so hooks written against the models keep working; besides its fields a record offers only ``contract`` (the
:class:`ContractRecord` of the contract the row belongs to). Relationships that would need a query
(``invitation.user``, ``contract.admins``, ``enrollment.invitation``) are not offered: a hook that needs them loads
them by the ids the record carries.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Hashable
from typing import Any

from .enums import ContractType, InvitationStatus


@dataclasses.dataclass(frozen=True, slots=True)
class ContractRecord:
    """A contract as of the change announced (``seats_used`` counts the seat just taken, for ``seat_used``)."""

    id: int
    code: str
    title: str
    contract_type: ContractType
    seats: int
    seats_used: int
    per_user_limit: int
    valid_from: dt.date
    valid_until: dt.date
    require_invitation_code: bool
    #: The code learners type (normalised form); show it formatted with ``codes.format_code``.
    invitation_code: str
    group: str | None = None
    external_id: str | None = None

    @classmethod
    def of(cls, contract: Any, **changes: Any) -> ContractRecord:
        """The record of a loaded ``Contract`` (its attributes as they are now, overridden by ``changes``)."""
        values = {field.name: getattr(contract, field.name) for field in dataclasses.fields(cls)}
        values.update(changes)
        return cls(**values)


@dataclasses.dataclass(frozen=True, slots=True)
class InvitationRecord:
    """One invitation as written: a learner's (``user_id``) or an address's (``user_id`` ``None``: Not Registered)."""

    id: int
    contract_id: int
    email: str
    status: InvitationStatus
    #: Whether the learner must enter the contract's code before enrolling (rule 7).
    require_code: bool
    user_id: Hashable | None
    invited_at: dt.datetime | None
    invited_by: str | None
    contract: ContractRecord
    code_redeemed_at: dt.datetime | None = None
    #: A Voucher invitation's own activities (host keys); ``()`` for Subscription (it covers the contract's).
    activity_ids: tuple[Hashable, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class EnrollmentRecord:
    """One enrollment through a contract, as written."""

    id: int
    contract_id: int
    invitation_id: int
    user_id: Hashable
    activity_id: Hashable
    #: Whether this enrollment took a seat (``False`` for a Subscription learner's later activities).
    seat_used: bool
    created_at: dt.datetime
    contract: ContractRecord
