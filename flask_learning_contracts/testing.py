"""Helpers for hosts' own tests of their learning-contract integration."""
from __future__ import annotations

import datetime as dt
import io

from .rules import ActivityT, ContractRules, UserT


class FrozenClockRules(ContractRules[UserT, ActivityT]):
    """A ``ContractRules`` mixin whose clock stands still until a test moves it.

    ``class TestRules(FrozenClockRules, MyRules): ...`` then ``rules.travel_to(date(2026, 12, 31))``
    (typed hosts: ``FrozenClockRules[User, Course]``).
    """

    clock: dt.datetime = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc)

    def now(self) -> dt.datetime:
        return self.clock

    def travel_to(self, moment: dt.date | dt.datetime) -> None:
        """Set the clock to ``moment`` (a date means noon UTC that day)."""
        if not isinstance(moment, dt.datetime):
            moment = dt.datetime(moment.year, moment.month, moment.day, 12, 0, tzinfo=dt.timezone.utc)
        self.clock = moment


def csv_stream(*emails: str, header: str | None = None) -> io.BytesIO:
    """A binary stream of an invitation CSV with one e-mail per line, for ``services.invite_csv``."""
    lines = ([header] if header else []) + list(emails)
    return io.BytesIO("\n".join(lines).encode("utf-8"))
