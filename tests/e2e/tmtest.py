"""Shared helpers for the end-to-end tests: run the real taskmaster binary through a pipe or a pseudo-terminal.

Environment: TASKMASTER (the binary) and TM_HELPER (the test child program), both set by tests/e2e/meson.build.
Python standard library only.
"""

import json
import os
import pty
import queue
import re
import select
import socket
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

# Absolute, so that relative paths given on the command line still work from the tests' own directories.
TASKMASTER = os.path.abspath(os.environ["TASKMASTER"]) if os.environ.get("TASKMASTER") else ""
HELPER = os.path.abspath(os.environ["TM_HELPER"]) if os.environ.get("TM_HELPER") else ""

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d (DEBUG|INFO |WARN |ERROR) \S.*$")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x07")

_tests = []
_dirs = []


def test(fn):
    """Registers a test function; main() runs them in order."""
    _tests.append(fn)
    return fn


def main():
    if not TASKMASTER or not HELPER:
        print("TASKMASTER and TM_HELPER must name the taskmaster binary and the test helper")
        sys.exit(2)
    only = sys.argv[1:]
    passed, failed = 0, []
    for fn in _tests:
        if only and fn.__name__ not in only:
            continue
        started = time.monotonic()
        try:
            fn()
            Taskmaster.cleanup_all()
            passed += 1
            print(f"ok    {fn.__name__} ({time.monotonic() - started:.1f} s)", flush=True)
            for path in _dirs:
                shutil.rmtree(path, ignore_errors=True)
        except Exception:
            Taskmaster.cleanup_all()
            failed.append(fn.__name__)
            print(f"FAIL  {fn.__name__} (files kept in {', '.join(_dirs) or 'no directory'})", flush=True)
            traceback.print_exc(file=sys.stdout)
            sys.stdout.flush()
        _dirs.clear()
    print(f"{passed} passed, {len(failed)} failed" + (f": {', '.join(failed)}" if failed else ""))
    sys.exit(1 if failed else 0)


def check(condition, message=""):
    if not condition:
        raise AssertionError(message)


def eventually(predicate, timeout=10.0, interval=0.05, message="condition"):
    """Polls predicate() until it returns something truthy; returns that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


def alive(pid):
    """True while pid is a live process (a zombie counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def kill_groups(pids):
    """SIGKILLs the process group of each pid, whatever is left of it: the cleanup after a failed test."""
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def stop_and_clean(proc, seen_pids):
    """After a test that failed half-way: SIGTERM (its programs get stopped), SIGKILL after 5 s, then the
    groups of every pid it ran, since a SIGKILLed supervisor stops nothing."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    kill_groups(seen_pids)


def terminate(tm):
    """SIGTERM to a Taskmaster without a shell: it stops every program and exits 0."""
    tm.proc.send_signal(signal.SIGTERM)
    check(tm.wait() == 0, f"exit code {tm.proc.returncode} after SIGTERM")


def helper(*args):
    """A cmd line running the test helper."""
    return " ".join([HELPER, *args])


def tmpdir():
    """A fresh directory, removed after its test passes (kept after a failure, to look at)."""
    path = tempfile.mkdtemp(prefix="tm-e2e-")
    _dirs.append(path)
    return path


def read_file(path):
    """The file's text, undecodable bytes replaced; "" when it does not exist."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def version():
    out = subprocess.run([TASKMASTER, "--version"], capture_output=True, text=True, check=True).stdout
    return out.strip()


def program(name, cmd, **options):
    """YAML for one program. Values are written as given (strings quoted)."""
    lines = [f"  {name}:", f"    cmd: {quote(cmd)}"]
    for key, value in options.items():
        if isinstance(value, dict):
            lines.append(f"    {key}:")
            lines += [f"      {k}: {quote(v)}" for k, v in value.items()]
        elif isinstance(value, list):
            lines.append(f"    {key}: [{', '.join(str(v) for v in value)}]")
        elif isinstance(value, bool):
            lines.append(f"    {key}: {'true' if value else 'false'}")
        else:
            lines.append(f"    {key}: {quote(value) if isinstance(value, str) else value}")
    return "\n".join(lines) + "\n"


def config(*programs):
    return "programs:\n" + "".join(programs)


def quote(value):
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


class Taskmaster:
    """taskmaster in script mode: commands on a pipe to stdin, answers read from stdout. Its control socket is
    `self.socket`: `socket` when given, else one in its own directory, so that tests never meet on the default one."""

    _running = []

    def __init__(self, config_text, args=(), env=None, directory=None, socket=None, log=None, preexec_fn=None):
        self.dir = directory or tmpdir()
        self.config = os.path.join(self.dir, "taskmaster.yml")
        self.log = log or os.path.join(self.dir, "taskmaster.log")
        self.socket = socket or os.path.join(self.dir, "tm.sock")
        with open(self.config, "w") as f:
            f.write(config_text)
        if preexec_fn is not None and os.geteuid() == 0:
            os.chmod(self.config, 0o644)  # readable after a preexec_fn that drops privileges
        self.version = version()
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
        Taskmaster._running.append(self)

    @staticmethod
    def _pump(stream, sink):
        for raw in iter(stream.readline, b""):
            sink(raw.decode(errors="replace").rstrip("\n"))

    def write(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def cmd(self, line, timeout=20.0):
        """Sends one command; returns its answer lines. A `version` after it marks where the answer ends."""
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
            if got == self.version:
                markers -= 1
                if markers == 0:
                    return lines if line.strip() != "version" else [self.version]
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

    def state(self, name):
        return self.status(name).get(name, (None, ""))

    def wait_state(self, name, state, timeout=10.0):
        """Waits until instance `name` is in `state`; returns its details."""
        def reached():
            s, details = self.state(name)
            return (details or True) if s == state else None
        result = eventually(reached, timeout, 0.1, f"{name} to be {state} (last: {self.state(name)})")
        return "" if result is True else result

    def pid(self, name):
        out = self.cmd(f"pid {name}")
        check(len(out) == 1 and out[0].isdigit(), f"pid {name}: {out}")
        pid = int(out[0])
        if pid:
            self.seen_pids.add(pid)
        return pid

    def log_text(self):
        return read_file(self.log)

    def wait_log(self, pattern, timeout=10.0):
        return eventually(lambda: re.search(pattern, self.log_text(), re.M), timeout, 0.1, f"log line /{pattern}/")

    def stderr(self):
        return "\n".join(self.stderr_lines)

    def quit(self, timeout=30.0):
        """Closes stdin (end of input means quit); returns the exit code."""
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
        stop_and_clean(self.proc, self.seen_pids)

    @classmethod
    def cleanup_all(cls):
        for tm in cls._running:
            tm.kill()
        cls._running.clear()


def as_user(uid):
    """A preexec_fn that drops to uid (and the same gid) before exec; only root can."""
    def drop():
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    return drop


def ctl(sock, *args, json_out=False, env=None, user=None, input=None, timeout=20.0):
    """Runs `taskmaster ctl --socket SOCK [--json] ARGS...`; returns (exit code, stdout, stderr)."""
    command = [TASKMASTER, "ctl"] + (["--socket", sock] if sock else []) + (["--json"] if json_out else []) + list(args)
    p = subprocess.run(command, capture_output=True, text=True, input=input, env=env, timeout=timeout,
                       stdin=None if input is not None else subprocess.DEVNULL,
                       preexec_fn=as_user(user) if user is not None else None)
    return p.returncode, p.stdout, p.stderr


def answers(path):
    """True when something accepts connections on the socket at path."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(path)
            return True
        except OSError:
            return False


class Daemon:
    """`taskmaster --daemon` in a directory of its own, driven with `taskmaster ctl`."""

    def __init__(self, config_text, directory=None, sock=None, pidfile=None, config_name="taskmaster.yml"):
        self.dir = directory or tmpdir()
        self.config = os.path.join(self.dir, config_name)
        self.log = os.path.join(self.dir, "taskmaster.log")
        self.socket = sock or os.path.join(self.dir, "tm.sock")
        self.pidfile = pidfile or os.path.join(self.dir, "tm.pid")
        self.pid = None
        self.seen_pids = set()
        self.write(config_text)
        Taskmaster._running.append(self)

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, config_text):
        with open(self.config, "w") as f:
            f.write(config_text)

    def start(self, args=None, env=None, cwd=None, expect=0, user=None):
        """Runs the daemon's command, which returns once the daemon is ready (or has failed); returns its stderr."""
        if args is None:
            args = ["-c", self.config, "--daemon", "--socket", self.socket, "--pidfile", self.pidfile,
                    "--log", self.log]
        p = subprocess.run([TASKMASTER, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                           cwd=cwd or self.dir, env=env, timeout=20,
                           preexec_fn=as_user(user) if user is not None else None)
        check(p.returncode == expect, f"daemon exited {p.returncode}, expected {expect}: {p.stderr}")
        check(p.stdout == "", f"the daemon's command wrote to stdout: {p.stdout!r}")
        if p.returncode == 0:
            self.pid = int(read_file(self.pidfile))
            check(alive(self.pid), "the daemon is not running")
        return p.stderr

    def ctl(self, *args, **kwargs):
        """(exit code, stdout, stderr) of `taskmaster ctl ARGS`."""
        return ctl(self.socket, *args, **kwargs)

    def command(self, *args, expect=0, timeout=20.0):
        """The stdout of `taskmaster ctl ARGS`, checked for its exit code (None: any)."""
        code, out, err = self.ctl(*args, timeout=timeout)
        check(expect is None or code == expect, f"ctl {' '.join(args)}: exit {code}, expected {expect}: {out!r} {err!r}")
        return out

    def tail(self, *args):
        return self.command("tail", *args)

    def reply(self, *args, expect=0, **kwargs):
        """`ctl --json ARGS`, checked for its exit code; the reply, parsed."""
        code, out, err = self.ctl(*args, json_out=True, **kwargs)
        check(code == expect, f"ctl --json {' '.join(args)}: exit {code}, expected {expect}: {out} {err}")
        lines = out.splitlines()
        check(len(lines) == 1, f"--json printed {len(lines)} lines: {out!r}")
        reply = json.loads(lines[0])
        check(reply["v"] == 1 and isinstance(reply["ok"], bool) and isinstance(reply["lines"], list), reply)
        return reply

    def status(self, *names):
        """{instance: its status object}."""
        data = self.reply("status", *names)["data"]
        for s in data:
            if s["pid"]:
                self.seen_pids.add(s["pid"])
        return {s["instance"]: s for s in data}

    def wait_state(self, name, state, timeout=10.0):
        def reached():
            s = self.status().get(name)
            return s if s and s["state"] == state else None
        return eventually(reached, timeout, 0.05, f"{name} to be {state}")

    def wait_gone(self, timeout=10.0):
        """Waits until the daemon has exited."""
        eventually(lambda: not alive(self.pid), timeout, 0.05, f"the daemon (pid {self.pid}) to exit")

    def log_text(self):
        return read_file(self.log)

    def kill(self):
        if not self.pid and answers(self.socket):  # started, but its pid never known
            ctl(self.socket, "shutdown")
            eventually(lambda: not answers(self.socket), 10, 0.05, "the daemon to go")
        if self.pid and alive(self.pid):  # a test failed half-way: stop it, then insist
            os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while alive(self.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if alive(self.pid):
                os.kill(self.pid, signal.SIGKILL)
        kill_groups(self.seen_pids)


def run(args, stdin=subprocess.DEVNULL, cwd=None, env=None, timeout=20.0):
    """Runs taskmaster to completion; returns (exit code, stdout, stderr)."""
    p = subprocess.run([TASKMASTER, *args], stdin=stdin, capture_output=True, text=True, cwd=cwd, env=env,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


class Terminal:
    """taskmaster on a pseudo-terminal: the interactive shell, driven key by key. Its control socket is
    `self.socket`, in its own directory."""

    def __init__(self, config_text, env=None, directory=None):
        self.dir = directory or tmpdir()
        self.config = os.path.join(self.dir, "taskmaster.yml")
        self.log = os.path.join(self.dir, "taskmaster.log")
        self.socket = os.path.join(self.dir, "tm.sock")
        with open(self.config, "w") as f:
            f.write(config_text)
        environment = dict(os.environ, TERM="xterm", **(env or {}))
        environment.pop("NO_COLOR", None)
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.chdir(self.dir)
                os.execve(TASKMASTER, [TASKMASTER, "-c", self.config, "--log", self.log, "--socket", self.socket],
                          environment)
            finally:
                os._exit(127)
        self.output = ""
        self.code = None
        Taskmaster._running.append(self)

    def send(self, keys):
        os.write(self.fd, keys.encode() if isinstance(keys, str) else keys)

    def _read(self, wait):
        if self.fd < 0:
            time.sleep(wait)
            return None
        r, _, _ = select.select([self.fd], [], [], wait)
        if not r:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the other side is gone
            return None
        if not data:
            return None
        self.output += data.decode(errors="replace")
        return True

    def expect(self, pattern, timeout=10.0):
        """Waits for `pattern` (a regex) in the output, colours and cursor moves removed; returns the text up to
        the end of the match and keeps the rest for the next expect."""
        deadline = time.monotonic() + timeout
        while True:
            plain = ANSI.sub("", self.output)
            m = re.search(pattern, plain)
            if m:
                self.output = plain[m.end():]
                return plain[:m.end()]
            left = deadline - time.monotonic()
            if left <= 0 or self._read(min(left, 0.2)) is None and not re.search(pattern, ANSI.sub("", self.output)):
                raise AssertionError(f"timed out waiting for /{pattern}/; output so far: {plain!r}")

    def raw_expect(self, pattern, timeout=10.0):
        """As expect(), on the output with its escape sequences (colours)."""
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern, self.output)
            if m:
                text, self.output = self.output[:m.end()], self.output[m.end():]
                return text
            left = deadline - time.monotonic()
            if left <= 0 or self._read(min(left, 0.2)) is None and not re.search(pattern, self.output):
                raise AssertionError(f"timed out waiting for /{pattern}/; output so far: {self.output!r}")

    def settle(self, quiet=0.3):
        """Reads until the output has been quiet for a moment."""
        while self._read(quiet):
            pass

    def alive(self):
        return self.wait(0) is None

    def wait(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while self.code is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.code = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() >= deadline:
                return None
            self._read(0.05)
        return self.code

    def kill(self):
        """Stops it gracefully if it still runs (SIGKILL after 5 s), and closes the terminal."""
        if self.code is None and self.wait(0) is None:
            os.kill(self.pid, signal.SIGTERM)
            if self.wait(5) is None:
                os.kill(self.pid, signal.SIGKILL)
                self.wait(5)
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
