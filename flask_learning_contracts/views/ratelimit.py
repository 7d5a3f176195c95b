"""Wrong invitation codes, counted per learner and per IP with the ``limits`` library (Flask-Limiter's engine).

Only failures count: a view asks :meth:`CodeAttemptLimiter.allowed` before trying a code and calls
:meth:`CodeAttemptLimiter.record_failure` when the code was wrong. Once either counter is over
``LEARNING_CONTRACTS_CODE_ATTEMPTS_LIMIT`` (default ``10 per 10 minutes``, a moving window) the
learner — and anyone else from that IP — gets HTTP 429 until the window passes. Storage comes from
``LEARNING_CONTRACTS_RATELIMIT_STORAGE_URI``: ``memory://`` counts per process; use ``redis://…`` when
the app runs in several worker processes. Behind a proxy, wrap the app in Werkzeug's ``ProxyFix`` so
``request.remote_addr`` is the learner's address.
"""
from __future__ import annotations

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from ..rules import HostKey

NAMESPACE = "learning-contracts-code"


class CodeAttemptLimiter:
    """Per-app wrong-code counters (kept on ``app.extensions["learning_contracts"].limiter``)."""

    def __init__(self, limit: str, storage_uri: str) -> None:
        self.item = parse(limit)
        self.storage = storage_from_string(storage_uri)
        self.strategy = MovingWindowRateLimiter(self.storage)

    @staticmethod
    def _keys(user_key: HostKey, ip: str | None) -> list[tuple[str, str]]:
        return [("user", str(user_key)), ("ip", ip or "unknown")]

    def allowed(self, user_key: HostKey, ip: str | None) -> bool:
        """Whether one more wrong code would still be within the limit for this learner and this IP."""
        return all(self.strategy.test(self.item, NAMESPACE, kind, value) for kind, value in self._keys(user_key, ip))

    def record_failure(self, user_key: HostKey, ip: str | None) -> None:
        """Count one wrong code against the learner and against the IP."""
        for kind, value in self._keys(user_key, ip):
            self.strategy.hit(self.item, NAMESPACE, kind, value)

    def reset(self) -> None:
        """Forget every counter (tests; an operator after an incident)."""
        self.storage.reset()
