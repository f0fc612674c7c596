"""Echo behaviour of unixcorn: bodies, headers, modes, keep-alive, pipelining,
100-continue, spooling and the access log. Real binary, real sockets, real curl."""

import email.utils
import os
import re
import subprocess
import time

import pytest

from conftest import Reader, request_bytes
from echo_util import (IMF_FIXDATE, KiB, MiB, MODES, BackgroundSend, assert_silent,
                       chunked, conn_tokens, curl, head, last_header_block, mode_params,
                       send_until_stalled, spool_fds, wait_for)

SIZES = {"empty": 0, "1B": 1, "64KiB": 64 * KiB, "100MiB": 100 * MiB}
size_params = pytest.mark.parametrize("size", list(SIZES.values()), ids=list(SIZES))
HWM_GROWTH_LIMIT_KIB = 32 * 1024


@pytest.fixture(scope="module")
def bodies():
    """One random body per size, shared by the module (100 MiB is costly to make)."""
    return {n: os.urandom(n) for n in SIZES.values()}


@pytest.fixture
def msrv(start_server, mode):
    return start_server(*MODES[mode])


def assert_hwm_growth(srv, before, what):
    grown = srv.rss_kib("VmHWM") - before
    assert grown < HWM_GROWTH_LIMIT_KIB, (
        "%s: server VmHWM grew by %d KiB (limit %d KiB)" % (what, grown, HWM_GROWTH_LIMIT_KIB))


# --- bodies of every size, three kinds of client ---------------------------------

@mode_params
@size_params
def test_curl_full_duplex(msrv, mode, size, bodies, workdir):
    body = bodies[size]
    src, dump = os.path.join(workdir, "body.bin"), os.path.join(workdir, "head.txt")
    with open(src, "wb") as f:
        f.write(body)
    hwm = msrv.rss_kib("VmHWM")
    p, _ = curl(msrv, "--data-binary", "@" + src, "-D", dump, "http://localhost/")
    assert p.returncode == 0, p.stderr.decode()
    with open(dump, "rb") as f:
        status, hdrs = last_header_block(f.read())
    assert status == 200
    assert p.stdout == body, "echo differs: sent %d bytes, got %d" % (len(body), len(p.stdout))
    assert hdrs.get("content-type") == "application/x-www-form-urlencoded"  # curl's, mirrored
    if mode == "stream" and size:
        assert hdrs.get("transfer-encoding", "").lower() == "chunked"
    else:
        assert hdrs.get("content-length") == str(size)
    if size >= 100 * MiB:
        assert_hwm_growth(msrv, hwm, "%s-mode curl echo of %d bytes" % (mode, size))


@size_params
def test_half_duplex_raw_client(server, size, bodies):
    """Default mode: send the whole body before reading anything; must not deadlock."""
    body = bodies[size]
    hwm = server.rss_kib("VmHWM")
    s = server.connect(timeout=30.0)
    s.sendall(request_bytes("POST", "/", body))
    r = Reader(s).response()
    assert r.status == 200
    assert r.header("content-length") == str(size)
    assert r.body == body, "echo differs: sent %d bytes, got %d" % (len(body), len(r.body))
    if size >= 100 * MiB:
        assert_hwm_growth(server, hwm, "default-mode echo of %d bytes" % size)


# --- response headers ---------------------------------------------------------------

METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND"]


@mode_params
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("ctype", [None, "text/plain; charset=utf-8", "x/y"])
def test_echo_headers(msrv, mode, method, ctype):
    body = os.urandom(1000)
    r, _ = exchange_on(msrv, request_bytes(method, "/p?q=1", body, {"Content-Type": ctype}))
    assert r.status == 200
    assert r.body == body
    assert r.header("content-type") == (ctype or "application/octet-stream")
    if mode == "stream":
        assert r.header("transfer-encoding", "").lower() == "chunked"
        assert r.header("content-length") is None
    else:
        assert r.header_all("content-length") == ["1000"]
        assert r.header("transfer-encoding") is None
    assert_date_and_server(r)


def exchange_on(srv, raw, head_request=False):
    s = srv.connect(10.0)
    s.sendall(raw)
    rd = Reader(s)
    return rd.response(head_request=head_request), rd


def assert_date_and_server(r):
    date = r.header("date")
    assert date and IMF_FIXDATE.match(date), "bad Date header %r" % date
    skew = abs(time.time() - email.utils.parsedate_to_datetime(date).timestamp())
    assert skew < 120, "Date %r is %.0f s off" % (date, skew)
    assert re.match(r"^unixcorn/\S+", r.header("server") or ""), r.header("server")


@mode_params
@pytest.mark.parametrize("method", ["GET", "DELETE", "OPTIONS", "HEAD"])
def test_no_body_gets_content_length_zero(msrv, mode, method):
    r, rd = exchange_on(msrv, request_bytes(method) + request_bytes("POST", "/", b"next"),
                        head_request=(method == "HEAD"))
    assert r.status == 200
    assert r.header("content-length") == "0"
    assert r.header("transfer-encoding") is None
    assert r.header("content-type") == "application/octet-stream"
    assert_date_and_server(r)
    nxt = rd.response()  # proves no body bytes were sent for the first one
    assert (nxt.status, nxt.body) == (200, b"next")


def test_head_reports_length_without_body(server):
    """HEAD with a body: Content-Length of what the echo would be, and no body bytes."""
    body = os.urandom(777)
    raw = request_bytes("HEAD", "/", body, {"Content-Type": "a/b"}) + request_bytes(
        "POST", "/", b"after")
    r, rd = exchange_on(server, raw, head_request=True)
    assert r.status == 200
    assert r.header("content-length") == "777"
    assert r.header("content-type") == "a/b"
    nxt = rd.response()
    assert (nxt.status, nxt.body) == (200, b"after")


CHUNKINGS = {
    "one_chunk": dict(sizes=()),
    "many_small": dict(sizes=[1, 2, 3, 5, 8, 13, 21, 34, 55, 89] * 20),
    "extension": dict(sizes=[100, 1000], ext=b";name=value"),
    "extension_no_value": dict(sizes=[100, 1000], ext=b";x"),
    "extension_quoted": dict(sizes=[100, 1000], ext=b';q="a b"'),
    "extension_quoted_pair": dict(sizes=[100, 1000], ext=b';q="a \\" b"'),
    "extensions_multiple": dict(sizes=[100, 1000], ext=b";a=1;b=2"),
    "extensions_value_then_bare": dict(sizes=[100, 1000], ext=b";name=value;x"),
    "extensions_whitespace": dict(sizes=[100, 1000], ext=b" ; a = 1 ;\tb"),
    "trailers": dict(sizes=[4096], trailers=b"X-Trailer: yes\r\nX-Other: 1\r\n"),
    "empty": dict(sizes=()),
}


@pytest.mark.parametrize("layout", list(CHUNKINGS))
def test_chunked_request_answered_with_content_length(server, layout):
    body = b"" if layout == "empty" else os.urandom(20000)
    raw = head("POST", "/", [("Host", "x"), ("Transfer-Encoding", "chunked")]) + chunked(
        body, **CHUNKINGS[layout])
    r, rd = exchange_on(server, raw + request_bytes("POST", "/", b"tail"))
    assert r.status == 200
    assert r.header("content-length") == str(len(body))
    assert r.header("transfer-encoding") is None
    assert r.body == body
    nxt = rd.response()
    assert (nxt.status, nxt.body) == (200, b"tail")


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_default_mode_waits_for_whole_body(server, framing):
    body = os.urandom(200 * KiB)
    if framing == "chunked":
        h = head("POST", "/", [("Host", "x"), ("Transfer-Encoding", "chunked")])
        payload = chunked(body, sizes=[50 * KiB] * 4)
    else:
        h, payload = request_bytes("POST", "/", body)[:-len(body)], body
    s = server.connect(10.0)
    s.sendall(h + payload[:len(payload) // 2])
    assert_silent(s, 0.5)
    s.sendall(payload[len(payload) // 2:])
    r = Reader(s).response()
    assert r.status == 200
    assert r.body == body


def test_large_body_spooled_to_unlinked_file_in_tmp_dir(start_server, workdir):
    spool = os.path.join(workdir, "spool")
    os.mkdir(spool)
    srv = start_server("--tmp-dir", spool)
    body = os.urandom(16 * MiB)
    s = srv.connect(30.0)
    s.sendall(request_bytes("POST", "/", body)[:-len(body) // 2])  # head + half the body
    open_files = wait_for(lambda: spool_fds(srv.worker_pid(), spool), 5.0)
    assert open_files, "no file in --tmp-dir %s is open in the server mid-upload" % spool
    assert all(t.endswith("(deleted)") for t in open_files), open_files
    assert os.listdir(spool) == [], "spool file has a name mid-upload"
    s.sendall(body[len(body) // 2:])
    r = Reader(s).response()
    assert r.status == 200
    assert r.body == body
    assert os.listdir(spool) == []
    s.close()
    assert wait_for(lambda: not spool_fds(srv.worker_pid(), spool), 5.0), (
        "spool file still open after the connection closed: %s" % spool_fds(srv.worker_pid(), spool))


# --- --echo-stream -----------------------------------------------------------------

def test_stream_echoes_before_body_complete(start_server):
    srv = start_server("--echo-stream")
    body = os.urandom(MiB)
    s = srv.connect(5.0)
    s.sendall(request_bytes("POST", "/", body)[:-len(body)] + body[:64 * KiB])
    rd = Reader(s)
    r = rd.response(head_request=True)  # head only; chunks are read below
    assert r.status == 200
    assert r.header("transfer-encoding", "").lower() == "chunked"
    assert r.header("content-length") is None
    early = b""
    while not early:
        size = int(rd.read_until(b"\r\n")[:-2].split(b";")[0], 16)
        assert size, "echo ended after %d of %d bytes" % (len(early), len(body))
        early += rd.read_exact(size)
        assert rd.read_exact(2) == b"\r\n"
    assert body.startswith(early), "early echo is not a prefix of the body"
    sender = BackgroundSend(s, body[64 * KiB:])  # full duplex: read while sending
    rest = rd._read_chunked()
    sender.finish()
    assert early + rest == body


def test_stream_backpressure_bounds_memory(start_server):
    """A client that sends 64 MiB without reading must not make the server buffer it."""
    srv = start_server("--echo-stream")
    body = os.urandom(64 * MiB)
    raw = request_bytes("POST", "/", body)
    hwm = srv.rss_kib("VmHWM")
    s = srv.connect(30.0)
    sent = send_until_stalled(s, raw, stall=1.0, deadline=20.0)
    assert sent < len(raw), "server read all 64 MiB while the client read nothing"
    assert_hwm_growth(srv, hwm, "stream mode, unread 64 MiB (server took %d bytes)" % sent)
    # Now read: everything must still arrive intact.
    sender = BackgroundSend(s, raw[sent:])
    r = Reader(s).response()
    sender.finish()
    assert r.status == 200
    assert r.body == body


def test_stream_http10_response_not_chunked(start_server):
    srv = start_server("--echo-stream")
    body = os.urandom(100 * KiB)
    s = srv.connect(10.0)
    s.sendall(request_bytes("POST", "/", body, version="HTTP/1.0"))
    r = Reader(s).response()
    assert r.status == 200
    assert r.header("transfer-encoding") is None
    assert r.body == body


# --- persistent connections ----------------------------------------------------------

KEEPALIVE_CASES = [
    # (version, request Connection header, stays open, Connection token required)
    ("HTTP/1.1", None, True, None),
    ("HTTP/1.1", "keep-alive", True, None),
    ("HTTP/1.1", "close", False, "close"),
    ("HTTP/1.0", None, False, None),
    ("HTTP/1.0", "close", False, None),
    ("HTTP/1.0", "keep-alive", True, "keep-alive"),
]


@mode_params
@pytest.mark.parametrize("version,conn,stays_open,token", KEEPALIVE_CASES,
                         ids=["%s-%s" % (c[0], c[1]) for c in KEEPALIVE_CASES])
def test_persistence(msrv, mode, version, conn, stays_open, token):
    s = msrv.connect(10.0)
    rd = Reader(s)
    for i in range(2 if stays_open else 1):
        body = os.urandom(100 + i)
        s.sendall(request_bytes("POST", "/", body, {"Connection": conn}, version=version))
        r = rd.response()
        assert r.status == 200
        assert r.body == body
        if token:
            assert token in conn_tokens(r), r.headers
    if stays_open:
        assert_silent(s, 0.3)
    else:
        assert rd.closed(5.0), "connection not closed (or extra bytes): %r" % rd.buf[:200]


@mode_params
def test_pipelining(msrv, mode):
    reqs, expected = [], []
    for i in range(20):
        body = os.urandom(i * 137 % 3000 + 1)
        extra = {"Connection": "close"} if i == 19 else {}
        if i == 7:
            reqs.append(request_bytes("HEAD", "/h", headers=extra))
            expected.append(("HEAD", b""))
        elif i % 4 == 3:
            reqs.append(request_bytes("GET", "/g%d" % i, headers=extra))
            expected.append(("GET", b""))
        elif i % 2:
            reqs.append(head("POST", "/c%d" % i, [("Host", "x"), ("Transfer-Encoding", "chunked")]
                             + list(extra.items())) + chunked(body, sizes=[i * 31 + 1] * 3))
            expected.append(("POST", body))
        else:
            reqs.append(request_bytes("PUT", "/l%d" % i, body, extra))
            expected.append(("PUT", body))
    s = msrv.connect(10.0)
    s.sendall(b"".join(reqs))
    rd = Reader(s)
    for i, (method, body) in enumerate(expected):
        r = rd.response(head_request=(method == "HEAD"))
        assert r.status == 200, "response %d" % i
        assert r.body == body, "response %d: body differs" % i
        if method == "HEAD":
            assert r.header("content-length") == "0"
    assert rd.read_to_eof() == b"", "bytes after the 20th response"


# --- Expect: 100-continue -------------------------------------------------------------

@mode_params
def test_100_continue_before_body(msrv, mode):
    body = os.urandom(300 * KiB)
    s = msrv.connect(5.0)
    s.sendall(request_bytes("PUT", "/", body, {"Expect": "100-continue"})[:-len(body)])
    rd = Reader(s)
    interim = rd.read_until(b"\r\n\r\n")
    assert interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim
    sender = BackgroundSend(s, body)
    r = rd.response()
    sender.finish()
    assert r.status == 200
    assert r.body == body


def test_100_continue_body_sent_early(server):
    """A client that does not wait for 100 must still get exactly one final response."""
    body = os.urandom(5000)
    s = server.connect(5.0)
    s.sendall(request_bytes("PUT", "/", body, {"Expect": "100-continue"}) +
              request_bytes("POST", "/", b"second"))
    rd = Reader(s)
    r = rd.response()
    if r.status == 100:
        r = rd.response()
    assert (r.status, r.body) == (200, body)
    nxt = rd.response()
    assert (nxt.status, nxt.body) == (200, b"second")


@mode_params
def test_curl_2mib_upload_no_expect_stall(msrv, mode, workdir):
    body = os.urandom(2 * MiB)
    src = os.path.join(workdir, "up.bin")
    with open(src, "wb") as f:
        f.write(body)
    # curl waits this long for the 100 before it sends the body anyway: a
    # server that never says 100 stalls the upload past curl's --max-time,
    # whereas against curl's default of 1 s a loaded machine could not tell.
    p, elapsed = curl(msrv, "-v", "--expect100-timeout", "30", "--data-binary", "@" + src,
                      "http://localhost/")
    assert p.returncode == 0, p.stderr.decode()
    trace = p.stderr.decode("latin-1")
    assert "> Expect: 100-continue" in trace, "curl did not use Expect; test is moot"
    assert "< HTTP/1.1 100 Continue" in trace
    assert p.stdout == body
    assert elapsed < 5, "curl took %.2f s: did it wait for its 100 Continue?" % elapsed


def test_expect_over_limit_gets_413_without_reading_body(start_server):
    srv = start_server("--limit-request-body", "1000")
    s = srv.connect(5.0)
    s.sendall(head("POST", "/", [("Host", "x"), ("Content-Length", "5000"),
                                 ("Expect", "100-continue")]))
    rd = Reader(s)
    r = rd.response()
    assert r.status == 413, "expected 413 before any 100 Continue, got %d" % r.status
    assert "close" in conn_tokens(r)
    assert rd.closed(5.0)


# --- access log -----------------------------------------------------------------------

LOG_LINE = re.compile(
    r'^unix - - \[(\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] '
    r'"(?P<req>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+|-) "(?P<ref>[^"]*)" "(?P<ua>[^"]*)" '
    r'(?P<rt>\d+\.\d+) pid=(?P<pid>\d+) uid=(?P<uid>\d+)$')


def read_log_lines(path, n, timeout=5.0):
    def lines():
        try:
            with open(path) as f:
                got = f.read().splitlines()
        except FileNotFoundError:
            return None
        return got if len(got) >= n else None
    got = wait_for(lines, timeout)
    assert got, "access log %s has fewer than %d lines after %.0f s" % (path, n, timeout)
    return got


def test_access_log_python_client(start_server, workdir):
    log = os.path.join(workdir, "access.log")
    srv = start_server("--access-logfile", log)
    s = srv.connect(5.0)
    rd = Reader(s)
    reqs = [
        (request_bytes("POST", "/path", b"hello", {"Referer": "referer",
                                                    "User-Agent": "user-agent"}),
         ("POST /path HTTP/1.1", "200", "5", "referer", "user-agent")),
        (request_bytes("GET", "/q?a=b"), ("GET /q?a=b HTTP/1.1", "200", "0", "-", "-")),
        (request_bytes("PUT", "/x", os.urandom(1234), {"User-Agent": "ua 2"}),
         ("PUT /x HTTP/1.1", "200", "1234", "-", "ua 2")),
    ]
    for raw, _ in reqs:
        s.sendall(raw)
        assert rd.response().status == 200
    lines = read_log_lines(log, len(reqs))
    assert len(lines) == len(reqs), lines
    for line, (_, want) in zip(lines, reqs):
        m = LOG_LINE.match(line)
        assert m, "access log line does not match the format: %r" % line
        got = (m["req"], m["status"], "0" if m["bytes"] == "-" else m["bytes"], m["ref"],
               m["ua"])  # combined format may write an empty body's size as "-"
        assert got == want, line
        assert (int(m["pid"]), int(m["uid"])) == (os.getpid(), os.getuid()), line


def test_access_log_curl_pid(start_server, workdir):
    log = os.path.join(workdir, "access.log")
    srv = start_server("--access-logfile", log)
    # curl runs in its own process; the log must name that process, not ours.
    p = subprocess.Popen(["curl", "-sS", "--max-time", "10", "--unix-socket", srv.sock,
                          "-A", "curl-test", "-e", "http://ref/", "--data-binary", "abc",
                          "http://localhost/c"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate(timeout=15)
    assert p.returncode == 0, err
    assert out == b"abc"
    (line,) = read_log_lines(log, 1)
    m = LOG_LINE.match(line)
    assert m, "access log line does not match the format: %r" % line
    assert (m["req"], m["status"], m["bytes"], m["ref"], m["ua"]) == (
        "POST /c HTTP/1.1", "200", "3", "http://ref/", "curl-test"), line
    assert (int(m["pid"]), int(m["uid"])) == (p.pid, os.getuid()), line
