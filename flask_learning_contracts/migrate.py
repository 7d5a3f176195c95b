"""Run the shipped migrations on their own (no Flask-Migrate needed): used by ``flask contracts db …``.

They keep their own version table, ``lc_alembic_version``, and only ever touch ``lc_`` tables; the
host's user and activity tables must exist first. Hosts that run Flask-Migrate do not need this
module: ``flask db upgrade heads`` runs the same revisions inside the host's history.
"""
from __future__ import annotations

import os
from importlib.resources import files
from typing import TYPE_CHECKING, Any, TypeAlias

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from flask import Flask, current_app

from .migrations import standalone
from .models import include_object

if TYPE_CHECKING:
    from .state import LearningContractsState

VERSION_TABLE = "lc_alembic_version"

#: One difference found by Alembic's ``compare_metadata``: a tuple such as ``("add_table", table)``, or a list
#: of such tuples for the changes of one column.
Diff: TypeAlias = tuple[Any, ...] | list[tuple[Any, ...]]


def alembic_config() -> Config:
    """An Alembic config pointing at the shipped ``env.py`` and versions folder."""
    config = Config()
    config.set_main_option("script_location", os.path.dirname(migrations_path()).replace("%", "%%"))
    config.set_main_option("version_locations", migrations_path().replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    return config


def upgrade(revision: str = "heads") -> None:
    """Upgrade the extension's tables of the current app's database to ``revision``."""
    with standalone():
        command.upgrade(alembic_config(), revision)


def downgrade(revision: str = "base") -> None:
    """Downgrade the extension's tables to ``revision``; ``"base"`` removes every ``lc_`` table,
    the version table included."""
    with standalone():
        command.downgrade(alembic_config(), revision)
    if revision == "base":
        state: LearningContractsState = current_app.extensions["learning_contracts"]
        with state.db.engine.begin() as connection:
            sa.Table(VERSION_TABLE, sa.MetaData()).drop(connection, checkfirst=True)


def current() -> tuple[str, ...]:
    """The revision(s) the database is at (empty before the first upgrade)."""
    state: LearningContractsState = current_app.extensions["learning_contracts"]
    with state.db.engine.connect() as connection:
        return tuple(MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_heads())


def drift() -> list[Diff]:
    """Differences between the models and the migrated database (empty when they agree)."""
    state: LearningContractsState = current_app.extensions["learning_contracts"]
    with state.db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": include_object, "compare_type": True,
                              "version_table": VERSION_TABLE})
        diffs: list[Diff] = compare_metadata(context, state.db.metadata)
        return diffs + _sqlite_autoincrement_drift(connection, state.db.metadata)


def _sqlite_autoincrement_drift(connection: sa.Connection, metadata: sa.MetaData) -> list[Diff]:
    """``("sqlite_autoincrement", table, wanted, found)`` for each of our SQLite tables whose ``AUTOINCREMENT``
    differs from the model: Alembic's comparison does not look at it, and without it SQLite reuses ids."""
    if connection.dialect.name != "sqlite":
        return []
    found: dict[str, str | None] = dict(connection.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name LIKE 'lc\\_%' ESCAPE '\\'").all())
    diffs: list[Diff] = []
    for table in metadata.sorted_tables:
        if not table.info.get("flask_learning_contracts") or table.name not in found:
            continue
        wanted = bool(table.dialect_options["sqlite"]["autoincrement"])
        actual = "AUTOINCREMENT" in (found[table.name] or "").upper()
        if wanted != actual:
            diffs.append(("sqlite_autoincrement", table.name, wanted, actual))
    return diffs


def migrations_path() -> str:
    """Absolute path of the shipped Alembic versions folder (works for wheels and editable installs)."""
    return str(files("flask_learning_contracts.migrations") / "versions")


def register_migrations(app: Flask) -> None:
    """Add our versions folder to the host's Flask-Migrate, so ``flask db upgrade heads`` includes it.

    Works whichever of ``Migrate(app, db)`` and ``LearningContracts(app)`` the host calls first: when
    Flask-Migrate is not there yet, the registration waits for the app's next app context (every
    ``flask db …`` command and every ``flask_migrate`` function runs in one).
    """
    if not _register_with_flask_migrate(app):
        from flask import appcontext_pushed

        def _when_ready(sender: Flask, **extra: object) -> None:
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


def add_version_location(config: Config) -> Config:
    """Alembic ``Config`` callback: add the shipped versions folder to ``version_locations``.

    Keeps the host's own versions folder (explicit ``version_locations`` or ``<script_location>/versions``)
    and the host's path separator; sets ``path_separator = os`` when the host has none. Usable by hosts
    that drive Alembic without Flask-Migrate: call it on their ``Config``.
    """
    ours = migrations_path()
    separator_name = config.get_main_option("path_separator") or config.get_main_option("version_path_separator")
    existing = config.get_main_option("version_locations")
    locations: list[str]
    if existing:
        getter = getattr(config, "get_version_locations_list", None)  # Alembic >= 1.16 parses it as Alembic does
        locations = (list(getter() or []) if getter
                     else existing.split(_SEPARATORS.get(separator_name or "", os.pathsep)))
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
