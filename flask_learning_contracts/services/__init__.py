"""Every rule of Learning Contracts: plain functions usable in any app context.

One module per concept of the admin guide; callers use this package's names (``services.invite(...)``).
Each public call is one transaction: it commits on success and rolls back on any failure, leaving nothing
behind. Refusals raise subclasses of :class:`~flask_learning_contracts.errors.LearningContractError` with
messages fit for people. Transient database conflicts (deadlocks, serialization failures, a locked SQLite
file) are retried a bounded number of times (``LEARNING_CONTRACTS_RETRY_ATTEMPTS``), then reported as ``Busy``.

Seats are race-free by construction, under the host's own engine settings (see :mod:`.enrollment`):

* the seat counter only moves through ``UPDATE … SET seats_used = seats_used + 1 WHERE seats_used < seats``
  (and a CHECK constraint ``seats_used <= seats`` backs it up);
* one seat row per (learner, activity) for Voucher and per learner for Subscription, under unique indexes;
* a learner's enrollments are serialised on their invitation row, whose conditional update also holds
  the per-user limit and loses cleanly against a concurrent revoke.
"""
from __future__ import annotations

from ._core import _BATCH as _BATCH, _m as _m, retry_counts, _session as _session, transactional
from .access import (contract_state, ensure_can_manage, ensure_contract_admin, get_contract, get_invitation,
                     parse_key)
from .api_keys import API_SCOPES, NewApiKey, api_keys, authenticate_api_key, create_api_key, find_api_key, revoke_api_key
from .activities import (ActivityImpact, activity_impact, add_activities, import_activities, preview_import,
                         remove_activity)
from .contracts import (add_contract_admin, contract_field_errors, contract_groups, create_contract, delete_contract,
                        group_label, importable_contracts, remove_contract_admin, update_contract)
from .csv_upload import invite_csv
from .enrollment import enroll
from .integrity import Mismatch, MismatchKind, ReconcileReport, SeatMismatch, check_seats, reconcile
from .invitations import (add_invitation_activities, invitation_activity_options, link_registered_user,
                          needs_activity_choice, resend, ResendResult, revoke)
from ..enums import ResendOutcome
from .invite_runs import (InviteRunInfo, ReportPage, ReportRow, StoredReport, Submission, SubmissionCount,
                          claim_invite_run, count_submission, finish_draft_run, get_invite_run, invite_blocker, invite_run_holds,
                          invite_submission, is_run_token, new_run_token, start_invite_run)
from .idempotency import (Claimed, claim_idempotency_key, release_idempotency_key,
                          store_idempotent_answer)
from .integration import (CursorPage, Upserted, contracts_page, invitations_page, invite_by_ids, require_contract,
                          require_invitation, upsert_contract_by_external)
from .inviting import InviteReport, InviteResult, invite, split_addresses
from .learners import ActivityOffer, InvitationOffer, invitation_offers, invitations_for
from .delivery_states import (count_failed_notifications, count_invitations_with_failed_email, delivery_states,
                              failed_deliveries, failed_notifications)
from .notifications import (DeliveryReport, deliver_notifications, enqueue_delivery, next_delivery_due, retried_message,
                            retry_notifications, sweep_notifications)
from .privacy import ForgetReport, forget_deleted_user, forget_user
from .redemption import redeem_code, regenerate_code
from .schedule import ScheduleReport, remind_outstanding, reminded_message, run_schedule
from .webhooks import (NewEndpoint, create_webhook_endpoint, delete_webhook_endpoint, get_webhook_endpoint,
                       retry_webhook_delivery, set_webhook_endpoint_active, webhook_deliveries, webhook_endpoints)
from .reports import (DeletionImpact, InvitationExportRow, InvitationPage, SeatSummary, contracts_for_admin,
                      deletion_impact, history, invitation_export_rows, invitation_page, seat_summaries, seat_summary)

__all__ = [
    # contracts
    "create_contract", "update_contract", "delete_contract", "add_contract_admin", "remove_contract_admin",
    "contract_field_errors", "contract_groups", "group_label", "importable_contracts",
    # activities
    "add_activities", "import_activities", "preview_import", "remove_activity", "activity_impact", "ActivityImpact",
    # inviting and invitations
    "invite", "invite_csv", "InviteReport", "InviteResult", "add_invitation_activities", "split_addresses",
    "invite_submission", "Submission", "SubmissionCount", "count_submission", "invite_blocker", "new_run_token",
    "is_run_token", "claim_invite_run", "start_invite_run", "finish_draft_run", "get_invite_run", "invite_run_holds",
    "InviteRunInfo", "StoredReport", "ReportRow", "ReportPage",
    "invitation_activity_options", "needs_activity_choice", "resend", "ResendResult", "ResendOutcome", "revoke",
    "link_registered_user",
    # codes, enrollment, learners
    "regenerate_code", "redeem_code", "enroll", "invitations_for", "invitation_offers", "ActivityOffer",
    "InvitationOffer",
    # privacy
    "forget_user", "forget_deleted_user", "ForgetReport",
    # access
    "get_contract", "get_invitation", "parse_key", "ensure_can_manage", "ensure_contract_admin", "contract_state",
    # notifications and the scheduler
    "deliver_notifications", "DeliveryReport", "next_delivery_due", "retry_notifications", "failed_notifications",
    "count_failed_notifications", "delivery_states", "run_schedule", "ScheduleReport", "remind_outstanding",
    "sweep_notifications", "enqueue_delivery", "retried_message", "count_invitations_with_failed_email",
    "failed_deliveries", "reminded_message",
    # webhooks
    "create_webhook_endpoint", "NewEndpoint", "webhook_endpoints", "get_webhook_endpoint", "set_webhook_endpoint_active",
    "delete_webhook_endpoint", "webhook_deliveries", "retry_webhook_delivery",
    # reports and checks
    "seat_summary", "seat_summaries", "SeatSummary", "history", "invitation_page", "InvitationPage",
    "invitation_export_rows", "InvitationExportRow", "deletion_impact", "DeletionImpact", "contracts_for_admin",
    "check_seats", "SeatMismatch", "reconcile", "ReconcileReport", "Mismatch", "MismatchKind",
    # the integration API
    "API_SCOPES", "NewApiKey", "api_keys", "authenticate_api_key", "create_api_key", "find_api_key", "revoke_api_key",
    "Claimed", "claim_idempotency_key", "release_idempotency_key", "store_idempotent_answer",
    "CursorPage", "Upserted", "contracts_page", "invitations_page", "invite_by_ids", "require_contract",
    "require_invitation", "upsert_contract_by_external",
    # for hosts composing their own transactions and tests
    "transactional", "retry_counts",
]
