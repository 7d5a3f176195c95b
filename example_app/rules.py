"""How this LMS answers the extension's policy questions."""
from __future__ import annotations

import sqlalchemy as sa

from flask_learning_contracts import ContractRules

from .models import ActivityEnrollment, LearningActivity, Member, db

#: The customer organisations of this LMS: the contract form offers them as the contract's group.
GROUPS = [("acme", "Acme Corp"), ("globex", "Globex"), ("initech", "Initech")]


class ExampleRules(ContractRules):
    def groups(self):
        return GROUPS

    def can_manage_contracts(self, user) -> bool:
        return bool(getattr(user, "is_authenticated", False) and user.is_admin)

    def find_users_by_email(self, emails):
        wanted = sorted({e.lower() for e in emails})
        rows = db.session.execute(sa.select(Member).where(sa.func.lower(Member.email).in_(wanted))).scalars()
        return {m.email.lower(): m for m in rows}

    def search_users(self, text, limit=20):
        pattern = f"%{text.strip().lower()}%"
        stmt = (sa.select(Member).where(sa.or_(sa.func.lower(Member.email).like(pattern),
                                               sa.func.lower(Member.full_name).like(pattern)))
                .order_by(Member.full_name).limit(limit))
        return list(db.session.execute(stmt).scalars())

    def eligible_activities(self):
        return sa.select(LearningActivity).where(LearningActivity.published.is_(True))

    def enroll_in_activity(self, user, activity, contract) -> None:
        db.session.add(ActivityEnrollment(member_id=user.id, activity_id=activity.id))

    def is_enrolled_in_activity(self, user, activity) -> bool:
        return db.session.execute(sa.select(ActivityEnrollment.id).where(
            ActivityEnrollment.member_id == user.id, ActivityEnrollment.activity_id == activity.id)).first() is not None


class ExampleRulesWithoutMailman(ExampleRules):
    """Used when Flask-Mailman is not installed: writes the rendered messages to the outbox folder itself."""

    def send_notification(self, message) -> None:
        from flask import current_app

        from .mail import outbox_folder, write_message

        write_message(outbox_folder(current_app), message.to, message.subject, message.text, message.html)
