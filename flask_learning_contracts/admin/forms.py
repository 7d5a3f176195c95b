"""Forms of the admin screens. All derive from Flask-WTF's ``FlaskForm``, so every POST carries a CSRF
token whether or not the host runs ``CSRFProtect`` (Flask-Admin's ``SecureForm`` clashes with it)."""
from __future__ import annotations

from typing import Any, TypeAlias

from flask_wtf import FlaskForm
from wtforms import fields, validators, widgets

from ..enums import ContractType
from ..i18n import _l

#: One option of a WTForms ``choices=`` list: a ``SelectChoice`` on WTForms 3.3+, a ``(value, label)`` tuple
#: before. types-WTForms (3.2) knows only the tuples, so an option is typed ``Any``.
Choice: TypeAlias = Any

try:  # WTForms 3.3+ wants SelectChoice objects; older versions take (value, label) tuples
    # types-WTForms 3.2 predates SelectChoice (the ignore goes unused once the stubs know it)
    from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined, unused-ignore]

    def choice(value: str, label: str) -> Choice:
        return SelectChoice(value, label)
except ImportError:  # pragma: no cover - WTForms < 3.3
    def choice(value: str, label: str) -> Choice:
        return (value, label)


_YES_NO = [choice("yes", _l("Yes")), choice("no", _l("No"))]
#: What each answer of "Require invitation code" means, shown beside it.
REQUIRE_CODE_HELP = {
    "yes": _l("Learners must enter the invitation code before they can enroll, even after being notified."),
    "no": _l("Invited activities appear in the learner's widget and can be enrolled in directly."),
}


class ActionForm(FlaskForm):
    """An empty form: a CSRF-protected POST button (resend, regenerate, remove …)."""


class _GeneralDetails(FlaskForm):
    code = fields.StringField(
        _l("Code"), [validators.InputRequired(), validators.Length(max=64)],
        description=_l("The unique identifier of the contract (letters, digits, dots, dashes, underscores)."))
    title = fields.StringField(_l("Title"), [validators.InputRequired(), validators.Length(max=200)],
                               description=_l("The name learners see."))
    description = fields.TextAreaField(_l("Description"), [validators.Length(max=5000)], render_kw={"rows": 3})
    group = fields.StringField(_l("Group"), [validators.Length(max=200)],
                               description=_l("Optional and informational only, for reference."))
    external_id = fields.StringField(_l("External ID"), [validators.Length(max=128)],
                                     description=_l("Optional; used only by integrations."))
    source = fields.StringField(_l("Source"), [validators.Length(max=128)],
                                description=_l("Optional; used only by integrations."))


class _SeatsAndScheduling(FlaskForm):
    seats = fields.IntegerField(_l("Number of seats"), [validators.InputRequired()], render_kw={"min": 0})
    per_user_limit = fields.IntegerField(
        _l("Per-user limit"), [validators.InputRequired()], default=0, render_kw={"min": 0},
        description=_l("How many of the contract's activities one learner may enroll in. 0 = no limit."))
    valid_from = fields.DateField(_l("Valid from"), [validators.InputRequired()],
                                  description=_l("The contract becomes active on this date."))
    valid_until = fields.DateField(_l("Valid until"), [validators.InputRequired()],
                                   description=_l("After this date no one can be invited or enroll; unused seats "
                                                  "expire."))
    require_invitation_code = fields.RadioField(_l("Require invitation code"), choices=_YES_NO, default="yes")
    reminders_enabled = fields.RadioField(
        _l("Send reminders"), choices=_YES_NO, default="yes",
        description=_l("Remind invited learners who have not acted yet, on the days the site sets "
                       "(\"Remind all outstanding\" on the Invitations tab works either way)."))


class ContractCreateForm(_GeneralDetails, _SeatsAndScheduling):
    contract_type = fields.RadioField(
        _l("Contract type"), [validators.InputRequired(message=_l("Choose Voucher or Subscription."))],
        choices=[choice(t.value, t.label) for t in ContractType],
        description=_l("Cannot be changed after the contract is created."))

    general_fields = ("code", "title", "description", "group", "external_id", "source")
    seat_fields = ("contract_type", "seats", "per_user_limit", "valid_from", "valid_until", "require_invitation_code",
                   "reminders_enabled")


class ContractEditForm(_GeneralDetails, _SeatsAndScheduling):
    general_fields = ContractCreateForm.general_fields
    seat_fields = ("seats", "per_user_limit", "valid_from", "valid_until", "require_invitation_code",
                   "reminders_enabled")


def contract_values(form: ContractCreateForm | ContractEditForm) -> dict[str, object]:
    """The service-layer keyword arguments of a contract form."""
    values = {name: form[name].data for name in (*form.general_fields, *form.seat_fields)}
    values["require_invitation_code"] = values["require_invitation_code"] == "yes"
    values["reminders_enabled"] = values["reminders_enabled"] != "no"
    return values


class AddActivitiesForm(FlaskForm):
    activity_ids = fields.SelectMultipleField(_l("Activities"), choices=[], validate_choice=False)


class ImportActivitiesForm(FlaskForm):
    source_contract = fields.SelectField(_l("Import activities from"), choices=[], validate_choice=False,
                                         validators=[validators.InputRequired()])


class UserForm(FlaskForm):
    user_id = fields.HiddenField(validators=[validators.InputRequired()])


class WebhookEndpointForm(FlaskForm):
    """A new webhook endpoint: the receiver's URL and the events it subscribes to."""

    url = fields.URLField(_l("Receiver URL"), [validators.InputRequired(), validators.Length(max=320)],
                          description=_l("Where the events are POSTed (http:// or https://)."))
    events = fields.SelectMultipleField(_l("Events"), choices=[], validate_choice=True,
                                        widget=widgets.ListWidget(prefix_label=False),
                                        option_widget=widgets.CheckboxInput())
