"""The bundled nginx config, run by real Debian nginx in front of the real
binary. The shipped files are used as they are, except for the listen port,
the socket path and the prefix."""

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import Reader

REPO_NGINX = os.path.join(os.path.dirname(__file__), "..", "..", "nginx")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
LISTEN = "listen 127.0.0.1:8080;"
SOCKET = "server unix:/tmp/app.sock "

pytestmark = pytest.mark.skipif(not os.path.exists(NGINX), reason="nginx is not installed")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("nginx exited with %s" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nginx did not start listening")


class Nginx:
    """The shipped config on a free port and the given socket; replace holds
    further (old, new) edits, each of a text found once in the config files."""

    def __init__(self, workdir, sock, replace=()):
        self.port = free_port()
        self.confdir = os.path.join(workdir, "nginx-conf")
        self.prefix = os.path.join(workdir, "nginx-prefix")
        os.makedirs(self.confdir)
        os.makedirs(self.prefix)
        edits = [(LISTEN, "listen 127.0.0.1:%d;" % self.port),
                 (SOCKET, "server unix:%s " % sock)] + list(replace)
        replaced = {old: 0 for old, _ in edits}
        for name in os.listdir(REPO_NGINX):
            with open(os.path.join(REPO_NGINX, name)) as f:
                text = f.read()
            for old, new in edits:
                replaced[old] += text.count(old)
                text = text.replace(old, new)
            with open(os.path.join(self.confdir, name), "w") as f:
                f.write(text)
        assert replaced == {old: 1 for old, _ in edits}, replaced
        self.log = os.path.join(workdir, "nginx.log")
        self.proc = subprocess.Popen(
            [NGINX, "-p", self.prefix, "-c", os.path.join(self.confdir, "nginx.conf")],
            stdin=subprocess.DEVNULL, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.proc)

    @property
    def url(self):
        return "http://127.0.0.1:%d/" % self.port

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def stack(workdir, start_server):
    """(app, nginx): unixcorn on a private socket, nginx proxying to it."""
    os.chmod(workdir, 0o755)  # nginx's workers run as nobody when started as root
    access_log = os.path.join(workdir, "access.log")
    app = start_server("--access-logfile", access_log, "--log-level", "debug")
    app.access_log = access_log
    proxy = Nginx(workdir, app.sock)
    yield app, proxy
    proxy.stop()


def curl(*args, timeout=120):
    return subprocess.run(["curl", "-sS", "--max-time", str(timeout), *args],
                          capture_output=True, timeout=timeout + 10)


def test_shipped_config_passes_nginx_t(workdir):
    r = subprocess.run([NGINX, "-t", "-p", workdir, "-c", os.path.join(REPO_NGINX, "nginx.conf")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "test is successful" in r.stderr


@pytest.mark.parametrize("size,chunked", [(0, False), (1024, False), (64 << 20, False),
                                          (3 << 20, True)])
def test_echo_through_nginx_is_byte_exact(stack, workdir, size, chunked):
    app, proxy = stack
    body = os.path.join(workdir, "body")
    out = os.path.join(workdir, "out")
    with open(body, "wb") as f:
        f.write(os.urandom(size))
    extra = ["-H", "Transfer-Encoding: chunked"] if chunked else []
    r = curl("--data-binary", "@" + body, *extra, "-o", out, "-w", "%{http_code}", proxy.url)
    assert r.stdout == b"200", r.stderr
    with open(body, "rb") as a, open(out, "rb") as b:
        assert a.read() == b.read()


@pytest.mark.parametrize("path", ["direct", "nginx"])
def test_empty_header_values_from_curl_are_served(stack, path):
    """curl -H 'X-Empty;' sends a field with an empty value, which RFC 9110 5.5
    allows (field-value = *field-content), as browsers send an empty Referer or
    Cookie. An empty Content-Type is taken as none."""
    app, proxy = stack
    where = ["--unix-socket", app.sock, "http://localhost/"] if path == "direct" else [proxy.url]
    r = curl("-H", "X-Empty;", "-H", "Cookie;", "-H", "Referer;", "-H", "Content-Type;",
             "--data-binary", "abc", "-D", "-", *where)
    assert r.returncode == 0, r.stderr
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), r.stdout
    assert b"\r\nContent-Type: application/octet-stream" in head, head
    assert body == b"abc"


def test_upstream_connections_are_reused(stack):
    app, proxy = stack
    for i in range(40):
        s = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
        s.sendall(b"POST /%d HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi" % i)
        r = Reader(s).response()
        assert r.status == 200 and r.body == b"hi"
        s.close()
    opened = app.stderr().count(" opened")
    assert 0 < opened <= 2 * 4, app.stderr()  # a few per nginx worker, not one per request


def read_access_log(app, want, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(app.access_log) as f:
            lines = f.read().splitlines()
        if any(want(line) for line in lines):
            return lines
        time.sleep(0.05)
    raise AssertionError("no matching access-log line in %r" % lines)


def test_forwarded_for_reaches_the_access_log(stack):
    app, proxy = stack
    # The whole of 127/8 is loopback: a second source address shows up in
    # nginx's X-Forwarded-For, unlike the socket peer the app sees.
    r = curl("--interface", "127.0.0.2", "-d", "x", "-o", "/dev/null", "-w", "%{http_code}",
             proxy.url + "xff")
    assert r.stdout == b"200", r.stderr
    read_access_log(app, lambda l: l.startswith("127.0.0.2 - - [") and "/xff" in l)


def test_app_down_is_a_quick_502_then_recovers(stack, start_server):
    app, proxy = stack
    assert app.stop() == 0
    t0 = time.monotonic()
    r = curl("-d", "x", "-w", "%{http_code}", proxy.url, timeout=10)
    assert r.stdout.endswith(b"502"), r.stdout
    assert b"app server is not answering" in r.stdout
    assert time.monotonic() - t0 < 1.0
    start_server("--bind", "unix:" + app.sock)
    r = curl("-d", "back", "-w", " %{http_code}", proxy.url, timeout=10)
    assert r.stdout == b"back 200"


def test_slow_upload_completes(stack, workdir):
    app, proxy = stack
    body = os.path.join(workdir, "slow")
    with open(body, "wb") as f:
        f.write(os.urandom(256 * 1024))
    r = curl("--limit-rate", "80K", "--data-binary", "@" + body, "-o", workdir + "/slow.out",
             "-w", "%{http_code}", proxy.url)
    assert r.stdout == b"200", r.stderr
    with open(body, "rb") as a, open(workdir + "/slow.out", "rb") as b:
        assert a.read() == b.read()


def test_oversized_upload_gets_413_from_nginx(stack):
    app, proxy = stack
    s = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % ((1 << 30) + 1))
    r = Reader(s).response()
    assert r.status == 413
    assert r.header("server", "").startswith("nginx")
