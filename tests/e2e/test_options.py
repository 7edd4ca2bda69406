"""Every option of the seed's configuration, seen from outside: processes killed by hand, exit codes, retries,
stop signals, environment, working directory, umask and output files; and the event log's own options (rotation,
SIGUSR2, the configuration's logfile keys) with a stderr that nobody reads."""

import os
import re
import resource
import select
import signal
import subprocess
import threading
import time

from tmtest import (LOG_LINE, TASKMASTER, Taskmaster, alive, check, config, eventually, helper, main, program,
                    read_file, run, stop_and_clean, test, tmpdir)

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


# --- the event log ----------------------------------------------------------------------------------------------

class NoShell:
    """`taskmaster --no-shell` on `taskmaster.yml` in directory d, driven with `taskmaster ctl`. No --log unless
    given in args: the configuration's logfile or the default applies."""

    def __init__(self, d, args=(), stderr=subprocess.DEVNULL):
        self.dir = d
        self.socket = os.path.join(d, "tm.sock")
        self.proc = subprocess.Popen([TASKMASTER, "-c", os.path.join(d, "taskmaster.yml"), "--no-shell",
                                      "--socket", self.socket, *args],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, cwd=d,
                                     start_new_session=True)
        self.seen_pids = set()
        Taskmaster._running.append(self)
        eventually(lambda: self.proc.poll() is not None or self.ctl("version")[0] == 0, 10, 0.05, "the socket")
        check(self.proc.poll() is None, f"taskmaster exited with {self.proc.returncode}")

    def ctl(self, *words, timeout=10.0):
        """(exit code, stdout) of `taskmaster ctl WORDS`."""
        p = subprocess.run([TASKMASTER, "ctl", "--socket", self.socket, *words], capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=timeout)
        return p.returncode, p.stdout

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(20)

    def kill(self):
        stop_and_clean(self.proc, self.seen_pids)


def size(path):
    """The file's size; 0 before it exists."""
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


def log_files(d, name):
    """The event log and its backups in d, oldest last: [name, name.1, name.2, ...]."""
    found = [f for f in os.listdir(d) if f == name or re.fullmatch(re.escape(name) + r"\.\d+", f)]
    return sorted(found, key=lambda f: int(f.rsplit(".", 1)[1]) if f != name else 0)


def check_whole_lines(path, max_bytes):
    text = read_file(path)
    check(0 < os.path.getsize(path) <= max_bytes, f"{path}: {os.path.getsize(path)} bytes")
    check(text.endswith("\n"), f"{path} ends mid-line")
    for line in text.splitlines():
        check(LOG_LINE.match(line), f"{path}: not a whole log line: {line!r}")


@test
def bad_event_log_options_are_usage_errors():
    for args, message in ((["--logfile-maxbytes", "lots"], "--logfile-maxbytes: expected a size"),
                          (["--logfile-backups", "1001"], "--logfile-backups: expected a number from 0 to 1000"),
                          (["--logfile-backups", "two"], "--logfile-backups: expected a number")):
        code, out, err = run(args)
        check(code == 2 and message in err and out == "", f"{args}: {code} {out!r} {err!r}")


@test
def event_log_rotates_at_logfile_maxbytes_and_keeps_logfile_backups():
    tm = Taskmaster(config(program("web", FOREVER, **QUICK)),
                    args=["--logfile-maxbytes", "2KB", "--logfile-backups", "2"])
    tm.wait_state("web", "RUNNING")
    for _ in range(60):  # each logs two lines of about 60 bytes: the command and the `version` after it
        tm.cmd("pid web")
    files = log_files(tm.dir, "taskmaster.log")
    check(files == ["taskmaster.log", "taskmaster.log.1", "taskmaster.log.2"], files)
    for f in files:
        check_whole_lines(os.path.join(tm.dir, f), 2048)
    for f in files[1:]:  # rotated when the next line did not fit: nearly full
        check(os.path.getsize(os.path.join(tm.dir, f)) > 2048 - 200, f"{f} rotated early")
    everything = "".join(read_file(os.path.join(tm.dir, f)) for f in reversed(files))
    check("started, pid" not in everything, "the oldest backup was not removed")
    times = [line.split()[0] for line in everything.splitlines()]
    check(times == sorted(times), "the backups are not in order, newest in .1")
    check(tm.cmd("pid web")[0].isdigit())
    check(re.search(r"INFO  command from shell: pid web\n.*\n$", tm.log_text()), "the newest lines are in the file")
    # maintail reads the same lines from memory, whatever the rotations.
    lines = tm.cmd("maintail -n 3")
    check(len(lines) == 3 and all(LOG_LINE.match(line) for line in lines), lines)
    check(lines[0].endswith("INFO  command from shell: pid web"), lines)
    check(lines[2].endswith("INFO  command from shell: maintail -n 3"), lines)


@test
def sigusr2_reopens_the_event_log_and_output_files_after_a_rename():
    d = tmpdir()
    err = os.path.join(d, "err.log")
    tm = Taskmaster(config(program("probe", helper("--stderr", "hello", "--forever"), stderr=err, **QUICK)),
                    directory=d)
    tm.wait_state("probe", "RUNNING")
    eventually(lambda: read_file(err) == "hello\n", message="the program's output")
    os.rename(tm.log, tm.log + ".old")  # what logrotate does before its postrotate script
    os.rename(err, err + ".old")
    tm.proc.send_signal(signal.SIGUSR2)
    tm.wait_log(r"^\S+ INFO  SIGUSR2: reopened the event log \S*taskmaster\.log and programs' output files$")
    check(tm.cmd("restart probe") == ["probe: started"])
    eventually(lambda: read_file(err) == "hello\n", message="the restarted program's output in the new file")
    check(read_file(err + ".old") == "hello\n", read_file(err + ".old"))
    old, new = read_file(tm.log + ".old"), tm.log_text()
    check("command from shell: restart probe" in new and "SIGUSR2" not in old, old)
    check("command from shell: restart probe" not in old, old)
    check(re.search(r"INFO  probe spawned, pid \d+", new), new)


@test
def configuration_logfile_keys_apply_after_the_command_line_and_on_reload():
    d = tmpdir()
    path = os.path.join(d, "taskmaster.yml")
    web = program("web", FOREVER, **QUICK)
    with open(path, "w") as f:
        f.write("logfile: events.log\nlogfile_maxbytes: 2KB\nlogfile_backups: 5\n" + config(web))
    tm = NoShell(d, ["--logfile-backups", "1"])  # the command line wins over logfile_backups: 5
    for _ in range(50):
        check(tm.ctl("pid", "web")[0] == 0)
    files = log_files(d, "events.log")
    check(files == ["events.log", "events.log.1"], files)
    for f in files:
        check_whole_lines(os.path.join(d, f), 2048)
    check(not os.path.exists(os.path.join(d, "taskmaster.log")), "the default log file was written")

    # A reload takes the new file and rotation at once.
    with open(path, "w") as f:
        f.write("logfile: moved.log\nlogfile_maxbytes: 0\n" + config(web))
    code, out = tm.ctl("reload")
    check(code == 0, out)
    old, moved = read_file(os.path.join(d, "events.log")), read_file(os.path.join(d, "moved.log"))
    check(re.search(r"INFO  event log rotation: never\n.* INFO  the event log moves to moved\.log\n$", old), old)
    check(re.search(r"^\S+ INFO  the event log moved here from events\.log$", moved, re.M), moved)
    for _ in range(50):
        check(tm.ctl("pid", "web")[0] == 0)
    check(os.path.getsize(os.path.join(d, "moved.log")) > 2048, "moved.log did not grow")
    check(log_files(d, "moved.log") == ["moved.log"], "moved.log rotated with logfile_maxbytes: 0")
    check(tm.stop() == 0)
    check(read_file(os.path.join(d, "moved.log")).endswith("INFO  taskmaster stopped\n"))


@test
def no_shell_keeps_supervising_when_nobody_reads_stderr():
    d = tmpdir()
    with open(os.path.join(d, "taskmaster.yml"), "w") as f:
        f.write(config(
            # Three lines per crash, restarted at once: thousands of lines a second.
            program("crasher", helper("--exit", "3"), autostart=True, autorestart="always", starttime=0,
                    restart_delay=0, startretries="infinite"),
            program("web", FOREVER, **QUICK)))
    read_end, write_end = os.pipe()  # its read end is not read until the end
    try:
        tm = NoShell(d, ["--log", "tm.log"], stderr=write_end)
    finally:
        os.close(write_end)
    log = os.path.join(d, "tm.log")
    # Far more than the pipe (64 KiB) and the queue behind it (1 MiB) hold: before, taskmaster stopped here.
    eventually(lambda: size(log) > 2 << 20, 120, 0.2, "2 MiB of log lines")

    def spawns():
        return read_file(log).count("INFO  crasher spawned")
    before = spawns()
    for _ in range(5):
        started = time.monotonic()
        code, out = tm.ctl("status", "web")
        took = time.monotonic() - started
        check(code == 0 and "RUNNING" in out, out)
        check(took < 2, f"ctl status took {took:.2f} s")
    eventually(lambda: spawns() > before + 100, 20, 0.2, "more restarts of crasher")

    # Once stderr is read again, what was dropped is said.
    seen, deadline = b"", time.monotonic() + 30
    while b"bytes dropped: the reader is not reading" not in seen:
        check(time.monotonic() < deadline, "no line about the dropped bytes on stderr")
        if select.select([read_end], [], [], 0.5)[0]:
            seen = seen[-200:] + os.read(read_end, 1 << 16)
    drainer = threading.Thread(target=lambda: [None for _ in iter(lambda: os.read(read_end, 1 << 16), b"")],
                               daemon=True)
    drainer.start()
    check(tm.stop() == 0)
    drainer.join(10)
    os.close(read_end)



@test
def a_file_size_limit_drops_log_lines_and_never_stops_taskmaster():
    d = tmpdir()
    limit, probe = 64 << 10, os.path.join(d, "probe.out")

    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    tm = Taskmaster(config(
        program("crasher", helper("--exit", "3"), autostart=True, autorestart="always", starttime=0, restart_delay=0,
                startretries="infinite"),
        program("probe", helper("--print-sigstate", "--forever"), stdout=probe, **QUICK)),
        directory=d, preexec_fn=limited)
    eventually(lambda: size(tm.log) > limit - 200, 60, 0.1, "the event log at the file-size limit")
    # Past the limit a write fails with EFBIG rather than SIGXFSZ ending taskmaster: it goes on supervising.
    pid = tm.pid("crasher") or tm.pid("crasher")
    eventually(lambda: tm.pid("crasher") not in (0, pid), 10, 0.05, "another restart of crasher")
    check(tm.state("probe")[0] == "RUNNING")
    check(os.path.getsize(tm.log) <= limit, os.path.getsize(tm.log))
    # Its programs ignore nothing: SIGXFSZ has its default disposition again.
    eventually(lambda: "SigIgn:" in read_file(probe), message="the probe's signal masks")
    check("SigIgn:\t0000000000000000" in read_file(probe), read_file(probe))
    # Once the file can grow again, the first line says what was lost.
    os.rename(tm.log, tm.log + ".old")
    tm.proc.send_signal(signal.SIGUSR2)
    tm.wait_log(r"INFO  SIGUSR2: reopened the event log")
    first = tm.log_text().splitlines()[0]
    check(re.fullmatch(r"\[taskmaster\] \d+ bytes dropped: File too large", first), first)

if __name__ == "__main__":
    main()
