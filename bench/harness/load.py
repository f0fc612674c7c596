"""The load generators: h2load on Unix sockets, wrk on TCP. Every run is
bounded in requests or seconds, and killed if it overruns its time limit."""

import os
import re
import subprocess
from dataclasses import dataclass, field

WRK_POST_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "post64.lua")
CLIENTS = 50


@dataclass
class Load:
    succeeded: int = 0
    seconds: float = 0.0
    errors: list = field(default_factory=list)

    @property
    def rate(self):
        return self.succeeded / self.seconds if self.seconds else 0.0


def _run(argv, timeout):
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "%s did not finish within %.0f s" % (argv[0], timeout)
    if r.returncode != 0:
        return None, "%s exited with %d: %s" % (argv[0], r.returncode, r.stderr.strip()[-300:])
    return r.stdout, None


_UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _seconds(number, unit):
    return float(number) * _UNIT_SECONDS[unit]


def h2load(address, requests, *, body=None, pipeline=1, timeout=120):
    """HTTP/1.1 over a Unix socket: `requests` requests on CLIENTS keep-alive
    connections, one client thread; with body, each is a POST of that file."""
    argv = ["h2load", "--h1", "-B", str(address), "http://localhost/",
            "-n", str(requests), "-c", str(CLIENTS), "-t", "1", "-m", str(pipeline),
            "--connection-inactivity-timeout=10",
            "-H", "Content-Type: application/octet-stream"]
    if body:
        argv += ["-d", body]
    out, error = _run(argv, timeout)
    if error:
        return Load(errors=[error])
    finished = re.search(r"finished in ([\d.]+)(us|ms|s),", out)
    counts = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, "
                       r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    status = re.search(r"status codes: (\d+) 2xx", out)
    if not (finished and counts and status):
        return Load(errors=["h2load printed no summary:\n" + out[-500:]])
    total, done, succeeded, failed, errored, timed_out = map(int, counts.groups())
    load = Load(min(succeeded, int(status.group(1))), _seconds(*finished.groups()))
    if load.succeeded != total:
        load.errors.append("h2load: %d of %d requests failed (%d failed, %d errored, "
                           "%d timeout, %d 2xx)" % (total - load.succeeded, total, failed,
                                                    errored, timed_out, int(status.group(1))))
    return load


def wrk(port, seconds, timeout=None):
    """The 64-byte POST over TCP for `seconds`, CLIENTS connections, one thread."""
    argv = ["wrk", "-t", "1", "-c", str(CLIENTS), "-d", "%ds" % seconds, "--timeout", "10s",
            "-s", WRK_POST_SCRIPT, "http://127.0.0.1:%d/" % port]
    out, error = _run(argv, timeout or seconds + 60)
    if error:
        return Load(errors=[error])
    summary = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h),", out)
    if not summary:
        return Load(errors=["wrk printed no summary:\n" + out[-500:]])
    requests = int(summary.group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    bad = int(bad.group(1)) if bad else 0
    load = Load(requests - bad, _seconds(*summary.groups()[1:]))
    if bad:
        load.errors.append("wrk: %d responses were not 2xx" % bad)
    sockets = re.search(r"Socket errors: (.*)", out)
    if sockets:
        load.errors.append("wrk: socket errors: " + sockets.group(1))
    return load
