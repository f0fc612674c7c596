"""The process model: a master and its workers, under load and under signals.

Real processes, real signals and real h2load (Debian's nghttp2-client), over
the server's Unix socket. One h2load run of 20000 requests is over well before
the 0.3 s after which the signal is sent, so the load is a series of runs for a
set time (uc_testlib.H2load), and every request of every run must succeed.

test_process_model_ops.py holds the rest: pid file, boot failure, stall
watchdog, nginx in front, slow upload on TERM, systemd socket activation and
notify."""

import os
import re
import signal
import threading
import time
from contextlib import contextmanager

import pytest

from conftest import BIN, Reader, request_bytes
from echo_util import spool_fds
from uc_testlib import (H2load, PathWatcher, assert_h2load_clean, booting_pids, child_pids,
                        echo_on, echo_unix, log_search, read_pid, unix_connect, usr2,
                        wait_booted, wait_pid, wait_until, wait_workers)
from uc_testlib import subreaper  # noqa: F401  (a fixture)


def socket_fds(pid):
    fd_dir = "/proc/%d/fd" % pid
    return sum(os.readlink(os.path.join(fd_dir, fd)).startswith("socket:")
               for fd in os.listdir(fd_dir))


def proc_stat(pid):
    """(state, ppid) from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


@contextmanager
def stopped(pids):
    """SIGSTOP the processes for the duration of the block."""
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


class RequestLoop(threading.Thread):
    """Sequential POSTs to a Unix socket, each checked for 200 and the exact echo,
    until stop() or `count` requests. keepalive=False opens a connection per
    request; True keeps one until the server says Connection: close."""

    def __init__(self, path, count=None, keepalive=False):
        super().__init__(daemon=True)
        self.path, self.count, self.keepalive = path, count, keepalive
        self.ok_times, self.failures = [], []  # failures: (time, exception or text)
        self._stop_event = threading.Event()
        self.start()

    def run(self):
        sock = reader = None
        i = 0
        while not self._stop_event.is_set() and (self.count is None or i < self.count):
            i += 1
            body = b"request %d\n" % i
            close = True
            try:
                if sock is None:
                    sock = unix_connect(self.path, timeout=5)
                    reader = Reader(sock)
                sock.sendall(request_bytes("POST", "/loop/%d" % i, body))
                resp = reader.response()
                if resp.status == 200 and resp.body == body:
                    self.ok_times.append(time.monotonic())
                else:
                    self.failures.append((time.monotonic(), "HTTP %d %r" % (resp.status,
                                                                             resp.body[:80])))
                close = (not self.keepalive or
                         (resp.header("connection") or "").lower() == "close")
            except (OSError, EOFError) as e:
                self.failures.append((time.monotonic(), e))
            if close and sock is not None:
                sock.close()
                sock = None
        if sock is not None:
            sock.close()

    def finish(self, timeout=60.0):
        self._stop_event.set()
        self.join(timeout)
        assert not self.is_alive(), "the request loop is stuck"
        return self


def test_workers_are_children_of_the_master_and_all_serve(start_server):
    # --worker-connections 4: twelve connections held open at once can only
    # all be answered if each of the three workers takes its four.
    srv = start_server("--workers", "3", "--worker-connections", "4", "--keepalive", "30")
    pids = wait_workers(srv, 3)
    assert sorted(booting_pids(srv.stderr())) == pids, srv.stderr()
    for pid in pids:
        assert proc_stat(pid)[1] == srv.pid
        assert os.readlink("/proc/%d/exe" % pid) == os.path.realpath(BIN)
    before = {pid: socket_fds(pid) for pid in pids}
    conns = []
    try:
        for i in range(12):
            conns.append(unix_connect(srv.sock, timeout=5))
            echo_on(conns[-1], b"connection %d\n" % i, timeout=5)
        assert {pid: socket_fds(pid) - before[pid] for pid in pids} == {p: 4 for p in pids}
    finally:
        for c in conns:
            c.close()
    assert srv.stop() == 0, srv.stderr()


def test_killed_worker_is_replaced_within_a_second(start_server):
    srv = start_server("--workers", "2")
    old = wait_workers(srv, 2)
    loop = RequestLoop(srv.sock)
    try:
        time.sleep(0.5)
        t_kill = time.monotonic()
        os.kill(old[0], signal.SIGKILL)
        new = wait_until(lambda: [p for p in srv.worker_pids() if p not in old], 5, 0.002)
        assert new, "no new worker:\n" + srv.stderr()
        wait_booted(srv, new)
        t_booted = time.monotonic()
        time.sleep(max(0.0, t_kill + 2.5 - time.monotonic()))
        # Requests go on after the kill, however slowly this machine runs them.
        assert wait_until(lambda: len([t for t in loop.ok_times if t > t_booted]) > 10, 10), \
            "no requests after the kill"
    finally:
        loop.finish()
    assert t_booted - t_kill <= 1.5, "replaced after %.2f s" % (t_booted - t_kill)
    assert wait_workers(srv, 2) == sorted([old[1], new[0]])
    assert "Worker (pid:%d) was killed by Killed" % old[0] in srv.stderr()
    # At most the one request in flight on the killed worker fails, at the
    # connection level, and at the moment of the kill.
    assert len(loop.failures) <= 1, loop.failures
    for when, err in loop.failures:
        assert isinstance(err, (ConnectionError, EOFError)), loop.failures
        assert t_kill - 0.1 <= when <= t_booted + 0.1, (when - t_kill, err)
    assert len([t for t in loop.ok_times if t > t_booted]) > 10, "no requests after the kill"
    assert srv.stop() == 0, srv.stderr()


RELATIONS = {
    "all new": lambda old, new: not set(old) & set(new),
    "one more": lambda old, new: set(old) < set(new),
    "one less": lambda old, new: set(new) < set(old),
    "unchanged": lambda old, new: old == new,
}


@pytest.mark.parametrize("workers,sigs,after,relation", [
    pytest.param(3, ["SIGHUP"], 3, "all new", id="HUP"),
    pytest.param(3, ["SIGTTIN"], 4, "one more", id="TTIN"),
    pytest.param(3, ["SIGTTOU"], 2, "one less", id="TTOU"),
    pytest.param(1, ["SIGTTOU", "SIGTTOU"], 1, "unchanged", id="TTOU-not-below-one"),
])
def test_signal_under_load(start_server, workers, sigs, after, relation):
    srv = start_server("--workers", str(workers))
    old = wait_workers(srv, workers)
    load = H2load(seconds=3, unix=srv.sock)
    try:
        time.sleep(0.3)
        for i, name in enumerate(sigs, 1):
            srv.signal(getattr(signal, name))
            # Handled before the next is sent: two of a kind pending at once
            # would be one signal.
            assert wait_until(lambda: len(re.findall(r"Handling signal: ", srv.stderr())) == i,
                              10), srv.stderr()
        res = load.result()
    finally:
        load.kill()
    assert_h2load_clean(res)
    handled = [n[3:].lower() for n in sigs]
    assert re.findall(r"Handling signal: (\w+)", srv.stderr()) == handled, srv.stderr()

    def settled():
        new = sorted(srv.worker_pids())
        return len(new) == after and RELATIONS[relation](old, new) and new
    new = wait_until(settled, timeout=10)
    assert new, (relation, old, srv.worker_pids(), srv.stderr())
    time.sleep(0.5)  # and it stays that way
    assert sorted(srv.worker_pids()) == new
    wait_booted(srv, new)
    echo_unix(srv.sock)
    assert srv.stop() == 0, srv.stderr()


def start_old_master(start_server, workdir):
    """A master with two workers and a pid file, to be upgraded."""
    pid_file = os.path.join(workdir, "app.pid")
    old = start_server("--workers", "2", "--pid", pid_file)
    return old, wait_workers(old, 2), pid_file


def test_usr2_upgrade_then_term_old_master(start_server, workdir, subreaper):
    old, old_workers, pid_file = start_old_master(start_server, workdir)
    inode = os.lstat(old.sock).st_ino
    watch = PathWatcher(old.sock)
    load = None
    try:
        load = H2load(seconds=2, unix=old.sock)
        time.sleep(0.3)
        new_master, new_workers = usr2(old, subreaper, workers=2)
        assert child_pids(old.pid) == sorted(old_workers + [new_master])
        assert_h2load_clean(load.result())
        pid_files = [read_pid(f) if os.path.exists(f) else None
                     for f in (pid_file, pid_file + ".oldbin")]
        # Both masters serve: with either set of workers stopped, the other answers.
        for pids in (old_workers, new_workers):
            with stopped(pids):
                echo_unix(old.sock, b"served while %r are stopped\n" % pids)

        load = H2load(seconds=3, unix=old.sock)
        time.sleep(0.3)
        old.signal(signal.SIGTERM)
        assert old.wait(timeout=15) == 0, old.stderr()
        assert_h2load_clean(load.result())
        echo_unix(old.sock, b"after the old master left\n")
    finally:
        if load is not None:
            load.kill()
        watch.finish()
    assert watch.gaps == [], "the socket path disappeared: %r" % watch.gaps
    assert watch.inodes == {inode}
    assert watch.polls > 100
    assert proc_stat(new_master)[0] != "Z"
    assert child_pids(new_master) == new_workers
    os.kill(new_master, signal.SIGTERM)
    assert wait_pid(new_master) == 0, old.stderr()
    assert not os.path.lexists(old.sock)
    # The pid file names the new master, FILE.oldbin the old one, until it exits.
    assert pid_files == [new_master, old.pid], "pid file, .oldbin after USR2"
    assert not os.path.exists(pid_file + ".oldbin")
    assert not os.path.exists(pid_file), "the pid file outlived the new master"


def test_usr2_then_term_new_master_rolls_back(start_server, workdir, subreaper):
    """Stopping the new master instead of the old one backs the upgrade out:
    the old master carries on, on the same socket file."""
    old, old_workers, pid_file = start_old_master(start_server, workdir)
    inode = os.lstat(old.sock).st_ino
    watch = PathWatcher(old.sock)
    try:
        new_master, new_workers = usr2(old, subreaper, workers=2)
        os.kill(new_master, signal.SIGTERM)
        log_search(old, r"The new master \(pid:%d\) exited" % new_master)
        assert wait_workers(old, 2) == old_workers
        time.sleep(0.2)
    finally:
        watch.finish()
    assert watch.gaps == [], "the socket path disappeared: %r\n%s" % (watch.gaps, old.stderr())
    assert watch.inodes == {inode}
    echo_unix(old.sock, b"the old master carries on\n")
    assert wait_until(lambda: not os.path.exists(pid_file + ".oldbin"))
    assert read_pid(pid_file) == old.pid
    assert old.stop() == 0, old.stderr()
    assert not os.path.lexists(old.sock)


def test_winch_stops_the_workers_and_ttin_brings_one_back(start_server):
    # No controlling terminal (conftest starts every server in a session of its
    # own), as under systemd or in a container without a tty.
    srv = start_server("--workers", "2")
    old = wait_workers(srv, 2)
    srv.signal(signal.SIGWINCH)
    assert wait_workers(srv, 0) == []
    time.sleep(0.5)  # the master stays, and starts no one
    assert srv.worker_pids() == [] and srv.proc.poll() is None, srv.stderr()
    for pid in old:
        assert "Worker (pid:%d) exited with code 0" % pid in srv.stderr()
    # A request made with no worker waits in the listen queue for the next one.
    c = unix_connect(srv.sock, timeout=10)
    c.sendall(request_bytes("POST", "/queued", b"waited\n"))
    srv.signal(signal.SIGTTIN)
    new = wait_workers(srv, 1)
    assert not set(new) & set(old)
    resp = Reader(c).response()
    assert (resp.status, resp.body) == (200, b"waited\n")
    c.close()
    echo_unix(srv.sock)
    assert srv.stop() == 0, srv.stderr()


def test_a_terminal_resize_stops_no_worker(start_server):
    """In a terminal (./run, tmux), resizing the window sends WINCH to the whole
    foreground process group: the master and its workers."""
    srv = start_server("--workers", "2", tty=True)
    old = wait_workers(srv, 2)
    srv.resize_terminal(40, 100)
    assert wait_until(lambda: "Ignoring WINCH" in srv.stderr()), srv.stderr()
    srv.resize_terminal(50, 132)
    assert wait_until(lambda: srv.stderr().count("Ignoring WINCH") == 2), srv.stderr()
    time.sleep(0.5)  # time enough for workers to stop, if they were going to
    assert sorted(srv.worker_pids()) == sorted(old), srv.stderr()
    assert "Handling signal: winch" not in srv.stderr()
    assert "exited" not in srv.stderr()
    for i in range(4):
        echo_unix(srv.sock, b"still serving %d\n" % i)
    # kill -WINCH by hand is ignored there too: the terminal is what counts.
    srv.signal(signal.SIGWINCH)
    assert wait_until(lambda: srv.stderr().count("Ignoring WINCH") == 3), srv.stderr()
    assert sorted(srv.worker_pids()) == sorted(old)
    assert srv.stop() == 0, srv.stderr()


def test_usr1_reopens_the_access_log(start_server, workdir):
    log = os.path.join(workdir, "access.log")
    srv = start_server("--access-logfile", log)
    worker = srv.worker_pid()
    echo_unix(srv.sock, b"before\n")
    assert wait_until(lambda: os.path.exists(log) and "POST /echo " in open(log).read())
    os.rename(log, log + ".1")
    srv.signal(signal.SIGUSR1)
    # The worker writes the access log: wait until its fd is the new file.
    assert wait_until(lambda: log in spool_fds(worker, workdir)
                      and log + ".1" not in spool_fds(worker, workdir)), \
        (spool_fds(worker, workdir), srv.stderr())
    s = unix_connect(srv.sock)
    echo_on(s, b"after\n", target="/after-rotation")
    s.close()
    assert wait_until(lambda: "/after-rotation" in open(log).read()), srv.stderr()
    rotated = open(log + ".1").read()
    assert "POST /echo " in rotated and "/after-rotation" not in rotated
    assert srv.stop() == 0, srv.stderr()


@pytest.mark.parametrize("keepalive", [False, True], ids=["fresh", "kept-alive"])
def test_max_requests_rotates_workers(start_server, keepalive):
    srv = start_server("--workers", "2", "--max-requests", "50",
                       "--max-requests-jitter", "10")
    loop = RequestLoop(srv.sock, count=400, keepalive=keepalive)
    loop.join(60)
    loop.finish()
    assert loop.failures == [], (loop.failures, srv.stderr())
    assert len(loop.ok_times) == 400
    assert len(set(booting_pids(srv.stderr()))) > 2, srv.stderr()
    assert "max-requests reached" in srv.stderr()
    wait_booted(srv, wait_workers(srv, 2))
    assert srv.stop() == 0, srv.stderr()
