"""What a child gets from the real daemon (`taskmaster --daemon`, with its control socket listening, clients
connected, a log, a pid file, and a leaked fd from whoever started it): fds 0-2 and nothing else, and exactly the
daemon's environment + the program's `env` + TASKMASTER_PROGRAM/PROCESS/INSTANCE.
"""

import os
import re
import signal
import subprocess
import time

from rtest import (TASKMASTER, alive, tmtest, check, config, ctl, eventually, helper, main, program, read_text, test,
                   tmpdir)

# The daemon's whole environment: nothing inherited from whoever runs the tests, so that the comparison is exact.
DAEMON_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/root" if os.geteuid() == 0 else os.environ.get("HOME", "/"),
    "LANG": "C.UTF-8",
    "TM_RELIABILITY_MARK": "inherited",
    "TM_OVERRIDDEN": "from the daemon",
    "TM_SPACES": "a value with  spaces, 'quotes' and $dollars",
}
PROGRAM_ENV = {"GREETING": "hello world", "TM_OVERRIDDEN": "from the program", "EMPTY_VALUE": ""}


class DaemonProcess:
    """A `taskmaster --daemon`, stopped (and killed if need be) by tmtest's cleanup."""

    def __init__(self, directory, pid):
        self.dir, self.pid, self.seen_pids = directory, pid, set()
        self.socket = os.path.join(directory, "tm.sock")

    def kill(self):
        if alive(self.pid):
            ctl(self.socket, "shutdown", timeout=20)
            deadline = time.monotonic() + 10
            while alive(self.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if alive(self.pid):
                os.kill(self.pid, signal.SIGKILL)
        tmtest.kill_groups(self.seen_pids)


def environ_of(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        return parse_env0(f.read())


def parse_env0(data):
    out = {}
    for entry in data.split(b"\0"):
        if entry:
            name, _, value = entry.decode().partition("=")
            check(name not in out, f"{name} twice in the environment")
            out[name] = value
    return out


@test
def children_of_the_daemon_get_only_fds_0_1_2_and_the_documented_environment():
    d = tmpdir()
    sock, log, pidfile = (os.path.join(d, n) for n in ("tm.sock", "taskmaster.log", "taskmaster.pid"))
    cfg = os.path.join(d, "taskmaster.yml")
    with open(cfg, "w") as f:
        f.write(f"socket: {sock}\n" + config(
            program("probe", helper("--print-fds", "--print-env", "TASKMASTER_PROGRAM", "--print-env",
                                    "TASKMASTER_PROCESS", "--print-env", "TASKMASTER_INSTANCE", "--forever"),
                    stdout=os.path.join(d, "probe.out"), starttime="200ms"),
            program("pool", helper("--print-env", "TASKMASTER_PROCESS", "--print-env", "TASKMASTER_INSTANCE",
                                   "--print-env", "TASKMASTER_PROGRAM", "--forever"),
                    numprocs=2, stdout=os.path.join(d, "pool.out"), starttime="200ms"),
            program("envdump", "env -0", env=PROGRAM_ENV, stdout=os.path.join(d, "env.out"), starttime=0,
                    autorestart="never", startretries=0),
            program("plain", "env -0", stdout=os.path.join(d, "plain.out"), starttime=0, autorestart="never",
                    startretries=0)))
    # Leak bait: an inheritable pipe, as a careless parent would leave open for taskmaster.
    bait_r, bait_w = os.pipe()
    os.set_inheritable(bait_w, True)
    try:
        p = subprocess.run([TASKMASTER, "-c", cfg, "--log", log, "--daemon", "--pidfile", pidfile],
                           env=DAEMON_ENV, cwd=d, capture_output=True, text=True, timeout=20, pass_fds=(bait_w,))
    finally:
        os.close(bait_w)
    check(p.returncode == 0, (p.returncode, p.stderr))
    pid = int(read_text(pidfile))
    daemon = DaemonProcess(d, pid)
    tmtest.Taskmaster._running.append(daemon)
    daemon_fds = sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd"))
    check(bait_w in daemon_fds, f"the daemon did not inherit the bait fd {bait_w}: {daemon_fds}")
    check(environ_of(pid) == DAEMON_ENV, environ_of(pid))

    # Clients connected while the programs are spawned: an event follower, and the `start` itself.
    events = subprocess.Popen([TASKMASTER, "ctl", "--socket", sock, "events"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        eventually(lambda: len(os.listdir(f"/proc/{pid}/fd")) > len(daemon_fds), 5, 0.05,
                   "the event follower to be connected")
        code, out, err = ctl(sock, "start", "probe", "pool")
        check(code == 0 and out.splitlines() == ["probe: started", "pool:0: started", "pool:1: started"],
              (code, out, err))
        ctl(sock, "start", "envdump", "plain")  # they exit at once: the answer does not matter, their output does
        eventually(lambda: read_text(os.path.join(d, "env.out")) and read_text(os.path.join(d, "plain.out")),
                   10, 0.05, "the environment dumps")
    finally:
        events.terminate()
        followed, _ = events.communicate(timeout=10)
    check(re.search(r" probe STOPPED -> STARTING pid \d+", followed), f"the follower missed the spawn: {followed}")

    # fds: the child's own listing, and /proc from outside.
    code, out, _ = ctl(sock, "pid", "probe")
    probe = int(out.strip())
    daemon.seen_pids.add(probe)
    out = eventually(lambda: "TASKMASTER_INSTANCE" in read_text(os.path.join(d, "probe.out"))
                     and read_text(os.path.join(d, "probe.out")), 10, 0.05, "probe's output")
    check(out.splitlines()[0] == "fds 0 1 2 3", f"probe's fds (3 is its own listing): {out}")
    check(sorted(os.listdir(f"/proc/{probe}/fd"), key=int) == ["0", "1", "2"], os.listdir(f"/proc/{probe}/fd"))
    check(os.readlink(f"/proc/{probe}/fd/0") == "/dev/null")
    # stdout and stderr are pipes that taskmaster reads (into probe.out, and into memory for stderr)
    check(os.readlink(f"/proc/{probe}/fd/1").startswith("pipe:"), os.readlink(f"/proc/{probe}/fd/1"))
    check(os.readlink(f"/proc/{probe}/fd/2").startswith("pipe:"), os.readlink(f"/proc/{probe}/fd/2"))
    check(os.readlink(f"/proc/{probe}/fd/1") != os.readlink(f"/proc/{probe}/fd/2"))
    check("TASKMASTER_PROGRAM=probe\nTASKMASTER_PROCESS=probe\nTASKMASTER_INSTANCE=0\n" in out, out)
    pool = eventually(lambda: read_text(os.path.join(d, "pool.out")).count("TASKMASTER_PROGRAM") == 2
                      and read_text(os.path.join(d, "pool.out")), 10, 0.05, "pool's output")
    for i in (0, 1):
        check(f"TASKMASTER_PROCESS=pool:{i}\nTASKMASTER_INSTANCE={i}\nTASKMASTER_PROGRAM=pool\n" in pool, pool)

    # The environment: exactly the daemon's + env + TASKMASTER_*, nothing else.
    with open(os.path.join(d, "env.out"), "rb") as f:
        got = parse_env0(f.read())
    expected = dict(DAEMON_ENV, **PROGRAM_ENV, TASKMASTER_PROGRAM="envdump", TASKMASTER_PROCESS="envdump",
                    TASKMASTER_INSTANCE="0")
    extra = {k: got[k] for k in set(got) - set(expected)}
    missing = {k: expected[k] for k in set(expected) - set(got)}
    wrong = {k: (got[k], expected[k]) for k in set(got) & set(expected) if got[k] != expected[k]}
    check(not extra and not missing and not wrong, f"extra {extra}, missing {missing}, wrong {wrong}")
    with open(os.path.join(d, "plain.out"), "rb") as f:
        plain = parse_env0(f.read())
    check(plain == dict(DAEMON_ENV, TASKMASTER_PROGRAM="plain", TASKMASTER_PROCESS="plain",
                        TASKMASTER_INSTANCE="0"), plain)

    code, out, err = ctl(sock, "shutdown")
    check(code == 0, (code, out, err))
    eventually(lambda: not alive(pid), 20, 0.05, "the daemon to exit")
    check(not alive(probe), "probe survived the shutdown")


if __name__ == "__main__":
    main()
