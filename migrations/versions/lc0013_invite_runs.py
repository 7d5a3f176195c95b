"""Invite runs: one row per submission of the invite form, holding its report for the page after inviting.

Revision ID: lc0013
Revises: lc0012
Create Date: 2026-12-02

The invite pages follow Post/Redirect/Get: the POST stores what was submitted and, once invited, the per-row
report under the form's random token; the report page reads it back, so a refresh shows the same report and a
second POST of the same form (a double click) finds the run instead of inviting again. Rows are short-lived.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "lc0013"
down_revision = "lc0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lc_invite_run",
        sa.Column("token", sa.String(64), primary_key=True),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("submitted", sa.JSON(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=True),
    )
    op.create_index("ix_lc_invite_run_created", "lc_invite_run", ["created_at"])
    op.create_index("ix_lc_invite_run_contract", "lc_invite_run", ["contract_id"])


def downgrade() -> None:
    op.drop_index("ix_lc_invite_run_contract", table_name="lc_invite_run")
    op.drop_index("ix_lc_invite_run_created", table_name="lc_invite_run")
    op.drop_table("lc_invite_run")
