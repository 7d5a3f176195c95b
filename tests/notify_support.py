"""Helpers for the notification tests: the shipped e-mail path (no host send_invitation), a real SMTP server.

``use_shipped_mail(app)`` gives the app rules that keep the test host's clock and hooks but not its own
``send_invitation`` (so notifications go through ``send_notification`` → Flask-Mailman), then initialises
Flask-Mailman. ``SmtpServer`` is a real aiosmtpd server on 127.0.0.1 (a free port), in a thread.
"""
from __future__ import annotations

import email
import email.policy
import socket
from email.message import EmailMessage
from typing import Any

from flask_mailman import Mail

from flask_learning_contracts import ContractRules

from . import host


class MailRules(host.HostRules):
    """The test host's hooks, except that learner notifications use the shipped e-mails."""

    send_invitation = ContractRules.send_invitation
    send_invitations = ContractRules.send_invitations


def use_rules(app, rules: ContractRules) -> ContractRules:
    state = app.extensions["learning_contracts"]
    rules.state = state
    state.rules = rules
    return rules


def use_shipped_mail(app, **mail_config: Any) -> Any:
    """Initialise Flask-Mailman on ``app`` (``MAIL_BACKEND`` locmem unless given) with the shipped e-mails;
    return its state, whose ``outbox`` list the locmem backend fills."""
    use_rules(app, MailRules())
    app.config.update({"MAIL_BACKEND": "locmem", "MAIL_DEFAULT_SENDER": "lms@example.com", **mail_config})
    state = Mail().init_app(app)
    state.outbox = []
    return state


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SmtpServer:
    """A real SMTP server (aiosmtpd) on 127.0.0.1:``port`` that keeps what it receives."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self._controller: Any = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.received.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"

    def start(self) -> SmtpServer:
        from aiosmtpd.controller import Controller

        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @staticmethod
    def config(port: int) -> dict[str, Any]:
        return {"MAIL_BACKEND": "smtp", "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port, "MAIL_USE_TLS": False,
                "MAIL_USE_SSL": False, "MAIL_TIMEOUT": 5}


def bodies(message: EmailMessage) -> tuple[str, str]:
    """The text and HTML bodies of a received multipart/alternative message."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    return (text.get_content() if text is not None else "", html.get_content() if html is not None else "")
