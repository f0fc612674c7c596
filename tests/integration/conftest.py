"""Shared fixtures: start the real unixcorn binary on a private socket, talk to it
over raw sockets, and parse what comes back without any HTTP library in between."""

import fcntl
import os
import pty
from signal import SIGINT, SIGTERM
import socket
import struct
import subprocess
import tempfile
import termios
import time

import pytest

BIN = os.environ.get("UNIXCORN_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "unixcorn")
START_TIMEOUT = 10.0


class Server:
    """One unixcorn process; logs go to files in its own temporary directory."""

    def __init__(self, workdir, args, sock=None, env=None, wait=True, tty=False):
        self.workdir = workdir
        self.sock = sock if sock is not None else os.path.join(workdir, "app.sock")
        self.stderr_path = os.path.join(workdir, "stderr.log")
        self.stdout_path = os.path.join(workdir, "stdout.log")
        argv = [BIN]
        if sock is not False and not any(a in ("-b", "--bind") for a in args):
            argv += ["--bind", "unix:" + self.sock]
        argv += list(args)
        self.argv = argv
        self.workers = expected_workers(args)
        # Servers restarted in one directory share its log files: each reads
        # only what was written after it started, or it could take its
        # predecessor's "Listening at" for its own.
        self.stderr_start = file_size(self.stderr_path)
        self.stdout_start = file_size(self.stdout_path)
        # A session of its own: no controlling terminal, as under systemd, even
        # when the tests run in one; with tty, a pseudo-terminal becomes it.
        self.pty = None
        stdin, preexec = subprocess.DEVNULL, None
        if tty:
            self.pty, stdin = pty.openpty()
            preexec = take_controlling_terminal
        self.proc = subprocess.Popen(
            argv, stdin=stdin, start_new_session=True, preexec_fn=preexec,
            stdout=open(self.stdout_path, "ab"), stderr=open(self.stderr_path, "ab"),
            env=dict(os.environ, **(env or {})))
        if tty:
            os.close(stdin)
        if wait:
            self.wait_ready()

    @property
    def pid(self):
        """The master's pid: the process this fixture started."""
        return self.proc.pid

    def worker_pids(self):
        try:
            with open("/proc/%d/task/%d/children" % (self.pid, self.pid)) as f:
                return [int(p) for p in f.read().split()]
        except OSError:
            return []

    def worker_pid(self, timeout=10.0):
        """The pid of the one worker, the process that serves requests."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self.worker_pids()
            if len(pids) == 1:
                return pids[0]
            time.sleep(0.02)
        raise RuntimeError("expected one worker, have %r" % self.worker_pids())

    def wait_ready(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("unixcorn exited with %s:\n%s"
                                   % (self.proc.returncode, self.stderr()))
            log = self.stderr()
            if "Listening at" in log and log.count("Booting worker") >= self.workers:
                return
            time.sleep(0.02)
        raise RuntimeError("unixcorn did not start:\n" + self.stderr())

    def connect(self, timeout=10.0):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(self.sock)
        return s

    def stderr(self):
        return read_from(self.stderr_path, self.stderr_start)

    def stdout(self):
        return read_from(self.stdout_path, self.stdout_start)

    def rss_kib(self, field="VmRSS"):
        """Memory of the serving worker."""
        with open("/proc/%d/status" % self.worker_pid()) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise KeyError(field)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def resize_terminal(self, rows, cols):
        """What a terminal does when its window is resized: the kernel sends
        SIGWINCH to the terminal's foreground process group."""
        fcntl.ioctl(self.pty, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def close_terminal(self):
        if self.pty is not None:
            os.close(self.pty)
            self.pty = None

    def wait(self, timeout=15.0):
        return self.proc.wait(timeout=timeout)

    def stop(self, sig=SIGTERM, timeout=15.0):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        return self.proc.returncode


def take_controlling_terminal():
    """preexec_fn, after setsid: stdin, a pty's slave side, becomes the new
    session's controlling terminal, and this process group its foreground."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def file_size(path):
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


def read_from(path, offset):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", "replace")


def expected_workers(args):
    for i, a in enumerate(args):
        if a in ("-w", "--workers") and i + 1 < len(args):
            return int(args[i + 1])
        if a.startswith("--workers="):
            return int(a.split("=", 1)[1])
    return 1


@pytest.fixture
def workdir():
    # Short paths: sun_path holds 107 bytes, and pytest's tmp_path can exceed that.
    with tempfile.TemporaryDirectory(prefix="uc-", dir="/tmp") as d:
        yield d


@pytest.fixture
def start_server(workdir):
    """start_server(*args, sock=None, env=None, wait=True, name=None, tty=False) ->
    a running Server, stopped at teardown; with a name, its logs live in
    workdir/name; with tty, a pseudo-terminal is its controlling terminal."""
    servers = []

    def start(*args, sock=None, env=None, wait=True, name=None, tty=False):
        d = workdir
        if name:
            d = os.path.join(workdir, name)
            os.makedirs(d, exist_ok=True)
        srv = Server(d, args, sock=sock, env=env, wait=wait, tty=tty)
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        if srv.proc.poll() is None:
            # A quick stop is still an orderly exit, so a sanitizer build
            # reports leaks; SIGKILL only if that hangs.
            srv.proc.send_signal(SIGINT)
            try:
                srv.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                srv.proc.kill()
                srv.proc.wait()
        srv.close_terminal()
    reports = [srv.stderr() for srv in servers if any(m in srv.stderr() for m in SANITIZER_MARKS)]
    if reports:
        pytest.fail("sanitizer report in the server's stderr:\n" + reports[0][-6000:])


# What ASan, LSan and UBSan print; the sanitizer build runs every test with them.
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


@pytest.fixture
def server(start_server):
    return start_server()


class Response:
    def __init__(self, status, reason, headers, body, version):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (lower-case name, value)
        self.body = body
        self.version = version

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return default

    def header_all(self, name):
        return [v for k, v in self.headers if k == name.lower()]


class Reader:
    """Reads HTTP/1.1 responses from a socket, keeping leftovers between calls."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.eof = False

    def _fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def read_until(self, delim):
        while delim not in self.buf:
            if not self._fill():
                raise EOFError("connection closed before %r; have %r" % (delim, self.buf[:200]))
        i = self.buf.index(delim) + len(delim)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exact(self, n):
        chunks = []
        while n > 0:
            if not self.buf and not self._fill():
                raise EOFError("connection closed with %d bytes still expected" % n)
            take = self.buf[:n]
            self.buf = self.buf[len(take):]
            chunks.append(take)
            n -= len(take)
        return b"".join(chunks)

    def read_to_eof(self):
        while self._fill():
            pass
        out, self.buf = self.buf, b""
        return out

    def response(self, head_request=False):
        head = self.read_until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        version, status, reason = (lines[0].split(" ", 2) + [""])[:3]
        headers = []
        for line in lines[1:]:
            if line:
                k, _, v = line.partition(":")
                headers.append((k.strip().lower(), v.strip()))
        resp = Response(int(status), reason, headers, b"", version)
        if head_request or resp.status in (100, 204, 304):
            return resp
        if resp.header("transfer-encoding", "").lower() == "chunked":
            resp.body = self._read_chunked()
        elif resp.header("content-length") is not None:
            resp.body = self.read_exact(int(resp.header("content-length")))
        else:
            resp.body = self.read_to_eof()
        return resp

    def _read_chunked(self):
        parts = []
        while True:
            size = int(self.read_until(b"\r\n")[:-2].split(b";")[0], 16)
            if size == 0:
                self.read_until(b"\r\n")
                return b"".join(parts)
            parts.append(self.read_exact(size))
            assert self.read_exact(2) == b"\r\n"

    def closed(self, timeout=5.0):
        """True when the peer closes (EOF or reset) with no further bytes."""
        self.sock.settimeout(timeout)
        try:
            data = self.buf or self.sock.recv(65536)
        except ConnectionResetError:
            return True
        return data == b""


def request_bytes(method="GET", target="/", body=b"", headers=None, version="HTTP/1.1"):
    hdrs = {"Host": "localhost"}
    if body or method in ("POST", "PUT"):
        hdrs["Content-Length"] = str(len(body))
    hdrs.update(headers or {})
    head = "%s %s %s\r\n" % (method, target, version)
    head += "".join("%s: %s\r\n" % (k, v) for k, v in hdrs.items() if v is not None)
    return head.encode("latin-1") + b"\r\n" + body


def exchange(srv, raw, timeout=10.0, head_request=False):
    """Send raw bytes on a new connection and return (Response, Reader)."""
    s = srv.connect(timeout)
    s.sendall(raw)
    r = Reader(s)
    return r.response(head_request=head_request), r
