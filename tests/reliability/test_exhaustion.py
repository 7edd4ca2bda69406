"""Resource exhaustion: taskmaster under a low RLIMIT_NOFILE, and as user nobody under a low RLIMIT_NPROC.

Spawns that fail for want of fds (EMFILE) or processes (EAGAIN) are failed starts that say why; the shell and the
control socket keep answering throughout; once resources come back (some programs stopped), `start` works again.
"""

import os
import re
import resource

from rtest import (NOBODY, Daemon, alive, as_user, check, eventually, main, processes_of, program,
                   shared_dir, test, with_limits)


def states(tm):
    return {name: (state, details) for name, (state, details) in tm.status().items()}


def settled(tm, count, patient=()):
    """Waits until `count` instances exist and none is STARTING or BACKOFF (but those in `patient`, which may
    be in BACKOFF); returns the status without them."""
    def done():
        s = {k: v for k, v in states(tm).items() if k not in patient}
        return s if len(s) == count and all(v[0] not in ("STARTING", "BACKOFF") for v in s.values()) else None
    return eventually(done, 30, 0.2, f"{count} instances to settle")


def start_and_check(tm, names, reason):
    """`start NAMES`: every answer is `NAME: started`."""
    answer = tm.cmd("start " + " ".join(names), timeout=30)
    check(answer == [f"{name}: started" for name in names], f"start after recovery: {answer}")
    for name in names:
        check(tm.state(name)[0] == "RUNNING", (name, tm.state(name), reason))


FD_LIMIT = 100  # taskmaster itself needs ~17 fds; each running child costs four (pidfd, two pipes, its file)
FD_PROCESSES = 40


@test
def out_of_fds_spawns_fail_with_emfile_and_the_daemon_recovers():
    progs = "".join(program(f"p{i:02}", "sleep 1000", autostart=True, starttime="200ms", startretries=0,
                            stdout=f"p{i:02}.out") for i in range(FD_PROCESSES))
    # Spawned last, it fails too, but retries (after 1, 2, 3... s): it must come up by itself once fds are back.
    progs += program("retrier", "sleep 1000", autostart=True, starttime="200ms", startretries=8, stdout="retrier.out")
    tm = Daemon("programs:\n" + progs, preexec_fn=with_limits((resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))))
    s = settled(tm, FD_PROCESSES, patient=("retrier",))
    state, details = tm.state("retrier")
    check(state in ("BACKOFF", "STARTING") and ("Too many open files" in details or state == "STARTING"),
          (state, details))
    running = sorted(n for n, (st, _) in s.items() if st == "RUNNING")
    failed = sorted(n for n, (st, _) in s.items() if st != "RUNNING")
    print(f"  RLIMIT_NOFILE {FD_LIMIT}: {len(running)} of {FD_PROCESSES} spawned, {len(failed)} failed "
          f"({s[failed[0]][1] if failed else '-'}); daemon fds {len(os.listdir(f'/proc/{tm.proc.pid}/fd'))}")
    check(running and failed, f"expected some spawns to fail and some to work: {len(running)} running")
    for name in failed:
        state, details = s[name]
        check(state == "FATAL" and "spawn error" in details and "Too many open files" in details, (name, s[name]))
    log = tm.log_text()
    check(len(re.findall(r"ERROR p\d\d FATAL: spawn error: .*Too many open files", log)) == len(failed), log[-2000:])

    # The shell and the socket still answer, at the limit (the socket keeps a reserve fd for a client).
    check(tm.cmd("pid") == [str(tm.proc.pid)])
    for _ in range(3):
        code, out, err = tm.ctl("status", failed[0])
        check(code in (0, 1) and "Too many open files" in out, (code, out, err))
    code, out, err = tm.ctl("pid")
    check(code == 0 and out.strip() == str(tm.proc.pid), (code, out, err))
    # A start that fails again says so, and changes nothing else. A spawn needs one fd of the supervisor (its
    # pidfd), which the socket clients above may just have given back: then it starts.
    answer = tm.cmd(f"start {failed[0]}")
    if answer == [f"{failed[0]}: started"]:
        running.append(failed.pop(0))
    else:
        check(len(answer) == 1 and "ERROR" in answer[0] and "Too many open files" in answer[0], answer)

    # Resources come back: stop all but 3 of the running programs, then start almost as many of the failed ones
    # (a spawn needs a few fds of its own for a moment, and a client of the socket one more).
    stopped = running[3:]
    answer = tm.cmd("stop " + " ".join(stopped), timeout=30)
    check(answer == [f"{name}: stopped" for name in stopped], answer)
    again = failed[:len(stopped) - 3]
    start_and_check(tm, again, "fds back")
    tm.wait_state("retrier", "RUNNING", timeout=20)
    check(re.search(r"WARN  retrier BACKOFF: spawn error: .*Too many open files; retry 1 of 8", tm.log_text()))
    # And the socket too, through a command that changes something.
    code, out, err = tm.ctl("stop", again[0])
    check(code == 0 and out.strip() == f"{again[0]}: stopped", (code, out, err))
    code, out, err = tm.ctl("start", again[0])
    check(code == 0 and out.strip() == f"{again[0]}: started", (code, out, err))
    check(tm.quit() == 0)


NPROC_HEADROOM = 8  # processes nobody may still create: taskmaster's children
NPROC_PROCESSES = 20


@test
def out_of_processes_spawns_fail_with_eagain_and_the_daemon_recovers():
    if os.geteuid() != 0:
        print("  skip: RLIMIT_NPROC is only tested as root (it runs taskmaster as nobody, where the limit holds)")
        return
    directory = shared_dir(NOBODY)
    already = processes_of(NOBODY)
    limit = already + 1 + NPROC_HEADROOM  # + taskmaster itself
    progs = "".join(program(f"n{i:02}", "sleep 1000", autostart=True, starttime="200ms", startretries=0)
                    for i in range(NPROC_PROCESSES))
    tm = Daemon("programs:\n" + progs, directory=directory,
                preexec_fn=as_user(NOBODY, NOBODY, [(resource.RLIMIT_NPROC, (limit, limit))]))
    s = settled(tm, NPROC_PROCESSES)
    running = sorted(n for n, (st, _) in s.items() if st == "RUNNING")
    failed = sorted(n for n, (st, _) in s.items() if st != "RUNNING")
    print(f"  RLIMIT_NPROC {limit} ({already} processes of nobody before): {len(running)} of {NPROC_PROCESSES} "
          f"spawned, {len(failed)} failed ({s[failed[0]][1] if failed else '-'})")
    check(running and failed, f"expected some spawns to fail and some to work: {len(running)} running")
    for name in failed:
        state, details = s[name]
        check(state == "FATAL" and "spawn error" in details and "Resource temporarily unavailable" in details,
              (name, s[name]))
    check(re.search(r"ERROR n\d\d FATAL: spawn error: .*Resource temporarily unavailable", tm.log_text()))
    for pid in [int(re.search(r"pid (\d+)", s[n][1]).group(1)) for n in running]:
        with open(f"/proc/{pid}/status") as f:
            check(re.search(rf"^Uid:\s+{NOBODY}\s", f.read(), re.M), f"pid {pid} does not run as nobody")

    # The shell and the socket still answer (a connection needs no process).
    check(tm.cmd("pid") == [str(tm.proc.pid)])
    code, out, err = tm.ctl("status", failed[0])
    check(code in (0, 1) and "Resource temporarily unavailable" in out, (code, out, err))
    answer = tm.cmd(f"start {failed[0]}")
    check(len(answer) == 1 and "Resource temporarily unavailable" in answer[0], answer)

    # Processes come back: stop all but 2 of the running ones, start as many of the failed ones.
    stopped = running[2:]
    pids = [tm.pid(n) for n in stopped]
    answer = tm.cmd("stop " + " ".join(stopped), timeout=30)
    check(answer == [f"{name}: stopped" for name in stopped], answer)
    eventually(lambda: not any(alive(p) for p in pids), 5, 0.05, "the stopped processes to be gone")
    again = failed[:len(stopped)]
    start_and_check(tm, again, "processes back")
    code, out, err = tm.ctl("restart", again[0])
    check(code == 0 and out.strip() == f"{again[0]}: started", (code, out, err))
    check(tm.quit() == 0)


if __name__ == "__main__":
    main()
