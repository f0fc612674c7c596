"""The container setup in docker/, run for real with Debian's podman,
podman-compose and `podman kube play`: both images built from this tree, the
compose stack and the Kubernetes pod, with requests through nginx and straight
to the socket in the shared volume.

No image registry is reachable from here, so `FROM debian:bookworm` is served
by a local image that debootstrap makes from the machine's Debian mirror, once
per machine. The images keep podman's layer cache, so a second run rebuilds
only what changed. Whatever else a run creates (containers, pods, volumes,
networks) it removes, and it checks that nothing is left.

Without systemd, podman runs no healthcheck by itself and podman-compose does
not wait for `condition: service_healthy`: the test runs the checks itself
(`podman healthcheck run`)."""

import os
import re
import socket
import stat
import subprocess
import time

import pytest

from uc_containers import ROOT, Podman, podman_session, project_version

DOCKER = os.path.join(ROOT, "docker")
COMPOSE_FILE = os.path.join(DOCKER, "compose.yaml")
K8S_FILE = os.path.join(DOCKER, "k8s.yaml")
# Names of this test's own stack and pod, apart from a user's `unixcorn` ones.
PROJECT = "unixcorn-test"
KUBE_NAME = "unixcorn-test"
KUBE_NETWORK = "podman-default-kube-network"
PROJECT_LABEL = "label=io.podman.compose.project=" + PROJECT
SOCKET_GID = 10000
# catatonit is the init of the pause container that holds a pod together.
TOOLS = ("podman", "podman-compose", "runc", "catatonit", "debootstrap")


# ---------------------------------------------------------------- the files


def container_socket():
    with open(os.path.join(DOCKER, "unixcorn-socket.conf")) as f:
        m = re.search(r"^server unix:(\S+) ", f.read(), re.M)
    assert m, "no `server unix:PATH ` line in docker/unixcorn-socket.conf"
    return m.group(1)


def load_yaml(path):
    yaml = pytest.importorskip("yaml")  # python3-yaml, a dependency of podman-compose
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def test_socket_path_agrees_across_the_container_files():
    """docker/unixcorn-socket.conf (nginx) names the socket; the image binds
    it, and compose and Kubernetes mount its directory in both containers."""
    sock = container_socket()
    sockdir = os.path.dirname(sock)
    with open(os.path.join(DOCKER, "Dockerfile")) as f:
        dockerfile = f.read()
    assert '"unix:%s"' % sock in dockerfile
    assert re.search(r"install -d .*-m 2750 %s( \\)?$" % re.escape(sockdir), dockerfile, re.M)
    with open(os.path.join(DOCKER, "nginx.Dockerfile")) as f:
        nginx_dockerfile = f.read()
    assert re.search(r"install -d .*-m 2750 %s( \\)?$" % re.escape(sockdir), nginx_dockerfile, re.M)
    # The nginx image includes the shared files themselves.
    assert "COPY nginx/unixcorn-upstream.conf nginx/unixcorn-proxy.conf " in nginx_dockerfile
    for name in os.listdir(DOCKER):
        if name.endswith(".conf"):
            with open(os.path.join(DOCKER, name)) as f:
                assert not re.search(r"^\s*(upstream|location)\b", f.read(), re.M), name

    (compose,) = load_yaml(COMPOSE_FILE)
    for name, service in compose["services"].items():
        assert "socket:" + sockdir in service["volumes"], name

    deployment = next(d for d in load_yaml(K8S_FILE) if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (socket_volume,) = [v["name"] for v in pod["volumes"] if v["name"].endswith("socket")]
    for c in pod["containers"]:
        assert {"name": socket_volume, "mountPath": sockdir} in c["volumeMounts"], c["name"]
    app = next(c for c in pod["containers"] if c["name"] == "app")
    assert sock in app["livenessProbe"]["exec"]["command"]
    nginx = next(c for c in pod["containers"] if c["name"] == "nginx")
    assert sock in " ".join(nginx["lifecycle"]["preStop"]["exec"]["command"])


def metrics_address():
    """host, port of docker/unixcorn.conf's metrics-bind."""
    with open(os.path.join(DOCKER, "unixcorn.conf")) as f:
        m = re.search(r"^metrics-bind = ([0-9.]+):(\d+)$", f.read(), re.M)
    assert m, "no metrics-bind = HOST:PORT in docker/unixcorn.conf"
    return m.group(1), int(m.group(2))


def readiness_command():
    deployment = next(d for d in load_yaml(K8S_FILE) if d["kind"] == "Deployment")
    app = next(c for c in deployment["spec"]["template"]["spec"]["containers"]
               if c["name"] == "app")
    return app["readinessProbe"]["exec"]["command"]


def test_health_checks_ask_healthz_where_the_app_serves_it():
    """compose's healthcheck and the pod's readiness probe are one script in
    the image (podman-compose 1.0.3 mangles a shell command given as a list):
    GET /healthz on the metrics address that docker/unixcorn.conf binds."""
    host, port = metrics_address()
    (compose,) = load_yaml(COMPOSE_FILE)
    check = compose["services"]["app"]["healthcheck"]["test"]
    assert check[0] == "CMD" and check[1:] == readiness_command()
    script = readiness_command()[0]
    assert script.startswith("/usr/local/bin/")
    with open(os.path.join(DOCKER, os.path.basename(script))) as f:
        text = f.read()
    assert "/dev/tcp/%s/%d" % (host, port) in text and "GET /healthz " in text
    with open(os.path.join(DOCKER, "Dockerfile")) as f:
        assert "COPY docker/%s %s\n" % (os.path.basename(script), script) in f.read()

    deployment = next(d for d in load_yaml(K8S_FILE) if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    app = next(c for c in pod["containers"] if c["name"] == "app")
    args = app["args"]
    delay = float(args[args.index("--shutdown-delay") + 1])
    # The grace period covers the delay and --graceful-timeout (default 30 s).
    assert pod["terminationGracePeriodSeconds"] >= delay + 30


# ------------------------------------------------------------------- podman


class ComposePodman(Podman):
    """Podman, with podman-compose and this test's stack and pod."""

    def compose(self, *args, port=None, timeout=900):
        """podman-compose goes on after a failed step and exits 0: its
        `exit code: N` lines tell."""
        env = dict(self.env, UNIXCORN_PORT=str(port)) if port else self.env
        out = self.run("podman-compose", "-p", PROJECT, "-f", COMPOSE_FILE, *args,
                       timeout=timeout, env=env, merge=True)
        failed = re.search(r"^exit code: (?!0$).*$", out, re.M)
        if failed:
            before = out[:failed.end()].splitlines()[-50:]
            raise AssertionError("podman-compose %s failed:\n%s" % (args, "\n".join(before)))
        return out

    def service_container(self, service):
        (name,) = self.names("container", PROJECT_LABEL,
                             "label=com.docker.compose.service=" + service)
        return name

    def wait_healthy(self, container, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            if self.ok("healthcheck", "run", container):
                return
            if time.monotonic() > deadline:
                raise AssertionError("%s never became healthy:\n%s\n%s" % (
                    container, self.run("podman", "logs", container, check=False).stdout,
                    self.log_tail()))
            time.sleep(0.5)

    def cleanup(self):
        """Remove whatever an earlier, interrupted run of this test left."""
        kube_pod = KUBE_NAME + "-pod-0"
        if self.ok("pod", "exists", kube_pod):
            self.podman("pod", "rm", "-f", kube_pod, check=False)
        for name in self.names("container", PROJECT_LABEL):
            self.podman("rm", "-f", name, check=False)
        for name in self.names("volume", PROJECT_LABEL) | {
                v for v in self.names("volume") if v.startswith(KUBE_NAME + "-")}:
            self.podman("volume", "rm", "-f", name, check=False)
        for name in self.names("network", PROJECT_LABEL):
            self.podman("network", "rm", "-f", name, check=False)


@pytest.fixture(scope="module")
def pm():
    with podman_session(TOOLS, ComposePodman, sanitizer_reason=(
            "the images compile their own release binary from the source tree, so "
            "the sanitizer build's run would repeat the plain build's run")) as pm:
        yield from run_with_cleanup(pm)


def run_with_cleanup(pm):
    """Yield pm between two cleanups, then check that nothing is left."""
    pm.cleanup()
    before = {k: pm.names(k) for k in ("container", "pod", "volume", "network")}
    try:
        yield pm
    finally:
        pm.cleanup()
    after = {k: pm.names(k) for k in ("container", "pod", "volume", "network")}
    if KUBE_NETWORK in after["network"] - before["network"]:
        pm.podman("network", "rm", KUBE_NETWORK, check=False)
        after["network"] = pm.names("network")
    left = {k: sorted(after[k] - before[k]) for k in after if after[k] - before[k]}
    assert not left, "left behind: %r" % left


# ------------------------------------------------------------------ clients


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def curl(*args, timeout=60):
    return subprocess.run(["curl", "-sS", "--max-time", str(timeout), *args],
                          capture_output=True, timeout=timeout + 10)


class Bodies:
    def __init__(self, workdir):
        self.workdir = workdir

    def make(self, name, size):
        path = os.path.join(self.workdir, name)
        with open(path, "wb") as f:
            f.write(os.urandom(size))
        return path

    def echo(self, url, size, *extra):
        """POST size random bytes; assert a 200 whose body is the same bytes."""
        body = self.make("body-%d" % size, size)
        out = body + ".out"
        r = curl("--data-binary", "@" + body, "-o", out, "-w", "%{http_code}", *extra, url)
        assert r.stdout == b"200", (r.stdout, r.stderr)
        with open(body, "rb") as a, open(out, "rb") as b:
            assert a.read() == b.read(), "echo of %d bytes differs" % size

    def slow_upload(self, url, size=300 * 1024, rate="100K"):
        """A Popen posting size bytes at rate: a request in flight for a few seconds."""
        body = self.make("slow", size)
        proc = subprocess.Popen(
            ["curl", "-sS", "--max-time", "60", "--limit-rate", rate, "--data-binary",
             "@" + body, "-o", body + ".out", "-w", "%{http_code}", url],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(1)
        assert proc.poll() is None, "the slow upload finished too soon to be in flight"

        def finished():
            out, err = proc.communicate(timeout=70)
            assert out == b"200", (out, err)
            with open(body, "rb") as a, open(body + ".out", "rb") as b:
                assert a.read() == b.read(), "the request in flight was cut"
        return finished


@pytest.fixture
def bodies(tmp_path):
    return Bodies(str(tmp_path))


# -------------------------------------------------------------------- tests


def test_compose_stack(pm, bodies):
    port = free_port()
    url = "http://127.0.0.1:%d/" % port
    pm.compose("up", "-d", "--build", port=port)
    app, nginx = pm.service_container("app"), pm.service_container("nginx")
    pm.wait_healthy(app)
    pm.wait_healthy(nginx)

    # The app image runs the Debian package, built in the image's first stage
    # from a tree without .git: --version has no commit to name.
    owner = pm.podman("exec", app, "dpkg-query", "--search", "/usr/bin/unixcorn")
    assert owner.strip() == "unixcorn: /usr/bin/unixcorn", owner
    version = pm.podman("exec", app, "unixcorn", "--version").strip()
    assert version == "unixcorn " + project_version(), version

    for size in (1000, 16 << 20):
        bodies.echo(url, size)

    # The socket in the shared volume, from the host: the app's, in the
    # socket's group, mode 0660, in a directory the group may only search.
    (volume,) = pm.names("volume", PROJECT_LABEL)
    sockdir = pm.podman("volume", "inspect", volume, "--format", "{{.Mountpoint}}").strip()
    sock = os.path.join(sockdir, os.path.basename(container_socket()))
    st, dst = os.stat(sock), os.stat(sockdir)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660
    assert st.st_gid == SOCKET_GID and dst.st_gid == SOCKET_GID
    assert stat.S_IMODE(dst.st_mode) == 0o2750 and dst.st_uid == st.st_uid != 0
    r = curl("--unix-socket", sock, "-d", "direct", "-w", " %{http_code}", "http://localhost/")
    assert r.stdout == b"direct 200", r.stderr

    # Security settings as the containers run.
    for c in (app, nginx):
        fmt = "{{.HostConfig.ReadonlyRootfs}} {{.HostConfig.SecurityOpt}} {{.Config.User}}"
        ro, opts, user = pm.podman("inspect", c, "--format", fmt).split(" ", 2)
        assert ro == "true" and "no-new-privileges" in opts, (c, ro, opts)
        assert user.strip().endswith(":%d" % SOCKET_GID), (c, user)
        caps = pm.podman("exec", c, "grep", "^CapEff:", "/proc/1/status").split()[1]
        assert int(caps, 16) == 0, (c, caps)

    # Graceful stop: the request in flight finishes, the socket goes, exit 0.
    finished = bodies.slow_upload(url)
    pm.podman("stop", "--time", "35", app)
    finished()
    assert not os.path.exists(sock)
    assert pm.podman("inspect", app, "--format", "{{.State.ExitCode}}").strip() == "0"

    # The app down: nginx answers 502 at once. Back up: 200 again.
    t0 = time.monotonic()
    r = curl("-d", "x", "-w", " %{http_code}", url, timeout=10)
    assert r.stdout.endswith(b" 502") and b"app server is not answering" in r.stdout, r.stdout
    assert time.monotonic() - t0 < 2.0
    pm.podman("start", app)
    pm.wait_healthy(app)
    r = curl("-d", "back", "-w", " %{http_code}", url, timeout=10)
    assert r.stdout == b"back 200", r.stderr

    # down: TERM (QUIT for nginx) with time to finish what is in flight.
    finished = bodies.slow_upload(url)
    pm.compose("down", "--timeout", "35")
    finished()
    assert os.listdir(sockdir) == [], os.listdir(sockdir)
    assert not pm.names("container", PROJECT_LABEL)


def kube_yaml_for_test(path, port):
    """k8s.yaml under this test's own names, with nginx published on port."""
    yaml = pytest.importorskip("yaml")
    docs = load_yaml(K8S_FILE)
    for d in docs:
        d["metadata"]["name"] = KUBE_NAME
    pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    # podman makes each emptyDir a volume of that name, shared by name.
    renamed = {v["name"]: KUBE_NAME + "-" + v["name"] for v in pod["volumes"]}
    for v in pod["volumes"]:
        v["name"] = renamed[v["name"]]
    for c in pod["containers"]:
        for m in c["volumeMounts"]:
            m["name"] = renamed[m["name"]]
        for p in c.get("ports", []):
            if "hostPort" in p:
                p["hostPort"] = port
    with open(path, "w") as f:
        yaml.safe_dump_all(docs, f)


def test_kube_play(pm, bodies, tmp_path):
    pm.compose("build")  # the images of this tree (all from the cache after the compose test)
    port = free_port()
    url = "http://127.0.0.1:%d/" % port
    kube = str(tmp_path / "k8s.yaml")
    kube_yaml_for_test(kube, port)
    # Run where no directory is named like an image: kube play would build it.
    pm.podman("kube", "play", kube, timeout=300, cwd=str(tmp_path))
    try:
        pod = KUBE_NAME + "-pod-0"
        pm.wait_healthy(pod + "-app")
        pm.wait_healthy(pod + "-nginx")
        for size in (1000, 16 << 20):
            bodies.echo(url, size)
        fmt = "{{.HostConfig.ReadonlyRootfs}} {{.HostConfig.SecurityOpt}}"
        for c in ("app", "nginx"):
            ro, opts = pm.podman("inspect", pod + "-" + c, "--format", fmt).split(" ", 1)
            assert ro == "true" and "no-new-privileges" in opts, (c, ro, opts)
        drain_and_come_back(pm, pod + "-app", url)
    finally:
        pm.podman("kube", "down", kube, timeout=120)
    assert not pm.ok("pod", "exists", KUBE_NAME + "-pod-0")


def drain_and_come_back(pm, app, url):
    """TERM to the app as Kubernetes sends it: through k8s.yaml's
    --shutdown-delay its readiness probe fails at once while requests through
    nginx are all served; then it stops gracefully and, started again, is
    ready and serving. (A pod of one app cannot serve while its only app is
    down: test_rolling.py does the replacement with two.)"""
    ready_cmd = readiness_command()

    def ready():
        return pm.run("podman", "exec", app, *ready_cmd, check=False).returncode == 0

    def status():
        return curl("-d", "x", "-o", "/dev/null", "-w", "%{http_code}", url,
                    timeout=10).stdout

    assert ready()
    pm.podman("kill", "--signal", "TERM", app)
    served = [status() for _ in range(10)]
    assert not ready(), "still ready while draining"
    assert served == [b"200"] * 10, served
    assert pm.run("podman", "exec", app, "test", "-S", container_socket(),
                  check=False).returncode == 0  # alive: no restart while draining
    deadline = time.monotonic() + 60
    while "Shutting down: Master" not in pm.podman("logs", app, merge=True):
        assert time.monotonic() < deadline, pm.log_tail()
        time.sleep(0.5)
    log = pm.podman("logs", app, merge=True)
    phases = ["Handling signal: term", "Draining for 5.0 s", "Shutdown delay over",
              "Stopping (graceful)", "Shutting down: Master"]
    at = [log.find(p) for p in phases]
    assert -1 not in at and at == sorted(at), log
    if pm.podman("inspect", app, "--format", "{{.State.Running}}").strip() != "true":
        pm.podman("start", app)  # else the pod's restart policy did it
    deadline = time.monotonic() + 60
    while not ready():
        assert time.monotonic() < deadline, pm.log_tail()
        time.sleep(0.5)
    assert status() == b"200"
