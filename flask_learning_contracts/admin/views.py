"""The Learning Contracts screens of Flask-Admin: thin views over :mod:`flask_learning_contracts.services`.

The list page is Flask-Admin's own (search, filters, sorting, paging); every other page is a custom
``@expose`` route with a Flask-WTF form, so each state change is a CSRF-protected POST that calls one
service function and shows its refusal next to the field or as a flash message.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from flask import Flask, flash, redirect, request
from flask_admin import Admin, expose
from flask_admin.theme import Bootstrap4Theme
from werkzeug.wrappers import Response

from .. import services
from ..config import DEFAULTS, config_value
from ..enums import ContractType
from ..i18n import _, _l, _n
from ..invite_flow import picker_script, search_answer
from . import forms
from .activity_pages import ActivityPages
from .base import PICKER_SIZE, STATIC_FOLDER, TEMPLATES, _actor, _csrf_refused, _load_users, _page_arg, _report, _state
from .display import DISPLAY
from .invitation_pages import InvitationPages
from .webhook_pages import WebhookView

if TYPE_CHECKING:
    from ..models import Contract
    from ..state import LearningContractsState


class ContractView(ActivityPages, InvitationPages):
    """Learning Contracts: list, create, edit, activities, invitations, seats, history, delete."""

    # -- create / edit ------------------------------------------------------------------------
    @expose("/new/", methods=("GET", "POST"))
    def create_view(self) -> str | Response:
        form = forms.ContractCreateForm()
        contract = self._save_contract(form, services.create_contract)
        if contract is not None:
            flash(_("Created the learning contract %(code)s. Its invitation code is shown below.", code=contract.code),
                  "success")
            return redirect(self._url(".contract_view", contract))
        return self.render(TEMPLATES + "contract_form.html", form=form, contract=None, types=list(ContractType),
                           require_help=forms.REQUIRE_CODE_HELP, cancel_url=self.get_url(".index_view"),
                           groups=self._group_choices(form, None))

    @expose("/edit/", methods=("GET", "POST"))
    def edit_view(self) -> str | Response:
        contract = self._contract(request.args.get("id"))
        showing = request.method != "POST"  # GET and HEAD show the form; only a POST saves
        form = forms.ContractEditForm(obj=contract if showing else None)
        if showing:
            form.require_invitation_code.data = "yes" if contract.require_invitation_code else "no"
            form.reminders_enabled.data = "yes" if contract.reminders_enabled else "no"
        saved = self._save_contract(form, lambda **values: services.update_contract(contract, **values), contract)
        if saved is not None:
            flash(_("Saved the learning contract %(code)s.", code=contract.code), "success")
            return redirect(self._url(".contract_view", contract))
        return self._page("contract_form.html", contract, "edit", form=form, types=list(ContractType),
                          require_help=forms.REQUIRE_CODE_HELP, cancel_url=self._url(".contract_view", contract),
                          groups=self._group_choices(form, contract))

    def _save_contract(self, form: forms.ContractCreateForm | forms.ContractEditForm, save: Callable[..., Contract],
                       contract: Contract | None = None) -> Contract | None:
        """On a POST, save the form through ``save`` and return the contract; else ``None`` with every problem
        shown at once: the form's own (a value it could not read) and the services' checks of the values it
        could read."""
        if request.method != "POST":
            return None
        readable = form.validate_on_submit()
        if _csrf_refused(form):
            return None
        values = forms.contract_values(form)
        if readable:
            outcome = self._call(save, form=form, **values)
            return outcome[1] if outcome[0] else None
        legible = {name: value for name, value in values.items() if not form[name].errors}
        for problem in services.contract_field_errors(legible, contract=contract):
            _report(problem, form)
        return None

    @staticmethod
    def _group_choices(form: forms.ContractCreateForm | forms.ContractEditForm, contract: Contract | None
                       ) -> list[tuple[str, str]]:
        """The options of the group picker (empty: the group is free text). A group the contract had before the
        host listed its groups stays offered, marked, so saving the form does not drop it."""
        groups = services.contract_groups()
        current = contract.group if contract is not None else None
        if groups and current and current not in dict(groups):
            groups.append((current, _("%(group)s (not one of the listed groups)", group=current)))
        return groups

    # -- overview: details, code, seats, contract admins --------------------------------------
    @expose("/<int:contract_id>/")
    def contract_view(self, contract_id: int) -> str:
        contract = self._contract(contract_id)
        query = request.args.get("admin_q", "").strip()
        found = (_state().rules.search_users_for(_actor(), query, contract=contract, limit=PICKER_SIZE)
                 if query else [])
        st = _state()
        admin_ids = {st.user_id(u) for u in contract.admins}
        return self._page("contract.html", contract, "overview", summary=services.seat_summary(contract),
                          admin_query=query, found_users=found, admin_ids=admin_ids, user_id=st.user_id,
                          user_form=forms.UserForm(), picker_js=picker_script())

    @expose("/<int:contract_id>/admins/people.json", methods=("GET",))
    def admin_search_view(self, contract_id: int) -> Response:
        """GET ``?q=``: users to add as contract admins, as JSON (the picker's search as you type). Found through
        ``ContractRules.search_users_for`` like the page's own search; present admins come back disabled."""
        contract = self._contract(contract_id)
        query = request.args.get("q", "").strip()[:320]
        st = _state()
        found = st.rules.search_users_for(_actor(), query, contract=contract, limit=PICKER_SIZE) if query else []
        admin_ids = {st.user_id(u) for u in contract.admins} if found else set()
        rows = [{"value": str(st.user_id(u)), "name": DISPLAY.user(u), "email": st.rules.user_email(u) or "",
                 "note": _("already a contract admin") if st.user_id(u) in admin_ids else "",
                 "disabled": st.user_id(u) in admin_ids} for u in found]
        return search_answer(query, rows)

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
            _n("%(used)s of %(seats)s seat has been used.", "%(used)s of %(seats)s seats have been used.",
               contract.seats, used=DISPLAY.number(impact.seats_used), seats=DISPLAY.number(contract.seats)),
            _n("%(n)s invitation (in every status) will be deleted.",
               "%(n)s invitations (in every status) will be deleted.", impact.invitations,
               n=DISPLAY.number(impact.invitations)),
            _n("%(n)s enrollment record of this contract, its seat records and its list of %(a)s activities and "
               "contract admins will be deleted.", "%(n)s enrollment records of this contract, its seat records and "
               "its list of %(a)s activities and contract admins will be deleted.", impact.enrollments,
               n=DISPLAY.number(impact.enrollments), a=DISPLAY.number(impact.activities)),
            _("Learners' enrollments in the LMS itself are kept: nobody is unenrolled from an activity."),
            _("The contract's history stays available to auditors."),
        ]
        return self._confirm(contract, "delete", title=_("Delete the learning contract %(code)s?",
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
        admin = existing[0] if existing else Admin(app, name=_l("Administration"), theme=Bootstrap4Theme())
    endpoint = config_value("ADMIN_ENDPOINT", app)
    registered = next((view for view in admin._views if getattr(view, "endpoint", None) == endpoint), None)
    if registered is not None and getattr(registered, "model", None) is not state.models.Contract:
        raise RuntimeError(
            f"This Flask-Admin already shows learning contracts (endpoint {endpoint!r}) of an app with another "
            "database. Give each app its own Admin, or set LEARNING_CONTRACTS_ADMIN_ENDPOINT differently per app.")
    if registered is None:
        admin.add_view(ContractView(
            state.models.Contract, state.db, name=_configured_label(app, "ADMIN_NAME", _l("Learning Contracts")),
            category=_configured_label(app, "ADMIN_CATEGORY", _l("Activities and Learning")), endpoint=endpoint,
            url=config_value("ADMIN_URL", app) or "learning-contracts", static_folder=STATIC_FOLDER,
        ))
    if config_value("API", app) and not any(getattr(view, "endpoint", None) == "lc_api_keys" for view in admin._views):
        from .api_keys import ApiKeyView

        admin.add_view(ApiKeyView(name=_l("API keys"), category=_configured_label(
            app, "ADMIN_CATEGORY", _l("Activities and Learning")), endpoint="lc_api_keys",
            url="learning-contracts-api-keys", static_folder=STATIC_FOLDER))
    hooks_endpoint = f"{endpoint}_webhooks"
    if not any(getattr(view, "endpoint", None) == hooks_endpoint for view in admin._views):
        admin.add_view(WebhookView(
            name=_l("Webhooks"), category=_configured_label(app, "ADMIN_CATEGORY", _l("Activities and Learning")),
            endpoint=hooks_endpoint, url=f"{config_value('ADMIN_URL', app) or 'learning-contracts'}-webhooks",
            static_folder=STATIC_FOLDER))
    state.admin = admin
    return admin


def _configured_label(app: Flask, key: str, translated_default: str) -> str:
    """The menu label the host configured under ``key``, or the translated default when it kept ours (lazy:
    translated when the menu is rendered, in the viewer's language)."""
    value = config_value(key, app)
    return translated_default if value == DEFAULTS[key] else str(value)
