"""The one invitation flow of the admin panel and the contract-admin dashboard (rule 13, rule 12).

Both places show the same steps with the same form and the same template macros
(``learning_contracts/macros/invite.html``), in their own look (a ``ui`` dict of CSS classes):

1. **Who** (``GET``/``POST …/invite``): pick people, type or paste addresses into ``emails`` (commas, semicolons,
   spaces or new lines), upload a CSV file — any mix, in one submit. The submission is checked before anything
   is written (an empty or header-only file, or nobody at all, keeps the admin on this step with the reason).
   On a contract that has not started or has ended the step says so and its form is disabled; a forged POST
   is refused with the same reason.
2. **Activities** (Voucher contracts with a choice, ``…/invite/<token>/activities``): which activities the
   invitations cover. The submission waits server-side (an invite run, see ``services.invite_runs``).
3. **Report** (``…/invite/<token>``): one row per input, with name and e-mail; the Line column only when a
   CSV file was part of it. Every POST redirects here (Post/Redirect/Get): a refresh shows the stored report,
   and a second POST of the same form (its ``run`` token, the same people) finds the run instead of inviting
   again. The same token with other people (Back restored the form's token, the list was changed) is a new run.

The admin view and the dashboard supply what differs (who may see what, URLs, the picker) through
:class:`InvitePages`; the steps themselves are written once, here.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from flask import flash, jsonify, redirect, request, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response
from wtforms import fields
from wtforms.widgets import CheckboxInput, ListWidget

from . import errors, services
from .config import config_value
from .i18n import _, _l, _n, format_count
from .models import Contract
from .rules import HostActivity, HostUser

PageResult = str | Response | tuple[str, int]
#: The most picked people a re-shown step 1 lists again (a refused submit keeps what was picked).
PICKED_KEPT = 500
#: The most rows a search-as-you-type answer holds (the pickers' own limits are the same or lower).
SEARCH_RESULTS = 20


def picker_script() -> str:
    """The URL of the search-as-you-type script (``static/learning_contracts/picker.js``)."""
    return url_for("learning_contracts.static", filename="learning_contracts/picker.js")


def search_answer(query: str, rows: list[dict[str, Any]]) -> Response:
    """The JSON answer of a picker's search endpoint: ``{"query": …, "results": [{value, name, email, note,
    disabled?, url?}, …]}``, at most :data:`SEARCH_RESULTS` rows, never cached."""
    response = jsonify(query=query, results=rows[:SEARCH_RESULTS])
    response.headers["Cache-Control"] = "no-store"
    return response


class CheckboxListField(fields.SelectMultipleField):
    """Several choices shown as a list of checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class InviteForm(FlaskForm):
    """Step 1, the same in the admin panel and the dashboard."""

    run = fields.HiddenField()
    user_ids = fields.SelectMultipleField(_l("People"), choices=[], validate_choice=False)
    emails = fields.TextAreaField(
        _l("E-mail addresses"),
        description=_l("One or many, separated by commas, semicolons, spaces or new lines. People without an "
                       "account are invited as Not Registered and join when they sign up."))
    file = FileField(_l("CSV file"), description=_l("One e-mail address per line. No header needed; blank lines, "
                                                    "spaces, capitals and duplicates are fine."))


class InviteActivitiesForm(FlaskForm):
    """Step 2 (Voucher): which of the contract's activities the invitations cover."""

    activity_ids = CheckboxListField(_l("Activities the invitations cover"), choices=[], validate_choice=False)


@dataclasses.dataclass(frozen=True)
class Person:
    """One row of the picker: the value posted, and what people read."""

    value: str
    name: str
    email: str
    note: str = ""


#: The CSS classes of each look. Keys are what the macros ask for.
ADMIN_UI: dict[str, str] = {
    "card": "card mb-3", "card_body": "card-body", "card_title": "h6", "columns": "row", "column": "col-lg-6",
    "label": "font-weight-bold mb-1 d-block", "input": "form-control", "file": "form-control-file",
    "hint": "form-text text-muted small", "error": "invalid-feedback d-block", "invalid": "is-invalid",
    "button": "btn btn-primary", "secondary": "btn btn-outline-secondary", "link": "btn btn-link",
    "inline": "form-inline mb-2", "checks": "list-unstyled mb-2", "check": "custom-control custom-checkbox",
    "check_input": "custom-control-input", "check_label": "custom-control-label", "fieldset": "mb-2",
    "legend": "h6", "muted": "text-muted", "empty": "text-muted mb-0", "table_wrap": "table-responsive",
    "table": "table table-bordered table-sm lc-report lc-cards", "warning": "alert alert-warning",
    "problem": "alert alert-danger", "buttons": "mb-4 lc-buttons", "group": "form-group",
    "stats": "lc-report-counts mb-3", "stat": "border rounded py-2 text-center", "stat_value": "h4 mb-0", "badge": "badge", "disabled": "lc-disabled", "lead": "text-muted",
    "pager": "lc-report-pager d-flex flex-wrap align-items-center mb-3", "pager_link": "btn btn-sm btn-outline-secondary",
    "outcome_filter": "lc-outcome-filter mb-2",
    "badge_invited": "badge-success", "badge_already_invited": "badge-secondary",
    "badge_not_registered": "badge-info", "badge_invalid": "badge-danger",
}
DASHBOARD_UI: dict[str, str] = {
    "card": "lc-card", "card_body": "", "card_title": "lc-card-title", "columns": "lc-columns", "column": "",
    "label": "", "input": "lc-input", "file": "", "hint": "lc-hint", "error": "lc-field-error", "invalid": "lc-invalid",
    "button": "lc-button", "secondary": "lc-button lc-button-secondary", "link": "lc-link-button",
    "inline": "lc-inline", "checks": "lc-checks", "check": "", "check_input": "", "check_label": "",
    "fieldset": "lc-fieldset", "legend": "", "muted": "lc-muted", "empty": "lc-empty", "table_wrap": "lc-table-wrap",
    "table": "lc-table lc-cards", "warning": "lc-note lc-note-warn", "problem": "lc-flash lc-flash-error",
    "buttons": "lc-button-row", "group": "lc-field", "stats": "lc-stats lc-stats-wide", "stat": "", "stat_value": "", "badge": "lc-badge", "disabled": "lc-disabled", "lead": "lc-lead",
    "pager": "lc-pager", "pager_link": "", "outcome_filter": "lc-outcome-filter",
    "badge_invited": "lc-outcome-invited", "badge_already_invited": "lc-outcome-already_invited",
    "badge_not_registered": "lc-outcome-not_registered", "badge_invalid": "lc-outcome-invalid",
}

OUTCOME_LABELS = {"invited": _l("Invited"), "already_invited": _l("Already invited"),
                  "not_registered": _l("Not Registered"), "invalid": _l("Invalid")}


def who_summary(count: services.SubmissionCount) -> str:
    """"Inviting 1 selected user, 2 typed addresses and the 40 lines of people.csv." — with plurals."""
    parts = []
    if count.users:
        parts.append(_n("%(num)s selected user", "%(num)s selected users", count.users))
    if count.typed:
        parts.append(_n("%(num)s typed address", "%(num)s typed addresses", count.typed))
    if count.csv_rows:
        parts.append(_n("%(num)s line of %(file)s", "%(num)s lines of %(file)s", count.csv_rows,
                        file=count.csv_name or _("the uploaded file")))
    listed = parts[0] if len(parts) == 1 else _("%(some)s and %(last)s", some=", ".join(parts[:-1]), last=parts[-1])
    return _("Inviting %(who)s.", who=listed) if parts else ""


def report_summary(report: services.StoredReport) -> str:
    created = report.count("invited") + report.count("not_registered")
    if not created:
        return _("Nobody new was invited.")
    return _n("Invited %(num)s learner.", "Invited %(num)s learners.", created)


def _csrf_refused(form: FlaskForm) -> bool:
    return "csrf_token" in form and bool(form.csrf_token.errors)


@dataclasses.dataclass
class InvitePages:
    """The steps for one contract, as one place (admin panel or dashboard) shows them.

    ``render(step, context)`` renders ``"invite"``, ``"activities"`` or ``"report"`` in that place's look;
    ``url(step, token=None, **query)`` builds the URLs of ``"invite"``, ``"activities"``, ``"report"`` and
    ``"list"`` (the invitations list) and ``"search"`` (the picker's JSON search, see :meth:`search`); ``find_people(query)`` lists the picker's rows; with ``pick_by_id`` the
    picker posts account ids (``user_ids``), otherwise addresses (into ``emails``).
    """

    contract: Contract
    actor: HostUser
    render: Callable[[str, dict[str, Any]], str]
    url: Callable[..., str]
    find_people: Callable[[str], list[Person]]
    pick_by_id: bool
    activity_id: Callable[[HostActivity], Any]
    activity_label: Callable[[HostActivity], str]
    #: The rows of values already picked (posted back on a refused submit), so a re-shown step keeps them.
    describe_picked: Callable[[list[str]], list[Person]] = lambda values: [Person(v, v, "") for v in values]

    @property
    def pick_field(self) -> str:
        """The name the picker's checkboxes post: account ids in the admin panel, addresses on the dashboard."""
        return "user_ids" if self.pick_by_id else "people"

    # -- step 1 ---------------------------------------------------------------------------------------
    def start(self, form: InviteForm | None = None, problem: str = "", status: int = 200) -> PageResult:
        form = form or InviteForm(formdata=None, run=services.new_run_token())
        if not form.run.data:
            form.run.data = services.new_run_token()
        query = (request.args.get("q") or request.form.get("q") or "").strip()[:320]
        people = self.find_people(query) if query else []
        blocker = services.invite_blocker(self.contract)
        picked = list(dict.fromkeys(value for value in request.form.getlist(self.pick_field) if value))
        listed = {person.value for person in people}
        kept = [value for value in picked if value not in listed][:PICKED_KEPT]
        page = self.render("invite", self._context(
            form=form, query=query, people=people, blocker=blocker, problem=problem,
            two_steps=services.needs_activity_choice(self.contract),
            picked=set(picked), kept=self.describe_picked(kept) if kept else []))
        return (page, status) if status != 200 else page

    def submit(self) -> PageResult:
        form = InviteForm()
        if not form.validate_on_submit():
            if _csrf_refused(form):
                return self.start(form, _("Your session expired or the form was not sent from this page. Nothing "
                                          "was changed; please try again."), 400)
            return self.start(form, _("Check the form and try again."), 400)  # pragma: no cover - no other rule
        raw = form.run.data
        token = raw if isinstance(raw, str) and services.is_run_token(raw) else services.new_run_token()
        submission = self._submission(form)
        if services.get_invite_run(self.contract, token) is not None:
            if services.invite_run_holds(self.contract, token, submission):  # the same form again: show what it did
                return redirect(self.url("report", token))
            token = services.new_run_token()  # changed after it was sent (Back restored its token): a new run
        blocker = services.invite_blocker(self.contract)
        if blocker:
            return self.start(form, blocker, 409)
        try:
            count = services.count_submission(submission)
        except errors.ValidationError as problem:
            field = problem.field if problem.field in ("file", "emails") else "emails"
            form[field].errors = [str(problem)]
            return self.start(form, status=400)
        try:
            if services.needs_activity_choice(self.contract):
                services.claim_invite_run(self.contract, token, submission, draft=True, count=count, actor=self.actor)
                return redirect(self.url("activities", token))
            services.start_invite_run(self.contract, token, submission, actor=self.actor)
        except errors.LearningContractError as refusal:
            return self.start(form, str(refusal), 409 if isinstance(refusal, errors.ContractNotActive) else 400)
        return redirect(self.url("report", token))

    def _submission(self, form: InviteForm) -> services.Submission:
        user_ids = [raw for raw in request.form.getlist("user_ids") if raw] if self.pick_by_id else []
        picked = [] if self.pick_by_id else [raw for raw in request.form.getlist("people") if raw]
        typed = form.emails.data or ""
        upload = form.file.data
        csv, name = None, ""
        if isinstance(upload, FileStorage) and (upload.filename or upload.content_length):
            csv = upload.read(int(config_value("CSV_MAX_BYTES")) + 1)
            name = upload.filename or ""
        return services.Submission(user_ids, typed, csv, name, picked)

    def search(self) -> Response:
        """GET ``…/invite/people.json?q=``: the picker's rows for ``q`` as JSON (search as you type). The same
        ``find_people`` as the page's submit-to-search, so the same people are found; nobody while the contract
        cannot invite."""
        query = (request.args.get("q") or "").strip()[:320]
        blocked = services.invite_blocker(self.contract)
        people = self.find_people(query) if query and not blocked else []
        return search_answer(query, [dataclasses.asdict(person) for person in people])

    # -- step 2 ---------------------------------------------------------------------------------------
    def activities(self, token: str) -> PageResult:
        run = services.get_invite_run(self.contract, token)
        if run is None:
            return self._lost()
        if run.state != "draft":
            return redirect(self.url("report", token))
        form = InviteActivitiesForm()
        choices = [(str(self.activity_id(a)), self.activity_label(a)) for a in self.contract.activities]
        form.activity_ids.choices = choices
        if request.method != "POST":
            form.activity_ids.data = [value for value, _label in choices]
            return self._activity_page(form, run)
        if not form.validate() and _csrf_refused(form):
            return self._activity_page(form, run, _("Your session expired or the form was not sent from this "
                                                    "page. Nothing was changed; please try again."), 400)
        chosen = set(form.activity_ids.data or [])
        picked = [a for a in self.contract.activities if str(self.activity_id(a)) in chosen]
        if not picked:
            form.activity_ids.errors = [_("Choose at least one activity the invitations cover.")]
            return self._activity_page(form, run, status=400)
        try:
            services.finish_draft_run(self.contract, token, activities=picked, actor=self.actor)
        except errors.LearningContractError as refusal:
            return self._activity_page(form, run, str(refusal), 409)
        return redirect(self.url("report", token))

    def _activity_page(self, form: InviteActivitiesForm, run: services.InviteRunInfo, problem: str = "",
                       status: int = 200) -> PageResult:
        page = self.render("activities", self._context(form=form, run=run, who=who_summary(run.count),
                                                       problem=problem, token=run.token))
        return (page, status) if status != 200 else page

    # -- step 3 ---------------------------------------------------------------------------------------
    def report(self, token: str) -> PageResult:
        run = services.get_invite_run(self.contract, token)
        if run is None:
            return self._lost()
        if run.state == "draft":
            return redirect(self.url("activities", token))
        outcome = request.args.get("outcome", "")
        if outcome not in OUTCOME_LABELS:
            outcome = ""
        page = request.args.get("page", 1, type=int)  # not a number: the first page; past the end: the last
        rows = run.report.rows_page(page, outcome=outcome) if run.report else None
        return self.render("report", self._context(run=run, report=run.report, rows=rows, outcome=outcome,
                                                   summary=report_summary(run.report) if run.report else ""))

    def _lost(self) -> Response:
        flash(_("That invitation report is no longer available (reports are kept for %(n)s hours). The "
                "invitations themselves are in the list.", n=config_value("INVITE_RUN_HOURS")), "error")
        return redirect(self.url("list"))

    def _context(self, **extra: Any) -> dict[str, Any]:
        return {"contract": self.contract, "invite_url": self.url, "pick_field": self.pick_field,
                "outcome_labels": OUTCOME_LABELS, "picker_js": picker_script(), "count": format_count, **extra}
