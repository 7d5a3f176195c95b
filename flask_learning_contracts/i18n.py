"""Translation shim: Flask-Babel's ``lazy_gettext`` when the host has it, a no-op otherwise.

Every user-facing string of the extension goes through ``_`` (immediate) or ``_l`` (lazy), so a host
that ships Flask-Babel can translate them with its own catalogues.
"""
from __future__ import annotations

try:  # pragma: no cover - exercised only where Flask-Babel is installed
    from flask_babel import gettext as _babel_gettext
    from flask_babel import lazy_gettext as _babel_lazy_gettext
except ImportError:  # pragma: no cover - the default here
    _babel_gettext = None
    _babel_lazy_gettext = None


def _(text: str, **variables: object) -> str:
    """Translate ``text`` now and interpolate ``%(name)s`` variables."""
    if _babel_gettext is not None:
        try:
            return _babel_gettext(text, **variables)
        except (KeyError, RuntimeError):  # no Babel configured on this app / outside a request
            pass
    return text % variables if variables else text


def _l(text: str, **variables: object):
    """Translate ``text`` lazily (for module-level labels, form fields, enum names)."""
    if _babel_lazy_gettext is not None:
        return _babel_lazy_gettext(text, **variables)
    return text % variables if variables else text
