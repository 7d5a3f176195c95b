"""Hostile input against the one invitation flow (issue 15), on both sides (admin panel and dashboard): address
lists pasted from a mail program, NUL bytes, pastes and files over the size limits, a run that failed part-way."""
from __future__ import annotations

import io

import pytest

from flask_learning_contracts import services

from .test_invite_flow import (  # noqa: F401 - fixtures shared with the flow's own tests
    Side, boss, casey, courses, follow, invitations, make_flow_contract, report_rows, side, sub, voucher, words)


def test_split_addresses_keeps_the_address_of_a_named_entry():
    pasted = ('Alice Smith <alice@example.com>, "Smith, Bob" <bob@example.com>; <c@example.com>\n'
              '"dee@example.com" <dee@example.com> eve@example.com, Nope Nobody, f@example.com<g@example.com>')

    assert services.split_addresses(pasted) == [
        "alice@example.com", "bob@example.com", "c@example.com", "dee@example.com", "eve@example.com", "Nope",
        "Nobody", "f@example.com", "g@example.com"]


def test_split_addresses_is_linear_on_a_huge_paste_without_addresses():
    import time

    started = time.perf_counter()
    pieces = services.split_addresses("word " * 100_000 + "<" + '"' * 1000)
    assert len(pieces) == 100_000 and time.perf_counter() - started < 2


def test_addresses_pasted_from_a_mail_program_are_invited_without_their_names(side, app, db, sub):
    pasted = 'Alice Smith <alice@example.com>, "Smith, Bob" <bob@example.com>; <c@example.com>'
    report = follow(side, side.post(sub, {"emails": pasted}))

    assert [row[1:3] for row in report_rows(report)] == [
        [f"{x}@example.com", "Not Registered"] for x in ("alice", "bob", "c")]
    assert invitations(db, app) == 3


def test_a_csv_line_with_a_named_address_invites_the_address(side, app, db, sub):
    report = follow(side, side.post(sub, csv='Alice Smith <alice@example.com>\n"Smith, Bob" <bob@example.com>,Sales\n'))

    assert [row[:4] for row in report_rows(report)] == [
        ["1", "", "alice@example.com", "Not Registered"], ["2", "", "bob@example.com", "Not Registered"]]


def test_a_paste_over_the_form_size_limit_gets_a_page_that_says_what_to_do(side, app, db, sub):
    """Werkzeug refuses form text over ``MAX_FORM_MEMORY_SIZE`` (500 kB by default; about 25,000 addresses) with
    413 before the view runs: the page says so in the site's look, not Werkzeug's bare "Request Entity Too Large"."""
    typed = "\n".join(f"person{i:06d}@example.com" for i in range(30_000))
    response = side.post(sub, {"emails": typed})

    assert response.status_code == 413
    page = words(response)
    assert "Request Entity Too Large" not in page
    assert "Too much was sent at once" in page and "CSV file" in page
    assert ("Administration" if side.name == "admin" else "Contracts dashboard") in page  # inside the site's layout
    assert invitations(db, app) == 0


def test_a_nul_byte_in_a_dashboard_form_gets_the_styled_400_page(app, db, sub, casey):
    from .views_support import client_for

    side = Side("dashboard", client_for(app, casey), "people", 404)
    response = side.post(sub, {"emails": "a@example.com\x00"})

    assert response.status_code == 400
    page = words(response)
    assert "Bad Request" not in page and "could not be understood" in page and "Contracts dashboard" in page
    assert invitations(db, app) == 0
