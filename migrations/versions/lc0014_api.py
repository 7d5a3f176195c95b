"""Integration API: API keys, Idempotency-Key answers, and one contract per (source, external id).

Revision ID: lc0014_api
Revises: lc0013
Create Date: 2026-12-02

* ``lc_api_key``: the keys of ``<url_prefix>/api/v1`` (name, scopes, public prefix, SHA-256 of the secret).
* ``lc_idempotency_key``: per API principal, each ``Idempotency-Key`` with the request's hash and the stored answer.
* ``uq_lc_contract_external``: a partial unique index on ``lc_contract (source, external_id)`` where both are set,
  which makes ``PUT /contracts/by-external/{source}/{external_id}`` create one contract however many requests race.
  A database that already holds two contracts with the same source and external id cannot take it: the upgrade
  stops on the index; give one of them another external id (admin) and upgrade again.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "lc0014_api"
down_revision = "lc0013"
branch_labels = None
depends_on = None

EXTERNAL_SQL = "source IS NOT NULL AND external_id IS NOT NULL"


def upgrade() -> None:
    op.create_table(
        "lc_api_key",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False, unique=True),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "lc_idempotency_key",
        sa.Column("principal", sa.String(100), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("operation", sa.String(500), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_lc_idempotency_key_created", "lc_idempotency_key", ["created_at"])
    op.create_index("uq_lc_contract_external", "lc_contract", ["source", "external_id"], unique=True,
                    sqlite_where=sa.text(EXTERNAL_SQL), postgresql_where=sa.text(EXTERNAL_SQL))


def downgrade() -> None:
    op.drop_index("uq_lc_contract_external", table_name="lc_contract")
    op.drop_index("ix_lc_idempotency_key_created", table_name="lc_idempotency_key")
    op.drop_table("lc_idempotency_key")
    op.drop_table("lc_api_key")
