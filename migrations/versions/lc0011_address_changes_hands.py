"""An address identifies an invitation only while no account is linked to it.

Revision ID: lc0011
Revises: lc0010
Create Date: 2026-12-02

``uq_lc_invitation_live_email`` made every live invitation's address unique per contract, linked or not. When the
host changed a learner's address and another account then signed up with the old one, that account could not be
invited (the old holder's invitation "had" the address) and redeeming the code failed on the index (HTTP 500).
The index now covers only live invitations linked to nobody (Not Registered, and forgotten learners' rows);
linked invitations stay unique per learner through ``uq_lc_invitation_live_user``.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "lc0011"
down_revision = "lc0010"
branch_labels = None
depends_on = None

LIVE = "status != 'revoked'"
UNLINKED_LIVE = LIVE + " AND user_id IS NULL"


def _email_index(where: str) -> None:
    op.create_index("uq_lc_invitation_live_email", "lc_invitation", ["contract_id", "email"], unique=True,
                    sqlite_where=sa.text(where), postgresql_where=sa.text(where))


def upgrade() -> None:
    op.drop_index("uq_lc_invitation_live_email", table_name="lc_invitation")
    _email_index(UNLINKED_LIVE)


def downgrade() -> None:
    # Refused while two live invitations of one contract share an address (the new holder's and the old
    # holder's): the old index cannot hold them. The failed CREATE INDEX rolls the downgrade back.
    op.drop_index("uq_lc_invitation_live_email", table_name="lc_invitation")
    _email_index(LIVE)
