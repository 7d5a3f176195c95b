"""The Invitations tab's page query reads a contract's invitations in page order from an index (lc0012).

``services.invitation_page`` orders newest first (``invited_at DESC, id DESC``) and takes one page with
``LIMIT``/``OFFSET``. Without an index in that order the database reads every invitation of the contract and
sorts them for each page: 266–281 ms at 100,000 invitations. These tests take the statement the service
really sends and ask the database for its plan:

* SQLite: ``EXPLAIN QUERY PLAN`` must not say ``USE TEMP B-TREE FOR ORDER BY`` (a sort of the matching rows).
* PostgreSQL: with sorting priced out (``enable_sort = off``), ``EXPLAIN`` must have no ``Sort`` node: the
  planner can only avoid one when an index delivers the order.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import sqlalchemy as sa

from flask_learning_contracts import ContractType, InvitationStatus, services

N = 300
FILTERS: list[dict[str, Any]] = [
    {},
    {"page": 3},
    {"status": InvitationStatus.OUTSTANDING},
    {"status": InvitationStatus.NOT_REGISTERED, "page": 2},
    {"search": "person1"},
    {"page": 14},  # past the middle: read from the oldest end
    {"status": InvitationStatus.OUTSTANDING, "page": 9},
]


@pytest.fixture
def big_contract(db, m, make_contract):
    contract = make_contract(ContractType.VOUCHER, seats=N)
    start = dt.datetime(2026, 3, 1, 9, 0)
    db.session.execute(sa.insert(m.Invitation.__table__), [{
        "contract_id": contract.id, "email": f"person{i}@example.com",
        "status": InvitationStatus.OUTSTANDING if i % 3 else InvitationStatus.NOT_REGISTERED,
        "require_code": False, "enrolled_count": 0, "invited_at": start + dt.timedelta(minutes=i // 4),
        "send_count": 1} for i in range(N)])
    db.session.commit()
    return contract


def _page_statement(db, contract, filters: dict[str, Any]) -> tuple[str, Any]:
    """The SQL text and parameters of the page query ``invitation_page`` sends for ``filters``."""
    sent: list[tuple[str, Any]] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        sent.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", listener)
    try:
        page = services.invitation_page(contract, per_page=20, **filters)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listener)
    assert page.items, filters
    ordered = [s for s in sent if "ORDER BY" in s[0] and "invited_at" in s[0].split("ORDER BY")[-1]]
    assert len(ordered) == 1, sent
    return ordered[0]


def _plan(db, statement: str, parameters: Any) -> list[str]:
    connection = db.session.connection()
    if db.engine.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL enable_sort = off")
        rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters).all()
        return [row[0] for row in rows]
    rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    return [row[-1] for row in rows]


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()) or "all")
def test_the_page_query_reads_the_page_order_from_an_index(db, big_contract, filters):
    statement, parameters = _page_statement(db, big_contract, filters)
    plan = _plan(db, statement, parameters)
    db.session.rollback()
    text = "\n".join(plan)
    # Either page-order index serves a status filter (the planner picks one by its estimates); what matters is
    # that the order comes from one of them, read backwards, and that nothing sorts.
    if db.engine.dialect.name == "postgresql":
        assert not any(line.lstrip(" ->").startswith(("Sort", "Incremental Sort")) for line in plan), text
        assert re.search(r"Index Scan (Backward )?using ix_lc_invitation_(status_)?page\b", text), text
    else:
        assert "USE TEMP B-TREE FOR ORDER BY" not in text, text
        assert re.search(r"USING INDEX ix_lc_invitation_(status_)?page\b", text), text


def test_the_page_is_newest_first_with_ties_broken_by_id(db, m, big_contract):
    """What the index serves is what the page shows: invited_at descending, then id descending."""
    page = services.invitation_page(big_contract, per_page=10, page=2)
    got = [(inv.invited_at, inv.id) for inv in page.items]
    every = db.session.execute(sa.select(m.Invitation.invited_at, m.Invitation.id)
                               .where(m.Invitation.contract_id == big_contract.id)).all()
    assert got == sorted(((at, iid) for at, iid in every), reverse=True)[10:20]
    assert page.total == N


@pytest.mark.parametrize("per_page", [7, 20, 300, 301])
@pytest.mark.parametrize("status", [None, InvitationStatus.NOT_REGISTERED])
def test_every_page_read_from_either_end_is_in_the_order_of_the_list(db, m, big_contract, per_page, status):
    """Pages past the middle are read oldest first and turned round: page after page, first to last (a short
    last page included), they give every invitation once, newest first, with or without the status counts."""
    where = [m.Invitation.contract_id == big_contract.id] + ([m.Invitation.status == status] if status else [])
    every = sorted(db.session.execute(sa.select(m.Invitation.invited_at, m.Invitation.id).where(*where)).all(),
                   reverse=True)
    counts = services.seat_summary(big_contract).by_status
    for given in (None, counts):
        first = services.invitation_page(big_contract, per_page=per_page, status=status, counts=given)
        seen = []
        for number in range(1, first.pages + 1):
            page = services.invitation_page(big_contract, per_page=per_page, page=number, status=status,
                                            counts=given)
            assert page.page == number and len(page.items) <= per_page
            seen += [(inv.invited_at, inv.id) for inv in page.items]
        assert seen == [tuple(row) for row in every]
