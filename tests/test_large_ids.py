"""Ids no database column can hold are "not found", never a driver error (SQLite's ``OverflowError`` past 2^63,
PostgreSQL's "integer out of range" past 2^31 for ``integer`` columns).

The authorization matrix tries every route with such ids (``tests/test_authorization_matrix.py``); these tests
pin the service-level lookups and the key parsing that the pages use.
"""
from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from flask_learning_contracts import ContractType, errors, services

from . import host
from .conftest import invite_one


def _integer_limit(db) -> int:
    """The first id past what this database stores in an ``integer`` column."""
    return 2**63 if db.engine.dialect.name == "sqlite" else 2**31


@pytest.mark.parametrize("value", [2**31, 2**63, -(2**63) - 1, "9" * 25, "9" * 5000, "1e9", "abc", None, "", 1.5e300])
def test_get_contract_and_get_invitation_refuse_any_value_as_not_found(app, make_contract, make_user, value):
    contract = make_contract(ContractType.SUBSCRIPTION)
    invite_one(contract, make_user())

    with pytest.raises(errors.ValidationError, match="does not exist"):
        services.get_contract(value)
    with pytest.raises(errors.ValidationError, match="does not exist"):
        services.get_invitation(value)
    with pytest.raises(errors.ValidationError, match="does not exist"):
        services.get_invitation(value, contract=contract)


def test_the_largest_storable_id_is_looked_up_normally(app, db, make_contract):
    contract = make_contract()
    limit = _integer_limit(db)

    assert services.get_contract(str(contract.id)) is contract
    with pytest.raises(errors.ValidationError):
        services.get_contract(limit - 1)  # storable, just not there: an ordinary miss
    with pytest.raises(errors.ValidationError):
        services.get_contract(limit)


def test_parse_key_follows_the_column_type_and_the_database(app, db):
    m = app.extensions["learning_contracts"].models
    limit = _integer_limit(db)

    assert services.parse_key(host.Account.id, str(limit - 1)) == limit - 1
    assert services.parse_key(host.Account.id, str(limit)) is None
    assert services.parse_key(m.Contract.id, " 42 ") is None  # plain digits only: one spelling per id
    assert services.parse_key(m.Contract.id, "forty-two") is None
    assert services.parse_key(sa.Column("k", sa.BigInteger), str(2**63 - 1)) == 2**63 - 1
    assert services.parse_key(sa.Column("k", sa.BigInteger), str(2**63)) is None
    small = services.parse_key(sa.Column("k", sa.SmallInteger), str(2**15))
    assert small == (2**15 if db.engine.dialect.name == "sqlite" else None)
    ulid = "01HZX3K4M5N6P7Q8R9S0T1V2W3"
    assert services.parse_key(sa.Column("k", sa.String(26)), ulid) == ulid
    assert services.parse_key(sa.Column("k", sa.Uuid), "not-a-uuid") is None
    key = uuid.uuid4()
    assert services.parse_key(sa.Column("k", sa.Uuid), str(key)) == key
