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


#: How many clashing addresses the refusal names.
SHOWN = 10


def _refuse_clashing_addresses() -> None:
    """Refuse, before anything is dropped, while two live invitations of one contract share an address (the
    old holder's, linked to them, and the new holder's): the index before lc0011 cannot hold both. (Letting
    CREATE INDEX fail instead would leave SQLite, whose DDL Alembic does not roll back, without the index.)"""
    if op.get_context().as_sql:
        return
    clashes = op.get_bind().execute(sa.text(
        "SELECT c.code, i.email, count(*) FROM lc_invitation i JOIN lc_contract c ON c.id = i.contract_id "
        f"WHERE i.{LIVE} GROUP BY c.code, i.email HAVING count(*) > 1 ORDER BY c.code, i.email")).all()
    if not clashes:
        return
    shown = "; ".join(f"{code}: {email} ({n} live invitations)" for code, email, n in clashes[:SHOWN])
    more = f" and {len(clashes) - SHOWN} more" if len(clashes) > SHOWN else ""
    raise RuntimeError(
        f"{len(clashes)} addresses are on more than one live invitation of the same contract ({shown}{more}): an "
        "address that changed hands is on the invitation of its old holder and on its new holder's. The schema "
        "before lc0011 allows one live invitation per address and contract. Stay at lc0011, or first revoke all "
        "but one live invitation of each address (in the admin's Invitations tab; one with enrollments cannot be "
        "revoked: then stay), then downgrade again.")


def downgrade() -> None:
    _refuse_clashing_addresses()
    op.drop_index("uq_lc_invitation_live_email", table_name="lc_invitation")
    _email_index(LIVE)
