"""Ids are never reused: AUTOINCREMENT on SQLite; where each contract's history starts.

Revision ID: lc0002
Revises: lc0001
Create Date: 2026-11-30

SQLite gives a plain ``INTEGER PRIMARY KEY`` the largest id + 1, so the id of the newest deleted contract or
invitation came back on the next one, and with it the deleted one's history. On SQLite this revision
rebuilds the tables whose ids are referred to (contract, invitation, enrollment, seat, history) with
``AUTOINCREMENT``, every row kept, and starts the contract and invitation counters after the largest id the
history mentions (ids deleted before this revision stay retired too). PostgreSQL sequences never go back:
nothing to rebuild there. Both get the small partial index of "created" history rows, where each contract's
history starts (``services.history``).
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

from flask_learning_contracts.migrations import host_key, rebuild_sqlite_table, retire_sqlite_ids

revision = "lc0002"
down_revision = "lc0001"
branch_labels = None
depends_on = None

LIVE = "status != 'revoked'"
CREATED = "action = 'created'"


def _contract(autoincrement: bool) -> None:
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
        sqlite_autoincrement=autoincrement,
    )
    op.create_index("ix_lc_contract_valid_until", "lc_contract", ["valid_until"])


def _invitation(autoincrement: bool) -> None:
    user_type, user_ref = host_key("user")
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
        sqlite_autoincrement=autoincrement,
    )
    op.create_index("uq_lc_invitation_live_email", "lc_invitation", ["contract_id", "email"], unique=True,
                    sqlite_where=sa.text(LIVE), postgresql_where=sa.text(LIVE))
    op.create_index("uq_lc_invitation_live_user", "lc_invitation", ["contract_id", "user_id"], unique=True,
                    sqlite_where=sa.text(LIVE + " AND user_id IS NOT NULL"),
                    postgresql_where=sa.text(LIVE + " AND user_id IS NOT NULL"))
    op.create_index("ix_lc_invitation_contract_status", "lc_invitation", ["contract_id", "status"])
    op.create_index("ix_lc_invitation_user", "lc_invitation", ["user_id"])
    op.create_index("ix_lc_invitation_email", "lc_invitation", ["email"])


def _enrollment(autoincrement: bool) -> None:
    user_type, user_ref = host_key("user")
    activity_type, activity_ref = host_key("activity")
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
        sqlite_autoincrement=autoincrement,
    )
    op.create_index("ix_lc_enrollment_invitation", "lc_enrollment", ["invitation_id"])
    op.create_index("ix_lc_enrollment_user", "lc_enrollment", ["user_id"])


def _seat(autoincrement: bool) -> None:
    user_type, user_ref = host_key("user")
    activity_type, activity_ref = host_key("activity")
    op.create_table(
        "lc_seat",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("contract_id", sa.Integer(), sa.ForeignKey("lc_contract.id"), nullable=False),
        sa.Column("user_id", user_type, sa.ForeignKey(user_ref), nullable=False),
        sa.Column("activity_id", activity_type, sa.ForeignKey(activity_ref), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sqlite_autoincrement=autoincrement,
    )
    op.create_index("uq_lc_seat_voucher", "lc_seat", ["contract_id", "user_id", "activity_id"], unique=True,
                    sqlite_where=sa.text("activity_id IS NOT NULL"),
                    postgresql_where=sa.text("activity_id IS NOT NULL"))
    op.create_index("uq_lc_seat_subscription", "lc_seat", ["contract_id", "user_id"], unique=True,
                    sqlite_where=sa.text("activity_id IS NULL"), postgresql_where=sa.text("activity_id IS NULL"))


def _history(autoincrement: bool) -> None:
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
        sqlite_autoincrement=autoincrement,
    )
    op.create_index("ix_lc_history_contract", "lc_history", ["contract_id", "id"])


#: The rebuilt tables, their columns (unchanged by this revision) and how to create each.
TABLES: dict[str, tuple[list[str], Callable[[bool], None]]] = {
    "lc_contract": (["id", "code", "code_key", "title", "description", "group_name", "external_id", "source",
                     "contract_type", "seats", "seats_used", "per_user_limit", "valid_from", "valid_until",
                     "require_invitation_code", "invitation_code", "created_at", "updated_at"], _contract),
    "lc_invitation": (["id", "contract_id", "user_id", "email", "status", "require_code", "enrolled_count",
                       "invited_at", "invited_by", "code_redeemed_at", "revoked_at", "last_sent_at", "send_count"],
                      _invitation),
    "lc_enrollment": (["id", "contract_id", "invitation_id", "user_id", "activity_id", "seat_used", "created_at"],
                      _enrollment),
    "lc_seat": (["id", "contract_id", "user_id", "activity_id", "created_at"], _seat),
    "lc_history": (["id", "at", "contract_id", "contract_code", "invitation_id", "actor_id", "actor_name", "action",
                    "message"], _history),
}


def _rebuild(autoincrement: bool) -> None:
    for name, (columns, create) in TABLES.items():
        rebuild_sqlite_table(name, columns, functools.partial(create, autoincrement))


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        _rebuild(autoincrement=True)
        retire_sqlite_ids("lc_contract", "SELECT max(contract_id) FROM lc_history")
        retire_sqlite_ids("lc_invitation", "SELECT max(invitation_id) FROM lc_history")
    op.create_index("ix_lc_history_created", "lc_history", ["contract_id", "id"],
                    sqlite_where=sa.text(CREATED), postgresql_where=sa.text(CREATED))


def downgrade() -> None:
    op.drop_index("ix_lc_history_created", table_name="lc_history")
    if op.get_context().dialect.name == "sqlite":
        _rebuild(autoincrement=False)
