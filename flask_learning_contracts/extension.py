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
    """Add our versions folder to the host's Flask-Migrate, so ``flask db upgrade heads`` includes it.

    Works whichever of ``Migrate(app, db)`` and ``LearningContracts(app)`` the host calls first: when
    Flask-Migrate is not there yet, the registration waits for the app's next app context (every
    ``flask db …`` command and every ``flask_migrate`` function runs in one).
    """
    if not _register_with_flask_migrate(app):
        from flask import appcontext_pushed

        def _when_ready(sender: Flask, **extra: Any) -> None:
            if _register_with_flask_migrate(sender):
                appcontext_pushed.disconnect(_when_ready, sender)

        appcontext_pushed.connect(_when_ready, app, weak=False)


def _register_with_flask_migrate(app: Flask) -> bool:
    """Register the configure callback on the app's ``Migrate`` (once per ``Migrate``). False if it has none."""
    migrate_state = app.extensions.get("migrate")
    migrate = getattr(migrate_state, "migrate", None)
    if migrate is None:
        return False
    if getattr(migrate, "_learning_contracts_registered", False):
        return True
    migrate._learning_contracts_registered = True
    migrate.configure(add_version_location)
    return True


_SEPARATORS = {"space": " ", "newline": "\n", "os": os.pathsep, ":": ":", ";": ";"}


def add_version_location(config: Any) -> Any:
    """Alembic ``Config`` callback: add the shipped versions folder to ``version_locations``.

    Keeps the host's own versions folder (explicit ``version_locations`` or ``<script_location>/versions``)
    and the host's path separator; sets ``path_separator = os`` when the host has none. Usable by hosts
    that drive Alembic without Flask-Migrate: call it on their ``Config``.
    """
    ours = migrations_path()
    separator_name = config.get_main_option("path_separator") or config.get_main_option("version_path_separator")
    existing = config.get_main_option("version_locations")
    if existing:
        getter = getattr(config, "get_version_locations_list", None)  # Alembic >= 1.16 parses it as Alembic does
        locations = list(getter() or []) if getter else existing.split(_SEPARATORS.get(separator_name, os.pathsep))
    else:
        script_location = config.get_main_option("script_location") or "migrations"
        locations = [os.path.join(script_location, "versions")]
    if any(os.path.abspath(location) == os.path.abspath(ours) for location in locations):
        return config
    locations.append(ours)
    separator = _SEPARATORS.get(separator_name or "")
    if separator is None or any(separator in location for location in locations):
        separator = os.pathsep
        config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", separator.join(locations).replace("%", "%%"))
    return config
