"""The OpenAPI 3.1 document of the integration API, built from the operation table and the pydantic models that
validate the requests, and the offline docs page that reads it.

pydantic's JSON Schemas are JSON Schema 2020-12, which OpenAPI 3.1 takes as is: the models become
``components/schemas`` and the table becomes ``paths``. Nothing of the host's app is read or changed.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .schemas import Problem

REF = "#/components/schemas/{model}"


@dataclasses.dataclass(frozen=True)
class Operation:
    """One operation of the API: its route, scope, request models, answers and the function that runs it."""

    method: str
    path: str  #: OpenAPI template, e.g. ``/contracts/{contract_id}``
    operation_id: str
    summary: str
    scope: str
    handler: Callable[..., tuple[int, BaseModel]]
    answers: dict[int, type[BaseModel]]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    #: Problems this operation may answer besides 400/401/403/422/429 (which every operation may).
    problems: tuple[int, ...] = (404,)
    #: The operation that reads what a 201 created (its ``Location`` header points there, by the answer's ``id``).
    created: str | None = None

    @property
    def rule(self) -> str:
        """The Flask URL rule of ``path``."""
        return re.sub(r"\{(\w+)\}", r"<\1>", self.path)

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.path)

    def matches(self, path: str) -> bool:
        """Whether a request path (relative to the API's root) is this operation's path."""
        return re.fullmatch(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(self.path)), path) is not None


#: Path segments: URL-safe characters, not starting with a dot (``.`` and ``..`` are not names).
_SEGMENT = "^[A-Za-z0-9_~-][A-Za-z0-9._~-]*$"
_PATH_PARAM_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": _SEGMENT}
_EXTERNAL_PARAM_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": _SEGMENT}


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}}}


_PROBLEMS = {400: "Malformed request (a body that is not JSON).", 401: "No valid API key.",
             403: "The key lacks the scope.", 404: "Not found.", 405: "Method not allowed.",
             409: "Conflict (type change, no seats, Idempotency-Key in progress …).",
             422: "Invalid values, or an Idempotency-Key reused with another request.",
             429: "Too many wrong keys from this address.", 503: "Busy: retry."}


def _answer_text(status: int, op: Operation) -> str:
    if status == 201:
        return "Created."
    return "Updated." if op.method == "PUT" else "OK."


def build_document(operations: list[Operation], server_url: str, title: str, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``operations`` served under ``server_url``."""
    models: list[tuple[type[BaseModel], Any]] = [(Problem, "serialization")]
    for op in operations:
        if op.body is not None:
            models.append((op.body, "validation"))
        models += [(model, "serialization") for model in op.answers.values()]
    keyed, schemas = models_json_schema(list(dict.fromkeys(models)), ref_template=REF)
    components = dict(schemas.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        parameters: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True,
             "schema": _EXTERNAL_PARAM_SCHEMA if name in {"source", "external_id"} else _PATH_PARAM_SCHEMA}
            for name in op.path_params]
        if op.query is not None:
            query_schema = op.query.model_json_schema(ref_template=REF)
            components.update(query_schema.pop("$defs", {}))
            required = set(query_schema.get("required", ()))
            for name, schema in query_schema.get("properties", {}).items():
                parameters.append({"name": name, "in": "query", "required": name in required, "schema": schema})
        if op.method in {"POST", "PUT"}:
            parameters.append({"name": "Idempotency-Key", "in": "header", "required": False,
                               "description": "Retries with the same key replay the first answer (24 hours).",
                               "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                                          "pattern": "^[\\x21-\\x7e]+$"}})
        responses: dict[str, Any] = {
            str(status): {"description": _answer_text(status, op),
                          "content": {"application/json": {"schema": keyed[(model, "serialization")]}}}
            for status, model in op.answers.items()}
        if op.created is not None and "201" in responses:
            responses["201"]["headers"] = {"Location": {"description": "The URL of the contract created.",
                                                        "schema": {"type": "string"}}}
        statuses = {400, 401, 403, 405, 422, 429, 503, *op.problems}
        if op.method in {"POST", "PUT"}:
            statuses.add(409)
        for status in sorted(statuses):
            responses[str(status)] = _problem_response(_PROBLEMS[status])
        operation: dict[str, Any] = {"operationId": op.operation_id, "summary": str(op.summary),
                                     "description": f"Scope: {op.scope}.", "parameters": parameters,
                                     "responses": responses, "security": [{"bearer": [op.scope]}]}
        if op.body is not None:
            operation["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": keyed[(op.body, "validation")]}}}
        paths.setdefault(op.path, {})[op.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {"schemas": components,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                      "description": "An API key: flask contracts api-key create"}}},
    }


def schema_name(schema: dict[str, Any]) -> str:
    """The component name a ``$ref`` schema points to ("" for an inline schema)."""
    ref = schema.get("$ref", "")
    return str(ref.rsplit("/", 1)[-1]) if ref else ""


def type_text(schema: dict[str, Any]) -> str:
    """A short human reading of a JSON Schema (``string``, ``array of ContractOut``, ``integer or null`` …)."""
    if "$ref" in schema:
        return schema_name(schema)
    if "anyOf" in schema:
        return " or ".join(type_text(part) for part in schema["anyOf"])
    if schema.get("type") == "array":
        return "array of " + type_text(schema.get("items", {}))
    if "enum" in schema:
        return " | ".join(str(value) for value in schema["enum"])
    if "const" in schema:
        return str(schema["const"])
    kind = str(schema.get("type", "any"))
    return f"{kind} ({schema['format']})" if "format" in schema else kind
