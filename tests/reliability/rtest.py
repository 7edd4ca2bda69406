"""Shared helpers for the reliability tests (Python standard library only).

Builds on the end-to-end helpers (tests/e2e/tmtest.py, imported read-only) for test registration, polling, config
text and the test child, and adds a driver of its own, `Daemon`, that can start taskmaster with resource limits
or as another user (a preexec function), always on a control socket of its own.

Environment: TASKMASTER (the binary) and TM_HELPER (the test child), as for the end-to-end tests.
"""

import os
import queue
import re
import resource
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))

import tmtest  # noqa: E402
# Re-exported for the test scripts.
from tmtest import TASKMASTER, alive, check, config, eventually, helper, main, program, test, tmpdir  # noqa: E402,F401

NOBODY = 65534
CLK_TCK = os.sysconf("SC_CLK_TCK")
_version = None


def version():
    global _version
    if _version is None:
        _version = subprocess.run([TASKMASTER, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    return _version


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


def read_text(path):
    """The file's text, undecodable bytes replaced; "" when it does not exist."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def write_file(path, text):
    with open(path, "wb" if isinstance(text, bytes) else "w") as f:
        f.write(text)


def ctl(socket, *words, timeout=20.0, preexec_fn=None, json=False):
    """`taskmaster ctl --socket SOCKET [--json] WORDS...`: (exit code, stdout, stderr)."""
    args = [TASKMASTER, "ctl", "--socket", socket, *(["--json"] if json else []), *words]
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, preexec_fn=preexec_fn,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


class Daemon:
    """taskmaster in script mode (commands on a pipe, answers on stdout), on a control socket in its directory,
    optionally with a preexec function (resource limits, another user). Cleaned up by tmtest's test runner."""

    def __init__(self, config_text, args=(), env=None, directory=None, preexec_fn=None, socket=None, log=None):
        self.dir = directory or tmpdir()
        self.config = os.path.join(self.dir, "taskmaster.yml")
        self.log = log or os.path.join(self.dir, "taskmaster.log")
        self.socket = socket or os.path.join(self.dir, "tm.sock")
        write_file(self.config, config_text)
        if preexec_fn is not None and os.geteuid() == 0:
            os.chmod(self.config, 0o644)
        self.marker = version()
        self.proc = subprocess.Popen(
            [TASKMASTER, "-c", self.config, "--log", self.log, "--socket", self.socket, *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.dir, env=env,
            preexec_fn=preexec_fn, start_new_session=True)  # its own group: a hostile child that joins
                                                             # taskmaster's group cannot reach the test runner
        self.stdout = queue.Queue()
        self.stderr_lines = []
        self.seen_pids = set()
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr_lines.append), daemon=True).start()
        tmtest.Taskmaster._running.append(self)  # tmtest.main() kills it after each test

    @property
    def pid_of_daemon(self):
        return self.proc.pid

    @staticmethod
    def _pump(stream, sink):
        for raw in iter(stream.readline, b""):
            sink(raw.decode(errors="replace").rstrip("\n"))

    def write(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def cmd(self, line, timeout=20.0):
        """Sends one command; returns its answer lines (a `version` after it marks where the answer ends)."""
        self.write(line + "\nversion\n")
        markers = 2 if line.strip() == "version" else 1
        lines, deadline = [], time.monotonic() + timeout
        while True:
            try:
                got = self.stdout.get(timeout=min(0.2, max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                if self.proc.poll() is not None and self.stdout.empty():
                    raise AssertionError(f"taskmaster exited ({self.proc.returncode}) before answering {line!r}")
                if time.monotonic() >= deadline:
                    raise AssertionError(f"no answer to {line!r} within {timeout} s; got {lines}")
                continue
            if got == self.marker:
                markers -= 1
                if markers == 0:
                    return lines if line.strip() != "version" else [self.marker]
                continue
            lines.append(got)

    def status(self, *names, timeout=20.0):
        """{instance: (STATE, details)}."""
        out = {}
        for line in self.cmd(" ".join(["status", *names]), timeout=timeout):
            m = re.match(r"^(\S+)\s+([A-Z]+)\s*(.*)$", line)
            if m:
                out[m.group(1)] = (m.group(2), m.group(3))
                pid = re.search(r"pid (\d+)", m.group(3))
                if pid:
                    self.seen_pids.add(int(pid.group(1)))
        return out

    def snapshot(self):
        """{instance: (STATE, pid or None)}: what must not change when nothing should happen."""
        out = {}
        for name, (state, details) in self.status().items():
            pid = re.search(r"pid (\d+)", details)
            out[name] = (state, int(pid.group(1)) if pid else None)
        return out

    def state(self, name):
        return self.status(name).get(name, (None, ""))

    def wait_state(self, name, state, timeout=10.0):
        def reached():
            s, details = self.state(name)
            return (details or True) if s == state else None
        result = eventually(reached, timeout, 0.1, f"{name} to be {state} (last: {self.state(name)})")
        return "" if result is True else result

    def wait_all(self, state, count=None, timeout=20.0):
        """Waits until every instance (and at least `count` of them) is in `state`; returns the status."""
        def reached():
            s = self.status()
            return s if s and all(v[0] == state for v in s.values()) and (count is None or len(s) >= count) else None
        return eventually(reached, timeout, 0.2, f"every instance to be {state}")

    def pid(self, name):
        out = self.cmd(f"pid {name}")
        check(len(out) == 1 and out[0].isdigit(), f"pid {name}: {out}")
        pid = int(out[0])
        if pid:
            self.seen_pids.add(pid)
        return pid

    def log_text(self):
        return read_text(self.log)

    def wait_log(self, pattern, timeout=10.0):
        return eventually(lambda: re.search(pattern, self.log_text(), re.M), timeout, 0.1, f"log line /{pattern}/")

    def stderr(self):
        return "\n".join(self.stderr_lines)

    def ctl(self, *words, timeout=20.0, json=False):
        return ctl(self.socket, *words, timeout=timeout, json=json)

    def quit(self, timeout=30.0):
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        return self.wait(timeout)

    def wait(self, timeout=30.0):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"taskmaster still running after {timeout} s")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in self.seen_pids:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


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
