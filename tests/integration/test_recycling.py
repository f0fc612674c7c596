"""Worker recycling guards: --max-worker-memory and --max-worker-lifetime. A
worker due for either is replaced gracefully (its successor first, then it
finishes its requests), under load with no failed request, logged with its
reason and counted by reason in the metrics. The growth comes from a test hook,
UNIXCORN_DEBUG_GROW_MIB (src/debug_grow.h)."""

import os
import re

import pytest

from uc_testlib import (H2load, assert_h2load_clean, booting_pids, echo_unix, log_search,
                        scrape, wait_until, workers_of)
from uc_testlib import spawn  # noqa: F401  (a fixture)

MEMORY_LINE = r"Worker \(pid:(\d+)\) uses [\d.]+ MiB, over --max-worker-memory"
LIFETIME_LINE = (r"Worker \(pid:(\d+)\) has run for [\d.]+ s, past --max-worker-lifetime "
                 r"\(([\d.]+) s with its jitter\)")


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise KeyError("VmRSS")


@pytest.fixture
def idle_rss(spawn):
    """A worker's RSS in MiB after some requests: the sanitizer build's is many
    times the plain one's, so limits are set above it."""
    srv = spawn("baseline")
    for i in range(50):
        echo_unix(srv.sock, b"warm up %d\n" % i)
    rss = rss_mib(srv.worker_pid())
    assert srv.stop() == 0, srv.stderr()
    return rss


def start_grower(spawn, idle_rss, *args, grow_mib=96, **grow):
    env = {"UNIXCORN_DEBUG_GROW_MIB": str(grow_mib)}
    env.update({"UNIXCORN_DEBUG_GROW_" + k.upper(): str(v) for k, v in grow.items()})
    limit = int(idle_rss + grow_mib / 2)
    srv = spawn("grower", "--max-worker-memory", "%dM" % limit, *args, env=env)
    return srv


def serving(srv, n, timeout=10):
    """The pids of srv's n workers (its metrics process aside), once it has n."""
    pids = wait_until(lambda: len(workers_of(srv)) == n and workers_of(srv), timeout)
    assert pids, "expected %d workers, have %r:\n%s" % (n, workers_of(srv), srv.stderr())
    return pids


def under_load(srv, seconds):
    """h2load on srv's socket for that long: every request must succeed."""
    load = H2load(seconds=seconds, clients=8, unix=srv.sock)
    try:
        assert_h2load_clean(load.result())
    finally:
        load.kill()


def assert_successor_first(log, old):
    """The replacement of old: its successor booted before old began to stop."""
    decided = re.search(r"Worker \(pid:%d\) (uses|has run)" % old, log)
    stopping = re.search(r"\[%d\] \[INFO\] Worker stopping" % old, log)
    assert decided and stopping, log
    between = log[decided.end():stopping.start()]
    assert re.search(r"Booting worker with pid: \d+", between), log


def test_a_growing_worker_is_replaced_under_load_with_no_failed_request(
        spawn, workdir, idle_rss):
    metrics = os.path.join(workdir, "metrics.sock")
    srv = start_grower(spawn, idle_rss, "--workers", "2", "--metrics-bind",
                       "unix:" + metrics, after=300)
    first = serving(srv, 2)
    under_load(srv, seconds=6)
    log = srv.stderr()
    replaced = [int(p) for p in re.findall(MEMORY_LINE, log)]
    assert replaced and set(replaced) <= set(booting_pids(log)), log
    assert set(first) & set(replaced), log
    assert_successor_first(log, replaced[0])
    assert wait_until(lambda: scrape(metrics)[
        'unixcorn_worker_restarts_total{reason="memory"}'] >= len(replaced)), log
    values = scrape(metrics)
    for reason in ("crash", "timeout", "max_requests", "lifetime"):
        assert values['unixcorn_worker_restarts_total{reason="%s"}' % reason] == 0, values
    serving(srv, 2)
    assert srv.stop() == 0, srv.stderr()


@pytest.mark.parametrize("beats", [1, 4], ids=["spike", "just-under"])
def test_fewer_heartbeats_over_the_limit_do_not_count(spawn, idle_rss, beats):
    """Five heartbeats in a row over the limit replace a worker (the test above):
    one, or four, do not."""
    srv = start_grower(spawn, idle_rss, beats=beats)
    worker = srv.worker_pid()
    log_search(srv, r"\[%d\] \[INFO\] UNIXCORN_DEBUG_GROW_MIB: let go of" % worker)
    echo_unix(srv.sock, b"still here\n")
    assert not wait_until(lambda: "over --max-worker-memory" in srv.stderr(), timeout=2)
    assert srv.worker_pids() == [worker]
    assert srv.stop() == 0, srv.stderr()


def test_lifetimes_are_staggered_under_load(spawn, workdir):
    metrics = os.path.join(workdir, "metrics.sock")
    srv = spawn("lifetime", "--workers", "3", "--max-worker-lifetime", "2",
                "--max-worker-lifetime-jitter", "2", "--metrics-bind", "unix:" + metrics)
    first = serving(srv, 3)
    under_load(srv, seconds=8)
    log = srv.stderr()
    lines = list(re.finditer(LIFETIME_LINE, log))
    assert len(lines) >= 3, log
    assert set(first) <= {int(m.group(1)) for m in lines}, log
    # The jitter spreads the lifetimes...
    assert len({m.group(2) for m in lines[:3]}) > 1, log
    # ...and one replacement at a time: each successor is up before the next
    # worker is replaced.
    for a, b in zip(lines, lines[1:]):
        assert re.search(r"Booting worker with pid: \d+", log[a.end():b.start()]), log
    for m in lines[:3]:  # well before the end of the run
        assert_successor_first(log, int(m.group(1)))
    values = scrape(metrics)
    assert values['unixcorn_worker_restarts_total{reason="lifetime"}'] >= len(lines), values
    assert values['unixcorn_worker_restarts_total{reason="memory"}'] == 0, values
    assert len(workers_of(srv)) in (3, 4)  # 4 while one is being replaced
    assert srv.stop() == 0, srv.stderr()
