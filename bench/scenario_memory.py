"""Scenario ``memory``: the transient memory of ``services.invite_csv``.

For 10,000 and 40,000 e-mails, each in a fresh spawned process (own app and engine): tracemalloc peak of the
call minus what it returns (the per-row report). The working memory must not grow with the file.
"""
from __future__ import annotations

import gc
import io
import multiprocessing as mp
import tracemalloc

import sqlalchemy as sa

from bench import host
from bench.common import clear_contract, new_contract
from bench.scenario_invite import invite_csv_bytes
from flask_learning_contracts import services


def _memory_child(url, n, conn):
    """Process target: invite ``n`` e-mails under tracemalloc and send the sizes through ``conn``
    (``n``, ``peak``, ``retained``, ``transient``, ``file_bytes``); the contract's rows are deleted after."""
    app = host.create_app(url)
    with app.app_context():
        existing = [e for e in host.db.session.execute(
            sa.select(host.Member.email).where(host.Member.is_manager.is_(False)).order_by(host.Member.id)
            .limit(n // 2)).scalars()]
        data, _emails = invite_csv_bytes(existing, 1000 + n, n)
        contract = new_contract(f"MEM-{n}")
        cid = contract.id
        contract.title  # noqa: B018 - load before tracing
        stream = io.BytesIO(data)
        del _emails
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        report = services.invite_csv(contract, stream)
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert report.created == n
        conn.send({"n": n, "peak": peak - base, "retained": current - base, "transient": peak - current,
                   "file_bytes": len(data)})
        host.db.session.remove()
        clear_contract(cid)
        host.db.engine.dispose()


def scenario_memory(url, sizes=(10_000, 40_000)):
    """One measurement per size (see :func:`_memory_child`), in the order of ``sizes``."""
    ctx = mp.get_context("spawn")
    results = []
    for n in sizes:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_memory_child, args=(url, n, child))
        proc.start()
        results.append(parent.recv())
        proc.join()
    return results
