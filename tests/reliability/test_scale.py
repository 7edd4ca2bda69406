"""Scale: 3,000 processes under the usual soft limit of 1024 open files.

taskmaster raises its own soft RLIMIT_NOFILE to the hard limit, and as root both to the system's maximum (a pidfd
and two pipes per child would not fit in 1024), and gives children the original limits back. Every process reaches RUNNING, the control socket answers while
they start and once they run, and a stop leaves no process and no zombie. Sized for CI: well under a minute.
"""

import os
import re
import resource
import subprocess
import sys
import time

from rtest import Daemon, check, descendants, eventually, main, program, read_text, test, tmpdir, with_limits

N = int(os.environ.get("TM_SCALE_N", "3000"))  # more for a measurement by hand
SOFT = 1024


def zombies_of(pid):
    """The zombie children of pid."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if fields[0] == "Z" and int(fields[1]) == pid:
            out.append(int(entry))
    return out


def fd_limits(pid):
    """(soft, hard) RLIMIT_NOFILE of pid, from /proc/PID/limits."""
    m = re.search(r"^Max open files\s+(\d+)\s+(\d+)", read_text(f"/proc/{pid}/limits"), re.M)
    return int(m.group(1)), int(m.group(2))


def timed_ctl(tm, *words, timeout=30.0):
    began = time.monotonic()
    code, out, err = tm.ctl(*words, timeout=timeout)
    return code, out, err, time.monotonic() - began


def running_count(tm):
    code, out, _, _ = timed_ctl(tm, "status")
    return sum(1 for line in out.splitlines() if re.match(r"^sleeper:\d+\s+RUNNING\b", line)) if code == 0 else 0


def may_raise_hard_limit(to):
    """Whether this process's children may raise their hard RLIMIT_NOFILE (root with CAP_SYS_RESOURCE)."""
    probe = f"import resource; resource.setrlimit(resource.RLIMIT_NOFILE, ({to}, {to}))"
    return subprocess.run([sys.executable, "-c", probe], stderr=subprocess.DEVNULL).returncode == 0


@test
def three_thousand_processes_under_a_soft_fd_limit_of_1024_start_answer_and_stop_cleanly():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    system = int(read_text("/proc/sys/fs/nr_open"))
    raised = system if hard != resource.RLIM_INFINITY and hard < system and may_raise_hard_limit(system) else hard
    if raised != resource.RLIM_INFINITY and raised < 3 * N + 200:
        print(f"  skipped: the hard limit on open files is {hard}, below {3 * N + 200}")
        return
    d = tmpdir()
    limits_out = os.path.join(d, "limits.out")
    tm = Daemon("programs:\n"
                + program("sleeper", "sleep 1000", numprocs=N, autostart=True, starttime=0, stoptime="5s")
                + program("probe", "sh -c 'ulimit -Sn; ulimit -Hn; exec sleep 1000'", autostart=True, starttime=0,
                          stdout=limits_out),
                directory=d, preexec_fn=with_limits((resource.RLIMIT_NOFILE, (SOFT, hard))))
    pid = tm.proc.pid
    began = time.monotonic()
    eventually(lambda: os.path.exists(tm.socket), 10, 0.05, "the control socket")

    # The loop serves the socket while the processes start.
    code, _, err, during = timed_ctl(tm, "version")
    check(code == 0, err)
    running_then = running_count(tm)
    print(f"  `ctl version` during the start: {during * 1000:.0f} ms ({running_then} of {N} RUNNING then)")
    check(during < 5.0, f"`ctl version` took {during:.1f} s during the start")

    eventually(lambda: running_count(tm) == N, 90, 0.5, f"all {N} to be RUNNING")
    started = time.monotonic() - began
    soft_now, hard_now = fd_limits(pid)
    check(soft_now == hard_now == raised if raised != resource.RLIM_INFINITY else soft_now == hard_now,
          f"taskmaster's own limit: {soft_now}/{hard_now}, expected {raised} (hard {hard}, fs.nr_open {system})")
    check(len(os.listdir(f"/proc/{pid}/fd")) > SOFT, "taskmaster should hold more fds than the original soft limit")
    lines = eventually(lambda: read_text(limits_out).split() or None, 10, 0.1, "the probe's limits")
    check(lines[0] == str(SOFT), f"the child's soft limit: {lines}")
    check(hard == resource.RLIM_INFINITY or lines[1] == str(hard), f"the child's hard limit: {lines}")

    code, out, err, took = timed_ctl(tm, "status")
    check(code == 0 and len(out.splitlines()) == N + 1, (code, len(out.splitlines()), err))
    print(f"  {N} RUNNING after {started:.1f} s; `ctl status` of {N + 1}: {took * 1000:.0f} ms")
    check(took < 5.0, f"`ctl status` took {took:.1f} s")
    check(len(descendants(pid)) >= N + 1, f"{len(descendants(pid))} live descendants")

    began = time.monotonic()
    code, out, err, _ = timed_ctl(tm, "stop", "all", timeout=60)
    stopped = time.monotonic() - began
    check(code == 0, (code, out[-500:], err))
    print(f"  `stop all`: {stopped:.1f} s")
    check(stopped < 30, f"`stop all` took {stopped:.1f} s")
    check(not descendants(pid), f"{len(descendants(pid))} processes left after stop all")
    check(not zombies_of(pid), f"{len(zombies_of(pid))} zombies left after stop all")
    check(tm.quit(30) == 0, tm.stderr())


if __name__ == "__main__":
    main()
