"""Domain refusals and HTTP errors turned into responses, in one place.

* A :class:`~flask_learning_contracts.errors.LearningContractError` raised while handling a form post is
  flashed and the learner is sent back where they came from (the form's ``next`` field, else a sensible
  page; after ``ContractNotFound``, the list of their invitations or contracts); on any other request, and
  always for ``RateLimited`` (HTTP 429), a friendly page with the error's ``http_status`` is shown.
* A missing or wrong CSRF token gives a friendly 400 page; ``abort(400/403/404)`` and a request over the host's
  size limits (413) give friendly pages too.

Only the extension's own blueprint is covered: the host's error handlers are never touched.
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import BadRequest, Forbidden, NotFound, RequestEntityTooLarge
from werkzeug.wrappers import Response

from .. import errors
from ..i18n import _
from ..navigation import safe_next, too_large_text
from .rendering import render_page


def fallback_url() -> str:
    """Where a failed form post goes back to when it did not say (the page the form lives on)."""
    endpoint = request.endpoint or ""
    contract_id = (request.view_args or {}).get("contract_id")
    if endpoint.startswith("learning_contracts.manage_") and contract_id is not None:
        return url_for("learning_contracts.manage_contract", contract_id=contract_id)
    if endpoint.startswith("learning_contracts.manage"):
        return url_for("learning_contracts.dashboard")
    return url_for("learning_contracts.invitations")


def error_page(title: str, message: str, status: int, **extra: object) -> tuple[str, int]:
    return render_page("learning_contracts/error.html", error_title=title, error_message=message,
                       status=status, **extra), status


def handle_domain_error(error: errors.LearningContractError) -> Response | tuple[str, int]:
    if request.method == "POST" and not isinstance(error, errors.RateLimited):
        flash(error.message, "error")
        if isinstance(error, errors.ContractNotFound):  # the pages of a deleted contract are gone too
            return redirect(url_for("learning_contracts.dashboard" if (request.endpoint or "").startswith(
                "learning_contracts.manage") else "learning_contracts.invitations"))
        return redirect(safe_next(request.form.get("next"), fallback_url()))
    if isinstance(error, errors.RateLimited):
        return error_page(_("Too many wrong codes"), error.message, error.http_status,
                          back_url=url_for("learning_contracts.invitations"))
    return error_page(_("This could not be done"), error.message, error.http_status, back_url=fallback_url())


def handle_csrf(error: CSRFError) -> tuple[str, int]:
    return error_page(
        _("The form has expired"),
        _("For your security the form could not be accepted: its security token was missing or out of date. "
          "Go back, reload the page and try again."),
        400, back_url=fallback_url())


def handle_not_found(error: NotFound) -> tuple[str, int]:
    return error_page(_("Page not found"),
                      _("There is nothing here, or it is not yours to see. Check the link and try again."), 404,
                      back_url=url_for("learning_contracts.invitations"))


def handle_forbidden(error: Forbidden) -> tuple[str, int]:
    return error_page(_("Not allowed"), error.description or errors.PermissionDenied.default_message, 403,
                      back_url=url_for("learning_contracts.invitations"))


def handle_bad_request(error: BadRequest) -> tuple[str, int]:
    return error_page(_("This request could not be understood"),
                      _("The link or the form sent something this page cannot use. Go back, reload the page and "
                        "try again."), 400, back_url=fallback_url())


def handle_too_large(error: RequestEntityTooLarge) -> tuple[str, int]:
    title, message = too_large_text()
    return error_page(title, message, 413, back_url=fallback_url())


def register_error_handlers(bp: Blueprint) -> None:
    bp.register_error_handler(errors.LearningContractError, handle_domain_error)
    bp.register_error_handler(CSRFError, handle_csrf)
    bp.register_error_handler(NotFound, handle_not_found)
    bp.register_error_handler(Forbidden, handle_forbidden)
    bp.register_error_handler(BadRequest, handle_bad_request)  # CSRFError, a BadRequest, keeps its own page
    bp.register_error_handler(RequestEntityTooLarge, handle_too_large)
