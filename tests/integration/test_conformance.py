"""Byte-exact requests on the Unix socket, beyond test_bad_input.py's classes: chunk
extensions and chunk-size syntax, NUL bytes, invalid methods, request-target forms,
bodies on GET/HEAD, HTTP/1.0 framing and keep-alive, long header names.

Each case states the status and whether the connection closes afterwards.  An error
must carry `Connection: close`, be followed by EOF, and the request pipelined behind
it must never be answered.  A success that keeps the connection open proves it: a
second request, sent once the first answer is in, gets its own 200."""

import os

import pytest

from conftest import Reader
from echo_util import VALID_GET, conn_tokens, head

H = ("Host", "x")


def chunked_post(framing, version="HTTP/1.1", extra=()):
    hdrs = ([H] if version == "HTTP/1.1" else []) + list(extra)
    return head("POST", "/", hdrs + [("Transfer-Encoding", "chunked")], version) + framing


def line(request_line, *fields):
    """A GET head from a raw request line and raw field lines."""
    return request_line + b"\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\n"


HOST = b"Host: x"
KEEP_ALIVE = ("Connection", "keep-alive")

CASES = [
    # (id, raw request, status, connection closes after it, echoed body or None)
    # -- chunk extensions: one line may not run past the field-size limit
    ("chunk_ext_single_10k", chunked_post(b"3;" + b"e" * 10240 + b"\r\nabc\r\n0\r\n\r\n"),
     400, True, None),
    ("chunk_ext_many_small_10k", chunked_post(b"3" + b";e" * 5120 + b"\r\nabc\r\n0\r\n\r\n"),
     400, True, None),
    ("chunk_ext_many_small_2k", chunked_post(b"3" + b";e" * 1024 + b"\r\nabc\r\n0\r\n\r\n"),
     200, False, b"abc"),
    ("chunk_ext_bare_cr", chunked_post(b"3;a\rb\r\nabc\r\n0\r\n\r\n"), 400, True, None),
    ("chunk_ext_bare_lf", chunked_post(b"3;a\nb\r\nabc\r\n0\r\n\r\n"), 400, True, None),
    # RFC 9112 7.1.1: BWS around ";" and "=", several extensions, quoted-pairs
    ("chunk_ext_bws", chunked_post(b"5; some; parameters=stuff\r\nhello\r\n0\r\n\r\n"),
     200, False, b"hello"),
    ("chunk_ext_bws_before_semicolon", chunked_post(b"5 ;a=b\r\nhello\r\n0\r\n\r\n"),
     200, False, b"hello"),
    ("chunk_ext_bws_everywhere", chunked_post(
        b"5\t;\ta = b ; c=\"d \\\" e\"\r\nhello\r\n0 ; last=1\r\n\r\n"),
     200, False, b"hello"),
    ("chunk_ext_several", chunked_post(b"1;a=1;b=2;c\r\nx\r\n0\r\n\r\n"), 200, False, b"x"),
    ("chunk_ext_unclosed_quote", chunked_post(b"1;a=\"b\r\nx\r\n0\r\n\r\n"),
     400, True, None),
    ("chunk_ext_no_name", chunked_post(b"1;=b\r\nx\r\n0\r\n\r\n"), 400, True, None),
    # -- chunk sizes
    ("chunk_size_leading_zeros", chunked_post(b"0003\r\nabc\r\n00A\r\n0123456789\r\n000\r\n\r\n"),
     200, False, b"abc0123456789"),
    ("chunk_size_trailing_space", chunked_post(b"3 \r\nabc\r\n0\r\n\r\n"), 400, True, None),
    ("chunk_size_plus_sign", chunked_post(b"+3\r\nabc\r\n0\r\n\r\n"), 400, True, None),
    # 5 declared, 3 sent: "abc\r\n" is taken as the data, then "0\r" is no CRLF
    ("chunk_data_short_then_pipelined", chunked_post(b"5\r\nabc\r\n0\r\n\r\n"), 400, True, None),
    ("chunk_trailer_fields", chunked_post(b"3\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n"),
     200, False, b"abc"),
    # -- NUL bytes
    ("nul_in_method", line(b"GE\x00T / HTTP/1.1", HOST), 400, True, None),
    ("nul_in_target", line(b"GET /a\x00b HTTP/1.1", HOST), 400, True, None),
    ("nul_in_header_name", line(b"GET / HTTP/1.1", HOST, b"X\x00Y: v"), 400, True, None),
    # -- methods: any token (RFC 9110 9.1), case-sensitive; the echo answers all
    ("method_lowercase", line(b"get / HTTP/1.1", HOST), 200, False, b""),
    ("method_custom", line(b"FOO / HTTP/1.1", HOST), 200, False, b""),
    ("method_every_tchar", line(b"!#$%&'*+-.^_`|~09aZ / HTTP/1.1", HOST), 200, False, b""),
    ("method_long_token", line(b"A" * 100 + b" / HTTP/1.1", HOST), 200, False, b""),
    ("method_inner_space", line(b"G ET / HTTP/1.1", HOST), 400, True, None),
    ("method_empty", line(b" / HTTP/1.1", HOST), 400, True, None),
    ("method_delimiter", line(b"GE(T / HTTP/1.1", HOST), 400, True, None),
    # -- versions: 1.x is served as 1.1 (RFC 9110 2.5); 2 and later are not HTTP/1
    ("version_1_2", line(b"GET / HTTP/1.2", HOST), 200, False, b""),
    ("version_1_9", line(b"GET / HTTP/1.9", HOST), 200, False, b""),
    ("version_3_0", line(b"GET / HTTP/3.0", HOST), 505, True, None),
    ("version_lowercase", line(b"GET / http/1.1", HOST), 400, True, None),
    ("version_two_digits", line(b"GET / HTTP/1.10", HOST), 400, True, None),
    # -- request targets
    ("target_inner_space", line(b"GET /a b HTTP/1.1", HOST), 400, True, None),
    ("target_ctl_01", line(b"GET /a\x01b HTTP/1.1", HOST), 400, True, None),
    ("target_ctl_tab", line(b"GET /a\tb HTTP/1.1", HOST), 400, True, None),
    ("target_double_space_before", line(b"GET  / HTTP/1.1", HOST), 400, True, None),
    ("target_missing", line(b"GET HTTP/1.1", HOST), 400, True, None),
    ("target_authority_form_get", line(b"GET example.com:80 HTTP/1.1", b"Host: example.com"),
     400, True, None),
    ("target_absolute_form", line(b"GET http://example.com/x HTTP/1.1", b"Host: example.com"),
     200, False, b""),
    ("target_asterisk_options", line(b"OPTIONS * HTTP/1.1", HOST), 200, False, b""),
    ("target_asterisk_get", line(b"GET * HTTP/1.1", HOST), 400, True, None),
    # RFC 3986 3.2.2: "]" and "[" belong to IP literals only
    ("target_bracket_in_authority", line(b"PUT s://]ufd/: HTTP/1.1", HOST), 400, True, None),
    ("target_bracket_in_http_host", line(b"GET http://]x/ HTTP/1.1", HOST), 400, True, None),
    ("target_open_bracket", line(b"GET http://a[b/ HTTP/1.1", HOST), 400, True, None),
    ("target_bad_port", line(b"GET http://x:8a/ HTTP/1.1", HOST), 400, True, None),
    ("target_http_userinfo", line(b"GET http://u:p@x/ HTTP/1.1", HOST), 400, True, None),
    ("target_http_no_host", line(b"GET http:///x HTTP/1.1", HOST), 400, True, None),
    ("target_no_authority", line(b"GET urn:a:b HTTP/1.1", HOST), 400, True, None),
    ("target_fragment", line(b"GET /a#b HTTP/1.1", HOST), 400, True, None),
    ("target_ipv6_literal", line(b"GET http://[::1]:8080/p?q HTTP/1.1", HOST), 200, False, b""),
    ("target_empty_port_no_path", line(b"GET http://x: HTTP/1.1", HOST), 200, False, b""),
    ("target_browser_query", line(b"GET /s?q={\"a\"}|^` HTTP/1.1", HOST), 200, False, b""),
    # -- Host values (RFC 9112 3.2): uri-host [ ":" port ], or empty
    ("host_empty", line(b"GET / HTTP/1.1", b"Host:"), 200, False, b""),
    ("host_ipv6", line(b"GET / HTTP/1.1", b"Host: [::1]:80"), 200, False, b""),
    ("host_userinfo", line(b"GET / HTTP/1.1", b"Host: u@x"), 400, True, None),
    ("host_bracket", line(b"GET / HTTP/1.1", b"Host: x]"), 400, True, None),
    # RFC 9112 2.2: an empty line before the request line is ignored
    ("leading_empty_line", b"\r\n" + VALID_GET, 200, False, b""),
    # -- empty field values (RFC 9110 5.5: field-value = *field-content)
    ("value_empty", line(b"GET / HTTP/1.1", HOST, b"X-Empty-Header: "), 200, False, b""),
    ("value_empty_no_space", line(b"GET / HTTP/1.1", b"empty:", HOST), 200, False, b""),
    ("value_blank", line(b"GET / HTTP/1.1", b"X-A: \t ", HOST), 200, False, b""),
    ("value_empty_last", line(b"GET / HTTP/1.1", HOST, b"Referer:", b"Cookie:"),
     200, False, b""),
    ("value_empty_expect", line(b"GET / HTTP/1.1", HOST, b"Expect:"), 200, False, b""),
    ("value_empty_then_fold", line(b"GET / HTTP/1.1", HOST, b"X:", b" folded"),
     400, True, None),
    ("value_obs_text", line(b"GET / HTTP/1.1", HOST, b"X: \x80\xfe\xff caf\xc3\xa9"),
     200, False, b""),
    # RFC 9110 5.6.3: OWS is SP or HTAB; llhttp 8.1 refuses an HTAB after a
    # Content-Length, so unixcorn makes that framing HTAB a SP first
    ("value_ows_tabs", head("POST", "/", [H, ("Content-Length", "3\t"), ("X-T", "\tv\t")]) +
     b"abc", 200, False, b"abc"),
    # -- header names
    ("header_name_9000_bytes", line(b"GET / HTTP/1.1", HOST, b"X" * 9000 + b": v"),
     431, True, None),
    # RFC 9110 5.1: field-name = token, at least one tchar
    ("header_name_empty", line(b"GET / HTTP/1.1", HOST, b": v"), 400, True, None),
    # -- bodies on GET; HTTP/1.0 framing
    ("get_with_chunked_body", head("GET", "/", [H, ("Transfer-Encoding", "chunked")]) +
     b"4\r\nbody\r\n0\r\n\r\n", 200, False, b"body"),
    ("http10_body_keep_alive", head("POST", "/", [KEEP_ALIVE, ("Content-Length", "3")],
                                    "HTTP/1.0") + b"abc", 200, False, b"abc"),
    ("http10_body_no_keep_alive", head("POST", "/", [("Content-Length", "3")], "HTTP/1.0") +
     b"abc", 200, True, b"abc"),
    # Chunked on 1.0 is decoded and echoed (no 1.0 client sends it; nginx never
    # does), but RFC 9112 6.1: a server receiving Transfer-Encoding in a 1.0
    # message MUST close the connection after processing it, keep-alive or not.
    ("http10_chunked", chunked_post(b"3\r\nabc\r\n0\r\n\r\n", "HTTP/1.0"), 200, True, b"abc"),
    ("http10_chunked_keep_alive", chunked_post(b"3\r\nabc\r\n0\r\n\r\n", "HTTP/1.0",
                                               [KEEP_ALIVE]), 200, True, b"abc"),
]


@pytest.fixture
def conn(server):
    s = server.connect(5.0)
    yield s, Reader(s)
    s.close()


@pytest.mark.parametrize("raw,status,closes,body", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_conformance(server, conn, raw, status, closes, body):
    s, rd = conn
    # Errors get a valid request pipelined behind them; it must never be answered.
    s.sendall(raw + (VALID_GET if status >= 400 else b""))
    r = rd.response()
    assert r.status == status, "got %d %s (%r), want %d" % (r.status, r.reason, r.body[:200],
                                                            status)
    if body is not None:
        assert r.body == body
    if closes:
        assert "close" in conn_tokens(r), "no Connection: close in %s" % r.headers
        assert b"HTTP/1." not in r.body, "a second response follows: %r" % r.body[:300]
        assert rd.closed(5.0), "connection still open; pending %r" % rd.buf[:300]
    else:
        assert "close" not in conn_tokens(r), r.headers
        s.sendall(VALID_GET)
        nxt = rd.response()
        assert (nxt.status, nxt.body) == (200, b""), "second request: %d" % nxt.status
    assert server.proc.poll() is None, "server died:\n" + server.stderr()


@pytest.mark.parametrize("framing", [
    [("Content-Length", "5")], [("Transfer-Encoding", "chunked")]], ids=["length", "chunked"])
def test_head_with_body(conn, framing):
    """HEAD's body is read and dropped from the wire; the answer is the head alone,
    with the Content-Length the echo would have had, and the next pipelined request
    is answered as itself."""
    s, rd = conn
    payload = b"hello"
    body = payload if framing[0][0] == "Content-Length" else b"5\r\nhello\r\n0\r\n\r\n"
    marker = os.urandom(16)
    s.sendall(head("HEAD", "/", [H] + framing) + body +
              head("POST", "/", [H, ("Content-Length", str(len(marker)))]) + marker)
    r = rd.response(head_request=True)
    assert r.status == 200
    assert r.header("content-length") == str(len(payload))
    nxt = rd.response()  # would misparse if the HEAD answer carried a body
    assert (nxt.status, nxt.body) == (200, marker), (nxt.status, nxt.body[:100])
