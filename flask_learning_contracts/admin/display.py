"""How the admin screens show values to people: dates, numbers, codes, kinds, learners (no ids, no enum values)."""
from __future__ import annotations

import datetime as dt

from .. import formatting, services
from ..codes import format_code
from ..i18n import _, _l
from ..rules import HostActivity, HostUser, current_rules

KIND_LABELS = {
    "online": _l("Online"),
    "ilt": _l("Instructor-led"),
    "certification": _l("Certification program"),
}
STATE_BADGES = {"future": "info", "active": "success", "expired": "secondary"}
STATUS_BADGES = {"outstanding": "warning", "accepted": "primary", "enrolled": "success",
                 "not_registered": "info", "revoked": "secondary"}


class Display:
    """Formatting helpers handed to every admin template as ``lc``."""

    kind_labels = KIND_LABELS
    state_badges = STATE_BADGES
    status_badges = STATUS_BADGES

    months = formatting.MONTHS

    @staticmethod
    def date(value: dt.date | None) -> str:
        return formatting.format_date(value, empty="—")

    @staticmethod
    def datetime(value: dt.datetime | None) -> str:
        """A moment in the viewer's timezone, labelled (``ContractRules.timezone``)."""
        return formatting.format_datetime(value, empty="—")

    @classmethod
    def period(cls, start: dt.date, end: dt.date) -> str:
        return f"{cls.date(start)} – {cls.date(end)}"

    @staticmethod
    def number(value: int | None) -> str:
        return formatting.format_number(value)

    @staticmethod
    def group(value: str | None) -> str:
        """A contract's group by its label among the host's groups (``ContractRules.groups``)."""
        return services.group_label(value) or "—"

    @staticmethod
    def code(value: str) -> str:
        return format_code(value)

    @staticmethod
    def kind(activity: HostActivity) -> str:
        kind = current_rules().activity_kind(activity)
        return str(KIND_LABELS.get(kind, kind.replace("_", " ").capitalize()))

    @staticmethod
    def title(activity: HostActivity) -> str:
        return current_rules().activity_title(activity)

    @staticmethod
    def user(user: HostUser | None) -> str:
        return current_rules().user_display_name(user) if user is not None else _("No account yet")

    @staticmethod
    def email(user: HostUser) -> str:
        return current_rules().user_email(user) or ""

    @staticmethod
    def yes_no(value: bool) -> str:
        return _("Yes") if value else _("No")


DISPLAY = Display()
