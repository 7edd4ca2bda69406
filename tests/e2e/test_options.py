"""Every option of the seed's configuration, seen from outside: processes killed by hand, exit codes, retries,
stop signals, environment, working directory, umask and output files."""

import os
import re
import signal
import time

from tmtest import Taskmaster, alive, check, config, eventually, helper, main, program, read_file, test, tmpdir

FOREVER = helper("--forever")
QUICK = {"autostart": True, "starttime": "100ms"}


def restarted(tm, name, old_pid):
    """Waits for a RUNNING process other than old_pid; returns its pid."""
    def fresh():
        state, details = tm.state(name)
        m = re.search(r"pid (\d+)", details)
        return state == "RUNNING" and m and int(m.group(1)) != old_pid and int(m.group(1))
    return eventually(fresh, 10, 0.1, f"{name} to run again")


@test
def autorestart_always_restarts_after_a_kill_and_after_a_clean_exit():
    tm = Taskmaster(config(program("always", FOREVER, autorestart="always", **QUICK),
                           program("clean", helper("--sleep", "300", "--exit", "0"), autorestart="always", **QUICK)))
    tm.wait_state("always", "RUNNING")
    pid = tm.pid("always")
    os.kill(pid, signal.SIGKILL)
    restarted(tm, "always", pid)
    tm.wait_log(r"WARN  always exited unexpectedly \(terminated by SIGKILL\), pid \d+")
    tm.wait_log(r"INFO  always spawned, pid \d+ \(autorestart\)")
    tm.wait_log(r"INFO  clean exited \(exit status 0\), pid \d+, expected")
    tm.wait_log(r"clean spawned, pid \d+ \(autorestart\)")


@test
def autorestart_never_leaves_it_exited():
    tm = Taskmaster(config(program("never", FOREVER, autorestart="never", **QUICK)))
    tm.wait_state("never", "RUNNING")
    os.kill(tm.pid("never"), signal.SIGKILL)
    details = tm.wait_state("never", "EXITED")
    check(details.startswith("terminated by SIGKILL at "), details)
    time.sleep(1.2)
    check(tm.state("never")[0] == "EXITED" and tm.pid("never") == 0, "restarted anyway")


@test
def autorestart_unexpected_follows_exitcodes():
    tm = Taskmaster(config(
        program("expected", helper("--sleep", "400", "--exit", "2"), exitcodes=[0, 2], autorestart="unexpected",
                **QUICK),
        program("unexpected", helper("--sleep", "400", "--exit", "3"), exitcodes=[0, 2], autorestart="unexpected",
                **QUICK),
        program("killed", FOREVER, exitcodes=[0, 2], **QUICK)))
    details = tm.wait_state("expected", "EXITED")
    check(details.startswith("exit status 2"), details)
    tm.wait_log(r"INFO  expected exited \(exit status 2\), pid \d+, expected")
    tm.wait_log(r"WARN  unexpected exited unexpectedly \(exit status 3\)")
    tm.wait_log(r"unexpected spawned, pid \d+ \(autorestart\)")
    tm.wait_state("killed", "RUNNING")
    pid = tm.pid("killed")
    os.kill(pid, signal.SIGTERM)  # the default autorestart is unexpected, and a signal is never expected
    restarted(tm, "killed", pid)
    check(tm.state("expected")[0] == "EXITED", "an expected exit was restarted")


@test
def numprocs_runs_independent_instances():
    tm = Taskmaster(config(program("pool", FOREVER, numprocs=3, **QUICK)))
    for i in range(3):
        tm.wait_state(f"pool:{i}", "RUNNING")
    pids = [int(line.split()[1]) for line in tm.cmd("pid pool")]
    check(len(set(pids)) == 3 and all(alive(p) for p in pids), pids)
    check(tm.cmd("stop pool:1") == ["pool:1: stopped"])
    states = {name: s for name, (s, _) in tm.status("pool").items()}
    check(states == {"pool:0": "RUNNING", "pool:1": "STOPPED", "pool:2": "RUNNING"}, states)


@test
def autostart_false_waits_for_start():
    tm = Taskmaster(config(program("manual", FOREVER, starttime="100ms")))
    time.sleep(0.3)
    check(tm.state("manual") == ("STOPPED", "not started"), tm.state("manual"))
    check(tm.cmd("start manual") == ["manual: started"])


@test
def never_starting_program_goes_fatal_after_startretries():
    tm = Taskmaster(config(program("flaky", helper("--exit", "1"), startretries=2, autostart=True, starttime="300ms")))
    details = tm.wait_state("flaky", "FATAL", timeout=15)
    check("exited too quickly (exit status 1)" in details and "gave up after 2 retries" in details, details)
    log = tm.log_text()
    check(len(re.findall(r"INFO  flaky spawned", log)) == 3, log)
    check(re.search(r"WARN  flaky BACKOFF: exited too quickly \(exit status 1\); retry 1 of 2 in 1s", log), log)
    check(re.search(r"INFO  flaky spawned, pid \d+ \(retry 2 of 2\)", log), log)
    check(re.search(r"ERROR flaky FATAL: exited too quickly \(exit status 1\) \(gave up after 2 retries\)", log), log)
    # A user start tries again from scratch.
    check(tm.cmd("start flaky", timeout=20)[0].startswith("flaky: ERROR ("), "start of a failing program")


@test
def missing_binary_goes_fatal_without_retries_when_startretries_is_0():
    tm = Taskmaster(config(program("ghost", "/no/such/binary", startretries=0, autostart=True)))
    details = tm.wait_state("ghost", "FATAL")
    check(details.startswith("spawn error: /no/such/binary: No such file or directory"), details)
    tm.wait_log(r"ERROR ghost FATAL: spawn error")


@test
def starttime_decides_what_counts_as_started():
    tm = Taskmaster(config(
        program("brief", helper("--sleep", "300", "--exit", "0"), autostart=True, starttime="1s", startretries=0),
        program("enough", helper("--sleep", "600", "--exit", "0"), autostart=True, starttime="200ms",
                autorestart="never")))
    details = tm.wait_state("brief", "FATAL")
    check("exited too quickly (exit status 0)" in details, details)
    details = tm.wait_state("enough", "EXITED")
    check(details.startswith("exit status 0"), details)
    check(re.search(r"INFO  enough RUNNING", tm.log_text()), "enough never RUNNING")


@test
def stoptime_then_sigkill_for_a_program_that_ignores_the_stopsignal():
    tm = Taskmaster(config(program("stubborn", helper("--ignore-term", "--forever"), stoptime="500ms", **QUICK)))
    tm.wait_state("stubborn", "RUNNING")
    pid = tm.pid("stubborn")
    started = time.monotonic()
    check(tm.cmd("stop stubborn") == ["stubborn: stopped"])
    took = time.monotonic() - started
    check(0.4 <= took < 5, f"stop took {took:.2f} s")
    check(not alive(pid))
    check(tm.state("stubborn")[1].startswith("terminated by SIGKILL"), tm.state("stubborn"))
    log = tm.log_text()
    check(re.search(r"INFO  stubborn stop requested: sending SIGTERM to pid \d+, SIGKILL after 500ms", log), log)
    check(re.search(r"WARN  stubborn killed with SIGKILL: still running 500ms after SIGTERM, pid \d+", log), log)


@test
def stopsignal_is_what_stop_sends():
    tm = Taskmaster(config(
        program("usr1", FOREVER, stopsignal="USR1", stoptime=30, **QUICK),
        program("int", helper("--ignore-term", "--forever"), stopsignal="INT", stoptime=30, **QUICK)))
    tm.wait_state("usr1", "RUNNING")
    tm.wait_state("int", "RUNNING")
    started = time.monotonic()
    check(tm.cmd("stop usr1 int") == ["usr1: stopped", "int: stopped"])
    check(time.monotonic() - started < 5, "waited for stoptime")
    check(tm.state("usr1")[1].startswith("terminated by SIGUSR1"), tm.state("usr1"))
    check(tm.state("int")[1].startswith("terminated by SIGINT"), tm.state("int"))


@test
def env_workingdir_umask_and_output_files():
    d = tmpdir()
    work = os.path.join(d, "work")
    os.makedirs(work)
    out, err = os.path.join(d, "out.log"), os.path.join(d, "err.log")
    tm = Taskmaster(config(program(
        "probe", helper("--print-env", "GREETING", "--print-env", "HOME", "--print-cwd", "--print-umask",
                        "--stderr", "to-stderr", "--forever"),
        env={"GREETING": "hello world"}, workingdir=work, umask="027", stdout=out, stderr=err, **QUICK),
        program("defaults", helper("--print-umask", "--forever"), stdout=os.path.join(d, "defaults.log"), **QUICK)),
        directory=d)
    tm.wait_state("probe", "RUNNING")
    lines = eventually(lambda: len(read_file(out).splitlines()) >= 4 and read_file(out).splitlines())
    check(lines[0] == "GREETING=hello world", lines)
    check(lines[1] == f"HOME={os.environ['HOME']}", f"the environment is not inherited: {lines}")
    check(lines[2] == work and lines[3] == "0027", lines)
    check(read_file(err) == "to-stderr\n", read_file(err))
    eventually(lambda: read_file(os.path.join(d, "defaults.log")) == "0022\n", message="the default umask 022")
    # Output files are appended to, never truncated.
    check(tm.cmd("restart probe") == ["probe: started"])
    eventually(lambda: read_file(err) == "to-stderr\nto-stderr\n", message="stderr appended")
    check(len(read_file(out).splitlines()) >= 4)


if __name__ == "__main__":
    main()
