"""Demo data: members, activities of three kinds, contracts of both types, invitations in every status."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from flask_learning_contracts import ContractType, services

from .app import DEMO_LOGINS, DEMO_PASSWORD
from .models import LearningActivity, Member, db

ACTIVITIES = [
    ("Workplace Safety Essentials", "online"), ("Data Privacy Basics", "online"),
    ("Leadership Workshop (Berlin)", "ilt"), ("Project Management Professional", "certification"),
    ("Customer Service Excellence", "online"), ("First Aid Training (on site)", "ilt"),
]
NAMES = {"admin@example.com": "Alex Admin", "contracts@example.com": "Casey Contracts",
         "ana@example.com": "Ana Learner", "ben@example.com": "Ben Learner", "cleo@example.com": "Cleo Learner"}


def seed() -> bool:
    """Create the demo data unless members exist already. Returns whether it seeded."""
    if db.session.execute(sa.select(Member.id)).first():
        return False
    members = {}
    for email, _role in DEMO_LOGINS:
        member = Member(email=email, full_name=NAMES[email], is_admin=email == "admin@example.com")
        member.set_password(DEMO_PASSWORD)
        db.session.add(member)
        members[email] = member
    extra = [Member(email=f"learner{i:02d}@example.com", full_name=f"Learner {i:02d}") for i in range(1, 21)]
    for member in extra:
        member.set_password(DEMO_PASSWORD)
    db.session.add_all(extra)
    activities = [LearningActivity(title=t, kind=k) for t, k in ACTIVITIES]
    db.session.add_all(activities)
    db.session.commit()

    today = dt.date.today()
    admin = members["admin@example.com"]
    voucher = services.create_contract(
        code="ACME-2026", title="Acme Corp compliance training", contract_type=ContractType.VOUCHER, seats=25,
        valid_from=today - dt.timedelta(days=30), valid_until=today + dt.timedelta(days=335),
        description="Compliance and safety courses for Acme employees. Each course taken uses one seat.",
        per_user_limit=3, require_invitation_code=True, group="acme", actor=admin)
    services.add_activities(voucher, activities[:4], actor=admin)
    services.add_contract_admin(voucher, members["contracts@example.com"], actor=admin)
    subscription = services.create_contract(
        code="GLOBEX-SUB", title="Globex all-access subscription", contract_type=ContractType.SUBSCRIPTION,
        seats=10, valid_from=today - dt.timedelta(days=10), valid_until=today + dt.timedelta(days=170),
        description="One seat per learner gives access to every activity in the contract.",
        require_invitation_code=False, group="globex", actor=admin)
    services.add_activities(subscription, activities[2:], actor=admin)
    services.add_contract_admin(subscription, members["contracts@example.com"], actor=admin)
    services.create_contract(
        code="INITECH-NEXT", title="Initech onboarding (next quarter)", contract_type=ContractType.VOUCHER,
        seats=50, valid_from=today + dt.timedelta(days=30), valid_until=today + dt.timedelta(days=120),
        description="Starts next month.", actor=admin)
    expired = services.create_contract(
        code="UMBRELLA-2025", title="Umbrella 2025 programme", contract_type=ContractType.VOUCHER, seats=5,
        valid_from=today - dt.timedelta(days=400), valid_until=today - dt.timedelta(days=35), actor=admin)
    services.add_activities(expired, activities[:1], actor=admin)

    # Invitations in every status.
    services.invite(voucher, users=[members["ana@example.com"], members["ben@example.com"], *extra[:6]],
                    emails=["newhire@example.com", "contractor@example.org"], actor=admin)  # Outstanding + Not Registered
    services.redeem_code(members["ana@example.com"], voucher.invitation_code)  # Accepted
    for learner in extra[:2]:  # Enrolled
        services.redeem_code(learner, voucher.invitation_code)
        services.enroll(learner, voucher, activities[0])
    services.revoke(services.invitations_for(extra[5])[0], actor=admin)  # Revoked
    services.invite(subscription, users=[members["ana@example.com"], *extra[6:12]], actor=admin)
    for learner in extra[6:9]:
        services.enroll(learner, subscription, activities[2])
        services.enroll(learner, subscription, activities[3])
    return True
