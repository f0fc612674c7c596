"""Health and draining (#15): GET /healthz on the metrics address (200
serving, 503 draining or with no worker alive), --shutdown-delay (after TERM
the server serves on while /healthz says 503, then stops gracefully; a second
TERM or INT cuts it short; systemd hears STOPPING=1 at its start), and worker
restarts counted by why they happened. Real processes; test_rolling.py does a
rolling replacement through nginx."""

import os
import re
import signal
import time

import pytest

from conftest import Reader
from test_apps import app
from test_process_model_ops import notify  # noqa: F401  (a fixture)
from uc_testlib import (echo_on, echo_unix, log_search, scrape, unix_connect, wait_until,
                        workers_of)

RESTARTS = 'unixcorn_worker_restarts_total{reason="%s"}'


def start(start_server, workdir, *args, env=None):
    metrics = os.path.join(workdir, "metrics.sock")
    return start_server("--metrics-bind", "unix:" + metrics, *args, env=env), metrics


def healthz(path, method="GET"):
    """(status, body) of /healthz on the Unix socket at path."""
    s = unix_connect(path)
    try:
        s.sendall(b"%s /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                  % method.encode())
        r = Reader(s).response(head_request=method == "HEAD")
        return r.status, r.body.decode()
    finally:
        s.close()


def test_healthz_says_serving_and_is_not_on_the_app_socket(start_server, workdir):
    srv, metrics = start(start_server, workdir, "--workers", "2")
    assert healthz(metrics) == (200, "serving: 2 workers\n")
    # On the app's socket the app owns /healthz: here the echo answers it.
    s = srv.connect()
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    r = Reader(s).response()
    s.close()
    assert r.status == 200 and r.body == b""
    # Any other path on the metrics address is still the metrics text.
    assert "unixcorn_draining" in scrape(metrics)


def test_healthz_503_while_no_worker_is_alive(start_server, workdir):
    srv, metrics = start(start_server, workdir)
    srv.signal(signal.SIGWINCH)  # no controlling terminal: every worker stops
    assert wait_until(lambda: healthz(metrics) == (503, "down: no worker alive\n"), 5)
    srv.signal(signal.SIGTTIN)
    assert wait_until(lambda: healthz(metrics) == (200, "serving: 1 worker\n"), 5)
    assert srv.stop() == 0, srv.stderr()


def test_shutdown_delay_serves_on_while_healthz_says_draining(start_server, workdir,
                                                              notify):
    # Long enough for the checks below to all fall within it on a loaded
    # machine, and longer than notify()'s wait for STOPPING=1.
    srv, metrics = start(start_server, workdir, "--shutdown-delay", "6", env=notify.env)
    assert notify() == "READY=1"
    kept = unix_connect(srv.sock)
    echo_on(kept, b"before\n")
    srv.signal(signal.SIGTERM)
    assert notify() == "STOPPING=1"  # at once, not after the delay
    log_search(srv, r"\[INFO\] Draining for 6\.0 s \(--shutdown-delay\)")
    status, body = healthz(metrics)
    assert (status, body.split(":")[0]) == (503, "draining"), body
    assert scrape(metrics)["unixcorn_draining"] == 1
    # Serving as usual: the socket is there, new connections are taken, and
    # a kept-alive one stays alive.
    assert os.path.exists(srv.sock)
    echo_unix(srv.sock, b"new connection while draining\n")
    resp = echo_on(kept, b"kept-alive connection while draining\n")
    assert (resp.header("connection") or "").lower() != "close"
    kept.close()
    assert srv.wait(timeout=20) == 0, srv.stderr()
    assert not os.path.exists(srv.sock)
    log = srv.stderr()
    phases = ["Handling signal: term", "Draining for 6.0 s", "Shutdown delay over",
              "Stopping (graceful)", "Shutting down: Master"]
    at = [log.find(p) for p in phases]
    assert -1 not in at and at == sorted(at), log
    assert notify(timeout=0.5) is None  # STOPPING=1 once


@pytest.mark.parametrize("second", ["TERM", "INT"])
def test_a_second_term_or_int_cuts_the_delay_short(start_server, workdir, second):
    srv, metrics = start(start_server, workdir, "--shutdown-delay", "600")
    srv.signal(signal.SIGTERM)
    log_search(srv, r"Draining for 600\.0 s")
    srv.signal(getattr(signal, "SIG" + second))
    assert srv.wait(timeout=15) == 0, srv.stderr()  # not ten minutes
    log = srv.stderr()
    if second == "TERM":
        assert re.search(r"TERM again: skipping the rest of the shutdown delay", log), log
        assert "Stopping (graceful)" in log
    else:
        assert "Stopping (quick)" in log
    assert "Shutdown delay over" not in log


def test_orders_wait_while_draining(start_server, workdir):
    """HUP, TTIN and the like are for a server that is staying."""
    srv, metrics = start(start_server, workdir, "--shutdown-delay", "600")
    before = workers_of(srv)
    srv.signal(signal.SIGTERM)
    log_search(srv, r"Draining for 600\.0 s")
    srv.signal(signal.SIGHUP)
    srv.signal(signal.SIGTTIN)
    log_search(srv, r"Ignoring hup while draining")
    log_search(srv, r"Ignoring ttin while draining")
    assert workers_of(srv) == before
    assert srv.stop(signal.SIGINT) == 0


def test_no_delay_without_the_flag(start_server, workdir, notify):
    srv, metrics = start(start_server, workdir, env=notify.env)
    assert notify() == "READY=1"
    srv.signal(signal.SIGTERM)
    assert notify() == "STOPPING=1"
    assert srv.wait(timeout=15) == 0
    assert "Draining" not in srv.stderr()
    assert notify(timeout=0.5) is None


def restarts(metrics, reason, n):
    got = wait_until(lambda: scrape(metrics)[RESTARTS % reason] == n, 5)
    assert got, scrape(metrics)


def test_restarts_are_counted_by_reason(start_server, workdir):
    """KILL (the OOM killer, an operator) and a TERM that the master did not
    send are "signal"; a worker stuck past --timeout is "timeout"."""
    srv, metrics = start(start_server, workdir, "--timeout", "1",
                         env={"UNIXCORN_DEBUG_STALL_PATH": "/stall"})
    for n, sig in enumerate((signal.SIGKILL, signal.SIGTERM), 1):
        (worker,) = workers_of(srv)
        os.kill(worker, sig)
        restarts(metrics, "signal", n)
        assert wait_until(lambda: len(workers_of(srv)) == 1 and workers_of(srv) != [worker])
    echo_unix(srv.sock)
    s = srv.connect()
    s.sendall(b"GET /stall HTTP/1.1\r\nHost: x\r\n\r\n")
    restarts(metrics, "timeout", 1)
    s.close()
    m = scrape(metrics)
    assert m[RESTARTS % "crash"] == m[RESTARTS % "max_requests"] == 0, m


def test_a_crash_is_counted_as_one(start_server, workdir):
    srv, metrics = start(start_server, workdir, app("crash_event"))
    s = srv.connect()
    s.sendall(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n")
    assert Reader(s).closed(timeout=10)
    s.close()
    restarts(metrics, "crash", 1)
    assert scrape(metrics)[RESTARTS % "signal"] == 0
