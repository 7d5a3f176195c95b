"""Authorization matrix of the integration API: keys × scopes × every operation, with the exact status.

Keys: none, malformed, unknown, revoked, and one key per scope combination (each single scope, every pair, all
three). An operation answers its success status to a key holding its scope, 403 (problem+json) to a live key
without it, and 401 to everyone else; a refused request changes nothing (contracts, activities, invitations,
history, stored Idempotency-Keys).
"""
from __future__ import annotations

import itertools

import pytest
import sqlalchemy as sa

from flask_learning_contracts import services
from flask_learning_contracts.views.ratelimit import CodeAttemptLimiter

from . import host
from .api_support import Api, make_account, new_key, purchase

SCOPES = ("contracts:read", "contracts:write", "invitations:write")
SCOPE_SETS = [frozenset(c) for n in (1, 2, 3) for c in itertools.combinations(SCOPES, n)]


def _operations(ids):
    """(method, path, body, scope, success status) for every operation; ``ids`` of a fresh contract set."""
    cid, iid, course = ids["contract"], ids["invitation"], ids["course"]
    return [
        ("PUT", "/contracts/by-external/shop/new-order", purchase(), "contracts:write", 201),
        ("GET", "/contracts", None, "contracts:read", 200),
        ("GET", f"/contracts/{cid}", None, "contracts:read", 200),
        ("POST", f"/contracts/{cid}/activities", {"activities": [str(course)]}, "contracts:write", 200),
        ("POST", f"/contracts/{cid}/invitations", {"emails": ["fresh@example.com"]}, "invitations:write", 201),
        ("GET", f"/contracts/{cid}/invitations", None, "contracts:read", 200),
        ("POST", f"/invitations/{iid}/resend", None, "invitations:write", 200),
        ("POST", f"/invitations/{iid}/revoke", None, "invitations:write", 200),
    ]


def _setup(api):
    first, second = host.Course(title="One"), host.Course(title="Two")
    host.db.session.add_all([first, second])
    host.db.session.commit()
    course_ids = first.id, second.id
    learner_id = make_account().id
    cid = api.put("/contracts/by-external/shop/order", purchase()).get_json()["id"]
    api.post(f"/contracts/{cid}/activities", {"activities": [str(course_ids[0])]})
    report = api.post(f"/contracts/{cid}/invitations", {"user_ids": [str(learner_id)]}).get_json()
    return {"contract": cid, "invitation": report["rows"][0]["invitation_id"], "course": course_ids[1]}


def _snapshot():
    m = services._m()
    tables = (m.Contract, m.ContractActivity, m.Invitation, m.HistoryEntry, m.IdempotencyKey, m.Notification)
    return tuple(host.db.session.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() for t in tables)


def test_every_key_and_scope_against_every_operation(api_app):
    # more wrong keys than the default limit allows from one address: the limit has its own test
    api_app.extensions["learning_contracts_api"].limiter = CodeAttemptLimiter("1000 per minute", "memory://")
    admin = Api(api_app, new_key(*SCOPES, name="setup"))
    ids = _setup(admin)
    revoked = new_key(*SCOPES, name="revoked")
    services.revoke_api_key(services.find_api_key("revoked"))
    refused_keys = {"none": None, "malformed": "Bearer", "unknown": "lc_0123456789ab_" + "x" * 43,
                    "revoked": revoked}
    keys = {", ".join(sorted(s)): (s, new_key(*s, name="k-" + "-".join(sorted(s)))) for s in SCOPE_SETS}
    checked = 0
    for method, path, body, scope, success in _operations(ids):
        for label, key in refused_keys.items():
            before = _snapshot()
            response = Api(api_app, key).call(method, path, body, headers={"Idempotency-Key": f"r-{label}"}
                                              if method != "GET" else None)
            assert response.status_code == 401, (label, method, path)
            assert response.content_type == "application/problem+json"
            assert _snapshot() == before, (label, method, path)
            checked += 1
        allowed_label = None
        for label, (scopes, key) in keys.items():
            if scope in scopes:
                allowed_label = label
                continue
            before = _snapshot()
            response = Api(api_app, key).call(method, path, body)
            assert response.status_code == 403, (label, method, path)
            assert response.get_json()["code"] == "permission_denied"
            assert _snapshot() == before, (label, method, path)
            checked += 1
        assert allowed_label is not None
        response = Api(api_app, keys[allowed_label][1]).call(method, path, body)
        assert response.status_code == success, (allowed_label, method, path, response.get_json())
        checked += 1
    assert checked == 8 * (4 + 3 + 1)  # per operation: 4 refused keys, the 3 scope sets without its scope, 1 allowed


@pytest.mark.parametrize("key_id", ["2147483648", "9223372036854775808", "-1", "abc", "1e3"])
def test_ids_no_row_can_have_are_404_never_500(api_app, key_id):
    api = Api(api_app, new_key())
    for method, path in (("GET", f"/contracts/{key_id}"), ("GET", f"/contracts/{key_id}/invitations"),
                         ("POST", f"/contracts/{key_id}/activities"), ("POST", f"/invitations/{key_id}/revoke"),
                         ("POST", f"/invitations/{key_id}/resend")):
        body = {"activities": ["1"]} if path.endswith("activities") else None
        response = api.call(method, path, body)
        assert response.status_code == 404, (method, path, response.get_json())
