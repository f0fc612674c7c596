"""A rolling replacement under steady load through one real nginx, with no
failed request (#15): two unixcorn instances on two sockets in one upstream;
one gets TERM with --shutdown-delay while h2load keeps POSTing through nginx.
It serves on through the delay while its /healthz says 503, stops gracefully,
and a new instance is started on its socket and takes requests again."""

import os
import signal

import pytest

from test_draining import healthz
from test_nginx import NGINX, Nginx
from uc_testlib import H2load, assert_h2load_clean, log_search, scrape, wait_until
from uc_testlib import spawn  # noqa: F401  (a fixture)

pytestmark = pytest.mark.skipif(not os.path.exists(NGINX), reason="nginx is not installed")

OK = 'unixcorn_requests_total{status="2xx"}'


def instance(spawn, workdir, name, sock, *args):
    metrics = os.path.join(workdir, name + "-metrics.sock")
    srv = spawn(name, "--metrics-bind", "unix:" + metrics, *args, sock=sock)
    srv.metrics = metrics
    return srv


def served(srv):
    return scrape(srv.metrics)[OK]


def serves_more(srv, timeout=5.0):
    """True once srv has answered more requests than it had so far."""
    before = served(srv)
    return wait_until(lambda: served(srv) > before, timeout)


def two_server_upstream(workdir, first, second):
    """nginx from the shipped config, its one socket line made two."""
    return Nginx(workdir, "%s fail_timeout=0;\n    server unix:%s" % (first, second))


def test_rolling_replacement_behind_nginx_fails_no_request(spawn, workdir):
    os.chmod(workdir, 0o755)  # nginx's workers run as nobody when started as root
    socks = [os.path.join(workdir, n + ".sock") for n in ("a", "b")]
    old = instance(spawn, workdir, "a", socks[0], "--shutdown-delay", "3")
    other = instance(spawn, workdir, "b", socks[1])
    proxy = two_server_upstream(workdir, *socks)
    load = H2load(seconds=14, clients=8, url=proxy.url)
    try:
        assert serves_more(old) and serves_more(other)
        old.signal(signal.SIGTERM)
        log_search(old, r"Draining for 3\.0 s")
        assert healthz(old.metrics)[0] == 503
        # Within the delay, with room for a loaded machine's slow scrapes.
        assert serves_more(old, timeout=2.0), "no request served during the delay"
        assert old.wait(timeout=10) == 0, old.stderr()
        assert "Stopping (graceful)" in old.stderr()
        new = instance(spawn, workdir, "a2", socks[0])
        assert healthz(new.metrics) == (200, "serving: 1 worker\n")
        assert serves_more(new), "the new instance got no request from nginx"
        res = load.result()
    finally:
        load.kill()
        proxy.stop()
    assert_h2load_clean(res)
    with open(proxy.log, errors="replace") as f:
        nginx_log = f.read()
    cut = [l for l in nginx_log.splitlines()
           if "prematurely closed" in l or "reset by peer" in l][:5]
    assert cut == []  # not even a request that nginx had to send again
