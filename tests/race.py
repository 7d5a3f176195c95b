"""Run service calls in real OS processes behind a barrier (used by ``test_concurrency.py``).

Each worker process builds its own app with :func:`tests.host.create_app` (so its own engine and
connection pool, exactly like a gunicorn worker), waits at a shared barrier, then runs its job. Jobs
are module-level functions so the ``spawn`` start method works as well as ``fork``
(``LC_RACE_START_METHOD``, default ``fork``: much faster to start on small CI machines).

``LC_RACE_ISOLATION`` (set by a test before the workers start) gives the workers' engines that isolation
level, as a host's ``SQLALCHEMY_ENGINE_OPTIONS`` would.

A job returns ``{"outcomes": [...]}``: for each call, ``"ok"`` or the class name of the exception it
raised, plus whatever the job adds. The worker adds the number of transactions the service layer
retried in that process (``services.retry_counts``) and the time spent after the barrier.
"""
from __future__ import annotations

import multiprocessing
import os
import queue as queue_module
import time
import traceback
from collections import Counter
from typing import Any, Callable

from flask_learning_contracts import services

from . import host

START_METHOD = os.environ.get("LC_RACE_START_METHOD", "fork")
BARRIER_TIMEOUT = 60


def _call(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "ok", fn()
    except Exception as error:  # noqa: BLE001 - the race records every outcome by class name
        return type(error).__name__, None
    finally:
        host.db.session.remove()  # a request's session ends with the request


def _worker(job_name: str, url: str, barrier: Any, results: Any, index: int, args: dict[str, Any]) -> None:
    report: dict[str, Any] = {"index": index}
    try:
        isolation = os.environ.get("LC_RACE_ISOLATION")  # a host that sets its engine's isolation level
        config: dict[str, Any] = {"SQLALCHEMY_ENGINE_OPTIONS": {"isolation_level": isolation}} if isolation else {}
        if os.environ.get("LC_RACE_API"):  # the integration API switched on (test_api_race.py)
            config["LEARNING_CONTRACTS_API"] = True
        app = host.create_app(url, **config)
        with app.app_context():
            services.retry_counts.clear()
            job = JOBS[job_name]
            barrier.wait(BARRIER_TIMEOUT)
            started = time.perf_counter()
            report.update(job(barrier, index, **args))
            report["seconds"] = time.perf_counter() - started
            report["retries"] = dict(services.retry_counts)
            host.db.session.remove()
            host.db.engine.dispose()
    except BaseException:  # noqa: BLE001 - reported to the parent, which fails the test
        barrier.abort()
        report["crash"] = traceback.format_exc()
    results.put(report)


def run(job_name: str, url: str, processes: int, args_for: Callable[[int], dict[str, Any]],
        timeout: float = 120) -> list[dict[str, Any]]:
    """Run ``JOBS[job_name]`` in ``processes`` processes at once; return their reports by index.

    The caller must have released its own connections (``db.session.remove(); db.engine.dispose()``)
    so that no forked child inherits a live connection.
    """
    ctx = multiprocessing.get_context(START_METHOD)
    barrier = ctx.Barrier(processes)
    results = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(job_name, url, barrier, results, i, args_for(i)), daemon=True)
             for i in range(processes)]
    for proc in procs:
        proc.start()
    reports = []
    deadline = time.monotonic() + timeout
    try:
        for _ in procs:
            reports.append(results.get(timeout=max(0.1, deadline - time.monotonic())))
    except queue_module.Empty:
        raise AssertionError(f"race {job_name}: only {len(reports)} of {processes} workers reported") from None
    finally:
        for proc in procs:
            proc.join(5)
            if proc.is_alive():  # pragma: no cover - only after a failure above
                proc.terminate()
                proc.join(5)
    crashes = [r["crash"] for r in reports if "crash" in r]
    assert not crashes, "worker crashed:\n" + "\n".join(crashes)
    return sorted(reports, key=lambda r: r["index"])


def tally(reports: list[dict[str, Any]], key: str = "outcomes") -> Counter:
    """All outcomes of all workers, counted by name (``"ok"`` or an exception class name)."""
    total: Counter = Counter()
    for report in reports:
        total.update(report[key])
    return total


def retries(reports: list[dict[str, Any]]) -> int:
    return sum(sum(r["retries"].values()) for r in reports)


# ---------------------------------------------------------------------------------------------
# jobs (run inside a worker's app context)
# ---------------------------------------------------------------------------------------------
def _sleep_ms(ms: float) -> None:
    if ms:
        time.sleep(ms / 1000)


def job_enroll(barrier: Any, index: int, *, contract_id: int, plan: list[tuple[Any, Any]]) -> dict[str, Any]:
    """Enroll each ``(user id, activity id)`` of ``plan`` through the contract, one request each."""
    outcomes = []
    for user_id, activity_id in plan:
        outcome, _ = _call(lambda: services.enroll(host.db.session.get(host.Account, user_id),
                                                   services.get_contract(contract_id), activity_id))
        outcomes.append(outcome)
    return {"outcomes": outcomes}


def job_enroll_rounds(barrier: Any, index: int, *, contract_id: int,
                      rounds: list[tuple[Any, Any]]) -> dict[str, Any]:
    """Round ``r``: every worker enrolls ``rounds[r]`` = (user id, activity id) at the same moment."""
    outcomes, enrollment_ids = [], []
    for user_id, activity_id in rounds:
        barrier.wait(BARRIER_TIMEOUT)
        outcome, enrollment = _call(lambda: services.enroll(
            host.db.session.get(host.Account, user_id), services.get_contract(contract_id), activity_id).id)
        outcomes.append(outcome)
        enrollment_ids.append(enrollment)
    return {"outcomes": outcomes, "enrollment_ids": enrollment_ids}


def job_revoke_or_enroll(barrier: Any, index: int, *, contract_id: int, role: str,
                         rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Round ``r``: admins revoke the learner's invitation while the learner enrolls."""
    outcomes = []
    for r in rounds:
        barrier.wait(BARRIER_TIMEOUT)
        _sleep_ms(r["delay_ms"][role])
        if role == "learner":
            outcome, _ = _call(lambda: services.enroll(host.db.session.get(host.Account, r["user_id"]),
                                                       services.get_contract(contract_id), r["activity_id"]))
        else:
            outcome, _ = _call(lambda: services.revoke(services.get_invitation(r["invitation_id"]),
                                                       actor=host.db.session.get(host.Account, r["admin_id"])))
        outcomes.append(outcome)
    return {"outcomes": outcomes}


def job_redeem_or_regenerate(barrier: Any, index: int, *, contract_id: int, role: str,
                             rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Round ``r``: a learner redeems the code they were given while an admin regenerates it."""
    outcomes, codes_seen = [], []
    for r in rounds:
        barrier.wait(BARRIER_TIMEOUT)  # everyone is done with the previous round
        code = services.get_contract(contract_id).invitation_code
        host.db.session.remove()
        barrier.wait(BARRIER_TIMEOUT)
        _sleep_ms(r["delay_ms"][role])
        if role == "learner":
            outcome, _ = _call(lambda: services.redeem_code(host.db.session.get(host.Account, r["user_id"]), code))
            codes_seen.append((code, None))
        else:
            outcome, new = _call(lambda: services.regenerate_code(services.get_contract(contract_id)))
            codes_seen.append((code, new))
        outcomes.append(outcome)
    return {"outcomes": outcomes, "codes": codes_seen}


def job_learner_pages(barrier: Any, index: int, *, path: str, user_ids: list[Any]) -> dict[str, Any]:
    """Round ``r``: every worker loads the learner page ``path`` as learner ``user_ids[r]`` at the same moment
    (a request through the Flask test client, like a browser opening several tabs)."""
    from flask import current_app

    from .views_support import client_for

    outcomes, statuses = [], []
    for user_id in user_ids:
        client = client_for(current_app, host.db.session.get(host.Account, user_id))
        host.db.session.remove()
        barrier.wait(BARRIER_TIMEOUT)
        outcome, status = _call(lambda: client.get(path).status_code)
        outcomes.append(outcome if status in (None, 200) else f"HTTP {status}")
        statuses.append(status)
    return {"outcomes": outcomes, "statuses": statuses}


def job_link_or_page(barrier: Any, index: int, *, path: str, user_ids: list[Any]) -> dict[str, Any]:
    """Round ``r``: every worker links learner ``user_ids[r]`` at the same moment; even workers call
    ``services.link_registered_user`` (the host's sign-up hook), odd ones load the learner page ``path``."""
    if index % 2 == 0:
        outcomes = []
        for user_id in user_ids:
            barrier.wait(BARRIER_TIMEOUT)
            outcome, _ = _call(lambda uid=user_id: services.link_registered_user(host.db.session.get(host.Account, uid)))
            outcomes.append(outcome)
        return {"outcomes": outcomes}
    return job_learner_pages(barrier, index, path=path, user_ids=user_ids)


def job_redeem_rounds(barrier: Any, index: int, *, rounds: list[tuple[Any, str]]) -> dict[str, Any]:
    """Round ``r``: every worker redeems the code ``rounds[r][1]`` for learner ``rounds[r][0]`` at the same
    moment. Each worker's clock is ``index`` minutes later, so which call wrote the redeem time shows."""
    import datetime as dt

    from flask import current_app

    rules = current_app.extensions["learning_contracts"].rules
    rules.clock = rules.clock + dt.timedelta(minutes=index)
    outcomes = []
    for user_id, code in rounds:
        barrier.wait(BARRIER_TIMEOUT)
        outcome, _ = _call(lambda: services.redeem_code(host.db.session.get(host.Account, user_id), code))
        outcomes.append(outcome)
    return {"outcomes": outcomes, "clock": rules.clock}


def job_enroll_or_delete(barrier: Any, index: int, *, role: str, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Round ``r``: learners who loaded the contract enroll while an admin deletes it."""
    outcomes = []
    for r in rounds:
        contract = services.get_contract(r["contract_id"])  # the learner's page (or the admin's) loaded it
        user = host.db.session.get(host.Account, r["user_id"])
        barrier.wait(BARRIER_TIMEOUT)
        _sleep_ms(r["delay_ms"])
        if role == "admin":
            outcome, _ = _call(lambda: services.delete_contract(contract, actor=user))
        else:
            outcome, _ = _call(lambda: services.enroll(user, contract, r["activity_id"]))
        outcomes.append(outcome)
    return {"outcomes": outcomes}


def job_wrong_codes(barrier: Any, index: int, *, user_id: Any, ip: str, attempts: int, limit: str, storage_uri: str,
                    namespace: str, evaluation_ms: float) -> dict[str, Any]:
    """Post ``attempts`` wrong codes through the learner's code form, as ``user_id`` from ``ip``, all workers at
    the same moment; the workers share the rate limiter's storage (``storage_uri``, keys under ``namespace``).
    ``evaluation_ms`` slows each evaluation of a code down (a busy database), which widens any window between
    deciding that an attempt is allowed and counting it."""
    from flask import current_app

    from flask_learning_contracts.views import ratelimit

    from .views_support import PREFIX, client_for, token

    # this run's own counters, in a storage other runs may share
    current_app.extensions["learning_contracts"].limiter = ratelimit.CodeAttemptLimiter(limit, storage_uri,
                                                                                        namespace=namespace)
    if evaluation_ms:
        redeem = services.redeem_code

        def slow_redeem(user: Any, code: str) -> Any:
            _sleep_ms(evaluation_ms)
            return redeem(user, code)

        services.redeem_code = slow_redeem  # type: ignore[assignment]  # this worker process only
    client = client_for(current_app, host.db.session.get(host.Account, user_id), REMOTE_ADDR=ip)
    csrf = token(client)
    host.db.session.remove()
    barrier.wait(BARRIER_TIMEOUT)
    statuses = [client.post(PREFIX + "/code", data={"code": "AAAA-BBBB-CCCC", "csrf_token": csrf}).status_code
                for _attempt in range(attempts)]
    return {"outcomes": ["ok"] * attempts, "statuses": statuses}




def job_enroll_each_round(barrier: Any, index: int, *, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Round ``r``: every worker enrolls its learner ``rounds[r]["user_id"]`` through ``rounds[r]["contract_id"]``
    at the same moment (one fresh contract per round)."""
    outcomes = []
    for r in rounds:
        barrier.wait(BARRIER_TIMEOUT)
        outcome, _ = _call(lambda: services.enroll(host.db.session.get(host.Account, r["user_id"]),
                                                   services.get_contract(r["contract_id"]), r["activity_id"]))
        outcomes.append(outcome)
    return {"outcomes": outcomes}


def job_tick(barrier: Any, index: int, *, day: str) -> dict[str, Any]:
    """Run the scheduler for ``day`` (ISO date): every worker at the same moment."""
    import datetime as dt

    outcome, report = _call(lambda: services.run_schedule(dt.date.fromisoformat(day)))
    return {"outcomes": [outcome], "created": report.total if report is not None else 0}


def job_deliver(barrier: Any, index: int, *, limit: int) -> dict[str, Any]:
    """Deliver whatever is due, ``limit`` per pass until nothing is left, as several ``flask contracts deliver
    --loop --limit`` workers would at once; report what this process sent (the host's ``send_invitation``
    hook records it)."""

    def drain() -> None:
        while True:
            report = services.deliver_notifications(limit)
            if not (report.sent or report.failed or report.skipped):
                return

    outcome, _ = _call(drain)
    from flask import current_app

    sent = list(current_app.extensions["learning_contracts"].rules.sent)
    return {"outcomes": [outcome], "sent": sent}


def job_resend_rounds(barrier: Any, index: int, *, invitation_ids: list[int]) -> dict[str, Any]:
    """Round ``r``: every worker clicks Resend on invitation ``invitation_ids[r]`` at the same moment (a double
    click reaching two server processes); report what each call said and what this process sent."""
    outcomes, said = [], []
    for iid in invitation_ids:
        barrier.wait(BARRIER_TIMEOUT)
        outcome, result = _call(lambda: services.resend(services.get_invitation(iid)).outcome.value)
        outcomes.append(outcome)
        said.append(result)
    from flask import current_app

    sent = list(current_app.extensions["learning_contracts"].rules.sent)
    return {"outcomes": outcomes, "said": said, "sent": sent}


def job_api_calls(barrier: Any, index: int, *, key: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    """Round ``r``: every worker sends the integration API request ``calls[r]`` (method, path, json, headers)
    with the API key ``key`` at the same moment; report each answer's status, body and replay header."""
    from flask import current_app

    client = current_app.test_client()
    outcomes, answers = [], []
    for call in calls:
        barrier.wait(BARRIER_TIMEOUT)
        response = client.open(call["path"], method=call["method"], json=call.get("json"),
                               headers={"Authorization": f"Bearer {key}", **call.get("headers", {})})
        host.db.session.remove()
        outcomes.append("ok" if response.status_code < 500 else f"HTTP {response.status_code}")
        answers.append({"status": response.status_code, "body": response.get_json(),
                        "replayed": response.headers.get("Idempotent-Replayed") == "true"})
    return {"outcomes": outcomes, "answers": answers}


JOBS: dict[str, Callable[..., dict[str, Any]]] = {
    "enroll": job_enroll,
    "enroll_rounds": job_enroll_rounds,
    "revoke_or_enroll": job_revoke_or_enroll,
    "redeem_or_regenerate": job_redeem_or_regenerate,
    "learner_pages": job_learner_pages,
    "link_or_page": job_link_or_page,
    "redeem_rounds": job_redeem_rounds,
    "enroll_or_delete": job_enroll_or_delete,
    "wrong_codes": job_wrong_codes,
    "enroll_each_round": job_enroll_each_round,
    "tick": job_tick,
    "deliver": job_deliver,
    "resend_rounds": job_resend_rounds,
    "api_calls": job_api_calls,
}
