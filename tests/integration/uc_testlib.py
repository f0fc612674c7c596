"""Helpers shared by test_cli.py, test_socket_lifecycle.py, test_tcp.py and
test_signals.py (kept out of conftest.py, which belongs to the suite owner)."""

import os
import re
import socket
import stat
import subprocess
import tempfile
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
def spawn(workdir):
    """spawn(name, *args, sock=..., wait=True) -> Server whose logs live in their
    own subdirectory workdir/name (so two servers' stderr don't mix)."""
    servers = []

    def start(name, *args, sock=None, env=None, wait=True):
        d = os.path.join(workdir, name)
        os.makedirs(d, exist_ok=True)
        srv = Server(d, args, sock=sock, env=env, wait=wait)
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        if srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait()
