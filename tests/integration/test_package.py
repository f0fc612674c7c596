"""The Debian packages that `./run package` builds (build-deb/packages/;
./run tests builds them first): checked as files (lintian, contents, fields),
then installed for real, as a user would, into a clean debian:bookworm
container that runs systemd as its init:

- `apt-get install ./unixcorn_*.deb` takes the dependencies from the archive;
  the service is enabled and started on its socket, as the unixcorn user; a
  request gets its echo, directly and through Debian's nginx with the site
  the package ships; `man -w unixcorn` finds the page;
- `apt-get install ./unixcorn-dev_*.deb` is all it takes to build an
  application from its examples, which the packaged server then serves;
- removing the package stops the service and leaves no socket and no
  process; the unixcorn user stays, and purging removes the settings.

systemd does run in these containers (podman --systemd=always), so the units
run as shipped, not a stand-in for them. The tools the test itself uses
(systemd, curl, man-db, procps, nginx, gcc) are in an image made once from
debian:bookworm and kept in podman's cache, package lists included, so that
apt can fetch the packages' dependencies. The container is removed at the
end."""

import io
import os
import re
import stat
import subprocess
import tarfile
import tempfile
import time

import pytest

from uc_containers import ROOT, Podman, podman_session, project_version, sanitizer_build

DEB_DIR = os.environ.get("UNIXCORN_DEB_DIR") or os.path.join(ROOT, "build-deb", "packages")
PACKAGING_DOC = os.path.join(ROOT, "docs", "packaging.md")
TOOLS = ("podman", "runc", "debootstrap")
IMAGE = "localhost/unixcorn-package-test:latest"
CONTAINER = "unixcorn-package-test"
CONTAINERFILE = """\
FROM debian:bookworm
RUN apt-get update \\
 && apt-get install -y --no-install-recommends systemd systemd-sysv curl man-db procps \\
      nginx gcc libc6-dev \\
 && apt-get clean
"""
SOCKET = "/run/unixcorn/app.sock"


def deb(name):
    """The path of package name (unixcorn, unixcorn-dev) in DEB_DIR."""
    found = [f for f in sorted(os.listdir(DEB_DIR)) if f.startswith(name + "_")
             and f.endswith(".deb")] if os.path.isdir(DEB_DIR) else []
    if not found:
        pytest.skip("no %s_*.deb in %s: `./run package` builds it (./run tests does)"
                    % (name, DEB_DIR))
    assert len(found) == 1, found
    return os.path.join(DEB_DIR, found[0])


@pytest.fixture(scope="module", autouse=True)
def release_build_only():
    if sanitizer_build():
        pytest.skip("the packages are a release build of their own (./run package): the "
                    "sanitizer build's run would repeat the plain build's run")


def dpkg_deb(*args):
    return subprocess.run(["dpkg-deb", *args], capture_output=True, text=True, check=True,
                          timeout=60).stdout


def field(path, name):
    return dpkg_deb("--field", path, name).strip()


def contents(path):
    """{path in the package: (mode string, owner/group)}"""
    out = {}
    for line in dpkg_deb("--contents", path).splitlines():
        mode, owner, _size, _date, _time, name = line.split(None, 5)
        out[name.lstrip(".").split(" -> ")[0].rstrip("/") or "/"] = (mode, owner)
    return out


def member(path, name):
    """A file's bytes, from the package's data."""
    tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", path], capture_output=True,
                         check=True, timeout=60).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        return t.extractfile("." + name).read()


def text(path, name):
    return member(path, name).decode()


# -------------------------------------------------------------- the files


def test_names_and_versions_come_from_cmake():
    version = project_version()
    server, dev = deb("unixcorn"), deb("unixcorn-dev")
    assert os.path.basename(server) == "unixcorn_%s_amd64.deb" % version
    assert os.path.basename(dev) == "unixcorn-dev_%s_all.deb" % version
    for path in (server, dev):
        assert field(path, "Version") == version


def test_packaged_binary_is_this_build():
    """The same version and commit as the build that runs these tests: not
    packages left from an older tree."""
    binary = os.environ.get("UNIXCORN_BIN")
    if not binary:
        pytest.skip("UNIXCORN_BIN is not set (ctest sets it)")
    with tempfile.TemporaryDirectory(prefix="uc-deb-") as d:
        packaged = os.path.join(d, "unixcorn")
        with open(packaged, "wb") as f:
            f.write(member(deb("unixcorn"), "/usr/bin/unixcorn"))
        os.chmod(packaged, stat.S_IRWXU)
        versions = [subprocess.run([b, "--version"], capture_output=True, text=True,
                                   timeout=10).stdout for b in (binary, packaged)]
    assert versions[0] == versions[1], (
        "%s holds packages of another tree: ./run package builds them anew" % DEB_DIR)


def test_server_package_contents():
    path = deb("unixcorn")
    files = contents(path)
    assert files["/usr/bin/unixcorn"] == ("-rwxr-xr-x", "root/root")
    for name in ("/lib/systemd/system/unixcorn.service", "/lib/systemd/system/unixcorn.socket",
                 "/etc/unixcorn/unixcorn.conf", "/usr/share/man/man1/unixcorn.1.gz",
                 "/usr/share/doc/unixcorn/copyright", "/usr/share/doc/unixcorn/changelog.gz",
                 "/usr/share/unixcorn/nginx/nginx.conf",
                 "/usr/share/unixcorn/nginx/site.conf",
                 "/usr/share/unixcorn/nginx/unixcorn-proxy.conf",
                 "/usr/share/unixcorn/nginx/unixcorn-upstream.conf",
                 "/usr/share/unixcorn/nginx/unixcorn-socket.conf"):
        assert files.get(name) == ("-rw-r--r--", "root/root"), name
    # Nothing but these trees; every directory root's and 0755.
    roots = ("/etc/unixcorn", "/lib/systemd/system", "/usr/bin", "/usr/share/man/man1",
             "/usr/share/doc/unixcorn", "/usr/share/unixcorn/nginx")
    for name, (mode, owner) in files.items():
        assert any(r.startswith(name) or name.startswith(r) for r in roots), name
        if mode.startswith("d"):
            assert (mode, owner) == ("drwxr-xr-x", "root/root"), name
    assert dpkg_deb("--info", path, "conffiles").split() == ["/etc/unixcorn/unixcorn.conf"]


def test_server_package_fields():
    path = deb("unixcorn")
    depends = [d.strip().split()[0] for d in field(path, "Depends").split(",")]
    # From dpkg-shlibdeps: the libraries the binary links.
    for lib in ("libc6", "libuv1", "libnettle8"):
        assert lib in depends, depends
    assert "adduser" in depends  # postinst
    assert field(path, "Architecture") == "amd64"
    assert field(path, "Section") == "httpd"


def test_units_and_nginx_files_agree():
    path = deb("unixcorn")
    service = text(path, "/lib/systemd/system/unixcorn.service")
    socket_unit = text(path, "/lib/systemd/system/unixcorn.socket")
    assert re.search(r"^ExecStart=/usr/bin/unixcorn --config /etc/unixcorn/unixcorn.conf$",
                     service, re.M), service
    assert re.search(r"^User=unixcorn$", service, re.M)
    assert re.search(r"^ListenStream=%s$" % SOCKET, socket_unit, re.M)
    assert re.search(r"^server unix:%s " % SOCKET,
                     text(path, "/usr/share/unixcorn/nginx/unixcorn-socket.conf"), re.M)
    upstream = text(path, "/usr/share/unixcorn/nginx/unixcorn-upstream.conf")
    assert "include /usr/share/unixcorn/nginx/unixcorn-socket.conf;" in upstream


def test_dev_package():
    path = deb("unixcorn-dev")
    files = contents(path)
    for name in ("/usr/include/unixcorn/app.h", "/usr/share/pkgconfig/unixcorn.pc",
                 "/usr/share/doc/unixcorn-dev/examples/wc.c",
                 "/usr/share/doc/unixcorn-dev/examples/static_files.c",
                 "/usr/share/doc/unixcorn-dev/copyright"):
        assert name in files, name
    pc = text(path, "/usr/share/pkgconfig/unixcorn.pc")
    assert re.search(r"^prefix=/usr$", pc, re.M) and "Version: %s" % project_version() in pc
    assert field(path, "Architecture") == "all"
    assert field(path, "Depends") == "pkg-config"
    assert "unixcorn (= %s)" % project_version() in field(path, "Recommends")


def allowed_lintian_tags():
    """The warnings docs/packaging.md explains, in its table of them:
    | `tag` | package | why |"""
    with open(PACKAGING_DOC) as f:
        return set(re.findall(r"^\| `([a-z0-9.+-]+)` \|", f.read(), re.M))


def test_lintian_has_no_errors_and_no_unexplained_warnings():
    r = subprocess.run(["lintian", "--no-tag-display-limit", deb("unixcorn"),
                        deb("unixcorn-dev")], capture_output=True, text=True, timeout=300)
    tags = re.findall(r"^([EW]): (\S+): (\S+)(.*)$", r.stdout, re.M)
    assert r.returncode in (0, 2), r.stdout + r.stderr
    errors = [t for t in tags if t[0] == "E"]
    unexplained = [t for t in tags if t[0] == "W" and t[2] not in allowed_lintian_tags()]
    assert errors == [] and unexplained == [], r.stdout


# -------------------------------------------------------------- installed


class Machine(Podman):
    """One container with systemd as its init, the packages mounted on /debs."""

    def sh(self, script, check=True, timeout=120):
        """Run a shell script in the container; its stdout (stderr on failure)."""
        r = self.run("podman", "exec", CONTAINER, "sh", "-ec", script, check=False,
                     timeout=timeout, merge=True)
        if check and r.returncode != 0:
            raise AssertionError("in the container, %r exited with %d:\n%s" % (
                script, r.returncode, r.stdout.decode(errors="replace")))
        return r.stdout.decode(errors="replace") if check else r

    def wait_until(self, script, timeout=20, unit=None):
        """Until script succeeds in the container; on a timeout, the failure
        shows the journal of unit."""
        deadline = time.monotonic() + timeout
        while self.sh(script, check=False).returncode != 0:
            if time.monotonic() > deadline:
                log = self.sh("journalctl --no-pager -n 30 -u %s" % unit) if unit else ""
                raise AssertionError("never true in the container: %s\n%s" % (script, log))
            time.sleep(0.2)


@pytest.fixture(scope="module")
def machine():
    server, dev = deb("unixcorn"), deb("unixcorn-dev")
    with podman_session(TOOLS, Machine) as m:
        with open(os.path.join(m.workdir, "Containerfile"), "w") as f:
            f.write(CONTAINERFILE)
        m.podman("build", "-t", IMAGE, m.workdir, timeout=900)
        m.podman("rm", "-f", CONTAINER, check=False)
        m.podman("run", "-d", "--name", CONTAINER, "--systemd=always",
                 "-v", "%s:/debs:ro" % DEB_DIR, IMAGE, "/lib/systemd/systemd")
        try:
            m.wait_until("systemctl is-system-running | grep -Eq '^(running|degraded)$'", 60)
            m.server = "/debs/" + os.path.basename(server)
            m.dev = "/debs/" + os.path.basename(dev)
            yield m
        finally:
            m.podman("rm", "-f", "-t", "0", CONTAINER, check=False)


def apt_install(m, path):
    # Fresh package lists: the image's may be older than the archive.
    m.sh("apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
         "apt-get install -y -qq --no-install-recommends %s" % path, timeout=300)


def test_install_starts_the_service_as_unixcorn(machine):
    m = machine
    apt_install(m, m.server)
    version = m.sh("unixcorn --version").strip()
    assert re.fullmatch(r"unixcorn %s( \(git [0-9a-f]+(-dirty)?\))?" % re.escape(
        project_version()), version), version

    # A system user and group of its own.
    user = m.sh("getent passwd unixcorn").strip().split(":")
    assert int(user[2]) < 1000 and user[5:] == ["/nonexistent", "/usr/sbin/nologin"], user
    assert m.sh("id -gn unixcorn").strip() == "unixcorn"

    # Enabled and started; the socket is systemd's, nginx's group may connect.
    for unit in ("unixcorn.socket", "unixcorn.service"):
        assert m.sh("systemctl is-enabled %s" % unit).strip() == "enabled", unit
    m.wait_until("systemctl is-active -q unixcorn.service", unit="unixcorn.service")
    assert m.sh("stat -c '%%F %%U %%G %%a' %s" % SOCKET).strip() == "socket unixcorn www-data 660"
    assert m.sh("curl -sS --unix-socket %s --data-binary 'hello package' "
                "http://localhost/" % SOCKET) == "hello package"

    # Every process of the service runs as unixcorn: the master and its
    # workers (which run /proc/self/exe, so their name is "exe").
    users = m.sh("pid=$(systemctl show -P MainPID unixcorn.service);"
                 " ps -o user= -p $pid --ppid $pid").split()
    assert len(users) >= 2 and set(users) == {"unixcorn"}, users

    assert m.sh("man -w unixcorn").strip() == "/usr/share/man/man1/unixcorn.1.gz"
    assert "/etc/unixcorn/unixcorn.conf" in m.sh("dpkg-query -W -f='${Conffiles}' unixcorn")

    # systemctl reload: HUP, the settings read again, still serving.
    m.sh("systemctl reload unixcorn.service")
    assert m.sh("curl -sS --unix-socket %s -d again http://localhost/" % SOCKET) == "again"


def test_the_nginx_site_serves_it(machine):
    """The steps that site.conf's comment gives, with Debian's nginx."""
    m = machine
    m.sh("cp /usr/share/unixcorn/nginx/site.conf /etc/nginx/sites-available/unixcorn"
         " && ln -s ../sites-available/unixcorn /etc/nginx/sites-enabled/"
         " && rm /etc/nginx/sites-enabled/default"
         " && nginx -t -q && systemctl reload-or-restart nginx")
    m.wait_until("curl -sf -o /dev/null http://127.0.0.1/")
    assert m.sh("curl -sS --data-binary 'through nginx' http://127.0.0.1/") == "through nginx"


def test_dev_package_is_all_an_app_needs(machine):
    """An example from unixcorn-dev built with pkg-config, as the README
    says, and served by the packaged server as the unixcorn user."""
    m = machine
    apt_install(m, m.dev)
    m.sh("cd /tmp && cc -shared -fPIC -O2 /usr/share/doc/unixcorn-dev/examples/wc.c"
         " $(pkg-config --cflags unixcorn) -o /srv/wc.so")
    m.sh("systemd-run --unit unixcorn-wc -p User=unixcorn -p RuntimeDirectory=unixcorn-wc"
         " unixcorn --bind unix:/run/unixcorn-wc/app.sock /srv/wc.so")
    try:
        m.wait_until("test -S /run/unixcorn-wc/app.sock", unit="unixcorn-wc")
        out = m.sh("printf 'one two\\nthree\\n' | curl -sS --unix-socket"
                   " /run/unixcorn-wc/app.sock --data-binary @- http://localhost/")
        assert out == "2 3 14\n", out
    finally:
        m.sh("systemctl stop unixcorn-wc", check=False)


def test_removal_leaves_no_socket_and_no_process(machine):
    m = machine
    m.sh("DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq unixcorn")
    assert m.sh("pgrep -u unixcorn", check=False).returncode == 1, m.sh("ps -ef")
    assert m.sh("ps -eo args= | grep '^/usr/bin/unixcorn'", check=False).returncode == 1
    assert m.sh("test -e %s" % SOCKET, check=False).returncode == 1
    assert m.sh("systemctl is-active unixcorn.socket unixcorn.service",
                check=False).returncode != 0
    # As Debian does: the user stays, and the settings until a purge.
    assert m.sh("getent passwd unixcorn", check=False).returncode == 0
    assert m.sh("test -f /etc/unixcorn/unixcorn.conf", check=False).returncode == 0
    m.sh("DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq unixcorn")
    assert m.sh("test -e /etc/unixcorn", check=False).returncode == 1
    assert m.sh("getent passwd unixcorn", check=False).returncode == 0
