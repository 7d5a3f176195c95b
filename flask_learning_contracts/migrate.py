"""Run the shipped migrations on their own (no Flask-Migrate needed): used by ``flask contracts db …``.

They keep their own version table, ``lc_alembic_version``, and only ever touch ``lc_`` tables; the
host's user and activity tables must exist first. Hosts that run Flask-Migrate do not need this
module: ``flask db upgrade heads`` runs the same revisions inside the host's history.
"""
from __future__ import annotations

import os
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from flask import current_app

from .extension import migrations_path
from .migrations import standalone
from .models import include_object

VERSION_TABLE = "lc_alembic_version"


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
        engine = current_app.extensions["learning_contracts"].db.engine
        with engine.begin() as connection:
            sa.Table(VERSION_TABLE, sa.MetaData()).drop(connection, checkfirst=True)


def current() -> tuple[str, ...]:
    """The revision(s) the database is at (empty before the first upgrade)."""
    engine = current_app.extensions["learning_contracts"].db.engine
    with engine.connect() as connection:
        return tuple(MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_heads())


def drift() -> list[Any]:
    """Differences between the models and the migrated database (empty when they agree)."""
    state = current_app.extensions["learning_contracts"]
    with state.db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": include_object, "compare_type": True,
                              "version_table": VERSION_TABLE})
        return compare_metadata(context, state.db.metadata)
