"""Stored and reflected XSS: hostile strings in every value a person can type, through the real pages.

Contract title, description, group, external id and source, host activity titles, user names, an e-mail
address that is valid yet hostile, CSV cells and the CSV file name echoed on the invite reports, search
boxes and ``next`` URLs: every admin, learner and dashboard page that shows them must contain only the
escaped form, and ``{{7*7}}`` must come out literally (never evaluated to 49).
"""
from __future__ import annotations

import csv
import io
from urllib.parse import urlencode

import pytest
from flask import render_template_string
from markupsafe import escape

from flask_learning_contracts import ContractType, services

from .views_support import client_for, csrf_for

PAYLOAD = '<script>alert(1)</script>"><img src=x onerror=alert(1)>{{7*7}}'
EVIL_EMAIL = "x{{7*7}}'onfocus=alert`1`@example.com"  # valid as an address, hostile in an attribute
RAW = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "'onfocus=alert", "alert(1)&gt;49")
ADMIN = "/admin/learning-contracts"
LC = "/learning-contracts"


def hostile(tag: str) -> str:
    return f"{tag} {PAYLOAD}"


def assert_escaped(response, *values: str, page: str = "") -> None:
    """No raw payload anywhere on the page; each value present in its escaped form (so not evaluated)."""
    html = response.get_data(as_text=True)
    label = page or response.request.path
    assert response.status_code == 200, (label, response.status_code)
    for raw in RAW:
        assert raw not in html, f"{label}: unescaped {raw!r}"
    for value in values:
        assert str(escape(value)) in html, f"{label}: {value!r} is not shown escaped"


@pytest.fixture
def world(app, make_user, make_course, make_contract):
    courses = [make_course(hostile(f"course{i}")) for i in (1, 2, 3)]
    a = make_contract(ContractType.VOUCHER, code="XSS-A", title=hostile("title"), description=hostile("desc"),
                      group=hostile("group"), external_id=hostile("ext"), source=hostile("src"),
                      activities=courses[:2], require_invitation_code=False)
    b = make_contract(ContractType.SUBSCRIPTION, code="XSS-B", title=hostile("btitle"), activities=courses[2:])
    manager = make_user("boss@example.com", manager=True, name=hostile("mgr"))
    admin = make_user("cadmin@example.com", name=hostile("cadmin"))
    learner = make_user(EVIL_EMAIL, name=hostile("learner"))
    services.add_contract_admin(a, admin)
    services.invite(a, users=[learner])
    invitation = services.invitations_for(learner)[0]
    return {"a": a, "b": b, "courses": courses, "manager": manager, "admin": admin, "learner": learner,
            "invitation": invitation}


def _csv_upload() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    for cell in ("csv1<script>alert(1)</script>", 'csv2"><img src=x onerror=alert(1)>', "csv3{{7*7}}",
                 "=cmd|' /C calc'!A0"):
        writer.writerow([cell])
    return out.getvalue().encode()


CSV_CELLS = ("csv1<script>alert(1)</script>", 'csv2"><img src=x onerror=alert(1)>', "csv3{{7*7}}")


def test_admin_pages_escape_every_stored_and_reflected_value(app, world):
    a, b, c1, c3 = world["a"], world["b"], world["courses"][0], world["courses"][2]
    inv = world["invitation"]
    client = client_for(app, world["manager"])
    title, courses = a.title, [c.title for c in world["courses"]]
    learner_name, admin_name = world["learner"].name, world["admin"].name
    details = (title, a.description, a.group, a.external_id, a.source)
    pages = {
        "/": (title, b.title),
        f"/?search={PAYLOAD}": (PAYLOAD,),
        f"/{a.id}/": (*details, admin_name),
        f"/{a.id}/?admin_q=example": (title, learner_name, EVIL_EMAIL),
        f"/edit/?id={a.id}": details,
        f"/{a.id}/activities": (title, *courses[:2]),
        f"/{a.id}/activities/add": (title, courses[2]),
        f"/{a.id}/activities/add?q={PAYLOAD}": (PAYLOAD,),
        f"/{a.id}/activities/import?source={b.id}": (title, b.title, courses[2]),
        f"/{a.id}/activities/{c1.id}/remove": (title, courses[0]),
        f"/{a.id}/invitations": (title, learner_name, EVIL_EMAIL, courses[0]),
        f"/{a.id}/invitations?q={PAYLOAD}&status={PAYLOAD}": (PAYLOAD,),
        f"/{a.id}/invitations/{inv.id}/activities": (title, EVIL_EMAIL, *courses[:2]),
        f"/{a.id}/invitations/{inv.id}/revoke?next=/{PAYLOAD}": (EVIL_EMAIL, "/" + PAYLOAD),
        f"/{a.id}/invite?q=example": (title, learner_name, EVIL_EMAIL),
        f"/{a.id}/invite?q={PAYLOAD}": (PAYLOAD,),
        f"/{a.id}/history": (title, courses[0]),
        f"/{a.id}/delete": (title,),
        f"/{b.id}/code/regenerate": (b.title,),
    }
    for path, values in pages.items():
        assert_escaped(client.get(ADMIN + path), *values, page=path)

    # The CSV step of a two-activity Voucher contract keeps the file (and typed addresses) for step 2 …
    file_name = "name<script>alert(1)</script>{{7*7}}.csv"  # a quote would end the multipart file name
    upload = {"csrf_token": csrf_for(app, client), "file": (io.BytesIO(_csv_upload()), file_name),
              "emails": PAYLOAD, "run": "x" * 32}
    posted = client.post(f"{ADMIN}/{a.id}/invite", data=upload, content_type="multipart/form-data")
    step = client.get(posted.headers["Location"])
    assert_escaped(step, title, *courses[:2], file_name, page="invite step 2")
    # … and the report echoes every bad cell, escaped.
    sent = client.post(posted.headers["Location"], data={"csrf_token": csrf_for(app, client),
                                                         "activity_ids": [str(c1.id)]})
    report = client.get(sent.headers["Location"])
    assert_escaped(report, title, *CSV_CELLS, page="invite report")

    # Flash messages built from hostile values are escaped too.
    added = client.post(f"{ADMIN}/{a.id}/admins/add", data={
        "csrf_token": csrf_for(app, client), "user_id": str(world["learner"].id)}, follow_redirects=True)
    assert_escaped(added, f"{learner_name} is now a contract admin.", page="flash: admin added")
    removed = client.post(f"{ADMIN}/{a.id}/activities/{c3.id}/remove", follow_redirects=True,
                          data={"csrf_token": csrf_for(app, client)})
    assert_escaped(removed, title, page="flash: activity not on the contract")
    edited = client.post(f"{ADMIN}/edit/?id={a.id}", follow_redirects=True, data={
        "csrf_token": csrf_for(app, client), "code": "XSS-A", "title": hostile("edited"), "description": PAYLOAD,
        "group": "", "external_id": "", "source": "", "seats": "10", "per_user_limit": "0",
        "valid_from": "2026-01-01", "valid_until": "2026-12-31", "require_invitation_code": "no"})
    assert_escaped(edited, hostile("edited"), PAYLOAD, page="edited contract")


def test_learner_pages_and_widget_escape_titles_names_and_flashes(app, world):
    a, c1 = world["a"], world["courses"][0]

    @app.route("/host-home")
    def host_home():
        return render_template_string("<main>{{ learning_contracts_widget() }}</main>")

    client = client_for(app, world["learner"])
    courses = [c.title for c in world["courses"][:2]]
    for path, values in {
        LC + "/": (a.title, a.description, *courses, world["learner"].name),
        f"{LC}/contracts/{a.id}": (a.title, a.description, *courses),
        "/host-home": (a.title, *courses),
    }.items():
        assert_escaped(client.get(path), *values, page=path)

    enrolled = client.post(f"{LC}/contracts/{a.id}/activities/{c1.id}/enroll", follow_redirects=True,
                           data={"csrf_token": csrf_for(app, client)})
    assert_escaped(enrolled, f"You are enrolled in {c1.title}.", page="flash: enrolled")

    wrong_code = client.post(LC + "/code", follow_redirects=True,
                             data={"csrf_token": csrf_for(app, client), "code": PAYLOAD[:64]})
    assert_escaped(wrong_code, page="flash: wrong code")


def test_dashboard_pages_escape_titles_emails_cells_and_search(app, world):
    a, inv = world["a"], world["invitation"]
    client = client_for(app, world["admin"])
    courses = [c.title for c in world["courses"][:2]]
    base = f"{LC}/manage/{a.id}"
    for path, values in {
        LC + "/manage/": (a.title, world["admin"].name),
        base: (a.title, EVIL_EMAIL),
        f"{base}?q={PAYLOAD}&status={PAYLOAD}": (PAYLOAD,),
        base + "/code": (a.title,),
        f"{base}/invite?{urlencode({'q': EVIL_EMAIL})}": (a.title, world["learner"].name, EVIL_EMAIL),
        f"{base}/invite?q={PAYLOAD}": (PAYLOAD[:100],),
        f"{base}/invitations/{inv.id}": (a.title, EVIL_EMAIL, courses[0]),
        f"{base}/invitations/{inv.id}/revoke": (a.title, EVIL_EMAIL),
    }.items():
        assert_escaped(client.get(path), *values, page=path)

    posted = client.post(base + "/invite", content_type="multipart/form-data", data={
        "csrf_token": csrf_for(app, client), "run": "y" * 32, "file": (io.BytesIO(_csv_upload()), "people.csv")})
    assert_escaped(client.get(posted.headers["Location"]), a.title, *courses, page="dashboard invite step 2")
    sent = client.post(posted.headers["Location"], data={"csrf_token": csrf_for(app, client),
                                                         "activity_ids": [str(world["courses"][0].id)]})
    report = client.get(sent.headers["Location"])
    assert_escaped(report, a.title, *CSV_CELLS, page="dashboard invite report")

    renamed = client.post(base + "/title", data={"csrf_token": csrf_for(app, client), "title": hostile("renamed")},
                          follow_redirects=True)
    assert_escaped(renamed, hostile("renamed"), page="renamed")
    refused = client.post(base + "/title", data={"csrf_token": csrf_for(app, client), "title": PAYLOAD * 4},
                          follow_redirects=True)
    assert_escaped(refused, hostile("renamed"), page="title too long")
