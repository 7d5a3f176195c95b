"""The example LMS's e-mail: Flask-Mailman's file backend (or, without Flask-Mailman, the example's own
``send_notification`` writing the same files) and the Outbox page that shows the real messages."""
from __future__ import annotations

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
