"""The inspect application (`unixcorn inspect`). Every document is parsed with
Python's json module and its strings decoded back to bytes (text as UTF-8,
{"latin1": ...} byte by byte), which must be exactly the bytes sent; a 64 MiB
body's SHA-256 is checked against hashlib with the worker's memory flat; the
peer over a Unix socket and over TCP; and what the bundled nginx really
forwards to its upstream."""

import hashlib
import json
import os
import random
import socket

import pytest

from conftest import Reader
from echo_util import MiB, chunked, head
from test_nginx import NGINX, Nginx, curl
from uc_testlib import have_ipv6, start_tcp

KEYS = ["method", "target", "path", "query", "version", "headers", "body", "peer",
        "client", "worker_pid"]
PEER_KEYS = ["family", "address", "port", "pid", "uid", "gid"]
# What a field value may hold (RFC 9110: field-vchar, SP, HTAB, obs-text), and
# a target (llhttp refuses controls, space, '#' and DEL there).
VALUE_BYTES = bytes([9]) + bytes(range(0x20, 0x7f)) + bytes(range(0x80, 0x100))
TARGET_BYTES = bytes(b for b in range(0x21, 0x100) if b not in (0x23, 0x7f))
NOT_UTF8 = [b"caf\xe9", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
            b"\xe2\x82", b"\x80", b"\xff\xfe", b"ok \xf8\x88\x80\x80\x80"]
HWM_GROWTH_LIMIT_KIB = 16 * 1024


def decode(v):
    """The bytes a document's string stands for."""
    if isinstance(v, str):
        return v.encode("utf-8")
    assert list(v) == ["latin1"], v
    text = v["latin1"]
    assert all(ord(c) < 0x100 for c in text), text
    raw = text.encode("latin-1")
    # The latin1 form is only for bytes that are not UTF-8.
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    return raw


def is_utf8(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def strict_loads(body):
    """JSON as RFC 8259 has it: UTF-8, and no NaN or Infinity."""
    def refuse(name):
        raise ValueError("not JSON: " + name)
    return json.loads(body.decode("utf-8"), parse_constant=refuse)


def document(resp):
    assert resp.status == 200, resp.body
    assert resp.header("content-type") == "application/json"
    assert int(resp.header("content-length")) == len(resp.body)
    doc = strict_loads(resp.body)
    assert list(doc) == KEYS
    assert list(doc["peer"]) == PEER_KEYS
    for k in ("method", "target", "path", "client"):
        decode(doc[k])
    return doc


def ask(srv, raw, sock=None):
    """raw on a new connection (to srv's Unix socket unless sock is given):
    the document of the response."""
    s = sock or srv.connect(timeout=60)
    s.sendall(raw)
    return document(Reader(s).response())


def headers_of(doc):
    return [(decode(n), decode(v)) for n, v in doc["headers"]]


def random_value(rng, n):
    """Up to n bytes a field value may hold; whitespace at either end would
    not be part of the value."""
    return bytes(rng.choice(VALUE_BYTES) for _ in range(n)).strip(b" \t")


def raw_request(method, target, fields, body=b""):
    head_ = b"%s %s HTTP/1.1\r\n" % (method, target)
    return head_ + b"".join(n + b": " + v + b"\r\n" for n, v in fields) + b"\r\n" + body


@pytest.fixture
def srv(start_server):
    return start_server("inspect")


def test_document_of_a_plain_request(srv):
    doc = ask(srv, b"GET /a/b?x=1&y HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n")
    assert doc["method"] == "GET" and doc["version"] == "HTTP/1.1"
    assert (doc["target"], doc["path"], doc["query"]) == ("/a/b?x=1&y", "/a/b", "x=1&y")
    assert doc["headers"] == [["Host", "h"], ["Accept", "*/*"]]
    assert doc["body"] == {"length": 0, "sha256": hashlib.sha256(b"").hexdigest()}
    assert doc["worker_pid"] == srv.worker_pid()


def test_hostile_fields_come_back_exactly(srv):
    long_value = random_value(random.Random(1), 8000)
    fields = [(b"Host", b"x"), (b"X-Quote", b'"a" \\"b\\" \\'), (b"X-Tab", b"a\t\tb"),
              (b"X-Utf8", "café € 😀 \u2028".encode()), (b"X-Empty", b""),
              (b"X-Dup", b"1"), (b"x-dup", b"2"), (b"X-DUP", b""), (b"X-Long", long_value),
              (b"X-Json", b'{"latin1": "x"}'), (b"X-Escape", b"\\u00e9 \\n")]
    fields += [(b"X-Bad-%d" % i, v) for i, v in enumerate(NOT_UTF8)]
    doc = ask(srv, raw_request(b"GET", b"/", fields))
    assert headers_of(doc) == fields
    for (_, v), (_, sent) in zip(doc["headers"], fields):
        assert isinstance(v, str) == is_utf8(sent)


def test_whitespace_around_a_value_is_not_part_of_it(srv):
    doc = ask(srv, b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: \t v  w \t\r\n\r\n")
    assert headers_of(doc)[1] == (b"X-Pad", b"v  w")


def test_random_values_and_targets_round_trip(srv):
    rng = random.Random(13)
    for _ in range(20):
        fields = [(b"Host", b"x")]
        fields += [(b"X-R%d" % i, random_value(rng, rng.randrange(40))) for i in range(40)]
        target = b"/" + bytes(rng.choice(TARGET_BYTES) for _ in range(rng.randrange(60)))
        doc = ask(srv, raw_request(b"POST", target, fields + [(b"Content-Length", b"0")]))
        assert headers_of(doc) == fields + [(b"Content-Length", b"0")]
        path, sep, query = target.partition(b"?")
        assert decode(doc["target"]) == target
        assert decode(doc["path"]) == path
        if sep:
            assert decode(doc["query"]) == query
        else:
            assert doc["query"] is None


@pytest.mark.parametrize("target,path,query", [
    (b"*", "*", None),
    (b"http://example.test", "/", None),
    (b"http://example.test:81/p%20q?r=%ff", "/p%20q", "r=%ff"),
    (b"/?", "/", ""),
])
def test_target_forms(srv, target, path, query):
    method = b"OPTIONS" if target == b"*" else b"GET"
    doc = ask(srv, raw_request(method, target, [(b"Host", b"x")]))
    assert (decode(doc["target"]), doc["path"], doc["query"]) == (target, path, query)


def test_http10(srv):
    doc = ask(srv, b"GET / HTTP/1.0\r\n\r\n")
    assert doc["version"] == "HTTP/1.0" and doc["headers"] == []


@pytest.mark.parametrize("framing", ["empty", "length", "chunked"])
def test_body_length_and_sha256(srv, framing):
    body = b"" if framing == "empty" else os.urandom(300 * 1024)
    if framing == "chunked":
        raw = head("PUT", "/", [("Host", "x"), ("Transfer-Encoding", "chunked")])
        raw += chunked(body, sizes=(1, 4096, 7), ext=b';a=b;c="d"', trailers=b"T: v\r\n")
    else:
        raw = head("PUT", "/", [("Host", "x"), ("Content-Length", str(len(body)))]) + body
    doc = ask(srv, raw)
    assert doc["body"] == {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def test_64mib_body_hashed_in_constant_memory(srv):
    body = os.urandom(64 * MiB)
    hwm = srv.rss_kib("VmHWM")
    doc = ask(srv, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    assert doc["body"] == {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    grown = srv.rss_kib("VmHWM") - hwm
    assert grown < HWM_GROWTH_LIMIT_KIB, "VmHWM grew by %d KiB" % grown


def test_head_gets_the_length_alone(srv):
    s = srv.connect()
    s.sendall(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /g HTTP/1.1\r\nHost: x\r\n\r\n")
    r = Reader(s)
    h = r.response(head_request=True)
    assert h.status == 200 and int(h.header("content-length")) > 0
    assert document(r.response())["target"] == "/g"


def test_unix_peer_is_this_process(srv):
    doc = ask(srv, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert doc["peer"] == {"family": "unix", "address": None, "port": None,
                           "pid": os.getpid(), "uid": os.getuid(), "gid": os.getgid()}
    assert doc["client"] == "unix"


@pytest.mark.parametrize("host,family", [
    ("127.0.0.1", "ipv4"),
    pytest.param("::1", "ipv6", marks=pytest.mark.skipif(not have_ipv6(), reason="no ::1")),
])
def test_tcp_peer_is_the_client_socket(start_server, host, family):
    srv, port = start_tcp(start_server, host, "inspect")
    s = socket.create_connection((host, port), timeout=10)
    doc = ask(srv, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", sock=s)
    assert doc["peer"] == {"family": family, "address": host, "port": s.getsockname()[1],
                           "pid": None, "uid": None, "gid": None}
    assert doc["client"] == host


# --- behind the bundled nginx ----------------------------------------------------------

needs_nginx = pytest.mark.skipif(not os.path.exists(NGINX), reason="nginx is not installed")


def start_stack(workdir, start_server, replace=()):
    os.chmod(workdir, 0o755)  # nginx's workers run as nobody when started as root
    app = start_server("inspect")
    return app, Nginx(workdir, app.sock, replace=replace)


@pytest.fixture
def stack(workdir, start_server):
    app, proxy = start_stack(workdir, start_server)
    yield app, proxy
    proxy.stop()


def via_nginx(proxy, *args):
    r = curl("-D", "-", *args, proxy.url + "p?q=1")
    assert r.returncode == 0, r.stderr
    head_, _, body = r.stdout.partition(b"\r\n\r\n")
    while head_.startswith(b"HTTP/1.1 100 "):  # curl's Expect: 100-continue
        head_, _, body = body.partition(b"\r\n\r\n")
    assert head_.startswith(b"HTTP/1.1 200 "), head_
    return strict_loads(body)


def field(doc, name):
    values = [v for n, v in headers_of(doc) if n.lower() == name.lower().encode()]
    assert len(values) <= 1, values
    return values[0] if values else None


def proc_ids(pid):
    ids = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("PPid", "Uid", "Gid"):
                ids[k] = int(v.split()[0])
    return ids


@needs_nginx
def test_what_nginx_forwards(stack):
    app, proxy = stack
    doc = via_nginx(proxy, "-H", "Host: example.test", "-H", "X-Forwarded-For: 203.0.113.7",
                    "-H", "Connection: close", "-H", "X-Real-IP: 198.51.100.1",
                    "-H", "X-Dup: 1", "-H", "X-Dup: 2")
    assert doc["version"] == "HTTP/1.1" and doc["target"] == "/p?q=1"
    assert field(doc, "Host") == b"example.test"
    assert field(doc, "X-Forwarded-For") == b"203.0.113.7, 127.0.0.1"
    assert field(doc, "X-Real-IP") == b"127.0.0.1"  # nginx's, not the client's
    assert field(doc, "X-Forwarded-Proto") == b"http"
    assert field(doc, "Connection") is None  # proxy_set_header Connection ""
    assert [v for n, v in headers_of(doc) if n == b"X-Dup"] == [b"1", b"2"]
    # The client is the last X-Forwarded-For address, nginx's own view of it.
    assert doc["client"] == "127.0.0.1"
    # The peer is one of nginx's workers, with that worker's user and group.
    peer = doc["peer"]
    assert peer["family"] == "unix" and peer["address"] is None
    ids = proc_ids(peer["pid"])
    assert ids["PPid"] == proxy.proc.pid
    assert (ids["Uid"], ids["Gid"]) == (peer["uid"], peer["gid"])
    assert doc["worker_pid"] == app.worker_pid()


@needs_nginx
def test_nginx_passes_bytes_that_are_not_utf8(stack, workdir):
    _, proxy = stack
    fields = [(b"X-Latin1", b"caf\xe9"), (b"X-Utf8", "café".encode())]
    s = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    s.sendall(raw_request(b"GET", b"/\xff?\xc3\xa9", [(b"Host", b"x")] + fields))
    doc = document(Reader(s).response())
    assert decode(doc["target"]) == b"/\xff?\xc3\xa9"
    assert [(n, v) for n, v in headers_of(doc) if n.startswith(b"X-")
            and n not in (b"X-Real-IP", b"X-Request-ID", b"X-Request-Start")
            and not n.startswith(b"X-Forwarded")] == fields


def upload(workdir, size):
    path = os.path.join(workdir, "body")
    body = os.urandom(size)
    with open(path, "wb") as f:
        f.write(body)
    return path, body


@needs_nginx
@pytest.mark.parametrize("chunked_upload", [False, True], ids=["length", "chunked"])
def test_upload_through_shipped_nginx(stack, workdir, chunked_upload):
    """The shipped config streams bodies (proxy_request_buffering off): a
    chunked upload reaches the app chunked, every byte of it."""
    _, proxy = stack
    path, body = upload(workdir, 3 * MiB)
    extra = ["-H", "Transfer-Encoding: chunked"] if chunked_upload else []
    doc = via_nginx(proxy, "--data-binary", "@" + path, *extra)
    assert doc["body"] == {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    if chunked_upload:
        assert field(doc, "Transfer-Encoding") == b"chunked"
        assert field(doc, "Content-Length") is None
    else:
        assert field(doc, "Content-Length") == str(len(body)).encode()


@needs_nginx
def test_chunked_upload_through_buffering_nginx(workdir, start_server):
    """With proxy_request_buffering on, nginx reads the whole chunked body
    first and sends it on with a Content-Length."""
    app, proxy = start_stack(workdir, start_server, replace=[
        ("proxy_request_buffering off;", "proxy_request_buffering on;")])
    try:
        path, body = upload(workdir, 3 * MiB)
        doc = via_nginx(proxy, "--data-binary", "@" + path, "-H", "Transfer-Encoding: chunked")
    finally:
        proxy.stop()
    assert field(doc, "Transfer-Encoding") is None
    assert field(doc, "Content-Length") == str(len(body)).encode()
    assert doc["body"] == {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()}
