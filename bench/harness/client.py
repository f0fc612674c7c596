"""A minimal HTTP/1.1 client for what h2load and wrk cannot do: check that a
server echoes, stream a large body both ways, and hold idle connections."""

import socket
import threading
import time


class Address:
    """Where a server listens: a Unix socket path or a port on 127.0.0.1.
    str() gives the spelling that unixcorn's --bind, gunicorn's --bind and
    nginx's listen and upstream server lines all accept."""

    def __init__(self, path=None, port=None):
        self.path, self.port = path, port

    @classmethod
    def unix(cls, path):
        return cls(path=path)

    @classmethod
    def free_tcp_port(cls):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return cls(port=s.getsockname()[1])

    @property
    def transport(self):
        return "unix" if self.path else "tcp"

    def __str__(self):
        return "unix:%s" % self.path if self.path else "127.0.0.1:%d" % self.port

    def connect(self, timeout=10.0):
        if self.path:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(timeout)
            s.connect(self.path)
        else:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        return s


class HTTPError(Exception):
    pass


class Stream:
    """Buffered reading from a socket, with body bytes handed on without copies."""

    def __init__(self, sock, scratch=64 * 1024):
        self.sock = sock
        self.pending = bytearray()
        self.scratch = memoryview(bytearray(scratch))

    def _fill(self):
        n = self.sock.recv_into(self.scratch)
        if n == 0:
            raise HTTPError("connection closed by the server")
        self.pending += self.scratch[:n]

    def line(self):
        while True:
            end = self.pending.find(b"\r\n")
            if end >= 0:
                line = bytes(self.pending[:end])
                del self.pending[:end + 2]
                return line
            self._fill()

    def copy(self, n, sink):
        """Pass the next n bytes to sink, in pieces."""
        if self.pending:
            piece = min(n, len(self.pending))
            sink(memoryview(self.pending)[:piece])
            del self.pending[:piece]
            n -= piece
        while n > 0:
            got = self.sock.recv_into(self.scratch, min(n, len(self.scratch)))
            if got == 0:
                raise HTTPError("connection closed by the server with %d body bytes to go" % n)
            sink(self.scratch[:got])
            n -= got


def request_head(method, length=None):
    head = "%s / HTTP/1.1\r\nHost: localhost\r\n" % method
    if length is not None:
        head += "Content-Type: application/octet-stream\r\nContent-Length: %d\r\n" % length
    return (head + "\r\n").encode()


def read_response(stream, sink):
    """Read one response, passing its body to sink; return (status, headers)."""
    status_line = stream.line()
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise HTTPError("bad status line %r" % status_line)
    headers = {}
    while True:
        line = stream.line()
        if not line:
            break
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode()] = value.strip().decode()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int(stream.line().split(b";")[0], 16)
            if size == 0:
                while stream.line():  # trailer fields, then the empty line
                    pass
                break
            stream.copy(size, sink)
            if stream.line():
                raise HTTPError("chunk data longer than its size")
    else:
        stream.copy(int(headers.get("content-length", "0")), sink)
    return int(parts[1]), headers


def exchange(sock, method="GET", body=b""):
    """One request on an open connection; returns (status, response body)."""
    sock.sendall(request_head(method, len(body) if method == "POST" else None) + body)
    received = bytearray()
    status, _ = read_response(Stream(sock), received.extend)
    return status, bytes(received)


def echoes(address, timeout=2.0):
    """True if an HTTP server at address echoes a small POST."""
    with address.connect(timeout) as s:
        return exchange(s, "POST", b"ping") == (200, b"ping")


def answers(address, timeout=2.0):
    """True if an HTTP server at address answers a small POST with a 200: the
    start check of a peer that sends a fixed response instead of an echo."""
    with address.connect(timeout) as s:
        return exchange(s, "POST", b"ping")[0] == 200


def raw_echoes(address, timeout=2.0):
    with address.connect(timeout) as s:
        s.sendall(b"ping")
        return s.recv(4) == b"ping"


# The large body repeats a period that does not divide any buffer size, so a
# byte lost, repeated or misplaced anywhere shows at the edges of the pieces.
PERIOD = 251
BLOCK = memoryview(bytes(range(PERIOD)) * ((1 << 20) // PERIOD))


class PatternCheck:
    """Checks the first and last byte of every received piece against the
    pattern, and counts the bytes."""

    def __init__(self):
        self.offset = 0
        self.bad = None

    def __call__(self, piece):
        n = len(piece)
        if self.bad is None and (piece[0] != self.offset % PERIOD or
                                 piece[n - 1] != (self.offset + n - 1) % PERIOD):
            self.bad = self.offset
        self.offset += n


def _send_pattern(sock, head, size, errors):
    try:
        sock.sendall(head)
        while size > 0:
            piece = BLOCK[:min(size, len(BLOCK))]
            sock.sendall(piece)
            size -= len(piece)
    except OSError as e:
        errors.append("sending: %s" % e)


def big_echo(address, size, http=True, timeout=60.0):
    """Send a size-byte body and read the echo at the same time.
    With http=False the peer is a raw echo loop: no request or response head.
    Returns the seconds from connect to the last byte; raises HTTPError."""
    start = time.monotonic()
    with address.connect(timeout) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        errors = []
        head = request_head("POST", size) if http else b""
        sender = threading.Thread(target=_send_pattern, args=(sock, head, size, errors))
        sender.start()
        check = PatternCheck()
        stream = Stream(sock, scratch=1 << 20)
        try:
            if http:
                status, _ = read_response(stream, check)
                if status != 200:
                    raise HTTPError("status %d" % status)
            else:
                stream.copy(size, check)
        finally:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # unblocks the sender after a failure
            except OSError:
                pass
            sender.join()
    if errors:
        raise HTTPError(errors[0])
    if check.offset != size or check.bad is not None:
        raise HTTPError("echo differs: %d of %d bytes back, first bad piece at %s"
                        % (check.offset, size, check.bad))
    return time.monotonic() - start


class IdleConnections:
    """count keep-alive connections to address, each having made one request
    and then left idle. check() makes one more request on each."""

    BATCH = 200

    def __init__(self, address, count):
        self.address, self.count, self.socks = address, count, []

    def __enter__(self):
        try:
            for first in range(0, self.count, self.BATCH):
                batch = [self.address.connect() for _ in range(min(self.BATCH, self.count - first))]
                self.socks.extend(batch)
                self._request_on(batch)
        except BaseException:
            self.close()
            raise
        return self

    def _request_on(self, socks):
        for s in socks:
            s.sendall(request_head("GET"))
        for s in socks:
            status, _ = read_response(Stream(s, scratch=4096), lambda piece: None)
            if status != 200:
                raise HTTPError("status %d on an idle connection" % status)

    def check(self):
        for first in range(0, len(self.socks), self.BATCH):
            self._request_on(self.socks[first:first + self.BATCH])

    def close(self):
        for s in self.socks:
            s.close()
        self.socks = []

    def __exit__(self, *exc):
        self.close()
