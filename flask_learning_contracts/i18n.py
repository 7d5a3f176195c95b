"""Translation shim: Flask-Babel's ``lazy_gettext`` when the host has it, a no-op otherwise.

Every user-facing string of the extension goes through ``_`` (immediate) or ``_l`` (lazy), so a host
that ships Flask-Babel can translate them with its own catalogues.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

#: The catalogue template of every message of the extension (``pybabel init -i`` it to start a translation;
#: README: Translations).
CATALOGUE_TEMPLATE = Path(__file__).parent / "translations" / "messages.pot"

# Flask-Babel ships no type information. ``lazy_gettext`` returns a ``LazyString``, which translates when
# converted with ``str()`` and otherwise behaves as the ``str`` it stands for: typed as ``str`` so that lazy
# labels go wherever labels go (WTForms fields, Flask-Admin columns, enum labels).
_babel_gettext: Callable[..., str] | None = None
_babel_lazy_gettext: Callable[..., str] | None = None
_babel_ngettext: Callable[..., str] | None = None
_babel_lazy_string: Callable[..., str] | None = None
try:  # pragma: no cover - exercised only where Flask-Babel is installed
    from flask_babel import gettext as _gettext, lazy_gettext as _lazy_gettext, ngettext as _ngettext
except ImportError:  # pragma: no cover - the default here
    pass
else:  # pragma: no cover - exercised only where Flask-Babel is installed
    _babel_gettext, _babel_lazy_gettext, _babel_ngettext = _gettext, _lazy_gettext, _ngettext
_babel_format_decimal: Callable[..., str] | None = None
try:  # pragma: no cover - exercised only where Flask-Babel is installed
    from flask_babel import format_decimal as _format_decimal
except ImportError:  # pragma: no cover - the default here
    pass
else:  # pragma: no cover - exercised only where Flask-Babel is installed
    _babel_format_decimal = _format_decimal
try:  # pragma: no cover - exercised only where Flask-Babel is installed
    from flask_babel import LazyString as _LazyString
except ImportError:  # pragma: no cover - the default here
    pass
else:  # pragma: no cover - exercised only where Flask-Babel is installed
    _babel_lazy_string = _LazyString


def _(text: str, **variables: object) -> str:
    """Translate ``text`` now and interpolate ``%(name)s`` variables."""
    if _babel_gettext is not None:
        try:
            return _babel_gettext(text, **variables)
        except (KeyError, RuntimeError):  # no Babel configured on this app / outside a request
            pass
    return text % variables if variables else text


def N_(text: str) -> str:
    """Mark ``text`` for extraction into the catalogue and return it untranslated (for class-level defaults, such
    as the errors' ``default_message``, translated when they are shown)."""
    return text


def _l(text: str, **variables: object) -> str:
    """Translate ``text`` lazily (for module-level labels, form fields, enum names).

    With Flask-Babel the result is a ``LazyString`` standing in for the ``str`` (see above); without it, the
    text itself.
    """
    if _babel_lazy_string is not None:
        # Flask-Babel's lazy string around our ``_`` rather than its ``lazy_gettext``: on an app where the host
        # did not initialise Flask-Babel (installed for another app, or not yet) the label is the English text,
        # where ``lazy_gettext`` would raise ``KeyError: 'babel'`` wherever the label is shown.
        return _babel_lazy_string(_, text, **variables)
    if _babel_lazy_gettext is not None:
        return _babel_lazy_gettext(text, **variables)
    return text % variables if variables else text


def format_count(num: int) -> str:
    """``num`` as a count is read: ``20,000`` (the locale's digit grouping with Flask-Babel), as the pages'
    own figures show it, so a sentence never says "Invited 20000 learners" under a "20,000"."""
    if _babel_format_decimal is not None:
        try:
            return _babel_format_decimal(num)
        except (KeyError, RuntimeError):  # no Babel configured on this app / outside a request
            pass
    return f"{num:,}"


class _Count(int):
    """A count that picks the plural form as the number it is and reads, in ``%(num)s``, with its digits
    grouped (Flask-Babel's ``ngettext`` takes ``num`` as the one value for both)."""

    def __str__(self) -> str:
        return format_count(int(self))


def _n(singular: str, plural: str, num: int, **variables: object) -> str:
    """Translate a count now: ``singular`` when ``num`` is 1, else ``plural`` (a catalogue's own plural
    rules with Flask-Babel); ``%(num)s`` (the count with its digits grouped, see :func:`format_count`) and the other
    variables are interpolated."""
    num = _Count(num)
    if _babel_ngettext is not None:
        try:
            return _babel_ngettext(singular, plural, num, **variables)
        except (KeyError, RuntimeError):  # no Babel configured on this app / outside a request
            pass
    return (singular if num == 1 else plural) % {"num": num, **variables}


def language() -> str:
    """The language tag of the page being rendered (for ``<html lang>``): Flask-Babel's locale, else ``en``."""
    try:  # pragma: no cover - exercised only where Flask-Babel is installed
        from flask_babel import get_locale
    except ImportError:  # pragma: no cover - the default here
        return "en"
    try:  # pragma: no cover - exercised only where Flask-Babel is installed
        locale = get_locale()
    except (KeyError, RuntimeError):  # pragma: no cover - no Babel configured on this app
        return "en"
    return str(locale).replace("_", "-") if locale is not None else "en"
