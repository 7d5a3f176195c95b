"""The integration API raced by 8 OS processes (each its own app, engine and connections, like gunicorn workers),
on a SQLite file and on PostgreSQL: the upsert makes one contract, and a POST retried with one Idempotency-Key
makes one set of invitations and one answer, whoever wins."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from flask_learning_contracts import services

from . import host, race
from .api_support import API, new_key, purchase

pytestmark = pytest.mark.slow

WORKERS = 8
ROUNDS = 3


def _release(db) -> str:
    url = db.engine.url.render_as_string(hide_password=False)
    db.session.remove()
    db.engine.dispose()
    return url


def _count(model, *where) -> int:
    return host.db.session.execute(sa.select(sa.func.count()).select_from(model).where(*where)).scalar_one()


def _answers(reports, round_index):
    return [r["answers"][round_index] for r in reports]


def test_upserts_and_an_idempotency_key_raced_by_8_processes(api_app, monkeypatch):
    monkeypatch.setenv("LC_RACE_API", "1")
    key = new_key()
    course = host.Course(title="Raced")
    host.db.session.add(course)
    host.db.session.commit()
    course_id = course.id
    emails = [f"learner{i}@race.example.com" for i in range(40)]

    def upserts(worker: int) -> list[dict]:
        calls = []
        for r in range(ROUNDS):
            # a purchase delivered 8 times at once (no Idempotency-Key: the upsert itself is idempotent). Each
            # worker names its own code, so only the unique (source, external id) index can keep one contract.
            calls.append({"method": "PUT", "path": f"{API}/contracts/by-external/shop/order-{r}",
                          "json": purchase(code=f"W{worker}-{r}")})
            # the same upsert with one Idempotency-Key
            calls.append({"method": "PUT", "path": f"{API}/contracts/by-external/shop/keyed-{r}",
                          "json": purchase(), "headers": {"Idempotency-Key": f"upsert-{r}"}})
        return calls

    url = _release(host.db)
    reports = race.run("api_calls", url, WORKERS, lambda i: {"key": key, "calls": upserts(i)})
    assert race.tally(reports) == {"ok": WORKERS * 2 * ROUNDS}
    for r in range(ROUNDS):
        plain, keyed = _answers(reports, 2 * r), _answers(reports, 2 * r + 1)
        assert sorted(a["status"] for a in plain) == [200] * (WORKERS - 1) + [201]
        assert len({a["body"]["id"] for a in plain}) == 1
        assert [a["status"] for a in keyed] == [201] * WORKERS  # every retry got the first answer
        assert sum(not a["replayed"] for a in keyed) == 1
        assert len({repr(a["body"]) for a in keyed}) == 1
    with api_app.app_context():
        m = services._m()
        assert _count(m.Contract) == 2 * ROUNDS
        contract_ids = [a["body"]["id"] for a in _answers(reports, 0)]

    # then: invitations posted 8 times at once with one Idempotency-Key per round
    cid = contract_ids[0]
    with api_app.app_context():
        services.add_activities(services.require_contract(cid), [course_id])
        url = _release(host.db)
    calls = [{"method": "POST", "path": f"{API}/contracts/{cid}/invitations",
              "json": {"emails": emails[10 * r:10 * r + 10]}, "headers": {"Idempotency-Key": f"invite-{r}"}}
             for r in range(ROUNDS)]
    reports = race.run("api_calls", url, WORKERS, lambda i: {"key": key, "calls": calls})
    assert race.tally(reports) == {"ok": WORKERS * ROUNDS}
    for r in range(ROUNDS):
        answers = _answers(reports, r)
        assert [a["status"] for a in answers] == [201] * WORKERS
        assert sum(not a["replayed"] for a in answers) == 1
        assert len({repr(a["body"]) for a in answers}) == 1
        assert answers[0]["body"]["counts"]["not_registered"] == 10
    m = services._m()
    assert _count(m.Invitation, m.Invitation.contract_id == cid) == 10 * ROUNDS
    assert _count(m.HistoryEntry, m.HistoryEntry.contract_id == cid, m.HistoryEntry.action == "invited") == ROUNDS
    assert _count(m.IdempotencyKey) == 2 * ROUNDS  # one per keyed upsert and per invite, whatever the retries


def test_an_upsert_raced_with_a_type_change_and_one_idempotency_key_from_two_api_keys(api_app, monkeypatch):
    """Half the processes buy a voucher, half a subscription for one purchase at once: one contract, of
    the winner's type; the same type answers 200 and the other 409, never a 5xx. Then two API keys race with the
    same Idempotency-Key and different bodies: each key gets its own answer (no replay of the other's)."""
    monkeypatch.setenv("LC_RACE_API", "1")
    keys = [new_key(name="store"), new_key(name="ams")]
    url = _release(host.db)

    def typed(worker: int) -> dict:
        kind = "voucher" if worker % 2 else "subscription"
        return {"key": keys[0], "calls": [{"method": "PUT", "path": f"{API}/contracts/by-external/shop/typed",
                                           "json": purchase(contract_type=kind)}]}

    reports = race.run("api_calls", url, WORKERS, typed)
    assert race.tally(reports) == {"ok": WORKERS}
    answers = _answers(reports, 0)
    [winner] = [a for a in answers if a["status"] == 201]
    won = winner["body"]["contract_type"]
    for a in answers:
        same = a["body"].get("contract_type", None) == won if a["status"] == 200 else None
        assert a["status"] in (200, 201, 409) and (a["status"] != 200 or same), a
    assert sum(a["status"] == 409 for a in answers) == WORKERS // 2
    with api_app.app_context():
        assert _count(services._m().Contract) == 1
        url = _release(host.db)

    def keyed(worker: int) -> dict:
        which = worker % 2
        return {"key": keys[which], "calls": [{"method": "PUT", "path": f"{API}/contracts/by-external/k{which}/one",
                                               "json": purchase(title=f"By key {which}"),
                                               "headers": {"Idempotency-Key": "shared-key"}}]}

    reports = race.run("api_calls", url, WORKERS, keyed)
    assert race.tally(reports) == {"ok": WORKERS}
    by_key: dict[int, set] = {0: set(), 1: set()}
    for worker, a in enumerate(_answers(reports, 0)):
        assert a["status"] == 201, a
        assert a["body"]["source"] == f"k{worker % 2}" and a["body"]["title"] == f"By key {worker % 2}"
        by_key[worker % 2].add(a["body"]["id"])
    assert all(len(ids) == 1 for ids in by_key.values()) and by_key[0] != by_key[1]
