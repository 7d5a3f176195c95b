"""Every ``LEARNING_CONTRACTS_*`` setting with its default, in one place.

``init_app`` fills in the keys the host did not set; options passed to ``init_app`` win over config.
"""
from __future__ import annotations

from typing import Any

from flask import Flask, current_app

PREFIX = "LEARNING_CONTRACTS_"

DEFAULTS: dict[str, str | int | bool | tuple[int, ...] | None] = {
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
    # Hours an invite's report stays readable (the page after inviting; refreshing it never invites again).
    "INVITE_RUN_HOURS": 24,
    # Rows per page in list pages.
    "PAGE_SIZE": 50,
    # How often a transaction is retried on a deadlock, serialization failure or locked SQLite file.
    "RETRY_ATTEMPTS": 8,
    # Add the shipped migrations to the host's Flask-Migrate version locations.
    "REGISTER_MIGRATIONS": True,
    # Alembic revision(s) of the host that create the user and activity tables (run before ours).
    "ALEMBIC_DEPENDS_ON": None,
    # Notifications. "immediate": sent right after the commit, in the same process; "queued": requests only
    # record them and a worker sends them (flask contracts deliver --loop, or RQ jobs with RQ_REDIS_URL).
    "DELIVERY": "immediate",
    # The From address of the e-mails (default: Flask-Mailman's MAIL_DEFAULT_SENDER).
    "MAIL_SENDER": None,
    # Absolute base URL of the site for links in e-mails sent outside a request (a worker, cron), e.g.
    # "https://lms.example.com"; without it links use SERVER_NAME, or the host of the request that created them.
    "BASE_URL": None,
    # Attempts per notification before it is marked failed; retry delay: BACKOFF seconds, doubled per failed
    # attempt, at most BACKOFF_MAX; a sender that claimed a notification and died gives it back after LEASE.
    "DELIVERY_ATTEMPTS": 8,
    "DELIVERY_BACKOFF": 60,
    "DELIVERY_BACKOFF_MAX": 6 * 3600,
    "DELIVERY_LEASE": 600,
    # A resend of an invitation within this many seconds of its previous resend (a double click) sends nothing.
    "RESEND_INTERVAL": 60,
    # With the [rq] extra: Redis URL and queue of the RQ jobs that send queued notifications.
    "RQ_REDIS_URL": None,
    "RQ_QUEUE": "learning-contracts",
    # The scheduler (services.run_schedule / flask contracts tick): remind Outstanding and Not Registered
    # learners these many days after the invitation; alert contract admins when seats used reach these
    # percentages; tell them these many days before the contract ends.
    "REMINDER_DAYS": (3, 10),
    "SEAT_ALERTS": (75, 100),
    "EXPIRY_NOTICE_DAYS": (30, 7),
    # The integration API under <URL_PREFIX>/api/v1 (needs the [api] extra: pydantic). Requests with a wrong
    # API key allowed per address (limits syntax; counted in RATELIMIT_STORAGE_URI); seconds a retry with the
    # Idempotency-Key of a request still running waits for its answer before it is told 409.
    "API": False,
    "API_AUTH_LIMIT": "30 per 10 minutes",
    "API_IDEMPOTENCY_WAIT": 10,
    # Webhooks (the [webhooks] extra): seconds a receiver has to answer one POST (the whole attempt);
    # consecutive failed attempts (no success in between) after which an endpoint is disabled; whether
    # endpoints may name private, loopback or link-local addresses (off: the LMS server must not be a way into
    # its own network).
    "WEBHOOK_TIMEOUT": 10,
    "WEBHOOK_MAX_FAILURES": 20,
    "WEBHOOK_ALLOW_PRIVATE": False,
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


def config_numbers(key: str, app: Flask | None = None) -> tuple[int, ...]:
    """A setting holding whole numbers (a tuple or list, or text such as ``"3, 10"``), sorted, without duplicates."""
    value = config_value(key, app)
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        value = [part for part in value.replace(";", ",").split(",") if part.strip()]
    if isinstance(value, int):
        value = [value]
    return tuple(sorted({int(part) for part in value}))
