"""The contract's invitation code: generated, regenerated, redeemed by a learner (rule 8)."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from .. import codes, errors, signals
from ..enums import ContractType, InvitationStatus, WebhookEvent
from ..i18n import _
from ..models import Contract, Invitation
from ..records import ContractRecord
from ..rules import HostUser
from . import webhooks
from ._core import (_after_commit, _app, _invitation_record, LIVE, _lock_contract, _m, _normalize_email, _now, _record,
                    _revoked_for,
                    _rowcount, _rules, _session, _state, transactional)
from .access import _ensure_active
from .activities import _activity_ids
from .invitations import _live_invitation, link_registered_user


def _new_invitation_code() -> str:
    contract = _m().Contract
    for _attempt in range(10):
        code = codes.normalize_code(_rules().generate_code())
        if not _session().execute(sa.select(contract.id).where(contract.invitation_code == code)).first():
            return code
    raise RuntimeError("ContractRules.generate_code keeps returning codes already in use")  # pragma: no cover


@transactional
def regenerate_code(contract: Contract, *, actor: HostUser | None = None) -> str:
    """Give ``contract`` a new invitation code; the old one stops working at once. Returns the new code."""
    _lock_contract(contract)
    code = _new_invitation_code()
    contract.invitation_code = code
    contract.updated_at = _now()
    _record(contract, "code_regenerated", _("Regenerated the invitation code; the previous code no longer works."),
            actor=actor)
    return code


def _mark_redeemed(invitation: Invitation, now: dt.datetime) -> bool:
    """Record that the learner entered the code: the redeem time when it is the first time, and Outstanding
    becomes Accepted. Returns whether this call was the first redeem (it then writes the history entry).

    Decided by the row as it is when written, not as it was read: of simultaneous redeems by one learner
    (several tabs, a double click) exactly one sets the time, and a later one never overwrites it."""
    m, session = _m(), _session()
    first = _rowcount(session.execute(
        sa.update(m.Invitation)
        .where(m.Invitation.id == invitation.id, m.Invitation.status != LIVE, m.Invitation.code_redeemed_at.is_(None))
        .values(code_redeemed_at=now).execution_options(synchronize_session=False))) == 1
    accepted = session.execute(
        sa.update(m.Invitation)
        .where(m.Invitation.id == invitation.id, m.Invitation.status == InvitationStatus.OUTSTANDING)
        .values(status=InvitationStatus.ACCEPTED).execution_options(synchronize_session=False))
    session.expire(invitation)
    if not first and not _rowcount(accepted) and invitation.status is InvitationStatus.REVOKED:
        raise errors.InvitationRevoked()  # revoked after it was read
    return first


@transactional
def redeem_code(user: HostUser, code: str) -> Invitation:
    """Redeem a contract's invitation code for ``user``; return the learner's invitation.

    An invited learner's invitation becomes Accepted; a learner never invited gets a new Accepted
    invitation covering the contract's activities; a revoked learner is refused (only a re-invite helps).
    Wrong codes raise ``InvalidCode`` (rate limiting is the caller's job, see the learner pages). A user whose
    address the host has not verified (``ContractRules.email_verified``) redeems no code (``EmailNotVerified``):
    the new invitation would carry an address they may not own, and take the place of its owner's.
    """
    m, st, session = _m(), _state(), _session()
    if not st.rules.email_verified(user):  # holding an address is not owning it
        raise errors.EmailNotVerified()
    normalized = codes.normalize_code(code or "")
    if not codes.is_well_formed(normalized):
        raise errors.InvalidCode()
    contract = session.execute(
        sa.select(m.Contract).where(m.Contract.invitation_code == normalized)
    ).scalars().first()
    if contract is None or not codes.codes_match(contract.invitation_code, normalized):
        raise errors.InvalidCode()
    _ensure_active(contract)
    link_registered_user(user)
    now = _now()
    invitation = _live_invitation(contract.id, user)
    if invitation is not None:
        first_time = _mark_redeemed(invitation, now)
    else:
        if session.execute(_revoked_for(contract.id, user)).first() is not None:
            raise errors.InvitationRevoked()
        first_time = True
        invitation = m.Invitation(
            contract_id=contract.id, user_id=st.user_id(user),
            email=_normalize_email(st.rules.user_email(user) or "") or f"user-{st.user_id(user)}",
            status=InvitationStatus.ACCEPTED, require_code=contract.require_invitation_code, enrolled_count=0,
            invited_at=now, invited_by=_("Invitation code"), code_redeemed_at=now, send_count=0,
        )
        session.add(invitation)
        session.flush()
        if contract.contract_type is ContractType.VOUCHER:
            ids = _activity_ids(contract.activities)
            if ids:
                session.execute(sa.insert(m.InvitationActivity),
                                [{"invitation_id": invitation.id, "activity_id": a} for a in ids])
    # The code must still be the contract's code when this commits (a concurrent regenerate wins).
    still_valid = session.execute(
        sa.update(m.Contract).where(m.Contract.id == contract.id, m.Contract.invitation_code == normalized)
        .values(updated_at=m.Contract.updated_at).execution_options(synchronize_session=False)
    )
    if _rowcount(still_valid) != 1:
        raise errors.InvalidCode()
    if first_time:
        _record(contract, "code_redeemed", _("%(email)s redeemed the invitation code.", email=invitation.email),
                actor=user, invitation=invitation)
        webhooks.record_event(WebhookEvent.CODE_REDEEMED, contract.id, {
            "invitation": {"id": invitation.id, "email": invitation.email, "user_id": webhooks.jsonable(st.user_id(user)),
                           "status": invitation.status.value, "code_redeemed_at": webhooks.jsonable(now)},
            "contract": webhooks.contract_ref(contract)})
        if signals.code_redeemed.receivers:
            app, record = _app(), _invitation_record(invitation, ContractRecord.of(contract))
            _after_commit(lambda: signals.code_redeemed.send(app, invitation=record, user=user))
    return invitation
