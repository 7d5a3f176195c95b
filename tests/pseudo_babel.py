"""A pytest plugin (``-p tests.pseudo_babel``) that stands in for Flask-Babel under a pseudo-locale.

Loaded before the package is imported (so module-level ``_l`` labels go through it too), it puts a
``flask_babel`` module into ``sys.modules`` whose ``gettext``, ``lazy_gettext`` and ``ngettext`` return each
message wrapped in ``⟦…⟧`` with its ``%(name)s`` variables interpolated as Flask-Babel does. Every string the
extension hands to its translation shim (flask_learning_contracts/i18n.py) then shows on the page inside the
markers; anything else a person reads was never wrapped. The stand-in has no ``Domain``, so Flask-Admin (which
imports ``flask_babel.Domain`` for its own catalogue) keeps its untranslated built-in strings.

tests/test_translations.py runs tests/pseudo_locale_pages.py in a subprocess with this plugin.
"""
from __future__ import annotations

import sys
import types

OPEN, CLOSE = "\u27e6", "\u27e7"
LOCALE = "en_XA"  # the conventional pseudo-locale tag


def pseudo(text: str) -> str:
    return f"{OPEN}{text}{CLOSE}"


def gettext(string: str, **variables: object) -> str:
    translated = pseudo(string)
    return translated % variables if variables else translated


def lazy_gettext(string: str, **variables: object) -> str:
    return gettext(string, **variables)  # the pseudo-locale never changes: no need to defer


def ngettext(singular: str, plural: str, num: int, **variables: object) -> str:
    variables.setdefault("num", num)
    return pseudo(singular if num == 1 else plural) % variables


def get_locale() -> str:
    return LOCALE


fake = types.ModuleType("flask_babel")
fake.__dict__.update(gettext=gettext, lazy_gettext=lazy_gettext, ngettext=ngettext, get_locale=get_locale)
assert "flask_learning_contracts" not in sys.modules, "load this plugin with -p, before the package is imported"
sys.modules["flask_babel"] = fake
