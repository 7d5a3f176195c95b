"""The example LMS's e-mail: Flask-Mailman's file backend (or, without Flask-Mailman, the example's own
``send_notification`` writing the same files) and the Outbox page that shows the real messages."""
from __future__ import annotations

import re
import sys

import pytest

from example_app.app import DEMO_PASSWORD, create_app
from example_app.demo import seed
from example_app.models import db


@pytest.fixture(params=["flask-mailman", "without-flask-mailman"])
def example(request, tmp_path, monkeypatch):
    if request.param == "without-flask-mailman":
        monkeypatch.setitem(sys.modules, "flask_mailman", None)  # `import flask_mailman` now fails
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'example.db'}",
                      "EXAMPLE_OUTBOX": str(tmp_path / "outbox")})
    assert ("mailman" in app.extensions) is (request.param == "flask-mailman")
    with app.app_context():
        db.create_all()
        seed()
        db.session.remove()
    yield app
    with app.app_context():
        db.engine.dispose()


def login(app, email: str):
    client = app.test_client()
    response = client.post("/login", data={"email": email, "password": DEMO_PASSWORD})
    assert response.status_code == 302
    return client


def test_the_outbox_page_shows_the_invitations_the_demo_sent(example):
    page = login(example, "ben@example.com").get("/outbox").get_data(as_text=True)
    assert page.count("<article") == 1  # a learner sees only the messages sent to them
    assert "You are invited: Acme Corp compliance training" in page and "To ben@example.com" in page
    assert "srcdoc=" in page and "Your invitation code:" in page  # the HTML version, rendered in a sandbox
    assert "http://127.0.0.1:5000/learning-contracts/" in page
    admin_page = login(example, "admin@example.com").get("/outbox").get_data(as_text=True)
    assert admin_page.count("<article") == 17  # every invitation of the demo data


# ---- the example's layout around the learning contracts' pages --------------------------------------------------

HOST_HEADER = '<header class="site">'
HOST_MENU = '<nav class="menu" aria-label="Main menu">'


def _in_example_layout(page: str) -> bool:
    return HOST_HEADER in page and HOST_MENU in page and "· Example LMS</title>" in page and "lc-topbar" not in page


def _current_menu_item(page: str) -> list[str]:
    return re.findall(r'<a href="[^"]*" aria-current="page">([^<]+)</a>', page)


@pytest.fixture
def example_app(tmp_path):
    """One example app (Flask-Mailman or not makes no difference to the layout)."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'example.db'}",
                      "EXAMPLE_OUTBOX": str(tmp_path / "outbox")})
    with app.app_context():
        db.create_all()
        seed()
        db.session.remove()
    yield app
    with app.app_context():
        db.engine.dispose()


def test_learner_and_contract_admin_pages_sit_inside_the_example_layout(example_app):
    assert example_app.config["LEARNING_CONTRACTS_BASE_TEMPLATE"] == "layout.html"
    learner = login(example_app, "ana@example.com")
    invitations = learner.get("/learning-contracts/").get_data(as_text=True)
    assert _in_example_layout(invitations)
    assert _current_menu_item(invitations) == ["Learning contract invitations"]
    assert "learning_contracts/learning_contracts.css" in invitations  # the extension's style comes along
    assert '<a class="skip" href="#main">' in invitations and '<main id="main"' in invitations
    contract_url = re.search(r'href="(/learning-contracts/contracts/\d+)"', invitations).group(1)
    contract_page = learner.get(contract_url).get_data(as_text=True)
    assert _in_example_layout(contract_page) and _current_menu_item(contract_page) == ["Learning contract invitations"]
    missing = learner.get("/learning-contracts/contracts/999999")
    assert missing.status_code == 404 and _in_example_layout(missing.get_data(as_text=True))

    contract_admin = login(example_app, "contracts@example.com")
    dashboard = contract_admin.get("/learning-contracts/manage/").get_data(as_text=True)
    assert _in_example_layout(dashboard) and _current_menu_item(dashboard) == ["Learning contracts dashboard"]
    manage_url = re.search(r'href="(/learning-contracts/manage/\d+)"', dashboard).group(1)
    for url in (manage_url, manage_url + "/invite"):
        response = contract_admin.get(url)
        assert response.status_code == 200 and _in_example_layout(response.get_data(as_text=True)), url


def test_the_extensions_flashed_messages_show_in_the_example_layout(example_app):
    learner = login(example_app, "ana@example.com")
    page = learner.get("/learning-contracts/").get_data(as_text=True)
    action = re.search(r'action="(/learning-contracts/contracts/\d+/activities/[^"/]+/enroll)"', page).group(1)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    after = learner.post(action, data={"csrf_token": token}, follow_redirects=True).get_data(as_text=True)
    assert _in_example_layout(after)
    assert re.search(r'<div class="flash flash-success" role="status">[^<]*enrolled', after, re.IGNORECASE), after


def test_the_header_shows_the_name_apart_from_a_short_log_out_button(example_app):
    page = login(example_app, "admin@example.com").get("/").get_data(as_text=True)
    assert '<span class="who">Alex Admin</span>' in page
    assert '<button type="submit">Log out</button>' in page
    assert _current_menu_item(page) == ["My learning"]


def test_the_admin_home_has_one_heading_naming_the_page(example_app):
    response = login(example_app, "admin@example.com").get("/admin/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and '<html lang="en">' in page
    found = re.findall(r"<h[1-6][^>]*>(.*?)</h[1-6]>", page, re.DOTALL)
    headings = [re.sub(r"<[^>]+>|\s+", " ", h).strip() for h in found]
    assert headings == ["Example LMS administration", "Learning Contracts"]  # no Flask-Admin "Home" title above it
    assert 'href="/admin/learning-contracts/"' in page  # the contract list, one click away
    assert re.search(r">\s*Back to the LMS\s*</a>", page)  # in the admin's navbar
