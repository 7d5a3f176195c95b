"""The outbox (``lc_notification``): writing notifications with what they notify, claiming them for a sender
safely (several workers, crashed senders), and recording what each attempt did.

Every notification is written in the transaction of the change it announces, by one statement per batch.
In immediate mode it is written already claimed by the writing process ("sending", with a lease), which
delivers it right after the commit; if that process dies first, the lease runs out and any later delivery
pass (``flask contracts deliver``, a worker, ``tick``) takes it over. In queued mode it is written pending.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa

from ..config import config_value
from ..enums import DeliveryStatus, NotificationKind
from ..models import DUE_SQL, FAILED_SQL, KEYED_SQL, Models
from ._core import _BATCH, _is_postgresql, _m, _now, _one_of, _session, _statement, transactional

#: Longest error text kept on a notification.
_ERROR_LENGTH = 1000


class Claim(NamedTuple):
    """A notification this process holds (status "sending" under its lease) and is about to deliver.

    (A named tuple: a bulk invite makes 10,000 of them, and a tuple is built several times faster than a
    frozen dataclass.)"""

    id: int
    kind: NotificationKind
    contract_id: int
    invitation_id: int | None
    recipient: str
    attempts: int  #: attempts including this one
    payload: dict[str, Any] | None
    #: ``recipient`` is the learner's current address, not the one the row was written with (recorded by
    #: :func:`finish`): the learner's address changed since (see ``recipients.recipient_of``)
    readdressed: bool = False
    #: Written by the transaction this process just committed, from the invitee's address then: a new
    #: invitation's notice (a bulk invite loads no learner again to check where it goes)
    fresh: bool = False
    endpoint_id: int | None = None  #: the endpoint of a webhook delivery


class Outcome(NamedTuple):
    """What one delivery attempt did: ``status`` is SENT, SKIPPED (``error`` says why) or FAILED (``error``)."""

    claim: Claim
    status: DeliveryStatus
    error: str | None = None


def immediate() -> bool:
    """Whether notifications are sent right after the commit (``LEARNING_CONTRACTS_DELIVERY``)."""
    mode = str(config_value("DELIVERY")).strip().lower()
    if mode not in {"immediate", "queued"}:
        raise ValueError(f"LEARNING_CONTRACTS_DELIVERY must be 'immediate' or 'queued', not {mode!r}")
    return mode == "immediate"


def _lease_until(now: dt.datetime) -> dt.datetime:
    return now + dt.timedelta(seconds=int(config_value("DELIVERY_LEASE")))


def birth_state(now: dt.datetime) -> dict[str, Any]:
    """The delivery columns of a new notification: claimed by this process (immediate mode), else pending."""
    if immediate():
        return {"status": DeliveryStatus.SENDING, "attempts": 1, "next_attempt_at": _lease_until(now)}
    return {"status": DeliveryStatus.PENDING, "attempts": 0, "next_attempt_at": now}


def returned(m: Models) -> tuple[sa.Column[Any], ...]:
    """The columns of lc_notification a claim is built from (``RETURNING`` them)."""
    c = m.Notification.__table__.c
    return c.id, c.kind, c.contract_id, c.invitation_id, c.recipient, c.attempts, c.payload, c.endpoint_id


def claims_from(result: sa.Result[Any]) -> list[Claim]:
    """The claims of the rows a statement returned (:func:`returned`)."""
    return [Claim(r.id, NotificationKind(r.kind), r.contract_id, r.invitation_id, r.recipient, r.attempts, r.payload,
                  endpoint_id=r.endpoint_id) for r in result.all()]


def _invitation_notices_statement(m: Models, postgresql: bool) -> sa.Insert:
    """``INSERT INTO lc_notification (…) SELECT …`` of one batch of new invitations, with bind parameters
    (built once per set of models: a bulk invite runs it once per batch of 500)."""
    n, inv, p = m.Notification.__table__, m.Invitation.__table__, sa.bindparam
    # Typed parameters (PostgreSQL's driver casts them; SQLite stores them as given).
    constants = (sa.literal(NotificationKind.INVITATION.value, sa.String), p("p_contract", type_=sa.Integer))
    delivery = (p("p_status", type_=sa.String), p("p_attempts", type_=sa.Integer), p("p_next", type_=sa.DateTime),
                p("p_now", type_=sa.DateTime), p("p_payload", type_=sa.JSON))
    if postgresql:
        # From the ids and e-mails the invitations' own INSERT just returned, as two arrays (no read of
        # lc_invitation: within one transaction its statistics are stale and the planner may scan it).
        from sqlalchemy.dialects.postgresql import ARRAY

        select = sa.select(*constants, sa.func.unnest(p("p_ids", type_=ARRAY(sa.Integer))),
                           sa.func.unnest(p("p_emails", type_=ARRAY(sa.String))), *delivery)
    else:
        # SQLite lets one writer in at a time and new ids are above every existing one: the range of the ids
        # this transaction just inserted holds only them (a short statement instead of a 500-item list).
        select = sa.select(*constants, inv.c.id, inv.c.email, *delivery).where(
            inv.c.contract_id == p("p_contract"), inv.c.id.between(p("p_low"), p("p_high")))
    return (sa.insert(n).from_select(["kind", "contract_id", "invitation_id", "recipient", "status", "attempts",
                                      "next_attempt_at", "created_at", "payload"], select)
            .returning(n.c.id, n.c.invitation_id, n.c.recipient))


def with_invitation_notices(insert: sa.Insert, contract_id: int, now: dt.datetime, payload: dict[str, Any]
                            ) -> tuple[sa.Select[Any], dict[str, Any]]:
    """PostgreSQL: ``insert`` (an INSERT INTO lc_invitation … RETURNING id, email) and the "invitation"
    notification of each row it inserts, as ONE statement (two data-modifying CTEs): the delivery state is
    written by the statement that creates the invitations, with no second round trip and no second copy of
    the ids and e-mails sent to the server. The statement returns ``(notification id, invitation id, e-mail)``
    per new invitation; the parameters go with it."""
    n = _m().Notification.__table__
    state = birth_state(now)
    new = insert.cte("lc_new_invitations")
    p = sa.bindparam
    notices = (sa.insert(n).from_select(
        ["kind", "contract_id", "invitation_id", "recipient", "status", "attempts", "next_attempt_at", "created_at",
         "payload"],
        sa.select(sa.literal(NotificationKind.INVITATION.value, sa.String), p("p_contract", type_=sa.Integer),
                  new.c.id, new.c.email, p("p_status", type_=sa.String), p("p_attempts", type_=sa.Integer),
                  p("p_next", type_=sa.DateTime), p("p_now", type_=sa.DateTime), p("p_payload", type_=sa.JSON)))
        .returning(n.c.id, n.c.invitation_id, n.c.recipient).cte("lc_new_notices"))
    params = {"p_contract": contract_id, "p_status": state["status"].value, "p_attempts": state["attempts"],
              "p_next": state["next_attempt_at"], "p_now": now, "p_payload": payload}
    return sa.select(notices.c.id, notices.c.invitation_id, notices.c.recipient), params


def invitation_claims(contract_id: int, rows: Sequence[tuple[int, int, str]], payload: dict[str, Any]
                      ) -> list[Claim]:
    """The claims of new "invitation" notifications from ``(notification id, invitation id, e-mail)`` rows."""
    kind, attempts = NotificationKind.INVITATION, 1 if immediate() else 0
    return [Claim(nid, kind, contract_id, iid, email, attempts, payload, False, True) for nid, iid, email in rows]


def insert_invitation_notices(contract_id: int, invitations: Sequence[tuple[int, str]], now: dt.datetime,
                              payload: dict[str, Any]) -> list[Claim]:
    """One statement for a batch of new invitations (``(id, e-mail)`` pairs of ``contract_id``, inserted by the
    running transaction): an "invitation" notification for each, to its e-mail."""
    state, postgresql = birth_state(now), _is_postgresql()
    params: dict[str, Any] = {"p_contract": contract_id, "p_status": state["status"].value,
                              "p_attempts": state["attempts"], "p_next": state["next_attempt_at"], "p_now": now,
                              "p_payload": payload}
    ids = [i for i, _e in invitations]
    if postgresql:
        params.update(p_ids=ids, p_emails=[e for _i, e in invitations])
    else:
        params.update(p_low=min(ids), p_high=max(ids))
    stmt = _statement(f"invitation_notices_{'pg' if postgresql else 'other'}",
                      lambda m: _invitation_notices_statement(m, postgresql))
    kind, attempts = NotificationKind.INVITATION, state["attempts"]
    return [Claim(nid, kind, contract_id, iid, email, attempts, payload, False, True)
            for nid, iid, email in _session().connection().execute(stmt, params).all()]


def insert_notices(rows: list[dict[str, Any]]) -> list[Claim]:
    """Insert notifications whose ``dedupe_key`` is not taken yet (concurrent writers of the same notice
    insert it once: ``ON CONFLICT DO NOTHING``); return the ones this call inserted."""
    if not rows:
        return []
    m, session = _m(), _session()
    table = m.Notification.__table__
    if _is_postgresql():
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert  # type: ignore[assignment]
    stmt = (dialect_insert(table)
            .on_conflict_do_nothing(index_elements=["dedupe_key"], index_where=sa.text(KEYED_SQL))
            .returning(*returned(m)))
    claims: list[Claim] = []
    for start in range(0, len(rows), _BATCH):
        claims += claims_from(session.connection().execute(stmt.values(rows[start:start + _BATCH])))
    return claims


def id_filter(column: sa.ColumnElement[Any], ids: list[int]) -> sa.ColumnElement[bool]:
    """``column IN ids``; a two-parameter range when ``ids`` are consecutive (the rows of one bulk insert) and
    the database is not PostgreSQL (where one array parameter is as short)."""
    if ids and not _is_postgresql() and max(ids) - min(ids) + 1 == len(set(ids)):
        return column.between(min(ids), max(ids))
    return _one_of(column, ids)


def existing_keys(keys: Sequence[str]) -> set[str]:
    """The dedupe keys of ``keys`` already used (to skip notices that were created before, cheaply)."""
    column = _m().Notification.__table__.c.dedupe_key
    found: set[str | None] = set()
    for start in range(0, len(keys), _BATCH):
        chunk = list(keys[start:start + _BATCH])
        found.update(_session().execute(sa.select(column).where(_one_of(column, chunk))).scalars())
    return {key for key in found if key is not None}


def reclaim_by_keys(keys: Sequence[str], now: dt.datetime) -> list[Claim]:
    """Take over the notifications with these dedupe keys that are pending, failed, or whose sender's lease ran
    out (a resend clicked again while its first attempt waits for a retry): due now, claimed when immediate."""
    m = _m()
    n = m.Notification.__table__
    state = birth_state(now)
    takeable = sa.or_(n.c.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value]),
                      sa.and_(n.c.status == DeliveryStatus.SENDING.value, n.c.next_attempt_at <= now))
    attempts = n.c.attempts + 1 if state["attempts"] else n.c.attempts
    stmt = (sa.update(n).where(n.c.dedupe_key.in_(list(keys)), takeable)
            .values(status=state["status"].value, attempts=attempts, next_attempt_at=state["next_attempt_at"],
                    last_error=None)
            .returning(*returned(m)))
    return claims_from(_session().connection().execute(stmt))


@transactional
def claim_due(limit: int, ids: Sequence[int] | None = None) -> list[Claim]:
    """Claim up to ``limit`` due notifications (pending and due, or sending under a lease that ran out), oldest
    first, for this process: they become "sending" under a new lease, one more attempt counted.

    Safe with several senders at once: on PostgreSQL the candidates are locked with ``FOR UPDATE SKIP
    LOCKED`` (each sender gets other rows, nobody waits); on SQLite the conditional UPDATE runs while this
    transaction holds the only write lock. ``ids`` limits the claim to those notifications."""
    now = _now()

    def build(m: Models) -> sa.Update:
        n = m.Notification.__table__
        # The literal status list matches the partial index ix_lc_notification_due.
        due = sa.and_(sa.text(DUE_SQL), n.c.next_attempt_at <= sa.bindparam("p_now"))
        # A materialised CTE: PostgreSQL runs it once. As a plain ``IN (subquery)`` the planner may run the
        # locking subquery again per row, and LIMIT would no longer bound the claim.
        candidates = (sa.select(n.c.id).where(due).order_by(n.c.next_attempt_at, n.c.id)
                      .limit(sa.bindparam("p_limit")).with_for_update(skip_locked=True)
                      .cte("claimable").prefix_with("MATERIALIZED", dialect="postgresql"))
        return (sa.update(n).where(n.c.id.in_(sa.select(candidates.c.id)), due)
                .values(status=DeliveryStatus.SENDING.value, attempts=n.c.attempts + 1,
                        next_attempt_at=sa.bindparam("p_lease"))
                .returning(*returned(m)))

    params = {"p_now": now, "p_lease": _lease_until(now), "p_limit": limit}
    if ids is None:
        return claims_from(_session().connection().execute(_statement("claim_due", build), params))
    m = _m()
    n = m.Notification.__table__
    stmt = (sa.update(n).where(_one_of(n.c.id, list(ids)), sa.text(DUE_SQL), n.c.next_attempt_at <= now)
            .values(status=DeliveryStatus.SENDING.value, attempts=n.c.attempts + 1, next_attempt_at=params["p_lease"])
            .returning(*returned(m)))
    return claims_from(_session().connection().execute(stmt))[:limit]


@transactional
def extend_lease(claims: Sequence[Claim]) -> list[Claim]:
    """Renew this process's lease on ``claims`` before a long delivery goes on; returns the ones still ours."""
    m, now = _m(), _now()
    n = m.Notification.__table__
    stmt = (sa.update(n).where(_one_of(n.c.id, [c.id for c in claims]), n.c.status == DeliveryStatus.SENDING.value)
            .values(next_attempt_at=_lease_until(now)).returning(n.c.id, n.c.attempts))
    ours = {(row.id, row.attempts) for row in _session().connection().execute(stmt)}
    return [c for c in claims if (c.id, c.attempts) in ours]


def backoff(attempts: int) -> dt.timedelta:
    """The wait before the next attempt after ``attempts`` failed ones: ``DELIVERY_BACKOFF`` seconds doubled
    per failed attempt, at most ``DELIVERY_BACKOFF_MAX``, with ±20 % jitter so retries do not come in herds."""
    base, cap = int(config_value("DELIVERY_BACKOFF")), int(config_value("DELIVERY_BACKOFF_MAX"))
    seconds = min(cap, base * 2 ** max(0, min(attempts - 1, 30)))
    return dt.timedelta(seconds=seconds * random.uniform(0.8, 1.2))


@dataclasses.dataclass
class Finished:
    """What :func:`finish` recorded: the outcomes, and the failures that used their last attempt."""

    outcomes: list[Outcome]
    gave_up: list[Outcome]


def finish(outcomes: Sequence[Outcome]) -> Finished:
    """Record ``outcomes`` on their notifications (in the running transaction). Only rows this process still
    holds are changed: a row whose lease ran out and that another sender claimed since is left to it."""
    m, session, now = _m(), _session(), _now()
    n = m.Notification.__table__
    conn = session.connection()
    max_attempts = max(1, int(config_value("DELIVERY_ATTEMPTS")))
    ours = sa.and_(n.c.id == sa.bindparam("b_id"), n.c.status == DeliveryStatus.SENDING.value,
                   n.c.attempts == sa.bindparam("b_attempts"))
    by_status: dict[DeliveryStatus, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_status[outcome.status].append(outcome)
    gave_up = []
    readdressed = [{"b_id": o.claim.id, "b_recipient": o.claim.recipient} for o in outcomes if o.claim.readdressed]
    if readdressed:
        conn.execute(sa.update(n).where(n.c.id == sa.bindparam("b_id"))
                     .values(recipient=sa.bindparam("b_recipient")), readdressed)
    if by_status[DeliveryStatus.FAILED]:
        params = []
        for o in by_status[DeliveryStatus.FAILED]:
            final = o.claim.attempts >= max_attempts
            if final:
                gave_up.append(o)
            params.append({"b_id": o.claim.id, "b_attempts": o.claim.attempts,
                           "b_error": (o.error or "")[:_ERROR_LENGTH],
                           "b_status": (DeliveryStatus.FAILED if final else DeliveryStatus.PENDING).value,
                           "b_next": now if final else now + backoff(o.claim.attempts)})
        conn.execute(sa.update(n).where(ours).values(status=sa.bindparam("b_status"),
                                                     last_error=sa.bindparam("b_error"),
                                                     next_attempt_at=sa.bindparam("b_next")), params)
    # Sent and skipped rows: one set-based UPDATE per 500 rows of the same attempt count (and reason), not
    # one statement per row (a bulk invite records 10,000 outcomes).
    groups: dict[tuple[DeliveryStatus, int, str | None], list[int]] = defaultdict(list)
    for status in (DeliveryStatus.SENT, DeliveryStatus.SKIPPED):
        for o in by_status[status]:
            groups[(status, o.claim.attempts, (o.error or "")[:_ERROR_LENGTH] if o.error else None)].append(o.claim.id)
    for (status, attempts, error), ids in groups.items():
        values: dict[str, Any] = {"status": status.value, "last_error": error}
        if status is DeliveryStatus.SENT:
            values["sent_at"] = now
        # One array parameter on PostgreSQL; elsewhere one range when the ids are consecutive, else short lists.
        consecutive = max(ids) - min(ids) + 1 == len(set(ids))
        chunk = len(ids) if _is_postgresql() or consecutive else _BATCH
        for start in range(0, len(ids), chunk):
            conn.execute(sa.update(n).where(id_filter(n.c.id, ids[start:start + chunk]),
                                            n.c.status == DeliveryStatus.SENDING.value, n.c.attempts == attempts)
                         .values(**values))
    return Finished(list(outcomes), gave_up)


def count_waiting() -> int:
    """Notifications not delivered yet (pending, or being sent)."""
    m = _m()
    return int(_session().execute(sa.select(sa.func.count()).select_from(m.Notification)
                                  .where(sa.text(DUE_SQL))).scalar_one())


def next_due() -> dt.datetime | None:
    """When the next waiting notification is due (``None`` when nothing waits)."""
    m = _m()
    value: dt.datetime | None = _session().execute(
        sa.select(sa.func.min(m.Notification.next_attempt_at)).where(sa.text(DUE_SQL))).scalar()
    return value


def reset_failed(contract_id: int, ids: Sequence[int] | None, now: dt.datetime) -> list[Claim]:
    """Give failed notifications of a contract (``ids``, or all; not its webhook deliveries, retried from their
    endpoint's list) a fresh set of attempts, due now (claimed at once in immediate mode); return them."""
    m = _m()
    n = m.Notification.__table__
    state = birth_state(now)
    where: list[sa.ColumnElement[bool]] = [n.c.contract_id == contract_id, sa.literal_column(FAILED_SQL, sa.Boolean),
                                           n.c.kind != NotificationKind.WEBHOOK.value]
    if ids is not None:
        where.append(n.c.id.in_(list(ids)))
    stmt = (sa.update(n).where(*where)
            .values(status=state["status"].value, attempts=state["attempts"], next_attempt_at=state["next_attempt_at"])
            .returning(*returned(m)))
    return claims_from(_session().connection().execute(stmt))

