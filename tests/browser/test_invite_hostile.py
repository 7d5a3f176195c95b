"""The invite flow walked with hostile input in Chromium at 390 px: a CSV with a long file name (shown in the
step-1 error and the activity step's "Inviting … lines of <file>") and a long search must not widen the page."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

LONG_NAME = "Quarterly-onboarding-export-from-the-HR-system-" + "x" * 120 + ".csv"


def _no_horizontal_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.evaluate("window.innerWidth") + 1, f"{page.url}: {width} px wide"


@pytest.mark.parametrize("who,invite", [("admin@example.com", "/admin/learning-contracts/1/invite"),
                                        ("contracts@example.com", "/learning-contracts/manage/1/invite")],
                         ids=["admin", "dashboard"])
def test_long_file_names_and_searches_wrap_at_390_px(page, live_server, login, shot, who, invite):
    page.set_viewport_size({"width": 390, "height": 900})
    login(who)

    page.goto(live_server + invite + "?q=" + "nobody" * 40)  # echoed in "Nobody matches …"
    _no_horizontal_scroll(page)

    page.set_input_files("#lc-invite-file", files=[{"name": LONG_NAME, "mimeType": "text/csv", "buffer": b"Email\n"}])
    page.locator("#lc-invite-form button[type=submit]").click()
    page.wait_for_load_state()
    assert "holds no e-mail address" in page.locator("#lc-invite-file-error").inner_text()
    _no_horizontal_scroll(page)
    shot(f"invite-long-file-error-390-{who.split('@')[0]}")

    page.set_input_files("#lc-invite-file", files=[{"name": LONG_NAME, "mimeType": "text/csv",
                                                    "buffer": b"wrap.one@example.com\nwrap.two@example.com\n"}])
    page.locator("#lc-invite-form button[type=submit]").click()
    page.wait_for_url("**/activities")
    assert "2 lines of Quarterly-onboarding" in page.content()
    _no_horizontal_scroll(page)
    shot(f"invite-long-file-activities-390-{who.split('@')[0]}")
