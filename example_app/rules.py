"""How this LMS answers the extension's policy questions."""
from __future__ import annotations

import sqlalchemy as sa

from flask_learning_contracts import ContractRules
from flask_learning_contracts.codes import format_code

from .models import ActivityEnrollment, LearningActivity, Member, OutboxMessage, db


class ExampleRules(ContractRules):
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

    def send_invitation(self, invitation, resend: bool = False) -> None:
        self._queue(invitation, resend)
        db.session.commit()

    def _queue(self, invitation, resend: bool) -> None:
        contract = invitation.contract
        lines = [f"You are invited to the learning contract \"{contract.title}\"."]
        if invitation.require_code:
            lines.append(f"Enter the invitation code {format_code(contract.invitation_code)} on your "
                         "Learning Contract Invitations page to enroll.")
        else:
            lines.append("Its activities are waiting on your Learning Contract Invitations page.")
        if invitation.user_id is None:
            lines.append("You do not have an account yet: sign up with this e-mail address first.")
        db.session.add(OutboxMessage(
            to=invitation.email, subject=("Reminder: " if resend else "") + f"Invitation: {contract.title}",
            body="\n".join(lines)))

    def send_invitations(self, invitations):
        failures = []
        for invitation in invitations:
            try:
                self._queue(invitation, resend=False)
            except Exception as exc:  # noqa: BLE001 - reported back to the extension
                failures.append((invitation, exc))
        db.session.commit()
        return failures
