"""RQ jobs (the optional ``[rq]`` extra): queued notifications sent by RQ workers.

With ``LEARNING_CONTRACTS_DELIVERY = "queued"`` and ``LEARNING_CONTRACTS_RQ_REDIS_URL`` set, each service call
that creates notifications queues ``flask_learning_contracts.jobs.deliver`` after its commit (never before: a
worker must find the rows). The job claims the rows like any sender, so a job that runs twice, or beside
``flask contracts deliver``, sends nothing twice.

Run a worker with ``flask contracts worker`` (RQ's ``SimpleWorker`` inside your app), or with RQ's own command
and your app named as for ``flask``: ``FLASK_APP=yourapp rq worker --with-scheduler learning-contracts``
(``--with-scheduler`` runs the delayed retries). Failed sends are retried with the same backoff as always.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any

from flask import Flask, current_app, has_app_context

from . import services

_apps: dict[str, Flask] = {}


def deliver(ids: list[int] | None = None) -> dict[str, int]:
    """Send the notifications ``ids`` (``None``: whatever is due); return the pass's report as a dict.

    Runs in the current app context (``flask contracts worker``) or loads the app named by ``FLASK_APP``."""
    if has_app_context():
        return _deliver(current_app._get_current_object(), ids)  # type: ignore[attr-defined]  # werkzeug proxy
    app = _app_from_environment()
    with app.app_context():
        return _deliver(app, ids)


def _deliver(app: Flask, ids: list[int] | None) -> dict[str, int]:
    report = services.deliver_notifications(ids=ids)
    if report.failed > report.gave_up:  # retries are due later: queue a job for then (needs --with-scheduler)
        due = services.next_delivery_due()
        if due is not None:
            services.enqueue_delivery(app, None, at=due)
    return dataclasses.asdict(report)


def _app_from_environment() -> Flask:
    """The host app named by ``FLASK_APP`` (as the ``flask`` command finds it), loaded once per process."""
    target = os.environ.get("FLASK_APP")
    if not target:
        raise RuntimeError("Run the RQ worker with FLASK_APP naming your app (as for the flask command), "
                           "or use 'flask contracts worker'")
    app = _apps.get(target)
    if app is None:
        from flask.cli import ScriptInfo

        loaded: Any = ScriptInfo(app_import_path=target).load_app()
        app = _apps[target] = loaded
    return app
