"""Inviting through the pages (rule 13): one submission — picked users, typed addresses (the ``emails`` field),
a CSV file, or any mix of them — checked before anything is written, stored under the form's random token,
invited once, and its per-row report kept for the page after it (Post/Redirect/Get).

The token makes the flow safe to repeat: a second POST of the same form (a double click, a browser retry)
finds the run instead of inviting again, and refreshing the report page reads the stored report.
"""
from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import datetime as dt
import functools
import io
import itertools
import re
import secrets
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa

from .. import errors
from ..config import config_value
from ..i18n import _
from ..models import Contract
from ..rules import ActivityRef, HostUser
from ._core import _BATCH, _actor_fields, _m, _normalize_email, _now, _rowcount, _session, _state, transactional
from .access import _ensure_active, parse_key
from .csv_upload import _parse_csv_lines, _upload_chunks, _upload_lines
from .inviting import (
    InviteReport,
    InviteResult,
    _Candidate,
    _invite_candidates,
    _typed_candidates,
    _user_candidates,
    _valid_email,
    split_addresses,
)

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

DRAFT, RUNNING, DONE = "draft", "running", "done"
#: How long a run may stay ``running`` before its report says it stopped (100,000 CSV lines take seconds).
STALLED_AFTER = dt.timedelta(minutes=10)


@dataclasses.dataclass
class Submission:
    """What one invite form sent: picked users (host keys as text, or their addresses where the picker posts
    addresses), the typed ``emails`` text, a CSV file."""

    user_ids: list[str] = dataclasses.field(default_factory=list)
    emails: str = ""
    csv: bytes | None = None
    csv_name: str = ""
    picked: list[str] = dataclasses.field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"user_ids": self.user_ids, "emails": self.emails, "csv_name": self.csv_name, "picked": self.picked,
                "csv": base64.b64encode(self.csv).decode("ascii") if self.csv is not None else None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Submission:
        raw = data.get("csv")
        try:
            csv = base64.b64decode(raw, validate=True) if raw is not None else None
        except (binascii.Error, ValueError):  # pragma: no cover - we wrote it
            csv = None
        return cls([str(u) for u in data.get("user_ids") or []], str(data.get("emails") or ""), csv,
                   str(data.get("csv_name") or ""), [str(e) for e in data.get("picked") or []])


@dataclasses.dataclass(frozen=True)
class SubmissionCount:
    """How many inputs a submission holds, by where they come from (shown on the activity step)."""

    users: int
    typed: int
    csv_rows: int
    csv_name: str

    @property
    def total(self) -> int:
        return self.users + self.typed + self.csv_rows


@dataclasses.dataclass
class ReportRow:
    """One row of a stored report (see :class:`~.inviting.InviteResult`)."""

    email: str
    outcome: str
    message: str
    source: str
    name: str | None = None
    line: int | None = None
    position: int | None = None


@dataclasses.dataclass(frozen=True)
class ReportPage:
    """One page of a stored report's rows, all of them or those of one outcome."""

    rows: list[ReportRow]
    total: int  #: rows of the chosen outcome (or all), on every page
    page: int  #: 1-based, within ``1 … pages``
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclasses.dataclass
class StoredReport:
    """The report of a finished run, as the report page shows it."""

    rows: list[ReportRow]
    failures: list[tuple[str, str]]

    @functools.cached_property
    def _counts(self) -> Counter[str]:
        return Counter(row.outcome for row in self.rows)

    @functools.cached_property
    def outcomes(self) -> list[str]:
        """The outcomes the rows have, each once, most common first (the page offers a filter when there are two)."""
        return [outcome for outcome, _rows in self._counts.most_common()]

    def count(self, outcome: str) -> int:
        """How many rows have ``outcome`` (worked out once per report: the page asks for each outcome twice)."""
        return self._counts[outcome]

    def rows_page(self, page: int = 1, per_page: int | None = None, outcome: str | None = None) -> ReportPage:
        """The rows of page ``page`` (clamped to the pages there are), in the report's order, only those of
        ``outcome`` when given: a report of 100,000 lines is shown a page at a time."""
        per_page = max(1, min(int(per_page or config_value("PAGE_SIZE")), 500))
        chosen = self.rows if not outcome else [row for row in self.rows if row.outcome == outcome]
        page = max(1, min(int(page), -(-len(chosen) // per_page) or 1))
        return ReportPage(chosen[(page - 1) * per_page:page * per_page], len(chosen), page, per_page)

    @functools.cached_property
    def has_csv(self) -> bool:
        """Whether any row comes from a CSV file (only those have a line number to show). Worked out once: the
        report page asks on every row, and a scan per row made a 20,000-row report quadratic."""
        return any(row.source == "csv" for row in self.rows)

    @classmethod
    def from_report(cls, report: InviteReport, names: dict[str, str]) -> StoredReport:
        order = {"user": 0, "typed": 1, "csv": 2}
        results = sorted(report.invited + report.already_invited + report.not_registered + report.invalid,
                         key=lambda r: (order.get(r.source, 1), r.line or 0, r.position or 0))
        rows = [ReportRow(r.email, r.outcome, r.message, r.source,
                          r.name or (names.get(r.email) if r.outcome == "invited" else None), r.line, r.position)
                for r in results]
        return cls(rows, [(result.email, message) for result, message in report.notification_failures])

    def to_json(self) -> dict[str, Any]:
        # vars(), not dataclasses.asdict(): the fields are plain values, and asdict's deep copy took 1.8 s of a
        # 100,000-row invite
        return {"rows": [dict(vars(row)) for row in self.rows], "failures": [list(f) for f in self.failures]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoredReport:
        return cls([ReportRow(**row) for row in data.get("rows") or []],
                   [(str(email), str(message)) for email, message in data.get("failures") or []])


@dataclasses.dataclass(frozen=True)
class InviteRunInfo:
    """A run as the pages see it."""

    token: str
    state: str
    count: SubmissionCount
    report: StoredReport | None
    #: Running for longer than any run takes (:data:`STALLED_AFTER`): the process sending it died, its
    #: transaction rolled back, and nobody was invited.
    stalled: bool = False


def new_run_token() -> str:
    """A fresh, unguessable token for one invite form."""
    return secrets.token_urlsafe(24)


def is_run_token(raw: object) -> bool:
    return isinstance(raw, str) and bool(_TOKEN.match(raw))


def invite_blocker(contract: Contract) -> str | None:
    """Why nobody can be invited to ``contract`` now (it has not started or has ended), or ``None``."""
    try:
        _ensure_active(contract)
    except errors.ContractNotActive as refusal:
        return str(refusal)
    return None


# -- reading a submission -------------------------------------------------------------------------------
def _csv_candidates(submission: Submission, report: InviteReport) -> Iterator[_Candidate]:
    if submission.csv is None:
        return iter(())
    return _parse_csv_lines(_upload_lines(_upload_chunks(io.BytesIO(submission.csv))), report)


def count_submission(submission: Submission) -> SubmissionCount:
    """Check a submission before anything is written, and count its inputs.

    Refuses (``ValidationError`` on the field to fix) a file that cannot be read, a file that holds no
    address (empty, blank lines or only a header), and a submission with nobody in it at all.
    """
    csv_rows = 0
    if submission.csv is not None:
        report = InviteReport()
        csv_rows = sum(1 for _c in _csv_candidates(submission, report)) + len(report.invalid)
        if not csv_rows:
            raise errors.ValidationError(
                _("%(file)s holds no e-mail address (it is empty or has only a header). Choose a file with one "
                  "e-mail address per line.", file=submission.csv_name or _("The file")), field="file")
    count = SubmissionCount(len(submission.user_ids) + len(submission.picked), len(split_addresses(submission.emails)),
                            csv_rows, submission.csv_name)
    if not count.total:
        raise errors.ValidationError(
            _("Nobody to invite yet: pick people, type e-mail addresses or upload a CSV file."), field="emails")
    return count


def _users_by_keys(raw_ids: Iterable[str]) -> list[HostUser]:
    """The picked users (ids no user can have, and users deleted since, are left out), in one query."""
    st = _state()
    keys = [key for key in (parse_key(st.user_pk_column, raw) for raw in raw_ids) if key is not None]
    if not keys:
        return []
    return list(_session().execute(sa.select(st.user_model).where(st.user_pk_column.in_(keys))).scalars())


@transactional
def invite_submission(contract: Contract, submission: Submission, *, activities: Iterable[ActivityRef] | None = None,
                      actor: HostUser | None = None) -> InviteReport:
    """Invite everyone a submission names, in one transaction: picked users, then typed addresses (invalid ones
    reported with their position), then the CSV lines (with their line numbers). An address given twice is
    invited once and reported as a duplicate."""
    report = InviteReport()
    users = _user_candidates(_users_by_keys(submission.user_ids), report) + _picked_candidates(submission.picked, report)
    typed = _typed_candidates(split_addresses(submission.emails), report)
    candidates = itertools.chain(users, typed, _csv_candidates(submission, report))
    sources = [label for present, label in ((users, _("selection")), (typed, _("typed addresses")),
                                            (submission.csv is not None, _("CSV upload"))) if present]
    return _invite_candidates(contract, candidates, activities, report, actor, ", ".join(sources) or _("selection"))


def _picked_candidates(addresses: list[str], report: InviteReport) -> list[_Candidate]:
    """Addresses a picker posted (the dashboard's): reported like picked users, resolved like typed addresses
    (an address whose account is not verified is Not Registered)."""
    candidates = []
    for raw in addresses:
        email = _normalize_email(raw)
        if _valid_email(email):
            candidates.append(_Candidate(email, None, source="user"))
        else:
            report.add(InviteResult(raw, "invalid", _("Not a valid e-mail address."), source="user"))
    return candidates


def _registered_names(report: InviteReport) -> dict[str, str]:
    """Display names of the accounts typed addresses and CSV lines were matched to (one batch hook call per 500)."""
    rules = _state().rules
    wanted = [r.email for r in report.invited if r.name is None]
    names: dict[str, str] = {}
    for start in range(0, len(wanted), _BATCH):
        for email, user in rules.find_users_by_email(wanted[start:start + _BATCH]).items():
            names[email] = rules.user_display_name(user)
    return names


# -- runs ----------------------------------------------------------------------------------------------
def _purge_old_runs() -> None:
    hours = float(config_value("INVITE_RUN_HOURS"))
    run = _m().InviteRun
    _session().execute(sa.delete(run).where(run.created_at < _now() - dt.timedelta(hours=hours))
                       .execution_options(synchronize_session=False))


@transactional
def claim_invite_run(contract: Contract, token: str, submission: Submission, *, draft: bool,
                     count: SubmissionCount | None = None, actor: HostUser | None = None) -> bool:
    """Store a submission under ``token``: ``True`` when this call stored it, ``False`` when the token was
    already used (the same form sent again). A ``draft`` (a Voucher invite) waits for its activity step."""
    run, session = _m().InviteRun, _session()
    _purge_old_runs()
    existing = session.get(run, token)
    if existing is not None:
        if existing.contract_id != contract.id:
            raise errors.ValidationError(_("This form belongs to another contract. Open the invite page again."))
        return False
    session.add(run(token=token, contract_id=contract.id, actor_id=_actor_fields(actor)["actor_id"],
                    state=DRAFT if draft else RUNNING, created_at=_now(),
                    submitted={**submission.to_json(), "csv_rows": count.csv_rows if count else 0}))
    session.flush()
    return True


def get_invite_run(contract: Contract, token: str) -> InviteRunInfo | None:
    """The run of ``token`` on ``contract`` (``None``: unknown, expired, or another contract's)."""
    if not is_run_token(token):
        return None
    found = _session().get(_m().InviteRun, token)
    if found is None or found.contract_id != contract.id:
        return None
    submission = Submission.from_json(found.submitted)
    count = SubmissionCount(len(submission.user_ids) + len(submission.picked), len(split_addresses(submission.emails)),
                            int(found.submitted.get("csv_rows") or 0), submission.csv_name)
    report = StoredReport.from_json(found.report) if found.report is not None else None
    stalled = found.state == RUNNING and found.created_at < _now() - STALLED_AFTER
    return InviteRunInfo(found.token, found.state, count, report, stalled)


def invite_run_holds(contract: Contract, token: str, submission: Submission) -> bool:
    """Whether the run of ``token`` on ``contract`` stored exactly ``submission``: the same form sent again (a
    double click, a refresh that re-posts), as opposed to a form whose ``run`` token a browser restored after
    Back while its people were changed (that content is a new submission)."""
    found = _session().get(_m().InviteRun, token) if is_run_token(token) else None
    return found is not None and found.contract_id == contract.id and Submission.from_json(found.submitted) == submission


def start_invite_run(contract: Contract, token: str, submission: Submission, *,
                     activities: Iterable[ActivityRef] | None = None, actor: HostUser | None = None
                     ) -> InviteRunInfo | None:
    """Claim ``token`` and invite everyone ``submission`` names; ``None`` when the token was already used."""
    if not claim_invite_run(contract, token, submission, draft=False, actor=actor):
        return None
    return _run(contract, token, submission, activities, actor, back_to=None)


@transactional
def _take_draft(contract: Contract, token: str) -> Submission | None:
    """Move a draft run to running (one conditional update: only one of two concurrent POSTs gets it)."""
    table = _m().InviteRun.__table__
    taken = _session().execute(sa.update(table).where(table.c.token == token, table.c.contract_id == contract.id,
                                                      table.c.state == DRAFT)
                                .values(state=RUNNING, created_at=_now()))  # running since now (see stalled)
    if _rowcount(taken) != 1:
        return None
    submitted = _session().execute(sa.select(table.c.submitted).where(table.c.token == token)).scalar_one()
    return Submission.from_json(submitted)


def finish_draft_run(contract: Contract, token: str, *, activities: Iterable[ActivityRef] | None = None,
                     actor: HostUser | None = None) -> InviteRunInfo | None:
    """Invite a draft run's submission with the activities of its second step; ``None`` when it is no longer a
    draft (already sent: a double click or a refresh that re-posted the form)."""
    submission = _take_draft(contract, token)
    if submission is None:
        return None
    return _run(contract, token, submission, activities, actor, back_to=DRAFT)


def _run(contract: Contract, token: str, submission: Submission, activities: Iterable[ActivityRef] | None,
         actor: HostUser | None, *, back_to: str | None) -> InviteRunInfo:
    """Invite and store the report in one transaction; on a refusal, or any other failure (the transaction rolled
    back: nobody was invited), give the token back (a draft stays a draft, a direct run is forgotten) so that the
    form can be sent again instead of showing "still being sent" until the run is purged."""
    try:
        report, stored = _invite_and_store(contract, token, submission, activities, actor)
    except Exception:
        with contextlib.suppress(Exception):  # the database may be what failed: the first error is the one to see
            _release_run(token, back_to)
        raise
    if report.notification_failures:  # known only after the commit (the notifications are sent after it)
        stored = StoredReport.from_report(report, {row.email: row.name for row in stored.rows if row.name})
        _save_report(token, stored)
    return InviteRunInfo(token, DONE, SubmissionCount(0, 0, 0, submission.csv_name), stored)


@transactional
def _invite_and_store(contract: Contract, token: str, submission: Submission,
                      activities: Iterable[ActivityRef] | None, actor: HostUser | None
                      ) -> tuple[InviteReport, StoredReport]:
    report = invite_submission(contract, submission, activities=activities, actor=actor)
    stored = StoredReport.from_report(report, _registered_names(report))
    table = _m().InviteRun.__table__
    _session().execute(sa.update(table).where(table.c.token == token).values(state=DONE, report=stored.to_json()))
    return report, stored


@transactional
def _save_report(token: str, stored: StoredReport) -> None:
    table = _m().InviteRun.__table__
    _session().execute(sa.update(table).where(table.c.token == token).values(report=stored.to_json()))


@transactional
def _release_run(token: str, back_to: str | None) -> None:
    table = _m().InviteRun.__table__
    if back_to is None:
        _session().execute(sa.delete(table).where(table.c.token == token))
    else:
        _session().execute(sa.update(table).where(table.c.token == token).values(state=back_to))
