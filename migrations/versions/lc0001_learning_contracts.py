"""Learning contracts: contracts, activities, admins, invitations, enrollments, seats, history.

Revision ID: lc0001
Revises:
Create Date: 2026-11-28

Foreign keys point at the host's user and activity tables, whatever their names and key types: they
are read at run time from the app's ``LearningContracts`` models, so the host never edits this file.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from flask_learning_contracts.migrations import host_depends_on, host_key, require_host_tables

revision = "lc0001"
down_revision = None
branch_labels = ("learning_contracts",)
depends_on = host_depends_on()

LIVE = "status != 'revoked'"


def upgrade() -> None:
    require_host_tables(op.get_bind(), offline=op.get_context().as_sql)
    user_type, user_ref = host_key("user")
    activity_type, activity_ref = host_key("activity")

    op.create_table(
        "lc_contract",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("code_key", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("group_name", sa.String(200), nullable=True),
        sa.Column("external_id", sa.String(128), nullable=True),
        sa.Column("source", sa.String(128), nullable=True),
        sa.Column("contract_type", sa.String(20), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("seats_used", sa.Integer(), nullable=False),
        sa.Column("per_user_limit", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("require_invitation_code", sa.Boolean(), nullable=False),
        sa.Column("invitation_code", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("seats >= 0", name="ck_lc_contract_seats"),
        sa.CheckConstraint("seats_used >= 0 AND seats_used <= seats", name="ck_lc_contract_seats_used"),
        sa.CheckConstraint("per_user_limit >= 0", name="ck_lc_contract_per_user_limit"),
        sa.CheckConstraint("valid_until >= valid_from", name="ck_lc_contract_valid_period"),
        sa.UniqueConstraint("code_key"),
        sa.UniqueConstraint("invitation_code"),
    )
    op.create_index("ix_lc_contract_valid_until", "lc_contract", ["valid_until"])

    op.create_table(
        "lc_contract_admin",
        sa.Column("contract_id", sa.Integer(), sa.ForeignKey("lc_contract.id"), primary_key=True),
        sa.Column("user_id", user_type, sa.ForeignKey(user_ref), primary_key=True),
    )
    op.create_table(
        "lc_contract_activity",
        sa.Column("contract_id", sa.Integer(), sa.ForeignKey("lc_contract.id"), primary_key=True),
        sa.Column("activity_id", activity_type, sa.ForeignKey(activity_ref), primary_key=True),
        sa.Column("added_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_lc_contract_activity_activity", "lc_contract_activity", ["activity_id"])

    op.create_table(
        "lc_invitation",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("contract_id", sa.Integer(), sa.ForeignKey("lc_contract.id"), nullable=False),
        sa.Column("user_id", user_type, sa.ForeignKey(user_ref), nullable=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("require_code", sa.Boolean(), nullable=False),
        sa.Column("enrolled_count", sa.Integer(), nullable=False),
        sa.Column("invited_at", sa.DateTime(), nullable=False),
        sa.Column("invited_by", sa.String(320), nullable=True),
        sa.Column("code_redeemed_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("last_sent_at", sa.DateTime(), nullable=True),
        sa.Column("send_count", sa.Integer(), nullable=False),
        sa.CheckConstraint("enrolled_count >= 0", name="ck_lc_invitation_enrolled_count"),
    )
    op.create_index("uq_lc_invitation_live_email", "lc_invitation", ["contract_id", "email"], unique=True,
                    sqlite_where=sa.text(LIVE), postgresql_where=sa.text(LIVE))
    op.create_index("uq_lc_invitation_live_user", "lc_invitation", ["contract_id", "user_id"], unique=True,
                    sqlite_where=sa.text(LIVE + " AND user_id IS NOT NULL"),
                    postgresql_where=sa.text(LIVE + " AND user_id IS NOT NULL"))
    op.create_index("ix_lc_invitation_contract_status", "lc_invitation", ["contract_id", "status"])
    op.create_index("ix_lc_invitation_user", "lc_invitation", ["user_id"])
    op.create_index("ix_lc_invitation_email", "lc_invitation", ["email"])

    op.create_table(
        "lc_invitation_activity",
        sa.Column("invitation_id", sa.Integer(), sa.ForeignKey("lc_invitation.id"), primary_key=True),
        sa.Column("activity_id", activity_type, sa.ForeignKey(activity_ref), primary_key=True),
    )
    op.create_table(
        "lc_enrollment",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("contract_id", sa.Integer(), sa.ForeignKey("lc_contract.id"), nullable=False),
        sa.Column("invitation_id", sa.Integer(), sa.ForeignKey("lc_invitation.id"), nullable=False),
        sa.Column("user_id", user_type, sa.ForeignKey(user_ref), nullable=False),
        sa.Column("activity_id", activity_type, sa.ForeignKey(activity_ref), nullable=False),
        sa.Column("seat_used", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("contract_id", "user_id", "activity_id", name="uq_lc_enrollment"),
    )
    op.create_index("ix_lc_enrollment_invitation", "lc_enrollment", ["invitation_id"])
    op.create_index("ix_lc_enrollment_user", "lc_enrollment", ["user_id"])

    op.create_table(
        "lc_seat",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("contract_id", sa.Integer(), sa.ForeignKey("lc_contract.id"), nullable=False),
        sa.Column("user_id", user_type, sa.ForeignKey(user_ref), nullable=False),
        sa.Column("activity_id", activity_type, sa.ForeignKey(activity_ref), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("uq_lc_seat_voucher", "lc_seat", ["contract_id", "user_id", "activity_id"], unique=True,
                    sqlite_where=sa.text("activity_id IS NOT NULL"), postgresql_where=sa.text("activity_id IS NOT NULL"))
    op.create_index("uq_lc_seat_subscription", "lc_seat", ["contract_id", "user_id"], unique=True,
                    sqlite_where=sa.text("activity_id IS NULL"), postgresql_where=sa.text("activity_id IS NULL"))

    op.create_table(
        "lc_history",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=True),
        sa.Column("contract_code", sa.String(64), nullable=False),
        sa.Column("invitation_id", sa.Integer(), nullable=True),
        sa.Column("actor_id", sa.String(64), nullable=True),
        sa.Column("actor_name", sa.String(320), nullable=True),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
    )
    op.create_index("ix_lc_history_contract", "lc_history", ["contract_id", "id"])


def downgrade() -> None:
    for table in ("lc_history", "lc_seat", "lc_enrollment", "lc_invitation_activity", "lc_invitation",
                  "lc_contract_activity", "lc_contract_admin", "lc_contract"):
        op.drop_table(table)
