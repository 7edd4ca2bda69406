"""Shared helpers for the reliability tests (Python standard library only).

Builds on the end-to-end helpers (tests/e2e/tmtest.py) for test registration, polling, config text, the test
child and the taskmaster driver, which `Daemon` extends with snapshots, waits and `ctl`.

Environment: TASKMASTER (the binary) and TM_HELPER (the test child), as for the end-to-end tests.
"""

import os
import re
import resource
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))

import tmtest  # noqa: E402
# Re-exported for the test scripts.
from tmtest import TASKMASTER, alive, check, config, eventually, helper, main, program, test, tmpdir  # noqa: E402,F401

NOBODY = 65534
CLK_TCK = os.sysconf("SC_CLK_TCK")


def as_user(uid=NOBODY, gid=NOBODY, limits=()):
    """A preexec function: setrlimit each (resource, (soft, hard)) of `limits`, then drop to uid/gid."""
    def preexec():
        for which, value in limits:
            resource.setrlimit(which, value)
        if uid is not None:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
    return preexec


def with_limits(*limits):
    """A preexec function that only sets resource limits: (resource, (soft, hard)) pairs."""
    return as_user(None, None, limits)


def shared_dir(owner=NOBODY):
    """A fresh temporary directory owned by `owner` (so that a taskmaster running as that user can write its log,
    socket and programs' output there), under a parent that user may traverse."""
    path = tmpdir()
    os.chmod(path, 0o755)
    os.chown(path, owner, owner)
    return path


def control_chars(text):
    """The control characters of `text` other than newline and tab (terminal escapes, NUL, CR...), as a list."""
    return sorted({c for c in text if (ord(c) < 32 and c not in "\n\t") or ord(c) == 127})


def cpu_seconds(pid):
    """User + system CPU time of the process itself (not of its children), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14 and 15 of stat)


def parent_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return None


def descendants(pid):
    """Every live descendant of pid (zombies excluded), by walking /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            ppid = parent_of(int(entry))
            if ppid is not None:
                children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if alive(child):
                out.append(child)
            todo.append(child)
    return out


def processes_of(uid):
    """How many processes (threads count for RLIMIT_NPROC too) the user has right now."""
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                status = f.read()
        except (FileNotFoundError, ProcessLookupError):
            continue
        uids = re.search(r"^Uid:\s+(\d+)", status, re.M)
        threads = re.search(r"^Threads:\s+(\d+)", status, re.M)
        if uids and int(uids.group(1)) == uid:
            count += int(threads.group(1)) if threads else 1
    return count


read_text = tmtest.read_file


def write_file(path, text):
    with open(path, "wb" if isinstance(text, bytes) else "w") as f:
        f.write(text)


def ctl(socket, *words, timeout=20.0, preexec_fn=None, json=False):
    """`taskmaster ctl --socket SOCKET [--json] WORDS...`: (exit code, stdout, stderr)."""
    args = [TASKMASTER, "ctl", "--socket", socket, *(["--json"] if json else []), *words]
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, preexec_fn=preexec_fn,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


class Daemon(tmtest.Taskmaster):
    """taskmaster in script mode, as tmtest.Taskmaster (optionally with a preexec function: resource limits,
    another user), with what these tests add: snapshots, waiting for every instance, `ctl` on its socket."""

    def snapshot(self):
        """{instance: (STATE, pid or None)}: what must not change when nothing should happen."""
        out = {}
        for name, (state, details) in self.status().items():
            pid = re.search(r"pid (\d+)", details)
            out[name] = (state, int(pid.group(1)) if pid else None)
        return out

    def wait_all(self, state, count=None, timeout=20.0):
        """Waits until every instance (and at least `count` of them) is in `state`; returns the status."""
        def reached():
            s = self.status()
            return s if s and all(v[0] == state for v in s.values()) and (count is None or len(s) >= count) else None
        return eventually(reached, timeout, 0.2, f"every instance to be {state}")

    def ctl(self, *words, timeout=20.0, json=False):
        return ctl(self.socket, *words, timeout=timeout, json=json)


def known_bug(description):
    """Marks a test that shows a known, reported bug: its failure is printed as an expected failure (xfail) and
    does not fail the suite; its success is printed as XPASS (the bug is fixed: remove the mark)."""
    def wrap(fn):
        def run():
            try:
                fn()
            except AssertionError as e:
                print(f"  xfail {fn.__name__}: known bug: {description}\n        ({str(e)[:300]})", flush=True)
                return
            print(f"  XPASS {fn.__name__}: known bug fixed? ({description}); remove @known_bug", flush=True)
        run.__name__ = fn.__name__
        return run
    return wrap
