"""The integration tables: webhook endpoints, API keys and the Idempotency-Keys of API requests."""
from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from .base import INFO, NEVER_REUSED_IDS, _Row, utcnow


class WebhookEndpoint(_Row):
    """A URL that receives the events it subscribed to, signed with its secret (Standard Webhooks).

    ``events`` holds the chosen event types between commas (``",contract.created,code.redeemed,"``) so that
    the one statement a service call spends on webhooks can pick the subscribers with a ``LIKE``. After
    ``LEARNING_CONTRACTS_WEBHOOK_MAX_FAILURES`` consecutive failed attempts it is disabled (``active`` false,
    ``disabled_reason`` says why) until an admin enables it again.
    """

    __tablename__ = "lc_webhook_endpoint"
    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(sa.String(320), nullable=False)
    #: ``whsec_`` + base64 of 32 random bytes.
    secret: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    events: Mapped[str] = mapped_column(sa.String(500), nullable=False)
    active: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    consecutive_failures: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, nullable=False, default=utcnow)

    @property
    def event_types(self) -> list[str]:
        """The subscribed event types, in the order they were chosen."""
        return [event for event in self.events.split(",") if event]

    @declared_attr.directive
    def __table_args__(cls) -> Any:
        return (NEVER_REUSED_IDS,)

    def __repr__(self) -> str:
        return f"<WebhookEndpoint {self.id} {self.url!r}>"


class ApiKey(_Row):
    """A key of the integration API: its name, scopes, and the SHA-256 of its secret (never the secret itself).

    ``prefix`` is the public start of the key (``lc_<prefix>_<secret>``), unique, so a request's key is found by
    one index look-up and then compared by hash in constant time."""

    __tablename__ = "lc_api_key"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    prefix: Mapped[str] = mapped_column(sa.String(16), nullable=False, unique=True)
    secret_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    #: Space-separated scopes (``contracts:read contracts:write invitations:write``).
    scopes: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, nullable=False, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime, nullable=True)
    __table_args__: ClassVar[Any] = NEVER_REUSED_IDS

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"


class IdempotencyKey(_Row):
    """One ``Idempotency-Key`` of one API principal: claimed by the first request (an INSERT that only one
    concurrent request wins), then holding its answer, which retries with the same key get back."""

    __tablename__ = "lc_idempotency_key"
    principal: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    #: ``METHOD path`` of the first request (a key names one operation).
    operation: Mapped[str] = mapped_column(sa.String(500), nullable=False)
    #: SHA-256 of the method, path and body of the first request.
    request_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    #: ``None`` while the first request runs; then its HTTP status.
    status: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    response: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, nullable=False, default=utcnow)

    @declared_attr.directive
    def __table_args__(cls) -> Any:
        return (sa.Index("ix_lc_idempotency_key_created", "created_at"), {"info": INFO})
