"""Learner pages: the invitations page and widget, the code form, the contract page and enrolling.

A learner only ever reaches their own invitations: every contract id in a URL is looked up among
``services.invitations_for(current_user)``, so another learner's contract answers 404.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, has_request_context, redirect, request, url_for
from flask_login import current_user
from markupsafe import Markup
from werkzeug.wrappers import Response

from .. import errors, services
from ..i18n import _
from ..rules import HostKey
from .forms import ActionForm, CodeForm, validate_or_raise
from .ratelimit import CodeAttemptLimiter
from .rendering import current_path, lc_state, render_fragment, render_page, safe_next


def _limiter() -> CodeAttemptLimiter:
    limiter: CodeAttemptLimiter = lc_state().limiter  # set by register_pages
    return limiter


def _learner_key() -> HostKey:
    key: HostKey = lc_state().user_id(current_user)
    return key


def _offer_for(contract_id: int) -> services.InvitationOffer:
    """The current learner's offer for this contract (their live invitation), or 404."""
    invitation = next((inv for inv in services.invitations_for(current_user) if inv.contract_id == contract_id), None)
    if invitation is None:
        abort(404)
    return services.invitation_offers(current_user, [invitation])[0]


def invitations() -> str:
    """GET: every live invitation of the learner, with Enroll buttons and the code form."""
    offers = services.invitation_offers(current_user)
    return render_page("learning_contracts/invitations.html", offers=offers, code_form=CodeForm(),
                       action_form=ActionForm(), next_url=current_path())


def redeem() -> Response:
    """POST ``code``: redeem an invitation code (any case, spaces and dashes allowed); wrong codes are rate limited."""
    form = CodeForm()
    validate_or_raise(form)
    # Count first, then evaluate: the attempt is reserved before the code is looked at, so simultaneous
    # requests never evaluate more wrong codes than the limit; anything but a wrong code gives it back.
    limiter = _limiter()
    reservation = limiter.reserve(_learner_key(), request.remote_addr)
    if reservation is None:
        raise errors.RateLimited()
    wrong = False
    try:
        invitation = services.redeem_code(current_user, form.code.data or "")  # DataRequired: never empty here
    except errors.InvalidCode:
        wrong = True
        raise
    finally:
        if not wrong:
            limiter.release(reservation)
    flash(_("Code accepted: you can now enroll in the activities of %(title)s.", title=invitation.contract.title),
          "success")
    return redirect(url_for("learning_contracts.contract", contract_id=invitation.contract_id))


def contract(contract_id: int) -> str:
    """GET: what one of the learner's contracts gives them, its activities and how many more they may take."""
    offer = _offer_for(contract_id)
    return render_page("learning_contracts/contract.html", offer=offer, code_form=CodeForm(),
                       action_form=ActionForm(), next_url=current_path())


def enroll(contract_id: int, activity_id: str) -> Response:
    """POST: enroll in one activity of one of the learner's invitations (uses a seat when the rules say so)."""
    form = ActionForm()
    validate_or_raise(form)
    offer = _offer_for(contract_id)
    item = next((a for a in offer.activities if str(a.activity_id) == activity_id), None)
    if item is None:
        abort(404)
    services.enroll(current_user, offer.contract, item.activity)
    flash(_("You are enrolled in %(title)s.", title=item.title), "success")
    return redirect(safe_next(form.next.data, url_for("learning_contracts.contract", contract_id=contract_id)))


def learning_contracts_widget() -> Markup:
    """The Learning Contract Invitations widget for the current learner (empty for anonymous visitors).

    Registered as the Jinja global ``learning_contracts_widget()``: drop it into any host template.
    """
    if not has_request_context() or not getattr(current_user, "is_authenticated", False):
        return Markup("")
    offers = services.invitation_offers(current_user)
    return render_fragment("learning_contracts/widget.html", offers=offers, code_form=CodeForm(),
                           action_form=ActionForm(), next_url=current_path())


def register_learner_pages(bp: Blueprint) -> None:
    bp.add_url_rule("/", "invitations", invitations)
    bp.add_url_rule("/code", "redeem", redeem, methods=["POST"])
    bp.add_url_rule("/contracts/<int:contract_id>", "contract", contract)
    bp.add_url_rule("/contracts/<int:contract_id>/activities/<activity_id>/enroll", "enroll", enroll,
                    methods=["POST"])
