"""Programs' output as taskmaster keeps it (docs/output.md): files rotated by size, redirect_stderr, placeholders,
forwarding to taskmaster's own stdout and stderr, the in-memory tail, `tail` and `tail -f`, `clear`, `maintail`,
output kept across restarts and reloads, SIGUSR2, and the never-block guarantees: a stderr nobody reads, a full
destination, a flood from many programs."""

import json
import os
import re
import signal
import subprocess
import threading
import time

from tmtest import (LOG_LINE, TASKMASTER, Daemon, Taskmaster, alive, check, config, ctl, eventually, helper,
                    kill_groups, main, program, read_file, run, stop_and_clean, test, tmpdir)

QUICK = {"starttime": "100ms", "stoptime": "500ms"}
UP = dict(QUICK, autostart=True)
DROPPED = re.compile(r"\[taskmaster\] (\d+) bytes dropped: \S.*")


class Reader:
    """A long-running process (`taskmaster ctl tail -f`, `taskmaster --no-shell`) with its stdout and stderr
    collected as raw text, chunk by chunk."""

    def __init__(self, argv, cwd=None, read_stderr=True):
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE if read_stderr else subprocess.DEVNULL, cwd=cwd)
        self.chunks, self.err_chunks = [], []
        self.seen_pids = set()
        streams = [(self.proc.stdout, self.chunks)] + ([(self.proc.stderr, self.err_chunks)] if read_stderr else [])
        for stream, sink in streams:
            self._start(stream, sink)
        Taskmaster._running.append(self)

    @staticmethod
    def _start(stream, sink):
        threading.Thread(target=Reader._pump, args=(stream, sink), daemon=True).start()

    @staticmethod
    def _pump(stream, sink):
        for data in iter(lambda: os.read(stream.fileno(), 1 << 16), b""):
            sink.append(data)

    def out(self):
        return b"".join(self.chunks).decode(errors="replace")

    def err(self):
        return b"".join(self.err_chunks).decode(errors="replace")

    def kill(self):
        stop_and_clean(self.proc, self.seen_pids)


class Held:
    """taskmaster with its stderr a pipe that nobody reads."""

    def __init__(self, argv, cwd):
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, cwd=cwd)
        Taskmaster._running.append(self)

    def kill(self):
        children = set()
        try:
            for tid in os.listdir(f"/proc/{self.proc.pid}/task"):
                children |= {int(p) for p in read_file(f"/proc/{self.proc.pid}/task/{tid}/children").split()}
        except OSError:
            pass
        stop_and_clean(self.proc, children)  # a taskmaster stuck on its stderr stops nothing: kill its children too


def lines_of(tag, first, count, length):
    """What `tm_helper --lines` writes: "TAG i" padded with '.' to `length` bytes, newline included."""
    out = []
    for i in range(first, first + count):
        text = f"{tag} {i}"
        out.append(text + "." * max(0, length - len(text) - 1) + "\n")
    return "".join(out)


def numbers(text, tag):
    """The line numbers of `tm_helper --lines` lines in text, in order; fails on any other line."""
    found = []
    for line in text.splitlines():
        m = re.fullmatch(rf"{re.escape(tag)} (\d+)\.*", line)
        check(m, f"not a whole line of {tag}: {line[:120]!r}")
        found.append(int(m.group(1)))
    return found


def same_text(got, expected):
    """`taskmaster ctl tail` prints the bytes exactly as they were written, not a newline more."""
    return got == expected


# --- files and rotation -----------------------------------------------------------------------------------------

@test
def rotation_sizes_names_and_backups():
    d = Daemon("")
    kept, truncated = d.path("kept.log"), d.path("truncated.log")
    d.write(config(
        program("kept", helper("--lines", "400", "100", "kept", "--forever"), stdout=kept, stdout_maxbytes="4KB",
                stdout_backups=3, **UP),
        program("truncated", helper("--lines", "400", "100", "truncated", "--forever"), stdout=truncated,
                stdout_maxbytes=4096, stdout_backups=0, **UP)))
    d.start()
    for path, tag in ((kept, "kept"), (truncated, "truncated")):
        eventually(lambda p=path, t=tag: f"{t} 399." in read_file(p), message=f"{tag}'s last line in its file")

    # FILE.1 is the newest backup, FILE.3 the oldest; FILE.4 never exists; no file is over 4 KiB; every file
    # holds whole lines, and the files in order (.3, .2, .1, FILE) hold consecutive lines up to the last one.
    names = [f"{kept}.3", f"{kept}.2", f"{kept}.1", kept]
    check(not os.path.exists(f"{kept}.4"), "a fourth backup with stdout_backups: 3")
    sequence = []
    for name in names:
        check(os.path.exists(name), f"{name} is missing")
        size = os.path.getsize(name)
        check(size <= 4096, f"{name} holds {size} bytes, over stdout_maxbytes (4KB)")
        text = read_file(name)
        check(text.endswith("\n") and size % 100 == 0, f"{name} does not hold whole lines ({size} bytes)")
        got = numbers(text, "kept")
        check(got, f"{name} is empty")
        sequence += got
    check(sequence == list(range(sequence[0], 400)), f"not consecutive across the backups: {sequence}")
    check(len(sequence) > 3 * 30, f"the backups are too small to have been rotated at 4 KiB: {len(sequence)} lines")

    # stdout_backups: 0 truncates the file instead of keeping a backup.
    check(not os.path.exists(f"{truncated}.1"), "a backup with stdout_backups: 0")
    size = os.path.getsize(truncated)
    check(size <= 4096, f"{size} bytes, over 4 KiB")
    got = numbers(read_file(truncated), "truncated")
    check(got == list(range(400 - len(got), 400)) and len(got) < 41, f"truncated.log: {got}")


@test
def rotation_keeps_a_line_that_arrives_in_pieces_whole():
    d = Daemon("")
    log = d.path("pieces.log")
    # 900 bytes of whole lines, then a line's first 100 bytes (the file is then exactly at its maximum and ends
    # inside a line), then, in a later write, the rest of that line.
    d.write(config(program("pieces", helper("--lines", "9", "100", "a", "--partial", "100", "--sleep", "300",
                                            "--lines", "1", "20", "b", "--forever"),
                           stdout=log, stdout_maxbytes=1000, stdout_backups=1, **UP)))
    d.start()
    eventually(lambda: "b 0." in read_file(log) + read_file(log + ".1"), message="the end of the line")
    texts = [read_file(log + ".1"), read_file(log)]
    for name, text in zip((log + ".1", log), texts):
        check(not text or text.endswith("\n"), f"{name} ends inside a line: ...{text[-30:]!r}")
    check("".join(texts).endswith("p" * 100 + "b 0" + "." * 16 + "\n"), "the line is not whole")


@test
def redirect_stderr_keeps_the_order():
    d = Daemon("")
    both, out, err = d.path("both.log"), d.path("out.log"), d.path("err.log")
    d.write(config(program("both", helper("--alternate", "2000", "--forever"), stdout=both, redirect_stderr=True,
                           **UP),
                   program("apart", helper("--alternate", "10", "--forever"), stdout=out, stderr=err, **UP)))
    d.start()
    eventually(lambda: "seq 1999 stderr" in read_file(both), message="the last line in both.log")
    expected = [f"seq {i} {'stdout' if i % 2 == 0 else 'stderr'}" for i in range(2000)]
    got = read_file(both).splitlines()
    first = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), len(got))
    check(got == expected, f"first difference at line {first}")
    check(not os.path.exists(d.path("both.log.1")), "rotated without reason")
    eventually(lambda: "seq 9 stderr" in read_file(err), message="apart's stderr")
    check(read_file(out).splitlines() == [f"seq {i} stdout" for i in range(0, 10, 2)], read_file(out))
    check(read_file(err).splitlines() == [f"seq {i} stderr" for i in range(1, 10, 2)], read_file(err))
    # With redirect_stderr, `tail NAME stderr` has nothing of its own: everything is in stdout's.
    check("seq 1999 stderr" in d.tail("-n", "1", "both"), d.tail("-n", "1", "both"))


@test
def placeholders_name_each_instance():
    d = Daemon("")
    d.write(config(program("pool", helper("--lines", "1", "20", "hello", "--stderr", "oops", "--forever"),
                           numprocs=2, stdout=d.path("{program}-{index}.log"), stderr=d.path("{instance}.err"),
                           **UP)))
    d.start()
    for i in range(2):
        eventually(lambda i=i: read_file(d.path(f"pool-{i}.log")).startswith("hello 0."), message=f"pool-{i}.log")
        eventually(lambda i=i: read_file(d.path(f"pool:{i}.err")) == "oops\n", message=f"pool:{i}.err")
    check(sorted(n for n in os.listdir(d.dir) if n.startswith("pool") or n.startswith("{")) ==
          ["pool-0.log", "pool-1.log", "pool:0.err", "pool:1.err"], os.listdir(d.dir))


@test
def two_instances_sharing_a_rotated_file_is_a_configuration_error():
    d = tmpdir()
    path = os.path.join(d, "taskmaster.yml")
    marker = os.path.join(d, "started")
    shared = os.path.join(d, "shared.log")
    with open(path, "w") as f:
        f.write(config(program("pool", helper("--lines", "1", "10", "p", "--forever"), numprocs=2, stdout=shared,
                               stdout_maxbytes="1MB", **UP),
                       program("other", f"touch {marker}", autostart=True)))
    code, out, err = run(["-c", path, "--log", os.path.join(d, "log")], cwd=d)  # stdin at its end: quits at once
    check(code == 2, f"exit {code}: {err}")
    check("{index}" in err or "{instance}" in err, f"the message does not name a placeholder: {err!r}")
    check("pool" in err and "stdout" in err, err)
    check(not os.path.exists(marker), "a program was started from an invalid configuration")
    # Without rotation asked for, the instances share the file, appended to and never rotated.
    tm = Taskmaster(config(program("pool", helper("--lines", "1", "10", "p", "--forever"), numprocs=2, stdout=shared,
                                   **UP)), directory=d)
    eventually(lambda: read_file(shared) == "p 0......\n" * 2, message="both instances' line in the shared file")
    tm.quit()


# --- forwarding to taskmaster's own stdout and stderr -------------------------------------------------------------

@test
def forwarding_prefixes_whole_lines():
    d = tmpdir()
    path, sock = os.path.join(d, "taskmaster.yml"), os.path.join(d, "tm.sock")
    # Lines longer than a pipe's atomic write, written 64 KiB at a time (so writes end mid-line); 720 KB in all, less
    # than what taskmaster queues for a reader that is not ready (1 MiB): nothing may be dropped.
    count, length = 60, 4000
    with open(path, "w") as f:
        f.write(config(program("alpha", helper("--flood-count", str(count), str(length), "alpha", "--forever"),
                               stdout="/dev/stdout", **UP),
                       program("beta", helper("--flood-count", str(count), str(length), "beta", "--forever"),
                               numprocs=2, stdout="/dev/stdout", **UP),
                       program("gamma", helper("--stderr", "hello-from-gamma", "--forever"), stderr="/dev/stderr",
                               **UP)))
    fg = Reader([TASKMASTER, "-c", path, "--no-shell", "--socket", sock, "--log", os.path.join(d, "tm.log")], cwd=d)
    pattern = re.compile(rf"(alpha|beta:0|beta:1) \| (alpha|beta) (\d{{12}}) (x+)")
    expected_x = length - len("alpha 000000000000 ") - 1

    def all_there():
        text = fg.out()
        return text.count("\n") >= 3 * count and text
    try:
        text = eventually(all_there, 20, 0.1, f"{3 * count} forwarded lines")
    except AssertionError:
        text = fg.out()
        raise AssertionError(f"{text.count(chr(10))} of {3 * count} lines forwarded; "
                             f"the last: {text[-300:]!r}; stderr: {fg.err()[-500:]!r}")
    seen = {"alpha": [], "beta:0": [], "beta:1": []}
    for line in text.splitlines():
        m = pattern.fullmatch(line)
        check(m, f"not a whole prefixed line: {line[:100]!r}...{line[-40:]!r} ({len(line)} bytes)")
        check(m.group(1).split(":")[0] == m.group(2), f"{m.group(1)}'s prefix on {m.group(2)}'s line")
        check(len(m.group(4)) == expected_x - (len(m.group(2)) - len("alpha")), f"a line of {len(line)} bytes")
        seen[m.group(1)].append(int(m.group(3)))
    for name, got in seen.items():
        check(got == list(range(count)), f"{name}: {len(got)} lines, not 0..{count - 1} in order")
    eventually(lambda: "gamma | hello-from-gamma\n" in fg.err(), message="gamma's stderr, prefixed, on stderr")
    check("gamma" not in fg.out(), "gamma's stderr on stdout")


@test
def a_stderr_nobody_reads_never_stops_supervision():
    d = tmpdir()
    path, sock = os.path.join(d, "taskmaster.yml"), os.path.join(d, "tm.sock")
    with open(path, "w") as f:
        # 40 instances of `again` exit after 250 ms and are restarted at once, again and again: hundreds of log
        # lines a second, enough to fill the pipe (64 KiB) in a second or two; `chatty` forwards its flood to
        # taskmaster's stderr too.
        f.write(config(program("again", helper("--sleep", "250"), numprocs=40, autostart=True, autorestart="always",
                               starttime=0, stoptime="500ms"),
                       program("chatty", helper("--flood", "0", "100", "chatty"), stdout="/dev/stderr", **UP)))
    held = Held([TASKMASTER, "-c", path, "--no-shell", "--socket", sock, "--log", os.path.join(d, "log")], cwd=d)
    proc = held.proc

    def restarts():
        started = time.monotonic()
        try:
            code, out, err = ctl(sock, "--json", "status", "again", timeout=5)
        except subprocess.TimeoutExpired:
            raise AssertionError("no answer to status within 5 s with stderr blocked")
        took = time.monotonic() - started
        check(code == 0, f"status: {code} {err}")
        check(took < 1.0, f"status took {took:.2f} s with stderr blocked")
        return sum(s["restarts"] for s in json.loads(out)["data"])
    eventually(lambda: ctl(sock, "status")[0] == 0, message="the socket")
    time.sleep(2.5)  # by now the pipe is long full
    before = restarts()
    time.sleep(1.5)
    after = restarts()
    check(after >= before + 40, f"restarts went from {before} to {after} in 1.5 s: supervision stalled")
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        raise AssertionError("taskmaster did not exit on SIGTERM with its stderr blocked")


@test
def forwarding_to_a_stopped_reader_drops_whole_lines_and_says_so():
    d = tmpdir()
    path, sock = os.path.join(d, "taskmaster.yml"), os.path.join(d, "tm.sock")
    with open(path, "w") as f:  # 4 MB at once, then one line on each SIGUSR1
        f.write(config(program("big", helper("--flood-count", "1000", "4000", "big", "--usr1-lines", "1", "20",
                                             "after"), stdout="/dev/stdout", **UP)))
    with open(os.path.join(d, "stderr"), "w") as err:
        proc = subprocess.Popen([TASKMASTER, "-c", path, "--no-shell", "--socket", sock, "--log",
                                 os.path.join(d, "log")], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                                cwd=d)
    held = Held.__new__(Held)
    held.proc = proc
    Taskmaster._running.append(held)
    eventually(lambda: ctl(sock, "status")[0] == 0, message="the socket")
    time.sleep(1.0)  # nobody reads stdout: the burst fills the pipe and the queue
    for _ in range(3):
        started = time.monotonic()
        check(ctl(sock, "status", timeout=5)[0] == 0 and time.monotonic() - started < 1.0, "status with stdout stopped")
    chunks = []
    Reader._start(proc.stdout, chunks)
    time.sleep(0.5)  # the queue drains
    check(ctl(sock, "signal", "USR1", "big")[0] == 0, "signal")
    text = eventually(lambda: "big | after 0." in b"".join(chunks).decode() and b"".join(chunks).decode(),
                      message="the line written after the reader came back")
    lines = text.splitlines()
    report = [i for i, line in enumerate(lines) if DROPPED.fullmatch(line)]
    check(len(report) == 1, f"{len(report)} dropped lines: {[l[:80] for l in lines if 'taskmaster' in l]}")
    check(lines[report[0] + 1].startswith("big | after 0.") and report[0] + 2 == len(lines),
          f"the dropped line is not just before the new line: {[l[:60] for l in lines[-3:]]}")
    check(int(DROPPED.fullmatch(lines[report[0]]).group(1)) > 0, lines[report[0]])
    numbers_seen = []
    for line in lines[:report[0]]:
        m = re.fullmatch(r"big \| big (\d{12}) x{3982}", line)
        check(m, f"not a whole line: {line[:60]!r} ({len(line)} bytes)")
        numbers_seen.append(int(m.group(1)))
    check(numbers_seen == sorted(set(numbers_seen)) and 0 < len(numbers_seen) < 1000, f"{len(numbers_seen)} lines")


# --- the in-memory tail and the commands ------------------------------------------------------------------------

@test
def tail_shows_recent_output_without_a_file():
    d = Daemon(config(program("quiet", helper("--lines", "100", "50", "q", "--stderr", "an-error", "--forever"), **UP),
                      program("small", helper("--lines", "100", "50", "s", "--forever"), tail_bytes="1KB", **UP),
                      program("many", helper("--forever"), numprocs=2, **UP)))
    d.start()
    everything = lines_of("q", 0, 100, 50)
    eventually(lambda: "q 99." in d.tail("quiet"), message="quiet's last line in tail")
    check(same_text(d.tail("quiet"), everything[-1600:]), "`tail NAME` is not the last 1600 bytes of stdout")
    check(same_text(d.tail("quiet", "stdout"), everything[-1600:]), "`tail NAME stdout`")
    check(same_text(d.tail("-200", "quiet"), everything[-200:]), repr(d.tail("-200", "quiet")))
    check(same_text(d.tail("-n", "3", "quiet"), lines_of("q", 97, 3, 50)), repr(d.tail("-n", "3", "quiet")))
    check(same_text(d.tail("quiet", "stderr"), "an-error\n"), repr(d.tail("quiet", "stderr")))
    # `tail` names one instance: a program of several is refused with the names to choose from.
    code, out, err = ctl(d.socket, "tail", "many")
    check(code == 1 and "many:0" in out + err and "many:1" in out + err, f"tail many: {code} {out!r} {err!r}")
    check(same_text(d.tail("-n", "1", "many:1"), ""), "output from a silent program")
    # tail_bytes: 1KB keeps the last 1024 bytes only.
    eventually(lambda: "s 99." in d.tail("small"), message="small's last line")
    check(same_text(d.tail("-4000", "small"), lines_of("s", 0, 100, 50)[-1024:]), repr(d.tail("-4000", "small")))
    check(not any(name.endswith(".log") and name != "taskmaster.log" for name in os.listdir(d.dir)), os.listdir(d.dir))
    # Errors: an unknown program, a bad stream.
    d.command("tail", "nope", expect=1)
    check(ctl(d.socket, "tail", "quiet", "stdin")[0] != 0, "tail quiet stdin succeeded")


@test
def tail_follows_across_a_rotation_and_a_restart():
    d = Daemon("")
    talk = d.path("talk.log")
    d.write(config(program("talk", helper("--usr1-lines", "30", "100", "talk"), stdout=talk, stdout_maxbytes="1KB",
                           stdout_backups=2, **UP)))
    d.start()
    d.wait_state("talk", "RUNNING")
    raw = Reader([TASKMASTER, "ctl", "--socket", d.socket, "--json", "tail", "-f", "talk"])
    reply = eventually(lambda: "\n" in raw.out() and raw.out().split("\n")[0], message="tail -f's reply")
    check(json.loads(reply)["ok"] is True, reply)

    def followed():
        data = json.loads(reply)["data"]["text"]  # the recent output, then what came after
        for line in raw.out().split("\n")[1:]:
            if line:
                event = json.loads(line)
                check(event["event"] == "output" and event["name"] == "talk" and event["stream"] == "stdout", event)
                data += event["data"]
        return data

    batch = lines_of("talk", 0, 30, 100)
    d.command("signal", "USR1", "talk")
    eventually(lambda: "talk 29." in followed(), message="the first batch followed")
    check(os.path.exists(f"{talk}.1") and os.path.getsize(talk) <= 1024, "talk.log did not rotate")
    text = Reader([TASKMASTER, "ctl", "--socket", d.socket, "tail", "-f", "talk"])
    first_pid = d.status()["talk"]["pid"]
    d.command("restart", "talk")
    check(d.wait_state("talk", "RUNNING")["pid"] != first_pid, "restart kept the pid")
    d.command("signal", "USR1", "talk")
    eventually(lambda: followed().count("talk 29.") == 2, message="the second batch followed")
    check(followed() == batch + batch, f"tail -f missed or repeated output: {followed()[:300]!r}")
    check(raw.proc.poll() is None, "tail -f ended at the restart")
    # The text follower started after the first batch: it printed the recent output, then followed; what it
    # printed is the end of everything, the whole second batch included.
    eventually(lambda: text.out().endswith(batch), message="the text follower to have the whole second batch")
    check((batch + batch).endswith(text.out()), f"text tail -f: {text.out()[:200]!r}")


@test
def clear_truncates_and_forgets():
    d = Daemon("")
    log = d.path("c.log")
    d.write(config(program("c", helper("--usr1-lines", "5", "20", "c"), stdout=log, **UP)))
    d.start()
    d.wait_state("c", "RUNNING")
    d.command("signal", "USR1", "c")
    eventually(lambda: "c 4." in read_file(log), message="the first lines")
    check(d.command("clear", "c") == "c: cleared\n", "the answer to clear")
    check(os.path.getsize(log) == 0, f"the file still holds {os.path.getsize(log)} bytes")
    check(d.tail("c").strip() == "", f"tail after clear: {d.tail('c')!r}")
    d.command("signal", "USR1", "c")
    eventually(lambda: "c 9." in read_file(log), message="the lines after clear")
    check(read_file(log) == lines_of("c", 5, 5, 20), read_file(log))
    check(same_text(d.tail("c"), lines_of("c", 5, 5, 20)), d.tail("c"))
    d.command("clear", "nope", expect=1)


@test
def maintail_shows_the_event_log():
    d = Daemon(config(program("web", helper("--forever"), numprocs=3, **UP)))
    d.start()
    for i in range(3):
        d.wait_state(f"web:{i}", "RUNNING")
    out = d.command("maintail")
    log = read_file(d.log)
    check(out.strip() and out.rstrip("\n") in log, f"maintail is not from the log: {out!r}")
    check(len(out.rstrip("\n")) <= 1600, f"maintail printed {len(out)} bytes")
    check("RUNNING" in out, out)
    out = d.command("maintail", "-n", "3")
    lines = out.rstrip("\n").split("\n")
    check(len(lines) == 3, f"maintail -n 3: {lines}")
    check(all(LOG_LINE.match(line) for line in lines), lines)
    check("\n".join(lines) + "\n" in read_file(d.log), "not three consecutive lines of the log")
    out = d.command("maintail", "-100")
    check(0 < len(out.rstrip("\n")) <= 100 and out.rstrip("\n") in read_file(d.log), repr(out))


@test
def sigusr2_reopens_the_files():
    d = Daemon("")
    out = d.path("out.log")
    d.write(config(program("w", helper("--usr1-lines", "2", "20", "w"), stdout=out, **UP)))
    d.start()
    d.wait_state("w", "RUNNING")
    d.command("signal", "USR1", "w")
    eventually(lambda: "w 1." in read_file(out), message="the first lines")
    os.rename(out, out + ".moved")
    os.rename(d.log, d.log + ".moved")
    os.kill(d.pid, signal.SIGUSR2)
    eventually(lambda: os.path.exists(d.log), message="a new event log after SIGUSR2")
    moved = os.path.getsize(d.log + ".moved")
    d.command("signal", "USR1", "w")
    eventually(lambda: "w 3." in read_file(out), message="the new lines in a new out.log")
    check(read_file(out) == lines_of("w", 2, 2, 20), read_file(out))
    check(read_file(out + ".moved") == lines_of("w", 0, 2, 20), read_file(out + ".moved"))
    d.command("restart", "w")
    eventually(lambda: re.search(r" w .*RUNNING", read_file(d.log)), message="the restart in the new event log")
    check(os.path.getsize(d.log + ".moved") == moved, "written to the moved event log after SIGUSR2")


@test
def output_is_kept_across_a_restart_and_a_reload():
    d = Daemon("")
    spec = dict(UP)
    d.write(config(program("keep", helper("--usr1-lines", "3", "30", "keep"), **spec)))
    d.start()
    d.wait_state("keep", "RUNNING")
    d.command("signal", "USR1", "keep")
    eventually(lambda: "keep 2." in d.tail("keep"), message="the first batch")
    d.command("restart", "keep")
    pid = d.wait_state("keep", "RUNNING")["pid"]
    d.command("signal", "USR1", "keep")
    batch = lines_of("keep", 0, 3, 30)
    eventually(lambda: same_text(d.tail("keep"), batch + batch), message="both runs' output in the tail")
    # A reload that keeps the program, with an output option changed: no restart, the tail is kept, and the new
    # file gets what comes next.
    path = d.path("keep.log")
    d.write(config(program("keep", helper("--usr1-lines", "3", "30", "keep"), stdout=path, **spec),
                   program("other", helper("--forever"), **UP)))
    d.command("reload")
    d.wait_state("other", "RUNNING")
    check(d.status()["keep"]["pid"] == pid, "a change of stdout restarted the program")
    check(same_text(d.tail("keep"), batch + batch), f"the tail after the reload: {d.tail('keep')!r}")
    d.command("signal", "USR1", "keep")
    following = lines_of("keep", 3, 3, 30)  # the same process's second batch numbers on
    eventually(lambda: read_file(path) == following, message="the next lines in the new file")
    check(same_text(d.tail("keep"), batch + batch + following), d.tail("keep"))


# --- never blocked ----------------------------------------------------------------------------------------------

@test
def a_full_destination_drops_counts_and_says_so():
    d = Daemon("")
    mount = d.path("small")
    os.mkdir(mount)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mount], capture_output=True).returncode:
        print("      (skipped: cannot mount a tmpfs here)")
        return
    try:
        out = os.path.join(mount, "out.log")
        ballast = os.path.join(mount, "ballast")
        with open(ballast, "wb") as f:
            f.write(b"b" * (512 * 1024))
        d.write(config(program("filler", helper("--usr1-lines", "1000", "1000", "fill"), stdout=out,
                               stdout_maxbytes=0, **UP)))
        d.start()
        pid = d.wait_state("filler", "RUNNING")["pid"]
        d.command("signal", "USR1", "filler")  # 1,000,000 bytes into the 512 KiB left
        eventually(lambda: "fill 999." in d.tail("-n", "1", "filler"), message="the whole batch written by the program")
        for _ in range(5):
            started = time.monotonic()
            state = d.status()["filler"]
            check(time.monotonic() - started < 1.0, "status slow with a full destination")
            check(state["state"] == "RUNNING" and state["pid"] == pid, state)
        written = os.path.getsize(out)
        check(0 < written < 1_000_000, f"{written} bytes in a 1 MiB tmpfs half full")
        check(not DROPPED.search(read_file(out)), "a dropped line while the disk is still full")
        os.unlink(ballast)
        d.command("signal", "USR1", "filler")
        text = eventually(lambda: DROPPED.search(read_file(out)) and read_file(out), message="the dropped line")
        m = DROPPED.search(text)
        before = text[:m.start()]
        check(int(m.group(1)) + len(before) in (1_000_000, 1_000_001),
              f"{m.group(1)} bytes dropped + {len(before)} written != the 1,000,000 bytes of the batch")
        check(text[m.end():].startswith("\nfill 1000."), f"after the dropped line: {text[m.end():m.end() + 40]!r}")
        check(d.status()["filler"]["pid"] == pid, "the program was restarted")
    finally:
        Taskmaster.cleanup_all()
        subprocess.run(["umount", "-l", mount], capture_output=True)


@test
def a_flood_from_many_programs_leaves_taskmaster_responsive():
    d = tmpdir()
    length, n = 200, 20
    programs = [program(f"f{i:02}", helper("--flood", "5", str(length), f"f{i:02}"),
                        stdout=os.path.join(d, f"f{i:02}.log"), stdout_maxbytes="1MB", stdout_backups=1,
                        autorestart="never", **UP) for i in range(n)]
    tm = Taskmaster(config(*programs), directory=d)
    eventually(lambda: ctl(tm.socket, "status")[0] == 0, message="the socket")
    shell, socket_times = [], []
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        started = time.monotonic()
        tm.cmd("status", timeout=5)
        shell.append(time.monotonic() - started)
        started = time.monotonic()
        code, out, _ = ctl(tm.socket, "status")
        socket_times.append(time.monotonic() - started)
        check(code == 0 and out.count("\n") == n, out)
    print(f"      status during the flood: shell max {max(shell) * 1000:.0f} ms, ctl max "
          f"{max(socket_times) * 1000:.0f} ms ({len(shell)} each)")
    check(max(shell) < 1.0 and max(socket_times) < 1.0, f"slow answers: shell {shell}, ctl {socket_times}")
    for i in range(n):
        tm.wait_state(f"f{i:02}", "EXITED", timeout=20)
    # Every line whole, in order, across the rotation.
    line = re.compile(rb"(?:f\d\d \d{12} x+\n)*")
    for i in range(n):
        name = os.path.join(d, f"f{i:02}.log")
        previous_last = None
        for path in (name + ".1", name):
            if not os.path.exists(path):
                continue
            with open(path, "rb") as f:
                data = f.read()
            # Rotation finishes the line the file ends with (docs/output.md): at most one line past maxbytes.
            check(len(data) < 1024 * 1024 + length, f"{path}: {len(data)} bytes")
            check(len(data) % length == 0 and line.fullmatch(data), f"{path}: a line split or mixed")
            tags = {data[k:k + 3] for k in range(0, len(data), length)}
            check(tags <= {f"f{i:02}".encode()}, f"{path}: another program's lines: {tags}")
            if data:
                first_number = int(data[4:16])
                last_number = int(data[-length + 4:-length + 16])
                check(last_number - first_number + 1 == len(data) // length, f"{path}: lines missing or repeated")
                check(previous_last is None or first_number == previous_last + 1, f"{path}: a gap at the rotation")
                previous_last = last_number
        check(previous_last is not None, f"{name}: nothing written")
    tm.quit()


if __name__ == "__main__":
    main()
