"""The Webhooks screen of Flask-Admin: endpoints (add with URL and events, disable, enable, delete) and their
recent deliveries with a Retry button; thin over :mod:`flask_learning_contracts.services.webhooks`.

The signing secret is shown once, on the page that answers the creation (with ``Cache-Control: no-store``);
an endpoint whose secret was lost is replaced by a new one (add it, switch the receiver, delete the old one).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash, make_response, redirect, request
from flask_admin import BaseView, expose
from werkzeug.wrappers import Response

from .. import errors, services
from ..enums import WebhookEvent
from ..i18n import _, _n
from . import forms
from .base import TEMPLATES, ManagersOnly, _report, _safe_next, with_language
from .display import DISPLAY


class WebhookView(ManagersOnly, BaseView):
    """Webhook endpoints and deliveries (for the people who manage contracts)."""

    def render(self, template: str, **kwargs: Any) -> str:
        kwargs.setdefault("lc", DISPLAY)
        kwargs.setdefault("_", _)
        kwargs.setdefault("ngettext", _n)
        kwargs.setdefault("action_form", forms.ActionForm())
        return with_language(super().render(template, **kwargs))

    def _form(self) -> forms.WebhookEndpointForm:
        form = forms.WebhookEndpointForm()
        form.events.choices = [(e.value, _("%(label)s (%(event)s)", label=e.label, event=e.value))
                               for e in WebhookEvent]
        return form

    @expose("/", methods=("GET", "POST"))
    def index(self) -> str | Response:
        form = self._form()
        if request.method == "POST" and form.validate_on_submit():
            try:
                created = services.create_webhook_endpoint(form.url.data or "", form.events.data or [])
            except errors.LearningContractError as error:
                _report(error, form)
            else:
                flash(_("Added the webhook endpoint %(url)s. Copy its signing secret now: it is not shown again.",
                        url=created.url), "success")
                response = make_response(self.render(TEMPLATES + "webhook_created.html", created=created))
                response.headers["Cache-Control"] = "no-store"
                return response
        return self.render(TEMPLATES + "webhooks.html", form=form, endpoints=services.webhook_endpoints())

    @expose("/deliveries/")
    def deliveries_view(self) -> str:
        raw = request.args.get("endpoint_id", "")
        endpoint_id = int(raw) if raw.isdigit() and len(raw) < 10 else None
        return self.render(TEMPLATES + "webhook_deliveries.html", endpoint_id=endpoint_id,
                           deliveries=services.webhook_deliveries(endpoint_id=endpoint_id, limit=200),
                           endpoints={e.id: e for e in services.webhook_endpoints()})

    def _post(self, run: Callable[[], object], success: str) -> Response:
        """A CSRF-checked button POST: run the service call, flash the outcome, go back."""
        form = forms.ActionForm()
        if form.validate_on_submit():
            try:
                run()
            except errors.LearningContractError as error:
                flash(str(error), "error")
            else:
                flash(success, "success")
        else:
            flash(_("Your session expired or the form was not sent from this page. Nothing was changed; "
                    "please try again."), "error")
        return redirect(_safe_next(self.get_url(".index")))

    @expose("/<int:endpoint_id>/disable/", methods=("POST",))
    def disable_view(self, endpoint_id: int) -> Response:
        return self._post(lambda: services.set_webhook_endpoint_active(endpoint_id, False),
                          _("Disabled the webhook endpoint; its events are no longer sent."))

    @expose("/<int:endpoint_id>/enable/", methods=("POST",))
    def enable_view(self, endpoint_id: int) -> Response:
        return self._post(lambda: services.set_webhook_endpoint_active(endpoint_id, True),
                          _("Enabled the webhook endpoint. Retry the deliveries it missed from its deliveries."))

    @expose("/<int:endpoint_id>/delete/", methods=("POST",))
    def delete_view(self, endpoint_id: int) -> Response:
        return self._post(lambda: services.delete_webhook_endpoint(endpoint_id),
                          _("Deleted the webhook endpoint and its deliveries."))

    @expose("/deliveries/<int:delivery_id>/retry/", methods=("POST",))
    def retry_view(self, delivery_id: int) -> Response:
        def run() -> None:
            if not services.retry_webhook_delivery(delivery_id):
                raise errors.LearningContractError(_("This delivery was not failed or skipped: nothing to retry."))

        return self._post(run, _("Retried the delivery."))
