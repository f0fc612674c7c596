"""Helpers shared by the integration tests beyond conftest.py's fixtures:
processes and their logs, waiting for what a server has done, h2load, and
metrics scrapes."""

import fcntl
import os
import re
import signal
import socket
import stat
import struct
import subprocess
import tempfile
import termios
import threading
import time

import pytest

from conftest import BIN, Reader, Server, request_bytes

LISTEN_RE = re.compile(
    r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[(\d+)\] \[INFO\] "
    r"Listening at: (\S+) \((\d+)\)$", re.M)


def wait_until(pred, timeout=5.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return v
        time.sleep(interval)


class CliResult:
    def __init__(self, rc, stdout, stderr, started):
        self.returncode = rc
        self.stdout = stdout
        self.stderr = stderr
        self.started = started  # True if it got as far as "Listening at"

    def __repr__(self):
        return "rc=%r started=%r\nstdout=%r\nstderr=%r" % (
            self.returncode, self.started, self.stdout, self.stderr)


def run_cli(args, timeout=10.0, cwd=None):
    """Run the binary with args, expecting it to exit by itself.  If it starts
    serving instead ("Listening at" on stderr) or outlives timeout, it is killed
    and the result says so (returncode None)."""
    with tempfile.TemporaryDirectory(prefix="uc-cli-", dir="/tmp") as d:
        out_p, err_p = os.path.join(d, "out"), os.path.join(d, "err")
        with open(out_p, "wb") as out, open(err_p, "wb") as err:
            proc = subprocess.Popen([BIN] + list(args), stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=err, cwd=cwd or d)

        def read(p):
            with open(p, "rb") as f:
                return f.read().decode("utf-8", "replace")

        deadline = time.monotonic() + timeout
        started = False
        while proc.poll() is None and time.monotonic() < deadline:
            if "Listening at" in read(err_p):
                # It may log one bind and then fail on the next: give it a moment
                # to exit before deciding that it is serving.
                try:
                    proc.wait(timeout=1.5)
                except subprocess.TimeoutExpired:
                    started = True
                break
            time.sleep(0.02)
        rc = proc.poll()
        if rc is None:
            proc.kill()
            proc.wait()
        return CliResult(rc, read(out_p), read(err_p), started)


def unix_connect(path, timeout=10.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
    except BaseException:
        s.close()
        raise
    return s


def tcp_connect(host, port, timeout=10.0):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
    except BaseException:
        s.close()
        raise
    return s


def echo_on(sock, body=b"hello unixcorn\n", target="/echo", timeout=10.0):
    """POST body on an already connected socket; returns the Response.  Asserts
    the echo contract: 200 and the exact body back."""
    sock.settimeout(timeout)
    sock.sendall(request_bytes("POST", target, body))
    resp = Reader(sock).response()
    assert resp.status == 200, (resp.status, resp.body[:200])
    assert resp.body == body
    return resp


def echo_unix(path, body=b"hello unixcorn\n"):
    s = unix_connect(path)
    try:
        return echo_on(s, body)
    finally:
        s.close()


def echo_tcp(host, port, body=b"hello unixcorn\n"):
    s = tcp_connect(host, port)
    try:
        return echo_on(s, body)
    finally:
        s.close()


def can_connect_unix(path):
    try:
        unix_connect(path, timeout=2.0).close()
        return True
    except OSError:
        return False


def wait_serving_unix(srv, path, timeout=10.0):
    """For servers whose stderr may not carry 'Listening at' (log level, error log
    file): wait until the socket accepts, or fail if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if srv.proc.poll() is not None:
            raise AssertionError("unixcorn exited with %s:\n%s"
                                 % (srv.proc.returncode, srv.stderr()))
        if os.path.exists(path) and can_connect_unix(path):
            return
        time.sleep(0.02)
    raise AssertionError("unixcorn never accepted on %s:\n%s" % (path, srv.stderr()))


def make_stale_socket(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()
    assert stat.S_ISSOCK(os.lstat(path).st_mode)


def have_ipv6():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


def free_port(host="127.0.0.1"):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def bind_spec(host, port):
    return ("[%s]:%d" % (host, port)) if ":" in host else ("%s:%d" % (host, port))


def url(host, port, path="/"):
    return "http://%s%s" % (bind_spec(host, port), path)


def start_tcp(start_server, host, *args, extra_binds=(), attempts=4):
    """Start a server bound to host on a free port (retrying if another process
    grabbed the port in between).  Returns (srv, port)."""
    last = None
    for _ in range(attempts):
        port = free_port(host)
        argv = ["-b", bind_spec(host, port)]
        for b in extra_binds:
            argv += ["-b", b]
        try:
            return start_server(*(argv + list(args))), port
        except RuntimeError as e:
            last = e
            if "in use" not in str(e).lower():
                raise
    raise last


def curl(*args, timeout=15):
    """Run curl; returns (http_code:int, body:bytes)."""
    with tempfile.NamedTemporaryFile(prefix="uc-curl-", dir="/tmp") as body:
        p = subprocess.run(["curl", "-sS", "--globoff", "--max-time", "10",
                            "-o", body.name, "-w", "%{http_code}"] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        assert p.returncode == 0, (p.returncode, p.stderr)
        return int(p.stdout), open(body.name, "rb").read()


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # after "pid (comm)": state=0 ... utime=11, stime=12
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def listening_lines(text):
    return LISTEN_RE.findall(text)


@pytest.fixture
def spawn(start_server):
    """spawn(name, *args, sock=..., wait=True) -> Server whose logs live in their
    own subdirectory workdir/name (so two servers' stderr don't mix)."""
    return lambda name, *args, **kw: start_server(*args, name=name, **kw)


# ---- process model: children, h2load, a watch on a path ----

def child_pids(pid):
    """The children of pid, from /proc ([] once it is gone)."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return sorted(int(p) for p in f.read().split())
    except OSError:
        return []


def booting_pids(log):
    """Pids of the "Booting worker with pid: N" lines, in order."""
    return [int(p) for p in re.findall(r"Booting worker with pid: (\d+)", log)]


H2LOAD_REQUESTS = re.compile(
    r"^requests: (?P<total>\d+) total, (?P<started>\d+) started, (?P<done>\d+) done, "
    r"(?P<succeeded>\d+) succeeded, (?P<failed>\d+) failed, (?P<errored>\d+) errored, "
    r"(?P<timeout>\d+) timeout$", re.M)
H2LOAD_STATUS = re.compile(
    r"^status codes: (?P<s2xx>\d+) 2xx, (?P<s3xx>\d+) 3xx, (?P<s4xx>\d+) 4xx, "
    r"(?P<s5xx>\d+) 5xx$", re.M)


class H2load:
    """h2load --h1 in the background, POSTing a 64-byte body on `clients`
    connections for `seconds`: count-based runs (-n) one after another until
    the time is up. Each run finishes every request it starts, and the counts
    of all runs add up. Not h2load's timed mode (-D): in nghttp2 1.52 a client
    that is reconnecting when the time is up (after a response with
    Connection: close, which stopping workers and nginx's keepalive_requests
    send) is never stopped, and h2load never exits. unix=PATH connects to a
    Unix socket instead of the URL's host."""

    REQUESTS_PER_CLIENT = 500  # a run: tens of ms here, under a second under ASan

    def __init__(self, seconds=3, clients=10, url="http://localhost/", unix=None):
        self.body = tempfile.NamedTemporaryFile(prefix="uc-h2load-", dir="/tmp")
        self.body.write(os.urandom(64))
        self.body.flush()
        self.argv = ["h2load", "--h1", "-n", str(clients * self.REQUESTS_PER_CLIENT),
                     "-c", str(clients), "-t", "1", "-d", self.body.name]
        if unix is not None:
            self.argv += ["-B", "unix:" + unix]
        self.argv.append(url)
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.counts = {k: 0 for k in H2LOAD_REQUESTS.groupindex}
        self.counts.update({k: 0 for k in H2LOAD_STATUS.groupindex})
        self.runs, self.last, self.broken = 0, "", None
        self.lock, self.proc, self.stopped = threading.Lock(), None, False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while time.monotonic() < self.deadline:
            with self.lock:
                if self.stopped:
                    return
                self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            out, _ = self.proc.communicate()
            text = out.decode("utf-8", "replace")
            m, s = H2LOAD_REQUESTS.search(text), H2LOAD_STATUS.search(text)
            if not (m and s):
                self.broken = "h2load exited with %s:\n%s" % (self.proc.returncode, text)
                return
            for k, v in list(m.groupdict().items()) + list(s.groupdict().items()):
                self.counts[k] += int(v)
            self.runs, self.last = self.runs + 1, text

    def result(self):
        """Waits for the last run; returns the summed counts of the "requests:"
        and "status codes:" lines as a dict of ints, and ["output"]."""
        self.thread.join(max(0.0, self.deadline - time.monotonic()) + 30)
        hung = self.thread.is_alive()
        self.kill()
        assert not hung, "an h2load run was not over 30 s after the time was up: " \
            "a request got no answer (%d runs before it)" % self.runs
        assert self.broken is None, self.broken
        counts = dict(self.counts)
        counts["output"] = "%d h2load runs; the last:\n%s" % (self.runs, self.last)
        return counts

    def kill(self):
        with self.lock:
            self.stopped = True
            proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.kill()
        self.thread.join(10)
        self.body.close()


def assert_h2load_clean(res):
    """Every request that h2load finished succeeded with a 2xx."""
    summary = {k: v for k, v in res.items() if k != "output"}
    assert res["done"] > 0, res["output"]
    assert (res["failed"], res["errored"], res["timeout"]) == (0, 0, 0), summary
    assert res["succeeded"] == res["done"] == res["s2xx"], summary


class PathWatcher(threading.Thread):
    """Polls a path every few ms and records what it saw: `gaps`, the
    (start, end) times when nothing was there, and `inodes`, every inode seen."""

    def __init__(self, path, interval=0.002):
        super().__init__(daemon=True)
        self.path, self.interval = path, interval
        self.gaps, self.inodes, self.polls = [], set(), 0
        self._stop_event = threading.Event()
        self.start()

    def run(self):
        gap_start = None
        while not self._stop_event.is_set():
            try:
                self.inodes.add(os.lstat(self.path).st_ino)
                if gap_start is not None:
                    self.gaps.append((gap_start, time.monotonic()))
                    gap_start = None
            except FileNotFoundError:
                if gap_start is None:
                    gap_start = time.monotonic()
            self.polls += 1
            time.sleep(self.interval)
        if gap_start is not None:
            self.gaps.append((gap_start, None))

    def finish(self):
        self._stop_event.set()
        self.join(5)
        return self


def wait_workers(srv, n, timeout=10.0):
    """Waits until srv's master has n workers; returns their pids, sorted."""
    pids = wait_until(lambda: len(srv.worker_pids()) == n and [sorted(srv.worker_pids())],
                      timeout)
    assert pids, "expected %d workers, have %r:\n%s" % (n, srv.worker_pids(), srv.stderr())
    return pids[0]


def wait_booted(srv, pids, timeout=5.0):
    """Waits for a "Booting worker" line in srv's log for each of pids."""
    assert wait_until(lambda: set(pids) <= set(booting_pids(srv.stderr())), timeout), \
        "no Booting line for %r:\n%s" % (pids, srv.stderr())


def read_pid(path):
    with open(path) as f:
        return int(f.read())


def usr2(srv, adopted, workers):
    """USR2 to srv's master; returns the new master's pid and its workers' pids
    once they have booted. Appends them to adopted (see subreaper)."""
    srv.signal(signal.SIGUSR2)
    new_master = int(log_search(srv, r"Upgrading: new master started with pid (\d+)")[1])
    adopted.append(new_master)
    assert new_master in child_pids(srv.pid)
    new_workers = wait_until(lambda: len(child_pids(new_master)) == workers
                             and child_pids(new_master), timeout=10)
    assert new_workers, srv.stderr()
    adopted.extend(new_workers)
    wait_booted(srv, new_workers)
    return new_master, new_workers


def log_search(srv, pattern, timeout=5.0):
    """Waits for the regex in srv's stderr; returns the match or fails with the log."""
    m = wait_until(lambda: re.search(pattern, srv.stderr()), timeout)
    assert m, "no %r in the log within %.1f s:\n%s" % (pattern, timeout, srv.stderr())
    return m


def wait_pid(pid, timeout=15.0):
    """Exit code of a child (or adopted orphan) of this process, waiting up to timeout."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        assert time.monotonic() < deadline, "pid %d still running after %.0f s" % (pid, timeout)
        time.sleep(0.02)


@pytest.fixture
def subreaper():
    """Makes the test process the reaper of its orphaned descendants (a new
    master whose old master exited), so wait_pid() can read their exit status.
    Yields a list: pids appended to it are killed and reaped at teardown."""
    import ctypes
    pr_set_child_subreaper = 36
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0) == 0
    adopted = []
    try:
        yield adopted
    finally:
        for pid in adopted:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                continue
            try:
                os.waitpid(pid, 0)  # ours to reap if it was orphaned
            except ChildProcessError:
                pass
        libc.prctl(pr_set_child_subreaper, 0, 0, 0, 0)


# ---- --metrics-bind ----

def scrape_response(path, timeout=10.0):
    """GET /metrics on the Unix socket at path; the whole Response."""
    s = unix_connect(path, timeout)
    try:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return Reader(s).response()
    finally:
        s.close()


def parse_metrics(text):
    """{'name{labels}': value} of Prometheus text."""
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def scrape(path, timeout=10.0):
    """The values of a successful scrape."""
    r = scrape_response(path, timeout)
    assert r.status == 200, (r.status, r.body[:200])
    assert r.header("content-type").startswith("text/plain; version=0.0.4")
    return parse_metrics(r.body.decode())


def scrape_when(path, pred, timeout=10.0):
    """Scrapes until pred(values) holds (the workers' counters reach the
    master with their heartbeats); returns the last scrape either way, for
    the caller's asserts to show."""
    last = {}

    def once():
        last["values"] = scrape(path)
        return pred(last["values"])
    wait_until(once, timeout)
    return last["values"]


def metrics_process_pids(srv):
    """Pids of the "Booting metrics process with pid: N" lines, in order."""
    return [int(p) for p in re.findall(r"Booting metrics process with pid: (\d+)",
                                       srv.stderr())]


def metrics_process(srv, timeout=5.0):
    """The pid of srv's master's metrics process, once it has booted."""
    pid = wait_until(lambda: [p for p in metrics_process_pids(srv)
                              if p in child_pids(srv.pid)], timeout)
    assert pid, "no metrics process under %d:\n%s" % (srv.pid, srv.stderr())
    return pid[-1]


def workers_of(srv, timeout=10.0):
    """The master's children that booted as workers, once every child has said
    what it is in the log ("Booting worker", "Booting metrics process"): a
    child just forked has not yet, and could be either."""
    deadline = time.monotonic() + timeout
    while True:
        children = child_pids(srv.pid)
        workers = set(booting_pids(srv.stderr()))
        if set(children) <= workers | set(metrics_process_pids(srv)):
            return sorted(workers.intersection(children))
        if time.monotonic() > deadline:  # a child that never says: the old guess
            return sorted(set(children) - set(metrics_process_pids(srv)))
        time.sleep(0.02)


def queued_at(path):
    """What waits unread at the Unix socket path, from ss -x's Recv-Q: bytes on
    its accepted connections plus connections in its listen queue."""
    out = subprocess.run(["ss", "-xaHn"], capture_output=True, text=True, check=True).stdout
    return sum(int(f[2]) for f in map(str.split, out.splitlines())
               if len(f) >= 5 and f[4] == path)


def queued_at_port(port):
    """queued_at() for a TCP port of this host, from ss -t's Recv-Q: bytes on
    the connections it accepted plus connections in its listen queue."""
    out = subprocess.run(["ss", "-taHn", "sport = :%d" % port], capture_output=True,
                         text=True, check=True).stdout
    return sum(int(f[1]) for f in map(str.split, out.splitlines()) if len(f) >= 4)


def wait_taken(unread, what="the request", timeout=10.0):
    """Waits until the server has accepted and read everything sent to it:
    unread() (queued_at or queued_at_port, bound to the address) is 0. A sleep
    cannot promise that on a loaded machine."""
    assert wait_until(lambda: unread() == 0, timeout), \
        "%s still unread after %.0f s (%d queued)" % (what, timeout, unread())


def wait_answer_started(sock, timeout=10.0):
    """Waits until the server has written something to sock that this side has
    not read yet (FIONREAD > 0): the server has got as far as answering."""
    def pending():
        return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD,
                                              b"\0\0\0\0"))[0]
    assert wait_until(lambda: pending() > 0, timeout), \
        "no byte of an answer after %.0f s" % timeout
