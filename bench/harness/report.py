"""The outputs: tables (printed, and as Markdown in summary.md), CSV files,
the targets with PASS/FAIL markers, and gnuplot charts."""

import csv
import datetime
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BARS_GP = os.path.join(HERE, "bars.gp")
UNIXCORN, NGINX_ECHO, NODE, FLOOR = "unixcorn", "nginx+echo", "node", "floor"
RAW_ECHO = "raw echo loop (C)"
# The cases of scenario 1 and the modes of scenario 3 that targets name.
POST_64, GET, GET_PIPELINED = "POST 64 B", "GET", "GET, 10 pipelined"
DEFAULT_MODE, NO_HTTP = "default", "no HTTP"


# The machine and the software versions.

def _first_line(argv, pattern=r"(.*)"):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    m = re.search(pattern, r.stdout + r.stderr)
    return m.group(1).strip() if m else "?"


def machine():
    with open("/proc/cpuinfo") as f:
        model = re.search(r"model name\s*:\s*(.*)", f.read())
    with open("/proc/meminfo") as f:
        mem_gib = int(f.readline().split()[1]) / (1 << 20)
    try:
        with open("/etc/debian_version") as f:
            debian = "Debian " + f.read().strip()
    except OSError:
        debian = platform.platform()
    return {
        "cpu": "%s, %d cores" % (model.group(1) if model else "?", os.cpu_count()),
        "memory": "%.0f GiB" % mem_gib,
        "os": "%s, Linux %s" % (debian, platform.release()),
        "load average at start": "%.2f %.2f %.2f" % os.getloadavg(),
        "versions": ", ".join([
            "nginx " + _first_line(["nginx", "-v"], r"nginx/(\S+)"),
            "node " + _first_line(["node", "--version"]),
            "gunicorn " + _first_line(["/usr/bin/python3", "-m", "gunicorn", "--version"],
                                      r"version (\S+)\)"),
            "uvicorn " + _first_line(["/usr/bin/python3", "-c", "import uvicorn; print(uvicorn.__version__)"]),
            "h2load " + _first_line(["h2load", "--version"], r"nghttp2/(\S+)"),
            "wrk " + _first_line(["wrk", "--version"], r"wrk (\S+)"),
        ]),
        "unixcorn": _first_line(["git", "-C", HERE, "describe", "--always", "--dirty"]),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


# Number formats; None or NaN (nothing measured) prints as "-".

def _fmt(spec):
    def f(v):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "-"
        return format(v, spec)
    return f


RATE, US, MIB, KIB, SEC, INT = _fmt(",.0f"), _fmt(".1f"), _fmt(".1f"), _fmt(".2f"), _fmt(".2f"), _fmt("d")


def markdown(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def index(rows, *keys):
    return {tuple(r[k] for k in keys): r for r in rows}


def unique(values):
    return list(dict.fromkeys(values))


# The tables, one per scenario.

def direct_table(rows, _runs):
    cases = unique(r["case"] for r in rows)
    by = index(rows, "server", "case")
    header = ["server"]
    for case in cases:
        header += ["%s req/s" % case, "CPU µs/req"]
    header.append("peak RSS MiB")
    body = []
    for server in unique(r["server"] for r in rows):
        line = [server]
        for case in cases:
            r = by.get((server, case))
            line += [RATE(r["req_per_s"]), US(r["cpu_us_per_req"])] if r else ["n/a", "n/a"]
        line.append(MIB(next(r["peak_rss_mib"] for r in rows if r["server"] == server)))
        body.append(line)
    return ("1. Direct on the Unix socket: h2load --h1, 50 keep-alive connections, "
            "one client thread", markdown(header, body))


def upstream_case(transport, keepalive):
    return "%s, keep-alive %s" % (transport, keepalive)


UPSTREAM_CASES = [upstream_case(t, k) for t in ("unix", "tcp") for k in ("on", "off")]


def upstream_table(rows, runs):
    body = [[r["case"], r["server"], RATE(r["req_per_s"]), US(r["cpu_us_per_req"]),
             US(r["nginx_cpu_us_per_req"])] for r in rows]
    table = markdown(["upstream", "app", "req/s", "app CPU µs/req", "nginx CPU µs/req"], body)
    claim = []
    for app in unique(r["server"] for r in rows):
        for keepalive in ("on", "off"):
            unix = (app, upstream_case("unix", keepalive))
            tcp = (app, upstream_case("tcp", keepalive))
            ratios = [paired_ratio(runs, "upstream", unix, tcp, field)
                      for field in ("req_per_s", "cpu_us_per_req", "nginx_cpu_us_per_req")]
            if None not in ratios:
                claim.append([app, keepalive] + ["%.2f×" % r for r in ratios])
    if claim:
        table += ("\n\nThe Unix socket against TCP to the same app (unix ÷ tcp, the median "
                  "of each repetition's ratio):\n\n"
                  + markdown(["app", "upstream keep-alive", "req/s", "app CPU/req",
                              "nginx CPU/req"], claim))
    return ("2. Through the bundled nginx (TCP 127.0.0.1 in): wrk, 64-byte POST, "
            "50 connections, one thread", table)


def large_table(rows, _runs):
    body = [[r["server"], r["mode"], MIB(r["mib_per_s"]), SEC(r["cpu_s"]),
             MIB(r["rss_growth_mib"])] for r in rows]
    size = rows[0]["body_mib"] if rows else 0
    return ("3. One %d MiB body echoed on a Unix socket, sent and read at once (default: "
            "spooled to a file, sent with sendfile; --echo-stream: chunked as it arrives)" % size,
            markdown(["server", "mode", "MiB/s", "server CPU s", "RSS growth MiB"], body))


def idle_table(rows, _runs):
    body = [[r["server"], INT(r["connections"]), MIB(r["rss_growth_mib"]),
             KIB(r["kib_per_connection"])] for r in rows]
    return ("4. Idle keep-alive connections on a Unix socket (each made one request)",
            markdown(["server", "connections", "RSS growth MiB", "KiB per connection"], body))


def workers_table(rows, _runs):
    body = [[r["server"], RATE(r["req_per_s"]), US(r["cpu_us_per_req"])] for r in rows]
    return ("5. unixcorn workers: 64-byte POST as in 1",
            markdown(["server", "req/s", "CPU µs/req"], body))


TABLES = {"direct": direct_table, "upstream": upstream_table, "large": large_table,
          "idle": idle_table, "workers": workers_table}


# The targets: ratios from this one run, marked PASS or FAIL, never asserted.

def _verdict(ok):
    return "PASS" if ok else "FAIL"


def paired_ratio(runs, scenario, mine, theirs, field):
    """The median over repetitions of mine's field ÷ theirs' in the same
    repetition (mine and theirs are (server, case)), or None. Runs of one
    repetition are close in time, so drifting load on the box cancels out."""
    def by_rep(key):
        return {r["rep"]: r[field] for r in runs
                if r["scenario"] == scenario and (r["server"], r["case"]) == key}
    a, b = by_rep(mine), by_rep(theirs)
    ratios = [a[rep] / b[rep] for rep in a if rep in b and b[rep]]
    return statistics.median(ratios) if ratios else None


def _ratio(name, ratio, limit, at_least):
    if ratio is None:
        return [name, "no data", "", "-"]
    sign = "≥" if at_least else "≤"
    return [name, "%.2f×" % ratio, "%s %.2f×" % (sign, limit),
            _verdict(ratio >= limit if at_least else ratio <= limit)]


def _bound(name, value, limit, unit):
    return [name, "%.2f %s" % (value, unit), "≤ %g %s" % (limit, unit), _verdict(value <= limit)]


def targets(tables, runs):
    out = []
    for case in unique(r["case"] for r in tables.get("direct", [])):
        mine = (UNIXCORN, case)
        against = [(NGINX_ECHO, "req_per_s", 0.95, True),
                   (NGINX_ECHO, "cpu_us_per_req", 0.9, False),
                   (NODE, "cpu_us_per_req", 0.5, False)]
        if case in (POST_64, GET):  # the floor cannot pipeline
            against.append((FLOOR, "cpu_us_per_req", 1.1, False))
        for theirs, field, limit, at_least in against:
            out.append(_ratio("1. %s: %s vs %s" % (case, "req/s" if at_least else "CPU/req",
                                                  theirs),
                              paired_ratio(runs, "direct", mine, (theirs, case), field),
                              limit, at_least))
    for case in unique(r["case"] for r in tables.get("upstream", [])):
        against = [(NGINX_ECHO, "req_per_s", 0.95, True)]
        if case == upstream_case("unix", "off"):
            against += [(NGINX_ECHO, "req_per_s", 1.0, True),
                        (NGINX_ECHO, "cpu_us_per_req", 0.9, False),
                        (FLOOR, "cpu_us_per_req", 1.2, False)]
        for theirs, field, limit, at_least in against:
            out.append(_ratio("2. upstream %s: %s vs %s"
                              % (case, "req/s" if at_least else "app CPU/req", theirs),
                              paired_ratio(runs, "upstream", (UNIXCORN, case), (theirs, case),
                                           field), limit, at_least))
    for r in tables.get("large", []):
        if r["server"] == UNIXCORN:
            out.append(_bound("3. RSS growth, %s" % r["mode"], r["rss_growth_mib"], 16, "MiB"))
            if r["mode"] == DEFAULT_MODE:
                out.append(_ratio("3. MiB/s, %s vs %s" % (DEFAULT_MODE, RAW_ECHO),
                                  paired_ratio(runs, "large", (UNIXCORN, DEFAULT_MODE),
                                               (RAW_ECHO, NO_HTTP), "mib_per_s"), 0.4, True))
    for r in tables.get("idle", []):
        if r["server"] == UNIXCORN:
            for limit in (2, 0.5):
                out.append(_bound("4. RSS per idle connection", r["kib_per_connection"],
                                  limit, "KiB"))
    return out


# Writing it all.

def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=unique(k for row in rows for k in row))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: round(v, 3) if isinstance(v, float) else v
                             for k, v in row.items()})


def summary(tables, runs, goals, machine_facts, settings, elapsed, errors, quick, variants):
    options = (" --quick" if quick else "") + "".join(" --variant %s=%s" % v for v in variants)
    parts = ["## unixcorn benchmark%s" % (" (--quick)" if quick else ""), "",
             "Command: `bench/run%s`. Each server has one worker or one process. "
             "Every load run is repeated %d× (interleaved across servers) and the medians "
             "are shown; each aims at %d s. CPU is user+system time of the server's whole "
             "process tree over the run, divided by the requests it served. A target's "
             "ratio is the median of the ratios within each repetition. The floor "
             "(bench/peers/floor.c) is the least any HTTP server can do per request: one "
             "read, then one write of a fixed 64-byte response, parsing nothing; "
             "\"floor + llhttp\" is the same with each head parsed by llhttp, the parser "
             "unixcorn is built on, with no callback but the one that ends the head."
             % (options, settings.reps, settings.duration), ""]
    if variants:
        parts += ["\"unixcorn NAME\" is the unixcorn binary given as --variant NAME=PATH; "
                  "the targets are the main unixcorn's.", ""]
    parts += ["- %s: %s" % kv for kv in machine_facts.items()]
    parts.append("- took: %.0f s" % elapsed)
    for name, render in TABLES.items():
        if tables.get(name):
            title, table = render(tables[name], runs)
            parts += ["", "### " + title, "", table]
    if goals:
        parts += ["", "### Targets (ratios from this run; not asserted)", "",
                  markdown(["target", "measured", "wanted", ""], goals)]
    if errors:
        parts += ["", "### Failures", ""] + ["- " + e.replace("\n", " ") for e in errors]
    return "\n".join(parts) + "\n"


def _tsv(path, panel):
    """A panel's table for bars.gp: one row per group, one column per series."""
    _, groups, series, value = panel
    with open(path, "w") as f:
        f.write("\t".join(["group"] + series) + "\n")
        for g in groups:
            cells = [value(g, s) for s in series]
            f.write("\t".join([g] + ["NaN" if c is None else "%.3f" % c for c in cells]) + "\n")


def _get(table, key, field):
    row = table.get(key)
    return row[field] if row else None


def _cases_chart(heading, rows, cpu_fields):
    """Requests/s and CPU µs/request, grouped by case, a bar per server (and
    per CPU field, where there are several: the app's and nginx's)."""
    cases, names = unique(r["case"] for r in rows), unique(r["server"] for r in rows)
    by = index(rows, "case", "server")
    cpu_series = {(n if len(cpu_fields) == 1 else "%s: %s" % (n, part)): (n, field)
                  for part, field in cpu_fields.items() for n in names}
    return (heading,
            [("requests/s (higher is better)", cases, names,
              lambda g, s: _get(by, (g, s), "req_per_s")),
             ("CPU µs per request (lower is better)", cases, list(cpu_series),
              lambda g, s: _get(by, (g, cpu_series[s][0]), cpu_series[s][1]))])


def _memory_chart(idle_rows, large_rows):
    idle = {r["server"]: r for r in idle_rows}
    large = {"%s, %s" % (r["server"], r["mode"]): r for r in large_rows}
    return ("Memory",
            [("RSS per idle keep-alive connection, KiB", list(idle), ["KiB per connection"],
              lambda g, s: _get(idle, g, "kib_per_connection")),
             ("RSS growth during the large echo, MiB", list(large), ["RSS growth MiB"],
              lambda g, s: _get(large, g, "rss_growth_mib"))])


def charts(results, tables):
    """direct.png, upstream.png and memory.png from whatever was measured."""
    if not shutil.which("gnuplot"):
        print("gnuplot is missing: no charts (apt-get install gnuplot-nox)")
        return
    plots = {}
    if tables.get("direct"):
        plots["direct"] = _cases_chart("Direct on a Unix socket (h2load, 50 connections)",
                                       tables["direct"], {"server": "cpu_us_per_req"})
    if tables.get("upstream"):
        plots["upstream"] = _cases_chart(
            "Through the bundled nginx (wrk on TCP, 64-byte POST)", tables["upstream"],
            {"app": "cpu_us_per_req", "nginx in front": "nginx_cpu_us_per_req"})
    if tables.get("idle") and tables.get("large"):
        plots["memory"] = _memory_chart(tables["idle"], tables["large"])
    tmp = tempfile.mkdtemp(prefix="unixcorn-charts.")
    for name, (heading, panels) in plots.items():
        files = [os.path.join(tmp, "%s-%d.tsv" % (name, i)) for i in range(2)]
        for path, panel in zip(files, panels):
            _tsv(path, panel)
        script = ("out='%s'; heading='%s'; left='%s'; leftlabel='%s'; right='%s'; rightlabel='%s'"
                  % (os.path.join(results, name + ".png"), heading, files[0], panels[0][0],
                     files[1], panels[1][0]))
        r = subprocess.run(["gnuplot", "-e", script, BARS_GP], capture_output=True, text=True)
        if r.returncode:
            print("gnuplot failed for %s: %s" % (name, r.stderr.strip()))
    shutil.rmtree(tmp)


def write(results, tables, runs, machine_facts, settings, elapsed, errors, quick, variants):
    os.makedirs(results, exist_ok=True)
    for name, rows in dict(tables, runs=runs).items():
        if rows:
            write_csv(os.path.join(results, name + ".csv"), rows)
    goals = targets(tables, runs)
    if goals:
        write_csv(os.path.join(results, "targets.csv"),
                  [dict(zip(("target", "measured", "wanted", "verdict"), g)) for g in goals])
    text = summary(tables, runs, goals, machine_facts, settings, elapsed, errors, quick,
                   variants)
    with open(os.path.join(results, "summary.md"), "w") as f:
        f.write(text)
    print()
    print(text)
    charts(results, tables)
    print("Results: %s/ (summary.md, *.csv, *.png)" % os.path.relpath(results))
