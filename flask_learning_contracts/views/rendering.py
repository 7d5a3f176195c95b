"""What every learner and contract-admin template needs, passed from Python.

Templates never read the ``config`` or ``g`` Jinja globals (a host may replace them): the base
template name, the stylesheet URL, the translation function and the formatters come from here.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup

from .. import codes, formatting
from ..config import DEFAULTS, config_value
from ..i18n import _, _l, _n
from ..navigation import safe_next as safe_next  # the pages' one redirect check, re-exported
from ..rules import HostUser, current_rules

if TYPE_CHECKING:
    from ..state import LearningContractsState

ACTIVITY_KINDS = {
    "online": _l("Online course"),
    "ilt": _l("Instructor-led training"),
    "certification": _l("Certification program"),
}


def lc_state() -> LearningContractsState:
    """The extension's per-app state (db, models, rules, limiter)."""
    state: LearningContractsState = current_app.extensions["learning_contracts"]
    return state


#: The one formatter of dates and times of every page (the viewer's timezone; see :mod:`..formatting`).
format_date = formatting.format_date
format_datetime = formatting.format_datetime


def format_number(value: int) -> str:
    return formatting.format_number(value)


def activity_kind_label(kind: str | None) -> str:
    """``ilt`` -> ``Instructor-led training``; unknown kinds are shown tidied up, never raw."""
    if not kind:
        return str(ACTIVITY_KINDS["online"])
    label = ACTIVITY_KINDS.get(kind)
    return str(label) if label is not None else kind.replace("_", " ").replace("-", " ").capitalize()


def is_contract_admin_somewhere(user: HostUser) -> bool:
    """Whether the dashboard link belongs in the navigation for ``user``."""
    from .. import services

    if not getattr(user, "is_authenticated", False):
        return False
    if current_rules().can_manage_contracts(user):
        return True
    return any(services.contracts_for_admin(user).values())


def template_context(**extra: object) -> dict[str, object]:
    """The variables every template of the extension may use (``lc_*``, ``_`` and the formatters)."""
    base = config_value("BASE_TEMPLATE")
    context: dict[str, object] = {
        "_": _,
        "lc_base": base,
        "lc_own_base": base == DEFAULTS["BASE_TEMPLATE"],
        "lc_css": url_for("learning_contracts.static", filename="learning_contracts/learning_contracts.css"),
        "lc_js": url_for("learning_contracts.static", filename="learning_contracts/learning_contracts.js"),
        "lc_date": format_date,
        "lc_datetime": format_datetime,
        "ngettext": _n,
        "lc_number": format_number,
        "lc_code": codes.format_code,
        "lc_kind": activity_kind_label,
        "lc_home_url": (request.script_root or "") + "/",
        "lc_user_name": _display_name(current_user),
        "lc_activity_title": lambda activity: current_rules().activity_title(activity),
        "lc_activity_kind": lambda activity: current_rules().activity_kind(activity),
        "lc_email_unverified": _email_unverified,
    }
    context.update(extra)
    return context


def _email_unverified() -> bool:
    """Whether the current user's address is not verified yet (invitations sent to it wait until it is)."""
    return bool(getattr(current_user, "is_authenticated", False)) and not current_rules().email_verified(current_user)


def _display_name(user: HostUser) -> str:
    if not getattr(user, "is_authenticated", False):
        return ""
    return current_rules().user_display_name(user)


def render_page(template: str, **context: object) -> str:
    """Render one of the extension's pages (it extends ``LEARNING_CONTRACTS_BASE_TEMPLATE``)."""
    show_dashboard = context.pop("lc_show_dashboard", None)
    if show_dashboard is None:
        show_dashboard = is_contract_admin_somewhere(current_user)
    return render_template(template, **template_context(lc_show_dashboard=show_dashboard, **context))


def render_fragment(template: str, **context: object) -> Markup:
    """Render a fragment the host embeds in its own pages (the widget)."""
    return Markup(render_template(template, **template_context(lc_show_dashboard=False, **context)))


def current_path() -> str:
    """The current request's path and query, for a form's ``next`` field."""
    path = request.full_path
    return path[:-1] if path.endswith("?") else path
