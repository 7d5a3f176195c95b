"""Hooks and signals receive immutable records built from the rows just written, never ORM objects reloaded for
them; hosts that read the models' attribute names keep working unchanged."""
from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa

from flask_learning_contracts import (
    ContractRecord,
    ContractType,
    EnrollmentRecord,
    InvitationRecord,
    InvitationStatus,
    services,
    signals,
)

from . import host
from .conftest import invite_one
from .notify_support import use_rules
from .views_support import count_queries

VOUCHER, SUBSCRIPTION = ContractType.VOUCHER, ContractType.SUBSCRIPTION


class OldHost(host.HostRules):
    """A host written against the ORM objects: its hooks read the models' attribute names."""

    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[dict] = []
        self.received: list[object] = []
        self.enrolled: list[tuple[object, object, object]] = []

    def send_invitation(self, invitation, resend: bool = False) -> None:
        self.received.append(invitation)
        job = {"id": invitation.id, "to": invitation.email, "status": invitation.status,
               "contract_id": invitation.contract_id, "title": invitation.contract.title, "resend": resend}
        if invitation.require_code:
            job["code"] = invitation.contract.invitation_code
        self.jobs.append(job)

    def enroll_in_activity(self, user, activity, contract) -> None:
        self.enrolled.append((user, activity, contract))
        super().enroll_in_activity(user, activity, contract)


@pytest.fixture
def courses(make_course):
    return [make_course() for _ in range(3)]


@pytest.fixture
def old_host(app):
    return use_rules(app, OldHost())


def test_a_host_reading_model_attributes_in_send_invitation_works_unchanged(db, m, old_host, make_contract,
                                                                            make_user, make_course):
    courses = [make_course(), make_course()]
    contract = make_contract(VOUCHER, title="Acme", activities=courses, require_invitation_code=True)
    known = make_user("known@example.com")
    contract.id, known.id  # noqa: B018 - loaded as a request has them
    with count_queries(db) as statements:
        report = services.invite(contract, users=[known], emails=["new@example.org"],
                                 activities=[courses[1]])
    ids = {r.email: r.invitation_id for r in report.invited + report.not_registered}
    assert sorted(old_host.jobs, key=lambda j: j["to"]) == [
        {"id": ids["known@example.com"], "to": "known@example.com", "status": InvitationStatus.OUTSTANDING,
         "contract_id": contract.id, "title": "Acme", "resend": False, "code": contract.invitation_code},
        {"id": ids["new@example.org"], "to": "new@example.org", "status": InvitationStatus.NOT_REGISTERED,
         "contract_id": contract.id, "title": "Acme", "resend": False, "code": contract.invitation_code},
    ]
    record = old_host.received[0]
    assert isinstance(record, InvitationRecord) and isinstance(record.contract, ContractRecord)
    assert record.activity_ids == (courses[1].id,) and record.user_id in (known.id, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.email = "other@example.org"  # type: ignore[misc]
    # Built from the rows written: nothing read the new invitations back to hand them to the hook.
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT") and "lc_invitation." in s
             and "FROM lc_invitation" in s and "lc_notification" not in s]
    assert reads == [], reads


def test_a_resend_reaches_the_old_hook_as_a_record_read_by_columns(db, old_host, make_contract, make_user, courses):
    contract = make_contract(SUBSCRIPTION, title="Acme", activities=courses, require_invitation_code=False)
    invitation = invite_one(contract, make_user("ana@example.com"))
    old_host.jobs.clear()
    services.resend(invitation)
    [job] = old_host.jobs
    assert job == {"id": invitation.id, "to": "ana@example.com", "status": InvitationStatus.OUTSTANDING,
                   "contract_id": contract.id, "title": "Acme", "resend": True}
    assert isinstance(old_host.received[-1], InvitationRecord) and old_host.received[-1].activity_ids == ()


def test_enroll_in_activity_gets_the_hosts_objects_and_the_contracts_record(db, old_host, make_contract, make_user,
                                                                             courses):
    contract = make_contract(VOUCHER, seats=3, activities=courses, require_invitation_code=False)
    learner = make_user()
    invite_one(contract, learner)
    services.enroll(learner, contract, courses[0])
    services.enroll(learner, contract, courses[1])
    [(user, activity, first), (_u, _a, second)] = old_host.enrolled
    assert user is learner and activity is courses[0]  # the host's own objects, as the caller passed them
    assert isinstance(first, ContractRecord) and (first.id, first.code, first.seats) == (contract.id, contract.code, 3)
    assert (first.seats_used, second.seats_used) == (1, 2)  # the seat just taken is counted


def test_signals_carry_records_of_what_was_written(db, m, make_contract, make_user, courses, received):
    created, invited, redeemed = (received(signals.contract_created), received(signals.invitation_created),
                                  received(signals.code_redeemed))
    enrolled, seats, revoked = (received(signals.enrollment_created), received(signals.seat_used),
                                received(signals.invitation_revoked))
    contract = make_contract(VOUCHER, title="Acme", seats=5, activities=courses, require_invitation_code=True)
    [(_s, c, _p)] = created
    assert isinstance(c["contract"], ContractRecord) and (c["contract"].id, c["contract"].title) == (contract.id, "Acme")

    learner, other = make_user(), make_user()
    services.invite(contract, users=[learner, other], activities=courses[:2])
    records = [kw["invitation"] for _s, kw, _p in invited]
    assert sorted(i.email for i in records) == sorted([learner.email_address, other.email_address])
    assert all(isinstance(i, InvitationRecord) and i.contract.title == "Acme"
               and i.activity_ids == tuple(sorted(c.id for c in courses[:2])) for i in records)

    services.redeem_code(learner, contract.invitation_code)
    [(_s, r, _p)] = redeemed
    assert isinstance(r["invitation"], InvitationRecord) and r["user"] is learner
    assert r["invitation"].status is InvitationStatus.ACCEPTED and r["invitation"].code_redeemed_at is not None

    enrollment = services.enroll(learner, contract, courses[0])
    [(_s, e, _p)], [(_s, s, _p)] = enrolled, seats
    record = e["enrollment"]
    assert isinstance(record, EnrollmentRecord) and e["user"] is learner and e["seat_used"] is True
    assert (record.id, record.contract_id, record.invitation_id, record.user_id, record.activity_id, record.seat_used) \
        == (enrollment.id, contract.id, enrollment.invitation_id, learner.id, courses[0].id, True)
    assert s["enrollment"] is record and s["contract"] is record.contract and s["contract"].seats_used == 1

    other_invitation = db.session.execute(sa.select(m.Invitation).where(m.Invitation.user_id == other.id)).scalar_one()
    services.revoke(other_invitation)
    [(_s, v, _p)] = revoked
    assert isinstance(v["invitation"], InvitationRecord) and v["invitation"].status is InvitationStatus.REVOKED
    assert v["invitation"].id == other_invitation.id
