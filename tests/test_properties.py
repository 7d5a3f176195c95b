"""A stateful property test: random sequences of ``services`` calls against a small in-memory model.

The machine creates contracts (Voucher and Subscription, seats, per-user limit, require-code flag, period),
edits seats and period, adds, imports and removes activities, invites (users, e-mails, a CSV file), revokes,
resends, redeems the code (the current one, an old one, a wrong one), enrolls, regenerates the code, signs
people up (and links their invitations), changes a person's address on the host (an address changes hands),
deletes contracts, forgets people (then the host deletes them) and moves the clock. The model predicts each
call's outcome: a success, or the exact refusal (a ``LearningContractError`` subclass). Any other exception
fails the test, and so does a refusal the model did not predict, or a success it did not.

After every step: seats used equals the seat rows and never exceeds the seats; the per-user limit holds;
every invitation (its status, its learner) and every enrollment matches the model; ``services.reconcile``
(``flask contracts check``) is clean.

Size: ``LC_PROPERTY_EXAMPLES`` examples (default 30) of up to ``LC_PROPERTY_STEPS`` steps (default 25). No
fixed seed: every run hunts somewhere new; Hypothesis prints the failing sequence, shrunk. A long hunt:
``LC_PROPERTY_EXAMPLES=1000 pytest tests/test_properties.py``.
"""
from __future__ import annotations

import collections
import copy
import dataclasses
import datetime as dt
import io
import itertools
import os

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, settings, strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from flask_learning_contracts import ContractType, InvitationStatus, errors, services

from . import host

EXAMPLES = int(os.environ.get("LC_PROPERTY_EXAMPLES", "30"))
STEPS = int(os.environ.get("LC_PROPERTY_STEPS", "25"))
#: ``LC_PROPERTY_SHRINK=0`` reports the first failing sequence as found (quicker while hunting; not shrunk).
SHRINK = os.environ.get("LC_PROPERTY_SHRINK", "1") != "0"

S = InvitationStatus
VOUCHER, SUBSCRIPTION = ContractType.VOUCHER, ContractType.SUBSCRIPTION
BASE = dt.date(2026, 6, 15)
ADDRESSES = [f"p{i}@example.org" for i in range(4)]
COURSES = 3

#: What the runs did: "rule outcome" → how many times (printed by the test, shown with ``pytest -s``).
OUTCOMES: collections.Counter[str] = collections.Counter()


def _caller() -> str:
    import sys
    frame = sys._getframe(2)
    while frame.f_code.co_name.startswith("_"):
        frame = frame.f_back
    return frame.f_code.co_name


Learner = tuple[str, object]  # ("u", host user id) or ("p", pseudonym)


@dataclasses.dataclass
class MContract:
    id: int
    type: ContractType
    seats: int
    limit: int
    require: bool
    start: dt.date
    end: dt.date
    code: str
    activities: set[int] = dataclasses.field(default_factory=set)
    old_codes: list[str] = dataclasses.field(default_factory=list)
    seats_used: int = 0
    seat_holders: set[Learner] = dataclasses.field(default_factory=set)  # Subscription
    enrolled: dict[Learner, set[int]] = dataclasses.field(default_factory=dict)

    def active(self, today: dt.date) -> bool:
        return self.start <= today <= self.end


@dataclasses.dataclass
class MInvitation:
    id: int
    contract_id: int
    learner: Learner | None
    email: str
    status: InvitationStatus
    require: bool
    redeemed: bool = False
    fixed: set[int] = dataclasses.field(default_factory=set)  # Voucher
    enrolled_count: int = 0


@dataclasses.dataclass
class World:
    """What should be true."""

    today: dt.date = BASE
    contracts: dict[int, MContract] = dataclasses.field(default_factory=dict)
    invitations: dict[int, MInvitation] = dataclasses.field(default_factory=dict)
    users: dict[int, str] = dataclasses.field(default_factory=dict)  # host user id -> current address

    def holder(self, email: str) -> int | None:
        return next((uid for uid, address in self.users.items() if address == email), None)

    def live_of(self, contract_id: int, learner: Learner) -> MInvitation | None:
        return next((i for i in self.invitations.values() if i.contract_id == contract_id and i.learner == learner
                     and i.status is not S.REVOKED), None)

    def revoked_for(self, contract_id: int, uid: int) -> bool:
        email = self.users[uid]
        return any(i.contract_id == contract_id and i.status is S.REVOKED
                   and (i.learner == ("u", uid) or (i.learner is None and i.email == email))
                   for i in self.invitations.values())

    def link(self, uid: int) -> list[int]:
        """``link_registered_user``: Not Registered invitations to the user's address become theirs (merged
        into their live invitation of the same contract if they have one). Returns the linked ids."""
        linked = []
        for inv in sorted(self.invitations.values(), key=lambda i: i.id):
            if inv.status is not S.NOT_REGISTERED or inv.learner is not None or inv.email != self.users[uid]:
                continue
            existing = self.live_of(inv.contract_id, ("u", uid))
            if existing is None:
                inv.learner, inv.status = ("u", uid), S.OUTSTANDING
                linked.append(inv.id)
            else:
                if self.contracts[inv.contract_id].type is VOUCHER:
                    existing.fixed |= inv.fixed
                del self.invitations[inv.id]
        return linked

    def enroll(self, uid: int, contract_id: int, activity: int) -> type[errors.LearningContractError] | None:
        """One enrollment decided as the services decide it; the world changes only on success."""
        c, learner = self.contracts[contract_id], ("u", uid)
        inv = self.live_of(contract_id, learner)
        if inv is None:
            return errors.InvitationRevoked if self.revoked_for(contract_id, uid) else errors.NotInvited
        if activity in c.enrolled.get(learner, set()):
            return None  # idempotent, whatever the date
        if not c.active(self.today):
            return errors.ContractNotActive
        if inv.require and not inv.redeemed:
            return errors.CodeRequired
        covered = activity in c.activities and (c.type is SUBSCRIPTION or activity in inv.fixed)
        if not covered:
            return errors.ActivityNotInInvitation
        if c.limit and inv.enrolled_count >= c.limit:
            return errors.PerUserLimitReached
        seat_needed = c.type is VOUCHER or learner not in c.seat_holders
        if seat_needed and c.seats_used >= c.seats:
            return errors.NoSeatsAvailable
        if seat_needed:
            c.seats_used += 1
            if c.type is SUBSCRIPTION:
                c.seat_holders.add(learner)
        c.enrolled.setdefault(learner, set()).add(activity)
        inv.enrolled_count += 1
        inv.status = S.ENROLLED
        return None


# Refusals the enrollment explains by linking the learner's Not Registered invitations and deciding again.
_LINK_THEN_RETRY = (errors.NotInvited, errors.InvitationRevoked, errors.ActivityNotInInvitation)


class Refused(Exception):
    """The model's prediction of a refusal (raised inside a prediction, so that its changes are dropped)."""

    def __init__(self, error: type[errors.LearningContractError]) -> None:
        self.error = error


class ContractsMachine(RuleBasedStateMachine):
    app = None  # set by the test

    def __init__(self) -> None:
        super().__init__()
        db = host.db
        db.session.remove()
        with db.engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):
                connection.execute(table.delete())
        self.rules = self.app.extensions["learning_contracts"].rules
        self.rules.set_today(BASE)
        self.rules.sent.clear()
        courses = [host.Course(title=f"Course {i}") for i in range(COURSES)]
        db.session.add_all(courses)
        db.session.commit()
        self.courses = [c.id for c in courses]
        self.world = World()
        self.codes = itertools.count(1)

    # -- helpers --------------------------------------------------------------------------------------
    def call(self, predicted: type[errors.LearningContractError] | None, work):
        """Run ``work()``; the outcome must be the predicted refusal, or a success when ``None``."""
        try:
            result = work()
            OUTCOMES[f"{_caller()} ok"] += 1
        except errors.LearningContractError as error:
            OUTCOMES[f"{_caller()} {type(error).__name__}"] += 1
            assert predicted is not None and type(error) is predicted, (
                f"refused with {type(error).__name__} ({error}); the model predicted "
                f"{predicted.__name__ if predicted else 'success'}")
            return Refused(predicted)
        assert predicted is None, f"succeeded; the model predicted {predicted.__name__}"
        return result

    def predict(self, decide):
        """Run ``decide(world_copy)`` on a copy of the world: ``(None, copy)`` when it succeeds (the caller
        adopts the copy once the services agree), ``(error, None)`` when it predicts a refusal."""
        world = copy.deepcopy(self.world)
        try:
            decide(world)
        except Refused as refusal:
            return refusal.error, None
        return None, world

    def contract(self, cid: int):
        return services.get_contract(cid)

    def user(self, uid: int):
        return host.db.session.get(host.Account, uid)

    def pick(self, items, index: int):
        items = sorted(items)
        return items[index % len(items)]

    def live_contracts(self) -> list[int]:
        return sorted(self.world.contracts)

    def free_addresses(self) -> list[str]:
        return [a for a in ADDRESSES if self.world.holder(a) is None]

    # -- contracts ------------------------------------------------------------------------------------
    def _create(self, voucher, seats, limit, require, start, length, activities) -> None:
        kind = VOUCHER if voucher else SUBSCRIPTION
        valid_from = BASE + dt.timedelta(days=start)
        valid_until = valid_from + dt.timedelta(days=length)
        contract = services.create_contract(
            code=f"P{next(self.codes)}", title="Property", contract_type=kind, seats=seats, per_user_limit=limit,
            require_invitation_code=require, valid_from=valid_from, valid_until=valid_until)
        model = MContract(contract.id, kind, seats, limit, require, valid_from, valid_until, contract.invitation_code)
        self.world.contracts[contract.id] = model
        if activities:
            ids = [self.courses[i] for i in sorted(activities)]
            added = services.add_activities(self.contract(contract.id), ids)
            assert sorted(a.id for a in added) == sorted(ids)
            model.activities |= set(ids)

    @initialize(voucher=st.booleans(), seats=st.integers(1, 3), limit=st.integers(0, 2), require=st.booleans(),
                activities=st.sets(st.integers(0, COURSES - 1), min_size=1))
    def first_contract(self, voucher, seats, limit, require, activities):
        """Every run starts with an active contract that has activities and seats (and the other type next)."""
        self._create(voucher, seats, limit, require, -5, 60, activities)
        self._create(not voucher, seats, limit, not require, -5, 60, activities)

    @initialize(people=st.integers(1, 3))
    def first_people(self, people):
        for address in ADDRESSES[:people]:
            account = host.Account(email_address=address)
            host.db.session.add(account)
            host.db.session.commit()
            self.world.users[account.id] = address

    @precondition(lambda self: len(self.world.contracts) < 3)
    @rule(voucher=st.booleans(), seats=st.integers(0, 4), limit=st.integers(0, 2), require=st.booleans(),
          start=st.integers(-20, 10), length=st.integers(0, 90), activities=st.sets(st.integers(0, COURSES - 1)))
    def create_contract(self, voucher, seats, limit, require, start, length, activities):
        self._create(voucher, seats, limit, require, start, length, activities)

    @precondition(lambda self: self.world.contracts)
    @rule(which=st.integers(0, 3), seats=st.integers(0, 5))
    def edit_seats(self, which, seats):
        c = self.world.contracts[self.pick(self.world.contracts, which)]
        predicted = errors.ValidationError if seats < c.seats_used else None
        self.call(predicted, lambda: services.update_contract(self.contract(c.id), seats=seats))
        if predicted is None:
            c.seats = seats

    @precondition(lambda self: self.world.contracts)
    @rule(which=st.integers(0, 3), start=st.integers(-30, 30), length=st.integers(-3, 60))
    def edit_period(self, which, start, length):
        c = self.world.contracts[self.pick(self.world.contracts, which)]
        valid_from = BASE + dt.timedelta(days=start)
        valid_until = valid_from + dt.timedelta(days=length)
        predicted = errors.ValidationError if valid_until < valid_from else None
        self.call(predicted, lambda: services.update_contract(self.contract(c.id), valid_from=valid_from,
                                                              valid_until=valid_until))
        if predicted is None:
            c.start, c.end = valid_from, valid_until

    @precondition(lambda self: self.world.contracts)
    @rule(which=st.integers(0, 3), activities=st.sets(st.integers(0, COURSES - 1), min_size=1))
    def add_activities(self, which, activities):
        c = self.world.contracts[self.pick(self.world.contracts, which)]
        ids = {self.courses[i] for i in activities}
        added = services.add_activities(self.contract(c.id), sorted(ids))
        assert {a.id for a in added} == ids - c.activities
        c.activities |= ids

    @precondition(lambda self: self.world.contracts)
    @rule(which=st.integers(0, 3), source=st.integers(0, 3))
    def import_activities(self, which, source):
        c = self.world.contracts[self.pick(self.world.contracts, which)]
        s = self.world.contracts[self.pick(self.world.contracts, source)]
        predicted = errors.ValidationError if s.id == c.id else None
        added = self.call(predicted, lambda: services.import_activities(self.contract(c.id), self.contract(s.id)))
        if predicted is None:
            assert {a.id for a in added} == s.activities - c.activities
            c.activities |= s.activities

    @precondition(lambda self: self.world.contracts)
    @rule(which=st.integers(0, 3), activity=st.integers(0, COURSES - 1))
    def remove_activity(self, which, activity):
        c = self.world.contracts[self.pick(self.world.contracts, which)]
        aid = self.courses[activity]
        predicted = None if aid in c.activities else errors.ValidationError
        self.call(predicted, lambda: services.remove_activity(self.contract(c.id), aid))
        if predicted is None:
            c.activities.discard(aid)
            for inv in self.world.invitations.values():
                if inv.contract_id == c.id:
                    inv.fixed.discard(aid)

    @precondition(lambda self: self.world.contracts)
    @rule(which=st.integers(0, 3))
    def regenerate_code(self, which):
        c = self.world.contracts[self.pick(self.world.contracts, which)]
        code = services.regenerate_code(self.contract(c.id))
        assert code != c.code
        c.old_codes.append(c.code)
        c.code = code

    @precondition(lambda self: len(self.world.contracts) >= 2)
    @rule(which=st.integers(0, 3))
    def delete_contract(self, which):
        cid = self.pick(self.world.contracts, which)
        services.delete_contract(self.contract(cid))
        del self.world.contracts[cid]
        self.world.invitations = {k: i for k, i in self.world.invitations.items() if i.contract_id != cid}
        with pytest.raises(errors.ValidationError):
            services.get_contract(cid)

    # -- people ---------------------------------------------------------------------------------------
    @precondition(lambda self: self.free_addresses())
    @rule(address=st.integers(0, len(ADDRESSES) - 1), link=st.booleans())
    def sign_up(self, address, link):
        """A person signs up with a free address; the host may call the sign-up hook at once."""
        email = self.pick(self.free_addresses(), address)
        account = host.Account(email_address=email)
        host.db.session.add(account)
        host.db.session.commit()
        self.world.users[account.id] = email
        if link:
            linked = services.link_registered_user(self.user(account.id))
            assert sorted(i.id for i in linked) == sorted(self.world.link(account.id))

    @precondition(lambda self: self.world.users and self.free_addresses())
    @rule(who=st.integers(0, 5), address=st.integers(0, len(ADDRESSES) - 1))
    def change_address(self, who, address):
        """The host changes a person's address: the old one is free for someone else."""
        uid = self.pick(self.world.users, who)
        email = self.pick(self.free_addresses(), address)
        account = self.user(uid)
        account.email_address = email
        host.db.session.commit()
        self.world.users[uid] = email

    @precondition(lambda self: self.world.users)
    @rule(who=st.integers(0, 5))
    def learner_pages(self, who):
        """The learner pages: ``invitations_for`` links lazily, then lists the live invitations."""
        uid = self.pick(self.world.users, who)
        shown = services.invitations_for(self.user(uid))
        self.world.link(uid)
        expected = {i.id for i in self.world.invitations.values()
                    if i.learner == ("u", uid) and i.status is not S.REVOKED}
        assert {i.id for i in shown} == expected

    @precondition(lambda self: len(self.world.users) >= 2)
    @rule(who=st.integers(0, 5))
    def forget_user(self, who):
        """``forget_user``, then the host deletes the person."""
        world, uid = self.world, self.pick(self.world.users, who)
        email, learner = world.users[uid], ("u", uid)
        mine = [i for i in world.invitations.values()
                if i.learner == learner or (i.learner is None and i.email == email)]
        holds = any(learner in c.enrolled or learner in c.seat_holders for c in world.contracts.values())
        report = services.forget_user(self.user(uid))
        if report.pseudonym is None:  # (a person named in the history only is forgotten there, with a pseudonym)
            assert not mine and not holds
        else:
            forgotten: Learner = ("p", report.pseudonym)
            for inv in mine:
                if inv.status is not S.REVOKED and inv.enrolled_count == 0:
                    inv.status = S.REVOKED
                inv.learner, inv.email = forgotten, report.placeholder_email
            for c in world.contracts.values():
                if learner in c.enrolled:
                    c.enrolled[forgotten] = c.enrolled.pop(learner)
                if learner in c.seat_holders:
                    c.seat_holders.discard(learner)
                    c.seat_holders.add(forgotten)
            self._assert_scrubbed(email, [i.id for i in mine])
        # the host deletes the person (foreign keys allow it now)
        db = host.db
        db.session.execute(sa.delete(host.CourseEnrollment).where(host.CourseEnrollment.account_id == uid))
        db.session.execute(sa.delete(host.Account).where(host.Account.id == uid))
        db.session.commit()
        del world.users[uid]

    def _assert_scrubbed(self, email: str, invitation_ids: list[int]) -> None:
        """No history entry about the forgotten person's own invitations quotes their address."""
        m = self.app.extensions["learning_contracts"].models
        if not invitation_ids:
            return
        messages = host.db.session.execute(sa.select(m.HistoryEntry.message).where(
            m.HistoryEntry.invitation_id.in_(invitation_ids))).scalars().all()
        assert not [text for text in messages if email in text.lower()], messages

    # -- inviting -------------------------------------------------------------------------------------
    def _invite(self, cid: int, candidates: list[tuple[str, int | None]], activities: list[int] | None,
                work) -> None:
        """Predict an invite of ``candidates`` (address, host user id or None) and check the report."""
        world, c = self.world, self.world.contracts[cid]
        if not c.active(world.today):
            predicted: type[errors.LearningContractError] | None = errors.ContractNotActive
        elif c.type is VOUCHER and (activities is not None and not set(activities) <= c.activities
                                    or not (c.activities if activities is None else activities)):
            predicted = errors.ValidationError
        else:
            predicted = None
        report = self.call(predicted, work)
        if predicted is not None:
            return
        fixed = set(c.activities if activities is None else activities) if c.type is VOUCHER else set()
        seen: set[str] = set()
        expected: list[tuple[str, str]] = []
        created: list[tuple[str, int | None]] = []
        for email, uid in candidates:
            if email in seen:
                expected.append((email, "already_invited"))
                continue
            seen.add(email)
            if uid is None:
                uid = world.holder(email)
            if uid is not None:
                taken = world.live_of(cid, ("u", uid)) is not None
            else:
                taken = any(i.contract_id == cid and i.learner is None and i.email == email
                            and i.status is not S.REVOKED for i in world.invitations.values())
            expected.append((email, "already_invited" if taken else "invited" if uid is not None else "not_registered"))
            if not taken:
                created.append((email, uid))
        got = sorted((r.email, r.outcome) for r in report.invited + report.not_registered + report.already_invited)
        assert got == sorted(expected), report
        by_email = {r.email: r.invitation_id for r in report.invited + report.not_registered}
        for email, uid in created:
            iid = by_email[email]
            assert iid is not None and iid not in world.invitations
            world.invitations[iid] = MInvitation(
                iid, cid, ("u", uid) if uid is not None else None, email,
                S.OUTSTANDING if uid is not None else S.NOT_REGISTERED, c.require, fixed=set(fixed))

    @precondition(lambda self: self.world.contracts)
    @rule(which=st.integers(0, 3), who=st.lists(st.integers(0, 5), max_size=2),
          addresses=st.lists(st.integers(0, len(ADDRESSES) - 1), max_size=2),
          activities=st.none() | st.sets(st.integers(0, COURSES - 1), min_size=1))
    def invite(self, which, who, addresses, activities):
        cid = self.pick(self.world.contracts, which)
        uids = [self.pick(self.world.users, w) for w in who] if self.world.users else []
        emails = [ADDRESSES[a] for a in addresses]
        chosen = None if activities is None else [self.courses[i] for i in sorted(activities)]
        candidates = [(self.world.users[u], u) for u in uids] + [(e, None) for e in emails]
        self._invite(cid, candidates, chosen, lambda: services.invite(
            self.contract(cid), users=[self.user(u) for u in uids], emails=[e.upper() for e in emails],
            activities=chosen))

    @precondition(lambda self: self.world.contracts)
    @rule(which=st.integers(0, 3), addresses=st.lists(st.integers(0, len(ADDRESSES) - 1), min_size=1, max_size=4),
          bad_line=st.booleans())
    def invite_csv(self, which, addresses, bad_line):
        cid = self.pick(self.world.contracts, which)
        emails = [ADDRESSES[a] for a in addresses]
        lines = [f"  {e.upper()} " for e in emails] + (["not an address"] if bad_line else [])
        data = ("\n".join(lines) + "\n").encode()
        self._invite(cid, [(e, None) for e in emails], None,
                     lambda: services.invite_csv(self.contract(cid), io.BytesIO(data)))

    # -- one invitation -------------------------------------------------------------------------------
    @precondition(lambda self: self.world.invitations)
    @rule(which=st.integers(0, 20))
    def revoke(self, which):
        inv = self.world.invitations[self.pick(self.world.invitations, which)]
        predicted = errors.RevokeNotAllowed if inv.status is S.REVOKED or inv.enrolled_count else None
        self.call(predicted, lambda: services.revoke(services.get_invitation(inv.id)))
        if predicted is None:
            inv.status = S.REVOKED

    @precondition(lambda self: self.world.invitations)
    @rule(which=st.integers(0, 20))
    def resend(self, which):
        inv = self.world.invitations[self.pick(self.world.invitations, which)]
        if inv.status is not S.OUTSTANDING:
            predicted: type[errors.LearningContractError] | None = errors.ResendNotAllowed
        elif not self.world.contracts[inv.contract_id].active(self.world.today):
            predicted = errors.ContractNotActive
        else:
            predicted = None
        self.call(predicted, lambda: services.resend(services.get_invitation(inv.id)))

    # -- learners -------------------------------------------------------------------------------------
    @precondition(lambda self: self.world.users and self.world.contracts)
    @rule(who=st.integers(0, 5), which=st.integers(0, 3), code=st.sampled_from(["current", "current", "old", "wrong"]))
    def redeem(self, who, which, code):
        uid = self.pick(self.world.users, who)
        c = self.world.contracts[self.pick(self.world.contracts, which)]
        text = {"current": c.code, "old": c.old_codes[-1] if c.old_codes else "ZZZZ-ZZZZ-ZZZZ",
                "wrong": "ZZZZ-ZZZZ-ZZZZ"}[code]
        text = text if code != "current" else text.lower()  # entered in any case

        def decide(world: World) -> None:
            if code != "current":
                raise Refused(errors.InvalidCode)
            if not c.active(world.today):
                raise Refused(errors.ContractNotActive)
            world.link(uid)
            inv = world.live_of(c.id, ("u", uid))
            if inv is not None:
                inv.redeemed = True
                if inv.status is S.OUTSTANDING:
                    inv.status = S.ACCEPTED
            elif world.revoked_for(c.id, uid):
                raise Refused(errors.InvitationRevoked)

        predicted, world = self.predict(decide)
        invitation = self.call(predicted, lambda: services.redeem_code(self.user(uid), text))
        if predicted is not None:
            return
        if world.live_of(c.id, ("u", uid)) is None:  # never invited: a new Accepted invitation
            assert invitation.id not in world.invitations
            model = world.contracts[c.id]
            world.invitations[invitation.id] = MInvitation(
                invitation.id, c.id, ("u", uid), world.users[uid], S.ACCEPTED, model.require, redeemed=True,
                fixed=set(model.activities) if model.type is VOUCHER else set())
        assert invitation.id == world.live_of(c.id, ("u", uid)).id
        self.world = world

    @precondition(lambda self: self.world.users and self.world.contracts)
    @rule(who=st.integers(0, 5), which=st.integers(0, 3), activity=st.integers(0, COURSES - 1),
          invited=st.booleans())
    def enroll(self, who, which, activity, invited):
        """A learner enrolls (``invited``: one with a live invitation to the contract, when there is one)."""
        cid = self.pick(self.world.contracts, which)
        holders = [u for u in self.world.users if self.world.live_of(cid, ("u", u)) is not None]
        uid = self.pick(holders if invited and holders else self.world.users, who)
        aid = self.courses[activity]
        world = copy.deepcopy(self.world)
        predicted = world.enroll(uid, cid, aid)
        if predicted in _LINK_THEN_RETRY:  # the services link the learner's invitations and decide again
            world = copy.deepcopy(self.world)
            world.link(uid)
            predicted = world.enroll(uid, cid, aid)
        self.call(predicted, lambda: services.enroll(self.user(uid), self.contract(cid), aid))
        if predicted is None:
            self.world = world

    @precondition(lambda self: self.world.users and self.world.contracts)
    @rule(who=st.integers(0, 5), which=st.integers(0, 3), activity=st.integers(0, COURSES - 1))
    def learner_journey(self, who, which, activity):
        """A learner enters the current code, then enrolls (the deep states need both)."""
        self.redeem(who, which, "current")
        self.enroll(who, which, activity, False)

    # the steps that need the most preparation come up more often
    enroll_again = enroll
    enroll_once_more = enroll
    redeem_again = redeem
    invite_again = invite

    # -- time -----------------------------------------------------------------------------------------
    @rule(days=st.sampled_from([1, -1, 3, -3, 10, -10, 40, -40]))
    def move_clock(self, days):
        self.world.today += dt.timedelta(days=days)
        self.rules.set_today(self.world.today)

    # -- invariants -----------------------------------------------------------------------------------
    @invariant()
    def database_matches_the_model(self):
        db, m, world = host.db, self.app.extensions["learning_contracts"].models, self.world
        session = db.session
        session.expire_all()
        contracts = {row.id: row for row in session.execute(
            sa.select(m.Contract.id, m.Contract.seats, m.Contract.seats_used))}
        assert set(contracts) == set(world.contracts)
        seat_rows = dict(session.execute(sa.select(m.Seat.contract_id, sa.func.count()).group_by(m.Seat.contract_id)
                                         ).all())
        enrollments: dict[int, dict[Learner, set[int]]] = {}
        for row in session.execute(sa.select(m.Enrollment.contract_id, m.Enrollment.user_id, m.Enrollment.pseudonym,
                                             m.Enrollment.activity_id)):
            learner = ("u", row.user_id) if row.user_id is not None else ("p", row.pseudonym)
            enrollments.setdefault(row.contract_id, {}).setdefault(learner, set()).add(row.activity_id)
        for cid, c in world.contracts.items():
            row = contracts[cid]
            assert row.seats == c.seats
            assert row.seats_used == c.seats_used == seat_rows.get(cid, 0) <= row.seats, (cid, row, c)
            assert enrollments.get(cid, {}) == {k: v for k, v in c.enrolled.items() if v}, cid
            if c.limit:
                assert all(len(acts) <= c.limit for acts in enrollments.get(cid, {}).values()), cid
        invitations = {}
        for row in session.execute(sa.select(m.Invitation.id, m.Invitation.contract_id, m.Invitation.user_id,
                                             m.Invitation.pseudonym, m.Invitation.status, m.Invitation.email,
                                             m.Invitation.enrolled_count)):
            learner = ("u", row.user_id) if row.user_id is not None else \
                ("p", row.pseudonym) if row.pseudonym is not None else None
            invitations[row.id] = (row.contract_id, learner, row.status, row.email, row.enrolled_count)
        expected = {i.id: (i.contract_id, i.learner, i.status, i.email, i.enrolled_count)
                    for i in world.invitations.values()}
        assert invitations == expected
        summaries = services.seat_summaries([services.get_contract(cid) for cid in sorted(world.contracts)])
        for cid, c in world.contracts.items():
            summary, active = summaries[cid], c.active(world.today)
            expired = world.today > c.end
            assert (summary.seats, summary.used) == (c.seats, c.seats_used)
            assert summary.available == (0 if expired else c.seats - c.seats_used)
            assert summary.expired == (c.seats - c.seats_used if expired else 0)
            by_status = collections.Counter(i.status for i in world.invitations.values() if i.contract_id == cid)
            assert summary.by_status == {status: by_status[status] for status in S}, (cid, active)
        report = services.reconcile()
        assert report.ok, report.mismatches
        session.remove()


@pytest.mark.parametrize("size", [EXAMPLES])
def test_random_sequences_keep_every_guarantee(app, size):
    ContractsMachine.app = app
    if host.db.engine.dialect.name == "sqlite":  # the test's own file: no need to wait for the disk
        sa.event.listen(host.db.engine, "connect", lambda connection, _record: connection.execute(
            "PRAGMA synchronous = OFF"))
        host.db.session.remove()
        host.db.engine.dispose()
    try:
        run_state_machine_as_test(ContractsMachine, settings=settings(
            max_examples=size, stateful_step_count=STEPS, deadline=None, print_blob=True,
            phases=list(Phase) if SHRINK else [p for p in Phase if p is not Phase.shrink],
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]))
    finally:
        ContractsMachine.app = None
        print("\n".join(f"{n:6} {what}" for what, n in sorted(OUTCOMES.items())))
