"""unixcorn(1), which every build makes from the built binary's --help
(man/make-manpage, next to the binary): every line of --help is in the page,
in the same order, so the two cannot disagree; the page has the sections that
--help lacks; groff has nothing to warn about (what lintian checks of a man
page)."""

import gzip
import os
import re
import subprocess

import pytest

from conftest import BIN
from uc_testlib import run_cli

MANPAGE = os.path.join(os.path.dirname(BIN), "unixcorn.1")
SIGNALS = ("TERM", "INT", "QUIT", "HUP", "TTIN", "TTOU", "USR1", "USR2", "WINCH")


def words(text):
    return " ".join(text.split())


@pytest.fixture(scope="module")
def page():
    if not os.path.exists(MANPAGE):
        pytest.fail("no %s: the build makes it (target manpage)" % MANPAGE)
    r = subprocess.run(["groff", "-man", "-Tascii", "-P-c", "-P-b", "-P-u", MANPAGE],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def help_text():
    r = run_cli(["--help"])
    assert r.returncode == 0, r
    return r.stdout


def as_in_page(line):
    """A line of --help as the page shows it: the usage line is the SYNOPSIS,
    a heading (`Options:`) is a section's name."""
    if line.startswith("Usage: "):
        return line[len("Usage: "):]
    if re.fullmatch(r"[A-Z][a-z]+:", line):
        return line[:-1].upper()
    return line


def test_every_line_of_help_is_in_the_page_in_order(page):
    text = words(page)
    at = 0
    for line in help_text().splitlines():
        if not line.strip():
            continue
        want = words(as_in_page(line))
        found = text.find(want, at)
        assert found >= 0, "--help's line %r is not in the page after:\n%s" % (
            line, text[max(0, at - 300):at])
        at = found + len(want)


def test_the_page_names_every_flag_of_help(page):
    flags = re.findall(r"^ {2}(?:-\w, )?(--[\w-]+)", help_text(), re.M)
    assert "--bind" in flags and "--version" in flags, flags
    assert [f for f in flags if f not in page] == []


def sections(page):
    """Section names: the lines that start at the left margin."""
    return [line for line in page.splitlines() if re.fullmatch(r"[A-Z][A-Z ]+", line)]


def test_the_page_has_what_help_lacks(page):
    assert sections(page) == ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "SIGNALS",
                              "ENVIRONMENT", "FILES", "EXIT STATUS", "SEE ALSO"]
    signals = page[page.index("\nSIGNALS\n"):page.index("\nENVIRONMENT\n")]
    for sig in SIGNALS:
        assert re.search(r"^ {7}(\w+, )?%s\b" % sig, signals, re.M), sig
    assert re.search(r"^NAME\n {7}unixcorn - \S", page, re.M), page[:300]
    files = page[page.index("\nFILES\n"):]
    assert "/unixcorn/unixcorn.conf" in files and "unixcorn.socket" in files


def test_groff_has_no_warnings():
    r = subprocess.run(["groff", "-man", "-ww", "-z", "-Tutf8", MANPAGE],
                       capture_output=True, text=True, timeout=30)
    assert (r.returncode, r.stderr) == (0, "")


def test_the_installed_gz_is_the_page():
    with open(MANPAGE, "rb") as f, gzip.open(MANPAGE + ".gz") as z:
        assert f.read() == z.read()
