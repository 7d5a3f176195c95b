"""Every page under the pseudo-locale of tests/pseudo_babel.py: nothing a person reads is left untranslated.

Run by tests/test_translations.py in a subprocess (``-p tests.pseudo_babel`` must load before the package).

What a person reads: each text node (not scripts or styles) and the ``title``, ``aria-label``, ``placeholder`` and
``alt`` attributes, the ``value`` of buttons and the data attributes our scripts show as text. Translated text is
inside ``⟦…⟧``. Data is what the seed below stored, all of it spelled with the marker ``§`` (contract titles,
group, course titles, user names) or as codes (contract codes ``QQA-1``, invitation codes ``ABCD-EFGH-JKMN``),
plus e-mail addresses, numbers, dates and times of our formatter (their month names are translated messages; the
zone names are the tz database's) and punctuation. What is left over after removing those is an
untranslated string. Flask-Admin's own chrome (its menu, list-view paging and actions, the Create/List tabs it
translates with its own catalogue) is Flask-Admin's business: admin pages are read inside our ``<main>``
container only, and there strings matching a message of the catalogue Flask-Admin ships are its own.
"""
from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import current_app, render_template_string

from flask_learning_contracts import ContractType, services
from flask_learning_contracts.enums import NotificationKind
from tests.conftest import invite_one
from tests.pseudo_babel import CLOSE, OPEN
from tests.views_support import client_for, csrf_for

ADMIN = "/admin/learning-contracts"
LC = "/learning-contracts"
#: Attributes a person reads, and those our scripts (static/learning_contracts/**.js) show as text.
READ_ATTRIBUTES = {"title", "aria-label", "placeholder", "alt",
                   "data-copied", "data-lc-copied", "data-lc-select", "data-prefix", "data-months"}
_EMAIL = re.compile(r"[\w.+'{}*`=-]+@[\w.-]+")
_DATA = re.compile(r"\S*§\S*|\bQQ[AB]-1\b")
_ZONE = re.compile(r"\bUTC\b")  # the viewer's zone (the tests' rules give none: UTC), named by the tz database
#: Invitation codes as the pages format them (codes.format_code), and the code field's sample of that format.
_CODE = re.compile(r"\b[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}\b")


class Reader(HTMLParser):
    """The strings a person reads on a page (inside ``scope``, a tag name, when given)."""

    def __init__(self, scope: str | None) -> None:
        super().__init__(convert_charrefs=True)
        self.scope, self.depth, self.skip = scope, 0 if scope else 1, 0
        self.strings: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == self.scope:
            self.depth += 1
        if tag in ("script", "style"):
            self.skip += 1
        if self.depth and not self.skip:
            values = dict(attrs)
            self.strings += [v for k, v in attrs if k in READ_ATTRIBUTES and v]
            if tag == "input" and values.get("type") in ("submit", "button", "reset") and values.get("value"):
                self.strings.append(values["value"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self.skip:
            self.skip -= 1
        if tag == self.scope and self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth and not self.skip and data.strip():
            self.strings.append(data)


def leftover(string: str) -> str:
    """What of ``string`` is neither translated, data, nor punctuation and numbers ('' when nothing)."""
    text = " ".join(string.split())
    previous = None
    while previous != text:  # innermost first: translated messages may hold translated values
        previous, text = text, re.sub(f"{OPEN}[^{OPEN}{CLOSE}]*{CLOSE}", " ", text)
    text = _ZONE.sub(" ", _CODE.sub(" ", _DATA.sub(" ", _EMAIL.sub(" ", text))))
    return text.strip() if re.search(r"[^\W\d_]", text) else ""


def flask_admin_messages() -> list[re.Pattern[str]]:
    """Flask-Admin's own messages (from the catalogue it ships), ``%(name)s`` standing for anything."""
    import flask_admin
    from babel.messages.pofile import read_po

    catalogue = next(Path(flask_admin.__file__).parent.glob("translations/*/LC_MESSAGES/admin.po"))
    with catalogue.open("rb") as handle:
        ids = [m.id for m in read_po(handle) if m.id]
    texts = [t for i in ids for t in (i if isinstance(i, tuple) else (i,))]
    return [re.compile(r"\s*.*?\s*".join(map(re.escape, re.split(r"%\(\w+\)[sd]", t.strip())))) for t in texts]


FLASK_ADMIN_MESSAGES = flask_admin_messages()


def is_flask_admins(text: str) -> bool:
    core = re.sub(r"^[\W\d_]+|[\W\d_]+$", "", text)
    return any(pattern.fullmatch(core) for pattern in FLASK_ADMIN_MESSAGES)


def untranslated(html: str, scope: str | None = None, flask_admin: bool = False) -> list[str]:
    """The untranslated strings of ``html``; with ``flask_admin``, Flask-Admin's own messages are left to it."""
    reader = Reader(scope)
    reader.feed(html)
    found = {leftover(s) for s in reader.strings} - {""}
    return sorted(s for s in found if not (flask_admin and is_flask_admins(s)))


def report(found: dict[str, list[str]]) -> str:
    return "untranslated strings:\n" + "\n".join(f"  {page}: {strings}" for page, strings in found.items())


@pytest.fixture
def world(app, make_user, make_course, make_contract):
    courses = [make_course("§course-1", "online"), make_course("§course-2", "ilt"), make_course("§course-3")]
    a = make_contract(ContractType.VOUCHER, code="QQA-1", title="§title-a", description="§desc", group="§group",
                      activities=courses[:2], require_invitation_code=True)
    b = make_contract(ContractType.SUBSCRIPTION, code="QQB-1", title="§title-b", activities=courses[2:],
                      valid_from=dt.date(2027, 1, 1), valid_until=dt.date(2027, 12, 31))
    manager = make_user("boss@example.com", manager=True, name="§Boss")
    admin = make_user("cadmin@example.com", name="§Cadmin")
    learner = make_user("learner@example.com", name="§Learner")
    services.add_contract_admin(a, admin)
    invitation = invite_one(a, learner)
    services.invite(a, emails=["nobody@example.com"])
    return {"a": a, "b": b, "courses": courses, "manager": manager, "admin": admin, "learner": learner,
            "invitation": invitation}


def test_the_reader_tells_translated_text_from_data_and_from_untranslated_text():
    page = (f'<main><h1>{OPEN}Contract{CLOSE} §title-a</h1><p>{OPEN}Seats: 3 of 10 for a@b.org{CLOSE}</p>'
            '<input type="submit" value="Save"><a title="Edit" data-copied="Copied">1 Jan 2026, 10:00 UTC</a>'
            '<span>—</span>'
            f'<script>var x = "not read";</script><p>{OPEN}Invited {OPEN}Online course{CLOSE} twice{CLOSE}</p></main>'
            '<nav>outside</nav>')
    # (month names are translated messages: an untranslated "Jan" is reported)
    assert untranslated(page, "main") == ["1 Jan 2026, 10:00", "Copied", "Edit", "Save"]
    assert untranslated(page) == ["1 Jan 2026, 10:00", "Copied", "Edit", "Save", "outside"]
    assert untranslated('<main><a title="Sort by X">List (2)</a></main>', "main", flask_admin=True) == []


def check(pages: dict[str, str], client, scope: str | None, flask_admin: bool = False) -> dict[str, list[str]]:
    """The untranslated strings of each page (``path: html``; an empty html is fetched with ``client``)."""
    found: dict[str, list[str]] = {}
    for path, html in pages.items():
        if not html:
            response = client.get(path)
            assert response.status_code < 500, (path, response.status_code)
            html = response.get_data(as_text=True)
        assert html.count(OPEN) > 3, f"{path}: the pseudo-locale is not in use"
        strings = untranslated(html, scope, flask_admin)
        if strings:
            found[path] = strings
    return found


def invite_steps(app, client, page: str, world) -> dict[str, str]:
    """Invite typed addresses (one registered, one not, one bad) on ``page``: the activity step (its HTML) and
    the report (its URL)."""
    html = client.get(page).get_data(as_text=True)
    run = re.search(r'name="run" value="([^"]+)"', html).group(1)
    step = client.post(page, data={"csrf_token": csrf_for(app, client), "run": run,
                                   "emails": "learner@example.com, fresh@example.com, §not-an-address"})
    assert step.status_code == 302, step.status_code
    activities = step.headers["Location"]
    shown = client.get(activities).get_data(as_text=True)  # before sending: then it redirects to the report
    sent = client.post(activities, data={"csrf_token": csrf_for(app, client),
                                         "activity_ids": [str(world["courses"][0].id)]})
    assert sent.status_code == 302, sent.status_code
    return {activities: shown, sent.headers["Location"]: ""}


def test_admin_pages(app, world):
    a, b, c1 = world["a"], world["b"], world["courses"][0]
    inv = world["invitation"]
    pages = ["/", "/new/", f"/{a.id}/", f"/{a.id}/?admin_q=example", f"/edit/?id={a.id}", f"/{a.id}/activities",
             f"/{a.id}/activities/add", f"/{a.id}/activities/import", f"/{a.id}/activities/import?source={b.id}",
             f"/{a.id}/activities/{c1.id}/remove", f"/{a.id}/invitations", f"/{a.id}/invitations?status=revoked",
             f"/{a.id}/invitations/{inv.id}/activities", f"/{a.id}/invitations/{inv.id}/revoke",
             f"/{a.id}/invite", f"/{a.id}/invite?q=example", f"/{b.id}/invite", f"/{a.id}/history",
             f"/{a.id}/delete", f"/{b.id}/code/regenerate", f"/{b.id}/", "/999999/",
             "-webhooks/", "-webhooks/deliveries/"]
    client = client_for(app, world["manager"])
    pages.append("/?search=a%00b")
    found = check({ADMIN + p: "" for p in pages} | invite_steps(app, client, f"{ADMIN}/{a.id}/invite", world),
                  client, "main", True)
    found.update({f"403 {k}": v for k, v in check({ADMIN + "/": ""}, client_for(app, world["learner"]),
                                                    "main", True).items()})
    assert not found, report(found)


def test_learner_pages_widget_and_errors(app, world):
    a = world["a"]

    @app.route("/host-home")
    def host_home():
        return render_template_string("<main>{{ learning_contracts_widget() }}</main>")

    client = client_for(app, world["learner"])
    pages = [LC + "/", f"{LC}/contracts/{a.id}", "/host-home", f"{LC}/contracts/999999", LC + "/manage/"]
    found = check(dict.fromkeys(pages, ""), client, None)
    found.update(check({LC + "/": ""}, client_for(app, world["manager"]), None))
    assert not found, report(found)


def test_dashboard_pages(app, world):
    a, inv = world["a"], world["invitation"]
    base = f"{LC}/manage/{a.id}"
    pages = [LC + "/manage/", base, base + "?status=not_registered", base + "/code", base + "/invite",
             f"{base}/invite?q=example", f"{base}/invitations/{inv.id}", f"{base}/invitations/{inv.id}/revoke"]
    client = client_for(app, world["admin"])
    found = check(dict.fromkeys(pages, "") | invite_steps(app, client, base + "/invite", world), client, None)
    assert not found, report(found)


def test_email_templates(app, world):
    a, inv = world["a"], world["invitation"]
    env = current_app.jinja_env
    from flask_learning_contracts.i18n import _, _n
    from flask_learning_contracts.services._core import _format_date  # the e-mails' dates, as _render passes them

    found: dict[str, list[str]] = {}
    for kind in NotificationKind:
        if kind is NotificationKind.WEBHOOK:
            continue  # POSTed as JSON to an endpoint: no e-mail templates
        context = {
            "kind": kind, "contract": a, "invitation": inv if kind.is_for_learner else None,
            "payload": {"days_left": 7, "seats": 10, "threshold": 80, "unused": 3, "used": 8},
            "code": "§CODE", "learner_name": "§Learner", "link": "http://lms.example/§", "recipient": "x@example.com",
            "activities": ["§course-1"], "valid_from": _format_date(a.valid_from),
            "valid_until": _format_date(a.valid_until), "seats": 10,
            "seats_used": 8, "unused": 2, "_": _, "ngettext": _n, "number": lambda n: f"{n:,}",
        }
        for suffix in (".subject.txt", ".txt", ".html"):
            name = f"learning_contracts/email/{kind.value}{suffix}"
            rendered = env.get_or_select_template(name).render(context)
            if suffix == ".html":
                strings = untranslated(rendered)
            else:
                strings = sorted({leftover(line) for line in rendered.splitlines()} - {""})
            if strings:
                found[name] = strings
    assert not found, report(found)
    assert services  # the seed above used the services


def test_the_words_of_formatted_dates_are_translated(app):
    """Dates are mostly shown inside messages (``valid until %(date)s``), where the markers around the message
    would hide an untranslated month name: the formatters are checked on their own."""
    from flask_learning_contracts import formatting
    from flask_learning_contracts.services._core import _format_date

    day = dt.date(2026, 5, 1)
    for shown in (formatting.format_date(day), formatting.format_datetime(dt.datetime(2026, 5, 1, 9, 0)),
                  _format_date(day)):
        assert leftover(shown) == "", shown
