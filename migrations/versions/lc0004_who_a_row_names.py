"""Who a row names: the inviter of an invitation and the subject of an "admin named/removed" history entry.

Revision ID: lc0004
Revises: lc0003
Create Date: 2026-12-01

Invitations kept only the inviter's display name (``invited_by``) and "Named X a contract admin" entries only
X's name in their message, so ``services.forget_user`` had to find a person's rows by name and relabelled
their namesakes' too. ``lc_invitation.invited_by_id`` and ``lc_history.subject_id`` now store the host key
(as text, like ``lc_history.actor_id``) of the person named; rows written before this revision have ``NULL``
there and are never rewritten by name (see the README, "Forgetting a person").
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "lc0004"
down_revision = "lc0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("lc_invitation", sa.Column("invited_by_id", sa.String(64), nullable=True))
    op.add_column("lc_history", sa.Column("subject_id", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("lc_history", "subject_id")
    op.drop_column("lc_invitation", "invited_by_id")
