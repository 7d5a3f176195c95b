"""The integration API: JSON under ``<url_prefix>/api/v1``, on when ``LEARNING_CONTRACTS_API`` is true.

* ``schemas``: pydantic models (validate requests, shape answers, give the document its schemas);
* ``openapi``: the OpenAPI 3.1 document and the operation table's type; ``routes``: the operations;
* ``problems``: every error as ``application/problem+json``, mapped in one place.

Requests are authenticated by ``ContractRules.api_principal`` (the host's own auth) or an API key
(``Authorization: Bearer lc_…``); wrong keys are counted per address and refused with 429 past
``LEARNING_CONTRACTS_API_AUTH_LIMIT``. POST and PUT honour ``Idempotency-Key``. The blueprint uses no form, so the
extension's CSRF never applies to it; a host running Flask-WTF's ``CSRFProtect`` exempts it itself
(``csrf.exempt(app.blueprints["learning_contracts_api"])``): the extension never reconfigures the host's CSRF.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Blueprint, Flask, Response, current_app, render_template, request, url_for
from pydantic import BaseModel, ValidationError as SchemaError

from .. import errors, services
from ..config import config_value
from ..i18n import _
from ..rules import ApiPrincipal
from ..state import LearningContractsState, current_state
from ..views.ratelimit import CodeAttemptLimiter
from .openapi import Operation, build_document, schema_name, type_text
from .problems import bad_json, domain_problem, problem, problem_body, register_problem_handlers, schema_problem
from .routes import OPERATIONS
from .schemas import has_nul

__all__ = ["API_KEY", "OPERATIONS", "register_api"]

BLUEPRINT = "learning_contracts_api"
API_KEY = "learning_contracts_api"
VERSION = "1.0.0"


class ApiState:
    """Per-app state of the API (``app.extensions["learning_contracts_api"]``): the wrong-key limiter."""

    def __init__(self, limiter: CodeAttemptLimiter) -> None:
        self.limiter = limiter


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    response = Response(json.dumps(body), status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _principal() -> ApiPrincipal:
    """The caller: the host's ``api_principal`` hook, else a valid API key; ``NotAuthenticated`` otherwise."""
    principal = current_state().rules.api_principal(request)
    if principal is not None:
        return principal
    scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
    found = services.authenticate_api_key(token) if scheme.lower() == "bearer" and token else None
    if found is not None:  # a valid key is never refused for other callers' wrong keys from its address
        return found
    limiter: CodeAttemptLimiter = current_app.extensions[API_KEY].limiter
    address = request.remote_addr or "unknown"
    if limiter.reserve(address, address) is None:
        raise errors.ApiRateLimited()
    raise errors.NotAuthenticated()  # the attempt stays counted


def _body(op: Operation) -> BaseModel | None:
    if op.body is None:
        return None
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # nested past the parser's depth: not JSON this API can take (silent misses it)
        raise _BadJson() from None
    if data is None and request.get_data():
        raise _BadJson()
    try:
        return op.body.model_validate(data if data is not None else {})
    except SchemaError as error:
        raise _Refused(schema_problem(error)) from None


def _query(op: Operation) -> BaseModel | None:
    if op.query is None:
        return None
    try:
        return op.query.model_validate(request.args.to_dict())
    except SchemaError as error:
        raise _Refused(schema_problem(error, where="query")) from None


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


class _BadJson(Exception):
    pass


def _idempotency_key() -> str | None:
    """The ``Idempotency-Key`` header (an RFC 8941 string, quoted, or the bare value), or ``None``."""
    raw = request.headers.get("Idempotency-Key")
    if raw is None:
        return None
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not key or len(key) > 255 or not all(33 <= ord(ch) <= 126 for ch in key):
        raise errors.ValidationError(_("The Idempotency-Key must be 1 to 255 visible ASCII characters."),
                                     field="Idempotency-Key")
    return key


def _request_hash(body: BaseModel | None) -> str:
    canonical = json.dumps(body.model_dump(mode="json") if body is not None else None, sort_keys=True)
    return hashlib.sha256(f"{request.method} {request.path}\n{canonical}".encode()).hexdigest()


def _run(op: Operation, principal: ApiPrincipal, body: BaseModel | None, query: BaseModel | None,
         params: dict[str, str]) -> tuple[int, Any]:
    """Run the operation; a domain refusal becomes its problem (status, body)."""
    try:
        status, answer = op.handler(principal, body, query, **params)
    except errors.LearningContractError as error:
        response = domain_problem(error)
        return response.status_code, problem_body(response)
    return status, answer.model_dump(mode="json")


#: The largest request body read (bytes): the biggest that makes sense (1,000 addresses) is about 330 kB; a bigger
#: one is refused with 413 before it is read, whatever the host's ``MAX_CONTENT_LENGTH``.
BODY_LIMIT = 1024 * 1024


def _limit_body() -> None:
    host_limit = request.max_content_length
    request.max_content_length = BODY_LIMIT if host_limit is None else min(host_limit, BODY_LIMIT)


def _dispatch(op: Operation, params: dict[str, str]) -> Response:
    try:
        principal = _principal()
        if op.scope not in principal.scopes:
            raise errors.PermissionDenied(_("This API key lacks the %(scope)s scope.", scope=op.scope))
        key = _idempotency_key() if op.method in {"POST", "PUT"} else None
        body, query = _body(op), _query(op)
        for name, value in params.items():
            if has_nul(value):
                raise errors.ValidationError(_("The URL must not contain a NUL character."), field=name)
    except _Refused as refused:
        return refused.response
    except _BadJson:
        return bad_json()
    # Keys are kept per caller; a host's principal name longer than the column is kept as its hash.
    caller = principal.name if len(principal.name) <= 100 else hashlib.sha256(principal.name.encode()).hexdigest()
    if key is None:
        status, answer = _run(op, principal, body, query, params)
    else:
        claimed = services.claim_idempotency_key(caller, key, f"{request.method} {request.path}",
                                                 _request_hash(body),
                                                 wait=float(config_value("API_IDEMPOTENCY_WAIT")))
        if claimed.replay is not None:
            status, answer = claimed.replay
            return _answer(status, answer, {"Idempotent-Replayed": "true", **_location(op, status, answer)})
        try:
            status, answer = _run(op, principal, body, query, params)
        except BaseException:
            services.release_idempotency_key(caller, key)
            raise
        if status >= 500:  # Busy: nothing was done, a retry may run it
            services.release_idempotency_key(caller, key)
        else:
            services.store_idempotent_answer(caller, key, status, answer)
    return _answer(status, answer, _location(op, status, answer))


def _location(op: Operation, status: int, answer: Any) -> dict[str, str]:
    """``Location`` of what a 201 created (the operation that reads it, by the answer's ``id``)."""
    if status != 201 or op.created is None or not isinstance(answer, dict) or "id" not in answer:
        return {}
    created = next(other for other in OPERATIONS if other.operation_id == op.created)
    return {"Location": url_for(f".{op.created}", **{created.path_params[0]: answer["id"]})}


def _answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    if status >= 400:
        response = _json(status, body, headers)
        response.mimetype = "application/problem+json"
        return response
    return _json(status, body, headers)


def _view(op: Operation) -> Any:
    def view(**params: str) -> Response:
        return _dispatch(op, params)

    view.__name__ = op.operation_id
    return view


def _not_routed(rest: str = "") -> Response:
    """Any other URL under the API: 405 with ``Allow`` when the path exists with other methods, else 404."""
    allowed = sorted({op.method for op in OPERATIONS if op.matches("/" + rest)})
    if allowed:
        return problem(405, "method_not_allowed", "Method Not Allowed",
                       _("Use %(methods)s on this URL.", methods=", ".join(allowed)),
                       headers={"Allow": ", ".join(allowed)})
    return problem(404, "not_found", "Not Found", _("There is no API operation at this URL."))


def document() -> dict[str, Any]:
    """The OpenAPI document of this app's API (summaries in the request's language)."""
    server = request.script_root + config_value("URL_PREFIX").rstrip("/") + "/api/v1"
    return build_document(OPERATIONS, server, "Learning Contracts integration API", VERSION)


def _openapi() -> Response:
    return _json(200, document())


def _docs() -> str:
    doc = document()
    return render_template("learning_contracts/api_docs.html", doc=doc, _=_, schema_name=schema_name,
                           type_text=type_text)


def register_api(app: Flask, state: LearningContractsState) -> None:
    """Register the API's blueprint under ``<url_prefix>/api/v1`` (only called when ``LEARNING_CONTRACTS_API``)."""
    bp = Blueprint(BLUEPRINT, __name__)
    for op in OPERATIONS:
        bp.add_url_rule(op.rule, op.operation_id, _view(op), methods=[op.method])
    bp.add_url_rule("/openapi.json", "openapi", _openapi, methods=["GET"])
    bp.add_url_rule("/docs", "docs", _docs, methods=["GET"])
    every = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    bp.add_url_rule("/", "root", _not_routed, methods=every)
    bp.add_url_rule("/<path:rest>", "not_routed", _not_routed, methods=every)
    bp.before_request(_limit_body)
    register_problem_handlers(bp)
    app.register_blueprint(bp, url_prefix=config_value("URL_PREFIX", app).rstrip("/") + "/api/v1")
    app.extensions[API_KEY] = ApiState(CodeAttemptLimiter(config_value("API_AUTH_LIMIT", app),
                                                          config_value("RATELIMIT_STORAGE_URI", app),
                                                          namespace="learning-contracts-api-keys"))
