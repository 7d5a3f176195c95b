"""Scenario 4, ``pages``: admin and learner pages at scale.

Flask test client renders, logged in, of the admin contract list (1,000 contracts), a contract's Invitations
tab and contract-admin dashboard page (100,000 invitations) and the learner's invitations page/widget (50
invitations): time and SQL query count. Skipped, with the reason, while a page does not exist.
"""
from __future__ import annotations

import datetime as dt
import time

import sqlalchemy as sa

from bench import host
from bench.common import TODAY, count_queries, models, new_contract
from flask_learning_contracts import ContractType, InvitationStatus, services


def _login(client, user_id):
    """Make ``client``'s next requests those of the logged-in user ``user_id`` (Flask-Login session keys)."""
    with client.session_transaction() as sess:
        sess["_user_id"] = str(user_id)
        sess["_fresh"] = True


def _render(app, client, url, repeat, engine):
    """GET ``url`` ``repeat`` + 1 times, stopping at a status other than 200: ``{"url", "status", "bytes",
    "times": the renders after the warm-up one (the warm-up alone if no other), "queries": SQL statements
    of the last 200 render}``."""
    times, queries, status, size = [], None, None, None
    for _ in range(repeat + 1):  # the first render warms Jinja's template cache
        with count_queries(engine) as q:
            start = time.perf_counter()
            response = client.get(url)
            elapsed = time.perf_counter() - start
        status, size = response.status_code, len(response.data)
        if status != 200:
            break
        times.append(elapsed)
        queries = q["n"]
    return {"url": url, "status": status, "bytes": size, "times": times[1:] or times, "queries": queries}


def scenario_pages(app, repeat):
    """Render the admin and learner pages at scale; skip (with a reason) pages that do not exist yet."""
    db, m = host.db, models(app)
    out = {}
    admin = app.config.get("LEARNING_CONTRACTS_ADMIN_ENDPOINT", "lc_contract")
    rules = {r.endpoint: r for r in app.url_map.iter_rules() if "GET" in (r.methods or ())}
    list_rule = rules.get(admin + ".index_view")
    tab_rule = rules.get(admin + ".invitations_view")
    learner_rule = rules.get("learning_contracts.invitations")
    widget_rule = rules.get("bench_home") if "learning_contracts_widget" in app.jinja_env.globals else None
    dashboard_rule = rules.get("learning_contracts.manage_contract")
    with app.app_context():
        manager_id = db.session.execute(sa.select(host.Member.id).where(host.Member.is_manager.is_(True))).scalar_one()
        aids = list(db.session.execute(sa.select(host.Activity.id).order_by(host.Activity.id)).scalars())
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        # 1,000 contracts (Core: the module's create path is not what is measured here)
        existing = db.session.execute(sa.select(sa.func.count()).select_from(m.Contract)).scalar_one()
        with db.engine.begin() as conn:
            conn.execute(sa.insert(m.Contract.__table__), [{
                "code": f"PAGE-{i}", "code_key": f"page-{i}", "title": f"Contract {i}", "description": "",
                "contract_type": ContractType.VOUCHER if i % 2 else ContractType.SUBSCRIPTION, "seats": 100 + i,
                "seats_used": i % 100, "per_user_limit": 0, "valid_from": TODAY - dt.timedelta(days=i % 400),
                "valid_until": TODAY + dt.timedelta(days=200 - i % 300), "require_invitation_code": bool(i % 3),
                "invitation_code": f"PG{i:010d}", "created_at": now, "updated_at": now,
            } for i in range(max(0, 1000 - existing))])
        big = new_contract("BIG", ContractType.VOUCHER, seats=200_000)
        services.add_activities(big, aids[:2])
        big_id = big.id
        users = list(db.session.execute(sa.select(host.Member.id, host.Member.email)
                                        .where(host.Member.is_manager.is_(False)).order_by(host.Member.id)
                                        .limit(100_000)).all())
        rows = []
        for i in range(100_000):
            uid, email = users[i] if i < len(users) else (None, f"big{i}@example.org")
            rows.append({"contract_id": big_id, "user_id": uid, "email": email,
                         "status": InvitationStatus.OUTSTANDING if uid else InvitationStatus.NOT_REGISTERED,
                         "require_code": True, "enrolled_count": 0, "invited_at": now, "invited_by": "Manager",
                         "last_sent_at": now, "send_count": 1})
        with db.engine.begin() as conn:
            conn.execute(sa.insert(m.Invitation.__table__), rows)
            ids = list(conn.execute(sa.select(m.Invitation.id).where(m.Invitation.contract_id == big_id)).scalars())
            conn.execute(sa.insert(m.InvitationActivity.__table__),
                         [{"invitation_id": i, "activity_id": a} for i in ids for a in aids[:2]])
        # What autovacuum does within a minute of a bulk load: fresh statistics. Without them PostgreSQL
        # estimates a few dozen invitations for the contract and sorts all 100,000 instead of reading the
        # page-order index (README, Performance).
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        # a learner with 50 invitations (half Voucher, half Subscription; some enrolled)
        learner = db.session.execute(sa.select(host.Member).where(host.Member.email == "learner150000@example.com")
                                     ).scalar_one_or_none()
        if learner is None:
            learner = host.Member(email="learner-pages@example.com", name="Page Learner")
            db.session.add(learner)
            db.session.commit()
        learner_id = learner.id
        for i in range(50):
            c = new_contract(f"L50-{i}", ContractType.VOUCHER if i % 2 else ContractType.SUBSCRIPTION, seats=10,
                             require_code=bool(i % 5 == 0), per_user_limit=2 if i % 7 == 0 else 0)
            services.add_activities(c, aids[: 1 + i % 3])
            services.invite(c, users=[db.session.get(host.Member, learner_id)])
            if i % 4 == 1 and i % 5 != 0:
                services.enroll(db.session.get(host.Member, learner_id), c, aids[0])
        db.session.remove()

    def run(name, rule, user_id, values):
        if rule is None:
            out[name] = {"skipped": "page not found in app.url_map yet"}
            return
        with app.test_request_context():
            from flask import url_for
            url = url_for(rule.endpoint, **values)
            engine = db.engine
        client = app.test_client()
        _login(client, user_id)
        out[name] = _render(app, client, url, repeat, engine)
        out[name]["endpoint"] = rule.endpoint

    run("admin contract list (1,000 contracts)", list_rule, manager_id, {})
    tab_values = {}
    if tab_rule is not None:
        for arg in tab_rule.arguments:
            tab_values[arg] = big_id
    run("admin Invitations tab (100,000 invitations)", tab_rule, manager_id, tab_values)
    run("admin Invitations tab, last page (100,000 invitations)", tab_rule, manager_id, {**tab_values, "page": 2000})
    run("admin Invitations tab, status filter Not Registered (100,000 invitations)", tab_rule, manager_id,
        {**tab_values, "status": InvitationStatus.NOT_REGISTERED.value})
    run("admin Invitations tab, e-mail search matching nothing (100,000 invitations)", tab_rule, manager_id,
        {**tab_values, "q": "nobody-matches"})
    run("contract-admin dashboard contract page (100,000 invitations)", dashboard_rule, manager_id,
        {"contract_id": big_id})
    run("learner invitations page (50 invitations)", learner_rule, learner_id, {})
    run("learner widget in a host page (50 invitations)", widget_rule, learner_id, {})
    return out
