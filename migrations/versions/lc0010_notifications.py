"""Notifications: the outbox of invitations, reminders and contract alerts, and the per-contract reminder switch.

Revision ID: lc0010
Revises: lc0001
Create Date: 2026-12-02

``lc_notification`` keeps one row per notification with its delivery state (pending, sending, sent,
failed, skipped; attempts, last error, next attempt); ``dedupe_key`` is unique so that a notice that must
exist once is inserted once, whatever runs at the same time. ``lc_contract.reminders_enabled`` lets a
contract switch the scheduled reminders off (existing contracts keep them on).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "lc0010"
down_revision = "lc0004"
branch_labels = None
depends_on = None

DUE = "status IN ('pending', 'sending')"
KEYED = "dedupe_key IS NOT NULL"
FAILED = "status = 'failed'"
ALERTS = "invitation_id IS NULL"


def upgrade() -> None:
    op.add_column("lc_contract",
                  sa.Column("reminders_enabled", sa.Boolean(), nullable=False, server_default=sa.true()))

    op.create_table(
        "lc_notification",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("invitation_id", sa.Integer(), nullable=True),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("dedupe_key", sa.String(500), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.CheckConstraint("attempts >= 0", name="ck_lc_notification_attempts"),
    )
    op.create_index("uq_lc_notification_dedupe", "lc_notification", ["dedupe_key"], unique=True,
                    sqlite_where=sa.text(KEYED), postgresql_where=sa.text(KEYED))
    op.create_index("ix_lc_notification_due", "lc_notification", ["next_attempt_at"],
                    sqlite_where=sa.text(DUE), postgresql_where=sa.text(DUE))
    op.create_index("ix_lc_notification_invitation", "lc_notification", ["invitation_id"])
    op.create_index("ix_lc_notification_alerts", "lc_notification", ["contract_id"],
                    sqlite_where=sa.text(ALERTS), postgresql_where=sa.text(ALERTS))
    op.create_index("ix_lc_notification_failed", "lc_notification", ["contract_id"],
                    sqlite_where=sa.text(FAILED), postgresql_where=sa.text(FAILED))


def downgrade() -> None:
    op.drop_table("lc_notification")
    # A plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): a batch copy of lc_contract would lose its CHECKs.
    op.drop_column("lc_contract", "reminders_enabled")
