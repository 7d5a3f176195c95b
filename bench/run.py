#!/usr/bin/env python
"""Performance benchmark of flask-learning-contracts, against floors measured in the same run.

    .venv/bin/python bench/run.py [--database-url postgresql+psycopg://…] [--repeat 3] \
        [--json bench/results/latest.json] [--only invite,enroll,concurrent,pages] [--no-sqlite] [--invite-size N]

Always runs on a fresh SQLite file (a temp directory); with ``--database-url`` also on that PostgreSQL
database (every table of it is dropped and recreated: use a scratch database such as ``lc_bench``).

Scenarios (each the median of ``--repeat`` runs; the ratio is module median / floor median):

1. ``invite``: ``services.invite_csv`` of 10,000 e-mails (half existing users, half unknown, a header,
   mixed case) into a fresh Subscription contract, on two hosts (``ours``: bench/host.py; ``hooks``:
   bench/host_hooks.py, per-invitation hooks and a chunked user look-up), vs two floors: Core
   ``conn.execute(insert(lc_invitation), rows)`` of the same 10,000 rows plus commit, and the same into a
   minimal table (id, contract, e-mail, status, time; one unique index). Also the transient memory of the call (peak minus the
   returned report) for 10,000 and 40,000 e-mails, which must not grow with the file.
2. ``enroll``: 1,000 sequential ``services.enroll`` calls of distinct learners (one transaction each), on
   both hosts, vs the floors: 1,000 single-row Core insert transactions of the same enrollment rows, and of
   minimal-table rows.
3. ``concurrent``: enrollments/second of 4 worker processes (own app and engine each) against one contract,
   with ample seats and with too few seats; oversell (seat rows beyond seats, counter drift) must be 0.
4. ``mail``: the invite of scenario 1 with its e-mails really sent (Flask-Mailman → an SMTP server on
   loopback): in immediate mode (the request waits for the server), and in queued mode (the request only
   records; then one delivery pass).
5. ``pages``: Flask test client renders of the admin contract list (1,000 contracts), a contract's
   Invitations tab (100,000 invitations) and the learner's invitations page/widget (50 invitations): time
   and SQL query count. Skipped, with the reason, while a page does not exist.

Layout: one module per scenario (``bench/scenario_*.py``), shared helpers (sizes, timing, query counting, a
fresh database, machine info) in ``bench/common.py``, the Markdown table in ``bench/report.py``; this file
parses the options, runs the selected scenarios per database and writes the report.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import host
from bench.common import N_ENROLL, N_INVITE, fresh_database, machine_info, median
from bench.host_hooks import HookedRules
from bench.report import table
from bench.scenario_concurrent import scenario_concurrent
from bench.scenario_enroll import scenario_enroll
from bench.scenario_invite import scenario_invite
from bench.scenario_mail import scenario_mail
from bench.scenario_memory import scenario_memory
from bench.scenario_pages import scenario_pages


def run_backend(name, url, args, report):
    """Run the scenarios selected by ``args.only`` on a fresh database at ``url``, store their results in
    ``report[name]`` and print one summary line per scenario (per page)."""
    print(f"\n== {name}: {url.split('@')[-1]}", flush=True)
    app = host.create_app(url)
    apps = {"ours": app, "hooks": host.create_app(url, rules=HookedRules())}
    if args.hosts:
        apps = {name: apps[name] for name in args.hosts.split(",")}
    fresh_database(app, args.users)
    results = report.setdefault(name, {})
    only = set(args.only.split(",")) if args.only else {"invite", "mail", "memory", "enroll", "concurrent", "pages"}
    if "invite" in only:
        r = scenario_invite(apps, args.repeat, n=args.invite_size)
        r["n"] = args.invite_size
        results["invite"] = r
        for host_name, times in r["module"].items():
            print(f"  invite {args.invite_size:,} host {host_name}: module {median(times):.3f}s floor {median(r['floor']):.3f}s "
                  f"({median(times) / median(r['floor']):.2f}x) minimal floor {median(r['floor_minimal']):.3f}s "
                  f"({median(times) / median(r['floor_minimal']):.2f}x) queries {r['queries'][host_name]}", flush=True)
    if "mail" in only:
        r = scenario_mail(app, args.repeat)
        results["mail"] = r
        if "skipped" in r:
            print(f"  mail: SKIPPED ({r['skipped']})")
        else:
            print(f"  mail {N_INVITE:,}: immediate {median(r['immediate']):.3f}s; queued: request "
                  f"{median(r['queued_request']):.3f}s + delivery pass {median(r['queued_deliver']):.3f}s", flush=True)
    if "enroll" in only:
        r = scenario_enroll(apps, args.repeat)
        results["enroll"] = r
        for host_name, times in r["module"].items():
            print(f"  enroll {N_ENROLL:,} host {host_name}: module {median(times):.3f}s floor {median(r['floor']):.3f}s "
                  f"({median(times) / median(r['floor']):.2f}x) minimal floor {median(r['floor_minimal']):.3f}s "
                  f"({median(times) / median(r['floor_minimal']):.2f}x) queries/enroll {r['queries'][host_name]} "
                  f"same writes by hand {median(r['by_hand']):.3f}s", flush=True)
    if "concurrent" in only:
        runs = [scenario_concurrent(app, url, seats=100_000, per_worker=250, tag=f"T{i}") for i in range(args.repeat)]
        exhaust = scenario_concurrent(app, url, seats=500, per_worker=250, tag="X")
        results["concurrent"] = {"throughput": runs, "exhaustion": exhaust}
        print(f"  concurrent: {median([x['enroll_per_s'] for x in runs]):.0f} enroll/s; oversell "
              f"{[x['oversell'] for x in runs]} / exhaustion {exhaust['oversell']} "
              f"(enrolled {exhaust['enrolled']} of {exhaust['seats']} seats, busy {exhaust['busy']})", flush=True)
    if "pages" in only:
        r = scenario_pages(app, args.repeat)
        results["pages"] = r
        for page, v in r.items():
            if "skipped" in v:
                print(f"  page {page}: SKIPPED ({v['skipped']})")
            else:
                t = median(v["times"])
                print(f"  page {page}: HTTP {v['status']} {t if t is None else round(t, 3)}s "
                      f"queries {v['queries']}", flush=True)
    if "memory" in only:
        r = scenario_memory(url)
        results["memory"] = r
        print("  memory:", ", ".join(f"{x['n']:,}: transient {x['transient'] / 1024:.0f} KiB, "
                                     f"report {x['retained'] / 1024:.0f} KiB" for x in r), flush=True)
    for each in apps.values():
        with each.app_context():
            host.db.session.remove()
            host.db.engine.dispose()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="PostgreSQL URL of a scratch database (all its tables are dropped)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario; the median is reported")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "latest.json"), help="JSON output path")
    parser.add_argument("--only", help="comma-separated scenarios: invite,mail,memory,enroll,concurrent,pages")
    parser.add_argument("--users", type=int, default=20_000, help="learners in the host's users table")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite run")
    parser.add_argument("--hosts", help="comma-separated hosts of invite/enroll: ours,hooks (default both)")
    parser.add_argument("--invite-size", type=int, default=N_INVITE,
                        help="e-mails per bulk invite (half of them existing users: needs --users ≥ half)")
    args = parser.parse_args(argv)

    report = {"machine": machine_info(args.database_url), "repeat": args.repeat,
              "started": dt.datetime.now().isoformat(timespec="seconds")}
    print(json.dumps(report["machine"]))
    with tempfile.TemporaryDirectory(prefix="lc-bench-") as tmp:
        if not args.no_sqlite:
            run_backend("SQLite", f"sqlite:///{tmp}/bench.db", args, report)
    if args.database_url:
        run_backend("PostgreSQL", args.database_url, args, report)
    report["machine"]["loadavg_end"] = os.getloadavg()
    print()
    print(table(report))
    print(f"\nload average: start {report['machine']['loadavg_start']}, end {report['machine']['loadavg_end']}")
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str))
    print(f"JSON: {path}")


if __name__ == "__main__":
    main()
