"""Keys of the integration API: created (the secret shown once), listed, revoked, and checked on each request.

A key reads ``lc_<prefix>_<secret>``: the prefix (12 hex characters, unique) finds the row with one index look-up;
the secret (32 random bytes, URL-safe base64) is stored only as its SHA-256. A fast hash is enough here — unlike
a password, the secret is 256 random bits, so no guess list or GPU makes trying candidates against a stolen hash
worthwhile — and it keeps each request's check to microseconds (a slow password hash on every API call would be
a denial-of-service lever). Hashes are compared in constant time.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import secrets

import sqlalchemy as sa

from .. import errors
from ..i18n import _
from ..models import ApiKey
from ..rules import ApiPrincipal
from ._core import _m, _now, _session, transactional

#: Every scope a key may hold.
API_SCOPES = ("contracts:read", "contracts:write", "invitations:write")
_PREFIX_BYTES = 6
#: ``last_used_at`` is written at most this often per key (not one write per request).
_LAST_USED_EVERY = dt.timedelta(minutes=1)


@dataclasses.dataclass(frozen=True)
class NewApiKey:
    """A key just created: ``key`` is the only time the full secret exists outside the caller's hands."""

    api_key: ApiKey
    key: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _clean_scopes(scopes: list[str] | tuple[str, ...]) -> list[str]:
    chosen = list(dict.fromkeys(s.strip() for s in scopes if s.strip()))
    unknown = [s for s in chosen if s not in API_SCOPES]
    if unknown:
        raise errors.ValidationError(_("Unknown scope %(scope)s; the scopes are %(scopes)s.", scope=unknown[0],
                                       scopes=", ".join(API_SCOPES)), field="scopes")
    if not chosen:
        raise errors.ValidationError(_("Give the key at least one scope."), field="scopes")
    return chosen


@transactional
def create_api_key(name: str, scopes: list[str] | tuple[str, ...]) -> NewApiKey:
    """Create a key named ``name`` with ``scopes``; return it with its full text (never stored)."""
    name = (name or "").strip()
    if not name or len(name) > 100 or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise errors.ValidationError(_("Name the key (up to 100 characters)."), field="name")
    chosen = _clean_scopes(scopes)
    prefix, secret = secrets.token_hex(_PREFIX_BYTES), secrets.token_urlsafe(32)
    row = _m().ApiKey(name=name, prefix=prefix, secret_hash=_hash(secret), scopes=" ".join(chosen),
                      created_at=_now())
    _session().add(row)
    _session().flush()
    return NewApiKey(row, f"lc_{prefix}_{secret}")


def api_keys() -> list[ApiKey]:
    """Every key, newest first (revoked ones too: they stay for the record)."""
    m = _m()
    return list(_session().execute(sa.select(m.ApiKey).order_by(m.ApiKey.id.desc())).scalars())


def find_api_key(name_or_prefix: str) -> ApiKey:
    """The key with this prefix, else the newest live key with this name; ``ValidationError`` when none."""
    m = _m()
    text = (name_or_prefix or "").strip()
    if "\x00" in text:  # no key has it, and PostgreSQL refuses to compare it
        raise errors.ValidationError(_("No API key has this name or prefix."), field="key")
    row = _session().execute(sa.select(m.ApiKey).where(m.ApiKey.prefix == text)).scalars().first()
    if row is None:
        row = _session().execute(sa.select(m.ApiKey).where(m.ApiKey.name == text, m.ApiKey.revoked_at.is_(None))
                                 .order_by(m.ApiKey.id.desc())).scalars().first()
    if row is None:
        raise errors.ValidationError(_("No API key has this name or prefix."), field="key")
    return row


@transactional
def revoke_api_key(api_key: ApiKey) -> ApiKey:
    """Revoke ``api_key``: requests with it are refused from now on (no change when already revoked)."""
    if api_key.revoked_at is None:
        api_key.revoked_at = _now()
        _session().flush()
    return api_key


def _parse(token: str) -> tuple[str, str] | None:
    parts = token.split("_")
    if len(parts) < 3 or parts[0] != "lc" or len(parts[1]) != 2 * _PREFIX_BYTES \
            or not all(ch in "0123456789abcdef" for ch in parts[1]):
        return None  # not a key's shape: no look-up at all
    return parts[1], "_".join(parts[2:])


@transactional
def authenticate_api_key(token: str) -> ApiPrincipal | None:
    """The principal of a live key with this text, or ``None`` (unknown, wrong secret, revoked)."""
    parsed = _parse((token or "").strip())
    if parsed is None:
        return None
    prefix, secret = parsed
    m = _m()
    row = _session().execute(sa.select(m.ApiKey).where(m.ApiKey.prefix == prefix)).scalars().first()
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.secret_hash, _hash(secret)):
        return None
    now = _now()
    if row.last_used_at is None or now - row.last_used_at >= _LAST_USED_EVERY:
        row.last_used_at = now
    return ApiPrincipal(name=f"key:{row.prefix}", scopes=frozenset(row.scope_list), label=row.name)
