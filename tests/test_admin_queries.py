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
