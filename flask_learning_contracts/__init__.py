"""flask-learning-contracts: Learning Contracts (seat pools, invitations, codes, enrollments) for a Flask LMS."""
from __future__ import annotations

from . import errors, services, signals
from .enums import ContractState, ContractType, InvitationStatus, WebhookEvent
from .extension import LearningContracts
from .migrate import migrations_path
from .models import exclude_object, include_object
from .records import ContractRecord, EnrollmentRecord, InvitationRecord
from .rules import ContractRules

__all__ = [
    "LearningContracts", "ContractRules", "ContractType", "InvitationStatus", "ContractState", "WebhookEvent",
    "errors", "services", "signals", "include_object", "exclude_object", "migrations_path",
    "ContractRecord", "InvitationRecord", "EnrollmentRecord",
]
__version__ = "0.1.0"
