"""Issue 14 item 9: forgetting a host user so that the host can delete them.

``services.forget_user(user)`` (CLI ``flask contracts forget-user EMAIL``) removes the person's e-mail, name
and host key from every ``lc_`` table: their seats, enrollments and Enrolled invitations stay, under a random
per-person key (``pseudonym``), so seat accounting, counts and history stay right; their invitations without
enrollments are revoked; their contract admin roles end. Afterwards the host can delete the user row, also
where foreign keys are enforced (PostgreSQL; SQLite with ``PRAGMA foreign_keys=ON``), and
``flask contracts check`` stays clean.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from flask_learning_contracts import ContractType, InvitationStatus, services
from flask_learning_contracts.services import MismatchKind

from . import host
from .admin_support import as_manager, login_client, manager, text, url  # noqa: F401 - fixtures
from .conftest import PG_URL, count, invite_one

VOUCHER, SUBSCRIPTION = ContractType.VOUCHER, ContractType.SUBSCRIPTION
EMAIL = "ann.person@example.com"


@pytest.fixture
def foreign_keys(app, db):
    """Foreign keys enforced, as on PostgreSQL (SQLite: ``PRAGMA foreign_keys=ON`` on every connection)."""
    if db.engine.dialect.name != "sqlite":
        yield
        return

    def pragma(dbapi_connection, record):
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    db.session.remove()
    sa.event.listen(db.engine, "connect", pragma)
    db.engine.dispose()
    yield
    db.session.remove()
    sa.event.remove(db.engine, "connect", pragma)
    db.engine.dispose()


@pytest.fixture
def ann_everywhere(make_contract, make_user, make_course):
    """Ann: enrolled through a Voucher and a Subscription contract, invited (not enrolled) to a third, a
    contract admin of the first, and the actor of some history."""
    courses = [make_course(f"Course {i}") for i in range(1, 4)]
    ann = make_user(EMAIL, name="Ann Person")
    bob = make_user("bob@example.com", name="Bob Other")
    voucher = make_contract(VOUCHER, seats=5, activities=courses, require_invitation_code=False)
    subscription = make_contract(SUBSCRIPTION, seats=5, activities=courses, require_invitation_code=False)
    waiting = make_contract(VOUCHER, seats=5, activities=courses)
    services.add_contract_admin(voucher, ann)
    for contract in (voucher, subscription):
        invite_one(contract, ann, actor=ann)
        invite_one(contract, bob, actor=ann)
        services.enroll(ann, contract, courses[0])
        services.enroll(ann, contract, courses[1])
        services.enroll(bob, contract, courses[0])
    invite_one(waiting, ann)
    return ann, bob, courses, (voucher, subscription, waiting)


def _lc_text(db) -> str:
    """Every value of every ``lc_`` row, as one text (to look for what must be gone)."""
    chunks = []
    with db.engine.connect() as connection:
        for table in db.metadata.sorted_tables:
            if table.name.startswith("lc_"):
                chunks.extend(repr(tuple(row)) for row in connection.execute(sa.select(table)))
    return "\n".join(chunks).lower()


def _user_references(db, m, uid) -> dict[str, int]:
    return {
        "invitations": count(db, m.Invitation, m.Invitation.user_id == uid),
        "enrollments": count(db, m.Enrollment, m.Enrollment.user_id == uid),
        "seats": count(db, m.Seat, m.Seat.user_id == uid),
        "admins": count(db, m.ContractAdmin, m.ContractAdmin.user_id == uid),
        "history": count(db, m.HistoryEntry, m.HistoryEntry.actor_id == str(uid)),
    }


def test_forget_user_removes_the_person_and_keeps_the_accounting(db, m, ann_everywhere):
    ann, bob, courses, (voucher, subscription, waiting) = ann_everywhere
    summaries = {c.id: services.seat_summary(c) for c in (voucher, subscription, waiting)}
    rows = {model.__name__: count(db, model) for model in (m.Seat, m.Enrollment, m.Invitation)}
    assert "ann person" in _lc_text(db) and EMAIL in _lc_text(db)

    report = services.forget_user(ann)

    db.session.expire_all()
    assert _user_references(db, m, ann.id) == dict.fromkeys(
        ["invitations", "enrollments", "seats", "admins", "history"], 0)
    text = _lc_text(db)
    assert EMAIL not in text and "ann person" not in text and "ann.person" not in text
    assert "bob@example.com" in text  # nobody else is touched
    # Seats, enrollments and invitations are all still there; only Ann's idle invitation is revoked.
    assert {model.__name__: count(db, model) for model in (m.Seat, m.Enrollment, m.Invitation)} == rows
    for contract in (voucher, subscription):
        assert services.seat_summary(services.get_contract(contract.id)) == summaries[contract.id]
    after = services.seat_summary(services.get_contract(waiting.id)).by_status
    assert after[InvitationStatus.REVOKED] == 1 and after[InvitationStatus.OUTSTANDING] == 0
    # One pseudonymous key stands for Ann everywhere.
    keys = set(db.session.execute(sa.select(m.Seat.pseudonym)).scalars()) | set(
        db.session.execute(sa.select(m.Enrollment.pseudonym).where(m.Enrollment.user_id.is_(None))).scalars())
    assert keys - {None} == {report.pseudonym}
    assert (report.enrollments, report.seats, report.revoked, report.admin_roles) == (4, 3, 1, 1)
    assert sorted(report.contracts) == sorted(c.id for c in (voucher, subscription, waiting))
    for contract in (voucher, subscription, waiting):
        entries = services.history(services.get_contract(contract.id))
        assert entries[0].action == "forgotten" and report.pseudonym in entries[0].message
    assert services.reconcile().mismatches == []


def test_after_forget_user_the_host_can_delete_the_user(db, m, foreign_keys, ann_everywhere, app):
    ann, bob, courses, contracts = ann_everywhere
    uid = ann.id
    # Without forgetting, the database refuses (the extension's rows point at the user).
    with pytest.raises(sa_exc.IntegrityError):
        db.session.execute(sa.delete(host.CourseEnrollment).where(host.CourseEnrollment.account_id == uid))
        db.session.execute(sa.delete(host.Account).where(host.Account.id == uid))
        db.session.commit()
    db.session.rollback()

    services.forget_user(db.session.get(host.Account, uid))
    db.session.execute(sa.delete(host.CourseEnrollment).where(host.CourseEnrollment.account_id == uid))
    db.session.execute(sa.delete(host.Account).where(host.Account.id == uid))
    db.session.commit()

    assert db.session.get(host.Account, uid) is None
    result = app.test_cli_runner().invoke(args=["contracts", "check"])
    assert result.exit_code == 0, result.output
    # Bob still enrolls; the seats Ann used are still used.
    voucher = services.get_contract(contracts[0].id)
    services.enroll(db.session.get(host.Account, bob.id), voucher, courses[1])
    assert services.get_contract(voucher.id).seats_used == 4


def test_forgotten_rows_keep_the_one_seat_rules(db, m, ann_everywhere):
    ann, bob, courses, (voucher, subscription, _waiting) = ann_everywhere
    pseudonym = services.forget_user(ann).pseudonym
    duplicates = [
        sa.insert(m.Seat).values(contract_id=subscription.id, pseudonym=pseudonym, activity_id=None,
                                 created_at=sa.func.current_timestamp()),
        sa.insert(m.Seat).values(contract_id=voucher.id, pseudonym=pseudonym, activity_id=courses[0].id,
                                 created_at=sa.func.current_timestamp()),
        sa.insert(m.Enrollment).values(contract_id=voucher.id, invitation_id=1, pseudonym=pseudonym,
                                       activity_id=courses[0].id, seat_used=True,
                                       created_at=sa.func.current_timestamp()),
        # A row must say whose it is: a host key or a pseudonym.
        sa.insert(m.Seat).values(contract_id=voucher.id, activity_id=courses[2].id,
                                 created_at=sa.func.current_timestamp()),
    ]
    for statement in duplicates:
        with pytest.raises(sa_exc.IntegrityError):
            db.session.execute(statement)
            db.session.flush()
        db.session.rollback()


def test_forget_user_twice_changes_nothing_more(db, ann_everywhere):
    ann, *_ = ann_everywhere
    services.forget_user(ann)
    before = _lc_text(db)
    again = services.forget_user(ann)
    assert again.pseudonym is None and again.contracts == []
    assert _lc_text(db) == before


def test_forget_user_cli(app, db, m, ann_everywhere):
    ann, *_ = ann_everywhere
    runner = app.test_cli_runner()
    result = runner.invoke(args=["contracts", "forget-user", EMAIL], input="n\n")
    assert result.exit_code == 1 and EMAIL in _lc_text(db)  # asked first; "no" changes nothing

    result = runner.invoke(args=["contracts", "forget-user", EMAIL.upper(), "--yes"])
    assert result.exit_code == 0, result.output
    assert "forgotten" in result.output and "3 contracts" in result.output
    assert EMAIL not in _lc_text(db)

    result = runner.invoke(args=["contracts", "forget-user", "nobody@example.com", "--yes"])
    assert result.exit_code == 1 and "nobody@example.com" in result.output


@pytest.mark.skipif(bool(PG_URL), reason="PostgreSQL refuses to delete a user rows point at")
def test_a_user_deleted_without_forgetting_is_reported_then_forgotten(app, db, m, ann_everywhere):
    """SQLite without foreign keys lets the host delete the user and leaves our rows pointing at nobody:
    ``check`` reports them, and ``forget-user EMAIL`` still clears them (the invitations carry the e-mail)."""
    ann, *_ = ann_everywhere
    uid = ann.id
    db.session.execute(sa.delete(host.Account).where(host.Account.id == uid))
    db.session.commit()
    report = services.reconcile()
    assert {mm.kind for mm in report.remaining} == {MismatchKind.MISSING_USER}
    assert len(report.remaining) == 3 and all(f"user {uid}" in mm.problem for mm in report.remaining)

    result = app.test_cli_runner().invoke(args=["contracts", "forget-user", EMAIL, "--yes"])
    assert result.exit_code == 0, result.output
    assert _user_references(db, m, uid) == dict.fromkeys(["invitations", "enrollments", "seats", "admins", "history"],
                                                         0)
    assert EMAIL not in _lc_text(db)
    assert services.reconcile().mismatches == []


def test_the_admin_pages_show_the_forgotten_person_as_their_pseudonym(ann_everywhere, as_manager):
    ann, bob, courses, (voucher, _subscription, _waiting) = ann_everywhere
    report = services.forget_user(ann)
    pages = {path: as_manager.get(url(f"{voucher.id}/{path}")) for path in
             ("", "invitations", "history", "invitations/export.csv")}
    for path, response in pages.items():
        assert response.status_code == 200, path
        body = response.get_data(as_text=True).lower()
        assert EMAIL not in body and "ann person" not in body, path
    assert report.placeholder_email in text(pages["invitations"])
    assert f"forgotten user {report.pseudonym}" in text(pages["history"])


# Forgetting touches only the person: whole addresses, their own rows, never a name match alone

def _history_messages(contract) -> list[str]:
    return [entry.message for entry in services.history(services.get_contract(contract.id))]


def test_forget_user_replaces_whole_addresses_only(db, m, make_contract, make_user, make_course):
    """Forgetting an@example.com leaves joan@example.com alone (in her invitation and in her history rows)."""
    course = make_course("Course 1")
    contract = make_contract(VOUCHER, seats=5, activities=[course], require_invitation_code=False)
    an, joan = make_user("an@example.com", name="An"), make_user("joan@example.com", name="Joan Smith")
    invite_one(contract, an)
    joans = invite_one(contract, joan)
    services.enroll(joan, contract, course)
    services.revoke(invite_one(make_contract(VOUCHER, seats=5, activities=[course]), joan))
    before = [msg for msg in _history_messages(contract) if "joan@example.com" in msg]

    services.forget_user(an)

    db.session.expire_all()
    assert services.get_invitation(joans.id).email == "joan@example.com"
    assert [msg for msg in _history_messages(contract) if "joan@example.com" in msg] == before
    texts = _lc_text(db)
    assert "joforgotten" not in texts and "an@example.com" not in texts.replace("joan@example.com", "")


def test_forget_user_never_rewrites_another_persons_entries_by_their_name(db, m, make_contract, make_user):
    """A manager named "Al" is forgotten: "Named Alice Walker a contract admin." is not touched."""
    contract = make_contract(VOUCHER, seats=5)
    al, alice = make_user("al@example.com", name="Al"), make_user("alice@example.com", name="Alice Walker")
    services.add_contract_admin(contract, alice)
    services.add_contract_admin(contract, al)

    report = services.forget_user(al)

    messages = _history_messages(contract)
    assert "Named Alice Walker a contract admin." in messages
    assert f"Named forgotten user {report.pseudonym} a contract admin." in messages
    assert not any("Al " in msg or "Al a" in msg for msg in messages)


def test_forget_user_leaves_a_namesakes_invitations_and_entries_alone(db, m, make_contract, make_user):
    """Two managers are both called "Sam Lee"; forgetting the first relabels only what the first did."""
    contract = make_contract(SUBSCRIPTION, seats=5, require_invitation_code=False)
    first = make_user("sam.first@example.com", name="Sam Lee", manager=True)
    second = make_user("sam.second@example.com", name="Sam Lee", manager=True)
    services.add_contract_admin(contract, first)
    services.add_contract_admin(contract, second)
    by_first = services.invite(contract, emails=["x1@example.com"], actor=first).not_registered[0].invitation_id
    by_second = services.invite(contract, emails=["x2@example.com"], actor=second).not_registered[0].invitation_id

    report = services.forget_user(first)

    db.session.expire_all()
    label = f"forgotten user {report.pseudonym}"
    assert services.get_invitation(by_first).invited_by == label
    assert services.get_invitation(by_second).invited_by == "Sam Lee"
    messages = _history_messages(contract)
    assert messages.count("Named Sam Lee a contract admin.") == 1
    assert messages.count(f"Named {label} a contract admin.") == 1
    actors = [entry.actor_name for entry in services.history(services.get_contract(contract.id))
              if entry.action == "invited"]
    assert sorted(actors) == sorted(["Sam Lee", label])


def test_rows_written_before_the_inviter_was_stored_keep_the_name(db, m, make_contract, make_user):
    """An invitation older than ``invited_by_id`` (and an admin entry older than ``subject_id``) only has a name,
    which cannot tell the person from a namesake: forgetting leaves it (documented in the README)."""
    contract = make_contract(SUBSCRIPTION, seats=5, require_invitation_code=False)
    sam = make_user("sam@example.com", name="Sam Lee", manager=True)
    services.add_contract_admin(contract, sam)
    legacy = services.invite(contract, emails=["x@example.com"], actor=sam).not_registered[0].invitation_id
    db.session.execute(sa.update(m.Invitation).values(invited_by_id=None))
    db.session.execute(sa.update(m.HistoryEntry).where(m.HistoryEntry.action == "admin_added").values(subject_id=None))
    db.session.commit()

    services.forget_user(sam)

    db.session.expire_all()
    assert services.get_invitation(legacy).invited_by == "Sam Lee"
    assert "Named Sam Lee a contract admin." in _history_messages(contract)


@pytest.mark.parametrize(("address", "message", "found"), [
    ("an@example.com", "joan@example.com enrolled in Course 1.", False),
    ("an@example.com", "Revoked the invitation of an@example.com.", True),
    ("an@example.com", "an@example.com.au redeemed the invitation code.", False),
    ("an@example.com", "an@example.com-x", False),
    ("user-5", "user-50 redeemed the invitation code.", False),
    ("user-5", "user-5 redeemed the invitation code.", True),
    ("user-5", "the-user-5 redeemed", False),
])
def test_an_address_is_found_only_as_a_whole_address(address, message, found):
    from flask_learning_contracts.services.privacy import _address_pattern

    pattern = _address_pattern([address])
    assert pattern is not None and bool(pattern.search(message)) is found
