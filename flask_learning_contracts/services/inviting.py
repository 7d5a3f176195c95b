"""Inviting learners by user or e-mail in bulk, with a per-input report (rule 13); each invitation's notification
is written with it and delivered after the commit."""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import itertools
import json
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from flask import Flask

from .. import errors, signals
from ..config import config_value
from ..enums import ContractType, DeliveryStatus, InvitationStatus, WebhookEvent
from ..i18n import _, _n
from ..models import Contract, EnumString, Models
from ..records import ContractRecord, InvitationRecord
from ..rules import ActivityRef, ContractRules, HostKey, HostUser, overrides_invitation_hooks
from . import webhooks
from ._core import (
    _BATCH,
    LIVE,
    _actor_fields,
    _after_commit,
    _app,
    _lock_contract,
    _m,
    _normalize_email,
    _now,
    _one_of,
    _record,
    _record_separately,
    _session,
    _state,
    _statement,
    transactional,
)
from .access import _ensure_active
from .activities import _activity_ids, _contract_activity_ids
from .notifications import deliver_after_commit, learner_link
from .outbox import Claim, Outcome, insert_invitation_notices, invitation_claims, with_invitation_notices

_EMAIL_RE = re.compile(r"^[^@\s\"(),:;<>\[\]\\=+\-][^@\s\"(),:;<>\[\]\\]*@[^@\s\"(),:;<>\[\]\\]+\.[^@\s\"(),:;<>\[\]\\]+$")


@dataclasses.dataclass
class InviteResult:
    """The outcome of one input of an invite: a user, an e-mail, or one line of a CSV file."""

    email: str
    outcome: str  #: "invited", "already_invited", "not_registered" or "invalid"
    message: str
    line: int | None = None
    invitation_id: int | None = None
    #: Where the input came from: ``"user"`` (a picked account), ``"typed"`` (the ``emails`` text) or ``"csv"``.
    source: str = "typed"
    #: The 1-based position of a typed address among the ones typed (``None`` for users and CSV lines).
    position: int | None = None
    #: The learner's display name, when the input names an account.
    name: str | None = None
    #: The account's host key as text, when the input is a picked account (``source == "user"``).
    user_id: str | None = None


@dataclasses.dataclass
class InviteReport:
    """Per-input outcomes of :func:`invite` / :func:`invite_csv`, in input order within each list."""

    invited: list[InviteResult] = dataclasses.field(default_factory=list)
    already_invited: list[InviteResult] = dataclasses.field(default_factory=list)
    not_registered: list[InviteResult] = dataclasses.field(default_factory=list)
    invalid: list[InviteResult] = dataclasses.field(default_factory=list)
    #: ``(InviteResult, message)`` for notifications that failed their immediate delivery (they are retried).
    notification_failures: list[tuple[InviteResult, str]] = dataclasses.field(default_factory=list)

    @property
    def rows(self) -> list[InviteResult]:
        """Every result, ordered by CSV line (then input order)."""
        everything = self.invited + self.already_invited + self.not_registered + self.invalid
        return sorted(everything, key=lambda r: (r.line is None, r.line or 0))

    @property
    def created(self) -> int:
        """How many invitations were created (registered and not registered)."""
        return len(self.invited) + len(self.not_registered)

    def add(self, result: InviteResult) -> None:
        getattr(self, result.outcome).append(result)


@dataclasses.dataclass
class _Candidate:
    email: str
    line: int | None
    user: HostUser | None = None
    source: str = "csv"
    position: int | None = None


#: The pieces of a typed ``emails`` text: a quoted string, an address in angle brackets, a hard separator (comma,
#: semicolon, new line) or a word. Simple alternatives, so a paste of any size is read in linear time; white space
#: and stray quotes or brackets between pieces are skipped.
_PIECES = re.compile(r'"[^"\n]*"|<[^<>\n]*>|[,;\n]|[^\s,;<>"]+')
#: An address in angle brackets on a CSV line (``Ada Lovelace <ada@example.com>``). No ``@`` before the one
#: matched: each ``<`` is then tried once, in time linear in the line (``<a@a@a@…`` made it quadratic).
_BRACKETED = re.compile(r"<([^<>\s@]+@[^<>\s]+)>")


def split_addresses(text: str) -> list[str]:
    """The addresses typed or pasted into an ``emails`` field, separated by commas, semicolons, spaces or new
    lines, in the order typed (empty pieces between separators are dropped).

    Lists copied from a mail program work too: in ``Ada Lovelace <ada@example.com>`` or
    ``"Lovelace, Ada" <ada@example.com>`` the display name (the quoted string, or the words without ``@``
    right before the angle brackets) is dropped and the address kept."""
    entries: list[str] = []
    pending: list[str] = []  # pieces since the last comma, semicolon or new line: may end in a display name
    for piece in _PIECES.findall(text or ""):
        if piece in (",", ";", "\n"):
            entries.extend(pending)
            pending = []
        elif piece.startswith("<"):
            while pending and (pending[-1].startswith('"') or "@" not in pending[-1]):
                pending.pop()  # the display name of this address
            entries.extend(pending)
            pending = [piece[1:-1].strip()]
        elif piece.strip('" '):  # an empty quoted string says nothing
            pending.append(piece)
    entries.extend(pending)
    return [entry for entry in entries if entry]


def bracketed_address(line: str) -> str | None:
    """The address in angle brackets on ``line`` (a CSV line such as ``Ada <ada@example.com>,Sales``), if any."""
    found = _BRACKETED.search(line) if "<" in line else None
    return found.group(1) if found else None


def _typed_candidates(entries: Iterable[str], report: InviteReport) -> list[_Candidate]:
    """Typed addresses as candidates; each one that is not an address is reported with its position."""
    candidates = []
    for position, raw in enumerate(entries, start=1):
        email = _normalize_email(raw or "")
        if not _valid_email(email):
            report.add(InviteResult(raw or "", "invalid",
                                    _("Entry %(n)s is not a valid e-mail address.", n=position),
                                    source="typed", position=position))
            continue
        candidates.append(_Candidate(email, None, source="typed", position=position))
    return candidates


def _user_candidates(users: list[HostUser], report: InviteReport) -> list[_Candidate]:
    """Picked accounts as candidates (a user without an address is reported invalid)."""
    st = _state()
    _refresh_expired(st.user_model, users)
    candidates = []
    for user in users:
        email = _normalize_email(st.rules.user_email(user) or "")
        if not email:
            report.add(InviteResult(str(st.user_id(user)), "invalid", _("This user has no e-mail address."),
                                    source="user", name=st.rules.user_display_name(user),
                                    user_id=str(st.user_id(user))))
            continue
        candidates.append(_Candidate(email, None, user, source="user"))
    return candidates


def _invite_activity_ids(contract: Contract, activities: Iterable[ActivityRef] | None
                         ) -> list[HostKey]:
    """The activity ids a new Voucher invitation covers (validated); [] for Subscription (it follows the contract)."""
    if contract.contract_type is ContractType.SUBSCRIPTION:
        return []
    present = _contract_activity_ids(contract)
    if activities is None:
        chosen = [i for i in _activity_ids(contract.activities)]
    else:
        chosen = _activity_ids(activities)
        outside = [i for i in chosen if i not in present]
        if outside:
            raise errors.ValidationError(
                _("Invitations can only cover the contract's own activities."), field="activities"
            )
    if not chosen:
        raise errors.ValidationError(
            _("Add activities to this Voucher contract (or choose at least one) before inviting learners."),
            field="activities",
        )
    return chosen


def _invite_candidates(contract: Contract, candidates: Iterable[_Candidate], activities: Iterable[ActivityRef] | None,
                       report: InviteReport, actor: HostUser | None, source: str) -> InviteReport:
    """Create invitations for ``candidates`` in batches (one transaction) and fill ``report``.

    ``candidates`` may be a generator (a CSV being read): it is consumed ``_BATCH`` at a time, so the
    working memory does not grow with the file; a fixed number of statements is issued per batch.
    """
    _lock_contract(contract)
    _ensure_active(contract)
    activity_ids = _invite_activity_ids(contract, activities)
    st, m, session = _state(), _m(), _session()
    now, inviter = _now(), _actor_fields(actor)
    invited_by, invited_by_id = inviter["actor_name"], inviter["actor_id"]
    seen: dict[str, int | None] = {}
    created_ids: list[tuple[InviteResult, int]] = []
    # Records of the new invitations for the host's invitation hooks and the signal receivers, built from the
    # rows written (only when someone takes them: a host with the default hooks and no receiver pays nothing).
    records: dict[int, InvitationRecord] | None = None
    if overrides_invitation_hooks(st.rules) or signals.invitation_created.receivers:
        records, contract_record = {}, ContractRecord.of(contract)
        voucher_ids = tuple(activity_ids)
    notices: list[Claim] = []
    link = learner_link()
    # The invitation.created webhook events, from the rows as written (sent by one statement at the end).
    events: list[dict[str, Any]] = []
    ref, activity_json = webhooks.contract_ref(contract), [webhooks.jsonable(a) for a in activity_ids]
    pending_candidates = iter(candidates)
    while batch := list(itertools.islice(pending_candidates, _BATCH)):
        unique_batch = []
        for cand in batch:
            if cand.email in seen:
                where = seen[cand.email]
                report.add(InviteResult(
                    cand.email, "already_invited",
                    _("Listed earlier on line %(line)s.", line=where) if where else _("Listed more than once."),
                    cand.line, source=cand.source, position=cand.position, name=_name_of(cand),
                    user_id=_key_of(cand)))
                continue
            seen[cand.email] = cand.line
            unique_batch.append(cand)
        if not unique_batch:  # a batch of addresses already seen (a list pasted twice): reported, nothing to write
            continue
        lookup = [c.email for c in unique_batch if c.user is None]
        user_ids = _user_ids_by_email(lookup) if lookup else {}
        rows, results = [], []
        for cand in unique_batch:
            uid = st.user_id(cand.user) if cand.user is not None else user_ids.get(cand.email)
            registered = uid is not None
            rows.append({
                "contract_id": contract.id, "user_id": uid, "email": cand.email,
                "status": InvitationStatus.OUTSTANDING if registered else InvitationStatus.NOT_REGISTERED,
                "require_code": contract.require_invitation_code, "enrolled_count": 0, "invited_at": now,
                "invited_by": invited_by, "invited_by_id": invited_by_id, "last_sent_at": now, "send_count": 1,
            })
            results.append(InviteResult(
                cand.email, "invited" if registered else "not_registered",
                _("Invited.") if registered else _("Invited; no account uses this e-mail yet."), cand.line,
                source=cand.source, position=cand.position, name=_name_of(cand),
                    user_id=_key_of(cand)))
        # One statement per batch: the live-invitation unique indexes (per e-mail, per learner) skip whoever is
        # already invited, and RETURNING says which rows went in. Concurrent invites cannot slip between a check
        # and the insert. E-mails are unique within a batch, so ids are matched back by e-mail.
        # On PostgreSQL the same statement writes each new invitation's notification (its delivery state).
        id_by_email, batch_notices = _insert_invitations(rows, (contract.id, now, {"link": link}))
        if batch_notices is not None:
            notices += batch_notices
        skipped = [(row, result) for row, result in zip(rows, results) if row["email"] not in id_by_email]
        if skipped:
            live = session.execute(
                sa.select(m.Invitation.email, m.Invitation.user_id, m.Invitation.status).where(
                    m.Invitation.contract_id == contract.id, m.Invitation.status != LIVE,
                    sa.or_(m.Invitation.email.in_([row["email"] for row, _r in skipped]),
                           m.Invitation.user_id.in_([row["user_id"] for row, _r in skipped if row["user_id"] is not None])),
                )).all()
            by_email = {r.email: r.status for r in live if r.user_id is None}  # an address names unlinked ones
            by_user = {r.user_id: r.status for r in live if r.user_id is not None}
            for row, result in skipped:
                status = by_user.get(row["user_id"]) or by_email.get(row["email"]) or InvitationStatus.OUTSTANDING
                result.outcome, result.message = "already_invited", _("Already invited (%(status)s).",
                                                                       status=status.label)
        pairs = [(result, id_by_email[row["email"]]) for row, result in zip(rows, results)
                 if row["email"] in id_by_email]
        events += [{"invitation": {"id": id_by_email[row["email"]], "email": row["email"],
                                   "user_id": webhooks.jsonable(row["user_id"]), "status": row["status"].value,
                                   "activity_ids": activity_json}, "contract": ref}
                   for row in rows if row["email"] in id_by_email]
        for row, result in skipped:
            report.add(result)
        if not pairs:
            continue
        ids = [iid for _result, iid in pairs]
        if activity_ids:
            session.connection().execute(sa.insert(m.InvitationActivity.__table__), [
                {"invitation_id": iid, "activity_id": aid} for iid in ids for aid in activity_ids
            ])
        for result, iid in pairs:
            result.invitation_id = iid
            report.add(result)
            created_ids.append((result, iid))
        if records is not None:
            for row in rows:
                new_id = id_by_email.get(row["email"])
                if new_id is not None:
                    records[new_id] = InvitationRecord(new_id, contract_record.id, row["email"], row["status"],
                                                    row["require_code"], row["user_id"], now, invited_by,
                                                    contract_record, None, voucher_ids)
    if created_ids and not notices:
        # SQLite: the notifications of every new invitation by one INSERT … SELECT over the range of their ids
        # (this transaction holds SQLite's only write lock, so the range holds only them).
        notices = insert_invitation_notices(contract.id, [(iid, result.email) for result, iid in created_ids], now,
                                            {"link": link})
    if created_ids:
        _record(contract, "invited",
                _n("Invited %(num)s learner by %(source)s (%(reg)s registered, %(unreg)s not registered; "
                   "%(dup)s already invited, %(bad)s invalid).",
                   "Invited %(num)s learners by %(source)s (%(reg)s registered, %(unreg)s not registered; "
                   "%(dup)s already invited, %(bad)s invalid).", len(created_ids), source=source,
                   reg=len(report.invited), unreg=len(report.not_registered), dup=len(report.already_invited),
                   bad=len(report.invalid)),
                actor=actor)
    webhooks.record_events(WebhookEvent.INVITATION_CREATED, contract.id, events)
    app, contract_id, contract_code = _app(), contract.id, contract.code
    deliver_after_commit(notices, lambda outcomes: _report_failures(contract_id, contract_code, created_ids, report,
                                                                    outcomes, actor), known=records)
    if records:
        _after_commit(lambda: _signal_new(app, records, actor))
    return report


def _user_ids_by_email(emails: list[str]) -> dict[str, HostKey]:
    """Lower-case e-mail → host user key for ``emails``, through the host's batch hook (one call for the batch).

    Holding an address is not owning it: a user whose address the host has not verified
    (``ContractRules.email_verified``) counts as no account, so an invitation sent to the address is Not
    Registered and waits for its owner (``link_registered_user`` links it once verified). With the default
    hooks (nothing to verify) this is one query of two columns (no user objects are built).
    """
    st = _state()

    def is_default(name: str) -> bool:
        return getattr(getattr(st.rules, name), "__func__", None) is getattr(ContractRules, name)

    trusted = is_default("email_verified")
    if trusted and is_default("find_users_by_email") and is_default("find_user_by_email"):
        column = getattr(st.user_model, config_value("USER_EMAIL_ATTR"))
        found = _session().execute(
            sa.select(column, st.user_pk_column).where(_one_of(sa.func.lower(column), sorted(set(emails))))).all()
        return {email.lower(): uid for email, uid in found}
    return {email: st.user_id(user) for email, user in st.rules.find_users_by_email(emails).items()
            if trusted or st.rules.email_verified(user)}


def _insert_invitations(rows: list[dict[str, Any]], notice: tuple[int, dt.datetime, dict[str, Any]]
                        ) -> tuple[dict[str, int], list[Claim] | None]:
    """Insert ``rows`` into lc_invitation, skipping any a live invitation already covers; e-mail → new id.

    On PostgreSQL the same statement writes the "invitation" notification of each new row (``notice``:
    contract id, time, payload) and their claims come back too; elsewhere ``None`` (the caller writes them)."""
    if not rows:
        return {}, None
    table, session = _m().Invitation.__table__, _session()
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # INSERT … SELECT unnest(:column_array) …: one short statement with one array per column, instead of
        # a VALUES list the driver would have to parse for every batch.
        from sqlalchemy.dialects.postgresql import ARRAY, insert as pg_insert

        columns = list(rows[0])
        arrays = []
        for name in columns:
            column_type = table.c[name].type
            values = [row[name] for row in rows]
            if isinstance(column_type, EnumString):
                column_type, values = sa.String(20), [None if v is None else v.value for v in values]
            arrays.append(sa.func.unnest(sa.bindparam(None, values, type_=ARRAY(column_type))))
        stmt = (pg_insert(table).from_select(columns, sa.select(*arrays)).on_conflict_do_nothing()
                .returning(table.c.id, table.c.email))
        contract_id, now, payload = notice
        combined, params = with_invitation_notices(stmt, contract_id, now, payload)
        written = session.connection().execute(combined, params).all()
        return ({email: iid for _nid, iid, email in written},
                invitation_claims(contract_id, [tuple(row) for row in written], payload))
    if dialect == "sqlite":  # 3.35+, as the outbox's RETURNING needs anyway
        return _insert_sqlite_returning(rows), None
    # Other databases: a plain insert (a conflict with a concurrent invite rolls back and the call is retried).
    stmt = sa.insert(table).returning(table.c.id, table.c.email)  # pragma: no cover
    return {email: iid for iid, email in session.connection().execute(stmt, rows)}, None  # pragma: no cover


#: The columns that differ between the rows of one batch (the others are the same for every row of an invite).
_VARYING = ("user_id", "email", "status")


def _sqlite_insert_statement(m: Models, constant: tuple[str, ...]) -> Any:
    """SQLite: ``INSERT INTO lc_invitation … SELECT … FROM json_each(:p_rows) … ON CONFLICT DO NOTHING RETURNING
    id, email``: the varying columns of the whole batch travel as one JSON array of rows (the SQLite form of
    PostgreSQL's ``unnest`` of arrays), the constant ones as single parameters."""
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    table = m.Invitation.__table__
    rows = sa.func.json_each(sa.bindparam("p_rows", type_=sa.String)).table_valued("value").alias("r")
    picked = [sa.type_coerce(sa.func.json_extract(rows.c.value, f"$[{i}]"), sa.String) for i in range(len(_VARYING))]
    select = sa.select(*(sa.bindparam(f"p_{name}", type_=table.c[name].type) for name in constant), *picked) \
        .select_from(rows).where(sa.true())  # WHERE: SQLite reads "ON CONFLICT" after a bare FROM as a join's ON
    return (sqlite_insert(table).from_select([*constant, *_VARYING], select).on_conflict_do_nothing()
            .returning(table.c.id, table.c.email))


def _insert_sqlite_returning(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert one batch of invitation rows on SQLite 3.35+ in one statement that returns the new rows' ids
    (:func:`_sqlite_insert_statement`); rows a live invitation already covers are skipped. E-mail → new id."""
    conn, table = _session().connection(), _m().Invitation.__table__
    constant = tuple(name for name in rows[0] if name not in _VARYING)
    converters = []
    for name in _VARYING:
        process = table.c[name].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        converters.append((name, functools.cache(process) if process is not None else None))
    varying = [[row[name] if convert is None else convert(row[name]) for name, convert in converters]
               for row in rows]
    statement = _statement("invite_sqlite_" + ",".join(constant), lambda m: _sqlite_insert_statement(m, constant))
    params = {f"p_{name}": rows[0][name] for name in constant}
    params["p_rows"] = json.dumps(varying)
    return {email: iid for iid, email in conn.execute(statement, params)}


def _report_failures(contract_id: int, contract_code: str, created: list[tuple[InviteResult, int]],
                     report: InviteReport, outcomes: list[Outcome], actor: HostUser | None) -> None:
    """After the immediate delivery of a bulk invite: failed notifications go into the report and the history
    (the invitations exist; the notifications are retried with backoff)."""
    failures = [o for o in outcomes if o.status is DeliveryStatus.FAILED]
    if not failures:
        return
    by_id = {iid: result for result, iid in created}
    for outcome in failures:
        if outcome.claim.invitation_id in by_id:
            report.notification_failures.append((by_id[outcome.claim.invitation_id], outcome.error or ""))
    # Failures that used their last attempt already have their own history entry ("… retry them from the
    # Invitations tab"): saying here that they are retried automatically would contradict it.
    failures = [o for o in failures if o.claim.attempts < max(1, int(config_value("DELIVERY_ATTEMPTS")))]
    if not failures:
        return
    sample = "; ".join(f"{o.claim.recipient}: {o.error}" for o in failures[:5])
    _record_separately(contract_id, contract_code, "notification_failed",
                       _("%(n)s invitation notifications could not be sent (the invitations exist; they are retried "
                         "automatically): %(sample)s", n=len(failures), sample=sample), actor=actor)


def _signal_new(app: Flask, records: dict[int, InvitationRecord], actor: HostUser | None) -> None:
    """After the invite committed: ``invitation_created`` for each new invitation, in id order, with its record."""
    if signals.invitation_created.receivers:
        for iid in sorted(records):
            signals.invitation_created.send(app, invitation=records[iid], actor=actor)


@transactional
def invite(contract: Contract, *, users: Iterable[HostUser] = (), emails: Iterable[str] = (),
           activities: Iterable[ActivityRef] | None = None, actor: HostUser | None = None) -> InviteReport:
    """Invite existing ``users`` and/or ``emails`` to ``contract``; return the per-input report.

    Voucher: the invitation covers ``activities`` (default: all the contract's current activities).
    Subscription: it always covers every activity of the contract, including ones added later.
    E-mails without an account get a Not Registered invitation. Only while the contract is active.
    """
    report = InviteReport()
    candidates = _user_candidates(list(users), report) + _typed_candidates(emails, report)
    return _invite_candidates(contract, candidates, activities, report, actor, _("selection"))


def _key_of(candidate: _Candidate) -> str | None:
    return str(_state().user_id(candidate.user)) if candidate.user is not None else None


def _name_of(candidate: _Candidate) -> str | None:
    return _state().rules.user_display_name(candidate.user) if candidate.user is not None else None


def _refresh_expired(model: type[Any], objects: list[Any]) -> None:
    """Reload expired (e.g. committed since they were loaded) ``model`` instances with one query per
    batch, instead of one query each on their first attribute access."""
    keys = []
    for obj in objects:
        state = sa.inspect(obj, raiseerr=False)
        if state is not None and state.expired and state.identity is not None and len(state.identity) == 1:
            keys.append(state.identity[0])
    pk = _primary_key_column(model)
    for start in range(0, len(keys), _BATCH):
        _session().execute(sa.select(model).where(pk.in_(keys[start:start + _BATCH]))).scalars().all()


def _primary_key_column(model: type[Any]) -> sa.Column[Any]:
    column: sa.Column[Any] = sa.inspect(model).primary_key[0]
    return column


def _valid_email(email: str) -> bool:
    """A plausible address: one ``@``, a dot in the domain, and no control, invisible or direction-changing
    character (such an address can never match an account, and may display as another one)."""
    if not (3 <= len(email) <= 320 and _EMAIL_RE.match(email)):
        return False
    if email.isascii() and email.isprintable():  # the common case, at C speed: no control character, and the
        return True                              # pattern already refused blanks
    return not any(unicodedata.category(char) in {"Cc", "Cf", "Co", "Cs", "Zl", "Zp", "Zs"} for char in email)
