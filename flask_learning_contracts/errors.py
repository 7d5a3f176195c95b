"""Every refusal of the domain as a value, each with a message fit to show a person.

Views translate these to HTTP in one place; services raise them and never return error codes.
"""
from __future__ import annotations

from collections.abc import Sequence

from .i18n import N_, _


class LearningContractError(Exception):
    """Base of every refusal the extension makes. ``str(error)`` is a message for people."""

    #: HTTP status a view should answer with when this error reaches it.
    http_status = 400
    default_message = N_("The learning contract operation could not be completed.")

    def __init__(self, message: str | None = None, **details: object) -> None:
        self.message = message or _(self.default_message)
        self.details = details
        super().__init__(self.message)


class ValidationError(LearningContractError):
    """Input was wrong; ``field`` names the form field when there is one."""

    default_message = N_("Some of the values are not valid.")

    def __init__(self, message: str | None = None, *, field: str | None = None, **details: object) -> None:
        self.field = field
        super().__init__(message, **details)


class InvalidFields(ValidationError):
    """Several fields were wrong at once: ``errors`` holds one ``ValidationError`` per problem (each naming its
    field), so a form can show them all after one submit. ``field`` and ``str()`` are the first one's."""

    def __init__(self, problems: Sequence[ValidationError]) -> None:
        self.errors = list(problems)
        first = self.errors[0]
        super().__init__(first.message, field=first.field)


def field_errors(error: ValidationError) -> list[ValidationError]:
    """The individual problems of ``error``: its ``errors`` when it gathers several, else itself."""
    return list(error.errors) if isinstance(error, InvalidFields) else [error]


class ImmutableField(ValidationError):
    default_message = N_("This field cannot be changed after the contract is created.")


class ContractNotActive(LearningContractError):
    default_message = N_("This learning contract is not active today.")
    http_status = 409


class NoSeatsAvailable(LearningContractError):
    default_message = N_(
        "There are no seats left on this learning contract. Ask the contract's administrator for more seats."
    )
    http_status = 409


class PerUserLimitReached(LearningContractError):
    default_message = N_("You have reached the number of activities you may take through this learning contract.")
    http_status = 409


class InvalidCode(LearningContractError):
    default_message = N_("That invitation code is not valid. Check it and try again.")


class InvitationRevoked(LearningContractError):
    default_message = N_(
        "Your invitation to this learning contract was revoked. Ask the contract's administrator to invite you again."
    )
    http_status = 403


class NotInvited(LearningContractError):
    default_message = N_("You have not been invited to this learning contract.")
    http_status = 403


class CodeRequired(LearningContractError):
    default_message = N_("Enter this learning contract's invitation code before you enroll.")
    http_status = 403


class ActivityNotInInvitation(LearningContractError):
    default_message = N_("This activity is not part of your invitation.")
    http_status = 403


class RevokeNotAllowed(LearningContractError):
    default_message = N_("This invitation cannot be revoked: the learner has already enrolled through it.")
    http_status = 409


class ResendNotAllowed(LearningContractError):
    default_message = N_("Only outstanding invitations can be resent.")
    http_status = 409


class EmailNotVerified(LearningContractError):
    """The user's address is not verified (``ContractRules.email_verified``): they redeem no invitation code."""

    default_message = N_(
        "Confirm your e-mail address first: invitation codes can be redeemed once your address is confirmed, and "
        "invitations sent to it become yours then."
    )
    http_status = 403


class PermissionDenied(LearningContractError):
    default_message = N_("You are not allowed to do this.")
    http_status = 403


class RateLimited(LearningContractError):
    default_message = N_("Too many wrong invitation codes. Wait a few minutes and try again.")
    http_status = 429


class ApiRateLimited(RateLimited):
    """Too many requests with a wrong API key from one address."""

    default_message = N_("Too many requests with a wrong API key. Wait a few minutes and try again.")


class HostEnrollmentFailed(LearningContractError):
    default_message = N_("The enrollment could not be completed. No seat was used; please try again later.")
    http_status = 502


class Busy(LearningContractError):
    default_message = N_("The system is busy. Please try again in a moment.")
    http_status = 503


class ContractNotFound(LearningContractError):
    """The contract is gone: deleted since the caller loaded it (e.g. while a learner was enrolling)."""

    default_message = N_("This learning contract no longer exists: it may have been deleted.")
    http_status = 404


class InvitationNotFound(LearningContractError):
    """No invitation has this id (the integration API answers 404)."""

    default_message = N_("This invitation does not exist.")
    http_status = 404


class ContractTypeChanged(LearningContractError):
    """An upsert asked for another type than the contract already has: the type is fixed at creation."""

    default_message = N_("This contract's type cannot be changed after it is created.")
    http_status = 409


class NotAuthenticated(LearningContractError):
    """An integration API request without a valid key (or principal from ``ContractRules.api_principal``)."""

    default_message = N_("Send a valid API key as \"Authorization: Bearer <key>\".")
    http_status = 401


class IdempotencyKeyReused(LearningContractError):
    """An ``Idempotency-Key`` was sent again with another request (method, path or body)."""

    default_message = N_("This Idempotency-Key was already used for a different request. Use a new key.")
    http_status = 422


class IdempotencyKeyInProgress(LearningContractError):
    """The first request with this ``Idempotency-Key`` is still running."""

    default_message = N_("A request with this Idempotency-Key is still in progress. Retry in a moment.")
    http_status = 409


class WebhooksUnavailable(LearningContractError):
    """Webhooks need the optional ``standardwebhooks`` package (the ``[webhooks]`` extra) to sign events."""

    default_message = N_("Webhooks need the standardwebhooks package: "
                       "pip install 'flask-learning-contracts[webhooks]'.")
    http_status = 501


class WebhookEndpointNotFound(LearningContractError):
    default_message = N_("This webhook endpoint no longer exists.")
    http_status = 404
