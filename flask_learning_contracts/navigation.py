"""Values of a request that say where to go: the ``next`` page to return to and the page number of a list.

Both come from the browser, so neither is trusted. The admin panel, the contract-admin dashboard and the
learner pages all read them through these two functions (one rule, one place).
"""
from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

from .i18n import _

#: The highest page number a list accepts; larger numbers show that page (empty, past the end) instead of
#: reaching the database as an OFFSET it cannot store.
MAX_PAGE = 1_000_000


def safe_next(value: str | None, fallback: str) -> str:
    """``value`` when it is a path on this site, else ``fallback``.

    A path here starts with one ``/`` and is followed by anything but a second ``/`` or ``\\``; it has no
    scheme or host, no backslash, and no control or invisible character (browsers drop tabs and new lines
    inside a URL and read ``\\`` as ``/``, so ``/\\t/evil.com`` and ``/\\evil.com`` both mean ``//evil.com``).
    The same holds once percent-decoded (``/%2F/evil.com``, ``/%5Cevil.com``), whatever a later step decodes.
    """
    if not value:
        return fallback
    for candidate in (value, unquote(value)):
        if not _is_local_path(candidate):
            return fallback
    return value


def _is_local_path(value: str) -> bool:
    if not value.startswith("/") or value[1:2] in ("/", "\\") or "\\" in value:
        return False
    if not value.isprintable():  # tabs, new lines, NUL, no-break and other unusual spaces …
        return False
    parts = urlsplit(value)
    return not (parts.scheme or parts.netloc)


def page_number(value: object, *, first: int = 1) -> int:
    """A list's page number from the query string: ``first`` when missing or not a whole number, at most
    :data:`MAX_PAGE` (pages are 1-based unless ``first`` says otherwise, as Flask-Admin's 0-based list)."""
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return first
    return max(first, min(number, MAX_PAGE - 1 + first))


def carries_nul(values: Iterable[str]) -> bool:
    """Whether any of the request's values holds a NUL character: no text a person types has one, and
    PostgreSQL refuses it in text ("text fields cannot contain NUL"), so pages answer 400 before any query."""
    return any("\x00" in value for value in values)


def too_large_text() -> tuple[str, str]:
    """The title and message of the page for a request over the host's size limits (HTTP 413: form text over
    ``MAX_FORM_MEMORY_SIZE``, or a body over ``MAX_CONTENT_LENGTH``), the same in the admin panel and the
    dashboard: what happened, and the way round it."""
    return _("Too much was sent at once"), _(
        "The form is larger than this site accepts, so nothing was changed. Paste fewer addresses at a time, "
        "or put them in a CSV file (one address per line) and upload that instead.")
