"""What /proc says about a server's process tree: CPU time and memory.

A server is a root process and all its descendants (unixcorn's master and
workers, gunicorn's master and worker, nginx's master and workers), so every
figure is a sum over the tree.
"""

import os

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid):
    """The fields of /proc/PID/stat after the command name (field 3 onwards)."""
    with open("/proc/%d/stat" % pid) as f:
        text = f.read()
    return text[text.rindex(")") + 2:].split()


def tree(root):
    """root and every live descendant of it."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(_stat(int(entry))[1])
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def cpu_seconds(root):
    """User + system time of the tree so far, children that were reaped included
    (utime, stime, cutime, cstime), so a delta across a run counts every process
    that worked during it."""
    ticks = 0
    for pid in tree(root):
        try:
            fields = _stat(pid)
        except OSError:
            continue
        ticks += sum(int(x) for x in fields[11:15])
    return ticks / CLOCK_TICKS


def _status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def memory_kib(root, key="VmRSS"):
    """Sum of a /proc/PID/status memory field over the tree: VmRSS for now,
    VmHWM for the peak (since start, or since reset_peak)."""
    total = 0
    for pid in tree(root):
        try:
            total += _status_kib(pid, key)
        except OSError:
            pass
    return total


def reset_peak(root):
    """Make VmHWM start again from the current RSS (clear_refs 5)."""
    for pid in tree(root):
        try:
            with open("/proc/%d/clear_refs" % pid, "w") as f:
                f.write("5")
        except OSError:
            pass
