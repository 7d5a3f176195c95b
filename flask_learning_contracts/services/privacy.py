"""Forgetting a person, so that the host can delete their account (an erasure request).

Our tables point at the host's user row (contract admins, invitations, enrollments, seats) and quote the
person (e-mail in invitations and history messages, name as actor and inviter). Where foreign keys are
enforced the host cannot delete the user while these rows exist; where they are not (SQLite by default) the
rows would be left pointing at nobody. :func:`forget_user` removes the person from every row and keeps
what the seat accounting needs:

* their seats and enrollments stay (seats used, counts and the one-seat rules do not change) but name a
  random per-person key, the ``pseudonym``, instead of the host user; their invitations with enrollments stay
  Enrolled the same way, with the e-mail replaced by ``forgotten-<pseudonym>@forgotten.invalid``;
* their invitations without enrollments are revoked (nobody can use them any more) and scrubbed alike;
* their contract admin roles end;
* history keeps every entry: the e-mail in messages becomes the placeholder, their name (as actor, as the
  inviter of others, in "named a contract admin" entries) becomes "forgotten user <pseudonym>", and each
  contract concerned gets one "forgotten" entry saying so.

The pseudonym is random (not derived from the person), so nothing in our tables leads back to them.
"""
from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Collection

import sqlalchemy as sa

from ..enums import InvitationStatus
from ..i18n import _
from ..rules import HostKey, HostUser
from ._core import _m, _normalize_email, _now, _record, _rowcount, _session, _state, transactional

#: History actions whose messages name a user by their display name (not their e-mail).
_NAMED_ACTIONS = ("admin_added", "admin_removed")


@dataclasses.dataclass(frozen=True)
class ForgetReport:
    """What :func:`forget_user` changed."""

    #: The person's key in our rows from now on (``None`` when there was nothing to forget).
    pseudonym: str | None
    #: Ids of the contracts whose rows changed (each got a "forgotten" history entry).
    contracts: list[int]
    invitations: int = 0
    #: Of those, the ones revoked because they had no enrollment.
    revoked: int = 0
    enrollments: int = 0
    seats: int = 0
    admin_roles: int = 0
    #: History entries rewritten (the new "forgotten" entries not counted).
    history_entries: int = 0

    @property
    def placeholder_email(self) -> str | None:
        """The address that replaced the person's in our rows."""
        return _placeholder_email(self.pseudonym) if self.pseudonym else None


def _placeholder_email(pseudonym: str) -> str:
    return f"forgotten-{pseudonym}@forgotten.invalid"


@transactional
def forget_user(user: HostUser, *, actor: HostUser | None = None) -> ForgetReport:
    """Remove ``user`` from every row of the extension, so that the host can delete them; see the module.

    Seat accounting, counts and history stay correct; ``flask contracts check`` stays clean. Call it before
    deleting the user (and after disabling the account, so that no enrollment is on its way meanwhile).
    Calling it again finds nothing more to do.
    """
    st = _state()
    email = _normalize_email(st.rules.user_email(user) or "")
    return _forget([st.user_id(user)], {email} - {""}, {st.rules.user_display_name(user)}, actor)


@transactional
def forget_deleted_user(email: str, *, actor: HostUser | None = None) -> ForgetReport:
    """:func:`forget_user` for a user the host already deleted (SQLite without foreign keys lets it): the
    invitations sent to ``email``, and the rows of the host keys they were linked to if no user has those
    keys any more (``flask contracts check`` reports such rows as ``missing_user``)."""
    m, session = _m(), _session()
    email = _normalize_email(email)
    linked = set(session.execute(sa.select(m.Invitation.user_id).distinct().where(
        m.Invitation.email == email, m.Invitation.user_id.is_not(None))).scalars())
    existing = set(session.execute(sa.select(m.user_pk).where(m.user_pk.in_(linked))).scalars()) if linked else set()
    gone = sorted(linked - existing, key=str)
    names = set(session.execute(sa.select(m.HistoryEntry.actor_name).distinct().where(
        m.HistoryEntry.actor_id.in_([str(key) for key in gone]))).scalars()) if gone else set()
    return _forget(gone, {email} if email else set(), {n for n in names if n}, actor)


def _forget(user_ids: list[HostKey], emails: set[str], names: set[str], actor: HostUser | None) -> ForgetReport:
    m, session = _m(), _session()
    inv, enr, seat, admin = (m.Invitation.__table__, m.Enrollment.__table__, m.Seat.__table__,
                             m.ContractAdmin.__table__)
    mine: list[sa.ColumnElement[bool]] = [inv.c.user_id.in_(user_ids)] if user_ids else []
    if emails:  # sent to their e-mail and not linked to someone else
        mine.append(sa.and_(inv.c.user_id.is_(None), inv.c.pseudonym.is_(None), inv.c.email.in_(emails)))
    invitations = session.execute(sa.select(inv.c.id, inv.c.contract_id, inv.c.email).where(sa.or_(*mine))
                                  .with_for_update()).all() if mine else []
    contracts = {row.contract_id for row in invitations}
    if user_ids:
        for table in (enr, seat, admin):
            contracts.update(session.execute(sa.select(table.c.contract_id).distinct()
                                             .where(table.c.user_id.in_(user_ids))).scalars())
    if not contracts and not _acted(user_ids):
        return ForgetReport(None, [])
    pseudonym = secrets.token_hex(8)
    placeholder, label = _placeholder_email(pseudonym), str(_("forgotten user %(key)s", key=pseudonym))
    emails = emails | {row.email for row in invitations}
    invitation_ids = [row.id for row in invitations]
    revoked = invitations_done = enrollments = seats = admins = 0
    if invitation_ids:
        # Nobody can use an invitation of a forgotten person: the ones without enrollments are revoked.
        revoked = _rowcount(session.execute(
            sa.update(inv).where(inv.c.id.in_(invitation_ids), inv.c.status != InvitationStatus.REVOKED,
                                 ~sa.exists().where(enr.c.invitation_id == inv.c.id))
            .values(status=InvitationStatus.REVOKED, revoked_at=_now())))
        invitations_done = _rowcount(session.execute(
            sa.update(inv).where(inv.c.id.in_(invitation_ids))
            .values(user_id=None, pseudonym=pseudonym, email=placeholder)))
    if user_ids:
        enrollments = _rowcount(session.execute(
            sa.update(enr).where(enr.c.user_id.in_(user_ids)).values(user_id=None, pseudonym=pseudonym)))
        seats = _rowcount(session.execute(
            sa.update(seat).where(seat.c.user_id.in_(user_ids)).values(user_id=None, pseudonym=pseudonym)))
        admins = _rowcount(session.execute(sa.delete(admin).where(admin.c.user_id.in_(user_ids))))
    history_entries = _scrub_history(user_ids, emails, names - emails, placeholder, label)
    _scrub_inviters(emails | names, label)
    for contract in session.execute(sa.select(m.Contract).where(m.Contract.id.in_(contracts))
                                    .order_by(m.Contract.id)).scalars():
        _record(contract, "forgotten",
                _("Forgot a person at their request: their e-mail, name and account link were removed. Their "
                  "seats, enrollments and invitations stay as %(label)s.", label=label), actor=actor)
    session.expire_all()
    return ForgetReport(pseudonym, sorted(contracts), invitations_done, revoked, enrollments, seats, admins,
                        history_entries)


def _acted(user_ids: list[HostKey]) -> bool:
    """Whether the history names one of ``user_ids`` as the actor of something."""
    h = _m().HistoryEntry
    return bool(user_ids) and _session().execute(
        sa.select(h.id).where(h.actor_id.in_([str(key) for key in user_ids])).limit(1)).first() is not None


def _scrub_history(user_ids: list[HostKey], emails: Collection[str], names: Collection[str], placeholder: str,
                   label: str) -> int:
    """Replace the person in history rows: as the actor, their e-mail in any message, their name in the
    messages that quote names. Returns how many rows changed."""
    h, session = _m().HistoryEntry.__table__, _session()
    changed: set[int] = set()
    if user_ids:
        acted = h.c.actor_id.in_([str(key) for key in user_ids])
        changed.update(session.execute(sa.select(h.c.id).where(acted)).scalars())
        session.execute(sa.update(h).where(acted).values(actor_id=None, actor_name=label))
    quoting = [sa.func.lower(h.c.message).contains(email.lower(), autoescape=True) for email in emails]
    quoting += [sa.and_(h.c.action.in_(_NAMED_ACTIONS), h.c.message.contains(name, autoescape=True))
                for name in names if name]
    if not quoting:
        return len(changed)
    email_pattern = re.compile("|".join(re.escape(e) for e in sorted(emails, key=len, reverse=True)), re.I) \
        if emails else None
    for row in session.execute(sa.select(h.c.id, h.c.action, h.c.message).where(sa.or_(*quoting))).all():
        message = email_pattern.sub(placeholder, row.message) if email_pattern else row.message
        if row.action in _NAMED_ACTIONS:
            for name in sorted(names, key=len, reverse=True):
                message = message.replace(name, label) if name else message
        if message != row.message:
            session.execute(sa.update(h).where(h.c.id == row.id).values(message=message))
            changed.add(row.id)
    return len(changed)


def _scrub_inviters(quoted: Collection[str], label: str) -> None:
    """Invitations the person sent name them as the inviter: name the label instead."""
    inv = _m().Invitation.__table__
    values = [q for q in quoted if q]
    if values:
        _session().execute(sa.update(inv).where(inv.c.invited_by.in_(values)).values(invited_by=label))
