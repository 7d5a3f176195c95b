"""The integration API's endpoints, errors, document and Idempotency-Key (one process; races: test_api_race.py)."""
from __future__ import annotations

import builtins
import datetime as dt
import sys

import pytest
import sqlalchemy as sa

from flask_learning_contracts import errors, services

from . import host
from .api_support import API, Api, make_account, new_key, purchase
from .conftest import count, database_url


@pytest.fixture
def api(api_app):
    return Api(api_app, new_key())


@pytest.fixture
def courses(api_app):
    made = [host.Course(title=f"Course {i}") for i in range(3)]
    host.db.session.add_all(made)
    host.db.session.commit()
    return [c.id for c in made]


def _provision(api, courses, external="order-1", **changes):
    made = api.put(f"/contracts/by-external/shop/{external}", purchase(**changes))
    assert made.status_code == 201, made.get_json()
    cid = made.get_json()["id"]
    assert api.post(f"/contracts/{cid}/activities", {"activities": [str(c) for c in courses]}).status_code == 200
    return cid


# -- switching it on ------------------------------------------------------------------------------------------------
def test_the_api_is_off_unless_configured(app):
    assert app.test_client().get(API + "/contracts").status_code == 404
    assert "learning_contracts_api" not in app.blueprints


def test_switching_it_on_without_pydantic_says_what_to_install(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_pydantic(name, *args, **kwargs):
        if name == "pydantic" or name.startswith("pydantic."):
            raise ImportError("No module named 'pydantic'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pydantic)
    monkeypatch.delitem(sys.modules, "pydantic", raising=False)
    with pytest.raises(RuntimeError, match=r"flask-learning-contracts\[api\]"):
        host.create_app(database_url(tmp_path), LEARNING_CONTRACTS_API=True)


# -- the upsert -----------------------------------------------------------------------------------------------------
def test_upsert_creates_then_updates_one_contract_and_refuses_a_type_change(api, api_app):
    first = api.put("/contracts/by-external/shop/order-1", purchase())
    assert first.status_code == 201
    body = first.get_json()
    assert body["code"] == "shop-order-1" and body["source"] == "shop" and body["external_id"] == "order-1"
    assert body["seat_summary"]["available"] == 5
    assert first.headers["Location"] == f"{API}/contracts/{body['id']}"
    again = api.put("/contracts/by-external/shop/order-1", purchase())
    assert again.status_code == 200 and again.get_json()["id"] == body["id"]
    more = api.put("/contracts/by-external/shop/order-1", {"seats": 9})
    assert more.status_code == 200 and more.get_json()["seats"] == 9
    changed = api.put("/contracts/by-external/shop/order-1", purchase(contract_type="subscription"))
    assert changed.status_code == 409 and changed.content_type == "application/problem+json"
    assert changed.get_json()["code"] == "contract_type_changed"
    assert count(host.db, services._m().Contract) == 1


def test_upsert_validation_errors_point_at_the_fields(api):
    missing = api.put("/contracts/by-external/shop/order-2", {"title": "No type"})
    assert missing.status_code == 422
    assert missing.get_json()["code"] == "validation_error"
    typo = api.put("/contracts/by-external/shop/order-2", purchase(seat=3))
    assert typo.status_code == 422 and typo.get_json()["errors"][0]["pointer"] == "/seat"
    backwards = api.put("/contracts/by-external/shop/order-2", purchase(valid_until="2025-01-01"))
    assert backwards.status_code == 422
    assert backwards.get_json()["errors"][0]["pointer"] == "/valid_until"


def test_the_admin_cannot_give_two_contracts_one_purchase(api, api_app):
    api.put("/contracts/by-external/shop/order-1", purchase())
    other = services.create_contract(code="OTHER", title="Other", contract_type="voucher", seats=1,
                                     valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2026, 12, 31))
    with pytest.raises(errors.ValidationError, match="source and external ID") as refused:
        services.update_contract(other, source="shop", external_id="order-1")
    assert refused.value.field == "external_id"
    services.update_contract(other, source="shop", external_id="order-2")  # another purchase is fine


# -- reading --------------------------------------------------------------------------------------------------------
def test_contract_list_filters_and_pages_with_an_opaque_cursor(api, courses):
    for n in range(5):
        api.put(f"/contracts/by-external/shop/o{n}", purchase())
    api.put("/contracts/by-external/crm/o0", purchase(valid_from="2027-01-01", valid_until="2027-12-31"))
    seen, cursor = [], None
    while True:
        page = api.get("/contracts", query_string={"limit": 2, "source": "shop", **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200
        seen += [c["external_id"] for c in page.get_json()["items"]]
        cursor = page.get_json()["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"o{n}" for n in range(5)]
    future = api.get("/contracts", query_string={"state": "future"}).get_json()["items"]
    assert [c["source"] for c in future] == ["crm"]
    assert [c["source"] for c in api.get("/contracts?external_id=o0").get_json()["items"]] == ["shop", "crm"]
    bad = api.get("/contracts?cursor=not-a-cursor")
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["pointer"] == "/cursor"
    assert api.get("/contracts?state=sideways").status_code == 422


def test_contract_detail_has_its_seat_summary_and_404s(api, courses):
    cid = _provision(api, courses)
    api.post(f"/contracts/{cid}/invitations", {"emails": ["a@example.com"]})
    detail = api.get(f"/contracts/{cid}").get_json()
    assert detail["activities"] == [str(c) for c in courses]
    assert detail["seat_summary"]["invitations"]["not_registered"] == 1
    for missing in ("999999", "abc", "99999999999999999999999"):
        response = api.get(f"/contracts/{missing}")
        assert response.status_code == 404 and response.get_json()["code"] == "contract_not_found"


# -- writing --------------------------------------------------------------------------------------------------------
def test_activities_added_once_and_ineligible_ones_refused(api, courses):
    cid = _provision(api, courses[:1])
    again = api.post(f"/contracts/{cid}/activities", {"activities": [str(courses[0]), str(courses[1])]})
    assert again.get_json() == {"added": [str(courses[1])], "activities": [str(c) for c in courses[:2]]}
    refused = api.post(f"/contracts/{cid}/activities", {"activities": ["424242"]})
    assert refused.status_code == 422 and refused.get_json()["errors"][0]["pointer"] == "/activities"


def test_invite_by_emails_and_user_ids_answers_the_per_row_report(api, api_app, courses):
    learner_id = make_account("known@example.com").id
    cid = _provision(api, courses)
    answer = api.post(f"/contracts/{cid}/invitations", {
        "emails": ["new@example.com", "not an address"], "user_ids": [str(learner_id), "777"],
        "activities": [str(courses[0])]})
    assert answer.status_code == 201
    rows = {(r["input"], r["email"], r["outcome"]) for r in answer.get_json()["rows"]}
    assert rows == {(str(learner_id), "known@example.com", "invited"), ("new@example.com", "new@example.com",
                    "not_registered"), ("not an address", "not an address", "invalid"), ("777", None, "invalid")}
    assert answer.get_json()["counts"] == {"invited": 1, "already_invited": 0, "not_registered": 1, "invalid": 2}
    repeat = api.post(f"/contracts/{cid}/invitations", {"emails": ["new@example.com"]})
    assert repeat.status_code == 200 and repeat.get_json()["rows"][0]["outcome"] == "already_invited"
    outside = api.post(f"/contracts/{cid}/invitations", {"emails": ["x@example.com"], "activities": ["424242"]})
    assert outside.status_code == 422
    nobody = api.post(f"/contracts/{cid}/invitations", {})
    assert nobody.status_code == 422 and nobody.content_type == "application/problem+json"


def test_invitation_list_revoke_and_resend(api, api_app, courses):
    cid = _provision(api, courses)
    user_ids = [make_account().id for _ in range(3)]
    api.post(f"/contracts/{cid}/invitations", {"user_ids": [str(u) for u in user_ids]})
    listed, cursor = [], None
    while True:
        page = api.get(f"/contracts/{cid}/invitations",
                       query_string={"limit": 2, **({"cursor": cursor} if cursor else {})}).get_json()
        listed += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len({i["id"] for i in listed}) == 3
    iid = listed[0]["id"]
    resent = api.post(f"/invitations/{iid}/resend")
    assert resent.status_code == 200 and resent.get_json()["outcome"] in {"sent", "already_resent"}
    revoked = api.post(f"/invitations/{iid}/revoke")
    assert revoked.status_code == 200 and revoked.get_json()["status"] == "revoked"
    twice = api.post(f"/invitations/{iid}/revoke")
    assert twice.status_code == 409 and twice.get_json()["code"] == "revoke_not_allowed"
    only = api.get(f"/contracts/{cid}/invitations?status=revoked").get_json()["items"]
    assert [i["id"] for i in only] == [iid]
    assert api.post("/invitations/999999/revoke").status_code == 404


# -- errors are problems, never HTML ---------------------------------------------------------------------------------
def test_every_error_is_problem_json(api):
    cases = [("GET", "/nowhere", 404), ("DELETE", "/contracts", 405), ("PATCH", "/contracts/1", 405),
             ("GET", "/", 404)]
    for method, path, status in cases:
        response = api.call(method, path)
        assert response.status_code == status, (method, path)
        assert response.content_type == "application/problem+json"
        assert response.get_json()["status"] == status
    assert api.call("DELETE", "/contracts").headers["Allow"] == "GET"
    broken = api.call("PUT", "/contracts/by-external/a/b", data="{nope", content_type="application/json")
    assert broken.status_code == 400 and broken.get_json()["code"] == "malformed_json"


def test_scope_missing_is_403(api_app):
    reader = Api(api_app, new_key("contracts:read"))
    refused = reader.put("/contracts/by-external/shop/1", purchase())
    assert refused.status_code == 403 and refused.get_json()["code"] == "permission_denied"


# -- Idempotency-Key ------------------------------------------------------------------------------------------------
def test_a_retry_with_the_same_key_replays_and_changes_nothing(api, courses):
    cid = _provision(api, courses)
    body = {"emails": ["a@example.com", "b@example.com"]}
    first = api.post(f"/contracts/{cid}/invitations", body, headers={"Idempotency-Key": "order-1-invite"})
    history_rows = count(host.db, services._m().HistoryEntry)
    replay = api.post(f"/contracts/{cid}/invitations", body, headers={"Idempotency-Key": '"order-1-invite"'})
    assert replay.status_code == first.status_code == 201
    assert replay.get_json() == first.get_json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert count(host.db, services._m().Invitation) == 2
    assert count(host.db, services._m().HistoryEntry) == history_rows
    other = api.post(f"/contracts/{cid}/invitations", {"emails": ["c@example.com"]},
                     headers={"Idempotency-Key": "order-1-invite"})
    assert other.status_code == 422 and other.get_json()["code"] == "idempotency_key_reused"
    elsewhere = api.post("/invitations/1/revoke", headers={"Idempotency-Key": "order-1-invite"})
    assert elsewhere.status_code == 422


def test_refusals_are_replayed_too_and_keys_are_per_principal(api, api_app, courses):
    cid = _provision(api, courses)
    iid = api.post(f"/contracts/{cid}/invitations", {"emails": ["a@example.com"]}).get_json()["rows"][0][
        "invitation_id"]
    api.post(f"/invitations/{iid}/revoke")
    refused = api.post(f"/invitations/{iid}/revoke", headers={"Idempotency-Key": "k"})
    again = api.post(f"/invitations/{iid}/revoke", headers={"Idempotency-Key": "k"})
    assert refused.status_code == again.status_code == 409
    assert again.content_type == "application/problem+json" and again.headers["Idempotent-Replayed"] == "true"
    other_key = Api(api_app, new_key(name="other"))
    assert "Idempotent-Replayed" not in other_key.post(f"/invitations/{iid}/revoke",
                                                        headers={"Idempotency-Key": "k"}).headers


def test_keys_expire_after_24_hours(api, api_app, courses):
    import datetime as dt

    cid = _provision(api, courses)
    body = {"emails": ["a@example.com"]}
    api.post(f"/contracts/{cid}/invitations", body, headers={"Idempotency-Key": "k"})
    rules = api_app.extensions["learning_contracts"].rules
    rules.clock += dt.timedelta(hours=24, minutes=1)
    later = api.post(f"/contracts/{cid}/invitations", body, headers={"Idempotency-Key": "k"})
    assert "Idempotent-Replayed" not in later.headers
    assert later.get_json()["rows"][0]["outcome"] == "already_invited"
    m = services._m()
    assert host.db.session.execute(sa.select(sa.func.count()).select_from(m.IdempotencyKey)).scalar_one() == 1


def test_a_bad_idempotency_key_is_refused(api):
    response = api.put("/contracts/by-external/a/b", purchase(), headers={"Idempotency-Key": "x" * 256})
    assert response.status_code == 422


def test_a_failed_request_gives_its_key_back(api, api_app, courses, monkeypatch):
    cid = _provision(api, courses)
    real = services.invite_by_ids

    def boom(*args, **kwargs):
        raise RuntimeError("host hook failed")

    monkeypatch.setattr(services, "invite_by_ids", boom)
    failed = api.post(f"/contracts/{cid}/invitations", {"emails": ["a@example.com"]}, headers={"Idempotency-Key": "k"})
    assert failed.status_code == 500 and failed.content_type == "application/problem+json"
    monkeypatch.setattr(services, "invite_by_ids", real)
    retried = api.post(f"/contracts/{cid}/invitations", {"emails": ["a@example.com"]},
                       headers={"Idempotency-Key": "k"})
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers


# -- the document ---------------------------------------------------------------------------------------------------
def test_openapi_document_and_offline_docs(api_app):
    client = api_app.test_client()
    doc = client.get(API + "/openapi.json").get_json()
    assert doc["openapi"] == "3.1.0" and doc["servers"] == [{"url": API}]
    put = doc["paths"]["/contracts/by-external/{source}/{external_id}"]["put"]
    assert put["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ContractUpsert")
    assert "contract_type" in doc["components"]["schemas"]["ContractUpsert"]["properties"]
    assert {"200", "201", "409", "422"} <= set(put["responses"])
    docs = client.get(API + "/docs")
    html = docs.get_data(as_text=True)
    assert docs.status_code == 200 and "upsertContractByExternal" in html and "ContractUpsert" in html
    assert "http://" not in html and "https://" not in html  # nothing fetched from elsewhere


def test_a_retry_while_the_first_request_runs_waits_then_answers_409(api, api_app, courses):
    cid = _provision(api, courses)
    api_app.config["LEARNING_CONTRACTS_API_IDEMPOTENCY_WAIT"] = 0.2
    body = {"emails": ["a@example.com"]}
    first = api.post(f"/contracts/{cid}/invitations", body, headers={"Idempotency-Key": "slow"})
    m = services._m()
    table = m.IdempotencyKey.__table__
    # the state of the key while its first request still runs: claimed, no answer yet
    host.db.session.execute(table.update().values(status=None, response=None))
    host.db.session.commit()
    waiting = api.post(f"/contracts/{cid}/invitations", body, headers={"Idempotency-Key": "slow"})
    assert waiting.status_code == 409 and waiting.get_json()["code"] == "idempotency_key_in_progress"
    services.store_idempotent_answer(host.db.session.execute(sa.select(table.c.principal)).scalar_one(), "slow",
                                     first.status_code, first.get_json())
    replay = api.post(f"/contracts/{cid}/invitations", body, headers={"Idempotency-Key": "slow"})
    assert replay.status_code == 201 and replay.get_json() == first.get_json()
    assert count(host.db, m.Invitation) == 1
