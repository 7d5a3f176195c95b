"""What is due on a day: reminders to invited learners, seats alerts and end-of-contract notices to contract
admins (``services.run_schedule`` / ``flask contracts tick``), "Remind all outstanding", and the seats alert
of the enrollment that reaches a threshold.

Each notice exists once: its ``lc_notification.dedupe_key`` names what it is about (the invitation and the
reminder day; the contract, its seat count and the threshold; the contract, its end date and the notice
day) and is inserted with ``ON CONFLICT DO NOTHING``, so two ticks at once, or a tick and the enrollment that
crosses the threshold, create it once. Adding seats or moving the end date changes the key: the notices are
re-armed.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from typing import Any

import sqlalchemy as sa

from ..config import config_numbers
from ..enums import ContractState, InvitationStatus, NotificationKind, WebhookEvent
from ..i18n import _, _n
from ..models import KEYED_SQL, Contract, Models
from ..rules import HostUser
from . import outbox, webhooks
from ._core import (_actor_fields, _format_date, _is_postgresql, _m, _now, _record, _rules, _session, _today,
                    transactional)
from .access import _ensure_active
from .delivery_states import count_invitations_with_failed_email
from .notifications import _history, deliver_after_commit, learner_link, site_link
from .outbox import Claim

#: A scheduled reminder missed (no tick ran on its day) is still sent up to this many days late, then never:
#: switching the scheduler on does not remind every invitation ever sent.
REMINDER_GRACE_DAYS = 7
#: Contracts that ended up to this many days ago get their "ended with unused seats" notice.
EXPIRED_NOTICE_WINDOW_DAYS = 30


@dataclasses.dataclass(frozen=True)
class ScheduleReport:
    """What one run of the scheduler created (each notice once, however often it runs)."""

    reminders: int = 0
    seat_alerts: int = 0
    expiry_notices: int = 0

    @property
    def total(self) -> int:
        return self.reminders + self.seat_alerts + self.expiry_notices


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time())


def _upsert_from_select(m: Models, select: sa.Select[Any]) -> list[Claim]:
    """``INSERT INTO lc_notification (…) <select> ON CONFLICT (dedupe_key) DO NOTHING RETURNING …``."""
    table = m.Notification.__table__
    if _is_postgresql():
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert  # type: ignore[assignment]
    columns = ["kind", "contract_id", "invitation_id", "recipient", "dedupe_key", "status", "attempts",
               "next_attempt_at", "created_at", "payload"]
    stmt = (dialect_insert(table).from_select(columns, select)
            .on_conflict_do_nothing(index_elements=["dedupe_key"], index_where=sa.text(KEYED_SQL))
            .returning(*outbox.returned(m)))
    return outbox.claims_from(_session().connection().execute(stmt))


def _reminder_select(m: Models, key_prefix: str, key_suffix: str, payload: dict[str, Any], now: dt.datetime,
                     *where: sa.ColumnElement[bool]) -> sa.Select[Any]:
    """Learner reminders for the live Outstanding and Not Registered invitations matching ``where``."""
    inv = m.Invitation.__table__.c
    state = outbox.birth_state(now)
    key = sa.literal(key_prefix, sa.String) + sa.cast(inv.id, sa.String) + sa.literal(key_suffix, sa.String)
    return sa.select(
        sa.literal(NotificationKind.REMINDER.value, sa.String), inv.contract_id, inv.id, inv.email, key,
        sa.literal(state["status"].value, sa.String), sa.literal(state["attempts"], sa.Integer),
        sa.literal(state["next_attempt_at"], sa.DateTime), sa.literal(now, sa.DateTime), sa.literal(payload, sa.JSON),
    ).where(inv.status.in_([InvitationStatus.OUTSTANDING.value, InvitationStatus.NOT_REGISTERED.value]), *where)


def _scheduled_reminders(today: dt.date, now: dt.datetime) -> list[Claim]:
    """Reminders ``REMINDER_DAYS`` days after each invitation, to live Outstanding and Not Registered ones of
    active contracts with reminders on. An invitation gets the latest step it is due for (``reminder:<id>:<day>``)."""
    m, days = _m(), config_numbers("REMINDER_DAYS")
    inv, con = m.Invitation.__table__.c, m.Contract.__table__.c
    link, claims = learner_link(), []
    for index, day in enumerate(days):
        later = days[index + 1] if index + 1 < len(days) else None
        until = min(later, day + REMINDER_GRACE_DAYS) if later is not None else day + REMINDER_GRACE_DAYS
        # invited on a date d with day <= today - d < until
        select = _reminder_select(
            m, "reminder:", f":{day}", {"link": link, "day": day}, now,
            inv.invited_at < _midnight(today - dt.timedelta(days=day - 1)),
            inv.invited_at >= _midnight(today - dt.timedelta(days=until - 1)),
            con.id == inv.contract_id, con.reminders_enabled.is_(True), con.valid_from <= today,
            con.valid_until >= today)
        claims += _upsert_from_select(m, select)
    by_contract: dict[int, int] = defaultdict(int)
    for claim in claims:
        by_contract[claim.contract_id] += 1
    for contract_id, n in by_contract.items():
        _history(contract_id, "reminded", _n("Sent a scheduled reminder to %(num)s learner who has not acted on "
                                             "their invitation yet.", "Sent scheduled reminders to %(num)s "
                                             "learners who have not acted on their invitation yet.", n))
    return claims


def _alert_rows(contract: Contract, kind: NotificationKind, key: str, payload: dict[str, Any],
                now: dt.datetime) -> list[dict[str, Any]]:
    """One notice per alert recipient of ``contract`` (``ContractRules.alert_recipients``), keyed ``key:<email>``."""
    payload = {**payload, "link": site_link("learning_contracts.manage_contract", contract_id=contract.id)}
    return [{"kind": kind, "contract_id": contract.id, "invitation_id": None, "recipient": email,
             "dedupe_key": f"{key}:{email}", "created_at": now, "payload": payload, **outbox.birth_state(now)}
            for email in _rules().alert_recipients(contract)]


def _seat_alert_rows(contract: Contract, threshold: int, now: dt.datetime) -> list[dict[str, Any]]:
    return _alert_rows(contract, NotificationKind.SEAT_ALERT, f"seats:{contract.id}:{contract.seats}:{threshold}",
                       {"threshold": threshold, "seats": contract.seats, "used": contract.seats_used}, now)


def _record_alerts(contracts: dict[int, Contract], claims: list[Claim]) -> None:
    """One history row per contract and kind of alert that was created."""
    grouped: dict[tuple[int, NotificationKind], list[Claim]] = defaultdict(list)
    for claim in claims:
        grouped[(claim.contract_id, claim.kind)].append(claim)
    for (contract_id, kind), items in grouped.items():
        contract, payload = contracts[contract_id], items[0].payload or {}
        to = ", ".join(sorted({c.recipient for c in items}))
        if kind is NotificationKind.SEAT_ALERT:
            message = _("Seats alert: %(threshold)s%% of the seats are used (%(used)s of %(seats)s); notified %(to)s.",
                        threshold=payload.get("threshold"), used=payload.get("used"), seats=payload.get("seats"),
                        to=to)
        elif kind is NotificationKind.EXPIRING:
            message = _n("Notice sent: the contract ends on %(date)s (in %(num)s day); notified %(to)s.",
                         "Notice sent: the contract ends on %(date)s (in %(num)s days); notified %(to)s.",
                         int(payload.get("days_left") or 0), date=_format_date(contract.valid_until), to=to)
        else:
            message = _n("Notice sent: the contract ended on %(date)s with %(num)s unused seat; notified %(to)s.",
                         "Notice sent: the contract ended on %(date)s with %(num)s unused seats; notified %(to)s.",
                         int(payload.get("unused") or 0), date=_format_date(contract.valid_until), to=to)
        _record(contract, kind.value, message)


def _new_notices(rows: list[dict[str, Any]]) -> list[Claim]:
    """Insert the notices of ``rows`` that do not exist yet (one look-up of their keys, then an insert that
    still skips any a concurrent run inserted meanwhile)."""
    taken = outbox.existing_keys([row["dedupe_key"] for row in rows])
    return outbox.insert_notices([row for row in rows if row["dedupe_key"] not in taken])


def _scheduled_alerts(today: dt.date, now: dt.datetime) -> tuple[list[Claim], list[Claim]]:
    """Seats alerts (the highest ``SEAT_ALERTS`` threshold reached) and end-of-contract notices."""
    m, session = _m(), _session()
    thresholds, notice_days = config_numbers("SEAT_ALERTS"), config_numbers("EXPIRY_NOTICE_DAYS")
    c = m.Contract
    conditions = []
    if thresholds:
        conditions.append(sa.and_(c.valid_from <= today, c.valid_until >= today, c.seats > 0,
                                  c.seats_used * 100 >= thresholds[0] * c.seats))
    if notice_days:
        conditions.append(sa.and_(c.valid_from <= today, c.valid_until >= today,
                                  c.valid_until <= today + dt.timedelta(days=notice_days[-1])))
    conditions.append(sa.and_(c.valid_until < today,
                              c.valid_until >= today - dt.timedelta(days=EXPIRED_NOTICE_WINDOW_DAYS),
                              c.seats_used < c.seats))
    contracts = {k.id: k for k in session.execute(sa.select(c).where(sa.or_(*conditions))).scalars()}
    seat_rows: list[dict[str, Any]] = []
    expiry_rows: list[dict[str, Any]] = []
    for contract in contracts.values():
        state = contract.state_on(today)
        reached = [t for t in thresholds if contract.seats and contract.seats_used * 100 >= t * contract.seats]
        if state is ContractState.ACTIVE and reached:
            seat_rows += _seat_alert_rows(contract, reached[-1], now)
        left = (contract.valid_until - today).days
        if state is ContractState.ACTIVE and notice_days and left <= notice_days[-1]:
            step = min(d for d in notice_days if left <= d)
            expiry_rows += _alert_rows(contract, NotificationKind.EXPIRING,
                                       f"expiring:{contract.id}:{contract.valid_until.isoformat()}:{step}",
                                       {"days_left": left, "day": step,
                                        "valid_until": contract.valid_until.isoformat()}, now)
        if state is ContractState.EXPIRED and contract.seats_used < contract.seats:
            expiry_rows += _alert_rows(contract, NotificationKind.EXPIRED,
                                       f"expired:{contract.id}:{contract.valid_until.isoformat()}",
                                       {"unused": contract.seats - contract.seats_used,
                                        "valid_until": contract.valid_until.isoformat()}, now)
    seat_claims, expiry_claims = _new_notices(seat_rows), _new_notices(expiry_rows)
    _record_alerts(contracts, seat_claims + expiry_claims)
    return seat_claims, expiry_claims


@transactional
def _run_schedule(today: dt.date) -> tuple[ScheduleReport, list[Claim]]:
    now = _now()
    reminders = _scheduled_reminders(today, now)
    seat_alerts, expiry = _scheduled_alerts(today, now)
    claims = reminders + seat_alerts + expiry
    deliver_after_commit(claims)
    return ScheduleReport(len(reminders), len(seat_alerts), len(expiry)), claims


def run_schedule(today: dt.date | None = None) -> ScheduleReport:
    """Create what is due on ``today`` (default ``ContractRules.today()``): reminders, seats alerts,
    end-of-contract notices; immediate mode sends them at once. Meant for cron (``flask contracts tick``):
    running it again, or twice at once, creates nothing twice."""
    report, _claims = _run_schedule(today or _today())
    return report


@transactional
def remind_outstanding(contract: Contract, *, actor: HostUser | None = None) -> int:
    """Remind every Outstanding and Not Registered invitation of ``contract`` now; return how many learners
    were reminded. At most once a day per invitation (a second click the same day reminds nobody twice).
    Works whether or not the contract's scheduled reminders are on; only while the contract is active."""
    _ensure_active(contract)
    m, now, today = _m(), _now(), _today()
    inv = m.Invitation.__table__.c
    select = _reminder_select(m, "remind:", f":{today.isoformat()}", {"link": learner_link(), "manual": True},
                              now, inv.contract_id == contract.id)
    claims = _upsert_from_select(m, select)
    if claims:
        fields = _actor_fields(actor)
        _history(contract.id, "reminded", _n("Reminded %(num)s learner who has not acted on their invitation yet.",
                                             "Reminded %(num)s learners who have not acted on their invitation yet.",
                                             len(claims)), actor_name=fields["actor_name"], actor_id=fields["actor_id"])
        deliver_after_commit(claims)
    return len(claims)


def reminded_message(contract: Contract, reminded: int) -> str:
    """What "Remind all outstanding" says after :func:`remind_outstanding` reminded ``reminded`` learners: how
    many reminders went out (or were queued, in queued mode), and how many invitations have an e-mail that
    could not be sent (the reminders do not show that an invitation's own e-mail never arrived)."""
    if not reminded:
        said = _("Nobody to remind: every outstanding learner was already reminded today.")
    elif outbox.immediate():
        said = _n("Reminded %(num)s learner.", "Reminded %(num)s learners.", reminded)
    else:
        said = _n("Queued %(num)s reminder; it goes out with the next delivery run.",
                  "Queued %(num)s reminders; they go out with the next delivery run.", reminded)
    failed = count_invitations_with_failed_email(contract)
    if failed:
        said += " " + _n("%(num)s invitation has an e-mail that could not be sent; it is listed under "
                         "\"Notifications that could not be sent\", with Retry.",
                         "%(num)s invitations have an e-mail that could not be sent; they are listed under "
                         "\"Notifications that could not be sent\", with Retry.", failed)
    return said


def alert_if_threshold_reached(contract: Contract, counter: tuple[int, int] | None = None) -> None:
    """Called by the enrollment that just took a seat of ``contract``, in its transaction: if that seat made
    seats used reach a ``SEAT_ALERTS`` threshold, write the alert (the highest threshold reached by this seat).

    ``counter`` is ``(seats_used, seats)`` as the seat's own UPDATE returned them (PostgreSQL, SQLite 3.35+);
    without it they are read (one query per seat taken). Seats are taken one at a time under the contract
    row's lock, so exactly one enrollment sees each value of the counter: many enrollments crossing a threshold
    together create one alert, and a rolled-back enrollment takes its alert with it. Nothing is read when
    ``SEAT_ALERTS`` is empty; the recipients (``alert_recipients``) only when a threshold was crossed."""
    thresholds = config_numbers("SEAT_ALERTS")
    if not thresholds:
        return
    if counter is None:
        con = _m().Contract.__table__.c
        counter = tuple(_session().connection().execute(
            sa.select(con.seats_used, con.seats).where(con.id == contract.id)).one())
    used, seats = counter
    crossed = [t for t in thresholds if used * 100 >= t * seats > (used - 1) * 100]
    if not crossed:
        return
    now = _now()
    webhooks.record_event(WebhookEvent.SEATS_THRESHOLD, contract.id, {
        "contract": webhooks.contract_ref(contract), "threshold": crossed[-1], "seats": seats, "seats_used": used})
    rows = _alert_rows(contract, NotificationKind.SEAT_ALERT, f"seats:{contract.id}:{seats}:{crossed[-1]}",
                       {"threshold": crossed[-1], "seats": seats, "used": used}, now)
    claims = outbox.insert_notices(rows)
    if claims:
        _record_alerts({contract.id: contract}, claims)
        deliver_after_commit(claims)
