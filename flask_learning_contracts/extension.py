"""``LearningContracts``: the Flask extension object and its per-app state."""
from __future__ import annotations

import os
from typing import Any

import sqlalchemy as sa
from flask import Flask

from .config import config_value, init_config
from .models import build_models
from .rules import ContractRules

EXTENSION_KEY = "learning_contracts"


class LearningContractsState:
    """What one app's views and services need: ``db``, the models, the rules and helpers on host keys."""

    def __init__(self, extension: "LearningContracts", app: Flask, db: Any, models: Any, rules: ContractRules) -> None:
        self.extension = extension
        self.db = db
        self.models = models
        self.rules = rules
        self.user_model = models.user_model
        self.activity_model = models.activity_model
        self._user_pk_attr = sa.inspect(models.user_model).get_property_by_column(models.user_pk).key
        self._activity_pk_attr = sa.inspect(models.activity_model).get_property_by_column(models.activity_pk).key
        self.admin: Any = None
        self.limiter: Any = None
        rules.state = self

    def user_id(self, user: Any) -> Any:
        """The host primary key of ``user``."""
        return getattr(user, self._user_pk_attr)

    def activity_id(self, activity: Any) -> Any:
        """The host primary key of ``activity``."""
        return getattr(activity, self._activity_pk_attr)

    @property
    def user_pk_column(self) -> Any:
        return getattr(self.user_model, self._user_pk_attr)

    @property
    def activity_pk_column(self) -> Any:
        return getattr(self.activity_model, self._activity_pk_attr)


class LearningContracts:
    """Adds Learning Contracts to a Flask LMS.

    ``LearningContracts(app, db=db, user_model=User, activity_model=Course, rules=MyRules(), admin=admin)``
    or construct first and call :meth:`init_app` later. Options given to the constructor are defaults
    for every ``init_app``; ``init_app`` options win.
    """

    def __init__(self, app: Flask | None = None, **options: Any) -> None:
        self._options = options
        self.models: Any = None
        if options.get("db") is not None and options.get("user_model") and options.get("activity_model"):
            self.models = build_models(options["db"], options["user_model"], options["activity_model"])
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask, **options: Any) -> None:
        """Register the extension on ``app``: config defaults, models, rules, admin views, pages, CLI, migrations."""
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError("LearningContracts is already registered on this app; call init_app once per app")
        opts = {**self._options, **options}
        db = opts.get("db") or _host_db(app)
        user_model, activity_model = opts.get("user_model"), opts.get("activity_model")
        if db is None or user_model is None or activity_model is None:
            raise TypeError("LearningContracts needs db=, user_model= and activity_model= (the host's own models)")
        if not app.config.get("SECRET_KEY") and not app.secret_key:
            raise RuntimeError("LearningContracts needs the app's SECRET_KEY (its forms are CSRF-protected)")
        init_config(app, {k: v for k, v in opts.items() if k not in {"db", "user_model", "activity_model", "rules", "admin"}})
        models = build_models(db, user_model, activity_model)
        self.models = models
        rules = _load_rules(opts.get("rules"))
        state = LearningContractsState(self, app, db, models, rules)
        app.extensions[EXTENSION_KEY] = state

        from .cli import contracts_cli
        from .views import register_pages

        register_pages(app, state)
        if not any(getattr(cmd, "name", None) == "contracts" for cmd in app.cli.commands.values()):
            app.cli.add_command(contracts_cli)
        from .admin import register_admin

        register_admin(app, state, opts.get("admin"))
        if config_value("REGISTER_MIGRATIONS", app):
            _register_migrations(app)


def _host_db(app: Flask) -> Any:
    return app.extensions.get("sqlalchemy")


def _load_rules(rules: Any) -> ContractRules:
    if rules is None:
        return ContractRules()
    if isinstance(rules, str):
        from werkzeug.utils import import_string

        rules = import_string(rules)
    if isinstance(rules, type):
        rules = rules()
    if not isinstance(rules, ContractRules):
        raise TypeError("rules= must be a ContractRules instance, subclass or dotted path to one")
    return rules


def migrations_path() -> str:
    """Absolute path of the shipped Alembic versions folder (works for wheels and editable installs)."""
    from importlib.resources import files

    return str(files("flask_learning_contracts.migrations") / "versions")


def _register_migrations(app: Flask) -> None:
    """Add our versions folder to the host's Flask-Migrate, so ``flask db upgrade heads`` includes it."""
    migrate_state = app.extensions.get("migrate")
    if migrate_state is None:
        return
    migrate = migrate_state.migrate
    if getattr(migrate, "_learning_contracts_registered", False):
        return
    migrate._learning_contracts_registered = True

    @migrate.configure
    def _add_version_location(config: Any) -> Any:
        ours = migrations_path()
        script_location = config.get_main_option("script_location") or "migrations"
        existing = config.get_main_option("version_locations")
        locations = existing.split(os.pathsep) if existing else [os.path.join(script_location, "versions")]
        if ours not in locations:
            locations.append(ours)
        config.set_main_option("path_separator", "os")
        config.set_main_option("version_locations", os.pathsep.join(locations))
        return config
