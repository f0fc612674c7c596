"""TCP binds on 127.0.0.1 and [::1]: echo over curl and raw sockets, unix+TCP
together, port already in use, and the access log's host field."""

import os
import socket

import pytest

from uc_testlib import (LISTEN_RE, bind_spec, curl, echo_tcp, echo_unix, have_ipv6,
                        run_cli, start_tcp, url, wait_until)

HOSTS = [
    pytest.param("127.0.0.1", id="v4"),
    pytest.param("::1", id="v6", marks=pytest.mark.skipif(not have_ipv6(),
                                                          reason="no ::1 here")),
]

BODY = bytes(range(256)) * 64 + b"\r\n\r\nend"


@pytest.mark.parametrize("host", HOSTS)
def test_tcp_echo_with_curl(start_server, workdir, host):
    srv, port = start_tcp(start_server, host)
    body_file = os.path.join(workdir, "body.bin")
    with open(body_file, "wb") as f:
        f.write(BODY)
    code, body = curl(url(host, port, "/x?y=1"), "--data-binary", "@" + body_file)
    assert code == 200
    assert body == BODY
    assert srv.stop() == 0, srv.stderr()


@pytest.mark.parametrize("host", HOSTS)
def test_tcp_echo_raw_and_listening_line(start_server, host):
    srv, port = start_tcp(start_server, host)
    echo_tcp(host, port, b"raw tcp\n")
    addrs = [m[1] for m in LISTEN_RE.findall(srv.stderr())]
    assert len(addrs) == 1 and addrs[0].endswith(bind_spec(host, port)), srv.stderr()
    assert srv.stop() == 0


@pytest.mark.parametrize("host", HOSTS)
def test_unix_and_tcp_together(start_server, workdir, host):
    sock = os.path.join(workdir, "both.sock")
    srv, port = start_tcp(start_server, host, extra_binds=["unix:" + sock])
    echo_tcp(host, port, b"over tcp\n")
    echo_unix(sock, b"over unix\n")
    code, body = curl("--unix-socket", sock, "http://localhost/u", "--data-binary", "via curl")
    assert (code, body) == (200, b"via curl")
    assert wait_until(lambda: len(LISTEN_RE.findall(srv.stderr())) == 2), srv.stderr()
    assert srv.stop() == 0
    assert not os.path.lexists(sock)


def test_v4_and_v6_together(start_server):
    if not have_ipv6():
        pytest.skip("no ::1 here")
    from uc_testlib import free_port
    p6 = free_port("::1")
    srv, p4 = start_tcp(start_server, "127.0.0.1", extra_binds=[bind_spec("::1", p6)])
    echo_tcp("127.0.0.1", p4)
    echo_tcp("::1", p6)
    assert srv.stop() == 0


@pytest.mark.parametrize("host", HOSTS)
def test_port_in_use(workdir, host):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    holder = socket.socket(fam, socket.SOCK_STREAM)
    holder.bind((host, 0))
    holder.listen(4)
    port = holder.getsockname()[1]
    good = os.path.join(workdir, "good.sock")
    try:
        r = run_cli(["-b", "unix:" + good, "-b", bind_spec(host, port)])
        assert not r.started, r
        assert r.returncode not in (None, 0) and r.returncode > 0, r
        assert str(port) in r.stderr, r
        assert "in use" in r.stderr.lower(), r
        assert not os.path.lexists(good), "unix socket left behind:\n%r" % r
        # the holder is unaffected
        c = socket.create_connection((host, port), timeout=5)
        c.close()
    finally:
        holder.close()


@pytest.mark.parametrize("host", HOSTS)
def test_access_log_host_is_peer_ip(start_server, workdir, host):
    log = os.path.join(workdir, "access.log")
    srv, port = start_tcp(start_server, host, "--access-logfile", log)
    echo_tcp(host, port)

    def lines():
        if not os.path.exists(log):
            return []
        return [l for l in open(log).read().splitlines() if '"POST /echo HTTP/1.1" 200' in l]

    assert wait_until(lines), open(log).read() if os.path.exists(log) else "no log file"
    line = lines()[0]
    assert line.startswith("%s - - [" % host), line
    assert srv.stop() == 0
