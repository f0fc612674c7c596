"""--header-timeout, --keepalive and --read-timeout, with small fractional values and
generous waits. Only upper bounds on time are asserted (via socket timeouts)."""

import os
import select
import time

import pytest

from conftest import Reader, request_bytes
from echo_util import (MODES, VALID_GET, KiB, MiB, conn_tokens, drain_until_close, head,
                       mode_params, send_until_stalled)

LONG = "30"


def timeouts(header=LONG, keepalive=LONG, read=LONG):
    return ("--header-timeout", header, "--keepalive", keepalive, "--read-timeout", read)


def assert_408_or_nothing_then_closed(sock, what):
    data, closed = drain_until_close(sock, 5.0)
    assert closed, "%s: connection still open after 5 s (got %r)" % (what, data[:200])
    assert data == b"" or data.startswith(b"HTTP/1.1 408 "), (
        "%s: expected a 408 or nothing before close, got %r" % (what, data[:300]))


def assert_still_serves(srv):
    s = srv.connect(5.0)
    body = os.urandom(100)
    s.sendall(request_bytes("POST", "/", body))
    r = Reader(s).response()
    assert (r.status, r.body) == (200, body)


# --- --header-timeout ------------------------------------------------------------------

@pytest.mark.parametrize("partial", [
    b"GET / HTTP/1.1\r\nHost: x\r\n",
    b"GET / HTT",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r",
], ids=["fields", "request_line", "final_cr"])
def test_partial_head_gets_408(start_server, partial):
    srv = start_server(*timeouts(header="0.5"))
    s = srv.connect(5.0)
    s.sendall(partial)
    rd = Reader(s)
    r = rd.response()
    assert r.status == 408
    assert "close" in conn_tokens(r)
    assert rd.closed(5.0)
    assert_still_serves(srv)


def test_silent_fresh_connection_closed_by_header_timeout(start_server):
    srv = start_server(*timeouts(header="0.5"))
    s = srv.connect(5.0)
    assert_408_or_nothing_then_closed(s, "connection that never sent a byte")
    assert_still_serves(srv)


def test_header_timeout_covers_whole_head_not_stalls(start_server):
    """One byte every 0.1 s never stalls, yet a 40-byte head cannot finish in 1 s."""
    srv = start_server(*timeouts(header="1"))
    raw = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: 0123\r\n\r\n"
    assert len(raw) == 40
    s = srv.connect(5.0)
    sent = 0
    for b in raw:
        s.sendall(bytes([b]))
        sent += 1
        if select.select([s], [], [], 0.1)[0]:
            break
    assert sent < len(raw), "the whole trickled head was accepted (no header timeout)"
    rd = Reader(s)
    r = rd.response()
    assert r.status == 408, "after %d of %d head bytes" % (sent, len(raw))
    assert rd.closed(5.0)


def test_head_in_pieces_within_header_timeout_is_served(start_server):
    srv = start_server(*timeouts(header="2"))
    s = srv.connect(5.0)
    for piece in (b"GET / HT", b"TP/1.1\r\nHo", b"st: x\r\n", b"\r\n"):
        s.sendall(piece)
        time.sleep(0.2)
    assert Reader(s).response().status == 200


def test_second_head_stalls_on_kept_alive_connection(start_server):
    srv = start_server(*timeouts(header="0.5"))
    s = srv.connect(5.0)
    rd = Reader(s)
    s.sendall(VALID_GET)
    assert rd.response().status == 200
    s.sendall(b"GET / HTTP/1.1\r\nHo")
    r = rd.response()
    assert r.status == 408
    assert rd.closed(5.0)


# --- --keepalive ----------------------------------------------------------------------

@mode_params
def test_idle_keepalive_closed_silently(start_server, mode):
    srv = start_server(*(timeouts(keepalive="0.5") + MODES[mode]))
    s = srv.connect(5.0)
    rd = Reader(s)
    body = os.urandom(1000)
    s.sendall(request_bytes("POST", "/", body))
    assert rd.response().body == body
    data, closed = drain_until_close(s, 5.0)
    assert closed, "idle kept-alive connection still open after 5 s"
    assert data == b"", "idle close must be silent, got %r" % data[:300]
    assert_still_serves(srv)


def test_keepalive_allows_idle_shorter_than_timeout(start_server):
    srv = start_server(*timeouts(keepalive="2"))
    s = srv.connect(5.0)
    rd = Reader(s)
    for _ in range(3):
        s.sendall(VALID_GET)
        assert rd.response().status == 200
        time.sleep(0.3)


# --- --read-timeout --------------------------------------------------------------------

@mode_params
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_body_stall_closes_connection(start_server, mode, framing):
    srv = start_server(*(timeouts(read="0.5") + MODES[mode]))
    s = srv.connect(5.0)
    framing_header = {"chunked": ("Transfer-Encoding", "chunked"),
                      "content-length": ("Content-Length", "1024")}[framing]
    prefix = b"400\r\n" if framing == "chunked" else b""  # a 1024-byte chunk
    s.sendall(head("POST", "/", [("Host", "x"), framing_header]) + prefix + os.urandom(500))
    data, closed = drain_until_close(s, 5.0)
    assert closed, "stalled body: connection still open after 5 s (got %r)" % data[:200]
    if mode == "default":
        assert data == b"" or data.startswith(b"HTTP/1.1 408 "), data[:300]
    else:  # the echo may have started; the response must not claim completion
        assert not data.endswith(b"\r\n0\r\n\r\n"), "stalled stream echo ended cleanly"
    assert_still_serves(srv)


@mode_params
def test_slow_steady_body_completes(start_server, mode):
    srv = start_server(*(timeouts(header="0.5", read="0.5") + MODES[mode]))
    body = os.urandom(20)
    s = srv.connect(5.0)
    s.sendall(request_bytes("POST", "/", body)[:-len(body)])
    # ~2 s in all, four times the read timeout, never a 0.5 s stall: a byte
    # every 0.1 s leaves a loaded machine 0.4 s to get each one there.
    for b in body:
        time.sleep(0.1)
        s.sendall(bytes([b]))
    r = Reader(s).response()
    assert (r.status, r.body) == (200, body)


@mode_params
def test_response_write_stall_closes_connection(start_server, mode):
    """A client that stops reading a large response is dropped after --read-timeout."""
    srv = start_server(*(timeouts(read="0.5") + MODES[mode]))
    body = os.urandom(8 * MiB)
    s = srv.connect(10.0)
    # Default mode reads (spools) the whole body first; stream mode stops reading
    # once its echo backs up, so the send may stall or see the close.
    raw = request_bytes("POST", "/", body)
    sent = send_until_stalled(s, raw, stall=1.0, deadline=10.0)
    if mode == "default":
        assert sent == len(raw), "default mode stopped reading the body at %d" % sent
    time.sleep(2.0)  # read nothing: four times the read timeout
    data, closed = drain_until_close(s, 5.0)
    assert closed, "connection still open after the client stopped reading"
    assert data.startswith(b"HTTP/1.1 200 "), "the response never started: %r" % data[:200]
    assert len(data) < len(body), "the whole response got through; nothing was stalled"
    assert_still_serves(srv)


# A connection waits in the worker's own epoll set until its first response,
# and on a uv_poll_t of its own after it: the slow reader covers both.
@pytest.mark.parametrize("earlier", [0, 1], ids=["first-request", "kept-alive"])
def test_slow_steady_reader_completes(start_server, earlier):
    srv = start_server(*timeouts(read="0.5"))
    body = os.urandom(MiB)
    s = srv.connect(10.0)
    for _ in range(earlier):
        s.sendall(request_bytes("POST", "/", b"warm-up"))
        assert Reader(s).response().body == b"warm-up"
    s.sendall(request_bytes("POST", "/", body))
    rd = Reader(s)
    status_and_head = rd.read_until(b"\r\n\r\n")
    assert status_and_head.startswith(b"HTTP/1.1 200 ")
    got = rd.buf
    rd.buf = b""
    while len(got) < len(body):  # 64 KiB per 0.1 s: slow, but never a 0.5 s stall
        time.sleep(0.1)
        d = s.recv(64 * KiB)
        if not d:
            break
        got += d
    assert got == body, "slow reader got %d of %d bytes before EOF" % (len(got), len(body))
