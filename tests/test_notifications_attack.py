"""Attacks on notifications (issue 16 review): a resend clicked twice, the wording of what a resend did,
hostile values reaching an e-mail, a sender that dies after the mail server accepted, slow mail servers.

Races across processes are in ``test_notifications_concurrency.py``.
"""
from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import signal
import socket
import time

import pytest
import sqlalchemy as sa

from flask_learning_contracts import ContractType, errors, services
from flask_learning_contracts.enums import DeliveryStatus, NotificationKind
from flask_learning_contracts.services import ResendOutcome

from . import host
from .admin_support import as_manager, login_client, manager, post_form, text, url

_FIXTURES = (as_manager, login_client, manager)
from .notify_support import SmtpServer, bodies, use_shipped_mail
from .views_support import PREFIX, client_for, token

SITE = "https://lms.example.com"
MANAGE = PREFIX + "/manage"


@pytest.fixture
def site(app):
    app.config["LEARNING_CONTRACTS_BASE_URL"] = SITE
    return app


@pytest.fixture
def contract(make_contract, make_course):
    return make_contract(ContractType.VOUCHER, code="ACME", title="Acme", activities=[make_course("Safety")])


def _invited(contract, make_user, email="olga@example.com"):
    report = services.invite(contract, users=[make_user(email)])
    return services.get_invitation(report.invited[0].invitation_id)


def _resends(db, m):
    db.session.rollback()
    return list(db.session.execute(sa.select(m.Notification).where(m.Notification.kind == NotificationKind.RESEND)
                                   .order_by(m.Notification.id)).scalars())


# ---------------------------------------------------------------------------------------------
# resend clicked twice
# ---------------------------------------------------------------------------------------------
def test_a_second_resend_within_the_interval_sends_nothing_and_says_so(site, db, m, rules, contract, make_user):
    outbox = use_shipped_mail(site).outbox
    invitation = _invited(contract, make_user)
    first = services.resend(invitation)
    second = services.resend(services.get_invitation(invitation.id))  # the double click, after the first was sent
    assert (first.outcome, second.outcome) == (ResendOutcome.SENT, ResendOutcome.ALREADY_RESENT)
    assert [msg.subject for msg in outbox].count("Your invitation to Acme") == 1
    assert services.get_invitation(invitation.id).send_count == 2
    assert len(_resends(db, m)) == 1
    site.extensions["learning_contracts"].rules.clock += dt.timedelta(
        seconds=site.config["LEARNING_CONTRACTS_RESEND_INTERVAL"] + 1)
    third = services.resend(services.get_invitation(invitation.id))
    assert third.outcome is ResendOutcome.SENT
    assert [msg.subject for msg in outbox].count("Your invitation to Acme") == 2


def test_a_resend_clicked_again_while_the_first_waits_in_the_queue_is_the_same_resend(site, db, m, contract,
                                                                                    make_user):
    site.config["LEARNING_CONTRACTS_DELIVERY"] = "queued"
    outbox = use_shipped_mail(site).outbox
    invitation = _invited(contract, make_user)
    assert services.resend(invitation).outcome is ResendOutcome.QUEUED
    assert services.resend(services.get_invitation(invitation.id)).outcome is ResendOutcome.ALREADY_QUEUED
    services.deliver_notifications()
    assert [msg.subject for msg in outbox].count("Your invitation to Acme") == 1
    assert [(n.status, n.attempts) for n in _resends(db, m)] == [(DeliveryStatus.SENT, 1)]


def test_a_resend_that_failed_may_be_clicked_again_at_once(site, db, m, contract, make_user):
    """The interval protects against sending twice, not against retrying what did not go out."""
    state = use_shipped_mail(site)
    invitation = _invited(contract, make_user)
    from unittest import mock

    with mock.patch("flask_mailman.backends.locmem.EmailBackend.send_messages", side_effect=OSError("relay down")), \
            pytest.raises(errors.LearningContractError, match="relay down"):
        services.resend(invitation)
    assert services.resend(services.get_invitation(invitation.id)).outcome is ResendOutcome.SENT
    assert [msg.subject for msg in state.outbox].count("Your invitation to Acme") == 1


def test_dashboard_says_queued_when_the_resend_was_only_queued(app, db, make_contract, make_user, make_course):
    app.config["LEARNING_CONTRACTS_DELIVERY"] = "queued"
    admin = make_user("casey@example.com")
    contract = make_contract(title="Acme", activities=[make_course("Safety")])
    services.add_contract_admin(contract, admin)
    invitation = _invited(contract, make_user)
    client = client_for(app, admin)
    target = f"{MANAGE}/{contract.id}/invitations/{invitation.id}/resend"
    page = text(client.post(target, data={"csrf_token": token(client)}, follow_redirects=True))
    assert "sent again" not in page
    assert "queued" in page and "olga@example.com" in page
    again = text(client.post(target, data={"csrf_token": token(client)}, follow_redirects=True))
    assert "already" in again and "not sent twice" in again


def test_dashboard_says_sent_when_sent_and_already_on_a_double_click(app, db, rules, make_contract, make_user,
                                                                     make_course):
    admin = make_user("casey@example.com")
    contract = make_contract(title="Acme", activities=[make_course("Safety")])
    services.add_contract_admin(contract, admin)
    invitation = _invited(contract, make_user)
    rules.sent.clear()
    client = client_for(app, admin)
    target = f"{MANAGE}/{contract.id}/invitations/{invitation.id}/resend"
    first = text(client.post(target, data={"csrf_token": token(client)}, follow_redirects=True))
    second = text(client.post(target, data={"csrf_token": token(client)}, follow_redirects=True))
    assert "Resent the invitation to olga@example.com." in first
    assert "already" in second and "not sent twice" in second
    assert rules.sent == [("olga@example.com", True)]


def test_admin_panel_resend_wording_follows_what_happened(app, db, rules, contract, make_user, as_manager):
    invitation = _invited(contract, make_user)
    rules.sent.clear()
    page = url(f"{contract.id}/invitations")
    target = url(f"{contract.id}/invitations/{invitation.id}/resend")
    first = text(post_form(as_manager, page, target, follow_redirects=True))
    second = text(post_form(as_manager, page, target, follow_redirects=True))
    assert "Resent the invitation to olga@example.com." in first
    assert "already" in second and "not sent twice" in second
    assert rules.sent == [("olga@example.com", True)]
    app.config["LEARNING_CONTRACTS_DELIVERY"] = "queued"
    other = _invited(contract, make_user, "pia@example.com")
    queued = text(post_form(as_manager, page, url(f"{contract.id}/invitations/{other.id}/resend"),
                            follow_redirects=True))
    assert "Resent the invitation" not in queued and "queued" in queued


# ---------------------------------------------------------------------------------------------
# hostile values that reach an e-mail
# ---------------------------------------------------------------------------------------------
def _set_contract(db, m, contract, **values):
    """Write values straight into the row, as a host's own code or an old import might (no validation)."""
    db.session.execute(sa.update(m.Contract).where(m.Contract.id == contract.id).values(**values))
    db.session.commit()


def test_markup_and_newlines_in_a_contract_never_become_headers_or_html(site, db, m, contract, make_user):
    server = SmtpServer().start()
    try:
        use_shipped_mail(site, **SmtpServer.config(server.port))
        _set_contract(db, m, contract, title="Acme <script>alert(1)</script>\r\nBcc: evil@example.org\r\n\r\nbody",
                      description='<img src=x onerror="alert(2)">')
        report = services.invite(contract, users=[make_user("ana@example.com", name='<b onmouseover="x()">Ana</b>')])
        assert report.notification_failures == []
    finally:
        server.stop()
    assert server.recipients == [["ana@example.com"]]  # the Bcc line stayed text
    [message] = server.received
    assert message["Bcc"] is None and "\n" not in message["Subject"] and "\r" not in message["Subject"]
    assert message["Subject"] == "You are invited: Acme <script>alert(1)</script> Bcc: evil@example.org body"
    _text, html = bodies(message)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b onmouseover" not in html and "<img" not in html


def test_a_very_long_title_is_folded_not_cut_or_refused(site, db, m, contract, make_user):
    server = SmtpServer().start()
    title = "Ünïcode safety training " + "x" * 170  # 194 characters: near the 200 the form allows
    try:
        use_shipped_mail(site, **SmtpServer.config(server.port))
        _set_contract(db, m, contract, title=title, description="d" * 5000)
        assert services.invite(contract, users=[make_user("ana@example.com")]).notification_failures == []
    finally:
        server.stop()
    [message] = server.received
    # Flask-Mailman folds a long encoded subject right after "Subject:", so strict parsers keep a leading blank
    assert message["Subject"].strip() == f"You are invited: {title}"


def test_a_non_ascii_address_is_invited_and_its_mail_goes_out(site, db, m, contract):
    """An internationalised domain is sent in its ASCII (punycode) form; the invitation keeps what was typed."""
    server = SmtpServer().start()
    try:
        use_shipped_mail(site, **SmtpServer.config(server.port))
        report = services.invite(contract, emails=["anna@bücher.example"])
    finally:
        server.stop()
    assert [r.email for r in report.not_registered] == ["anna@bücher.example"]
    assert report.notification_failures == []
    assert server.recipients == [["anna@xn--bcher-kva.example"]]


def test_a_contract_admin_address_with_a_newline_gets_no_alert_and_breaks_nothing(app, db, m, rules, make_contract,
                                                                                  make_user, make_course):
    """A host user whose e-mail holds a header (``a@x\\nBcc: …``) must not receive alerts, nor make the others'
    alerts fail."""
    state = use_shipped_mail(app)
    contract = make_contract(ContractType.VOUCHER, seats=4, activities=[make_course("Safety")],
                             require_invitation_code=False)
    good, bad = make_user("good@example.com"), make_user("bad@example.com")
    services.add_contract_admin(contract, good)
    services.add_contract_admin(contract, bad)
    db.session.execute(sa.update(type(bad)).where(type(bad).id == bad.id)
                       .values(email_address="bad@example.com\nBcc: evil@example.org"))
    db.session.commit()
    learners = [make_user() for _ in range(3)]
    services.invite(services.get_contract(contract.id), users=learners)
    for learner in learners:
        services.enroll(learner, services.get_contract(contract.id), services.get_contract(contract.id).activities[0])
    alerts = [msg for msg in state.outbox if "seats" in msg.subject.lower()]
    assert alerts and {tuple(msg.to) for msg in alerts} == {("good@example.com",)}
    db.session.rollback()
    # not retried for hours against an address no server will take: not sent, and the admin sees why
    [(status, error)] = db.session.execute(sa.select(m.Notification.status, m.Notification.last_error).where(
        m.Notification.recipient.like("bad@%"))).all()
    assert status is DeliveryStatus.SKIPPED and "not a valid e-mail address" in error


# ---------------------------------------------------------------------------------------------
# a sender killed half-way, a mail server that never answers
# ---------------------------------------------------------------------------------------------
class KillingServer(SmtpServer):
    """A real SMTP server that accepts ``accept`` messages, then kills the sending process (``pid``) when the
    next one arrives: the sender dies after the server accepted messages whose outcome it had not saved."""

    def __init__(self, accept: int) -> None:
        super().__init__()
        self.accept, self.pid, self.killed = accept, 0, False

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's name
        if self.pid and not self.killed and len(self.received) >= self.accept:
            self.killed = True
            os.kill(self.pid, signal.SIGKILL)
            return "421 closing"
        return await super().handle_DATA(server, session, envelope)


def _invite_then_get_killed(url: str, port: int, contract_id: int, emails: list[str]) -> None:
    app = host.create_app(url)
    use_shipped_mail(app, **SmtpServer.config(port))
    with app.app_context():
        services.invite(services.get_contract(contract_id), emails=emails)


def test_a_sender_killed_after_the_server_accepted_loses_nothing_and_resends_at_most_those(site, db, m, contract):
    """Delivery is at least once: the process dies after the mail server accepted 2 of 5 e-mails and before it
    recorded them. Once its lease runs out, the next pass sends all 5: nobody is missed; the 2 accepted get a
    second copy (the only duplicates a crash can cause: outcomes are saved at least every second)."""
    emails, contract_id = [f"p{i}@example.com" for i in range(5)], contract.id
    server = KillingServer(accept=2).start()
    try:
        url = db.engine.url.render_as_string(hide_password=False)
        db.session.remove()
        db.engine.dispose()
        child = multiprocessing.get_context("fork").Process(target=_invite_then_get_killed,
                                                            args=(url, server.port, contract_id, emails))
        child.start()
        server.pid = child.pid
        child.join(60)
        assert server.killed and child.exitcode == -signal.SIGKILL
        first = sorted(r[0] for r in server.recipients)
        assert len(first) == 2
        rows = db.session.execute(sa.select(m.Notification.status, m.Notification.attempts)).all()
        assert sorted(rows) == [(DeliveryStatus.SENDING, 1)] * 5  # committed, claimed by the dead process

        use_shipped_mail(site, **SmtpServer.config(server.port))
        assert services.deliver_notifications().sent == 0  # its lease still runs: nobody takes over too early
        site.extensions["learning_contracts"].rules.clock += dt.timedelta(
            seconds=site.config["LEARNING_CONTRACTS_DELIVERY_LEASE"] + 1)
        report = services.deliver_notifications()
    finally:
        server.stop()
    assert (report.sent, report.failed, report.pending) == (5, 0, 0)
    received = sorted(r[0] for r in server.recipients)
    assert sorted(set(received)) == emails  # nobody missed
    assert sorted(e for e in set(received) if received.count(e) == 2) == first  # only those accepted before
    rows = db.session.execute(sa.select(m.Notification.status, m.Notification.attempts)).all()
    assert sorted(rows) == [(DeliveryStatus.SENT, 2)] * 5


def test_a_mail_server_that_never_answers_times_out_and_is_retried(site, db, m, contract):
    """A server that accepts the connection and then says nothing: the request waits MAIL_TIMEOUT, not forever;
    the invitations exist, their notifications wait for a retry with backoff, and a later pass sends them."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)
    try:
        use_shipped_mail(site, **{**SmtpServer.config(silent.getsockname()[1]), "MAIL_TIMEOUT": 1})
        started = time.monotonic()
        report = services.invite(contract, emails=["a@example.com", "b@example.com"])
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert report.created == 2 and elapsed < 10
    assert len(report.notification_failures) == 2 and "timed out" in report.notification_failures[0][1]
    db.session.rollback()
    rows = db.session.execute(sa.select(m.Notification.status, m.Notification.attempts,
                                        m.Notification.next_attempt_at, m.Notification.last_error)).all()
    now = dt.datetime(2026, 6, 15, 12, 0)
    assert all(r.status is DeliveryStatus.PENDING and r.attempts == 1 and r.next_attempt_at > now
               and "timed out" in r.last_error for r in rows)
    server = SmtpServer().start()
    try:
        use_shipped_mail(site, **SmtpServer.config(server.port))
        assert services.deliver_notifications().sent == 0  # not due yet: backoff
        site.extensions["learning_contracts"].rules.clock += dt.timedelta(hours=1)
        assert services.deliver_notifications().sent == 2
    finally:
        server.stop()
    assert sorted(r[0] for r in server.recipients) == ["a@example.com", "b@example.com"]


# ---------------------------------------------------------------------------------------------
# what the history says about failures
# ---------------------------------------------------------------------------------------------
def _history(db, m, contract):
    db.session.rollback()
    return list(db.session.execute(sa.select(m.HistoryEntry.message).where(m.HistoryEntry.contract_id == contract.id)
                                   .order_by(m.HistoryEntry.id)).scalars())


def test_history_never_says_retried_automatically_for_a_failure_that_used_its_last_attempt(app, db, m, contract):
    from .notify_support import use_rules
    from .test_services_notifications import FlakyRules

    use_rules(app, FlakyRules())
    app.config["LEARNING_CONTRACTS_DELIVERY_ATTEMPTS"] = 1
    report = services.invite(contract, emails=["a@example.com", "b@example.com"])
    assert len(report.notification_failures) == 2
    failures = [h for h in _history(db, m, contract) if "could not be sent" in h]
    assert len(failures) == 1 and "retried automatically" not in failures[0], failures
    assert "retry them from the Invitations tab" in failures[0] and "1 attempts" not in failures[0]


def test_history_says_retried_automatically_when_attempts_remain(app, db, m, contract):
    from .notify_support import use_rules
    from .test_services_notifications import FlakyRules

    use_rules(app, FlakyRules())
    services.invite(contract, emails=["a@example.com"])
    failures = [h for h in _history(db, m, contract) if "could not be sent" in h]
    assert len(failures) == 1 and "retried automatically" in failures[0]
