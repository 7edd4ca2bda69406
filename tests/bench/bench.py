#!/usr/bin/env python3
"""taskmaster against supervisord, side by side, on this machine (issue 5).

    python3 tests/bench/bench.py               quick mode, what `make bench` runs (a few minutes once built)
    python3 tests/bench/bench.py --mode full   more repeats and 30 s idle windows (BENCH=full make bench)
    options: --only SCENARIOS (ref,memory,pools,restart,scale,crash,output,flood,reload,xmlrpc),
             --no-write (table only), --keep (keep the temporary files), --taskmaster BINARY,
             --scale-nofile N (default 1024)

Builds taskmaster in build-bench/ (release), compiles the posix_spawn reference (tests/bench/spawnref.c), installs
the Debian package `supervisor` when it is missing and we are root, then runs every scenario against both
supervisors with equivalent configurations, one supervisor after the other, and prints one table. The same table,
the samples and the machine description are written to docs/benchmarks.md.

How things are measured, from outside the supervisors:
- process existence: the pids a supervisor logs as spawned, checked in /proc; a replacement child by watching
  the last pid the kernel handed out (/proc/loadavg) and the parent of each new pid;
- RUNNING and FATAL: the supervisor's own event log, read as it grows; confirmed with its status command;
- CPU time: utime + stime of /proc/PID/stat (10 ms ticks); wake-ups: voluntary context switches of every thread
  (/proc/PID/task/*/status); memory: VmRSS of /proc/PID/status;
- wall times: time.monotonic() around what is measured.

Every process started here carries TM_BENCH_TAG in its environment; the cleanup kills whatever still carries it,
also after Ctrl-C or SIGTERM, and this program is a child subreaper so nothing escapes to init. Python 3 standard
library only.
"""

import argparse
import ctypes
import dataclasses
import datetime
import http.client
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(ROOT, "tests", "bench")
GIB = 1 << 30
CLK_TCK = os.sysconf("SC_CLK_TCK")
TAG_VAR = "TM_BENCH_TAG"
RUN_TAG = uuid.uuid4().hex[:12]  # every process of this run has TM_BENCH_TAG=<RUN_TAG>:<daemon>

MODES = {
    # pool runs per N: "A" = spawn, idle, memory, control latency, shutdown with N running;
    #                  "B" = spawn, (restart latency when N=100), stop all, shutdown.
    "quick": dict(pools={100: "AB", 1000: "AB"}, idle={100: 3, 1000: 5},
                  ctl_repeats={"taskmaster": 21, "supervisord": 3}, restart_repeats=20,
                  crash_runs=1, output_runs=3, reload_runs=1, ref_runs=3, spawn_loop=500,
                  scale_ctl={"taskmaster": 11, "supervisord": 3}, scale_idle=5,
                  output_bytes=256 << 20, flood_seconds=10,
                  xmlrpc_ctl={"taskmaster": 11, "supervisord": 5}, xmlrpc_calls=20),
    "full": dict(pools={100: "AAABBB", 1000: "AAABBB"}, idle={100: 30, 1000: 30},
                 ctl_repeats={"taskmaster": 51, "supervisord": 11},
                 restart_repeats=20, crash_runs=3, output_runs=5, reload_runs=3, ref_runs=5, spawn_loop=2000,
                 scale_ctl={"taskmaster": 51, "supervisord": 11}, scale_idle=30,
                 output_bytes=GIB, flood_seconds=10,
                 xmlrpc_ctl={"taskmaster": 21, "supervisord": 11}, xmlrpc_calls=50),
}


def mono():
    return time.monotonic()


LOG_START = time.monotonic()


def log(message):
    print(f"[{mono() - LOG_START:5.0f} s] {message}", flush=True)


# ---------------------------------------------------------------------------------------------------------------
# /proc


def proc_stat(pid):
    """(state, ppid, cpu seconds) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2:].split()
    return fields[0].decode(), int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK


def alive(pid):
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def cpu_seconds(pid):
    st = proc_stat(pid)
    return st[2] if st else float("nan")


def voluntary_switches(pid):
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def children(pid):
    """Live children of pid, by a scan of /proc (slow with thousands of processes: not for tight loops)."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(name)
            if st and st[1] == pid and st[0] not in ("Z", "X"):
                found.append(int(name))
    return found


def child_count(pid):
    """Children of pid (zombies included) by the kernel's per-thread lists; -1 if pid is gone."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return -1
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                total += len(f.read().split())
        except OSError:
            pass  # a thread that just ended
    return total if alive(pid) else -1


def last_pid():
    with open("/proc/loadavg") as f:
        return int(f.read().split()[4])


class NewChildWatch:
    """Waits for a new child of `parent`: polls the last pid handed out by the kernel (/proc/loadavg) every 0.2 ms
    and looks at the parent of each new pid. Precise to a fraction of a millisecond, without scanning /proc."""

    def __init__(self, parent, known):
        self.parent, self.known, self.last = parent, set(known), last_pid()

    def wait(self, timeout):
        deadline = mono() + timeout
        pending = {}  # pid -> first time it was seen in loadavg but not yet in /proc
        while True:
            now = mono()
            current = last_pid()
            if current != self.last:
                if current > self.last:
                    new = range(self.last + 1, current + 1)
                else:  # pid numbers wrapped: look at everything
                    new = [int(n) for n in os.listdir("/proc") if n.isdigit()]
                for pid in new:
                    pending.setdefault(pid, now)
                self.last = current
            for pid, seen in list(pending.items()):
                st = proc_stat(pid)
                if st is None:
                    if now - seen > 0.05:
                        del pending[pid]  # a short-lived process of someone else
                    continue
                del pending[pid]
                if st[1] == self.parent and pid not in self.known:
                    self.known.add(pid)
                    return pid, mono()
            if now > deadline:
                raise TimeoutError(f"no new child of {self.parent} within {timeout} s")
            time.sleep(0.0002)  # not a busy loop: on a small machine it would take the CPU the daemon needs


class LogWatch:
    """Reads the lines a log file gained since the last call."""

    def __init__(self, path):
        self.path, self.offset, self.partial = path, 0, b""

    def lines(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        parts = (self.partial + data).split(b"\n")
        self.partial = parts.pop()
        return [p.decode(errors="replace") for p in parts]


# ---------------------------------------------------------------------------------------------------------------
# Cleanup: every process of this run carries TM_BENCH_TAG=RUN_TAG:...


def tagged_processes(prefix):
    needle = f"{TAG_VAR}={prefix}".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                if needle in f.read():
                    found.append(int(name))
        except OSError:
            pass
    return [pid for pid in found if alive(pid)]


def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_tagged(prefix):
    """SIGKILLs every live process whose tag starts with prefix; returns how many there were."""
    first = None
    for _ in range(50):
        pids = tagged_processes(prefix)
        if first is None:
            first = len(pids)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
        reap()
    reap()
    return first or 0


def wait_exit(pid, timeout):
    """Waits for pid to exit (reaping it if it is our child); returns the time it was seen gone, or None."""
    deadline = mono() + timeout
    while mono() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                return mono()
        except ChildProcessError:
            if not alive(pid):
                return mono()
        time.sleep(0.001)
    return None


# ---------------------------------------------------------------------------------------------------------------
# The two supervisors


@dataclasses.dataclass
class Program:
    name: str
    argv: list
    numprocs: int = 1
    autostart: bool = True
    autorestart: bool = True
    starttime: float = 1
    startretries: int = 3
    stoptime: float = 10
    stdout: str = None  # None: discarded
    maxbytes: int = 0  # rotation of stdout: 0 never rotates
    backups: int = 0


class Supervisor:
    """One daemon of one kind, in its own directory: configuration, socket, pid file, event log."""

    kind = ""
    counter = 0

    def __init__(self, ctx):
        Supervisor.counter += 1
        self.ctx = ctx
        self.tag = f"{RUN_TAG}:{self.kind}{Supervisor.counter}"
        self.dir = os.path.join(ctx.tmp, f"{self.kind}{Supervisor.counter}")
        os.makedirs(self.dir)
        self.env = dict(os.environ, **{TAG_VAR: self.tag})
        self.config = os.path.join(self.dir, "config")
        self.log = os.path.join(self.dir, "events.log")
        self.pid = None
        self.programs = []

    def path(self, name):
        return os.path.join(self.dir, name)

    def run(self, *args, check=True):
        """Runs a control command; returns (wall seconds, completed process)."""
        argv = self.ctl(*args)
        start = mono()
        done = subprocess.run(argv, env=self.env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        took = mono() - start
        if check and done.returncode not in self.ok_codes:
            raise RuntimeError(f"{' '.join(argv)}: exit {done.returncode}: {done.stdout}{done.stderr}")
        return took, done

    def popen(self, *args):
        return subprocess.Popen(self.ctl(*args), env=self.env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def log_time(self, line):
        match = self.TIMESTAMP.match(line)
        return self.parse_time(match.group(1)) if match else None

    def shutdown(self, timeout=120):
        """SIGTERM, then waits for the daemon to exit; returns the seconds it took."""
        start = mono()
        os.kill(self.pid, signal.SIGTERM)
        end = wait_exit(self.pid, timeout)
        if end is None:
            raise RuntimeError(f"{self.kind} did not exit within {timeout} s of SIGTERM")
        self.pid = None
        return end - start

    def leftovers(self):
        """Kills what is left of this daemon's processes; returns how many were left."""
        return kill_tagged(self.tag)


class Taskmaster(Supervisor):
    kind = "taskmaster"
    ok_codes = (0,)
    SPAWNED = re.compile(r" INFO  (\S+) spawned, pid (\d+)")
    RUNNING = re.compile(r" INFO  (\S+) RUNNING, pid (\d+)")
    FATAL = re.compile(r" (\S+) FATAL: ")
    TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\S+) ")

    @staticmethod
    def parse_time(text):
        return datetime.datetime.fromisoformat(text).timestamp()

    def write_config(self, programs):
        self.programs = programs
        lines = ["programs:" if programs else "programs: {}"]
        for p in programs:
            lines += [f"  {p.name}:",
                      f"    cmd: {json.dumps(p.argv)}",
                      f"    numprocs: {p.numprocs}",
                      f"    autostart: {'true' if p.autostart else 'false'}",
                      f"    autorestart: {'always' if p.autorestart else 'never'}",
                      f"    starttime: {p.starttime}",
                      f"    startretries: {p.startretries}",
                      "    stopsignal: TERM",
                      f"    stoptime: {p.stoptime}"]
            if p.stdout:
                lines += [f"    stdout: {json.dumps(p.stdout)}",
                          f"    stdout_maxbytes: {p.maxbytes}",
                          f"    stdout_backups: {p.backups}"]
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        """Starts the daemon; returns once it is ready (taskmaster --daemon waits for that)."""
        subprocess.run([self.ctx.taskmaster, "-c", self.config, "--daemon", "--socket", self.path("sock"),
                        "--pidfile", self.path("pid"), "--log", self.log],
                       env=self.env, stdin=subprocess.DEVNULL, check=True)
        with open(self.path("pid")) as f:
            self.pid = int(f.read())

    def ctl(self, *args):
        return [self.ctx.taskmaster, "ctl", "--socket", self.path("sock"), *args]

    def instance(self, program, index):
        p = next(p for p in self.programs if p.name == program)
        return program if p.numprocs == 1 else f"{program}:{index}"

    def status(self):
        """{instance: (state, pid)}"""
        _, done = self.run("--json", "status")
        return {i["instance"]: (i["state"], i["pid"] or 0) for i in json.loads(done.stdout)["data"]}

    def cheapest(self):
        return ("version",)

    def reload_command(self):
        return ("reload",)

    def socket_status(self):
        """`status` over the control socket from this process (no client program started): wall seconds until the
        whole reply is read."""
        start = mono()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(self.path("sock"))
            s.sendall(b'{"v":1,"id":1,"cmd":"status"}\n')
            reply = b""
            while not reply.endswith(b"\n"):
                data = s.recv(1 << 16)
                if not data:
                    raise RuntimeError("taskmaster closed the connection before its reply")
                reply += data
        return mono() - start


class Supervisord(Supervisor):
    kind = "supervisord"
    ok_codes = (0, 3)  # supervisorctl status exits 3 when something is not running
    SPAWNED = re.compile(r" INFO spawned: '([^']+)' with pid (\d+)")
    RUNNING = re.compile(r" INFO success: (\S+) entered RUNNING state")
    FATAL = re.compile(r" INFO gave up: (\S+) entered FATAL state")
    TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+) ")

    @staticmethod
    def parse_time(text):
        return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").timestamp()

    def write_config(self, programs):
        self.programs = programs
        sock = self.path("sock")
        text = f"""[unix_http_server]
file={sock}
chmod=0700

[supervisord]
nodaemon=true
silent=true
logfile={self.log}
logfile_maxbytes=0
loglevel=info
pidfile={self.path("pid")}
childlogdir={self.dir}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{sock}
"""
        for p in programs:
            text += f"""
[program:{p.name}]
command={' '.join(p.argv)}
numprocs={p.numprocs}
process_name={'%(program_name)s_%(process_num)d' if p.numprocs > 1 else '%(program_name)s'}
autostart={'true' if p.autostart else 'false'}
autorestart={'true' if p.autorestart else 'false'}
startsecs={p.starttime}
startretries={p.startretries}
stopsignal=TERM
stopwaitsecs={p.stoptime}
stopasgroup=true
killasgroup=true
stdout_logfile={p.stdout or 'NONE'}
stdout_logfile_maxbytes={p.maxbytes}
stdout_logfile_backups={p.backups}
stderr_logfile=NONE
"""
        with open(self.config, "w") as f:
            f.write(text)

    def start(self):
        """Starts supervisord in the foreground (as our child); returns at once."""
        self.process = subprocess.Popen([self.ctx.supervisord, "-n", "-c", self.config], env=self.env,
                                        stdin=subprocess.DEVNULL, stdout=open(self.path("stdout"), "w"),
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.process.pid

    def shutdown(self, timeout=120):
        took = super().shutdown(timeout)
        self.process.returncode = 0  # reaped by wait_exit
        return took

    def ctl(self, *args):
        return [self.ctx.supervisorctl, "-c", self.config, *args]

    def instance(self, program, index):
        p = next(p for p in self.programs if p.name == program)
        return program if p.numprocs == 1 else f"{program}:{program}_{index}"

    def status(self):
        _, done = self.run("status")
        states = {}
        for line in done.stdout.splitlines():
            words = line.split()
            if len(words) >= 2:
                pid = re.search(r"pid (\d+),", line)
                states[words[0]] = (words[1], int(pid.group(1)) if pid else 0)
        return states

    def cheapest(self):
        return ("version",)

    def reload_command(self):
        return ("update",)  # rereads the file and restarts only the changed groups: taskmaster's reload

    def socket_status(self):
        """supervisor.getAllProcessInfo over the XML-RPC socket from this process (what supervisorctl status
        calls): wall seconds until the whole reply is read."""
        import http.client
        import xmlrpc.client
        start = mono()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(self.path("sock"))
            conn = http.client.HTTPConnection("localhost")
            conn.sock = s
            conn.request("POST", "/RPC2", xmlrpc.client.dumps((), "supervisor.getAllProcessInfo"),
                         {"Content-Type": "text/xml"})
            conn.getresponse().read()
        return mono() - start


KINDS = (Taskmaster, Supervisord)
SCENARIOS = ("ref", "memory", "pools", "restart", "scale", "crash", "output", "flood", "reload", "xmlrpc")


# ---------------------------------------------------------------------------------------------------------------
# Results


class Results:
    def __init__(self):
        self.samples = {}  # (metric, kind) -> [values]
        self.notes = []
        self.failures = {}  # (scenario, kind) -> why it could not be measured: a miss, with its cause
        self.output_bytes = GIB  # what the output scenario writes (the mode's output_bytes)

    def fail(self, scenario, kind, cause):
        self.failures[(scenario, kind)] = cause
        self.notes.append(f"{scenario}, {kind}: not measured (MISSED): {cause}")

    def add(self, metric, kind, value):
        self.samples.setdefault((metric, kind), []).append(value)

    def get(self, metric, kind):
        return self.samples.get((metric, kind), [])

    def median(self, metric, kind):
        values = self.get(metric, kind)
        return statistics.median(values) if values else None

    def worst(self, metric, kind):
        values = self.get(metric, kind)
        return max(values) if values else None

    def p99(self, metric, kind):
        values = sorted(self.get(metric, kind))
        return values[min(len(values) - 1, int(len(values) * 0.99))] if values else None


# ---------------------------------------------------------------------------------------------------------------
# Scenarios


def wait_log(d, watch, until, timeout, on_line=None):
    """Reads d's log every 5 ms until until() is true; on_line sees every line. Returns the time until() held."""
    deadline = mono() + timeout
    while True:
        for line in watch.lines():
            if on_line:
                on_line(line)
        if until():
            return mono()
        if mono() > deadline:
            raise TimeoutError(f"{d.kind}: timed out after {timeout} s (log {d.log})")
        time.sleep(0.005)


def pool_run(ctx, cls, n, plan):
    """N sleep processes: spawn, then idle/memory/control latency/shutdown (plan A) or restart/stop all (plan B)."""
    res, m = ctx.results, ctx.mode
    d = cls(ctx)
    d.write_config([Program("sleep", ["sleep", "1000"], numprocs=n)])
    watch = LogWatch(d.log)
    spawned, running, confirmed = {}, set(), set()
    t_exist = None

    def on_line(line):
        match = d.SPAWNED.search(line)
        if match:
            spawned[match.group(1)] = int(match.group(2))
        match = d.RUNNING.search(line)
        if match:
            running.add(match.group(1))

    def all_running():
        nonlocal t_exist
        if t_exist is None:
            for name, pid in spawned.items():
                if name not in confirmed and alive(pid):
                    confirmed.add(name)
            if len(confirmed) >= n:
                t_exist = mono()
        return len(running) >= n

    t0 = mono()
    d.start()
    t_running = wait_log(d, watch, all_running, timeout=300, on_line=on_line)
    res.add(f"spawn_exist_{n}", d.kind, t_exist - t0)
    res.add(f"spawn_running_{n}", d.kind, t_running - t0)
    states = d.status()
    kids = children(d.pid)
    if len(kids) != n or sum(s == "RUNNING" for s, _ in states.values()) != n:
        raise RuntimeError(f"{d.kind}: {len(kids)} children, {len(states)} instances after start of {n}")

    if plan == "A":
        time.sleep(1.0)
        res.add(f"rss_{n}", d.kind, rss_mib(d.pid))
        cpu0, sw0, w0 = cpu_seconds(d.pid), voluntary_switches(d.pid), mono()
        time.sleep(m["idle"][n])
        cpu1, sw1, w1 = cpu_seconds(d.pid), voluntary_switches(d.pid), mono()
        res.add(f"idle_cpu_{n}", d.kind, 100 * (cpu1 - cpu0) / (w1 - w0))
        res.add(f"idle_wakeups_{n}", d.kind, (sw1 - sw0) / (w1 - w0))
        one = d.instance("sleep", n // 2)
        for _ in range(m["ctl_repeats"][d.kind]):
            res.add(f"ctl_status_all_{n}", d.kind, d.run("status")[0])
            res.add(f"ctl_status_one_{n}", d.kind, d.run("status", one)[0])
            res.add(f"ctl_cheapest_{n}", d.kind, d.run(*d.cheapest())[0])
        res.add(f"shutdown_{n}", d.kind, d.shutdown())
    else:
        if n == 100 and not res.get("restart", d.kind):
            restart_latency(ctx, d, states)
        took, _ = d.run("stop", "all")
        res.add(f"stop_all_{n}", d.kind, took)
        left = sum(alive(pid) for pid in kids)
        if left:
            res.notes.append(f"{d.kind}: {left} of {n} processes still alive after `stop all` returned")
        d.shutdown()
    left = d.leftovers()
    if left:
        res.notes.append(f"{d.kind}: {left} processes left behind after the shutdown of the {n}-process pool")


def restart_latency(ctx, d, states):
    """SIGKILLs one RUNNING child at a time (a different one each time) and times until its replacement exists."""
    known = {pid for _, pid in states.values()}
    victims = sorted(states.items())[: ctx.mode["restart_repeats"]]
    pauses = random.Random(5)  # the same pauses for both supervisors
    for name, (_, pid) in victims:
        # a random pause, so that the kills fall at every phase of a supervisor's periodic loop, if it has one
        time.sleep(pauses.uniform(0.05, 1.05))
        watch = NewChildWatch(d.pid, known)
        start = mono()
        os.kill(pid, signal.SIGKILL)
        new_pid, seen = watch.wait(timeout=30)
        known.add(new_pid)
        ctx.results.add("restart", d.kind, seen - start)


def restart_same(ctx, cls):
    """One program, `starttime: 0` and `autorestart: always`; the SAME instance SIGKILLed again and again (its
    current pid each time), a random 0.3 to 1.3 s after the previous kill (or 50 ms after its replacement appeared,
    if that is later): the kill falls soon after the previous spawn, as for a program that crashes now and then."""
    d = cls(ctx)
    d.write_config([Program("victim", ["sleep", "1000"], starttime=0)])
    d.start()
    try:
        wait_ready(d)
        name = d.instance("victim", 0)
        deadline = mono() + 30
        while (state := d.status().get(name, ("?", 0)))[0] != "RUNNING" or not alive(state[1]):
            if mono() > deadline:
                raise TimeoutError(f"{d.kind}: the program is not RUNNING after 30 s ({state})")
            time.sleep(0.02)
        pid, known = state[1], {state[1]}
        pauses = random.Random(11)  # the same intervals for both supervisors
        kill_at = mono() + pauses.uniform(0.3, 1.3)
        seen = mono()
        for _ in range(ctx.mode["restart_repeats"]):
            # never sooner than 50 ms after the replacement appeared: a process killed before it could exec is not
            # a program that crashes (and supervisord would count it a failed start)
            time.sleep(max(0.0, kill_at - mono(), seen + 0.05 - mono()))
            watch = NewChildWatch(d.pid, known)
            start = mono()
            kill_at = start + pauses.uniform(0.3, 1.3)
            os.kill(pid, signal.SIGKILL)
            pid, seen = watch.wait(timeout=30)
            known.add(pid)
            ctx.results.add("restart_same", d.kind, seen - start)
    finally:
        d.shutdown()
        d.leftovers()


# The scale scenario: taskmaster with SCALE_N["taskmaster"] processes, supervisord with SCALE_N["supervisord"],
# each after a posix_spawnp reference run of the same N. Every figure is under the metric "scale_<what>" for both
# kinds. SCALE_PROGRAMS programs, each with numprocs n / SCALE_PROGRAMS.
SCALE_PROGRAMS = 10
SCALE_N = {"taskmaster": 10_000, "supervisord": 1_000}


class ScaleMiss(Exception):
    """A scale run that could not go on; the message is the cause, reported as a miss."""


class ScaleRun:
    """One daemon with SCALE_PROGRAMS programs of `sleep 1000` and n processes in all, observed through its log."""

    def __init__(self, ctx, cls, n):
        self.ctx, self.n = ctx, n
        self.d = cls(ctx)
        self.d.write_config([Program(f"s{i}", ["sleep", "1000"], numprocs=n // SCALE_PROGRAMS)
                             for i in range(SCALE_PROGRAMS)])
        self.watch = LogWatch(self.d.log)
        self.spawned, self.fatal, self.errors, self.first_error = {}, set(), 0, None

    def on_line(self, line):
        d = self.d
        if match := d.SPAWNED.search(line):
            self.spawned[match.group(1)] = int(match.group(2))
            self.fatal.discard(match.group(1))
        elif match := d.FATAL.search(line):
            self.fatal.add(match.group(1))
        if re.search(r"error|too many|fail|gave up|FATAL", line, re.IGNORECASE):
            self.errors += 1
            self.first_error = self.first_error or line.strip()[:200]

    def restart_watch(self):
        """Forgets what the log said so far: from now on, the instances started anew are followed."""
        for line in self.watch.lines():
            self.on_line(line)
        self.spawned.clear()
        self.fatal.clear()
        self.best, self.last_progress = -1, mono()

    def poll(self, stall=20):
        """Returns the time the daemon was seen with n live children, or None while it has fewer. The children are
        counted by the kernel's own lists (/proc/PID/task/*/children), not by the log: a daemon busy spawning may
        write its log late. Raises ScaleMiss with the cause when the daemon died, every instance either exists or
        gave up (FATAL in the log), or the number of children did not grow for `stall` s."""
        for line in self.watch.lines():
            self.on_line(line)
        count = child_count(self.d.pid)
        if count >= self.n:
            return mono()
        if count > self.best:
            self.best, self.last_progress = count, mono()
        why = None
        if count < 0:
            why = "the daemon died"
        elif self.fatal and count + len(self.fatal) >= self.n:
            why = f"{len(self.fatal)} instances FATAL"
        elif mono() - self.last_progress > stall:
            why = f"no new process for {stall} s"
        if why:
            raise ScaleMiss(f"{max(count, 0)} of {self.n} processes exist: {why}"
                            + (f"; {self.errors} error lines in its log, the first: {self.first_error}"
                               if self.errors else ""))
        return None

    def wait_all_exist(self):
        while (done := self.poll()) is None:
            time.sleep(0.02)  # reading 10,000 pids takes about a millisecond: leave the CPUs to the daemon
        return done


def scale_limit_preexec(ctx):
    """The fd limit taskmaster starts under: the soft limit a user has by default (1024, also systemd's for
    services), the hard limit left as it is; taskmaster is to raise its own soft limit."""
    soft = ctx.scale_nofile

    def preexec():
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, hard) if hard != resource.RLIM_INFINITY else soft,
                                                    hard))
    return preexec


def fd_capacity():
    """The most descriptors the daemon will be able to hold: the hard limit, or fs.nr_open when the hard limit can
    be raised (root with CAP_SYS_RESOURCE, which raiseFdLimit() then uses)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    with open("/proc/sys/fs/nr_open") as f:
        system = int(f.read())
    probe = f"import resource; resource.setrlimit(resource.RLIMIT_NOFILE, ({system}, {system}))"
    if hard != resource.RLIM_INFINITY and hard < system and \
            subprocess.run([sys.executable, "-c", probe], stderr=subprocess.DEVNULL).returncode == 0:
        return system
    return hard


def scale_scenario(ctx):
    # taskmaster holds three descriptors per process (its pidfd, the read ends of its stdout and stderr pipes), as
    # supervisord does: where the hard limit cannot hold 10,000 of them, the scenario runs at what it can hold, and
    # says so.
    capacity = fd_capacity()
    if capacity != resource.RLIM_INFINITY and 3 * SCALE_N["taskmaster"] + 200 > capacity:
        fits = (capacity - 200) // 3 // (SCALE_PROGRAMS * 100) * SCALE_PROGRAMS * 100
        ctx.results.notes.append(
            f"scale: taskmaster runs {fits:,} processes, not {SCALE_N['taskmaster']:,}: it holds three fds per process "
            f"and the hard limit on open files here is {capacity:,}, which it cannot raise (no CAP_SYS_RESOURCE)")
        SCALE_N["taskmaster"] = fits
    for cls in KINDS:
        n = SCALE_N[cls.kind]
        log(f"scale, {n} processes: posix_spawnp reference")
        try:
            done = subprocess.run([ctx.spawnref, "hold", str(n)], capture_output=True, text=True, check=True)
            ctx.results.add(f"scale_ref_{n}", "reference", float(done.stdout.split()[1]))
        except subprocess.CalledProcessError as e:
            ctx.results.notes.append(f"scale: the posix_spawnp reference of {n} failed: {e.stderr.strip()}")
        log(f"scale, {n} processes: {cls.kind}")
        run = ScaleRun(ctx, cls, n)
        try:
            scale_run(ctx, run)
        except (ScaleMiss, RuntimeError, TimeoutError, OSError, subprocess.SubprocessError) as e:
            cause = str(e) if isinstance(e, ScaleMiss) else f"{type(e).__name__}: {e}"
            ctx.results.fail("scale", cls.kind, cause)
            log(f"scale, {cls.kind}: MISSED: {e}")
        finally:
            scale_cleanup(ctx, run)


def scale_cleanup(ctx, run):
    d = run.d
    if d.pid is not None and alive(d.pid):
        try:
            d.shutdown(timeout=60)
        except RuntimeError as e:
            ctx.results.notes.append(f"scale, {d.kind}: {e}")
    left = d.leftovers()
    if left:
        ctx.results.notes.append(f"scale, {d.kind}: {left} processes left behind after the shutdown")


def scale_run(ctx, run):
    """Start, status, version, kills, idle, memory, stop all, status during start all, shutdown: in this order,
    each one a figure; the first that cannot be done ends the run as a miss."""
    res, d, n, m = ctx.results, run.d, run.n, ctx.mode
    run.restart_watch()
    t0 = mono()
    if d.kind == "taskmaster":
        d.metrics_port = free_port()
        with open(d.path("start.err"), "w+") as err:  # a file, not a pipe: the daemon may keep it open
            done = subprocess.run([ctx.taskmaster, "-c", d.config, "--daemon", "--socket", d.path("sock"),
                                   "--pidfile", d.path("pid"), "--log", d.log,
                                   "--metrics", f"127.0.0.1:{d.metrics_port}"], env=d.env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=err, preexec_fn=scale_limit_preexec(ctx))
            err.seek(0)
            if done.returncode != 0:
                raise ScaleMiss(f"taskmaster --daemon exited with {done.returncode}: {err.read().strip()[:300]}")
        with open(d.path("pid")) as f:
            d.pid = int(f.read())
    else:
        d.start()
    res.add("scale_exist", d.kind, run.wait_all_exist() - t0)
    time.sleep(1.5)  # past starttime: every instance RUNNING
    states = d.status()
    running = sum(s == "RUNNING" for s, _ in states.values())
    if running != n:
        raise ScaleMiss(f"{running} of {n} instances RUNNING after the start")
    for _ in range(m["scale_ctl"][d.kind]):
        res.add("scale_status", d.kind, d.run("status")[0])
        res.add("scale_version", d.kind, d.run(*d.cheapest())[0])
        if d.kind == "taskmaster":
            res.add("scale_metrics", d.kind, scrape_seconds(d.metrics_port, n))
    scale_kills(ctx, d, states)
    time.sleep(2.0)  # past the starttime (1 s) of the last replacement: nothing left to do but idle
    res.add("scale_rss", d.kind, rss_mib(d.pid))
    cpu0, sw0, w0 = cpu_seconds(d.pid), voluntary_switches(d.pid), mono()
    time.sleep(m["scale_idle"])
    res.add("scale_idle_wakeups", d.kind, (voluntary_switches(d.pid) - sw0) / (mono() - w0))
    res.add("scale_idle_cpu", d.kind, 100 * (cpu_seconds(d.pid) - cpu0) / (mono() - w0))
    before = d.status()
    took, _ = d.run("stop", "all")
    res.add("scale_stop_all", d.kind, took)
    left = sum(alive(pid) for _, pid in before.values() if pid)
    if left:
        res.notes.append(f"scale, {d.kind}: {left} of {n} processes still alive after `stop all` returned")
    scale_start_all(ctx, run)
    time.sleep(1.5)  # past starttime: the shutdown is of N RUNNING processes
    res.add("scale_shutdown", d.kind, d.shutdown())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape_seconds(port, n):
    """One `GET /metrics` of taskmaster's Prometheus endpoint on a new connection, as Prometheus scrapes: wall
    seconds until the whole answer is read. The answer must show the n instances."""
    start = mono()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    took = mono() - start
    shown = body.count(b"\ntaskmaster_process_up{")
    if response.status != 200 or shown != n:
        raise ScaleMiss(f"GET /metrics: status {response.status}, {shown} of {n} instances shown")
    return took


def scale_kills(ctx, d, states):
    """SIGKILLs a different RUNNING instance each time, spread over the programs; times until a new child exists."""
    known = {pid for _, pid in states.values()}
    names = sorted(states)
    pick, pauses = random.Random(7), random.Random(8)
    for name in pick.sample(names, min(ctx.mode["restart_repeats"], len(names))):
        time.sleep(pauses.uniform(0.05, 0.3))
        watch = NewChildWatch(d.pid, known)
        start = mono()
        os.kill(states[name][1], signal.SIGKILL)
        new_pid, seen = watch.wait(timeout=30)
        known.add(new_pid)
        ctx.results.add("scale_kill", d.kind, seen - start)


def scale_start_all(ctx, run):
    """`start all` of every instance from stopped, with `status` sent one after the other while it runs: the time
    each status takes to be answered, and the time until every process exists again."""
    d, res = run.d, ctx.results
    run.restart_watch()
    start = mono()
    client = d.popen("start", "all")
    answered, end = [], None
    try:
        while end is None:
            answered.append(d.run("status", check=False)[0])
            end = run.poll()
    finally:
        try:
            client.wait(timeout=120)
        except subprocess.TimeoutExpired:
            client.kill()
            client.wait()
            res.notes.append(f"scale, {d.kind}: `start all` had not returned 120 s after every process existed")
    for took in answered:
        res.add("scale_status_during_start", d.kind, took)
    res.add("scale_start_all", d.kind, end - start)


def memory_empty(ctx, cls):
    d = cls(ctx)
    d.write_config([])
    d.start()
    wait_ready(d)
    time.sleep(1.0)
    ctx.results.add("rss_0", d.kind, rss_mib(d.pid))
    d.shutdown()
    d.leftovers()


def crash_loop(ctx, cls, attempts=3):
    """`false` with startretries 3: the time from the first spawn to FATAL, by the supervisor's own log clock.
    A run that never reaches FATAL is noted and run again, `attempts` times at most."""
    for _ in range(attempts):
        if crash_loop_once(ctx, cls):
            return


def crash_loop_once(ctx, cls):
    d = cls(ctx)
    d.write_config([Program("crash", ["false"], starttime=1, startretries=3, autorestart=False)])
    watch = LogWatch(d.log)
    spawns, fatal, running = [], [], []

    def on_line(line):
        if d.SPAWNED.search(line):
            spawns.append(d.log_time(line))
        if d.FATAL.search(line):
            fatal.append(d.log_time(line))
        if d.RUNNING.search(line):
            running.append(d.log_time(line))

    d.start()
    # A program that exits at once can still be counted RUNNING by a supervisor that checks its start time
    # before it reaps the exit (supervisord under load): then it ends EXITED, never FATAL.
    wait_log(d, watch, lambda: fatal or (running and time.sleep(1.5) is None), timeout=60, on_line=on_line)
    state = d.status().get(d.instance("crash", 0), ("?", 0))[0]
    reached = bool(fatal) and state == "FATAL"
    if reached:
        ctx.results.add("crash_fatal", d.kind, fatal[0] - spawns[0])
        ctx.results.add("crash_spawns", d.kind, len(spawns))
    else:
        ctx.results.notes.append(
            f"{d.kind}: a crash loop ended in {state} after {len(spawns)} spawn(s), not FATAL: the instantly "
            f"exiting program was counted RUNNING ({len(running)} time(s)) before its exit was noticed; run again")
    d.shutdown()
    d.leftovers()
    return reached


ROTATE_AT = 50 * 1024 * 1024  # 50MB as both read it: 50 MiB


def size_text(size):
    return f"{size >> 30} GiB" if size % GIB == 0 else f"{size >> 20} MiB"


def output_scenario(ctx):
    """`head -c SIZE /dev/zero` with stdout captured to a file, rotation off and rotation at 50MB, under each
    supervisor, and alone (`head > file`): the five interleaved run by run so that they share the machine's state
    (page cache, writeback, load). With rotation, enough backups are kept for the whole output (the sum of the
    files is watched)."""
    size = ctx.mode["output_bytes"]
    ctx.results.output_bytes = size
    backups = size // ROTATE_AT + 2
    daemons = []
    for cls in KINDS:
        d = cls(ctx)
        d.targets = {"out": d.path("out.bin"), "rot": d.path("rot.bin")}
        argv = ["head", "-c", str(size), "/dev/zero"]
        common = dict(autostart=False, autorestart=False, starttime=0, startretries=0)
        d.write_config([Program("out", argv, stdout=d.targets["out"], **common),
                        Program("rot", argv, stdout=d.targets["rot"], maxbytes=ROTATE_AT, backups=backups, **common)])
        d.start()
        wait_ready(d)
        daemons.append(d)
    runners = [lambda: output_alone(ctx, size)]
    runners += [lambda d=d, p=p: output_supervised(ctx, d, p, size) for d in daemons for p in ("out", "rot")]
    for run in range(ctx.mode["output_runs"]):
        for i in range(len(runners)):  # a different one goes first each time
            runners[(run + i) % len(runners)]()
    for d in daemons:
        d.shutdown()
        d.leftovers()


def output_files(target):
    """The file and its rotated backups (target.1, target.2, ...)."""
    directory, base = os.path.split(target)
    return [os.path.join(directory, n) for n in os.listdir(directory)
            if n == base or n.startswith(base + ".") and n[len(base) + 1:].isdigit()]


def output_supervised(ctx, d, program, size):
    """From the child's appearance until the files hold SIZE bytes; the daemon's CPU from the start command to the
    exit."""
    target = d.targets[program]
    for path in output_files(target):
        os.unlink(path)
    cpu0 = cpu_seconds(d.pid)
    watch = NewChildWatch(d.pid, children(d.pid))
    client = d.popen("start", program)
    child, start = watch.wait(timeout=30)
    end = wait_size(target, size, rotated=program == "rot")
    client.wait(timeout=60)
    deadline = mono() + 30
    while alive(child) and mono() < deadline:
        time.sleep(0.005)
    time.sleep(0.2)  # let the daemon take the exit in
    metric = "output_time" if program == "out" else "output_rot_time"
    ctx.results.add(metric, d.kind, end - start)
    ctx.results.add(metric.replace("_time", "_cpu"), d.kind, cpu_seconds(d.pid) - cpu0)
    for path in output_files(target):
        os.unlink(path)


def output_alone(ctx, size):
    target = os.path.join(ctx.tmp, "head.bin")
    with open(target, "wb") as out:
        start = mono()
        head = subprocess.Popen(["head", "-c", str(size), "/dev/zero"], stdout=out)
    end = wait_size(target, size)  # watched the same way as under a supervisor
    head.wait()
    ctx.results.add("output_time", "reference", end - start)
    os.unlink(target)


def wait_size(path, size, timeout=300, rotated=False):
    """Polls every millisecond until the file at path (with its backups, when rotated) holds size bytes; returns
    the time it did. Backups are renamed while they are looked at: a sum is believed when the next one agrees."""
    deadline = mono() + timeout
    first = None
    while mono() < deadline:
        total = 0
        for name in output_files(path) if rotated else [path]:
            try:
                total += os.stat(name).st_size
            except FileNotFoundError:
                pass
        if total >= size:
            if not rotated:
                return mono()
            if first is not None:
                return first
            first = mono()
        else:
            first = None
        time.sleep(0.001)
    raise TimeoutError(f"{path} did not reach {size} bytes")


# The flood scenario: FLOOD_N programs, each writing fixed-size numbered lines as fast as it can for the mode's
# flood_seconds, into its own file rotated at FLOOD_ROTATE with one backup; `status` timed again and again.
FLOOD_N = 100
FLOOD_LINE = 100
FLOOD_ROTATE = 4 * 1024 * 1024


# The XML-RPC scenario: XMLRPC_N processes of one program on one supervisord.conf, served by each daemon on its
# [unix_http_server] socket in turn; the real supervisorctl, and getAllProcessInfo sent by the bench itself.
XMLRPC_N = 1000
XMLRPC_MINFDS = 4096  # about three descriptors per process (pipes, pidfd) and the rest: above the default 1024


class XmlrpcTaskmaster(Supervisord):
    """taskmaster on the same supervisord.conf as supervisord, driven by supervisorctl through its XML-RPC socket."""

    kind = "taskmaster"

    def start(self):
        """taskmaster --daemon returns once it is ready."""
        done = subprocess.run([self.ctx.taskmaster, "-c", self.config, "--daemon", "--socket", self.path("tm.sock"),
                               "--pidfile", self.path("pid"), "--log", self.log], env=self.env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              preexec_fn=scale_limit_preexec(self.ctx))
        if done.returncode != 0:
            raise RuntimeError(f"taskmaster --daemon exited with {done.returncode}: {done.stderr.strip()[:300]}")
        with open(self.path("pid")) as f:
            self.pid = int(f.read())

    def shutdown(self, timeout=120):
        return Supervisor.shutdown(self, timeout)


class XmlrpcSupervisord(Supervisord):
    def start(self):
        self.process = subprocess.Popen([self.ctx.supervisord, "-n", "-c", self.config], env=self.env,
                                        stdin=subprocess.DEVNULL, stdout=open(self.path("stdout"), "w"),
                                        stderr=subprocess.STDOUT, start_new_session=True,
                                        preexec_fn=scale_limit_preexec(self.ctx))
        self.pid = self.process.pid


def xmlrpc_write_config(d):
    """The supervisord.conf both daemons read: supervisord's of the bench, minfds raised (each daemon raises its own
    soft limit to it: both start under the soft limit of --scale-nofile, 1024 by default)."""
    d.write_config([Program("sleep", ["sleep", "1000"], numprocs=XMLRPC_N)])
    with open(d.config) as f:
        text = f.read()
    with open(d.config, "w") as f:
        f.write(text.replace("[supervisord]\n", f"[supervisord]\nminfds={XMLRPC_MINFDS}\n", 1))


class RpcConnection:
    """One kept-alive HTTP connection on a daemon's Unix socket, on which the same XML-RPC request is sent again and
    again, its reply read to the last byte of its Content-Length."""

    def __init__(self, path, method):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(path)
        body = f"<?xml version='1.0'?>\n<methodCall>\n<methodName>{method}</methodName>\n<params>\n</params>\n" \
               f"</methodCall>\n".encode()
        self.request = (b"POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: identity\r\n"
                        b"Content-Type: text/xml\r\nAccept: text/xml\r\nContent-Length: "
                        + str(len(body)).encode() + b"\r\n\r\n" + body)
        self.pending = b""

    def call(self):
        """Sends the request; returns (seconds until the reply's last byte, the reply's body)."""
        start = mono()
        self.sock.sendall(self.request)
        data, length, head = self.pending, None, b""
        while True:
            if length is None and b"\r\n\r\n" in data:
                head, _, data = data.partition(b"\r\n\r\n")
                status = head.split(b" ", 2)[1]
                if status != b"200":
                    raise RuntimeError(f"HTTP {status.decode()} to getAllProcessInfo")
                lengths = [int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")]
                if not lengths:
                    raise RuntimeError("a reply without Content-Length")
                length = lengths[0]
            if length is not None and len(data) >= length:
                took = mono() - start
                self.pending = data[length:]
                return took, data[:length]
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise RuntimeError("the daemon closed the kept-alive connection")
            data += chunk

    def close(self):
        self.sock.close()


def xmlrpc_states(d):
    """{statename: count} by getAllProcessInfo on a new connection."""
    import xmlrpc.client
    connection = RpcConnection(d.path("sock"), "supervisor.getAllProcessInfo")
    try:
        _, body = connection.call()
    finally:
        connection.close()
    (infos,), _ = xmlrpc.client.loads(body)
    counts = {}
    for info in infos:
        counts[info["statename"]] = counts.get(info["statename"], 0) + 1
    return counts


def xmlrpc_scenario(ctx):
    for cls in (XmlrpcTaskmaster, XmlrpcSupervisord):
        log(f"XML-RPC, {XMLRPC_N} processes: {cls.kind}")
        d = cls(ctx)
        try:
            xmlrpc_write_config(d)
            xmlrpc_run(ctx, d)
        except (RuntimeError, TimeoutError, OSError, ValueError, subprocess.SubprocessError) as e:
            ctx.results.fail("xmlrpc", d.kind, f"{type(e).__name__}: {e}")
            log(f"XML-RPC, {d.kind}: MISSED: {e}")
        finally:
            if d.pid is not None and alive(d.pid):
                d.shutdown()
            d.leftovers()


def xmlrpc_run(ctx, d):
    res, m = ctx.results, ctx.mode
    d.start()
    started, answered = mono(), None
    while True:  # every process RUNNING, asked over XML-RPC (a daemon that does not answer yet: retried)
        try:
            counts, error = xmlrpc_states(d), None
            answered = answered or mono()
        except (OSError, RuntimeError, ValueError) as e:
            counts, error = {}, e
        if counts.get("RUNNING") == XMLRPC_N:
            break
        if answered is None and mono() - started > 30:
            raise RuntimeError(f"no XML-RPC answer on {d.path('sock')} 30 s after the start: {error}")
        if mono() - started > 300:
            raise TimeoutError(f"not all {XMLRPC_N} RUNNING after 300 s: {counts}")
        time.sleep(0.5)
    for _ in range(m["xmlrpc_ctl"][d.kind]):
        took, done = d.run("status")
        if done.stdout.count(" RUNNING ") != XMLRPC_N:
            raise RuntimeError(f"supervisorctl status showed {done.stdout.count(' RUNNING ')} RUNNING")
        res.add("xmlrpc_ctl_status", d.kind, took)
        res.add("xmlrpc_ctl_version", d.kind, d.run("version")[0])
    connection = RpcConnection(d.path("sock"), "supervisor.getAllProcessInfo")
    try:
        connection.call()  # the first, left out: what is measured is the server's answer on an open connection
        for _ in range(m["xmlrpc_calls"]):
            took, body = connection.call()
            if body.count(b"<name>statename</name>") != XMLRPC_N:
                raise RuntimeError("getAllProcessInfo did not return every process")
            res.add("xmlrpc_getall", d.kind, took)
    finally:
        connection.close()


def flood_scenario(ctx):
    for cls in KINDS:
        log(f"flood of {FLOOD_N} programs: {cls.kind}")
        try:
            flood_run(ctx, cls)
        except (RuntimeError, TimeoutError, OSError, subprocess.SubprocessError) as e:
            ctx.results.fail("flood", cls.kind, f"{type(e).__name__}: {e}")
            log(f"flood, {cls.kind}: MISSED: {e}")


def flood_run(ctx, cls):
    res, seconds = ctx.results, ctx.mode["flood_seconds"]
    d = cls(ctx)
    programs = [Program(f"f{i:03}", [ctx.writer, "--flood", str(seconds), str(FLOOD_LINE), f"f{i:03}"],
                        autorestart=False, starttime=0, startretries=0, stdout=d.path(f"f{i:03}.log"),
                        maxbytes=FLOOD_ROTATE, backups=1) for i in range(FLOOD_N)]
    d.write_config(programs)
    try:
        d.start()
        wait_ready(d)
        cpu0, started = cpu_seconds(d.pid), mono()
        states = {}
        while not states or any(state == "STARTING" for state, _ in states.values()):
            states = d.status()
            if mono() - started > 60:
                raise TimeoutError("the flood programs did not all start")
        # `status` one after the other while the programs write (the last second left out: they end then), by the
        # client program and straight over the socket in turn.
        times, raw = [], []
        while mono() - started < seconds - 1 or not times:
            took, _ = d.run("status")
            times.append(took)
            raw.append(d.socket_status())
        for took in times:
            res.add("flood_status", d.kind, took)
        for took in raw:
            res.add("flood_status_socket", d.kind, took)
        while any(state in ("RUNNING", "STARTING") for state, _ in d.status().values()):
            if mono() - started > seconds + 120:
                raise TimeoutError("the flood programs did not all exit")
            time.sleep(0.1)
        time.sleep(0.5)  # the last bytes of the pipes
        res.add("flood_cpu", d.kind, cpu_seconds(d.pid) - cpu0)
        written, bad = 0, 0
        for p in programs:
            lines, broken = flood_check(p.stdout, p.name)
            written += lines * FLOOD_LINE
            bad += broken
        res.add("flood_rate", d.kind, written / seconds / (1 << 20))
        res.add("flood_bad_lines", d.kind, bad)
    finally:
        if d.pid is not None and alive(d.pid):
            d.shutdown()
        d.leftovers()


def flood_check(path, tag):
    """Reads FILE.1 then FILE: (lines the program wrote, by the number of its last line; lines split, mixed or
    lost). A good line is "TAG <12-digit number> xxx...": every line of the right length and shape, the numbers
    consecutive across the two files."""
    tag = tag.encode() + b" "
    fill = FLOOD_LINE - len(tag) - 13 - 1
    bad, previous, data = 0, None, b""
    for name in (path + ".1", path):
        try:
            with open(name, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            continue
        n = len(data) // FLOOD_LINE
        shaped = (len(data) % FLOOD_LINE == 0 and data[FLOOD_LINE - 1::FLOOD_LINE] == b"\n" * n
                  and data.count(b"\n") == n and data.count(tag) == n and data.count(b"x") == n * fill)
        if not shaped:  # count the lines that are not whole, one by one
            bad += sum(1 for line in data.split(b"\n")[:-1]
                       if len(line) != FLOOD_LINE - 1 or not line.startswith(tag) or line.count(b"x") != fill)
            bad += 1 if data and not data.endswith(b"\n") else 0
            previous = None
            continue
        if n:
            first = int(data[len(tag):len(tag) + 12])
            last = int(data[-FLOOD_LINE + len(tag):-FLOOD_LINE + len(tag) + 12])
            if last - first + 1 != n or previous is not None and first != previous + 1:
                bad += 1  # lines lost or repeated: counted once
            previous = last
    last_line = data[-FLOOD_LINE:]
    if len(last_line) == FLOOD_LINE and last_line.startswith(tag) and last_line[len(tag):len(tag) + 12].isdigit():
        return int(last_line[len(tag):len(tag) + 12]) + 1, bad
    return 0, bad


def wait_ready(d, timeout=30):
    """taskmaster --daemon returns once ready; supervisord is ready when it answers on its socket."""
    deadline = mono() + timeout
    while d.kind == "supervisord" and d.run("version", check=False)[1].returncode != 0:
        if mono() > deadline:
            raise TimeoutError("supervisord did not answer")
        time.sleep(0.05)


def spawn_reference(ctx, n):
    done = subprocess.run([ctx.spawnref, "hold", str(n)], capture_output=True, text=True, check=True)
    ctx.results.add(f"spawn_exist_{n}", "reference", float(done.stdout.split()[1]))


def spawn_loop_reference(ctx):
    for _ in range(ctx.mode["ref_runs"]):
        done = subprocess.run([ctx.spawnref, "loop", str(ctx.mode["spawn_loop"])], capture_output=True, text=True,
                              check=True)
        ctx.results.add("spawn_loop", "reference", float(done.stdout.split()[1]))


def reload_run(ctx, cls):
    """100 programs, one changed: `reload` (supervisorctl `update`), then SIGHUP with another change."""
    res = ctx.results
    d = cls(ctx)
    programs = [Program(f"p{i:03}", ["sleep", "1000"]) for i in range(100)]
    d.write_config(programs)
    watch = LogWatch(d.log)
    running = set()
    d.start()
    wait_log(d, watch, lambda: len(running) >= 100, timeout=120,
             on_line=lambda line: (m := d.RUNNING.search(line)) and running.add(m.group(1)))

    def settle(changed, before, start, timeout=120):
        """Polls status until every instance is RUNNING and `changed` has a new pid; returns (seconds, states)."""
        deadline = mono() + timeout
        while True:
            try:
                states = d.status()
            except RuntimeError:  # supervisord restarting after SIGHUP does not answer
                states = {}
            if (len(states) == 100 and all(s == "RUNNING" for s, _ in states.values())
                    and states[changed][1] != before[changed][1]):
                return mono() - start, states
            if mono() > deadline:
                raise TimeoutError(f"{d.kind}: the reload did not settle: {states}")
            time.sleep(0.02)

    def kept(before, after, changed):
        return sum(after[name][1] == pid for name, (_, pid) in before.items() if name != changed)

    # reload / update, p050 changed
    before = d.status()
    programs[50].argv = ["sleep", "1001"]
    d.write_config(programs)
    start = mono()
    took, _ = d.run(*d.reload_command())
    res.add("reload_command", d.kind, took)
    settled, after = settle("p050", before, start)
    res.add("reload_settled", d.kind, settled)
    res.add("reload_kept", d.kind, kept(before, after, "p050"))

    # SIGHUP, p051 changed
    before = after
    programs[51].argv = ["sleep", "1001"]
    d.write_config(programs)
    start = mono()
    os.kill(d.pid, signal.SIGHUP)
    time.sleep(0.05)
    settled, after = settle("p051", before, start)
    res.add("sighup_settled", d.kind, settled)
    res.add("sighup_kept", d.kind, kept(before, after, "p051"))
    d.shutdown()
    d.leftovers()


# ---------------------------------------------------------------------------------------------------------------
# Setup: taskmaster build, spawn reference, supervisord


def build_taskmaster(build_dir):
    if not os.path.exists(os.path.join(build_dir, "build.ninja")):
        subprocess.run(["meson", "setup", build_dir, "--buildtype=release"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
    subprocess.run(["ninja", "-C", build_dir, "apps/taskmaster"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return os.path.join(build_dir, "apps", "taskmaster")


def build_writer(build_dir):
    """The line writer of the flood scenario: the tests' child program (tests/helper/tm_helper.cpp)."""
    out = os.path.join(build_dir, "tm_helper")
    subprocess.run(["c++", "-O2", "-std=c++20", "-o", out, os.path.join(ROOT, "tests", "helper", "tm_helper.cpp")],
                   check=True)
    return out


def build_spawnref(build_dir):
    out = os.path.join(build_dir, "spawnref")
    subprocess.run(["cc", "-O2", "-Wall", "-o", out, os.path.join(HERE, "spawnref.c")], check=True)
    return out


def ensure_supervisord():
    """supervisord to compare with: `make deps-test` (which `make bench` runs) installs Debian's package."""
    if not (shutil.which("supervisord") and shutil.which("supervisorctl")):
        sys.exit("supervisord is not installed: `make deps-test` installs it (its service kept from starting)")


def machine_description(ctx):
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) / 1024 / 1024

    def first_line(argv):
        try:
            done = subprocess.run(argv, capture_output=True, text=True)
            return (done.stdout or done.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"

    with open(ctx.supervisord) as f:
        interpreter = f.readline().strip().lstrip("#!")
    commit = first_line(["git", "-C", ROOT, "describe", "--always", "--dirty"])
    return [
        ("CPU", f"{cpu}, {os.cpu_count()} logical CPUs ({len(os.sched_getaffinity(0))} usable)"),
        ("memory", f"{mem:.1f} GiB"),
        ("kernel", f"{platform.system()} {platform.release()}"),
        ("OS", first_line(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"])),
        ("taskmaster", f"{first_line([ctx.taskmaster, '--version'])} (git {commit}), meson release build"),
        ("supervisord", f"{first_line([ctx.supervisord, '--version'])} on "
                        f"{first_line([interpreter, '--version'])}"),
        ("compiler", first_line(["c++", "--version"])),
    ]


# ---------------------------------------------------------------------------------------------------------------
# The table


def fmt_time(seconds):
    if seconds is None:
        return "—"
    if seconds == 0:
        return "0 ms"
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms" if seconds < 0.1 else f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"


def fmt_mib(value):
    return "—" if value is None else f"{value:.1f} MiB"


def fmt_num(value, unit=""):
    return "—" if value is None else f"{value:.2f}{unit}".replace(".00", "")


def ratio(sv, tm):
    if sv is None or tm is None:
        return "—"
    if tm == 0:
        return "∞" if sv > 0 else "—"
    return f"{sv / tm:.1f}×" if sv / tm < 100 else f"{sv / tm:.0f}×"


def paired_ratio(r, metric, ref_metric=None):
    """taskmaster ÷ reference: the median of the run-by-run ratios when each taskmaster run has its own reference
    run next to it (robust to the machine's drift), else the ratio of the medians."""
    tm, ref = r.get(metric, "taskmaster"), r.get(ref_metric or metric, "reference")
    if not tm or not ref:
        return None
    if len(tm) == len(ref):
        return statistics.median(t / x for t, x in zip(tm, ref))
    return statistics.median(tm) / statistics.median(ref)


def build_rows(r):
    """(scenario, taskmaster, supervisord, ratio, target) for every row of the table."""
    rows = []
    med, worst = r.median, r.worst

    def row(label, metric, fmt, target=None, how=med, scenario=None, compare=True):
        tm, sv = how(metric, "taskmaster"), how(metric, "supervisord")
        shown = [fmt(tm), fmt(sv)]
        for i, kind in enumerate(("taskmaster", "supervisord")):
            if (tm, sv)[i] is None and (scenario, kind) in r.failures:
                shown[i] = "not measured (see notes)"
        if target and tm is not None:
            goal = target(tm)
        elif target and (scenario, "taskmaster") in r.failures:
            goal = "**MISSED**: not measured, see notes"
        else:
            goal = ""
        rows.append((label, *shown, ratio(sv, tm) if compare else "—", goal))

    def verdict(ok, text):
        return f"{text}: **{'met' if ok else 'MISSED'}**"

    ns = sorted({int(k[0].rsplit("_", 1)[1]) for k in r.samples if k[0].startswith("spawn_exist_")})
    for n in ns:
        ratio_to_ref = paired_ratio(r, f"spawn_exist_{n}")
        target = None
        if n == 1000 and ratio_to_ref:
            target = lambda tm, x=ratio_to_ref: verdict(x <= 1.5, f"≤ 1.5 × `posix_spawnp` (is {x:.2f}×)")
        row(f"1. spawn {n}: all exist", f"spawn_exist_{n}", fmt_time, target)
        row(f"1. spawn {n}: all RUNNING (starttime 1 s)", f"spawn_running_{n}", fmt_time)
    for n in ns:
        target = (lambda tm: verdict(tm == 0, "0")) if n == 1000 else None
        row(f"2. idle, {n} running: wake-ups per second", f"idle_wakeups_{n}", lambda v: fmt_num(v, "/s"), target)
        row(f"2. idle, {n} running: CPU", f"idle_cpu_{n}", lambda v: fmt_num(v, " %"))
    row("3. memory (RSS), 0 processes", "rss_0", fmt_mib, lambda tm: verdict(tm is not None and tm < 3, "< 3 MiB"))
    for n in ns:
        target = (lambda tm: verdict(tm is not None and tm < 8, "< 8 MiB")) if n == 1000 else None
        row(f"3. memory (RSS), {n} processes", f"rss_{n}", fmt_mib, target)
    for n in ns:
        target = (lambda tm: verdict(tm is not None and tm < 0.020, "< 20 ms")) if n == 1000 else None
        row(f"4. `status` (all), {n} processes", f"ctl_status_all_{n}", fmt_time, target)
        row(f"4. `status NAME`, {n} processes", f"ctl_status_one_{n}", fmt_time)
        target = (lambda tm: verdict(tm is not None and tm < 0.005, "< 5 ms")) if n == 1000 else None
        row(f"4. cheapest command (`version`), {n} processes", f"ctl_cheapest_{n}", fmt_time, target)
    row("5. restart after SIGKILL, 100 running, a different instance each time: median", "restart", fmt_time,
        lambda tm: verdict(tm is not None and tm < 0.005, "< 5 ms"))
    row("5. restart after SIGKILL, 100 running, a different instance each time: worst", "restart", fmt_time,
        lambda tm: verdict(tm is not None and tm < 0.020, "< 20 ms"), how=worst)
    same = "5. restart after SIGKILL, the same instance again and again (starttime 0, autorestart always)"
    row(f"{same}: median", "restart_same", fmt_time,
        lambda tm: verdict(tm < 0.005, "< 5 ms"), scenario="restart_same")
    row(f"{same}: worst", "restart_same", fmt_time,
        lambda tm: verdict(tm < 0.020, "< 20 ms"), how=worst, scenario="restart_same")
    row("6. crash loop (`false`, startretries 3): first spawn to FATAL", "crash_fatal", fmt_time)
    row("6. crash loop: spawns until FATAL", "crash_spawns", fmt_num)
    size = size_text(r.output_bytes)
    for metric, how in (("output", "rotation off"), ("output_rot", "rotation at 50MB")):
        to_head = paired_ratio(r, f"{metric}_time", "output_time")
        row(f"7. {size} of output to a file, {how}: time", f"{metric}_time", fmt_time,
            (lambda tm, x=to_head: verdict(x <= 1.25, f"≤ 1.25 × `head > file` (is {x:.2f}×)"))
            if to_head else None,
            scenario="output")
        sv_cpu = r.median(f"{metric}_cpu", "supervisord")
        row(f"7. {size} of output to a file, {how}: daemon CPU", f"{metric}_cpu", fmt_time,
            (lambda tm, sv=sv_cpu: verdict(tm < sv / 2, "< ½ of supervisord's")) if sv_cpu else None,
            scenario="output")
    for n in ns:
        row(f"8. `stop all`, {n} running", f"stop_all_{n}", fmt_time)
        target = (lambda tm: verdict(tm is not None and tm < 1, "< 1 s")) if n == 1000 else None
        row(f"8. shutdown (SIGTERM until exit), {n} running", f"shutdown_{n}", fmt_time, target)
    row("9. reload, 1 of 100 changed: command (supervisord: `update`)", "reload_command", fmt_time)
    row("9. reload: until the changed one is RUNNING again", "reload_settled", fmt_time)
    row("9. reload: pids kept of the 99 unchanged", "reload_kept", fmt_num)
    row("9. SIGHUP, 1 of 100 changed: until all RUNNING again", "sighup_settled", fmt_time)
    row("9. SIGHUP: pids kept of the 99 unchanged", "sighup_kept", fmt_num)
    scale_rows(r, row, verdict)
    flood_rows(r, row, verdict)
    xmlrpc_rows(r, row, verdict)
    return [(a, b, c, "—" if "kept" in a or "spawns until" in a or "split" in a else d, e) for a, b, c, d, e in rows]


def xmlrpc_rows(r, row, verdict):
    at = f"12. XML-RPC, {XMLRPC_N:,} processes"
    row(f"{at}: `supervisorctl status`", "xmlrpc_ctl_status", fmt_time, scenario="xmlrpc")
    row(f"{at}: `supervisorctl version` (the client's own start-up, nearly)", "xmlrpc_ctl_version", fmt_time,
        scenario="xmlrpc")
    sv = r.median("xmlrpc_getall", "supervisord")
    row(f"{at}: `getAllProcessInfo` on an open keep-alive connection, request sent to last byte", "xmlrpc_getall",
        fmt_time,
        (lambda tm: verdict(sv / tm >= 10, f"≥ 10× less than supervisord's (is {sv / tm:.0f}×)")) if sv else None,
        scenario="xmlrpc")


def flood_rows(r, row, verdict):
    at = f"11. flood, {FLOOD_N} programs writing lines as fast as they can"
    row(f"{at}: `status`, median", "flood_status", fmt_time, lambda tm: verdict(tm < 0.020, "< 20 ms"),
        scenario="flood")
    row(f"{at}: `status`, 99th percentile", "flood_status", fmt_time, lambda tm: verdict(tm < 0.020, "< 20 ms"),
        how=r.p99, scenario="flood")
    row(f"{at}: `status`, worst", "flood_status", fmt_time, how=r.worst, scenario="flood")
    row(f"{at}: status over the socket (no client start-up), median", "flood_status_socket", fmt_time,
        lambda tm: verdict(tm < 0.020, "< 20 ms"), scenario="flood")
    row(f"{at}: status over the socket, 99th percentile", "flood_status_socket", fmt_time,
        lambda tm: verdict(tm < 0.020, "< 20 ms"), how=r.p99, scenario="flood")
    row(f"{at}: written to the files, all programs", "flood_rate", lambda v: fmt_num(v, " MiB/s"), scenario="flood")
    row(f"{at}: daemon CPU", "flood_cpu", fmt_time, scenario="flood")
    row(f"{at}: lines split, mixed or lost", "flood_bad_lines", fmt_num, lambda tm: verdict(tm == 0, "0"),
        scenario="flood")


def scale_rows(r, row, verdict):
    """The scale scenario's rows: taskmaster at SCALE_N["taskmaster"], supervisord at SCALE_N["supervisord"] (no
    ratio between the two: they do not hold the same number of processes)."""
    n = SCALE_N["taskmaster"]
    at = f"taskmaster {n:,}, supervisord {SCALE_N['supervisord']:,} running"

    def srow(label, metric, fmt, target=None, how=r.median):
        row(f"10. scale: {label}", metric, fmt, target, how, scenario="scale", compare=False)

    to_ref = paired_ratio(r, "scale_exist", f"scale_ref_{n}")
    srow("start until every process exists", "scale_exist", fmt_time,
         lambda tm: verdict(to_ref <= 1.5, f"≤ 1.5 × `posix_spawnp` of {n:,} (is {to_ref:.2f}×)") if to_ref
         else f"≤ 1.5 × `posix_spawnp` of {n:,}: no reference run")
    srow(f"`status` (all), {at}", "scale_status", fmt_time, lambda tm: verdict(tm < 0.050, "< 50 ms"))
    srow(f"`version`, {at}", "scale_version", fmt_time, lambda tm: verdict(tm < 0.005, "< 5 ms"))
    srow(f"`GET /metrics` (Prometheus, taskmaster only), {at}", "scale_metrics", fmt_time,
         lambda tm: verdict(tm < 0.100, "< 100 ms"))
    srow(f"SIGKILL → replacement exists, {at}: median", "scale_kill", fmt_time,
         lambda tm: verdict(tm < 0.005, "< 5 ms"))
    srow(f"SIGKILL → replacement exists, {at}: worst", "scale_kill", fmt_time,
         lambda tm: verdict(tm < 0.020, "< 20 ms"), how=r.worst)
    srow("`status` answered during a `start all`: median", "scale_status_during_start", fmt_time)
    srow("`status` answered during a `start all`: worst", "scale_status_during_start", fmt_time,
         lambda tm: verdict(tm < 0.050, "< 50 ms"), how=r.worst)
    srow("`start all` until every process exists", "scale_start_all", fmt_time)
    srow(f"`stop all`, {at}", "scale_stop_all", fmt_time, lambda tm: verdict(tm < 2, "< 2 s"))
    srow(f"shutdown (SIGTERM until exit), {at}", "scale_shutdown", fmt_time, lambda tm: verdict(tm < 3, "< 3 s"))
    srow(f"idle, {at}: wake-ups per second", "scale_idle_wakeups", lambda v: fmt_num(v, "/s"),
         lambda tm: verdict(tm == 0, "0"))
    srow(f"idle, {at}: CPU", "scale_idle_cpu", lambda v: fmt_num(v, " %"))
    srow(f"memory (RSS), {at}", "scale_rss", fmt_mib, lambda tm: verdict(tm < 40, "< 40 MiB"))


def references(r):
    refs = []
    for key in sorted(k for k, kind in r.samples if kind == "reference"):
        value = r.median(key, "reference")
        if key.startswith("scale_ref_"):
            refs.append((f"`posix_spawnp` of {int(key.rsplit('_', 1)[1]):,} `sleep` processes, no wait (scale)",
                         fmt_time(value)))
        elif key.startswith("spawn_exist_"):
            refs.append((f"`posix_spawnp` of {key.rsplit('_', 1)[1]} `sleep` processes, no wait", fmt_time(value)))
        elif key == "spawn_loop":
            refs.append(("`posix_spawn` + `waitpid` loop of `/bin/true`", f"{value:.0f} spawns/s"))
        elif key == "output_time":
            refs.append((f"`head -c {size_text(r.output_bytes).replace(' GiB', 'G').replace(' MiB', 'M')} "
                         f"/dev/zero > file`", fmt_time(value)))
    return refs


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(header, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    out = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(out)


HEADER = ("scenario", "taskmaster", "supervisord", "ratio", "target (taskmaster)")

LIMITS = """\
## How each figure is measured, and what limits it

- **Spawn**: from launching the daemon (`taskmaster --daemon`, which returns once ready; `supervisord -n`) until
  every pid the daemon logged as spawned exists in /proc, and until its log shows every process RUNNING. It
  includes the daemon's own start-up (for supervisord, a Python interpreter). The floor is the machine's cost of
  creating a process (the `posix_spawnp` reference); supervisord adds its 1 s tick before the first spawn and
  spawns a batch per turn of its loop; `starttime`/`startsecs` of 1 s adds a second to RUNNING.
- **Idle**: utime+stime and voluntary context switches of every thread of the daemon over the idle window
  ({idle}), one second after all N are RUNNING. The CPU figure has the 10 ms resolution of the kernel's
  ticks; a voluntary context switch is a wake-up.
- **Memory**: VmRSS one second after everything is RUNNING (shared libraries included: for supervisord, the
  Python interpreter).
- **Control latency**: wall time of one complete client command (`taskmaster ctl ...`, `supervisorctl ...`),
  process start-up included, as a user or a script sees it. supervisorctl pays a Python start-up (~0.1 s) on
  every call; with 1000 processes the reply's size matters too.
- **Restart after SIGKILL**: from `kill(SIGKILL)` to the moment a new child of the daemon exists, seen by
  polling the last pid the kernel allocated (/proc/loadavg) every 0.2 ms (a busy loop would take the CPU the
  daemon needs on a 2-CPU machine); a different instance each time, after a random pause of 0.05 to 1.05 s so
  that the kills fall at every phase of a periodic loop. The floor is one exit notification plus one fork;
  supervisord reaps exited children once per turn of its 1 s loop and restarts them on the next turn (1 to 2 s).
  The second pair of rows is the case a user meets: one program with `starttime: 0` and `autorestart: always`
  (supervisord: `startsecs=0`, `autorestart=true`), the same instance killed each time (its current pid), a
  random 0.3 to 1.3 s after the previous kill (or 50 ms after its replacement appeared, if later), so that the
  kill falls soon after a spawn.
- **Scale**: taskmaster with 10 programs × `numprocs: {per_program}` of `sleep` ({n_tm} processes), supervisord
  with the same 10 programs and {n_sv} processes, each after a `posix_spawnp` reference run of its own N (the
  `spawnref hold` loop: nothing but spawning). taskmaster is started with the soft `RLIMIT_NOFILE` at {nofile}
  (a user's and systemd's default) and the hard limit left high: raising its own soft limit is the daemon's job.
  In order: start until the daemon has N live children (counted by the kernel's lists, /proc/PID/task/*/children,
  every 20 ms: a daemon busy spawning may write its log late); `status` and `version` repeated; {kills} SIGKILLs
  of different instances, 0.05 to 0.3 s apart, each until a new child exists; RSS, then wake-ups and CPU over
  {scale_idle} s idle; `stop all`; `start all` with `status` sent one after the other until every process exists
  again (each one's wall time); shutdown by SIGTERM with everything RUNNING. A run that cannot go on (processes
  that never exist, FATAL instances, a daemon that dies, no new process for 20 s) is reported as a miss with the
  cause read from its log, in the notes; the figures after that point are not measured.
- **Crash loop**: from the first spawn to FATAL, both read from the daemon's own log clock. Both retry after
  1, 2 and 3 s (4 spawns), so ~6 s is the rule's floor; the difference is when each counts the delay from.
- **Output**: from the moment the `head -c SIZE /dev/zero` child exists until its file holds SIZE bytes (1 GiB in
  full mode, 256 MiB in quick mode), and the daemon's CPU time over the whole start-to-exit. Both supervisors read
  the child's stdout from a pipe and write the file. With rotation at 50MB both keep enough backups for the whole
  output, and the sum of the file and its backups is watched. The floor is the file system's write speed
  (`head > file`, run alone next to each supervised run); above it, the copy through the pipe.
- **Flood**: {flood_n} programs each writing {flood_line}-byte numbered lines through a 64 KiB buffer (so writes
  end mid-line) as fast as they can for {flood_seconds} s, each into its own file rotated at 4 MiB with one
  backup; meanwhile `status` (`taskmaster ctl status`, `supervisorctl status`) one after the other, each one's
  wall time as a user sees it, client start-up included, alternating with the same request sent by the bench
  itself straight over the socket (taskmaster's JSON `status`, supervisord's XML-RPC `getAllProcessInfo`), which
  leaves the client's start-up out. The writers take every cycle the 2 CPUs give them: a client program that
  must first be started and scheduled among 100 busy processes waits for the CPU more than for the daemon.
  Afterwards every line of every file is checked: whole, the program's own, the numbers consecutive across the
  backup and the file.
- **XML-RPC**: {xmlrpc_n} `sleep` processes of one `[program:x]` (`numprocs`) in one supervisord.conf, which each
  daemon reads in turn (`taskmaster -c FILE --daemon`, `supervisord -n -c FILE`) and serves on its
  `[unix_http_server]` socket. Both are started with the soft `RLIMIT_NOFILE` at {nofile}, and the file says
  `minfds={minfds}`, to which each raises its own soft limit: about three descriptors per process (pipes, and
  taskmaster's pidfds) would leave supervisord unable to spawn most of them at 1024. Once every process is RUNNING:
  the real `supervisorctl -c FILE status`, wall time, repeated with `supervisorctl version` (almost nothing but the
  client's Python start-up: the floor of every command); then `supervisor.getAllProcessInfo` sent by the bench
  {xmlrpc_calls} times on one kept-alive connection, each from sending the request to the last byte of the reply
  (a first call left out): the server's own time.
- **Stop / shutdown**: wall time of `stop all` (both wait until everything is stopped), and from SIGTERM to the
  daemon's exit, with N `sleep`s that die at once of SIGTERM: the floor is signalling and reaping N processes.
- **Reload**: the command's wall time (`taskmaster ctl reload`, `supervisorctl update`, both reread the file and
  restart only what changed), then status polled every 20 ms until the changed program runs again under a new
  pid; then a SIGHUP (taskmaster: the same reload; supervisord: a restart of everything). "pids kept" counts the
  99 unchanged programs whose pid is the same afterwards.
- The machine is shared: absolute times drift with the load of other work (load average above). Each scenario runs
  taskmaster then supervisord back to back, and the ratios come from the medians of this one run.
"""


def all_notes(r):
    notes = list(r.notes)
    for n in (100, 1000):  # each pool run follows its own posix_spawnp run
        tm, ref = r.get(f"spawn_exist_{n}", "taskmaster"), r.get(f"spawn_exist_{n}", "reference")
        if tm and len(tm) == len(ref):
            notes.append(f"spawn {n}, taskmaster ÷ `posix_spawnp` run by run: "
                         f"{', '.join(f'{t / p:.2f}' for t, p in zip(tm, ref))}")
    n = SCALE_N["taskmaster"]
    tm, ref = r.get("scale_exist", "taskmaster"), r.get(f"scale_ref_{n}", "reference")
    if tm and len(tm) == len(ref):
        notes.append(f"scale, start of {n:,}: taskmaster ÷ `posix_spawnp` run by run: "
                     f"{', '.join(f'{t / p:.2f}' for t, p in zip(tm, ref))}")
    for metric, how in (("output_time", "rotation off"), ("output_rot_time", "rotation at 50MB")):
        tm, ref = r.get(metric, "taskmaster"), r.get("output_time", "reference")
        if tm and len(tm) == len(ref):  # interleaved run by run: compare each run with its own `head > file`
            ratios = sorted(t / h for t, h in zip(tm, ref))
            notes.append(f"{size_text(r.output_bytes)} of output, {how}, taskmaster ÷ `head > file` run by run: "
                         f"{', '.join(f'{x:.2f}' for x in ratios)} (median {statistics.median(ratios):.2f})")
    return notes


def runs_description(mode):
    pools = "; ".join(f"N={n}: {len(p)} runs ({p.count('A')} with idle, memory, control latency and shutdown, "
                      f"{p.count('B')} with stop all{' and restart latency' if n == 100 else ''})"
                      for n, p in mode["pools"].items())
    ctl = ", ".join(f"{k} {v}" for k, v in mode["ctl_repeats"].items())
    return (f"Runs in this mode: spawn pools {pools}, each after a `posix_spawnp` reference run of the same N; "
            f"control commands repeated ({ctl}) per pool of plan A; {mode['restart_repeats']} SIGKILLs per restart "
            f"scenario; scale: one run per supervisor, control commands repeated "
            f"({', '.join(f'{k} {v}' for k, v in mode['scale_ctl'].items())}), {mode['scale_idle']} s idle; "
            f"{mode['crash_runs']} crash loop(s); {mode['output_runs']} output runs of "
            f"{size_text(mode['output_bytes'])} interleaved with `head > file`; "
            f"one flood of {mode['flood_seconds']} s; "
            f"XML-RPC: `supervisorctl status` repeated "
            f"({', '.join(f'{k} {v}' for k, v in mode['xmlrpc_ctl'].items())}), "
            f"getAllProcessInfo {mode['xmlrpc_calls']} times; "
            f"{mode['reload_runs']} reload run(s).")


def write_markdown(ctx, path, machine, rows, refs, elapsed, load):
    r = ctx.results
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    mode = ctx.mode_name
    parts = [
        "# Benchmarks: taskmaster and supervisord",
        "",
        f"Generated by `tests/bench/bench.py` (`make bench`{', BENCH=full' if mode == 'full' else ''}) on {now}, "
        f"{mode} mode, in {elapsed:.0f} s. Do not edit by hand: rerun the bench.",
        "",
        "## Machine",
        "",
        markdown_table(("", ""), machine + [("load average", f"{load[0]} at the start, {load[1]} at the end")]),
        "",
        "## Results",
        "",
        "Medians over the runs of this mode; ratio = supervisord ÷ taskmaster (above 1: taskmaster is lower, "
        "i.e. faster or smaller). Targets are those of issues 5, 10 and 11; the targets relative to a physical "
        "reference compare each taskmaster run with the reference run next to it (median of the run-by-run ratios). "
        + runs_description(ctx.mode),
        "",
        markdown_table(HEADER, rows),
        "",
        "Physical references on the same machine:",
        "",
        markdown_table(("reference", "median"), refs),
        "",
    ]
    notes = all_notes(r)
    if notes:
        parts += ["Notes from this run:", ""] + [f"- {n}" for n in notes] + [""]
    idle = ", ".join(f"{s} s with {n}" for n, s in ctx.mode["idle"].items())
    limits = LIMITS.format(idle=idle, per_program=SCALE_N["taskmaster"] // SCALE_PROGRAMS,
                           n_tm=f"{SCALE_N['taskmaster']:,}", n_sv=f"{SCALE_N['supervisord']:,}",
                           nofile=ctx.scale_nofile, kills=ctx.mode["restart_repeats"],
                           scale_idle=ctx.mode["scale_idle"], flood_n=FLOOD_N, flood_line=FLOOD_LINE,
                           flood_seconds=ctx.mode["flood_seconds"], xmlrpc_n=f"{XMLRPC_N:,}",
                           minfds=XMLRPC_MINFDS, xmlrpc_calls=ctx.mode["xmlrpc_calls"])
    parts += [limits, "## Samples", "",
              "Every value measured in this run, in order (seconds, MiB, % or per second).", ""]
    sample_rows = []
    for (metric, kind), values in sorted(r.samples.items()):
        shown = ", ".join(f"{v:.4g}" for v in values)
        sample_rows.append((metric, kind, len(values), shown))
    parts += [markdown_table(("metric", "who", "n", "values"), sample_rows), ""]
    with open(path, "w") as f:
        f.write("\n".join(parts))


# ---------------------------------------------------------------------------------------------------------------
# Main


class Context:
    pass


def on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=MODES, default=os.environ.get("BENCH") or "quick")
    parser.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"))
    parser.add_argument("--taskmaster", help="use this binary instead of building build-bench/")
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (configurations, logs)")
    parser.add_argument("--only", help="comma-separated scenarios: " + ",".join(SCENARIOS))
    parser.add_argument("--scale-nofile", type=int, default=1024, metavar="N",
                        help="soft RLIMIT_NOFILE taskmaster is started with in the scale scenario (default 1024, a "
                             "user's default; the hard limit is left high)")
    args = parser.parse_args()

    ctx = Context()
    ctx.mode_name, ctx.mode = args.mode, MODES[args.mode]
    ctx.results = Results()
    ctx.scale_nofile = args.scale_nofile
    only = set(args.only.split(",")) if args.only else set(SCENARIOS)
    if only - set(SCENARIOS):
        parser.error(f"unknown scenario(s): {', '.join(sorted(only - set(SCENARIOS)))}")

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    # orphans (the detached taskmaster daemon, children of a killed daemon) become ours, not init's
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    os.environ.pop(TAG_VAR, None)
    # 1000 processes need a few thousand descriptors in either daemon: the soft limit up to the hard one. The
    # scale scenario starts taskmaster with the soft limit back at --scale-nofile (scale_limit_preexec).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > 65536:
        hard = 65536
    if soft != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    ctx.tmp = tempfile.mkdtemp(prefix="tm-bench-")
    try:
        ensure_supervisord()
        ctx.supervisord, ctx.supervisorctl = shutil.which("supervisord"), shutil.which("supervisorctl")
        if args.taskmaster:
            ctx.taskmaster = os.path.abspath(args.taskmaster)
        else:
            log(f"building taskmaster (release) in {args.build_dir}")
            ctx.taskmaster = build_taskmaster(args.build_dir)
        os.makedirs(args.build_dir, exist_ok=True)
        ctx.spawnref = build_spawnref(args.build_dir)
        if "flood" in only:
            ctx.writer = build_writer(args.build_dir)
        machine = machine_description(ctx)
        log(f"{ctx.mode_name} mode; temporary files in {ctx.tmp}")
        started = mono()
        load0 = open("/proc/loadavg").read().split()[0]

        if "ref" in only:
            log("reference: posix_spawn + waitpid loop")
            spawn_loop_reference(ctx)
        if "memory" in only:
            log("memory with no program")
            for cls in KINDS:
                memory_empty(ctx, cls)
        if "pools" in only:
            for n, plans in ctx.mode["pools"].items():
                for plan in plans:
                    log(f"pool of {n} ({plan}): posix_spawnp reference")
                    spawn_reference(ctx, n)
                    for cls in KINDS:
                        log(f"pool of {n} ({plan}): {cls.kind}")
                        pool_run(ctx, cls, n, plan)
        if "restart" in only:
            for cls in KINDS:
                log(f"restart latency, the same instance SIGKILLed {ctx.mode['restart_repeats']} times: {cls.kind}")
                try:
                    restart_same(ctx, cls)
                except (RuntimeError, TimeoutError, OSError, subprocess.SubprocessError) as e:
                    ctx.results.fail("restart_same", cls.kind, f"{type(e).__name__}: {e}")
        if "scale" in only:
            scale_scenario(ctx)
        if "crash" in only:
            for _ in range(ctx.mode["crash_runs"]):
                for cls in KINDS:
                    log(f"crash loop: {cls.kind}")
                    crash_loop(ctx, cls)
        if "output" in only:
            log(f"{size_text(ctx.mode['output_bytes'])} of output: head > file, taskmaster, supervisord, rotation "
                f"off and at 50MB")
            output_scenario(ctx)
        if "flood" in only:
            flood_scenario(ctx)
        if "xmlrpc" in only:
            xmlrpc_scenario(ctx)
        if "reload" in only:
            for _ in range(ctx.mode["reload_runs"]):
                for cls in KINDS:
                    log(f"reload of 100 programs: {cls.kind}")
                    reload_run(ctx, cls)
        elapsed = mono() - started
        load1 = open("/proc/loadavg").read().split()[0]

        rows, refs = build_rows(ctx.results), references(ctx.results)
        print()
        print(text_table(HEADER, [tuple(c.replace("**", "").replace("`", "") for c in row) for row in rows]))
        print()
        print(text_table(("reference", "median"), [tuple(c.replace("`", "") for c in row) for row in refs]))
        for note in all_notes(ctx.results):
            print(f"note: {note}")
        print(f"\n{ctx.mode_name} mode: {elapsed:.0f} s")
        if not args.no_write:
            write_markdown(ctx, args.output, machine, rows, refs, elapsed, (load0, load1))
            print(f"written to {os.path.relpath(args.output, ROOT)}")
        return 0
    except KeyboardInterrupt as e:
        print(f"\ninterrupted ({e or 'Ctrl-C'}): cleaning up", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        left = kill_tagged(RUN_TAG)
        if left:
            print(f"cleanup: killed {left} leftover processes", file=sys.stderr)
        if args.keep:
            print(f"kept {ctx.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(ctx.tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
