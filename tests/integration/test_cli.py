"""Command line: --help/--version, every flag accepted in both spellings, bad
flags and values rejected with status 2 and one line naming the flag, startup
log format, somaxconn warning, log destinations and levels."""

import os
import re
import signal

import pytest

from uc_testlib import (LISTEN_RE, echo_unix, run_cli, wait_serving_unix, wait_until)

ALL_FLAGS = [
    "-b", "--bind", "--backlog", "--keepalive", "--keep-alive", "--header-timeout",
    "--read-timeout", "--graceful-timeout", "--limit-request-line",
    "--limit-request-fields", "--limit-request-field_size", "--limit-request-body",
    "--tmp-dir", "--echo-stream", "--socket-mode", "--socket-group",
    "--access-logfile", "--access-logformat", "--error-logfile", "--log-level", "-h", "--help",
    "-v", "--version",
]


# ---------------------------------------------------------------- help / version

@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_exits_0_on_stdout(flag):
    r = run_cli([flag])
    assert r.returncode == 0, r
    assert "--bind" in r.stdout, r


def test_help_documents_every_flag_and_default_bind():
    r = run_cli(["--help"])
    assert r.returncode == 0, r
    text = r.stdout
    missing = [f for f in ALL_FLAGS
               if not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(f), text)]
    assert not missing, "--help does not mention %s:\n%s" % (missing, text)
    assert "unix:/tmp/app.sock" in text


README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md")


def help_entries(text):
    """--help's options as [(flags, ARG or None, text)]: a heading line
    ("  -b, --bind ADDR", "      --keepalive, --keep-alive SECONDS"), then its
    text indented below it, up to the next heading or a blank line."""
    entries = []
    for line in text.split("\nOptions:\n", 1)[1].splitlines():
        m = re.fullmatch(r" {2}(?:-\w, | {4})(--[\w-]+(?:, --[\w-]+)*)(?: ([A-Z_]+))?", line)
        if m:
            entries.append((m.group(1).split(", "), m.group(2), []))
        elif line.startswith(" " * 10) and entries:
            entries[-1][2].append(line.strip())
        elif not line.strip():
            break
    return [(flags, arg, " ".join(lines)) for flags, arg, lines in entries]


def readme_flag_rows():
    """The README's "## Command line" table as [(first cell, whole row)]."""
    with open(README) as f:
        text = f.read()
    section = text.split("\n## Command line\n", 1)[1].split("\n#", 1)[0]
    rows = [l for l in section.splitlines() if l.startswith("| ") and "---" not in l]
    assert rows and rows[0].startswith("| flag |"), section[:500]
    return [(row.split(" | ")[0], row) for row in rows[1:]]


def names(text, flag):
    return re.search(_flag_re(flag), text) is not None


def test_every_flag_of_help_has_an_example_and_a_readme_row():
    """Issue #16: --help and the README cover every flag with an example. A
    flag that takes a value shows one in its --help text ("e.g." or "E.g.")
    and in its README row; a switch (--check-config, --echo-stream, --help,
    --version) needs none. Each flag has a row of its own in the README's
    table, an alias at least a mention in its flag's row."""
    r = run_cli(["--help"])
    assert r.returncode == 0, r
    entries = help_entries(r.stdout)
    flags = [f for fs, _, _ in entries for f in fs]
    for want in ("--bind", "--keep-alive", "--limit-request-field-size", "--app-arg",
                 "--threads", "--check-config", "--version"):
        assert want in flags, (want, flags)
    rows = readme_flag_rows()
    no_example, no_row, no_row_example = [], [], []
    for fs, arg, text in entries:
        if arg is not None and "e.g." not in text.lower():
            no_example.append(fs[0])
        row = next((row for first, row in rows if names(first, fs[0])), None)
        if row is None:
            no_row.append(fs[0])
            continue
        no_row += [alias for alias in fs[1:] if not names(row, alias)]
        if arg is not None and "e.g." not in row.lower():
            no_row_example.append(fs[0])
    assert no_example == [], "--help shows no example for %s" % no_example
    assert no_row == [], "README.md's Command line table has no row for %s" % no_row
    assert no_row_example == [], "README.md's rows show no example for %s" % no_row_example


def test_help_fits_80_columns():
    r = run_cli(["--help"])
    assert r.returncode == 0, r
    assert [l for l in r.stdout.splitlines() if len(l) > 80] == []


@pytest.mark.parametrize("flag", ["-v", "--version"])
def test_version(flag):
    r = run_cli([flag])
    assert r.returncode == 0, r
    assert re.search(r"\bunixcorn\b.*\b0\.1\.0\b", r.stdout), r


# ---------------------------------------------------------------- bad input -> 2

NUMERIC_INT = ["--backlog", "--limit-request-line", "--limit-request-fields",
               "--limit-request-field_size", "--limit-request-field-size",
               "--limit-request-body"]
NUMERIC_SECONDS = ["--keepalive", "--keep-alive", "--header-timeout", "--read-timeout",
                   "--graceful-timeout"]
VALUE_FLAGS = (["--bind", "-b"] + NUMERIC_INT + NUMERIC_SECONDS +
               ["--tmp-dir", "--socket-mode", "--socket-group", "--access-logfile",
                "--error-logfile", "--log-level"])


def _bad_cases():
    cases = []
    for flag in NUMERIC_INT:
        for v in ["abc", "-1", "10x", ""]:
            cases.append((flag, v))
    for flag in NUMERIC_SECONDS:
        for v in ["abc", "-1", "-0.5", "1x", ""]:
            cases.append((flag, v))
    for v in ["abc", "999", "0800", "-1", "10000", ""]:
        cases.append(("--socket-mode", v))
    cases.append(("--socket-group", "no-such-group-uc"))
    for v in ["verbose", "loud", ""]:
        cases.append(("--log-level", v))
    return cases


def _assert_usage_error(r, flag_re):
    assert not r.started, "server started instead of rejecting the argument:\n%r" % r
    assert r.returncode == 2, r
    lines = r.stderr.splitlines()
    assert len(lines) == 1, "expected exactly one line on stderr:\n%r" % r
    assert lines[0].startswith("unixcorn: "), r
    assert re.search(flag_re, lines[0]), "stderr does not name %s:\n%r" % (flag_re, r)


def _flag_re(flag):
    return r"(?<![\w-])%s(?![\w-])" % re.escape(flag)


@pytest.mark.parametrize("form", ["space", "equals"])
@pytest.mark.parametrize("flag,value", _bad_cases())
def test_bad_value_exits_2(workdir, flag, value, form):
    good_bind = ["--bind", "unix:" + os.path.join(workdir, "cli.sock")]
    if form == "space":
        argv = good_bind + [flag, value]
    else:
        argv = good_bind + ["%s=%s" % (flag, value)]
    _assert_usage_error(run_cli(argv), _flag_re(flag))


@pytest.mark.parametrize("flag", VALUE_FLAGS)
def test_missing_value_exits_2(workdir, flag):
    argv = ([] if flag in ("-b", "--bind")
            else ["--bind", "unix:" + os.path.join(workdir, "cli.sock")])
    flag_re = r"(-b|--bind)\b" if flag in ("-b", "--bind") else _flag_re(flag)
    _assert_usage_error(run_cli(argv + [flag]), flag_re)


@pytest.mark.parametrize("flag", ["--nope", "--bindx", "-x", "--echo-streams", "--limit"])
def test_unknown_flag_exits_2(workdir, flag):
    argv = ["--bind", "unix:" + os.path.join(workdir, "cli.sock"), flag]
    _assert_usage_error(run_cli(argv), _flag_re(flag))


@pytest.mark.parametrize("flag", ["-b", "--bind"])
@pytest.mark.parametrize("addr", [
    "unix:", "127.0.0.1:notaport", "localhost:notaport", "[::1", "[::1]:notaport",
    "127.0.0.1:70000", "[::1]:70000", "127.0.0.1:", "127.0.0.1:-1",
])
def test_bad_bind_address_exits_2(flag, addr):
    r = run_cli([flag, addr])
    _assert_usage_error(r, r"(?<![\w-])(-b|--bind)(?![\w-])")


def test_seventeenth_bind_is_refused_by_number():
    argv = []
    for i in range(17):
        argv += ["--bind", "unix:/tmp/uc-17-%d.sock" % i]
    r = run_cli(argv)
    _assert_usage_error(r, r"--bind")
    assert "at most 16 addresses" in r.stderr, r


def test_bad_bind_equals_form_exits_2():
    _assert_usage_error(run_cli(["--bind=127.0.0.1:70000"]), r"--bind")


# ---------------------------------------------------------------- valid flags accepted

def _valid_cases(workdir):
    return {
        "backlog": ["--backlog", "64"],
        "keepalive": ["--keepalive", "3"],
        "keep-alive": ["--keep-alive", "3"],
        "header-timeout": ["--header-timeout", "2.5"],
        "read-timeout": ["--read-timeout", "5"],
        "graceful-timeout": ["--graceful-timeout", "0.5"],
        "limit-request-line": ["--limit-request-line", "4094"],
        "limit-request-fields": ["--limit-request-fields", "50"],
        "limit-request-field_size": ["--limit-request-field_size", "8190"],
        "limit-request-field-size": ["--limit-request-field-size", "8190"],
        "limit-request-body-0": ["--limit-request-body", "0"],
        "limit-request-body": ["--limit-request-body", "1048576"],
        "tmp-dir": ["--tmp-dir", workdir],
        "echo-stream": ["--echo-stream"],
        "socket-mode": ["--socket-mode", "0640"],
        "socket-group": ["--socket-group", "nogroup"],
        "access-logfile": ["--access-logfile", os.path.join(workdir, "access.log")],
        "access-logfile-stdout": ["--access-logfile", "-"],
        "access-logformat-json": ["--access-logformat", "json"],
        "access-logformat-atoms": ["--access-logformat", '%(h)s "%(r)s" %(request_id)s'],
        "error-logfile-stderr": ["--error-logfile", "-"],
        "log-level-debug": ["--log-level", "debug"],
        "log-level-info": ["--log-level", "info"],
        "log-level-warning": ["--log-level", "warning"],
        "log-level-error": ["--log-level", "error"],
        "log-level-critical": ["--log-level", "critical"],
    }


VALID_NAMES = list(_valid_cases("/x").keys())


@pytest.mark.parametrize("form", ["space", "equals"])
@pytest.mark.parametrize("name", VALID_NAMES)
def test_valid_flag_accepted(start_server, workdir, name, form):
    argv = _valid_cases(workdir)[name]
    if form == "equals" and len(argv) == 2:
        argv = ["%s=%s" % tuple(argv)]
    sock = os.path.join(workdir, "app.sock")
    if form == "equals":
        srv = start_server("--bind=unix:" + sock, *argv, sock=False, wait=False)
    else:
        srv = start_server(*argv, wait=False)
    wait_serving_unix(srv, sock)
    echo_unix(sock, b"flag %s\n" % name.encode())
    assert srv.stop() == 0, srv.stderr()


def test_every_flag_at_once(start_server, workdir):
    sock = os.path.join(workdir, "app.sock")
    srv = start_server(
        "--backlog", "64", "--keepalive", "3", "--header-timeout", "5",
        "--read-timeout", "5", "--graceful-timeout", "0.5", "--limit-request-line", "4094",
        "--limit-request-fields", "50", "--limit-request-field_size", "8190",
        "--limit-request-body", "0", "--tmp-dir", workdir, "--echo-stream",
        "--socket-mode", "0660", "--socket-group", "nogroup",
        "--access-logfile", os.path.join(workdir, "access.log"), "--error-logfile", "-",
        "--log-level", "info")
    echo_unix(sock)
    assert srv.stop() == 0, srv.stderr()


# ---------------------------------------------------------------- startup log

def test_listening_line_format(start_server, workdir):
    srv = start_server()
    lines = [l for l in srv.stderr().splitlines() if "Listening at" in l]
    assert len(lines) == 1, srv.stderr()
    m = LISTEN_RE.match(lines[0])
    assert m, "not Gunicorn style: %r" % lines[0]
    assert m.group(1) == str(srv.pid) and m.group(3) == str(srv.pid), lines[0]
    assert m.group(2) == "unix:" + srv.sock, lines[0]


def test_listening_line_once_per_bind(start_server, workdir):
    a, b = os.path.join(workdir, "a.sock"), os.path.join(workdir, "b.sock")
    srv = start_server("-b", "unix:" + a, "--bind", "unix:" + b)
    assert wait_until(lambda: len(LISTEN_RE.findall(srv.stderr())) >= 2), srv.stderr()
    found = sorted(m[1] for m in LISTEN_RE.findall(srv.stderr()))
    assert found == sorted(["unix:" + a, "unix:" + b]), srv.stderr()


def _somaxconn():
    with open("/proc/sys/net/core/somaxconn") as f:
        return int(f.read())


def test_backlog_above_somaxconn_warns(start_server):
    srv = start_server("--backlog", str(_somaxconn() + 1))
    echo_unix(srv.sock)
    warn = [l for l in srv.stderr().splitlines() if "somaxconn" in l]
    assert warn, srv.stderr()
    assert "[WARNING]" in warn[0] or "[WARN]" in warn[0], warn


def test_default_backlog_no_somaxconn_warning(start_server):
    if _somaxconn() < 2048:
        pytest.skip("somaxconn < 2048 here, the default backlog would warn")
    srv = start_server()
    echo_unix(srv.sock)
    assert "somaxconn" not in srv.stderr(), srv.stderr()


# ---------------------------------------------------------------- log destinations

def test_error_logfile_path(start_server, workdir):
    log = os.path.join(workdir, "error.log")
    sock = os.path.join(workdir, "app.sock")
    srv = start_server("--error-logfile", log, wait=False)
    wait_serving_unix(srv, sock)
    assert wait_until(lambda: os.path.exists(log) and "Listening at" in open(log).read()), \
        "no Listening line in %s; stderr:\n%s" % (log, srv.stderr())
    assert "Listening at" not in srv.stderr()
    assert srv.stop() == 0


@pytest.mark.parametrize("level", ["warning", "error", "critical"])
def test_log_level_above_info_hides_info(start_server, workdir, level):
    sock = os.path.join(workdir, "app.sock")
    srv = start_server("--log-level", level, wait=False)
    wait_serving_unix(srv, sock)
    echo_unix(sock)
    assert srv.stop() == 0
    assert "[INFO]" not in srv.stderr(), srv.stderr()


def _access_line(text, target):
    return [l for l in text.splitlines() if '"POST %s HTTP/1.1" 200' % target in l]


def test_access_logfile_path(start_server, workdir):
    log = os.path.join(workdir, "access.log")
    srv = start_server("--access-logfile", log)
    echo_unix(srv.sock)  # target /echo
    assert wait_until(lambda: os.path.exists(log) and _access_line(open(log).read(), "/echo")), \
        "no access line in %s:\n%s" % (log, open(log).read() if os.path.exists(log) else None)
    assert srv.stop() == 0


def test_access_logfile_stdout(start_server):
    srv = start_server("--access-logfile", "-")
    echo_unix(srv.sock)
    assert wait_until(lambda: _access_line(srv.stdout(), "/echo")), \
        "stdout:\n%s\nstderr:\n%s" % (srv.stdout(), srv.stderr())
    assert srv.stop(signal.SIGTERM) == 0
