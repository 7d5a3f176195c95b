"""Run the shipped migrations on their own (no Flask-Migrate needed): used by ``flask contracts db …``."""
from __future__ import annotations

import os
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.autogenerate import compare_metadata
from flask import current_app

from .extension import migrations_path
from .models import include_object


def alembic_config() -> Config:
    """An Alembic config pointing at the shipped ``env.py`` and versions folder."""
    config = Config()
    config.set_main_option("script_location", os.path.dirname(migrations_path()))
    config.set_main_option("version_locations", migrations_path())
    config.set_main_option("path_separator", "os")
    return config


def upgrade(revision: str = "heads") -> None:
    """Upgrade the extension's tables of the current app's database to ``revision``."""
    command.upgrade(alembic_config(), revision)


def downgrade(revision: str = "base") -> None:
    """Downgrade the extension's tables of the current app's database to ``revision``."""
    command.downgrade(alembic_config(), revision)


def drift() -> list[Any]:
    """Differences between the models and the migrated database (empty when they agree)."""
    state = current_app.extensions["learning_contracts"]
    with state.db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": include_object, "compare_type": True,
                              "version_table": "lc_alembic_version"})
        return compare_metadata(context, state.db.metadata)
