"""The foundations every table class of the extension shares: the row base, the host key columns, the stored
enums and the SQL fragments the partial indexes use."""
from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column


INFO = {"flask_learning_contracts": True}
#: Table options of the tables whose integer ids others refer to (history, hosts, links): on SQLite
#: ``AUTOINCREMENT``, so that an id is never handed out again after its row is deleted (PostgreSQL sequences
#: never go back anyway). Without it SQLite reuses the id of the newest deleted row.
NEVER_REUSED_IDS = {"info": INFO, "sqlite_autoincrement": True}
#: Rows whose status is not Revoked, as SQL (the partial unique indexes of live invitations use it).
LIVE_SQL = "status != 'revoked'"
#: Live invitations no account is linked to: the only ones an address identifies. Once linked, an invitation
#: belongs to the person (``user_id``), whatever address it was sent to: the address may pass to someone else.
UNLINKED_LIVE_SQL = LIVE_SQL + " AND user_id IS NULL"

#: Contracts that name a purchase elsewhere (both source and external id set): unique per (source, external id).
EXTERNAL_SQL = "source IS NOT NULL AND external_id IS NOT NULL"

#: Column sort orders: the ``declared_attr`` host key columns are built after the others, and these put them
#: back where the shipped migrations have them (after the table's own keys, before everything else).
_OWN_KEYS, _HOST_KEYS = -2, -1

EnumT = TypeVar("EnumT", bound=enum.Enum)


class EnumString(sa.types.TypeDecorator[EnumT], Generic[EnumT]):
    """A Python enum stored as its string value in a plain VARCHAR (portable, migration-friendly)."""

    impl = sa.String(20)
    cache_ok = True

    def __init__(self, enum_cls: type[EnumT], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.enum_cls = enum_cls

    def process_bind_param(self, value: EnumT | str | None, dialect: sa.Dialect) -> str | None:
        if value is None:
            return None
        return str(self.enum_cls(value).value)

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> EnumT | None:
        return None if value is None else self.enum_cls(value)


def utcnow() -> dt.datetime:
    """Now, as the naive UTC datetime our DateTime columns store."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


@dataclasses.dataclass(frozen=True)
class HostTables:
    """The host's user and activity models and their primary-key columns, which our foreign keys copy."""

    user_model: type[Any]
    activity_model: type[Any]
    user_pk: sa.Column[Any]
    activity_pk: sa.Column[Any]


class _Row:
    """What every one of our mapped classes has once built on a metadata."""

    __table__: ClassVar[sa.Table]
    #: Set on the mapped classes by :func:`build_models`.
    _lc_host: ClassVar[HostTables]

    if TYPE_CHECKING:
        # The mapped classes take their columns as keyword arguments (SQLAlchemy's declarative constructor).
        def __init__(self, **columns: Any) -> None: ...


def _host_fk(column: sa.Column[Any], *, nullable: bool = False, primary_key: bool = False) -> Mapped[Any]:
    """A column referencing a host table's key, with the host's key type."""
    return mapped_column(column.type, sa.ForeignKey(column), nullable=nullable, primary_key=primary_key,
                         sort_order=_HOST_KEYS)
