"""The extension's Alembic migrations (packaged as ``flask_learning_contracts.migrations``).

Revision scripts call :func:`host_key` to learn the host's user and activity tables from the running
app, so one set of scripts serves every host, whatever its table names, schemas and key types.

Two ways to run them:

* inside the host's own Flask-Migrate history (``flask db upgrade heads``): ``init_app`` adds the
  versions folder to the host's ``version_locations``; the first revision then depends on the host
  revision named by ``LEARNING_CONTRACTS_ALEMBIC_DEPENDS_ON`` (the one creating the user and activity
  tables), so Alembic creates the host's tables first;
* on their own (``flask contracts db upgrade`` / :mod:`flask_learning_contracts.migrate`), with their own
  version table ``lc_alembic_version``; the host's revisions are unknown there, so ``depends_on`` is
  ignored and the host's tables must already exist.
"""
from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any

_standalone: contextvars.ContextVar[bool] = contextvars.ContextVar("learning_contracts_standalone", default=False)


@contextlib.contextmanager
def standalone() -> Iterator[None]:
    """Mark the Alembic commands run inside as the extension's own environment (no host revisions)."""
    token = _standalone.set(True)
    try:
        yield
    finally:
        _standalone.reset(token)


def _state() -> Any:
    from flask import current_app

    try:
        return current_app.extensions["learning_contracts"]
    except (RuntimeError, KeyError):
        raise RuntimeError(
            "Learning contracts migrations run inside the host app (flask db upgrade heads, or "
            "flask contracts db upgrade) with LearningContracts initialised"
        ) from None


def _column(which: str) -> Any:
    models = _state().models
    return models.user_pk if which == "user" else models.activity_pk


def host_key(which: str) -> tuple[Any, str]:
    """``(type, "[schema.]table.column")`` of the host's ``"user"`` or ``"activity"`` primary key."""
    column = _column(which)
    table = column.table
    prefix = f"{table.schema}." if table.schema else ""
    return column.type.copy(), f"{prefix}{table.name}.{column.name}"


def host_depends_on() -> Any:
    """The host revision(s) creating the user/activity tables (``LEARNING_CONTRACTS_ALEMBIC_DEPENDS_ON``),
    or ``None`` when running on our own."""
    if _standalone.get():
        return None
    try:
        from flask import current_app

        return current_app.config.get("LEARNING_CONTRACTS_ALEMBIC_DEPENDS_ON") or None
    except RuntimeError:
        return None


def require_host_tables(bind: Any, offline: bool = False) -> None:
    """Fail with a clear message when the host's user or activity table does not exist yet.

    Without this, PostgreSQL fails later on a foreign key and SQLite silently creates dangling ones.
    """
    if offline:
        return
    import sqlalchemy as sa

    inspector = sa.inspect(bind)
    missing = [
        f"{t.schema + '.' if t.schema else ''}{t.name}"
        for t in {_column("user").table, _column("activity").table}
        if not inspector.has_table(t.name, schema=t.schema)
    ]
    if missing:
        raise RuntimeError(
            f"The host's table(s) {', '.join(sorted(missing))} do not exist yet, and the learning contracts "
            "tables have foreign keys into them. Run the host's migrations first: with Flask-Migrate, set "
            "LEARNING_CONTRACTS_ALEMBIC_DEPENDS_ON to the host revision that creates them and run "
            "'flask db upgrade heads'."
        )


def rebuild_sqlite_table(name: str, columns: list[str], create: Callable[[], object]) -> None:
    """Rebuild the SQLite table ``name`` inside the running migration's transaction: keep its rows in a
    temporary table, drop it, call ``create`` (which creates the new table and its indexes) and copy the
    ``columns`` back, ids included.

    Foreign keys are deferred to the commit (``PRAGMA defer_foreign_keys``; SQLite resets it at each commit),
    so this works whether or not the host enforces them, also for tables other tables point at: the rows
    pointing here find the same keys again before the commit. Alembic's batch mode renames a copy into place
    instead, which SQLite refuses for a referenced table while foreign keys are enforced.
    """
    from alembic import op

    context = op.get_context()
    if not context.as_sql:
        connection = op.get_bind()
        dbapi = connection.connection.dbapi_connection
        # pysqlite opens its transaction only before a data change: make sure the rebuild is one transaction
        # (a failure half way must not lose the table), which Alembic commits after the revision.
        if dbapi is not None and not getattr(dbapi, "in_transaction", True):
            connection.exec_driver_sql("BEGIN")
    keep = f"_lc_keep_{name}"
    quoted = ", ".join(f'"{column}"' for column in columns)
    op.execute("PRAGMA defer_foreign_keys = ON")
    op.execute(f'CREATE TEMP TABLE "{keep}" AS SELECT {quoted} FROM "{name}"')
    op.drop_table(name)
    create()
    op.execute(f'INSERT INTO "{name}" ({quoted}) SELECT {quoted} FROM temp."{keep}"')
    op.execute(f'DROP TABLE temp."{keep}"')


def retire_sqlite_ids(table: str, referenced: str) -> None:
    """Make SQLite's ``AUTOINCREMENT`` counter of ``table`` start after the largest id ``referenced`` (an SQL
    query, e.g. the ids history rows mention): ids of rows deleted before the table had ``AUTOINCREMENT`` are
    then never handed out again either."""
    from alembic import op

    op.execute(f"INSERT INTO sqlite_sequence (name, seq) SELECT '{table}', 0 "
               f"WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = '{table}')")
    op.execute(f"UPDATE sqlite_sequence SET seq = max(seq, coalesce(({referenced}), 0)) WHERE name = '{table}'")
