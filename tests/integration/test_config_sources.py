"""Configuration beyond the command line: -c/--config FILE and
UNIXCORN_CMD_ARGS, their precedence (command line over environment over file),
errors that name the file and line, --check-config, HUP re-reading the file
(new workers get the new settings; a broken file changes nothing; what is bound
at start is kept), and the files shipped in systemd/ and docker/."""

import os
import re
import signal

import pytest

from conftest import Reader, request_bytes
from uc_testlib import (child_pids, echo_unix, log_search, run_cli, unix_connect, usr2,
                        wait_booted, wait_pid, wait_until, wait_workers)
from uc_testlib import subreaper  # noqa: F401  (a fixture)

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


@pytest.fixture
def conf(workdir):
    """conf(text) writes workdir/unixcorn.conf and returns its path."""
    path = os.path.join(workdir, "unixcorn.conf")

    def write(text):
        with open(path + ".new", "w") as f:
            f.write(text)
        os.rename(path + ".new", path)
        return path
    return write


def streamed(sock):
    """Does a worker echo this body back as it arrives (--echo-stream)?"""
    c = unix_connect(sock)
    try:
        c.sendall(request_bytes("POST", "/", b"x" * 100))
        resp = Reader(c).response()
        assert resp.status == 200 and resp.body == b"x" * 100
        return resp.header("transfer-encoding") == "chunked"
    finally:
        c.close()


def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read().decode().split("\0")[:-1]


def test_the_file_configures_the_server(start_server, workdir, conf):
    sock = os.path.join(workdir, "from-file.sock")
    access = os.path.join(workdir, "access.log")
    path = conf("# unixcorn.conf\n"
                "bind = unix:%s   # the socket\n"
                "workers = 2\n"
                "echo-stream = true\n"
                "access-logfile = %s\n" % (sock, access))
    srv = start_server("--config", path, sock=False)
    pids = wait_workers(srv, 2)
    assert "Listening at: unix:%s" % sock in srv.stderr()
    assert streamed(sock)
    assert wait_until(lambda: os.path.exists(access) and '"POST / HTTP/1.1" 200' in
                      open(access).read())
    # Workers get the settings on their command line, not the file.
    argv = cmdline(pids[0])
    assert "--workers=2" in argv and "--echo-stream" in argv, argv
    assert not [a for a in argv if a.startswith(("--config", "-c"))], argv
    assert srv.stop() == 0, srv.stderr()


def test_command_line_over_environment_over_file(start_server, workdir, conf):
    path = conf("workers = 3\nkeepalive = 7\n")
    env = {"UNIXCORN_CMD_ARGS": "--workers 2 --keepalive=6"}
    srv = start_server("-c", path, "--workers", "1", env=env, name="all-three")
    argv = cmdline(wait_workers(srv, 1)[0])
    assert "--workers=1" in argv and "--keepalive=6" in argv, argv
    assert srv.stop() == 0, srv.stderr()
    srv = start_server("-c", path, env=env, name="env-and-file")
    argv = cmdline(wait_workers(srv, 2)[0])
    assert "--workers=2" in argv and "--keepalive=6" in argv, argv
    assert srv.stop() == 0, srv.stderr()
    srv = start_server("-c", path, name="file")
    argv = cmdline(wait_workers(srv, 3)[0])
    assert "--workers=3" in argv and "--keepalive=7" in argv, argv
    assert srv.stop() == 0, srv.stderr()


def test_environment_is_split_like_a_shell(start_server, workdir):
    spool = os.path.join(workdir, "a spool dir")
    os.mkdir(spool)
    env = {"UNIXCORN_CMD_ARGS": "--workers 2 --tmp-dir '%s' --echo-stream" % spool}
    srv = start_server(env=env)
    argv = cmdline(wait_workers(srv, 2)[0])
    assert "--tmp-dir=" + spool in argv, argv
    assert streamed(srv.sock)
    assert srv.stop() == 0, srv.stderr()


@pytest.mark.parametrize("text,line,error", [
    ("workers = 2\nworkers = lots\n", 2, "workers: expected a number from 1 to 1024"),
    ("# ok\n\nwrokers = 2\n", 3, "wrokers: unknown setting"),
    ("echo-stream = on\n", 1, "echo-stream: expected true or false"),
    ("workers 2\n", 1, "expected 'flag = value'"),
], ids=["bad-value", "unknown-key", "bad-switch", "no-equals"])
@pytest.mark.parametrize("check", [True, False], ids=["check-config", "start"])
def test_a_bad_file_names_its_line_and_exits_2(workdir, conf, text, line, error, check):
    path = conf(text)
    sock = os.path.join(workdir, "never.sock")
    res = run_cli(["-c", path, "--bind", "unix:" + sock] + (["--check-config"] if check else []))
    assert res.returncode == 2 and not res.started, res
    assert res.stderr.startswith("unixcorn: %s:%d: %s" % (path, line, error)), res
    assert res.stderr.count("\n") == 1, res
    assert not os.path.lexists(sock)


def test_check_config_reads_the_file_and_the_environment(workdir, conf):
    res = run_cli(["-c", conf("workers = 2\n"), "--check-config"])
    assert res.returncode == 0 and "the configuration is valid" in res.stderr, res
    res = run_cli(["-c", os.path.join(workdir, "missing.conf"), "--check-config"])
    assert res.returncode == 2 and "--config: cannot read" in res.stderr, res


def test_hup_rereads_the_file_for_new_workers(start_server, workdir, conf):
    sock = os.path.join(workdir, "app.sock")
    path = conf("workers = 1\nbind = unix:%s\n" % sock)
    srv = start_server("-c", path, sock=False)
    old = wait_workers(srv, 1)
    assert not streamed(sock)
    conf("workers = 2\necho-stream = true\nbind = unix:%s\nsocket-mode = 0600\n"
         "max-worker-lifetime = 3600\n" % os.path.join(workdir, "elsewhere.sock"))
    srv.signal(signal.SIGHUP)
    log_search(srv, r"\[WARNING\] Reload: --bind, --socket-mode changed, ignored until a "
               r"restart")
    log_search(srv, r"Reloaded the configuration from %s" % re.escape(path))
    new = wait_until(lambda: len(srv.worker_pids()) == 2 and
                     not set(srv.worker_pids()) & set(old) and srv.worker_pids())
    assert new, srv.stderr()
    wait_booted(srv, new)
    for _ in range(4):
        assert streamed(sock)
    argv = cmdline(new[0])
    assert "--max-worker-lifetime=3600" in argv and "--bind=unix:" + sock in argv, argv
    assert "--socket-mode=0600" not in argv, argv
    assert not os.path.lexists(os.path.join(workdir, "elsewhere.sock"))
    assert oct(os.stat(sock).st_mode & 0o777) == "0o666"
    assert srv.stop() == 0, srv.stderr()


def test_hup_with_a_broken_file_keeps_the_settings(start_server, workdir, conf):
    path = conf("workers = 2\necho-stream = true\n")
    srv = start_server("-c", path)
    old = wait_workers(srv, 2)
    conf("workers = 3\necho-stream = maybe\n")
    srv.signal(signal.SIGHUP)
    log_search(srv, r"\[ERROR\] Reloading the configuration failed; keeping the settings in "
               r"use: %s:2: echo-stream: expected true or false" % re.escape(path))
    # HUP still replaces the workers, with the settings in use.
    new = wait_until(lambda: len(srv.worker_pids()) == 2 and
                     not set(srv.worker_pids()) & set(old) and srv.worker_pids())
    assert new, srv.stderr()
    wait_booted(srv, new)
    assert streamed(srv.sock)
    assert "Reloaded the configuration" not in srv.stderr()
    # Fixed, and read again on the next HUP.
    conf("workers = 1\n")
    srv.signal(signal.SIGHUP)
    log_search(srv, r"Reloaded the configuration")
    assert wait_until(lambda: len(srv.worker_pids()) == 1 and
                      not set(srv.worker_pids()) & set(new)), srv.stderr()
    wait_booted(srv, srv.worker_pids())
    assert not streamed(srv.sock)
    assert srv.stop() == 0, srv.stderr()


def test_hup_keeps_a_ttin_target_unless_workers_changes(start_server, conf):
    path = conf("workers = 1\nkeepalive = 5\n")
    srv = start_server("-c", path)
    srv.signal(signal.SIGTTIN)
    wait_workers(srv, 2)
    conf("workers = 1\nkeepalive = 4\n")
    srv.signal(signal.SIGHUP)
    log_search(srv, r"Reloaded the configuration")
    assert wait_until(lambda: len(booting_lines(srv)) == 4), srv.stderr()
    wait_workers(srv, 2)
    conf("workers = 3\n")
    srv.signal(signal.SIGHUP)
    assert wait_until(lambda: len(booting_lines(srv)) == 7), srv.stderr()
    wait_workers(srv, 3)
    assert srv.stop() == 0, srv.stderr()


def booting_lines(srv):
    return re.findall(r"Booting worker with pid", srv.stderr())


def test_hup_applies_the_log_level_to_the_master(start_server, conf):
    path = conf("log-level = info\n")
    srv = start_server("-c", path)
    old = srv.worker_pid()
    conf("log-level = warning\n")
    srv.signal(signal.SIGHUP)
    log_search(srv, r"Reloaded the configuration")
    assert wait_until(lambda: srv.worker_pids() and old not in srv.worker_pids())
    before = len(srv.stderr())
    srv.signal(signal.SIGTTIN)  # logged at INFO: no longer
    wait_workers(srv, 2)
    echo_unix(srv.sock)
    assert "[INFO]" not in srv.stderr()[before:], srv.stderr()[before:]
    assert srv.stop() == 0


def test_usr2_passes_the_environment_on_to_the_new_master(start_server, subreaper):
    srv = start_server(env={"UNIXCORN_CMD_ARGS": "--workers 2"})
    wait_workers(srv, 2)
    new_master, workers = usr2(srv, subreaper, workers=2)
    assert len(child_pids(new_master)) == 2
    srv.signal(signal.SIGTERM)
    assert srv.wait() == 0, srv.stderr()
    echo_unix(srv.sock, b"served by the new master\n")
    os.kill(new_master, signal.SIGTERM)
    assert wait_pid(new_master) == 0


@pytest.mark.parametrize("path", ["systemd/unixcorn.conf", "docker/unixcorn.conf"])
def test_shipped_config_files_check(path):
    res = run_cli(["-c", os.path.abspath(os.path.join(ROOT, path)), "--check-config"])
    assert res.returncode == 0 and "the configuration is valid" in res.stderr, res


def test_help_covers_the_new_flags():
    text = run_cli(["--help"]).stdout
    for flag in ("-c, --config FILE", "--max-worker-memory SIZE",
                 "--max-worker-lifetime SECONDS", "--max-worker-lifetime-jitter SECONDS",
                 "--workers auto", "UNIXCORN_CMD_ARGS"):
        assert flag in text, (flag, text)
