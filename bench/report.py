"""The Markdown table of a benchmark report (the dict ``bench/run.py`` fills and writes as JSON)."""
from __future__ import annotations

from bench.common import N_ENROLL, N_INVITE, WORKERS, median

#: How the table names the bench's hosts.
HOSTS = {"ours": "ours (bench/host.py)", "hooks": "with per-invitation hooks and a chunked look-up"}


def table(report):
    """One row per database and scenario present in ``report`` (SQLite first); module / floor ratios in bold."""
    lines = ["| Database | Scenario | Module | Floor | Ratio | SQL queries |", "|---|---|---|---|---|---|"]
    for db_name in ("SQLite", "PostgreSQL"):
        res = report.get(db_name)
        if not res:
            continue
        if "invite" in res:
            r = res["invite"]
            flo, tiny = median(r["floor"]), median(r["floor_minimal"])
            for name, times in r["module"].items():
                mod = median(times)
                lines.append(f"| {db_name} | invite_csv {r.get('n', N_INVITE):,} e-mails (½ existing users), host {HOSTS[name]} "
                             f"vs Core executemany into lc_invitation | {mod:.3f} s | {flo:.3f} s | "
                             f"**{mod / flo:.2f}×** | {r['queries'][name]} per call |")
                lines.append(f"| {db_name} | the same vs Core executemany into the minimal table | {mod:.3f} s | "
                             f"{tiny:.3f} s | **{mod / tiny:.2f}×** | |")
        if "mail" in res and "skipped" not in res["mail"]:
            r = res["mail"]
            base = median(res["invite"]["module"]) if "invite" in res else None
            immediate, request, deliver = (median(r["immediate"]), median(r["queued_request"]),
                                           median(r["queued_deliver"]))
            versus = f" ({immediate / base:.1f}× the invite without a mail server)" if base else ""
            lines.append(f"| {db_name} | the same invite_csv with a mail server (Flask-Mailman → SMTP on loopback), "
                         f"immediate: the request waits for {N_INVITE:,} e-mails | {immediate:.3f} s{versus} | | | |")
            lines.append(f"| {db_name} | the same, queued: the request only records / then one delivery pass "
                         f"sends them | {request:.3f} s / {deliver:.3f} s "
                         f"({deliver / N_INVITE * 1000:.2f} ms per e-mail) | | | |")
        if "memory" in res:
            txt = "; ".join(f"{x['n']:,} e-mails: {x['transient'] / 1048576:.1f} MiB working, "
                            f"{x['retained'] / 1048576:.1f} MiB report" for x in res["memory"])
            lines.append(f"| {db_name} | invite_csv memory (tracemalloc peak − returned report) | {txt} | | | |")
        if "enroll" in res:
            r = res["enroll"]
            flo, tiny = median(r["floor"]), median(r["floor_minimal"])
            mod = median(next(iter(r["module"].values())))
            for name, times in r["module"].items():
                each = median(times)
                lines.append(f"| {db_name} | {N_ENROLL:,} sequential enroll(), host {HOSTS[name]}, vs 1-row Core "
                             f"transactions into lc_enrollment | {each:.3f} s ({each / N_ENROLL * 1000:.2f} ms each) "
                             f"| {flo:.3f} s ({flo / N_ENROLL * 1000:.2f} ms each) | **{each / flo:.2f}×** | "
                             f"{r['queries'][name]} per enroll |")
                lines.append(f"| {db_name} | the same vs 1-row Core transactions into the minimal table | "
                             f"{each:.3f} s | {tiny:.3f} s ({tiny / N_ENROLL * 1000:.2f} ms each) | "
                             f"**{each / tiny:.2f}×** | |")
            if r.get("by_hand"):
                hand = median(r["by_hand"])
                lines.append(f"| {db_name} | the same enroll() vs the same writes by hand (Core, 6 statements, "
                             f"1 transaction each) | {mod:.3f} s | {hand:.3f} s ({hand / N_ENROLL * 1000:.2f} ms "
                             f"each) | {mod / hand:.2f}× | |")
            if r.get("wal"):
                wal = {k: median(v) for k, v in r["wal"].items()}
                lines.append(f"| {db_name} | write-ahead log per transaction: enroll() / 1-row floor / by hand | "
                             f"{wal['module']:,.0f} B | {wal['floor']:,.0f} B / {wal['by_hand']:,.0f} B | "
                             f"{wal['module'] / wal['floor']:.1f}× | |")
        if "concurrent" in res:
            runs, x = res["concurrent"]["throughput"], res["concurrent"]["exhaustion"]
            lines.append(f"| {db_name} | {WORKERS} processes enrolling into one contract | "
                         f"{median([y['enroll_per_s'] for y in runs]):.0f} enroll/s | | oversell "
                         f"{sum(y['oversell'] for y in runs)} (ample seats), {x['oversell']} "
                         f"({x['enrolled']}/{x['seats']} seats, {x['attempts']} attempts) | busy "
                         f"{sum(y['busy'] for y in runs) + x['busy']} |")
        for page, v in res.get("pages", {}).items():
            if "skipped" in v:
                lines.append(f"| {db_name} | page: {page} | skipped: {v['skipped']} | | | |")
            elif v["status"] != 200:
                lines.append(f"| {db_name} | page: {page} | HTTP {v['status']} | | | |")
            else:
                lines.append(f"| {db_name} | page: {page} | {median(v['times']) * 1000:.0f} ms | | | "
                             f"{v['queries']} |")
    return "\n".join(lines)
