"""The extension's tables, built on the host's ``db.metadata`` for the host's user and activity models.

The host's tables may have any name and any primary-key column and type (integers, 26-character
ULIDs …): foreign keys copy the host's key type. Models are built once per metadata and reused by
every app that shares it. All tables are prefixed ``lc_`` and tagged in ``Table.info`` so migration
filters can select them (see :func:`include_object`).
"""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from .enums import ContractState, ContractType, InvitationStatus

INFO = {"flask_learning_contracts": True}
_BUILT: dict[int, SimpleNamespace] = {}


class EnumString(sa.types.TypeDecorator):
    """A Python enum stored as its string value in a plain VARCHAR (portable, migration-friendly)."""

    impl = sa.String(20)
    cache_ok = True

    def __init__(self, enum_cls: type, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.enum_cls = enum_cls

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        return self.enum_cls(value).value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return None if value is None else self.enum_cls(value)


def _primary_key(model: type) -> sa.Column:
    columns = list(sa.inspect(model).primary_key)
    if len(columns) != 1:
        raise TypeError(f"{model.__name__} must have a single-column primary key to be used by learning contracts")
    return columns[0]


def _host_fk(column: sa.Column, *, nullable: bool = False, ondelete: str | None = None, **kw: Any) -> orm.MappedColumn:
    """A column referencing a host table's key, with the host's key type."""
    return orm.mapped_column(
        column.type, sa.ForeignKey(column, ondelete=ondelete), nullable=nullable, **kw
    )


def build_models(db: Any, user_model: type, activity_model: type) -> SimpleNamespace:
    """Build (once per ``db.metadata``) and return the extension's model classes as a namespace."""
    metadata = db.metadata
    built = _BUILT.get(id(metadata))
    if built is not None:
        if built.user_model is not user_model or built.activity_model is not activity_model:
            raise RuntimeError(
                "flask_learning_contracts models were already built on this metadata for other user/activity models"
            )
        return built

    user_pk = _primary_key(user_model)
    activity_pk = _primary_key(activity_model)
    live = "status != 'revoked'"

    host_metadata = metadata

    class Base(orm.DeclarativeBase):
        # The host's metadata, so db.create_all() and migrations see our tables; our own registry, so a
        # host whose db.Model is a dataclass base does not turn our models into dataclasses.
        metadata = host_metadata

    def now() -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)

    class ContractAdmin(Base):
        __tablename__ = "lc_contract_admin"
        __table_args__ = {"info": INFO}
        contract_id: orm.Mapped[int] = orm.mapped_column(sa.ForeignKey("lc_contract.id"), primary_key=True)
        user_id = _host_fk(user_pk, primary_key=True)

    class ContractActivity(Base):
        __tablename__ = "lc_contract_activity"
        __table_args__ = (sa.Index("ix_lc_contract_activity_activity", "activity_id"), {"info": INFO})
        contract_id: orm.Mapped[int] = orm.mapped_column(sa.ForeignKey("lc_contract.id"), primary_key=True)
        activity_id = _host_fk(activity_pk, primary_key=True)
        added_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime, nullable=False, default=now)

    class Contract(Base):
        """A pool of seats with its activities, contract admins and invitations."""

        __tablename__ = "lc_contract"
        __table_args__ = (
            sa.CheckConstraint("seats >= 0", name="ck_lc_contract_seats"),
            sa.CheckConstraint("seats_used >= 0 AND seats_used <= seats", name="ck_lc_contract_seats_used"),
            sa.CheckConstraint("per_user_limit >= 0", name="ck_lc_contract_per_user_limit"),
            sa.CheckConstraint("valid_until >= valid_from", name="ck_lc_contract_valid_period"),
            sa.Index("ix_lc_contract_valid_until", "valid_until"),
            {"info": INFO},
        )
        id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
        code: orm.Mapped[str] = orm.mapped_column(sa.String(64), nullable=False)
        code_key: orm.Mapped[str] = orm.mapped_column(sa.String(64), nullable=False, unique=True)
        title: orm.Mapped[str] = orm.mapped_column(sa.String(200), nullable=False)
        description: orm.Mapped[str] = orm.mapped_column(sa.Text, nullable=False, default="")
        group: orm.Mapped[str | None] = orm.mapped_column("group_name", sa.String(200), nullable=True)
        external_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(128), nullable=True)
        source: orm.Mapped[str | None] = orm.mapped_column(sa.String(128), nullable=True)
        contract_type: orm.Mapped[ContractType] = orm.mapped_column(EnumString(ContractType), nullable=False)
        seats: orm.Mapped[int] = orm.mapped_column(sa.Integer, nullable=False)
        seats_used: orm.Mapped[int] = orm.mapped_column(sa.Integer, nullable=False, default=0)
        per_user_limit: orm.Mapped[int] = orm.mapped_column(sa.Integer, nullable=False, default=0)
        valid_from: orm.Mapped[dt.date] = orm.mapped_column(sa.Date, nullable=False)
        valid_until: orm.Mapped[dt.date] = orm.mapped_column(sa.Date, nullable=False)
        require_invitation_code: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, nullable=False, default=True)
        invitation_code: orm.Mapped[str] = orm.mapped_column(sa.String(32), nullable=False, unique=True)
        created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime, nullable=False, default=now)
        updated_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime, nullable=False, default=now)

        admins = orm.relationship(user_model, secondary=ContractAdmin.__table__, lazy="selectin", viewonly=True)
        activities = orm.relationship(
            activity_model, secondary=ContractActivity.__table__, order_by=activity_pk, viewonly=True
        )

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

    class InvitationActivity(Base):
        __tablename__ = "lc_invitation_activity"
        __table_args__ = {"info": INFO}
        invitation_id: orm.Mapped[int] = orm.mapped_column(sa.ForeignKey("lc_invitation.id"), primary_key=True)
        activity_id = _host_fk(activity_pk, primary_key=True)

    class Invitation(Base):
        """One learner's (or one e-mail's) invitation to one contract."""

        __tablename__ = "lc_invitation"
        __table_args__ = (
            sa.Index(
                "uq_lc_invitation_live_email", "contract_id", "email", unique=True,
                sqlite_where=sa.text(live), postgresql_where=sa.text(live),
            ),
            sa.Index(
                "uq_lc_invitation_live_user", "contract_id", "user_id", unique=True,
                sqlite_where=sa.text(live + " AND user_id IS NOT NULL"),
                postgresql_where=sa.text(live + " AND user_id IS NOT NULL"),
            ),
            sa.Index("ix_lc_invitation_contract_status", "contract_id", "status"),
            sa.Index("ix_lc_invitation_user", "user_id"),
            sa.Index("ix_lc_invitation_email", "email"),
            sa.CheckConstraint("enrolled_count >= 0", name="ck_lc_invitation_enrolled_count"),
            {"info": INFO},
        )
        id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
        contract_id: orm.Mapped[int] = orm.mapped_column(sa.ForeignKey("lc_contract.id"), nullable=False)
        user_id = _host_fk(user_pk, nullable=True)
        email: orm.Mapped[str] = orm.mapped_column(sa.String(320), nullable=False)
        status: orm.Mapped[InvitationStatus] = orm.mapped_column(EnumString(InvitationStatus), nullable=False)
        #: The contract's "require invitation code" setting when this invitation was created (rule 7).
        require_code: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, nullable=False)
        #: Activities this learner enrolled in through the contract (the per-user limit counter).
        enrolled_count: orm.Mapped[int] = orm.mapped_column(sa.Integer, nullable=False, default=0)
        invited_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime, nullable=False, default=now)
        invited_by: orm.Mapped[str | None] = orm.mapped_column(sa.String(320), nullable=True)
        code_redeemed_at: orm.Mapped[dt.datetime | None] = orm.mapped_column(sa.DateTime, nullable=True)
        revoked_at: orm.Mapped[dt.datetime | None] = orm.mapped_column(sa.DateTime, nullable=True)
        last_sent_at: orm.Mapped[dt.datetime | None] = orm.mapped_column(sa.DateTime, nullable=True)
        send_count: orm.Mapped[int] = orm.mapped_column(sa.Integer, nullable=False, default=0)

        contract = orm.relationship(Contract, lazy="joined", innerjoin=True)
        user = orm.relationship(user_model, foreign_keys=[user_id])
        fixed_activities = orm.relationship(
            activity_model, secondary=InvitationActivity.__table__, order_by=activity_pk, viewonly=True
        )

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

    class Enrollment(Base):
        """A learner's enrollment in one activity through one contract."""

        __tablename__ = "lc_enrollment"
        __table_args__ = (
            sa.UniqueConstraint("contract_id", "user_id", "activity_id", name="uq_lc_enrollment"),
            sa.Index("ix_lc_enrollment_invitation", "invitation_id"),
            sa.Index("ix_lc_enrollment_user", "user_id"),
            {"info": INFO},
        )
        id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
        contract_id: orm.Mapped[int] = orm.mapped_column(sa.ForeignKey("lc_contract.id"), nullable=False)
        invitation_id: orm.Mapped[int] = orm.mapped_column(sa.ForeignKey("lc_invitation.id"), nullable=False)
        user_id = _host_fk(user_pk)
        activity_id = _host_fk(activity_pk)
        #: Whether this enrollment consumed a seat (always for Voucher; the first one for Subscription).
        seat_used: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, nullable=False)
        created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime, nullable=False, default=now)

        contract = orm.relationship(Contract)
        invitation = orm.relationship(Invitation)
        user = orm.relationship(user_model, foreign_keys=[user_id])
        activity = orm.relationship(activity_model, foreign_keys=[activity_id])

    class Seat(Base):
        """One consumed seat. Voucher: one per (learner, activity); Subscription: one per learner.

        Unique indexes make a second seat for the same thing impossible, whatever the concurrency.
        """

        __tablename__ = "lc_seat"
        __table_args__ = (
            sa.Index(
                "uq_lc_seat_voucher", "contract_id", "user_id", "activity_id", unique=True,
                sqlite_where=sa.text("activity_id IS NOT NULL"), postgresql_where=sa.text("activity_id IS NOT NULL"),
            ),
            sa.Index(
                "uq_lc_seat_subscription", "contract_id", "user_id", unique=True,
                sqlite_where=sa.text("activity_id IS NULL"), postgresql_where=sa.text("activity_id IS NULL"),
            ),
            {"info": INFO},
        )
        id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
        contract_id: orm.Mapped[int] = orm.mapped_column(sa.ForeignKey("lc_contract.id"), nullable=False)
        user_id = _host_fk(user_pk)
        activity_id = _host_fk(activity_pk, nullable=True)
        created_at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime, nullable=False, default=now)

    class HistoryEntry(Base):
        """Who changed what, when. Kept after the contract is deleted (no foreign keys)."""

        __tablename__ = "lc_history"
        __table_args__ = (sa.Index("ix_lc_history_contract", "contract_id", "id"), {"info": INFO})
        id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
        at: orm.Mapped[dt.datetime] = orm.mapped_column(sa.DateTime, nullable=False, default=now)
        contract_id: orm.Mapped[int | None] = orm.mapped_column(sa.Integer, nullable=True)
        contract_code: orm.Mapped[str] = orm.mapped_column(sa.String(64), nullable=False)
        invitation_id: orm.Mapped[int | None] = orm.mapped_column(sa.Integer, nullable=True)
        actor_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(64), nullable=True)
        actor_name: orm.Mapped[str | None] = orm.mapped_column(sa.String(320), nullable=True)
        action: orm.Mapped[str] = orm.mapped_column(sa.String(40), nullable=False)
        message: orm.Mapped[str] = orm.mapped_column(sa.Text, nullable=False)

    built = SimpleNamespace(
        Base=Base,
        Contract=Contract,
        ContractAdmin=ContractAdmin,
        ContractActivity=ContractActivity,
        Invitation=Invitation,
        InvitationActivity=InvitationActivity,
        Enrollment=Enrollment,
        Seat=Seat,
        HistoryEntry=HistoryEntry,
        user_model=user_model,
        activity_model=activity_model,
        user_pk=user_pk,
        activity_pk=activity_pk,
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
    return not table.name.startswith("lc_")
