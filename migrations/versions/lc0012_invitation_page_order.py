"""Invitation page order: indexes that serve the Invitations tab's order, so no page sorts a whole contract.

Revision ID: lc0012
Revises: lc0011
Create Date: 2026-12-02

The Invitations tab (admin and contract-admin dashboard) lists a contract's invitations newest first
(``ORDER BY invited_at DESC, id DESC`` with ``LIMIT``/``OFFSET``). With only ``(contract_id, status)`` to
go by, both databases read every invitation of the contract and sorted them for each page (266–281 ms at
100,000 invitations). ``(contract_id, invited_at, id)`` is read backwards instead, and stops after the page;
``(contract_id, status, invited_at, id)`` does the same for a page filtered by status and replaces
``(contract_id, status)``, whose look-ups and per-status counts it serves as well (one index more, not two).
"""
from __future__ import annotations

from alembic import op

revision = "lc0012"
down_revision = "lc0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_lc_invitation_page", "lc_invitation", ["contract_id", "invited_at", "id"])
    op.create_index("ix_lc_invitation_status_page", "lc_invitation", ["contract_id", "status", "invited_at", "id"])
    op.drop_index("ix_lc_invitation_contract_status", table_name="lc_invitation")


def downgrade() -> None:
    op.create_index("ix_lc_invitation_contract_status", "lc_invitation", ["contract_id", "status"])
    op.drop_index("ix_lc_invitation_status_page", table_name="lc_invitation")
    op.drop_index("ix_lc_invitation_page", table_name="lc_invitation")
