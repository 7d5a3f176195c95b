"""Every error of the integration API as RFC 9457 ``application/problem+json``, mapped in one place.

* a domain error (:class:`~flask_learning_contracts.errors.LearningContractError`): its ``http_status`` (a
  ``ValidationError`` answers 422, with one ``errors`` item per field), ``code`` its class name in snake case,
  ``detail`` its message;
* a body or query the schemas refuse: 422 with the pydantic errors as JSON Pointers; a body that is not JSON: 400;
* HTTP errors (404, 405 …) keep their status; anything unexpected is a 500 problem (logged), never an HTML page.
"""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from flask import Blueprint, Response, current_app
from pydantic import ValidationError as SchemaError
from werkzeug.exceptions import HTTPException

from .. import errors
from ..i18n import _

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "urn:learning-contracts:problem:"


def _snake(name: str) -> str:
    """``NoSeatsAvailable`` → ``no_seats_available``, ``CSRFError`` → ``csrf_error``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def problem(status: int, code: str, title: str, detail: str, *, field_errors: Sequence[dict[str, str]] | None = None,
            headers: dict[str, str] | None = None) -> Response:
    """A problem+json response; ``field_errors``: ``[{"detail", "pointer"}]``."""
    body: dict[str, Any] = {"type": TYPE_BASE + code, "title": title, "status": status, "detail": detail,
                            "code": code}
    if field_errors:
        body["errors"] = list(field_errors)
    response = Response(json.dumps(body), status=status, mimetype=MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def problem_body(response: Response) -> dict[str, Any]:
    """The JSON body of a problem response (stored for Idempotency-Key replays)."""
    body: dict[str, Any] = json.loads(response.get_data(as_text=True))
    return body


def status_of(error: errors.LearningContractError) -> int:
    return 422 if isinstance(error, errors.ValidationError) else int(error.http_status)


def domain_problem(error: errors.LearningContractError) -> Response:
    """The one mapping of domain errors to HTTP."""
    # Several field problems at once are still one validation error (each one is an item of ``errors``).
    code = "validation_error" if isinstance(error, errors.InvalidFields) else _snake(type(error).__name__)
    field_errors = None
    if isinstance(error, errors.ValidationError):
        field_errors = [{"detail": item.message, "pointer": f"/{item.field}" if item.field else ""}
                        for item in errors.field_errors(error)]
    headers = {"Retry-After": "60"} if isinstance(error, (errors.RateLimited, errors.Busy)) else None
    if isinstance(error, errors.NotAuthenticated):
        headers = {"WWW-Authenticate": 'Bearer realm="learning-contracts"'}
    return problem(status_of(error), code, type(error).default_message, error.message, field_errors=field_errors,
                   headers=headers)


def schema_problem(error: SchemaError, *, where: str = "body") -> Response:
    """A request the pydantic models refuse: 422 with a JSON Pointer per problem (``where``: body or query)."""
    items = []
    for item in error.errors(include_url=False):
        location = "/".join(str(part) for part in item["loc"])
        pointer = f"/{location}" if location else ""
        items.append({"detail": str(item["msg"]), "pointer": pointer if where == "body" else f"?{location}"})
    return problem(422, "invalid_request", "The request is not valid.",
                   _("Some of the values are not valid."), field_errors=items)


def bad_json() -> Response:
    return problem(400, "malformed_json", "The request body is not JSON.",
                   _("Send a JSON object with Content-Type: application/json."))


def _http_problem(error: HTTPException) -> Response:
    status = error.code or 500
    headers = {}
    if status == 405 and getattr(error, "valid_methods", None):
        headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]  # MethodNotAllowed
    return problem(status, _snake(type(error).__name__), error.name, error.description or error.name, headers=headers)


def _unexpected(error: Exception) -> Response:
    current_app.logger.exception("Integration API request failed", exc_info=error)
    return problem(500, "internal_error", "Internal error", _("The request could not be completed."))


def register_problem_handlers(bp: Blueprint) -> None:
    """Problems for everything raised under the API's blueprint (the host's own handlers are never touched)."""
    bp.register_error_handler(errors.LearningContractError, domain_problem)
    bp.register_error_handler(SchemaError, schema_problem)
    bp.register_error_handler(HTTPException, _http_problem)
    bp.register_error_handler(Exception, _unexpected)
