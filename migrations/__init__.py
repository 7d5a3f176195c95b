"""The extension's Alembic migrations (packaged as ``flask_learning_contracts.migrations``).

Revision scripts call :func:`host_key` to learn the host's user and activity tables from the running
app, so one set of scripts serves every host, whatever its table names and key types.
"""
from __future__ import annotations

from typing import Any


def _state() -> Any:
    from flask import current_app

    try:
        return current_app.extensions["learning_contracts"]
    except (RuntimeError, KeyError):
        raise RuntimeError(
            "Learning contracts migrations run inside the host app (flask db upgrade heads, or "
            "flask contracts db upgrade) with LearningContracts initialised"
        ) from None


def host_key(which: str) -> tuple[Any, str]:
    """``(type, "table.column")`` of the host's ``"user"`` or ``"activity"`` primary key."""
    models = _state().models
    column = models.user_pk if which == "user" else models.activity_pk
    return column.type.copy(), f"{column.table.name}.{column.name}"


def host_depends_on() -> Any:
    """The host revision(s) creating the user/activity tables (``LEARNING_CONTRACTS_ALEMBIC_DEPENDS_ON``)."""
    try:
        from flask import current_app

        return current_app.config.get("LEARNING_CONTRACTS_ALEMBIC_DEPENDS_ON")
    except RuntimeError:
        return None
