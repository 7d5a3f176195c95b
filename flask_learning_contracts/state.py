"""The per-app state of the extension: what services and views reach through ``current_app``."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask import current_app

from .models import Models
from .rules import ContractRules

if TYPE_CHECKING:
    from flask_sqlalchemy import SQLAlchemy

EXTENSION_KEY = "learning_contracts"


class LearningContractsState:
    """One app's ``db``, mapped models and rules, with helpers on the host's keys.

    Stored at ``app.extensions["learning_contracts"]`` by ``init_app``.
    """

    def __init__(self, db: SQLAlchemy, models: Models, rules: ContractRules[Any, Any]) -> None:
        self.db = db
        self.models = models
        self.rules = rules
        self.user_model: type[Any] = models.user_model
        self.activity_model: type[Any] = models.activity_model
        self._user_pk_attr = sa.inspect(models.user_model).get_property_by_column(models.user_pk).key
        self._activity_pk_attr = sa.inspect(models.activity_model).get_property_by_column(models.activity_pk).key
        #: The ``flask_admin.Admin`` the contract views were registered on (set by the admin layer).
        self.admin: Any = None
        #: The wrong-code rate limiter of the learner pages (set by the views layer).
        self.limiter: Any = None
        bound = getattr(rules, "state", None)
        if isinstance(bound, LearningContractsState) and bound.db is not db:
            raise RuntimeError(
                "This ContractRules instance already serves an app with another database. Pass rules= as a class "
                "or a dotted path (one instance per app), or a separate instance to each app.")
        rules.state = self

    def user_id(self, user: Any) -> Any:
        """The host primary key of ``user``."""
        return getattr(user, self._user_pk_attr)

    def activity_id(self, activity: Any) -> Any:
        """The host primary key of ``activity``."""
        return getattr(activity, self._activity_pk_attr)

    @property
    def user_pk_column(self) -> Any:
        """The host user model's primary-key attribute (for queries)."""
        return getattr(self.user_model, self._user_pk_attr)

    @property
    def activity_pk_column(self) -> Any:
        """The host activity model's primary-key attribute (for queries)."""
        return getattr(self.activity_model, self._activity_pk_attr)


def current_state() -> LearningContractsState:
    """The extension's state on the current app (``RuntimeError`` when ``init_app`` was not called)."""
    try:
        state: LearningContractsState = current_app.extensions[EXTENSION_KEY]
    except KeyError:
        raise RuntimeError("LearningContracts is not initialised on this app (call init_app)") from None
    return state
