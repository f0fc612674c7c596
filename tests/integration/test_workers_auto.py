"""--workers auto: one worker per CPU the process may really use, its CPU
affinity (taskset) and its cgroup v2 cpu.max quota rounded up, whichever is
fewer; the log says the number and where it came from. The quota comes from a
real cgroup where this machine lets the test make one, and else from a fake
cgroup tree (UNIXCORN_DEBUG_CGROUP_ROOT)."""

import os
import re
import shutil
import signal
import subprocess
import tempfile

import pytest

from conftest import BIN
from uc_testlib import child_pids, echo_unix, log_search, wait_until

AUTO_LINE = r"--workers auto: (\d+) workers, for the (\d+) CPUs of the (.*)"


class Started:
    """unixcorn started under a command prefix (taskset), or in a cgroup."""

    def __init__(self, workdir, prefix=(), env=None, preexec_fn=None):
        self.sock = os.path.join(workdir, "auto.sock")
        self.log = os.path.join(workdir, "auto.log")
        argv = list(prefix) + [BIN, "--bind", "unix:" + self.sock, "--workers", "auto"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=open(self.log, "wb"),
                                     env=dict(os.environ, **(env or {})),
                                     preexec_fn=preexec_fn, start_new_session=True)
        self.pid = self.proc.pid  # taskset execs: the same process

    def stderr(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def workers(self, n):
        """Waits for n workers and checks that there are no more."""
        assert wait_until(lambda: len(child_pids(self.pid)) >= n), self.stderr()
        assert not wait_until(lambda: len(child_pids(self.pid)) > n, timeout=1)
        # Forked is not booted: each logs its line once it is up.
        assert wait_until(lambda: len(re.findall(r"Booting worker", self.stderr())) >= n), \
            self.stderr()
        assert len(re.findall(r"Booting worker", self.stderr())) == n, self.stderr()
        echo_unix(self.sock, b"auto\n")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        return self.proc.returncode


@pytest.fixture
def run(workdir):
    started = []

    def start(*args, **kw):
        s = Started(workdir, *args, **kw)
        started.append(s)
        return s
    yield start
    for s in started:
        s.stop()


@pytest.fixture
def fake_cgroup():
    """A directory standing for /sys/fs/cgroup; set(cpu_max) writes its
    cpu.max (the walk up from the process's own cgroup ends there)."""
    d = tempfile.mkdtemp(prefix="uc-cgroup-", dir="/tmp")

    def set_quota(cpu_max):
        with open(os.path.join(d, "cpu.max"), "w") as f:
            f.write(cpu_max + "\n")
        return {"UNIXCORN_DEBUG_CGROUP_ROOT": d}
    yield set_quota
    shutil.rmtree(d)


def affinity():
    return len(os.sched_getaffinity(0))


def auto_line(srv):
    return log_search(srv, AUTO_LINE)


def test_auto_is_the_affinity_without_a_quota(run, fake_cgroup):
    srv = run(env=fake_cgroup("max 100000"))
    m = auto_line(srv)
    assert int(m.group(1)) == affinity(), m.group(0)
    assert "sched_getaffinity; no cgroup cpu.max quota" in m.group(3), m.group(0)
    srv.workers(affinity())
    assert srv.stop() == 0, srv.stderr()


def test_taskset_limits_auto(run, fake_cgroup):
    srv = run(prefix=["taskset", "-c", "0"], env=fake_cgroup("max 100000"))
    m = auto_line(srv)
    assert (m.group(1), m.group(2)) == ("1", "1"), m.group(0)
    assert "CPU affinity (sched_getaffinity" in m.group(3), m.group(0)
    srv.workers(1)
    assert srv.stop() == 0, srv.stderr()


@pytest.mark.skipif(affinity() < 2, reason="needs two CPUs to see a quota below them")
def test_a_cgroup_quota_below_the_cpus_limits_auto(run, fake_cgroup):
    """A container limited to fewer CPUs than the machine has: 0.5 CPU of
    quota is 1 worker, rounded up, not one per CPU of the node."""
    srv = run(env=fake_cgroup("50000 100000"))
    m = auto_line(srv)
    assert (m.group(1), m.group(2)) == ("1", "1"), m.group(0)
    assert "cgroup's cpu.max quota (50000 100000 in " in m.group(3), m.group(0)
    assert "the CPU affinity allows %d" % affinity() in m.group(3), m.group(0)
    srv.workers(1)
    assert srv.stop() == 0, srv.stderr()


def test_a_quota_above_the_affinity_leaves_the_affinity(run, fake_cgroup):
    srv = run(prefix=["taskset", "-c", "0"], env=fake_cgroup("400000 100000"))
    m = auto_line(srv)
    assert m.group(1) == "1", m.group(0)
    assert "quota allows as many or more" in m.group(3), m.group(0)
    srv.workers(1)
    assert srv.stop() == 0, srv.stderr()


def real_cgroup_v2():
    """The cgroup v2 directory this test may make a child in, or a reason not."""
    root = "/sys/fs/cgroup"
    try:
        with open(os.path.join(root, "cgroup.controllers")) as f:
            controllers = f.read().split()
    except OSError:
        return None, "/sys/fs/cgroup is not a cgroup v2 hierarchy here"
    if "cpu" not in controllers:
        return None, "the cpu controller is not on cgroup v2 here"
    with open("/proc/self/cgroup") as f:
        own = [l.split("::", 1)[1].strip() for l in f if l.startswith("0::")]
    parent = os.path.dirname(root + own[0].rstrip("/")) if own else root
    if not os.access(parent, os.W_OK):
        return None, "cannot make a cgroup under %s" % parent
    return parent, None


def test_a_real_cgroup_quota_limits_auto(run):
    parent, why = real_cgroup_v2()
    if parent is None:
        pytest.skip(why)
    if affinity() < 2:
        pytest.skip("needs two CPUs to see a quota below them")
    group = tempfile.mkdtemp(prefix="uc-auto-", dir=parent)
    try:
        try:
            with open(os.path.join(parent, "cgroup.subtree_control"), "w") as f:
                f.write("+cpu")
            with open(os.path.join(group, "cpu.max"), "w") as f:
                f.write("100000 100000")
        except OSError as e:
            pytest.skip("cannot set cpu.max in %s: %s" % (group, e))

        def join():
            with open(os.path.join(group, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        srv = run(preexec_fn=join)
        m = auto_line(srv)
        assert (m.group(1), m.group(2)) == ("1", "1"), m.group(0)
        assert "(100000 100000 in %s;" % group in m.group(3), m.group(0)
        srv.workers(1)
        assert srv.stop() == 0, srv.stderr()
    finally:
        wait_until(lambda: not open(os.path.join(group, "cgroup.procs")).read().strip())
        os.rmdir(group)
