"""Wrong-code counters shared by several worker processes through Redis (skipped when no Redis answers)."""
from __future__ import annotations

import os
import socket
import uuid

import pytest

from flask_learning_contracts.views.ratelimit import CodeAttemptLimiter

REDIS_URL = os.environ.get("LEARNING_CONTRACTS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not redis_answers(), reason="no Redis on 127.0.0.1:6379")


def test_two_workers_share_the_wrong_code_counters_through_redis():
    worker_a = CodeAttemptLimiter("3 per minute", REDIS_URL)
    worker_b = CodeAttemptLimiter("3 per minute", REDIS_URL)  # another process, same storage
    learner, other_learner = f"learner-{uuid.uuid4()}", f"learner-{uuid.uuid4()}"
    ip, other_ip = f"10.0.0.{uuid.uuid4().int % 250}", f"ip-{uuid.uuid4()}"

    for _ in range(3):
        assert worker_a.allowed(learner, ip)
        worker_a.record_failure(learner, ip)

    assert not worker_b.allowed(learner, other_ip)  # the learner is blocked on every worker and address
    assert not worker_b.allowed(other_learner, ip)  # and so is their address
    assert worker_b.allowed(other_learner, other_ip)  # everyone else is not
