"""supervisord and taskmaster side by side on one supervisord.conf, and XML-RPC over their Unix sockets.

Shared by test_supervisorctl.py and test_xmlrpc.py. Each daemon runs in a directory of its own holding the same
file text: every path in the file is `%(here)s/...`, so both read the same configuration and never meet. supervisord
runs as `supervisord -n -c FILE`, taskmaster as `taskmaster -c FILE --no-shell` (its own JSON control socket beside
the file); both in the foreground, as children of the test, each in a session of its own.

Each daemon runs in a session of its own, which its programs stay in; stop() kills whatever is left of that session,
so nothing outlives a test, even one that failed half-way. Python standard library only, plus Debian's `supervisor`
package for SupervisorTransport (`make deps-test`).
"""

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import xmlrpc.client

from tmtest import TASKMASTER, Taskmaster, eventually

SUPERVISORD = shutil.which("supervisord") or "/usr/bin/supervisord"
SUPERVISORCTL = shutil.which("supervisorctl") or "/usr/bin/supervisorctl"
DEBIAN_PACKAGES = "/usr/lib/python3/dist-packages"  # where Debian's python3-supervisor lives

MOVING_STATES = ("STARTING", "BACKOFF", "STOPPING")


def supervisor_xmlrpc():
    """supervisor.xmlrpc, from Debian's package (added to the path when this python3 is not Debian's)."""
    try:
        import supervisor.xmlrpc
    except ImportError:
        if DEBIAN_PACKAGES not in sys.path:
            sys.path.append(DEBIAN_PACKAGES)
        try:
            import supervisor.xmlrpc
        except ImportError as e:
            raise AssertionError(f"Debian's `supervisor` package is needed (`make deps-test`): {e}")
    return supervisor.xmlrpc


def ensure_supervisord():
    if not (os.access(SUPERVISORD, os.X_OK) and os.access(SUPERVISORCTL, os.X_OK)):
        raise AssertionError("supervisord and supervisorctl are the reference of these tests: `make deps-test` "
                             "installs Debian's `supervisor` package (its service kept from starting)")


# --- the configuration --------------------------------------------------------------------------------------------

def supervisord_conf(*sections, server="", supervisord="", ctl=""):
    """A supervisord.conf whose paths are all in the file's own directory: its Unix socket, main log, pid file and
    AUTO log files. `server`, `supervisord` and `ctl` are extra lines for those sections."""
    return (
        "[unix_http_server]\n"
        "file=%(here)s/supervisor.sock\n"
        f"{server}\n"
        "[supervisord]\n"
        "logfile=%(here)s/supervisord.log\n"
        "pidfile=%(here)s/supervisord.pid\n"
        "childlogdir=%(here)s\n"
        "nodaemon=true\n"
        f"{supervisord}\n"
        "[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
        "[supervisorctl]\n"
        "serverurl=unix://%(here)s/supervisor.sock\n"
        f"{ctl}\n" + "\n".join(sections))


def section(name, command, **keys):
    """A [program:x] (or any) section: `section("program:web", CMD, startsecs=0)`."""
    lines = [f"[{name}]", f"command={command}"] + [f"{key}={value}" for key, value in keys.items()]
    return "\n".join(lines) + "\n"


# --- HTTP and XML-RPC over a Unix socket ----------------------------------------------------------------------------

class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client on a Unix socket: the Host header says `localhost`, as supervisorctl's does."""

    def __init__(self, path, timeout=30.0):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def post_rpc(path, method, params=(), headers=None, timeout=30.0):
    """One POST /RPC2 on a new connection: (status, headers, body bytes)."""
    connection = UnixHTTPConnection(path, timeout)
    try:
        body = xmlrpc.client.dumps(tuple(params), method).encode()
        connection.request("POST", "/RPC2", body, {"Content-Type": "text/xml", **(headers or {})})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def proxy(path, username="", password=""):
    """xmlrpc.client.ServerProxy on the socket through supervisor's own SupervisorTransport, as supervisorctl makes
    it: one connection, kept alive for every call made through it."""
    transport = supervisor_xmlrpc().SupervisorTransport(username, password, f"unix://{path}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def namespec(info):
    return info["name"] if info["group"] == info["name"] else f"{info['group']}:{info['name']}"


# --- processes ------------------------------------------------------------------------------------------------------

def session(sid):
    """Live processes of session sid. A daemon starts its own session, and its programs stay in it (each in a process
    group of its own): what is left of it once it is gone."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()  # state, ppid, pgrp, session, ...
        except (OSError, IndexError):
            continue
        if int(fields[3]) == sid and fields[0] not in ("Z", "X"):
            found.append(int(name))
    return found


def ppid(pid):
    """The parent of pid, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def kill_session(sid):
    """SIGKILLs every process of session sid, and waits until they are gone; returns how many there were."""
    left = session(sid)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    eventually(lambda: not session(sid), 10, 0.02, f"the processes of session {sid} to die")
    return len(left)


class Side:
    """One daemon (`kind`: supervisord or taskmaster) on a supervisord.conf in its own directory."""

    def __init__(self, kind, text, directory=None, name=None):
        self.kind = kind
        self.name = name or kind
        self.dir = directory or tempfile.mkdtemp(prefix=f"tm-{self.name}-")
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "supervisord.conf")
        self.socket = os.path.join(self.dir, "supervisor.sock")
        self.mainlog = os.path.join(self.dir, "supervisord.log")
        self.output = os.path.join(self.dir, "daemon.out")
        self.proc = None
        self.write(text)

    def write(self, text):
        with open(self.conf, "w") as f:
            f.write(text)

    def path(self, name):
        return os.path.join(self.dir, name)

    def command(self):
        if self.kind == "supervisord":
            return [SUPERVISORD, "-n", "-c", self.conf]
        return [TASKMASTER, "-c", self.conf, "--no-shell", "--socket", self.path("tm.sock")]

    def start(self, timeout=20.0, register=True):
        """Starts the daemon; returns once it answers XML-RPC on its socket."""
        with open(self.output, "ab") as out:
            self.proc = subprocess.Popen(self.command(), cwd=self.dir, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        if register:
            Taskmaster._running.append(self)  # stopped after the test, whatever happens
        deadline = time.monotonic() + timeout
        last = "nothing"
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited ({self.proc.returncode}) at start: {self.daemon_output()}")
            try:
                status, _, body = post_rpc(self.socket, "supervisor.getAPIVersion", timeout=5)
                if status == 200 and b"methodResponse" in body or status == 401:  # 401: it wants credentials
                    return self
                last = f"HTTP {status}: {body[:200]!r}"
            except OSError as e:
                last = f"{type(e).__name__}: {e}"
            except http.client.HTTPException as e:
                last = f"{type(e).__name__}: {e}"
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} does not answer XML-RPC on {self.socket} within {timeout} s "
                                     f"(last: {last}); its output: {self.daemon_output()}")
            time.sleep(0.05)

    def daemon_output(self):
        try:
            with open(self.output, errors="replace") as f:
                return f.read()[-3000:]
        except FileNotFoundError:
            return ""

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout=20.0):
        """The daemon's exit code once it has exited, or None after timeout."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        """SIGTERM (every program stopped), SIGKILL after 10 s, then whatever is left of its session."""
        if self.proc is None:
            return 0
        if self.running():
            self.proc.terminate()
            if self.wait_exit(10) is None:
                self.proc.kill()
                self.proc.wait()
        return kill_session(self.proc.pid)

    kill = stop  # what tmtest's cleanup calls

    def ctl(self, *args, timeout=60.0):
        """The real supervisorctl on this daemon's file: (exit code, stdout, stderr)."""
        p = subprocess.run([SUPERVISORCTL, "-c", self.conf, *args], cwd=self.dir, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=timeout)
        return p.returncode, p.stdout, p.stderr

    def popen_ctl(self, *args):
        return subprocess.Popen([SUPERVISORCTL, "-c", self.conf, *args], cwd=self.dir, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def proxy(self, username="", password=""):
        return proxy(self.socket, username, password)

    def infos(self):
        """{namespec: process info struct}."""
        return {namespec(i): i for i in self.proxy().supervisor.getAllProcessInfo()}

    def wait_states(self, wanted, timeout=20.0):
        """Waits until each named process is in its state ({name: STATE}); returns the infos."""
        deadline = time.monotonic() + timeout
        while True:
            infos = self.infos()
            if all(infos.get(name, {}).get("statename") == state for name, state in wanted.items()):
                return infos
            if time.monotonic() > deadline:
                seen = {name: infos.get(name, {}).get("statename") for name in wanted}
                raise AssertionError(f"{self.name}: states {seen} after {timeout} s, expected {wanted}")
            time.sleep(0.05)

    def settle(self, timeout=10.0):
        """Waits (at most timeout) until no process is STARTING, BACKOFF or STOPPING; never fails."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if not any(i["statename"] in MOVING_STATES for i in self.infos().values()):
                    return
            except (OSError, xmlrpc.client.Error, http.client.HTTPException):
                return
            time.sleep(0.05)

    def read(self, name):
        try:
            with open(self.path(name), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


def in_parallel(calls):
    """Runs each function of `calls` in a thread of its own; returns their results in order (re-raising the first
    exception)."""
    results = [None] * len(calls)

    def run(i, fn):
        try:
            results[i] = (True, fn())
        except BaseException as e:  # reported to the caller below
            results[i] = (False, e)

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for ok, value in results:
        if not ok:
            raise value
    return [value for _, value in results]


def run_tests(main, *cleanups):
    """tmtest's main(), then the cleanups and every daemon still registered, also when SIGTERM (meson's timeout)
    ends the run half-way: the daemons run in sessions of their own, which nothing else would stop."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        main()
    finally:
        for cleanup in cleanups:
            cleanup()
        Taskmaster.cleanup_all()
