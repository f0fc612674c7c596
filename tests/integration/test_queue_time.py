"""Queue time (#15): the bundled nginx config stamps every request with
X-Request-Start: t=${msec}; unixcorn measures from it how long each request
waited (unixcorn_request_queue_seconds, queue= in the access log), and
--max-queue-time answers 503 at once to what waited longer, without running
the application. A stamp that is malformed, in the future or absurdly old, or
that comes from a peer outside --forwarded-allow-ips, is ignored and counted,
never an error: each has a test. Real nginx, real processes."""

import os
import re
import signal
import subprocess
import time

import pytest

from conftest import Reader, request_bytes
from test_nginx import NGINX, Nginx
from uc_testlib import queued_at, scrape, start_tcp, tcp_connect, wait_until, workers_of

QUEUE_COUNT = "unixcorn_request_queue_seconds_count"
SHED = "unixcorn_requests_shed_total"
IGNORED = 'unixcorn_request_start_ignored_total{reason="%s"}'
REASONS = ("malformed", "future", "too_old", "untrusted")

needs_nginx = pytest.mark.skipif(not os.path.exists(NGINX), reason="nginx is not installed")


def start(start_server, workdir, *args):
    metrics = os.path.join(workdir, "metrics.sock")
    return start_server("--metrics-bind", "unix:" + metrics, *args), metrics


def post(sock, stamp, body=b"hello"):
    """A POST with X-Request-Start: stamp on a new connection; the Response."""
    try:
        sock.sendall(request_bytes("POST", "/q", body, {"X-Request-Start": stamp}))
        return Reader(sock).response()
    finally:
        sock.close()


def settled(metrics, key, value):
    """The scrape once key has reached value (counters come with heartbeats)."""
    got = wait_until(lambda: (lambda m: m[key] == value and m)(scrape(metrics)), 5)
    assert got, "%s never reached %s: %r" % (key, value, scrape(metrics))
    return got


def curl_via(proxy, *args, timeout=30):
    return subprocess.run(["curl", "-sS", "--max-time", str(timeout), "-D", "-", *args,
                           proxy.url], capture_output=True, timeout=timeout + 10)


@pytest.fixture
def proxied(workdir, start_server):
    """(app, metrics socket, nginx): the shipped nginx config in front."""
    def make(*args):
        os.chmod(workdir, 0o755)  # nginx's workers run as nobody when started as root
        access_log = os.path.join(workdir, "access.log")
        app, metrics = start(start_server, workdir, "--access-logfile", access_log, *args)
        app.access_log = access_log
        proxies.append(Nginx(workdir, app.sock))
        return app, metrics, proxies[-1]
    proxies = []
    yield make
    for p in proxies:
        p.stop()


@needs_nginx
def test_nginx_stamps_every_request(proxied):
    app, metrics, proxy = proxied()
    for i in range(5):
        # What a client sends as X-Request-Start is replaced by nginx's own.
        r = curl_via(proxy, "-H", "X-Request-Start: t=1", "-d", "q%d" % i)
        assert r.stdout.startswith(b"HTTP/1.1 200 "), r
    m = settled(metrics, QUEUE_COUNT, 5)
    assert all(m[IGNORED % k] == 0 for k in REASONS), m
    assert m['unixcorn_request_queue_seconds_bucket{le="+Inf"}'] == 5
    assert 0 <= m["unixcorn_request_queue_seconds_sum"] < 5 * 3600
    assert m["unixcorn_request_duration_seconds_count"] == 5
    assert m[SHED] == 0

    def logged():
        with open(app.access_log) as f:
            return [l for l in f.read().splitlines() if "POST / HTTP/1.1" in l]
    lines = wait_until(lambda: len(logged()) == 5 and logged())
    assert lines and all(re.search(r" queue=\d+\.\d{6}$", l) for l in lines), lines


@needs_nginx
def test_request_that_waited_too_long_behind_nginx_is_shed(proxied):
    """The worker is stopped (SIGSTOP) while nginx hands it a request: the
    request waits in the socket longer than --max-queue-time, and the worker,
    once it goes on, answers it 503 without running the application."""
    app, metrics, proxy = proxied("--max-queue-time", "0.5")
    assert curl_via(proxy, "-d", "warm").stdout.startswith(b"HTTP/1.1 200 ")
    (worker,) = workers_of(app)
    os.kill(worker, signal.SIGSTOP)
    try:
        waiting = subprocess.Popen(["curl", "-sS", "--max-time", "30", "-D", "-",
                                    "-d", "late", proxy.url], stdout=subprocess.PIPE)
        # nginx stamps the request before it writes it to the socket; counting
        # from the moment it is there keeps a slow curl start out of the wait.
        assert wait_until(lambda: queued_at(app.sock) > 0, 20), "nginx never forwarded it"
        time.sleep(1.0)  # twice --max-queue-time, in the socket
    finally:
        os.kill(worker, signal.SIGCONT)
    out, _ = waiting.communicate(timeout=30)
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 "), out
    assert b"\r\nRetry-After: 1" in head, head
    assert b"--max-queue-time" in body and b"late" not in body, body
    assert curl_via(proxy, "-d", "fresh").stdout.endswith(b"\r\n\r\nfresh")
    m = settled(metrics, SHED, 1)
    assert m['unixcorn_requests_total{status="5xx"}'] == 1
    assert m['unixcorn_requests_total{status="2xx"}'] == 2
    assert m[QUEUE_COUNT] == 3


def test_shed_on_the_socket_without_running_the_app(start_server, workdir):
    srv, metrics = start(start_server, workdir, "--max-queue-time", "2")
    resp = post(srv.connect(), "t=%.3f" % (time.time() - 10))
    assert resp.status == 503 and resp.header("retry-after") == "1"
    assert resp.header("connection") == "close"
    assert b"hello" not in resp.body
    resp = post(srv.connect(), "t=%.3f" % time.time())
    assert resp.status == 200 and resp.body == b"hello"
    m = settled(metrics, SHED, 1)
    assert m[QUEUE_COUNT] == 2 and m['unixcorn_requests_total{status="5xx"}'] == 1
    assert "[ERROR]" not in srv.stderr()


STAMPS = {
    "malformed": lambda now: "t=yesterday",
    "future": lambda now: "t=%.3f" % (now + 3600),
    "too_old": lambda now: "t=%.3f" % (now - 2 * 86400),
}


@pytest.mark.parametrize("kind", sorted(STAMPS))
def test_a_stamp_that_cannot_be_believed_is_ignored(start_server, workdir, kind):
    """Served as if it had none: not measured, never shed, no error."""
    srv, metrics = start(start_server, workdir, "--max-queue-time", "0.001")
    resp = post(srv.connect(), STAMPS[kind](time.time()))
    assert resp.status == 200 and resp.body == b"hello"
    m = settled(metrics, IGNORED % kind, 1)
    assert all(m[IGNORED % k] == 0 for k in REASONS if k != kind), m
    assert m[QUEUE_COUNT] == 0 and m[SHED] == 0
    assert m["unixcorn_request_duration_seconds_count"] == 1
    assert not re.search(r"\[(WARNING|ERROR)\]", srv.stderr()), srv.stderr()


@pytest.mark.parametrize("trusted", [True, False], ids=["trusted", "untrusted"])
def test_only_trusted_peers_stamps_are_believed(start_server, workdir, trusted):
    """Over TCP, the --forwarded-allow-ips rules decide, as for X-Forwarded-For."""
    metrics = os.path.join(workdir, "metrics.sock")
    allow = "127.0.0.1" if trusted else "192.0.2.1"
    srv, port = start_tcp(start_server, "127.0.0.1", "--metrics-bind", "unix:" + metrics,
                          "--forwarded-allow-ips", allow, "--max-queue-time", "1")
    resp = post(tcp_connect("127.0.0.1", port), "t=%.3f" % (time.time() - 60))
    if trusted:
        assert resp.status == 503
        m = settled(metrics, SHED, 1)
        assert m[QUEUE_COUNT] == 1 and m[IGNORED % "untrusted"] == 0
    else:
        assert resp.status == 200 and resp.body == b"hello"
        m = settled(metrics, IGNORED % "untrusted", 1)
        assert m[QUEUE_COUNT] == 0 and m[SHED] == 0
