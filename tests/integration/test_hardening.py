"""Hardening: slow-client attacks with Debian's slowhttptest, --worker-connections,
running out of file descriptors, and --allow-uid/--allow-gid peer credentials.

Real binary, real sockets: slowhttptest speaks TCP only, so the attacked server
listens on 127.0.0.1 as well as on its Unix socket, and the ordinary clients that
must keep being served use the Unix socket.  The busy-loop half of the EMFILE
case is test_signals.py's test_emfile_on_accept_no_busy_loop; the case here adds
what that one leaves out (see its docstring)."""

import json
import os
import re
import resource
import select
import shutil
import subprocess
import time

import pytest

from conftest import Reader, request_bytes
from echo_util import assert_silent
from uc_testlib import echo_on, echo_unix, log_search, start_tcp, unix_connect, wait_until

ATTACK_SECONDS = 15          # the -l given to slowhttptest: the attack's upper bound
PROBE_LIMIT = 1.0            # the bound: answered within 1 s while under attack
HWM_LIMIT_KIB = 64 * 1024    # bound on the serving process's peak RSS (ASan build: ~25 MiB)
FD_SLACK = 6                 # "a handful" of fds over the idle server's count
SERVER_FDS = 8192

ATTACKS = {
    # Slowloris: 1000 connections at 500/s, each sending one more header line a
    # second and never finishing its head; --header-timeout 2 must cut them.
    "slowloris": ["-H", "-c", "1000", "-r", "500", "-i", "1", "-x", "24",
                  "-l", str(ATTACK_SECONDS)],
    # Slow read: 1000 connections pipelining 10 GETs each and advertising a 1..16
    # byte receive window, reading 4 bytes every 2 s.  The echo's answers to those
    # GETs are a few hundred bytes, which the kernel's socket buffers take whole,
    # so the server sees idle kept-alive connections rather than a stalled write:
    # it is --keepalive (given 2 s here, like the other two) that cuts them.
    "slow_read": ["-X", "-c", "1000", "-r", "500", "-w", "1", "-y", "16", "-n", "2",
                  "-z", "4", "-k", "10", "-l", "10"],
}


def serving_pid(srv):
    """The process that holds the connections: the worker, where there is one."""
    return srv.worker_pid() if hasattr(srv, "worker_pid") else srv.pid


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def probe(srv):
    """One ordinary request on a fresh Unix-socket connection: (seconds, error or None)."""
    t0 = time.monotonic()
    try:
        echo_unix(srv.sock, b"probe during the attack\n")
        err = None
    except (AssertionError, OSError, EOFError) as e:
        err = repr(e)
    return time.monotonic() - t0, err


@pytest.fixture
def attack_server(start_server, workdir):
    if shutil.which("slowhttptest") is None:
        pytest.fail("slowhttptest is not installed (apt-get install -y slowhttptest)")
    srv, port = start_tcp(start_server, "127.0.0.1",
                          "--header-timeout", "2", "--read-timeout", "2", "--keepalive", "2",
                          "--worker-connections", "2000",
                          extra_binds=["unix:" + os.path.join(workdir, "app.sock")])
    resource.prlimit(serving_pid(srv), resource.RLIMIT_NOFILE, (SERVER_FDS, SERVER_FDS))
    echo_unix(srv.sock)  # serving on the Unix socket before the attack starts
    return srv, port


@pytest.fixture
def spawned():
    """Popen wrapper whose processes are all killed at teardown."""
    procs = []

    def run(argv, **kw):
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, **kw)
        procs.append(p)
        return p

    yield run
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_slow_attack_does_not_starve_ordinary_clients(attack_server, spawned, workdir, attack):
    srv, port = attack_server
    pid = serving_pid(srv)
    baseline_fds = open_fds(pid)
    out_path = os.path.join(workdir, "slowhttptest.out")
    with open(out_path, "wb") as out:
        tool = spawned(["slowhttptest"] + ATTACKS[attack] +
                       ["-u", "http://127.0.0.1:%d/" % port, "-p", "2"],
                       stdout=out, stderr=subprocess.STDOUT, cwd=workdir)

    probes, fds = [], []   # (seconds, error); the server's fd count, tool running
    deadline = time.monotonic() + ATTACK_SECONDS + 10
    while tool.poll() is None and time.monotonic() < deadline and len(probes) < 400:
        fds.append(open_fds(pid))
        probes.append(probe(srv))
        time.sleep(0.05)
    assert tool.poll() is not None, "slowhttptest still running after %d s" % (
        ATTACK_SECONDS + 10)
    with open(out_path, "rb") as f:
        report = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", f.read().decode("utf-8", "replace"))
    assert srv.proc.poll() is None, "server died under attack:\n" + srv.stderr()[-3000:]

    peak = max(fds)
    assert peak - baseline_fds >= 300, (
        "the attack never got going: at most %d server connections (slowhttptest said:\n%s)"
        % (peak - baseline_fds, report[-2000:]))
    failed = [(round(t, 3), e) for t, e in probes if e is not None or t > PROBE_LIMIT]
    assert not failed, "%d of %d ordinary requests failed or took over %.1f s: %s" % (
        len(failed), len(probes), PROBE_LIMIT, failed[:10])

    # The server, not the end of the attack, closed the attackers: either
    # slowhttptest saw every one of its connections closed, or the server's fd
    # count was back to a handful while the tool still held its end open.
    shed_while_running = any(n <= baseline_fds + FD_SLACK for n in fds[fds.index(peak):])
    assert shed_while_running or "No open connections left" in report, (
        "attack connections were not cut by the server's timeouts; fds over time: %s\n%s"
        % (fds[::5], report[-1500:]))
    settled = wait_until(lambda: open_fds(pid) <= baseline_fds + FD_SLACK, timeout=6.0)
    assert settled, "server still has %d fds 6 s after the attack (idle: %d)" % (
        open_fds(pid), baseline_fds)

    hwm = srv.rss_kib("VmHWM")
    assert hwm < HWM_LIMIT_KIB, "server VmHWM reached %d KiB under attack" % hwm
    echo_unix(srv.sock, b"after the attack\n")
    assert srv.stop() == 0, srv.stderr()[-3000:]


# --- --worker-connections ------------------------------------------------------------

@pytest.mark.parametrize("idle_bytes", [b"", b"GET / HTTP/1.1\r\nHost: x\r\n"],
                         ids=["silent", "partial_head"])
def test_worker_connections_backlog_holds_the_rest(start_server, idle_bytes):
    srv = start_server("--worker-connections", "5", "--header-timeout", "60",
                       "--keepalive", "60")
    pid = serving_pid(srv)
    baseline_fds = open_fds(pid)
    idle = []
    try:
        for _ in range(5):
            s = srv.connect(10.0)
            s.sendall(idle_bytes)
            idle.append(s)
        assert wait_until(lambda: open_fds(pid) == baseline_fds + 5), (
            "server did not take the first 5 connections: %d fds, idle server %d"
            % (open_fds(pid), baseline_fds))

        sixth = srv.connect(10.0)  # the kernel queues it: connect succeeds
        body = b"sixth in the queue\n"
        sixth.sendall(request_bytes("POST", "/", body))
        assert_silent(sixth, 1.0)
        assert open_fds(pid) == baseline_fds + 5, "server took a 6th connection"
        assert re.search(r"\[INFO\] .*--worker-connections", srv.stderr()), srv.stderr()

        idle.pop(0).close()
        sixth.settimeout(10.0)
        r = Reader(sixth).response()
        assert (r.status, r.body) == (200, body)
    finally:
        for s in idle:
            s.close()
    echo_unix(srv.sock)


# --- out of file descriptors -------------------------------------------------------

def test_fd_limit_queued_requests_answered_once_fds_free(start_server):
    """test_signals.py checks that EMFILE does not spin and that a *new* client is
    served afterwards.  Here: the clients that were left in the listen queue with a
    request already sent are the ones answered once fds free up, and the log names
    the error and the limit."""
    srv = start_server("--header-timeout", "60", "--keepalive", "60", "--read-timeout", "60")
    resource.prlimit(serving_pid(srv), resource.RLIMIT_NOFILE, (64, 64))
    clients = {}
    try:
        for i in range(80):
            s = unix_connect(srv.sock, timeout=10.0)
            body = b"client %d\n" % i
            s.sendall(request_bytes("POST", "/", body))
            clients[s] = body
        # The server takes what it can, up to the fd limit, and answers it.
        log_search(srv, r"\[WARNING\] accept\(\): .*pausing accepts", timeout=10)
        ready, _, _ = select.select(list(clients), [], [], 2.0)
        served = set(ready)
        for s in served:
            r = Reader(s).response()
            assert (r.status, r.body) == (200, clients[s])
        queued = [s for s in clients if s not in served]
        assert served and queued, "%d of 80 answered with RLIMIT_NOFILE 64" % len(served)
        assert srv.proc.poll() is None, srv.stderr()
        log = srv.stderr()
        assert re.search(r"\[WARNING\] .*Too many open files.*\b64\b", log), log[-2000:]

        for s in served:
            s.close()
            del clients[s]
        for s in queued:  # each one answered, with its own body
            s.settimeout(10.0)
            r = Reader(s).response()
            assert (r.status, r.body) == (200, clients[s])
    finally:
        for s in clients:
            s.close()
    echo_unix(srv.sock, b"after the fd limit\n")
    assert srv.stop() == 0, srv.stderr()[-3000:]


# --- --allow-uid / --allow-gid -----------------------------------------------------

AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
NOBODY_UID = 65534

# Runs as nobody: one POST on the socket; prints what came back as JSON.
CLIENT = r"""
import json, os, socket, sys
out = {"pid": os.getpid(), "uid": os.getuid(), "data": "", "error": None}
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5.0)
try:
    s.connect(sys.argv[1])
    body = sys.argv[2].encode()
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    data = b""
    while not data.endswith(body):
        d = s.recv(65536)
        if not d:
            break
        data += d
    out["data"] = data.decode("latin-1")
except OSError as e:
    out["error"] = repr(e)
print(json.dumps(out))
"""


def echo_as_nobody(srv, body):
    p = subprocess.run(AS_NOBODY + ["/usr/bin/python3", "-c", CLIENT, srv.sock, body],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    assert p.returncode == 0, p.stderr.decode()
    res = json.loads(p.stdout)
    assert res["uid"] == NOBODY_UID
    return res


def refused_line(srv, pid, uid):
    pat = r"\[WARNING\] .*\bpid %d\b.*\buid %d\b" % (pid, uid)
    return wait_until(lambda: re.search(pat, srv.stderr()), timeout=3.0)


def check_root(srv, allowed):
    s = srv.connect(5.0)
    try:
        if allowed:
            echo_on(s, b"root\n")
            return
        try:
            s.sendall(request_bytes("POST", "/", b"root\n"))
        except (BrokenPipeError, ConnectionResetError):
            pass
        rd = Reader(s)
        assert rd.closed(5.0) and rd.buf == b"", "refused root got bytes: %r" % rd.buf[:200]
    finally:
        s.close()
    assert refused_line(srv, os.getpid(), 0), srv.stderr()


def check_nobody(srv, allowed):
    body = "nobody %d" % os.getpid()
    res = echo_as_nobody(srv, body)
    if allowed:
        assert res["error"] is None, res
        assert res["data"].startswith("HTTP/1.1 200 ") and res["data"].endswith(body), res
        return
    assert res["data"] == "", "refused peer got an HTTP response: %r" % res
    assert refused_line(srv, res["pid"], NOBODY_UID), srv.stderr()


@pytest.mark.parametrize("args,root_ok,nobody_ok", [
    (("--allow-uid", "0"), True, False),
    (("--allow-uid", "nobody"), False, True),
    (("--allow-gid", "nogroup"), False, True),
    (("--allow-uid", "root,%d" % NOBODY_UID), True, True),
    (("--allow-uid", "0", "--allow-gid", "nogroup"), True, True),
    ((), True, True),
], ids=["uid_0", "uid_nobody", "gid_nogroup", "uid_name_and_number", "uid_or_gid", "anyone"])
def test_peer_credentials(start_server, workdir, args, root_ok, nobody_ok):
    os.chmod(workdir, 0o755)  # nobody must reach the socket (mode 0666 by default)
    srv = start_server(*args)
    # The refused peer goes first: the server must keep serving after a refusal.
    for check, ok in sorted([(check_root, root_ok), (check_nobody, nobody_ok)],
                            key=lambda c: c[1]):
        check(srv, ok)
    assert srv.proc.poll() is None, srv.stderr()
    refusals = re.findall(r"\[WARNING\] .*\bpid \d+\b.*\buid \d+", srv.stderr())
    assert len(refusals) == (not root_ok) + (not nobody_ok), srv.stderr()
