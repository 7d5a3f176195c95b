#!/usr/bin/env python
"""Time the bulk invite (``services.invite_csv`` of 10,000 e-mails) of the checkout in the current directory,
to compare checkouts run by run (used for the README's notifications table).

    git archive 86bc6e0 | tar -x -C /tmp/before      # one directory per checkout to compare
    for round in 1 2 3; do                           # alternate the order of the checkouts each round
      for dir in /tmp/before /tmp/merged /tmp/fixed; do
        (cd $dir && /path/to/.venv/bin/python /path/to/bench/compare_invite.py sqlite:////tmp/q.db 3)
      done
    done

Prints one JSON list of ``[seconds, SQL statements]`` per timed call (one warm-up call first, not printed).
Works with the older single-file ``bench/run.py`` as well as the ``bench/common.py`` layout.
"""
from __future__ import annotations

import io
import json
import os
import sys
import time

sys.path.insert(0, os.getcwd())  # the checkout being measured, before any installed copy

import sqlalchemy as sa

from bench import host

try:
    from bench.common import clear_contract, count_queries, fresh_database, new_contract
    from bench.scenario_invite import invite_csv_bytes
except ImportError:  # the single-file bench of older checkouts
    from bench.run import clear_contract, count_queries, fresh_database, invite_csv_bytes, new_contract

from flask_learning_contracts import services


def main(url: str, calls: int) -> list[tuple[float, int]]:
    app = host.create_app(url)
    fresh_database(app, 10_000)
    out = []
    with app.app_context():
        existing = list(host.db.session.execute(
            sa.select(host.Member.email).where(host.Member.is_manager.is_(False)).order_by(host.Member.id)
            .limit(5_000)).scalars())
        for r in range(calls + 1):
            data, _emails = invite_csv_bytes(existing, r, 10_000)
            contract = new_contract(f"Q-{r}")
            cid = contract.id
            with count_queries(host.db.engine) as q:
                started = time.perf_counter()
                services.invite_csv(contract, io.BytesIO(data))
                elapsed = time.perf_counter() - started
            if r:  # the first call warms up
                out.append((elapsed, q["n"]))
            host.db.session.remove()
            clear_contract(cid)
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3)))
