"""--metrics-bind is served by a process of its own, not by the master: the
master binds the socket and shares the counters, and never runs the connection
code. What a scrape does (or what is done to the metrics process) reaches
neither the master nor the workers; the process is supervised like a worker but
is not one: it answers with no worker alive, and TTIN, TTOU, WINCH and HUP leave
it alone."""

import os
import re
import signal
import subprocess
import threading
import time

import pytest

from conftest import BIN, Reader
from uc_testlib import (child_pids, echo_unix, log_search, metrics_process,
                        metrics_process_pids, scrape, scrape_response, unix_connect,
                        wait_pid, wait_until, workers_of)
from uc_testlib import subreaper  # noqa: F401  (a fixture)

KEEP_ALIVE_SCRAPE = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"


def start(start_server, workdir, *args, name=None):
    metrics = os.path.join(workdir, name or "", "metrics.sock")
    srv = start_server("--metrics-bind", "unix:" + metrics, *args, name=name)
    return srv, metrics


def fd_links(pid):
    d = "/proc/%d/fd" % pid
    links = []
    for fd in os.listdir(d):
        try:
            links.append(os.readlink(os.path.join(d, fd)))
        except FileNotFoundError:
            pass
    return links


def peer_inode(sock):
    """The inode of the server's end of a connected Unix socket (ss -x)."""
    ours = str(os.fstat(sock.fileno()).st_ino)
    out = subprocess.run(["ss", "-xn"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines()[1:]:
        f = line.split()
        if len(f) >= 8 and f[5] == ours:
            return int(f[7])
    raise AssertionError("no socket %s in:\n%s" % (ours, out))


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_scrapes_are_served_outside_the_master(start_server, workdir):
    srv, metrics = start(start_server, workdir, "--workers", "2")
    server = metrics_process(srv)
    assert server not in re.findall(r"Booting worker with pid: (\d+)", srv.stderr())
    assert len(workers_of(srv)) == 2
    held = [unix_connect(metrics) for _ in range(3)]
    try:
        for s in held[:2]:  # answered and kept alive
            s.sendall(KEEP_ALIVE_SCRAPE)
            assert Reader(s).response().status == 200
        held[2].sendall(b"GET /metrics HTTP/1.1\r\nHo")  # a head half sent
        for s in held:
            inode = "socket:[%d]" % peer_inode(s)
            assert wait_until(lambda: inode in fd_links(server)), (inode, fd_links(server))
            assert inode not in fd_links(srv.pid)
    finally:
        for s in held:
            s.close()
    # No epoll set of the connection code in the master: libuv's loop only.
    assert fd_links(srv.pid).count("anon_inode:[eventpoll]") == 1, fd_links(srv.pid)


def test_killed_metrics_process_is_replaced_and_nothing_else_moves(start_server, workdir):
    srv, metrics = start(start_server, workdir, "--workers", "2")
    first = metrics_process(srv)
    workers = workers_of(srv)
    echo_unix(srv.sock)
    assert wait_until(lambda: scrape(metrics)['unixcorn_requests_total{status="2xx"}'] == 1)
    time.sleep(1.1)  # old enough to be restarted at once
    os.kill(first, signal.SIGKILL)
    log_search(srv, r"Metrics process \(pid:%d\) was killed by Killed; starting another\n"
               % first)
    echo_unix(srv.sock, b"served meanwhile\n")
    second = metrics_process(srv)
    assert second != first
    values = scrape(metrics)
    assert values['unixcorn_requests_total{status="2xx"}'] >= 1
    assert sum(v for k, v in values.items() if k.startswith("unixcorn_worker_restarts")) == 0
    assert workers_of(srv) == workers and srv.proc.poll() is None
    assert "Worker (pid:" not in srv.stderr()


def test_a_metrics_process_dying_young_backs_off(start_server, workdir):
    """No fork loop: each death within a second of the start doubles the wait
    (1 s, 2 s, 4 s...), and one that lived longer is replaced at once. The
    first process may be older than a second by the time it is killed on a
    slow machine; the two after it are killed as soon as they have booted."""
    srv, metrics = start(start_server, workdir)
    delays, pid = [], metrics_process(srv)
    for _ in range(3):
        os.kill(pid, signal.SIGKILL)
        said = log_search(srv, r"Metrics process \(pid:%d\) was killed by Killed; starting "
                          r"another(?: in (\d+) s)?\n" % pid)
        delays.append(int(said.group(1) or 0))
        began = time.monotonic()
        # Not before the delay; after it, as long as a sanitizer build's
        # metrics process takes to start on a loaded machine.
        assert wait_until(lambda: metrics_process_pids(srv)[-1] != pid,
                          timeout=delays[-1] + 10), srv.stderr()
        assert time.monotonic() - began >= delays[-1] - 0.3
        pid = metrics_process(srv)
    first, second, third = delays
    assert first in (0, 1) and second == (2 * first or 1) and third == 2 * second, delays
    # None died but the three killed: a slow start was waited for, not a restart.
    assert len(re.findall(r"Metrics process \(pid:\d+\)", srv.stderr())) == 3, srv.stderr()
    assert scrape(metrics)['unixcorn_workers{state="idle"}'] == 1


BAD_SCRAPES = [
    b"\x00\xff\xfe garbage\r\n\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"GET /metrics HTTP/1.1\rHost: x\r\n\r\n",
    b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 500 + b"\r\n",
    b"GET /metrics HTTP/1.1\r\nHost: x\r\n X-Folded: y\r\n\r\n",
]


def test_malformed_scrapes_never_reach_the_master(start_server, workdir):
    srv, metrics = start(start_server, workdir)
    server = metrics_process(srv)
    statuses = []
    for raw in BAD_SCRAPES:
        s = unix_connect(metrics)
        try:
            s.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered and closed before the last of it
        try:
            status = Reader(s).response().status
        except (EOFError, ConnectionResetError):
            status = None
        s.close()
        statuses.append(status)
    assert all(400 <= st < 600 for st in statuses if st is not None), statuses
    assert statuses.count(None) <= 1, statuses  # only the giant head may be cut
    values = scrape(metrics)
    assert values['unixcorn_requests_total{status="4xx"}'] == 0  # the workers saw none
    assert metrics_process(srv) == server and alive(srv.pid)
    assert "Metrics process (pid:" not in srv.stderr()
    echo_unix(srv.sock)


def test_scrapes_through_a_hup_reload(start_server, workdir):
    srv, metrics = start(start_server, workdir, "--workers", "2")
    server = metrics_process(srv)
    old = workers_of(srv)
    results, done = [], threading.Event()

    def scraper():
        while not done.is_set():
            r = scrape_response(metrics)
            results.append((r.status, r.body))

    t = threading.Thread(target=scraper)
    t.start()
    try:
        # Scrapes before, during and after the reload, however slowly they go.
        assert wait_until(lambda: len(results) >= 5, 10), len(results)
        srv.signal(signal.SIGHUP)
        for pid in old:
            log_search(srv, r"Worker \(pid:%d\) exited with code 0" % pid)
        during = len(results)
        assert wait_until(lambda: len(results) >= during + 5, 10), (during, len(results))
    finally:
        done.set()
        t.join(10)
    assert len(results) > 10
    assert all(status == 200 for status, _ in results), [s for s, _ in results]
    new = workers_of(srv)
    assert len(new) == 2 and not set(new) & set(old)
    assert metrics_process(srv) == server, "HUP restarts no metrics process"
    values = scrape(metrics)
    assert values['unixcorn_workers{state="idle"}'] == 2


def test_metrics_answer_with_no_worker_and_ignore_ttin_ttou(start_server, workdir):
    srv, metrics = start(start_server, workdir, "--workers", "2")
    server = metrics_process(srv)
    srv.signal(signal.SIGTTOU)
    assert wait_until(lambda: len(workers_of(srv)) == 1), srv.stderr()
    srv.signal(signal.SIGWINCH)  # no controlling terminal: every worker goes
    assert wait_until(lambda: workers_of(srv) == []), srv.stderr()
    values = scrape(metrics)
    assert values['unixcorn_workers{state="idle"}'] == 0
    assert values['unixcorn_workers{state="busy"}'] == 0
    srv.signal(signal.SIGTTIN)
    assert wait_until(lambda: len(workers_of(srv)) == 1), srv.stderr()
    assert wait_until(lambda: scrape(metrics)['unixcorn_workers{state="idle"}'] == 1)
    assert metrics_process(srv) == server
    assert srv.stop() == 0, srv.stderr()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_waits_for_the_metrics_process(start_server, workdir, sig):
    srv, metrics = start(start_server, workdir)
    server = metrics_process(srv)
    kept = unix_connect(metrics)
    kept.sendall(KEEP_ALIVE_SCRAPE)
    reader = Reader(kept)
    assert reader.response().status == 200
    assert srv.stop(sig) == 0, srv.stderr()
    log = srv.stderr()
    assert re.search(r"Metrics process \(pid:%d\) exited with code 0\n.*Shutting down: "
                     r"Master" % server, log, re.S), log
    assert not alive(server)
    assert reader.closed()
    kept.close()
    assert not os.path.lexists(metrics)


def test_the_metrics_process_goes_with_its_master(start_server, workdir, subreaper):
    srv, metrics = start(start_server, workdir)
    server = metrics_process(srv)
    subreaper.extend(child_pids(srv.pid))
    srv.proc.kill()
    srv.proc.wait()
    assert wait_pid(server, timeout=5) == 0


def test_access_log_of_scrapes_is_written_at_once_and_reopened(start_server, workdir):
    log = os.path.join(workdir, "access.log")
    srv, metrics = start(start_server, workdir, "--access-logfile", log)
    metrics_process(srv)
    scrape(metrics)
    assert wait_until(lambda: "GET /metrics " in open(log).read())
    os.rename(log, log + ".1")
    srv.signal(signal.SIGUSR1)
    # USR1 reaches the metrics process through the master; scrape until one lands.
    assert wait_until(lambda: scrape(metrics) and os.path.exists(log)
                      and "GET /metrics " in open(log).read()), srv.stderr()
    assert srv.proc.poll() is None


def test_usr2_hands_the_metrics_socket_to_the_new_master(start_server, workdir, subreaper):
    srv, metrics = start(start_server, workdir)
    old_server = metrics_process(srv)
    inode = os.lstat(metrics).st_ino
    srv.signal(signal.SIGUSR2)
    new_master = int(log_search(srv, r"new master started with pid (\d+)")[1])
    subreaper.append(new_master)
    log_search(srv, r"\[%d\] \[INFO\] Metrics at: unix:%s" % (new_master, re.escape(metrics)))
    new_server = int(wait_until(lambda: [p for p in metrics_process_pids(srv)
                                         if p in child_pids(new_master)])[0])
    subreaper.extend(child_pids(new_master))
    srv.signal(signal.SIGTERM)
    assert srv.wait() == 0, srv.stderr()
    assert not alive(old_server)
    assert os.lstat(metrics).st_ino == inode, "the socket file was replaced"
    assert scrape(metrics)['unixcorn_workers{state="idle"}'] == 1
    assert alive(new_server)
    os.kill(new_master, signal.SIGTERM)
    assert wait_pid(new_master) == 0, srv.stderr()
    assert not os.path.lexists(metrics)


def test_a_master_that_is_pid_1_starts_its_metrics_process(workdir):
    """In a container the master is often pid 1 (docker/Dockerfile's
    ENTRYPOINT): its metrics process must take that pid as its master's."""
    if subprocess.run(["unshare", "--pid", "--fork", "true"]).returncode != 0:
        pytest.skip("no PID namespace here (unshare needs root)")
    sock, metrics = os.path.join(workdir, "app.sock"), os.path.join(workdir, "metrics.sock")
    log = open(os.path.join(workdir, "pid1.log"), "w+b")
    proc = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", BIN,
                             "--bind", "unix:" + sock, "--metrics-bind", "unix:" + metrics],
                            stderr=log)
    try:
        assert wait_until(lambda: os.path.exists(metrics), timeout=10)
        values = scrape(metrics)
        assert any(k.startswith("unixcorn_workers{") for k in values), values
        log.seek(0)
        assert b" [1] [INFO] Starting unixcorn" in log.read()
        assert echo_unix(sock, b"pid 1").body == b"pid 1"
    finally:
        for master in child_pids(proc.pid):  # unshare itself ignores TERM
            os.kill(master, signal.SIGTERM)
        proc.wait(timeout=30)
        log.seek(0)
        text = log.read().decode(errors="replace")
        log.close()
    assert "is only for the metrics process" not in text, text
    assert not re.search(r"Metrics process \(pid:\d+\) exited with code [1-9]", text), text
