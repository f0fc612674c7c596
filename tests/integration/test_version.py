"""--version: the version from CMakeLists.txt's project(), the one place it is
set, and the git commit the binary was built from when the build had a
checkout of its own (cmake/git-version.cmake). A build without .git says just
the version: test_docker.py checks that of the image, built from a copy of
the tree."""

import re
import shutil
import subprocess

import pytest

from uc_containers import ROOT, project_version
from uc_testlib import run_cli


def git(*args):
    return subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True,
                          timeout=30)


def test_version_names_the_commit_it_was_built_from():
    if not shutil.which("git") or git("rev-parse", "--show-toplevel").stdout.strip() != ROOT:
        pytest.skip("the source tree is not a git checkout of its own")
    r = run_cli(["--version"])
    assert r.returncode == 0, r
    m = re.fullmatch(r"unixcorn (\S+) \(git ([0-9a-f]{7,})(-dirty)?\)\n", r.stdout)
    assert m, r.stdout
    assert m.group(1) == project_version()
    # A commit of this repository; HEAD itself unless a commit came after the build.
    assert git("cat-file", "-e", m.group(2) + "^{commit}").returncode == 0, m.group(2)
