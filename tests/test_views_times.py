"""Times on every page: date and time, in the viewer's timezone (``ContractRules.timezone``), labelled."""
from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from flask_learning_contracts import formatting, services

from .admin_support import as_manager, login_client, manager, text, url  # noqa: F401 - fixtures
from .conftest import invite_one
from .views_support import PREFIX, client_for

#: The fake clock: 13:05 UTC on 2 Dec 2026 is 14:05 in Paris (CET, winter time).
CLOCK = dt.datetime(2026, 12, 2, 13, 5, tzinfo=dt.UTC)


@pytest.fixture
def paris(rules):
    rules.clock = CLOCK
    seen = []

    def timezone(user):
        seen.append(user)
        return "Europe/Paris"

    rules.timezone = timezone
    return seen


@pytest.fixture
def invited(app, rules, make_contract, make_course, make_user):
    rules.clock = CLOCK
    contract = make_contract(code="TZ-1", activities=[make_course("Safety")])
    admin = make_user("casey@example.com", name="Casey")
    services.add_contract_admin(contract, admin)
    invitation = invite_one(contract, make_user("olga@example.com", name="Olga"))
    return contract, admin, invitation


def test_the_default_is_utc_with_date_and_time(app, invited, as_manager):
    contract = invited[0]
    page = text(as_manager.get(url(f"{contract.id}/invitations")))
    assert "Olga olga@example.com Outstanding 2 Dec 2026, 13:05 UTC" in page


def test_admin_pages_show_times_in_the_viewers_zone(app, invited, paris, as_manager, manager):
    contract, _admin, invitation = invited
    invitations = text(as_manager.get(url(f"{contract.id}/invitations")))
    assert "Outstanding 2 Dec 2026, 14:05 CET" in invitations
    assert "13:05" not in invitations
    assert "2 Dec 2026, 14:05 CET" in text(as_manager.get(url(f"{contract.id}/history")))
    assert "Created 2 Dec 2026, 14:05 CET" in text(as_manager.get(url(f"{contract.id}/")))
    assert "Invited: 2 Dec 2026, 14:05 CET" in text(
        as_manager.get(url(f"{contract.id}/invitations/{invitation.id}/activities")))
    assert [viewer.id for viewer in paris] == [manager.id] * 4  # asked about the viewer, once per page


def test_summer_time_is_labelled_as_such(app, invited, paris, rules, as_manager):
    rules.clock = dt.datetime(2026, 7, 1, 9, 30, tzinfo=dt.UTC)
    contract = invited[0]
    services.update_contract(contract, title="Renamed in summer")
    assert "1 Jul 2026, 11:30 CEST" in text(as_manager.get(url(f"{contract.id}/history")))


def test_dashboard_pages_show_times_in_the_viewers_zone(app, invited, paris):
    contract, admin, invitation = invited
    client = client_for(app, admin)
    page = text(client.get(f"{PREFIX}/manage/{contract.id}"))
    assert "olga@example.com Outstanding 2 Dec 2026, 14:05 CET" in page
    detail = text(client.get(f"{PREFIX}/manage/{contract.id}/invitations/{invitation.id}"))
    assert "Invited 2 Dec 2026, 14:05 CET" in detail


def test_a_revoked_invitation_and_its_reinvite_are_told_apart(app, invited, rules, as_manager):
    contract, _admin, invitation = invited
    services.revoke(invitation)
    rules.clock = CLOCK + dt.timedelta(minutes=20)
    invite_one(contract, invitation.user)
    page = text(as_manager.get(url(f"{contract.id}/invitations")))
    assert "Revoked 2 Dec 2026, 13:05 UTC" in page and "Outstanding 2 Dec 2026, 13:25 UTC" in page


def test_the_formatter_takes_a_tzinfo_a_name_or_falls_back_to_utc(app):
    moment = dt.datetime(2026, 12, 2, 13, 5)  # naive: stored UTC
    assert formatting.format_datetime(moment, zone=formatting.zone_of("Asia/Kolkata")) == "2 Dec 2026, 18:35 IST"
    assert formatting.format_datetime(moment, zone=formatting.zone_of(zoneinfo.ZoneInfo("America/Sao_Paulo"))) \
        == "2 Dec 2026, 10:05 UTC−03:00"
    assert formatting.format_datetime(moment, zone=formatting.zone_of("No/Such_Zone")) == "2 Dec 2026, 13:05 UTC"
    assert formatting.format_datetime(None) == ""
    assert formatting.format_date(dt.datetime(2026, 12, 2, 23, 30), ) == "2 Dec 2026"
    paris = formatting.zone_of("Pacific/Auckland")
    assert formatting.format_datetime(dt.datetime(2026, 12, 2, 23, 30), zone=paris) == "3 Dec 2026, 12:30 NZDT"
