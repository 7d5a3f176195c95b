"""The Invitations tab: the paged list and its CSV export, one invitation's activities, resend, revoke, and the
Add Invitations steps (users or a CSV file, then the Voucher activity step, then the per-row report)."""
from __future__ import annotations

import base64
import binascii
import io
from typing import TYPE_CHECKING

from flask import flash, redirect, request
from flask_admin import expose
from flask_wtf import FlaskForm
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response

from .. import services
from ..config import config_value
from ..csv_export import invitations_csv
from ..enums import InvitationStatus
from ..i18n import _, _n
from ..models import Contract
from ..rules import HostKey
from . import forms
from .base import (PICKER_SIZE, ContractViewBase, _actor, _load_users, _page_arg, _safe_next, _state,
                   _ticked_activities, _user_keys)

if TYPE_CHECKING:
    pass

#: Failed deliveries listed on the Invitations tab (the "Retry all" button covers every one).
FAILED_SHOWN = 20


class InvitationPages(ContractViewBase):
    """The Invitations tab's pages (mixed into :class:`~.views.ContractView`)."""

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
        failed = services.failed_notifications(contract, limit=FAILED_SHOWN)
        summary = services.seat_summary(contract)
        remindable = (summary.by_status[InvitationStatus.OUTSTANDING]
                      + summary.by_status[InvitationStatus.NOT_REGISTERED])
        return self._page("invitations.html", contract, "invitations", page=page, query=text, status=status,
                          summary=summary, remindable=remindable,
                          deliveries=services.delivery_states([i.id for i in page.items]), failed=failed,
                          failed_total=services.count_failed_notifications(contract) if failed else 0)

    @expose("/<int:contract_id>/invitations/remind", methods=("POST",))
    def remind_outstanding_view(self, contract_id: int) -> Response:
        """POST: remind every Outstanding and Not Registered learner of the contract now."""
        contract = self._contract(contract_id)
        return self._post_action(self._url(".invitations_view", contract),
                                 lambda: self._call(services.remind_outstanding, contract),
                                 lambda n: _n("Reminded %(num)s learner.", "Reminded %(num)s learners.", n) if n
                                 else _("Nobody to remind: every outstanding learner was already reminded today."))

    @expose("/<int:contract_id>/notifications/retry", methods=("POST",))
    def retry_notifications_view(self, contract_id: int) -> Response:
        """POST: give one failed notification (``notification_id``), or all of them, a fresh set of attempts."""
        contract = self._contract(contract_id)
        raw = request.form.get("notification_id", "")
        ids = [int(raw)] if raw.isdigit() else None
        return self._post_action(self._url(".invitations_view", contract),
                                 lambda: self._call(services.retry_notifications, contract, ids),
                                 lambda n: _n("Retrying %(num)s notification.", "Retrying %(num)s notifications.", n)
                                 if n else _("Nothing to retry: it was already sent or retried."))

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
                                 lambda result: result.message, lambda result: result.category)

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
        found = (_state().rules.search_users_for(_actor(), query, contract=contract, limit=PICKER_SIZE)
                 if query else [])
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
        _user_keys(form.user_ids.data or [])  # 400 now for a value no user can have, not at the next step
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

