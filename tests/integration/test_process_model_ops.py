"""The process model in operation: pid file and --check-config, a worker that
cannot boot, the stall watchdog, reloads behind the bundled nginx, a slow
upload across TERM, and running under systemd (socket activation, sd_notify).
Real processes, real signals, real nginx, h2load and systemd-socket-activate;
test_process_model.py has the master and workers under load."""

import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import time

import pytest

from conftest import BIN, Reader, request_bytes
from test_nginx import Nginx
from uc_testlib import (H2load, assert_h2load_clean, booting_pids, child_pids, echo_on,
                        echo_unix, log_search, read_pid, run_cli, unix_connect, usr2,
                        wait_booted, wait_pid, wait_until, wait_workers)
from uc_testlib import subreaper  # noqa: F401  (a fixture)


def test_pid_file_names_the_master_and_goes_at_exit(start_server, workdir):
    pid_file = os.path.join(workdir, "app.pid")
    srv = start_server("--workers", "2", "--pid", pid_file)
    assert read_pid(pid_file) == srv.pid
    assert srv.stop() == 0, srv.stderr()
    assert not os.path.exists(pid_file)


@pytest.mark.parametrize("flags,rc,named", [
    (["--workers", "2"], 0, None),
    (["--workers", "0"], 2, "workers"),
    (["--no-such-flag"], 2, "no-such-flag"),
], ids=["valid", "bad-value", "bad-flag"])
def test_check_config(workdir, flags, rc, named):
    path = os.path.join(workdir, "check.sock")
    res = run_cli(["--bind", "unix:" + path, "--check-config"] + flags)
    assert res.returncode == rc, res
    assert not res.started and not os.path.lexists(path), res
    if named:
        assert res.stderr.count("\n") == 1 and named in res.stderr, res


def test_worker_that_cannot_boot_stops_the_master(start_server, workdir):
    spool = os.path.join(workdir, "spool")
    os.mkdir(spool)
    srv = start_server("--tmp-dir", spool)
    worker = srv.worker_pid()
    shutil.rmtree(spool)
    os.kill(worker, signal.SIGKILL)
    t0 = time.monotonic()
    rc = srv.wait(timeout=10)
    log = srv.stderr()
    assert rc != 0 and time.monotonic() - t0 < 5, (rc, log)
    assert "failed to boot" in log
    assert re.search(r"Worker \(pid:\d+\) exited with code 3\b", log), log
    assert log.count("cannot create temporary files there") == 1, log  # no fork loop
    assert booting_pids(log) == [worker]
    assert not os.path.lexists(srv.sock)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_stalled_worker_is_dumped_killed_and_replaced(start_server, method):
    srv = start_server("--timeout", "1", env={"UNIXCORN_DEBUG_STALL_PATH": "/stall"})
    old = srv.worker_pid()
    c = unix_connect(srv.sock)
    c.sendall(request_bytes(method, "/stall", b"stuck" if method == "POST" else b""))
    log_search(srv, r"\[%d\] \[ERROR\] Worker \(pid:%d\) timed out" % (srv.pid, old))
    log_search(srv, r"\[%d\] \[CRITICAL\] Worker timed out" % old)
    # The echo application stalls inside its own callback: the dump says so.
    log_search(srv, r"in the application, on this thread: %s /stall\b" % method)
    log_search(srv, r"Worker \(pid:%d\) was killed by Aborted" % old)
    frames = re.findall(r"^\S*\(\S*\) ?\[0x[0-9a-f]+\]$", srv.stderr(), re.M)
    assert len(frames) >= 3, srv.stderr()  # backtrace_symbols_fd lines
    new = wait_until(lambda: [p for p in srv.worker_pids() if p != old])
    assert len(new) == 1, srv.stderr()
    wait_booted(srv, new)
    assert Reader(c).closed(timeout=5)
    c.close()
    echo_unix(srv.sock, b"served after the stall\n")
    assert srv.stop() == 0, srv.stderr()


@pytest.fixture
def proxied(workdir, start_server):
    os.chmod(workdir, 0o755)  # nginx's workers run as nobody when started as root
    app = start_server("--workers", "2")
    proxy = Nginx(workdir, app.sock)
    yield app, proxy
    proxy.stop()


def test_hup_behind_nginx_fails_no_request(proxied):
    app, proxy = proxied
    old = wait_workers(app, 2)
    load = H2load(seconds=3, clients=8, url="http://127.0.0.1:%d/" % proxy.port)
    try:
        for reload in range(2):
            time.sleep(0.8)
            # The reload before this one is over: its workers have booted.
            assert wait_until(lambda: len(booting_pids(app.stderr())) == 2 + 2 * reload,
                              10), app.stderr()
            app.signal(signal.SIGHUP)
        res = load.result()
    finally:
        load.kill()
    with open(proxy.log, errors="replace") as f:
        nginx_log = f.read()
    errors = [line for line in nginx_log.splitlines() if "[error]" in line][:10]
    assert_h2load_clean(res)  # every request a 2xx: no 502
    assert errors == []
    new = wait_workers(app, 2)
    wait_booted(app, new)
    assert not set(new) & set(old)
    assert len(booting_pids(app.stderr())) == 6, app.stderr()  # two reloads of two


def test_stopping_worker_answers_a_kept_alive_request_with_close(start_server):
    srv = start_server("--keepalive", "5")
    old = srv.worker_pid()
    c = unix_connect(srv.sock)
    assert (echo_on(c, b"one\n").header("connection") or "").lower() != "close"
    srv.signal(signal.SIGHUP)
    log_search(srv, r"\[%d\] \[INFO\] Worker stopping" % old)
    assert old in srv.worker_pids()  # still finishing its connection
    resp = echo_on(c, b"two, during the reload\n")
    assert resp.header("connection", "").lower() == "close"
    assert Reader(c).closed(timeout=5)
    c.close()
    assert wait_until(lambda: len(srv.worker_pids()) == 1 and old not in srv.worker_pids())
    assert srv.stop() == 0, srv.stderr()


def test_term_lets_a_slow_upload_finish(start_server):
    srv = start_server("--workers", "2")
    body = os.urandom(3000)
    c = unix_connect(srv.sock)
    echo_on(c, b"accepted\n")  # the connection is a worker's before the upload starts
    c.sendall(request_bytes("POST", "/slow", body)[:-len(body)] + body[:200])
    srv.signal(signal.SIGTERM)
    assert wait_until(lambda: not os.path.lexists(srv.sock)), srv.stderr()
    for i in range(200, len(body), 100):  # about 2 s of trickling
        time.sleep(0.07)
        assert srv.proc.poll() is None, srv.stderr()
        c.sendall(body[i:i + 100])
    resp = Reader(c).response()
    assert (resp.status, resp.body == body) == (200, True)
    c.close()
    assert srv.wait(timeout=10) == 0, srv.stderr()
    assert not os.path.lexists(srv.sock)


class Activated:
    """unixcorn started by systemd-socket-activate, which binds the socket,
    waits for the first connection and then execs unixcorn in its own process."""

    def __init__(self, workdir, *args):
        self.sock = os.path.join(workdir, "activated.sock")
        self.log = os.path.join(workdir, "activated.log")
        self.proc = subprocess.Popen(
            ["systemd-socket-activate", "-l", self.sock, BIN] + list(args),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(self.log, "wb"))

    @property
    def pid(self):
        return self.proc.pid

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stderr(self):
        with open(self.log, errors="replace") as f:
            return f.read()


@pytest.mark.parametrize("upgrade", [False, True], ids=["plain", "after-usr2"])
def test_socket_activation_leaves_systemds_socket(workdir, subreaper, upgrade):
    ignored = os.path.join(workdir, "ignored.sock")
    act = Activated(workdir, "--workers", "2", "--bind", "unix:" + ignored)
    try:
        assert wait_until(lambda: os.path.exists(act.sock)), act.stderr()
        inode = os.lstat(act.sock).st_ino
        echo_unix(act.sock, b"first\n")  # this connection starts unixcorn
        assert wait_until(lambda: len(child_pids(act.pid)) == 2), act.stderr()
        for i in range(5):
            echo_unix(act.sock, b"request %d\n" % i)
        assert "Using 1 sockets from systemd" in act.stderr()
        assert "Listening at: unix:%s (%d)" % (act.sock, act.pid) in act.stderr()
        assert not os.path.lexists(ignored)
        if upgrade:
            new_master, _ = usr2(act, subreaper, workers=2)
        act.signal(signal.SIGTERM)
        assert act.proc.wait(timeout=15) == 0, act.stderr()
        if upgrade:
            echo_unix(act.sock, b"served by the new master\n")
            os.kill(new_master, signal.SIGTERM)
            assert wait_pid(new_master) == 0, act.stderr()
    finally:
        if act.proc.poll() is None:
            act.proc.kill()
            act.proc.wait()
    assert os.path.lexists(act.sock), "unixcorn removed systemd's socket:\n" + act.stderr()
    st = os.lstat(act.sock)
    assert stat.S_ISSOCK(st.st_mode) and st.st_ino == inode


@pytest.fixture
def notify(workdir):
    """A NOTIFY_SOCKET in workdir; yields a function returning the next datagram."""
    path = os.path.join(workdir, "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)

    def recv(timeout=5.0):
        s.settimeout(timeout)
        try:
            return s.recv(4096).decode()
        except socket.timeout:
            return None
    recv.env = {"NOTIFY_SOCKET": path}
    yield recv
    s.close()


def test_notify_ready_reloading_stopping(start_server, notify):
    srv = start_server("--workers", "2", env=notify.env)
    assert notify() == "READY=1"
    old = wait_workers(srv, 2)
    srv.signal(signal.SIGHUP)
    assert notify() == "RELOADING=1"
    assert notify() == "READY=1"
    assert len(set(srv.worker_pids()) - set(old)) == 2  # ready means the new ones are up
    srv.signal(signal.SIGTERM)
    assert notify() == "STOPPING=1"
    assert srv.wait() == 0, srv.stderr()
    assert notify(timeout=0.5) is None  # and nothing else, from master or workers


def test_notify_after_usr2_follows_the_new_master(start_server, notify, subreaper):
    """With the shipped unit's NotifyAccess=all, systemd takes STOPPING=1 from
    any process of the service: once the new master has said MAINPID=, the old
    one must not say STOPPING=1, or systemd stops the upgraded service."""
    srv = start_server("--workers", "1", env=notify.env)
    assert notify() == "READY=1"
    new, _ = usr2(srv, subreaper, workers=1)
    assert notify() == "MAINPID=%d\nREADY=1" % new
    srv.signal(signal.SIGTERM)
    assert srv.wait() == 0, srv.stderr()
    from_old = notify(timeout=0.5)
    echo_unix(srv.sock, b"upgraded\n")
    os.kill(new, signal.SIGTERM)
    assert wait_pid(new) == 0, srv.stderr()
    assert notify() == "STOPPING=1"
    assert from_old is None, "the old master sent %r after the new one took over" % from_old
