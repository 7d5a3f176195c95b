"""The test host as an RQ worker process loads it (``FLASK_APP="tests.rq_host:create_app()"``), for
``test_rq_delivery.py``: queued delivery through RQ, the shipped e-mails written by Flask-Mailman's file backend.

Everything comes from the environment the test sets: ``LC_RQ_DATABASE_URL``, ``LC_RQ_REDIS_URL``,
``LC_RQ_QUEUE`` and ``LC_RQ_MAIL_DIR``.
"""
from __future__ import annotations

import os

from flask import Flask

from . import host
from .notify_support import use_shipped_mail

SITE = "https://lms.example.com"


def configure(app: Flask, redis_url: str, queue: str, mail_dir: str) -> Flask:
    """Queued delivery through RQ, links to SITE, Flask-Mailman writing files into ``mail_dir``."""
    app.config.update(LEARNING_CONTRACTS_DELIVERY="queued", LEARNING_CONTRACTS_RQ_REDIS_URL=redis_url,
                      LEARNING_CONTRACTS_RQ_QUEUE=queue, LEARNING_CONTRACTS_BASE_URL=SITE)
    use_shipped_mail(app, MAIL_BACKEND="file", MAIL_FILE_PATH=mail_dir)
    return app


def create_app() -> Flask:
    app = host.create_app(os.environ["LC_RQ_DATABASE_URL"])
    return configure(app, os.environ["LC_RQ_REDIS_URL"], os.environ["LC_RQ_QUEUE"], os.environ["LC_RQ_MAIL_DIR"])
