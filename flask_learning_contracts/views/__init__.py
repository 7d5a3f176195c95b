"""Learner and contract-admin pages (the ``learning_contracts`` blueprint), thin over ``services``.

* ``learner``: the invitations page, the embeddable widget (Jinja global ``learning_contracts_widget()``),
  the code form, the learner's contract page and enrolling;
* ``dashboard``: the contract-admin dashboard and per-contract management;
* ``forms``: the CSRF-protected forms; ``ratelimit``: wrong-code counting;
* ``responses``: domain errors turned into responses, in one place; ``rendering``: template context.

Every page needs a logged-in user: anonymous visitors are handed to the host's login manager
(``login_manager.unauthorized()``: a redirect to its ``login_view``, or 401 when it has none).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, Flask, abort, current_app, request
from flask.typing import ResponseReturnValue
from flask_login import current_user

from ..config import config_value
from ..navigation import carries_nul
from .dashboard import register_dashboard_pages
from .learner import learning_contracts_widget, register_learner_pages
from .ratelimit import CodeAttemptLimiter
from .responses import register_error_handlers

if TYPE_CHECKING:
    from ..state import LearningContractsState

__all__ = ["register_pages", "learning_contracts_widget", "CodeAttemptLimiter"]


def _refuse_nul() -> None:
    if carries_nul([*request.args.values(), *request.form.values()]):
        abort(400)


def _require_login() -> ResponseReturnValue | None:
    if request.endpoint == "learning_contracts.static" or getattr(current_user, "is_authenticated", False):
        return None
    login_manager = getattr(current_app, "login_manager", None)
    if login_manager is None:  # a host without Flask-Login's manager: nobody is logged in
        abort(401)
    # Flask-Login ships no types: a redirect to the login view, or whatever the host's unauthorized handler returns
    response: ResponseReturnValue = login_manager.unauthorized()
    return response


def register_pages(app: Flask, state: LearningContractsState) -> None:
    """Register the blueprint under ``LEARNING_CONTRACTS_URL_PREFIX``, the widget global and the code limiter."""
    bp = Blueprint("learning_contracts", __name__.rsplit(".", 1)[0], template_folder="templates",
                   static_folder="static", static_url_path="/static")
    bp.before_request(_refuse_nul)
    bp.before_request(_require_login)
    register_learner_pages(bp)
    register_dashboard_pages(bp)
    register_error_handlers(bp)
    app.register_blueprint(bp, url_prefix=config_value("URL_PREFIX", app))
    app.add_template_global(learning_contracts_widget, "learning_contracts_widget")
    state.limiter = CodeAttemptLimiter(config_value("CODE_ATTEMPTS_LIMIT", app),
                                       config_value("RATELIMIT_STORAGE_URI", app))
