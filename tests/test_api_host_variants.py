"""The integration API on hosts whose users and activities have string (ULID) and UUID keys: ids travel as text
in JSON and come back as the same text."""
from __future__ import annotations

import pytest
from flask import Flask

from flask_learning_contracts import LearningContracts

from . import host_ulid, test_host_uuid_keys as uuid_host
from .api_support import ALL_SCOPES, API, purchase
from .conftest import database_url


def _key() -> str:
    from flask_learning_contracts import services

    return services.create_api_key("shop", list(ALL_SCOPES)).key


def _journey(app, db, user_id: str, activity_ids: list[str]) -> None:
    """Provision, add activities, invite by user id and e-mail, read usage: ids are the host's, as text."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {_key()}"}
    made = client.put(API + "/contracts/by-external/store/42", json=purchase(), headers=headers)
    assert made.status_code == 201, made.get_json()
    cid = made.get_json()["id"]
    added = client.post(f"{API}/contracts/{cid}/activities", json={"activities": activity_ids}, headers=headers)
    assert added.status_code == 200, added.get_json()
    assert sorted(added.get_json()["activities"]) == sorted(activity_ids)
    invited = client.post(f"{API}/contracts/{cid}/invitations", headers=headers, json={
        "user_ids": [user_id, "not-a-key-of-this-host"], "emails": ["new@example.com"],
        "activities": activity_ids[:1]})
    assert invited.status_code == 201, invited.get_json()
    outcomes = sorted(r["outcome"] for r in invited.get_json()["rows"])
    assert outcomes == ["invalid", "invited", "not_registered"]
    listed = client.get(f"{API}/contracts/{cid}/invitations?status=outstanding", headers=headers).get_json()
    assert [i["user_id"] for i in listed["items"]] == [user_id]
    detail = client.get(f"{API}/contracts/{cid}", headers=headers).get_json()
    assert detail["seat_summary"]["invitations"]["outstanding"] == 1
    _rest_of_the_operations(client, headers, cid, listed["items"][0]["id"], activity_ids)
    db.session.remove()


def _rest_of_the_operations(client, headers, cid, invitation_id, activity_ids) -> None:
    """Every other operation on the same host: pages, resend, revoke, a replayed Idempotency-Key, and ids the
    host cannot have (never a 5xx)."""
    second = client.put(API + "/contracts/by-external/store/43", json=purchase(), headers=headers)
    assert second.status_code == 201
    page = client.get(API + "/contracts?limit=1&source=store", headers=headers).get_json()
    rest = client.get(API + f"/contracts?limit=1&source=store&cursor={page['next_cursor']}", headers=headers)
    assert rest.status_code == 200 and len({page["items"][0]["id"], rest.get_json()["items"][0]["id"]}) == 2
    resent = client.post(f"{API}/invitations/{invitation_id}/resend", headers=headers)
    # the UUID host sets up no mail: the resend is refused with the reason, as a problem
    assert resent.status_code == 200 or "Nowhere to send it" in resent.get_json()["detail"], resent.get_json()
    keyed = {**headers, "Idempotency-Key": "revoke-1"}
    revoked = client.post(f"{API}/invitations/{invitation_id}/revoke", headers=keyed)
    again = client.post(f"{API}/invitations/{invitation_id}/revoke", headers=keyed)
    assert revoked.status_code == again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert revoked.get_json() == again.get_json() and revoked.get_json()["status"] == "revoked"
    for bad in ["01ARZ3NDEKTSV4RRFFQ69G5FAV", "9223372036854775808", "x" * 64, "00000000-0000-0000-0000-000000000000"]:
        for answer in [client.post(f"{API}/contracts/{cid}/activities", json={"activities": [bad]}, headers=headers),
                       client.post(f"{API}/contracts/{cid}/invitations", json={"user_ids": [bad]}, headers=headers),
                       client.post(f"{API}/invitations/{bad}/revoke", headers=headers),
                       client.get(f"{API}/contracts/{bad}", headers=headers)]:
            assert answer.status_code < 500 and answer.mimetype in ("application/json", "application/problem+json")
    assert sorted(client.get(f"{API}/contracts/{cid}", headers=headers).get_json()["activities"]) == \
        sorted(activity_ids)


def test_ulid_host(tmp_path):
    app = host_ulid.create_app(database_url(tmp_path), LEARNING_CONTRACTS_API=True)
    db = host_ulid.db
    with app.app_context():
        db.drop_all()
        db.create_all()
        try:
            member = host_ulid.Member(primary_email="ada@example.com")
            trainings = [host_ulid.Training(name=f"T{i}") for i in range(2)]
            db.session.add_all([member, *trainings])
            db.session.commit()
            _journey(app, db, member.id, [t.id for t in trainings])
        finally:
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


@pytest.fixture
def uuid_api_app(tmp_path):
    app = Flask(__name__)
    app.config.update(SECRET_KEY="uuid", SQLALCHEMY_DATABASE_URI=database_url(tmp_path), TESTING=True,
                      LEARNING_CONTRACTS_API=True)
    uuid_host.db.init_app(app)
    LearningContracts(app, db=uuid_host.db, user_model=uuid_host.Learner, activity_model=uuid_host.Module,
                      rules=uuid_host.UuidRules)
    with app.app_context():
        uuid_host.db.drop_all()
        uuid_host.db.create_all()
        yield app
        uuid_host.db.session.remove()
        uuid_host.db.drop_all()
        uuid_host.db.engine.dispose()


def test_uuid_host(uuid_api_app):
    db = uuid_host.db
    learner = uuid_host.Learner(email="ada@example.com")
    modules = [uuid_host.Module(title=f"M{i}") for i in range(2)]
    db.session.add_all([learner, *modules])
    db.session.commit()
    _journey(uuid_api_app, db, str(learner.id), [str(m.id) for m in modules])
