"""Browser tests: the example LMS served on a free local port, driven by Playwright in Debian's Chromium.

No browser is downloaded: Playwright launches ``/usr/bin/chromium`` (or ``$CHROMIUM_BIN``). Without a
browser these tests skip on a developer's machine; with ``CI=true`` a missing browser is an error.
Screenshots go to ``test-artifacts/screenshots/`` (not committed).
"""
from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_BIN") or shutil.which("chromium") or "/usr/bin/chromium"
IN_CI = os.environ.get("CI", "").lower() == "true"
_LIVE_APPS: dict[str, object] = {}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

try:
    import playwright  # noqa: F401

    HAVE_PLAYWRIGHT = True
except ImportError:  # pragma: no cover
    HAVE_PLAYWRIGHT = False


def pytest_collection_modifyitems(config, items):
    missing = None
    if not HAVE_PLAYWRIGHT:
        missing = "playwright is not installed"
    elif not os.path.exists(CHROMIUM):
        missing = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if missing is None:
        return
    if IN_CI:
        raise pytest.UsageError(f"Browser tests must run in CI but {missing}")
    for item in items:
        if "browser" in str(item.fspath):
            item.add_marker(pytest.mark.skip(reason=missing))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
    }


@pytest.fixture(scope="session", autouse=True)
def _patient_expectations():
    """Assertions wait up to 15 s (Playwright's default is 5 s): a loaded 2-core CI machine is slow, not wrong."""
    if HAVE_PLAYWRIGHT:
        from playwright.sync_api import expect

        expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1366, "height": 900}}


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """The example LMS with fresh demo data, served on 127.0.0.1:<free port>. Yields its base URL."""
    from werkzeug.serving import make_server

    from example_app.app import create_app
    from example_app.demo import seed
    from example_app.models import db

    path = tmp_path_factory.mktemp("browser") / "example.db"
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "EXAMPLE_OUTBOX": str(path.parent / "outbox")})
    with app.app_context():
        db.create_all()
        seed()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.app_for_tests = app  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{server.server_port}"
    _LIVE_APPS[url] = app
    yield url
    _LIVE_APPS.pop(url, None)
    server.shutdown()
    thread.join(5)
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def live_app(live_server):
    """The Flask app ``live_server`` serves: set up data with ``services`` inside ``with live_app.app_context()``."""
    return _LIVE_APPS[live_server]


@pytest.fixture
def login(page, live_server):
    """``login(email)`` logs the browser in to the example LMS with the demo password."""
    from example_app.app import DEMO_PASSWORD

    def do(email: str) -> None:
        page.context.clear_cookies()
        page.goto(live_server + "/login")
        page.get_by_label("E-mail").fill(email)
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_load_state()

    return do


@pytest.fixture
def shot(page):
    """``shot(name)`` saves a full-page screenshot under test-artifacts/screenshots/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
