"""Helpers shared by the admin tests: logged-in clients, CSRF tokens, the admin URLs, query counting."""
from __future__ import annotations

import contextlib
from html import unescape
import re

import pytest
import sqlalchemy as sa
from flask import g, has_app_context
from flask_login import FlaskLoginClient

BASE = "/admin/learning-contracts"
_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def url(path: str = "") -> str:
    return f"{BASE}/{path.lstrip('/')}" if path else f"{BASE}/"


def csrf_token(client, page: str) -> str:
    """The CSRF token of the form on ``page`` (GET it the way a browser would)."""
    response = client.get(page)
    assert response.status_code == 200, response.status_code
    match = _TOKEN.search(response.get_data(as_text=True))
    assert match, f"no CSRF token on {page}"
    return match.group(1)


def post_form(client, page: str, action: str | None = None, data: dict | None = None, **kwargs):
    """GET ``page`` for its token, then POST ``data`` (plus the token) to ``action`` (default: ``page``)."""
    payload = {"csrf_token": csrf_token(client, page), **(data or {})}
    return client.post(action or page, data=payload, **kwargs)


def text(response) -> str:
    """The page as a person reads it: tags removed, whitespace collapsed."""
    html = response.get_data(as_text=True)
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    html = re.sub(r'<div[^>]*class="d-none"[^>]*>.*?</div>', " ", html, flags=re.S)  # hidden filter data
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).replace("\xa0", " ").split())


def field_errors(response, field: str) -> list[str]:
    """Error messages rendered right after the input named ``field`` (inside its form group)."""
    html = response.get_data(as_text=True)
    start = html.find(f'name="{field}"')
    assert start != -1, f"no field {field} on the page"
    group_end = html.find('class="form-group', start)
    chunk = html[start: group_end if group_end != -1 else None]
    return [" ".join(m.split()) for m in re.findall(r'class="invalid-feedback d-block">(.*?)</div>', chunk, re.S)]


@contextlib.contextmanager
def count_queries(engine):
    """Count the SQL statements ``engine`` executes inside the block: ``with count_queries(e) as n: …; n[0]``."""
    counter = [0]

    def before(conn, cursor, statement, parameters, context, executemany):
        counter[0] += 1

    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        yield counter
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)


class LoginClient(FlaskLoginClient):
    """Flask-Login's test client, made safe for tests that keep one app context open around requests.

    Flask-Login caches the loaded user on ``g``, which lives as long as the app context; forget it before
    each request so every client is seen as its own user.
    """

    def open(self, *args, **kwargs):
        if has_app_context():
            g.pop("_login_user", None)
        return super().open(*args, **kwargs)


@pytest.fixture
def login_client(app):
    """``login_client(user)``: a test client logged in as ``user`` (``None`` = anonymous)."""
    app.test_client_class = LoginClient

    def make(user=None):
        return app.test_client(user=user) if user is not None else app.test_client()

    return make


@pytest.fixture
def manager(make_user):
    return make_user("boss@example.com", manager=True, name="Bea Boss")


@pytest.fixture
def learner(make_user):
    return make_user("learner@example.com", name="Lee Learner")


@pytest.fixture
def as_manager(login_client, manager):
    return login_client(manager)
