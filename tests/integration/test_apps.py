"""Applications behind the public interface (include/unixcorn/app.h), served
from shared objects: loading them, their threads, the rules the server holds
them to, their crashes, and HUP code reload. tests/apps/testapps.c is the
application, one descriptor per behaviour."""

import os
import re
import shutil
import signal
import socket
import threading
import time

import pytest

from conftest import BIN, Reader, exchange, request_bytes
from echo_util import assert_silent
from uc_testlib import (log_search, queued_at, run_cli, wait_answer_started, wait_taken,
                        wait_until, wait_workers)

BUILD = os.path.dirname(os.path.abspath(BIN))
APPS = os.environ.get("UNIXCORN_TESTAPPS") or os.path.join(BUILD, "tests", "testapps.so")
APPS_TWO = os.environ.get("UNIXCORN_TESTAPPS_TWO") or APPS.replace(".so", "_two.so")
APPS_BROKEN = os.environ.get("UNIXCORN_TESTAPPS_BROKEN") or APPS.replace(".so", "_broken.so")


def app(symbol):
    return "%s:%s" % (APPS, symbol)


def get(srv, target, timeout=10.0):
    resp, r = exchange(srv, request_bytes("GET", target), timeout=timeout)
    r.sock.close()
    return resp


def error_lines(srv):
    return [l for l in srv.stderr().splitlines() if "[ERROR] application:" in l]


# ---- loading ----

def not_a_shared_object(d):
    path = os.path.join(d, "notes.so")
    with open(path, "w") as f:
        f.write("not an ELF file\n")
    return path


LOAD_ERRORS = [
    (lambda d: "nosuch", "APP nosuch: No such file or directory"),
    (lambda d: os.path.join(d, "missing.so"), "missing.so: No such file or directory"),
    (not_a_shared_object, "is not a shared object this process can load"),
    (lambda d: app("no_such_symbol"), "exports no no_such_symbol"),
    (lambda d: app("other_version"), "is built for version 2 of the application interface"),
    (lambda d: app("init_fails"), "init_fails: its init failed (it returned 7)"),
]


@pytest.mark.parametrize("spec,message", LOAD_ERRORS,
                         ids=["name", "path", "not-elf", "symbol", "version", "init"])
def test_a_bad_app_stops_the_start_with_one_line_and_binds_nothing(workdir, spec, message):
    sock = os.path.join(workdir, "app.sock")
    res = run_cli(["--bind", "unix:" + sock, spec(workdir)])
    assert res.returncode == 1, res
    errors = [l for l in res.stderr.splitlines() if "[ERROR]" in l]
    assert len(errors) == 1 and message in errors[0], res
    assert "Listening at" not in res.stderr, res
    assert not os.path.exists(sock)
    check = run_cli(["--check-config", spec(workdir)])
    assert check.returncode == 1 and message in check.stderr, check


def test_init_gets_app_arg_in_each_worker_and_fini_runs_at_exit(start_server, workdir):
    trace = os.path.join(workdir, "trace")
    srv = start_server("-w", "2", "--app-arg", trace, app("traced"))
    resp = get(srv, "/")
    assert resp.status == 200 and resp.body == trace.encode()
    workers = sorted(srv.worker_pids())
    assert srv.stop() == 0
    with open(trace) as f:
        lines = [l.split() for l in f.read().splitlines()]
    # First a check before anything binds, in a child of the master that
    # lives for that alone (never the master itself); then once per worker.
    check = lines[0][1]
    assert lines[:2] == [["init", check], ["fini", check]], lines
    assert int(check) not in workers + [srv.pid]
    inits = sorted(int(p) for verb, p in lines[2:] if verb == "init")
    finis = sorted(int(p) for verb, p in lines[2:] if verb == "fini")
    assert inits == workers and finis == workers, lines


# ---- blocking applications on --threads ----

def test_blocking_requests_run_side_by_side_on_the_pool(start_server):
    srv = start_server("--threads", "4", app("blocking"))
    results = []

    def one():
        results.append(get(srv, "/?ms=1500", timeout=30))

    clients = [threading.Thread(target=one) for _ in range(4)]
    for c in clients:
        c.start()
    for c in clients:
        c.join()
    assert [r.status for r in results] == [200] * 4
    threads = {r.body.split()[-1] for r in results}
    # Each request held its thread for 1.5 s, and all four came at once.
    assert len(threads) == 4, [r.body for r in results]


def test_the_loop_serves_other_connections_while_the_pool_is_busy(start_server):
    srv = start_server("--threads", "1", app("blocking"))
    slow = srv.connect(30)
    slow.sendall(request_bytes("GET", "/?ms=3000"))
    queued = srv.connect(30)
    queued.sendall(request_bytes("GET", "/?ms=1"))
    wait_taken(lambda: queued_at(srv.sock), "the two requests")
    # The one thread sleeps: a bad request is still answered at once, and the
    # queued request waits its turn without being refused.
    bad, _ = exchange(srv, b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n")
    assert bad.status == 400
    assert_silent(slow, 0.2)
    first, second = Reader(slow).response(), Reader(queued).response()
    assert first.status == 200 and first.body.startswith(b"slept 3000 ms")
    assert second.status == 200 and second.body.startswith(b"slept 1 ms")


def test_a_blocking_write_waits_for_a_slow_reader(start_server):
    srv = start_server("--threads", "1", app("blocking"))
    s = srv.connect(30)
    size = 8 << 20
    s.sendall(request_bytes("GET", "/?bytes=%d" % size))
    time.sleep(1.0)  # the output fills; the thread's writes wait meanwhile
    resp = Reader(s).response()
    assert resp.status == 200 and resp.body == bytes(size)
    assert error_lines(srv) == []


@pytest.mark.parametrize("query", ["", "&chunked=1", "&piece=100000", "&piece=100000&chunked=1"],
                         ids=["small-writes", "small-writes-chunked", "large-writes",
                              "large-writes-chunked"])
def test_a_blocking_write_holds_its_thread_while_the_reader_is_slow(start_server, query):
    srv = start_server("--threads", "1", app("blocking"))
    size = 8 << 20
    slow = srv.connect(30)
    slow.sendall(request_bytes("GET", "/?bytes=%d%s" % (size, query)))
    wait_answer_started(slow)  # the one thread is writing it...
    time.sleep(0.5)  # ...and the output and the socket fill up
    queued = srv.connect(30)
    queued.sendall(request_bytes("GET", "/?ms=1"))
    # Writes the thread holds back are bounded: once they are full, the one
    # thread waits for the reader, and the next request waits for the thread.
    assert_silent(queued, 1.0)
    resp = Reader(slow).response()
    assert resp.status == 200 and resp.body == bytes(size)
    assert (resp.header("transfer-encoding") == "chunked") == ("chunked" in query)
    after = Reader(queued).response()
    assert after.status == 200 and after.body.startswith(b"slept 1 ms")
    assert error_lines(srv) == []


def test_a_blocking_write_to_a_client_that_left_frees_its_thread(start_server):
    srv = start_server("--threads", "1", app("blocking"))
    gone = srv.connect(30)
    gone.sendall(request_bytes("GET", "/?bytes=%d" % (8 << 20)))
    wait_answer_started(gone)  # the thread is writing it...
    time.sleep(0.5)  # ...and waits for room
    gone.close()
    # Its write fails (the app answers 500 to that, to no one), and the one
    # thread serves the next request.
    resp = get(srv, "/?ms=1", timeout=10)
    assert resp.status == 200 and resp.body.startswith(b"slept 1 ms")
    assert error_lines(srv) == []


def test_a_blocking_answer_goes_out_at_its_end_not_at_the_return(start_server):
    srv = start_server("--threads", "1", app("lingering"))
    s = srv.connect(30)
    started = time.monotonic()
    s.sendall(request_bytes("GET", "/?ms=3000"))
    resp = Reader(s).response()
    assert resp.status == 200 and resp.body == b"answered\n"
    assert time.monotonic() - started < 2.0
    # The thread still lingers in on_request: the next request waits for it.
    started = time.monotonic()
    s.sendall(request_bytes("GET", "/?ms=0"))
    assert Reader(s).response().body == b"answered\n"
    assert time.monotonic() - started > 0.5


def test_a_zero_length_blocking_write_sends_what_was_written_at_once(start_server):
    srv = start_server("--threads", "1", app("ticker"))
    s = srv.connect(30)
    r = Reader(s)
    started = time.monotonic()
    s.sendall(request_bytes("GET", "/?n=2&ms=3000"))
    head = r.read_until(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b"Transfer-Encoding: chunked" in head
    assert r.read_until(b"tick\n\r\n") == b"5\r\ntick\n\r\n"
    assert time.monotonic() - started < 2.0  # not held until the thread wrote more
    assert r.read_until(b"0\r\n\r\n") == b"5\r\ntick\n\r\n0\r\n\r\n"
    assert time.monotonic() - started > 2.5


def test_a_stuck_blocking_request_is_named_when_timeout_aborts_the_worker(start_server):
    srv = start_server("--threads", "1", "--timeout", "2", app("blocking"))
    old = srv.worker_pid()
    s = srv.connect(30)
    s.sendall(request_bytes("GET", "/stuck?ms=60000"))
    assert Reader(s).closed(timeout=20)
    log = log_search(srv, r"Worker \(pid:%d\) timed out: a request has been in the "
                          r"application for" % old, timeout=10)
    assert log, srv.stderr()
    assert "in the application, on a pool thread: GET /stuck?ms=60000" in srv.stderr()
    assert wait_until(lambda: srv.worker_pids() and srv.worker_pids() != [old], 10)
    assert get(srv, "/?ms=1").status == 200


# ---- the rules: each broken one fails that request only ----

def pipelined_after(srv, target):
    """The request, then /ok behind it on the same connection."""
    s = srv.connect(20)
    s.sendall(request_bytes("GET", target) + request_bytes("GET", "/ok"))
    return Reader(s)


RULES = [
    ("bad_status", "/x", "an invalid status"),
    ("forbidden_header", "/x", "a header field that is invalid or the server's own"),
    ("forbidden_header", "/x?crlf", "a header field that is invalid or the server's own"),
    ("too_long", "/x", "a body longer or shorter than it declared"),
    ("wrong_thread", "/x", "called from a thread that does not own the request"),
]


@pytest.mark.parametrize("kind", ["event", "blocking"])
@pytest.mark.parametrize("name,target,rule", RULES,
                         ids=["status", "owned-field", "crlf-field", "too-long", "thread"])
def test_a_rule_broken_before_the_head_is_a_500_and_one_log_line(
        start_server, kind, name, target, rule):
    srv = start_server("--threads", "2", app(name + "_" + kind))
    r = pipelined_after(srv, target)
    resp = r.response()
    assert resp.status == 500 and rule.encode() in resp.body
    assert b"Set-Cookie" not in resp.body and resp.header("set-cookie") is None
    assert resp.header("connection") == "close" and r.closed()
    assert wait_until(lambda: error_lines(srv))
    assert [l.split("application: ")[1] for l in error_lines(srv)] == [
        "%s (GET %s)" % (rule, target)]
    assert get(srv, "/ok").body == b"ok\n"


@pytest.mark.parametrize("kind", ["event", "blocking"])
@pytest.mark.parametrize("name,rule", [
    ("too_short", "a body longer or shorter than it declared"),
    ("never_ends", "the response was left unended, with nothing to wait for"),
])
def test_a_rule_broken_after_the_head_closes_the_connection(start_server, kind, name, rule):
    srv = start_server("--threads", "2", app(name + "_" + kind))
    r = pipelined_after(srv, "/x")
    r.sock.settimeout(10)
    head = r.read_until(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    rest = r.read_to_eof()  # cut short: the client sees an incomplete response
    assert rest in (b"abc", b"4\r\nhalf\r\n"), rest
    assert wait_until(lambda: error_lines(srv))
    assert [l.split("application: ")[1] for l in error_lines(srv)] == ["%s (GET /x)" % rule]
    assert get(srv, "/ok").body == b"ok\n"


@pytest.mark.parametrize("kind", ["event", "blocking"])
@pytest.mark.parametrize("name,rule,call,code,rest", [
    ("header_after_body", "a header field after the head went out", "unixcorn_add_header",
     -2, b"3\r\nabc\r\n"),
    ("too_long_after_body", "a body longer or shorter than it declared", "unixcorn_write",
     -4, b"abc"),
], ids=["header", "too-long"])
def test_a_rule_broken_after_body_bytes_sends_them_then_closes(
        start_server, kind, name, rule, call, code, rest):
    srv = start_server("--threads", "2", app(name + "_" + kind))
    r = pipelined_after(srv, "/x")
    r.sock.settimeout(10)
    head = r.read_until(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b"X-Late" not in head
    assert r.read_to_eof() == rest  # what was written before, then the close
    assert wait_until(lambda: error_lines(srv))
    assert [l.split("application: ")[1] for l in error_lines(srv)] == ["%s (GET /x)" % rule]
    # The call that broke the rule returned its error itself.
    assert log_search(srv, r"\[WARNING\] application: %s returned %d\n" % (call, code))
    assert get(srv, "/ok").body == b"ok\n"


@pytest.mark.parametrize("kind", ["event", "blocking"])
def test_answering_twice_leaves_the_first_response_and_the_connection(start_server, kind):
    srv = start_server("--threads", "2", app("twice_" + kind))
    r = pipelined_after(srv, "/x")
    first, behind = r.response(), r.response()
    assert (first.status, first.body) == (200, b"first\n")
    assert (behind.status, behind.body) == (200, b"first\n")
    assert first.header("connection") is None
    assert wait_until(lambda: error_lines(srv))
    assert [l.split("application: ")[1] for l in error_lines(srv)] == [
        "answered twice (GET /x)"]


@pytest.mark.parametrize("kind", ["event", "blocking"])
def test_an_error_status_returned_is_the_answer_and_no_error_line(start_server, kind):
    srv = start_server("--threads", "2", app("returns_404_" + kind))
    resp = get(srv, "/missing")
    assert resp.status == 404
    assert get(srv, "/ok").body == b"ok\n"
    assert error_lines(srv) == []


# A client's own X-Request-ID, as a trusted peer (a Unix socket's) may send it:
# 20 to 200 of [A-Za-z0-9+/=-]. The crash dump names it, to find the request
# in the access log and the proxy's.
CRASH_ID = "Zm9v+YmFy/Y3Jhc2g=-boom-0007"


def dump_lines(stderr, pid):
    """The lines of worker pid's last words: its "it was here:" line and the
    request lines indented below it."""
    lines = stderr.splitlines()
    start = max(i for i, l in enumerate(lines)
                if l.startswith("[%d] [CRITICAL] Worker crashed" % pid))
    dump = [lines[start]]
    for line in lines[start + 1:]:
        if not line.startswith("  "):
            break
        dump.append(line)
    return dump


@pytest.mark.parametrize("kind", ["event", "blocking"])
@pytest.mark.parametrize("sig", [signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT],
                         ids=lambda s: signal.Signals(s).name)
def test_a_crash_names_the_request_and_the_worker_is_replaced(start_server, kind, sig):
    srv = start_server("--threads", "2", app("crash_" + kind))
    old = srv.worker_pid()
    s = srv.connect(20)
    target = "/boom?id=7&sig=%d" % sig
    s.sendall(request_bytes("GET", target, headers={"X-Request-ID": CRASH_ID}))
    assert Reader(s).closed(timeout=10)
    name = signal.Signals(sig).name
    assert log_search(srv, r"Worker crashed \(%s\); it was here:" % name, timeout=10)
    dump = dump_lines(srv.stderr(), old)
    assert ("  in the application, on this thread: GET %s (from unix) "
            "request_id=%s" % (target, CRASH_ID)) in dump, dump
    described = signal.strsignal(sig)
    assert log_search(srv, r"Worker \(pid:%d\) was killed by %s" % (old, re.escape(described)))
    assert wait_until(lambda: srv.worker_pids() and srv.worker_pids() != [old], 10)
    assert wait_until(lambda: "Booting worker" in srv.stderr().split(described)[-1], 10)
    assert get(srv, "/ok").body == b"ok\n"


# ---- HUP: new code, no request lost ----

class Load(threading.Thread):
    """Requests without pause, on keep-alive connections renewed every few
    requests: every answer must be a 200 from one build or the other.
    answers holds (when the request was sent, the body of its answer)."""

    def __init__(self, srv):
        super().__init__(daemon=True)
        self.srv, self.stop, self.answers, self.failures = srv, False, [], []

    def run(self):
        while not self.stop:
            try:
                s = self.srv.connect(20)
                r = Reader(s)
                for _ in range(5):
                    sent = time.monotonic()
                    s.sendall(request_bytes("GET", "/"))
                    resp = r.response()
                    if resp.status != 200:
                        self.failures.append(resp.status)
                    self.answers.append((sent, resp.body))
                    if resp.header("connection") == "close":
                        break
                s.close()
            except (OSError, EOFError) as e:
                self.failures.append(repr(e))


def replace_file(src, dst):
    """As install(1) does: a new file renamed into place, so processes that
    mapped the old one keep it."""
    tmp = dst + ".new"
    shutil.copyfile(src, tmp)
    os.rename(tmp, dst)


def test_hup_serves_new_code_without_losing_a_request(start_server, workdir):
    so = os.path.join(workdir, "app.so")
    shutil.copyfile(APPS, so)
    srv = start_server("-w", "2", so)
    old = srv.worker_pids()
    assert get(srv, "/").body == b"one\n"
    loads = [Load(srv) for _ in range(3)]
    for l in loads:
        l.start()
    try:
        assert wait_until(lambda: all(l.answers for l in loads), 10), "no load"
        replace_file(APPS_TWO, so)
        srv.signal(1)  # SIGHUP
        # The old workers leave once the new ones serve: from then on, only
        # the new code answers. (What an old worker answered before it left
        # may still be on its way to the client: the mark is on the sending.)
        assert wait_until(lambda: not set(old) & set(srv.worker_pids()), 20), srv.stderr()
        mark = time.monotonic()
        assert wait_until(lambda: all(any(t > mark for t, _ in l.answers) for l in loads),
                          10), "no request answered after the reload"
        time.sleep(0.5)
    finally:
        for l in loads:
            l.stop = True
        for l in loads:
            l.join(30)
    for l in loads:
        assert l.failures == []
        before = {body for t, body in l.answers if t <= mark}
        after = {body for t, body in l.answers if t > mark}
        assert before <= {b"one\n", b"two\n"}
        assert after == {b"two\n"}


def test_hup_with_broken_code_keeps_the_running_workers(start_server, workdir):
    so = os.path.join(workdir, "app.so")
    shutil.copyfile(APPS, so)
    srv = start_server("-w", "2", so)
    workers = sorted(srv.worker_pids())
    # Not loadable: the master checks before it starts anything.
    replace_file(not_a_shared_object(workdir), so)
    srv.signal(1)
    assert log_search(srv, r"HUP ignored: APP .*app\.so is not a shared object", timeout=10)
    # Loadable, but its init fails in the new workers: the old ones carry on.
    replace_file(APPS_BROKEN, so)
    srv.signal(1)
    assert log_search(srv, r"Worker failed to boot after HUP; the workers already "
                           r"running keep serving", timeout=15), srv.stderr()
    assert wait_workers(srv, 2)
    assert sorted(srv.worker_pids()) == workers
    assert get(srv, "/").body == b"one\n"
    assert srv.proc.poll() is None
    # Fixed: the next HUP goes through.
    replace_file(APPS_TWO, so)
    srv.signal(1)
    assert wait_until(lambda: get(srv, "/").body == b"two\n", timeout=15)


def test_app_from_the_config_file_and_the_command_line_wins(start_server, workdir):
    conf = os.path.join(workdir, "unixcorn.conf")
    with open(conf, "w") as f:
        f.write("app = %s\nthreads = 2\n" % app("blocking"))
    from_file = start_server("-c", conf, name="file")
    assert get(from_file, "/?ms=1").body.startswith(b"slept 1 ms")
    from_argument = start_server("-c", conf, APPS, name="argument")
    assert get(from_argument, "/").body == b"one\n"
    # HUP reads the file again: a new APP there is new code; the command
    # line's APP still wins over it.
    with open(conf, "w") as f:
        f.write("app = %s\n" % APPS_TWO)
    for srv in (from_file, from_argument):
        old = srv.worker_pids()
        srv.signal(1)
        assert wait_until(lambda: srv.worker_pids() and not set(old) & set(srv.worker_pids()),
                          15), srv.stderr()
    assert get(from_file, "/").body == b"two\n"
    assert get(from_argument, "/").body == b"one\n"
    res = run_cli(["--check-config", "-c", conf, APPS, "extra.so"])
    assert res.returncode == 2 and "a second APP" in res.stderr, res
