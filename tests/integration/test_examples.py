"""The example applications in examples/: built out of tree from the
installed header as the README says, then served behind the bundled nginx
config and talked to with curl, as their users would."""

import os
import shutil
import subprocess
import threading
import time

import pytest

from conftest import BIN, Reader, request_bytes
from test_nginx import Nginx, curl

BUILD = os.path.dirname(os.path.abspath(BIN))
EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
MiB = 1 << 20
HWM_GROWTH_LIMIT_KIB = 32 * 1024


def example(name):
    return os.path.join(BUILD, "examples", name + ".so")


@pytest.fixture
def behind_nginx(workdir, start_server):
    """behind_nginx(*args) -> (app, nginx): the app served with args, nginx
    in front with the shipped config."""
    proxies = []

    def start(*args):
        os.chmod(workdir, 0o755)  # nginx's workers run as nobody when started as root
        app = start_server(*args)
        proxies.append(Nginx(workdir, app.sock))
        return app, proxies[-1]

    yield start
    for p in proxies:
        p.stop()


# ---- building an application out of tree ----

def test_examples_build_from_the_installed_header_and_pkg_config(workdir):
    prefix = os.path.join(workdir, "prefix")
    subprocess.run(["cmake", "--install", BUILD, "--prefix", prefix], check=True,
                   capture_output=True, timeout=120)
    pc_dir = os.path.join(prefix, "share", "pkgconfig")
    cflags = subprocess.run(
        ["pkg-config", "--define-variable=prefix=" + prefix, "--cflags", "unixcorn"],
        env=dict(os.environ, PKG_CONFIG_PATH=pc_dir), capture_output=True, text=True,
        check=True).stdout.split()
    assert cflags == ["-I" + os.path.join(prefix, "include")]
    built = {}
    for name in ("wc", "static_files"):
        out = os.path.join(workdir, name + ".so")
        # The README's build line, with warnings as errors: the header is clean.
        subprocess.run([shutil.which("cc") or "gcc", "-shared", "-fPIC", "-Wall", "-Wextra",
                        "-Werror", os.path.join(EXAMPLES, name + ".c"), *cflags, "-o", out],
                       check=True, timeout=120)
        built[name] = out
    sock = os.path.join(workdir, "app.sock")
    proc = subprocess.Popen([os.path.join(prefix, "bin", "unixcorn"), "--bind",
                             "unix:" + sock, built["wc"]],
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        for _ in range(200):
            r = curl("--unix-socket", sock, "--data-binary", "hello, World", "http://x/",
                     timeout=5)
            if r.returncode == 0:
                break
            time.sleep(0.05)
        assert r.stdout == b"0 2 12\n", r.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=15)


# ---- wc: an event application that streams ----

def wc(data):
    return ("%d %d %d\n" % (data.count(b"\n"), len(data.split()), len(data))).encode()


@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_wc_counts_a_large_body_through_nginx(behind_nginx, workdir, chunked):
    app, proxy = behind_nginx(example("wc"))
    body = os.path.join(workdir, "body")
    text = b"The quick brown fox\tjumps over\r\n the lazy dog, \xc3\xa9t\xc3\xa9\n" * 1000000
    with open(body, "wb") as f:
        f.write(text)
    extra = ["-H", "Transfer-Encoding: chunked"] if chunked else []
    r = curl("--data-binary", "@" + body, *extra, proxy.url)
    assert r.returncode == 0, r.stderr
    assert r.stdout == wc(text)


def test_wc_direct_with_curl_and_without_a_body(start_server):
    app = start_server(example("wc"))
    r = curl("--unix-socket", app.sock, "--data-binary", "two words\n", "http://x/")
    assert r.stdout == b"1 2 10\n"
    assert curl("--unix-socket", app.sock, "http://x/").stdout == b"0 0 0\n"
    r = curl("--unix-socket", app.sock, "-I", "http://x/")
    assert r.stdout.startswith(b"HTTP/1.1 200") and b"Content-Length: 6" in r.stdout


def test_wc_holds_constant_memory_for_any_size(start_server):
    app = start_server(example("wc"))
    hwm = app.rss_kib("VmHWM")
    s = app.connect(60.0)
    size = 256 * MiB
    s.sendall(request_bytes("POST", "/", headers={"Content-Length": str(size)}))
    block = b"word " * (MiB // 5)
    for _ in range(size // len(block)):
        s.sendall(block)
    s.sendall(b"x" * (size % len(block)))
    resp = Reader(s).response()
    assert resp.status == 200
    assert resp.body == b"0 %d %d\n" % (size // len(block) * (MiB // 5) + 1, size)
    grown = app.rss_kib("VmHWM") - hwm
    assert grown < HWM_GROWTH_LIMIT_KIB, "VmHWM grew by %d KiB for a 256 MiB body" % grown


# ---- static_files: a blocking application on --threads ----

@pytest.fixture
def site(workdir):
    root = os.path.join(workdir, "www")
    os.makedirs(os.path.join(root, "docs"))
    files = {"index.html": b"<h1>unixcorn</h1>\n", "docs/guide.txt": b"read me\n",
             "big.bin": os.urandom(20 * MiB), ".secret": b"hidden\n"}
    for name, data in files.items():
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
    os.symlink("/etc/passwd", os.path.join(root, "passwd.txt"))
    for d, _, names in os.walk(workdir):  # nginx runs as nobody; sendfile as the app
        os.chmod(d, 0o755)
    return root, files


def test_static_files_through_nginx(behind_nginx, site, workdir):
    root, files = site
    app, proxy = behind_nginx("--threads", "4", "--app-arg", root, example("static_files"))
    r = curl("-D", "-", proxy.url)
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and body == files["index.html"]
    assert b"Content-Type: text/html; charset=utf-8" in head
    out = os.path.join(workdir, "big.out")
    r = curl("-o", out, "-w", "%{http_code}", proxy.url + "big.bin")
    assert r.stdout == b"200"
    with open(out, "rb") as f:
        assert f.read() == files["big.bin"]
    r = curl("-I", proxy.url + "docs/guide.txt")
    assert r.stdout.startswith(b"HTTP/1.1 200") and b"Content-Length: 8" in r.stdout
    for path in (".secret", "passwd.txt", "missing", "docs/../../etc/passwd"):
        r = curl("--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", proxy.url + path)
        assert r.stdout in (b"404", b"400"), (path, r.stdout)
    r = curl("-X", "DELETE", "-D", "-", "-o", "/dev/null", proxy.url)
    assert r.stdout.startswith(b"HTTP/1.1 405") and b"Allow: GET, HEAD" in r.stdout


def test_static_files_serves_many_clients_at_once(start_server, site):
    root, files = site
    app = start_server("--threads", "4", "--app-arg", root, example("static_files"))
    results = []

    def fetch():
        r = curl("--unix-socket", app.sock, "http://x/big.bin")
        results.append(r.stdout == files["big.bin"])

    clients = [threading.Thread(target=fetch) for _ in range(8)]
    for c in clients:
        c.start()
    for c in clients:
        c.join()
    assert results == [True] * 8


def test_static_files_without_its_directory_stops_the_start(workdir):
    from uc_testlib import run_cli
    res = run_cli(["--bind", "unix:" + os.path.join(workdir, "s"), "--app-arg",
                   os.path.join(workdir, "nowhere"), example("static_files")])
    assert res.returncode == 1, res
    assert "cannot open --app-arg directory" in res.stderr and "its init failed" in res.stderr
