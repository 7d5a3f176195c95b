"""The Learning Contracts screens of Flask-Admin: thin views over :mod:`flask_learning_contracts.services`.

The list page is Flask-Admin's own (search, filters, sorting, paging); every other page is a custom
``@expose`` route with a Flask-WTF form, so each state change is a CSRF-protected POST that calls one
service function and shows its refusal next to the field or as a flash message.
"""
from __future__ import annotations

import base64
import binascii
import io
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar

import sqlalchemy as sa
from flask import Flask, abort, current_app, flash, redirect, request
from flask.typing import ResponseReturnValue
from flask_admin import Admin, expose
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.filters import BaseSQLAFilter
from flask_admin.model.template import EndpointLinkRowAction
from flask_admin.theme import Bootstrap4Theme
from flask_login import current_user
from flask_wtf import FlaskForm
from jinja2.runtime import Context
from markupsafe import Markup
from sqlalchemy import orm
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response

from .. import errors, services
from ..config import config_value
from ..csv_export import invitations_csv
from ..enums import ContractState, ContractType, InvitationStatus
from ..i18n import _, _l
from ..models import Contract, Invitation, Models
from ..rules import HostKey, HostUser
from . import forms
from .display import DISPLAY, KIND_LABELS

if TYPE_CHECKING:
    from flask_sqlalchemy import SQLAlchemy

    from ..state import LearningContractsState

TEMPLATES = "learning_contracts/admin/"
STATIC_FOLDER = os.path.join(os.path.dirname(os.path.dirname(__file__)), "static", "learning_contracts", "admin")
PICKER_SIZE = 20

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


def _code_column(view: ContractView, context: Context | None, model: Contract, name: str) -> Markup:
    url = view.get_url(".contract_view", contract_id=model.id)
    return Markup('<a href="{}">{}</a>').format(url, model.code)


def _state_badge(state: ContractState) -> Markup:
    return Markup('<span class="badge badge-{}">{}</span>').format(DISPLAY.state_badges[state.value], state.label)


#: Flask-Admin calls a column formatter with the view, the Jinja context, the row's contract and the column name.
COLUMN_FORMATTERS: dict[str, Callable[[ContractView, Context | None, Contract, str], object]] = {
    "code": _code_column,
    "contract_type": lambda v, c, m, n: m.contract_type.label,
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


def _report(error: errors.LearningContractError, form: FlaskForm | None = None) -> None:
    """Show a service refusal next to its field when the form has that field, else as a flash message."""
    field = getattr(error, "field", None)
    if form is not None and field and field in form:
        form[field].errors = [*form[field].errors, str(error)]
    else:
        flash(str(error), "error")


def _host_key(column: orm.InstrumentedAttribute[Any], raw: str) -> HostKey:
    """A primary-key value from a form or URL, in the Python type of the host's key column."""
    try:
        python_type = column.type.python_type
    except NotImplementedError:  # pragma: no cover - exotic key types are passed through
        return raw
    try:
        key: HostKey = python_type(raw)
    except (TypeError, ValueError):
        abort(404)
    return key


def _ticked_activities(form: forms.AddActivitiesForm | forms.InviteActivitiesForm, none_message: str | None = None
                       ) -> list[HostKey]:
    """The host keys of the activities ticked in ``form``; flashes ``none_message`` when none is."""
    st = _state()
    chosen = [_host_key(st.activity_pk_column, raw) for raw in form.activity_ids.data or []]
    if not chosen:
        flash(none_message or _("Tick at least one activity to add."), "error")
    return chosen


def _state() -> LearningContractsState:
    state: LearningContractsState = current_app.extensions["learning_contracts"]
    return state


def _models() -> Models:
    return _state().models


def _load_users(raw_ids: Iterable[str | None]) -> list[HostUser]:
    st = _state()
    ids = [_host_key(st.user_pk_column, raw) for raw in raw_ids if raw]
    if not ids:
        return []
    return list(st.db.session.execute(sa.select(st.user_model).where(st.user_pk_column.in_(ids))).scalars())


def _safe_next(default: str) -> str:
    target = request.values.get("next") or ""
    return target if target.startswith("/") and not target.startswith("//") else default


def _page_arg() -> int:
    return max(1, request.args.get("page", 1, type=int) or 1)


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
class ContractView(ModelView):
    """Learning Contracts: list, create, edit, activities, invitations, seats, history, delete."""

    form_base_class = FlaskForm
    can_create = True
    can_edit = True
    can_delete = False  # deleting goes through a confirmation page that states what is lost
    can_view_details = False
    can_set_page_size = True
    page_size = 50
    list_template = TEMPLATES + "list.html"

    column_list = ("code", "title", "contract_type", "seats", "valid_period", "state")
    column_labels = {
        "code": _l("Code"), "title": _l("Title"), "contract_type": _l("Type"), "seats": _l("Seats used / seats"),
        "valid_period": _l("Valid period"), "state": _l("State"), "external_id": _l("External ID"),
    }
    column_searchable_list = ("code", "title", "external_id")
    column_sortable_list = ("code", "title", "contract_type")
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
        super().__init__(model, db, **kwargs)
        self.static_url_path = "/static"  # our CSS and JS, under the view's own URL

    # -- Flask-Admin plumbing -----------------------------------------------------------------
    def get_form(self) -> type[forms.ContractCreateForm]:
        return forms.ContractCreateForm

    def get_sortable_columns(self) -> dict[str, orm.InstrumentedAttribute[Any]]:
        # Computed columns sort by the stored column behind them (Flask-Admin renames same-table tuples).
        columns: dict[str, orm.InstrumentedAttribute[Any]] = super().get_sortable_columns()
        model: type[Contract] = self.model
        columns.update({"seats": model.seats_used, "valid_period": model.valid_from, "state": model.valid_until})
        return columns

    def search_placeholder(self) -> str:
        return str(_l("Code, title or external ID"))

    def get_empty_list_message(self) -> str:
        return str(_l("No learning contracts match. Clear the search or filters, or create one."))

    def render(self, template: str, **kwargs: object) -> str:
        kwargs.setdefault("lc", DISPLAY)
        kwargs.setdefault("_", _)
        kwargs.setdefault("statuses", list(InvitationStatus))
        html: str = super().render(template, **kwargs)
        return html

    # -- access -------------------------------------------------------------------------------
    def is_accessible(self) -> bool:
        try:
            services.ensure_can_manage(_actor())
        except errors.PermissionDenied:
            return False
        return True

    def inaccessible_callback(self, name: str, **kwargs: object) -> ResponseReturnValue:
        if not current_user.is_authenticated:
            manager = getattr(current_app, "login_manager", None)
            # Flask-Login ships no types: a redirect to the login view, or what the host's unauthorized handler returns
            response: ResponseReturnValue = manager.unauthorized() if manager is not None else abort(401)
            return response
        return abort(403)

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

    def _post_action(self, back: str, run: Callable[[], Outcome[_T]], success: Callable[[_T], str]) -> Response:
        """A button POST: check CSRF, run the service call, flash the outcome, go back."""
        form = forms.ActionForm()
        if self._posted(form):
            outcome = run()
            if outcome[0]:
                flash(success(outcome[1]), "success")
        return redirect(_safe_next(back))

    # -- create / edit ------------------------------------------------------------------------
    @expose("/new/", methods=("GET", "POST"))
    def create_view(self) -> str | Response:
        form = forms.ContractCreateForm()
        if self._posted(form):
            outcome = self._call(services.create_contract, form=form, **forms.contract_values(form))
            if outcome[0]:
                contract = outcome[1]
                flash(_("Created the learning contract %(code)s. Its invitation code is shown below.",
                        code=contract.code), "success")
                return redirect(self._url(".contract_view", contract))
        return self.render(TEMPLATES + "contract_form.html", form=form, contract=None, types=list(ContractType),
                           require_help=forms.REQUIRE_CODE_HELP, cancel_url=self.get_url(".index_view"))

    @expose("/edit/", methods=("GET", "POST"))
    def edit_view(self) -> str | Response:
        contract = self._contract(request.args.get("id"))
        form = forms.ContractEditForm(obj=contract if request.method == "GET" else None)
        if request.method == "GET":
            form.require_invitation_code.data = "yes" if contract.require_invitation_code else "no"
        if self._posted(form):
            ok, _result = self._call(services.update_contract, contract, form=form, **forms.contract_values(form))
            if ok:
                flash(_("Saved the learning contract %(code)s.", code=contract.code), "success")
                return redirect(self._url(".contract_view", contract))
        return self._page("contract_form.html", contract, "overview", form=form, types=list(ContractType),
                          require_help=forms.REQUIRE_CODE_HELP, cancel_url=self._url(".contract_view", contract))

    # -- overview: details, code, seats, contract admins --------------------------------------
    @expose("/<int:contract_id>/")
    def contract_view(self, contract_id: int) -> str:
        contract = self._contract(contract_id)
        query = request.args.get("admin_q", "").strip()
        found = _state().rules.search_users(query, PICKER_SIZE) if query else []
        st = _state()
        admin_ids = {st.user_id(u) for u in contract.admins}
        return self._page("contract.html", contract, "overview", summary=services.seat_summary(contract),
                          admin_query=query, found_users=found, admin_ids=admin_ids, user_id=st.user_id,
                          user_form=forms.UserForm())

    @expose("/<int:contract_id>/code/regenerate", methods=("GET", "POST"))
    def regenerate_code_view(self, contract_id: int) -> str | Response:
        contract = self._contract(contract_id)
        back = self._url(".contract_view", contract)
        if request.method == "POST":
            return self._post_action(back, lambda: self._call(services.regenerate_code, contract),
                                     lambda code: _("New invitation code: %(code)s. The previous code no longer "
                                                    "works; existing invitations are unchanged.",
                                                    code=DISPLAY.code(code)))
        return self._confirm(
            contract, "overview", title=_("Regenerate the invitation code?"),
            lines=[_("The current code %(code)s stops working at once. Learners who have not entered it yet will "
                     "need the new code.", code=DISPLAY.code(contract.invitation_code)),
                   _("Existing invitations, redeemed codes and enrollments are not affected.")],
            button=_("Regenerate the code"), cancel_url=back)

    @expose("/<int:contract_id>/admins/add", methods=("POST",))
    def add_admin_view(self, contract_id: int) -> Response:
        return self._change_admin(contract_id, services.add_contract_admin, _("%(user)s is now a contract admin."))

    @expose("/<int:contract_id>/admins/remove", methods=("POST",))
    def remove_admin_view(self, contract_id: int) -> Response:
        return self._change_admin(contract_id, services.remove_contract_admin,
                                  _("%(user)s is no longer a contract admin."))

    def _change_admin(self, contract_id: int, change: Callable[..., None], message: str) -> Response:
        contract = self._contract(contract_id)
        form = forms.UserForm()
        if self._posted(form):
            users = _load_users([form.user_id.data])
            if not users:
                flash(_("That user no longer exists."), "error")
            else:
                ok, _result = self._call(change, contract, users[0])
                if ok:
                    flash(message % {"user": DISPLAY.user(users[0])}, "success")
        return redirect(self._url(".contract_view", contract) + "#contract-admins")

    # -- activities ---------------------------------------------------------------------------
    @expose("/<int:contract_id>/activities")
    def activities_view(self, contract_id: int) -> str:
        contract = self._contract(contract_id)
        st = _state()
        return self._page("activities.html", contract, "activities", activities=list(contract.activities),
                          activity_id=st.activity_id)

    @expose("/<int:contract_id>/activities/add", methods=("GET", "POST"))
    def add_activities_view(self, contract_id: int) -> str | Response:
        contract = self._contract(contract_id)
        st = _state()
        form = forms.AddActivitiesForm()
        if self._posted(form) and (chosen := _ticked_activities(form)):
            outcome = self._call(services.add_activities, contract, chosen)
            if outcome[0]:
                flash(_("Added %(n)s activities to the contract.", n=len(outcome[1])), "success")
                return redirect(self._url(".activities_view", contract))
        text = request.args.get("q", "").strip()
        kind = request.args.get("kind", "")
        page = st.db.paginate(self._eligible_query(contract, text, kind), page=_page_arg(), per_page=PICKER_SIZE,
                              error_out=False)
        return self._page("activities_add.html", contract, "activities", form=form, page=page, query=text,
                          kind=kind, kinds=KIND_LABELS, activity_id=st.activity_id)

    def _eligible_query(self, contract: Contract, text: str, kind: str) -> sa.Select[Any]:
        """The host's eligible activities not yet on ``contract``, filtered by title text and kind."""
        st, m = _state(), _models()
        model = st.activity_model
        stmt = st.rules.eligible_activities().where(st.activity_pk_column.not_in(
            sa.select(m.ContractActivity.activity_id).where(m.ContractActivity.contract_id == contract.id)))
        title_column = getattr(model, config_value("ACTIVITY_TITLE_ATTR"), None)
        kind_column = getattr(model, config_value("ACTIVITY_KIND_ATTR"), None)
        if text and title_column is not None:
            stmt = stmt.where(sa.func.lower(title_column).contains(text.lower(), autoescape=True))
        if kind in KIND_LABELS and kind_column is not None:
            stmt = stmt.where(kind_column == kind)
        return stmt.order_by(title_column if title_column is not None else st.activity_pk_column)

    @expose("/<int:contract_id>/activities/import", methods=("GET", "POST"))
    def import_activities_view(self, contract_id: int) -> str | Response:
        contract = self._contract(contract_id)
        m = _models()
        others = list(_state().db.session.execute(
            sa.select(m.Contract).where(m.Contract.id != contract.id).order_by(m.Contract.code)).scalars())
        form = forms.ImportActivitiesForm()
        form.source_contract.choices = [forms.choice(str(c.id), str(c)) for c in others]
        source: Contract | None = None
        raw_source = form.source_contract.data if request.method == "POST" else request.args.get("source")
        if raw_source:
            source = next((c for c in others if str(c.id) == str(raw_source)), None)
            form.source_contract.data = str(raw_source)
        if self._posted(form) and source is not None:
            outcome = self._call(services.import_activities, contract, source, form=form)
            if outcome[0]:
                flash(_("Imported %(n)s activities from %(code)s.", n=len(outcome[1]), code=source.code), "success")
                return redirect(self._url(".activities_view", contract))
        preview = services.preview_import(contract, source) if source is not None else None
        return self._page("activities_import.html", contract, "activities", form=form, source=source,
                          preview=preview, sources=others)

    @expose("/<int:contract_id>/activities/<activity_id>/remove", methods=("GET", "POST"))
    def remove_activity_view(self, contract_id: int, activity_id: str) -> str | Response:
        contract = self._contract(contract_id)
        st = _state()
        aid = _host_key(st.activity_pk_column, activity_id)
        activity = next((a for a in contract.activities if st.activity_id(a) == aid), None)
        back = self._url(".activities_view", contract)
        if activity is None:
            flash(_("This activity is not part of the contract."), "error")
            return redirect(back)
        title = DISPLAY.title(activity)
        if request.method == "POST":
            return self._post_action(back, lambda: self._call(services.remove_activity, contract, aid),
                                     lambda impact: _("Removed %(title)s. Existing enrollments and used seats were "
                                                      "kept.", title=title))
        impact = services.activity_impact(contract, aid)
        lines = [_("%(invited)s invited learners have this activity in their invitation; it will be taken out of "
                   "their invitations.", invited=DISPLAY.number(impact.invited)),
                 _("%(enrolled)s learners are enrolled in it through this contract; their enrollments and the "
                   "seats they used are kept.", enrolled=DISPLAY.number(impact.enrolled))]
        return self._confirm(contract, "activities", title=_("Remove %(title)s from this contract?", title=title),
                             lines=lines, button=_("Remove the activity"), cancel_url=back)

    # -- invitations --------------------------------------------------------------------------
    @staticmethod
    def _invitation_filters() -> tuple[str, str]:
        """The e-mail search text and status value of the invitations list (an unknown status means all)."""
        status = request.args.get("status", "")
        if status not in {s.value for s in InvitationStatus}:
            status = ""
        return request.args.get("q", "").strip(), status

    @expose("/<int:contract_id>/invitations")
    def invitations_view(self, contract_id: int) -> str:
        contract = self._contract(contract_id)
        text, status = self._invitation_filters()
        page = services.invitation_page(contract, search=text, status=status or None, page=_page_arg())
        return self._page("invitations.html", contract, "invitations", page=page, query=text, status=status,
                          summary=services.seat_summary(contract))

    @expose("/<int:contract_id>/invitations/export.csv")
    def invitations_export_view(self, contract_id: int) -> Response:
        """GET: the invitations matching the list's search and status filters, as a CSV download."""
        contract = self._contract(contract_id)
        text, status = self._invitation_filters()
        return invitations_csv(contract, search=text, status=status or None)

    @expose("/<int:contract_id>/invitations/<int:invitation_id>/activities", methods=("GET", "POST"))
    def invitation_activities_view(self, contract_id: int, invitation_id: int) -> str | Response:
        contract = self._contract(contract_id)
        invitation = self._invitation(contract, invitation_id)
        st = _state()
        form = forms.AddActivitiesForm()
        if self._posted(form) and (chosen := _ticked_activities(form)):
            outcome = self._call(services.add_invitation_activities, invitation, chosen)
            if outcome[0]:
                flash(_("Added %(n)s activities to the invitation of %(email)s.", n=len(outcome[1]),
                        email=invitation.email), "success")
                return redirect(self._url(".invitation_activities_view", contract, invitation_id=invitation.id))
        covered, addable = services.invitation_activity_options(invitation)
        can_add = contract.is_voucher and invitation.is_live
        return self._page("invitation_activities.html", contract, "invitations", invitation=invitation,
                          covered=covered, addable=addable, can_add=can_add, form=form,
                          activity_id=st.activity_id)

    @expose("/<int:contract_id>/invitations/<int:invitation_id>/resend", methods=("POST",))
    def resend_view(self, contract_id: int, invitation_id: int) -> Response:
        contract = self._contract(contract_id)
        invitation = self._invitation(contract, invitation_id)
        return self._post_action(self._url(".invitations_view", contract),
                                 lambda: self._call(services.resend, invitation),
                                 lambda _r: _("Resent the invitation to %(email)s.", email=invitation.email))

    @expose("/<int:contract_id>/invitations/<int:invitation_id>/revoke", methods=("GET", "POST"))
    def revoke_view(self, contract_id: int, invitation_id: int) -> str | Response:
        contract = self._contract(contract_id)
        invitation = self._invitation(contract, invitation_id)
        back = _safe_next(self._url(".invitations_view", contract))
        if request.method == "POST":
            return self._post_action(back, lambda: self._call(services.revoke, invitation),
                                     lambda _r: _("Revoked the invitation of %(email)s. The record stays; you can "
                                                  "invite them again later.", email=invitation.email))
        lines = [_("%(email)s will no longer see this contract's activities and cannot use its invitation code.",
                   email=invitation.email),
                 _("The revoked invitation stays in the list. Inviting the learner again creates a new invitation.")]
        return self._confirm(contract, "invitations", title=_("Revoke the invitation of %(email)s?",
                                                              email=invitation.email),
                             lines=lines, button=_("Revoke the invitation"), cancel_url=back)

    # -- inviting -----------------------------------------------------------------------------
    @expose("/<int:contract_id>/invite", methods=("GET",))
    def invite_view(self, contract_id: int) -> str:
        contract = self._contract(contract_id)
        return self._invite_page(contract, forms.InviteCsvForm(), forms.InviteUsersForm())

    def _invite_page(self, contract: Contract, csv_form: forms.InviteCsvForm, users_form: forms.InviteUsersForm
                     ) -> str:
        query = request.args.get("user_q", "").strip()
        found = _state().rules.search_users(query, PICKER_SIZE) if query else []
        return self._page("invite.html", contract, "invitations", csv_form=csv_form, users_form=users_form,
                          user_query=query, found_users=found, user_id=_state().user_id,
                          two_steps=services.needs_activity_choice(contract))

    @expose("/<int:contract_id>/invite/csv", methods=("POST",))
    def invite_csv_view(self, contract_id: int) -> str | Response:
        contract = self._contract(contract_id)
        form = forms.InviteCsvForm()
        if not self._posted(form):
            return self._invite_page(contract, form, forms.InviteUsersForm())
        upload: FileStorage = form.file.data  # FileRequired: the uploaded file
        data: bytes = upload.read(int(config_value("CSV_MAX_BYTES")) + 1)
        if services.needs_activity_choice(contract):
            step = forms.InviteActivitiesForm(formdata=None, csv_text=base64.b64encode(data).decode("ascii"),
                                              csv_name=upload.filename or "")
            return self._activity_step(contract, step)
        return self._send_invites(contract, csv=data, form=form)

    @expose("/<int:contract_id>/invite/users", methods=("POST",))
    def invite_users_view(self, contract_id: int) -> str | Response:
        contract = self._contract(contract_id)
        form = forms.InviteUsersForm()
        if not self._posted(form):
            return redirect(self._url(".invite_view", contract))
        if not form.user_ids.data:
            flash(_("Tick at least one user to invite."), "error")
            return redirect(self._url(".invite_view", contract, user_q=request.form.get("user_q", "")))
        if services.needs_activity_choice(contract):
            step = forms.InviteActivitiesForm(formdata=None, user_ids=form.user_ids.data)
            return self._activity_step(contract, step)
        return self._send_invites(contract, user_ids=form.user_ids.data, form=form)

    def _activity_step(self, contract: Contract, form: forms.InviteActivitiesForm) -> str:
        st = _state()
        values = [str(st.activity_id(a)) for a in contract.activities]
        if form.activity_ids.data is None or request.form.get("step") != "activities":
            form.activity_ids.data = values
        people = len(form.user_ids.data or [])
        return self._page("invite_activities.html", contract, "invitations", form=form, people=people,
                          activities=list(contract.activities), activity_id=st.activity_id)

    @expose("/<int:contract_id>/invite/activities", methods=("POST",))
    def invite_activities_view(self, contract_id: int) -> str | Response:
        contract = self._contract(contract_id)
        form = forms.InviteActivitiesForm()
        if not self._posted(form):
            return redirect(self._url(".invite_view", contract))
        chosen = _ticked_activities(form, _("Choose at least one activity for the invitations."))
        if not chosen:
            return self._activity_step(contract, form)
        if form.csv_text.data:
            try:
                data = base64.b64decode(form.csv_text.data, validate=True)
            except (binascii.Error, ValueError):
                flash(_("The uploaded file was lost; upload it again."), "error")
                return redirect(self._url(".invite_view", contract))
            return self._send_invites(contract, csv=data, activities=chosen, form=form)
        return self._send_invites(contract, user_ids=form.user_ids.data, activities=chosen, form=form)

    def _send_invites(self, contract: Contract, *, form: FlaskForm, csv: bytes | None = None,
                      user_ids: list[str] | None = None, activities: list[HostKey] | None = None) -> str | Response:
        if csv is not None:
            ok, report = self._call(services.invite_csv, contract, io.BytesIO(csv), activities=activities)
        else:
            ok, report = self._call(services.invite, contract, users=_load_users(user_ids or []),
                                    activities=activities)
        if not ok:
            return redirect(self._url(".invite_view", contract))
        return self._page("invite_report.html", contract, "invitations", report=report)

    # -- history ------------------------------------------------------------------------------
    @expose("/<int:contract_id>/history")
    def history_view(self, contract_id: int) -> str:
        contract = self._contract(contract_id)
        page = _page_arg()
        per_page = int(config_value("PAGE_SIZE"))
        entries = services.history(contract, limit=per_page + 1, offset=(page - 1) * per_page)
        return self._page("history.html", contract, "history", entries=entries[:per_page], page=page,
                          has_next=len(entries) > per_page)

    # -- delete -------------------------------------------------------------------------------
    @expose("/<int:contract_id>/delete", methods=("GET", "POST"))
    def delete_contract_view(self, contract_id: int) -> str | Response:
        contract = self._contract(contract_id)
        form = forms.ActionForm()
        if self._posted(form):
            code = contract.code
            ok, _result = self._call(services.delete_contract, contract)
            if ok:
                flash(_("Deleted the learning contract %(code)s. Host enrollments were kept.", code=code), "success")
                return redirect(self.get_url(".index_view"))
        impact = services.deletion_impact(contract)
        lines = [
            _("%(used)s of %(seats)s seats have been used.", used=DISPLAY.number(impact.seats_used),
              seats=DISPLAY.number(contract.seats)),
            _("%(n)s invitations (in every status) will be deleted.", n=DISPLAY.number(impact.invitations)),
            _("%(n)s enrollment records of this contract, its seat records and its list of %(a)s activities "
              "and contract admins will be deleted.", n=DISPLAY.number(impact.enrollments),
              a=DISPLAY.number(impact.activities)),
            _("Learners' enrollments in the LMS itself are kept: nobody is unenrolled from an activity."),
            _("The contract's history stays available to auditors."),
        ]
        return self._confirm(contract, "overview", title=_("Delete the learning contract %(code)s?",
                                                           code=contract.code),
                             lines=lines, button=_("Delete the contract"), form=form,
                             cancel_url=self._url(".contract_view", contract))


# ---------------------------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------------------------
def add_admin_views(app: Flask, state: LearningContractsState, admin: Admin | None) -> Admin:
    """Register the contract views on ``admin``, else on the host's first Flask-Admin, else on a new one.

    Registering twice on one ``Admin`` (two apps sharing a module-level ``Admin``) adds the view once.
    """
    if admin is None:
        existing = app.extensions.get("admin") or []
        admin = existing[0] if existing else Admin(app, name=str(_l("Administration")), theme=Bootstrap4Theme())
    endpoint = config_value("ADMIN_ENDPOINT", app)
    if not any(getattr(view, "endpoint", None) == endpoint for view in admin._views):
        admin.add_view(ContractView(
            state.models.Contract, state.db, name=str(config_value("ADMIN_NAME", app)),
            category=str(config_value("ADMIN_CATEGORY", app)), endpoint=endpoint,
            url=config_value("ADMIN_URL", app) or "learning-contracts", static_folder=STATIC_FOLDER,
        ))
    state.admin = admin
    return admin
