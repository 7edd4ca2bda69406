#!/usr/bin/env python3
"""What health checks cost taskmaster: N instances of a sleeping program, each with a health check every
INTERVAL, and the CPU time and wake-ups of the taskmaster process over a minute once they all run.

    health_cpu.py [--instances 1000] [--interval 10s] [--seconds 60] [--kinds none,tcp,exec]

Kinds: none (no healthcheck: the baseline), tcp (a TCP connect to a listener of this script), exec (`true`,
run by /bin/sh -c). CPU: utime + stime of /proc/PID/stat (the probes' own processes are children: their time
is not taskmaster's, and is shown apart as cutime + cstime); wake-ups: voluntary context switches of every
thread of taskmaster (/proc/PID/task/*/status). TASKMASTER: the binary (default: build/apps/taskmaster).
"""
import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from bench import voluntary_switches  # wake-ups: voluntary context switches of every thread

TICK = os.sysconf("SC_CLK_TCK")


def stat_times(pid):
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime) / TICK, (cutime + cstime) / TICK


def listener():
    """A TCP listener that accepts and closes, on a thread: what the tcp checks connect to."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(4096)

    def serve():
        while True:
            client, _ = server.accept()
            client.close()

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1]


def config(kind, instances, interval, port):
    lines = ["programs:", "  sleeper:", "    cmd: sleep 100000", f"    numprocs: {instances}",
             "    autostart: true", "    starttime: 0", "    autorestart: never", "    stopsignal: KILL"]
    if kind == "tcp":
        lines.append(f"    healthcheck: {{tcp: \"127.0.0.1:{port}\", interval: {interval}, timeout: 2s}}")
    elif kind == "exec":
        lines.append(f"    healthcheck: {{exec: \"true\", interval: {interval}, timeout: 2s}}")
    return "\n".join(lines) + "\n"


def measure(taskmaster, kind, args, port):
    with tempfile.TemporaryDirectory(prefix="tm-health-") as tmp:
        path = os.path.join(tmp, "tm.yml")
        with open(path, "w") as f:
            f.write(config(kind, args.instances, args.interval, port))
        sock, pidfile = os.path.join(tmp, "sock"), os.path.join(tmp, "pid")
        subprocess.run([taskmaster, "-c", path, "--daemon", "--socket", sock, "--pidfile", pidfile,
                        "--log", os.path.join(tmp, "events.log")], stdin=subprocess.DEVNULL, check=True)
        with open(pidfile) as f:
            pid = int(f.read())
        try:
            # Every instance up, and one interval more: the checks are under way.
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                out = subprocess.run([taskmaster, "ctl", "--socket", sock, "status"], capture_output=True, text=True)
                if out.stdout.count("RUNNING") >= args.instances:
                    break
                time.sleep(0.5)
            time.sleep(args.settle)
            cpu0, children0 = stat_times(pid)
            wake0 = voluntary_switches(pid)
            time.sleep(args.seconds)
            cpu1, children1 = stat_times(pid)
            wake1 = voluntary_switches(pid)
        finally:
            os.kill(pid, signal.SIGTERM)
            for _ in range(600):
                if not os.path.exists(f"/proc/{pid}"):
                    break
                time.sleep(0.1)
    scale = 60 / args.seconds
    return (cpu1 - cpu0) * scale, (children1 - children0) * scale, (wake1 - wake0) * scale


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--interval", default="10s")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--settle", type=float, default=12, help="seconds waited once all are RUNNING")
    parser.add_argument("--kinds", default="none,tcp,exec")
    args = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    taskmaster = os.environ.get("TASKMASTER", os.path.join(root, "build", "apps", "taskmaster"))
    port = listener()
    print(f"{args.instances} instances of `sleep`, health check every {args.interval}; per minute of taskmaster:")
    print(f"{'check':<6} {'CPU s/min':>10} {'probes CPU s/min':>17} {'wake-ups/min':>13}")
    for kind in args.kinds.split(","):
        cpu, children, wakes = measure(taskmaster, kind, args, port)
        print(f"{kind:<6} {cpu:>10.2f} {children:>17.2f} {wakes:>13.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
