"""The translation shim when Flask-Babel is installed but this app never initialised it (KeyError: 'babel')."""
from __future__ import annotations

from flask_learning_contracts import i18n


class LazyString:
    """Flask-Babel's ``LazyString``: calls ``func(*args, **kwargs)`` when converted to ``str``."""

    def __init__(self, func, *args, **kwargs):
        self.func, self.args, self.kwargs = func, args, kwargs

    def __str__(self):
        return self.func(*self.args, **self.kwargs)


def uninitialised(*_args, **_kwargs):
    raise KeyError("babel")  # what flask_babel.gettext raises on an app without Babel(app)


def test_labels_fall_back_to_english_on_an_app_without_flask_babel(monkeypatch, app):
    monkeypatch.setattr(i18n, "_babel_gettext", uninitialised)
    monkeypatch.setattr(i18n, "_babel_ngettext", uninitialised)
    monkeypatch.setattr(i18n, "_babel_lazy_gettext", lambda text, **v: LazyString(uninitialised, text, **v))
    monkeypatch.setattr(i18n, "_babel_lazy_string", LazyString, raising=False)
    with app.test_request_context("/"):
        assert i18n._("Seats") == "Seats"
        assert i18n._n("%(num)s seat", "%(num)s seats", 2) == "2 seats"
        assert str(i18n._l("Online course")) == "Online course"
        assert str(i18n._l("Invited %(name)s", name="Ana")) == "Invited Ana"
