"""``flask contracts …``: operator commands, thin over ``services``."""
from __future__ import annotations

import datetime as dt
import sys
from typing import BinaryIO

import click
from flask.cli import with_appcontext

from . import services
from .enums import ContractType, WebhookEvent
from .errors import LearningContractError
from .state import current_state


@click.group("contracts", help="Manage learning contracts.")
def contracts_cli() -> None:
    pass


@contracts_cli.command("list")
@with_appcontext
def list_contracts() -> None:
    """List contracts with their seats and state."""
    import sqlalchemy as sa

    state = current_state()
    m = state.models
    contracts = state.db.session.execute(sa.select(m.Contract).order_by(m.Contract.code)).scalars().all()
    summaries = services.seat_summaries(contracts)
    if not contracts:
        click.echo("No learning contracts yet.")
    for c in contracts:
        s = summaries[c.id]
        click.echo(f"{c.code:<20} {c.contract_type.label:<12} {s.state.label:<8} "
                   f"{s.used}/{s.seats} seats used  {c.valid_from} – {c.valid_until}  {c.title}")


@contracts_cli.command("check")
@click.option("--repair", is_flag=True,
              help="Recompute counters, flags, statuses and missing seat rows from the rows (never deletes a row) "
                   "and record each change in the contract's history.")
@with_appcontext
def check(repair: bool) -> None:
    """Reconcile every stored counter and flag with the rows it summarises; report each mismatch by kind.

    Exit 1 when a mismatch remains (with --repair: one it could not repair)."""
    report = services.reconcile(repair=repair)
    for p in report.mismatches:
        state = "REPAIRED" if p.repaired else "MISMATCH"
        click.echo(f"{state} {p.code} (id {p.contract_id}) [{p.kind.value}] {p.kind.label}: {p.problem}",
                   err=not p.repaired)
    if report.ok:
        if not report.mismatches:
            click.echo("All seat counters, flags and statuses agree with the seat, enrollment and invitation rows.")
        else:
            click.echo(f"Repaired {len(report.mismatches)} mismatches in {len(report.repaired_contracts)} "
                       "contracts; each change is in the contract's history.")
        return
    if repair:
        click.echo(f"{len(report.remaining)} mismatches need a person: the repair never deletes rows.", err=True)
    sys.exit(1)


@contracts_cli.command("forget-user")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def forget_user(email: str, yes: bool) -> None:
    """Remove the person with EMAIL from every learning contract table, so that the host can delete them.

    Their seats, enrollments and history stay, under a random key instead of their account, e-mail and
    name; their invitations without enrollments are revoked; their contract admin roles end. Works for a
    user the host already deleted too (then through the invitations sent to EMAIL). Cannot be undone."""
    user = current_state().rules.find_user_by_email(email.strip())
    if not yes:
        click.confirm(f"Forget {email}? Their e-mail, name and account link are removed from every learning "
                      "contract; this cannot be undone.", abort=True)
    try:
        report = services.forget_user(user) if user is not None else services.forget_deleted_user(email)
    except LearningContractError as error:
        raise click.ClickException(str(error)) from error
    if report.pseudonym is None:
        if user is None:
            raise click.ClickException(f"No user and no invitation has the e-mail {email}.")
        click.echo(f"Nothing left to forget about {email}.")
        return
    click.echo(f"{email} forgotten as {report.placeholder_email}: {len(report.contracts)} contracts, "
               f"{report.invitations} invitations ({report.revoked} revoked), {report.enrollments} enrollments, "
               f"{report.seats} seats, {report.admin_roles} contract admin roles, {report.history_entries} "
               "history entries. The host may now delete the user.")


@contracts_cli.command("create")
@click.option("--code", required=True)
@click.option("--title", required=True)
@click.option("--type", "contract_type", type=click.Choice([t.value for t in ContractType]), required=True)
@click.option("--seats", type=int, required=True)
@click.option("--start", "valid_from", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--end", "valid_until", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--per-user-limit", type=int, default=0, show_default=True)
@click.option("--require-code/--no-require-code", default=True, show_default=True)
@with_appcontext
def create(code: str, title: str, contract_type: str, seats: int, valid_from: dt.datetime, valid_until: dt.datetime,
           per_user_limit: int, require_code: bool) -> None:
    """Create a contract and print its invitation code."""
    try:
        contract = services.create_contract(
            code=code, title=title, contract_type=contract_type, seats=seats, valid_from=valid_from.date(),
            valid_until=valid_until.date(), per_user_limit=per_user_limit, require_invitation_code=require_code)
    except LearningContractError as error:
        raise click.ClickException(str(error)) from error
    from .codes import format_code

    click.echo(f"Created {contract.code}; invitation code {format_code(contract.invitation_code)}")


@contracts_cli.command("invite-csv")
@click.argument("code")
@click.argument("csv_file", type=click.File("rb"))
@with_appcontext
def invite_csv(code: str, csv_file: BinaryIO) -> None:
    """Invite every e-mail of CSV_FILE to the contract CODE and print the per-line report."""
    import sqlalchemy as sa

    state = current_state()
    m = state.models
    contract = state.db.session.execute(
        sa.select(m.Contract).where(m.Contract.code_key == code.lower())).scalars().first()
    if contract is None:
        raise click.ClickException(f"No contract has the code {code}.")
    try:
        report = services.invite_csv(contract, csv_file)
    except LearningContractError as error:
        raise click.ClickException(str(error)) from error
    for row in report.invalid:
        click.echo(f"line {row.line}: {row.email!r}: {row.message}")
    click.echo(f"{len(report.invited)} invited, {len(report.not_registered)} not registered, "
               f"{len(report.already_invited)} already invited, {len(report.invalid)} invalid")


@contracts_cli.group("api-key", help="Keys of the integration API (LEARNING_CONTRACTS_API).")
def api_key_cli() -> None:
    pass


@api_key_cli.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(list(services.API_SCOPES)),
              help="A scope the key holds (repeat for several).")
@with_appcontext
def api_key_create(name: str, scopes: tuple[str, ...]) -> None:
    """Create a key and print it once (only its hash is stored: copy it now)."""
    try:
        created = services.create_api_key(name, list(scopes))
    except LearningContractError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Created API key {created.api_key.name} ({', '.join(created.api_key.scope_list)}). "
               "Copy it now; it is not shown again:")
    click.echo(created.key)


@api_key_cli.command("list")
@with_appcontext
def api_key_list() -> None:
    """List the keys (never their secrets)."""
    keys = services.api_keys()
    if not keys:
        click.echo("No API keys yet.")
    for key in keys:
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "live"
        used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
        click.echo(f"lc_{key.prefix}_…  {key.name:<24} {state:<18} last used {used:<16} {' '.join(key.scope_list)}")


@api_key_cli.command("revoke")
@click.argument("name_or_prefix")
@with_appcontext
def api_key_revoke(name_or_prefix: str) -> None:
    """Revoke the key with this prefix (or the newest live key with this name)."""
    try:
        key = services.revoke_api_key(services.find_api_key(name_or_prefix))
    except LearningContractError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Revoked API key {key.name} (lc_{key.prefix}_…).")


@contracts_cli.group("db", help="Run the extension's own migrations (for hosts without Flask-Migrate).")
def db_cli() -> None:
    pass


@db_cli.command("upgrade")
@click.argument("revision", default="heads")
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Create or upgrade the lc_ tables."""
    from . import migrate

    migrate.upgrade(revision)


@db_cli.command("downgrade")
@click.argument("revision", default="base")
@with_appcontext
def db_downgrade(revision: str) -> None:
    """Downgrade the lc_ tables (default: remove them)."""
    from . import migrate

    migrate.downgrade(revision)


@db_cli.command("check")
@with_appcontext
def db_check() -> None:
    """Exit 1 when the models and the migrated database disagree."""
    from . import migrate

    diffs = migrate.drift()
    if diffs:
        for diff in diffs:
            click.echo(repr(diff), err=True)
        sys.exit(1)
    click.echo("No new upgrade operations detected.")


# ---------------------------------------------------------------------------------------------
# notifications: delivery and the scheduler
# ---------------------------------------------------------------------------------------------
def _delivery_line(report: services.DeliveryReport) -> str:
    line = (f"{report.sent} sent, {report.failed} failed, {report.skipped} not sent (see the admin), "
            f"{report.pending} waiting")
    return line + (f"; {report.gave_up} out of attempts (now Failed)" if report.gave_up else "")


@contracts_cli.command("deliver")
@click.option("--loop", is_flag=True, help="Run as a worker: deliver what is due, wait for more, until stopped.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many per pass.")
@click.option("--interval", type=click.FloatRange(min=0.05), default=5.0, show_default=True,
              help="With --loop: seconds to wait when nothing is due.")
@click.option("--passes", type=click.IntRange(min=0), default=0, hidden=True,
              help="With --loop: stop after this many passes (0: never; for tests).")
@with_appcontext
def deliver(loop: bool, limit: int | None, interval: float, passes: int) -> None:
    """Send the notifications that are due (and retry failed ones whose time has come)."""
    import signal
    import time

    stop: list[int] = []
    if loop:
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, lambda signum, frame: stop.append(signum))
    done = 0
    while True:
        report = services.deliver_notifications(limit)
        done += 1
        busy = bool(report.sent or report.failed or report.skipped)
        if busy or not loop:
            click.echo(_delivery_line(report))
        if not loop or stop or (passes and done >= passes):
            return
        if busy:
            continue  # more may be due right away
        due = services.next_delivery_due()
        wait = interval
        if due is not None:
            now = current_state().rules.now().astimezone(dt.timezone.utc).replace(tzinfo=None)
            wait = max(0.0, min(interval, (due - now).total_seconds()))
        deadline = time.monotonic() + wait
        while not stop and time.monotonic() < deadline:
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        if stop:
            return


@contracts_cli.command("tick")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Run for this date instead of today (YYYY-MM-DD).")
@with_appcontext
def tick(today: dt.datetime | None) -> None:
    """Create what is due today (reminders, seats alerts, end-of-contract notices), each once; meant for cron.

    In immediate mode it then sends what is due, retries included."""
    report = services.run_schedule(today.date() if today else None)
    click.echo(f"{report.reminders} reminders, {report.seat_alerts} seats alerts, "
               f"{report.expiry_notices} end-of-contract notices created")
    delivered = services.sweep_notifications()
    if delivered is not None:
        click.echo(_delivery_line(delivered))


@contracts_cli.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@with_appcontext
def worker(burst: bool) -> None:
    """Run an RQ worker (the [rq] extra) for LEARNING_CONTRACTS_RQ_QUEUE inside this app, with its scheduler
    (delayed retries)."""
    from .config import config_value

    url = config_value("RQ_REDIS_URL")
    if not url:
        raise click.ClickException("Set LEARNING_CONTRACTS_RQ_REDIS_URL (and LEARNING_CONTRACTS_DELIVERY = "
                                   "\"queued\") to send notifications with RQ.")
    try:
        from redis import Redis
        from rq import Queue, SimpleWorker
    except ImportError as error:
        raise click.ClickException("RQ is not installed: pip install 'flask-learning-contracts[rq]'") from error
    connection = Redis.from_url(str(url))
    queue = Queue(str(config_value("RQ_QUEUE")), connection=connection)
    SimpleWorker([queue], connection=connection).work(burst=burst, with_scheduler=True)


# ---------------------------------------------------------------------------------------------
# webhooks
# ---------------------------------------------------------------------------------------------
@contracts_cli.group("webhook", help="Webhook endpoints (the [webhooks] extra).")
def webhook_cli() -> None:
    pass


@webhook_cli.command("add")
@click.argument("url")
@click.option("--event", "events", multiple=True, required=True, metavar="TYPE",
              type=click.Choice([e.value for e in WebhookEvent]), help="An event type to send (repeat for more).")
@with_appcontext
def webhook_add(url: str, events: tuple[str, ...]) -> None:
    """Add an endpoint receiving EVENTS at URL; prints its signing secret (shown only now)."""
    try:
        created = services.create_webhook_endpoint(url, events)
    except LearningContractError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Added webhook endpoint {created.id}: {created.url} ({', '.join(created.events)})")
    click.echo(f"Signing secret (shown only now): {created.secret}")


@webhook_cli.command("list")
@with_appcontext
def webhook_list() -> None:
    """List the endpoints with their events and state."""
    endpoints = services.webhook_endpoints()
    if not endpoints:
        click.echo("No webhook endpoints yet.")
    for e in endpoints:
        state = "active" if e.active else f"disabled: {e.disabled_reason}"
        failures = f", {e.consecutive_failures} failed attempts in a row" if e.active and e.consecutive_failures else ""
        click.echo(f"{e.id:>4}  {e.url}  [{', '.join(e.event_types)}]  {state}{failures}")


@webhook_cli.command("disable")
@click.argument("endpoint_id", type=click.IntRange(min=1))
@with_appcontext
def webhook_disable(endpoint_id: int) -> None:
    """Stop sending events to endpoint ENDPOINT_ID (enable it again in the admin)."""
    try:
        endpoint = services.set_webhook_endpoint_active(endpoint_id, False, reason="Disabled from the command line.")
    except LearningContractError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Disabled webhook endpoint {endpoint.id}: {endpoint.url}")
