"""Where a page sends the browser back to (``next``): a path on this site, or the page's own default.

One helper (``flask_learning_contracts.navigation.safe_next``) decides for the admin panel, the contract-admin
dashboard and the learner pages; it is tried here with a table of hostile values (tabs, new lines, backslashes,
encoded slashes, schemes) and through each kind of page that reads ``next``: an admin button POST, the admin
revoke confirmation (its Cancel link and the form that posts back to the same URL), a learner form and a
contract-admin form.
"""
from __future__ import annotations

from urllib.parse import urlencode

import pytest

from flask_learning_contracts import ContractType, services

from .admin_support import url
from .conftest import invite_one
from .views_support import PREFIX, client_for, csrf_for, text

#: Values a browser (or a curious admin) could turn into a visit to another site.
HOSTILE = [
    "//evil.com", "///evil.com", "/\t/evil.com", "/\n/evil.com", "/\r/evil.com", "\t//evil.com", " //evil.com",
    "/\\evil.com", "\\\\evil.com", "/\\/evil.com", "\\/evil.com", "/%2F/evil.com", "/%2f/evil.com",
    "/%5Cevil.com", "/%09/evil.com", "/%0A/evil.com", "https://evil.com", "http:evil.com", "HTTPS://evil.com/x",
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,<script>alert(1)</script>", "evil.com",
    "//evil.com/%2F..", "/\x00/evil.com", "/\u3000/evil.com", "/\u00a0/evil.com", "",
]

#: Paths on this site, kept as they are.
SAFE = ["/", "/learning-contracts/", "/admin/learning-contracts/1/invitations?q=ann&status=outstanding&page=2",
        "/learning-contracts/manage/1#invitations", "/x?next=//evil.com", "/cours/été"]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_next_falls_back_to_the_default(value):
    from flask_learning_contracts.navigation import safe_next

    assert safe_next(value, "/home") == "/home"


@pytest.mark.parametrize("value", SAFE)
def test_a_path_on_this_site_is_kept(value):
    from flask_learning_contracts.navigation import safe_next

    assert safe_next(value, "/home") == value


def test_no_next_gives_the_default():
    from flask_learning_contracts.navigation import safe_next

    assert safe_next(None, "/home") == "/home"


# ---------------------------------------------------------------------------------------------
# through the pages
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def world(make_user, make_course, make_contract):
    courses = [make_course("Safety")]
    contract = make_contract(ContractType.VOUCHER, activities=courses, require_invitation_code=False)
    admin, learner, manager = make_user("admin@example.com"), make_user(), make_user(manager=True)
    services.add_contract_admin(contract, admin)
    return {"contract": contract, "course": courses[0], "admin": admin, "learner": learner, "manager": manager,
            "invitation": invite_one(contract, learner)}


def _location_is_safe(response, fallback: str) -> None:
    if response.status_code == 400:  # a NUL anywhere in the request is refused before anything runs
        return
    assert response.status_code == 302, response.status_code
    assert response.headers["Location"] == fallback, response.headers["Location"]


@pytest.mark.parametrize("value", HOSTILE)
def test_admin_button_posts_never_redirect_off_site(app, world, value):
    """``?next=/%09/evil.com`` on an admin POST used to answer ``Location: //evil.com``."""
    contract, invitation = world["contract"], world["invitation"]
    client = client_for(app, world["manager"])
    fallback = url(f"{contract.id}/invitations")

    in_query = client.post(url(f"{contract.id}/invitations/{invitation.id}/resend?{urlencode({'next': value})}"),
                           data={"csrf_token": csrf_for(app, client)})
    in_form = client.post(url(f"{contract.id}/invitations/{invitation.id}/resend"),
                          data={"csrf_token": csrf_for(app, client), "next": value})

    _location_is_safe(in_query, fallback)
    _location_is_safe(in_form, fallback)


@pytest.mark.parametrize("value", HOSTILE)
def test_admin_revoke_confirmation_never_links_or_returns_off_site(app, db, world, value):
    """``?next=/%5Cevil.com`` rendered the Cancel link as ``href="/\\evil.com"``; the form posts back to it."""
    contract, invitation = world["contract"], world["invitation"]
    client = client_for(app, world["manager"])
    page_url = url(f"{contract.id}/invitations/{invitation.id}/revoke?{urlencode({'next': value})}")
    fallback = url(f"{contract.id}/invitations")

    shown = client.get(page_url)
    page = shown.get_data(as_text=True)
    if "\x00" in value:
        assert shown.status_code == 400  # refused before anything runs
    else:
        assert f'href="{fallback}" class="btn btn-outline-secondary ml-2">Cancel' in page
    assert "evil.com" not in page.replace("%2F", "/").lower()

    response = client.post(page_url, data={"csrf_token": csrf_for(app, client)})
    _location_is_safe(response, fallback)


@pytest.mark.parametrize("value", HOSTILE)
def test_learner_and_dashboard_forms_never_redirect_off_site(app, world, value):
    contract, course, invitation = world["contract"], world["course"], world["invitation"]
    learner = client_for(app, world["learner"])
    admin = client_for(app, world["admin"])

    enrolled = learner.post(f"{PREFIX}/contracts/{contract.id}/activities/{course.id}/enroll",
                            data={"csrf_token": csrf_for(app, learner), "next": value})
    refused = learner.post(f"{PREFIX}/code", data={"csrf_token": csrf_for(app, learner), "code": "WRONG-CODE-1",
                                                   "next": value})  # a domain error goes back to ``next``
    resent = admin.post(f"{PREFIX}/manage/{contract.id}/invitations/{invitation.id}/resend",
                        data={"csrf_token": csrf_for(app, admin), "next": value})

    _location_is_safe(enrolled, f"{PREFIX}/contracts/{contract.id}")
    _location_is_safe(refused, f"{PREFIX}/")
    if "\x00" in value:
        assert resent.status_code == 400
        return
    assert resent.status_code == 302 and resent.headers["Location"].startswith(f"{PREFIX}/manage/{contract.id}")
    assert "evil" not in resent.headers["Location"]


def test_a_next_on_this_site_is_followed(app, world):
    contract, invitation = world["contract"], world["invitation"]
    client = client_for(app, world["manager"])
    back = url(f"{contract.id}/invitations?q=learner&page=1")

    response = client.post(url(f"{contract.id}/invitations/{invitation.id}/resend"),
                           data={"csrf_token": csrf_for(app, client), "next": back})

    _location_is_safe(response, back)
    assert "Cancel" in text(client.get(url(f"{contract.id}/invitations/{invitation.id}/revoke?"
                                            f"{urlencode({'next': back})}")))
