"""Webhooks: endpoints that subscribe to events, and the events themselves, written with the change they
announce (a transactional outbox) and delivered by the notification machinery.

Each delivery is a row of ``lc_notification`` of kind "webhook" (one per event and subscribed endpoint), so
the one outbox sends, retries with backoff, takes over sends cut short by a crash, queues RQ jobs and
counts what ``flask contracts deliver`` did for e-mails and webhooks alike (see :mod:`.webhook_http` for the
HTTP side). A service call spends ONE statement on webhooks: an ``INSERT … SELECT`` from the endpoints
table that inserts nothing when no active endpoint subscribes to the event.
"""
from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import secrets
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from .. import errors
from ..enums import DeliveryStatus, NotificationKind, WebhookEvent
from ..i18n import _
from ..models import Contract, Models, Notification, WebhookEndpoint
from . import outbox
from ._core import _is_postgresql, _m, _now, _session, _statement, transactional
from .notifications import deliver_after_commit
from .webhook_http import ensure_available, url_problem

_COLUMNS = ["kind", "contract_id", "endpoint_id", "recipient", "status", "attempts", "next_attempt_at", "created_at",
            "payload"]


# ---------------------------------------------------------------------------------------------
# events
# ---------------------------------------------------------------------------------------------
def jsonable(value: Any) -> Any:
    """``value`` as JSON can hold it: enums by value, dates in ISO 8601, other host keys as text."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)  # a host key of another type (UUID …)


def _stamp(moment: dt.datetime) -> str:
    return moment.replace(microsecond=0).isoformat() + "Z"


def contract_ref(contract: Contract) -> dict[str, Any]:
    """What every event says of its contract (from the caller's loaded object)."""
    return {"id": contract.id, "code": contract.code, "external_id": contract.external_id, "source": contract.source}


def contract_data(contract: Contract) -> dict[str, Any]:
    """A contract's fields for ``contract.created``."""
    return {**contract_ref(contract), "title": contract.title, "type": jsonable(contract.contract_type),
            "seats": contract.seats, "valid_from": jsonable(contract.valid_from),
            "valid_until": jsonable(contract.valid_until)}


def _subscribers_statement(m: Models, many: bool, postgresql: bool) -> sa.Insert:
    """``INSERT INTO lc_notification … SELECT … FROM lc_webhook_endpoint WHERE active AND events LIKE …``:
    one delivery per active endpoint subscribed to the event (``many``: per endpoint and per item of a JSON
    array of payloads, unnested by the database), returning the claims."""
    n, e, p = m.Notification.__table__, m.WebhookEndpoint.__table__, sa.bindparam
    if many:
        items = (sa.func.json_array_elements(p("p_payloads", type_=sa.JSON)) if postgresql
                 else sa.func.json_each(p("p_payloads", type_=sa.JSON))).table_valued("value").alias("lc_events")
        payload: sa.ColumnElement[Any] = items.c.value
    else:
        payload = p("p_payload", type_=sa.JSON)
    select = sa.select(sa.literal(NotificationKind.WEBHOOK.value, sa.String), p("p_contract", type_=sa.Integer), e.c.id,
                       e.c.url, p("p_status", type_=sa.String), p("p_attempts", type_=sa.Integer),
                       p("p_next", type_=sa.DateTime), p("p_now", type_=sa.DateTime), payload
                       ).where(e.c.active.is_(True), e.c.events.like(p("p_event", type_=sa.String)))
    if many:
        select = select.select_from(e).join(items, sa.true())
    return sa.insert(n).from_select(_COLUMNS, select).returning(*outbox.returned(m))


def record_events(event: WebhookEvent, contract_id: int, items: Sequence[dict[str, Any]]) -> list[outbox.Claim]:
    """Write the deliveries of ``event`` (one per item of ``items``, each the event's ``data``) to every active
    endpoint subscribed to it, in the running transaction and by ONE statement (none when ``items`` is
    empty); after the commit they are sent (immediate mode) or queued. Returns the claims."""
    if not items:
        return []
    now, postgresql = _now(), _is_postgresql()
    events = [{"type": event.value, "timestamp": _stamp(now), "data": data} for data in items]
    state = outbox.birth_state(now)
    params: dict[str, Any] = {"p_contract": contract_id, "p_status": state["status"].value,
                              "p_attempts": state["attempts"], "p_next": state["next_attempt_at"], "p_now": now,
                              "p_event": f"%,{event.value},%"}
    many = len(events) > 1
    if many:
        params["p_payloads"] = events
    else:
        params["p_payload"] = events[0]
    stmt = _statement(f"webhook_events_{int(many)}_{int(postgresql)}",
                      lambda m: _subscribers_statement(m, many, postgresql))
    claims = outbox.claims_from(_session().connection().execute(stmt, params))
    deliver_after_commit(claims)
    return claims


def record_event(event: WebhookEvent, contract_id: int, data: dict[str, Any]) -> list[outbox.Claim]:
    """:func:`record_events` of one event."""
    return record_events(event, contract_id, [data])


# ---------------------------------------------------------------------------------------------
# endpoints
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class NewEndpoint:
    """A created endpoint and its signing secret (``whsec_…``), to give to the receiver."""

    id: int
    url: str
    events: tuple[str, ...]
    secret: str


def _clean_events(events: Iterable[str | WebhookEvent]) -> list[str]:
    chosen: list[str] = []
    for raw in events:
        value = raw.value if isinstance(raw, WebhookEvent) else str(raw).strip()
        try:
            name = WebhookEvent(value).value
        except ValueError:
            raise errors.ValidationError(_("Unknown event type %(event)s; choose among %(known)s.", event=value,
                                           known=", ".join(e.value for e in WebhookEvent)), field="events") from None
        if name not in chosen:
            chosen.append(name)
    if not chosen:
        raise errors.ValidationError(_("Choose at least one event type."), field="events")
    return chosen


@transactional
def create_webhook_endpoint(url: str, events: Iterable[str | WebhookEvent]) -> NewEndpoint:
    """Create an active endpoint for ``url`` subscribed to ``events`` with a new random secret
    (``whsec_`` + base64 of 32 bytes). Refuses (``WebhooksUnavailable``) without the ``[webhooks]`` extra,
    and a URL :func:`.webhook_http.url_problem` rejects (``ValidationError`` on ``url``)."""
    ensure_available()
    url = (url or "").strip()
    problem = url_problem(url, resolve=False)
    if problem is not None:
        raise errors.ValidationError(problem, field="url")
    chosen = _clean_events(events)
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")
    endpoint = _m().WebhookEndpoint(url=url, secret=secret, events="," + ",".join(chosen) + ",", active=True,
                                    consecutive_failures=0, created_at=_now())
    _session().add(endpoint)
    _session().flush()
    return NewEndpoint(endpoint.id, url, tuple(chosen), secret)


def webhook_endpoints() -> list[WebhookEndpoint]:
    """Every endpoint, oldest first."""
    m = _m()
    return list(_session().execute(sa.select(m.WebhookEndpoint).order_by(m.WebhookEndpoint.id)).scalars())


def get_webhook_endpoint(endpoint_id: int) -> WebhookEndpoint:
    """The endpoint ``endpoint_id`` (``WebhookEndpointNotFound`` when there is none)."""
    endpoint = _session().get(_m().WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise errors.WebhookEndpointNotFound()
    return endpoint


@transactional
def set_webhook_endpoint_active(endpoint_id: int, active: bool, *, reason: str | None = None) -> WebhookEndpoint:
    """Enable (its failure count starts again from zero) or disable (with ``reason``) an endpoint."""
    endpoint = get_webhook_endpoint(endpoint_id)
    endpoint.active = active
    endpoint.consecutive_failures = 0 if active else endpoint.consecutive_failures
    endpoint.disabled_reason = None if active else (reason or _("Disabled by an admin."))
    return endpoint


@transactional
def delete_webhook_endpoint(endpoint_id: int) -> None:
    """Delete an endpoint and its deliveries (waiting ones are not sent)."""
    m = _m()
    endpoint = get_webhook_endpoint(endpoint_id)
    _session().execute(sa.delete(m.Notification).where(m.Notification.endpoint_id == endpoint_id)
                       .execution_options(synchronize_session=False))
    _session().delete(endpoint)


def webhook_deliveries(*, endpoint_id: int | None = None, limit: int = 100) -> list[Notification]:
    """The latest webhook deliveries (of ``endpoint_id``, or of every endpoint), newest first."""
    m = _m()
    n = m.Notification
    query = sa.select(n).where(n.kind == NotificationKind.WEBHOOK)
    if endpoint_id is not None:
        query = query.where(n.endpoint_id == endpoint_id)
    return list(_session().execute(query.order_by(n.id.desc()).limit(limit)).scalars())


@transactional
def retry_webhook_delivery(delivery_id: int) -> bool:
    """Give a failed (or skipped: its endpoint was disabled) webhook delivery a fresh set of attempts, due now
    (sent at once in immediate mode). Returns whether there was such a delivery to retry."""
    m, now = _m(), _now()
    n = m.Notification.__table__
    state = outbox.birth_state(now)
    stmt = (sa.update(n).where(n.c.id == delivery_id, n.c.kind == NotificationKind.WEBHOOK.value,
                               n.c.status.in_([DeliveryStatus.FAILED.value, DeliveryStatus.SKIPPED.value]))
            .values(status=state["status"].value, attempts=state["attempts"], next_attempt_at=state["next_attempt_at"],
                    last_error=None)
            .returning(*outbox.returned(m)))
    claims = outbox.claims_from(_session().connection().execute(stmt))
    deliver_after_commit(claims)
    return bool(claims)
