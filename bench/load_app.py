"""The example LMS as ``bench/load.py`` serves it: PostgreSQL, Redis for the code-attempt limiter, queued delivery.

gunicorn imports ``bench.load_app:create()`` in each of its workers, the delivery worker runs
``flask --app bench.load_app:create contracts deliver --loop``; both read their settings from the environment
``bench/load.py`` sets (``LC_LOAD_DATABASE_URL``, ``LC_LOAD_REDIS_URL``, ``LC_LOAD_OUTBOX``).
"""
from __future__ import annotations

import os

from flask import Flask

from example_app.app import create_app


def create() -> Flask:
    """The example app with the load test's settings (see the module's docstring)."""
    return create_app({
        "SQLALCHEMY_DATABASE_URI": os.environ["LC_LOAD_DATABASE_URL"],
        # Several worker processes: the code-attempt counters must be shared (views/ratelimit.py).
        "LEARNING_CONTRACTS_RATELIMIT_STORAGE_URI": os.environ.get("LC_LOAD_REDIS_URL", "redis://127.0.0.1:6379/0"),
        # Requests only record notifications; the delivery worker sends them.
        "LEARNING_CONTRACTS_DELIVERY": "queued",
        "EXAMPLE_OUTBOX": os.environ.get("LC_LOAD_OUTBOX") or None,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 5, "max_overflow": 5, "pool_pre_ping": False},
    })
