"""Sending webhook deliveries: signing (Standard Webhooks), one HTTP POST each, and what the outcomes do to
their endpoints (consecutive failures, disabling).

Deliveries are ``lc_notification`` rows of kind "webhook" claimed by the outbox like any e-mail; the sender
(:func:`.notifications.deliver_claimed`) hands them here. Only a 2xx answer is a success. Redirects are not
followed (the receiver's address is the one an admin checked), the answer's body is read only up to
:data:`_BODY_LIMIT` bytes (a 2xx answer's not at all), and an attempt has ``LEARNING_CONTRACTS_WEBHOOK_TIMEOUT``
seconds in all.
"""
from __future__ import annotations

import datetime as dt
import http.client
import ipaddress
import json
import socket
import threading
import urllib.parse
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from .. import errors
from ..config import config_value
from ..enums import DeliveryStatus, NotificationKind
from ..i18n import _
from ..models import WebhookEndpoint
from ._core import _m, _one_of, _session
from .outbox import Claim, Outcome

#: Bytes of a receiver's answer read at most (for the error text of a failure): a huge answer is cut off.
_BODY_LIMIT = 1024
#: The longest endpoint URL (the delivery rows keep it as their recipient).
URL_LENGTH = 320
#: What the error of an attempt answered with 410 starts with: the receiver asks to be unsubscribed.
_GONE = "HTTP 410"


def signer(secret: str) -> Any:
    """A ``standardwebhooks.Webhook`` for ``secret``; ``WebhooksUnavailable`` without the ``[webhooks]`` extra."""
    try:
        from standardwebhooks import Webhook
    except ImportError as error:
        raise errors.WebhooksUnavailable() from error
    return Webhook(secret)


def ensure_available() -> None:
    """Refuse (``WebhooksUnavailable``) when the package that signs webhooks is not installed."""
    try:
        import standardwebhooks  # noqa: F401
    except ImportError as error:
        raise errors.WebhooksUnavailable() from error


def _forbidden_address(address: str) -> bool:
    """Whether ``address`` is no place for a webhook: anything not globally routable (private, loopback,
    link-local, shared RFC 6598 space such as a cloud's metadata service, reserved …), also when wrapped in an
    IPv4-mapped or 6to4 IPv6 address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour
        if inner is not None and _forbidden_address(str(inner)):
            return True
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
    return (not ip.is_global or ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
            or ip.is_reserved or ip.is_unspecified)


def _numeric_host(host: str) -> str:
    """``host`` as an address when it is one in any spelling the resolver accepts (``2130706433``, ``0x7f000001``,
    ``0177.0.0.1``, ``127.1`` all mean 127.0.0.1), else ``host`` unchanged."""
    if host and all(ch in "0123456789abcdefxABCDEFX." for ch in host) and host[0].isdigit():
        try:
            return socket.inet_ntoa(socket.inet_aton(host))
        except OSError:
            pass
    return host


def url_problem(url: str, *, resolve: bool) -> str | None:
    """Why ``url`` cannot receive webhooks, or ``None``: http or https only, a host, no user name or
    password, at most :data:`URL_LENGTH` characters; unless ``LEARNING_CONTRACTS_WEBHOOK_ALLOW_PRIVATE``, no
    private, loopback, link-local or reserved address (a literal one, or with ``resolve`` what the name
    resolves to now: the LMS server must not become a way into its own network)."""
    return _checked(url, resolve=resolve)[0]


def _checked(url: str, *, resolve: bool) -> tuple[str | None, tuple[str, ...] | None]:
    """``(problem, addresses)``: what :func:`url_problem` says, and with ``resolve`` the addresses the name resolved
    to when checked (``None`` for a literal address or when private ones are allowed). The sender connects to
    those addresses, not to a second look-up: a name re-bound to 127.0.0.1 between check and connection (DNS
    rebinding) reaches nothing private."""
    if len(url) > URL_LENGTH:
        return _("The URL is longer than %(num)s characters.", num=URL_LENGTH), None
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return _("This is not a valid URL."), None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return _("Only http:// and https:// URLs can receive webhooks."), None
    if parts.username or parts.password:
        return _("Put no user name or password in the URL; receivers verify the signature instead."), None
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return _("This is not a valid URL."), None
    if config_value("WEBHOOK_ALLOW_PRIVATE"):
        return None, None
    host = parts.hostname
    private = _("Webhooks cannot be sent to a private or local address (%(host)s).", host=host)
    try:
        literal = _forbidden_address(_numeric_host(host))
    except ValueError:
        literal = None
    if literal or host == "localhost" or host.endswith(".localhost"):
        return private, None
    if literal is None and resolve:
        default_port = 443 if parts.scheme == "https" else 80
        try:
            found = [str(info[4][0]) for info in socket.getaddrinfo(host, port or default_port,
                                                                     proto=socket.IPPROTO_TCP)]
        except (OSError, UnicodeError):
            return _("The host name %(host)s could not be resolved.", host=host), None
        if not found or any(_forbidden_address(address) for address in found):
            return private, None
        return None, tuple(dict.fromkeys(found))
    return None, None


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float,
          addresses: tuple[str, ...] | None = None) -> str | None:
    """POST ``body``; ``None`` when the receiver answered 2xx, else why the attempt failed. With ``addresses``
    the connection goes to the first of these (checked) addresses that answers; the URL's host name still names
    the site (``Host`` and TLS server name, certificate check).

    ``timeout`` bounds the whole attempt (connecting, sending, the answer's status line and headers): a
    watchdog shuts the socket down when it runs out, so a receiver trickling its answer a byte at a time
    cannot hold the sender longer than a silent one. ``http.client`` follows no redirects."""
    parts = urllib.parse.urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.hostname or "", parts.port, timeout=timeout)
    if addresses:
        def pinned(where: tuple[str, int], timeout: float | None = None, source: Any = None) -> socket.socket:
            failed: OSError | None = None
            for address in addresses:
                try:
                    return socket.create_connection((address, where[1]), timeout, source)
                except OSError as error:
                    failed = error
            raise failed or OSError("no address")

        connection._create_connection = pinned  # type: ignore[attr-defined]
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    cut_off = threading.Event()

    def cut() -> None:
        cut_off.set()
        if connection.sock is not None:
            try:
                connection.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    watchdog = threading.Timer(timeout, cut)
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        status, location = response.status, response.getheader("Location")
        answer = response.read(_BODY_LIMIT) if not 200 <= status < 300 else b""
        if cut_off.is_set():  # the headers ended because the watchdog closed the socket, not the receiver
            raise TimeoutError()
    except (OSError, http.client.HTTPException, ValueError) as error:
        reason = _("no answer within %(num)s seconds", num=f"{timeout:g}") if cut_off.is_set() or isinstance(
            error, TimeoutError) else (str(error) or error.__class__.__name__)
        return _("No answer: %(reason)s", reason=reason)
    finally:
        watchdog.cancel()
        connection.close()
    if 200 <= status < 300:
        return None
    snippet = " ".join(answer.decode("utf-8", "replace").split())[:200]
    if 300 <= status < 400 and location:
        snippet = _("redirects are not followed (to %(location)s)", location=location[:200])
    return f"HTTP {status}" + (f": {snippet}" if snippet else "")


def send_webhooks(claims: Sequence[Claim]) -> list[Outcome]:
    """POST each claimed webhook delivery to its endpoint, signed with the endpoint's secret; the outcome of
    each (a deleted or disabled endpoint's deliveries are Skipped, with the reason)."""
    m = _m()
    ids = sorted({c.endpoint_id or 0 for c in claims})
    endpoints: dict[int, WebhookEndpoint] = {e.id: e for e in _session().execute(
        sa.select(m.WebhookEndpoint).where(_one_of(m.WebhookEndpoint.__table__.c.id, ids))).scalars()}
    timeout, limit = float(config_value("WEBHOOK_TIMEOUT")), max(1, int(config_value("WEBHOOK_MAX_FAILURES")))
    # Failures in a row per endpoint, counted on during this chunk: an endpoint that reaches the limit (or
    # answers 410) gets no more attempts from it (a bulk invite does not wait out 1,000 timeouts of a dead one).
    streak = {e.id: e.consecutive_failures for e in endpoints.values()}
    problems: dict[int, tuple[str | None, tuple[str, ...] | None]] = {}
    outcomes = []
    for claim in claims:
        endpoint = endpoints.get(claim.endpoint_id or 0)
        if endpoint is None:
            outcomes.append(Outcome(claim, DeliveryStatus.SKIPPED, _("The webhook endpoint was deleted.")))
            continue
        if not endpoint.active or streak[endpoint.id] >= limit:
            outcomes.append(Outcome(claim, DeliveryStatus.SKIPPED, _("The webhook endpoint is disabled.")))
            continue
        if endpoint.id not in problems:  # checked once per endpoint and chunk (a name resolved once, not per event)
            problems[endpoint.id] = _checked(endpoint.url, resolve=True)
        problem, addresses = problems[endpoint.id]
        if problem is not None:
            outcomes.append(Outcome(claim, DeliveryStatus.FAILED, problem))
            continue
        body = json.dumps(claim.payload or {}, separators=(",", ":"), ensure_ascii=False)
        msg_id, moment = f"msg_{claim.id}", dt.datetime.now(dt.UTC)  # the receiver's clock, not rules.now
        try:
            signature = signer(endpoint.secret).sign(msg_id, moment, body)
        except errors.WebhooksUnavailable as error:
            outcomes.append(Outcome(claim, DeliveryStatus.FAILED, error.message))
            continue
        headers = {"Content-Type": "application/json", "User-Agent": "flask-learning-contracts webhooks",
                   "webhook-id": msg_id, "webhook-timestamp": str(int(moment.timestamp())),
                   "webhook-signature": signature}
        error_text = _post(endpoint.url, body.encode("utf-8"), headers, timeout, addresses)
        streak[endpoint.id] = 0 if error_text is None else limit if error_text.startswith(_GONE) \
            else streak[endpoint.id] + 1
        outcomes.append(Outcome(claim, DeliveryStatus.SENT) if error_text is None
                        else Outcome(claim, DeliveryStatus.FAILED, error_text))
    return outcomes


def record_endpoint_outcomes(outcomes: Sequence[Outcome]) -> None:
    """Count the attempts on their endpoints (in the running transaction): a success resets the endpoint's
    consecutive failures, each failure adds one; an endpoint that reaches ``WEBHOOK_MAX_FAILURES``, or whose
    receiver answered 410 Gone, is disabled with the reason."""
    streaks: dict[int, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.claim.kind is NotificationKind.WEBHOOK and outcome.status is not DeliveryStatus.SKIPPED:
            streaks[outcome.claim.endpoint_id or 0].append(outcome)
    if not streaks:
        return
    m, session = _m(), _session()
    e = m.WebhookEndpoint.__table__
    limit = max(1, int(config_value("WEBHOOK_MAX_FAILURES")))
    for endpoint_id, items in streaks.items():
        sent = [i for i, o in enumerate(items) if o.status is DeliveryStatus.SENT]
        trailing = len(items) - 1 - sent[-1] if sent else len(items)
        failures = sa.literal(trailing) if sent else e.c.consecutive_failures + trailing
        session.execute(sa.update(e).where(e.c.id == endpoint_id).values(consecutive_failures=failures))
        if not trailing:
            continue
        last = items[-1].error or ""
        gone = any((o.error or "").startswith(_GONE) for o in items[len(items) - trailing:])
        reason = (_("Disabled: the receiver answered 410 Gone.") if gone else
                  _("Disabled after %(num)s failed attempts in a row (last: %(error)s).", num=limit, error=last))
        session.execute(sa.update(e).where(e.c.id == endpoint_id, e.c.active.is_(True),
                                           sa.true() if gone else e.c.consecutive_failures >= limit)
                        .values(active=False, disabled_reason=reason[:1000]))
