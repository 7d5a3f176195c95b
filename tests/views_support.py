"""Helpers for the page tests (tests/test_views_*.py): logged-in clients, CSRF tokens, query counting."""
from __future__ import annotations

import contextlib
import re
import secrets

import sqlalchemy as sa
from flask import g
from flask_login import FlaskLoginClient
from itsdangerous import URLSafeTimedSerializer

PREFIX = "/learning-contracts"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


class Client(FlaskLoginClient):
    """``FlaskLoginClient`` for an app whose test keeps one app context open (the ``app`` fixture).

    Flask reuses that context for every request, so ``g`` would carry the previous request's user and
    CSRF token into the next one; forget them, as a fresh request would.
    """

    def open(self, *args, **kwargs):
        g.__dict__.clear()
        return super().open(*args, **kwargs)


def client_for(app, user=None, **environ):
    """A test client logged in as ``user`` (anonymous when ``None``), with optional WSGI environ (REMOTE_ADDR)."""
    app.test_client_class = Client
    client = app.test_client(user=user) if user is not None else app.test_client()
    client.environ_base.update(environ)
    return client


def token(client, path: str = PREFIX + "/") -> str:
    """A CSRF token valid for ``client``'s session, read from one of the extension's forms."""
    response = client.get(path)
    match = _TOKEN.search(response.get_data(as_text=True))
    assert match, f"no CSRF token on {path} ({response.status_code})"
    return match.group(1)


def csrf_for(app, client) -> str:
    """A valid Flask-WTF token for ``client``'s session without reading a page (anonymous and refused users too)."""
    raw = secrets.token_hex(20)
    with client.session_transaction() as session:
        session["csrf_token"] = raw
    secret = app.config.get("WTF_CSRF_SECRET_KEY") or app.secret_key
    return URLSafeTimedSerializer(secret, salt="wtf-csrf-token").dumps(raw)


def text(response) -> str:
    return response.get_data(as_text=True)


@contextlib.contextmanager
def count_queries(db):
    """Collect the SQL statements sent to ``db.engine`` inside the block."""
    statements: list[str] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listener)
