"""What admins and contract admins see of e-mail delivery: the failed notifications of a contract and the
latest delivery state of each invitation."""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from ..enums import DeliveryStatus, InvitationStatus, NotificationKind
from ..models import FAILED_SQL, Contract, Notification
from ._core import _m, _one_of, _session

def failed_notifications(contract: Contract, *, limit: int = 100) -> list[Notification]:
    """The contract's notifications that could not be sent (status Failed), newest first (webhook deliveries
    are listed with their endpoints instead)."""
    m = _m()
    return list(_session().execute(
        sa.select(m.Notification).where(m.Notification.contract_id == contract.id, sa.text(FAILED_SQL),
                                        m.Notification.kind != NotificationKind.WEBHOOK)
        .order_by(m.Notification.id.desc()).limit(limit)).scalars())


def count_failed_notifications(contract: Contract) -> int:
    m = _m()
    return int(_session().execute(
        sa.select(sa.func.count()).select_from(m.Notification)
        .where(m.Notification.contract_id == contract.id, sa.text(FAILED_SQL),
               m.Notification.kind != NotificationKind.WEBHOOK)
    ).scalar_one())


def count_invitations_with_failed_email(contract: Contract) -> int:
    """How many live invitations of ``contract`` have an e-mail that could not be sent (Failed, not retried
    since): a later reminder that went out does not mean the invitation itself ever arrived."""
    m = _m()
    n, inv = m.Notification, m.Invitation
    return int(_session().execute(
        sa.select(sa.func.count(sa.distinct(n.invitation_id))).select_from(n)
        .join(inv, inv.id == n.invitation_id)
        .where(n.contract_id == contract.id, n.status == DeliveryStatus.FAILED, inv.status != InvitationStatus.REVOKED)
    ).scalar_one())


def _latest_per_invitation(invitation_ids: Sequence[int], *where: sa.ColumnElement[bool]
                           ) -> dict[int, Notification]:
    """The latest notification matching ``where`` of each of these invitations (one query)."""
    if not invitation_ids:
        return {}
    n = _m().Notification
    latest = (sa.select(sa.func.max(n.id)).where(_one_of(n.__table__.c.invitation_id, list(invitation_ids)), *where)
              .group_by(n.invitation_id).scalar_subquery())
    rows = _session().execute(sa.select(n).where(n.id.in_(latest))).scalars()
    return {row.invitation_id: row for row in rows if row.invitation_id is not None}


def failed_deliveries(invitation_ids: Sequence[int]) -> dict[int, Notification]:
    """The latest Failed notification of each of these invitations that has one (one query): shown with Retry
    even when a later notification of the same invitation (a reminder) went out."""
    return _latest_per_invitation(invitation_ids, _m().Notification.status == DeliveryStatus.FAILED)


def delivery_states(invitation_ids: Sequence[int]) -> dict[int, Notification]:
    """The latest notification of each of these invitations (one query), for the admin's Invitations tab."""
    return _latest_per_invitation(invitation_ids)
