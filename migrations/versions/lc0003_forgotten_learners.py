"""Forgotten learners: seats and enrollments may stand for a pseudonym instead of a host user.

Revision ID: lc0003
Revises: lc0002
Create Date: 2026-11-30

``services.forget_user`` removes a person's host key from our rows so that the host can delete the user
(foreign keys would refuse it otherwise). Their seats, enrollments and Enrolled invitations stay, for the
seat accounting, under a random per-person key: ``user_id`` becomes nullable on seats and enrollments, a
``pseudonym`` column appears on seats, enrollments and invitations, each seat and enrollment names one or
the other (CHECK), and the one-seat rules hold for pseudonyms too (partial unique indexes).

SQLite rebuilds the seat and enrollment tables (keeping ``AUTOINCREMENT``, every row kept); PostgreSQL alters
them. The downgrade refuses while forgotten learners' rows exist: before this revision they cannot be stored.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from flask_learning_contracts.migrations import host_key, rebuild_sqlite_table

revision = "lc0003"
down_revision = "lc0002"
branch_labels = None
depends_on = None

LEARNER = "user_id IS NOT NULL OR pseudonym IS NOT NULL"
FORGOTTEN = "pseudonym IS NOT NULL"
VOUCHER, SUBSCRIPTION = "activity_id IS NOT NULL", "activity_id IS NULL"
ENROLLMENT_COLUMNS = ["id", "contract_id", "invitation_id", "user_id", "activity_id", "seat_used", "created_at"]
SEAT_COLUMNS = ["id", "contract_id", "user_id", "activity_id", "created_at"]


def _where(sql: str) -> dict[str, sa.TextClause]:
    return {"sqlite_where": sa.text(sql), "postgresql_where": sa.text(sql)}


def _enrollment(forgettable: bool) -> None:
    user_type, user_ref = host_key("user")
    activity_type, activity_ref = host_key("activity")
    op.create_table(
        "lc_enrollment",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("contract_id", sa.Integer(), sa.ForeignKey("lc_contract.id"), nullable=False),
        sa.Column("invitation_id", sa.Integer(), sa.ForeignKey("lc_invitation.id"), nullable=False),
        sa.Column("user_id", user_type, sa.ForeignKey(user_ref), nullable=forgettable),
        sa.Column("activity_id", activity_type, sa.ForeignKey(activity_ref), nullable=False),
        sa.Column("seat_used", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        *([sa.Column("pseudonym", sa.String(32), nullable=True),
           sa.CheckConstraint(LEARNER, name="ck_lc_enrollment_learner")] if forgettable else []),
        sa.UniqueConstraint("contract_id", "user_id", "activity_id", name="uq_lc_enrollment"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_lc_enrollment_invitation", "lc_enrollment", ["invitation_id"])
    op.create_index("ix_lc_enrollment_user", "lc_enrollment", ["user_id"])
    if forgettable:
        _enrollment_indexes()


def _enrollment_indexes() -> None:
    op.create_index("uq_lc_enrollment_forgotten", "lc_enrollment", ["contract_id", "pseudonym", "activity_id"],
                    unique=True, **_where(FORGOTTEN))


def _seat(forgettable: bool) -> None:
    user_type, user_ref = host_key("user")
    activity_type, activity_ref = host_key("activity")
    op.create_table(
        "lc_seat",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("contract_id", sa.Integer(), sa.ForeignKey("lc_contract.id"), nullable=False),
        sa.Column("user_id", user_type, sa.ForeignKey(user_ref), nullable=forgettable),
        sa.Column("activity_id", activity_type, sa.ForeignKey(activity_ref), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        *([sa.Column("pseudonym", sa.String(32), nullable=True),
           sa.CheckConstraint(LEARNER, name="ck_lc_seat_learner")] if forgettable else []),
        sqlite_autoincrement=True,
    )
    op.create_index("uq_lc_seat_voucher", "lc_seat", ["contract_id", "user_id", "activity_id"], unique=True,
                    **_where(VOUCHER))
    op.create_index("uq_lc_seat_subscription", "lc_seat", ["contract_id", "user_id"], unique=True,
                    **_where(SUBSCRIPTION))
    if forgettable:
        _seat_indexes()


def _seat_indexes() -> None:
    op.create_index("uq_lc_seat_voucher_forgotten", "lc_seat", ["contract_id", "pseudonym", "activity_id"],
                    unique=True, **_where(f"{FORGOTTEN} AND {VOUCHER}"))
    op.create_index("uq_lc_seat_subscription_forgotten", "lc_seat", ["contract_id", "pseudonym"], unique=True,
                    **_where(f"{FORGOTTEN} AND {SUBSCRIPTION}"))


def upgrade() -> None:
    op.add_column("lc_invitation", sa.Column("pseudonym", sa.String(32), nullable=True))
    if op.get_context().dialect.name == "sqlite":
        rebuild_sqlite_table("lc_enrollment", ENROLLMENT_COLUMNS, lambda: _enrollment(forgettable=True))
        rebuild_sqlite_table("lc_seat", SEAT_COLUMNS, lambda: _seat(forgettable=True))
        return
    user_type, _ref = host_key("user")
    for table in ("lc_enrollment", "lc_seat"):
        op.alter_column(table, "user_id", existing_type=user_type, nullable=True)
        op.add_column(table, sa.Column("pseudonym", sa.String(32), nullable=True))
    op.create_check_constraint("ck_lc_enrollment_learner", "lc_enrollment", LEARNER)
    op.create_check_constraint("ck_lc_seat_learner", "lc_seat", LEARNER)
    _enrollment_indexes()
    _seat_indexes()


def downgrade() -> None:
    if not op.get_context().as_sql:
        bind = op.get_bind()
        forgotten = sum(bind.execute(sa.text(f"SELECT count(*) FROM {table} WHERE user_id IS NULL")).scalar_one()
                        for table in ("lc_enrollment", "lc_seat"))
        if forgotten:
            raise RuntimeError(
                f"{forgotten} seat and enrollment rows belong to forgotten learners (flask contracts forget-user); "
                "the schema before lc0003 cannot store them without a host user. Stay at lc0003, or delete those "
                "rows yourself first if you accept that the seats they hold are counted wrongly.")
    if op.get_context().dialect.name == "sqlite":
        rebuild_sqlite_table("lc_enrollment", ENROLLMENT_COLUMNS, lambda: _enrollment(forgettable=False))
        rebuild_sqlite_table("lc_seat", SEAT_COLUMNS, lambda: _seat(forgettable=False))
    else:
        for name in ("uq_lc_seat_subscription_forgotten", "uq_lc_seat_voucher_forgotten"):
            op.drop_index(name, table_name="lc_seat")
        op.drop_index("uq_lc_enrollment_forgotten", table_name="lc_enrollment")
        user_type, _ref = host_key("user")
        for table, check in (("lc_enrollment", "ck_lc_enrollment_learner"), ("lc_seat", "ck_lc_seat_learner")):
            op.drop_constraint(check, table, type_="check")
            op.drop_column(table, "pseudonym")
            op.alter_column(table, "user_id", existing_type=user_type, nullable=False)
    op.drop_column("lc_invitation", "pseudonym")
