"""The admin's Webhooks screen: add an endpoint (URL and events; the secret shown once), disable, enable,
delete (CSRF-protected POSTs), and recent deliveries with Retry for failed ones."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from flask_learning_contracts import services
from flask_learning_contracts.enums import DeliveryStatus, NotificationKind

from .admin_support import as_manager, login_client, manager, post_form, text  # noqa: F401 - fixtures
from .webhook_support import Receiver

PAGE = "/admin/learning-contracts-webhooks/"


@pytest.fixture
def receiver(app):
    app.config["LEARNING_CONTRACTS_WEBHOOK_ALLOW_PRIVATE"] = True
    with Receiver() as r:
        yield r


def test_adding_an_endpoint_shows_its_secret_once_and_lists_it(app, db, m, as_manager, receiver):
    response = post_form(as_manager, PAGE, data={"url": receiver.url, "events": ["contract.created", "code.redeemed"]})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    [endpoint] = db.session.execute(sa.select(m.WebhookEndpoint)).scalars().all()
    page = text(response)
    assert endpoint.secret in page and "It is shown only on this page." in page
    listing = as_manager.get(PAGE)
    assert endpoint.secret not in listing.get_data(as_text=True)
    assert f"{receiver.url} contract.created code.redeemed Active" in text(listing)


def test_a_refused_url_is_shown_next_to_the_field(app, db, m, as_manager):
    response = post_form(as_manager, PAGE, data={"url": "http://127.0.0.1/hooks", "events": ["contract.created"]})
    assert "Webhooks cannot be sent to a private or local address (127.0.0.1)." in text(response)
    assert db.session.execute(sa.select(sa.func.count()).select_from(m.WebhookEndpoint)).scalar_one() == 0


def test_disable_enable_and_delete_are_csrf_protected_posts(app, db, m, as_manager, receiver):
    endpoint = services.create_webhook_endpoint(receiver.url, ["contract.created"])
    assert as_manager.post(f"{PAGE}{endpoint.id}/disable/").status_code == 302  # no token: refused
    db.session.expire_all()
    assert db.session.get(m.WebhookEndpoint, endpoint.id).active is True
    post_form(as_manager, PAGE, f"{PAGE}{endpoint.id}/disable/")
    db.session.expire_all()
    row = db.session.get(m.WebhookEndpoint, endpoint.id)
    assert row.active is False and row.disabled_reason == "Disabled by an admin."
    assert "Disabled Disabled by an admin." in text(as_manager.get(PAGE))
    post_form(as_manager, PAGE, f"{PAGE}{endpoint.id}/enable/")
    db.session.expire_all()
    assert db.session.get(m.WebhookEndpoint, endpoint.id).active is True
    response = post_form(as_manager, PAGE, f"{PAGE}{endpoint.id}/delete/", follow_redirects=True)
    assert "Deleted the webhook endpoint and its deliveries." in text(response)
    assert services.webhook_endpoints() == []


def test_failed_deliveries_are_listed_and_retry_sends_them(app, db, m, as_manager, receiver, make_contract):
    app.config["LEARNING_CONTRACTS_DELIVERY_ATTEMPTS"] = 1
    receiver.secret = services.create_webhook_endpoint(receiver.url, ["contract.created"]).secret
    receiver.status = 500
    make_contract()
    deliveries = text(as_manager.get(f"{PAGE}deliveries/"))
    assert "contract.created" in deliveries and "Failed HTTP 500" in deliveries and "Retry" in deliveries
    [row] = services.webhook_deliveries()
    receiver.status = 204
    response = post_form(as_manager, f"{PAGE}deliveries/", f"{PAGE}deliveries/{row.id}/retry/", follow_redirects=True)
    assert "Retried the delivery." in text(response)
    db.session.expire_all()
    n = m.Notification
    [status] = db.session.execute(sa.select(n.status).where(n.kind == NotificationKind.WEBHOOK)).scalars().all()
    assert status is DeliveryStatus.SENT and receiver.types() == ["contract.created"] * 2  # the 500, then the retry
    assert receiver.headers[0]["webhook-id"] == receiver.headers[1]["webhook-id"] == f"msg_{row.id}"


def test_learners_cannot_open_the_webhooks_screen(login_client, make_user):
    assert login_client(make_user("lee@example.com")).get(PAGE).status_code == 403


def test_cli_adds_lists_and_disables_endpoints(app, db, m):
    runner = app.test_cli_runner()
    added = runner.invoke(args=["contracts", "webhook", "add", "https://hooks.example.com/lc", "--event",
                                "contract.created", "--event", "enrollment.created"])
    assert added.exit_code == 0, added.output
    [endpoint] = services.webhook_endpoints()
    assert f"Signing secret (shown only now): {endpoint.secret}" in added.output
    listed = runner.invoke(args=["contracts", "webhook", "list"])
    assert f"{endpoint.id}  https://hooks.example.com/lc  [contract.created, enrollment.created]  active" in listed.output
    assert endpoint.secret not in listed.output
    disabled = runner.invoke(args=["contracts", "webhook", "disable", str(endpoint.id)])
    assert disabled.exit_code == 0 and "Disabled webhook endpoint" in disabled.output
    assert "disabled: Disabled from the command line." in runner.invoke(args=["contracts", "webhook", "list"]).output
    refused = runner.invoke(args=["contracts", "webhook", "add", "ftp://x.example.com", "--event", "code.redeemed"])
    assert refused.exit_code == 1 and "Only http:// and https:// URLs" in refused.output
    missing = runner.invoke(args=["contracts", "webhook", "disable", "999"])
    assert missing.exit_code == 1 and "no longer exists" in missing.output


def test_add_and_retry_without_the_csrf_token_change_nothing(app, db, m, as_manager, receiver, make_contract):
    refused = as_manager.post(PAGE, data={"url": receiver.url, "events": ["contract.created"]})
    assert refused.status_code in (200, 302, 400) and services.webhook_endpoints() == []
    app.config["LEARNING_CONTRACTS_DELIVERY_ATTEMPTS"] = 1
    receiver.secret = services.create_webhook_endpoint(receiver.url, ["contract.created"]).secret
    receiver.status = 500
    make_contract()
    [row] = services.webhook_deliveries()
    receiver.status = 204
    assert as_manager.post(f"{PAGE}deliveries/{row.id}/retry/").status_code in (302, 400)
    db.session.expire_all()
    assert receiver.requests == 1
    assert db.session.get(m.Notification, row.id).status is DeliveryStatus.FAILED
