"""The Invitations tab: the paged list and its CSV export, one invitation's activities, resend, revoke, and
Add Invitations (the flow shared with the dashboard, see :mod:`~flask_learning_contracts.invite_flow`)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import flash, redirect, request
from flask_admin import expose
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from .. import services
from ..csv_export import invitations_csv
from ..enums import InvitationStatus
from ..i18n import _, _n
from ..invite_flow import ADMIN_UI, InvitePages, PageResult, Person
from ..models import Contract
from . import forms
from .base import (PICKER_SIZE, ContractViewBase, _actor, _load_users, _page_arg, _safe_next, _state,
                   _ticked_activities, _user_keys)
from .display import DISPLAY

if TYPE_CHECKING:
    pass

#: Failed deliveries listed on the Invitations tab (the "Retry all" button covers every one).
FAILED_SHOWN = 20


def _picked_users(raw_ids: list[str]) -> list[Any]:
    """The accounts a refused submit had picked (a value no account can have is dropped, not a 400 again)."""
    usable = []
    for raw in raw_ids:
        try:
            _user_keys([raw])
        except HTTPException:
            continue
        usable.append(raw)
    found = {str(_state().user_id(user)): user for user in _load_users(usable)}
    return [found[raw] for raw in usable if raw in found]  # in the order they were picked


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
        summary = services.seat_summary(contract)
        page = services.invitation_page(contract, search=text, status=status or None, page=_page_arg(),
                                        counts=summary.by_status)
        failed = services.failed_notifications(contract, limit=FAILED_SHOWN)
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
                                 lambda n: services.reminded_message(contract, n))

    @expose("/<int:contract_id>/notifications/retry", methods=("POST",))
    def retry_notifications_view(self, contract_id: int) -> Response:
        """POST: give one failed notification (``notification_id``), or all of them, a fresh set of attempts."""
        contract = self._contract(contract_id)
        raw = request.form.get("notification_id", "")
        ids = [int(raw)] if raw.isdigit() else None
        return self._post_action(self._url(".invitations_view", contract),
                                 lambda: self._call(services.retry_notifications, contract, ids),
                                 services.retried_message)

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
                flash(_n("Added %(num)s activity to the invitation of %(email)s.",
                         "Added %(num)s activities to the invitation of %(email)s.", len(outcome[1]),
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

    # -- inviting (the shared flow: see invite_flow) ------------------------------------------------
    def _invite_pages(self, contract: Contract) -> InvitePages:
        st = _state()
        actor = _actor()
        templates = {"invite": "invite.html", "activities": "invite_activities.html", "report": "invite_report.html"}

        def render(step: str, context: dict[str, Any]) -> str:
            context = {key: value for key, value in context.items() if key != "contract"}
            return self._page(templates[step], contract, "invitations", ui=ADMIN_UI, min_chars=1, **context)

        def url(step: str, token: str | None = None, **query: str) -> str:
            if step == "list":
                return self._url(".invitations_view", contract)
            if step == "invite":
                return self._url(".invite_view", contract, **query)
            if step == "search":
                return self._url(".invite_search_view", contract)
            return self._url(".invite_activities_view" if step == "activities" else ".invite_report_view", contract,
                             token=token or "", **query)

        def find_people(query: str) -> list[Person]:
            return [person(u) for u in st.rules.search_users_for(actor, query, contract=contract, limit=PICKER_SIZE)]

        def person(u: Any) -> Person:
            return Person(str(st.user_id(u)), st.rules.user_display_name(u), st.rules.user_email(u) or "",
                          "" if st.rules.email_verified(u) else _("address not verified"))

        return InvitePages(contract, actor, render, url, find_people, pick_by_id=True, activity_id=st.activity_id,
                           activity_label=lambda a: f"{DISPLAY.title(a)} ({DISPLAY.kind(a)})",
                           describe_picked=lambda ids: [person(u) for u in _picked_users(ids)])

    @expose("/<int:contract_id>/invite", methods=("GET", "POST"))
    def invite_view(self, contract_id: int) -> PageResult:
        """Step 1 of Add Invitations: who (picked users, typed ``emails``, a CSV file)."""
        pages = self._invite_pages(self._contract(contract_id))
        return pages.submit() if request.method == "POST" else pages.start()

    @expose("/<int:contract_id>/invite/people.json", methods=("GET",))
    def invite_search_view(self, contract_id: int) -> Response:
        """GET ``?q=``: the invite picker's people as JSON (search as you type; see ``InvitePages.search``)."""
        return self._invite_pages(self._contract(contract_id)).search()

    @expose("/<int:contract_id>/invite/<token>/activities", methods=("GET", "POST"))
    def invite_activities_view(self, contract_id: int, token: str) -> PageResult:
        """Step 2 (Voucher): the activities the invitations cover."""
        return self._invite_pages(self._contract(contract_id)).activities(token)

    @expose("/<int:contract_id>/invite/<token>", methods=("GET",))
    def invite_report_view(self, contract_id: int, token: str) -> PageResult:
        """The report of one submission (Post/Redirect/Get: refreshing it never invites again)."""
        return self._invite_pages(self._contract(contract_id)).report(token)
