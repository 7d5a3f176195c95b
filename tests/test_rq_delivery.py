"""Queued delivery as RQ jobs (the ``[rq]`` extra), against the real Redis (db 5 unless
``LEARNING_CONTRACTS_TEST_RQ_REDIS_URL`` says otherwise) with real ``rq`` worker processes.

Requests only record the notifications and queue a job after the commit; the worker (RQ's own ``rq worker``
command, or ``flask contracts worker``) loads the host app from ``FLASK_APP`` and sends the shipped e-mails.
"""
from __future__ import annotations

import email
import email.policy
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from flask_learning_contracts import ContractType, services
from flask_learning_contracts.codes import format_code
from flask_learning_contracts.enums import DeliveryStatus

from . import rq_host
from .notify_support import bodies
from .test_ratelimit_redis import redis_answers

REDIS_URL = os.environ.get("LEARNING_CONTRACTS_TEST_RQ_REDIS_URL", "redis://127.0.0.1:6379/5")
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.skipif(not redis_answers(), reason="no Redis on 127.0.0.1:6379"), pytest.mark.slow]


@pytest.fixture
def queue_name():
    from redis import Redis
    from rq import Queue

    name = f"lc-test-{uuid.uuid4().hex[:12]}"
    yield name
    redis = Redis.from_url(REDIS_URL)
    Queue(name, connection=redis).delete(delete_jobs=True)
    for key in redis.scan_iter(f"rq:*{name}*"):  # its registries (finished jobs and results expire by themselves)
        redis.delete(key)


def queued_jobs(name: str) -> int:
    from redis import Redis
    from rq import Queue

    return len(Queue(name, connection=Redis.from_url(REDIS_URL)))


def messages_in(folder: Path) -> list[email.message.EmailMessage]:
    """The messages Flask-Mailman's file backend wrote (each followed by a line of 79 dashes)."""
    found = []
    for path in sorted(folder.glob("*.log")):
        for chunk in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
            if chunk.strip():
                found.append(email.message_from_bytes(chunk, policy=email.policy.default))
    return found


def run_worker(command: list[str], db_url: str, queue: str, mail_dir: Path) -> str:
    env = {**os.environ, "FLASK_APP": "tests.rq_host:create_app()", "PYTHONPATH": str(ROOT),
           "LC_RQ_DATABASE_URL": db_url, "LC_RQ_REDIS_URL": REDIS_URL, "LC_RQ_QUEUE": queue,
           "LC_RQ_MAIL_DIR": str(mail_dir)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_queued_notifications_are_sent_by_a_real_rq_worker(app, db, m, make_contract, make_user, make_course,
                                                           queue_name, tmp_path):
    mail_dir = tmp_path / "mail"
    rq_host.configure(app, REDIS_URL, queue_name, str(mail_dir))
    contract = make_contract(ContractType.VOUCHER, title="Acme", activities=[make_course("Safety")])
    learners = [make_user(f"rq{i}@example.com") for i in range(3)]
    first = services.invite(contract, users=learners).invited[0].invitation_id
    assert queued_jobs(queue_name) == 1  # one job for the batch, queued after the commit
    assert {n.status for n in db.session.execute(sa.select(m.Notification)).scalars()} == {DeliveryStatus.PENDING}
    assert not mail_dir.exists() or not list(mail_dir.iterdir())  # the request sent nothing
    db_url, code = db.engine.url.render_as_string(hide_password=False), format_code(contract.invitation_code)
    db.session.remove()

    run_worker([str(BIN / "rq"), "worker", "--burst", "--url", REDIS_URL, "--path", str(ROOT),
                "-w", "rq.SimpleWorker", queue_name], db_url, queue_name, mail_dir)

    received = messages_in(mail_dir)
    assert sorted(str(msg["To"]) for msg in received) == ["rq0@example.com", "rq1@example.com", "rq2@example.com"]
    text, html = bodies(received[0])
    assert code in text and f"{rq_host.SITE}/learning-contracts/" in text and code in html
    db.session.rollback()
    assert {n.status for n in db.session.execute(sa.select(m.Notification)).scalars()} == {DeliveryStatus.SENT}
    assert queued_jobs(queue_name) == 0

    # a resend, sent by the extension's own worker command (RQ's SimpleWorker inside the app)
    invitation = services.get_invitation(first)
    services.resend(invitation)
    assert queued_jobs(queue_name) == 1
    db.session.remove()
    run_worker([str(BIN / "flask"), "contracts", "worker", "--burst"], db_url, queue_name, mail_dir)
    subjects = [str(msg["Subject"]) for msg in messages_in(mail_dir)]
    assert subjects.count("Your invitation to Acme") == 1
    assert services.get_invitation(first).send_count == 2
