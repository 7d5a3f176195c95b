"""Notifications (SPEC § Notifications and lifecycle): the shipped e-mails through Flask-Mailman and a real SMTP
server, nothing lost (retries with backoff, a sender that dies), the host's hooks, immediate and queued delivery.

The scheduler (reminders, seats alerts, end-of-contract notices) is in ``test_services_schedule.py``; races in
``test_notifications_concurrency.py``; RQ in ``test_rq_delivery.py``.
"""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
import sqlalchemy as sa
from jinja2 import ChoiceLoader, DictLoader, FileSystemLoader

from flask_learning_contracts import ContractType, errors, services
from flask_learning_contracts.codes import format_code
from flask_learning_contracts.enums import DeliveryStatus, NotificationKind
from flask_learning_contracts.messages import Message
from flask_learning_contracts.services import inviting

from .notify_support import MailRules, SmtpServer, bodies, free_port, use_rules, use_shipped_mail

SITE = "https://lms.example.com"
LEARNER_PAGE = SITE + "/learning-contracts/"


@pytest.fixture
def courses(make_course):
    return [make_course("Safety & Health"), make_course("Data Privacy")]


@pytest.fixture
def site(app):
    app.config["LEARNING_CONTRACTS_BASE_URL"] = SITE
    return app


def rows(db, m, *where):
    """The stored notifications (fresh from the database), oldest first."""
    db.session.rollback()
    return list(db.session.execute(sa.select(m.Notification).where(*where).order_by(m.Notification.id)).scalars())


def move(rules, **delta):
    rules.clock += dt.timedelta(**delta)


def deliver_cli(app, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=["contracts", "deliver", *args])
    assert result.exit_code == 0, result.output
    return result.output


# ---------------------------------------------------------------------------------------------
# the shipped e-mails
# ---------------------------------------------------------------------------------------------
def test_invitation_email_has_the_code_and_a_link_to_the_learner_page(site, db, m, make_contract, make_user, courses):
    outbox = use_shipped_mail(site).outbox
    contract = make_contract(ContractType.VOUCHER, title="Acme <Compliance>", activities=courses,
                             require_invitation_code=True)
    ana = make_user("ana@example.com", name="Ana")
    services.invite(contract, users=[ana], emails=["newcomer@example.com"])

    assert sorted(message.to[0] for message in outbox) == ["ana@example.com", "newcomer@example.com"]
    to_ana = next(message for message in outbox if message.to == ["ana@example.com"])
    code = format_code(contract.invitation_code)
    assert to_ana.subject == "You are invited: Acme <Compliance>"
    assert to_ana.from_email == "lms@example.com"
    assert "Hello Ana," in to_ana.body and f"Your invitation code: {code}" in to_ana.body
    assert LEARNER_PAGE in to_ana.body and "- Safety & Health\n- Data Privacy" in to_ana.body
    html, mimetype = to_ana.alternatives[0]
    assert mimetype == "text/html"
    assert code in html and f'href="{LEARNER_PAGE}"' in html
    assert "Acme &lt;Compliance&gt;" in html and "Safety &amp; Health" in html  # escaped, never raw
    to_newcomer = next(message for message in outbox if message.to == ["newcomer@example.com"])
    assert "You do not have an account yet" in to_newcomer.body
    stored = rows(db, m)
    assert [(n.kind, n.status, n.attempts) for n in stored] == [
        (NotificationKind.INVITATION, DeliveryStatus.SENT, 1)] * 2
    assert all(n.sent_at == dt.datetime(2026, 6, 15, 12, 0) for n in stored)


def test_invitation_without_the_code_requirement_has_no_code(site, make_contract, make_user, courses):
    outbox = use_shipped_mail(site).outbox
    contract = make_contract(ContractType.SUBSCRIPTION, activities=courses, require_invitation_code=False)
    services.invite(contract, users=[make_user()])
    [message] = outbox
    assert format_code(contract.invitation_code) not in message.body + message.alternatives[0][0]
    assert "No code is needed" in message.body


def test_a_real_smtp_server_receives_the_invitation_with_code_and_link(site, make_contract, make_user, courses):
    server = SmtpServer().start()
    try:
        use_shipped_mail(site, **SmtpServer.config(server.port))
        contract = make_contract(ContractType.VOUCHER, title="Acme", activities=courses)
        report = services.invite(contract, users=[make_user("ana@example.com")], emails=["new@example.com"])
        assert report.notification_failures == []
    finally:
        server.stop()
    assert sorted(r[0] for r in server.recipients) == ["ana@example.com", "new@example.com"]
    message = server.received[server.recipients.index(["ana@example.com"])]
    assert message["Subject"] == "You are invited: Acme" and message["From"] == "lms@example.com"
    assert message["X-Learning-Contracts-Notification"]
    text, html = bodies(message)
    code = format_code(contract.invitation_code)
    assert code in text and LEARNER_PAGE in text
    assert code in html and f'href="{LEARNER_PAGE}"' in html


def test_smtp_down_leaves_the_notification_pending_then_deliver_sends_it(site, db, m, rules, make_contract,
                                                                          make_user, courses):
    port = free_port()  # nothing listens here yet: the mail server is down
    use_shipped_mail(site, **SmtpServer.config(port))
    rules = site.extensions["learning_contracts"].rules
    contract = make_contract(ContractType.VOUCHER, title="Acme", activities=courses)
    report = services.invite(contract, users=[make_user("ana@example.com")])

    assert len(report.invited) == 1 and len(report.notification_failures) == 1  # the invitation exists
    [row] = rows(db, m)
    assert (row.status, row.attempts) == (DeliveryStatus.PENDING, 1) and row.last_error
    assert row.next_attempt_at > rules.now().replace(tzinfo=None)
    assert any(h.action == "notification_failed" for h in services.history(services.get_contract(contract.id)))

    server = SmtpServer(port).start()
    try:
        assert deliver_cli(site).startswith("0 sent, 0 failed")  # the retry is not due yet
        move(rules, hours=1)
        assert deliver_cli(site).startswith("1 sent, 0 failed")
    finally:
        server.stop()
    [message] = server.received
    assert format_code(contract.invitation_code) in bodies(message)[0]
    [row] = rows(db, m)
    assert (row.status, row.attempts, row.last_error) == (DeliveryStatus.SENT, 2, None)


class FlakyRules(MailRules):
    """A host whose mailer fails until told otherwise."""

    def __init__(self) -> None:
        super().__init__()
        self.failing: Exception | None = ConnectionError("relay unreachable")
        self.messages: list[Message] = []

    def send_notification(self, message: Message) -> None:
        if self.failing is not None:
            raise self.failing
        self.messages.append(message)


def test_failures_back_off_then_fail_and_an_admin_retry_sends_them(app, db, m, make_contract, make_user, courses):
    rules = use_rules(app, FlakyRules())
    app.config.update(LEARNING_CONTRACTS_DELIVERY_ATTEMPTS=3, LEARNING_CONTRACTS_DELIVERY_BACKOFF=60)
    contract = make_contract(ContractType.VOUCHER, activities=courses)
    services.invite(contract, users=[make_user("ana@example.com")])
    waits = []
    for attempt in (1, 2):
        [row] = rows(db, m)
        assert (row.status, row.attempts, row.last_error) == (DeliveryStatus.PENDING, attempt, "relay unreachable")
        waits.append((row.next_attempt_at - rules.now().replace(tzinfo=None)).total_seconds())
        assert services.deliver_notifications().sent == 0  # not due yet
        move(rules, hours=1)
        report = services.deliver_notifications()
        assert (report.sent, report.failed) == (0, 1)
    assert 48 <= waits[0] <= 72 and 96 <= waits[1] <= 144  # 60 s then 120 s, ±20 % jitter
    [row] = rows(db, m)
    assert (row.status, row.attempts) == (DeliveryStatus.FAILED, 3)
    assert services.failed_notifications(contract)[0].id == row.id
    assert any("(attempts: 3)" in h.message for h in services.history(services.get_contract(contract.id)))
    move(rules, days=1)
    assert services.deliver_notifications().sent == 0  # Failed rows wait for an admin

    rules.failing = None
    assert services.retry_notifications(services.get_contract(contract.id)) == 1  # immediate mode: sent now
    [row] = rows(db, m)
    assert (row.status, row.attempts) == (DeliveryStatus.SENT, 1)
    assert [msg.to for msg in rules.messages] == ["ana@example.com"]
    assert services.retry_notifications(services.get_contract(contract.id)) == 0


def test_a_sender_that_dies_after_the_commit_is_taken_over_once_its_lease_runs_out(app, db, m, rules, make_contract,
                                                                                   make_user, courses, monkeypatch):
    """The invite committed its notifications "sending" under this process's lease, then the process died
    before sending (simulated: the after-commit delivery never runs). Nothing is lost and nothing is sent
    twice: other senders leave the rows alone until the lease ends, then one of them sends them."""
    monkeypatch.setattr(inviting, "deliver_after_commit", lambda claims, done=None, known=None: None)
    contract = make_contract(ContractType.VOUCHER, activities=courses)
    services.invite(contract, users=[make_user("ana@example.com"), make_user("ben@example.com")])
    assert [n.status for n in rows(db, m)] == [DeliveryStatus.SENDING] * 2 and rules.sent == []
    assert services.deliver_notifications() == services.DeliveryReport(pending=2)
    move(rules, seconds=int(app.config["LEARNING_CONTRACTS_DELIVERY_LEASE"]) + 1)
    assert services.deliver_notifications().sent == 2
    assert sorted(rules.sent) == [("ana@example.com", False), ("ben@example.com", False)]
    assert [(n.status, n.attempts) for n in rows(db, m)] == [(DeliveryStatus.SENT, 2)] * 2


def test_a_template_overridden_by_path_wins(site, make_contract, make_user, courses, tmp_path):
    folder = tmp_path / "host_templates" / "learning_contracts" / "email"
    folder.mkdir(parents=True)
    (folder / "invitation.txt").write_text("Welcome aboard {{ contract.title }}! Code {{ code }} at {{ link }}")
    (folder / "invitation.subject.txt").write_text("Join {{ contract.title }}")
    site.jinja_loader = FileSystemLoader(str(tmp_path / "host_templates"))  # the host app's own templates folder
    outbox = use_shipped_mail(site).outbox
    contract = make_contract(ContractType.VOUCHER, title="Acme", activities=courses)
    services.invite(contract, users=[make_user()])
    [message] = outbox
    assert message.subject == "Join Acme"
    assert message.body == f"Welcome aboard Acme! Code {format_code(contract.invitation_code)} at {LEARNER_PAGE}"
    assert "You are invited to the learning contract" in message.alternatives[0][0]  # the shipped HTML stays


def test_a_broken_host_template_fails_that_message_and_is_retried(site, db, m, make_contract, make_user, courses):
    site.jinja_loader = ChoiceLoader([DictLoader({"learning_contracts/email/invitation.txt": "{{ nope() }}"})])
    use_shipped_mail(site)
    contract = make_contract(ContractType.VOUCHER, activities=courses)
    report = services.invite(contract, users=[make_user()])
    assert len(report.invited) == 1 and len(report.notification_failures) == 1
    [row] = rows(db, m)
    assert row.status is DeliveryStatus.PENDING and "undefined" in row.last_error


# ---------------------------------------------------------------------------------------------
# the host's hooks
# ---------------------------------------------------------------------------------------------
class CollectingRules(MailRules):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[Message] = []

    def send_notification(self, message: Message) -> None:
        self.messages.append(message)


def test_send_notification_receives_immutable_rendered_messages(site, db, m, make_contract, make_user, courses):
    rules = use_rules(site, CollectingRules())
    contract = make_contract(ContractType.VOUCHER, activities=courses)
    services.invite(contract, users=[make_user("ana@example.com")])
    [message] = rules.messages
    [row] = rows(db, m)
    assert (message.kind, message.to, message.contract_id, message.notification_id) == (
        NotificationKind.INVITATION, "ana@example.com", contract.id, row.id)
    assert message.invitation_id == row.invitation_id and message.subject and message.html.startswith("<!doctype")
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.to = "someone@else.example"  # type: ignore[misc]


class BatchHost(MailRules):
    """A host written before notifications existed: its own batch hook and resend hook."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.resent: list[str] = []

    def send_invitations(self, invitations):
        invitations = list(invitations)
        self.batches.append(len(invitations))
        return [(inv, ValueError("bounced")) for inv in invitations if inv.email.startswith("bounce")]

    def send_invitation(self, invitation, resend=False):
        assert resend
        self.resent.append(invitation.email)


def test_hosts_overriding_send_invitations_keep_receiving_learner_notifications(app, db, m, make_contract, courses):
    rules = use_rules(app, BatchHost())
    use_shipped_mail(app)  # Flask-Mailman is there too: the host's own hooks still win for learner notifications
    use_rules(app, rules)
    outbox = app.extensions["mailman"].outbox
    contract = make_contract(ContractType.VOUCHER, activities=courses)
    emails = ["bounce@example.com"] + [f"p{i}@example.com" for i in range(1199)]
    report = services.invite(contract, emails=emails)
    assert rules.batches == [500, 500, 200] and outbox == []
    assert [(r.email, msg) for r, msg in report.notification_failures] == [("bounce@example.com", "bounced")]
    by_status = dict(db.session.execute(sa.select(m.Notification.status, sa.func.count())
                                        .group_by(m.Notification.status)).all())
    assert by_status == {DeliveryStatus.SENT: 1199, DeliveryStatus.PENDING: 1}


def test_without_any_mailer_notifications_are_recorded_as_not_sent(app, db, m, make_contract, make_user, courses):
    use_rules(app, MailRules())  # neither a send hook of the host nor Flask-Mailman
    contract = make_contract(ContractType.VOUCHER, activities=courses)
    report = services.invite(contract, users=[make_user()])
    assert report.notification_failures == []
    [row] = rows(db, m)
    assert row.status is DeliveryStatus.SKIPPED and "Flask-Mailman" in row.last_error
    invitation = services.get_invitation(report.invited[0].invitation_id)
    with pytest.raises(errors.LearningContractError, match="not sent"):
        services.resend(invitation)


def test_resend_goes_out_once_per_click_and_counts_when_sent(site, db, m, make_contract, make_user, courses):
    outbox = use_shipped_mail(site).outbox
    contract = make_contract(ContractType.VOUCHER, title="Acme", activities=courses)
    invitation = services.get_invitation(services.invite(contract, users=[make_user()]).invited[0].invitation_id)
    services.resend(invitation)
    assert [message.subject for message in outbox] == ["You are invited: Acme", "Your invitation to Acme"]
    assert services.get_invitation(invitation.id).send_count == 2
    assert [n.kind for n in rows(db, m)] == [NotificationKind.INVITATION, NotificationKind.RESEND]


# ---------------------------------------------------------------------------------------------
# immediate and queued delivery
# ---------------------------------------------------------------------------------------------
def test_queued_mode_only_records_and_a_delivery_pass_sends(site, db, m, make_contract, make_user, courses):
    site.config["LEARNING_CONTRACTS_DELIVERY"] = "queued"
    outbox = use_shipped_mail(site).outbox
    contract = make_contract(ContractType.VOUCHER, activities=courses)
    services.invite(contract, users=[make_user()], emails=["new@example.com"])
    assert outbox == [] and [(n.status, n.attempts) for n in rows(db, m)] == [(DeliveryStatus.PENDING, 0)] * 2
    invitation = services.get_invitation(next(n.invitation_id for n in rows(db, m) if n.recipient != "new@example.com"))
    services.resend(invitation)  # queued too: counted once it is actually sent
    assert outbox == [] and services.get_invitation(invitation.id).send_count == 1
    report = services.deliver_notifications(limit=2)
    assert (report.sent, report.pending) == (2, 1)
    assert deliver_cli(site).startswith("1 sent, 0 failed") and len(outbox) == 3
    assert services.get_invitation(invitation.id).send_count == 2
    assert services.deliver_notifications() == services.DeliveryReport()


def test_deliver_loop_runs_as_a_worker_until_stopped(site, db, m, make_contract, make_user, courses):
    site.config["LEARNING_CONTRACTS_DELIVERY"] = "queued"
    outbox = use_shipped_mail(site).outbox
    contract = make_contract(ContractType.VOUCHER, activities=courses)
    services.invite(contract, emails=[f"p{i}@example.com" for i in range(3)])
    output = deliver_cli(site, "--loop", "--interval", "0.05", "--passes", "3", "--limit", "2")
    assert output.splitlines()[:2] == ["2 sent, 0 failed, 0 not sent (see the admin), 1 waiting",
                                       "1 sent, 0 failed, 0 not sent (see the admin), 0 waiting"]
    assert len(outbox) == 3


def test_bulk_invite_writes_its_notifications_with_one_statement_per_batch(app, db, m, make_contract, courses):
    """10,000 invitations must not mean 10,000 extra writes or reloads, nor one more statement per batch of 500:
    on PostgreSQL the statement that inserts a batch of invitations also inserts their notifications (two
    data-modifying CTEs); on SQLite one INSERT … SELECT covers the whole invite. Then (immediate mode, the
    host's batch hook) one set-based UPDATE records the outcomes."""
    contract = make_contract(ContractType.VOUCHER, activities=courses)
    statements: list[str] = []

    @sa.event.listens_for(db.engine, "before_cursor_execute")
    def record(conn, cursor, statement, parameters, context, executemany):
        # (The webhook events' own statement, which inserts nothing without subscribers, is counted by
        # tests/test_services_webhooks.py.)
        if "lc_notification" in statement and "lc_webhook_endpoint" not in statement:
            statements.append(statement.split()[0])

    try:
        report = services.invite(contract, emails=[f"p{i}@example.com" for i in range(1200)])
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert report.created == 1200
    # the outcomes, recorded at the end of this short run: one range of ids (SQLite), one array (PostgreSQL)
    if db.engine.dialect.name == "postgresql":
        assert statements == ["WITH"] * 3 + ["UPDATE"]  # WITH lc_new_invitations AS (INSERT …), lc_new_notices …
    else:
        assert statements == ["INSERT", "UPDATE"]
    assert len(rows(db, m, m.Notification.status == DeliveryStatus.SENT)) == 1200


def test_deleting_a_contract_deletes_its_notifications(db, m, make_contract, make_user, courses):
    contract = make_contract(ContractType.VOUCHER, activities=courses, valid_until=dt.date(2026, 6, 20))
    other = make_contract(ContractType.VOUCHER, activities=courses)
    services.add_contract_admin(contract, make_user("boss@example.com"))
    services.invite(contract, users=[make_user()])
    services.invite(other, users=[make_user()])
    assert services.run_schedule().expiry_notices == 1  # an alert: about the contract, not an invitation
    assert {n.contract_id for n in rows(db, m)} == {contract.id, other.id} and len(rows(db, m)) == 3
    services.delete_contract(services.get_contract(contract.id))
    assert [n.contract_id for n in rows(db, m)] == [other.id]

