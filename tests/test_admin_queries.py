"""The admin list pages issue a fixed number of SQL queries, however many rows they show."""
from __future__ import annotations

import pytest

from flask_learning_contracts import ContractType, services

from . import host
from .admin_support import as_manager, count_queries, login_client, manager, text, url  # noqa: F401 - fixtures


def _contract_view(app):
    return next(v for v in app.extensions["learning_contracts"].admin._views if v.endpoint == "lc_contract")


def _queries(client, page: str) -> int:
    client.get(page)  # warm up (first-request work, caches)
    with count_queries(host.db) as statements:
        response = client.get(page)
    assert response.status_code == 200
    return len(statements)


def _add_contracts(make_contract, admins, n: int, start: int) -> None:
    for i in range(start, start + n):
        contract = make_contract(ContractType.VOUCHER if i % 2 else ContractType.SUBSCRIPTION, code=f"Q-{i:04d}")
        services.add_contract_admin(contract, admins[i % len(admins)])


def test_contract_list_query_count_does_not_grow_with_rows(app, make_contract, make_user, as_manager):
    """10 contracts, then 1,000: a full page of the largest page size (500) costs what a page of 10 does."""
    _contract_view(app).page_size = 500
    admins = [make_user() for _ in range(10)]
    _add_contracts(make_contract, admins, 10, 0)
    few = _queries(as_manager, url())
    assert text(as_manager.get(url())).count("Q-") == 10
    _add_contracts(make_contract, admins, 990, 10)
    many = _queries(as_manager, url())
    assert text(as_manager.get(url())).count("Q-") == 500
    last = _queries(as_manager, url() + "?page=1")
    assert few == many == last, (few, many, last)


@pytest.mark.parametrize("contract_type", [ContractType.VOUCHER, ContractType.SUBSCRIPTION])
def test_invitations_tab_query_count_does_not_grow_with_rows(app, make_contract, make_course, make_user,
                                                             as_manager, contract_type):
    """10 invitations, then 1,000: a full page of the largest page size (500) costs what a page of 10 does."""
    app.config["LEARNING_CONTRACTS_PAGE_SIZE"] = 500
    courses = [make_course(f"Course {i}") for i in range(3)]
    contract = make_contract(contract_type, code="QC", seats=1000, activities=courses)

    def invite(n: int, start: int) -> None:
        users = [host.Account(email_address=f"u{i:04d}@example.com", name=f"User {i}") for i in range(start, start + n)]
        host.db.session.add_all(users)
        host.db.session.commit()
        services.invite(contract, users=users, emails=[f"x{i:04d}@example.org" for i in range(start, start + 2)])

    invite(8, 0)
    page = url(f"{contract.id}/invitations")
    few = _queries(as_manager, page)
    assert text(as_manager.get(page)).count("Course 0") == 10
    invite(988, 8)
    many = _queries(as_manager, page)
    assert text(as_manager.get(page)).count("Course 0") == 500
    last = _queries(as_manager, page + "?page=2")
    assert text(as_manager.get(page + "?page=2")).count("Course 0") == 500
    assert few == many == last, (few, many, last)


def _counting(statements: list[str]) -> int:
    return sum(1 for s in statements if "count(" in s.lower() and "lc_invitation" in s and "lc_notification" not in s)


@pytest.mark.parametrize("page_of", ["admin", "dashboard"])
def test_the_invitation_list_counts_the_contracts_invitations_once(app, make_contract, make_user, manager,
                                                                   as_manager, page_of):
    """Counting a large contract's invitations is the costly part of its page: the per-status counts the page
    shows give the list's total too, so only an e-mail search counts again; every total stays exact."""
    contract = make_contract(ContractType.SUBSCRIPTION, code="CNT", seats=50)
    people = [make_user() for _ in range(3)]
    services.invite(contract, users=people, emails=[f"nobody{i}@example.org" for i in range(4)])
    services.revoke(services.invitation_page(contract, search=people[0].email_address).items[0])
    if page_of == "admin":
        base = url(f"{contract.id}/invitations")
    else:
        services.add_contract_admin(contract, manager)
        base = f"/learning-contracts/manage/{contract.id}"
    expected = {"": 7, "?status=not_registered": 4, "?status=outstanding": 2, "?status=revoked": 1,
                "?status=enrolled": 0, "?q=nobody": 4, "?q=nobody1": 1, "?q=zzz": 0}
    for query, total in expected.items():
        as_manager.get(base + query)
        with count_queries(host.db) as statements:
            response = as_manager.get(base + query)
        assert response.status_code == 200, query
        assert _counting(statements) == (2 if "q=" in query else 1), (query, statements)
        page = services.invitation_page(contract, search=query.partition("q=")[2] or None,
                                        status=query.partition("status=")[2] or None)
        assert page.total == total, query
        summary = services.seat_summary(contract)
        counted = services.invitation_page(contract, search=query.partition("q=")[2] or None,
                                           status=query.partition("status=")[2] or None, counts=summary.by_status)
        assert counted.total == total and [i.id for i in counted.items] == [i.id for i in page.items], query
