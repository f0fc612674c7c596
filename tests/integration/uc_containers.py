"""What the tests that run containers share (test_docker.py, test_package.py):
podman with this suite's containers.conf, the local `debian:bookworm` base
image made with debootstrap (no registry is reachable), and a lock so that
one such test runs at a time on a machine.

No image registry is reachable from here, so `FROM debian:bookworm` is served
by a local image that debootstrap makes from the machine's Debian mirror, once
per machine."""

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import tempfile

import pytest

ROOT = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
BASE_IMAGE = "debian:bookworm"
# One container test at a time on a machine (other checkouts too): image tags
# are shared, and test_docker.py checks that nothing is left behind by
# comparing the containers there are before and after it.
LOCK = "/tmp/unixcorn-docker-test.lock"
# In the environment of every podman command, so the machine's /etc/containers
# stays as it is: crun and the default ulimits fail on these machines, and
# there is no systemd to manage cgroups.
CONTAINERS_CONF = """\
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
"""
PATH_IN_IMAGE = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def project_version():
    """The version in CMakeLists.txt's project(): the one place it is set."""
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        m = re.search(r"^project\(unixcorn VERSION (\d+\.\d+\.\d+)\b", f.read(), re.M)
    assert m, "no `project(unixcorn VERSION x.y.z` in CMakeLists.txt"
    return m.group(1)


def sanitizer_build():
    """True when ctest runs this file for the ASan+UBSan build."""
    binary = os.environ.get("UNIXCORN_BIN")
    if not binary:
        return False
    try:
        with open(os.path.join(os.path.dirname(binary), "CMakeCache.txt")) as f:
            return "UNIXCORN_SANITIZE:BOOL=ON" in f.read()
    except OSError:
        return False


class Podman:
    """podman with this suite's containers.conf; every command's output goes
    to one log, whose end is shown on a failure."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.log_path = os.path.join(workdir, "podman.log")
        conf = os.path.join(workdir, "containers.conf")
        with open(conf, "w") as f:
            f.write(CONTAINERS_CONF)
        self.env = dict(os.environ, CONTAINERS_CONF=conf, DISABLE_HC_SYSTEMD="true")

    def log_tail(self, lines=60):
        with open(self.log_path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])

    def run(self, *argv, check=True, timeout=120, env=None, stdin=None, cwd=None,
            merge=False):
        """stdout, with stderr in the log only (or in stdout too: merge)."""
        with open(self.log_path, "a") as log:
            log.write("\n$ %s\n" % " ".join(argv))
            log.flush()
            r = subprocess.run(argv, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT if merge else log,
                               timeout=timeout, env=env or self.env, cwd=cwd)
            out = r.stdout.decode("utf-8", "replace")
            log.write(out)
        if check and r.returncode != 0:
            raise AssertionError("%s exited with %d:\n%s" % (argv, r.returncode, self.log_tail()))
        return out if check else r

    def podman(self, *args, **kw):
        return self.run("podman", *args, **kw)

    def ok(self, *args):
        return self.run("podman", *args, check=False, timeout=60).returncode == 0

    def names(self, kind, *filters):
        """Names of the containers, pods, volumes or networks there are now."""
        args = {"container": ["ps", "-a"], "pod": ["pod", "ps"], "volume": ["volume", "ls"],
                "network": ["network", "ls"]}[kind]
        for f in filters:
            args += ["--filter", f]
        return set(self.podman(*args, "--format", "{{.Name}}" if kind != "container"
                               else "{{.Names}}").split())


def debian_mirror():
    """The Debian archive this machine's apt uses (never a name written here)."""
    stanzas = []
    try:
        with open("/etc/apt/sources.list.d/debian.sources") as f:
            for block in re.split(r"\n\s*\n", f.read()):
                fields = dict(re.findall(r"^([A-Za-z-]+):[ \t]*(.*)$", block, re.M))
                if "deb" in fields.get("Types", "").split():
                    stanzas.append((fields.get("URIs", ""), fields.get("Suites", ""),
                                    fields.get("Components", "")))
    except OSError:
        pass
    try:
        with open("/etc/apt/sources.list") as f:
            for line in f:
                m = re.match(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)$", line.strip())
                if m:
                    stanzas.append(m.groups())
    except OSError:
        pass
    # The main archive: a release's own suite (not -updates, -security) with main.
    for uris, suites, components in stanzas:
        if uris and "main" in components.split() and any(
                "-" not in s and "/" not in s for s in suites.split()):
            return uris.split()[0]
    pytest.skip("no Debian archive in /etc/apt/sources.list.d/debian.sources or "
                "/etc/apt/sources.list to debootstrap the base image from")


def ensure_base_image(pm):
    """`FROM debian:bookworm` with no registry: a minbase debootstrap of the
    machine's mirror, imported as debian:bookworm (podman stores it as
    localhost/debian:bookworm, which the short name finds first)."""
    if pm.ok("image", "exists", BASE_IMAGE):
        return
    with tempfile.TemporaryDirectory(prefix="uc-debootstrap-", dir="/var/tmp") as d:
        rootfs = os.path.join(d, "rootfs")
        pm.run("debootstrap", "--variant=minbase", "bookworm", rootfs, debian_mirror(),
               timeout=1200)
        for sub in ("var/lib/apt/lists", "var/cache/apt/archives"):
            for entry in os.listdir(os.path.join(rootfs, sub)):
                p = os.path.join(rootfs, sub, entry)
                if os.path.isfile(p):
                    os.unlink(p)
        tar = subprocess.Popen(["tar", "-C", rootfs, "--numeric-owner", "-c", "."],
                               stdout=subprocess.PIPE)
        # An imported image has no PATH of its own.
        pm.podman("import", "--change", "ENV PATH=" + PATH_IN_IMAGE, "--change",
                  'CMD ["bash"]', "-", BASE_IMAGE, stdin=tar.stdout, timeout=600)
        tar.stdout.close()
        assert tar.wait() == 0
    assert pm.ok("image", "exists", BASE_IMAGE)


@contextlib.contextmanager
def podman_session(tools, podman_class=Podman, sanitizer_reason=None):
    """A podman_class for one test module, with the base image made and the
    machine's lock held; skips where the containers cannot run. Under the
    sanitizer build, skips with sanitizer_reason: what runs in the containers
    is built there, not taken from this build."""
    if sanitizer_build():
        pytest.skip(sanitizer_reason)
    if os.geteuid() != 0:
        pytest.skip("podman's networks and port publishing, and debootstrap, need root here")
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        pytest.skip("%s not installed: ./run tests installs them" % " ".join(missing))
    with tempfile.TemporaryDirectory(prefix="uc-podman-", dir="/tmp") as workdir:
        pm = podman_class(workdir)
        info = pm.run("podman", "info", check=False, timeout=60)
        if info.returncode != 0:
            pytest.skip("podman cannot run on this machine (`podman info` failed):\n"
                        + pm.log_tail(20))
        with open(LOCK, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            ensure_base_image(pm)
            yield pm
