"""Hostile programs: what a supervised program can do to make supervision hard, and what taskmaster does about it.

- ignores SIGTERM: SIGKILLed after stoptime, exactly once;
- forks grandchildren: none survive a stop, nor the exit of the main process (killasgroup);
- closes its stdout (or all of 0-2): keeps running;
- floods its output file: the shell and the socket keep answering within a second;
- exits at once in a loop with `autorestart: always` and `starttime: 0`: a burst of immediate restarts, then
  growing waits (the crash-loop policy), no CPU spin;
- never starts at all: `startretries: infinite` keeps trying, `fatal_retry` tries again out of FATAL;
- blocks SIGCHLD (and SIGTERM): supervised as any other;
- changes its process group (joins taskmaster's own): stop still ends it, by its pid.
"""

import os
import re
import signal
import time
from datetime import datetime

from rtest import (Daemon, alive, check, config, cpu_seconds, descendants, eventually, helper, known_bug, main,
                   program, read_text, test)

QUICK = {"autostart": True, "starttime": "200ms"}


def log_times(text, pattern):
    """The times (epoch seconds) of the log lines whose message matches `pattern`."""
    out = []
    for line in text.splitlines():
        stamp, _, rest = line.partition(" ")
        if re.search(pattern, rest):
            out.append(datetime.fromisoformat(stamp).timestamp())
    return out


def pids_in(path):
    return [int(x) for x in read_text(path).split()]


@test
def a_program_ignoring_sigterm_is_killed_after_stoptime_exactly_once():
    tm = Daemon(config(program("stubborn", helper("--ignore-term", "--forever"), numprocs=3, stoptime="1s",
                               **QUICK)))
    pids = {f"stubborn:{i}": None for i in range(3)}
    for name in pids:
        tm.wait_state(name, "RUNNING")
        pids[name] = tm.pid(name)
    time.sleep(0.2)  # the helper ignores SIGTERM from its first instructions on
    started = time.monotonic()
    answer = tm.cmd("stop stubborn")
    took = time.monotonic() - started
    check(answer == [f"{name}: stopped" for name in pids], answer)
    check(0.9 <= took <= 3.0, f"the stop took {took:.2f} s with stoptime 1 s")
    print(f"  stop of 3 instances ignoring SIGTERM, stoptime 1 s: {took:.2f} s")
    for name, pid in pids.items():
        check(not alive(pid), f"{name} (pid {pid}) survived")
        state, details = tm.state(name)
        check(state == "STOPPED" and "terminated by SIGKILL" in details, (state, details))
    time.sleep(1.5)  # nothing more may come: one SIGKILL, and no restart
    log = tm.log_text()
    for name, pid in pids.items():
        kills = re.findall(rf"WARN  {re.escape(name)} killed with SIGKILL: still running \d+m?s after SIGTERM, "
                           rf"pid {pid}$", log, re.M)
        check(len(kills) == 1, f"{name}: {len(kills)} SIGKILL lines in the log")
        check(len(re.findall(rf"{re.escape(name)} stop requested: sending SIGTERM to pid {pid}", log)) == 1, log)
        check(len(re.findall(rf"INFO  {re.escape(name)} stopped \(terminated by SIGKILL\), pid {pid}$", log,
                             re.M)) == 1, log)
        check(len(re.findall(rf" {re.escape(name)} spawned", log)) == 1, f"{name} was restarted")
    # The same at shutdown: quit waits for stoptime, then SIGKILL.
    tm.cmd("start stubborn:0")
    pid = tm.pid("stubborn:0")
    time.sleep(0.2)
    started = time.monotonic()
    check(tm.quit() == 0)
    check(0.9 <= time.monotonic() - started <= 4, f"quit took {time.monotonic() - started:.2f} s")
    check(not alive(pid))
    check(len(re.findall(rf"stubborn:0 killed with SIGKILL.*pid {pid}$", tm.log_text(), re.M)) == 1)


@test
def grandchildren_die_with_a_stop_and_with_the_exit_of_their_parent():
    tm = Daemon("programs: {}\n")
    tm.cmd("version")  # up and running with no program: the configuration below comes by reload
    d = tm.dir
    g = lambda name, n: [arg for i in range(n) for arg in ("--grandchild", os.path.join(d, f"{name}.{i}"))]
    with open(tm.config, "w") as f:
        f.write(config(
            # Stays up with 3 grandchildren: a stop must take them along.
            program("forker", helper(*g("forker", 3), "--forever"), **QUICK),
            # Leaves 3 grandchildren behind and exits after 300 ms: killasgroup kills them at once.
            program("leaver", helper(*g("leaver", 3), "--sleep", "300", "--exit", "0"), autostart=True,
                    starttime=0, autorestart="never", startretries=0),
            # The same with killasgroup: false: documented to leave them alone.
            program("loose", helper(*g("loose", 2), "--sleep", "300", "--exit", "0"), autostart=True,
                    starttime=0, autorestart="never", startretries=0, killasgroup=False),
        ))
    answer = tm.cmd("reload")
    check(answer == ["added: forker, leaver, loose"], answer)
    tm.wait_state("forker", "RUNNING")
    forker = eventually(lambda: len([p for i in range(3) for p in pids_in(f"{d}/forker.{i}")]) == 3 and
                        [p for i in range(3) for p in pids_in(f"{d}/forker.{i}")], message="forker's grandchildren")
    leaver = eventually(lambda: len([p for i in range(3) for p in pids_in(f"{d}/leaver.{i}")]) == 3 and
                        [p for i in range(3) for p in pids_in(f"{d}/leaver.{i}")], message="leaver's grandchildren")
    loose = eventually(lambda: len([p for i in range(2) for p in pids_in(f"{d}/loose.{i}")]) == 2 and
                       [p for i in range(2) for p in pids_in(f"{d}/loose.{i}")], message="loose's grandchildren")
    try:
        # The exit of the main process takes its leftovers along, at once.
        tm.wait_state("leaver", "EXITED")
        eventually(lambda: not any(alive(p) for p in leaver), 1.0, 0.02, "leaver's grandchildren to be killed")
        # killasgroup: false: they stay (the documented choice), orphans of taskmaster's making.
        tm.wait_state("loose", "EXITED")
        time.sleep(0.3)
        check(all(alive(p) for p in loose), "killasgroup: false killed the grandchildren anyway")
        # A stop reaches every process of the group.
        check(all(alive(p) for p in forker))
        check(tm.cmd("stop forker") == ["forker: stopped"])
        eventually(lambda: not any(alive(p) for p in forker), 1.0, 0.02, "forker's grandchildren to be gone")
        check(not descendants(tm.proc.pid), f"taskmaster still has descendants: {descendants(tm.proc.pid)}")
    finally:
        for p in loose:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
    check(tm.quit() == 0)


@test
def a_program_that_closes_its_standard_streams_keeps_running():
    tm = Daemon("programs: {}\n")
    tm.cmd("version")  # up and running with no program: the configuration below comes by reload
    with open(tm.config, "w") as f:
        f.write(config(
            program("noout", "sh -c 'exec >&-; exec sleep 100'", stdout=os.path.join(tm.dir, "noout.out"), **QUICK),
            program("nothing", "sh -c 'exec <&- >&- 2>&-; exec sleep 100'", **QUICK)))
    tm.cmd("reload")
    pids = {}
    for name in ("noout", "nothing"):
        tm.wait_state(name, "RUNNING")
        pids[name] = tm.pid(name)
    time.sleep(1.5)
    for name, pid in pids.items():
        state, details = tm.state(name)
        check(state == "RUNNING" and f"pid {pid}" in details and "restarts" not in details, (name, state, details))
        fds = os.listdir(f"/proc/{pid}/fd")
        check("1" not in fds, f"{name}: fd 1 still open: {fds}")
    check(tm.cmd("stop all") == ["noout: stopped", "nothing: stopped"])
    check(tm.quit() == 0)


@test
def a_flood_of_output_leaves_the_shell_and_the_socket_responsive():
    tm = Daemon("programs: {}\n")
    tm.cmd("version")  # up and running with no program: the configuration below comes by reload
    out = os.path.join(tm.dir, "flood.out")
    with open(tm.config, "w") as f:
        f.write(config(
            # 2 x 200 MB appended to one file.
            program("flood", helper("--spam", "200000000", "--exit", "0"), numprocs=2, stdout=out, autostart=False,
                    starttime=0, autorestart="never", startretries=0),
            # A longer flood to /dev/null, stopped by hand.
            program("torrent", helper("--spam", "1000000000000"), stdout="/dev/null", autostart=False,
                    starttime=0, stoptime="2s")))
    tm.cmd("reload")
    cpu_before = cpu_seconds(tm.proc.pid)
    began = time.monotonic()
    check(tm.cmd("start flood torrent") == ["flood:0: started", "flood:1: started", "torrent: started"])
    worst, worst_ctl, samples = 0.0, 0.0, 0
    while time.monotonic() - began < 3.0:
        t = time.monotonic()
        tm.status()
        worst = max(worst, time.monotonic() - t)
        t = time.monotonic()
        code, answer, _ = tm.ctl("status", "torrent")
        worst_ctl = max(worst_ctl, time.monotonic() - t)
        check(code == 0 and "RUNNING" in answer, (code, answer))
        samples += 1
    elapsed = time.monotonic() - began
    cpu = cpu_seconds(tm.proc.pid) - cpu_before
    print(f"  {samples} status rounds during the flood: slowest shell answer {worst * 1000:.0f} ms, slowest "
          f"`taskmaster ctl status` {worst_ctl * 1000:.0f} ms; daemon CPU {cpu:.2f} s in {elapsed:.1f} s")
    check(worst < 1.0 and worst_ctl < 1.0, f"slowest answers: shell {worst:.2f} s, ctl {worst_ctl:.2f} s")
    for name in ("flood:0", "flood:1"):
        tm.wait_state(name, "EXITED", timeout=30)
        check("exit status 0" in tm.state(name)[1])
    check(os.path.getsize(out) == 400_000_000, f"flood.out has {os.path.getsize(out)} bytes")
    check(tm.cmd("stop torrent") == ["torrent: stopped"])
    check(tm.quit() == 0)


@test
def an_instant_exit_loop_gets_its_burst_then_is_held_back_without_spinning():
    # With starttime 0 every process is RUNNING once spawned, so each exit is an autorestart under the crash-loop
    # policy (docs/configuration.md, restart policy), with its defaults: the first spawn and 3 immediate
    # restarts, then waits of 1 s, 2 s, 4 s ... Spawns of one instance, from its first: 0, 0, 0, 0, 1, 3, 7 s
    # (plus the 20 ms each process lives), so 6 in its first 5 s, where the documented bound is
    # restart_burst + 1 + 5 s / restart_delay = 9, however fast the program exits.
    tm = Daemon(config(
        program("spinner", helper("--sleep", "20", "--exit", "0"), autostart=True, autorestart="always",
                starttime=0),
        program("crasher", helper("--sleep", "20", "--exit", "1"), numprocs=4, autostart=True,
                autorestart="unexpected", starttime=0),
        program("instant", "true", numprocs=2, autostart=True, autorestart="always", starttime=0)))
    tm.wait_log(r"spinner spawned")
    cpu_before, began = cpu_seconds(tm.proc.pid), time.monotonic()
    time.sleep(5.5)
    cpu = cpu_seconds(tm.proc.pid) - cpu_before
    wall = time.monotonic() - began
    log = tm.log_text()
    rates = {}
    for name in ["spinner"] + [f"crasher:{i}" for i in range(4)] + ["instant:0", "instant:1"]:
        times = log_times(log, rf"^\S+\s+{re.escape(name)} spawned, pid")
        check(len(times) >= 5, f"{name}: only {len(times)} spawns: not restarted?")
        if not times:
            continue
        window = [t for t in times if t - times[0] < 5.0]
        rates[name] = len(window)
        check(len(window) <= 9, f"{name}: {len(window)} spawns in 5 s, above the documented bound of 9")
        check(5 <= len(window) <= 7, f"{name}: {len(window)} spawns in its first 5 s, expected 6")
        # The burst is immediate: the first restart after an exit from RUNNING does not wait for a second.
        check(len(times) >= 4 and times[3] - times[0] < 0.8,
              f"{name}: the burst took {(times[3] - times[0]) * 1000:.0f} ms")
        gaps = [b - a for a, b in zip(times[3:], times[4:])]
        check(gaps and min(gaps) >= 0.95, f"{name}: after the burst, two spawns {min(gaps or [0]) * 1000:.0f} ms apart")
    share = cpu / wall
    print(f"  spawns in each instance's first 5 s: {rates}; daemon CPU {cpu:.3f} s ({share * 100:.1f} % of wall time)")
    check(share < 0.10, f"taskmaster used {share * 100:.1f} % CPU")
    check(re.search(r"spinner BACKOFF: restarting too often: next start in \d+m?s", log), "no backoff line")
    answer = tm.cmd("status spinner")
    check(answer and re.match(r"spinner\s+(BACKOFF|STARTING|RUNNING|EXITED)", answer[0]), answer)
    # A stop ends the loop for good, even between two spawns.
    tm.cmd("stop all")
    spawned = len(re.findall(r" spawned, pid", tm.log_text()))
    time.sleep(2.5)
    check(len(re.findall(r" spawned, pid", tm.log_text())) == spawned, "a spawn after the stop")
    states = tm.status()
    check(all(s in ("STOPPED", "EXITED") for s, _ in states.values()), states)
    check(tm.quit() == 0)


@test
def a_program_that_never_starts_is_retried_forever_or_out_of_fatal():
    tm = Daemon(config(
        program("forever", "/no/such/binary", autostart=True, startretries="infinite"),
        program("phoenix", helper("--exit", "1"), autostart=True, starttime="500ms", startretries=0,
                fatal_retry="1s")))
    tm.wait_log(r"phoenix FATAL: exited too quickly \(exit status 1\) \(gave up after 0 retries; next try in 1s\)")
    # forever: retries after 1 s, then 2 s; phoenix: FATAL again after each new try, a second apart.
    tm.wait_log(r"forever BACKOFF: .*; retry 2 of infinite in 2s", timeout=10)
    eventually(lambda: len(log_times(tm.log_text(), r"^\S+\s+phoenix FATAL")) >= 3, 10, 0.1, "three FATALs of phoenix")
    log = tm.log_text()
    fatal = log_times(log, r"^\S+\s+phoenix FATAL")
    check(len(fatal) >= 2, f"phoenix: {len(fatal)} FATAL lines: no retry out of FATAL")
    gaps = [b - a for a, b in zip(fatal, fatal[1:])]
    check(all(g >= 0.95 for g in gaps), f"phoenix: FATAL lines {gaps} s apart")
    check(not re.search(r"forever FATAL", log), "startretries: infinite gave up")
    states = tm.status()
    check(states["forever"][0] in ("BACKOFF", "STARTING"), states)
    tm.cmd("stop all")
    check(tm.quit() == 0)


@test
def starttime_zero_counts_a_process_as_started_at_once():
    tm = Daemon(config(program("quick", "true", numprocs=12, autostart=True, starttime=0, autorestart="never",
                               startretries=0)))
    states = eventually(lambda: (lambda s: s if len(s) == 12 and all(v[0] in ("EXITED", "FATAL") for v in s.values())
                                 else None)(tm.status()), 10, 0.1, "every quick:N to end")
    bad = {name: details for name, (state, details) in states.items() if state != "EXITED"}
    check(not bad, f"{len(bad)} of 12 were failed starts: {sorted(bad.items())[:2]}")


BLOCK = ("import os, signal; signal.pthread_sigmask(signal.SIG_BLOCK, [{}]); "
         "os.execvp('sleep', ['sleep', '100'])")
EXIT3 = "import os, signal; signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD]); os._exit(3)"


@test
def programs_that_block_sigchld_or_sigterm_are_supervised_as_any_other():
    tm = Daemon(config(
        program("nochld", f"python3 -c \"{BLOCK.format('signal.SIGCHLD')}\"", autostart=True, starttime="500ms"),
        program("deaf", f"python3 -c \"{BLOCK.format('signal.SIGCHLD, signal.SIGTERM')}\"", autostart=True,
                starttime="500ms", stoptime="1s"),
        program("quitter", f"python3 -c \"{EXIT3}\"",
                autostart=True, starttime=0, autorestart="never")))
    for name in ("nochld", "deaf"):
        tm.wait_state(name, "RUNNING")
    pids = {name: tm.pid(name) for name in ("nochld", "deaf")}
    for name, pid in pids.items():
        with open(f"/proc/{pid}/status") as f:
            blocked = int(re.search(r"^SigBlk:\s+([0-9a-f]+)", f.read(), re.M).group(1), 16)
        check(blocked & (1 << (signal.SIGCHLD - 1)), f"{name}: SIGCHLD not blocked in the child")
    # Its exit is seen like any other.
    check("exit status 3" in tm.wait_state("quitter", "EXITED"))
    check(tm.cmd("stop nochld") == ["nochld: stopped"])
    check("terminated by SIGTERM" in tm.state("nochld")[1])
    started = time.monotonic()
    check(tm.cmd("stop deaf") == ["deaf: stopped"])
    check(time.monotonic() - started >= 0.9 and "terminated by SIGKILL" in tm.state("deaf")[1], tm.state("deaf"))
    check(not alive(pids["nochld"]) and not alive(pids["deaf"]))
    check(tm.quit() == 0)


# Each process runs as the leader of its own group, so it cannot setsid() (EPERM); the only way to change its
# group is to join another group of its session: taskmaster's own.
JOIN = "os.setpgid(0, os.getpgid(os.getppid()))"


@test
def a_program_that_joins_another_process_group_is_still_stopped_by_its_pid():
    tm = Daemon(config(
        program("joiner", f"python3 -c 'import os; {JOIN}; os.execvp(\"sleep\", [\"sleep\", \"100\"])'",
                autostart=True, starttime="500ms", stoptime="2s"),
        program("sid", "python3 -c 'import os; os.setsid(); os.execvp(\"sleep\", [\"sleep\", \"100\"])'",
                autostart=True, starttime="500ms", startretries=0, autorestart="never",
                stderr="sid.err")))
    tm.wait_state("joiner", "RUNNING")
    pid = tm.pid("joiner")
    eventually(lambda: os.getpgid(pid) == os.getpgid(tm.proc.pid), 5, 0.05, "joiner to join taskmaster's group")
    started = time.monotonic()
    check(tm.cmd("stop joiner") == ["joiner: stopped"])
    check(time.monotonic() - started < 1.5, "it took SIGKILL: SIGTERM did not reach it")
    check(not alive(pid) and "terminated by SIGTERM" in tm.state("joiner")[1], tm.state("joiner"))
    check(tm.proc.poll() is None, "taskmaster was hit")
    # setsid() from the main process fails: it leads its own group.
    eventually(lambda: "PermissionError" in read_text(os.path.join(tm.dir, "sid.err")), 10, 0.1, "setsid to fail")
    check(tm.quit() == 0)


@test
def a_program_that_leaves_its_group_behind_a_child_is_still_stopped():
    tm = Daemon(config(program(
        "sneaky", "python3 -c 'import os, time; pid = os.fork(); pid or os.execvp(\"sleep\", [\"sleep\", \"100\"]); "
                  f"time.sleep(0.2); {JOIN}; os.execvp(\"sleep\", [\"sleep\", \"101\"])'",
        autostart=True, starttime="1s", stoptime="1s")))
    tm.wait_state("sneaky", "RUNNING")
    pid = tm.pid("sneaky")
    check(os.getpgid(pid) == os.getpgid(tm.proc.pid), "sneaky did not join taskmaster's group")
    try:
        tm.cmd("stop sneaky", timeout=5)
        check(not alive(pid), "sneaky survived its stop")
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)  # unblocks the stop, so that the test can end
    check(tm.quit() == 0)


if __name__ == "__main__":
    main()
