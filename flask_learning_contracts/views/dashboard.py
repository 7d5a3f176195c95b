"""The contract-admin dashboard: a user's contracts with their seats, and per contract its code,
title, invitations, inviting (users or CSV, with the Voucher activity step), resend, revoke and
View Activities.

Who sees what (one rule, used by every route here):

* ``/manage/`` answers 403 to a user who is neither a contract admin of any contract nor allowed to
  manage contracts (the host's ``can_manage_contracts`` hook); contract admins see their contracts.
* Every per-contract URL answers **404** to a user who is not one of that contract's admins and cannot
  manage contracts, so ids of other organisations' contracts reveal nothing. Managers may open any
  contract by its URL.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response

from .. import errors, services
from ..csv_export import invitations_csv
from ..enums import ContractState, InvitationStatus
from ..i18n import _, _n
from ..models import Contract, Invitation
from ..navigation import page_number, safe_next
from ..rules import HostActivity, current_rules
from .forms import (ActionForm, InvitationActivitiesForm, InviteCsvForm, InviteUsersForm, TitleForm,
                    validate_or_raise)
from .rendering import current_path, lc_state, render_page

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
    page = services.invitation_page(contract, search=search or None, status=status,
                                    page=page_number(request.args.get("page")))
    title_form = TitleForm(data={"title": contract.title})
    return render_page(
        "learning_contracts/manage/contract.html", contract=contract, summary=services.seat_summary(contract),
        page=page, search=search, status=status, statuses=list(InvitationStatus), title_form=title_form,
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


def _prepare_activity_step(form: InviteUsersForm | InviteCsvForm, contract: Contract) -> None:
    choices = _activity_choices(list(contract.activities))
    form.activities.choices = choices
    if request.method != "POST":  # showing the page (GET, HEAD): every activity ticked
        form.activities.data = [value for value, _label in choices]


def _chosen_activities(form: InviteUsersForm | InviteCsvForm, contract: Contract) -> list[HostActivity] | None:
    """The activities picked in the Voucher step (``None``: all, the services' default)."""
    if not services.needs_activity_choice(contract):
        return None
    chosen = set(form.activities.data or [])
    if not chosen:
        raise errors.ValidationError(_("Choose at least one activity the invitations cover."), field="activities")
    state = lc_state()
    return [a for a in contract.activities if str(state.activity_id(a)) in chosen]


def _typed_address(query: str) -> str | None:
    """The e-mail address the search text is, if it looks like one (the invite itself validates it)."""
    address = query.strip().lower()
    local, at, domain = address.partition("@")
    return address if at and local and "." in domain and not any(ch.isspace() for ch in address) else None


def invite(contract_id: int) -> str:
    """GET: the invite page: find learners (``ContractRules.search_users_for`` decides what the current user may
    find: by default managers search by e-mail, contract admins find one person by the full address) or upload a
    CSV. A typed address nobody uses yet is offered too: it is invited as Not Registered."""
    contract = _managed_contract(contract_id)
    rules = current_rules()
    query = (request.args.get("q") or "").strip()[:320]
    searched = len(query) >= SEARCH_MIN_CHARS
    found = rules.search_users_for(current_user, query, contract=contract, limit=SEARCH_LIMIT) if searched else []
    people = [(rules.user_email(u), rules.user_display_name(u)) for u in found]
    typed = _typed_address(query)
    if typed and typed not in {(email or "").lower() for email, _name in people}:
        people.append((typed, typed))
    users_form, csv_form = InviteUsersForm(), InviteCsvForm()
    for form in (users_form, csv_form):
        _prepare_activity_step(form, contract)
    return render_page(
        "learning_contracts/manage/invite.html", contract=contract, query=query, people=people, searched=searched,
        min_chars=SEARCH_MIN_CHARS, exact_only=not rules.can_manage_contracts(current_user), users_form=users_form,
        csv_form=csv_form, activity_step=services.needs_activity_choice(contract), lc_show_dashboard=True)


def invite_users(contract_id: int) -> str:
    """POST ``emails`` (+ ``activities``): invite the selected learners; show each one's outcome."""
    contract = _managed_contract(contract_id)
    form = InviteUsersForm()
    _prepare_activity_step(form, contract)
    validate_or_raise(form)
    emails = [e for e in (form.emails.data or []) if e]
    if not emails:
        raise errors.ValidationError(_("Choose at least one learner to invite."), field="emails")
    report = services.invite(contract, emails=emails, activities=_chosen_activities(form, contract),
                             actor=current_user)
    return render_page("learning_contracts/manage/invite_result.html", contract=contract, report=report,
                       lc_show_dashboard=True)


def invite_csv(contract_id: int) -> str:
    """POST ``file`` (+ ``activities``): invite every e-mail of an uploaded CSV; show each line's outcome."""
    contract = _managed_contract(contract_id)
    form = InviteCsvForm()
    _prepare_activity_step(form, contract)
    validate_or_raise(form)
    upload: FileStorage = form.file.data  # FileRequired: the uploaded file
    report = services.invite_csv(contract, upload.stream, activities=_chosen_activities(form, contract),
                                 actor=current_user)
    return render_page("learning_contracts/manage/invite_result.html", contract=contract, report=report,
                       lc_show_dashboard=True)


def resend(contract_id: int, invitation_id: int) -> Response:
    """POST: send an Outstanding invitation's notification again."""
    contract = _managed_contract(contract_id)
    invitation = _managed_invitation(contract, invitation_id)
    form = ActionForm()
    validate_or_raise(form)
    result = services.resend(invitation, actor=current_user)
    flash(result.message, result.category)
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
    bp.add_url_rule("/manage/<int:contract_id>/invite", "manage_invite", invite)
    bp.add_url_rule("/manage/<int:contract_id>/invite/users", "manage_invite_users", invite_users, methods=["POST"])
    bp.add_url_rule("/manage/<int:contract_id>/invite/csv", "manage_invite_csv", invite_csv, methods=["POST"])
    bp.add_url_rule("/manage/<int:contract_id>/invitations/<int:invitation_id>", "manage_invitation",
                    invitation_activities, methods=["GET", "POST"])
    bp.add_url_rule("/manage/<int:contract_id>/invitations/<int:invitation_id>/resend", "manage_resend", resend,
                    methods=["POST"])
    bp.add_url_rule("/manage/<int:contract_id>/invitations/<int:invitation_id>/revoke", "manage_revoke", revoke,
                    methods=["GET", "POST"])
