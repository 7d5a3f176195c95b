"""The operations of the integration API: each one reads its validated input, calls ``services`` and shapes the
answer. No rule of the domain lives here."""
from __future__ import annotations

from typing import Any

from .. import services
from ..i18n import _l
from ..models import Contract, Invitation
from ..rules import ApiPrincipal
from ..state import current_state
from .openapi import Operation
from .schemas import (
    ActivitiesIn,
    ActivitiesOut,
    ContractDetailOut,
    ContractOut,
    ContractPageOut,
    ContractsQuery,
    ContractUpsert,
    InvitationOut,
    InvitationPageOut,
    InvitationsIn,
    InvitationsQuery,
    InviteReportOut,
    InviteRowOut,
    ResendOut,
    SeatSummaryOut,
)

READ, WRITE, INVITE = services.API_SCOPES


def _activity_ids(activities: list[Any]) -> list[str]:
    st = current_state()
    return [str(st.activity_id(activity)) for activity in activities]


def contract_out(contract: Contract) -> ContractOut:
    return ContractOut(
        id=contract.id, code=contract.code, title=contract.title, description=contract.description,
        group=contract.group, contract_type=contract.contract_type, state=services.contract_state(contract),
        seats=contract.seats, seats_used=contract.seats_used, per_user_limit=contract.per_user_limit,
        valid_from=contract.valid_from, valid_until=contract.valid_until,
        require_invitation_code=contract.require_invitation_code, reminders_enabled=contract.reminders_enabled,
        source=contract.source, external_id=contract.external_id, activities=_activity_ids(contract.activities),
        created_at=contract.created_at, updated_at=contract.updated_at)


def contract_detail(contract: Contract) -> ContractDetailOut:
    summary = services.seat_summary(contract)
    return ContractDetailOut(
        **contract_out(contract).model_dump(),
        seat_summary=SeatSummaryOut(seats=summary.seats, used=summary.used, available=summary.available,
                                    expired=summary.expired,
                                    invitations={status.value: n for status, n in summary.by_status.items()}))


def invitation_out(invitation: Invitation) -> InvitationOut:
    return InvitationOut(
        id=invitation.id, contract_id=invitation.contract_id, email=invitation.email,
        user_id=None if invitation.user_id is None else str(invitation.user_id), status=invitation.status,
        invited_at=invitation.invited_at, last_sent_at=invitation.last_sent_at, send_count=invitation.send_count,
        revoked_at=invitation.revoked_at, enrolled_count=invitation.enrolled_count,
        code_redeemed_at=invitation.code_redeemed_at)


# -- handlers: (principal, body, query, **path parameters) -> (status, answer) ------------------------------------
def upsert_contract(principal: ApiPrincipal, body: ContractUpsert, query: None, *, source: str, external_id: str
                    ) -> tuple[int, ContractDetailOut]:
    fields = body.model_dump(exclude_none=True)
    done = services.upsert_contract_by_external(source, external_id, fields, actor=principal.user)
    return (201 if done.created else 200), contract_detail(services.require_contract(done.contract.id))


def list_contracts(principal: ApiPrincipal, body: None, query: ContractsQuery) -> tuple[int, ContractPageOut]:
    page = services.contracts_page(state=query.state, source=query.source, external_id=query.external_id,
                                   cursor=query.cursor, limit=query.limit)
    return 200, ContractPageOut(items=[contract_out(c) for c in page.items], next_cursor=page.next_cursor)


def get_contract(principal: ApiPrincipal, body: None, query: None, *, contract_id: str
                 ) -> tuple[int, ContractDetailOut]:
    return 200, contract_detail(services.require_contract(contract_id))


def add_activities(principal: ApiPrincipal, body: ActivitiesIn, query: None, *, contract_id: str
                   ) -> tuple[int, ActivitiesOut]:
    contract = services.require_contract(contract_id)
    added = services.add_activities(contract, body.activities, actor=principal.user)
    contract = services.require_contract(contract_id)
    return 200, ActivitiesOut(added=_activity_ids(added), activities=_activity_ids(contract.activities))


def invite(principal: ApiPrincipal, body: InvitationsIn, query: None, *, contract_id: str
           ) -> tuple[int, InviteReportOut]:
    contract = services.require_contract(contract_id)
    report = services.invite_by_ids(contract, user_ids=body.user_ids, emails=body.emails,
                                    activities=body.activities, actor=principal.user)
    rows = [_report_row(row) for row in report.rows]
    counts = {"invited": len(report.invited), "already_invited": len(report.already_invited),
              "not_registered": len(report.not_registered), "invalid": len(report.invalid)}
    return (201 if report.created else 200), InviteReportOut(rows=rows, counts=counts)


def _report_row(row: services.InviteResult) -> InviteRowOut:
    """One row of an invite's report: a user id row says the id sent and the address it stands for (``None`` when
    no user has the id, or the user has no address)."""
    if row.source == "user":
        user_id = row.user_id or row.email
        return InviteRowOut(input=user_id, email=None if row.email == user_id else row.email, source="user",
                            outcome=row.outcome, message=row.message,  # type: ignore[arg-type]
                            invitation_id=row.invitation_id)
    return InviteRowOut(input=row.email, email=row.email, source="email", outcome=row.outcome,  # type: ignore[arg-type]
                        message=row.message, invitation_id=row.invitation_id)


def list_invitations(principal: ApiPrincipal, body: None, query: InvitationsQuery, *, contract_id: str
                     ) -> tuple[int, InvitationPageOut]:
    contract = services.require_contract(contract_id)
    page = services.invitations_page(contract, status=query.status, cursor=query.cursor, limit=query.limit)
    return 200, InvitationPageOut(items=[invitation_out(i) for i in page.items], next_cursor=page.next_cursor)


def revoke(principal: ApiPrincipal, body: None, query: None, *, invitation_id: str) -> tuple[int, InvitationOut]:
    invitation = services.revoke(services.require_invitation(invitation_id), actor=principal.user)
    return 200, invitation_out(services.require_invitation(invitation.id))


def resend(principal: ApiPrincipal, body: None, query: None, *, invitation_id: str) -> tuple[int, ResendOut]:
    result = services.resend(services.require_invitation(invitation_id), actor=principal.user)
    return 200, ResendOut(invitation=invitation_out(services.require_invitation(invitation_id)),
                          outcome=result.outcome.value, message=result.message)


OPERATIONS = [
    Operation("PUT", "/contracts/by-external/{source}/{external_id}", "upsertContractByExternal",
              _l("Create or update the contract of a purchase"), WRITE, upsert_contract,
              {201: ContractDetailOut, 200: ContractDetailOut}, body=ContractUpsert, problems=(404, 409),
              created="getContract"),
    Operation("GET", "/contracts", "listContracts", _l("List contracts"), READ, list_contracts,
              {200: ContractPageOut}, query=ContractsQuery, problems=()),
    Operation("GET", "/contracts/{contract_id}", "getContract", _l("A contract with its seat summary"), READ,
              get_contract, {200: ContractDetailOut}),
    Operation("POST", "/contracts/{contract_id}/activities", "addActivities", _l("Add activities to a contract"),
              WRITE, add_activities, {200: ActivitiesOut}, body=ActivitiesIn),
    Operation("POST", "/contracts/{contract_id}/invitations", "invite", _l("Invite learners"), INVITE, invite,
              {201: InviteReportOut, 200: InviteReportOut}, body=InvitationsIn, problems=(404, 409)),
    Operation("GET", "/contracts/{contract_id}/invitations", "listInvitations", _l("List a contract's invitations"),
              READ, list_invitations, {200: InvitationPageOut}, query=InvitationsQuery),
    Operation("POST", "/invitations/{invitation_id}/revoke", "revokeInvitation", _l("Revoke an invitation"), INVITE,
              revoke, {200: InvitationOut}),
    Operation("POST", "/invitations/{invitation_id}/resend", "resendInvitation", _l("Resend an invitation"), INVITE,
              resend, {200: ResendOut}),
]
