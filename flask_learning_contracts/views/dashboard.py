"""The contract-admin dashboard: a user's contracts with their seats, and per contract its code,
title, invitations with the delivery state of their e-mails (Retry for one that could not be sent), inviting (the
flow shared with the admin panel, see :mod:`~flask_learning_contracts.invite_flow`), resend, revoke and View
Activities.

Who sees what (one rule, used by every route here):

* ``/manage/`` answers 403 to a user who is neither a contract admin of any contract nor allowed to
  manage contracts (the host's ``can_manage_contracts`` hook); contract admins see their contracts.
* Every per-contract URL answers **404** to a user who is not one of that contract's admins and cannot
  manage contracts, so ids of other organisations' contracts reveal nothing. Managers may open any
  contract by its URL.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from .. import errors, services
from ..csv_export import invitations_csv
from ..enums import ContractState, InvitationStatus
from ..i18n import _, _n
from ..invite_flow import DASHBOARD_UI, InvitePages, PageResult, Person
from ..models import Contract, Invitation
from ..navigation import page_number, safe_next
from ..rules import HostActivity, current_rules
from .forms import ActionForm, InvitationActivitiesForm, TitleForm, validate_or_raise
from .rendering import activity_kind_label, current_path, lc_state, render_page

GROUP_ORDER = (ContractState.ACTIVE, ContractState.EXPIRED, ContractState.FUTURE)
SEARCH_MIN_CHARS = 2
SEARCH_LIMIT = 20


def _managed_contract(contract_id: int) -> Contract:
    """The contract, if the current user administers it (or manages contracts); 404 otherwise."""
    try:
        contract = services.get_contract(contract_id)
        services.ensure_contract_admin(current_user, contract)
    except (errors.ValidationError, errors.PermissionDenied):
        abort(404)
    return contract


def _managed_invitation(contract: Contract, invitation_id: int) -> Invitation:
    try:
        return services.get_invitation(invitation_id, contract=contract)
    except errors.ValidationError:
        abort(404)


def _back_to(contract: Contract) -> Response:
    return redirect(url_for("learning_contracts.manage_contract", contract_id=contract.id))


def dashboard() -> str:
    """GET: the user's contracts grouped Active / Expired / Future, with seats and the seats-by-status chart."""
    grouped = services.contracts_for_admin(current_user)
    contracts = [c for state in GROUP_ORDER for c in grouped[state]]
    is_manager = current_rules().can_manage_contracts(current_user)
    if not contracts and not is_manager:
        abort(403, description=_("The Learning Contracts dashboard is for contract admins. "
                                 "You are not named as an admin of any learning contract."))
    summaries = services.seat_summaries(contracts)
    groups = [(state, grouped[state]) for state in GROUP_ORDER]
    return render_page("learning_contracts/manage/index.html", groups=groups, summaries=summaries,
                       is_manager=is_manager, lc_show_dashboard=True)


def _status_filter(value: str | None) -> InvitationStatus | None:
    try:
        return InvitationStatus(value) if value else None
    except ValueError:
        return None


def _invitation_filters() -> tuple[str, InvitationStatus | None]:
    """The e-mail search text and status of the invitations list (an unknown status means all)."""
    return (request.args.get("q") or "").strip()[:320], _status_filter(request.args.get("status"))


def manage_contract(contract_id: int) -> str:
    """GET: one contract: seats and chart, title, invitation code, and its invitations (search, filter, pages)."""
    contract = _managed_contract(contract_id)
    search, status = _invitation_filters()
    summary = services.seat_summary(contract)
    page = services.invitation_page(contract, search=search or None, status=status,
                                    page=page_number(request.args.get("page")), counts=summary.by_status)
    title_form = TitleForm(data={"title": contract.title})
    shown = [invitation.id for invitation in page.items]
    return render_page(
        "learning_contracts/manage/contract.html", contract=contract, summary=summary,
        page=page, search=search, status=status, statuses=list(InvitationStatus), title_form=title_form,
        deliveries=services.delivery_states(shown), failed=services.failed_deliveries(shown),
        action_form=ActionForm(), next_url=current_path(), lc_show_dashboard=True)


def export_invitations(contract_id: int) -> Response:
    """GET: the invitations matching the list's search and status filters, as a CSV download."""
    contract = _managed_contract(contract_id)
    search, status = _invitation_filters()
    return invitations_csv(contract, search=search or None, status=status)


def edit_title(contract_id: int) -> Response:
    """POST ``title``: rename the contract."""
    contract = _managed_contract(contract_id)
    form = TitleForm()
    validate_or_raise(form)
    services.update_contract(contract, title=form.title.data, actor=current_user)
    flash(_("Title saved."), "success")
    return _back_to(contract)


def regenerate_code(contract_id: int) -> str | Response:
    """GET (and HEAD): confirm; POST: give the contract a new invitation code (the old one stops working at once)."""
    contract = _managed_contract(contract_id)
    form = ActionForm()
    if request.method != "POST":  # GET and HEAD show the page; only a POST acts
        return render_page("learning_contracts/manage/regenerate.html", contract=contract, form=form,
                           lc_show_dashboard=True)
    validate_or_raise(form)
    services.regenerate_code(contract, actor=current_user)
    flash(_("A new invitation code was generated. The previous code no longer works."), "success")
    return _back_to(contract)


def _activity_choices(activities: list[HostActivity]) -> list[tuple[str, str]]:
    rules, state = current_rules(), lc_state()
    return [(str(state.activity_id(a)), rules.activity_title(a)) for a in activities]


def _typed_address(query: str) -> str | None:
    """The e-mail address the search text is, if it looks like one (the invite itself validates it)."""
    address = query.strip().lower()
    local, at, domain = address.partition("@")
    return address if at and local and "." in domain and not any(ch.isspace() for ch in address) else None


def _invite_pages(contract: Contract) -> InvitePages:
    """The shared invitation flow (see ``invite_flow``) in the dashboard's look. People are picked by address:
    ``ContractRules.search_users_for`` decides whom the current user may find (by default managers search by
    name or e-mail, contract admins find one person by the full address); a typed address nobody uses yet is
    offered too, and is invited as Not Registered."""
    rules, state = current_rules(), lc_state()
    templates = {"invite": "invite.html", "activities": "invite_activities.html", "report": "invite_result.html"}

    def render(step: str, context: dict[str, Any]) -> str:
        exact_only = not rules.can_manage_contracts(current_user)
        return render_page(f"learning_contracts/manage/{templates[step]}", ui=DASHBOARD_UI, exact_only=exact_only,
                           min_chars=SEARCH_MIN_CHARS, lc_show_dashboard=True, **context)

    def url(step: str, token: str | None = None, **query: Any) -> str:
        if step == "list":
            return _invite_list(contract)
        endpoint = {"invite": "manage_invite", "activities": "manage_invite_activities",
                    "report": "manage_invite_report", "search": "manage_invite_search"}[step]
        if token is not None:
            query["token"] = token
        return url_for(f"learning_contracts.{endpoint}", contract_id=contract.id, **query)

    def find_people(query: str) -> list[Person]:
        if len(query) < SEARCH_MIN_CHARS:
            return []
        found = rules.search_users_for(current_user, query, contract=contract, limit=SEARCH_LIMIT)
        people = [Person(rules.user_email(u) or "", rules.user_display_name(u), rules.user_email(u) or "")
                  for u in found if rules.user_email(u)]
        typed = _typed_address(query)
        if typed and typed not in {p.value.lower() for p in people}:
            people.append(Person(typed, typed, "", _("no account yet: invited as Not Registered")))
        return people

    return InvitePages(contract, current_user, render, url, find_people, pick_by_id=False,
                       activity_id=state.activity_id,
                       activity_label=lambda a: f"{rules.activity_title(a)} ({activity_kind_label(rules.activity_kind(a))})")


def invite(contract_id: int) -> PageResult:
    """GET: step 1 of inviting (who); POST: check it, then the activity step (Voucher) or invite and redirect
    to the report."""
    pages = _invite_pages(_managed_contract(contract_id))
    return pages.submit() if request.method == "POST" else pages.start()


def invite_search(contract_id: int) -> Response:
    """GET ``?q=``: the invite picker's people as JSON (search as you type), under the same rules as the page:
    404 to whoever does not administer the contract, exact addresses only for contract admins."""
    return _invite_pages(_managed_contract(contract_id)).search()


def invite_activities(contract_id: int, token: str) -> PageResult:
    """GET/POST: step 2 of inviting to a Voucher contract: the activities the invitations cover."""
    return _invite_pages(_managed_contract(contract_id)).activities(token)


def invite_report(contract_id: int, token: str) -> PageResult:
    """GET: the report of one submission (refreshing it never invites again)."""
    return _invite_pages(_managed_contract(contract_id)).report(token)


def resend(contract_id: int, invitation_id: int) -> Response:
    """POST: send an Outstanding invitation's notification again."""
    contract = _managed_contract(contract_id)
    invitation = _managed_invitation(contract, invitation_id)
    form = ActionForm()
    validate_or_raise(form)
    result = services.resend(invitation, actor=current_user)
    flash(result.message, result.category)
    return redirect(safe_next(form.next.data, _invite_list(contract)))


def retry_notification(contract_id: int, notification_id: int) -> Response:
    """POST: give one of the contract's notifications that could not be sent a fresh set of attempts (the admin
    panel's Retry); immediate mode sends it at once."""
    contract = _managed_contract(contract_id)
    form = ActionForm()
    validate_or_raise(form)
    retried = services.retry_notifications(contract, [notification_id], actor=current_user)
    flash(services.retried_message(retried), "success" if retried else "info")
    return redirect(safe_next(form.next.data, _invite_list(contract)))


def revoke(contract_id: int, invitation_id: int) -> str | Response:
    """GET (and HEAD): confirm; POST: revoke an invitation whose learner has not enrolled (the record stays)."""
    contract = _managed_contract(contract_id)
    invitation = _managed_invitation(contract, invitation_id)
    form = ActionForm()
    if request.method != "POST":  # GET and HEAD show the page; only a POST acts
        return render_page("learning_contracts/manage/revoke.html", contract=contract, invitation=invitation,
                           form=form, lc_show_dashboard=True)
    validate_or_raise(form)
    email = invitation.email
    services.revoke(invitation, actor=current_user)
    flash(_("The invitation of %(email)s was revoked.", email=email), "success")
    return redirect(_invite_list(contract))


def invitation_activities(contract_id: int, invitation_id: int) -> str | Response:
    """GET: the activities one invitation covers; POST (Voucher): add more of the contract's activities to it."""
    contract = _managed_contract(contract_id)
    invitation = _managed_invitation(contract, invitation_id)
    state = lc_state()
    covered, addable = services.invitation_activity_options(invitation)
    can_add = bool(addable)
    form = InvitationActivitiesForm()
    form.activities.choices = _activity_choices(addable)
    if request.method == "POST":
        validate_or_raise(form)
        if not can_add:
            raise errors.ValidationError(_("No activities can be added to this invitation."))
        chosen = set(form.activities.data or [])
        if not chosen:
            raise errors.ValidationError(_("Choose at least one activity to add."), field="activities")
        added = services.add_invitation_activities(
            invitation, [a for a in addable if str(state.activity_id(a)) in chosen], actor=current_user)
        flash(_n("Added %(num)s activity to the invitation of %(email)s.",
                 "Added %(num)s activities to the invitation of %(email)s.", len(added), email=invitation.email),
              "success")
        return redirect(url_for("learning_contracts.manage_invitation", contract_id=contract.id,
                                invitation_id=invitation.id))
    return render_page("learning_contracts/manage/invitation.html", contract=contract, invitation=invitation,
                       covered=covered, can_add=can_add, form=form, lc_show_dashboard=True)


def _invite_list(contract: Contract) -> str:
    return url_for("learning_contracts.manage_contract", contract_id=contract.id, _anchor="invitations")


def register_dashboard_pages(bp: Blueprint) -> None:
    bp.add_url_rule("/manage/", "dashboard", dashboard)
    bp.add_url_rule("/manage/<int:contract_id>", "manage_contract", manage_contract)
    bp.add_url_rule("/manage/<int:contract_id>/invitations.csv", "manage_export", export_invitations)
    bp.add_url_rule("/manage/<int:contract_id>/title", "manage_title", edit_title, methods=["POST"])
    bp.add_url_rule("/manage/<int:contract_id>/code", "manage_regenerate", regenerate_code, methods=["GET", "POST"])
    bp.add_url_rule("/manage/<int:contract_id>/invite", "manage_invite", invite, methods=["GET", "POST"])
    bp.add_url_rule("/manage/<int:contract_id>/invite/people.json", "manage_invite_search", invite_search)
    bp.add_url_rule("/manage/<int:contract_id>/invite/<token>/activities", "manage_invite_activities",
                    invite_activities, methods=["GET", "POST"])
    bp.add_url_rule("/manage/<int:contract_id>/invite/<token>", "manage_invite_report", invite_report)
    bp.add_url_rule("/manage/<int:contract_id>/invitations/<int:invitation_id>", "manage_invitation",
                    invitation_activities, methods=["GET", "POST"])
    bp.add_url_rule("/manage/<int:contract_id>/invitations/<int:invitation_id>/resend", "manage_resend", resend,
                    methods=["POST"])
    bp.add_url_rule("/manage/<int:contract_id>/notifications/<int:notification_id>/retry", "manage_retry",
                    retry_notification, methods=["POST"])
    bp.add_url_rule("/manage/<int:contract_id>/invitations/<int:invitation_id>/revoke", "manage_revoke", revoke,
                    methods=["GET", "POST"])
