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
* history keeps every entry: their e-mail in messages becomes the placeholder, their name (as actor, as the
  inviter of others, in "named a contract admin" entries) becomes "forgotten user <pseudonym>", and each
  contract concerned gets one "forgotten" entry saying so.

Only the person's own rows change, found by their host key, never by a name (namesakes exist): invitations
linked to their key, or sent to an address they own and linked to nobody; history rows they acted in
(``actor_id``), that name them (``subject_id``) or that are about one of their invitations; invitations they
sent (``invited_by_id``). An address is replaced only as a whole address (forgetting ``an@example.com`` leaves
``joan@example.com`` alone). An address the host has not verified (``ContractRules.email_verified``) is not
theirs: invitations sent to it and linked to nobody wait for its owner and stay. Rows written before the
inviter and subject keys were stored (revision ``lc0004``) keep the name they quote.

The pseudonym is random (not derived from the person), so nothing in our tables leads back to them.
"""
from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Callable, Collection

import sqlalchemy as sa

from ..enums import DeliveryStatus, InvitationStatus, NotificationKind
from ..i18n import _
from ..rules import HostKey, HostUser
from ._core import _m, _normalize_email, _now, _record, _rowcount, _session, _state, transactional

#: How "admin named/removed" entries name their subject (``HistoryEntry.subject_id``), re-written with the label.
_NAMED_ACTIONS: dict[str, Callable[[str], str]] = {
    "admin_added": lambda who: str(_("Named %(user)s a contract admin.", user=who)),
    "admin_removed": lambda who: str(_("Removed %(user)s from the contract admins.", user=who)),
}
#: Characters that can be part of an e-mail address (local part, ``@``, domain). An address quoted in a message
#: is a whole token: no such character right before it, none right after it except a full stop that ends the
#: sentence (a full stop followed by a letter, digit or hyphen continues a domain).
_ADDRESS_CHARS = r"\w.!#$%&'*+/=?^`{|}~@-"
_AFTER_ADDRESS = r"(?![\w!#$%&'*+/=?^`{|}~@-]|\.[\w-])"


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
    # Holding an address is not owning it: while the host has not verified it, what was sent to the address (and
    # not linked to this account) belongs to whoever owns it, and is not this person's to forget.
    owned = {email} - {""} if st.rules.email_verified(user) else set()
    return _forget([st.user_id(user)], owned, actor)


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
    return _forget(gone, {email} if email else set(), actor)


def _forget(user_ids: list[HostKey], emails: set[str], actor: HostUser | None) -> ForgetReport:
    """Forget the person with host keys ``user_ids`` who owns the addresses ``emails`` (empty when the address
    is not known to be theirs: only the rows linked to their keys are then theirs)."""
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
    if not contracts and not _named(user_ids):
        return ForgetReport(None, [])
    pseudonym = secrets.token_hex(8)
    placeholder, label = _placeholder_email(pseudonym), str(_("forgotten user %(key)s", key=pseudonym))
    quoted = emails | {row.email for row in invitations}
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
    history_entries = _scrub_history(user_ids, invitation_ids, quoted, quoted if emails else set(), placeholder,
                                     label)
    _scrub_inviters(user_ids, label)
    _scrub_notifications(invitation_ids, emails, placeholder)
    _drop_invite_runs(contracts)
    for contract in session.execute(sa.select(m.Contract).where(m.Contract.id.in_(contracts))
                                    .order_by(m.Contract.id)).scalars():
        _record(contract, "forgotten",
                _("Forgot a person at their request: their e-mail, name and account link were removed. Their "
                  "seats, enrollments and invitations stay as %(label)s.", label=label), actor=actor)
    session.expire_all()
    return ForgetReport(pseudonym, sorted(contracts), invitations_done, revoked, enrollments, seats, admins,
                        history_entries)


def _scrub_notifications(invitation_ids: list[int], emails: set[str], placeholder: str) -> None:
    """The person's notifications (about their invitations, or addressed to their own address): what was not
    sent yet never will be, and none keeps their address or what was rendered for them."""
    note = _m().Notification.__table__
    clauses = [note.c.invitation_id.in_(invitation_ids)] if invitation_ids else []
    if emails:
        clauses.append(note.c.recipient.in_(emails))
    if not clauses:
        return
    waiting = [DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.FAILED]
    session = _session()
    session.execute(sa.update(note).where(sa.or_(*clauses), note.c.status.in_(waiting))
                    .values(status=DeliveryStatus.SKIPPED, last_error=_("The person was forgotten.")))
    session.execute(sa.update(note).where(sa.or_(*clauses), note.c.kind != NotificationKind.WEBHOOK.value)
                    .values(recipient=placeholder, payload=None))
    _scrub_webhook_events(emails)


def _scrub_webhook_events(emails: set[str]) -> None:
    """Webhook events naming one of ``emails`` (their payload holds it as a JSON string): those not sent yet
    never will be (deleted); sent ones keep their delivery record without the payload. (What a receiver
    already got is the receiver's to forget.)"""
    if not emails:
        return
    note, session = _m().Notification.__table__, _session()
    text = sa.cast(note.c.payload, sa.Text)
    naming = sa.and_(note.c.kind == NotificationKind.WEBHOOK.value,
                     sa.or_(*[text.contains(f'"{email}"', autoescape=True) for email in sorted(emails)]))
    session.execute(sa.delete(note).where(naming, note.c.status != DeliveryStatus.SENT.value))
    session.execute(sa.update(note).where(naming).values(payload=sa.null()))


def _drop_invite_runs(contracts: set[int]) -> None:
    """Invite forms' stored submissions and reports that may hold the person's address or name: every run of the
    contracts they were invited to, and every draft (a submission waiting for its activity step names nobody's
    contract yet). Runs are short-lived page state (``INVITE_RUN_HOURS``), never the record: the invitations and
    the history are; an admin on a dropped report page is told the report is no longer available."""
    run = _m().InviteRun.__table__
    clauses: list[sa.ColumnElement[bool]] = [run.c.state == "draft"]
    if contracts:
        clauses.append(run.c.contract_id.in_(contracts))
    _session().execute(sa.delete(run).where(sa.or_(*clauses), run.c.state != "running"))


def _named(user_ids: list[HostKey]) -> bool:
    """Whether the history names one of ``user_ids`` as the actor or the subject of something."""
    h, keys = _m().HistoryEntry, [str(key) for key in user_ids]
    return bool(keys) and _session().execute(
        sa.select(h.id).where(sa.or_(h.actor_id.in_(keys), h.subject_id.in_(keys))).limit(1)).first() is not None


def _address_pattern(addresses: Collection[str]) -> re.Pattern[str] | None:
    """Finds any of ``addresses`` as a whole address (``an@x.org`` is not found in ``joan@x.org``)."""
    if not addresses:
        return None
    alternatives = "|".join(re.escape(a) for a in sorted(addresses, key=len, reverse=True))
    return re.compile(f"(?<![{_ADDRESS_CHARS}])(?:{alternatives}){_AFTER_ADDRESS}", re.I)


def _scrub_history(user_ids: list[HostKey], invitation_ids: list[int], quoted: Collection[str],
                   ownerless: Collection[str], placeholder: str, label: str) -> int:
    """Replace the person in history rows; returns how many rows changed.

    Only their own rows change: the ones they acted in (actor), the ones about them (subject: the message is
    written again with the label) and the ones about their invitations; in these, each of their addresses
    (``quoted``) is replaced where it stands as a whole address. Rows about nobody's invitation in particular
    (the sample of a bulk invite's failed notifications) get the ``ownerless`` addresses (the ones the person
    owns) replaced. A row about someone else's invitation is never rewritten, and nothing is found by a name:
    namesakes cannot be told apart by it."""
    h, session = _m().HistoryEntry.__table__, _session()
    keys = [str(key) for key in user_ids]
    changed: set[int] = set()
    own = sa.or_(h.c.actor_id.in_(keys) if keys else sa.false(),
                 h.c.invitation_id.in_(invitation_ids) if invitation_ids else sa.false())
    rewrites: dict[int, str] = {}
    own_pattern, ownerless_pattern = _address_pattern(quoted), _address_pattern(ownerless)
    if own_pattern is not None:
        quoting = sa.or_(*[sa.func.lower(h.c.message).contains(email.lower(), autoescape=True) for email in quoted])
        scope = sa.or_(own, h.c.invitation_id.is_(None)) if ownerless_pattern is not None else own
        for row in session.execute(sa.select(h.c.id, h.c.actor_id, h.c.invitation_id, h.c.message)
                                   .where(quoting, scope)).all():
            mine = row.actor_id in keys or row.invitation_id in invitation_ids
            pattern = own_pattern if mine else ownerless_pattern
            message = pattern.sub(placeholder, row.message) if pattern is not None else row.message
            if message != row.message:
                rewrites[row.id] = message
    if keys:
        for entry_id, action in session.execute(sa.select(h.c.id, h.c.action).where(h.c.subject_id.in_(keys))).all():
            about = _NAMED_ACTIONS.get(action)
            rewrites[entry_id] = about(label) if about else str(_("An entry about %(user)s.", user=label))
        changed.update(rewrites)
        session.execute(sa.update(h).where(h.c.subject_id.in_(keys)).values(subject_id=None))
        acted = h.c.actor_id.in_(keys)
        changed.update(session.execute(sa.select(h.c.id).where(acted)).scalars())
        session.execute(sa.update(h).where(acted).values(actor_id=None, actor_name=label))
    for entry_id, message in rewrites.items():
        session.execute(sa.update(h).where(h.c.id == entry_id).values(message=message))
    changed.update(rewrites)
    return len(changed)


def _scrub_inviters(user_ids: list[HostKey], label: str) -> None:
    """The invitations the person sent (``invited_by_id``) name the label as their inviter instead. Invitations
    written before the inviter's key was stored keep the name: it cannot tell the person from a namesake."""
    inv = _m().Invitation.__table__
    if user_ids:
        _session().execute(sa.update(inv).where(inv.c.invited_by_id.in_([str(key) for key in user_ids]))
                           .values(invited_by=label, invited_by_id=None))
