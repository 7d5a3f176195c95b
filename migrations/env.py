"""Alembic environment for running the extension's migrations on their own (``flask contracts db …``).

Used when the host has no Flask-Migrate of its own. Keeps its own version table
(``lc_alembic_version``) and only ever touches ``lc_`` tables.
"""
from __future__ import annotations

from alembic import context
from flask import current_app

from flask_learning_contracts.models import include_object

state = current_app.extensions["learning_contracts"]
connectable = state.db.engine


def run_migrations_online() -> None:
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=state.db.metadata,
            include_object=include_object,
            version_table="lc_alembic_version",
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():  # pragma: no cover
    context.configure(url=str(connectable.url), target_metadata=state.db.metadata, include_object=include_object,
                      version_table="lc_alembic_version", literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
