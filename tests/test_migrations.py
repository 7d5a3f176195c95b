"""The shipped Alembic migrations, on SQLite and PostgreSQL, for hosts with integer and string (ULID) keys.

(a) On their own (``flask_learning_contracts.migrate`` / ``flask contracts db``): upgrade → no drift →
    downgrade leaves no ``lc_`` table → upgrade again; the migrated schema equals ``db.create_all()``'s.
(b) Inside a host's Flask-Migrate history (M1): ``flask db upgrade heads`` creates the host's tables
    first (``LEARNING_CONTRACTS_ALEMBIC_DEPENDS_ON``), downgrades work per branch and as a whole, and the
    host's autogenerate with ``include_object=exclude_object`` never touches ``lc_`` tables.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
from typing import Any, Callable

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask

from flask_learning_contracts import ContractType, LearningContracts, exclude_object, migrate, services

from . import host, host_ulid
from .conftest import database_url

pytestmark = pytest.mark.filterwarnings("ignore:.*get_engine.*:DeprecationWarning")

#: The tables of the first release (lc0001), and every table today.
LC0001_TABLES = {"lc_contract", "lc_contract_admin", "lc_contract_activity", "lc_invitation", "lc_invitation_activity",
                 "lc_enrollment", "lc_seat", "lc_history"}
LC_TABLES = LC0001_TABLES | {"lc_notification"}
#: The shipped revisions' head: one line of history (each new revision follows the previous one).
LC_HEAD = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
HEAD = LC_HEAD
#: Tables whose integer ids must never be reused (AUTOINCREMENT on SQLite).
AUTOINCREMENT_TABLES = {"lc_contract", "lc_invitation", "lc_enrollment", "lc_seat", "lc_history"}


@dataclasses.dataclass
class HostSpec:
    """One kind of host: its module (own ``db``), models, rules, config and its initial Alembic revision."""

    name: str
    module: Any
    user_model: Any
    activity_model: Any
    rules: Callable[[], Any]
    config: dict[str, Any]
    tables: tuple[str, ...]
    revision: str
    make_user: Callable[[str], Any]
    make_activity: Callable[[str], Any]

    def create_app(self, url: str, *, migrations: str | None = None, migrate_first: bool = False, **config) -> Flask:
        """The host app; with ``migrations``, a host running Flask-Migrate (created before or after us)."""
        if not migrate_first:
            app = self.module.create_app(url, **config)
            if migrations:
                flask_migrate.Migrate(app, self.module.db, directory=migrations, include_object=exclude_object)
            return app
        app = Flask(f"{self.name}_host")
        app.config.update(SECRET_KEY="m1", SQLALCHEMY_DATABASE_URI=url, **self.config, **config)
        self.module.db.init_app(app)
        flask_migrate.Migrate(app, self.module.db, directory=migrations, include_object=exclude_object)
        LearningContracts(app, db=self.module.db, user_model=self.user_model, activity_model=self.activity_model,
                          rules=self.rules())
        return app


INT_HOST_REVISION = '''"""host: accounts and courses"""
import sqlalchemy as sa
from alembic import op

revision = "host0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email_address", sa.String(320), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("is_manager", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "courses",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("retired", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "course_enrollments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("course_id", sa.Integer(), sa.ForeignKey("courses.id"), nullable=False),
    )


def downgrade():
    op.drop_table("course_enrollments")
    op.drop_table("courses")
    op.drop_table("accounts")
'''

ULID_HOST_REVISION = '''"""host: members and trainings with ULID keys"""
import sqlalchemy as sa
from alembic import op

revision = "host0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "members",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("mail", sa.String(254), nullable=False, unique=True),
        sa.Column("display", sa.String(100), nullable=False),
        sa.Column("staff", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "trainings",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("format", sa.String(20), nullable=False),
    )
    op.create_table(
        "training_seats",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("member_id", sa.String(26), sa.ForeignKey("members.id"), nullable=False),
        sa.Column("training_id", sa.String(26), sa.ForeignKey("trainings.id"), nullable=False),
    )


def downgrade():
    op.drop_table("training_seats")
    op.drop_table("trainings")
    op.drop_table("members")
'''

HOSTS = {
    "int-keys": HostSpec(
        "int", host, host.Account, host.Course, host.HostRules, {"LEARNING_CONTRACTS_USER_EMAIL_ATTR": "email_address"},
        ("accounts", "courses", "course_enrollments"), INT_HOST_REVISION,
        lambda email: host.Account(email_address=email), lambda title: host.Course(title=title)),
    "ulid-keys": HostSpec(
        "ulid", host_ulid, host_ulid.Member, host_ulid.Training, host_ulid.UlidRules, {},
        ("members", "trainings", "training_seats"), ULID_HOST_REVISION,
        lambda email: host_ulid.Member(primary_email=email), lambda title: host_ulid.Training(name=title)),
}


@pytest.fixture(params=list(HOSTS))
def spec(request) -> HostSpec:
    return HOSTS[request.param]


@pytest.fixture(autouse=True)
def keep_logging():
    """Flask-Migrate's env.py calls ``logging.config.fileConfig``, which disables every existing logger:
    put the test process's logging back afterwards."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    disabled = {name: lg.disabled for name, lg in logging.Logger.manager.loggerDict.items()
                if isinstance(lg, logging.Logger)}
    yield
    root.setLevel(level)
    root.handlers[:] = handlers
    for name, lg in logging.Logger.manager.loggerDict.items():
        if isinstance(lg, logging.Logger):
            lg.disabled = disabled.get(name, False)


def _drop_everything(db) -> None:
    db.session.remove()
    db.drop_all()
    with db.engine.begin() as connection:
        for table in ("alembic_version", "lc_alembic_version"):
            sa.Table(table, sa.MetaData()).drop(connection, checkfirst=True)


def _tables(db) -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def _create_host_tables(spec: HostSpec) -> None:
    db = spec.module.db
    db.metadata.create_all(db.engine, tables=[db.metadata.tables[name] for name in spec.tables])


def _smoke(spec: HostSpec) -> None:
    """The migrated tables work: foreign keys into the host's tables accept the host's keys."""
    db = spec.module.db
    user, activity = spec.make_user("smoke@example.com"), spec.make_activity("Smoke test")
    db.session.add_all([user, activity])
    db.session.commit()
    contract = services.create_contract(
        code="MIG", title="Migrated", contract_type=ContractType.SUBSCRIPTION, seats=2,
        valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2026, 12, 31), require_invitation_code=False)
    services.add_activities(contract, [activity])
    services.invite(contract, users=[user])
    services.enroll(user, contract, activity)
    assert services.seat_summary(contract).used == 1
    db.session.remove()


@pytest.fixture
def bare(spec, tmp_path):
    """The host app on an empty database (no table at all), its context pushed."""
    app = spec.create_app(database_url(tmp_path))
    with app.app_context():
        _drop_everything(spec.module.db)
        yield app
        _drop_everything(spec.module.db)
        spec.module.db.engine.dispose()


# ---------------------------------------------------------------------------------------------
# (a) standalone
# ---------------------------------------------------------------------------------------------
def test_standalone_upgrade_downgrade_upgrade(spec, bare):
    db = spec.module.db
    _create_host_tables(spec)

    migrate.upgrade()
    assert LC_TABLES | {"lc_alembic_version"} <= _tables(db)
    assert LC_HEAD and migrate.current() == (LC_HEAD,)
    assert migrate.drift() == []

    migrate.downgrade()
    assert {t for t in _tables(db) if t.startswith("lc_")} == set()
    assert set(spec.tables) <= _tables(db)  # the host's tables are never touched
    assert migrate.current() == ()

    migrate.upgrade()
    assert migrate.drift() == []
    _smoke(spec)


def test_standalone_ignores_the_host_dependency(spec, bare):
    """``LEARNING_CONTRACTS_ALEMBIC_DEPENDS_ON`` names a host revision the standalone history cannot know."""
    bare.config["LEARNING_CONTRACTS_ALEMBIC_DEPENDS_ON"] = "host0001"
    _create_host_tables(spec)
    migrate.upgrade()
    assert migrate.drift() == []


def test_standalone_refuses_before_the_host_tables_exist(spec, bare):
    with pytest.raises(RuntimeError, match="LEARNING_CONTRACTS_ALEMBIC_DEPENDS_ON"):
        migrate.upgrade()
    assert not (LC_TABLES & _tables(spec.module.db))


def test_cli_db_commands(spec, bare):
    _create_host_tables(spec)
    runner = bare.test_cli_runner()
    assert runner.invoke(args=["contracts", "db", "upgrade"]).exit_code == 0
    result = runner.invoke(args=["contracts", "db", "check"])
    assert result.exit_code == 0 and "No new upgrade operations detected" in result.output
    with spec.module.db.engine.begin() as connection:
        connection.exec_driver_sql("DROP INDEX ix_lc_history_contract")
    result = runner.invoke(args=["contracts", "db", "check"])
    assert result.exit_code == 1 and "ix_lc_history_contract" in result.output
    assert runner.invoke(args=["contracts", "db", "downgrade"]).exit_code == 0
    assert not {t for t in _tables(spec.module.db) if t.startswith("lc_")}


def _schema(engine) -> dict[str, Any]:
    """Everything Alembic's autogenerate does not compare, reflected: indexes with their WHERE clauses,
    unique and check constraints, foreign keys, column types and nullability."""
    inspector = sa.inspect(engine)
    schema = {}
    for table in sorted(t for t in inspector.get_table_names() if t in LC_TABLES):
        schema[table] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            "pk": inspector.get_pk_constraint(table)["constrained_columns"],
            "fks": sorted((tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
                          for fk in inspector.get_foreign_keys(table)),
            "indexes": sorted((ix["name"], tuple(ix["column_names"]), bool(ix["unique"]),
                               str(sorted((k, str(v)) for k, v in ix.get("dialect_options", {}).items())))
                              for ix in inspector.get_indexes(table)),
            "uniques": sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
            "checks": sorted((c["name"], " ".join(c["sqltext"].split())) for c in inspector.get_check_constraints(table)),
            "autoincrement": _sqlite_autoincrement(engine, table),
        }
    return schema


def _sqlite_autoincrement(engine, table: str) -> bool | None:
    """Whether SQLite keeps ``table``'s ids in ``sqlite_sequence`` (``AUTOINCREMENT``); ``None`` elsewhere
    (Alembic's comparison does not see the keyword, so the tests read the table's SQL)."""
    if engine.dialect.name != "sqlite":
        return None
    with engine.connect() as connection:
        sql = connection.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                                         (table,)).scalar_one()
    return "AUTOINCREMENT" in sql.upper()


def test_migrated_schema_equals_create_all(spec, bare):
    db = spec.module.db
    db.create_all()
    expected = _schema(db.engine)
    assert set(expected) == LC_TABLES
    assert any(ix[3] != "[]" for ix in expected["lc_seat"]["indexes"]) or db.engine.dialect.name == "sqlite"
    assert expected["lc_contract"]["checks"]  # CHECK seats_used <= seats exists
    if db.engine.dialect.name == "sqlite":  # ids are never reused
        assert {t for t, info in expected.items() if info["autoincrement"]} == AUTOINCREMENT_TABLES
    _drop_everything(db)
    _create_host_tables(spec)
    migrate.upgrade()
    assert _schema(db.engine) == expected


# ---------------------------------------------------------------------------------------------
# lc0002: ids are never reused (AUTOINCREMENT on SQLite; PostgreSQL sequences never go back)
# ---------------------------------------------------------------------------------------------
def _lc0001_rows(spec) -> dict[str, Any]:
    """Rows as a release at ``lc0001`` wrote them (with Core on the reflected tables: today's models may have
    columns ``lc0001`` lacks): two contracts with history, the first with an enrollment and its seat; then
    the newest contract and its invitation deleted the way ``delete_contract`` did, history kept.
    Returns the deleted ids and the row counts left."""
    db = spec.module.db
    user, activity = spec.make_user("legacy@example.com"), spec.make_activity("Legacy course")
    db.session.add_all([user, activity])
    db.session.commit()
    uid, aid = user.id, activity.id
    db.session.remove()
    with db.engine.begin() as connection:
        t = {name: sa.Table(name, sa.MetaData(), autoload_with=connection) for name in LC0001_TABLES}
        now, day = dt.datetime(2026, 6, 1, 12), dt.date(2026, 6, 1)
        ids = {}
        for code in ("KEPT", "GONE"):
            ids[code] = connection.execute(t["lc_contract"].insert().values(
                code=code, code_key=code.lower(), title=code, description="", contract_type="voucher", seats=5,
                seats_used=1 if code == "KEPT" else 0, per_user_limit=0, valid_from=day,
                valid_until=dt.date(2026, 12, 31), require_invitation_code=False, invitation_code=f"CODE{code}",
                created_at=now, updated_at=now)).inserted_primary_key[0]
            connection.execute(t["lc_history"].insert().values(at=now, contract_id=ids[code], contract_code=code,
                                                               action="created", message=f"Created {code}."))
        invitations = {}
        for code, status, count in (("KEPT", "enrolled", 1), ("GONE", "outstanding", 0)):
            invitations[code] = connection.execute(t["lc_invitation"].insert().values(
                contract_id=ids[code], user_id=uid, email="legacy@example.com", status=status, require_code=False,
                enrolled_count=count, invited_at=now, send_count=1)).inserted_primary_key[0]
            connection.execute(t["lc_history"].insert().values(
                at=now, contract_id=ids[code], contract_code=code, invitation_id=invitations[code],
                action="invited", message="Invited legacy@example.com."))
        connection.execute(t["lc_contract_activity"].insert().values(contract_id=ids["KEPT"], activity_id=aid,
                                                                     added_at=now))
        connection.execute(t["lc_enrollment"].insert().values(
            contract_id=ids["KEPT"], invitation_id=invitations["KEPT"], user_id=uid, activity_id=aid, seat_used=True,
            created_at=now))
        connection.execute(t["lc_seat"].insert().values(contract_id=ids["KEPT"], user_id=uid, activity_id=aid,
                                                        created_at=now))
        connection.execute(t["lc_invitation"].delete().where(t["lc_invitation"].c.id == invitations["GONE"]))
        connection.execute(t["lc_contract"].delete().where(t["lc_contract"].c.id == ids["GONE"]))
        counts = {name: connection.execute(sa.select(sa.func.count()).select_from(t[name])).scalar_one()
                  for name in LC0001_TABLES}
    return {"contract": ids["GONE"], "invitation": invitations["GONE"], "kept": ids["KEPT"], "counts": counts,
            "user_id": uid}


def _row_counts(db) -> dict[str, int]:
    with db.engine.connect() as connection:
        return {name: connection.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one()
                for name in LC0001_TABLES}


@pytest.fixture(params=[False, True], ids=["fk-off", "fk-on"])
def foreign_keys(request, spec, bare):
    """SQLite hosts that switch on ``PRAGMA foreign_keys`` for every connection (a common recipe): the
    rebuild of a table others point at must still work, inside Alembic's transaction."""
    db = spec.module.db
    if not request.param:
        yield False
        return
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL always enforces foreign keys")

    def pragma(dbapi_connection, record):
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    sa.event.listen(db.engine, "connect", pragma)
    db.engine.dispose()
    yield True
    sa.event.remove(db.engine, "connect", pragma)
    db.engine.dispose()


def test_upgrade_never_reuses_ids_deleted_before_it(spec, bare, foreign_keys):
    db = spec.module.db
    sqlite = db.engine.dialect.name == "sqlite"
    _create_host_tables(spec)
    migrate.upgrade("lc0001")
    legacy = _lc0001_rows(spec)
    if sqlite:  # the drift check sees the missing AUTOINCREMENT (Alembic's own comparison does not)
        assert {d[1] for d in migrate.drift() if d[0] == "sqlite_autoincrement"} == AUTOINCREMENT_TABLES

    migrate.upgrade()
    assert migrate.current() == (HEAD,)
    assert migrate.drift() == []
    assert _row_counts(db) == legacy["counts"]
    if sqlite:
        assert {t for t in LC_TABLES if _sqlite_autoincrement(db.engine, t)} == AUTOINCREMENT_TABLES
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == int(foreign_keys)

    # The deleted contract's and invitation's ids stay retired, and its history stays its own.
    contract = services.create_contract(
        code="NEW", title="New", contract_type=ContractType.SUBSCRIPTION, seats=2, valid_from=dt.date(2026, 1, 1),
        valid_until=dt.date(2026, 12, 31), require_invitation_code=False)
    assert contract.id > legacy["contract"]
    newcomer = spec.make_user("newcomer@example.com")
    db.session.add(newcomer)
    db.session.commit()
    (invited,) = services.invite(contract, users=[newcomer]).invited
    assert invited.invitation_id > legacy["invitation"]
    assert [e.action for e in reversed(services.history(contract))] == ["created", "invited"]
    kept = services.get_contract(legacy["kept"])
    assert [e.action for e in reversed(services.history(kept))] == ["created", "invited"]
    assert services.check_seats() == []
    db.session.remove()

    # Down to lc0001: the plain tables again, every row kept.
    migrate.downgrade("lc0001")
    assert migrate.current() == ("lc0001",)
    counts = _row_counts(db)
    assert counts["lc_contract"] == legacy["counts"]["lc_contract"] + 1
    assert counts["lc_seat"] == legacy["counts"]["lc_seat"]
    if sqlite:
        assert not any(_sqlite_autoincrement(db.engine, t) for t in LC0001_TABLES)
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []
    migrate.upgrade()
    assert migrate.drift() == []


def test_a_failed_rebuild_loses_nothing(spec, bare, monkeypatch):
    """SQLite rebuilds the tables in one transaction: a failure after the rebuild rolls every table back."""
    db = spec.module.db
    if db.engine.dialect.name != "sqlite":
        pytest.skip("nothing is rebuilt on PostgreSQL")
    _create_host_tables(spec)
    migrate.upgrade("lc0001")
    legacy = _lc0001_rows(spec)

    def fail(table, referenced):
        raise RuntimeError("disk full")

    monkeypatch.setattr("flask_learning_contracts.migrations.retire_sqlite_ids", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        migrate.upgrade()
    assert migrate.current() == ("lc0001",)
    assert _row_counts(db) == legacy["counts"]
    assert not any(_sqlite_autoincrement(db.engine, t) for t in LC0001_TABLES)
    assert not {t for t in _tables(db) if t.startswith("_lc")}


# ---------------------------------------------------------------------------------------------
# lc0003: forgotten learners (seats and enrollments under a pseudonym)
# ---------------------------------------------------------------------------------------------
def test_downgrade_below_lc0003_refuses_while_forgotten_learners_rows_exist(spec, bare):
    db = spec.module.db
    _create_host_tables(spec)
    migrate.upgrade()
    _smoke(spec)  # smoke@example.com holds a seat and an enrollment
    user = db.session.execute(sa.select(spec.user_model)).scalars().one()
    services.forget_user(user)
    db.session.remove()
    with pytest.raises(RuntimeError, match="forgotten learners"):
        migrate.downgrade("lc0002")
    # PostgreSQL rolls the whole downgrade back; on SQLite (no transactional DDL for Alembic) lc0004 stays down
    # (it stores nothing lc0003 needs) and lc0003 refused. Either way the upgrade goes back to the head.
    assert migrate.current() == (("lc0003",) if db.engine.dialect.name == "sqlite" else (HEAD,))
    migrate.upgrade()
    assert migrate.current() == (HEAD,)
    assert migrate.drift() == []
    assert services.check_seats() == []
    db.session.remove()


def _index_names(db, table: str) -> set[str]:
    return {index["name"] for index in sa.inspect(db.engine).get_indexes(table)}


def test_downgrade_below_lc0011_refuses_while_an_address_is_on_two_live_invitations(spec, bare):
    """After lc0011 an address that changed hands can be on two live invitations of one contract (the old holder's,
    linked to them, and the new holder's); the index before lc0011 cannot hold both. The downgrade says which
    addresses clash and what to do, before it drops anything."""
    db = spec.module.db
    _create_host_tables(spec)
    migrate.upgrade()
    _smoke(spec)  # smoke@example.com is invited to MIG
    old_holder = db.session.execute(sa.select(spec.user_model)).scalars().one()
    contract = db.session.execute(sa.select(bare.extensions["learning_contracts"].models.Contract)).scalars().one()
    setattr(old_holder, "email_address" if spec.name == "int" else "primary_email", "moved@example.com")
    db.session.commit()
    new_holder = spec.make_user("smoke@example.com")
    db.session.add(new_holder)
    db.session.commit()
    services.invite(contract, users=[new_holder])
    db.session.remove()

    with pytest.raises(RuntimeError, match=r"MIG: smoke@example\.com.*revoke"):
        migrate.downgrade("lc0010")

    # the index is still there (on SQLite the revisions above lc0011 stay down; PostgreSQL rolls back all)
    assert "uq_lc_invitation_live_email" in _index_names(db, "lc_invitation")
    assert migrate.current() == (("lc0011",) if db.engine.dialect.name == "sqlite" else (HEAD,))
    migrate.upgrade()
    assert migrate.current() == (HEAD,)
    assert migrate.drift() == []
    db.session.remove()


# ---------------------------------------------------------------------------------------------
# (b) M1: inside the host's Flask-Migrate history
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def m1(spec, tmp_path, request):
    """A host running Flask-Migrate with its own initial revision; ``migrate_first`` picks the init order."""
    directory = str(tmp_path / "migrations")
    migrate_first = getattr(request, "param", False)
    app = spec.create_app(database_url(tmp_path), migrations=directory, migrate_first=migrate_first,
                          LEARNING_CONTRACTS_ALEMBIC_DEPENDS_ON="host0001")
    with app.app_context():
        db = spec.module.db
        _drop_everything(db)
        flask_migrate.init(directory=directory)
        with open(os.path.join(directory, "versions", "host0001_initial.py"), "w") as f:
            f.write(spec.revision)
        ddl: list[str] = []

        @sa.event.listens_for(db.engine, "before_cursor_execute")
        def _record(conn, cursor, statement, parameters, context, executemany):
            words = statement.split()
            if len(words) > 2 and words[0] in {"CREATE", "DROP"} and words[1] == "TABLE":
                name = [w for w in words[2:] if w not in {"IF", "NOT", "EXISTS"}][0]
                ddl.append(f"{words[0]} {name}".replace('"', "").rstrip("("))

        yield app, directory, ddl
        sa.event.remove(db.engine, "before_cursor_execute", _record)
        _drop_everything(db)
        db.engine.dispose()


def _versions(db) -> set[str]:
    with db.engine.connect() as connection:
        return set(connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())


def _position(ddl: list[str], statement: str) -> int:
    matches = [i for i, s in enumerate(ddl) if s.split()[0] == statement.split()[0]
               and s.split()[1].split(".")[-1] == statement.split()[1]]
    assert matches, (statement, ddl)
    return matches[0]


@pytest.mark.parametrize("m1", [True, False], ids=["migrate-first", "extension-first"], indirect=True)
def test_flask_migrate_upgrade_heads_runs_host_revision_first(spec, m1):
    app, directory, ddl = m1
    db = spec.module.db
    flask_migrate.upgrade(directory=directory, revision="heads")

    assert _versions(db) == {LC_HEAD}  # host0001 is applied too: Alembic keeps only the dependent head
    assert LC_TABLES | set(spec.tables) <= _tables(db)
    assert "lc_alembic_version" not in _tables(db)  # one history: the host's
    first_lc = min(_position(ddl, f"CREATE {t}") for t in LC_TABLES)
    assert max(_position(ddl, f"CREATE {t}") for t in spec.tables) < first_lc  # host tables first (PG FKs)
    _smoke(spec)

    # our branch alone goes down and up again; the host's tables and data stay
    flask_migrate.downgrade(directory=directory, revision="learning_contracts@base")
    assert _versions(db) == {"host0001"}
    assert not LC_TABLES & _tables(db) and set(spec.tables) <= _tables(db)
    flask_migrate.upgrade(directory=directory, revision="heads")
    assert _versions(db) == {LC_HEAD}

    # everything down: our tables are dropped before the host's they point at
    ddl.clear()
    flask_migrate.downgrade(directory=directory, revision="base")
    assert _versions(db) == set()
    assert not (LC_TABLES | set(spec.tables)) & _tables(db)
    last_lc = max(_position(ddl, f"DROP {t}") for t in LC_TABLES)
    assert last_lc < min(_position(ddl, f"DROP {t}") for t in spec.tables)


def _autogenerate(app, directory: str, message: str) -> None:
    """``flask db migrate --head host0001`` as a fresh process would run it. (Flask-Migrate's env.py caches
    its "skip empty revisions" hook in the app's configure args on first use, bound to that command's
    config; in one process a later ``migrate`` would get the hook of the earlier ``upgrade``.)"""
    app.extensions["migrate"].configure_args.pop("process_revision_directives", None)
    flask_migrate.migrate(directory=directory, message=message, head="host0001")


def test_host_autogenerate_leaves_our_tables_alone(spec, m1):
    app, directory, ddl = m1
    db = spec.module.db
    flask_migrate.upgrade(directory=directory, revision="heads")
    versions = os.path.join(directory, "versions")
    before = set(os.listdir(versions))

    # Nothing changed: the host's autogenerate writes no revision.
    _autogenerate(app, directory, "nothing")
    assert set(os.listdir(versions)) == before

    # Our tables drift from the models (as between two releases of the extension) ...
    with db.engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE lc_history ADD COLUMN legacy_note VARCHAR(10)")
        connection.exec_driver_sql("DROP INDEX ix_lc_invitation_email")
    with db.engine.connect() as connection:
        unfiltered = compare_metadata(MigrationContext.configure(connection), db.metadata)
        filtered = compare_metadata(MigrationContext.configure(connection, opts={"include_object": exclude_object}),
                                    db.metadata)
    assert any("lc_" in repr(diff) for diff in unfiltered)  # without the filter they would be picked up
    assert filtered == []
    _autogenerate(app, directory, "still nothing")
    assert set(os.listdir(versions)) == before

    # ... while a real change to the host's own tables is still found, and nothing of ours comes with it.
    host_table = spec.tables[1]
    with db.engine.begin() as connection:
        connection.exec_driver_sql(f"ALTER TABLE {host_table} ADD COLUMN old_code VARCHAR(5)")
    _autogenerate(app, directory, "host change")
    (new,) = set(os.listdir(versions)) - before
    with open(os.path.join(versions, new)) as f:
        script = f.read()
    assert "old_code" in script and "lc_" not in script
