"""Signals to the master: graceful SIGTERM with a request in flight, quick
SIGINT/SIGQUIT, idle keep-alive connections closed within --keepalive, a
request on one during the stop answered with Connection: close,
--graceful-timeout cutting a stuck request, SIGPIPE ignored, and EMFILE on
accept not turning into a busy loop."""

import os
import re
import resource
import signal
import socket
import time

import pytest

from conftest import Reader, request_bytes
from uc_testlib import (can_connect_unix, cpu_seconds, echo_on, echo_tcp, echo_unix,
                        log_search, queued_at, queued_at_port, start_tcp, tcp_connect,
                        unix_connect, wait_taken, wait_until)

QUICK = [pytest.param(signal.SIGINT, id="INT"), pytest.param(signal.SIGQUIT, id="QUIT")]


class Target:
    """A server plus how to reach it, for unix or TCP."""

    def __init__(self, start_server, transport, *args):
        self.transport = transport
        if transport == "unix":
            self.srv = start_server(*args)
            self.port = None
        else:
            self.srv, self.port = start_tcp(start_server, "127.0.0.1", *args)

    def connect(self, timeout=10.0):
        if self.transport == "unix":
            return unix_connect(self.srv.sock, timeout)
        return tcp_connect("127.0.0.1", self.port, timeout)

    def echo(self, body=b"ping\n"):
        if self.transport == "unix":
            return echo_unix(self.srv.sock, body)
        return echo_tcp("127.0.0.1", self.port, body)

    def unread(self):
        """Connections and bytes the server has not accepted or read yet."""
        if self.transport == "unix":
            return queued_at(self.srv.sock)
        return queued_at_port(self.port)

    def refuses(self):
        """True once a new connection can no longer be made."""
        if self.transport == "unix" and os.path.lexists(self.srv.sock):
            return False
        try:
            self.connect(timeout=2).close()
            return False
        except (ConnectionRefusedError, FileNotFoundError):
            return True
        except OSError:
            return True


TRANSPORTS = ["unix", "tcp"]


def _partial_request(body, sent):
    head = request_bytes("POST", "/inflight", body)[:-len(body)]
    return head + body[:sent]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_inflight_request_completes_after_term(start_server, transport):
    sig = signal.SIGTERM
    t = Target(start_server, transport)
    srv = t.srv
    body = os.urandom(4000) + b"\r\n0\r\n\r\n"
    half = len(body) // 2
    c = t.connect()
    c.sendall(_partial_request(body, half))
    wait_taken(t.unread, "the head and the first half")

    srv.signal(sig)
    if transport == "unix":
        assert wait_until(lambda: not os.path.lexists(srv.sock), timeout=5), \
            "socket file not removed after signal"
    assert wait_until(t.refuses, timeout=5), "still accepting new connections"
    assert srv.proc.poll() is None, "exited with a request in flight:\n" + srv.stderr()

    # keep sending slowly
    rest = body[half:]
    step = len(rest) // 4 + 1
    for i in range(0, len(rest), step):
        c.sendall(rest[i:i + step])
        time.sleep(0.1)
    resp = Reader(c).response()
    assert resp.status == 200
    assert resp.body == body
    assert srv.wait(timeout=10) == 0, srv.stderr()
    c.close()
    if transport == "unix":
        assert not os.path.lexists(srv.sock)


@pytest.mark.parametrize("sig", QUICK)
def test_quick_stop_cuts_inflight_requests(start_server, sig):
    srv = start_server("--graceful-timeout", "30")
    c = unix_connect(srv.sock)
    c.sendall(_partial_request(b"x" * 1000, 100))
    wait_taken(lambda: queued_at(srv.sock))  # in flight, not in the listen queue
    srv.signal(sig)
    assert srv.wait(timeout=5) == 0, srv.stderr()
    assert not os.path.lexists(srv.sock)
    assert Reader(c).closed(timeout=5)
    c.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_idle_keepalive_connections_close_within_keepalive(start_server, transport):
    """Closing an idle kept-alive connection at once could race a request the
    proxy is just sending on it: a stopping worker waits out --keepalive,
    answering any request that comes with Connection: close."""
    # --keepalive is the time the test has, from busy's first answer, to stop
    # the server and send on busy again.
    t = Target(start_server, transport, "--keepalive", "4", "--graceful-timeout", "30")
    srv = t.srv
    idle, busy = t.connect(), t.connect()
    for c in (idle, busy):
        resp = echo_on(c, b"one\n")
        assert (resp.header("connection") or "").lower() != "close"
    t0 = time.monotonic()
    srv.signal(signal.SIGTERM)
    # The request below must come once the worker is stopping, not before.
    log_search(srv, r"\[INFO\] Worker stopping \(term\)")
    assert srv.proc.poll() is None
    resp = echo_on(busy, b"during the stop\n")
    assert resp.status == 200 and resp.body == b"during the stop\n"
    assert resp.header("connection", "").lower() == "close"
    assert Reader(busy).closed(timeout=5)
    assert Reader(idle).closed(timeout=8), "the idle connection was not closed"
    assert srv.wait(timeout=10) == 0, srv.stderr()
    assert time.monotonic() - t0 < 10
    for c in (idle, busy):
        c.close()


@pytest.mark.parametrize("grace", ["1", "0.5"])
def test_graceful_timeout_cuts_stuck_request(start_server, grace):
    sig = signal.SIGTERM
    srv = start_server("--graceful-timeout", grace, "--read-timeout", "60",
                       "--header-timeout", "60")
    body = b"x" * 1000
    c = unix_connect(srv.sock)
    c.sendall(_partial_request(body, 100))  # and never the rest
    wait_taken(lambda: queued_at(srv.sock))  # in flight, not in the listen queue
    t0 = time.monotonic()
    srv.signal(sig)
    assert wait_until(lambda: not os.path.lexists(srv.sock), timeout=5)
    # It waits out the grace for the request in flight, counted from the
    # signal: a lower bound that a slow machine only makes longer (less a
    # little for timers that count whole milliseconds).
    assert srv.wait(timeout=10) == 0, srv.stderr()
    waited = time.monotonic() - t0
    assert waited >= float(grace) - 0.02, \
        "did not wait for the in-flight request (%.2f s):\n%s" % (waited, srv.stderr())
    assert not os.path.lexists(srv.sock)
    c.settimeout(5)
    try:
        data = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    assert not data.startswith(b"HTTP/1.1 200"), data[:200]
    c.close()


def _abandon(c, raw, how):
    """Send raw (blocking at most ~2 s if the server pushes back), then walk away
    without reading the response.  "shut-rd" first shuts down our read side and
    drains what is queued, so the server's next write of the echo fails with EPIPE
    (which raises SIGPIPE unless the server ignores it or uses MSG_NOSIGNAL)."""
    c.settimeout(2)
    try:
        c.sendall(raw)
    except socket.timeout:
        pass  # echo-stream with backpressure: we never read, fine
    if how == "shut-rd":
        c.shutdown(socket.SHUT_RD)
        try:
            while c.recv(1 << 20):
                pass
        except OSError:
            pass
    else:
        time.sleep(0.3)  # let the server start writing the echo
    c.close()


@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "echo-stream"])
@pytest.mark.parametrize("transport,how", [("unix", "close"), ("unix", "shut-rd"),
                                           ("tcp", "close")])
def test_sigpipe_ignored(start_server, transport, how, stream):
    t = Target(start_server, transport, *(["--echo-stream"] if stream else []))
    srv = t.srv
    raw = request_bytes("POST", "/big", os.urandom(1 << 20))
    for _ in range(3):
        _abandon(t.connect(), raw, how)
        time.sleep(0.2)
        assert srv.proc.poll() is None, \
            "server died (rc %r):\n%s" % (srv.proc.returncode, srv.stderr())
        t.echo(b"next\n")
    assert srv.stop() == 0, srv.stderr()


def test_emfile_on_accept_no_busy_loop(start_server):
    srv = start_server("--header-timeout", "60", "--keepalive", "60", "--read-timeout", "60")
    echo_unix(srv.sock)
    resource.prlimit(srv.worker_pid(), resource.RLIMIT_NOFILE, (32, 32))
    conns = []
    try:
        for _ in range(40):
            conns.append(unix_connect(srv.sock, timeout=5))
        # Out of fds from here on (the worker's own words for it).
        log_search(srv, r"\[WARNING\] accept\(\): .*pausing accepts", timeout=10)
        assert srv.proc.poll() is None, srv.stderr()
        t0 = cpu_seconds(srv.worker_pid())
        time.sleep(2)
        used = cpu_seconds(srv.worker_pid()) - t0
        assert srv.proc.poll() is None, srv.stderr()
        assert used < 0.5, "server burnt %.2fs CPU in 2s with fds exhausted" % used
        assert re.search(r"too many open files|EMFILE|file descriptor|fd limit|open files",
                         srv.stderr(), re.I), srv.stderr()
    finally:
        for c in conns:
            c.close()
    # once the idle connections are gone, a new request is served
    c = unix_connect(srv.sock, timeout=10)
    try:
        echo_on(c, b"after emfile\n", timeout=10)
    finally:
        c.close()
    assert srv.stop() == 0, srv.stderr()
