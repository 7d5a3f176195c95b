"""One invitation's life: linking a sign-up, activities added, resend and revoke (rules 9, 10, 12)."""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy import orm as sa_orm

from .. import errors, signals
from ..config import config_value
from ..enums import ContractType, DeliveryStatus, InvitationStatus, ResendOutcome, WebhookEvent
from ..i18n import _
from ..models import Contract, Invitation
from ..rules import ActivityRef, HostActivity, HostUser
from . import webhooks
from ._core import (_activity_title, _after_commit, _app, _Conflict, _invitation_record, LIVE, _lock_contract, _m, _normalize_email, _now,
                    _record, _record_separately, _rowcount, _rules, _session, _state, _statement, transactional)
from .access import _ensure_active
from .activities import _activity_ids, _contract_activity_ids, _load_activities
from .notifications import request_resend
from .recipients import no_address_reason, recipient_of


@transactional
def add_invitation_activities(invitation: Invitation, activities: Iterable[ActivityRef], *,
                              actor: HostUser | None = None
                              ) -> list[HostActivity]:
    """Add contract activities to one learner's Voucher invitation; return the ones added."""
    _lock_contract(invitation.contract)
    contract, m = invitation.contract, _m()
    if contract.contract_type is ContractType.SUBSCRIPTION:
        raise errors.ValidationError(_("Subscription invitations already cover every activity of the contract."),
                                     field="activities")
    if invitation.status is InvitationStatus.REVOKED:
        raise errors.ValidationError(_("This invitation was revoked; invite the learner again instead."))
    wanted = _activity_ids(activities)
    present = _contract_activity_ids(contract)
    if any(a not in present for a in wanted):
        raise errors.ValidationError(_("Invitations can only cover the contract's own activities."),
                                     field="activities")
    have = set(_session().execute(sa.select(m.InvitationActivity.activity_id)
                                  .where(m.InvitationActivity.invitation_id == invitation.id)).scalars())
    new = [a for a in wanted if a not in have]
    if new:
        _session().execute(sa.insert(m.InvitationActivity),
                           [{"invitation_id": invitation.id, "activity_id": a} for a in new])
        _session().expire(invitation, ["fixed_activities"])
        added = _load_activities(new)
        _record(contract, "invitation_activities_added",
                _("Added %(titles)s to the invitation of %(email)s.",
                  titles=", ".join(_activity_title(a) for a in added), email=invitation.email),
                actor=actor, invitation=invitation)
        return added
    return []


def invitation_activity_options(invitation: Invitation) -> tuple[list[HostActivity], list[HostActivity]]:
    """``(covered, addable)``: the activities ``invitation`` covers, and the contract activities an admin may
    still add to it (rule 12: only a live Voucher invitation takes more; otherwise ``addable`` is empty)."""
    st = _state()
    covered = invitation.activities
    if invitation.contract.contract_type is not ContractType.VOUCHER or not invitation.is_live:
        return covered, []
    covered_ids = {st.activity_id(a) for a in covered}
    return covered, [a for a in invitation.contract.activities if st.activity_id(a) not in covered_ids]


def needs_activity_choice(contract: Contract) -> bool:
    """Whether inviting to ``contract`` has the Voucher step of choosing one, some or all activities."""
    return contract.contract_type is ContractType.VOUCHER and len(contract.activities) > 1


@dataclasses.dataclass(frozen=True)
class ResendResult:
    """What :func:`resend` did, for the message shown to the person who clicked."""

    invitation: Invitation
    outcome: ResendOutcome
    #: ALREADY_*: when the earlier resend was sent (or requested); ``None`` otherwise
    earlier_at: dt.datetime | None = None
    #: Where it went (or goes): the learner's address now, which may differ from ``invitation.email``
    recipient: str = ""

    @property
    def message(self) -> str:
        """What happened, in words for the person who clicked (the same in the admin and the dashboard)."""
        email = self.recipient or self.invitation.email
        at = f"{self.earlier_at:%H:%M} UTC" if self.earlier_at is not None else ""
        if self.outcome is ResendOutcome.QUEUED:
            return _("The invitation to %(email)s is queued and goes out with the next delivery run; it has not "
                     "been sent yet.", email=email)
        if self.outcome is ResendOutcome.ALREADY_QUEUED:
            return _("A resend to %(email)s is already queued (since %(time)s); it was not sent twice.",
                     email=email, time=at)
        if self.outcome is ResendOutcome.ALREADY_RESENT:
            return _("The invitation to %(email)s was already resent at %(time)s; it was not sent twice.",
                     email=email, time=at)
        return _("Resent the invitation to %(email)s.", email=email)

    @property
    def category(self) -> str:
        """The flash category: "success" when this click sent or queued it, "info" when it did nothing."""
        return "success" if self.outcome in (ResendOutcome.SENT, ResendOutcome.QUEUED) else "info"


def resend(invitation: Invitation, *, actor: HostUser | None = None) -> ResendResult:
    """Send an Outstanding invitation's notification again; say what happened (:class:`ResendOutcome`).

    Immediate mode: sent now (SENT); a failure raises ``LearningContractError`` and is recorded in the history,
    and the resend stays queued for an automatic retry. Queued mode: recorded for the worker (QUEUED). A second
    resend while the first waits for the worker (ALREADY_QUEUED), is being sent, or went out less than
    ``LEARNING_CONTRACTS_RESEND_INTERVAL`` seconds ago (ALREADY_RESENT) sends nothing: a double click sends one
    e-mail. The invitation's send count and the history's "resent" entry follow the actual sending.
    """
    _check_resend(invitation)
    email = recipient_of(invitation)
    if not email:
        raise errors.ResendNotAllowed(_("The invitation was not resent: %(reason)s", reason=no_address_reason()))
    contract_id, contract_code, invitation_id = invitation.contract_id, invitation.contract.code, invitation.id
    request = request_resend(invitation, email, actor=actor)
    if request.earlier is not None:
        status, at = request.earlier
        return ResendResult(invitation, ResendOutcome.ALREADY_QUEUED if status is DeliveryStatus.PENDING
                            else ResendOutcome.ALREADY_RESENT, at, email)
    if request.queued:
        return ResendResult(invitation, ResendOutcome.QUEUED, recipient=email)
    outcome = request.outcome
    if outcome is not None and outcome.status is DeliveryStatus.FAILED:
        _record_separately(contract_id, contract_code, "notification_failed",
                           _("Could not resend the invitation to %(email)s: %(error)s", email=email,
                             error=outcome.error), actor=actor, invitation_id=invitation_id)
        if outcome.claim.attempts < max(1, int(config_value("DELIVERY_ATTEMPTS"))):
            raise errors.LearningContractError(_("The invitation could not be sent: %(error)s. It will be retried "
                                                 "automatically.", error=outcome.error))
        # that was its last attempt (LEARNING_CONTRACTS_DELIVERY_ATTEMPTS): nothing retries it but a click
        raise errors.LearningContractError(_("The invitation could not be sent: %(error)s. It will not be retried "
                                             "automatically; click Resend to try again.", error=outcome.error))
    if outcome is not None and outcome.status is DeliveryStatus.SKIPPED:
        raise errors.LearningContractError(_("The invitation was not sent: %(reason)s", reason=outcome.error))
    return ResendResult(invitation, ResendOutcome.SENT, recipient=email)


def _check_resend(invitation: Invitation) -> None:
    if not invitation.can_be_resent:
        raise errors.ResendNotAllowed(
            _("Only outstanding invitations can be resent; this one is %(status)s.", status=invitation.status.label))
    _ensure_active(invitation.contract)


@transactional
def revoke(invitation: Invitation, *, actor: HostUser | None = None) -> Invitation:
    """Revoke an invitation whose learner has no enrollment through the contract. The record stays."""
    _lock_contract(invitation.contract)
    m, now = _m(), _now()
    # What the webhook event says, read before the row changes under the loaded object.
    event = {"invitation": {"id": invitation.id, "email": invitation.email,
                            "user_id": webhooks.jsonable(invitation.user_id), "status": InvitationStatus.REVOKED.value,
                            "revoked_at": webhooks.jsonable(now)},
             "contract": webhooks.contract_ref(invitation.contract)}
    # Invitation.can_be_revoked, decided atomically (a concurrent enrollment or revoke wins or loses cleanly).
    result = _session().execute(
        sa.update(m.Invitation)
        .where(m.Invitation.id == invitation.id, m.Invitation.status != LIVE, m.Invitation.enrolled_count == 0)
        .values(status=InvitationStatus.REVOKED, revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    _session().expire(invitation)
    if _rowcount(result) != 1:
        if invitation.status is InvitationStatus.REVOKED:
            raise errors.RevokeNotAllowed(_("This invitation is already revoked."))
        raise errors.RevokeNotAllowed()
    _record(invitation.contract, "revoked", _("Revoked the invitation of %(email)s.", email=invitation.email),
            actor=actor, invitation=invitation)
    webhooks.record_event(WebhookEvent.INVITATION_REVOKED, event["contract"]["id"], event)
    if signals.invitation_revoked.receivers:
        app, record = _app(), _invitation_record(invitation)
        _after_commit(lambda: signals.invitation_revoked.send(app, invitation=record, actor=actor))
    return invitation


def _live_invitation(contract_id: int, user: HostUser) -> Invitation | None:
    # The caller holds the contract: ``invitation.contract`` comes from the identity map when needed,
    # instead of a join plus a select-in load of the contract's admins on every enrollment.
    statement = _statement("live_invitation", lambda m: sa.select(m.Invitation).where(
        m.Invitation.contract_id == sa.bindparam("p_c"), m.Invitation.user_id == sa.bindparam("p_u"),
        m.Invitation.status != LIVE).options(sa_orm.lazyload(m.Invitation.contract)))
    return _session().execute(statement, {"p_c": contract_id, "p_u": _state().user_id(user)}).scalars().first()


@transactional
def link_registered_user(user: HostUser) -> list[Invitation]:
    """Attach Not Registered invitations sent to ``user``'s e-mail; they become Outstanding.

    Call it when a user signs up, confirms or changes e-mail; the learner pages also call it lazily.
    Returns the invitations that were linked. Links nothing while ``ContractRules.email_verified(user)`` is false.
    """
    st, m, session = _state(), _m(), _session()
    if not st.rules.email_verified(user):  # holding an address is not owning it: its invitations wait
        return []
    email = _normalize_email(st.rules.user_email(user) or "")
    if not email:
        return []
    pending = session.execute(
        sa.select(m.Invitation).where(m.Invitation.email == email,
                                      m.Invitation.status == InvitationStatus.NOT_REGISTERED)
    ).scalars().all()
    linked = []
    uid = st.user_id(user)
    for invitation in pending:
        # Several pages of a new learner link at the same moment: every write below is conditional on the row
        # still being what was read, so only one request links (or merges) a given invitation; the others
        # find nothing left to do instead of deleting the invitation another request has just linked.
        iid, contract = invitation.id, invitation.contract
        existing = session.execute(sa.select(m.Invitation).where(
            m.Invitation.contract_id == invitation.contract_id, m.Invitation.user_id == uid,
            m.Invitation.status != LIVE, m.Invitation.id != iid)).scalars().first()
        if existing is None:
            claimed = session.execute(
                sa.update(m.Invitation)
                .where(m.Invitation.id == iid, m.Invitation.status == InvitationStatus.NOT_REGISTERED)
                .values(user_id=uid, status=InvitationStatus.OUTSTANDING).execution_options(synchronize_session=False))
            session.expire(invitation, ["user_id", "status"])
            if _rowcount(claimed) == 1:
                _record(contract, "linked", _("%(email)s registered; the invitation is now Outstanding.", email=email),
                        invitation=invitation)
                linked.append(invitation)
            continue
        if _merge_invitation(iid, existing):
            _record(contract, "invitation_merged",
                    _("Merged the invitation sent to %(email)s into the learner's existing invitation.", email=email),
                    invitation=existing)
        session.expunge(invitation)
    return linked


def _merge_invitation(invitation_id: int, existing: Invitation) -> bool:
    """Fold the Not Registered invitation ``invitation_id`` into ``existing``, the learner's live invitation to
    the same contract (they joined it another way, e.g. by code, before the e-mail was linked): ``existing``
    gains the Voucher activities it lacked and the e-mail invitation is deleted. Returns ``False`` when a
    concurrent request already did it (or linked it otherwise); raises ``_Conflict`` (the transaction runs
    again) when ``existing`` stopped being live meanwhile."""
    m, session = _m(), _session()
    # Lock the e-mail invitation first, and only while it is still Not Registered: of two requests merging it,
    # the second waits here and then finds nothing to merge.
    if _rowcount(session.execute(
            sa.update(m.Invitation)
            .where(m.Invitation.id == invitation_id, m.Invitation.status == InvitationStatus.NOT_REGISTERED)
            .values(status=InvitationStatus.NOT_REGISTERED).execution_options(synchronize_session=False))) != 1:
        return False
    if _rowcount(session.execute(
            sa.update(m.Invitation).where(m.Invitation.id == existing.id, m.Invitation.status != LIVE)
            .values(status=m.Invitation.status).execution_options(synchronize_session=False))) != 1:
        raise _Conflict()  # revoked meanwhile: decide again (the e-mail invitation is then linked instead)
    if existing.contract.contract_type is ContractType.VOUCHER:
        ia = m.InvitationActivity
        have = set(session.execute(sa.select(ia.activity_id).where(ia.invitation_id == existing.id)).scalars())
        extra = [a for a in session.execute(sa.select(ia.activity_id).where(ia.invitation_id == invitation_id)
                                            .order_by(ia.activity_id)).scalars() if a not in have]
        if extra:
            session.execute(sa.insert(ia), [{"invitation_id": existing.id, "activity_id": a} for a in extra])
            session.expire(existing, ["fixed_activities"])
    session.execute(sa.delete(m.InvitationActivity).where(m.InvitationActivity.invitation_id == invitation_id))
    session.execute(sa.delete(m.Invitation).where(m.Invitation.id == invitation_id)
                    .execution_options(synchronize_session=False))
    return True
