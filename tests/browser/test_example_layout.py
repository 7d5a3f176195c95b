"""The example LMS's header around its own pages and the learning contracts' pages, in Chromium.

The learner and contract-admin pages use the example's layout (LEARNING_CONTRACTS_BASE_TEMPLATE): at 1366 px the
header is two single lines (brand and account, then the menu), whoever is signed in; at 390 px it wraps inside
the screen and nothing scrolls sideways.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

#: Heights of the header's two rows, the lines of its items' labels, and whether anything sticks out of the viewport.
MEASURE_JS = """() => {
  const box = (sel) => document.querySelector(sel).getBoundingClientRect();
  const items = [...document.querySelectorAll('header.site a, header.site button, header.site .who')];
  return {bar: box('header.site .bar').height, menu: box('header.site .menu').height,
          most_lines: Math.max(...items.map(el => {  // the lines an item's text takes (a range gives one box per line)
            const range = document.createRange(); range.selectNodeContents(el);
            return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size; })),
          scroll_width: document.documentElement.scrollWidth, width: window.innerWidth,
          menu_rows: new Set([...document.querySelectorAll('header.site .menu a')].map(a => Math.round(a.getBoundingClientRect().top))).size};
}"""


@pytest.mark.parametrize(("email", "path"), [
    ("admin@example.com", "/"),  # the longest menu: dashboard and admin panel links, and the widget
    ("admin@example.com", "/learning-contracts/"),
    ("contracts@example.com", "/learning-contracts/manage/"),
    ("ana@example.com", "/learning-contracts/"),
])
def test_the_header_keeps_to_one_line_per_row_at_1366_and_fits_at_390(page: Page, live_server, login, email, path):
    login(email)
    page.goto(live_server + path)
    expect(page.get_by_role("navigation", name="Main menu")).to_be_visible()
    expect(page.get_by_role("button", name="Log out", exact=True)).to_be_visible()
    wide = page.evaluate(MEASURE_JS)
    assert wide["bar"] < 60 and wide["menu"] < 50 and wide["menu_rows"] == 1, wide
    assert wide["most_lines"] == 1, wide  # no label wraps inside itself ("Log out Alex Admin" did)
    page.set_viewport_size({"width": 390, "height": 844})
    narrow = page.evaluate(MEASURE_JS)
    assert narrow["scroll_width"] <= narrow["width"], narrow
    assert narrow["bar"] < 60 and narrow["most_lines"] == 1, narrow  # brand, name and Log out stay on one line
