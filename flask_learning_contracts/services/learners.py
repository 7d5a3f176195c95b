"""What a learner sees: their live invitations and, per activity, whether they can enroll now."""
from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from ..enums import ContractState, ContractType
from ..i18n import _, _n
from ..models import Contract, Invitation
from ..rules import ActivityRef, HostKey, HostUser
from ._core import _format_date, LIVE, _m, _rules, _session, _state, _today
from .invitations import link_registered_user


def invitations_for(user: HostUser) -> list[Invitation]:
    """The learner's live invitations (newest contracts last), after linking Not Registered ones."""
    m, st = _m(), _state()
    link_registered_user(user)
    return list(_session().execute(
        sa.select(m.Invitation).join(m.Invitation.contract)
        .where(m.Invitation.user_id == st.user_id(user), m.Invitation.status != LIVE)
        .order_by(m.Contract.valid_until, m.Contract.id)
    ).scalars())


@dataclasses.dataclass
class ActivityOffer:
    """One activity of a learner's invitation, and whether the learner can enroll in it now."""

    activity: ActivityRef
    activity_id: HostKey
    title: str
    kind: str
    enrolled: bool
    can_enroll: bool
    reason: str | None  #: why not, in words (None when enrolled or enrollable)
    url: str | None = None


@dataclasses.dataclass
class InvitationOffer:
    """What the learner's widget shows for one invitation."""

    invitation: Invitation
    contract: Contract
    state: ContractState
    needs_code: bool
    activities: list[ActivityOffer]
    enrolled_count: int
    remaining: int | None  #: activities the learner may still take (None = no per-user limit)
    seats_available: int


def invitation_offers(user: HostUser, invitations: Sequence[Invitation] | None = None) -> list[InvitationOffer]:
    """For each live invitation of ``user``: its activities with enrolled / enrollable / why not.

    Issues a fixed number of queries whatever the number of invitations and activities.
    """
    st, m, session, rules = _state(), _m(), _session(), _rules()
    invitations = list(invitations_for(user) if invitations is None else invitations)
    if not invitations:
        return []
    contract_ids = {inv.contract_id for inv in invitations}
    contract_acts: dict[int, list[Any]] = defaultdict(list)
    for cid, activity in session.execute(
        sa.select(m.ContractActivity.contract_id, st.activity_model)
        .join(st.activity_model, st.activity_pk_column == m.ContractActivity.activity_id)
        .where(m.ContractActivity.contract_id.in_(contract_ids)).order_by(st.activity_pk_column)
    ):
        contract_acts[cid].append(activity)
    fixed: dict[int, set[Any]] = defaultdict(set)
    for iid, aid in session.execute(
        sa.select(m.InvitationActivity.invitation_id, m.InvitationActivity.activity_id)
        .where(m.InvitationActivity.invitation_id.in_([i.id for i in invitations]))
    ):
        fixed[iid].add(aid)
    enrolled: dict[int, set[Any]] = defaultdict(set)
    for cid, aid in session.execute(
        sa.select(m.Enrollment.contract_id, m.Enrollment.activity_id)
        .where(m.Enrollment.user_id == st.user_id(user), m.Enrollment.contract_id.in_(contract_ids))
    ):
        enrolled[cid].add(aid)
    has_sub_seat = set(session.execute(
        sa.select(m.Seat.contract_id).where(m.Seat.user_id == st.user_id(user), m.Seat.activity_id.is_(None),
                                            m.Seat.contract_id.in_(contract_ids))).scalars())
    today = _today()
    offers = []
    for inv in invitations:
        contract = inv.contract
        state = contract.state_on(today)
        available = max(contract.seats - contract.seats_used, 0) if state is not ContractState.EXPIRED else 0
        acts = contract_acts[contract.id]
        if contract.contract_type is ContractType.VOUCHER:
            acts = [a for a in acts if st.activity_id(a) in fixed[inv.id]]
        taken = len(enrolled[contract.id])
        remaining = None if not contract.per_user_limit else max(contract.per_user_limit - taken, 0)
        needs_code = not inv.code_satisfied
        seat_free = contract.contract_type is ContractType.SUBSCRIPTION and contract.id in has_sub_seat
        items = []
        for activity in acts:
            aid = st.activity_id(activity)
            is_enrolled = aid in enrolled[contract.id]
            reason = None
            if not is_enrolled:
                if state is ContractState.EXPIRED:
                    reason = _("The contract expired on %(date)s.", date=_format_date(contract.valid_until))
                elif state is ContractState.FUTURE:
                    reason = _("Available from %(date)s.", date=_format_date(contract.valid_from))
                elif needs_code:
                    reason = _("Enter the invitation code first.")
                elif remaining == 0:
                    reason = _n("You have reached your limit of %(num)s activity.",
                                "You have reached your limit of %(num)s activities.", contract.per_user_limit)
                elif available <= 0 and not seat_free:
                    reason = _("No seats left.")
            items.append(ActivityOffer(
                activity=activity, activity_id=aid, title=rules.activity_title(activity),
                kind=rules.activity_kind(activity), enrolled=is_enrolled, can_enroll=not is_enrolled and reason is None,
                reason=reason, url=rules.activity_url(activity) if is_enrolled else None,
            ))
        offers.append(InvitationOffer(inv, contract, state, needs_code, items, taken, remaining, available))
    return offers
