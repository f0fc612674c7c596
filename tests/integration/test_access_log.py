"""The access log's formats and request IDs on the real binary: every one of
Gunicorn's atoms and {header}i/o, the JSON form read back with Python's json
module whatever the requests held, a text line that no request can break,
request IDs kept from trusted peers and made for the others, on every
response (errors too), in the log, in a timeout's dump, to an application, and
through the bundled nginx."""

import json
import os
import re
import socket
import subprocess

import pytest

from conftest import Reader, request_bytes
from test_nginx import NGINX, Nginx
from uc_testlib import log_search, run_cli, start_tcp, wait_until

FRESH = re.compile(r"[0-9a-f]{32}")
SANE = "f9ed4675f1c53513c61a3b3b4e25b4c0"  # as nginx's $request_id
JSON_KEYS = ["time", "request_id", "client", "method", "target", "path", "query", "protocol",
             "status", "bytes", "duration_us", "queue_time", "referer", "user_agent", "host", "worker_pid",
             "peer_pid", "peer_uid"]
TESTAPPS = os.environ.get("UNIXCORN_TESTAPPS")


def start_logged(start_server, workdir, fmt, *args, **kw):
    log = os.path.join(workdir, "access.log")
    srv = start_server("--access-logfile", log, "--access-logformat", fmt, *args, **kw)
    srv.access_log = log
    return srv


def log_lines(srv, n, timeout=5.0):
    """The first n whole lines of srv's access log, as bytes."""
    def read():
        try:
            with open(srv.access_log, "rb") as f:
                lines = f.read().split(b"\n")[:-1]
        except FileNotFoundError:
            return None
        return lines if len(lines) >= n else None
    lines = wait_until(read, timeout)
    assert lines, "fewer than %d lines in the access log after %.0f s" % (n, timeout)
    return lines


def ask(srv, raw, sock=None):
    s = sock or srv.connect()
    s.sendall(raw)
    return Reader(s).response()


def raw_request(target=b"/", fields=(), body=b"", method=b"GET"):
    head = [method + b" " + target + b" HTTP/1.1", b"Host: x"]
    head += [n + b": " + v for n, v in fields]
    if body:
        head.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(head) + b"\r\n\r\n" + body


# --- Gunicorn's atoms ------------------------------------------------------------------

EVERY_ATOM = "|".join(["%(h)s", "%(l)s", "%(u)s", "%(t)s", "%(r)s", "%(m)s", "%(U)s",
                       "%(q)s", "%(H)s", "%(s)s", "%(b)s", "%(B)s", "%(f)s", "%(a)s",
                       "%(T)s", "%(D)d", "%(M)s", "%(L)s", "%(p)s", "%({x-tag}i)s",
                       "%({content-type}o)s", "%(request_id)s", "%({x-request-id}o)s",
                       "%(peer_pid)s", "%(peer_uid)s", "%({x-none}i)s 100%%"])


def test_every_atom(start_server, workdir):
    srv = start_logged(start_server, workdir, EVERY_ATOM)
    r = ask(srv, raw_request(b"/a/b?c=d", [(b"Referer", b"http://ref/"), (b"User-Agent", b"ua 1"),
                                          (b"X-Tag", b"one"), (b"x-tag", b"two"),
                                          (b"Content-Type", b"text/x-y"),
                                          (b"X-Request-ID", SANE.encode())],
                             body=b"hello", method=b"POST"))
    assert r.status == 200 and r.header("x-request-id") == SANE
    (line,) = log_lines(srv, 1)
    f = line.decode().split("|")
    assert f[:3] == ["unix", "-", "-"]
    assert re.fullmatch(r"\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000\]", f[3]), f[3]
    assert f[4:14] == ["POST /a/b?c=d HTTP/1.1", "POST", "/a/b", "c=d", "HTTP/1.1", "200",
                       "5", "5", "http://ref/", "ua 1"]
    seconds, us, ms, decimal = int(f[14]), int(f[15]), int(f[16]), f[17]
    assert (seconds, ms, decimal) == (us // 10**6, us // 1000, "%d.%06d" % divmod(us, 10**6))
    assert f[18] == "<%d>" % srv.worker_pid()
    assert f[19:25] == ["one, two", "text/x-y", SANE, SANE, str(os.getpid()), str(os.getuid())]
    assert f[25] == "- 100%"


def test_empty_values_and_no_query(start_server, workdir):
    srv = start_logged(start_server, workdir, "[%(q)s] [%(b)s] [%(B)s] [%(f)s] [%({x-a}i)s]")
    assert ask(srv, raw_request(b"/p", [(b"Referer", b""), (b"X-A", b"")])).status == 200
    assert log_lines(srv, 1) == [b"[] [-] [0] [-] [-]"]


def test_tcp_peer_has_no_pid(start_server, workdir):
    log = os.path.join(workdir, "access.log")
    srv, port = start_tcp(start_server, "127.0.0.1", "--access-logfile", log,
                          "--access-logformat", "%(h)s %(peer_pid)s %(peer_uid)s")
    srv.access_log = log
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    assert ask(srv, raw_request(), sock=s).status == 200
    assert log_lines(srv, 1) == [b"127.0.0.1 - -"]


# --- no request breaks a line, in either form -------------------------------------------

LONG = 8000  # under --limit-request-field_size (8190) with its name
HOSTILE = [
    b'a"b\\c',                                  # quotes and backslashes
    b"tab\there",                               # the one control character a value may hold
    b"caf\xe9 \xff\xfe \xe2\x80",                # not UTF-8, and a sequence cut short
    b"\xc2\x85nel \xe2\x80\xa8ls \xc2\x9b[31m",  # NEL, LINE SEPARATOR, a C1 escape
    b'", "status": 999, "forged": "',           # a field, if nothing were escaped
    b"\" 200 0 \"-\" \"forged",
    b"\xff" * LONG,
    b'"' * LONG,
]


def hostile_requests():
    reqs = [raw_request(b"/h%d" % i, [(b"User-Agent", v), (b"Referer", v), (b"X-Evil", v),
                                      (b"X-Request-ID", v)])
            for i, v in enumerate(HOSTILE)]
    # Refused, yet logged: a control character in a field after hostile ones.
    reqs.append(raw_request(b"/bad", [(b"User-Agent", b'"\\'), (b"X-Bad", b"a\x01b")]))
    return reqs


def per_byte_replacement(value):
    """The JSON form's reading of bytes: UTF-8, with U+FFFD for each byte of
    anything else (Python's "replace" takes a cut sequence as one)."""
    text = value.decode("utf-8", "surrogateescape")
    return "".join("\ufffd" if 0xdc80 <= ord(c) <= 0xdcff else c for c in text)


def send_each(srv, reqs):
    statuses = []
    for raw in reqs:
        statuses.append(ask(srv, raw).status)
    return statuses


def test_json_lines_parse_whatever_the_request_held(start_server, workdir):
    srv = start_logged(start_server, workdir, "json")
    statuses = send_each(srv, hostile_requests())
    assert statuses == [200] * len(HOSTILE) + [400]
    lines = log_lines(srv, len(statuses))
    assert len(lines) == len(statuses)
    for i, (line, status) in enumerate(zip(lines, statuses)):
        assert len(line) < 4096
        doc = json.loads(line)  # strict: a raw control character would fail it
        assert list(doc) == JSON_KEYS, line
        assert doc["status"] == status and "forged" not in doc
        assert FRESH.fullmatch(doc["request_id"])  # none of these IDs was sane
        if status == 400:
            assert doc["user_agent"] == '"\\' and doc["target"] == "/bad"
            continue
        sent = per_byte_replacement(HOSTILE[i])
        assert doc["target"] == "/h%d" % i and doc["path"] == "/h%d" % i
        assert doc["query"] is None and doc["host"] == "x" and doc["client"] == "unix"
        for key in ("user_agent", "referer"):
            assert sent.startswith(doc[key]), (key, doc[key][:80])
            if len(HOSTILE[i]) < 100:
                assert doc[key] == sent
    assert json.loads(lines[0])["user_agent"] == 'a"b\\c'
    assert json.loads(lines[2])["user_agent"] == "caf\ufffd \ufffd\ufffd \ufffd\ufffd"
    assert json.loads(lines[3])["user_agent"] == "\x85nel \u2028ls \x9b[31m"


TEXT_FORMAT = '%(h)s "%(r)s" %(s)s "%(a)s" "%({x-evil}i)s" %({x-request-id}i)s %(request_id)s'


@pytest.mark.parametrize("fmt", [None, TEXT_FORMAT], ids=["default", "atoms"])
def test_text_lines_never_break(start_server, workdir, fmt):
    srv = (start_logged(start_server, workdir, fmt) if fmt else
           start_server("--access-logfile", os.path.join(workdir, "access.log")))
    srv.access_log = os.path.join(workdir, "access.log")
    statuses = send_each(srv, hostile_requests())
    lines = log_lines(srv, len(statuses))
    assert len(lines) == len(statuses)
    for line in lines:
        assert len(line) < 4096
        assert all(0x20 <= c < 0x7f for c in line), line[:200]
    first = lines[0].decode()
    assert '"a\\x22b\\x5cc"' in first
    if fmt:
        assert first.count('"') == 6  # the format's own quotes, and no other
        assert "\\xc2\\x85nel \\xe2\\x80\\xa8ls \\xc2\\x9b[31m" in lines[3].decode()
        assert lines[1].decode().split(" ")[-2:-1] == ["tab\\x09here"]


# --- request IDs ---------------------------------------------------------------------

ID_FORMAT = "%(request_id)s %({x-request-id}i)s %(s)s"


def logged_ids(srv, n):
    return [line.decode().split(" ") for line in log_lines(srv, n)]


def test_request_id_kept_or_made(start_server, workdir):
    srv = start_logged(start_server, workdir, ID_FORMAT)
    uuid = "123e4567-e89b-12d3-a456-426614174000"
    sent = [SANE, uuid, "x" * 200, "x" * 19, "x" * 201, "has_underscore_but_long", None]
    got = []
    for value in sent:
        fields = [(b"X-Request-ID", value.encode())] if value else []
        r = ask(srv, raw_request(fields=fields))
        assert r.status == 200 and len(r.header_all("x-request-id")) == 1
        got.append(r.header("x-request-id"))
    assert got[:3] == sent[:3]  # 20 to 200 characters of [A-Za-z0-9+/=-]: kept
    assert all(FRESH.fullmatch(i) for i in got[3:]), got
    assert len(set(got)) == len(got)
    for (logged, field, status), want in zip(logged_ids(srv, len(sent)), got):
        assert (logged, status) == (want, "200")


def test_fresh_ids_are_unique(start_server, workdir):
    srv = start_logged(start_server, workdir, ID_FORMAT)
    s = srv.connect()
    rd = Reader(s)
    ids = []
    for _ in range(200):
        s.sendall(raw_request())
        ids.append(rd.response().header("x-request-id"))
    assert len(set(ids)) == 200 and all(FRESH.fullmatch(i) for i in ids)
    assert len({i[:16] for i in ids}) == 1  # one worker: one random prefix, then a counter
    assert [int(i[16:], 16) for i in ids] == list(range(int(ids[0][16:], 16),
                                                        int(ids[0][16:], 16) + 200))


@pytest.mark.parametrize("trusted", [True, False], ids=["trusted", "untrusted"])
def test_tcp_peer_is_trusted_per_forwarded_allow_ips(start_server, workdir, trusted):
    log = os.path.join(workdir, "access.log")
    allow = "127.0.0.1" if trusted else "10.9.9.9"
    srv, port = start_tcp(start_server, "127.0.0.1", "--forwarded-allow-ips", allow,
                          "--access-logfile", log, "--access-logformat", ID_FORMAT)
    srv.access_log = log
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    r = ask(srv, raw_request(fields=[(b"X-Request-ID", SANE.encode())]), sock=s)
    got = r.header("x-request-id")
    assert got == SANE if trusted else FRESH.fullmatch(got), got
    assert logged_ids(srv, 1) == [[got, SANE, "200"]]


def test_error_responses_carry_it(start_server, workdir):
    srv = start_logged(start_server, workdir, ID_FORMAT, "--limit-request-body", "10",
                       "--header-timeout", "0.5")
    sane = [(b"X-Request-ID", SANE.encode())]
    r = ask(srv, raw_request(fields=sane + [(b"Host", b"y")]))  # a second Host
    assert (r.status, r.header("x-request-id")) == (400, SANE)
    r = ask(srv, raw_request(fields=sane, body=b"x" * 11, method=b"POST"))
    assert (r.status, r.header("x-request-id")) == (413, SANE)
    r = ask(srv, b"GET /\x01 HTTP/1.1\r\n\r\n")
    assert r.status == 400 and FRESH.fullmatch(r.header("x-request-id"))
    bad_line = r.header("x-request-id")
    r = ask(srv, b"GET / HTTP/1.1\r\nHost: x\r\nX-Request-ID: " + SANE.encode())  # stalls
    assert r.status == 408 and FRESH.fullmatch(r.header("x-request-id"))
    timed_out = r.header("x-request-id")
    assert logged_ids(srv, 4) == [[SANE, SANE, "400"], [SANE, SANE, "413"],
                                  [bad_line, "-", "400"], [timed_out, "-", "408"]]


@pytest.mark.skipif(not TESTAPPS, reason="UNIXCORN_TESTAPPS is not set")
def test_application_sees_it(start_server, workdir):
    srv = start_server(TESTAPPS + ":request_id", "--threads", "2")
    for fields, want in [([(b"X-Request-ID", SANE.encode())], SANE), ([], None)]:
        r = ask(srv, raw_request(fields=fields))
        assert r.status == 200 and r.body.decode() == r.header("x-request-id")
        assert r.body.decode() == want if want else FRESH.fullmatch(r.body.decode())
        log_search(srv, r"(?m)\[INFO\] application: request_id=%s$" % r.body.decode())


def test_timeout_dump_names_it(start_server, workdir):
    srv = start_server("--timeout", "1", env={"UNIXCORN_DEBUG_STALL_PATH": "/stall"})
    old = srv.worker_pid()
    s = srv.connect()
    s.sendall(raw_request(b"/stall", [(b"X-Request-ID", SANE.encode())]))
    log_search(srv, r"\[%d\] \[CRITICAL\] Worker timed out" % old)
    log_search(srv, r"(?m)in the application, on this thread: GET /stall \(from unix\) "
                    r"request_id=%s$" % SANE)
    s.close()


# --- behind the bundled nginx ---------------------------------------------------------

def curl_head(url, *args):
    r = subprocess.run(["curl", "-sS", "--max-time", "10", "-D", "-", "-o", "/dev/null",
                        *args, url], capture_output=True, timeout=20)
    assert r.returncode == 0, r.stderr
    return dict((k.strip().lower(), v.strip()) for k, _, v in
                (line.partition(":") for line in r.stdout.decode().splitlines()[1:] if line))


@pytest.mark.skipif(not os.path.exists(NGINX), reason="nginx is not installed")
def test_through_nginx(start_server, workdir):
    os.chmod(workdir, 0o755)  # nginx's workers run as nobody when started as root
    app = start_logged(start_server, workdir, ID_FORMAT)
    proxy = Nginx(workdir, app.sock)
    try:
        first = curl_head(proxy.url)["x-request-id"]
        # A client's own ID is replaced by nginx's: the shipped config's choice.
        second = curl_head(proxy.url, "-H", "X-Request-ID: " + SANE)["x-request-id"]
    finally:
        proxy.stop()
    assert FRESH.fullmatch(first) and FRESH.fullmatch(second) and second != SANE
    # unixcorn kept nginx's ID (it arrived as X-Request-ID), and logged it.
    assert logged_ids(app, 2) == [[first, first, "200"], [second, second, "200"]]


# --- the flag -------------------------------------------------------------------------

def test_help_shows_the_flag():
    r = run_cli(["--help"])
    assert r.returncode == 0 and "--access-logformat FORMAT" in r.stdout
    assert "json" in r.stdout and "docs/logging.md" in r.stdout


@pytest.mark.parametrize("fmt,why", [
    ("%(x)s", "no atom %(x)s"),
    ("%(h)d", "not always a number"),
    ("100%", "at byte 4"),
    ("%({home}e)s", "environment variables"),
    ("a\tb\x01", "control character"),
])
def test_bad_format_is_a_usage_error(fmt, why):
    r = run_cli(["--access-logformat", fmt])
    assert not r.started and r.returncode == 2, r
    assert r.stderr.startswith("unixcorn: --access-logformat: ") and why in r.stderr, r


def test_format_from_a_config_file(start_server, workdir):
    conf = os.path.join(workdir, "unixcorn.conf")
    log = os.path.join(workdir, "access.log")
    with open(conf, "w") as f:
        f.write("access-logfile = %s\naccess-logformat = %%(s)s \"%%(r)s\"\n" % log)
    srv = start_server("-c", conf)
    srv.access_log = log
    assert ask(srv, raw_request(b"/conf")).status == 200
    assert log_lines(srv, 1) == [b'200 "GET /conf HTTP/1.1"']
