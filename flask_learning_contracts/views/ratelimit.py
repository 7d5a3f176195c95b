"""Wrong invitation codes, counted per learner and per IP: never more than the limit evaluated per window.

**Count first, then evaluate.** Before a code is looked at, the view calls :meth:`CodeAttemptLimiter.reserve`,
which takes one attempt from the learner's counter and one from the IP's, each in a single atomic step that
checks the window and records the attempt together: simultaneous requests (threads, worker processes sharing
Redis) cannot all pass a check made before any of them was counted. A wrong code keeps its attempt; anything
else gives it back with :meth:`CodeAttemptLimiter.release` (only failed attempts count, so a correct code —
by this learner or by anyone else from the address — costs nothing). While a correct code is being checked
its attempt is still held: with the window nearly full, an attempt at that very moment may be refused early;
an attempt over the limit is never evaluated.

Once either counter holds ``LEARNING_CONTRACTS_CODE_ATTEMPTS_LIMIT`` attempts (default ``10 per 10 minutes``,
a moving window) the learner — and anyone else from that IP — gets HTTP 429 until the oldest one is older
than the window.

Why not the ``limits`` library's moving window alone: it cannot give one attempt back (its entries are
anonymous timestamps, and ``clear`` would forget every failure, letting anyone who knows one valid code
reset their counter). So each counter here is a moving window of *named* attempts: on Redis a sorted set
(member: the attempt's id, score: the Redis server's clock) changed by one Lua script, so the check and the
insert are one step for every process sharing that Redis; with ``memory://`` the same structure in a dict
under a lock (one process; its threads share it). ``limits`` still parses the limit and the storage URI
(``LEARNING_CONTRACTS_RATELIMIT_STORAGE_URI``: ``memory://`` counts per process; use ``redis://…`` — any Redis
URI ``limits`` accepts; each script call touches one key, as Redis Cluster requires — when the app runs in
several worker processes). Behind a proxy, wrap the app in Werkzeug's ``ProxyFix`` so ``request.remote_addr``
is the learner's address.
"""
from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from typing import Any

from limits import parse
from limits.storage import MemoryStorage, RedisStorage, storage_from_string

from ..rules import HostKey

#: Key namespace of the counters (sorted sets: not the key names of the earlier ``limits`` lists).
NAMESPACE = "learning-contracts-code-attempts"

#: One counter: drop attempts older than the window, refuse when ``limit`` remain, else add this one.
_RESERVE_SCRIPT = """
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return 1
"""


@dataclasses.dataclass(frozen=True)
class Reservation:
    """One attempt held on the learner's and the IP's counters (give it back with ``release``)."""

    keys: tuple[str, ...]
    attempt: str


class _MemoryCounters:
    """The counters of one process (``memory://``): attempt id → time, per counter, under one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[str, float]] = {}
        self._calls = 0

    def reserve(self, key: str, limit: int, window: float, attempt: str) -> bool:
        now = time.monotonic()
        with self._lock:
            self._calls += 1
            if self._calls % 1000 == 0:  # forget counters whose attempts have all expired
                stale = [k for k, held in self._counters.items() if max(held.values(), default=0.0) <= now - window]
                for name in stale:
                    del self._counters[name]
            held = self._counters.setdefault(key, {})
            for old in [a for a, at in held.items() if at <= now - window]:
                del held[old]
            if len(held) >= limit:
                return False
            held[attempt] = now
            return True

    def release(self, key: str, attempt: str) -> None:
        with self._lock:
            held = self._counters.get(key)
            if held is not None:
                held.pop(attempt, None)
                if not held:
                    del self._counters[key]

    def reset(self) -> None:
        with self._lock:
            self._counters.clear()


class _RedisCounters:
    """Counters shared by every process using the same Redis (keys under ``limits``' prefix, so the storage's
    ``reset`` clears them too)."""

    def __init__(self, storage: Any) -> None:
        self.storage = storage
        self.client: Any = storage.storage  # the redis-py client ``limits`` built from the URI
        self.script = self.client.register_script(_RESERVE_SCRIPT)

    def reserve(self, key: str, limit: int, window: float, attempt: str) -> bool:
        return bool(self.script(keys=[key], args=[int(window * 1000), limit, attempt]))

    def release(self, key: str, attempt: str) -> None:
        self.client.zrem(key, attempt)

    def reset(self) -> None:
        self.storage.reset()


class CodeAttemptLimiter:
    """Per-app wrong-code counters (kept on ``app.extensions["learning_contracts"].limiter``)."""

    def __init__(self, limit: str, storage_uri: str, *, namespace: str = NAMESPACE) -> None:
        self.item = parse(limit)
        self.namespace = namespace
        storage = storage_from_string(storage_uri)
        self._prefix: Any = None
        if isinstance(storage, RedisStorage):
            self._counters: _MemoryCounters | _RedisCounters = _RedisCounters(storage)
            self._prefix = storage.prefixed_key
        elif isinstance(storage, MemoryStorage):
            self._counters = _MemoryCounters()
        else:
            raise ValueError(
                f"LEARNING_CONTRACTS_RATELIMIT_STORAGE_URI {storage_uri.split('://')[0]}:// cannot count wrong "
                "codes: use memory:// (one process) or a Redis URI such as redis://host:6379/0 (several).")

    def _keys(self, user_key: HostKey, ip: str | None) -> tuple[str, ...]:
        keys = (self.item.key_for(self.namespace, "user", str(user_key)),
                self.item.key_for(self.namespace, "ip", ip or "unknown"))
        return tuple(self._prefix(k) for k in keys) if self._prefix else keys

    def reserve(self, user_key: HostKey, ip: str | None) -> Reservation | None:
        """Count one attempt against the learner and against the IP, before its code is evaluated.

        Returns the reservation, or ``None`` (nothing counted) when either counter already holds the limit:
        then the attempt must be refused without looking at the code."""
        attempt, window = uuid.uuid4().hex, float(self.item.get_expiry())
        taken: list[str] = []
        for key in self._keys(user_key, ip):
            if not self._counters.reserve(key, self.item.amount, window, attempt):
                for held in taken:
                    self._counters.release(held, attempt)
                return None
            taken.append(key)
        return Reservation(tuple(taken), attempt)

    def release(self, reservation: Reservation) -> None:
        """Give a reserved attempt back: its code was right (or was refused for another reason than being
        wrong), so it does not count."""
        for key in reservation.keys:
            self._counters.release(key, reservation.attempt)

    def reset(self) -> None:
        """Forget every counter (tests; an operator after an incident)."""
        self._counters.reset()
