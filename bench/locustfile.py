"""Locust users of ``bench/load.py`` (not run on its own: the plan file it writes says whom to log in as).

* ``Learner`` (one per learner of the plan, each once): log in, open the invitations page, redeem the
  contract's code, open the contract page, enroll in its first activity — then stay idle. With fewer seats
  than learners, the late ones find no Enroll button, or (when the page was drawn before the last seat went)
  are sent back to the page with "no seats left" (a redirect, like a success): the database says who got in.
* ``Admin`` (the plan's admins): browse the contract's Invitations tab (admin panel) and the contract-admin
  dashboard page, random pages, some filtered by status, until the time is up.

A request fails (in locust's statistics) only on a 5xx, a connection error or an answer the flow cannot go
on with; ``bench/load.py`` also counts 5xx in gunicorn's access log.
"""
from __future__ import annotations

import itertools
import json
import os
import random
import re

from locust import HttpUser, between, task

with open(os.environ["LC_LOAD_PLAN"]) as _plan:
    PLAN = json.load(_plan)
_learners = iter(PLAN["learners"])
_admins = itertools.cycle(PLAN["admins"])
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _csrf(html: str) -> str | None:
    found = CSRF.search(html)
    return found.group(1) if found else None


class _Base(HttpUser):
    abstract = True

    def login(self, email: str) -> bool:
        with self.client.post("/login", data={"email": email, "password": PLAN["password"]}, name="login",
                              allow_redirects=False, catch_response=True) as response:
            if response.status_code != 302:
                response.failure(f"login answered {response.status_code}")
                return False
            response.success()
        return True


class Learner(_Base):
    fixed_count = PLAN["n_learners"]
    wait_time = between(0.1, 0.5)

    def on_start(self) -> None:
        self.email = next(_learners, None)
        self.done = self.email is None or not self.login(self.email)

    @task
    def redeem_and_enroll(self) -> None:
        if self.done:
            self.wait_time = lambda: 3600  # idle until the run's time is up (count-bounded: one flow each)
            return
        self.done = True
        page = self.client.get(PLAN["invitations_url"], name="learner: invitations page")
        token = _csrf(page.text)
        with self.client.post(PLAN["redeem_url"], data={"csrf_token": token, "code": PLAN["code"]},
                              name="learner: redeem code", allow_redirects=False, catch_response=True) as response:
            if response.status_code != 302:
                response.failure(f"redeem answered {response.status_code}")
                return
            response.success()
        contract = self.client.get(PLAN["contract_url"], name="learner: contract page")
        token = _csrf(contract.text)
        if token is None:  # no Enroll button: the seats were gone when the page was drawn
            return
        with self.client.post(PLAN["enroll_url"], data={"csrf_token": token, "next": PLAN["contract_url"]},
                              name="learner: enroll", allow_redirects=False, catch_response=True) as response:
            if response.status_code == 302:  # enrolled, or sent back to the page with "no seats left"
                response.success()
            else:
                response.failure(f"enroll answered {response.status_code}")


class Admin(_Base):
    fixed_count = PLAN["n_admins"]
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.login(next(_admins))

    @task(3)
    def invitations_tab(self) -> None:
        params: dict[str, object] = {"page": random.randint(1, PLAN["pages"])}
        if random.random() < 0.3:
            params = {"status": random.choice(["outstanding", "not_registered", "enrolled"]), "page": 1}
        self.client.get(PLAN["tab_url"], params=params, name="admin: Invitations tab")

    @task(1)
    def dashboard(self) -> None:
        self.client.get(PLAN["dashboard_url"], params={"page": random.randint(1, PLAN["pages"])},
                        name="contract admin: dashboard page")
