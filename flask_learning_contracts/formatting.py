"""How every page of the extension shows dates, times and counts to people: one place for the admin panel, the
contract-admin dashboard and the learner pages.

Dates read ``1 Dec 2026``. Times are moments: shown with their date, in the viewer's timezone
(``ContractRules.timezone(user)``, default UTC) and labelled with it: ``2 Dec 2026, 14:05 CET``. The database
stores naive UTC datetimes; a naive value is read as UTC.
"""
from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from typing import Any

from flask import g, has_request_context, request
from flask_login import current_user

from .i18n import _l, format_count
from .rules import current_rules

log = logging.getLogger(__name__)

#: Month abbreviations as the pages show them: translated messages (``strftime('%b')`` would follow the server's
#: C locale rather than the page's language).
MONTHS = (_l("Jan"), _l("Feb"), _l("Mar"), _l("Apr"), _l("May"), _l("Jun"), _l("Jul"), _l("Aug"), _l("Sep"),
          _l("Oct"), _l("Nov"), _l("Dec"))
_ZONE_KEY = "_learning_contracts_viewer_zone"


def zone_of(value: dt.tzinfo | str | None) -> dt.tzinfo:
    """A ``tzinfo`` from what the ``timezone`` hook returned: a ``tzinfo``, an IANA name, or ``None`` (UTC).
    An unknown name falls back to UTC (and is logged), so a host's typo never breaks a page."""
    if value is None:
        return dt.UTC
    if isinstance(value, dt.tzinfo):
        return value
    try:
        return zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        log.warning("ContractRules.timezone returned %r, which is no known timezone: showing UTC", value)
        return dt.UTC


def viewer_zone() -> dt.tzinfo:
    """The timezone of the person viewing the page (asked once per request), UTC outside a request."""
    if not has_request_context():
        return zone_of(current_rules().timezone(None))
    this_request = request._get_current_object()  # type: ignore[attr-defined]  # werkzeug's LocalProxy
    cached: tuple[object, dt.tzinfo] | None = g.get(_ZONE_KEY)
    if cached is not None and cached[0] is this_request:
        return cached[1]
    user: Any = current_user._get_current_object()  # the user itself, not Flask-Login's proxy of it
    viewer = user if getattr(user, "is_authenticated", False) else None
    zone = zone_of(current_rules().timezone(viewer))
    # g outlives the request where an app context spans several (tests, CLI): the cache names its request
    setattr(g, _ZONE_KEY, (this_request, zone))
    return zone


def format_date(value: dt.date | dt.datetime | None, empty: str = "") -> str:
    """A date for people: ``31 Dec 2026`` (``empty`` for ``None``). A datetime is a moment: its date in the
    viewer's timezone."""
    if value is None:
        return empty
    if isinstance(value, dt.datetime):
        value = _local(value, viewer_zone())
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


def format_datetime(value: dt.datetime | None, empty: str = "", zone: dt.tzinfo | None = None) -> str:
    """A moment for people, in the viewer's timezone (or ``zone``) and labelled: ``2 Dec 2026, 14:05 CET``."""
    if value is None:
        return empty
    local = _local(value, zone or viewer_zone())
    return f"{local.day} {MONTHS[local.month - 1]} {local.year}, {local:%H:%M} {zone_label(local)}"


def zone_label(local: dt.datetime) -> str:
    """The zone's short name at that moment (``CET``, ``CEST``, ``UTC``); ``UTC+05:30`` where it has none."""
    name = local.tzname() or ""
    if name and name[0] not in "+-":
        return name
    offset = local.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{rest:02d}"


def format_number(value: int | None, empty: str = "—") -> str:
    """A count for people: ``12,345`` (the locale's digit grouping with Flask-Babel, as counts in sentences)."""
    return empty if value is None else format_count(value)


def _local(value: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(zone)
