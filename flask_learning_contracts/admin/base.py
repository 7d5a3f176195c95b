"""What every Learning Contracts admin page shares: the list page's columns and filters, access, CSRF-checked
posts that call one service, refusals shown next to their field, and the tabs' page layout.
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, has_request_context, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.filters import BaseSQLAFilter, FilterLike
from flask_admin.model.filters import BaseFilter
from flask_admin.model.template import EndpointLinkRowAction
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from jinja2.runtime import Context
from markupsafe import Markup
from sqlalchemy import orm
from werkzeug.exceptions import BadRequest, Forbidden, HTTPException, NotFound, RequestEntityTooLarge
from werkzeug.wrappers import Response

from .. import errors, services
from ..enums import ContractState, ContractType, InvitationStatus
from ..i18n import _, _l, _n, language
from ..models import Contract, Invitation, Models
from ..navigation import carries_nul, page_number, safe_next, too_large_text
from ..rules import HostKey, HostUser
from . import forms
from .display import DISPLAY

if TYPE_CHECKING:
    from flask_sqlalchemy import SQLAlchemy

    from ..state import LearningContractsState

TEMPLATES = "learning_contracts/admin/"
STATIC_FOLDER = os.path.join(os.path.dirname(os.path.dirname(__file__)), "static", "learning_contracts", "admin")
PICKER_SIZE = 20
#: Flask-Admin's own ``admin/base.html`` opens with a bare ``<html>`` (no language for screen readers).
_BARE_HTML = re.compile(r"\A(\s*<!DOCTYPE html>\s*)<html>", re.IGNORECASE)

_T = TypeVar("_T")
#: What :meth:`ContractView._call` gives back: ``(True, result)``, or ``(False, None)`` when the service refused.
Outcome: TypeAlias = tuple[Literal[True], _T] | tuple[Literal[False], None]


# ---------------------------------------------------------------------------------------------
# list page: columns and filters
# ---------------------------------------------------------------------------------------------
class ChoiceFilter(BaseSQLAFilter):
    """A filter whose value must be one of its options (anything else is ignored, never a 500)."""

    def validate(self, value: str) -> bool:
        return value in {key for key, _label in self.get_options(None)}

    def operation(self) -> str:
        return str(_l("is"))


class TypeFilter(ChoiceFilter):
    def apply(self, query: orm.Query[Any], value: str, alias: object = None) -> orm.Query[Any]:
        return query.filter(self.get_column(alias) == ContractType(value))


class StateFilter(ChoiceFilter):
    """Future / Active / Expired relative to ``ContractRules.today()`` (both ends of the period inclusive)."""

    def apply(self, query: orm.Query[Any], value: str, alias: object = None) -> orm.Query[Any]:
        model: type[Contract] = self.column.class_
        today = _state().rules.today()
        state = ContractState(value)
        if state is ContractState.FUTURE:
            return query.filter(model.valid_from > today)
        if state is ContractState.EXPIRED:
            return query.filter(model.valid_until < today)
        return query.filter(model.valid_from <= today, model.valid_until >= today)


class GroupFilter(ChoiceFilter):
    """The host's groups (``ContractRules.groups``), read on each request: a host may add groups at any time."""

    def __init__(self, column: orm.InstrumentedAttribute[Any], name: str) -> None:
        super().__init__(column, name, options=services.contract_groups)

    def apply(self, query: orm.Query[Any], value: str, alias: object = None) -> orm.Query[Any]:
        return query.filter(self.get_column(alias) == value)


def _code_column(view: ContractViewBase, context: Context | None, model: Contract, name: str) -> Markup:
    url = view.get_url(".contract_view", contract_id=model.id)
    return Markup('<a href="{}">{}</a>').format(url, model.code)


def _state_badge(state: ContractState) -> Markup:
    return Markup('<span class="badge badge-{}">{}</span>').format(DISPLAY.state_badges[state.value], state.label)


#: Flask-Admin calls a column formatter with the view, the Jinja context, the row's contract and the column name.
COLUMN_FORMATTERS: dict[str, Callable[[ContractViewBase, Context | None, Contract, str], object]] = {
    "code": _code_column,
    "contract_type": lambda v, c, m, n: m.contract_type.label,
    "group": lambda v, c, m, n: DISPLAY.group(m.group),
    "seats": lambda v, c, m, n: f"{DISPLAY.number(m.seats_used)} / {DISPLAY.number(m.seats)}",
    "valid_period": lambda v, c, m, n: DISPLAY.period(m.valid_from, m.valid_until),
    "state": lambda v, c, m, n: _state_badge(services.contract_state(m)),
}


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _actor() -> HostUser:
    actor: HostUser = current_user._get_current_object()  # Flask-Login ships no types
    return actor


def may_manage() -> bool:
    """Whether the signed-in user may use the contract views (``ContractRules.can_manage_contracts``)."""
    try:
        services.ensure_can_manage(_actor())
    except errors.PermissionDenied:
        return False
    return True


def _report(error: errors.LearningContractError, form: FlaskForm | None = None) -> None:
    """Show a service refusal next to its field when the form has that field, else as a flash message (every
    problem of an ``InvalidFields``, each by its own field)."""
    if isinstance(error, errors.ValidationError):
        problems: list[errors.LearningContractError] = [*errors.field_errors(error)]
    else:
        problems = [error]
    for problem in problems:
        field = getattr(problem, "field", None)
        if form is not None and field and field in form:
            if str(problem) not in form[field].errors:
                form[field].errors = [*form[field].errors, str(problem)]
        else:
            flash(str(problem), "error")


def _host_key(column: orm.InstrumentedAttribute[Any], raw: str, *, status: int = 404) -> HostKey:
    """A primary-key value from the URL (else ``status=400``: from a form), in the Python type of the host's key
    column; aborts with ``status`` when no row can have it (not of that type, or too large for the column)."""
    key = services.parse_key(column, raw)
    if key is None:
        abort(status)
    return key


def _ticked_activities(form: forms.AddActivitiesForm, none_message: str | None = None
                       ) -> list[HostKey]:
    """The host keys of the activities ticked in ``form`` (400 for a value no activity can have); flashes
    ``none_message`` when none is ticked."""
    st = _state()
    chosen = [_host_key(st.activity_pk_column, raw, status=400) for raw in form.activity_ids.data or []]
    if not chosen:
        flash(none_message or _("Tick at least one activity to add."), "error")
    return chosen


def _state() -> LearningContractsState:
    state: LearningContractsState = current_app.extensions["learning_contracts"]
    return state


def _models() -> Models:
    return _state().models


def _user_keys(raw_ids: Iterable[str | None]) -> list[HostKey]:
    """The host keys of the users a form names (400 for a value no user can have)."""
    st = _state()
    return [_host_key(st.user_pk_column, raw, status=400) for raw in raw_ids if raw]


def _load_users(raw_ids: Iterable[str | None]) -> list[HostUser]:
    """The users a form names (400 for a value no user can have; unknown ones are left out)."""
    st = _state()
    ids = _user_keys(raw_ids)
    if not ids:
        return []
    return list(st.db.session.execute(sa.select(st.user_model).where(st.user_pk_column.in_(ids))).scalars())


def _safe_next(default: str) -> str:
    """The ``next`` of the request (query string or form) when it is a path on this site, else ``default``."""
    return safe_next(request.values.get("next"), default)


def _page_arg() -> int:
    """The 1-based ``?page=`` of a list (1 when missing or not a number, never past ``navigation.MAX_PAGE``)."""
    return page_number(request.args.get("page"))


def _csrf_refused(form: FlaskForm) -> bool:
    """Whether a POST failed only because its CSRF token was missing or stale (flashes why)."""
    if "csrf_token" in form and form.csrf_token.errors:
        flash(_("Your session expired or the form was not sent from this page. Nothing was changed; "
                "please try again."), "error")
        return True
    return False



# ---------------------------------------------------------------------------------------------
# the view
# ---------------------------------------------------------------------------------------------
def with_language(html: str) -> str:
    """``html`` with ``<html lang="…">``: screen readers pick their voice from it (Flask-Admin's own base
    template opens with a bare ``<html>``; a host's admin base template that sets it is kept)."""
    return _BARE_HTML.sub(lambda m: f'{m.group(1)}<html lang="{language()}">', html, count=1)


class ManagersOnly:
    """Flask-Admin access for the people who manage contracts (``ContractRules.can_manage_contracts``):
    anonymous visitors go to the login, others get a 403."""

    def is_accessible(self) -> bool:
        return may_manage()

    def inaccessible_callback(self, name: str, **kwargs: object) -> ResponseReturnValue:
        if not current_user.is_authenticated:
            manager = getattr(current_app, "login_manager", None)
            # Flask-Login ships no types: a redirect to the login view, or what the host's unauthorized handler returns
            response: ResponseReturnValue = manager.unauthorized() if manager is not None else abort(401)
            return response
        return abort(403)


class ContractViewBase(ManagersOnly, ModelView):
    """The contract model view's configuration and the plumbing its pages share (see :class:`ContractView`)."""

    form_base_class = FlaskForm
    can_create = True
    can_edit = True
    can_delete = False  # deleting goes through a confirmation page that states what is lost
    can_view_details = False
    can_set_page_size = True
    page_size = 50
    list_template = TEMPLATES + "list.html"

    column_list = ("code", "title", "group", "contract_type", "seats", "valid_period", "state")
    column_labels = {
        "group": _l("Group"),
        "code": _l("Code"), "title": _l("Title"), "contract_type": _l("Type"), "seats": _l("Seats used / seats"),
        "valid_period": _l("Valid period"), "state": _l("State"), "external_id": _l("External ID"),
    }
    column_searchable_list = ("code", "title", "external_id")
    column_sortable_list = ("code", "title", "group", "contract_type")
    column_default_sort = ("valid_until", True)
    column_formatters = COLUMN_FORMATTERS
    column_extra_row_actions = [
        EndpointLinkRowAction("fa fa-folder-open", ".contract_view", title=_l("Open contract"), id_arg="contract_id"),
        EndpointLinkRowAction("fa fa-trash", ".delete_contract_view", title=_l("Delete contract"),
                              id_arg="contract_id"),
    ]

    def __init__(self, model: type[Contract], db: SQLAlchemy, **kwargs: str | None) -> None:
        self.column_filters = [
            TypeFilter(model.contract_type, _l("Type"), options=[(t.value, t.label) for t in ContractType]),
            StateFilter(model.valid_until, _l("State"), options=[(s.value, s.label) for s in ContractState]),
        ]
        self._group_filters = (GroupFilter(model.group, _l("Group")), FilterLike(model.group, _l("Group")))
        super().__init__(model, db, **kwargs)
        self.static_url_path = "/static"  # our CSS and JS, under the view's own URL

    def get_filters(self) -> list[BaseFilter] | None:
        """Type, state and group: a drop-down of the host's groups when ``ContractRules.groups`` lists any, else
        a "contains" text filter (the group is free text then)."""
        filters: list[BaseFilter] = list(super().get_filters() or [])
        picked, typed = self._group_filters
        # Flask-Admin also reads the filters when the view is created (init_app): the hook is asked on requests only
        listed = has_request_context() and bool(services.contract_groups())
        return [*filters, picked if listed else typed]

    # -- Flask-Admin plumbing -----------------------------------------------------------------
    def get_form(self) -> type[forms.ContractCreateForm]:
        return forms.ContractCreateForm

    def get_sortable_columns(self) -> dict[str, orm.InstrumentedAttribute[Any]]:
        # Computed columns sort by the stored column behind them (Flask-Admin renames same-table tuples).
        columns: dict[str, orm.InstrumentedAttribute[Any]] = super().get_sortable_columns()
        model: type[Contract] = self.model
        columns.update({"seats": model.seats_used, "valid_period": model.valid_from, "state": model.valid_until})
        return columns

    def _get_list_extra_args(self) -> Any:
        # Flask-Admin turns ``?page=`` into an OFFSET as is: a huge or negative page would reach the database.
        view_args = super()._get_list_extra_args()
        return view_args.clone(page=page_number(request.args.get("page"), first=0))

    def search_placeholder(self) -> str:
        return str(_l("Code, title or external ID"))

    def get_empty_list_message(self) -> str:
        return str(_l("No learning contracts match. Clear the search or filters, or create one."))

    def render(self, template: str, **kwargs: object) -> str:
        kwargs.setdefault("lc", DISPLAY)
        kwargs.setdefault("_", _)
        kwargs.setdefault("ngettext", _n)
        kwargs.setdefault("statuses", list(InvitationStatus))
        return with_language(super().render(template, **kwargs))

    @property
    def extra_css(self) -> list[str]:
        """Our stylesheet on every page of the view (list, create, edit, tabs): contrast, focus, narrow screens."""
        return [url_for(f"{self.endpoint}.static", filename="admin.css")]

    # -- error pages ------------------------------------------------------------------------
    def create_blueprint(self, admin: Any) -> Blueprint:
        """Flask-Admin's blueprint for this view, with styled 400, 403, 404 and 413 pages inside the admin layout.

        Registered on this view's blueprint only: the host's own error handlers and pages stay as they are."""
        blueprint: Blueprint = super().create_blueprint(admin)
        for exception in (BadRequest, Forbidden, NotFound, RequestEntityTooLarge):
            blueprint.register_error_handler(exception, self._error_page)
        return blueprint

    def _error_page(self, error: HTTPException) -> tuple[str, int]:
        status = error.code or 500
        title, message = {
            400: (_("This request could not be understood"),
                  _("The link or the form sent something this page cannot use. Go back, reload the page and try "
                    "again.")),
            403: (_("You are not allowed to see this page"),
                  _("Managing learning contracts is reserved to the people your site names. Ask an administrator "
                    "if you need access.")),
            413: too_large_text(),
        }.get(status, (_("Page not found"),
                       _("There is no such page: the learning contract or invitation may have been deleted, or the "
                         "link is wrong.")))
        if isinstance(error, CSRFError):  # a host running CSRFProtect refused the form before the view ran
            title, message = _("The form has expired"), _(
                "Your session expired or the form was not sent from this page. Nothing was changed; go back, "
                "reload the page and try again.")
        allowed = status != 403 and self.is_accessible()
        html = self.render(TEMPLATES + "error.html", error_title=title, error_message=message, status=status,
                           list_url=self.get_url(".index_view") if allowed else None,
                           home_url=self.admin.url if self.admin.url else "/")
        return html, status

    # -- access -------------------------------------------------------------------------------
    def _handle_view(self, name: str, **kwargs: object) -> ResponseReturnValue | None:
        if carries_nul([*request.args.values(), *request.form.values()]):
            abort(400)  # a NUL in a search or form value: PostgreSQL would refuse it with an error
        self._refresh_filters_cache()  # the host's groups may have changed since the last request
        response: ResponseReturnValue | None = super()._handle_view(name, **kwargs)
        return response

    # -- small helpers ------------------------------------------------------------------------
    def _contract(self, contract_id: object) -> Contract:
        try:
            return services.get_contract(contract_id)
        except errors.ValidationError:
            abort(404)

    def _invitation(self, contract: Contract, invitation_id: object) -> Invitation:
        try:
            return services.get_invitation(invitation_id, contract=contract)
        except errors.ValidationError:
            abort(404)

    def _call(self, fn: Callable[..., _T], *args: object, form: FlaskForm | None = None, **kwargs: object
              ) -> Outcome[_T]:
        """Run one service call as the current user; report a refusal instead of failing the request."""
        try:
            return True, fn(*args, actor=_actor(), **kwargs)
        except errors.LearningContractError as error:
            _report(error, form)
            return False, None

    def _page(self, template: str, contract: Contract, tab: str, **kwargs: object) -> str:
        return self.render(TEMPLATES + template, contract=contract, tab=tab,
                           state=services.contract_state(contract), action_form=forms.ActionForm(),
                           here=request.full_path, **kwargs)

    def _url(self, endpoint: str, contract: Contract, **kwargs: object) -> str:
        url: str = self.get_url(endpoint, contract_id=contract.id, **kwargs)
        return url

    def _confirm(self, contract: Contract, tab: str, *, title: str, lines: list[str], button: str, danger: bool = True,
                 cancel_url: str, form: FlaskForm | None = None) -> str:
        return self._page("confirm.html", contract, tab, title=title, lines=lines, button=button, danger=danger,
                          cancel_url=cancel_url, form=form or forms.ActionForm())

    def _posted(self, form: FlaskForm) -> bool:
        """Whether a POST is valid; a missing CSRF token is reported and refused."""
        if request.method != "POST":
            return False
        if form.validate_on_submit():
            return True
        _csrf_refused(form)
        return False

    def _post_action(self, back: str, run: Callable[[], Outcome[_T]], success: Callable[[_T], str],
                     category: Callable[[_T], str] = lambda _result: "success") -> Response:
        """A button POST: check CSRF, run the service call, flash the outcome, go back."""
        form = forms.ActionForm()
        if self._posted(form):
            outcome = run()
            if outcome[0]:
                flash(success(outcome[1]), category(outcome[1]))
        return redirect(_safe_next(back))

