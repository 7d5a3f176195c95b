"""What every admin page's shell gives assistive technology and narrow screens, without a browser.

The Chromium tests (tests/browser/test_accessibility.py) run axe-core and measure the pages at 390 px; these
check the markup those results rest on, fast: the page's language, one <main> landmark, our stylesheet (contrast,
focus, stacking tables) on every page of the view, a labelled search box, and table cells that name their column.
"""
from __future__ import annotations

import re

import pytest

from flask_learning_contracts import ContractType, services

from .admin_support import as_manager, learner, login_client, manager, url  # noqa: F401 - fixtures


@pytest.fixture
def setting(make_contract, make_course, learner):  # noqa: F811 - fixture
    courses = [make_course("Safety", "online"), make_course("Leadership", "ilt")]
    contract = make_contract(ContractType.VOUCHER, code="VOU-1", title="Voucher deal", seats=10, activities=courses)
    invitation = services.get_invitation(services.invite(contract, users=[learner]).invited[0].invitation_id)
    return contract, invitation, courses[0].id


def _admin_pages(contract, invitation, activity_id):
    c = contract.id
    return [
        url(), url("new/"), url(f"edit/?id={c}"), url(f"{c}/"), url(f"{c}/code/regenerate"),
        url(f"{c}/activities"), url(f"{c}/activities/add"), url(f"{c}/activities/import"),
        url(f"{c}/activities/{activity_id}/remove"), url(f"{c}/invitations"),
        url(f"{c}/invitations/{invitation.id}/activities"), url(f"{c}/invitations/{invitation.id}/revoke"),
        url(f"{c}/invite"), url(f"{c}/history"), url(f"{c}/delete"),
    ]


def test_every_admin_page_names_its_language_has_one_main_and_our_stylesheet(setting, as_manager):  # noqa: F811
    for page in _admin_pages(*setting):
        html = as_manager.get(page).get_data(as_text=True)
        assert re.search(r'<html lang="en">', html), page  # Flask-Admin's base template says <html> only
        assert len(re.findall(r"<main\b", html)) == 1, page
        assert re.search(r'<link href="[^"]*/static/admin\.css"', html), page
        assert html.count("/static/admin.css") == 1, page  # once: the view's extra_css, not again in a template


def test_the_contract_list_search_box_has_a_visible_label(setting, as_manager):  # noqa: F811
    html = as_manager.get(url()).get_data(as_text=True)
    assert re.search(r'<label for="lc-list-search"[^>]*>Search contracts</label>', html)
    assert re.search(r'<input id="lc-list-search"[^>]*name="search"', html)
    # Every data cell of the list names its column for the stacked cards of narrow screens.
    rows = re.findall(r"<td class=\"col-[^\"]+\"([^>]*)>", html)
    assert rows and all("data-label=" in attributes for attributes in rows)


def test_each_invitation_cell_names_its_column_for_narrow_screens(setting, as_manager):  # noqa: F811
    contract, _invitation, _activity = setting
    html = as_manager.get(url(f"{contract.id}/invitations")).get_data(as_text=True)
    table = re.search(r'<table class="[^"]*lc-invitations lc-cards[^"]*">(.*?)</table>', html, re.DOTALL)
    assert table
    body = table.group(1).split("<tbody>", 1)[1]
    cells = re.findall(r"<td\b([^>]*)>", body)
    labelled = [c for c in cells if "data-label=" in c]
    assert len(labelled) == 6 and len(cells) == 7  # the seventh holds the row's actions
    assert 'data-label="Status"' in body and "lc-row-actions" in body
