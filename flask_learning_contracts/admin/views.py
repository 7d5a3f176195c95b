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
from ..config import config_value
from ..enums import ContractType
from ..i18n import _, _l
from . import forms
from .activity_pages import ActivityPages
from .base import PICKER_SIZE, STATIC_FOLDER, TEMPLATES, _actor, _load_users, _page_arg, _state
from .display import DISPLAY
from .invitation_pages import InvitationPages

if TYPE_CHECKING:
    from ..state import LearningContractsState


class ContractView(ActivityPages, InvitationPages):
    """Learning Contracts: list, create, edit, activities, invitations, seats, history, delete."""

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
        showing = request.method != "POST"  # GET and HEAD show the form; only a POST saves
        form = forms.ContractEditForm(obj=contract if showing else None)
        if showing:
            form.require_invitation_code.data = "yes" if contract.require_invitation_code else "no"
            form.reminders_enabled.data = "yes" if contract.reminders_enabled else "no"
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
        found = (_state().rules.search_users_for(_actor(), query, contract=contract, limit=PICKER_SIZE)
                 if query else [])
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
    registered = next((view for view in admin._views if getattr(view, "endpoint", None) == endpoint), None)
    if registered is not None and getattr(registered, "model", None) is not state.models.Contract:
        raise RuntimeError(
            f"This Flask-Admin already shows learning contracts (endpoint {endpoint!r}) of an app with another "
            "database. Give each app its own Admin, or set LEARNING_CONTRACTS_ADMIN_ENDPOINT differently per app.")
    if registered is None:
        admin.add_view(ContractView(
            state.models.Contract, state.db, name=str(config_value("ADMIN_NAME", app)),
            category=str(config_value("ADMIN_CATEGORY", app)), endpoint=endpoint,
            url=config_value("ADMIN_URL", app) or "learning-contracts", static_folder=STATIC_FOLDER,
        ))
    state.admin = admin
    return admin
