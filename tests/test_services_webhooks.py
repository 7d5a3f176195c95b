"""Webhooks: every event type reaches a loopback receiver that verifies its Standard Webhooks signature;
events are written with their change (one statement, nothing when nobody subscribes); retries, backoff,
crash recovery and disabling run on the notification outbox; hostile URLs and receivers are refused or
survived."""
from __future__ import annotations

import datetime as dt
import sys
import time

import pytest
import sqlalchemy as sa

from flask_learning_contracts import ContractType, WebhookEvent, errors, services
from flask_learning_contracts.enums import DeliveryStatus, NotificationKind
from flask_learning_contracts.services import webhooks

from .views_support import count_queries
from .webhook_support import Receiver

ALL = [e.value for e in WebhookEvent]


@pytest.fixture
def courses(make_course):
    return [make_course() for _ in range(2)]


@pytest.fixture
def receiver(app):
    app.config["LEARNING_CONTRACTS_WEBHOOK_ALLOW_PRIVATE"] = True  # the receiver listens on 127.0.0.1
    with Receiver() as r:
        yield r


def subscribe(receiver: Receiver, events=ALL) -> services.NewEndpoint:
    endpoint = services.create_webhook_endpoint(receiver.url, events)
    receiver.secret = endpoint.secret
    return endpoint


def deliveries(db, m):
    n = m.Notification
    return db.session.execute(sa.select(n).where(n.kind == NotificationKind.WEBHOOK).order_by(n.id)).scalars().all()


def move(rules, **delta):
    rules.clock += dt.timedelta(**delta)


def endpoint_row(db, m, endpoint_id):
    db.session.expire_all()
    return db.session.get(m.WebhookEndpoint, endpoint_id)


def test_every_event_type_is_delivered_signed_with_the_values_just_written(app, db, m, rules, receiver, make_contract,
                                                                           make_user, courses):
    endpoint = subscribe(receiver)
    assert endpoint.secret.startswith("whsec_") and endpoint.events == tuple(ALL)
    contract = make_contract(ContractType.VOUCHER, seats=1, activities=courses, external_id="order-17",
                             source="shop", require_invitation_code=True)
    services.update_contract(services.get_contract(contract.id), title="Renamed")
    ana, ben = make_user("ana@example.com"), make_user("ben@example.com")
    services.invite(services.get_contract(contract.id), users=[ana, ben])
    ben_invitation = services.invitations_for(ben)[0]
    services.revoke(ben_invitation)
    contract = services.get_contract(contract.id)
    services.redeem_code(ana, contract.invitation_code)
    services.enroll(ana, services.get_contract(contract.id), courses[0])  # 1 of 1 seat: the 75 and 100 % alert

    assert receiver.rejected == []
    assert receiver.types() == ["contract.created", "contract.updated", "invitation.created", "invitation.created",
                                "invitation.revoked", "code.redeemed", "enrollment.created", "seats.threshold"]
    by_type = {}
    for event in receiver.events:
        by_type.setdefault(event["type"], []).append(event)
        assert event["timestamp"] == "2026-06-15T12:00:00Z"
        assert event["data"]["contract"]["external_id"] == "order-17" and event["data"]["contract"]["source"] == "shop"
    assert by_type["contract.created"][0]["data"]["contract"]["seats"] == 1
    assert by_type["contract.updated"][0]["data"]["changes"] == {"title": {"from": "Contract", "to": "Renamed"}}
    invited = {e["data"]["invitation"]["email"]: e["data"]["invitation"] for e in by_type["invitation.created"]}
    assert invited["ana@example.com"]["user_id"] == ana.id
    assert invited["ana@example.com"]["activity_ids"] == [c.id for c in courses]
    assert invited["ana@example.com"]["status"] == "outstanding"
    assert by_type["invitation.revoked"][0]["data"]["invitation"]["id"] == ben_invitation.id
    assert by_type["code.redeemed"][0]["data"]["invitation"]["user_id"] == ana.id
    enrolled = by_type["enrollment.created"][0]["data"]
    assert enrolled["learner"] == {"id": ana.id, "email": "ana@example.com"}
    assert enrolled["enrollment"]["activity_id"] == courses[0].id and enrolled["enrollment"]["seat_used"] is True
    assert by_type["seats.threshold"][0]["data"]["threshold"] == 100
    assert {h["webhook-id"] for h in receiver.headers} == {f"msg_{row.id}" for row in deliveries(db, m)}
    assert [row.status for row in deliveries(db, m)] == [DeliveryStatus.SENT] * 8


def test_an_endpoint_receives_only_the_events_it_chose(app, db, m, receiver, make_contract, make_user, courses):
    subscribe(receiver, ["invitation.revoked"])
    contract = make_contract(ContractType.VOUCHER, activities=courses)
    services.invite(contract, users=[make_user("ana@example.com")])
    assert receiver.events == [] and deliveries(db, m) == []


def test_nobody_subscribed_costs_one_statement_and_writes_nothing(app, db, m, receiver, make_contract, make_user,
                                                                  courses):
    subscribe(receiver, ["contract.created"])  # an endpoint exists, but not for these events
    contract = make_contract(ContractType.SUBSCRIPTION, seats=5, activities=courses, require_invitation_code=False)
    learner = make_user("ana@example.com")
    services.invite(contract, users=[learner])
    db.session.expire_all()
    contract = services.get_contract(contract.id)
    with count_queries(db) as statements:
        services.enroll(learner, contract, courses[0])
    hooks = [s for s in statements if "lc_webhook_endpoint" in s]
    assert len(hooks) == 1 and hooks[0].lstrip().upper().startswith("INSERT INTO LC_NOTIFICATION")
    with count_queries(db) as invite_statements:
        report = services.invite(services.get_contract(contract.id),
                                 emails=[f"guest{i}@example.com" for i in range(1200)])
    assert report.created == 1200
    assert len([s for s in invite_statements if "lc_webhook_endpoint" in s]) == 1  # one for all 1,200 invitations
    assert len(deliveries(db, m)) == 1  # the contract.created event only


def test_a_bulk_invite_writes_every_event_with_one_statement(app, db, m, receiver, make_contract, courses):
    app.config["LEARNING_CONTRACTS_DELIVERY"] = "queued"
    subscribe(receiver, ["invitation.created"])
    contract = make_contract(ContractType.VOUCHER, activities=courses)
    with count_queries(db) as statements:
        services.invite(contract, emails=[f"guest{i}@example.com" for i in range(1200)])
    assert len([s for s in statements if "lc_webhook_endpoint" in s]) == 1
    rows = deliveries(db, m)
    assert len(rows) == 1200 and {row.status for row in rows} == {DeliveryStatus.PENDING}
    assert {row.payload["data"]["invitation"]["email"] for row in rows} == {f"guest{i}@example.com"
                                                                            for i in range(1200)}
    assert services.deliver_notifications().sent == 2400  # the 1,200 e-mails and the 1,200 webhook deliveries
    assert receiver.rejected == [] and len(receiver.events) == 1200


def test_failures_back_off_on_the_fake_clock_then_succeed_and_reset_the_endpoint(app, db, m, rules, receiver,
                                                                                 make_contract):
    app.config.update(LEARNING_CONTRACTS_DELIVERY_BACKOFF=60)
    endpoint = subscribe(receiver, ["contract.created"])
    receiver.status = 500
    make_contract()
    [row] = deliveries(db, m)
    assert (row.status, row.attempts, row.last_error) == (DeliveryStatus.PENDING, 1, "HTTP 500")
    wait = (row.next_attempt_at - rules.now().replace(tzinfo=None)).total_seconds()
    assert 48 <= wait <= 72
    assert services.deliver_notifications().failed == 0 and receiver.requests == 1  # not due yet
    move(rules, minutes=2)
    assert services.deliver_notifications().failed == 1
    [row] = deliveries(db, m)
    assert row.attempts == 2 and 96 <= (row.next_attempt_at - rules.now().replace(tzinfo=None)).total_seconds() <= 144
    assert endpoint_row(db, m, endpoint.id).consecutive_failures == 2
    receiver.status = 200
    move(rules, minutes=3)
    assert services.deliver_notifications().sent == 1
    [row] = deliveries(db, m)
    assert (row.status, row.attempts) == (DeliveryStatus.SENT, 3)
    assert endpoint_row(db, m, endpoint.id).consecutive_failures == 0
    assert len({h["webhook-id"] for h in receiver.headers}) == 1  # the same message id on every attempt


def test_repeated_failures_disable_the_endpoint_until_an_admin_enables_it_and_retries(app, db, m, rules, receiver,
                                                                                      make_contract):
    app.config.update(LEARNING_CONTRACTS_WEBHOOK_MAX_FAILURES=3, LEARNING_CONTRACTS_DELIVERY_ATTEMPTS=2)
    endpoint = subscribe(receiver, ["contract.created"])
    receiver.status = 503
    for _ in range(2):
        make_contract()
    move(rules, hours=1)
    services.deliver_notifications()  # attempts 3 and 4 in a row: disabled at the 3rd
    row = endpoint_row(db, m, endpoint.id)
    assert row.active is False and "3 failed attempts in a row" in row.disabled_reason
    assert "HTTP 503" in row.disabled_reason
    make_contract()  # a disabled endpoint gets no new deliveries
    assert len(deliveries(db, m)) == 2 and receiver.requests == 3
    statuses = sorted(r.status.value for r in deliveries(db, m))
    assert statuses == ["failed", "skipped"]  # one ran out of attempts, the other found the endpoint disabled

    receiver.status = 204
    services.set_webhook_endpoint_active(endpoint.id, True)
    assert endpoint_row(db, m, endpoint.id).disabled_reason is None
    for row in deliveries(db, m):
        assert services.retry_webhook_delivery(row.id) is True
    assert [r.status for r in deliveries(db, m)] == [DeliveryStatus.SENT] * 2
    assert services.retry_webhook_delivery(deliveries(db, m)[0].id) is False  # sent: nothing to retry


def test_a_send_cut_short_by_a_crash_after_the_commit_is_retried_once_the_lease_runs_out(app, db, m, rules, receiver,
                                                                                         make_contract, monkeypatch):
    monkeypatch.setattr(webhooks, "deliver_after_commit", lambda claims, done=None: None)  # the process "died"
    subscribe(receiver, ["contract.created"])
    make_contract(external_id="A-1")
    [row] = deliveries(db, m)
    assert row.status is DeliveryStatus.SENDING and receiver.requests == 0
    assert services.deliver_notifications() == services.DeliveryReport(pending=1)  # its lease still runs
    move(rules, seconds=int(app.config["LEARNING_CONTRACTS_DELIVERY_LEASE"]) + 1)
    assert services.deliver_notifications().sent == 1
    assert receiver.types() == ["contract.created"] and receiver.events[0]["data"]["contract"]["external_id"] == "A-1"


def test_a_rolled_back_change_sends_no_event(app, db, m, receiver, make_contract):
    subscribe(receiver, ["contract.created"])
    make_contract(code="TAKEN")
    with pytest.raises(errors.LearningContractError):
        make_contract(code="TAKEN")
    assert len(deliveries(db, m)) == 1 and receiver.requests == 1


def test_queued_mode_only_records_and_a_delivery_pass_sends(app, db, m, receiver, make_contract):
    app.config["LEARNING_CONTRACTS_DELIVERY"] = "queued"
    subscribe(receiver, ["contract.created"])
    make_contract()
    assert receiver.requests == 0 and deliveries(db, m)[0].status is DeliveryStatus.PENDING
    report = services.deliver_notifications()
    assert (report.sent, report.pending) == (1, 0) and receiver.types() == ["contract.created"]


@pytest.mark.parametrize("answer, error", [
    ({"status": 302, "location": "http://example.com/elsewhere"}, "HTTP 302: redirects are not followed"),
    ({"status": 500, "body": b"<h1>Internal error</h1>"}, "HTTP 500: <h1>Internal error</h1>"),
    ({"status": 404}, "HTTP 404"),
])
def test_non_2xx_answers_fail_the_attempt(app, db, m, receiver, make_contract, answer, error):
    subscribe(receiver, ["contract.created"])
    receiver.status, receiver.location = answer["status"], answer.get("location")
    receiver.body = answer.get("body", b"")
    make_contract()
    [row] = deliveries(db, m)
    assert row.status is DeliveryStatus.PENDING and row.last_error.startswith(error)


@pytest.mark.parametrize("slow", [{"hang": 3}, {"trickle": 0.2}], ids=["hangs", "trickles its headers"])
def test_a_receiver_that_hangs_or_trickles_is_cut_off_at_the_timeout(app, db, m, receiver, make_contract, slow):
    """A trickling receiver sends each byte well within a socket timeout: the attempt as a whole is bounded."""
    app.config["LEARNING_CONTRACTS_WEBHOOK_TIMEOUT"] = 1
    subscribe(receiver, ["contract.created"])
    receiver.hang, receiver.trickle = slow.get("hang", 0), slow.get("trickle", 0)
    started = time.monotonic()
    make_contract()
    assert time.monotonic() - started < 3
    [row] = deliveries(db, m)
    assert row.status is DeliveryStatus.PENDING and row.last_error == "No answer: no answer within 1 seconds"


def test_a_huge_answer_is_not_read(app, db, m, receiver, make_contract):
    subscribe(receiver, ["contract.created"])
    receiver.status, receiver.body = 200, b"x" * (50 * 1024 * 1024)
    started = time.monotonic()
    make_contract()
    assert time.monotonic() - started < 5
    assert deliveries(db, m)[0].status is DeliveryStatus.SENT


def test_410_gone_disables_the_endpoint_at_once(app, db, m, receiver, make_contract):
    endpoint = subscribe(receiver, ["contract.created"])
    receiver.status = 410
    make_contract()
    row = endpoint_row(db, m, endpoint.id)
    assert row.active is False and "410" in row.disabled_reason


@pytest.mark.parametrize("url", [
    "ftp://example.com/hooks", "javascript:alert(1)", "http://user:pw@example.com/hooks", "https://", "example.com",
    "http://127.0.0.1:8000/hooks", "http://10.1.2.3/hooks", "http://169.254.169.254/latest/meta-data",
    "http://[::1]/hooks", "http://localhost/hooks", "http://[::ffff:192.168.0.1]/x", "https://example.com/" + "a" * 400,
])
def test_urls_that_cannot_receive_webhooks_are_refused(app, url):
    with pytest.raises(errors.ValidationError) as caught:
        services.create_webhook_endpoint(url, ["contract.created"])
    assert caught.value.field == "url"


def test_a_name_resolving_to_a_private_address_is_not_posted_to(app, db, m, make_contract, monkeypatch):
    import socket

    endpoint = services.create_webhook_endpoint("https://hooks.example.com/in", ["contract.created"])
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, 1, 6, "", ("10.0.0.5", 443))])
    make_contract()
    [row] = deliveries(db, m)
    assert row.endpoint_id == endpoint.id and "private or local address" in row.last_error


def test_unknown_or_no_events_are_refused(app):
    with pytest.raises(errors.ValidationError, match="Unknown event type"):
        services.create_webhook_endpoint("https://example.com/hooks", ["contract.deleted"])
    with pytest.raises(errors.ValidationError, match="at least one"):
        services.create_webhook_endpoint("https://example.com/hooks", [])


def test_without_the_webhooks_extra_endpoints_cannot_be_created(app, monkeypatch):
    monkeypatch.setitem(sys.modules, "standardwebhooks", None)  # as if not installed
    with pytest.raises(errors.WebhooksUnavailable, match=r"pip install 'flask-learning-contracts\[webhooks\]'"):
        services.create_webhook_endpoint("https://example.com/hooks", ["contract.created"])


def test_deleting_an_endpoint_deletes_its_deliveries_and_a_contract_keeps_its_events(app, db, m, receiver,
                                                                                     make_contract):
    endpoint = subscribe(receiver, ["contract.created"])
    contract = make_contract()
    services.delete_contract(services.get_contract(contract.id))
    assert len(deliveries(db, m)) == 1
    assert [d.id for d in services.webhook_deliveries(endpoint_id=endpoint.id)] == [deliveries(db, m)[0].id]
    services.delete_webhook_endpoint(endpoint.id)
    assert deliveries(db, m) == [] and services.webhook_endpoints() == []
    with pytest.raises(errors.WebhookEndpointNotFound):
        services.delete_webhook_endpoint(endpoint.id)


def test_forgetting_a_person_removes_their_address_from_webhook_events(app, db, m, receiver, make_contract,
                                                                       make_user, courses):
    subscribe(receiver, ["invitation.created", "invitation.revoked"])
    contract = make_contract(ContractType.VOUCHER, activities=courses)
    ana = make_user("ana@example.com")
    services.invite(contract, users=[ana, make_user("ben@example.com")])  # sent
    receiver.status = 500
    services.revoke(services.invitations_for(ana)[0])  # waiting for a retry
    services.forget_user(ana)
    rows = deliveries(db, m)
    assert len(rows) == 2  # ben's invitation.created, and ana's sent one without its payload
    texts = [str(row.payload) for row in rows]
    assert not any("ana@example.com" in t for t in texts) and any("ben@example.com" in t for t in texts)


def test_a_contracts_failed_e_mails_do_not_include_its_webhook_deliveries(app, db, m, receiver, make_contract):
    app.config["LEARNING_CONTRACTS_DELIVERY_ATTEMPTS"] = 1
    subscribe(receiver, ["contract.created"])
    receiver.status = 500
    contract = make_contract()
    assert deliveries(db, m)[0].status is DeliveryStatus.FAILED
    contract = services.get_contract(contract.id)
    assert services.failed_notifications(contract) == [] and services.count_failed_notifications(contract) == 0
    assert services.retry_notifications(contract) == 0


def test_queued_mode_with_rq_queues_a_job_after_the_commit_that_sends_the_event(app, db, m, receiver, make_contract):
    from .test_ratelimit_redis import redis_answers

    if not redis_answers():
        pytest.skip("no Redis on 127.0.0.1:6379")
    import uuid

    from redis import Redis
    from rq import Queue

    from flask_learning_contracts import jobs

    name = f"lc-test-hooks-{uuid.uuid4().hex[:12]}"
    app.config.update(LEARNING_CONTRACTS_DELIVERY="queued", LEARNING_CONTRACTS_RQ_REDIS_URL="redis://127.0.0.1:6379/5",
                      LEARNING_CONTRACTS_RQ_QUEUE=name)
    queue = Queue(name, connection=Redis.from_url("redis://127.0.0.1:6379/5"))
    try:
        subscribe(receiver, ["contract.created"])
        make_contract(external_id="RQ-1")
        [job] = queue.jobs
        assert job.func_name == "flask_learning_contracts.jobs.deliver" and receiver.requests == 0
        assert jobs.deliver(*job.args)["sent"] == 1  # what the RQ worker runs
        assert receiver.types() == ["contract.created"] and receiver.rejected == []
    finally:
        queue.delete(delete_jobs=True)


@pytest.mark.parametrize("url", [
    "http://100.100.100.200/latest/meta-data",  # shared address space (RFC 6598): a cloud's metadata service
    "http://[2002:7f00:1::]/hooks",  # 6to4 wrapping 127.0.0.1
    "http://[2002:a9fe:a9fe::]/hooks",  # 6to4 wrapping 169.254.169.254
    "http://0.0.0.0/hooks", "http://[::]/hooks",
])
def test_addresses_that_are_not_global_are_refused_too(app, url):
    with pytest.raises(errors.ValidationError) as caught:
        services.create_webhook_endpoint(url, ["contract.created"])
    assert caught.value.field == "url"


def test_a_name_rebound_to_loopback_after_the_check_is_not_posted_to(app, db, m, make_contract, monkeypatch):
    """DNS rebinding: the name answers a public address to the check, then 127.0.0.1 to the connection. The
    sender connects to the address it checked, so the loopback receiver never hears from it."""
    import socket

    app.config["LEARNING_CONTRACTS_WEBHOOK_TIMEOUT"] = 1
    with Receiver() as receiver:
        port = int(receiver.url.rsplit(":", 1)[1].split("/", 1)[0])
        real = socket.getaddrinfo
        calls = []

        def rebinding(host, *args, **kwargs):
            if host != "rebind.example.com":
                return real(host, *args, **kwargs)
            calls.append(host)
            address = "93.184.216.34" if len(calls) == 1 else "127.0.0.1"  # a public address (unreachable here)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

        services.create_webhook_endpoint(f"http://rebind.example.com:{port}/in", ["contract.created"])
        monkeypatch.setattr(socket, "getaddrinfo", rebinding)
        make_contract()
        [row] = deliveries(db, m)
        assert receiver.requests == 0
        assert calls and row.last_error and "private or local" not in row.last_error


@pytest.mark.parametrize("url", ["http://2130706433/hooks", "http://0x7f000001/hooks", "http://0177.0.0.1/hooks",
                                 "http://127.1/hooks", "http://0xa9fea9fe/latest/meta-data"])
def test_numeric_spellings_of_private_addresses_are_refused_when_the_endpoint_is_created(app, url):
    """Decimal, hex, octal and short forms that the resolver reads as 127.0.0.1 (or 169.254.169.254) are literal
    addresses: refused at once, not only when the first delivery resolves them."""
    with pytest.raises(errors.ValidationError) as caught:
        services.create_webhook_endpoint(url, ["contract.created"])
    assert caught.value.field == "url"
