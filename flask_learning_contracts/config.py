"""Every ``LEARNING_CONTRACTS_*`` setting with its default, in one place.

``init_app`` fills in the keys the host did not set; options passed to ``init_app`` win over config.
"""
from __future__ import annotations

from typing import Any

from flask import Flask, current_app

PREFIX = "LEARNING_CONTRACTS_"

DEFAULTS: dict[str, str | int | bool | None] = {
    # URL prefix of the learner and contract-admin pages.
    "URL_PREFIX": "/learning-contracts",
    # Flask-Admin menu category and the URL of the contract views inside the admin.
    "ADMIN_CATEGORY": "Activities and Learning",
    "ADMIN_NAME": "Learning Contracts",
    "ADMIN_ENDPOINT": "lc_contract",
    "ADMIN_URL": None,  # default: <admin url>/learning-contracts
    # Attribute of the host's user model holding the e-mail address (used by the default hooks).
    "USER_EMAIL_ATTR": "email",
    # Attribute of the host's activity model holding its display name and its kind.
    "ACTIVITY_TITLE_ATTR": "title",
    "ACTIVITY_KIND_ATTR": "kind",
    # Template every learner and contract-admin page extends; point it at your own layout.
    "BASE_TEMPLATE": "learning_contracts/base.html",
    # Wrong invitation codes allowed per learner and per IP (Flask-Limiter syntax) and the limiter storage.
    "CODE_ATTEMPTS_LIMIT": "10 per 10 minutes",
    "RATELIMIT_STORAGE_URI": "memory://",
    # Uploaded invitation CSV files: largest accepted size in bytes and number of rows.
    "CSV_MAX_BYTES": 10 * 1024 * 1024,
    "CSV_MAX_ROWS": 100_000,
    # Rows per page in list pages.
    "PAGE_SIZE": 50,
    # How often a transaction is retried on a deadlock, serialization failure or locked SQLite file.
    "RETRY_ATTEMPTS": 8,
    # Add the shipped migrations to the host's Flask-Migrate version locations.
    "REGISTER_MIGRATIONS": True,
    # Alembic revision(s) of the host that create the user and activity tables (run before ours).
    "ALEMBIC_DEPENDS_ON": None,
}


def init_config(app: Flask, options: dict[str, Any]) -> None:
    """Set defaults for missing keys; explicit ``init_app`` options override the app's config."""
    for key, value in DEFAULTS.items():
        app.config.setdefault(PREFIX + key, value)
    for key, value in options.items():
        if key.upper() in DEFAULTS and value is not None:
            app.config[PREFIX + key.upper()] = value


def config_value(key: str, app: Flask | None = None) -> Any:
    """The value of ``LEARNING_CONTRACTS_<key>`` for ``app`` (default: the current app). Unknown keys raise."""
    # ``Any``: whatever the host put in its config (a page size may come as "50"); callers convert with int()/str().
    if key not in DEFAULTS:
        raise KeyError(f"Unknown learning contracts setting {PREFIX + key}")
    return (app or current_app).config.get(PREFIX + key, DEFAULTS[key])
