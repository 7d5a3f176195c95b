"""``Idempotency-Key`` of the integration API: the first request with a key runs, its answer is stored, and a retry
with the same key gets that answer back without running again (draft-ietf-httpapi-idempotency-key-header).

The first request *claims* the key with an ``INSERT … ON CONFLICT DO NOTHING`` committed on its own, before any
work: of several requests racing with one key (several processes), exactly one inserts the row. The others find
the row: once the first has stored its answer they replay it; while it still runs they wait for it (up to
``wait`` seconds) and then answer ``IdempotencyKeyInProgress`` (409). The same key with another method, path or
body is refused (``IdempotencyKeyReused``, 422). A request that failed unexpectedly gives its key back, so a
retry runs it. Keys expire after ``EXPIRES`` (24 hours): then the key may be used again.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import time
from typing import Any

import sqlalchemy as sa

from .. import errors
from ._core import _is_postgresql, _m, _now, _session, transactional

#: How long an idempotency key and its answer are kept.
EXPIRES = dt.timedelta(hours=24)


@dataclasses.dataclass(frozen=True)
class Claimed:
    """The outcome of :func:`claim_idempotency_key`: ``replay`` holds the stored ``(status, body)`` of an earlier
    request with the key; ``None``: this request claimed the key and must run, then call ``store``."""

    replay: tuple[int, Any] | None


@transactional
def _try_claim(principal: str, key: str, operation: str, request_hash: str) -> bool:
    m, session = _m(), _session()
    table = m.IdempotencyKey.__table__
    now = _now()
    session.execute(sa.delete(table).where(table.c.created_at < now - EXPIRES))
    if _is_postgresql():
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert  # type: ignore[assignment]
    inserted = session.execute(
        dialect_insert(table).values(principal=principal, key=key, operation=operation, request_hash=request_hash,
                                     status=None, response=None, created_at=now)
        .on_conflict_do_nothing().returning(table.c.key)).first()
    return inserted is not None


def _stored(principal: str, key: str) -> Any:
    m = _m()
    table = m.IdempotencyKey.__table__
    row = _session().execute(sa.select(table).where(table.c.principal == principal, table.c.key == key)).first()
    _session().rollback()  # end the read: the next poll sees what others committed since
    return row


def claim_idempotency_key(principal: str, key: str, operation: str, request_hash: str, *, wait: float = 10.0
                          ) -> Claimed:
    """Claim ``key`` for this request of ``principal``, or return the answer stored for it (see the module)."""
    deadline = time.monotonic() + wait
    while True:
        if _try_claim(principal, key, operation, request_hash):
            return Claimed(None)
        row = _stored(principal, key)
        if row is None:  # expired and deleted between our insert and read: claim again
            continue
        if row.operation != operation or row.request_hash != request_hash:
            raise errors.IdempotencyKeyReused()
        if row.status is not None:
            return Claimed((int(row.status), row.response))
        if time.monotonic() >= deadline:
            raise errors.IdempotencyKeyInProgress()
        time.sleep(0.05)


@transactional
def store_idempotent_answer(principal: str, key: str, status: int, body: Any) -> None:
    """Keep the answer of the request that claimed ``key`` (replayed to every retry until the key expires)."""
    table = _m().IdempotencyKey.__table__
    _session().execute(sa.update(table).where(table.c.principal == principal, table.c.key == key)
                       .values(status=status, response=body))


@transactional
def release_idempotency_key(principal: str, key: str) -> None:
    """Give a claimed key back (its request failed unexpectedly and changed nothing it could report)."""
    table = _m().IdempotencyKey.__table__
    _session().execute(sa.delete(table).where(table.c.principal == principal, table.c.key == key,
                                              table.c.status.is_(None)))
