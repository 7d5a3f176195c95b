"""The integration API's request and answer bodies as pydantic models: they validate what comes in, shape what goes
out, and (through their JSON Schemas) are the OpenAPI document's components. One definition, three uses."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from ..enums import ContractState, ContractType, InvitationStatus

#: A host key or our own id written as text (host keys may be integers, ULIDs, UUIDs …).
Key = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Text = Annotated[str, StringConstraints(max_length=5000)]
Cursor = Annotated[str, StringConstraints(max_length=200)]
#: A moment in UTC, written with its offset (RFC 3339 ``date-time``): the database stores naive UTC.
Moment = Annotated[dt.datetime, AfterValidator(lambda v: v if v.tzinfo else v.replace(tzinfo=dt.UTC))]


def has_nul(value: Any) -> bool:
    """Whether ``value`` (a string, or lists and objects of them) holds a NUL character: no text column can keep
    one (PostgreSQL refuses it outright), so the API refuses it as invalid input instead of failing on it."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


class _In(BaseModel):
    """Request bodies refuse unknown members: a typo (``seat`` for ``seats``) must not pass silently; and text
    with a NUL character anywhere."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if has_nul(data):
            raise ValueError("text must not contain NUL (\\u0000) characters")
        return data


class ContractUpsert(_In):
    """The contract of one purchase. On creation ``title``, ``contract_type``, ``seats``, ``valid_from`` and
    ``valid_until`` are needed; on update every member is optional and only the ones sent change.
    ``contract_type`` never changes (409 when it differs)."""

    code: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        None, description="Contract code; default on creation: <source>-<external_id>.")
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    description: Text | None = None
    group: Annotated[str, StringConstraints(max_length=200)] | None = None
    contract_type: ContractType | None = None
    seats: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    per_user_limit: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    require_invitation_code: bool | None = None
    reminders_enabled: bool | None = None


class ActivitiesIn(_In):
    activities: list[Key] = Field(min_length=1, max_length=500, description="Host activity ids.")


class InvitationsIn(_In):
    """Who to invite: e-mail addresses and/or host user ids (at least one in all); for a Voucher contract the
    activities the invitations cover (default: all the contract's activities)."""

    emails: list[Annotated[str, StringConstraints(max_length=320)]] = Field(default_factory=list, max_length=1000)
    user_ids: list[Key] = Field(default_factory=list, max_length=1000)
    activities: list[Key] | None = Field(None, max_length=500)

    @model_validator(mode="after")
    def _someone(self) -> InvitationsIn:
        if not self.emails and not self.user_ids:
            raise ValueError("give at least one e-mail address or user id")
        if len(self.emails) + len(self.user_ids) > 1000:
            raise ValueError("invite at most 1000 people per request")
        return self


class ContractsQuery(_In):
    state: ContractState | None = None
    source: Annotated[str, StringConstraints(max_length=128)] | None = None
    external_id: Annotated[str, StringConstraints(max_length=128)] | None = None
    cursor: Cursor | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50


class InvitationsQuery(_In):
    status: InvitationStatus | None = None
    cursor: Cursor | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50


class SeatSummaryOut(BaseModel):
    seats: int
    used: int
    available: int = Field(description="0 once the contract has expired.")
    expired: int = Field(description="Seats that expired unused.")
    invitations: dict[str, int] = Field(description="Invitations per status.")


class ContractOut(BaseModel):
    id: int
    code: str
    title: str
    description: str
    group: str | None
    contract_type: ContractType
    state: ContractState
    seats: int
    seats_used: int
    per_user_limit: int
    valid_from: dt.date
    valid_until: dt.date
    require_invitation_code: bool
    reminders_enabled: bool
    source: str | None
    external_id: str | None
    activities: list[str] = Field(description="Host activity ids.")
    created_at: Moment
    updated_at: Moment


class ContractDetailOut(ContractOut):
    seat_summary: SeatSummaryOut


class ContractPageOut(BaseModel):
    items: list[ContractOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page.")


class ActivitiesOut(BaseModel):
    added: list[str] = Field(description="Activities this request added (ones already there are skipped).")
    activities: list[str] = Field(description="Every activity of the contract now.")


class InviteRowOut(BaseModel):
    input: str = Field(description="The e-mail address or user id as sent.")
    email: str | None = Field(description="The address invited (for a user id: the user's; null when unknown).")
    source: Literal["email", "user"]
    outcome: Literal["invited", "already_invited", "not_registered", "invalid"]
    message: str
    invitation_id: int | None


class InviteReportOut(BaseModel):
    rows: list[InviteRowOut]
    counts: dict[str, int]


class InvitationOut(BaseModel):
    id: int
    contract_id: int
    email: str
    user_id: str | None
    status: InvitationStatus
    invited_at: Moment
    last_sent_at: Moment | None
    send_count: int
    revoked_at: Moment | None
    enrolled_count: int
    code_redeemed_at: Moment | None


class InvitationPageOut(BaseModel):
    items: list[InvitationOut]
    next_cursor: str | None


class ResendOut(BaseModel):
    invitation: InvitationOut
    outcome: Literal["sent", "queued", "already_resent", "already_queued"]
    message: str


class FieldProblem(BaseModel):
    detail: str
    pointer: str = Field(description="JSON Pointer to the member at fault (\"\" for the whole body).")


class Problem(BaseModel):
    """RFC 9457 problem details, with ``code``: the domain error's name (``no_seats_available`` …)."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldProblem] | None = None


def query_fields(model: type[BaseModel]) -> dict[str, Any]:
    """The query model's members by name (for the document's parameters)."""
    return dict(model.model_fields)
