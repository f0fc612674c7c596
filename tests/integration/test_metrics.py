"""--metrics-bind: Prometheus text, summed over the workers by the master and
served by its metrics process, scraped under load; the counters must add up to
what the clients did. test_metrics_process.py covers the process that serves
them."""

import os
import re
import subprocess
import threading
import time

from conftest import Reader
from uc_testlib import scrape, scrape_response, scrape_when

# A histogram's series, for its name as a prefix: buckets from 100 µs to 30 s.
BUCKETS = ("0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
           "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "+Inf")
HISTOGRAM_SERIES = ['_bucket{le="%s"}' % b for b in BUCKETS] + ["_sum", "_count"]

# Every family the endpoint serves, with the series each always has.
FAMILIES = {
    "unixcorn_requests_total": ("counter", ['{status="%dxx"}' % c for c in range(1, 6)]),
    "unixcorn_received_bytes_total": ("counter", [""]),
    "unixcorn_sent_bytes_total": ("counter", [""]),
    "unixcorn_requests_in_flight": ("gauge", [""]),
    "unixcorn_connections": ("gauge", [""]),
    "unixcorn_workers": ("gauge", ['{state="busy"}', '{state="idle"}']),
    "unixcorn_worker_restarts_total": (
        "counter", ['{reason="%s"}' % r for r in ("crash", "timeout", "max_requests",
                                                  "memory", "lifetime", "signal")]),
    "unixcorn_listen_queue_length": ("gauge", []),
    "unixcorn_listen_queue_max": ("gauge", []),
    "unixcorn_request_queue_seconds": ("histogram", HISTOGRAM_SERIES),
    "unixcorn_request_duration_seconds": ("histogram", HISTOGRAM_SERIES),
    "unixcorn_requests_shed_total": ("counter", [""]),
    "unixcorn_request_start_ignored_total": (
        "counter", ['{reason="%s"}' % r for r in ("malformed", "future", "too_old",
                                                  "untrusted")]),
    "unixcorn_draining": ("gauge", [""]),
}


def h2load(sock, n, body):
    out = subprocess.run(["h2load", "--h1", "-B", "unix:" + sock, "-n", str(n), "-c", "10",
                          "-t", "1", "-d", body, "http://localhost/"],
                         capture_output=True, text=True, timeout=120)
    m = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored", out.stdout)
    assert m, out.stdout + out.stderr
    return int(m.group(3)), int(m.group(4)) + int(m.group(5))


def test_every_metric_is_served(start_server, workdir):
    metrics = os.path.join(workdir, "metrics.sock")
    srv = start_server("--workers", "2", "--metrics-bind", "unix:" + metrics)
    text = scrape_response(metrics).body.decode()
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    assert types == {name: kind for name, (kind, _) in FAMILIES.items()}, text
    assert set(re.findall(r"^# HELP (\S+) ", text, re.M)) == set(FAMILIES)
    values = scrape(metrics)
    for name, (_, series) in FAMILIES.items():
        for labels in series:
            assert name + labels in values, (name + labels, text)
    for name in ("unixcorn_listen_queue_length", "unixcorn_listen_queue_max"):
        assert '%s{listener="unix:%s"}' % (name, srv.sock) in values, text


def test_metrics_add_up_under_load(start_server, workdir):
    metrics = os.path.join(workdir, "metrics.sock")
    srv = start_server("--workers", "3", "--metrics-bind", "unix:" + metrics)
    body = os.path.join(workdir, "body")
    with open(body, "wb") as f:
        f.write(os.urandom(64))
    before = scrape(metrics)
    assert before['unixcorn_requests_total{status="2xx"}'] == 0
    assert before['unixcorn_workers{state="idle"}'] == 3
    assert before['unixcorn_listen_queue_max{listener="unix:%s"}' % srv.sock] == 2048

    during = []
    done = threading.Event()

    def scraper():
        while not done.is_set():
            during.append(scrape(metrics))
            time.sleep(0.05)

    t = threading.Thread(target=scraper)
    t.start()
    try:
        ok, failed = h2load(srv.sock, 6000, body)
    finally:
        done.set()
        t.join(10)
    assert (ok, failed) == (6000, 0)
    assert during, "no scrape completed during the load"
    # Counters never go backwards between scrapes.
    series = [d['unixcorn_requests_total{status="2xx"}'] for d in during]
    assert series == sorted(series)

    after = scrape_when(metrics, lambda m: m['unixcorn_requests_total{status="2xx"}'] == 6000
                        and m["unixcorn_requests_in_flight"] == 0
                        and m["unixcorn_connections"] == 0)
    assert after['unixcorn_requests_total{status="2xx"}'] == 6000
    assert after['unixcorn_requests_total{status="4xx"}'] == 0
    assert after["unixcorn_received_bytes_total"] >= 6000 * 64
    assert after["unixcorn_sent_bytes_total"] >= 6000 * 64
    assert after["unixcorn_requests_in_flight"] == 0
    assert after["unixcorn_connections"] == 0
    assert after['unixcorn_workers{state="idle"}'] + after['unixcorn_workers{state="busy"}'] == 3
    assert after['unixcorn_listen_queue_length{listener="unix:%s"}' % srv.sock] == 0


def test_counters_survive_a_worker_restart_and_count_it(start_server, workdir):
    metrics = os.path.join(workdir, "metrics.sock")
    srv = start_server("--metrics-bind", "unix:" + metrics, "--max-requests", "10")
    for i in range(25):
        s = srv.connect()
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx")
        assert Reader(s).response().status == 200
        s.close()
    # The second worker's exit is counted when the master sees it, which may
    # be after the third worker's answers are: wait for both.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        m = scrape(metrics)
        if (m['unixcorn_requests_total{status="2xx"}'] == 25 and
                m['unixcorn_worker_restarts_total{reason="max_requests"}'] >= 2):
            break
        time.sleep(0.1)
    assert m['unixcorn_requests_total{status="2xx"}'] == 25, srv.stderr()
    assert m['unixcorn_worker_restarts_total{reason="max_requests"}'] >= 2, srv.stderr()


def test_queue_length_shows_waiting_connections(start_server, workdir):
    """With every worker at --worker-connections, new clients wait in the
    listen queue, and the metric shows them: what nginx would report as
    '(11: Resource temporarily unavailable)' once the queue is full."""
    metrics = os.path.join(workdir, "metrics.sock")
    srv = start_server("--metrics-bind", "unix:" + metrics, "--worker-connections", "2",
                       "--header-timeout", "30")
    held = [srv.connect() for _ in range(2)]
    time.sleep(0.3)
    waiting = [srv.connect() for _ in range(3)]
    deadline = time.monotonic() + 5
    key = 'unixcorn_listen_queue_length{listener="unix:%s"}' % srv.sock
    while time.monotonic() < deadline and scrape(metrics)[key] != 3:
        time.sleep(0.1)
    assert scrape(metrics)[key] == 3
    for s in held + waiting:
        s.close()
