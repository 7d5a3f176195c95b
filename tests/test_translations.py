"""The shipped message catalogue template (``translations/messages.pot``) is what Babel extracts today.

Regenerate it with the command in README (Translations) when this fails.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import pytest

pytest.importorskip("babel")

from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "flask_learning_contracts" / "translations" / "messages.pot"


def test_the_catalogue_template_is_where_the_package_says():
    from flask_learning_contracts.i18n import CATALOGUE_TEMPLATE

    assert CATALOGUE_TEMPLATE.resolve() == SHIPPED.resolve() and CATALOGUE_TEMPLATE.is_file()
#: The keywords of flask_learning_contracts/i18n.py (``_`` and the templates' ``ngettext`` are Babel's defaults).
KEYWORDS = ["-k", "_l", "-k", "_n:1,2", "-k", "N_"]


def extract(output: Path) -> None:
    CommandLineInterface().run(["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"), *KEYWORDS,
                                "-o", str(output), str(ROOT)])


def message_ids(path: Path) -> set[object]:
    with path.open("rb") as handle:
        catalog = read_po(handle)
    return {message.id for message in catalog if message.id}


def test_the_shipped_pot_holds_every_message_and_no_stale_one(tmp_path):
    fresh = tmp_path / "messages.pot"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        extract(fresh)
    current, shipped = message_ids(fresh), message_ids(SHIPPED)
    missing, stale = sorted(map(str, current - shipped)), sorted(map(str, shipped - current))
    assert not missing and not stale, (
        f"translations/messages.pot is out of date (README: Translations): {len(missing)} new messages "
        f"{missing[:5]}, {len(stale)} gone {stale[:5]}")
    assert len(current) > 500  # the extraction really read the package and its templates


def test_extraction_reads_python_lazy_and_plural_keywords_and_templates():
    ids = message_ids(SHIPPED)
    assert ("Invited %(num)s learner.", "Invited %(num)s learners.") in ids  # _n in Python
    assert "Online course" in ids  # _l in Python
    assert any(isinstance(i, tuple) and "seat" in i[0] for i in ids)


def test_every_error_message_is_in_the_catalogue():
    """The refusals' default messages (``errors.*.default_message``, translated when shown) are extracted too."""
    from flask_learning_contracts import errors

    ids = message_ids(SHIPPED)
    defaults = {cls.default_message for cls in vars(errors).values()
                if isinstance(cls, type) and issubclass(cls, errors.LearningContractError)}
    assert len(defaults) > 20
    assert sorted(defaults - ids) == []


def test_every_page_and_email_is_translated_under_a_pseudo_locale():
    """tests/pseudo_locale_pages.py in its own interpreter: the stand-in Flask-Babel (tests/pseudo_babel.py) must
    be in place before the package is imported, so that module-level lazy labels go through it too."""
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.pseudo_babel",
         "tests/pseudo_locale_pages.py"],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout
