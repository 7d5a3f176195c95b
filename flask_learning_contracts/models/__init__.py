"""The extension's tables as importable, typed classes.

``Contract``, ``Invitation``, ``Enrollment`` … below are typed mixins: services, views and hosts annotate with
them (``def f(contract: Contract)``) and ``isinstance`` works. The mapped classes that queries use are built
from them once per ``db.metadata`` by :func:`build_models`, because the foreign keys to the host's user and
activity tables copy whatever the host has: any table name, any single-column primary key (integers,
26-character ULIDs …). Several hosts (or test apps) with different metadata can live in one process.

All tables are prefixed ``lc_`` and tagged in ``Table.info`` so migration filters can select them (see
:func:`include_object`).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, ClassVar, TypeVar

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from ..enums import ContractState, ContractType, DeliveryStatus, InvitationStatus, NotificationKind
# The foundations and the integration tables live in modules of their own; their names stay importable from here.
from .base import EXTERNAL_SQL as EXTERNAL_SQL
from .base import INFO as INFO
from .base import LIVE_SQL as LIVE_SQL
from .base import NEVER_REUSED_IDS as NEVER_REUSED_IDS
from .base import UNLINKED_LIVE_SQL as UNLINKED_LIVE_SQL
from .base import EnumString as EnumString
from .base import EnumT as EnumT
from .base import HostTables as HostTables
from .base import _OWN_KEYS, _host_fk, _Row
from .base import utcnow as utcnow
from .integration import ApiKey as ApiKey, IdempotencyKey as IdempotencyKey, WebhookEndpoint as WebhookEndpoint


# ---------------------------------------------------------------------------------------------------------
# The typed classes (mixins). Table arguments and relationships are ``declared_attr`` so that each metadata
# gets objects of its own.
# ---------------------------------------------------------------------------------------------------------
class ContractAdmin(_Row):
    """A user named as one of a contract's admins."""

    __tablename__ = "lc_contract_admin"
    __table_args__: ClassVar[Any] = {"info": INFO}
    contract_id: Mapped[int] = mapped_column(sa.ForeignKey("lc_contract.id"), primary_key=True, sort_order=_OWN_KEYS)

    @declared_attr
    def user_id(cls) -> Mapped[Any]:
        return _host_fk(cls._lc_host.user_pk, primary_key=True)


class ContractActivity(_Row):
    """A host activity attached to a contract."""

    __tablename__ = "lc_contract_activity"
    contract_id: Mapped[int] = mapped_column(sa.ForeignKey("lc_contract.id"), primary_key=True, sort_order=_OWN_KEYS)
    added_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, nullable=False, default=utcnow)

    @declared_attr.directive
    def __table_args__(cls) -> Any:
        return (sa.Index("ix_lc_contract_activity_activity", "activity_id"), {"info": INFO})

    @declared_attr
    def activity_id(cls) -> Mapped[Any]:
        return _host_fk(cls._lc_host.activity_pk, primary_key=True)


class Contract(_Row):
    """A pool of seats with its activities, contract admins and invitations."""

    __tablename__ = "lc_contract"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    code_key: Mapped[str] = mapped_column(sa.String(64), nullable=False, unique=True)
    title: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    group: Mapped[str | None] = mapped_column("group_name", sa.String(200), nullable=True)
    external_id: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)
    source: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)
    contract_type: Mapped[ContractType] = mapped_column(EnumString(ContractType), nullable=False)
    seats: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    seats_used: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    per_user_limit: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    valid_from: Mapped[dt.date] = mapped_column(sa.Date, nullable=False)
    valid_until: Mapped[dt.date] = mapped_column(sa.Date, nullable=False)
    require_invitation_code: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    invitation_code: Mapped[str] = mapped_column(sa.String(32), nullable=False, unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, nullable=False, default=utcnow)
    #: Whether the scheduler reminds this contract's invited learners (``LEARNING_CONTRACTS_REMINDER_DAYS``).
    reminders_enabled: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True,
                                                    server_default=sa.true())

    @declared_attr.directive
    def __table_args__(cls) -> Any:
        return (
            sa.CheckConstraint("seats >= 0", name="ck_lc_contract_seats"),
            sa.CheckConstraint("seats_used >= 0 AND seats_used <= seats", name="ck_lc_contract_seats_used"),
            sa.CheckConstraint("per_user_limit >= 0", name="ck_lc_contract_per_user_limit"),
            sa.CheckConstraint("valid_until >= valid_from", name="ck_lc_contract_valid_period"),
            sa.Index("ix_lc_contract_valid_until", "valid_until"),
            # One contract per purchase: the integration API's upsert by (source, external id) relies on it (lc0014).
            sa.Index("uq_lc_contract_external", "source", "external_id", unique=True,
                     sqlite_where=sa.text(EXTERNAL_SQL), postgresql_where=sa.text(EXTERNAL_SQL)),
            NEVER_REUSED_IDS,
        )

    @declared_attr
    def admins(cls) -> Mapped[list[Any]]:
        """The host users named as contract admins."""
        return orm.relationship(cls._lc_host.user_model, secondary="lc_contract_admin", lazy="selectin",
                                viewonly=True)

    @declared_attr
    def activities(cls) -> Mapped[list[Any]]:
        """The host activities attached to the contract."""
        return orm.relationship(cls._lc_host.activity_model, secondary="lc_contract_activity",
                                order_by=cls._lc_host.activity_pk, viewonly=True)

    def state_on(self, today: dt.date) -> ContractState:
        """Future, Active or Expired on ``today`` (both ends of the valid period inclusive)."""
        if today < self.valid_from:
            return ContractState.FUTURE
        if today > self.valid_until:
            return ContractState.EXPIRED
        return ContractState.ACTIVE

    @property
    def is_voucher(self) -> bool:
        return self.contract_type is ContractType.VOUCHER

    def __repr__(self) -> str:
        return f"<Contract {self.code!r}>"

    def __str__(self) -> str:
        return f"{self.title} ({self.code})"


class InvitationActivity(_Row):
    """An activity one Voucher invitation covers (fixed at invite time, or added since)."""

    __tablename__ = "lc_invitation_activity"
    __table_args__: ClassVar[Any] = {"info": INFO}
    invitation_id: Mapped[int] = mapped_column(sa.ForeignKey("lc_invitation.id"), primary_key=True,
                                               sort_order=_OWN_KEYS)

    @declared_attr
    def activity_id(cls) -> Mapped[Any]:
        return _host_fk(cls._lc_host.activity_pk, primary_key=True)


class Invitation(_Row):
    """One learner's (or one e-mail's) invitation to one contract."""

    __tablename__ = "lc_invitation"
    id: Mapped[int] = mapped_column(primary_key=True, sort_order=_OWN_KEYS)
    contract_id: Mapped[int] = mapped_column(sa.ForeignKey("lc_contract.id"), nullable=False, sort_order=_OWN_KEYS)
    email: Mapped[str] = mapped_column(sa.String(320), nullable=False)
    status: Mapped[InvitationStatus] = mapped_column(EnumString(InvitationStatus), nullable=False)
    #: The contract's "require invitation code" setting when this invitation was created (rule 7).
    require_code: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    #: Activities this learner enrolled in through the contract (the per-user limit counter).
    enrolled_count: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    invited_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, nullable=False, default=utcnow)
    invited_by: Mapped[str | None] = mapped_column(sa.String(320), nullable=True)
    code_redeemed_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime, nullable=True)
    last_sent_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime, nullable=True)
    send_count: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    #: The random per-person key that stands for the learner once forgotten (``user_id`` is then ``None``).
    pseudonym: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    #: The inviter's host key as text (``None``: the code, the system, a forgotten inviter, or a row older than it).
    invited_by_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)

    @declared_attr.directive
    def __table_args__(cls) -> Any:
        return (
            sa.Index("uq_lc_invitation_live_email", "contract_id", "email", unique=True,
                     sqlite_where=sa.text(UNLINKED_LIVE_SQL), postgresql_where=sa.text(UNLINKED_LIVE_SQL)),
            sa.Index("uq_lc_invitation_live_user", "contract_id", "user_id", unique=True,
                     sqlite_where=sa.text(LIVE_SQL + " AND user_id IS NOT NULL"),
                     postgresql_where=sa.text(LIVE_SQL + " AND user_id IS NOT NULL")),
            # The Invitations tab's order (newest first) read backwards from an index, unfiltered and per status,
            # so a page of a contract with 100,000 invitations never sorts them (lc0012); the second one also
            # serves every per-status count and look-up of a contract (it replaced ``(contract_id, status)``).
            sa.Index("ix_lc_invitation_page", "contract_id", "invited_at", "id"),
            sa.Index("ix_lc_invitation_status_page", "contract_id", "status", "invited_at", "id"),
            sa.Index("ix_lc_invitation_user", "user_id"),
            sa.Index("ix_lc_invitation_email", "email"),
            sa.CheckConstraint("enrolled_count >= 0", name="ck_lc_invitation_enrolled_count"),
            NEVER_REUSED_IDS,
        )

    @declared_attr
    def user_id(cls) -> Mapped[Any]:
        """The invited learner's host key (``None`` while no account uses the e-mail: Not Registered)."""
        return _host_fk(cls._lc_host.user_pk, nullable=True)

    @declared_attr
    def contract(cls) -> Mapped[Contract]:
        return orm.relationship("Contract", lazy="joined", innerjoin=True)

    @declared_attr
    def user(cls) -> Mapped[Any]:
        """The invited host user, if registered."""
        return orm.relationship(cls._lc_host.user_model, foreign_keys=lambda: [cls.__table__.c.user_id])

    @declared_attr
    def fixed_activities(cls) -> Mapped[list[Any]]:
        """The host activities fixed on this invitation (Voucher contracts)."""
        return orm.relationship(cls._lc_host.activity_model, secondary="lc_invitation_activity",
                                order_by=cls._lc_host.activity_pk, viewonly=True)

    @property
    def activities(self) -> list[Any]:
        """The host activities this invitation covers: the contract's current ones for a Subscription
        contract, the ones fixed at invite time (or added since) for a Voucher contract."""
        if self.contract.contract_type is ContractType.SUBSCRIPTION:
            return list(self.contract.activities)
        return list(self.fixed_activities)

    @property
    def is_live(self) -> bool:
        return self.status is not InvitationStatus.REVOKED

    @property
    def can_be_revoked(self) -> bool:
        """Rule 10: revocable while live and the learner has no enrollment through the contract."""
        return self.status is not InvitationStatus.REVOKED and not self.enrolled_count

    @property
    def can_be_resent(self) -> bool:
        """Rule 10: only Outstanding invitations are resent."""
        return self.status is InvitationStatus.OUTSTANDING

    @property
    def code_satisfied(self) -> bool:
        """Whether the learner may enroll without entering the code (not required, or already redeemed)."""
        return not self.require_code or self.code_redeemed_at is not None

    def __repr__(self) -> str:
        return f"<Invitation {self.email!r} {self.status.value}>"


class Enrollment(_Row):
    """A learner's enrollment in one activity through one contract."""

    __tablename__ = "lc_enrollment"
    id: Mapped[int] = mapped_column(primary_key=True, sort_order=_OWN_KEYS)
    contract_id: Mapped[int] = mapped_column(sa.ForeignKey("lc_contract.id"), nullable=False, sort_order=_OWN_KEYS)
    invitation_id: Mapped[int] = mapped_column(sa.ForeignKey("lc_invitation.id"), nullable=False,
                                               sort_order=_OWN_KEYS)
    #: Whether this enrollment consumed a seat (always for Voucher; the first one for Subscription).
    seat_used: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, nullable=False, default=utcnow)
    #: The learner's per-person key once forgotten (``user_id`` is then ``None``).
    pseudonym: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)

    @declared_attr.directive
    def __table_args__(cls) -> Any:
        return (
            sa.UniqueConstraint("contract_id", "user_id", "activity_id", name="uq_lc_enrollment"),
            sa.Index("uq_lc_enrollment_forgotten", "contract_id", "pseudonym", "activity_id", unique=True,
                     sqlite_where=sa.text(FORGOTTEN_SQL), postgresql_where=sa.text(FORGOTTEN_SQL)),
            sa.CheckConstraint(LEARNER_SQL, name="ck_lc_enrollment_learner"),
            sa.Index("ix_lc_enrollment_invitation", "invitation_id"),
            sa.Index("ix_lc_enrollment_user", "user_id"),
            NEVER_REUSED_IDS,
        )

    @declared_attr
    def user_id(cls) -> Mapped[Any]:
        """The learner's host key; ``None`` once forgotten (``pseudonym`` stands for them then)."""
        return _host_fk(cls._lc_host.user_pk, nullable=True)

    @declared_attr
    def activity_id(cls) -> Mapped[Any]:
        return _host_fk(cls._lc_host.activity_pk)

    @declared_attr
    def contract(cls) -> Mapped[Contract]:
        return orm.relationship("Contract")

    @declared_attr
    def invitation(cls) -> Mapped[Invitation]:
        return orm.relationship("Invitation")

    @declared_attr
    def user(cls) -> Mapped[Any]:
        return orm.relationship(cls._lc_host.user_model, foreign_keys=lambda: [cls.__table__.c.user_id])

    @declared_attr
    def activity(cls) -> Mapped[Any]:
        return orm.relationship(cls._lc_host.activity_model, foreign_keys=lambda: [cls.__table__.c.activity_id])


class Seat(_Row):
    """One consumed seat. Voucher: one per (learner, activity); Subscription: one per learner.

    Unique indexes make a second seat for the same thing impossible, whatever the concurrency.
    """

    __tablename__ = "lc_seat"
    id: Mapped[int] = mapped_column(primary_key=True, sort_order=_OWN_KEYS)
    contract_id: Mapped[int] = mapped_column(sa.ForeignKey("lc_contract.id"), nullable=False, sort_order=_OWN_KEYS)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, nullable=False, default=utcnow)
    #: The learner's per-person key once forgotten (``user_id`` is then ``None``).
    pseudonym: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)

    @declared_attr.directive
    def __table_args__(cls) -> Any:
        voucher, subscription = "activity_id IS NOT NULL", "activity_id IS NULL"
        forgotten = FORGOTTEN_SQL
        return (
            sa.Index("uq_lc_seat_voucher", "contract_id", "user_id", "activity_id", unique=True,
                     sqlite_where=sa.text(voucher), postgresql_where=sa.text(voucher)),
            sa.Index("uq_lc_seat_subscription", "contract_id", "user_id", unique=True,
                     sqlite_where=sa.text(subscription), postgresql_where=sa.text(subscription)),
            # The same two rules for the seats of forgotten learners, by their pseudonym.
            sa.Index("uq_lc_seat_voucher_forgotten", "contract_id", "pseudonym", "activity_id", unique=True,
                     sqlite_where=sa.text(f"{forgotten} AND {voucher}"),
                     postgresql_where=sa.text(f"{forgotten} AND {voucher}")),
            sa.Index("uq_lc_seat_subscription_forgotten", "contract_id", "pseudonym", unique=True,
                     sqlite_where=sa.text(f"{forgotten} AND {subscription}"),
                     postgresql_where=sa.text(f"{forgotten} AND {subscription}")),
            sa.CheckConstraint(LEARNER_SQL, name="ck_lc_seat_learner"),
            NEVER_REUSED_IDS,
        )

    @declared_attr
    def user_id(cls) -> Mapped[Any]:
        """The learner's host key; ``None`` once forgotten (``pseudonym`` stands for them then)."""
        return _host_fk(cls._lc_host.user_pk, nullable=True)

    @declared_attr
    def activity_id(cls) -> Mapped[Any]:
        """The activity for a Voucher seat; ``None`` for the learner's one Subscription seat."""
        return _host_fk(cls._lc_host.activity_pk, nullable=True)


#: SQL: the row belongs to a learner the host key or a pseudonym names (see ``services.forget_user``).
LEARNER_SQL = "user_id IS NOT NULL OR pseudonym IS NOT NULL"
#: SQL: the row belongs to a forgotten learner.
FORGOTTEN_SQL = "pseudonym IS NOT NULL"

#: SQL: the history row a contract's life starts with (``services.history`` shows no older row of its id).
CREATED_SQL = "action = 'created'"


class HistoryEntry(_Row):
    """Who changed what, when. Kept after the contract is deleted (no foreign keys)."""

    __tablename__ = "lc_history"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(sa.DateTime, nullable=False, default=utcnow)
    contract_id: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    contract_code: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    invitation_id: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    actor_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    actor_name: Mapped[str | None] = mapped_column(sa.String(320), nullable=True)
    action: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    message: Mapped[str] = mapped_column(sa.Text, nullable=False)
    #: The host key (as text) of the person the message names, where it names one by name ("Named X a contract
    #: admin"); ``None`` otherwise, once they are forgotten, or in rows older than the column.
    subject_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)

    @declared_attr.directive
    def __table_args__(cls) -> Any:
        return (
            sa.Index("ix_lc_history_contract", "contract_id", "id"),
            # One row per contract: where each contract's history starts (see ``services.history``).
            sa.Index("ix_lc_history_created", "contract_id", "id",
                     sqlite_where=sa.text(CREATED_SQL), postgresql_where=sa.text(CREATED_SQL)),
            NEVER_REUSED_IDS,
        )


#: Notifications a sender may claim: waiting ones, and ones whose sender's lease may have run out.
DUE_SQL = "status IN ('pending', 'sending')"
#: Notifications that must exist once (they have a dedupe key).
KEYED_SQL = "dedupe_key IS NOT NULL"
#: Notifications that ran out of attempts.
FAILED_SQL = "status = 'failed'"
#: Notifications about a contract rather than one invitation (the contract-admin alerts).
ALERTS_SQL = "invitation_id IS NULL"
#: Webhook deliveries (a notification of kind "webhook" has its endpoint).
WEBHOOK_SQL = "endpoint_id IS NOT NULL"


class Notification(_Row):
    """One notification to one person, with its delivery state (the outbox).

    Written in the transaction that creates what it notifies (an invitation, a reminder, an alert), then
    delivered after the commit (``LEARNING_CONTRACTS_DELIVERY = "immediate"``) or by a worker (``"queued"``).
    ``dedupe_key`` makes a notice that must exist once (a reminder of one day, a seats alert for one seat
    count and threshold …) a unique row: concurrent schedulers and enrollments insert it with
    ``ON CONFLICT DO NOTHING``. Rows are rendered when they are sent, from the contract and invitation as
    they are then and ``payload`` (what the notice was created with).
    """

    __tablename__ = "lc_notification"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[NotificationKind] = mapped_column(EnumString(NotificationKind), nullable=False)
    #: No foreign keys (like the history): ``delete_contract`` deletes a contract's notifications, and a key
    #: checked on every bulk insert and contract deletion would need an index that every row pays for.
    contract_id: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    #: The invitation a learner notification is about. Merging a Not Registered invitation into the learner's
    #: own deletes it; its pending notifications are then skipped.
    invitation_id: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    recipient: Mapped[str] = mapped_column(sa.String(320), nullable=False)
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    status: Mapped[DeliveryStatus] = mapped_column(EnumString(DeliveryStatus), nullable=False)
    attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    #: Pending: when it is due. Sending: when the sender's lease ends (then another sender may take it over).
    next_attempt_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, nullable=False)
    sent_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, nullable=False, default=utcnow)
    #: What the notice was created with (the learner page link, a threshold, the end date …); a webhook's event.
    payload: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, nullable=True)
    #: Webhook deliveries (kind "webhook"): the endpoint the event is POSTed to (no foreign key, like the
    #: contract: deleting an endpoint deletes its deliveries).
    endpoint_id: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)

    @declared_attr.directive
    def __table_args__(cls) -> Any:
        return (
            # Partial: only notices that must exist once have a key (an invitation's own notification has none).
            sa.Index("uq_lc_notification_dedupe", "dedupe_key", unique=True, sqlite_where=sa.text(KEYED_SQL),
                     postgresql_where=sa.text(KEYED_SQL)),
            sa.Index("ix_lc_notification_due", "next_attempt_at",
                     sqlite_where=sa.text(DUE_SQL), postgresql_where=sa.text(DUE_SQL)),
            sa.Index("ix_lc_notification_invitation", "invitation_id"),
            # A contract's notifications are found through its invitations (ix_lc_notification_invitation), its
            # alerts (few) and its failed ones (the admin's list) through these two small partial indexes: the
            # invitation notifications of a bulk invite are written into as few indexes as possible.
            sa.Index("ix_lc_notification_alerts", "contract_id", sqlite_where=sa.text(ALERTS_SQL),
                     postgresql_where=sa.text(ALERTS_SQL)),
            sa.Index("ix_lc_notification_failed", "contract_id", sqlite_where=sa.text(FAILED_SQL),
                     postgresql_where=sa.text(FAILED_SQL)),
            sa.Index("ix_lc_notification_endpoint", "endpoint_id", sqlite_where=sa.text(WEBHOOK_SQL),
                     postgresql_where=sa.text(WEBHOOK_SQL)),
            sa.CheckConstraint("attempts >= 0", name="ck_lc_notification_attempts"),
            {"info": INFO},
        )

    def __repr__(self) -> str:
        return f"<Notification {self.kind.value} to {self.recipient!r} {self.status.value}>"


class InviteRun(_Row):
    """One submission of the invite form: what was submitted, then the per-row report it produced.

    Keyed by the random token the form carries, so a second POST of the same form (a double click, a browser
    retry) finds the run instead of inviting again, and the report page (Post/Redirect/Get) reads it back on
    every refresh. ``state`` is ``draft`` (a Voucher invite waiting for its activity step), ``running`` or
    ``done``. Short-lived: runs older than ``LEARNING_CONTRACTS_INVITE_RUN_HOURS`` are purged when a new one
    starts, and deleting the contract deletes its runs.
    """

    __tablename__ = "lc_invite_run"
    token: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    #: No foreign key (like the notifications): ``delete_contract`` deletes a contract's runs.
    contract_id: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    actor_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    state: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, nullable=False, default=utcnow)
    #: What was submitted: ``user_ids``, ``emails`` (the typed text), ``csv`` (base64) and ``csv_name``.
    submitted: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False)
    #: The report once the run is done (see ``services.invite_runs``).
    report: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, nullable=True)

    @declared_attr.directive
    def __table_args__(cls) -> Any:
        return (sa.Index("ix_lc_invite_run_created", "created_at"), sa.Index("ix_lc_invite_run_contract", "contract_id"),
                {"info": INFO})


# ---------------------------------------------------------------------------------------------------------
# Building the mapped classes on a host's metadata
# ---------------------------------------------------------------------------------------------------------
RowT = TypeVar("RowT", bound=_Row)


@dataclasses.dataclass(frozen=True)
class Models:
    """The mapped classes of one metadata, each a subclass of the typed class of the same name."""

    Base: type[orm.DeclarativeBase]
    Contract: type[Contract]
    ContractAdmin: type[ContractAdmin]
    ContractActivity: type[ContractActivity]
    Invitation: type[Invitation]
    InvitationActivity: type[InvitationActivity]
    Enrollment: type[Enrollment]
    Seat: type[Seat]
    HistoryEntry: type[HistoryEntry]
    Notification: type[Notification]
    InviteRun: type[InviteRun]
    ApiKey: type[ApiKey]
    IdempotencyKey: type[IdempotencyKey]
    WebhookEndpoint: type[WebhookEndpoint]
    host: HostTables
    #: Statements of the hot paths, built once per set of models (see ``services._core.statement``).
    statements: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False)

    @property
    def user_model(self) -> type[Any]:
        return self.host.user_model

    @property
    def activity_model(self) -> type[Any]:
        return self.host.activity_model

    @property
    def user_pk(self) -> sa.Column[Any]:
        return self.host.user_pk

    @property
    def activity_pk(self) -> sa.Column[Any]:
        return self.host.activity_pk


_BUILT: dict[int, Models] = {}


def primary_key_column(model: type[Any]) -> sa.Column[Any]:
    """The single primary-key column of a host model (``TypeError`` if it has several)."""
    columns: list[sa.Column[Any]] = list(sa.inspect(model).primary_key)
    if len(columns) != 1:
        raise TypeError(f"{model.__name__} must have a single-column primary key to be used by learning contracts")
    return columns[0]


def build_models(db: Any, user_model: type[Any], activity_model: type[Any]) -> Models:
    """Build (once per ``db.metadata``) and return the extension's mapped classes for these host models."""
    metadata: sa.MetaData = db.metadata
    built = _BUILT.get(id(metadata))
    if built is not None:
        if built.user_model is not user_model or built.activity_model is not activity_model:
            raise RuntimeError(
                "flask_learning_contracts models were already built on this metadata for other user/activity models"
            )
        return built
    host_metadata = metadata
    host = HostTables(user_model, activity_model, primary_key_column(user_model), primary_key_column(activity_model))

    class Base(orm.DeclarativeBase):
        # The host's metadata, so db.create_all() and migrations see our tables; our own registry, so a
        # host whose db.Model is a dataclass base does not turn our models into dataclasses.
        metadata = host_metadata

    def mapped(typed: type[RowT]) -> type[RowT]:
        # Named ``Models.<Name>`` so that an error about the typed class (which cannot be queried: it is not
        # mapped) and one about the mapped class never read alike.
        return type(typed.__name__, (typed, Base), {"__module__": __name__, "__qualname__": f"Models.{typed.__name__}",
                                                     "_lc_host": host, "__doc__": typed.__doc__})

    built = Models(
        Base=Base,
        ContractAdmin=mapped(ContractAdmin),
        ContractActivity=mapped(ContractActivity),
        Contract=mapped(Contract),
        InvitationActivity=mapped(InvitationActivity),
        Invitation=mapped(Invitation),
        Enrollment=mapped(Enrollment),
        Seat=mapped(Seat),
        HistoryEntry=mapped(HistoryEntry),
        Notification=mapped(Notification),
        InviteRun=mapped(InviteRun),
        ApiKey=mapped(ApiKey),
        IdempotencyKey=mapped(IdempotencyKey),
        WebhookEndpoint=mapped(WebhookEndpoint),
        host=host,
    )
    _BUILT[id(metadata)] = built
    return built


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic filter selecting only the extension's tables (for our own migration environment)."""
    table = obj if type_ == "table" else getattr(obj, "table", None)
    if table is None:
        return True
    if reflected and type_ == "table":
        return bool(name and name.startswith("lc_"))
    return bool(table.info.get("flask_learning_contracts")) or bool(name and name.startswith("lc_"))


def exclude_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic filter for the host's own autogenerate: leaves the extension's tables to our migrations."""
    table = obj if type_ == "table" else getattr(obj, "table", None)
    if table is None:
        return True
    if type_ == "table":
        return not (name or "").startswith("lc_")
    return not str(table.name).startswith("lc_")
