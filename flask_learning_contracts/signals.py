"""Blinker signals the host can subscribe to. Each is sent after the change was committed.

Senders are the Flask app; keyword arguments name the objects involved.
"""
from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: ``contract`` and ``actor``.
contract_created = _signals.signal("learning-contracts.contract-created")
#: ``invitation`` and ``actor``; sent once per new invitation (bulk invites too).
invitation_created = _signals.signal("learning-contracts.invitation-created")
#: ``invitation`` and ``actor``.
invitation_revoked = _signals.signal("learning-contracts.invitation-revoked")
#: ``invitation`` and ``user``.
code_redeemed = _signals.signal("learning-contracts.code-redeemed")
#: ``enrollment``, ``user`` and ``seat_used`` (``False`` for a Subscription learner's later activities).
enrollment_created = _signals.signal("learning-contracts.enrollment-created")
#: ``contract``, ``user`` and ``enrollment``: one seat of the contract was consumed.
seat_used = _signals.signal("learning-contracts.seat-used")
