"""The shell's commands, scripted through a pipe: answers, waiting, errors, ordering, quitting."""

import os
import re
import signal
import subprocess
import time

from tmtest import (TASKMASTER, Taskmaster, alive, check, config, eventually, helper, main, program, read_file, test,
                    tmpdir)

FOREVER = helper("--forever")


@test
def status_is_an_aligned_table():
    tm = Taskmaster(config(program("web", FOREVER, numprocs=2, autostart=True, starttime="100ms"),
                           program("idle", FOREVER),
                           program("longer_name", FOREVER, autostart=True, starttime="100ms")))
    tm.wait_state("web:1", "RUNNING")
    tm.wait_state("longer_name", "RUNNING")
    lines = tm.cmd("status")
    check([line.split()[0] for line in lines] == ["idle", "longer_name", "web:0", "web:1"], lines)
    state_columns = {line.index(line.split()[1]) for line in lines}
    check(len(state_columns) == 1, f"state column not aligned: {lines}")
    check(lines[0].split()[1:] == ["STOPPED", "not", "started"], lines[0])
    running = [line for line in lines if " RUNNING " in line]
    detail_columns = {line.index("pid") for line in running}
    check(len(detail_columns) == 1, f"details not aligned: {lines}")
    for line in running:
        check(re.search(r"RUNNING {4}pid \d+, uptime 0:00:0\d$", line), line)
    check("\x1b" not in "".join(lines), "colour on a pipe")
    # Names pick lines; the program name gives all its instances.
    check([line.split()[0] for line in tm.cmd("status web idle")] == ["web:0", "web:1", "idle"])
    check(len(tm.cmd("status web:1")) == 1)


@test
def start_waits_until_running_then_the_next_command_runs():
    tm = Taskmaster(config(program("slow", FOREVER, starttime="700ms")))
    started = time.monotonic()
    check(tm.cmd("start slow") == ["slow: started"])
    check(time.monotonic() - started >= 0.6, "start did not wait for starttime")
    check(tm.state("slow")[0] == "RUNNING")
    check(tm.quit() == 0)


@test
def commands_are_answered_in_order():
    tm = Taskmaster(config(program("a", FOREVER, starttime="300ms")))
    tm.write("start a\nstatus a\nstop a\nstatus a\n")
    lines = tm.cmd("pid a")
    check(lines[0] == "a: started", lines)
    check(re.match(r"a\s+RUNNING\s+pid \d+", lines[1]), lines)
    check(lines[2] == "a: stopped", lines)
    check(re.match(r"a\s+STOPPED\s+terminated by SIGTERM at \d\d:\d\d:\d\d$", lines[3]), lines)
    check(lines[4] == "0", lines)


@test
def start_failure_says_why():
    tm = Taskmaster(config(program("ghost", "/no/such/binary --flag", startretries=0, starttime="100ms"),
                           program("ok", FOREVER, starttime="100ms")))
    lines = tm.cmd("start ghost ok")
    check(lines[0].startswith("ghost: ERROR (spawn error: /no/such/binary: No such file or directory"), lines)
    check(lines[1] == "ok: started", lines)


@test
def stop_restart_and_all():
    tm = Taskmaster(config(program("web", FOREVER, numprocs=2, autostart=True, starttime="100ms"),
                           program("db", FOREVER, autostart=True, starttime="100ms")))
    tm.wait_state("web:1", "RUNNING")
    tm.wait_state("db", "RUNNING")
    before = tm.pid("web:0")
    check(tm.cmd("restart web:0") == ["web:0: started"])
    after = tm.pid("web:0")
    check(after != before and not alive(before), f"{before} -> {after}")
    check(tm.cmd("stop web") == ["web:0: stopped", "web:1: stopped"])
    check(tm.cmd("stop web:1") == ["web:1: not running"])
    check(tm.cmd("start web:1") == ["web:1: started"])
    check(tm.cmd("start web:1") == ["web:1: already started"])
    check(tm.cmd("stop all") == ["db: stopped", "web:0: not running", "web:1: stopped"])
    states = {name: s for name, (s, _) in tm.status().items()}
    check(set(states.values()) == {"STOPPED"}, states)
    check(sorted(tm.cmd("start all")) == ["db: started", "web:0: started", "web:1: started"])


@test
def unknown_commands_and_names_get_a_suggestion():
    tm = Taskmaster(config(program("webserver", FOREVER)))
    check(tm.cmd("stauts") == ["unknown command 'stauts' (did you mean 'status'?); type 'help' for the list"])
    check(tm.cmd("frobnicate") == ["unknown command 'frobnicate'; type 'help' for the list"])
    check(tm.cmd("start websrever") == ["websrever: ERROR (no such program; did you mean 'webserver'?)"])
    check(tm.cmd("status nothing") == ["nothing: ERROR (no such program)"])
    check(tm.cmd("start") == ["usage: start NAME..."])
    check(tm.cmd("signal TERM") == ["usage: signal SIGNAL NAME..."])
    check(tm.cmd("status 'unterminated") == ["unterminated quote or trailing backslash"])
    check(tm.cmd("") == [] and tm.cmd("   ") == [] and tm.cmd("# comment") == [])
    check(re.match(r"taskmaster \d", tm.cmd("version")[0]), "the shell goes on")
    log = tm.log_text()
    check("WARN  command from shell failed: stauts: unknown command 'stauts'" in log, log)


@test
def pid_of_taskmaster_and_of_programs():
    tm = Taskmaster(config(program("web", FOREVER, numprocs=2, autostart=True, starttime="100ms"),
                           program("one", FOREVER, autostart=True, starttime="100ms"),
                           program("off", FOREVER)))
    tm.wait_state("web:1", "RUNNING")
    tm.wait_state("one", "RUNNING")
    check(tm.cmd("pid") == [str(tm.proc.pid)])
    one = tm.pid("one")
    check(f"pid {one}," in tm.state("one")[1])
    check(read_file(f"/proc/{one}/cmdline").split("\0")[0] == helper().strip())
    lines = tm.cmd("pid web")
    check([line.split()[0] for line in lines] == ["web:0", "web:1"] and all(int(line.split()[1]) for line in lines),
          lines)
    check(tm.cmd("pid off") == ["0"])


@test
def signal_sends_to_the_process():
    tm = Taskmaster(config(program("victim", FOREVER, autostart=True, starttime="100ms", autorestart="never")))
    tm.wait_state("victim", "RUNNING")
    pid = tm.pid("victim")
    check(tm.cmd("signal USR1 victim") == [f"victim: sent SIGUSR1 to pid {pid}"])
    details = tm.wait_state("victim", "EXITED")
    check(details.startswith("terminated by SIGUSR1"), details)
    check(tm.cmd("signal KILL victim") == ["victim: ERROR (not running)"])
    check(tm.cmd("signal NOPE victim") == ["unknown signal 'NOPE'"])
    check(tm.cmd("signal 15 nobody") == ["nobody: ERROR (no such program)"])


@test
def help_lists_and_explains():
    tm = Taskmaster(config(program("x", FOREVER)))
    lines = tm.cmd("help")
    for command in ["help", "status", "start", "stop", "restart", "reload", "pid", "signal", "version", "quit"]:
        check(any(line.strip().startswith(command) for line in lines), f"{command} missing from help")
    check(tm.cmd("help stop")[0] == "usage: stop NAME...")
    check(tm.cmd("help exit")[0] == "usage: quit")
    check(tm.cmd("help stpo") == ["no command 'stpo' (did you mean 'stop'?)"])


@test
def quit_and_exit_leave_nothing_running():
    for word in ["quit", "exit"]:
        d = tmpdir()
        grandchild = os.path.join(d, "grandchild.pid")
        tm = Taskmaster(config(program("family", helper("--grandchild", grandchild, "--forever"), autostart=True,
                                       starttime="100ms"),
                               program("pair", FOREVER, numprocs=2, autostart=True, starttime="100ms")),
                        directory=d)
        tm.wait_state("family", "RUNNING")
        tm.wait_state("pair:1", "RUNNING")
        pids = [tm.pid("family"), int(eventually(lambda: read_file(grandchild).strip()))]
        pids += [int(line.split()[1]) for line in tm.cmd("pid pair")]
        tm.write(word + "\nstatus\n")  # nothing after quit is read
        check(tm.wait() == 0)
        check(tm.stdout.empty(), "a command after quit was answered")
        for pid in pids:
            check(not alive(pid), f"{word}: pid {pid} left behind")


@test
def notices_go_to_stderr_in_a_script():
    tm = Taskmaster(config(program("crasher", helper("--sleep", "300", "--exit", "7"), autostart=True,
                                   starttime="100ms", autorestart="never"),
                           program("ghost", "/no/such/binary", autostart=True, startretries=0)))
    eventually(lambda: "crasher exited unexpectedly (exit status 7)" in tm.stderr(), message="notice")
    eventually(lambda: "ghost is FATAL: spawn error" in tm.stderr(), message="FATAL notice")
    check(tm.cmd("status crasher")[0].split()[1] == "EXITED")


@test
def flood_of_output_keeps_the_shell_responsive():
    d = tmpdir()
    out = os.path.join(d, "flood.out")
    size = 30_000_000
    tm = Taskmaster(config(program("flood", helper("--spam", str(size), "--forever"), autostart=True,
                                   starttime="100ms", stdout=out),
                           program("noise", helper("--spam", "5000000"), autostart=True, starttime="0",
                                   autorestart="always")), directory=d)
    slowest, answered, until = 0.0, 0, time.monotonic() + 2.0
    while time.monotonic() < until:
        started = time.monotonic()
        check(tm.cmd("status flood") != [])
        slowest = max(slowest, time.monotonic() - started)
        answered += 1
    check(slowest < 1.0 and answered > 20, f"{answered} answers, the slowest in {slowest:.2f} s")
    eventually(lambda: os.path.getsize(out) >= size, 30, 0.2, "the flood to be written")
    check(tm.state("flood")[0] == "RUNNING")
    check(tm.quit() == 0)


@test
def a_reader_that_stops_reading_does_not_stop_supervision():
    d = tmpdir()
    path, log = os.path.join(d, "taskmaster.yml"), os.path.join(d, "taskmaster.log")
    with open(path, "w") as f:
        f.write(config(program("victim", FOREVER, autostart=True, starttime="100ms", autorestart="always")))
    p = subprocess.Popen([TASKMASTER, "-c", path, "--log", log], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, cwd=d)
    try:
        p.stdin.write(b"help\n" * 500)  # far more answers than a pipe holds, and nobody reads them yet
        p.stdin.flush()
        running = eventually(lambda: re.search(r"victim RUNNING, pid (\d+)", read_file(log)), message="RUNNING")
        pid = int(running.group(1))
        eventually(lambda: read_file(log).count("command from shell: help") > 10, message="some commands")
        os.kill(pid, signal.SIGKILL)
        eventually(lambda: re.search(r"victim spawned, pid \d+ \(autorestart\)", read_file(log)), message="a restart")
        eventually(lambda: read_file(log).count("victim RUNNING") == 2, message="RUNNING again")
        check(read_file(log).count("command from shell: help") < 500, "the answers did not wait for the reader")
        p.stdin.close()
        out = p.stdout.read()  # now read: the answers flow, the end of input comes, taskmaster quits
        check(out.count(b"Commands:") == 500, f"{out.count(b'Commands:')} answers")
        check(p.wait(20) == 0)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


if __name__ == "__main__":
    main()
