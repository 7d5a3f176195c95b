"""CSV export of a contract's invitations (admin Invitations tab and contract-admin dashboard).

Both downloads stream the same rows (``services.invitation_export_rows``) through the same writer
(``csv_export.csv_response``), honour the list's search and status filters, neutralise spreadsheet
formulas (OWASP CSV injection) and issue a constant number of queries whatever the number of invitations.
"""
from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa

from flask_learning_contracts import ContractType, InvitationStatus, services
from flask_learning_contracts.csv_export import neutralise

from .views_support import client_for, count_queries

ADMIN = "/admin/learning-contracts"
MANAGE = "/learning-contracts/manage"
FORMULA = "=cmd|' /C calc'!A0"
HEADER = ["E-mail", "Learner name", "Status", "Invited at (UTC)", "Invited by", "Code redeemed at (UTC)",
          "Enrolled activities"]


@pytest.fixture
def people(make_user):
    return {
        "manager": make_user("boss@example.com", manager=True, name="Bea Boss"),
        "admin": make_user("casey@example.com", name="@SUM(1+1)*cmd|' /C calc'!A0"),
        "learner": make_user("lee@example.com", name=FORMULA),
        "enrolled": make_user("erin@example.com", name="Erin Enrolled"),
        "outsider": make_user("out@example.com", name="Otto Outsider"),
    }


@pytest.fixture
def contract(make_contract, make_course, people):
    course = make_course("Safety")
    contract = make_contract(ContractType.VOUCHER, code="ACME-1", title="Acme", activities=[course], seats=50,
                             require_invitation_code=False)
    services.add_contract_admin(contract, people["admin"])
    services.invite(contract, users=[people["learner"], people["enrolled"]],
                    emails=["nobody@example.com"], actor=people["admin"])
    services.enroll(people["enrolled"], contract, course)
    return contract


def urls(contract) -> dict[str, str]:
    return {"admin": f"{ADMIN}/{contract.id}/invitations/export.csv",
            "dashboard": f"{MANAGE}/{contract.id}/invitations.csv"}


def who(people, kind: str):
    return people["manager"] if kind == "admin" else people["admin"]


def rows_of(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))


@pytest.mark.parametrize("kind", ["admin", "dashboard"])
def test_export_streams_every_invitation_with_readable_columns(app, contract, people, kind):
    response = client_for(app, who(people, kind)).get(urls(contract)[kind])

    assert response.is_streamed
    assert response.headers["Content-Disposition"] == 'attachment; filename="invitations-ACME-1.csv"'
    rows = rows_of(response)
    assert rows[0] == HEADER
    by_email = {row[0]: row for row in rows[1:]}
    assert set(by_email) == {"lee@example.com", "erin@example.com", "nobody@example.com"}
    erin = by_email["erin@example.com"]
    assert erin[1:3] == ["Erin Enrolled", "Enrolled"] and erin[6] == "1"
    assert erin[3] == "2026-06-15 12:00" and erin[5] == ""
    assert by_email["nobody@example.com"][1:3] == ["", "Not Registered"]
    assert by_email["lee@example.com"][2] == "Outstanding"


@pytest.mark.parametrize("kind", ["admin", "dashboard"])
def test_export_neutralises_formulas_in_names_emails_and_invited_by(app, db, contract, people, kind):
    m = app.extensions["learning_contracts"].models
    # A row written by a host import, not through the services (which refuse such an address).
    db.session.execute(sa.update(m.Invitation).where(m.Invitation.email == "nobody@example.com")
                       .values(email=FORMULA + "@example.com"))
    db.session.commit()

    rows = rows_of(client_for(app, who(people, kind)).get(urls(contract)[kind]))[1:]

    by_email = {row[0]: row for row in rows}
    assert by_email["'" + FORMULA + "@example.com"]
    assert by_email["lee@example.com"][1] == "'" + FORMULA
    assert {row[4] for row in rows} == {"'@SUM(1+1)*cmd|' /C calc'!A0"}
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row)


@pytest.mark.parametrize("value, expected", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@A1", "'@A1"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("\0x", "'\0x"), ("plain@example.com", "plain@example.com"), ("a=b", "a=b"), ("", ""), (None, ""), (3, "3"),
])
def test_neutralise_prefixes_only_cells_a_spreadsheet_would_evaluate(value, expected):
    assert neutralise(value) == expected


@pytest.mark.parametrize("value, expected", [
    (" =1+1", "' =1+1"), ("   +1", "'   +1"), (" -1", "' -1"), ("  @A1", "'  @A1"), ("\n=1+1", "'\n=1+1"),
    (" \t=1", "' \t=1"), ("\u00a0=1+1", "'\u00a0=1+1"), ("\u3000=1+1", "'\u3000=1+1"), ("\ufeff=1+1", "'\ufeff=1+1"),
    ("\u200b=1+1", "'\u200b=1+1"),
    (" \u200b \u2060 =1+1", "' \u200b \u2060 =1+1"), ("  plain", "  plain"), (" a=b", " a=b"), ("   ", "   "),
])
def test_neutralise_sees_a_formula_after_leading_whitespace(value, expected):
    """Spreadsheets skip leading spaces (and other blanks) before reading a formula: so must we."""
    assert neutralise(value) == expected


@pytest.mark.parametrize("kind", ["admin", "dashboard"])
def test_export_respects_the_search_and_status_filters(app, contract, people, kind):
    client = client_for(app, who(people, kind))
    url = urls(contract)[kind]

    assert [r[0] for r in rows_of(client.get(url, query_string={"q": "EXAMPLE.COM", "status": "enrolled"}))[1:]] \
        == ["erin@example.com"]
    assert [r[0] for r in rows_of(client.get(url, query_string={"q": "nobody"}))[1:]] == ["nobody@example.com"]
    assert len(rows_of(client.get(url, query_string={"status": "not_registered"}))) == 2
    assert len(rows_of(client.get(url, query_string={"status": "bogus"}))) == 4  # unknown status: all
    assert rows_of(client.get(url, query_string={"q": "zzz"})) == [HEADER]


def test_both_invitation_lists_link_to_the_export_with_their_filters(app, contract, people):
    admin_page = client_for(app, people["manager"]).get(
        f"{ADMIN}/{contract.id}/invitations", query_string={"q": "lee", "status": "outstanding"})
    dashboard = client_for(app, people["admin"]).get(
        f"{MANAGE}/{contract.id}", query_string={"q": "lee", "status": "outstanding"})

    for page, url in ((admin_page, urls(contract)["admin"]), (dashboard, urls(contract)["dashboard"])):
        html = page.get_data(as_text=True)
        assert "Export invitations (CSV)" in html
        assert f'href="{url}?q=lee&amp;status=outstanding"' in html or \
            f'href="{url}?status=outstanding&amp;q=lee"' in html


def test_export_is_refused_to_everyone_else_and_shows_nothing(app, make_user, make_contract, contract, people):
    other_admin = make_user("olga@example.com")
    services.add_contract_admin(make_contract(title="Other"), other_admin)
    refused = [
        (None, "admin", 401), (None, "dashboard", 401),
        (people["admin"], "admin", 403), (people["learner"], "admin", 403), (people["outsider"], "admin", 403),
        (people["learner"], "dashboard", 404), (people["outsider"], "dashboard", 404),
        (other_admin, "dashboard", 404), (other_admin, "admin", 403),
    ]
    for user, kind, status in refused:
        response = client_for(app, user).get(urls(contract)[kind])
        assert response.status_code == status, (user, kind)
        assert "lee@example.com" not in response.get_data(as_text=True)
    missing = client_for(app, people["manager"]).get(f"{ADMIN}/424242/invitations/export.csv")
    assert missing.status_code == 404


def _invite_many(contract, n: int, users) -> None:
    services.invite(contract, users=users, emails=[f"bulk{i}@example.com" for i in range(n - len(users))])


@pytest.mark.parametrize("kind", ["admin", "dashboard"])
def test_export_query_count_does_not_grow_with_invitations(app, db, make_contract, make_user, people, kind):
    counts = {}
    for n in (10, 300):
        contract = make_contract(ContractType.SUBSCRIPTION, code=f"BULK-{n}", seats=1000)
        services.add_contract_admin(contract, people["admin"])
        _invite_many(contract, n, [make_user(f"u{n}-{i}@example.com") for i in range(3)])
        client = client_for(app, who(people, kind))
        db.session.expire_all()
        with count_queries(db) as statements:
            response = client.get(urls(contract)[kind])
            assert len(rows_of(response)) == n + 1
        counts[n] = len(statements)
    assert counts[10] == counts[300], counts


def test_export_rows_are_read_in_batches_with_two_queries_each(app, db, make_contract, make_user):
    contract = make_contract(ContractType.SUBSCRIPTION, seats=1000)
    _invite_many(contract, 120, [make_user(f"b{i}@example.com") for i in range(5)])
    db.session.expire_all()
    assert contract.code  # loaded before counting

    with count_queries(db) as statements:
        rows = list(services.invitation_export_rows(contract, batch_size=50))

    assert len(rows) == 120 and len({r.email for r in rows}) == 120
    assert [r.email for r in rows[:1]] == [f"bulk{114}@example.com"]  # newest first
    assert len(statements) <= 2 * 3  # batches of 50, 50, 20: the invitations and their learners each
    assert all(r.status in (InvitationStatus.OUTSTANDING, InvitationStatus.NOT_REGISTERED) for r in rows)
