"""Helpers shared by test_echo.py, test_bad_input.py and test_timeouts.py.

Everything here talks to the real server over real sockets; nothing is mocked."""

import os
import re
import select
import socket
import subprocess
import threading
import time

import pytest

MiB = 1 << 20
KiB = 1 << 10

# Server argument sets for the two echo modes.
MODES = {"default": (), "stream": ("--echo-stream",)}
mode_params = pytest.mark.parametrize("mode", sorted(MODES))

VALID_GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"

IMF_FIXDATE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$")


def chunked(body, sizes=(), ext=b"", trailers=b""):
    """Chunked encoding of body; sizes gives the chunk sizes (rest in one chunk)."""
    out, pos = [], 0
    for n in list(sizes) + [len(body)]:
        piece = body[pos:pos + n]
        if piece:
            out.append(b"%x%s\r\n%s\r\n" % (len(piece), ext, piece))
            pos += len(piece)
        if pos >= len(body):
            break
    out.append(b"0\r\n" + trailers + b"\r\n")
    return b"".join(out)


def head(method="POST", target="/", headers=(), version="HTTP/1.1"):
    """A request head from a list of (name, value) pairs, given in order."""
    lines = ["%s %s %s" % (method, target, version)]
    lines += ["%s: %s" % (k, v) for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def assert_silent(sock, secs):
    """Assert the peer sends nothing (and does not close) for secs seconds."""
    old = sock.gettimeout()
    sock.settimeout(secs)
    try:
        data = sock.recv(65536)
    except socket.timeout:
        return
    finally:
        sock.settimeout(old)
    if data:
        raise AssertionError("expected no bytes for %.1f s, got %r" % (secs, data[:300]))
    raise AssertionError("expected no bytes for %.1f s, got EOF" % secs)


def drain_until_close(sock, timeout=5.0):
    """Read until EOF/reset; returns (bytes, closed). closed is False on timeout."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    data = b""
    while time.monotonic() < deadline:
        try:
            d = sock.recv(1 << 20)
        except ConnectionResetError:
            return data, True
        except socket.timeout:
            return data, False
        if not d:
            return data, True
        data += d
    return data, False


def wait_for(pred, timeout=5.0, interval=0.02):
    """Poll pred() until it returns a true value or timeout; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def send_until_stalled(sock, data, stall=1.0, deadline=20.0):
    """Non-blocking send of data until the peer stops accepting bytes for `stall`
    seconds (or all is sent, or the peer closes, or `deadline` passes).
    Returns bytes sent."""
    sock.setblocking(False)
    view = memoryview(data)
    sent = 0
    end = time.monotonic() + deadline
    try:
        while sent < len(data) and time.monotonic() < end:
            _, w, _ = select.select([], [sock], [], stall)
            if not w:
                break
            try:
                sent += sock.send(view[sent:sent + MiB])
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break  # the peer closed; the caller checks what that means
    finally:
        sock.settimeout(30.0)
    return sent


class BackgroundSend(threading.Thread):
    """sendall() in a thread, so the test can read while a large body goes out."""

    def __init__(self, sock, data):
        super().__init__(daemon=True)
        self.sock, self.data, self.error = sock, data, None
        self.start()

    def run(self):
        try:
            self.sock.sendall(self.data)
        except Exception as e:  # reported by finish()
            self.error = e

    def finish(self, timeout=30.0):
        self.join(timeout)
        assert not self.is_alive(), "sender still blocked after %.0f s" % timeout
        if self.error:
            raise self.error


def spool_fds(pid, directory):
    """Targets of the process's open fds that live in directory."""
    fd_dir = "/proc/%d/fd" % pid
    out = []
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith(directory.rstrip("/") + "/"):
            out.append(target)
    return out


def curl(srv, *args, timeout=20.0):
    """Run curl against srv's socket; returns (CompletedProcess, elapsed seconds)."""
    argv = ["curl", "-sS", "--max-time", str(int(timeout)), "--unix-socket", srv.sock]
    argv += list(args)
    t0 = time.monotonic()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout + 5)
    return p, time.monotonic() - t0


def last_header_block(dump):
    """Parse the final response head from a `curl -D` dump: (status, {name: value})."""
    blocks = [b for b in dump.decode("latin-1").split("\r\n\r\n") if b.strip()]
    lines = blocks[-1].split("\r\n")
    status = int(lines[0].split(" ")[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs


def conn_tokens(resp):
    return {t.strip().lower() for t in (resp.header("connection") or "").split(",") if t.strip()}
