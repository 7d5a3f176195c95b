"""``LearningContracts``: the Flask extension object. It wires the layers together on each app."""
from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.utils import import_string

from .admin import register_admin
from .cli import contracts_cli
from .config import DEFAULTS, config_value, init_config
from .migrate import register_migrations
from .models import Models, build_models
from .rules import ContractRules
from .state import EXTENSION_KEY, LearningContractsState
from .views import register_pages

_STATE_OPTIONS = {"db", "user_model", "activity_model", "rules", "admin"}


def _check_options(options: dict[str, Any]) -> None:
    """Refuse unknown options: a typo (``rule=``, ``url_prefx=``) would otherwise quietly fall back to a default."""
    unknown = sorted(set(options) - _STATE_OPTIONS - {key.lower() for key in DEFAULTS})
    if unknown:
        raise TypeError(
            f"LearningContracts got unknown option(s) {', '.join(unknown)}; the options are "
            f"{', '.join(sorted(_STATE_OPTIONS))} and the lower-case LEARNING_CONTRACTS_* settings "
            f"({', '.join(sorted(key.lower() for key in DEFAULTS))}).")


class LearningContracts:
    """Adds Learning Contracts to a Flask LMS.

    ``LearningContracts(app, db=db, user_model=User, activity_model=Course, rules=MyRules(), admin=admin)``
    or construct first and call :meth:`init_app` later. Options given to the constructor are defaults
    for every ``init_app``; ``init_app`` options win.
    """

    def __init__(self, app: Flask | None = None, **options: Any) -> None:
        _check_options(options)
        self._options = options
        self.models: Models | None = None
        if options.get("db") is not None and options.get("user_model") and options.get("activity_model"):
            self.models = build_models(options["db"], options["user_model"], options["activity_model"])
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask, **options: Any) -> None:
        """Register the extension on ``app``: config defaults, models, rules, admin views, pages, CLI, migrations."""
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError("LearningContracts is already registered on this app; call init_app once per app")
        _check_options(options)
        opts = {**self._options, **options}
        db = opts.get("db") or app.extensions.get("sqlalchemy")
        user_model, activity_model = opts.get("user_model"), opts.get("activity_model")
        if db is None or user_model is None or activity_model is None:
            raise TypeError("LearningContracts needs db=, user_model= and activity_model= (the host's own models)")
        if not app.config.get("SECRET_KEY") and not app.secret_key:
            raise RuntimeError("LearningContracts needs the app's SECRET_KEY (its forms are CSRF-protected)")
        init_config(app, {k: v for k, v in opts.items() if k not in _STATE_OPTIONS})
        models = build_models(db, user_model, activity_model)
        self.models = models
        state = LearningContractsState(db, models, _load_rules(opts.get("rules")))
        app.extensions[EXTENSION_KEY] = state
        register_pages(app, state)
        if config_value("API", app):
            _register_api(app, state)
        if not any(getattr(cmd, "name", None) == "contracts" for cmd in app.cli.commands.values()):
            app.cli.add_command(contracts_cli)
        register_admin(app, state, opts.get("admin"))
        if config_value("REGISTER_MIGRATIONS", app):
            register_migrations(app)


def _register_api(app: Flask, state: LearningContractsState) -> None:
    try:
        import pydantic  # noqa: F401  # the API's schemas
    except ImportError:
        raise RuntimeError("LEARNING_CONTRACTS_API is on but pydantic is not installed: install the API's extra "
                           "(pip install \"flask-learning-contracts[api]\") or switch the API off.") from None
    from .api import register_api

    register_api(app, state)


def _load_rules(rules: Any) -> ContractRules[Any, Any]:
    if rules is None:
        return ContractRules()
    if isinstance(rules, str):
        rules = import_string(rules)
    if isinstance(rules, type):
        rules = rules()
    if not isinstance(rules, ContractRules):
        raise TypeError("rules= must be a ContractRules instance, subclass or dotted path to one")
    return rules
