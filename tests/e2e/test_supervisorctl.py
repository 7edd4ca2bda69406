#!/usr/bin/env python3
"""Debian's real supervisorctl 4.2.5 against taskmaster and against supervisord 4.2.5, on the same supervisord.conf.

Both daemons run at once, each in its own directory on the same file text (supervisors.py); every command runs
through `supervisorctl -c FILE` against each, and the two outputs (stdout, stderr) and exit statuses must be the
same once pids, uptimes, stop times and the daemon's directory are replaced by placeholders. Lines of a command over
several processes (`all`, `GROUP:*`) are compared in a fixed order: supervisord prints them in the order its waits
complete, which differs from run to run (the lines of a stop pass still come before those of the start pass).
`version` may differ; `maintail` shows each daemon's own log, so its text is checked against that log.

One pair of daemons serves every read-only command; the commands that change something get a pair of their own.

SUPERVISORCTL_AGAINST=supervisord puts a second supervisord in taskmaster's place: the test must then pass, which
shows that it compares nothing that varies between two runs of the same daemon. SUPERVISORCTL_SHOW=1 prints every
command with both outputs.
"""

import glob
import os
import re
import select
import shutil
import tempfile
import time

from supervisors import (Side, ensure_supervisord, in_parallel, ppid, run_tests, section, session,
                         supervisord_conf)
from tmtest import HELPER, check, main, test, tmpdir

AGAINST = os.environ.get("SUPERVISORCTL_AGAINST", "taskmaster")
SHOW = os.environ.get("SUPERVISORCTL_SHOW") == "1"

FOREVER = f"{HELPER} --forever"
BANNER = "==> Press Ctrl-C to exit <==\n"


# --- two daemons, one file -------------------------------------------------------------------------------------------

def normalise(side, text, pid_lines=False, order=False):
    """The text with what may differ replaced: the daemon's directory, pids, uptimes and stop times (and bare pids,
    for `pid`); with `order`, the lines sorted, a stop pass's before the rest (see the module's comment)."""
    text = text.replace(side.dir, "DIR")
    text = re.sub(r"\bpid \d+", "pid PID", text)
    text = re.sub(r"\buptime (\d+ days?, )?\d+:\d\d:\d\d", "uptime UPTIME", text)
    text = re.sub(r"\b[A-Z][a-z]{2} \d\d \d\d:\d\d [AP]M\b", "TIME", text)
    if pid_lines:
        text = re.sub(r"(?m)^[1-9]\d*$", "PID", text)
    if order:
        lines = text.split("\n")
        tail = lines.pop() if lines and lines[-1] == "" else None
        lines.sort(key=lambda line: (not line.endswith(": stopped"), line))
        text = "\n".join(lines + ([tail] if tail is not None else []))
    return text


class Pair:
    """supervisord (the reference) and taskmaster (the subject) on the same file; the differences seen so far."""

    def __init__(self, text, directory=None, register=True):
        root = directory or tmpdir()
        self.reference = Side("supervisord", text, os.path.join(root, "supervisord"))
        name = "taskmaster" if AGAINST == "taskmaster" else "supervisord-2"
        self.subject = Side(AGAINST, text, os.path.join(root, name), name=name)
        self.sides = (self.reference, self.subject)
        self.register = register
        self.differences = []

    def start(self, running=()):
        """Starts both (one after the other) and waits until the named processes run on each."""
        ensure_supervisord()
        for side in self.sides:
            side.start(register=self.register)
        self.wait_states({name: "RUNNING" for name in running})
        return self

    def stop(self):
        for side in self.sides:
            side.stop()

    def write(self, text):
        for side in self.sides:
            side.write(text)

    def wait_states(self, wanted, timeout=20.0):
        in_parallel([lambda side=side: side.wait_states(wanted, timeout) for side in self.sides])

    def settle(self):
        in_parallel([side.settle for side in self.sides])

    def run(self, *args, pid_lines=False, order=False):
        """Runs `supervisorctl ARGS` against both at once; records any difference. Returns both raw results."""
        results = in_parallel([lambda side=side: side.ctl(*args) for side in self.sides])
        shown = [(code, normalise(side, out, pid_lines, order), normalise(side, err, pid_lines, order))
                 for side, (code, out, err) in zip(self.sides, results)]
        if SHOW:
            print(f"$ supervisorctl {' '.join(args)}\n  supervisord: {shown[0]!r}\n  {self.subject.name}: "
                  f"{shown[1]!r}")
        self.same(f"supervisorctl {' '.join(args)}", *shown)
        return results

    def runs(self, *commands, order=False):
        """run() for each command, written as one string: `pair.runs("stop web", "status web")`."""
        for command in commands:
            self.run(*command.split(), order=order)

    def same(self, what, expected, got):
        if expected != got:
            self.differences.append(f"`{what}`:\n      expected (supervisord): {expected!r}\n"
                                    f"      got ({self.subject.name}): {got!r}")

    def verify(self):
        """Fails with every difference recorded, then forgets them."""
        differences, self.differences = self.differences, []
        check(not differences, f"{len(differences)} difference(s) from supervisord:\n  " + "\n  ".join(differences))


def check_children(side, text):
    """Every `pid N` of a status output is a child of that daemon."""
    for pid in re.findall(r"\bpid (\d+)", text):
        check(ppid(int(pid)) == side.proc.pid, f"{side.name}: pid {pid} of {text!r} is not its child")


def log_file(side, program, channel="stdout"):
    """The AUTO log file of a program (supervisord adds a random part to its name, taskmaster does not)."""
    found = glob.glob(os.path.join(side.dir, f"{program}-{channel}---*.log"))
    return found[0] if found else None


def wait_log_text(pair, program, text, channel="stdout", timeout=10.0):
    """Waits until each daemon's log file of program holds text (the daemons copy output asynchronously)."""
    def holds(side):
        path = log_file(side, program, channel)
        return path is not None and text in side.read(os.path.basename(path))
    deadline = time.monotonic() + timeout
    while not all(holds(side) for side in pair.sides) and time.monotonic() < deadline:
        time.sleep(0.05)


# --- the read-only pair, shared by the tests that change nothing ----------------------------------------------------

READ_ONLY = supervisord_conf(
    section("program:web", f"{HELPER} --lines 3 10 out --stderr oops --forever", startsecs=0),
    section("program:pool", FOREVER, numprocs=2, process_name="%(program_name)s_%(process_num)02d", startsecs=0),
    section("program:idle", FOREVER, autostart="false"),
    section("program:nolog", FOREVER, stdout_logfile="NONE", stderr_logfile="NONE", startsecs=0),
    "[group:g]\nprograms=a,b\n",
    section("program:a", FOREVER, startsecs=0),
    section("program:b", f"{HELPER} --stderr b-err --forever", startsecs=0),
    section("program:talk", f"{HELPER} --usr1-lines 1 12 more", startsecs=0),
    section("program:cleared", f"{HELPER} --lines 2 10 gone --forever", startsecs=0),
    section("program:once", f"{HELPER} --exit 0", startsecs=0, autorestart="false"))
READ_ONLY_RUNNING = ["web", "pool:pool_00", "pool:pool_01", "nolog", "g:a", "g:b", "talk", "cleared"]

_shared = {}


def shared():
    """The read-only pair, started by the first test that needs it, stopped when the module ends."""
    if "pair" not in _shared:
        _shared["dir"] = tempfile.mkdtemp(prefix="tm-e2e-ctl-")
        pair = Pair(READ_ONLY, directory=_shared["dir"], register=False)
        _shared["pair"] = pair
        pair.start(READ_ONLY_RUNNING)
        pair.wait_states({"once": "EXITED"})
        wait_log_text(pair, "web", "out 2")
        wait_log_text(pair, "web", "oops", "stderr")
        wait_log_text(pair, "cleared", "gone 1")
    return _shared["pair"]


def stop_shared():
    pair = _shared.pop("pair", None)
    if pair is not None:
        pair.stop()
        shutil.rmtree(_shared.pop("dir"), ignore_errors=True)


@test
def status_all_one_group_and_missing_names():
    pair = shared()
    for args in [(), ("web",), ("pool:*",), ("g:",), ("web", "idle"), ("once",), ("missing",), ("nog:*",),
                 ("web", "missing", "nog:*")]:
        results = pair.run("status", *args)
        if not args:
            for side, (_, out, _) in zip(pair.sides, results):
                check_children(side, out)
                check(len(re.findall(r"RUNNING", out)) == len(READ_ONLY_RUNNING), f"{side.name}: {out}")
    pair.verify()


@test
def pid_of_the_daemon_of_all_and_of_one():
    pair = shared()
    results = pair.run("pid", pid_lines=True)
    for side, (code, out, _) in zip(pair.sides, results):
        check(code == 0 and out.strip() == str(side.proc.pid), f"{side.name}: `pid` printed {out!r}, its pid is "
                                                               f"{side.proc.pid}")
    pair.run("pid", "all", pid_lines=True)
    results = pair.run("pid", "web", pid_lines=True)
    for side, (_, out, _) in zip(pair.sides, results):
        check(out.strip().isdigit() and ppid(int(out)) == side.proc.pid, f"{side.name}: `pid web` printed {out!r}")
    pair.run("pid", "idle", pid_lines=True)
    pair.run("pid", "once", pid_lines=True)
    pair.run("pid", "missing")
    pair.run("pid", "g:a", "pool:pool_01", pid_lines=True)
    pair.verify()


@test
def tail_bytes_and_stderr():
    pair = shared()
    for args in [("web",), ("-100", "web"), ("-12", "web"), ("web", "stderr"), ("-100", "web", "stderr"),
                 ("g:b", "stderr"), ("pool:pool_00",), ("nolog",), ("missing",), ("nog:x",)]:
        pair.run("tail", *args)
    pair.verify()


def follow(side, *args, until=None, quiet=0.5, timeout=10.0, after_banner=None):
    """Runs `supervisorctl ARGS` (`tail -f`, `maintail -f`) until its output holds `until` (or, without it, until it
    has printed more than the banner and then been quiet for `quiet` s, or has exited); kills it. `after_banner(side)`
    runs once the banner is out. Returns (exit code or None if killed, stdout, stderr)."""
    client = side.popen_ctl(*args)
    out, err, called = b"", b"", False
    streams = [client.stdout, client.stderr]
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    try:
        while time.monotonic() < deadline:
            text = out.decode(errors="replace")
            if after_banner and not called and text.startswith(BANNER):
                after_banner(side)
                called = True
            if until is not None and until in text:
                break
            if until is None and len(text) > len(BANNER) and time.monotonic() - last > quiet:
                break
            if not streams:  # both at their end: it has exited
                break
            readable, _, _ = select.select(streams, [], [], 0.05)
            for stream in readable:
                data = os.read(stream.fileno(), 65536)
                if not data:
                    streams.remove(stream)
                elif stream is client.stdout:
                    out += data
                else:
                    err += data
                last = time.monotonic()
        code = client.wait(1) if not streams else client.poll()
    finally:
        if client.poll() is None:
            client.kill()
        client.wait()
        client.stdout.close()
        client.stderr.close()
    return code, out.decode(errors="replace"), err.decode(errors="replace")


def compare_tail_f(pair, *args, **options):
    results = in_parallel([lambda side=side: follow(side, "tail", "-f", *args, **options) for side in pair.sides])
    shown = [(code, normalise(side, out), normalise(side, err)) for side, (code, out, err) in zip(pair.sides, results)]
    if SHOW:
        print(f"$ supervisorctl tail -f {' '.join(args)}\n  supervisord: {shown[0]!r}\n  {pair.subject.name}: "
              f"{shown[1]!r}")
    pair.same(f"supervisorctl tail -f {' '.join(args)}", *shown)
    return results


@test
def tail_f_shows_the_end_then_follows():
    pair = shared()
    compare_tail_f(pair, "web")
    compare_tail_f(pair, "web", "stderr")
    compare_tail_f(pair, "nolog")  # 404: supervisorctl says so on stderr and ends, exit 0
    compare_tail_f(pair, "missing")

    # New output arrives while it runs: talk writes a line on each SIGUSR1 (sent by `supervisorctl signal`).
    def poke(side):
        code, out, _ = side.ctl("signal", "USR1", "talk")
        check(code == 0 and out == "talk: signalled\n", f"{side.name}: signal USR1 talk: {code} {out!r}")
    results = compare_tail_f(pair, "talk", until="more 0", after_banner=poke)
    for side, (_, out, _) in zip(pair.sides, results):
        check("more 0" in out, f"{side.name}: tail -f talk did not show the new line: {out!r}")
    pair.verify()


@test
def fg_of_a_missing_and_of_a_stopped_program():
    # A live fg is left out: supervisorctl's own output thread waits for output that may already have come
    # (the supervisord side hangs at random); sendProcessStdin is tested in tests/test_xmlrpc.cpp.
    pair = shared()
    pair.run("fg", "missing")
    pair.run("fg", "idle")
    pair.verify()


@test
def signal_by_name_number_group_and_all():
    pair = shared()
    for args in [("CONT", "web"), ("sigcont", "g:a"), ("18", "web"), ("CONT", "idle"), ("BOGUS", "web"),
                 ("CONT", "missing")]:
        pair.run("signal", *args)
    pair.run("signal", "CONT", "pool:*", order=True)
    pair.run("signal", "CONT", "all", order=True)
    pair.verify()


@test
def avail_and_reread_without_change():
    pair = shared()
    pair.run("avail")
    pair.run("reread")
    pair.verify()


@test
def maintail_shows_the_daemons_own_log():
    pair = shared()
    for args in [(), ("-200",)]:
        results = in_parallel([lambda side=side: side.ctl("maintail", *args) for side in pair.sides])
        codes = [code for code, _, _ in results]
        pair.same(f"supervisorctl maintail {' '.join(args)}: exit status", codes[0], codes[1])
        for side, (code, out, err) in zip(pair.sides, results):
            log = side.read("supervisord.log")
            text = out[:-1] if out.endswith("\n") else out  # supervisorctl adds a newline
            check(text.strip() and text in log, f"{side.name}: maintail {' '.join(args)} printed {out!r} {err!r}, "
                                                f"which is not the end of its log {side.mainlog}")
            if args:
                check(len(text.encode()) <= 200, f"{side.name}: maintail -200 printed {len(text.encode())} bytes")
    results = in_parallel([lambda side=side: follow(side, "maintail", "-f")[1] for side in pair.sides])
    for side, out in zip(pair.sides, results):
        text = out[len(BANNER):]
        check(out.startswith(BANNER) and text.strip() and text in side.read("supervisord.log"),
              f"{side.name}: maintail -f printed {out!r}, not the end of its log")
    pair.verify()


@test
def version_may_differ_but_answers():
    pair = shared()
    results = in_parallel([lambda side=side: side.ctl("version") for side in pair.sides])
    for side, (code, out, err) in zip(pair.sides, results):
        check(code == 0 and re.fullmatch(r"\S+\n", out) and not err, f"{side.name}: version: {code} {out!r} {err!r}")


@test
def clear_one_then_all():  # last of the read-only tests: it empties logs
    pair = shared()
    pair.runs("tail cleared", "clear cleared", "tail cleared", "clear missing", "clear nolog")
    pair.runs("clear all", order=True)
    pair.runs("tail web")
    pair.verify()


# --- commands that change something: a pair each ------------------------------------------------------------------

LIFECYCLE = supervisord_conf(
    section("program:web", FOREVER, startsecs=0),
    section("program:pool", FOREVER, numprocs=2, process_name="%(program_name)s_%(process_num)02d", startsecs=0),
    section("program:crash", f"{HELPER} --exit 3", autostart="false", startsecs=1, startretries=0),
    section("program:later", FOREVER, autostart="false", startsecs=0),
    section("program:slow", FOREVER, autostart="false", startsecs=1))


def pids(side):
    return {name: info["pid"] for name, info in side.infos().items()}


@test
def start_stop_restart():
    pair = Pair(LIFECYCLE).start(["web", "pool:pool_00", "pool:pool_01"])
    pair.run("status")
    before = [pids(side) for side in pair.sides]
    pair.run("stop", "web")
    for side, known in zip(pair.sides, before):
        check(ppid(known["web"]) != side.proc.pid, f"{side.name}: web's process still runs after `stop web`")
    pair.runs("stop web", "status web", "start web", "start web", "status web", "restart web")
    after = [pids(side) for side in pair.sides]
    for side, old, new in zip(pair.sides, before, after):
        check(new["web"] and new["web"] != old["web"] and ppid(new["web"]) == side.proc.pid,
              f"{side.name}: web's pid {old['web']} then {new['web']} after start and restart")

    pair.runs("stop pool:*", "status pool:*", "start pool:*", "restart pool:*", order=True)
    pair.runs("start later slow", "status")  # slow answers after startsecs

    # A program that exits at once: spawn error, exit 7, FATAL.
    pair.run("start", "crash")
    pair.settle()
    pair.run("status", "crash")
    pair.run("restart", "crash")
    pair.settle()

    pair.runs("start missing", "start nog:*", "stop web missing", "stop nog:*", "restart missing")
    for command in ["stop all", "start all", "restart all"]:
        pair.runs(command, order=True)
        pair.settle()
        pair.runs("status")
    pair.verify()


def update_conf(version):
    """The file before (1) and after (2, 3) editing; 2 changes `change` and `pool`, removes `gone`, adds `new`; 3
    removes `keep` and adds `extra` and `later`."""
    sections = {
        "keep": section("program:keep", FOREVER, startsecs=0),
        "change": section("program:change", FOREVER if version == 1 else f"{HELPER} --sleep 1 --forever",
                          startsecs=0),
        "gone": section("program:gone", FOREVER, startsecs=0),
        "pool": section("program:pool", FOREVER, numprocs=2 if version == 1 else 3,
                        process_name="%(program_name)s_%(process_num)d", startsecs=0),
        "new": section("program:new", FOREVER, startsecs=0),
        "extra": section("program:extra", FOREVER, startsecs=0),
        "later": section("program:later", FOREVER, startsecs=0, autostart="false"),
    }
    names = {1: ["keep", "change", "gone", "pool"], 2: ["keep", "change", "pool", "new"],
             3: ["change", "pool", "new", "extra", "later"]}[version]
    return supervisord_conf(*[sections[name] for name in names])


@test
def reread_update_add_remove():
    pair = Pair(update_conf(1)).start(["keep", "change", "gone", "pool:pool_0", "pool:pool_1"])
    before = [pids(side) for side in pair.sides]
    pair.write(update_conf(2))
    pair.run("reread")
    pair.run("update")
    pair.wait_states({"keep": "RUNNING", "change": "RUNNING", "new": "RUNNING", "pool:pool_2": "RUNNING"})
    after = [pids(side) for side in pair.sides]
    for side, old, new in zip(pair.sides, before, after):
        check(new["keep"] == old["keep"], f"{side.name}: `update` restarted keep, which did not change")
        check(new["change"] != old["change"], f"{side.name}: `update` kept change's process")
        check("gone" not in new and ppid(old["gone"]) != side.proc.pid, f"{side.name}: gone is still there")
    pair.run("status")
    pair.run("reread")
    pair.run("avail")

    pair.write(update_conf(3))
    pair.runs("reread", "add extra", "add extra", "add nosuch", "remove keep", "stop keep", "remove keep",
              "remove keep")
    pair.wait_states({"extra": "RUNNING"})
    pair.runs("status", "reread", "update later", "update nosuch", "status")
    pair.verify()


@test
def shutdown_stops_everything_and_removes_the_socket():
    pair = Pair(LIFECYCLE).start(["web", "pool:pool_00", "pool:pool_01"])
    children = [set(pids(side).values()) - {0} for side in pair.sides]
    pair.run("shutdown")
    codes = [side.wait_exit(30) for side in pair.sides]
    for side, code in zip(pair.sides, codes):
        check(code is not None, f"{side.name} still runs 30 s after `shutdown`")
    pair.same("the daemon's exit status after `shutdown`", codes[0], codes[1])
    for side, known in zip(pair.sides, children):
        check(not os.path.exists(side.socket), f"{side.name} left its socket {side.socket}")
        left = session(side.proc.pid)
        check(not left, f"{side.name} left processes running after `shutdown`: {left} "
                        f"({[pid for pid in left if pid in known]} of its programs)")
    pair.same("pid file left after `shutdown`", os.path.exists(pair.reference.path("supervisord.pid")),
              os.path.exists(pair.subject.path("supervisord.pid")))
    pair.run("status")
    pair.run("shutdown")
    pair.verify()


if __name__ == "__main__":
    run_tests(main, stop_shared)
