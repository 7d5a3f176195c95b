"""Webhooks: endpoints (URL, secret, chosen events, disabled state) and the endpoint of a webhook delivery.

Revision ID: lc0015_webhooks
Revises: lc0014_api
Create Date: 2026-12-02

Webhook deliveries are rows of ``lc_notification`` (kind "webhook"), so the outbox that sends and retries
e-mails sends and retries them too; ``endpoint_id`` names the endpoint a delivery is POSTed to.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "lc0015_webhooks"
down_revision = "lc0014_api"
branch_labels = None
depends_on = None

WEBHOOK_SQL = "endpoint_id IS NOT NULL"


def upgrade() -> None:
    op.create_table(
        "lc_webhook_endpoint",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("url", sa.String(320), nullable=False),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("events", sa.String(500), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.add_column("lc_notification", sa.Column("endpoint_id", sa.Integer(), nullable=True))
    op.create_index("ix_lc_notification_endpoint", "lc_notification", ["endpoint_id"],
                    sqlite_where=sa.text(WEBHOOK_SQL), postgresql_where=sa.text(WEBHOOK_SQL))


def downgrade() -> None:
    op.drop_index("ix_lc_notification_endpoint", table_name="lc_notification")
    op.drop_column("lc_notification", "endpoint_id")
    op.drop_table("lc_webhook_endpoint")
