"""Unix socket lifecycle: stale sockets, live servers, things that are not
sockets, sun_path limits, modes/groups, removal on exit (and only of our own
socket), several binds, and cleanup after a fatal error in a later bind."""

import grp
import os
import re
import signal
import socket
import stat
import subprocess
import sys

import pytest

from uc_testlib import (BIN, can_connect_unix, echo_unix, make_stale_socket, run_cli,
                        spawn, wait_until)  # noqa: F401  (spawn is a fixture)

SUN_PATH_MAX = 108  # bytes including the terminating NUL


def _exits_with_error(r, path):
    assert not r.started, "server started:\n%r" % r
    assert r.returncode not in (None, 0), r
    assert r.returncode > 0, "killed by a signal:\n%r" % r
    assert r.stderr.strip(), "no message:\n%r" % r


# ---------------------------------------------------------------- stale / live

def test_stale_socket_is_replaced_with_warning(start_server, workdir):
    path = os.path.join(workdir, "app.sock")
    make_stale_socket(path)
    srv = start_server(sock=path)
    echo_unix(path)
    assert stat.S_ISSOCK(os.lstat(path).st_mode)
    assert re.search(r"\[WARN(ING)?\].*stale", srv.stderr(), re.I), srv.stderr()
    assert srv.stop() == 0
    assert not os.path.lexists(path)


def test_second_server_on_live_socket_exits_1(spawn, workdir):
    path = os.path.join(workdir, "app.sock")
    first = spawn("first", sock=path)
    echo_unix(path)
    ino = os.lstat(path).st_ino

    second = spawn("second", sock=path, wait=False)
    rc = second.wait(timeout=10)
    err = second.stderr()
    assert rc == 1, "rc=%r\n%s" % (rc, err)
    assert path in err, err
    assert re.search(r"in use|listening|already|another|running", err, re.I), err
    assert "Listening at" not in err

    # the first server still owns and serves the path
    assert first.proc.poll() is None, first.stderr()
    assert os.lstat(path).st_ino == ino
    echo_unix(path, b"still here\n")
    assert first.stop() == 0
    assert not os.path.lexists(path)


# ---------------------------------------------------------------- not a socket

def _make_thing(kind, workdir, path):
    target = os.path.join(workdir, "target.txt")
    if kind == "file":
        with open(path, "w") as f:
            f.write("precious data\n")
    elif kind == "empty-file":
        open(path, "w").close()
    elif kind == "dir":
        os.mkdir(path)
        with open(os.path.join(path, "inside"), "w") as f:
            f.write("x")
    elif kind == "symlink-to-file":
        with open(target, "w") as f:
            f.write("target data\n")
        os.symlink(target, path)
    elif kind == "dangling-symlink":
        os.symlink(os.path.join(workdir, "nowhere"), path)
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        raise ValueError(kind)


def _check_untouched(kind, workdir, path):
    target = os.path.join(workdir, "target.txt")
    st = os.lstat(path)
    if kind == "file":
        assert stat.S_ISREG(st.st_mode) and open(path).read() == "precious data\n"
    elif kind == "empty-file":
        assert stat.S_ISREG(st.st_mode) and st.st_size == 0
    elif kind == "dir":
        assert stat.S_ISDIR(st.st_mode)
        assert os.listdir(path) == ["inside"]
    elif kind == "symlink-to-file":
        assert stat.S_ISLNK(st.st_mode) and os.readlink(path) == target
        assert open(target).read() == "target data\n"
    elif kind == "dangling-symlink":
        assert stat.S_ISLNK(st.st_mode)
        assert os.readlink(path) == os.path.join(workdir, "nowhere")
        assert not os.path.lexists(os.path.join(workdir, "nowhere"))
    elif kind == "fifo":
        assert stat.S_ISFIFO(st.st_mode)


@pytest.mark.parametrize("kind", ["file", "empty-file", "dir", "symlink-to-file",
                                  "dangling-symlink", "fifo"])
def test_existing_non_socket_is_an_error_and_untouched(workdir, kind):
    path = os.path.join(workdir, "app.sock")
    _make_thing(kind, workdir, path)
    r = run_cli(["-b", "unix:" + path])
    _exits_with_error(r, path)
    assert path in r.stderr, r
    _check_untouched(kind, workdir, path)


# ---------------------------------------------------------------- sun_path limit

def _path_of_len(workdir, n):
    name = "s" * (n - len(workdir) - 1)
    p = os.path.join(workdir, name)
    assert len(p.encode()) == n
    return p


@pytest.mark.parametrize("n", [SUN_PATH_MAX, SUN_PATH_MAX + 1, 200])
def test_path_too_long(workdir, n):
    path = _path_of_len(workdir, n)
    before = sorted(os.listdir(workdir))
    r = run_cli(["-b", "unix:" + path])
    _exits_with_error(r, path)
    assert re.search(r"too long|length|limit|%d|%d" % (SUN_PATH_MAX, SUN_PATH_MAX - 1),
                     r.stderr, re.I), r
    assert sorted(os.listdir(workdir)) == before, "something was created"
    for k in (SUN_PATH_MAX - 1, SUN_PATH_MAX):
        assert not os.path.lexists(path[:k])


def test_path_of_107_bytes_works(start_server, workdir):
    path = _path_of_len(workdir, SUN_PATH_MAX - 1)
    srv = start_server(sock=path)
    echo_unix(path)
    assert srv.stop() == 0
    assert not os.path.lexists(path)


def test_missing_parent_directory(workdir):
    parent = os.path.join(workdir, "missing")
    path = os.path.join(parent, "x.sock")
    r = run_cli(["-b", "unix:" + path])
    _exits_with_error(r, path)
    assert path in r.stderr or parent in r.stderr, r
    assert not os.path.lexists(parent)


# ---------------------------------------------------------------- mode and group

@pytest.fixture
def umask077():
    old = os.umask(0o077)  # the server must set the mode itself, not rely on umask
    yield
    os.umask(old)


@pytest.mark.parametrize("mode_arg,expect", [(None, 0o666), ("0600", 0o600),
                                             ("0660", 0o660), ("0640", 0o640),
                                             ("0777", 0o777)])
def test_socket_mode(start_server, workdir, umask077, mode_arg, expect):
    args = [] if mode_arg is None else ["--socket-mode", mode_arg]
    srv = start_server(*args)
    st = os.lstat(srv.sock)  # before any request
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == expect, oct(stat.S_IMODE(st.st_mode))
    echo_unix(srv.sock)


def test_socket_group(start_server, workdir):
    gid = grp.getgrnam("nogroup").gr_gid
    srv = start_server("--socket-group", "nogroup", "--socket-mode", "0660")
    st = os.lstat(srv.sock)
    assert st.st_gid == gid, (st.st_gid, gid)
    assert stat.S_IMODE(st.st_mode) == 0o660
    echo_unix(srv.sock)


CLIENT = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
try:
    s.connect(sys.argv[1])
except PermissionError:
    print("EACCES"); sys.exit(0)
s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
data = b""
while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 5:
    c = s.recv(65536)
    if not c:
        break
    data += c
print(data.split(b"\r\n")[0].decode(), "|", data.split(b"\r\n\r\n", 1)[-1].decode())
"""


@pytest.mark.parametrize("args,expect", [
    ([], "ok"),
    (["--socket-mode", "0600"], "EACCES"),
    (["--socket-mode", "0660"], "EACCES"),  # group stays root's
    (["--socket-mode", "0660", "--socket-group", "nogroup"], "ok"),
])
def test_other_user_access(start_server, workdir, args, expect):
    os.chmod(workdir, 0o755)
    srv = start_server(*args)
    p = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        sys.executable, "-c", CLIENT, srv.sock],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode().strip()
    if expect == "ok":
        assert out.startswith("HTTP/1.1 200") and out.endswith("| hello"), out
    else:
        assert out == "EACCES", out
    assert srv.proc.poll() is None


# ---------------------------------------------------------------- removal on exit

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_socket_removed_on_exit(start_server, sig):
    srv = start_server()
    echo_unix(srv.sock)
    assert srv.stop(sig, timeout=10) == 0, srv.stderr()
    assert not os.path.lexists(srv.sock)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
@pytest.mark.parametrize("kind", ["file", "listening-socket", "stale-socket", "nothing"])
def test_replaced_path_left_alone(start_server, workdir, kind, sig):
    srv = start_server()
    echo_unix(srv.sock)
    os.unlink(srv.sock)
    holder = None
    if kind == "file":
        with open(srv.sock, "w") as f:
            f.write("someone else's\n")
    elif kind == "listening-socket":
        holder = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        holder.bind(srv.sock)
        holder.listen(4)
    elif kind == "stale-socket":
        make_stale_socket(srv.sock)
    ino = os.lstat(srv.sock).st_ino if kind != "nothing" else None
    try:
        assert srv.stop(sig, timeout=10) == 0, srv.stderr()
        if kind == "nothing":
            assert not os.path.lexists(srv.sock)
            return
        assert os.path.lexists(srv.sock), "server removed a path it no longer owned"
        assert os.lstat(srv.sock).st_ino == ino
        if kind == "file":
            assert open(srv.sock).read() == "someone else's\n"
        else:
            assert stat.S_ISSOCK(os.lstat(srv.sock).st_mode)
        if kind == "listening-socket":
            assert can_connect_unix(srv.sock)
    finally:
        if holder:
            holder.close()


# ---------------------------------------------------------------- several binds

def test_two_unix_binds(start_server, workdir):
    a, b = os.path.join(workdir, "a.sock"), os.path.join(workdir, "b.sock")
    srv = start_server("-b", "unix:" + a, "-b", "unix:" + b)
    assert wait_until(lambda: os.path.exists(a) and os.path.exists(b))
    echo_unix(a, b"to a\n")
    echo_unix(b, b"to b\n")
    assert srv.stop() == 0, srv.stderr()
    assert not os.path.lexists(a) and not os.path.lexists(b)


@pytest.mark.parametrize("bad", ["missing-dir", "file", "live-socket", "too-long"])
def test_fatal_second_bind_cleans_up_first(workdir, bad):
    good = os.path.join(workdir, "good.sock")
    holder = None
    if bad == "missing-dir":
        badpath = os.path.join(workdir, "nonexistent-dir", "x.sock")
    elif bad == "file":
        badpath = os.path.join(workdir, "file")
        with open(badpath, "w") as f:
            f.write("keep\n")
    elif bad == "live-socket":
        badpath = os.path.join(workdir, "live.sock")
        holder = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        holder.bind(badpath)
        holder.listen(4)
    else:
        badpath = _path_of_len(workdir, 150)
    try:
        r = run_cli(["-b", "unix:" + good, "-b", "unix:" + badpath])
        _exits_with_error(r, badpath)
        assert not os.path.lexists(good), "first socket left behind:\n%r" % r
        if bad == "file":
            assert open(badpath).read() == "keep\n"
        if bad == "live-socket":
            assert can_connect_unix(badpath)
    finally:
        if holder:
            holder.close()
