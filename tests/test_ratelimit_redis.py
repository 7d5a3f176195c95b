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
    namespace = f"lc-test-{uuid.uuid4()}"
    worker_a = CodeAttemptLimiter("3 per minute", REDIS_URL, namespace=namespace)
    worker_b = CodeAttemptLimiter("3 per minute", REDIS_URL, namespace=namespace)  # another process, same storage
    learner, other_learner = "learner", "other-learner"
    ip, other_ip = "10.0.0.1", "10.0.0.2"

    for _ in range(3):
        assert worker_a.reserve(learner, ip) is not None  # three wrong codes, kept

    assert worker_b.reserve(learner, other_ip) is None  # the learner is blocked on every worker and address
    assert worker_b.reserve(other_learner, ip) is None  # and so is their address
    assert worker_b.reserve(other_learner, other_ip) is not None  # everyone else is not


def test_a_released_attempt_is_given_back_on_every_worker():
    namespace = f"lc-test-{uuid.uuid4()}"
    worker_a = CodeAttemptLimiter("2 per minute", REDIS_URL, namespace=namespace)
    worker_b = CodeAttemptLimiter("2 per minute", REDIS_URL, namespace=namespace)
    held = [worker_a.reserve("learner", "10.0.0.1") for _ in range(2)]
    assert worker_b.reserve("learner", "10.0.0.1") is None  # both attempts held
    worker_a.release(held[0])  # that code was right
    again = worker_b.reserve("learner", "10.0.0.1")
    assert again is not None and worker_a.reserve("learner", "10.0.0.1") is None
    # A refused reservation holds nothing: the IP is free for another learner, not the learner elsewhere.
    assert worker_b.reserve("learner", "10.0.0.9") is None
    assert worker_b.reserve("other", "10.0.0.9") is not None


# ---------------------------------------------------------------------------------------------
# many worker processes at once (issue 14, item 6)
# ---------------------------------------------------------------------------------------------
LIMIT = "10 per 10 minutes"


@pytest.mark.slow
@pytest.mark.parametrize("processes, shared, evaluation_ms", [
    (16, "learner", 20), (32, "ip", 20), (32, "learner", 0),
], ids=["16-one-learner-slow-db", "32-one-ip-slow-db", "32-one-learner"])
def test_wrong_codes_from_many_processes_never_exceed_the_limit(app, db, processes, shared, evaluation_ms):
    """``processes`` workers sharing Redis each post 2 wrong codes at the same moment, all as one learner (from
    as many addresses) or all from one address (as 4 learners). Exactly 10 wrong codes are evaluated (answered
    with the form again); every other attempt is refused with 429 before its code is looked at."""
    from . import race
    from .test_concurrency import _learners, _release

    learners = [u.id for u in _learners(db, 4, f"limit-{shared}-")]
    ip = f"10.{uuid.uuid4().int % 250}.0.1"
    namespace = f"lc-test-{uuid.uuid4()}"
    url = _release(db)

    reports = race.run("wrong_codes", url, processes, lambda w: {
        "user_id": learners[0] if shared == "learner" else learners[w % 4],
        "ip": f"10.1.{w}.1" if shared == "learner" else ip,
        "attempts": 2, "limit": LIMIT, "storage_uri": REDIS_URL, "namespace": namespace,
        "evaluation_ms": evaluation_ms}, timeout=180)

    statuses = [status for report in reports for status in report["statuses"]]
    evaluated, refused = statuses.count(302), statuses.count(429)
    assert (evaluated, refused) == (10, 2 * processes - 10), statuses
