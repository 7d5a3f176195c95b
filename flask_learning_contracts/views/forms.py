"""The extension's own forms. Every one is a Flask-WTF ``FlaskForm``, so every POST carries a CSRF token
without switching on app-wide ``CSRFProtect`` (which would break a host's JSON API)."""
from __future__ import annotations

from flask import request
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import MethodNotAllowed
from wtforms import HiddenField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from .. import errors
from ..i18n import _l


class ActionForm(FlaskForm):
    """A button that changes state: only the CSRF token and where to go back to."""

    next = HiddenField()


class CodeForm(ActionForm):
    code = StringField(_l("Invitation code"), validators=[
        DataRequired(message=_l("Enter the invitation code you received.")),
        Length(max=64, message=_l("An invitation code is at most 64 characters long.")),
    ])


class TitleForm(ActionForm):
    title = StringField(_l("Title"), validators=[
        DataRequired(message=_l("Enter a title learners will see.")),
        Length(max=200, message=_l("Keep the title under 200 characters.")),
    ])


class CheckboxListField(SelectMultipleField):
    """Several choices shown as a list of checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class _ActivityStep:
    activities = CheckboxListField(_l("Activities the invitations cover"), coerce=str)


class InvitationActivitiesForm(ActionForm, _ActivityStep):
    pass


def validate_or_raise(form: FlaskForm) -> None:
    """Validate a posted form: a missing or wrong CSRF token is a 400; any other problem a ``ValidationError``.

    Only a POST gets past this (405 otherwise): a state change never rides on a GET or HEAD, even on a host
    that switched CSRF off."""
    if request.method != "POST":
        raise MethodNotAllowed(valid_methods=["POST"])
    if form.validate():
        return
    if "csrf_token" in form.errors:
        raise CSRFError(form.errors["csrf_token"][0])
    for name, messages in form.errors.items():
        if messages:
            raise errors.ValidationError(str(messages[0]), field=name)
    raise errors.ValidationError()  # pragma: no cover - validate() False always leaves an error
