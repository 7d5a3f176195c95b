"""Hostile input against the integration API (atk18): every answer is a problem or a success, never a 5xx."""
from __future__ import annotations

import base64
import json

import pytest

from flask_learning_contracts import services

from . import host
from .api_support import API, Api, new_key, purchase


@pytest.fixture
def api(api_app):
    return Api(api_app, new_key())


def _ok_or_problem(response):
    assert response.status_code < 500, (response.status_code, response.get_data()[:500])
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json", response.get_data()[:300]


@pytest.mark.parametrize("raw", [
    b'{"title": "x\\u0000y", "contract_type": "voucher", "seats": 1, "valid_from": "2026-01-01", "valid_until": "2026-12-31"}',
    b'{"seats": 1e400}', b'{"seats": 99999999999999999999999999999999999}', b'{"seats": -1}', b'{"seats": "5"}',
    b'{"seats": true}', b'[1,2,3]', b'"str"', b'null', b'1', b'\xff\xfe{', b'{"seats": 1, "seats": 2}',
    b'[' * 5000 + b']' * 5000, b'{"title": "\xed\xa0\x80"}', b'{"valid_from": "9999-99-99"}',
    b'{"valid_from": "0001-01-01", "valid_until": "9999-12-31", "title": "t", "contract_type": "voucher", "seats": 1}',
    b'{"title": "\\ud800", "contract_type": "voucher", "seats": 1, "valid_from": "2026-01-01", "valid_until": "2026-12-31"}',
    b'{"code": "a\\u0000b", "title": "t", "contract_type": "voucher", "seats": 1, "valid_from": "2026-01-01", "valid_until": "2026-12-31"}',
])
def test_hostile_upsert_bodies(api, raw):
    for ctype in ("application/json", "text/plain", None):
        headers = {"Content-Type": ctype} if ctype else {}
        r = api.client.put(API + "/contracts/by-external/shop/o1", data=raw,
                           headers={"Authorization": f"Bearer {api.key}", **headers})
        host.db.session.remove()
        _ok_or_problem(r)


def test_a_ten_megabyte_body_is_refused_unread_with_413(api):
    """No request of this API needs more than a few hundred kB (1,000 addresses of 320 characters): a bigger
    body is refused before it is parsed, even when the host sets no MAX_CONTENT_LENGTH."""
    raw = b'{"emails": ["' + b"a" * (10 * 1024 * 1024) + b'"]}'
    r = api.client.post(API + "/contracts/1/invitations", data=raw,
                        headers={"Authorization": f"Bearer {api.key}", "Content-Type": "application/json"})
    assert r.status_code == 413 and r.mimetype == "application/problem+json", r.status_code
    most = {"emails": [f"{'a' * 300}{i}@example.com" for i in range(1000)]}  # the largest body that makes sense
    assert api.post("/contracts/1/invitations", most).status_code == 404


@pytest.mark.parametrize("path", [
    "/contracts/by-external/sh%2Fop/o1", "/contracts/by-external/shop/o%2F1", "/contracts/by-external/shop/%00",
    "/contracts/by-external/shop/" + "x" * 300, "/contracts/by-external/" + "s" * 300 + "/x",
    "/contracts/by-external/sh%C3%B6p/%E2%9C%93", "/contracts/by-external/shop/%ff", "/contracts/by-external/%20/%20",
    "/contracts/by-external/shop/a%00b",
])
def test_path_injection_in_upsert(api, path):
    r = api.put(path, purchase())
    _ok_or_problem(r)
    if r.status_code in (200, 201):
        got = api.get(f"/contracts/{r.get_json()['id']}")
        assert got.status_code == 200


@pytest.mark.parametrize("cid", ["9223372036854775808", "99999999999999999999999", "-1", "0", "1.5", "%00",
                                 "abc", "1e3", "18446744073709551616", " 1", "１"])
def test_ids_past_int64(api, cid):
    for m, p in [("GET", f"/contracts/{cid}"), ("POST", f"/contracts/{cid}/activities"),
                 ("GET", f"/contracts/{cid}/invitations"), ("POST", f"/invitations/{cid}/revoke"),
                 ("POST", f"/invitations/{cid}/resend"), ("POST", f"/contracts/{cid}/invitations")]:
        body = {"activities": ["1"]} if p.endswith("activities") else ({"emails": ["a@example.com"]} if p.endswith("invitations") and m == "POST" else None)
        r = api.call(m, p, body)
        _ok_or_problem(r)


@pytest.mark.parametrize("query", ["limit=-1", "limit=0", "limit=99999999999999999999", "limit=abc", "limit=1e3",
                                   "cursor=%00", "cursor=abc", "cursor=" + "A" * 199, "state=bogus",
                                   "limit=1&limit=2", "external_id=%00", "source=" + "x" * 500, "bogus=1"])
def test_hostile_list_queries(api, query):
    _ok_or_problem(api.get("/contracts?" + query))


def test_forged_cursors(api, api_app):
    for i in range(3):
        assert api.put(f"/contracts/by-external/shop/o{i}", purchase()).status_code == 201
    page = api.get("/contracts?limit=1").get_json()
    cursor = page["next_cursor"]
    assert cursor
    forged = [cursor[:-2], cursor + "x", base64.urlsafe_b64encode(b'{"id": 9223372036854775808}').decode(),
              base64.urlsafe_b64encode(b'[1, 2]').decode(), base64.urlsafe_b64encode(b'\x00\xff').decode(),
              base64.urlsafe_b64encode(json.dumps({"after": 10**30}).encode()).decode()]
    for c in forged:
        _ok_or_problem(api.get(f"/contracts?cursor={c}"))
        _ok_or_problem(api.get(f"/contracts?cursor={c}&source=shop"))
    # a cursor from another filter
    _ok_or_problem(api.get(f"/contracts?cursor={cursor}&state=draft"))
    cid = api.get("/contracts").get_json()["items"][0]["id"]
    _ok_or_problem(api.get(f"/contracts/{cid}/invitations?cursor={cursor}"))


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "bearer {k}", "BEARER {k}", "Bearer  {k}", "Basic {k}",
                                    "Bearer {k} extra", "{k}", "Bearer lc_", "Bearer lc_zzzzzzzzzzzz_x",
                                    "Bearer lc_" + "a" * 12 + "_" + "b" * 10000, "Bearer \u00e9"])
def test_authorization_variants(api_app, header):
    key = new_key()
    client = api_app.test_client()
    r = client.get(API + "/contracts", headers={"Authorization": header.replace("{k}", key)})
    _ok_or_problem(r)
    if header in ("bearer {k}", "BEARER {k}"):
        assert r.status_code == 200


def test_huge_idempotency_key_and_body_values(api):
    for key in ["x" * 256, "é", "\t", "a b", '"', '""', "x" * 255]:
        try:
            r = api.post("/contracts/1/activities", {"activities": ["1"]}, headers={"Idempotency-Key": key})
        except (UnicodeEncodeError, ValueError):
            continue
        _ok_or_problem(r)


def test_invite_hostile_emails(api, api_app):
    made = api.put("/contracts/by-external/shop/o1", purchase())
    assert made.status_code == 201, made.get_json()
    cid = made.get_json()["id"]
    for emails in [["a\x00b@example.com"], ["x" * 320], ["@"], ["a@" + "b" * 300 + ".com"], ["\ud800@x.com"],
                   ["A@EXAMPLE.COM", "a@example.com"], [""]]:
        try:
            r = api.post(f"/contracts/{cid}/invitations", {"emails": emails})
        except UnicodeEncodeError:
            continue
        _ok_or_problem(r)
    for uids in [["9223372036854775808"], ["-1"], ["abc"], ["\x00"], ["1" * 64]]:
        _ok_or_problem(api.post(f"/contracts/{cid}/invitations", {"user_ids": uids}))
    for acts in [["9223372036854775808"], ["abc"], ["\x00"]]:
        _ok_or_problem(api.post(f"/contracts/{cid}/activities", {"activities": acts}))
        _ok_or_problem(api.post(f"/contracts/{cid}/invitations", {"emails": ["z@example.com"], "activities": acts}))


def test_manager_cookie_does_not_authenticate(api_app):
    from .api_support import make_account
    manager = make_account(manager=True)
    client = api_app.test_client()
    with client.session_transaction() as s:
        s["_user_id"] = str(manager.id)
        s["_fresh"] = True
    r = client.get(API + "/contracts")
    assert r.status_code == 401


def test_revoked_key_refused(api_app):
    made = services.create_api_key("x", ["contracts:read"])
    client = Api(api_app, made.key)
    assert client.get("/contracts").status_code == 200
    prefix = made.key.split("_")[1]
    host.db.session.remove()
    services.revoke_api_key(services.find_api_key(prefix))
    host.db.session.remove()
    assert client.get("/contracts").status_code == 401


def test_nul_characters_are_refused_as_invalid_input_on_every_database(api):
    """PostgreSQL cannot store U+0000 in text: a NUL in a path, query or body is a 422, never a 500."""
    nul_body = api.put("/contracts/by-external/shop/o1", purchase(title="x\u0000y"))
    assert nul_body.status_code == 422 and nul_body.mimetype == "application/problem+json"
    nul_path = api.put("/contracts/by-external/shop/a%00b", purchase())
    assert nul_path.status_code == 422 and nul_path.get_json()["errors"][0]["pointer"] == "/external_id"
    assert api.get("/contracts?external_id=%00").status_code == 422
    assert api.get("/contracts?source=shop%00").status_code == 422
    assert api.get("/contracts").get_json()["items"] == []


def test_a_key_with_another_keys_secret_is_refused(api_app):
    first, second = new_key(name="a"), new_key(name="b")
    forged = "_".join(first.split("_")[:2]) + "_" + second.split("_", 2)[2]
    assert Api(api_app, forged).get("/contracts").status_code == 401


def test_a_full_page_of_contracts_costs_a_fixed_number_of_statements(api, api_app):
    from .views_support import count_queries

    def statements(n):
        for i in range(n):
            made = api.put(f"/contracts/by-external/q{n}/o{i}", purchase(contract_type="subscription"))
            assert made.status_code == 201
            course = host.Course(title=f"C{n}-{i}")
            host.db.session.add(course)
            host.db.session.commit()
            api.post(f"/contracts/{made.get_json()['id']}/activities", {"activities": [str(course.id)]})
        with count_queries(host.db) as sent:
            page = api.get(f"/contracts?source=q{n}&limit=200")
        assert len(page.get_json()["items"]) == n
        return len(sent)

    few, many = statements(2), statements(20)
    assert many == few, (few, many)


def test_cli_key_names_and_webhook_urls_with_control_characters_are_refused(api_app):
    runner = api_app.test_cli_runner()
    for name in ["sh\x00op", "x" * 101, "   "]:
        made = runner.invoke(args=["contracts", "api-key", "create", name, "--scope", "contracts:read"])
        assert made.exit_code != 0 and made.exception is None or isinstance(made.exception, SystemExit), made.output
    assert services.api_keys() == []
    revoked = runner.invoke(args=["contracts", "api-key", "revoke", "no\x00such"])
    assert revoked.exit_code != 0 and (revoked.exception is None or isinstance(revoked.exception, SystemExit))


def test_a_token_whose_prefix_is_not_hex_is_refused_without_a_look_up(api_app):
    for token in ["lc_\x00aaaaaaaaaaa_secret", "lc_ééééééééééé_secret", "lc_AAAAAAAAAAAA_secret"]:
        assert services.authenticate_api_key(token) is None
