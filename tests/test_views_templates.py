"""The pages' templates: a host's own base layout, strict rendering, no reliance on replaceable Jinja globals."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from jinja2 import ChoiceLoader, DictLoader, StrictUndefined

from flask_learning_contracts import ContractType, services

from .views_support import PREFIX, client_for, text

TEMPLATES = Path(__file__).resolve().parents[1] / "flask_learning_contracts" / "templates" / "learning_contracts"
HOST_BASE = """<!doctype html><html><head><title>{% block title %}{% endblock %} | Host LMS</title>{% block head %}{% endblock %}</head>
<body><nav id="host-nav">Host navigation</nav>{% block content %}{% endblock %}</body></html>"""


def _our_templates():
    return sorted(p for p in TEMPLATES.rglob("*.html") if "admin" not in p.relative_to(TEMPLATES).parts)


@pytest.mark.parametrize("path", _our_templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_templates_do_not_use_config_or_g(path):
    source = path.read_text()
    assert not re.search(r"\bconfig\b\s*[.\[]", source), "pass settings from Python instead of reading config"
    assert not re.search(r"\bg\.\w", source), "pass values from Python instead of reading g"


@pytest.fixture
def host_base_app(app):
    app.config["LEARNING_CONTRACTS_BASE_TEMPLATE"] = "host/base.html"
    app.jinja_env.loader = ChoiceLoader([DictLoader({"host/base.html": HOST_BASE}), app.jinja_env.loader])
    app.jinja_env.undefined = StrictUndefined
    return app


def test_every_page_renders_strictly_inside_the_hosts_base_template(host_base_app, make_user, make_contract,
                                                                    make_course):
    app = host_base_app
    admin, learner = make_user(name="Casey"), make_user()
    courses = [make_course("Safety"), make_course("Lab", kind="ilt")]
    voucher = make_contract(title="Voucher one", activities=courses, require_invitation_code=False)
    subscription = make_contract(ContractType.SUBSCRIPTION, title="Sub one", activities=courses)
    for contract in (voucher, subscription):
        services.add_contract_admin(contract, admin)
    iid = services.invite(voucher, users=[learner], emails=["x@example.com"]).invited[0].invitation_id
    services.invite(subscription, users=[learner])

    pages = {
        learner: [PREFIX + "/", f"{PREFIX}/contracts/{voucher.id}", f"{PREFIX}/contracts/{subscription.id}"],
        admin: [PREFIX + "/manage/", f"{PREFIX}/manage/{voucher.id}", f"{PREFIX}/manage/{voucher.id}/invite?q=exa",
                f"{PREFIX}/manage/{voucher.id}/code", f"{PREFIX}/manage/{voucher.id}/invitations/{iid}",
                f"{PREFIX}/manage/{voucher.id}/invitations/{iid}/revoke", f"{PREFIX}/manage/{subscription.id}"],
    }
    for user, urls in pages.items():
        client = client_for(app, user)
        for url in urls:
            response = client.get(url)
            page = text(response)
            assert response.status_code == 200, url
            assert '<nav id="host-nav">' in page and "| Host LMS</title>" in page, url
            assert "learning_contracts/learning_contracts.css" in page, url  # our style comes along
            assert "lc-topbar" not in page, url  # our own layout is not used
    missing = client_for(app, learner).get(f"{PREFIX}/contracts/999")
    assert missing.status_code == 404 and '<nav id="host-nav">' in text(missing)


def test_a_host_without_the_option_gets_the_extensions_own_layout(app, make_user, make_contract, make_course):
    """No LEARNING_CONTRACTS_BASE_TEMPLATE: the pages are whole documents of their own (top bar, skip link, style)."""
    assert app.config["LEARNING_CONTRACTS_BASE_TEMPLATE"] == "learning_contracts/base.html"
    learner = make_user()
    contract = make_contract(title="Default layout", activities=[make_course("Safety")])
    services.invite(contract, users=[learner])
    for url in (PREFIX + "/", f"{PREFIX}/contracts/{contract.id}"):
        page = text(client_for(app, learner).get(url))
        assert page.startswith("<!doctype html>") and '<html lang="en">' in page, url
        assert 'class="lc-topbar"' in page and '<a class="lc-skip" href="#lc-main">' in page, url
        assert '<main id="lc-main"' in page and page.count("learning_contracts/learning_contracts.css") == 1, url
        assert "· Learning contracts</title>" in page, url


def test_url_prefix_is_configurable(tmp_path):
    from . import host
    from .conftest import database_url

    app = host.create_app(database_url(tmp_path), LEARNING_CONTRACTS_URL_PREFIX="/contracts-area")
    rules = {rule.rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("learning_contracts.")}
    assert "/contracts-area/" in rules and "/contracts-area/manage/" in rules
    assert "/learning-contracts/" not in rules
