"""The servers of the benchmark, each run as a child process with one worker
or one process: unixcorn and its peers, and the bundled nginx in front."""

import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time

import client
import procs

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(BENCH)
PEERS = os.path.join(BENCH, "peers")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PYTHON = "/usr/bin/python3"  # Debian's, which has gunicorn and uvicorn


_serial = itertools.count()


class ServerError(Exception):
    pass


class Server:
    """A server process tree. Use as a context manager: started on entry (an
    HTTP server must echo a POST, or with echoes=False answer it with a 200,
    before it counts as up), stopped on exit. pipelines=False: it cannot answer
    pipelined requests, as a server without keep-alive cannot either. cases:
    the names of the cases it is measured in (None: all of them)."""

    def __init__(self, name, argv, address, work, *, http=True, echoes=True, keeps_alive=True,
                 pipelines=True, stop_signal=signal.SIGTERM, cases=None):
        self.name, self.argv, self.address, self.work = name, argv, address, work
        self.http, self.echoes, self.keeps_alive = http, echoes, keeps_alive
        self.cases = cases
        self.pipelines, self.stop_signal = pipelines and keeps_alive, stop_signal
        self.proc = None
        self.log_path = os.path.join(work, "%s.%d.log" % (name.split()[0], next(_serial)))

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self, timeout=20.0):
        try:
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL, stderr=log, cwd=self.work)
        except OSError as e:
            raise ServerError("%s could not be run: %s" % (self.name, e)) from e
        if not self.http:
            check = client.raw_echoes
        else:
            check = client.echoes if self.echoes else client.answers
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise ServerError("%s exited with status %s at start:\n%s"
                                  % (self.name, self.proc.returncode, self.log_tail()))
            try:
                if check(self.address):
                    if self.address.path:
                        os.chmod(self.address.path, 0o666)  # nginx's workers run as nobody
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError("%s did not answer on %s within %.0f s:\n%s"
                                  % (self.name, self.address, timeout, self.log_tail()))
            time.sleep(0.1)

    def stop(self):
        if self.proc is None:
            return
        pids = procs.tree(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(self.stop_signal)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in pids[1:]:  # workers that outlived their master
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines=15):
        with open(self.log_path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])

    @property
    def pid(self):
        return self.proc.pid

    def cpu_seconds(self):
        return procs.cpu_seconds(self.pid)

    def rss_kib(self):
        return procs.memory_kib(self.pid, "VmRSS")

    def peak_rss_kib(self):
        return procs.memory_kib(self.pid, "VmHWM")

    def reset_peak(self):
        procs.reset_peak(self.pid)


def write_substituted(sources, changes, out_dir):
    """Copy the files sources into out_dir with each key of changes replaced by
    its value. Each key must occur exactly once across all the files, so a
    config that has moved on fails loudly instead of running unchanged."""
    texts = {}
    for path in sources:
        with open(path) as f:
            texts[os.path.basename(path)] = f.read()
    for old, new in changes.items():
        found = sum(text.count(old) for text in texts.values())
        if found != 1:
            raise ServerError("expected %r once in %s, found it %d times"
                              % (old, ", ".join(sources), found))
        texts = {name: text.replace(old, new) for name, text in texts.items()}
    for name, text in texts.items():
        with open(os.path.join(out_dir, name), "w") as f:
            f.write(text)


def nginx_prefix(work, name):
    prefix = tempfile.mkdtemp(prefix=name + ".", dir=work)
    os.chmod(prefix, 0o755)  # nginx's workers run as nobody when started as root
    return prefix


# The servers under test. Each has one worker or one process, and each echoes
# the request body with its Content-Type, but for the floor.

def unixcorn(binary, work, address, *flags, name="unixcorn", **options):
    return Server(name, [binary, "--bind", str(address), "--log-level", "warning",
                         "--tmp-dir", work, *flags],
                  address, work, stop_signal=signal.SIGINT, **options)


def nginx_echo(work, address, connections=1024, keepalive=60, name="nginx+echo"):
    prefix = nginx_prefix(work, "nginx-echo-%s" % address.transport)
    write_substituted([os.path.join(PEERS, "nginx-echo.conf")],
                      {"@LISTEN@": str(address), "@CONNECTIONS@": str(connections),
                       "@NOFILE@": str(connections + 100), "@KEEPALIVE@": str(keepalive)},
                      prefix)
    return Server(name, [NGINX, "-p", prefix, "-c", os.path.join(prefix, "nginx-echo.conf")],
                  address, work)


def node_echo(work, address, keepalive=5):
    return Server("node", ["node", os.path.join(PEERS, "echo.js"), address.path, str(keepalive)],
                  address, work)


def gunicorn(work, address):
    return Server("gunicorn", [PYTHON, "-m", "gunicorn", "--workers", "1", "--worker-class", "sync",
                               "--bind", str(address), "--chdir", PEERS, "--log-level",
                               "warning", "wsgi_echo:app"], address, work,
                  keeps_alive=False)  # the sync worker closes after every response


def uvicorn(work, address, keepalive=5):
    return Server("uvicorn", [PYTHON, "-m", "uvicorn", "--uds", address.path, "--app-dir", PEERS,
                              "--no-access-log", "--log-level", "warning", "--lifespan", "off",
                              "--timeout-keep-alive", str(keepalive), "asgi_echo:app"],
                  address, work)


def floor(binary, work, address, close=False, name="floor"):
    """The least an HTTP server can do per request: one read, one fixed 64-byte
    response, no parsing (peers/floor.c; floor-llhttp parses each head with
    llhttp). close: close after each response, for nginx without upstream
    keep-alive."""
    return Server(name, [binary, *(["--close"] if close else []), str(address)],
                  address, work, echoes=False, pipelines=False)


def rawecho(binary, work, address):
    return Server("raw echo loop (C)", [binary, address.path], address, work, http=False)


# The bundled nginx in front (scenario 2): the shipped files, with only the
# listen port, the upstream address and, for the variant without upstream
# keep-alive, the keepalive line and the empty Connection header commented out,
# as the files' comments say to (nginx then sends Connection: close, its
# default without upstream keep-alive). It answers as the app behind it does,
# so it counts as up once a POST through it gets the app's answer.

SHIPPED_NGINX = os.path.join(REPO, "nginx")
LISTEN_LINE = "listen 127.0.0.1:8080;"
UPSTREAM_LINE = "server unix:/tmp/app.sock "
KEEPALIVE_LINE = "keepalive 32;"
EMPTY_CONNECTION_LINE = 'proxy_set_header Connection "";'


def front_nginx(work, listen, app, keepalive):
    name = "front-%s-%s" % (app.address.transport, "ka" if keepalive else "noka")
    confdir = nginx_prefix(work, name + "-conf")
    changes = {LISTEN_LINE: "listen %s;" % listen, UPSTREAM_LINE: "server %s " % app.address}
    if not keepalive:
        changes[KEEPALIVE_LINE] = "# keepalive 32;"
        changes[EMPTY_CONNECTION_LINE] = "# " + EMPTY_CONNECTION_LINE
    write_substituted([os.path.join(SHIPPED_NGINX, name) for name in os.listdir(SHIPPED_NGINX)],
                      changes, confdir)
    prefix = nginx_prefix(work, name)
    return Server("nginx (front)", [NGINX, "-p", prefix, "-c", os.path.join(confdir, "nginx.conf")],
                  listen, work, echoes=app.echoes)
