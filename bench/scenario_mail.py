"""Scenario ``mail``: the bulk invite of scenario 1 when the e-mails really go out.

Flask-Mailman sends the shipped templates (text + HTML) over SMTP to a server on loopback (aiosmtpd's
``Sink`` handler in a process of its own, so it does not share this process's interpreter lock), for the same
10,000-line CSV as scenario 1:

* ``immediate``: ``invite_csv`` returns once every e-mail went out (``LEARNING_CONTRACTS_DELIVERY =
  "immediate"``, the default): what the admin's request waits for with a real mail server;
* ``queued``: ``invite_csv`` only records (``"queued"``), then one ``deliver_notifications()`` pass (what a
  worker does) sends them.

Scenario 1 measures the same invite without a mail server (the host's own ``send_invitation`` hook takes
each invitation). Needs the ``[mail]`` extra and aiosmtpd (both in ``[test]``).
"""
from __future__ import annotations

import io
import socket
import subprocess
import sys
import time

import sqlalchemy as sa

from bench import host
from bench.common import N_INVITE, clear_contract, new_contract, timed
from bench.scenario_invite import invite_csv_bytes
from flask_learning_contracts import ContractRules, services


class MailRules(host.BenchRules):
    """The benchmark host without its own send_invitation: the shipped e-mails go through Flask-Mailman."""

    send_invitation = ContractRules.send_invitation


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _smtp_sink():
    """aiosmtpd accepting and discarding every message, in its own process; returns (process, port)."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink",
                             "-l", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the aiosmtpd sink did not start")


def scenario_mail(app, repeat, n=N_INVITE):
    """``{"immediate": [s…], "queued_request": [s…], "queued_deliver": [s…], "sent": n}``."""
    try:
        from flask_mailman import Mail
    except ImportError:
        return {"skipped": "Flask-Mailman is not installed (pip install -e '.[mail]')"}
    proc, port = _smtp_sink()
    state = app.extensions["learning_contracts"]
    old_rules, old_config = state.rules, dict(app.config)
    out = {"immediate": [], "queued_request": [], "queued_deliver": [], "sent": 0}
    try:
        app.config.update(MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_TLS=False,
                          MAIL_DEFAULT_SENDER="lms@example.com", MAIL_TIMEOUT=30,
                          LEARNING_CONTRACTS_BASE_URL="https://lms.example.com")
        Mail().init_app(app)
        rules = MailRules()
        rules.state, state.rules = state, rules
        with app.app_context():
            existing = list(host.db.session.execute(
                sa.select(host.Member.email).where(host.Member.is_manager.is_(False)).order_by(host.Member.id)
                .limit(n // 2)).scalars())
            for r in range(repeat):
                data, _emails = invite_csv_bytes(existing, 1000 + r, n)
                app.config["LEARNING_CONTRACTS_DELIVERY"] = "immediate"
                contract = new_contract(f"MAIL-{r}")
                elapsed, report = timed(lambda: services.invite_csv(contract, io.BytesIO(data)))
                assert report.created == n and not report.notification_failures, report.notification_failures[:3]
                out["immediate"].append(elapsed)
                app.config["LEARNING_CONTRACTS_DELIVERY"] = "queued"
                queued = new_contract(f"MAILQ-{r}")
                elapsed, report = timed(lambda: services.invite_csv(queued, io.BytesIO(data)))
                out["queued_request"].append(elapsed)
                elapsed, delivered = timed(services.deliver_notifications)
                assert delivered.sent == n and delivered.pending == 0, delivered
                out["queued_deliver"].append(elapsed)
                out["sent"] += 2 * n
                ids = (contract.id, queued.id)
                host.db.session.remove()
                for cid in ids:
                    clear_contract(cid)
    finally:
        state.rules = old_rules
        app.extensions.pop("mailman", None)
        app.config.clear()
        app.config.update(old_config)
        proc.terminate()
        proc.wait(10)
    return out
