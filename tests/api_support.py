"""Shared pieces of the integration API tests (the ``api_app`` fixture is in conftest): keys, a client that sends
them, purchases and host users."""
from __future__ import annotations

import itertools

from flask_learning_contracts import services

from . import host

API = "/learning-contracts/api/v1"
ALL_SCOPES = ("contracts:read", "contracts:write", "invitations:write")


def new_key(*scopes: str, name: str = "store") -> str:
    return services.create_api_key(name, list(scopes or ALL_SCOPES)).key


class Api:
    """A test client that sends one key (``None``: none) and JSON."""

    def __init__(self, app, key: str | None) -> None:
        self.client = app.test_client()
        self.key = key

    def call(self, method: str, path: str, json=None, *, headers=None, **kwargs):
        sent = dict(headers or {})
        if self.key is not None:
            sent.setdefault("Authorization", f"Bearer {self.key}")
        response = self.client.open(API + path, method=method, json=json, headers=sent, **kwargs)
        host.db.session.remove()  # each request is its own; nothing cached between them
        return response

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, json=None, **kw):
        return self.call("POST", path, json, **kw)

    def put(self, path, json=None, **kw):
        return self.call("PUT", path, json, **kw)


PURCHASE = {"title": "Acme annual", "contract_type": "voucher", "seats": 5, "valid_from": "2026-01-01",
            "valid_until": "2026-12-31", "require_invitation_code": False}


def purchase(**changes) -> dict:
    return {**PURCHASE, **changes}


_accounts = itertools.count(1)


def make_account(email: str | None = None, *, manager: bool = False):
    """A host user in the API app's database (the ``make_user`` fixture would build a second app)."""
    user = host.Account(email_address=email or f"api-user{next(_accounts)}@example.com", is_manager=manager, name="")
    host.db.session.add(user)
    host.db.session.commit()
    return user
