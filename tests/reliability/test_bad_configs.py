"""The bad configuration corpus (bad-configs/, expectations in bad-configs/expectations.txt).

A: `taskmaster -c FILE` exits with the expected code, prints the expected file:line:column message, starts
   nothing, and echoes no raw control character. Also the cases that are not files in the corpus: a directory,
   a missing file, an unreadable file (as user nobody), a FIFO and an endless file (/dev/zero).
B: the same files, each copied over the configuration of a running fleet of ~20 processes and reloaded (by
   the `reload` command and by SIGHUP, in turn), leave the fleet untouched; a good reload at the end still works.
"""

import os
import re
import resource
import shutil
import signal
import subprocess
import time

from rtest import (TASKMASTER, Daemon, alive, as_user, check, config, control_chars, eventually, helper, known_bug,
                   main, program, read_text, test, tmpdir, with_limits)

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bad-configs")


class Case:
    def __init__(self, name, code, fragment, known_bug=None):
        self.name, self.code, self.fragment, self.known_bug = name, code, fragment, known_bug
        self.path = os.path.join(CORPUS, name)


def corpus():
    cases = []
    with open(os.path.join(CORPUS, "expectations.txt")) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            fields = line.split("\t")
            check(len(fields) in (3, 4), f"expectations.txt: bad line {line!r}")
            cases.append(Case(fields[0], int(fields[1]), fields[2], fields[3] if len(fields) == 4 else None))
    listed = {c.name for c in cases}
    on_disk = {n for n in os.listdir(CORPUS) if n != "expectations.txt"}
    check(listed == on_disk, f"files without expectations: {sorted(on_disk - listed)}; "
                             f"expectations without files: {sorted(listed - on_disk)}")
    check(len(cases) >= 40, f"only {len(cases)} files in the corpus")
    return cases


class Results:
    """Per-file outcomes: a failure of a file with a known bug is an expected failure, not a test failure."""

    def __init__(self, label):
        self.label, self.passed, self.failed, self.xfailed, self.xpassed = label, 0, [], [], []

    def record(self, case, problems):
        if not problems:
            if case.known_bug:
                self.xpassed.append(case.name)
                print(f"  XPASS {case.name}: known bug fixed? ({case.known_bug}); update expectations.txt")
            else:
                self.passed += 1
        elif case.known_bug:
            self.xfailed.append(case.name)
            print(f"  xfail {case.name}: {case.known_bug}: {problems[0]}")
        else:
            self.failed.append(case.name)
            for p in problems:
                print(f"  FAIL  {case.name}: {p}")

    def finish(self):
        print(f"  {self.label}: {self.passed + len(self.xpassed)} files as expected, {len(self.failed)} not, "
              f"{len(self.xfailed)} known bugs (xfail), {len(self.xpassed)} xpass", flush=True)
        check(not self.failed, f"{len(self.failed)} files not handled as expected: {', '.join(self.failed)}")


def run_taskmaster(config_path, directory, preexec_fn=None, timeout=20.0):
    """taskmaster -c CONFIG with stdin at its end: (exit code or None on timeout, stdout, stderr, log)."""
    log = os.path.join(directory, "taskmaster.log")
    sock = os.path.join(directory, "tm.sock")
    if os.path.exists(log):
        os.unlink(log)
    try:
        p = subprocess.run([TASKMASTER, "-c", config_path, "--log", log, "--socket", sock],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, cwd=directory,
                           preexec_fn=preexec_fn)
        code, out, err = p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired as e:
        code, out = None, (e.stdout or b"").decode(errors="replace")
        err = (e.stderr or b"").decode(errors="replace")
    return code, out, err, read_text(log)


def startup_problems(case, config_path, directory, preexec_fn=None, timeout=20.0):
    """Everything wrong with `taskmaster -c config_path` for this case, as a list of messages."""
    started = time.monotonic()
    code, out, err, log = run_taskmaster(config_path, directory, preexec_fn, timeout)
    problems = []
    if code is None:
        return [f"still running after {timeout} s (stderr so far: {err[:200]!r})"]
    if code != case.code:
        problems.append(f"exit code {code}, expected {case.code} (stderr: {err[:300]!r})")
    if config_path + case.fragment not in err:
        problems.append(f"stderr lacks {config_path + case.fragment!r}: {err[:400]!r}")
    # Every problem line carries the file name, and the last line counts them.
    lines = [line for line in err.splitlines() if line]
    diagnostics = [line for line in lines if line.startswith(config_path + ":")]
    m = re.fullmatch(r"taskmaster: (\d+) problems? in (.*); nothing started", lines[-1] if lines else "")
    if not m or m.group(2) != config_path:
        problems.append(f"no closing 'N problems in FILE; nothing started' line: {lines[-1:]}")
    elif int(m.group(1)) != len(diagnostics):
        problems.append(f"announces {m.group(1)} problems, shows {len(diagnostics)}")
    strays = [line for line in lines if not line.startswith((config_path + ":", "taskmaster: "))]
    if strays:
        problems.append(f"stderr lines that are no diagnostic: {strays[:2]}")
    events = log.splitlines()
    if len(events) != len(diagnostics) + 2:  # "started", one per problem, "nothing started"
        problems.append(f"the log has {len(events)} lines for {len(diagnostics)} problems")
    if out:
        problems.append(f"stdout is not empty: {out[:200]!r}")
    if re.search(r" spawned, pid ", log) or os.path.exists(os.path.join(directory, "tm.sock")):
        problems.append("something was started (a spawn in the log, or the control socket exists)")
    if "invalid configuration: nothing started" not in log:
        problems.append(f"the log does not say it: {log[-300:]!r}")
    for line in log.splitlines():
        if not re.match(r"^\d{4}-\d\d-\d\dT", line):
            problems.append(f"a log line that is not an event: {line[:120]!r}")
            break
    dirty = control_chars(err) + control_chars(log)
    if dirty:
        problems.append(f"raw control characters echoed: {sorted(set(map(repr, dirty)))}")
    if time.monotonic() - started > 5:
        problems.append(f"took {time.monotonic() - started:.1f} s")
    return problems


@test
def every_bad_file_is_refused_at_startup_with_its_place():
    results = Results("startup")
    work = tmpdir()
    for case in corpus():
        # Copied under a plain name: the path in the messages is then predictable, and the original stays intact.
        path = os.path.join(work, case.name)
        shutil.copyfile(case.path, path)
        results.record(case, startup_problems(case, path, work))
    results.finish()


@test
def non_files_are_refused_at_startup():
    """The cases a corpus file cannot hold: a directory, a missing file, an unreadable file, a FIFO, /dev/zero."""
    results = Results("non-files")
    work = tmpdir()
    directory = os.path.join(work, "a-directory.yml")
    os.mkdir(directory)
    is_dir = Case("directory", 2, ": cannot read: Is a directory")
    results.record(is_dir, startup_problems(is_dir, directory, work))
    missing = Case("missing", 2, ": cannot read: No such file or directory")
    results.record(missing, startup_problems(missing, os.path.join(work, "no-such.yml"), work))

    unreadable = Case("unreadable", 2, ": cannot read: Permission denied")
    if os.geteuid() == 0:
        # Root reads anything: the file stays root's own with mode 0600, and taskmaster runs as nobody (in a
        # directory nobody may write to, for its log).
        shared = tmpdir()
        os.chmod(shared, 0o777)
        path = os.path.join(shared, "unreadable.yml")
        with open(path, "w") as f:
            f.write(config(program("web", "sleep 10", autostart=True)))
        os.chmod(path, 0o600)
        results.record(unreadable, startup_problems(unreadable, path, shared, preexec_fn=as_user()))
    else:
        path = os.path.join(work, "unreadable.yml")
        with open(path, "w") as f:
            f.write(config(program("web", "sleep 10", autostart=True)))
        os.chmod(path, 0)
        results.record(unreadable, startup_problems(unreadable, path, work))

    fifo = os.path.join(work, "fifo.yml")
    os.mkfifo(fifo)
    # A FIFO nobody writes to would block a reader for ever: refused as not a regular file.
    fifo_case = Case("fifo", 2, ": cannot read: not a regular file")
    results.record(fifo_case, startup_problems(fifo_case, fifo, work, timeout=3))
    # An endless file would be read until memory runs out (bounded by memory_cap(), in case).
    zero = Case("endless", 2, ": cannot read: not a regular file")
    results.record(zero, startup_problems(zero, "/dev/zero", work, timeout=20,
                                          preexec_fn=with_limits(*memory_cap())))
    results.finish()


FLEET = config(
    program("web", helper("--forever"), numprocs=8, autostart=True, starttime="200ms"),
    program("worker", helper("--forever"), numprocs=6, autostart=True, starttime="200ms"),
    program("queue", "sleep 1000", numprocs=3, autostart=True, starttime="200ms"),
    program("cron", helper("--forever"), autostart=True, starttime="200ms"),
    program("manual", helper("--forever")),  # STOPPED: stays STOPPED
    program("oneshot", helper("--sleep", "50", "--exit", "0"), autostart=True, starttime=0,
            autorestart="never"),  # EXITED
)


@test
def bad_reloads_leave_a_running_fleet_untouched():
    tm = Daemon(FLEET)
    eventually(lambda: sum(1 for s, _ in tm.snapshot().values() if s == "RUNNING") == 18, 20, 0.2,
               "18 RUNNING instances")
    tm.wait_state("oneshot", "EXITED")
    before = tm.snapshot()
    check(len(before) == 20, before)
    pids = [pid for _, pid in before.values() if pid]
    check(len(pids) == 18, before)
    daemon_fds = len(os.listdir(f"/proc/{tm.proc.pid}/fd"))

    results = Results("reload")
    scratch = tmpdir()
    by_command = by_signal = 0
    for case in corpus():
        if case.known_bug and run_taskmaster(case.path, scratch)[0] != case.code:
            # Accepted by mistake (a known bug): a reload would really replace the fleet.
            print(f"  skip  {case.name} for reload: still accepted ({case.known_bug})")
            continue
        shutil.copyfile(case.path, tm.config)
        problems = []
        if (by_command + by_signal) % 2 == 0:
            by_command += 1
            how, answer = "reload command", tm.cmd("reload")
        else:
            by_signal += 1
            how, first = "SIGHUP", len(tm.stderr_lines)
            tm.proc.send_signal(signal.SIGHUP)

            def notices():
                # Notices, on stderr in script mode, may carry a "taskmaster: " prefix.
                # Any other line is kept as it is, to be reported as a stray.
                lines = [m.group(1) if m else line
                         for line, m in ((line, re.match(r"(?:taskmaster: )?reload \(SIGHUP\): (.*)", line))
                                         for line in tm.stderr_lines[first:])]
                return lines if any(line.startswith("reload failed: ") for line in lines) else None
            try:
                answer = eventually(notices, 10, 0.02, f"the SIGHUP reload of {case.name} to be reported")
            except AssertionError as e:
                answer = [str(e)]
        text = "\n".join(answer)
        strays = [line for line in answer if not line.startswith((tm.config + ":", "reload failed: "))]
        if strays:
            problems.append(f"{how}: answer lines that are no diagnostic: {strays[:2]}")
        dirty = control_chars(text)
        if dirty:
            problems.append(f"{how}: raw control characters echoed: {sorted(set(map(repr, dirty)))}")
        if tm.config + case.fragment not in text:
            problems.append(f"{how}: the answer lacks {tm.config + case.fragment!r}: {text[-400:]!r}")
        if not (answer and re.fullmatch(r"reload failed: \d+ problems? in .*; nothing changed", answer[-1])):
            problems.append(f"{how}: no 'reload failed: ...; nothing changed' at the end: {answer[-1:]}")
        after = tm.snapshot()
        if after != before:
            changed = {k: (before.get(k), after.get(k)) for k in set(before) | set(after)
                       if before.get(k) != after.get(k)}
            problems.append(f"{how}: the fleet changed: {changed}")
        dead = [pid for pid in pids if not alive(pid)]
        if dead:
            problems.append(f"{how}: processes gone: {dead}")
        results.record(case, problems)
        if after != before or dead:
            break  # the next files would only repeat it
    print(f"  {by_command + by_signal} bad reloads: {by_command} by the reload command, {by_signal} by SIGHUP")
    check(tm.proc.poll() is None, "taskmaster died")
    fds_after = len(os.listdir(f"/proc/{tm.proc.pid}/fd"))
    check(fds_after == daemon_fds, f"the daemon's fd count went from {daemon_fds} to {fds_after}")
    results.finish()

    # A good reload still works: one program added, one updated, the rest untouched.
    good = FLEET.replace("numprocs: 3", "numprocs: 4") + program("extra", helper("--forever"), autostart=True,
                                                                  starttime="200ms")
    with open(tm.config, "w") as f:
        f.write(good)
    answer = tm.cmd("reload")
    check("added: extra" in answer and "updated: queue" in answer, answer)
    tm.wait_state("extra", "RUNNING")
    tm.wait_state("queue:3", "RUNNING")
    after = tm.snapshot()
    for name, value in before.items():
        check(after.get(name) == value, f"{name}: {value} became {after.get(name)} on the good reload")
    check(tm.quit() == 0)
    survivors = [pid for pid in pids if alive(pid)]
    check(not survivors, f"processes survived the quit: {survivors}")


SMALL_FLEET = config(program("a", helper("--forever"), numprocs=3, autostart=True, starttime="200ms"))


def memory_cap():
    """A 512 MiB address-space limit, so that a regression cannot eat the machine; none under AddressSanitizer,
    which reserves terabytes of shadow address space."""
    if "ASAN_OPTIONS" in os.environ:
        return ()
    return ((resource.RLIMIT_AS, (512 << 20, 512 << 20)),)


@test
def an_endless_file_on_reload_leaves_the_fleet_untouched():
    tm = Daemon(SMALL_FLEET, preexec_fn=with_limits(*memory_cap()))
    tm.wait_all("RUNNING", 3)
    before = tm.snapshot()
    os.unlink(tm.config)
    os.symlink("/dev/zero", tm.config)
    try:
        answer = tm.cmd("reload", timeout=8)
    except AssertionError as e:
        answer = [str(e)]
    check(tm.proc.poll() is None, f"taskmaster died (exit code {tm.proc.poll()}): {tm.stderr()[-300:]}")
    check(answer and answer[-1].startswith("reload failed: "), answer)
    check(tm.snapshot() == before)


@test
def a_fifo_on_reload_does_not_freeze_the_daemon():
    tm = Daemon(SMALL_FLEET)
    tm.wait_all("RUNNING", 3)
    os.unlink(tm.config)
    os.mkfifo(tm.config)
    tm.proc.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    try:
        code, out, err = tm.ctl("status", timeout=3)
        check(code == 0 and "RUNNING" in out, (code, out, err))
    except subprocess.TimeoutExpired:
        raise AssertionError("no answer on the control socket within 3 s of the reload")
    finally:
        try:  # if the loader did block on it, a writer with the same fleet unblocks it
            fd = os.open(tm.config, os.O_WRONLY | os.O_NONBLOCK)
            os.write(fd, SMALL_FLEET.encode())
            os.close(fd)
        except OSError:  # ENXIO: nobody reads it, as it should be
            pass


if __name__ == "__main__":
    main()
