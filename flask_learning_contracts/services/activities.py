"""A contract's activities: add, import from another contract, remove with its impact (rule 11)."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import sqlalchemy as sa

from .. import errors
from ..enums import ContractType
from ..i18n import _, _n
from ..models import Contract
from ..rules import ActivityRef, HostActivity, HostKey, HostUser
from ._core import _activity_title, LIVE, _lock_contract, _m, _now, _record, _session, _state, transactional
from .access import parse_key


def _activity_key(activity: ActivityRef) -> HostKey | None:
    """The host key of ``activity``, given as an object or as a key; a key written as text (from a form, a URL,
    a CSV) is read as the key column's type, so ``"6f1c…"`` finds the activity whose key is that UUID. ``None``
    when the text cannot be a key of that column (no activity has it)."""
    st = _state()
    if isinstance(activity, st.activity_model):
        key: HostKey = st.activity_id(activity)
        return key
    if isinstance(activity, str):
        return parse_key(st.activity_pk_column, activity)
    return activity


def _activity_ids(activities: Iterable[ActivityRef]) -> list[HostKey | None]:
    """The keys of ``activities`` in order, each once (``None`` for text that no activity's key can be)."""
    return list(dict.fromkeys(_activity_key(activity) for activity in activities))


def _contract_activity_ids(contract: Contract) -> set[HostKey]:
    ca = _m().ContractActivity
    return set(_session().execute(sa.select(ca.activity_id).where(ca.contract_id == contract.id)).scalars())


def _load_activities(ids: Iterable[HostKey]) -> list[HostActivity]:
    st = _state()
    ids = list(ids)
    if not ids:
        return []
    rows = _session().execute(sa.select(st.activity_model).where(st.activity_pk_column.in_(ids))).scalars()
    by_id = {st.activity_id(a): a for a in rows}
    return [by_id[i] for i in ids if i in by_id]


@transactional
def add_activities(contract: Contract, activities: Iterable[ActivityRef], *, actor: HostUser | None = None
                   ) -> list[HostActivity]:
    """Attach eligible host activities to ``contract``; return the ones newly added (duplicates skipped).

    Subscription invitations include them at once; Voucher invitations are not changed.
    """
    _lock_contract(contract)
    st, m = _state(), _m()
    wanted = _activity_ids(activities)
    if not wanted:
        return []
    eligible_stmt = st.rules.eligible_activities().where(
        st.activity_pk_column.in_([key for key in wanted if key is not None]))
    eligible = {st.activity_id(a): a for a in _session().execute(eligible_stmt).scalars()}
    refused = [i for i in wanted if i not in eligible]
    if refused:
        raise errors.ValidationError(
            _n("%(num)s of the chosen activities cannot be added to a learning contract (not an eligible "
               "activity).", "%(num)s of the chosen activities cannot be added to a learning contract (not eligible "
               "activities).", len(refused)), field="activities",
        )
    present = _contract_activity_ids(contract)
    new = [eligible[i] for i in wanted if i not in present]
    if not new:
        return []
    now = _now()
    _session().execute(sa.insert(m.ContractActivity), [
        {"contract_id": contract.id, "activity_id": st.activity_id(a), "added_at": now} for a in new
    ])
    _session().expire(contract, ["activities"])
    _record(contract, "activity_added",
            _("Added activities: %(titles)s.", titles=", ".join(_activity_title(a) for a in new)), actor=actor)
    return new


def preview_import(contract: Contract, source_contract: Contract) -> list[HostActivity]:
    """The activities of ``source_contract`` that importing would add to ``contract``."""
    present = _contract_activity_ids(contract)
    st = _state()
    return [a for a in source_contract.activities if st.activity_id(a) not in present]


@transactional
def import_activities(contract: Contract, source_contract: Contract, *, actor: HostUser | None = None
                   ) -> list[HostActivity]:
    """Add every activity of ``source_contract`` that ``contract`` lacks (a union); return the ones added."""
    if source_contract.id == contract.id:
        raise errors.ValidationError(_("Choose a different contract to import from."), field="source_contract")
    added = add_activities(contract, preview_import(contract, source_contract), actor=actor)
    if added:
        _record(contract, "activities_imported",
                _n("Imported %(num)s activity from contract %(code)s.", "Imported %(num)s activities from contract %(code)s.",
                   len(added), code=source_contract.code),
                actor=actor)
    return added


@dataclasses.dataclass(frozen=True)
class ActivityImpact:
    """Who removing an activity from a contract affects."""

    invited: int  #: live invitations that cover the activity
    enrolled: int  #: learners enrolled in it through the contract (their enrollments and seats stay)


def activity_impact(contract: Contract, activity: ActivityRef) -> ActivityImpact:
    """Count the invitations and enrollments that removing ``activity`` from ``contract`` would touch."""
    m = _m()
    aid = _activity_key(activity)
    if aid is None:
        return ActivityImpact(invited=0, enrolled=0)
    live_any = sa.and_(m.Invitation.contract_id == contract.id, m.Invitation.status != LIVE)
    if contract.contract_type is ContractType.SUBSCRIPTION:
        invited_stmt = sa.select(sa.func.count()).select_from(m.Invitation).where(live_any)
    else:
        invited_stmt = (
            sa.select(sa.func.count()).select_from(m.InvitationActivity)
            .join(m.Invitation, m.Invitation.id == m.InvitationActivity.invitation_id)
            .where(live_any, m.InvitationActivity.activity_id == aid)
        )
    enrolled = _session().execute(
        sa.select(sa.func.count()).select_from(m.Enrollment)
        .where(m.Enrollment.contract_id == contract.id, m.Enrollment.activity_id == aid)
    ).scalar_one()
    return ActivityImpact(invited=_session().execute(invited_stmt).scalar_one(), enrolled=enrolled)


@transactional
def remove_activity(contract: Contract, activity: ActivityRef, *, actor: HostUser | None = None) -> ActivityImpact:
    """Detach ``activity`` from ``contract`` and from its invitations; enrollments and used seats stay.

    Returns the impact (as :func:`activity_impact` would have previewed it).
    """
    _lock_contract(contract)
    m = _m()
    aid = _activity_key(activity)
    if aid not in _contract_activity_ids(contract):
        raise errors.ValidationError(_("This activity is not part of the contract."), field="activity")
    impact = activity_impact(contract, aid)
    loaded = _load_activities([aid])
    title = _activity_title(loaded[0]) if loaded else str(aid)
    invitation_ids = sa.select(m.Invitation.id).where(m.Invitation.contract_id == contract.id).scalar_subquery()
    _session().execute(sa.delete(m.InvitationActivity).where(
        m.InvitationActivity.invitation_id.in_(invitation_ids), m.InvitationActivity.activity_id == aid))
    _session().execute(sa.delete(m.ContractActivity).where(
        m.ContractActivity.contract_id == contract.id, m.ContractActivity.activity_id == aid))
    _session().expire(contract, ["activities"])
    _record(contract, "activity_removed",
            _n("Removed activity %(title)s (%(invited)s invitation covered it, %(enrolled)s learners enrolled; "
               "their enrollments were kept).", "Removed activity %(title)s (%(invited)s invitations covered it, "
               "%(enrolled)s learners enrolled; their enrollments were kept).", impact.invited, title=title,
               invited=impact.invited, enrolled=impact.enrolled),
            actor=actor)
    return impact
