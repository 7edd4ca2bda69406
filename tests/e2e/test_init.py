"""taskmaster as a container's PID 1, in a PID namespace of its own (`unshare --pid --fork --mount-proc`, from
util-linux; root only), and as a subreaper outside PID 1 (--subreaper): orphans are reaped and leave no zombie,
SIGTERM stops everything within the stop times and exits 0, a critical program's exit becomes taskmaster's.

Environment: TASKMASTER and TM_HELPER, set by tests/meson.build. Python standard library only.
"""

import os
import re
import shutil
import signal
import subprocess
import time

from tmtest import (TASKMASTER, Taskmaster, check, config, eventually, helper, main, program, read_file, terminate,
                    test, tmpdir)


def proc_stat(pid):
    """(state letter, ppid) of pid, from /proc/PID/status, or None when it is gone (reaped)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)
    except (FileNotFoundError, ProcessLookupError):
        return None
    return fields["State"].strip()[0], int(fields["PPid"])


def children(pid):
    """{child pid: state} of pid's children, from /proc."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = proc_stat(int(entry))
            if stat and stat[1] == pid:
                found[int(entry)] = stat[0]
    return found


def can_unshare():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True).returncode == 0


class Init:
    """taskmaster as PID 1 of a new PID namespace. `pid` is its pid outside the namespace."""

    def __init__(self, config_text, args=()):
        self.dir = tmpdir()
        self.config = os.path.join(self.dir, "taskmaster.yml")
        self.log = os.path.join(self.dir, "taskmaster.log")
        with open(self.config, "w") as f:
            f.write(config_text)
        self.proc = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount-proc", TASKMASTER, "-c", self.config, "--log", self.log,
             "--socket", os.path.join(self.dir, "tm.sock"), *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=self.dir,
            start_new_session=True)
        # None when it has exited already (a critical program that cannot start ends it at once).
        def find():
            if self.proc.poll() is not None:
                return "exited"
            return next(iter(children(self.proc.pid)), None)
        found = eventually(find, 10, 0.01, "taskmaster under unshare")
        self.pid = None if found == "exited" else found
        self.output = None

    def wait_log(self, pattern, timeout=10.0):
        return eventually(lambda: re.search(pattern, read_file(self.log), re.M), timeout, 0.05, f"log /{pattern}/")

    def wait(self, timeout=20.0):
        try:
            self.output, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"taskmaster as PID 1 still running after {timeout} s:\n{read_file(self.log)}")
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # PID 1 gone: the kernel kills the whole namespace
            self.proc.wait()


def pid1(fn):
    """A test that needs unshare and root; skipped (and said so) elsewhere."""
    def run():
        if not can_unshare():
            print(f"skip  {fn.__name__}: needs root and unshare --pid (util-linux)")
            return
        fn()
    run.__name__ = fn.__name__
    return test(run)


@pid1
def as_pid1_a_double_forking_program_leaves_no_zombie():
    d = tmpdir()
    orphan_file = os.path.join(d, "orphan")
    tm = Init(config(program("forker", helper("--orphan", "300", orphan_file, "--forever"), autostart=True,
                             starttime=0)))
    try:
        tm.wait_log(r"forker RUNNING, pid")
        # The orphan runs as a child of PID 1, then exits: a zombie unless PID 1 reaps it.
        eventually(lambda: read_file(orphan_file).strip(), 10, 0.02, "the orphan's pid")
        orphans = eventually(lambda: {p: s for p, s in children(tm.pid).items() if s != "Z"} and
                             len(children(tm.pid)) >= 2 and children(tm.pid), 5, 0.02, "the orphan under PID 1")
        check(len(orphans) == 2, f"PID 1's children: {orphans}")  # forker, and its orphan
        time.sleep(0.6)
        left = children(tm.pid)
        check(len(left) == 1 and "Z" not in left.values(), f"PID 1's children after the orphan exited: {left}")
        os.kill(tm.pid, signal.SIGTERM)
        check(tm.wait() == 0, f"exit {tm.proc.returncode}: {tm.output}")
    finally:
        tm.kill()


@pid1
def as_pid1_sigterm_stops_every_program_within_its_stoptime_and_exits_0():
    tm = Init(config(program("stubborn", helper("--ignore-term", "--forever"), autostart=True, starttime=0,
                             stoptime=0.5),
                     program("polite", helper("--forever"), autostart=True, starttime=0, numprocs=2)))
    try:
        tm.wait_log(r"stubborn RUNNING, pid")
        tm.wait_log(r"polite:1 RUNNING, pid")
        programs = list(children(tm.pid))
        check(len(programs) == 3, f"PID 1's children: {programs}")
        started = time.monotonic()
        os.kill(tm.pid, signal.SIGTERM)
        code = tm.wait()
        elapsed = time.monotonic() - started
        check(code == 0, f"exit {code}: {tm.output}")
        check(0.4 < elapsed < 3.0, f"stopped in {elapsed:.2f} s; stubborn's stoptime is 0.5 s")
        check(all(proc_stat(p) is None for p in programs), "a program outlived PID 1")
        log = read_file(tm.log)
        check("stopping every program (SIGTERM)" in log, log)
        check("stubborn stopped (terminated by SIGKILL)" in log, "stubborn was not SIGKILLed after its stoptime:\n" + log)
    finally:
        tm.kill()


@pid1
def as_pid1_sigquit_and_sigpwr_stop_too_and_sighup_reloads():
    for sig in (signal.SIGQUIT, signal.SIGPWR):
        tm = Init(config(program("worker", helper("--forever"), autostart=True, starttime=0)))
        try:
            tm.wait_log(r"worker RUNNING, pid")
            if sig == signal.SIGQUIT:
                with open(tm.config, "a") as f:
                    f.write(program("added", helper("--forever"), autostart=True, starttime=0))
                os.kill(tm.pid, signal.SIGHUP)
                tm.wait_log(r"added RUNNING, pid")
            os.kill(tm.pid, sig)
            check(tm.wait() == 0, f"{sig.name}: exit {tm.proc.returncode}: {tm.output}")
            check(f"stopping every program ({sig.name})" in read_file(tm.log), read_file(tm.log))
        finally:
            tm.kill()


@pid1
def as_pid1_a_critical_programs_exit_code_becomes_taskmasters():
    cases = [
        (helper("--sleep", "200", "--exit", "7"), {"autorestart": "never"}, 7),
        (helper("--sleep", "200", "--kill-self", str(int(signal.SIGKILL))), {"autorestart": "never"}, 128 + 9),
        (helper("--sleep", "200", "--exit", "0"), {}, 0),  # expected: not restarted, so for good
        ("/nonexistent/taskmaster-critical", {"startretries": 0}, 3),  # FATAL
    ]
    for cmd, options, expected in cases:
        tm = Init(config(program("main", cmd, autostart=True, starttime=0.1, critical=True, **options),
                         program("sidecar", helper("--forever"), autostart=True, starttime=0)))
        try:
            code = tm.wait()
            log = read_file(tm.log)
            check(code == expected, f"{cmd}: exit {code}, expected {expected}:\n{log}")
            check(f"the critical program main" in log and f"taskmaster exits with {expected}" in log, log)
            check(re.search(r"^.* sidecar (stop requested|stopped)", log, re.M), "the sidecar was not stopped:\n" + log)
        finally:
            tm.kill()


@test
def a_critical_program_restarted_by_autorestart_does_not_end_taskmaster():
    tm = Taskmaster(config(program("flaky", helper("--sleep", "300", "--exit", "1"), autostart=True, starttime=0,
                                   critical=True, autorestart="unexpected")), args=["--no-shell"])
    tm.wait_log(r"flaky spawned, pid \d+ \(autorestart\)", timeout=10)
    check(tm.proc.poll() is None, "taskmaster ended on an exit that autorestart restarts")
    terminate(tm)


@test
def with_subreaper_orphans_come_back_to_taskmaster_are_reaped_and_killasgroup_stops_them():
    d = tmpdir()
    kept, killed = os.path.join(d, "kept"), os.path.join(d, "killed")
    tm = Taskmaster(config(
        program("leaver", helper("--grandchild", kept, "--sleep", "200", "--exit", "0"), autostart=True,
                starttime=0, autorestart="never", killasgroup=False, stopasgroup=False),
        program("grouped", helper("--grandchild", killed, "--sleep", "200", "--exit", "0"), autostart=True,
                starttime=0, autorestart="never")), args=["--subreaper", "--no-shell"])
    orphan = int(eventually(lambda: read_file(kept).strip(), 10, 0.02, "the orphan's pid"))
    grouped = int(eventually(lambda: read_file(killed).strip(), 10, 0.02, "the grouped orphan's pid"))
    tm.seen_pids.update({orphan, grouped})
    # The main process exited: its orphan is taskmaster's child now, not init's.
    eventually(lambda: (proc_stat(orphan) or ("", 0))[1] == tm.proc.pid, 5, 0.02,
               f"the orphan {orphan} to be re-parented to taskmaster ({proc_stat(orphan)})")
    # killasgroup: what was left in the main process's group was SIGKILLed with it, and reaped.
    eventually(lambda: proc_stat(grouped) is None, 5, 0.02, f"the grouped orphan to be gone ({proc_stat(grouped)})")
    os.kill(orphan, signal.SIGKILL)
    eventually(lambda: proc_stat(orphan) is None, 5, 0.02, f"the orphan to be reaped ({proc_stat(orphan)})")
    check("Z" not in children(tm.proc.pid).values(), f"zombies: {children(tm.proc.pid)}")
    terminate(tm)


@test
def init_and_daemon_exclude_each_other():
    p = subprocess.run([TASKMASTER, "--init", "--daemon", "-c", "/dev/null"], capture_output=True, text=True)
    check(p.returncode == 2 and "--daemon and --init exclude each other" in p.stderr, p.stderr)


if __name__ == "__main__":
    main()
