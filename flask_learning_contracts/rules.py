"""``ContractRules``: the host's policy decisions, one overridable method each.

Subclass it, override what your LMS decides differently, and pass an instance as ``rules=`` to
``LearningContracts``. Every default is safe: nobody manages contracts until the host says so, and
host enrollment refuses until the host wires it up.
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime as dt
from collections.abc import Hashable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeAlias, TypeVar

import sqlalchemy as sa
from flask import current_app

from . import codes
from .config import config_value
from .messages import Message
from .records import ContractRecord, InvitationRecord

if TYPE_CHECKING:
    from flask import Request
    from flask_sqlalchemy import SQLAlchemy

    from .models import Contract, Models

#: A host primary key: an integer, a string such as a 26-character ULID, a UUID …
HostKey: TypeAlias = Hashable


class HostUser(Protocol):
    """What the extension needs of the host's user objects (Flask-Login's ``UserMixin`` has it)."""

    @property
    def is_authenticated(self) -> bool: ...


#: A host activity instance (any class: the extension reads it only through the hooks).
HostActivity: TypeAlias = object


#: A host activity or its primary key: services that take an activity accept either.
ActivityRef: TypeAlias = HostActivity | HostKey


#: The host's user and activity classes, for hosts that want typed hooks:
#: ``class MyRules(ContractRules[User, Course]): ...``.
UserT = TypeVar("UserT", bound=HostUser)
ActivityT = TypeVar("ActivityT")


@dataclasses.dataclass(frozen=True)
class ApiPrincipal:
    """Who calls the integration API: an API key, or whoever ``ContractRules.api_principal`` recognises.

    ``name`` identifies the caller (Idempotency-Keys are kept per name: at most 100 characters); ``scopes`` are
    the ones it holds (``contracts:read``, ``contracts:write``, ``invitations:write``); ``user``: the host user
    the history names as the actor (``None``: "System"); ``label``: how people see the caller."""

    name: str
    scopes: frozenset[str]
    user: Any = None
    label: str = ""


class RulesContext(Protocol):
    """What the default hooks read of the app they serve (the extension's per-app state provides it)."""

    db: SQLAlchemy
    models: Models
    user_model: type[Any]
    activity_model: type[Any]

    def user_id(self, user: Any) -> Any: ...

    def activity_id(self, activity: Any) -> Any: ...


class ContractRules(Generic[UserT, ActivityT]):
    """Overridable hooks. ``self.state`` (set by ``init_app``) gives access to ``db`` and the host's models."""

    state: RulesContext

    # -- time -------------------------------------------------------------------------------------
    def now(self) -> dt.datetime:
        """The current moment, timezone-aware UTC. Tests override this to move time."""
        return dt.datetime.now(dt.timezone.utc)

    def today(self) -> dt.date:
        """The date valid periods are compared with (both ends inclusive). Default: the date of ``now()``."""
        return self.now().date()

    def timezone(self, user: UserT | None) -> dt.tzinfo | str:
        """The timezone ``user`` (``None``: nobody signed in) reads times in: a ``tzinfo`` or an IANA zone name such
        as ``"Europe/Paris"``. Every page that shows a time shows it in this zone, labelled. Default: UTC."""
        return dt.UTC

    # -- contracts --------------------------------------------------------------------------------
    def groups(self) -> Sequence[tuple[str, str]]:
        """The host's groups a contract may belong to, as ``(value, label)`` pairs (the value is stored on the
        contract, the label shown). When it returns any, the contract form offers a picker, the contract list a
        filter, and the services refuse any other value. Default: none, the group is free text."""
        return ()

    # -- integration API ---------------------------------------------------------------------------
    def api_principal(self, request: Request) -> ApiPrincipal | None:
        """The caller of an integration API request by the host's own authentication (a session, a token of the
        host's), or ``None`` to check the request's ``Authorization: Bearer`` API key. Default: ``None``."""
        return None

    # -- people -----------------------------------------------------------------------------------
    def can_manage_contracts(self, user: UserT) -> bool:
        """Whether ``user`` may use the admin views (create, edit, delete, invite …). Default: nobody."""
        return False

    def is_contract_admin(self, user: UserT, contract: Contract) -> bool:
        """Whether ``user`` manages ``contract``'s invitations. Default: named as one of its contract admins."""
        if user is None or not getattr(user, "is_authenticated", True):
            return False
        user_id = self.state.user_id(user)
        return any(self.state.user_id(admin) == user_id for admin in contract.admins)

    def user_email(self, user: UserT) -> str | None:
        """The e-mail address of ``user``. Default: the attribute named by ``LEARNING_CONTRACTS_USER_EMAIL_ATTR``."""
        return getattr(user, config_value("USER_EMAIL_ATTR"), None)

    def email_verified(self, user: UserT) -> bool:
        """Whether ``user`` has proved they own the address :meth:`user_email` gives. Default: yes.

        Invitations sent to an address without an account (Not Registered) are linked to the user with that
        address only while this says yes: a host that lets people sign up with an address they have not confirmed
        returns ``False`` until they have, and calls ``services.link_registered_user(user)`` once they have.
        """
        return True

    def user_display_name(self, user: UserT) -> str:
        """How people see ``user`` in lists. Default: ``name``/``full_name`` if present, else the e-mail."""
        for attr in ("full_name", "name", "display_name", "username"):
            value = getattr(user, attr, None)
            if value:
                return str(value)
        return self.user_email(user) or str(self.state.user_id(user))

    def find_user_by_email(self, email: str) -> UserT | None:
        """The user with this e-mail (compared case-insensitively), or ``None``."""
        column = getattr(self.state.user_model, config_value("USER_EMAIL_ATTR"))
        stmt = sa.select(self.state.user_model).where(sa.func.lower(column) == email.lower())
        return self.state.db.session.execute(stmt).scalars().first()

    def find_users_by_email(self, emails: Iterable[str]) -> dict[str, UserT]:
        """Batch form of ``find_user_by_email``: a dict from lower-case e-mail to user (missing ones left out).

        Bulk invitations call this once per batch. When ``find_user_by_email`` is not overridden the
        default answers with one query; otherwise it calls ``find_user_by_email`` for each e-mail —
        override this too with one query of your own.
        """
        wanted = {e.lower() for e in emails}
        if not wanted:
            return {}
        if type(self).find_user_by_email is not ContractRules.find_user_by_email:
            found = {}
            for email in wanted:
                user = self.find_user_by_email(email)
                if user is not None:
                    found[email] = user
            return found
        attr = config_value("USER_EMAIL_ATTR")
        column = getattr(self.state.user_model, attr)
        stmt = sa.select(self.state.user_model).where(sa.func.lower(column).in_(sorted(wanted)))
        return {getattr(u, attr).lower(): u for u in self.state.db.session.execute(stmt).scalars()}

    def search_users(self, text: str, limit: int = 20) -> list[UserT]:
        """Users matching ``text`` (by e-mail; override for names), at most ``limit``: the free search behind the
        pickers of people who may see every user (see :meth:`search_users_for`, which decides who that is)."""
        column = getattr(self.state.user_model, config_value("USER_EMAIL_ATTR"))
        stmt = (
            sa.select(self.state.user_model)
            .where(sa.func.lower(column).contains(text.lower().strip(), autoescape=True))
            .order_by(column)
            .limit(limit)
        )
        return list(self.state.db.session.execute(stmt).scalars())

    def search_users_for(self, actor: UserT, text: str, *, contract: Contract | None = None, limit: int = 20
                         ) -> list[UserT]:
        """What a user picker shows ``actor`` for ``text`` (the admin panel's pickers, the dashboard's invite page;
        ``contract`` is the contract the picker serves).

        Contract admins are usually people of a customer organisation, not the host's staff, so by default only
        contract managers (``can_manage_contracts``) search freely, through :meth:`search_users`; anyone else
        finds only the user whose e-mail address is exactly ``text`` (through :meth:`find_user_by_email`) and
        verified (:meth:`email_verified`), never a list of the LMS's users. Override to let contract admins search their own organisation.
        """
        text = text.strip()
        if not text or actor is None or not getattr(actor, "is_authenticated", False):
            return []
        if self.can_manage_contracts(actor):
            return self.search_users(text, limit)
        if "@" not in text or any(ch.isspace() for ch in text):
            return []
        user = self.find_user_by_email(text)
        # An account whose address is not verified does not own it yet: offering it would invite that account,
        # while the same address typed is invited as Not Registered (see ``email_verified``).
        return [user] if user is not None and self.email_verified(user) else []

    # -- activities -------------------------------------------------------------------------------
    def eligible_activities(self) -> sa.Select[tuple[ActivityT]]:
        """A ``select()`` of the host activities that may be attached to contracts. Default: all of them."""
        return sa.select(self.state.activity_model)

    def activity_kind(self, activity: ActivityT) -> str:
        """``"online"``, ``"ilt"`` (instructor-led) or ``"certification"``. Default: the ``kind`` attribute."""
        return getattr(activity, config_value("ACTIVITY_KIND_ATTR"), None) or "online"

    def activity_title(self, activity: ActivityT) -> str:
        """The activity's display name. Default: the ``title`` attribute (or ``name``)."""
        return str(
            getattr(activity, config_value("ACTIVITY_TITLE_ATTR"), None)
            or getattr(activity, "name", None)
            or self.state.activity_id(activity)
        )

    def activity_url(self, activity: ActivityT) -> str | None:
        """Where the learner opens an activity once enrolled. Default: no link."""
        return None

    # -- host enrollment --------------------------------------------------------------------------
    def enroll_in_activity(self, user: UserT, activity: ActivityT, contract: ContractRecord) -> None:
        """Enroll ``user`` in ``activity`` in the host LMS (``user`` and ``activity`` are the host's own objects the
        caller passed; ``contract`` is the immutable record of the contract, with the seat just taken counted).

        Runs inside the same database transaction as the seat: add rows with ``db.session`` and do not
        commit. Raise any exception to refuse; then no seat is used and nothing is kept.
        """
        raise NotImplementedError(
            "ContractRules.enroll_in_activity is not implemented: subclass ContractRules and enroll the learner"
        )

    def is_enrolled_in_activity(self, user: UserT, activity: ActivityT) -> bool:
        """Whether the host already has ``user`` enrolled in ``activity`` (by any route). Default: no."""
        return False

    # -- notifications ----------------------------------------------------------------------------
    def send_notification(self, message: Message) -> None:
        """Send one rendered notification (invitation, resend, reminder, or an alert to a contract admin).

        Called after the notification was committed, outside any transaction. Raise to report a failure:
        the notification is retried with backoff, then shown to admins as failed. Default: send it with
        Flask-Mailman (``app.extensions["mailman"]``) when the host initialised it, else nothing.
        Hosts that override ``send_invitation`` / ``send_invitations`` keep receiving the learner
        notifications there (as before) unless they override this hook too.
        """
        mailman = current_app.extensions.get("mailman")
        if mailman is None:
            return
        from flask_mailman import EmailMultiAlternatives

        email = EmailMultiAlternatives(message.subject, message.text, config_value("MAIL_SENDER") or None,
                                       [message.to], connection=_mail_connection.get(),
                                       headers={"X-Learning-Contracts-Notification": str(message.notification_id)})
        email.attach_alternative(message.html, "text/html")
        email.send()

    def send_notifications(self, messages: Sequence[Message]) -> list[tuple[Message, Exception]]:
        """Batch form of ``send_notification``: returns the ``(message, error)`` pairs that failed.

        Default: one Flask-Mailman connection for the batch (one SMTP session), then ``send_notification``
        for each message."""
        failures: list[tuple[Message, Exception]] = []
        with _shared_mail_connection():
            for message in messages:
                try:
                    self.send_notification(message)
                except Exception as exc:  # noqa: BLE001 - each failure is recorded on its notification
                    failures.append((message, exc))
        return failures

    def can_send_notifications(self) -> bool:
        """Whether notifications have somewhere to go. Default: the host overrides ``send_notification(s)``
        or initialised Flask-Mailman. When not, notifications are recorded as not sent ("no mailer")."""
        overridden = _overrides(self, "send_notification") or _overrides(self, "send_notifications")
        return overridden or "mailman" in current_app.extensions

    def alert_recipients(self, contract: Contract) -> list[str]:
        """The e-mail addresses that receive a contract's alerts (seats used, ending soon, ended with unused
        seats). Default: its contract admins'."""
        emails = (self.user_email(admin) for admin in contract.admins)
        return sorted({email.strip().lower() for email in emails if email and email.strip()})

    def send_invitation(self, invitation: InvitationRecord, resend: bool = False) -> None:
        """Notify the learner of ``invitation`` yourself (include the contract's code,
        ``invitation.contract.invitation_code``, when ``invitation.require_code``); ``resend`` is true for a resend
        or a reminder. ``invitation`` is an immutable record (``id``, ``email``, ``status``, ``contract_id``,
        ``contract`` …), not an ORM object. Send it to ``invitation.email``: for an invitation linked to a learner
        it holds the learner's address now (:meth:`user_email`), even when the invitation was made for an address
        they no longer have.

        Only called when you override it (or ``send_invitations``) and not ``send_notification``: then the
        invitation, resend and reminder notifications come here instead of the shipped e-mails. Called after
        the invitation was committed; an exception is reported and retried like any failed notification, and
        the invitation stays. Default: nothing (the shipped e-mails go through ``send_notification``).
        """

    def send_invitations(self, invitations: Iterable[InvitationRecord]) -> list[tuple[InvitationRecord, Exception]]:
        """Batch form of ``send_invitation`` for new invitations (up to 500 at a time); returns the
        ``(invitation, error)`` pairs that failed."""
        failures = []
        for invitation in invitations:
            try:
                self.send_invitation(invitation)
            except Exception as exc:  # noqa: BLE001 - any host failure is reported, never swallowed silently
                failures.append((invitation, exc))
        return failures

    # -- codes ------------------------------------------------------------------------------------
    def generate_code(self) -> str:
        """A new contract invitation code (normalised form). Default: 12 Crockford base-32 characters, 60 bits."""
        return codes.generate_code()


def _overrides(rules: ContractRules[Any, Any], name: str) -> bool:
    """Whether ``rules`` replaces the default hook ``name`` (in its class, or on the instance itself)."""
    return getattr(getattr(rules, name), "__func__", None) is not getattr(ContractRules, name)


def overrides_invitation_hooks(rules: ContractRules[Any, Any]) -> bool:
    """Whether learner notifications go to the host's own ``send_invitation(s)`` (the hooks older hosts wrote)
    rather than to ``send_notification(s)``: it overrides one of the first and none of the second."""
    return ((_overrides(rules, "send_invitation") or _overrides(rules, "send_invitations"))
            and not (_overrides(rules, "send_notification") or _overrides(rules, "send_notifications")))


#: The Flask-Mailman connection a batch of messages shares (``None``: each message opens its own).
_mail_connection: contextvars.ContextVar[Any] = contextvars.ContextVar("learning_contracts_mail", default=None)


@contextlib.contextmanager
def _shared_mail_connection() -> Iterator[None]:
    """One Flask-Mailman connection (one SMTP session) for the messages sent inside, when Mailman is set up.

    Opened lazily by the first message; a failure to connect fails each message with that error."""
    mailman = current_app.extensions.get("mailman")
    if mailman is None or _mail_connection.get() is not None:
        yield
        return
    connection = mailman.get_connection()
    try:
        connection.open()
    except Exception:  # noqa: BLE001 - the server is down: each message then fails with its own error
        yield
        return
    token = _mail_connection.set(connection)
    try:
        yield
    finally:
        _mail_connection.reset(token)
        try:
            connection.close()
        except Exception:  # noqa: BLE001 - closing a broken session must not hide the messages' outcomes
            pass


def current_rules() -> ContractRules[Any, Any]:
    """The ``ContractRules`` of the current app."""
    rules: ContractRules[Any, Any] = current_app.extensions["learning_contracts"].rules
    return rules
