"""E-mail for the example LMS: Flask-Mailman's file backend, so no mail server is needed.

Every message the extension sends is written to ``instance/outbox/*.log`` (``EXAMPLE_OUTBOX`` to change it)
by Flask-Mailman, as it would go to an SMTP server; the Outbox page reads the files back. A real LMS sets
its SMTP settings instead (see the README, "Notifications").

Flask-Mailman is the optional ``[mail]`` extra. When it is not installed (the README's first command installs
the package alone), the example's rules write the same files themselves through ``send_notification``, so
the Outbox page works either way.
"""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import os
import random
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from flask import Flask

SENDER = "Example LMS <lms@example.com>"
SEPARATOR = b"-" * 79  # Flask-Mailman's file backend ends each message with this line


def outbox_folder(app: Flask) -> Path:
    return Path(app.config.get("EXAMPLE_OUTBOX") or os.path.join(app.instance_path, "outbox"))


def setup_mail(app: Flask) -> bool:
    """Flask-Mailman with its file backend when installed; returns whether it is."""
    try:
        from flask_mailman import Mail
    except ImportError:
        return False
    app.config.setdefault("MAIL_BACKEND", "file")
    app.config.setdefault("MAIL_FILE_PATH", str(outbox_folder(app)))
    app.config.setdefault("MAIL_DEFAULT_SENDER", SENDER)
    Mail(app)
    return True


def write_message(folder: Path, to: str, subject: str, text: str, html: str) -> None:
    """Write one message the way Flask-Mailman's file backend does (used when it is not installed)."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = SENDER, to, subject
    message["Date"] = email.utils.format_datetime(dt.datetime.now(dt.UTC))
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{dt.datetime.now():%Y%m%d-%H%M%S}-{random.randrange(10**15)}.log"
    (folder / name).write_bytes(message.as_bytes() + b"\n" + SEPARATOR + b"\n")


@dataclass
class OutboxEntry:
    to: str
    subject: str
    sent: dt.datetime | None
    text: str
    html: str


def read_outbox(folder: Path, *, to: str | None = None, limit: int = 100) -> list[OutboxEntry]:
    """The newest messages of the outbox folder (only those to ``to`` when given)."""
    entries: list[OutboxEntry] = []
    paths = sorted(folder.glob("*.log"), key=lambda p: p.stat().st_mtime, reverse=True) if folder.exists() else []
    for path in paths:
        chunks = [c for c in path.read_bytes().split(b"\n" + SEPARATOR + b"\n") if c.strip()]
        for chunk in reversed(chunks):
            message = email.message_from_bytes(chunk, policy=email.policy.default)
            recipient = str(message["To"] or "")
            if to is not None and to.lower() not in recipient.lower():
                continue
            text_part = message.get_body(preferencelist=("plain",))
            html_part = message.get_body(preferencelist=("html",))
            date = message["Date"]
            entries.append(OutboxEntry(recipient, str(message["Subject"] or ""),
                                       date.datetime if date is not None else None,
                                       text_part.get_content() if text_part is not None else "",
                                       html_part.get_content() if html_part is not None else ""))
            if len(entries) >= limit:
                return entries
    return entries
