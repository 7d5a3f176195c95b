"""The admin's list of integration API keys (never their secrets), each live one with a Revoke button (a
CSRF-protected POST). Keys are created with ``flask contracts api-key create``: the secret is shown once, in the
terminal of whoever runs it, rather than on a web page a browser may cache."""
from __future__ import annotations

from typing import Any

from flask import flash, redirect, url_for
from flask_admin import BaseView, expose
from werkzeug.wrappers import Response

from .. import errors, services
from ..i18n import _
from .base import TEMPLATES, _csrf_refused, may_manage
from .forms import ActionForm


class ApiKeyView(BaseView):
    """API keys: name, prefix, scopes, created, last used, revoked."""

    def is_accessible(self) -> bool:
        return may_manage()

    def render(self, template: str, **kwargs: Any) -> str:
        kwargs.setdefault("_", _)
        html: str = super().render(template, **kwargs)
        return html

    @expose("/")
    def index(self) -> str:
        return self.render(TEMPLATES + "api_keys.html", keys=services.api_keys(), form=ActionForm())

    @expose("/<prefix>/revoke", methods=["POST"])
    def revoke(self, prefix: str) -> Response:
        form = ActionForm()
        if not form.validate_on_submit():
            if not _csrf_refused(form):
                flash(_("The key could not be revoked. Reload the page and try again."), "error")
        else:
            try:
                key = services.revoke_api_key(services.find_api_key(prefix))
                flash(_("Revoked the API key %(name)s: requests with it are refused from now on.", name=key.name),
                      "success")
            except errors.LearningContractError as error:
                flash(error.message, "error")
        return redirect(url_for(".index"))
