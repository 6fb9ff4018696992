"""docs/SCALE.md from the figures scripts/fleet measured, and the results file they are kept in.

    python3 scripts/lib/fleet_report.py RESULTS.json [REPORT.md]       write the report (docs/SCALE.md unless given)
    python3 scripts/lib/fleet_report.py --start RESULTS.json           begin a fresh results file: the machine, the date
    python3 scripts/lib/fleet_report.py --record RESULTS.json KEY      store the JSON object on stdin as KEY; print a line of it
    python3 scripts/lib/fleet_report.py --failed RESULTS.json KEY STATUS LOG   store a failed run, with the end of its log

KEYs are "settings", "setup", "steady/N", "storm/N", "export/N" and "audit/LABEL/table|read|audit-list"
(LABEL 0 for the events the runs wrote, then 1M, 10M: the events loaded). The report says
"not measured" wherever a figure is missing, and includes docs/scale-findings.md, written by
hand, verbatim.
"""
import json
import os
import platform
import re
import sys
from datetime import datetime, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FINDINGS = os.path.join(ROOT, "docs", "scale-findings.md")
NOT_MEASURED = "not measured"
INCOMPLETE = "figures incomplete (see the results file)"


# --- the results file -------------------------------------------------------------------

def machine():
    cpu = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read())
    mem = int(re.search(r"MemTotal:\s+(\d+)", open("/proc/meminfo").read()).group(1)) / 1024 / 1024
    return {"machine": f"{os.cpu_count()} cores ({cpu.group(1) if cpu else platform.machine()}), {mem:.0f} GiB, Linux {platform.release()}",
            "cores": os.cpu_count(), "memory_gib": round(mem, 1)}


def load(path):
    with open(path) as f:
        return json.load(f)


def save(path, results):
    # Written whole and renamed, so an interrupted run leaves the last good file behind.
    with open(path + ".tmp", "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    os.replace(path + ".tmp", path)


def parse_object(text):
    """The driver prints one JSON object; a stray line before it is tolerated, nothing else."""
    for candidate in (text, text.strip().splitlines()[-1] if text.strip() else ""):
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    raise ValueError(f"not one JSON object: {text[:200]!r}")


def ms(value):
    if value is None:
        return NOT_MEASURED
    return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"


def counts(mapping):
    return ", ".join(f"{k}: {v:,}" for k, v in sorted(mapping.items())) if mapping else "none"


def summary(key, r):
    if "failed" in r:
        return f"{key}: failed ({r['failed']})"
    mode = r.get("mode")
    if mode == "steady":
        return (f"{key}: {r['rps']:,.0f} req/s, p50 {ms(r['p50_ms'])}, p99 {ms(r['p99_ms'])}, statuses {counts(r['statuses'])}, "
                f"{sum(r['errors'].values()):,} errors, pooler waiting max {r['pooler']['cl_waiting_max']}, "
                f"Postgres connections max {r['postgres_connections_max']}")
    if mode == "storm":
        return (f"{key}: all serving after {ms(r['all_serving_ms']) if r['all_serving_ms'] is not None else 'never'}, connect p50 "
                f"{ms(r['connect_p50_ms'])} p99 {ms(r['connect_p99_ms'])}, {r['connect_failures']} connect failures, "
                f"first requests {counts(r['first_request_statuses'])}")
    if key.startswith("export/"):
        return (f"{key}: {r['rows']:,} rows in {r['seconds']:.1f} s ({r['rows_per_s']:,.0f}/s), {size(r['bytes'])}, "
                f"peak RSS {r['peak_rss_kib'] / 1024:.1f} MiB")
    if key.endswith("/table"):
        return f"{key}: {r['events']:,} events, {size(r['bytes'])}"
    return f"{key}: {json.dumps(r)[:300]}"


def start(path):
    save(path, {"measured_at": datetime.now(timezone.utc).isoformat(), **machine()})


def record(path, key, text):
    results = load(path)
    results[key] = parse_object(text)
    save(path, results)
    try:
        print("    " + summary(key, results[key]))
    except (KeyError, TypeError, ValueError):
        print(f"    {key}: {json.dumps(results[key])[:300]} (not the fields the report expects)")


def failed(path, key, status, log):
    try:
        with open(log, errors="replace") as f:
            tail = f.read().splitlines()[-10:]
    except FileNotFoundError:
        tail = []
    results = load(path)
    results[key] = {"failed": status, "log": tail}
    save(path, results)


# --- the report -------------------------------------------------------------------------

def size(n):
    if n is None:
        return NOT_MEASURED
    n = int(n)
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def errors_total(r):
    total = sum(r["errors"].values())
    kinds = len(r["errors"])
    return f"{total:,} ({kinds} {'kind' if kinds == 1 else 'kinds'})" if total else "none"


def by_size(results, mode):
    keys = [k for k in results if k.startswith(mode + "/")]
    return sorted(keys, key=lambda k: int(k.split("/")[1]))


def missing_row(label, columns, why=NOT_MEASURED):
    return f"| {label} | {why} | " + " | ".join(["-"] * (columns - 1)) + " |"


def failed_cell(r):
    return f"failed: {cell(r['failed'])} (see below)"


def seconds(value):
    return f"{value:.1f} s" if value < 10 else f"{value:,.0f} s"


def steady_section(results):
    lines = ["## Steady load", "",
             "N instances, each sending its next audited read (the driver's `read` workload: a read that writes its audit",
             "row) as soon as the last one answers, for the seconds shown. Pooler figures are the largest the driver saw",
             "in the pooler's `SHOW POOLS` during the run; Postgres connections, the most it counted over its direct",
             "connection.", "",
             "| instances | seconds | requests/s | p50 | p99 | max | statuses | errors | pooler clients active / waiting | "
             "server connections active / idle | longest pooler wait | Postgres connections |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += rows(results, "steady", 11, steady_row)
    lines += ["", "Measured by `scripts/fleet` (`FLEET_SECONDS` per run, 20 by default); other sizes with "
              "`FLEET_SIZES=\"50 2000\" scripts/fleet`.", ""]
    return lines


def steady_row(n, r):
    p = r["pooler"]
    return (f"| {n} | {r['seconds']} | {r['rps']:,.0f} | {ms(r['p50_ms'])} | {ms(r['p99_ms'])} | {ms(r['max_ms'])} | "
            f"{cell(counts(r['statuses']))} | {errors_total(r)} | {p['cl_active_max']} / {p['cl_waiting_max']} | "
            f"{p['sv_active_max']} / {p['sv_idle_max']} | {ms(p['maxwait_ms_max'])} | {r['postgres_connections_max']} |")


def storm_section(results):
    lines = ["## Storm: N instances starting at once", "",
             "N instances start together, each opening its connection through the pooler (TCP, TLS, SCRAM) and sending",
             "one request. Each storm begins with the pooler holding no server connections (`KILL`, then `RESUME`, on its",
             "admin console), as after a quiet spell: PgBouncer closes idle server connections after 10 minutes.", "",
             "| instances | all serving after | connect p50 | connect p99 | connect failures | first-request statuses | errors | "
             "pooler clients waiting | server connections active / idle | Postgres connections |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    lines += rows(results, "storm", 9, storm_row)
    lines += ["", "Measured by `scripts/fleet`; other sizes with `FLEET_STORM_SIZES=\"200 2000\" scripts/fleet`.", ""]
    return lines


def storm_row(n, r):
    p = r["pooler"]
    serving = ms(r["all_serving_ms"]) if r["all_serving_ms"] is not None else "not all served"
    return (f"| {n} | {serving} | {ms(r['connect_p50_ms'])} | {ms(r['connect_p99_ms'])} | {r['connect_failures']:,} | "
            f"{cell(counts(r['first_request_statuses']))} | {errors_total(r)} | {p['cl_waiting_max']} | "
            f"{p['sv_active_max']} / {p['sv_idle_max']} | {r['postgres_connections_max']} |")


def rows(results, mode, columns, row):
    """One row per size measured: a failed run says so; figures lacking a field say that."""
    keys = by_size(results, mode)
    if not keys:
        return [missing_row("-", columns)]
    lines = []
    for key in keys:
        r, n = results[key], key.split("/")[1]
        if "failed" in r:
            lines.append(missing_row(n, columns, failed_cell(r)))
            continue
        try:
            lines.append(row(n, r))
        except (KeyError, TypeError, ValueError):
            lines.append(missing_row(n, columns, INCOMPLETE))
    return lines


def audit_labels(results):
    labels = {k.split("/")[1] for k in results if k.startswith("audit/")}
    loaded = {label: results.get(f"audit/{label}/table", {}).get("loaded") for label in labels}
    return sorted(labels, key=lambda label: (loaded[label] is None, loaded[label] or 0, label))


def audit_section(results):
    lines = ["## Audit growth", "",
             "`audit_events` partitioned by month, with the events the runs above wrote (0 loaded), then with events",
             "loaded evenly over the past 24 months by `scripts/lib/fleet_audit_load.sql` (the API's mix of actions,",
             "UUIDv7 ids for their instants, 1,000 actors), `VACUUM ANALYZE` after each load. At each step: audited reads",
             "(`--workload read`, each writing an audit row) and the admin audit list (`--workload audit-list`), 10",
             "instances each. Size on disk is every partition with its indexes and TOAST; load time is the INSERTs alone.", "",
             "| events loaded | events present | size on disk | bytes per event | load time | VACUUM ANALYZE | audited read req/s | "
             "read p50 | read p99 | audit list req/s | list p50 | list p99 |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    labels = audit_labels(results)
    if not labels:
        lines.append(missing_row("-", 11))
    for label in labels:
        table = results.get(f"audit/{label}/table")
        cells = [label]
        try:
            cells += [f"{table['events']:,}", size(table["bytes"]),
                      f"{table['bytes'] / table['events']:.0f}" if table["events"] else "-",
                      seconds(table["load_s"]) if table.get("load_s") is not None else "-",
                      seconds(table["vacuum_s"]) if table.get("vacuum_s") is not None else "-"]
        except (KeyError, TypeError, ValueError):
            cells += [NOT_MEASURED, "-", "-", "-", "-"]
        for workload in ("read", "audit-list"):
            r = results.get(f"audit/{label}/{workload}")
            if r is None:
                cells += [NOT_MEASURED, "-", "-"]
            elif "failed" in r:
                cells += [failed_cell(r), "-", "-"]
            else:
                try:
                    cells += [f"{r['rps']:,.0f}", ms(r["p50_ms"]), ms(r["p99_ms"])]
                except (KeyError, TypeError, ValueError):
                    cells += [INCOMPLETE, "-", "-"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Measured by `scripts/fleet` (`FLEET_AUDIT_SECONDS` per measurement, 10 by default; "
              "`FLEET_AUDIT_STEPS=\"1000000 10000000\"`, the events loaded in all after each step).", ""]
    return lines


def export_section(results):
    lines = ["## Bulk export", "",
             "An organization of N patients (one in three with an MRN, a doctor for every hundred, one in ten patients",
             "assigned one) exported as a Group by its owner: every Patient and the doctors assigned to them, by the",
             "worker the `export` Lambda runs (`tests/examples/export_scale.rs` runs it alone in a process of its own,",
             "per N), through the pooler, to S3 on moto, with the default sizes: files of 4 MiB, parts of 5 MiB, batches",
             "of 1,000 rows. Each file is committed with one `patient.export` audit event per patient in it. Peak RSS is",
             "the process's high-water mark (`VmHWM`), the worker's own memory; before is its resident memory once",
             "connected, before the export.", "",
             "| patients | time | rows/s | written | MB/s | files | audit events | RSS before | peak RSS |",
             "|---|---|---|---|---|---|---|---|---|"]
    sizes = sorted(int(k.split("/")[1]) for k in results if k.startswith("export/"))
    if not sizes:
        lines.append(missing_row("-", 8))
    for n in sizes:
        r = results[f"export/{n}"]
        if "failed" in r:
            lines.append(missing_row(f"{n:,}", 8, failed_cell(r)))
            continue
        try:
            files = sum(t["files"] for t in r["by_type"].values())
            lines.append(f"| {n:,} | {seconds(r['seconds'])} | {r['rows_per_s']:,.0f} | {size(r['bytes'])} | "
                         f"{r['mb_per_s']:.1f} | {files} | {r['audited']:,} | {r['rss_before_kib'] / 1024:.1f} MiB | "
                         f"{r['peak_rss_kib'] / 1024:.1f} MiB |")
        except (KeyError, TypeError, ValueError):
            lines.append(missing_row(f"{n:,}", 8, INCOMPLETE))
    lines += ["", "Measured by `scripts/fleet` (`FLEET_EXPORT_SIZES=\"1000 10000 100000\"`).", ""]
    return lines


def problems_section(results):
    lines = []
    for key, r in results.items():
        if not isinstance(r, dict):
            continue
        if "failed" in r:
            lines += [f"- `{key}` failed ({r['failed']}); the end of its log:", "", "  ```",
                      *[f"  {line}" for line in r.get("log") or ["(empty)"]], "  ```"]
        elif isinstance(r.get("errors"), dict) and r["errors"]:
            for message, count in sorted(r["errors"].items(), key=lambda e: -e[1]):
                lines.append(f"- `{key}`: {count:,} x {' '.join(message.split())[:300]}")
    if not lines:
        return []
    return ["## Errors the runs met", "", *lines, ""]


def findings_section():
    lines = ["## What we found", ""]
    try:
        with open(FINDINGS) as f:
            lines.append(f.read().rstrip("\n"))
    except FileNotFoundError:
        lines.append("Not written yet: the findings are written by hand in `docs/scale-findings.md`, which "
                     "`scripts/fleet --report` includes here.")
    return lines + [""]


def write_report(results, path):
    settings = results.get("settings", {})
    when = datetime.fromisoformat(results["measured_at"]).strftime("%Y-%m-%d %H:%M UTC") if "measured_at" in results else NOT_MEASURED
    pool = settings.get("default_pool_size", 93)
    duration = results.get("duration", {}).get("seconds")
    took = "" if duration is None else f" The whole run took {duration / 60:.0f} minutes." if duration >= 120 else f" The whole run took {duration:.0f} s."
    lines = [
        "# Scale: a Lambda fleet through Neon's pooler", "",
        f"Measured {when} on {results.get('machine', 'an unrecorded machine')}, by `scripts/fleet`",
        f"(PostgreSQL {settings.get('postgres', '?')} and {settings.get('pgbouncer', 'PgBouncer ?')} on the same machine, "
        f"everything over loopback).{took} Generated from `target/fleet-results.json` by `scripts/lib/fleet_report.py`: "
        "rerun those rather than editing this file; the findings below come from `docs/scale-findings.md`.", "",
        "## What the simulation models", "",
        "- **N Lambda instances** are N independent connection pools, each of the size the functions use (`DB_POOL_SIZE`,",
        "  2 by default), all in one process: the driver, `tests/examples/fleet.rs`. An instance connects as a function",
        "  does: to the pooled endpoint, over TLS (trusting the test CA), with SCRAM-SHA-256.",
        f"- **The pooler is Neon's** for a 0.25 CU compute (`start_neon_pooler`, `scripts/lib/postgres.sh`): transaction",
        f"  pooling, up to 10,000 clients, {pool} server connections (90% of the compute's max_connections, 104),",
        "  clients waiting up to 120 s for one (`query_wait_timeout`), TLS and SCRAM required of clients.",
        f"- **PostgreSQL** allows {settings.get('max_connections', 120)} connections: the 0.25 CU compute's 104, plus room "
        "for the driver's own direct connections.",
        "- **A closed loop**: each instance sends its next request as soon as the previous one answers, like a Lambda",
        "  instance that is always busy. The load offered grows with N; the tables show where the answers stop keeping up.", "",
        "## What it does not model", "",
        "- **Network distance**: everything is on loopback. From Lambda to Neon every round trip, and every connection",
        "  set-up (TCP, TLS, SCRAM), costs the distance between them on top of what is measured here.",
        "- **Neon's proxy** in front of its PgBouncer: here PgBouncer ends TLS itself.",
        "- **Neon's compute autoscaling and cold compute**: a 0.25 CU compute is a quarter of a vCPU and scales up under",
        "  load; a suspended one takes time to start. Here PostgreSQL has the machine and is always up.",
        "- **Lambda's per-instance CPU**: every instance here shares the driver's threads, where on Lambda each has its own",
        "  share of a core.",
        f"- **One machine**: its {results.get('cores', '?')} cores are shared by the driver, the pooler and PostgreSQL, so",
        "  the figures show their contention as much as anything. Read them as shapes and orders of magnitude, and",
        "  compare runs on the same machine.", "",
        *steady_section(results),
        *storm_section(results),
        *export_section(results),
        *audit_section(results),
        *problems_section(results),
        *findings_section(),
        "## Reproduce", "", "```sh",
        "scripts/fleet                          # everything: 10-15 minutes once the driver is built",
        "FLEET_SIZES=\"100 1000\" scripts/fleet   # other steady sizes (FLEET_STORM_SIZES for storms)",
        "FLEET_AUDIT_STEPS= scripts/fleet       # without the audit growth",
        "FLEET_EXPORT_SIZES= scripts/fleet      # without the bulk exports",
        "scripts/fleet --report                 # rewrite this file from the last results",
        "```", "",
    ]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def main():
    args = sys.argv[1:]
    if args[:1] == ["--start"] and len(args) == 2:
        start(args[1])
    elif args[:1] == ["--record"] and len(args) == 3:
        try:
            record(args[1], args[2], sys.stdin.read())
        except ValueError as e:
            sys.exit(f"fleet_report.py: {args[2]}: {e}")
    elif args[:1] == ["--failed"] and len(args) == 5:
        failed(*args[1:])
    elif args and not args[0].startswith("--") and len(args) <= 2:
        if not os.path.exists(args[0]):
            sys.exit(f"fleet_report.py: no results in {args[0]}: run scripts/fleet first")
        write_report(load(args[0]), args[1] if len(args) > 1 else os.path.join(ROOT, "docs", "SCALE.md"))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
