"""Helpers shared by the admin tests: logged-in clients, CSRF tokens, the admin URLs, page text.

The logged-in client and query counter are the page tests' own (``tests/views_support.py``).
"""
from __future__ import annotations

import re
from html import unescape

import pytest

from .views_support import Client, count_queries  # noqa: F401 - re-exported for the admin tests

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


@pytest.fixture
def login_client(app):
    """``login_client(user)``: a test client logged in as ``user`` (``None`` = anonymous)."""
    app.test_client_class = Client

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
