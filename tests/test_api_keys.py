"""Integration API keys: created with their secret shown once and stored hashed, listed and revoked (CLI, admin),
checked on every request with failures rate limited; the host's own auth through ``ContractRules.api_principal``."""
from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from flask_learning_contracts import errors, services
from flask_learning_contracts.rules import ApiPrincipal

from . import host
from .api_support import Api, make_account, new_key
from .views_support import client_for, csrf_for


def test_a_key_is_stored_as_the_hash_of_its_secret_and_shown_once(api_app):
    created = services.create_api_key("store", ["contracts:read"])
    prefix, secret = created.key.split("_")[1], created.key.split("_", 2)[2]
    row = host.db.session.execute(sa.select(services._m().ApiKey)).scalar_one()
    assert row.prefix == prefix and row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(row.__dict__)
    assert len(secret) >= 43  # 32 random bytes


def test_unknown_and_missing_scopes_are_refused(api_app):
    with pytest.raises(errors.ValidationError):
        services.create_api_key("x", ["contracts:delete"])
    with pytest.raises(errors.ValidationError):
        services.create_api_key("x", [])


def test_bearer_key_authenticates_and_wrong_or_revoked_keys_get_401(api_app):
    key = new_key("contracts:read")
    assert Api(api_app, key).get("/contracts").status_code == 200
    assert services.api_keys()[0].last_used_at is not None
    for wrong in (None, "lc_nope", key[:-1] + ("A" if key[-1] != "A" else "B"), "Basic abc"):
        response = Api(api_app, wrong).get("/contracts")
        assert response.status_code == 401, wrong
        assert response.content_type == "application/problem+json"
        assert response.get_json()["code"] == "not_authenticated"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    services.revoke_api_key(services.find_api_key("store"))
    assert Api(api_app, key).get("/contracts").status_code == 401


def test_failed_key_checks_are_rate_limited_per_address(api_app):
    api_app.config["LEARNING_CONTRACTS_API_AUTH_LIMIT"] = "3 per 10 minutes"
    from flask_learning_contracts.api import register_api  # noqa: F401  (the limiter is built at registration)
    from flask_learning_contracts.views.ratelimit import CodeAttemptLimiter

    api_app.extensions["learning_contracts_api"].limiter = CodeAttemptLimiter("3 per 10 minutes", "memory://")
    good = new_key("contracts:read")
    for _ in range(3):
        assert Api(api_app, good).get("/contracts").status_code == 200  # good keys never count
    statuses = [Api(api_app, "lc_000000000000_wrong").get("/contracts").status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    limited = Api(api_app, "lc_000000000000_wrong").get("/contracts")
    assert limited.status_code == 429 and limited.get_json()["code"] == "api_rate_limited"
    assert limited.headers["Retry-After"]
    # A valid key is never locked out by other callers' wrong keys from the same address (a shared proxy or NAT):
    # the limit slows down guessing, and a 256-bit secret cannot be guessed anyway.
    assert Api(api_app, good).get("/contracts").status_code == 200
    other = api_app.test_client().get("/learning-contracts/api/v1/contracts", headers={
        "Authorization": f"Bearer {good}"}, environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other.status_code == 200  # another address is not blocked


def test_host_auth_through_api_principal(api_app):
    manager_id = make_account(manager=True).id
    rules = api_app.extensions["learning_contracts"].rules
    rules.api_principal = lambda request: (ApiPrincipal("sso:1", frozenset({"contracts:write"}),
                                                        user=host.db.session.get(host.Account, manager_id))
                                           if request.headers.get("X-Host-Token") == "ok" else None)
    api = Api(api_app, None)
    body = {"title": "T", "contract_type": "voucher", "seats": 1, "valid_from": "2026-01-01",
            "valid_until": "2026-12-31"}
    made = api.put("/contracts/by-external/shop/1", body, headers={"X-Host-Token": "ok"})
    assert made.status_code == 201
    assert api.put("/contracts/by-external/shop/1", body).status_code == 401
    # the history names the host user as the actor
    entry = services.history(services.require_contract(made.get_json()["id"]))[-1]
    assert entry.actor_id == str(manager_id)


def test_cli_creates_lists_and_revokes_keys(api_app):
    runner = api_app.test_cli_runner()
    created = runner.invoke(args=["contracts", "api-key", "create", "shop", "--scope", "contracts:read",
                                  "--scope", "contracts:write"])
    assert created.exit_code == 0, created.output
    key = created.output.strip().splitlines()[-1]
    assert key.startswith("lc_")
    assert Api(api_app, key).get("/contracts").status_code == 200
    listed = runner.invoke(args=["contracts", "api-key", "list"])
    assert "shop" in listed.output and key.split("_", 2)[2] not in listed.output and "live" in listed.output
    revoked = runner.invoke(args=["contracts", "api-key", "revoke", "shop"])
    assert revoked.exit_code == 0, revoked.output
    assert Api(api_app, key).get("/contracts").status_code == 401
    bad = runner.invoke(args=["contracts", "api-key", "create", "x", "--scope", "nope"])
    assert bad.exit_code != 0


def test_admin_lists_keys_without_secrets_and_revokes_with_csrf(api_app):
    key = new_key(name="crm")
    prefix = key.split("_")[1]
    client = client_for(api_app, make_account(manager=True))
    page = client.get("/admin/learning-contracts-api-keys/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "crm" in html and prefix in html and key.split("_", 2)[2] not in html
    refused = client.post(f"/admin/learning-contracts-api-keys/{prefix}/revoke")
    assert refused.status_code in (302, 400)
    assert services.find_api_key(prefix).revoked_at is None
    token = csrf_for(api_app, client)
    done = client.post(f"/admin/learning-contracts-api-keys/{prefix}/revoke", data={"csrf_token": token})
    assert done.status_code == 302
    assert services.find_api_key(prefix).revoked_at is not None
    assert Api(api_app, key).get("/contracts").status_code == 401
    learner = client_for(api_app, make_account())
    assert learner.get("/admin/learning-contracts-api-keys/").status_code == 403


def test_long_host_principal_names_keep_their_idempotency_keys(api_app):
    rules = api_app.extensions["learning_contracts"].rules
    rules.api_principal = lambda request: ApiPrincipal("sso:" + "x" * 300, frozenset({"contracts:write"}))
    api = Api(api_app, None)
    body = {"title": "T", "contract_type": "voucher", "seats": 1, "valid_from": "2026-01-01",
            "valid_until": "2026-12-31"}
    first = api.put("/contracts/by-external/shop/1", body, headers={"Idempotency-Key": "k"})
    again = api.put("/contracts/by-external/shop/1", body, headers={"Idempotency-Key": "k"})
    assert first.status_code == again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"


def test_a_host_running_csrfprotect_exempts_the_api_and_its_errors_stay_problems(tmp_path):
    from flask_wtf.csrf import CSRFProtect

    from .conftest import PG_URL, database_url, reset_database

    app = host.create_app(database_url(tmp_path), LEARNING_CONTRACTS_API=True, WTF_CSRF_ENABLED=True)
    csrf = CSRFProtect(app)
    with app.app_context():
        reset_database(host.db)
        try:
            key = new_key()
            refused = Api(app, key).put("/contracts/by-external/shop/1", {"title": "T"})
            assert refused.status_code == 400 and refused.content_type == "application/problem+json"
            assert refused.get_json()["code"] == "csrf_error"
            csrf.exempt(app.blueprints["learning_contracts_api"])
            body = {"title": "T", "contract_type": "voucher", "seats": 1, "valid_from": "2026-01-01",
                    "valid_until": "2026-12-31"}
            assert Api(app, key).put("/contracts/by-external/shop/1", body).status_code == 201
        finally:
            host.db.session.remove()
            if PG_URL:
                host.db.drop_all()
            host.db.engine.dispose()
