"""A second bench host, one the extension was never tuned on: it overrides the per-invitation hooks and answers
the user look-up in chunks, as a host whose users live behind a paginated API or a query builder does.

* ``find_users_by_email`` looks users up 100 addresses at a time (one query per chunk), case-insensitively.
* ``send_invitation`` builds a mail job per invitation from its fields and its contract (the code only
  when the invitation needs it), the way a host with its own mailer queues one job per learner.
* ``is_enrolled_in_activity`` asks the host's own enrollment table (one query per call).

Everything else (tables, users, activities, login) is ``bench/host.py``'s: only the rules differ, so the two
hosts run in the same process on the same database.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from bench.host import ActivityEnrollment, BenchRules, Member, db

CHUNK = 100


class HookedRules(BenchRules):
    """Per-invitation hooks and a chunked user look-up (see the module's docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[dict[str, Any]] = []
        self.lookups = 0

    def find_users_by_email(self, emails: Iterable[str]) -> dict[str, Any]:
        wanted = sorted({e.lower() for e in emails})
        found: dict[str, Any] = {}
        for i in range(0, len(wanted), CHUNK):
            chunk = wanted[i:i + CHUNK]
            self.lookups += 1
            for member in db.session.execute(
                    sa.select(Member).where(sa.func.lower(Member.email).in_(chunk))).scalars():
                found[member.email.lower()] = member
        return found

    def send_invitation(self, invitation: Any, resend: bool = False) -> None:
        contract = invitation.contract
        job = {"to": invitation.email, "subject": f"You are invited: {contract.title}", "contract": contract.code,
               "resend": resend}
        if invitation.require_code:
            job["code"] = contract.invitation_code
        self.jobs.append(job)  # a real host enqueues a mail job here

    def is_enrolled_in_activity(self, user: Any, activity: Any) -> bool:
        return db.session.execute(sa.select(ActivityEnrollment.id).where(
            ActivityEnrollment.member_id == user.id, ActivityEnrollment.activity_id == activity.id).limit(1)
        ).first() is not None
