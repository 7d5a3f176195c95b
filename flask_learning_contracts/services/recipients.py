"""Where a notification goes: a valid address, and for an invitation linked to a learner the learner's address
now (an address may pass to someone else; see README, "an address changes hands")."""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from ..i18n import _
from ..models import Invitation
from ..records import InvitationRecord
from ..rules import HostUser
from ._core import _normalize_email, _one_of, _rules, _session, _state
from .outbox import Claim

#: Blanks, line breaks, control and invisible formatting characters (one C-speed scan per address: a bulk
#: invite checks 10,000 of them).
_UNDELIVERABLE = re.compile("[\\s\x00-\x1f\x7f-\x9f\xad\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")


def _deliverable(address: str) -> bool:
    """Whether ``address`` can be a recipient: one ``@`` and no blank, control or line-breaking character
    (an address from a host's user table may hold ``\nBcc: …``; the mailer would refuse it on every retry)."""
    return address.count("@") == 1 and 3 <= len(address) <= 320 and _UNDELIVERABLE.search(address) is None


def recipient_of(invitation: Invitation) -> str:
    """Where what is sent about ``invitation`` goes: for an invitation linked to a learner, the learner's address
    now (``ContractRules.user_email``; ``""`` when they have none, or their account is gone), never the address
    stored on the invitation, which may have passed to someone else since; for one linked to nobody, that
    stored address (it is the invitee)."""
    if invitation.user_id is None:
        return invitation.email
    user = invitation.user
    return _normalize_email(_rules().user_email(user) or "") if user is not None else ""


def no_address_reason() -> str:
    """Why nothing is sent to a learner who has no e-mail address now."""
    return _("The learner has no e-mail address now; add one to their account, then send it again.")


def _may_have_moved(claim: Claim) -> bool:
    """Whether the learner's address may have changed since ``claim`` was written (not when this process has
    just written it: see ``Claim.fresh``)."""
    return claim.kind.is_for_learner and not claim.fresh


def _current_addresses(claims: Sequence[Claim], invitations: Mapping[int, Invitation | InvitationRecord]
                       ) -> dict[int, str]:
    """The learner's address now (:func:`recipient_of`) of each linked invitation a claim of ``claims`` is about
    and may have moved: records' learners read with one query, ORM invitations' from their loaded ``user``."""
    wanted = {c.invitation_id for c in claims if c.invitation_id is not None and _may_have_moved(c)}
    linked = [i for iid, i in invitations.items() if iid in wanted and i.user_id is not None]
    user_ids = list({i.user_id for i in linked if isinstance(i, InvitationRecord)})
    users: dict[Any, HostUser] = {}
    if user_ids:
        st = _state()
        users = {st.user_id(u): u for u in _session().execute(
            sa.select(st.user_model).where(_one_of(st.user_pk_column, user_ids))).scalars()}
    addresses = {}
    for invitation in linked:
        user = users.get(invitation.user_id) if isinstance(invitation, InvitationRecord) else invitation.user
        addresses[invitation.id] = _normalize_email(_rules().user_email(user) or "") if user is not None else ""
    return addresses


def _readdress(claim: Claim, invitation: Invitation | InvitationRecord | None, addresses: Mapping[int, str]
               ) -> tuple[Claim, str | None]:
    """``claim`` addressed to the learner's current address (``addresses``, from :func:`_current_addresses`)
    when it is about a linked invitation, and why it cannot be sent when the learner has no address now (else
    ``None``)."""
    if invitation is None or invitation.user_id is None or not _may_have_moved(claim):
        return claim, None
    address = addresses.get(invitation.id, "")
    if not address:
        return claim, no_address_reason()
    if address != claim.recipient:
        claim = claim._replace(recipient=address, readdressed=True)
    return claim, None
