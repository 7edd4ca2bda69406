"""Chaos: a fleet of about 200 processes under a taskmaster daemon, hit for a fixed time by random signals to
its children, random start/stop/restart from concurrent control clients, and reloads alternating between two
configurations. Afterwards, the invariants: no zombie; every RUNNING instance has a live pid whose parent is
taskmaster, every stopped one has none; the daemon's fds and memory are back where they were; and after
`shutdown`, no descendant of taskmaster is left, grandchildren included.

Environment: TASKMASTER, TM_HELPER; CHAOS_SECONDS (default 15), CHAOS_RSS_SLACK_KIB (default 4096).
"""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

TASKMASTER = os.environ["TASKMASTER"]
HELPER = os.environ["TM_HELPER"]
SECONDS = float(os.environ.get("CHAOS_SECONDS", "15"))
# Memory may grow this much over the run (allocator caches); sanitizer builds, whose allocators keep freed
# memory in quarantine, set it higher.
RSS_SLACK_KIB = int(os.environ.get("CHAOS_RSS_SLACK_KIB", "4096"))


def config(d, variant):
    """Variant B changes commands, numprocs and live options, removes one program and adds another."""
    b = variant == "B"
    gc = f"{d}/gc-$TASKMASTER_PROCESS"
    programs = {
        "steady": dict(cmd=f"{HELPER} --forever", numprocs=120 if b else 150, starttime="200ms"),
        "families": dict(cmd=f"sh -c 'exec {HELPER} --grandchild {gc} {'--sleep 1 ' if b else ''}--forever'",
                         numprocs=30, starttime="200ms"),
        "flappy": dict(cmd=f"{HELPER} --sleep 300 --exit 1", numprocs=10, starttime="100ms",
                       autorestart="always", stoptime="2s" if b else "1s"),
        "crashy": dict(cmd=f"{HELPER} --exit 3", numprocs=5, startretries=1, starttime="200ms"),
    }
    if b:
        programs["newcomer"] = dict(cmd=f"{HELPER} --forever", numprocs=20, starttime="200ms")
    else:
        programs["stubborn"] = dict(cmd=f"{HELPER} --ignore-term --forever", numprocs=10, starttime="200ms",
                                    stoptime="300ms")
    lines = ["programs:"]
    for name, opts in programs.items():
        lines.append(f"  {name}:")
        lines.append("    autostart: true")
        for key, value in opts.items():
            lines.append(f"    {key}: {json.dumps(value) if key == 'cmd' else value}")
    return "\n".join(lines) + "\n"


def proc_stat(pid):
    """(state, ppid) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1])


def children(ppid):
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st and st[1] == ppid:
                out.append((int(name), st[0]))
    return out


def alive(pid):
    st = proc_stat(pid)
    return st is not None and st[0] != "Z"


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def settled_fd_count(pid, quiet=0.3, timeout=10.0):
    """The daemon's fd count once it has stayed the same for `quiet` seconds: the connection of the ctl that just
    returned, and the output files of programs that just stopped, are closed a moment after."""
    deadline = time.monotonic() + timeout
    count, since = fd_count(pid), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = fd_count(pid)
        if now != count:
            count, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return count


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Chaos:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tm-chaos-")
        self.cfg = os.path.join(self.dir, "taskmaster.yml")
        self.sock = os.path.join(self.dir, "tm.sock")
        self.pidfile = os.path.join(self.dir, "tm.pid")
        self.seen = set()
        self.events = {"signals": 0, "commands": 0, "reloads": 0}
        self.failures = []
        self.lock = threading.Lock()

    def write_config(self, variant):
        with open(self.cfg + ".tmp", "w") as f:
            f.write(config(self.dir, variant))
        os.replace(self.cfg + ".tmp", self.cfg)

    def ctl(self, *args, timeout=30):
        p = subprocess.run([TASKMASTER, "ctl", "--socket", self.sock, "--json", *args], capture_output=True,
                           text=True, timeout=timeout)
        return p.returncode, (json.loads(p.stdout) if p.stdout.strip() else None)

    def status(self):
        code, reply = self.ctl("status")
        if code != 0 or not reply:
            raise AssertionError(f"status failed: {code} {reply}")
        with self.lock:
            self.seen.update(s["pid"] for s in reply["data"] if s["pid"])
        return reply["data"]

    def wait(self, predicate, what, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    def settled(self, states=("STARTING", "STOPPING")):
        return all(s["state"] not in states for s in self.status())

    def check(self, condition, message):
        if not condition:
            self.failures.append(message)
            print("FAIL ", message, flush=True)

    def run(self):
        self.write_config("A")
        subprocess.run([TASKMASTER, "-c", self.cfg, "--daemon", "--socket", self.sock, "--pidfile", self.pidfile,
                        "--log", os.path.join(self.dir, "taskmaster.log")], check=True, timeout=30, cwd=self.dir)
        with open(self.pidfile) as f:
            self.daemon = int(f.read())
        try:
            self.scenario()
        finally:
            if alive(self.daemon):
                os.kill(self.daemon, signal.SIGKILL)
            for pid in self.seen:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass

    def scenario(self):
        self.wait(lambda: self.settled(("STARTING",)), "the fleet to start")
        processes = sum(1 for s in self.status() if s["pid"])
        print(f"fleet: {processes} processes", flush=True)
        self.check(processes >= 180, f"only {processes} processes came up")

        # Baseline with nothing running: what the daemon holds for itself.
        self.ctl("stop", "all", timeout=60)
        self.wait(lambda: not children(self.daemon), "the fleet to stop")
        fds0, rss0 = settled_fd_count(self.daemon), rss_kib(self.daemon)
        self.ctl("start", "all", timeout=60)

        stop = threading.Event()
        def guarded(f):
            """A step that fails in a thread (a command unanswered for 30 s) fails the run."""
            def run(stop):
                try:
                    f(stop)
                except Exception as e:
                    with self.lock:
                        self.failures.append(f"{f.__name__}: {type(e).__name__}: {e}")
                    print("FAIL ", f.__name__, e, flush=True)
                    stop.set()
            return run

        threads = [threading.Thread(target=guarded(f), args=(stop,)) for f in
                   (self.killer, self.controller, self.controller, self.reloader)]
        for t in threads:
            t.start()
        time.sleep(SECONDS)
        stop.set()
        for t in threads:
            t.join()
        print(f"injected: {self.events}", flush=True)

        # Back to configuration A, and only programs that stay put.
        self.write_config("A")
        code, reply = self.ctl("reload")
        self.check(code == 0, f"final reload: {code} {reply}")
        self.ctl("stop", "flappy", "crashy", timeout=60)
        self.wait(self.settled, "the fleet to settle")
        self.check_no_lasting_zombie()
        self.check_states()

        self.ctl("stop", "all", timeout=60)
        self.wait(lambda: not children(self.daemon), "the fleet to stop after the chaos")
        fds1, rss1 = settled_fd_count(self.daemon), rss_kib(self.daemon)
        print(f"daemon fds {fds0} -> {fds1}, RSS {rss0} -> {rss1} KiB", flush=True)
        self.check(fds1 == fds0, f"fd count {fds0} before, {fds1} after")
        self.check(rss1 <= rss0 + RSS_SLACK_KIB, f"RSS grew from {rss0} to {rss1} KiB")

        self.ctl("start", "all", timeout=60)
        self.status()
        self.grandchildren()
        code, _ = self.ctl("shutdown", timeout=60)
        self.check(code == 0, f"shutdown: {code}")
        self.wait(lambda: not alive(self.daemon), "the daemon to exit")
        left = [pid for pid in self.seen | self.grandchildren() if alive(pid)]
        self.check(not left, f"still alive after shutdown: {left}")
        self.check(not os.path.exists(self.sock) and not os.path.exists(self.pidfile), "socket or pid file left")

    def grandchildren(self):
        pids = set()
        for name in os.listdir(self.dir):
            if name.startswith("gc-"):
                try:
                    with open(os.path.join(self.dir, name)) as f:
                        pids.add(int(f.read().strip() or 0))
                except (OSError, ValueError):
                    pass
        with self.lock:
            self.seen.update(pids)
        return pids

    def check_no_lasting_zombie(self):
        """A zombie may exist for the instant between an exit and its reaping, never longer."""
        samples = []
        for _ in range(3):
            samples.append({pid for pid, state in children(self.daemon) if state == "Z"})
            time.sleep(0.3)
        lasting = set.intersection(*samples)
        self.check(not lasting, f"zombies that stay: {lasting}")

    def check_states(self):
        for s in self.status():
            st = proc_stat(s["pid"]) if s["pid"] else None
            if s["state"] == "RUNNING":
                self.check(st is not None and st[0] != "Z" and st[1] == self.daemon,
                           f"{s['instance']} RUNNING with pid {s['pid']}, which is {st}")
            elif s["state"] in ("STOPPED", "EXITED", "FATAL"):
                self.check(s["pid"] == 0, f"{s['instance']} {s['state']} with pid {s['pid']}")

    def killer(self, stop):
        rng = random.Random(1)
        pids = []
        last = 0.0
        while not stop.is_set():
            if time.monotonic() - last > 0.3:
                pids = [s["pid"] for s in self.status() if s["pid"]]
                last = time.monotonic()
            if pids:
                try:
                    os.kill(rng.choice(pids), rng.choice([signal.SIGKILL, signal.SIGTERM, signal.SIGSEGV]))
                    self.events["signals"] += 1
                except ProcessLookupError:
                    pass
            time.sleep(0.01)

    def controller(self, stop):
        rng = random.Random(threading.get_ident())
        names = ["steady", "families", "flappy", "crashy", "stubborn", "newcomer", "all", "steady:3", "families:7",
                 "stubborn:2", "newcomer:5"]
        while not stop.is_set():
            self.ctl(rng.choice(["start", "stop", "restart"]), rng.choice(names))
            self.events["commands"] += 1

    def reloader(self, stop):
        variant = "B"
        while not stop.wait(1.0):
            self.write_config(variant)
            if self.events["reloads"] % 2:
                os.kill(self.daemon, signal.SIGHUP)
            else:
                self.ctl("reload")
            self.events["reloads"] += 1
            variant = "A" if variant == "B" else "B"


def main():
    chaos = Chaos()
    started = time.monotonic()
    try:
        chaos.run()
    except Exception as e:  # a broken step is a failure too
        chaos.failures.append(f"{type(e).__name__}: {e}")
        print("FAIL ", e, flush=True)
    print(f"chaos run took {time.monotonic() - started:.1f} s; files in {chaos.dir}")
    failed = len(chaos.failures)
    print(f"{1 if not failed else 0} passed, {1 if failed else 0} failed")
    if not failed:
        shutil.rmtree(chaos.dir, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
