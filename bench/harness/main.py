"""bench/run's orchestration: start every server, run every scenario, then
print the tables and write the CSV files and charts (report.py).

Speed is never asserted. The exit status is 1 if any server failed to start
or any request failed, else 0.
"""

import argparse
import contextlib
import os
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass

import client
import load
import report
import servers
from client import Address

MIB = 1 << 20


@dataclass(frozen=True)
class Settings:
    duration: int        # seconds each measured load run aims at
    reps: int            # measured runs per server and case, interleaved; medians reported
    probe: int           # requests of the first run, which sizes the warm-up and measured runs
    warmup: int          # seconds of warm-up (JIT compilers, caches) before the measured runs
    big_body: int        # bytes of the large-body echo
    idle: int            # idle keep-alive connections


FULL = Settings(duration=6, reps=3, probe=2000, warmup=3, big_body=1 << 30, idle=10000)
QUICK = Settings(duration=1, reps=1, probe=1000, warmup=0, big_body=64 * MIB, idle=1000)
KEEPALIVE_IDLE = 300  # seconds: no server may close an idle connection mid-scenario 4


@dataclass(frozen=True)
class Case:
    name: str
    post: bool = False
    pipeline: int = 1


POST = Case(report.POST_64, post=True)
DIRECT_CASES = (POST, Case(report.GET), Case(report.GET_PIPELINED, pipeline=10))


class Bench:
    def __init__(self, args, settings):
        self.settings = settings
        build = os.path.abspath(args.build_dir)
        self.unixcorn_bin = os.path.join(build, "unixcorn")
        self.rawecho_bin = os.path.join(build, "rawecho")
        self.floor_bin = os.path.join(build, "floor")
        self.floor_llhttp_bin = os.path.join(build, "floor-llhttp")
        self.blocking_echo = os.path.join(build, "echo_blocking.so")
        self.variant_bins = [("unixcorn " + name, binary) for name, binary in args.variant]
        self.work = tempfile.mkdtemp(prefix="unixcorn-bench.")
        os.chmod(self.work, 0o755)  # nginx's workers run as nobody when started as root
        self.body64 = os.path.join(self.work, "body64")
        with open(self.body64, "wb") as f:
            f.write(b"x" * 64)
        self.errors = []
        self.runs = []     # every measured run of scenarios 1, 2, 3 and 5
        self.tables = {}   # scenario: its rows

    def sock(self, name):
        return Address.unix(os.path.join(self.work, name + ".sock"))

    def variants(self, scenario, *flags):
        """The further unixcorn builds (--variant), each on its own socket, so
        that they run beside the main one."""
        return [servers.unixcorn(binary, self.work, self.sock("%s-variant%d" % (scenario, i)),
                                 *flags, name=name)
                for i, (name, binary) in enumerate(self.variant_bins)]

    def fail(self, what, message):
        self.errors.append("%s: %s" % (what, message))
        print("  FAILED %s: %s" % (what, message), file=sys.stderr, flush=True)

    def start(self, stack, server):
        """Start server, to be stopped when stack closes; None if it failed (reported)."""
        try:
            stack.enter_context(server)
        except servers.ServerError as e:
            self.fail(server.name, str(e))
            return None
        stack.callback(self.check_still_running, server)
        return server

    def check_still_running(self, server):
        if not server.alive():
            self.fail(server.name, "exited during the benchmark with status %s:\n%s"
                      % (server.proc.returncode, server.log_tail()))

    def start_all(self, stack, candidates):
        return [s for s in candidates if self.start(stack, s)]

    def timed(self, servers_timed, run):
        """Run a load, and each server's CPU time per request over it (µs)."""
        before = [s.cpu_seconds() for s in servers_timed]
        result = run()
        spent = [s.cpu_seconds() - b for s, b in zip(servers_timed, before)]
        per_request = [1e6 * c / result.succeeded if result.succeeded else float("nan")
                       for c in spent]
        return result, per_request

    def check_load(self, what, result):
        for error in result.errors:
            self.fail(what, error)
        return not result.errors

    def record(self, scenario, server, case, rep, result, cpu):
        """Keep a measured run: cpu is the server's µs/request, then, behind
        nginx, nginx's."""
        what = "%s, %s, %s" % (scenario, server, case)
        if not self.check_load(what, result):
            return
        run = dict(scenario=scenario, server=server, case=case, rep=rep,
                   requests=result.succeeded, seconds=result.seconds, req_per_s=result.rate,
                   cpu_us_per_req=cpu[0])
        if len(cpu) > 1:
            run["nginx_cpu_us_per_req"] = cpu[1]
        self.runs.append(run)
        print("  %s: %.0f req/s, CPU %s µs/req" % (what, result.rate,
                                                  " + ".join("%.1f" % c for c in cpu)),
              flush=True)

    def groups(self, scenario):
        """The runs of a scenario by server and case, in the order they ran."""
        groups = {}
        for run in self.runs:
            if run["scenario"] == scenario:
                groups.setdefault((run["server"], run["case"]), []).append(run)
        return groups

    def medians(self, scenario):
        """One row per server and case of a scenario: medians over the repetitions."""
        rows = []
        for (server, case), runs in self.groups(scenario).items():
            row = dict(server=server, case=case, runs=len(runs),
                       requests=sum(r["requests"] for r in runs))
            for field in ("req_per_s", "cpu_us_per_req", "nginx_cpu_us_per_req"):
                if field in runs[0]:
                    row[field] = statistics.median(r[field] for r in runs)
            rows.append(row)
        return rows

    # Scenarios 1 and 5: h2load on Unix sockets.

    def h2load_runs(self, scenario, servers_, cases):
        """Interleaved runs: each repetition goes through every case and server,
        so the box's noise falls on all of them alike. The first run of each
        pair warms up and sizes the measured runs to the duration."""
        sizes = {}
        for rep in range(self.settings.reps):
            for case in cases:
                for server in servers_:
                    key = (server.name, case.name)
                    if case.pipeline > 1 and not server.pipelines:
                        continue
                    if server.cases is not None and case.name not in server.cases:
                        continue
                    if key not in sizes:
                        sizes[key] = self.size_run("%s, %s, %s" % (scenario, *key), server, case)
                    if sizes[key] and server.alive():
                        self.record(scenario, server.name, case.name, rep, *self.timed(
                            [server], lambda: self.h2load(server, case, sizes[key])))

    def h2load(self, server, case, requests):
        return load.h2load(server.address, requests, body=self.body64 if case.post else None,
                           pipeline=case.pipeline, timeout=20 * self.settings.duration + 60)

    def size_run(self, what, server, case):
        """Warm up; return the request count that takes about the duration."""
        probe = self.h2load(server, case, self.settings.probe)
        if self.settings.warmup and not probe.errors:
            probe = self.h2load(server, case, int(probe.rate * self.settings.warmup))
        if not self.check_load(what + " (warm-up)", probe):
            return None
        return max(self.settings.probe, int(probe.rate * self.settings.duration))

    def direct(self):
        print("Scenario 1: direct on the Unix socket", flush=True)
        peers = [servers.unixcorn(self.unixcorn_bin, self.work, self.sock("unixcorn")),
                 *self.variants("direct"),
                 # The JSON document of each request instead of an echo: the
                 # cost of an application that reads every header field.
                 servers.unixcorn(self.unixcorn_bin, self.work, self.sock("inspect"),
                                  "inspect", name="unixcorn inspect", echoes=False,
                                  cases=(report.POST_64,)),
                 # The same echo as a blocking application on a thread pool.
                 *[servers.unixcorn(self.unixcorn_bin, self.work, self.sock("blocking%d" % n),
                                    "--threads", str(n), self.blocking_echo,
                                    name="unixcorn blocking --threads %d" % n)
                   for n in (1, 4)],
                 servers.nginx_echo(self.work, self.sock("nginx")),
                 servers.node_echo(self.work, self.sock("node")),
                 servers.gunicorn(self.work, self.sock("gunicorn")),
                 servers.uvicorn(self.work, self.sock("uvicorn")),
                 servers.floor(self.floor_bin, self.work, self.sock("floor")),
                 servers.floor(self.floor_llhttp_bin, self.work, self.sock("floor-llhttp"),
                               name="floor + llhttp")]
        with contextlib.ExitStack() as stack:
            started = self.start_all(stack, peers)
            self.h2load_runs("direct", started, DIRECT_CASES)
            peak = {p.name: p.peak_rss_kib() / 1024 for p in started if p.alive()}
        self.tables["direct"] = [dict(row, peak_rss_mib=peak.get(row["server"]))
                                 for row in self.medians("direct")]

    def workers(self):
        print("Scenario 5: workers 1 and 2", flush=True)
        peers = [servers.unixcorn(self.unixcorn_bin, self.work, self.sock("w%d" % n),
                                  "--workers", str(n), name="unixcorn --workers %d" % n)
                 for n in (1, 2)]
        with contextlib.ExitStack() as stack:
            self.h2load_runs("workers", self.start_all(stack, peers), [POST])
        self.tables["workers"] = self.medians("workers")

    # Scenario 2: wrk on TCP through the bundled nginx.

    def upstream_apps(self):
        """Each app behind nginx with the upstream keep-alive settings it is run
        with: unixcorn and nginx+echo on either transport, the variants and the
        floor on the Unix socket only, and the floor twice, since it closes
        after its responses only when told to. A generator, so that each TCP
        port is picked just before its server starts."""
        both = ("on", "off")
        for transport in ("unix", "tcp"):
            yield servers.unixcorn(self.unixcorn_bin, self.work,
                                   self.up_address(transport, "unixcorn")), both
        for variant in self.variants("up"):
            yield variant, both
        for transport in ("unix", "tcp"):
            yield servers.nginx_echo(self.work, self.up_address(transport, "nginx")), both
        for keepalive in both:
            yield servers.floor(self.floor_bin, self.work, self.sock("up-floor-" + keepalive),
                                close=keepalive == "off"), (keepalive,)

    def up_address(self, transport, app):
        return self.sock("up-" + app) if transport == "unix" else Address.free_tcp_port()

    def upstream(self):
        print("Scenario 2: through the bundled nginx (CPU: app + nginx)", flush=True)
        with contextlib.ExitStack() as stack:
            fronts = []  # (case, app server, nginx in front of it)
            for server, keepalives in self.upstream_apps():
                if not self.start(stack, server):
                    continue
                for keepalive in keepalives:
                    front = servers.front_nginx(self.work, Address.free_tcp_port(), server,
                                                keepalive == "on")
                    if self.start(stack, front):
                        fronts.append((report.upstream_case(server.address.transport, keepalive),
                                       server, front))
            fronts.sort(key=lambda f: report.UPSTREAM_CASES.index(f[0]))  # apps side by side
            for rep in range(self.settings.reps):
                for case, server, front in fronts:
                    if rep == 0:
                        self.check_load("upstream, %s, %s (warm-up)" % (server.name, case),
                                        load.wrk(front.address.port, max(1, self.settings.warmup)))
                    self.record("upstream", server.name, case, rep, *self.timed(
                        [server, front], lambda: load.wrk(front.address.port,
                                                          self.settings.duration)))
        self.tables["upstream"] = self.medians("upstream")

    # Scenario 3: one large body, both modes, beside a raw echo loop.

    def large(self):
        """The servers run side by side and the repetitions are interleaved, as
        in scenario 1, so that a target can compare runs of one repetition."""
        size = self.settings.big_body
        print("Scenario 3: a %d MiB echo" % (size // MIB), flush=True)
        cases = [(report.DEFAULT_MODE,
                  servers.unixcorn(self.unixcorn_bin, self.work, self.sock("large"))),
                 *((report.DEFAULT_MODE, v) for v in self.variants("large")),
                 ("--echo-stream", servers.unixcorn(self.unixcorn_bin, self.work,
                                                    self.sock("large-stream"), "--echo-stream")),
                 (report.NO_HTTP, servers.rawecho(self.rawecho_bin, self.work,
                                                  self.sock("large-raw")))]
        with contextlib.ExitStack() as stack:
            cases = [(mode, server) for mode, server in cases if self.start(stack, server)]
            for rep in range(self.settings.reps):
                for mode, server in cases:
                    self.large_once(rep, mode, server, size)
        self.tables["large"] = [
            dict(server=server, mode=mode, body_mib=size // MIB,
                 mib_per_s=statistics.median(r["mib_per_s"] for r in runs),
                 cpu_s=statistics.median(r["cpu_s"] for r in runs),
                 rss_growth_mib=max(r["rss_growth_mib"] for r in runs))
            for (server, mode), runs in self.groups("large").items()]

    def large_once(self, rep, mode, server, size):
        what = "large body, %s %s" % (server.name, mode)
        server.reset_peak()
        rss = server.rss_kib()
        cpu = server.cpu_seconds()
        try:
            seconds = client.big_echo(server.address, size, http=server.http)
        except (client.HTTPError, OSError) as e:
            self.fail(what, str(e))
            return
        run = dict(scenario="large", server=server.name, case=mode, rep=rep,
                   mib_per_s=size / MIB / seconds, cpu_s=server.cpu_seconds() - cpu,
                   rss_growth_mib=(server.peak_rss_kib() - rss) / 1024)
        self.runs.append(run)
        print("  %s: %.0f MiB/s, CPU %.2f s, RSS growth %.1f MiB"
              % (what, run["mib_per_s"], run["cpu_s"], run["rss_growth_mib"]), flush=True)

    # Scenario 4: idle keep-alive connections.

    def idle(self):
        n = self.settings.idle
        print("Scenario 4: %d idle keep-alive connections" % n, flush=True)
        unixcorn_flags = ("--worker-connections", str(n + 100), "--keepalive", str(KEEPALIVE_IDLE))
        peers = [servers.unixcorn(self.unixcorn_bin, self.work, self.sock("idle-unixcorn"),
                                  *unixcorn_flags),
                 *self.variants("idle", *unixcorn_flags),
                 # nginx closes idle keep-alive connections once fewer than 1/16 of
                 # its worker_connections are free
                 servers.nginx_echo(self.work, self.sock("idle-nginx"), connections=2 * n,
                                    keepalive=KEEPALIVE_IDLE),
                 servers.node_echo(self.work, self.sock("idle-node"), keepalive=KEEPALIVE_IDLE),
                 servers.uvicorn(self.work, self.sock("idle-uvicorn"), keepalive=KEEPALIVE_IDLE)]
        rows = []
        for server in peers:
            with contextlib.ExitStack() as stack:
                growth = (self.idle_once("idle connections, " + server.name, server, n)
                          if self.start(stack, server) else None)
            if growth is not None:
                rows.append(dict(server=server.name, connections=n, rss_growth_mib=growth / 1024,
                                 kib_per_connection=growth / n))
        self.tables["idle"] = rows

    def idle_once(self, what, server, n):
        time.sleep(0.5)
        rss = server.rss_kib()
        try:
            with client.IdleConnections(server.address, n) as conns:
                time.sleep(1)
                growth = server.rss_kib() - rss
                conns.check()  # every connection is still open and answers
        except (client.HTTPError, OSError) as e:
            self.fail(what, str(e))
            return None
        print("  %s: %.2f KiB per connection" % (what, growth / n), flush=True)
        return growth


SCENARIOS = ("direct", "upstream", "large", "idle", "workers")


def raise_fd_limit(want):
    """Let this process (the idle connections' client) and the servers it
    starts each hold `want` descriptors, as far as the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return
        except (ValueError, OSError):
            print("warning: the fd limit stays at %d, below the %d that scenario 4 needs"
                  % (hard, want), file=sys.stderr)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def variant(text):
    """--variant NAME=PATH: (NAME, the binary's absolute path)."""
    name, _, path = text.partition("=")
    if not name or not path:
        raise argparse.ArgumentTypeError("expected NAME=PATH, got %r" % text)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise argparse.ArgumentTypeError("%s is not an executable file" % path)
    return name, os.path.abspath(path)


def main():
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="short runs, a 64 MiB body and 1,000 idle connections (CI)")
    parser.add_argument("--only", default=",".join(SCENARIOS),
                        help="comma-separated scenarios to run (default: all): "
                        + ", ".join(SCENARIOS))
    parser.add_argument("--variant", type=variant, action="append", default=[],
                        metavar="NAME=PATH",
                        help="a further unixcorn binary, run as server \"unixcorn NAME\" "
                        "beside the main one in scenarios 1 to 4 to compare builds; the "
                        "targets stay the main one's. Repeatable. bench/run runs from the "
                        "repository's root, so a relative PATH starts there")
    parser.add_argument("--build-dir", required=True,
                        help="where unixcorn, rawecho and floor are")
    parser.add_argument("--results", required=True, help="directory for CSV, PNG and tables")
    args = parser.parse_args()
    settings = QUICK if args.quick else FULL
    chosen = args.only.split(",")
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error("unknown scenario(s): " + ", ".join(sorted(unknown)))
    names = [name for name, _ in args.variant]
    if len(set(names)) < len(names):
        parser.error("each --variant needs a NAME of its own")
    raise_fd_limit(settings.idle + 1000)
    # A TERM or Ctrl-C unwinds through the with-blocks, which stop the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    bench = Bench(args, settings)
    machine = report.machine()
    started = time.monotonic()
    try:
        for name in SCENARIOS:
            if name in chosen:
                getattr(bench, name)()
    except KeyboardInterrupt:
        print("Interrupted; every server was stopped.", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(bench.work, ignore_errors=True)
    report.write(args.results, bench.tables, bench.runs, machine, settings,
                 time.monotonic() - started, bench.errors, args.quick, args.variant)
    return 1 if bench.errors else 0


if __name__ == "__main__":
    sys.exit(main())
