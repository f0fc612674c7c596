"""Malformed or over-limit requests: the right status, `Connection: close`, then the
connection closes and whatever was pipelined behind the bad request is dropped."""

import os

import pytest

from conftest import Reader
from echo_util import VALID_GET, chunked, conn_tokens, head

LIMITS = ("--limit-request-line", "200", "--limit-request-fields", "20",
          "--limit-request-field_size", "300", "--limit-request-body", "1000")


def req(*headers, method="GET", target="/", version="HTTP/1.1", body=b""):
    return head(method, target, list(headers), version) + body


H = ("Host", "x")
TE_CHUNKED = ("Transfer-Encoding", "chunked")


def fields(n):
    return [H] + [("X-F%d" % i, "v") for i in range(n - 1)]


def chunked_post(payload):
    return req(H, TE_CHUNKED, method="POST") + payload


BAD = [
    # (id, raw request, acceptable statuses, server args)
    ("reqline_no_version", b"GET /\r\nHost: x\r\n\r\n", {400}, LIMITS),
    ("reqline_only_method", b"GET\r\nHost: x\r\n\r\n", {400}, LIMITS),
    ("reqline_extra_token", b"GET / HTTP/1.1 x\r\nHost: x\r\n\r\n", {400}, LIMITS),
    ("reqline_bad_version", b"GET / HTTP/1.x\r\nHost: x\r\n\r\n", {400}, LIMITS),
    ("reqline_lowercase_proto", b"GET / http/1.1\r\nHost: x\r\n\r\n", {400}, LIMITS),
    ("reqline_bad_method_char", b"G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n", {400}, LIMITS),
    ("reqline_tls_hello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 40, {400},
     LIMITS),
    ("reqline_too_long", req(H, target="/" + "a" * 300), {414}, LIMITS),
    ("reqline_too_long_default", req(H, target="/" + "a" * 5000), {414}, ()),
    ("too_many_fields", req(*fields(30)), {431}, LIMITS),
    ("too_many_fields_default", req(*fields(150)), {431}, ()),
    ("field_too_large", req(H, ("X-Big", "b" * 400)), {431}, LIMITS),
    ("field_too_large_default", req(H, ("X-Big", "b" * 9000)), {431}, ()),
    ("body_over_limit_cl", req(H, ("Content-Length", "1001"), method="POST",
                               body=os.urandom(1001)), {413}, LIMITS),
    ("body_over_limit_chunked", chunked_post(chunked(os.urandom(1200), sizes=[600])), {413},
     LIMITS),
    ("body_over_limit_chunked_small_chunks",
     chunked_post(chunked(os.urandom(1100), sizes=[100] * 11)), {413}, LIMITS),
    ("http_2_0", req(H, version="HTTP/2.0"), {505}, LIMITS),
    ("http_3_0", req(H, version="HTTP/3.0"), {505}, LIMITS),
    ("pri_preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", {400, 505}, LIMITS),
    ("cl_and_te", req(H, ("Content-Length", "5"), TE_CHUNKED, method="POST",
                      body=chunked(b"hello")), {400}, LIMITS),
    ("te_and_cl", req(H, TE_CHUNKED, ("Content-Length", "5"), method="POST",
                      body=chunked(b"hello")), {400}, LIMITS),
    ("two_differing_cl", req(H, ("Content-Length", "3"), ("Content-Length", "4"),
                             method="POST", body=b"abcd"), {400}, LIMITS),
    ("cl_list_differing", req(H, ("Content-Length", "3, 4"), method="POST", body=b"abcd"),
     {400}, LIMITS),
] + [
    ("cl_" + name, req(H, ("Content-Length", value), method="POST", body=b"abc"), {400}, LIMITS)
    for name, value in [("plus", "+3"), ("negative", "-1"), ("hex", "0x10"),
                        ("two_numbers", "1 2"), ("overflow", "99999999999999999999999"),
                        ("empty", ""), ("letters", "abc")]
] + [
    ("te_" + name, req(H, ("Transfer-Encoding", value), method="POST", body=b"abc"),
     {400, 501}, LIMITS)
    for name, value in [("gzip", "gzip"), ("chunked_then_gzip", "chunked, gzip"),
                        ("identity", "identity")]
] + [
    ("bare_cr_between_fields", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\rY: b\r\n\r\n", {400},
     LIMITS),
    ("bare_cr_ending_head", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n\r" + VALID_GET, {400},
     LIMITS),
    ("bare_cr_in_request_line", b"GET /a\rb HTTP/1.1\r\nHost: x\r\n\r\n", {400}, LIMITS),
    ("bare_cr_after_version", b"GET / HTTP/1.1\rHost: x\r\n\r\n", {400}, LIMITS),
    ("bare_cr_chunk_size", chunked_post(b"3\rabc\r\n0\r\n\r\n"), {400}, LIMITS),
    ("bare_cr_after_chunk_data", chunked_post(b"3\r\nabc\r0\r\n\r\n"), {400}, LIMITS),
    ("chunk_size_not_hex", chunked_post(b"zz\r\nabc\r\n0\r\n\r\n"), {400}, LIMITS),
    ("chunk_data_overrun", chunked_post(b"3\r\nabcdef\r\n0\r\n\r\n"), {400}, LIMITS),
    ("chunk_size_overflow", chunked_post(b"fffffffffffffffffffff\r\nabc\r\n0\r\n\r\n"),
     {400, 413}, LIMITS),
    ("lf_only", b"GET / HTTP/1.1\nHost: x\n\n", {400}, LIMITS),
    ("lf_only_in_fields", b"GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", {400}, LIMITS),
    ("lf_only_ending_head", b"GET / HTTP/1.1\r\nHost: x\r\n\n", {400}, LIMITS),
    ("lf_only_chunk_framing", chunked_post(b"3\nabc\n0\n\n"), {400}, LIMITS),
    ("obs_fold", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", {400}, LIMITS),
    ("obs_fold_tab", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n\tb\r\n\r\n", {400}, LIMITS),
    ("space_before_colon", b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", {400}, LIMITS),
    ("tab_before_colon", b"GET / HTTP/1.1\r\nHost\t: x\r\nX: y\r\n\r\n", {400}, LIMITS),
    ("no_colon", b"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", {400}, LIMITS),
] + [
    ("ctl_%02x_in_value" % c, req(H, ("X", "a" + chr(c) + "b")), {400}, LIMITS)
    for c in (0x01, 0x00, 0x7f)
] + [
    ("http11_no_host", b"GET / HTTP/1.1\r\nX: y\r\n\r\n", {400}, LIMITS),
    ("two_hosts", req(H, ("Host", "y")), {400}, LIMITS),
    ("two_identical_hosts", req(H, H), {400}, LIMITS),
]


def read_one_then_close(srv, raw):
    s = srv.connect(5.0)
    s.sendall(raw)
    rd = Reader(s)
    r = rd.response()
    closed = rd.closed(5.0)
    return r, closed, rd.buf


@pytest.mark.parametrize("raw,statuses,args", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_request(start_server, raw, statuses, args):
    srv = start_server(*args)
    r, closed, extra = read_one_then_close(srv, raw + VALID_GET)
    assert r.status in statuses, "got %d %s, want one of %s" % (r.status, r.reason, statuses)
    assert "close" in conn_tokens(r), "no Connection: close in %s" % r.headers
    assert b"HTTP/1." not in r.body, "a second response follows the error: %r" % r.body[:300]
    assert closed, "connection not closed after the error (pending: %r)" % extra[:300]
    assert srv.proc.poll() is None, "server died"


GOOD = [
    # Controls for the limits and parsing rules above: these must be served.
    ("reqline_under_limit", req(H, target="/" + "a" * 150), LIMITS, b""),
    ("reqline_under_default", req(H, target="/" + "a" * 4000), (), b""),
    ("fields_under_limit", req(*fields(15)), LIMITS, b""),
    ("fields_under_default", req(*fields(90)), (), b""),
    ("field_under_limit", req(H, ("X-Big", "b" * 200)), LIMITS, b""),
    ("field_under_default", req(H, ("X-Big", "b" * 8000)), (), b""),
    ("body_at_limit_cl", req(H, ("Content-Length", "1000"), method="POST",
                             body=b"B" * 1000), LIMITS, b"B" * 1000),
    ("body_at_limit_chunked", chunked_post(chunked(b"C" * 1000, sizes=[300])), LIMITS,
     b"C" * 1000),
    ("http10_without_host", b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", LIMITS, b""),
    ("te_chunked_mixed_case", req(H, ("transfer-encoding", "Chunked"), method="POST",
                                  body=chunked(b"abc")), LIMITS, b"abc"),
    ("field_value_with_tab_and_spaces", req(H, ("X", "a \t b"), ("Y", "  padded  ")), LIMITS,
     b""),
]


@pytest.mark.parametrize("raw,args,body", [c[1:] for c in GOOD], ids=[c[0] for c in GOOD])
def test_good_request_control(start_server, raw, args, body):
    srv = start_server(*args)
    s = srv.connect(5.0)
    s.sendall(raw + VALID_GET)
    rd = Reader(s)
    r = rd.response()
    assert (r.status, r.body) == (200, body)
    nxt = rd.response()
    assert (nxt.status, nxt.body) == (200, b"")


def test_body_that_looks_like_a_request_is_a_body(server):
    inner = b"GET /x HTTP/1.1\r\n\r\n"
    raw = (b"GET / HTTP/1.1\r\nContent-Length: %d\r\nHost: x\r\n\r\n" % len(inner)) + inner
    marker = os.urandom(32)
    s = server.connect(5.0)
    s.sendall(raw + req(H, ("Content-Length", "32"), method="POST", body=marker))
    rd = Reader(s)
    r = rd.response()
    assert (r.status, r.body) == (200, inner)
    nxt = rd.response()  # must be the marker's echo, not a response to the inner "request"
    assert (nxt.status, nxt.body) == (200, marker)


@pytest.mark.parametrize("args,length,first_status", [
    ((), 1 << 30, 100),             # default limit 1 GiB: at the limit is fine
    ((), (1 << 30) + 1, 413),        # one byte over
    (("--limit-request-body", "0"), 1 << 40, 100),  # 0 = unlimited
], ids=["default_at_limit", "default_over_limit", "zero_unlimited"])
def test_body_limit_via_expect(start_server, args, length, first_status):
    """Probe the body limit with Expect: 100-continue so no huge body is ever sent."""
    srv = start_server(*args)
    s = srv.connect(5.0)
    s.sendall(req(H, ("Content-Length", str(length)), ("Expect", "100-continue"),
                  method="PUT"))
    rd = Reader(s)
    r = rd.response()
    assert r.status == first_status
    if first_status == 413:
        assert "close" in conn_tokens(r)
        assert rd.closed(5.0)
    else:
        s.sendall(b"partial body")
        s.close()
        # the server survives a client that gives up mid-body
        s2 = srv.connect(5.0)
        s2.sendall(VALID_GET)
        assert Reader(s2).response().status == 200
