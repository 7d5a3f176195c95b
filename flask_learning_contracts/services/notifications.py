"""Notifications: rendering the shipped (or the host's) e-mail templates, delivering through the host's hooks
with retries, and what admins see of it (delivery state per invitation, failed deliveries, retry).

Nothing is lost: every notification is a row of ``lc_notification`` written with what it notifies (see
:mod:`.outbox`). Immediate mode delivers it right after the commit in the same process; queued mode leaves it
to ``deliver_notifications`` (``flask contracts deliver --loop``) or to RQ jobs. A failed attempt is retried
with backoff; after ``LEARNING_CONTRACTS_DELIVERY_ATTEMPTS`` attempts the row is Failed and admins may retry it.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from flask import Flask, current_app, has_request_context, url_for
from sqlalchemy import orm as sa_orm

from ..codes import format_code
from ..config import config_value
from ..enums import ContractState, DeliveryStatus, InvitationStatus, NotificationKind
from ..i18n import _, _n
from ..messages import Message
from ..records import ContractRecord, InvitationRecord
from ..models import Contract, Invitation
from ..rules import HostUser, overrides_invitation_hooks
from . import outbox, webhook_http
from .access import parse_key
from ._core import (_BATCH, _actor_fields, _after_commit, _app, _format_date, _m, _now, _one_of,
                    _rules, _session, _state, _today, transactional)
from .outbox import Claim, Outcome
from .recipients import _current_addresses, _deliverable, _readdress

_TEMPLATES = "learning_contracts/email/"


@dataclasses.dataclass(frozen=True)
class DeliveryReport:
    """What one delivery pass did."""

    sent: int = 0
    failed: int = 0  #: attempts that failed (retried later, unless that was their last attempt)
    skipped: int = 0  #: not sent on purpose (no mailer, or no longer true: see each row's reason)
    pending: int = 0  #: notifications still waiting after the pass (retries not due yet included)
    gave_up: int = 0  #: failures that used their last attempt (now Failed, shown to admins)


# ---------------------------------------------------------------------------------------------
# links and rendering
# ---------------------------------------------------------------------------------------------
def site_link(endpoint: str, **values: Any) -> str:
    """An absolute link for an e-mail: ``LEARNING_CONTRACTS_BASE_URL`` + path, else the current request's host
    or ``SERVER_NAME``, else the bare path (a worker with neither setting cannot know the site's address)."""
    app = _app()
    base = config_value("BASE_URL")
    if not base and (has_request_context() or app.config.get("SERVER_NAME")):
        return url_for(endpoint, _external=True, **values)
    adapter = app.url_map.bind("localhost", script_name=app.config.get("APPLICATION_ROOT") or "/")
    path: str = adapter.build(endpoint, values)
    return str(base).rstrip("/") + path if base else path


def learner_link() -> str:
    """The learner's invitations page, where codes are entered and activities enrolled in."""
    return site_link("learning_contracts.invitations")


def _render(claim: Claim, contract: Contract, invitation: Invitation | None) -> Message:
    """The message of ``claim`` from ``learning_contracts/email/<kind>.subject.txt``, ``.txt`` and ``.html``
    (the host's templates of the same path win). Rendered without the host's context processors (a worker
    has no request) and with everything passed from here."""
    st, payload = _state(), claim.payload or {}
    code = None
    if invitation is not None and invitation.require_code and invitation.code_redeemed_at is None:
        code = format_code(contract.invitation_code)
    learner = None
    if invitation is not None and invitation.user is not None:
        learner = st.rules.user_display_name(invitation.user)
    context = {
        "kind": claim.kind, "contract": contract, "invitation": invitation, "payload": payload,
        "code": code, "learner_name": learner, "link": payload.get("link") or "", "recipient": claim.recipient,
        "activities": [st.rules.activity_title(a) for a in invitation.activities] if invitation is not None else [],
        "valid_from": _format_date(contract.valid_from), "valid_until": _format_date(contract.valid_until),
        "seats": contract.seats, "seats_used": contract.seats_used,
        "unused": max(contract.seats - contract.seats_used, 0), "_": _, "ngettext": _n,
        "number": lambda n: f"{n:,}",
    }
    env = current_app.jinja_env
    name = _TEMPLATES + claim.kind.value
    subject = " ".join(env.get_or_select_template(name + ".subject.txt").render(context).split())
    text = env.get_or_select_template(name + ".txt").render(context)
    html = env.get_or_select_template(name + ".html").render(context)
    return Message(kind=claim.kind, to=claim.recipient, subject=subject, text=text, html=html,
                   contract_id=contract.id, invitation_id=claim.invitation_id, notification_id=claim.id)


def _stale(claim: Claim, contract: Contract | None, invitation: Invitation | InvitationRecord | None) -> str | None:
    """Why ``claim`` should not be sent any more (its subject changed since it was written), or ``None``."""
    payload, kind = claim.payload or {}, claim.kind
    if contract is None:
        return _("The contract was deleted.")
    if not _deliverable(claim.recipient):
        return _("%(address)s is not a valid e-mail address.", address=repr(claim.recipient))
    if kind.is_for_learner:
        if invitation is None:
            return _("The invitation no longer exists (it was merged into the learner's other invitation).")
        if invitation.status is InvitationStatus.REVOKED:
            return _("The invitation was revoked.")
        if kind is NotificationKind.RESEND and invitation.status is not InvitationStatus.OUTSTANDING:
            return _("The invitation is no longer outstanding (%(status)s).", status=invitation.status.label)
        if kind is NotificationKind.REMINDER:
            if invitation.status not in (InvitationStatus.OUTSTANDING, InvitationStatus.NOT_REGISTERED):
                return _("The invitation is no longer outstanding (%(status)s).", status=invitation.status.label)
            if contract.state_on(_today()) is not ContractState.ACTIVE:
                return _("The contract is no longer active.")
            if not payload.get("manual") and not contract.reminders_enabled:
                return _("Reminders were switched off for this contract.")
        return None
    if kind is NotificationKind.SEAT_ALERT and payload.get("seats") != contract.seats:
        return _("The number of seats changed since; the alert was re-armed.")
    if kind in (NotificationKind.EXPIRING, NotificationKind.EXPIRED) and \
            payload.get("valid_until") != contract.valid_until.isoformat():
        return _("The valid period changed since; the notice was re-armed.")
    return None


def _error_text(error: BaseException) -> str:
    text = (str(error) or error.__class__.__name__).strip().splitlines()
    return text[0] if text else error.__class__.__name__


# ---------------------------------------------------------------------------------------------
# sending
# ---------------------------------------------------------------------------------------------
def _send_chunk(claims: Sequence[Claim], contracts: dict[int, Contract] | None = None,
                known: Mapping[int, InvitationRecord] | None = None) -> list[Outcome]:
    """Send one chunk of claimed notifications through the host's hooks; the outcome of each.

    Learner notifications go to the host's own ``send_invitation(s)`` when it overrides them and not
    ``send_notification(s)`` (hosts written before notifications existed keep working unchanged: new
    invitations through ``send_invitations`` in one call per chunk, resends and reminders through
    ``send_invitation(…, resend=True)``), as immutable :class:`InvitationRecord` s: ``known`` ones (built by the
    invite that just wrote them) as they are, the others read with one Core query per chunk; everything else
    is rendered and handed to ``send_notifications``."""
    hooks = [c for c in claims if c.kind is NotificationKind.WEBHOOK]
    if hooks:  # webhook deliveries are POSTed to their endpoints; the rest are e-mails
        claims = [c for c in claims if c.kind is not NotificationKind.WEBHOOK]
        return webhook_http.send_webhooks(hooks) + (_send_chunk(claims, contracts, known) if claims else [])
    m, session, rules = _m(), _session(), _rules()
    compat = overrides_invitation_hooks(rules)
    contracts = {} if contracts is None else contracts  # the caller's, kept across the chunks of one delivery
    missing = sorted({c.contract_id for c in claims} - set(contracts))
    if missing:
        contracts.update({c.id: c for c in session.execute(sa.select(m.Contract).where(
            _one_of(m.Contract.__table__.c.id, missing))).scalars()})
    invitation_ids = sorted({c.invitation_id for c in claims if c.invitation_id is not None})
    invitations: Mapping[int, Invitation | InvitationRecord] = {}
    if invitation_ids and compat:
        invitations = _invitation_records(invitation_ids, contracts, known or {})
    elif invitation_ids:
        query = (sa.select(m.Invitation).where(outbox.id_filter(m.Invitation.__table__.c.id, invitation_ids))
                 .options(sa_orm.lazyload(m.Invitation.contract), sa_orm.selectinload(m.Invitation.user)))
        invitations = {i.id: i for i in session.execute(query).scalars()}
    addresses = _current_addresses(claims, invitations)
    outcomes: list[Outcome] = []
    new_invitations: list[tuple[Claim, InvitationRecord]] = []
    messages: list[tuple[Claim, Message]] = []
    can_send = rules.can_send_notifications()
    for claim in claims:
        contract, invitation = contracts.get(claim.contract_id), invitations.get(claim.invitation_id or -1)
        no_address = None
        if not claim.fresh:  # (a bulk invite's 10,000 new notices skip the call)
            claim, no_address = _readdress(claim, invitation, addresses)
        reason = _stale(claim, contract, invitation) or no_address
        if reason is not None:
            outcomes.append(Outcome(claim, DeliveryStatus.SKIPPED, reason))
            continue
        assert contract is not None
        if claim.kind.is_for_learner and isinstance(invitation, InvitationRecord):
            record = invitation
            if record.user_id is not None and record.email != claim.recipient:
                # the host's hook reads ``invitation.email``: it holds the learner's address now (never written)
                record = dataclasses.replace(record, email=claim.recipient)
            if claim.kind is NotificationKind.INVITATION:
                new_invitations.append((claim, record))
            else:
                outcomes.append(_attempt(claim, functools.partial(rules.send_invitation, record, resend=True)))
            continue
        if not can_send:
            outcomes.append(Outcome(claim, DeliveryStatus.SKIPPED, _(
                "Nowhere to send it: set up Flask-Mailman or override ContractRules.send_notification.")))
            continue
        try:
            assert not isinstance(invitation, InvitationRecord)  # records only in compat mode, learner kinds
            messages.append((claim, _render(claim, contract, invitation)))
        except Exception as error:  # noqa: BLE001 - a broken template fails this message, not the pass
            current_app.logger.exception("Could not render the %s notification %s", claim.kind.value, claim.id)
            outcomes.append(Outcome(claim, DeliveryStatus.FAILED, _error_text(error)))
    if new_invitations:
        outcomes += _send_group(new_invitations, lambda group: rules.send_invitations([i for _c, i in group]),
                                lambda item: getattr(item, "id", None), lambda pair: pair[1].id)
    if messages:
        outcomes += _send_group(messages, lambda group: rules.send_notifications([msg for _c, msg in group]),
                                lambda item: getattr(item, "notification_id", None), lambda pair: pair[0].id)
    return outcomes


def _invitation_records(ids: list[int], contracts: dict[int, Contract], known: Mapping[int, InvitationRecord]
                        ) -> dict[int, InvitationRecord]:
    """The records of invitations ``ids``: the ``known`` ones as built at write time, the others read with one
    Core query of their columns (and one of their activities), never as ORM objects."""
    records = {iid: known[iid] for iid in ids if iid in known}
    wanted = [iid for iid in ids if iid not in known]
    if not wanted:
        return records
    m, session = _m(), _session()
    inv, ia = m.Invitation.__table__.c, m.InvitationActivity.__table__.c
    rows = session.execute(sa.select(inv.id, inv.contract_id, inv.email, inv.status, inv.require_code, inv.user_id,
                                     inv.invited_at, inv.invited_by, inv.code_redeemed_at)
                           .where(outbox.id_filter(inv.id, wanted))).all()
    activities: dict[int, list[Any]] = defaultdict(list)
    for iid, aid in session.execute(sa.select(ia.invitation_id, ia.activity_id)
                                    .where(outbox.id_filter(ia.invitation_id, wanted))
                                    .order_by(ia.invitation_id, ia.activity_id)):
        activities[iid].append(aid)
    contract_records = {cid: ContractRecord.of(c) for cid, c in contracts.items()
                        if cid in {row.contract_id for row in rows}}
    for row in rows:
        if row.contract_id not in contract_records:  # its contract was deleted since: the claim is stale
            continue
        records[row.id] = InvitationRecord(
            row.id, row.contract_id, row.email, InvitationStatus(row.status), row.require_code, row.user_id,
            row.invited_at, row.invited_by, contract_records[row.contract_id], row.code_redeemed_at,
            tuple(activities.get(row.id, ())))
    return records


def _attempt(claim: Claim, send: Callable[[], object]) -> Outcome:
    try:
        send()
    except Exception as error:  # noqa: BLE001 - recorded on the notification and retried
        return Outcome(claim, DeliveryStatus.FAILED, _error_text(error))
    return Outcome(claim, DeliveryStatus.SENT)


def _send_group(group: list[Any], send: Callable[[list[Any]], list[tuple[Any, Exception]]],
                failed_key: Callable[[Any], Any], pair_key: Callable[[Any], Any]) -> list[Outcome]:
    """Call a batch hook for ``group`` (pairs of claim and what the hook takes) and turn the ``(item, error)``
    pairs it returns into outcomes; a hook that raises fails the whole group."""
    try:
        failures = {failed_key(item): error for item, error in send(group)}
    except Exception as error:  # noqa: BLE001 - the host's batch hook itself broke
        current_app.logger.exception("A notification hook failed for a whole batch")
        return [Outcome(pair[0], DeliveryStatus.FAILED, _error_text(error)) for pair in group]
    outcomes = []
    for pair in group:
        failure = failures.get(pair_key(pair))
        outcomes.append(Outcome(pair[0], DeliveryStatus.FAILED, _error_text(failure)) if failure is not None
                        else Outcome(pair[0], DeliveryStatus.SENT))
    return outcomes


@transactional
def _finish(outcomes: list[Outcome]) -> outbox.Finished:
    """Record the outcomes; a resend that went out updates its invitation and the history."""
    finished = outbox.finish(outcomes)
    resent = [o.claim for o in outcomes if o.status is DeliveryStatus.SENT and o.claim.kind is NotificationKind.RESEND]
    if resent:
        _mark_resent(resent)
    webhook_http.record_endpoint_outcomes(outcomes)
    gave_up = [o for o in finished.gave_up if o.claim.kind is not NotificationKind.WEBHOOK]
    if gave_up:  # (a webhook's failures show on its endpoint and in the Webhook deliveries view)
        _record_gave_up(gave_up)
    return finished


def _mark_resent(claims: list[Claim]) -> None:
    m, session, now = _m(), _session(), _now()
    for claim in claims:
        session.execute(sa.update(m.Invitation).where(m.Invitation.id == claim.invitation_id)
                        .values(last_sent_at=now, send_count=m.Invitation.send_count + 1)
                        .execution_options(synchronize_session=False))
        _history(claim.contract_id, "resent", _("Resent the invitation to %(email)s.", email=claim.recipient),
                 invitation_id=claim.invitation_id, actor_name=(claim.payload or {}).get("actor"),
                 actor_id=(claim.payload or {}).get("actor_id"))


def _record_gave_up(failed: list[Outcome]) -> None:
    by_contract: dict[int, list[Outcome]] = defaultdict(list)
    for outcome in failed:
        by_contract[outcome.claim.contract_id].append(outcome)
    attempts = int(config_value("DELIVERY_ATTEMPTS"))
    for contract_id, items in by_contract.items():
        sample = "; ".join(f"{o.claim.recipient}: {o.error}" for o in items[:5])
        _history(contract_id, "notification_failed",
                 _n("%(num)s notification could not be sent and will not be tried again automatically "
                    "(attempts: %(attempts)s); retry it from the Invitations tab: %(sample)s",
                    "%(num)s notifications could not be sent and will not be tried again automatically "
                    "(attempts: %(attempts)s); retry them from the Invitations tab: %(sample)s", len(items),
                    attempts=attempts, sample=sample))


def _history(contract_id: int, action: str, message: str, *, invitation_id: int | None = None,
             actor_name: str | None = None, actor_id: str | None = None) -> None:
    """A history row by contract id (the contract's code is read in the same statement)."""
    m = _m()
    h, c = m.HistoryEntry.__table__, m.Contract.__table__
    select = sa.select(sa.literal(_now(), sa.DateTime), c.c.id, c.c.code, sa.literal(invitation_id, sa.Integer),
                       sa.literal(actor_id, sa.String), sa.literal(actor_name or _("System"), sa.String),
                       sa.literal(action, sa.String), sa.literal(message, sa.Text)).where(c.c.id == contract_id)
    _session().execute(sa.insert(h).from_select(["at", "contract_id", "contract_code", "invitation_id", "actor_id",
                                                 "actor_name", "action", "message"], select))


def deliver_claimed(claims: Sequence[Claim], known: Mapping[int, InvitationRecord] | None = None) -> list[Outcome]:
    """Deliver notifications this process claimed, chunk by chunk, and record each outcome (``known``: records
    of invitations the caller just wrote, handed to the host's invitation hooks without reading them back).

    Outcomes are recorded at the end, or every second of a long run (so a crash re-sends at most about a
    second of messages: delivery is at least once); the lease is renewed when a run outlasts half of it."""
    outcomes: list[Outcome] = []
    unrecorded: list[Outcome] = []
    lease = int(config_value("DELIVERY_LEASE"))
    started = last_record = time.monotonic()
    contracts: dict[int, Contract] = {}
    for start in range(0, len(claims), _BATCH):
        chunk = list(claims[start:start + _BATCH])
        if time.monotonic() - started > lease / 2:
            chunk = outbox.extend_lease(chunk)
            contracts.clear()
        done = _send_chunk(chunk, contracts, known)
        outcomes += done
        unrecorded += done
        if time.monotonic() - last_record > 1.0:
            _finish(unrecorded)  # its commit expires the loaded contracts: load them again next chunk
            unrecorded, last_record = [], time.monotonic()
            contracts.clear()
    if unrecorded:
        _finish(unrecorded)
    return outcomes


def deliver_after_commit(claims: list[Claim], done: Callable[[list[Outcome]], None] | None = None,
                         known: Mapping[int, InvitationRecord] | None = None) -> None:
    """After the running service transaction commits: deliver ``claims`` now (immediate mode; ``done`` then
    gets the outcomes), or hand them to RQ (queued mode with ``RQ_REDIS_URL``). A delivery that breaks is
    logged and left to the lease: it never undoes what was committed."""
    if not claims:
        return
    app = _app()
    if not outbox.immediate():
        ids = [c.id for c in claims]
        _after_commit(lambda: enqueue_delivery(app, ids))
        return

    def run() -> None:
        try:
            outcomes = deliver_claimed(claims, known)
        except Exception:  # noqa: BLE001 - the rows stay claimed; a later pass takes them over after the lease
            _session().rollback()
            app.logger.exception("Delivering %s notifications failed; they will be retried", len(claims))
            return
        if done is not None:
            done(outcomes)

    _after_commit(run)


def enqueue_delivery(app: Flask, ids: Sequence[int] | None, *, at: dt.datetime | None = None) -> bool:
    """Queue RQ jobs sending the notifications ``ids`` (``None``: whatever is due), at ``at`` (naive UTC, as
    stored) or now, when ``RQ_REDIS_URL`` is set; return whether anything was queued.

    Called after the commit, never before (a worker must find the rows). If Redis cannot be reached the rows
    simply wait for the next sweep (``flask contracts tick`` or ``deliver``)."""
    url = config_value("RQ_REDIS_URL", app)
    if not url:
        return False
    job = "flask_learning_contracts.jobs.deliver"
    try:
        from redis import Redis
        from rq import Queue

        queue = Queue(str(config_value("RQ_QUEUE", app)), connection=Redis.from_url(str(url)))
        batches: list[list[int] | None] = [None] if ids is None else [
            list(ids[start:start + _BATCH]) for start in range(0, len(ids), _BATCH)]
        for batch in batches:
            if at is not None:
                queue.enqueue_at(at.replace(tzinfo=dt.timezone.utc), job, batch)
            else:
                queue.enqueue(job, batch)
    except Exception:  # noqa: BLE001 - nothing is lost: the rows are pending in the database
        app.logger.exception("Could not queue the delivery of notifications; the next sweep sends them")
        return False
    return True


def sweep_notifications() -> DeliveryReport | None:
    """What cron's ``flask contracts tick`` does after the scheduler: immediate mode sends what is due (retries,
    and notifications whose sender died) and returns the report; queued mode with RQ queues one job for it;
    queued mode without RQ leaves it to the ``deliver --loop`` worker. ``None`` unless sent here."""
    if outbox.immediate():
        return deliver_notifications()
    enqueue_delivery(_app(), None)
    return None


# ---------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------
def deliver_notifications(limit: int | None = None, *, ids: Sequence[int] | None = None) -> DeliveryReport:
    """Send what is due (pending and due, or abandoned by a sender whose lease ran out), up to ``limit``
    notifications, and return what happened. Safe to run in several processes at once; each notification
    is claimed by one of them. ``ids``: only those notifications (the RQ jobs use it)."""
    sent = failed = skipped = gave_up = 0
    remaining = limit
    while remaining is None or remaining > 0:
        size = _BATCH if remaining is None else min(_BATCH, remaining)
        claims = outbox.claim_due(size, ids)
        if not claims:
            break
        outcomes = deliver_claimed(claims)
        sent += sum(o.status is DeliveryStatus.SENT for o in outcomes)
        failed += sum(o.status is DeliveryStatus.FAILED for o in outcomes)
        skipped += sum(o.status is DeliveryStatus.SKIPPED for o in outcomes)
        attempts = int(config_value("DELIVERY_ATTEMPTS"))
        gave_up += sum(o.status is DeliveryStatus.FAILED and o.claim.attempts >= attempts for o in outcomes)
        if remaining is not None:
            remaining -= len(claims)
        if ids is not None or len(claims) < size:
            break
    pending = outbox.count_waiting()
    _session().rollback()
    return DeliveryReport(sent=sent, failed=failed, skipped=skipped, pending=pending, gave_up=gave_up)


def next_delivery_due() -> Any:
    """When the next waiting notification is due (``None`` when nothing waits): workers sleep until then."""
    value = outbox.next_due()
    _session().rollback()
    return value


@transactional
def _retry(contract: Contract, ids: Sequence[int] | None, actor: HostUser | None) -> list[Claim]:
    claims = outbox.reset_failed(contract.id, ids, _now())
    if claims:
        fields = _actor_fields(actor)
        _history(contract.id, "notification_retried",
                 _n("Retried %(num)s notification that could not be sent.",
                    "Retried %(num)s notifications that could not be sent.", len(claims)),
                 actor_name=fields["actor_name"], actor_id=fields["actor_id"])
        deliver_after_commit(claims)
    return claims


def retry_notifications(contract: Contract, ids: Sequence[int] | None = None, *,
                        actor: HostUser | None = None) -> int:
    """Give the failed notifications of ``contract`` (``ids``, or all) a fresh set of attempts; immediate mode
    sends them at once. Returns how many were retried (an id no notification can have retries nothing)."""
    if ids is not None:
        column = _m().Notification.id
        keys: list[Any] = [key for key in (parse_key(column, raw) for raw in ids) if key is not None]
        if not keys:
            return 0
        ids = keys
    return len(_retry(contract, ids, actor))


def retried_message(retried: int) -> str:
    """What a Retry click says (the admin's and the dashboard's), after :func:`retry_notifications`."""
    if not retried:
        return _("Nothing to retry: it was already sent or retried.")
    return _n("Retrying %(num)s notification.", "Retrying %(num)s notifications.", retried)


class ResendRequest(NamedTuple):
    """What :func:`request_resend` did: ``outcome`` of the attempt made now (immediate mode), ``queued`` when it
    was recorded for a worker, ``earlier`` (status and time) when an earlier resend made this one a no-op."""

    outcome: Outcome | None
    queued: bool
    earlier: tuple[DeliveryStatus, dt.datetime] | None = None


def _earlier_resend(invitation_id: int, now: dt.datetime) -> tuple[DeliveryStatus, dt.datetime] | None:
    """The invitation's latest resend when it makes a new one a duplicate: sent less than
    ``RESEND_INTERVAL`` seconds ago, being sent (its sender's lease is live), or waiting for a queued worker.
    A resend that failed, or waits for a retry in immediate mode, is not: clicking again retries it."""
    m = _m()
    n = m.Notification
    row = _session().execute(
        sa.select(n.status, n.sent_at, n.created_at, n.next_attempt_at)
        .where(n.invitation_id == invitation_id, n.kind == NotificationKind.RESEND)
        .order_by(n.id.desc()).limit(1)).first()
    if row is None:
        return None
    status = DeliveryStatus(row.status)
    interval = dt.timedelta(seconds=max(0, int(config_value("RESEND_INTERVAL"))))
    if status is DeliveryStatus.SENT and row.sent_at is not None and row.sent_at > now - interval:
        return status, row.sent_at
    if status is DeliveryStatus.SENDING and row.next_attempt_at > now:
        return status, row.created_at
    if status is DeliveryStatus.PENDING and not outbox.immediate():
        return status, row.created_at
    return None


@transactional
def _request_resend(invitation: Invitation, recipient: str, actor: HostUser | None
                    ) -> tuple[list[Claim], tuple[DeliveryStatus, dt.datetime] | None]:
    now, fields = _now(), _actor_fields(actor)
    earlier = _earlier_resend(invitation.id, now)
    if earlier is not None:
        return [], earlier
    key = f"resend:{invitation.id}:{invitation.send_count}"
    row = {"kind": NotificationKind.RESEND, "contract_id": invitation.contract_id, "invitation_id": invitation.id,
           "recipient": recipient, "dedupe_key": key, "created_at": now,
           "payload": {"link": learner_link(), "actor": str(fields["actor_name"]), "actor_id": fields["actor_id"]},
           **outbox.birth_state(now)}
    # A concurrent click that got past the check above writes the same key: one of the two inserts wins, and
    # the other takes the row over only if it is waiting (pending, failed, abandoned), never while it is sent.
    claims = outbox.insert_notices([row]) or outbox.reclaim_by_keys([key], now)
    if not claims:
        return [], (DeliveryStatus.SENDING, now)
    if not outbox.immediate():
        deliver_after_commit(claims)  # RQ jobs, when configured, once the row is committed
    return claims, None


def request_resend(invitation: Invitation, recipient: str, *, actor: HostUser | None = None) -> ResendRequest:
    """Record a resend of ``invitation`` to ``recipient`` (:func:`recipient_of`; the caller checked it may be
    resent) unless an earlier one makes it a duplicate (see :func:`_earlier_resend`: a double click sends one
    e-mail). Immediate mode: send it now and return the outcome; queued mode: a worker sends it."""
    claims, earlier = _request_resend(invitation, recipient, actor)
    if earlier is not None:
        return ResendRequest(None, False, earlier)
    if not outbox.immediate():
        return ResendRequest(None, True)
    try:
        outcomes = deliver_claimed(claims)
    except Exception as error:  # noqa: BLE001 - left to the lease and a later pass
        _session().rollback()
        return ResendRequest(Outcome(claims[0], DeliveryStatus.FAILED, _error_text(error)), False)
    return ResendRequest(outcomes[0] if outcomes else None, False)
