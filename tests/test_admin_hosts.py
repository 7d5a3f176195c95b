"""How the admin views register on hosts that differ: with CSRFProtect, with or without a Flask-Admin of their own."""
from __future__ import annotations

import contextlib

import pytest
from flask import Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from flask_learning_contracts import LearningContracts

from . import host
from .admin_support import Client, csrf_token, text, url
from .conftest import PG_URL, count, database_url, reset_database

GOOD = {
    "code": "HOST-1", "title": "Host contract", "contract_type": "subscription", "seats": "5", "per_user_limit": "0",
    "valid_from": "2026-01-01", "valid_until": "2026-12-31", "require_invitation_code": "no",
}


def make_host(tmp_path, *, csrf_protect=False, admin=None, own_admin_first=False, **config) -> Flask:
    """A host like ``tests/host.py``'s, with the registration variant under test."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY="host-secret", SQLALCHEMY_DATABASE_URI=database_url(tmp_path), TESTING=True,
                      LEARNING_CONTRACTS_USER_EMAIL_ATTR="email_address", **config)
    host.db.init_app(app)
    LoginManager(app).user_loader(lambda user_id: host.db.session.get(host.Account, int(user_id)))
    if csrf_protect:
        CSRFProtect(app)
    if own_admin_first:
        Admin(app, name="Host admin", theme=Bootstrap4Theme())
    LearningContracts(app, db=host.db, user_model=host.Account, activity_model=host.Course, rules=host.HostRules(),
                      admin=admin)
    app.test_client_class = Client
    return app


@contextlib.contextmanager
def running(app):
    with app.app_context():
        reset_database(host.db)
        try:
            yield app
        finally:
            host.db.session.remove()
            if PG_URL:
                host.db.drop_all()
            host.db.engine.dispose()


def manager_client(app):
    boss = host.Account(email_address="boss@example.com", name="Boss", is_manager=True)
    host.db.session.add(boss)
    host.db.session.commit()
    return app.test_client(user=boss)


def contracts(app) -> int:
    return count(host.db, app.extensions["learning_contracts"].models.Contract)


def test_host_with_csrfprotect_can_create_and_delete_and_refuses_tokenless_posts(tmp_path):
    app = make_host(tmp_path, csrf_protect=True)
    with running(app):
        client = manager_client(app)
        assert client.post(url("new/"), data=GOOD).status_code == 400  # CSRFProtect refuses first
        assert contracts(app) == 0
        token = csrf_token(client, url("new/"))
        created = client.post(url("new/"), data={**GOOD, "csrf_token": token})
        assert created.status_code == 302 and contracts(app) == 1
        contract_page = created.headers["Location"]
        contract_id = contract_page.rstrip("/").rsplit("/", 1)[1]
        assert client.post(url(f"{contract_id}/delete")).status_code == 400
        assert contracts(app) == 1
        delete_page = url(f"{contract_id}/delete")
        deleted = client.post(delete_page, data={"csrf_token": csrf_token(client, delete_page)})
        assert deleted.status_code == 302 and contracts(app) == 0


def test_host_without_flask_admin_gets_one_of_ours(tmp_path):
    app = make_host(tmp_path)
    with running(app):
        admins = app.extensions["admin"]
        state = app.extensions["learning_contracts"]
        assert len(admins) == 1 and state.admin is admins[0]
        assert [v.endpoint for v in admins[0]._views] == ["admin", "lc_contract", "lc_contract_webhooks"]
        client = manager_client(app)
        assert client.get("/admin/").status_code == 200
        assert "Learning Contracts" in text(client.get(url()))


def test_host_admin_created_first_is_used_without_passing_it(tmp_path):
    app = make_host(tmp_path, own_admin_first=True)
    with running(app):
        admins = app.extensions["admin"]
        assert len(admins) == 1 and admins[0].name == "Host admin"
        assert app.extensions["learning_contracts"].admin is admins[0]
        assert "Host admin" in text(manager_client(app).get(url()))


def test_admin_passed_explicitly_with_configured_category_name_and_endpoint(tmp_path):
    admin = Admin(name="Passed admin", theme=Bootstrap4Theme(), url="/backoffice", endpoint="backoffice")
    app = make_host(tmp_path, admin=admin, LEARNING_CONTRACTS_ADMIN_CATEGORY="Sales",
                    LEARNING_CONTRACTS_ADMIN_ENDPOINT="deals", LEARNING_CONTRACTS_ADMIN_NAME="Deals")
    admin.init_app(app)
    with running(app):
        view = next(v for v in admin._views if v.endpoint == "deals")
        assert (view.category, view.name) == ("Sales", "Deals")
        client = manager_client(app)
        page = client.get("/backoffice/learning-contracts/")
        assert page.status_code == 200 and "Sales" in text(page)
        hooks = next(v for v in admin._views if v.endpoint == "deals_webhooks")  # the Webhooks screen beside it
        assert hooks.category == "Sales" and client.get("/backoffice/learning-contracts-webhooks/").status_code == 200


def test_registering_twice_on_one_admin_adds_the_view_once(tmp_path):
    from flask_learning_contracts.admin import register_admin

    app = make_host(tmp_path)
    with running(app):
        state = app.extensions["learning_contracts"]
        again = register_admin(app, state, state.admin)
        assert again is state.admin
        endpoints = [v.endpoint for v in state.admin._views]
        assert endpoints.count("lc_contract") == endpoints.count("lc_contract_webhooks") == 1


def test_login_redirect_uses_the_hosts_login_view(tmp_path):
    app = make_host(tmp_path)
    app.add_url_rule("/login", "login", lambda: "log in")
    app.login_manager.login_view = "login"
    with running(app):
        response = app.test_client().get(url())
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("csrf_protect", [False, True])
def test_action_buttons_work_with_and_without_csrfprotect(tmp_path, csrf_protect):
    app = make_host(tmp_path, csrf_protect=csrf_protect)
    with running(app):
        client = manager_client(app)
        client.post(url("new/"), data={**GOOD, "csrf_token": csrf_token(client, url("new/"))})
        contract = host.db.session.execute(
            host.db.select(app.extensions["learning_contracts"].models.Contract)).scalar_one()
        old = contract.invitation_code
        page = url(f"{contract.id}/code/regenerate")
        response = client.post(page, data={"csrf_token": csrf_token(client, page)})
        assert response.status_code == 302
        host.db.session.expire_all()
        assert contract.invitation_code != old


def test_csrfprotect_refusal_in_the_admin_is_a_styled_page_and_host_pages_keep_theirs(tmp_path):
    app = make_host(tmp_path, csrf_protect=True)

    @app.post("/host-form")
    def host_form():
        return "saved"

    with running(app):
        client = manager_client(app)
        refused = client.post(url("new/"), data=GOOD)
        assert refused.status_code == 400
        assert "The form has expired" in text(refused) and "Learning Contracts" in text(refused)
        host_refused = client.post("/host-form")
        assert host_refused.status_code == 400 and "The form has expired" not in text(host_refused)
