"""taskmaster as a daemon, driven by `taskmaster ctl`: every command with its exit code and its --json data, the
event stream, the remote shell, who may own and use the control socket, --no-shell, hostile clients on the raw
socket, and a shutdown that leaves nothing behind."""

import json
import os
import pty
import re
import select
import signal
import socket
import stat
import subprocess
import threading
import time

from tmtest import (LOG_LINE, TASKMASTER, Daemon, Taskmaster, Terminal, alive, answers, as_user, check, config, ctl,
                    eventually, helper, kill_groups, main, program, read_file, stop_and_clean, test, tmpdir)

QUICK = {"starttime": "100ms", "stoptime": "500ms"}
UP = dict(QUICK, autostart=True)
FOREVER = helper("--forever")
NOBODY = 65534
STATUS_FIELDS = {"program", "instance", "index", "state", "pid", "start_time", "uptime_ms", "last_exit",
                 "last_exit_time", "restarts", "reason"}
EVENT_FIELDS = {"v", "event", "program", "instance", "index", "from", "to", "pid", "exit", "expected", "reason",
                "time", "retries", "retry_in_ms"}
ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def is_socket(path):
    try:
        return stat.S_ISSOCK(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


class Foreground:
    """`taskmaster --no-shell`, or any other long-running process, with its output collected."""

    def __init__(self, args, env=None, cwd=None):
        self.proc = subprocess.Popen([TASKMASTER, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, cwd=cwd)
        self.out, self.err = [], []
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=lambda s=stream, k=sink: [k.append(raw.decode(errors="replace").rstrip("\n"))
                                                              for raw in iter(s.readline, b"")], daemon=True).start()
        self.seen_pids = set()
        Taskmaster._running.append(self)

    def kill(self):
        stop_and_clean(self.proc, self.seen_pids)


def follower(sock, json_out=False):
    """`taskmaster ctl events`, its lines collected."""
    return Foreground(["ctl", "--socket", sock, *(["--json"] if json_out else []), "events"])


def subscribed(followers, sock, name):
    """Restarts program `name` until every follower has printed a line about it: then all are subscribed."""
    def seen():
        if all(any(name in line for line in f.out) for f in followers):
            return True
        ctl(sock, "restart", name)
        return False
    eventually(seen, 10, 0.1, "the followers to see a state change")


# --- the daemon and its commands -------------------------------------------------------------------------------

@test
def daemon_returns_once_ready_and_runs_detached():
    d = Daemon(config(program("web", FOREVER, **UP)))
    elsewhere = os.path.join(d.dir, "elsewhere")
    os.mkdir(elsewhere)
    d.socket = os.path.join(elsewhere, "tm.sock")
    # Relative paths, from a working directory of its own; no --pidfile: it goes beside the socket.
    p = subprocess.run([TASKMASTER, "-c", "../taskmaster.yml", "--daemon", "--socket", "tm.sock", "--log", "tm.log"],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=elsewhere, timeout=20)
    check(p.returncode == 0 and p.stdout == "" and p.stderr == "", f"{p.returncode} {p.stdout!r} {p.stderr!r}")
    pidfile = os.path.join(elsewhere, "taskmaster.pid")
    check(is_socket(d.socket), "no socket once the command returned")
    check(os.path.exists(pidfile), "no pid file beside the socket")
    d.pid = int(read_file(pidfile))
    check(alive(d.pid))
    check(os.getsid(d.pid) == d.pid, "the daemon is not in a session of its own")
    check(os.readlink(f"/proc/{d.pid}/cwd") == elsewhere, "the daemon changed its working directory")
    for fd in (0, 1, 2):
        check(os.readlink(f"/proc/{d.pid}/fd/{fd}") == "/dev/null", f"fd {fd} is not /dev/null")
    check(mode(d.socket) == 0o600, f"socket mode {mode(d.socket):o}")
    d.wait_state("web", "RUNNING")
    log = read_file(os.path.join(elsewhere, "tm.log"))
    absolute = os.path.join(elsewhere, "../taskmaster.yml")
    check(f"configuration {absolute}\n" in log, f"the configuration path is not absolute in the log:\n{log}")
    check(re.search(rf"INFO  running as a daemon, pid {d.pid}, pid file taskmaster.pid", log), log)
    check("INFO  control socket listening on tm.sock\n" in log, log)
    for line in log.splitlines():
        check(LOG_LINE.match(line), f"bad log line {line!r}")


@test
def a_daemon_that_cannot_start_says_why_and_leaves_nothing():
    d = Daemon(config(program("web", FOREVER, **UP)))
    # The pid file cannot be written: the parent prints why, exits 1, and the socket is gone again.
    err = d.start(["-c", d.config, "--daemon", "--socket", d.socket, "--pidfile", os.path.join(d.dir, "no", "x.pid"),
                   "--log", d.log], expect=1)
    check(re.search(r"^taskmaster: cannot write the pid file .*/no/x\.pid: No such file or directory$", err, re.M), err)
    check(not os.path.exists(d.socket), "the socket of a daemon that failed is still there")
    check("web spawned" not in d.log_text(), "a program was started by a daemon that failed")
    # An invalid configuration: nothing forks at all.
    d.write("programs:\n  web:\n    cmdd: x\n")
    err = d.start(expect=2)
    check("nothing started" in err and not os.path.exists(d.pidfile), err)


@test
def every_command_with_its_exit_code():
    d = Daemon(config(program("web", FOREVER, numprocs=2, **UP), program("worker", FOREVER, **UP),
                      program("manual", FOREVER, **QUICK),
                      program("victim", FOREVER, autorestart="never", **UP)))
    d.start()
    for name in ("web:0", "web:1", "worker", "victim"):
        d.wait_state(name, "RUNNING")

    code, out, err = d.ctl("status")
    lines = out.splitlines()
    check(code == 0 and err == "", f"{code} {err}")
    check([line.split()[0] for line in lines] == ["manual", "victim", "web:0", "web:1", "worker"], out)
    check(re.match(r"^web:0\s+RUNNING\s+pid \d+, uptime 0:00:0\d$", lines[2]), out)
    check(re.match(r"^manual\s+STOPPED\s+not started$", lines[0]), out)
    code, out, _ = d.ctl("status", "all")
    check(code == 0 and [line.split()[:2] for line in out.splitlines()] == [line.split()[:2] for line in lines], out)
    code, out, _ = d.ctl("status", "web:1")
    check(code == 0 and len(out.splitlines()) == 1 and out.startswith("web:1 "), out)
    code, out, _ = d.ctl("status", "wbe")
    check(code == 1 and out == "wbe: ERROR (no such program; did you mean 'web'?)\n", f"{code} {out!r}")
    code, out, _ = d.ctl("status", "worker", "wrker")
    check(code == 1 and out.splitlines()[0].startswith("worker ") and
          out.splitlines()[1] == "wrker: ERROR (no such program; did you mean 'worker'?)", f"{code} {out!r}")

    check(d.ctl("start", "manual")[:2] == (0, "manual: started\n"))
    check(d.ctl("start", "manual")[:2] == (0, "manual: already started\n"))
    code, out, _ = d.ctl("start", "manual", "nosuch")
    check(code == 1 and out == "manual: already started\nnosuch: ERROR (no such program)\n", f"{code} {out!r}")
    check(d.ctl("stop", "manual")[:2] == (0, "manual: stopped\n"))
    check(d.status("manual")["manual"]["state"] == "STOPPED")
    check(d.ctl("stop", "manual")[:2] == (0, "manual: not running\n"))

    before = d.status("worker")["worker"]["pid"]
    check(d.ctl("restart", "worker")[:2] == (0, "worker: started\n"))
    after = d.status("worker")["worker"]
    check(after["state"] == "RUNNING" and after["pid"] not in (0, before), after)
    eventually(lambda: not alive(before), message="the old worker process to go")

    check(d.ctl("pid")[:2] == (0, f"{d.pid}\n"))
    check(d.ctl("pid", "worker")[:2] == (0, f"{after['pid']}\n"))
    code, out, _ = d.ctl("pid", "web")
    check(code == 0 and re.match(r"^web:0 [1-9]\d*\nweb:1 [1-9]\d*\n$", out), out)
    check(d.ctl("pid", "manual")[:2] == (0, "0\n"))

    victim = d.status("victim")["victim"]["pid"]
    check(d.ctl("signal", "HUP", "victim")[:2] == (0, f"victim: sent SIGHUP to pid {victim}\n"))
    gone = d.wait_state("victim", "EXITED")
    check(gone["last_exit"]["signal"] == signal.SIGHUP, gone)
    code, out, _ = d.ctl("signal", "TERM", "victim")
    check(code == 1 and out == "victim: ERROR (not running)\n", f"{code} {out!r}")
    code, out, _ = d.ctl("signal", "BOGUS", "web")
    check(code == 1 and out == "unknown signal 'BOGUS'\n", f"{code} {out!r}")

    version = subprocess.run([TASKMASTER, "--version"], capture_output=True, text=True).stdout
    check(d.ctl("version")[:2] == (0, version))
    code, out, _ = d.ctl("help")
    check(code == 0 and out.startswith("Commands:\n") and "  shutdown " in out, out)
    code, out, _ = d.ctl("help", "stop")
    check(code == 0 and out.startswith("usage: stop NAME...\n"), out)

    # Usage errors, ours or the server's: exit code 2.
    code, out, _ = d.ctl("stauts")
    check(code == 2 and out == "unknown command 'stauts' (did you mean 'status'?); type 'help' for the list\n",
          f"{code} {out!r}")
    check(d.ctl("start")[:2] == (2, "usage: start NAME...\n"))
    check(d.ctl("signal", "HUP")[:2] == (2, "usage: signal SIGNAL NAME...\n"))
    check(d.ctl("reload", "now")[:2] == (2, "usage: reload\n"))
    for word in ("quit", "exit"):
        code, out, err = d.ctl(word)
        check(code == 2 and out == "" and
              err == f"taskmaster ctl: '{word}' ends a shell; 'shutdown' stops taskmaster\n", f"{code} {err!r}")
    code, _, err = d.ctl("--bogus", "status")
    check(code == 2 and "unknown option '--bogus'" in err, err)
    code, _, err = ctl(None, "--socket")
    check(code == 2 and "--socket needs a value" in err, err)
    code, out, _ = ctl(None, "--help")
    check(code == 0 and out.startswith("Usage: taskmaster ctl "), out)
    code, _, err = ctl(None, "-c", os.path.join(d.dir, "missing.yml"), "status")
    check(code == 2 and "missing.yml: cannot read" in err, f"{code} {err!r}")

    # No taskmaster on that socket: exit code 3, naming the socket.
    missing = os.path.join(d.dir, "nobody-home.sock")
    code, out, err = ctl(missing, "status")
    check(code == 3 and out == "" and f"no taskmaster is running on {missing}" in err, f"{code} {err!r}")

    check(alive(d.pid) and d.status()["web:0"]["state"] == "RUNNING")
    check(re.search(r"INFO  command from socket: stop manual", d.log_text()), d.log_text())


@test
def a_reader_that_leaves_early_ends_ctl_quietly():
    # `taskmaster ctl status | head -1`: the reader is gone before the answer is printed.
    d = Daemon(config(program("web", FOREVER, **UP)))
    d.start()
    d.wait_state("web", "RUNNING")
    for args in (["status"], ["events"]):
        p = subprocess.Popen([TASKMASTER, "ctl", "--socket", d.socket] + args, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        p.stdout.close()  # before anything was written
        if args == ["events"]:
            d.ctl("restart", "web")  # something to print
        _, err = p.communicate(timeout=20)
        check(p.returncode in (0, -signal.SIGPIPE) and err == b"", f"{args}: exit {p.returncode}: {err!r}")


@test
def json_output_for_scripts():
    d = Daemon(config(program("web", FOREVER, numprocs=2, **UP), program("manual", FOREVER, **QUICK)))
    d.start()
    d.wait_state("web:0", "RUNNING")
    d.wait_state("web:1", "RUNNING")

    reply = d.reply("status")
    check(reply["ok"] is True and "error" not in reply and len(reply["lines"]) == 3, reply)
    data = reply["data"]
    check([s["instance"] for s in data] == ["manual", "web:0", "web:1"], data)
    for s in data:
        check(set(s) == STATUS_FIELDS, f"status fields: {sorted(s)}")
    manual, web1 = data[0], data[2]
    check(manual["state"] == "STOPPED" and manual["pid"] == 0 and manual["start_time"] == "" and
          manual["last_exit"] is None and manual["uptime_ms"] == 0, manual)
    check(web1["program"] == "web" and web1["index"] == 1 and web1["state"] == "RUNNING" and alive(web1["pid"]) and
          ISO_TIME.match(web1["start_time"]) and web1["uptime_ms"] >= 100 and web1["restarts"] == 0, web1)
    check(d.ctl("pid", "web:1")[1] == f"{web1['pid']}\n", "status --json and pid disagree")

    reply = d.reply("status", "wbe", expect=1)
    check(reply["ok"] is False and reply["data"] == [] and "error" not in reply and
          reply["lines"] == ["wbe: ERROR (no such program; did you mean 'web'?)"], reply)

    reply = d.reply("start", "web", "manual", "nosuch", expect=1)
    check(reply["ok"] is False and "error" not in reply, reply)
    check(reply["data"] == [{"instance": "web:0", "ok": True, "message": "already started"},
                            {"instance": "web:1", "ok": True, "message": "already started"},
                            {"instance": "manual", "ok": True, "message": "started"},
                            {"instance": "nosuch", "ok": False, "message": "no such program"}], reply["data"])
    check(reply["lines"] == ["web:0: already started", "web:1: already started", "manual: started",
                             "nosuch: ERROR (no such program)"], reply["lines"])
    reply = d.reply("stop", "manual")
    check(reply["ok"] and reply["data"] == [{"instance": "manual", "ok": True, "message": "stopped"}], reply)
    reply = d.reply("restart", "web:0")
    check(reply["data"] == [{"instance": "web:0", "ok": True, "message": "started"}], reply)

    check(d.reply("pid")["data"] == d.pid)
    pids = d.reply("pid", "web")["data"]
    status = d.status("web")
    check(pids == {"web:0": status["web:0"]["pid"], "web:1": status["web:1"]["pid"]}, pids)
    version = subprocess.run([TASKMASTER, "--version"], capture_output=True, text=True).stdout.split()[-1]
    reply = d.reply("version")
    check(reply["data"] == version and reply["lines"] == [f"taskmaster {version}"], reply)
    check(d.reply("help")["lines"][0] == "Commands:")

    reply = d.reply("stauts", expect=2)
    check(reply["ok"] is False and reply["error"].startswith("unknown command 'stauts' (did you mean 'status'?)"),
          reply)
    reply = d.reply("quit", expect=2)
    check(reply["ok"] is False and reply["error"] == "'quit' ends a shell; 'shutdown' stops taskmaster" and
          reply["lines"] == [], reply)
    reply = d.reply("stop", expect=2)
    check(reply["error"] == "usage: stop NAME...", reply)


@test
def options_go_before_or_after_the_command():
    d = Daemon(config(program("web", FOREVER, **UP)))
    d.start()
    d.wait_state("web", "RUNNING")
    sock = ["--socket", d.socket]

    def replies(*args):
        code, out, err = ctl(None, *args)
        check(code == 0 and err == "", f"{args}: exit {code}: {err}")
        lines = out.splitlines()
        check(len(lines) == 1, f"{args}: {out!r}")
        return json.loads(lines[0])

    spellings = [["--json", *sock, "status"], [*sock, "status", "--json"], ["status", "--json", *sock],
                 [*sock, "status", "web", "--json"], ["--json", "status", f"--socket={d.socket}"]]
    for args in spellings:
        reply = replies(*args)
        check(reply["ok"] and [s["instance"] for s in reply["data"]] == ["web"], f"{args}: {reply}")
    # After `--`, everything is the command's: "--json" is then a name, not an option.
    code, out, _ = ctl(None, *sock, "status", "--", "--json")
    check(code == 1 and out == "--json: ERROR (no such program)\n", f"{code} {out!r}")
    code, out, _ = ctl(None, *sock, "--json", "--", "status", "--bogus")
    reply = json.loads(out)
    check(code == 1 and reply["lines"] == ["--bogus: ERROR (no such program)"], f"{code} {out!r}")
    code, _, err = ctl(None, *sock, "status", "--bogus")
    check(code == 2 and "unknown option '--bogus'" in err, f"{code} {err!r}")

    # `events --json` prints events as JSON, wherever --json is.
    followers = [Foreground(["ctl", *sock, "events", "--json"]), Foreground(["ctl", "events", *sock, "--json"])]
    subscribed(followers, d.socket, "web")
    for f in followers:
        events = [json.loads(line) for line in f.out]
        check(any(e["event"] == "state" and e["instance"] == "web" for e in events), f.out)
        f.proc.send_signal(signal.SIGINT)
        f.proc.wait(10)


V1 = config(program("keep", FOREVER, **UP), program("change", FOREVER, **UP), program("gone", FOREVER, **UP))
V2 = config(program("keep", FOREVER, **UP), program("change", helper("--sleep", "1", "--forever"), **UP),
            program("new", FOREVER, **UP))
V3 = config(program("keep", FOREVER, numprocs=2, **UP), program("change", helper("--sleep", "1", "--forever"), **UP),
            program("new", FOREVER, **UP))


@test
def reload_after_editing_the_file():
    d = Daemon(V1)
    d.start()
    before = {name: d.wait_state(name, "RUNNING")["pid"] for name in ("keep", "change", "gone")}
    d.write(V2)
    reply = d.reply("reload")
    check(reply["ok"] and reply["data"] == {"added": ["new"], "changed": ["change"], "updated": [],
                                            "removed": ["gone"], "unchanged": ["keep"], "invalid": []}, reply)
    check(reply["lines"] == ["added: new", "changed (restarted): change", "removed: gone", "unchanged: keep"], reply)
    after = {name: d.wait_state(name, "RUNNING")["pid"] for name in ("keep", "change", "new")}
    check(after["keep"] == before["keep"] and after["change"] != before["change"], f"{before} {after}")
    eventually(lambda: not alive(before["gone"]), message="the removed program to stop")
    check("gone" not in d.status())

    d.write(V3)
    code, out, _ = d.ctl("reload")
    check(code == 0 and out == "updated: keep\nunchanged: change, new\n", f"{code} {out!r}")
    d.wait_state("keep:1", "RUNNING")
    check(d.status()["keep:0"]["pid"] == before["keep"], "an updated program was restarted")

    # A file with errors changes nothing, and everything keeps running.
    running = {name: s["pid"] for name, s in d.status().items()}
    d.write("programs:\n  keep:\n    cmd: [unclosed\n  change:\n    numprocs: lots\n")
    code, out, _ = d.ctl("reload")
    lines = out.splitlines()
    check(code == 1 and lines[-1].startswith("reload failed: ") and lines[-1].endswith("; nothing changed"),
          f"{code} {out!r}")
    for line in lines[:-1]:
        check(re.match(re.escape(d.config) + r":\d+:\d+: ", line), f"no file:line:column in {line!r}")
    reply = d.reply("reload", expect=1)
    check(reply["ok"] is False and "error" not in reply and reply["lines"][-1].startswith("reload failed"), reply)
    now = d.status()
    check({name: s["pid"] for name, s in now.items()} == running, f"{running} {now}")
    check(all(s["state"] == "RUNNING" for s in now.values()), now)
    check(alive(d.pid))


@test
def events_follow_a_restart():
    d = Daemon(config(program("web", FOREVER, **UP), program("probe", FOREVER, **UP)))
    d.start()
    old = d.wait_state("web", "RUNNING")["pid"]
    d.wait_state("probe", "RUNNING")
    text, raw = follower(d.socket), follower(d.socket, json_out=True)
    subscribed([text, raw], d.socket, "probe")
    check(d.ctl("restart", "web")[:2] == (0, "web: started\n"))
    new = d.status("web")["web"]["pid"]

    expected = [("RUNNING", "STOPPING", old), ("STOPPING", "STOPPED", old), ("STOPPED", "STARTING", new),
                ("STARTING", "RUNNING", new)]
    eventually(lambda: len([line for line in text.out if " web " in line]) >= 4, message="four text events")
    web = [line for line in text.out if " web " in line]
    check(len(web) == 4, web)
    for line, (src, dst, pid) in zip(web, expected):
        check(re.match(rf"^\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z web {src} -> {dst} pid {pid}$", line), line)

    eventually(lambda: len([e for e in raw.out if '"web"' in e]) >= 4, message="four JSON events")
    events = [json.loads(line) for line in raw.out]
    web = [e for e in events if e["program"] == "web"]
    check(len(web) == 4, web)
    for e, (src, dst, pid) in zip(web, expected):
        check(set(e) == EVENT_FIELDS, f"event fields: {sorted(e)}")
        check(e["v"] == 1 and e["event"] == "state" and e["instance"] == "web" and e["index"] == 0, e)
        check((e["from"], e["to"], e["pid"]) == (src, dst, pid) and e["expected"] is True, e)
        check(ISO_TIME.match(e["time"]), e)
    stopped = web[1]["exit"]
    check(stopped["signal"] == signal.SIGTERM and stopped["text"] == "terminated by SIGTERM", stopped)
    check(web[0]["exit"] is None)

    for f in (text, raw):  # interrupted: they go, taskmaster stays
        f.proc.send_signal(signal.SIGINT)
        f.proc.wait(10)
        check(f.err == [], f.err)
    check(alive(d.pid) and d.ctl("status")[0] == 0)


@test
def remote_shell_runs_commands_and_quit_leaves_it():
    d = Daemon(config(program("web", FOREVER, **UP), program("manual", FOREVER, **QUICK)))
    d.start()
    d.wait_state("web", "RUNNING")
    code, out, err = d.ctl(input="status web\n\nstauts\nevents\nstart manual\n# a comment\nquit\nstop manual\n")
    lines = out.splitlines()
    check(code == 0, f"{code} {err}")
    check(re.match(r"^web\s+RUNNING\s+pid \d+", lines[0]), out)
    check(lines[1:] == ["unknown command 'stauts' (did you mean 'status'?); type 'help' for the list",
                        "'events' is not for this shell: run 'taskmaster ctl events'",  # the shell stays a shell
                        "manual: started"], out)
    check(d.status()["manual"]["state"] == "RUNNING", "the line after quit was run, or start did not work")
    check(alive(d.pid), "quit in the remote shell stopped taskmaster")
    # `shutdown` in the remote shell stops taskmaster itself.
    pids = [s["pid"] for s in d.status().values()]
    code, out, _ = d.ctl(input="shutdown\n")
    check(code == 0 and out.startswith("stopping every program, then exiting"), f"{code} {out!r}")
    d.wait_gone()
    check(not any(alive(p) for p in pids), "a program outlived shutdown")


@test
def remote_shell_at_a_terminal_completes_remote_names():
    d = Daemon(config(program("webserver", FOREVER, **UP)))
    d.start()
    d.wait_state("webserver", "RUNNING")
    t = Terminal.__new__(Terminal)
    t.dir, t.output, t.code = d.dir, "", None
    environment = dict(os.environ, TERM="xterm", XDG_STATE_HOME=os.path.join(d.dir, "state"))
    t.pid, t.fd = pty.fork()
    if t.pid == 0:
        try:
            os.execve(TASKMASTER, [TASKMASTER, "ctl", "--socket", d.socket], environment)
        finally:
            os._exit(127)
    Taskmaster._running.append(t)
    t.expect(r"connected\. Type 'help' for the commands, 'quit' to leave\.")
    t.expect(r"taskmaster> ")
    t.send("stop \t\t")  # the names come from the taskmaster at the other end
    t.expect(r"all\s+webserver")
    t.send("webserver\r")
    t.expect(r"webserver: stopped")
    t.expect(r"taskmaster> ")
    # Completed words are checked by running them: the screen shows them through cursor moves.
    t.send("stat\t")
    time.sleep(0.1)
    t.send("webs\t")
    time.sleep(0.1)
    t.send("\r")
    t.expect(r"webserver\s+STOPPED\s+")
    t.expect(r"taskmaster> ")
    t.send("quit\r")
    check(t.wait(10) == 0, "the remote shell did not leave on quit")
    check(alive(d.pid), "quit at the remote prompt stopped taskmaster")


# --- who owns the socket, and who may use it ------------------------------------------------------------------

@test
def one_socket_one_taskmaster():
    first = Daemon(config(program("web", FOREVER, **UP)))
    first.start()
    pid = first.wait_state("web", "RUNNING")["pid"]

    second = Daemon(config(program("intruder", FOREVER, **UP)), sock=first.socket)
    err = second.start(expect=1)
    check(err == f"taskmaster: another taskmaster is already listening on {first.socket}\n", repr(err))
    check(not os.path.exists(second.pidfile), "the refused daemon wrote a pid file")
    check("intruder spawned" not in second.log_text(), second.log_text())
    check(re.search(r"ERROR another taskmaster is already listening on .*; taskmaster stopped", second.log_text()))

    # Without a shell, in the foreground: the same refusal.
    p = subprocess.run([TASKMASTER, "-c", second.config, "--no-shell", "--socket", first.socket, "--log", second.log],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=20)
    check(p.returncode == 1 and f"another taskmaster is already listening on {first.socket}" in p.stderr, p.stderr)

    # With a shell: it runs, says its control socket is disabled and why, and leaves the other's socket alone.
    tm = Taskmaster(config(program("other", FOREVER, **UP)), socket=first.socket)
    tm.wait_state("other", "RUNNING")
    eventually(lambda: f"control socket disabled: another taskmaster is already listening on {first.socket}"
               in tm.stderr(), message="the notice")
    check(re.search(r"WARN  control socket disabled: another taskmaster is already listening", tm.log_text()))
    check(tm.quit() == 0)

    check(alive(first.pid) and is_socket(first.socket), "the first taskmaster was disturbed")
    status = first.status()
    check(list(status) == ["web"] and status["web"]["pid"] == pid and status["web"]["state"] == "RUNNING", status)


@test
def a_stale_socket_file_is_replaced():
    d = Daemon(config(program("web", FOREVER, **UP)))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(d.socket)  # bound, never listening, closed: the file stays behind
    check(is_socket(d.socket) and not answers(d.socket))
    d.start()
    check(is_socket(d.socket) and mode(d.socket) == 0o600)
    d.wait_state("web", "RUNNING")


@test
def socket_path_from_the_runtime_dir_or_the_configuration():
    d = Daemon(config(program("web", FOREVER, **UP)))
    runtime = os.path.join(d.dir, "run")
    os.mkdir(runtime, 0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=runtime)
    d.socket = os.path.join(runtime, "taskmaster.sock")
    d.pidfile = os.path.join(runtime, "taskmaster.pid")
    d.start(["-c", d.config, "--daemon", "--log", d.log], env=env)  # the pid file: beside the socket
    check(is_socket(d.socket) and mode(d.socket) == 0o600)
    code, out, err = ctl(None, "status", env=env)
    check(code == 0 and out.startswith("web "), f"{code} {out} {err}")
    check(ctl(None, "shutdown", env=env)[0] == 0)
    d.wait_gone()
    check(not os.path.exists(d.socket) and not os.path.exists(os.path.join(runtime, "taskmaster.pid")))

    # `socket:` in the file; `ctl -c FILE` reads it too; --socket wins over it.
    chosen = os.path.join(d.dir, "from-config.sock")
    d.write(f"socket: {chosen}\n" + config(program("web", FOREVER, **UP)))
    d.socket = chosen
    d.pidfile = os.path.join(d.dir, "tm.pid")
    d.start(["-c", d.config, "--daemon", "--pidfile", d.pidfile, "--log", d.log], env=env)
    check(is_socket(chosen) and not os.path.exists(os.path.join(runtime, "taskmaster.sock")))
    p = subprocess.run([TASKMASTER, "ctl", "-c", d.config, "pid"], capture_output=True, text=True, env=env)
    check(p.returncode == 0 and p.stdout == f"{d.pid}\n", f"{p.returncode} {p.stdout} {p.stderr}")
    check(d.ctl("shutdown")[0] == 0)
    d.wait_gone()
    override = os.path.join(d.dir, "override.sock")
    d.socket = override
    d.start(["-c", d.config, "--daemon", "--socket", override, "--pidfile", d.pidfile, "--log", d.log], env=env)
    check(is_socket(override) and not os.path.exists(chosen))
    p = subprocess.run([TASKMASTER, "ctl", "-c", d.config, "status"], capture_output=True, text=True, env=env)
    check(p.returncode == 3 and f"no taskmaster is running on {chosen}" in p.stderr, f"{p.returncode} {p.stderr}")
    check(d.ctl("status")[0] == 0)


@test
def default_socket_without_a_runtime_dir_is_in_a_private_directory():
    directory = f"/tmp/taskmaster-{os.geteuid()}"
    path = os.path.join(directory, "taskmaster.sock")
    if answers(path):
        print(f"      (skipped: a taskmaster is already listening on {path})")
        return
    existed = os.path.isdir(directory)
    d = Daemon(config(program("web", FOREVER, **UP)))
    home = os.path.join(d.dir, "home")
    os.mkdir(home)
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    env["HOME"] = home
    d.socket = path
    try:
        d.start(["-c", d.config, "--daemon", "--pidfile", d.pidfile, "--log", d.log], env=env)
        st = os.lstat(directory)
        check(stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.geteuid(),
              f"{directory}: mode {stat.S_IMODE(st.st_mode):o}, owner {st.st_uid}")
        check(is_socket(path) and mode(path) == 0o600)
        code, out, err = ctl(None, "pid", env=env)
        check(code == 0 and out == f"{d.pid}\n", f"{code} {out} {err}")
        check(ctl(None, "shutdown", env=env)[0] == 0)
        d.wait_gone()
        check(not os.path.exists(path), "the socket outlived its taskmaster")
    finally:
        if not existed:
            try:
                os.rmdir(directory)
            except OSError:
                pass

    # The same as another user, whose directory does not exist yet: it is created private. One that anybody
    # else could use is refused.
    if os.geteuid() != 0:
        return
    directory = f"/tmp/taskmaster-{NOBODY}"
    if os.path.lexists(directory):
        print(f"      (skipped the part as uid {NOBODY}: {directory} exists)")
        return
    d = Daemon(config(program("web", FOREVER, **UP)))
    os.chmod(d.dir, 0o755)
    os.chown(d.dir, NOBODY, NOBODY)
    env["HOME"] = d.dir
    d.socket = os.path.join(directory, "taskmaster.sock")
    args = ["-c", d.config, "--daemon", "--pidfile", d.pidfile, "--log", d.log]
    try:
        d.start(args, env=env, user=NOBODY)
        st = os.lstat(directory)
        check(stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == NOBODY,
              f"{directory}: mode {stat.S_IMODE(st.st_mode):o}, owner {st.st_uid}")
        check(mode(d.socket) == 0o600 and os.lstat(d.socket).st_uid == NOBODY)
        code, out, err = ctl(None, "pid", env=env, user=NOBODY)
        check(code == 0 and out == f"{d.pid}\n", f"{code} {out} {err}")
        check(ctl(None, "shutdown", env=env, user=NOBODY)[0] == 0)
        d.wait_gone()
        os.chmod(directory, 0o755)
        err = d.start(args, env=env, user=NOBODY, expect=1)
        check(err == f"taskmaster: {directory} is not private (owner {NOBODY}, mode 755): refusing to put the control "
                     "socket there\n", repr(err))
    finally:
        for leftover in ("taskmaster.sock", "taskmaster.pid"):
            try:
                os.unlink(os.path.join(directory, leftover))
            except OSError:
                pass
        try:
            os.rmdir(directory)
        except OSError:
            pass


@test
def another_user_is_refused():
    if os.geteuid() != 0:
        print("      (skipped: needs root, to run the client as another user)")
        return
    d = Daemon(config(program("web", FOREVER, **UP)))
    os.chmod(d.dir, 0o755)
    d.start()
    pid = d.wait_state("web", "RUNNING")["pid"]
    # The socket's own mode keeps them out.
    code, out, err = d.ctl("stop", "web", user=NOBODY)
    check(code == 1 and err == f"taskmaster ctl: cannot connect on {d.socket}: Permission denied\n", f"{code} {err!r}")

    # Past the file permissions, SO_PEERCRED: the server refuses with an error line and hangs up.
    os.chmod(d.socket, 0o666)
    probe = ("import socket, sys\n"
             "s = socket.socket(socket.AF_UNIX)\n"
             "s.connect(sys.argv[1])\n"
             "data = b''\n"
             "while chunk := s.recv(4096): data += chunk\n"
             "sys.stdout.write(data.decode())\n")
    p = subprocess.run(["python3", "-c", probe, d.socket], capture_output=True, text=True, timeout=20,
                       preexec_fn=as_user(NOBODY))
    check(p.returncode == 0, p.stderr)
    lines = p.stdout.splitlines()
    check(len(lines) == 1, p.stdout)
    reply = json.loads(lines[0])
    check(reply["ok"] is False and reply["error"] == f"permission denied: uid {NOBODY} may not control this taskmaster",
          reply)
    # And through taskmaster ctl: a failure, never a command run.
    for _ in range(5):
        code, out, err = d.ctl("stop", "web", user=NOBODY)
        # The refusal is sent at once and the connection closed, so the client may fail to send its request
        # before it reads the refusal ("Broken pipe"); either way it must fail and change nothing.
        check(code in (1, 2) and out == "" and
              ("permission denied: uid 65534" in err or "Broken pipe" in err or "reset" in err), f"{code} {err!r}")
    status = d.status("web")["web"]
    check(status["state"] == "RUNNING" and status["pid"] == pid, status)
    check("command from socket: stop" not in d.log_text(), "a refused peer ran a command")


# --- without a shell --------------------------------------------------------------------------------------------

@test
def no_shell_logs_to_stderr_and_stops_on_sigterm():
    d = tmpdir()
    path = os.path.join(d, "taskmaster.yml")
    with open(path, "w") as f:
        f.write(config(program("web", FOREVER, **UP)))
    sock, log = os.path.join(d, "tm.sock"), os.path.join(d, "tm.log")
    fg = Foreground(["-c", path, "--no-shell", "--socket", sock, "--log", log], cwd=d)

    def running():
        code, out, _ = ctl(sock, "--json", "status", "web")
        return json.loads(out)["data"][0] if code == 0 and json.loads(out)["data"][0]["state"] == "RUNNING" else None
    web = eventually(running, message="web RUNNING under --no-shell")
    fg.seen_pids.add(web["pid"])
    check(fg.proc.poll() is None, "stdin at its end stopped --no-shell")
    check(fg.out == [], f"stdout: {fg.out}")
    eventually(lambda: any("web RUNNING" in line for line in fg.err), message="the log on stderr")
    for line in fg.err:
        check(LOG_LINE.match(line), f"not a log line on stderr: {line!r}")
    check(any(line.endswith(f"INFO  control socket listening on {sock}") for line in fg.err), fg.err)
    check(not os.path.exists(os.path.join(d, "taskmaster.pid")), "a pid file without --daemon")

    fg.proc.send_signal(signal.SIGTERM)
    check(fg.proc.wait(10) == 0)
    check(not alive(web["pid"]), "the program outlived taskmaster")
    check(not os.path.exists(sock), "the socket outlived taskmaster")
    eventually(lambda: any(line.endswith("INFO  taskmaster stopped") for line in fg.err), message="the last line")
    check(any("stopping every program (SIGTERM)" in line for line in fg.err), fg.err)
    check("taskmaster stopped" in read_file(log))


# --- hostile clients --------------------------------------------------------------------------------------------

def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)  # blocking: waits while the listen backlog is full
    s.settimeout(10)
    return s


def exchange(path, payload, half_close=True):
    """Sends payload on a new connection, says it is done (unless half_close is False: then it just waits), and
    reads until the server hangs up. Returns (replies parsed, whether the server closed the connection)."""
    s = connect(path)
    try:
        try:
            s.sendall(payload)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server hung up on us already; what it said first is still there to read
        data, closed = b"", False
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                closed = True
                break
            except socket.timeout:
                break
            if not chunk:
                closed = True
                break
            data += chunk
    finally:
        s.close()
    text = data.decode()  # strict: whatever the server says is valid UTF-8
    check(text == "" or text.endswith("\n"), f"an unfinished reply line: {text[-200:]!r}")
    return [json.loads(line) for line in text.splitlines()], closed


def refused(replies, closed, count=1, says=""):
    """Every reply an error reply (ok false, an error message), `count` of them, then the connection closed."""
    check(closed, "the connection was not closed")
    check(len(replies) == count, f"{len(replies)} replies, expected {count}: {replies}")
    for r in replies:
        check(r["v"] == 1 and r["ok"] is False and r["error"] and says in r["error"], r)


def failed(replies, closed, count=1, says=""):
    """Answered as a failed command: ok false, with lines."""
    check(closed and len(replies) == count, f"{closed} {replies}")
    for r in replies:
        check(r["ok"] is False and says in "\n".join(r["lines"]), r)


def malformed_corpus(big):
    """(name, payload, check(replies, closed)) for one connection each."""
    junk = bytes(b for b in range(256) if b != 0x0A)
    nested = b"[" * 20000 + b"]" * 20000
    many = b"".join(b'{"id":%d,"cmd":"pid","args":["steady"]}\n' % i for i in range(300))
    return [
        ("invalid JSON", b"this is not json\n", lambda r, c: refused(r, c, says="malformed JSON")),
        ("truncated object", b'{"cmd": "status"\n', lambda r, c: refused(r, c, says="malformed JSON")),
        ("trailing data", b'{"cmd":"status"} {"cmd":"pid"}\n', lambda r, c: refused(r, c, says="malformed JSON")),
        ("not an object", b'[1,2,3]\n"status"\nnull\n42\n',
         lambda r, c: refused(r, c, 4, "a request must be a JSON object")),
        ("cmd of the wrong type", b'{"cmd":5}\n{"cmd":null}\n{"cmd":["status"]}\n{"cmd":""}\n{"args":[]}\n',
         lambda r, c: refused(r, c, 5, 'missing "cmd"')),
        ("args of the wrong type",
         b'{"cmd":"status","args":"steady"}\n{"cmd":"status","args":[1]}\n{"cmd":"status","args":[null]}\n'
         b'{"cmd":"status","args":{"a":"b"}}\n', lambda r, c: refused(r, c, 4, '"args" must be an array of strings')),
        ("wrong version", b'{"v":2,"cmd":"status"}\n{"v":"1","cmd":"status"}\n{"v":1.0,"cmd":"status"}\n',
         lambda r, c: refused(r, c, 3, "unsupported protocol version")),
        ("a line over 64 KiB", b'{"cmd":"status","args":["' + b"a" * 70000 + b'"]}\n',
         lambda r, c: refused(r, c, says="request line longer than 65536 bytes")),
        ("a megabyte without a newline", b"x" * big, lambda r, c: refused(r, c, says="longer than 65536 bytes")),
        ("binary garbage", junk * 4 + b"\n", lambda r, c: refused(r, c, says="malformed JSON")),
        ("NUL bytes", b"\x00\x00\x00\n" + b'{"cmd":"sta\x00tus"}\n',
         lambda r, c: refused(r, c, 2, "malformed JSON")),
        ("an escaped NUL", b'{"cmd":"status\\u0000"}\n', lambda r, c: refused(r, c, says="unknown command")),
        ("half a line, then done", b'{"cmd":"stat', lambda r, c: check(c and r == [], r)),
        ("deep nesting", nested + b"\n" + b'{"cmd":"status","args":' + b"[" * 5000 + b"]" * 5000 + b"}\n",
         lambda r, c: refused(r, c, 2, "")),
        ("invalid UTF-8", b'{"cmd":"\xff\xfe"}\n{"cmd":"\\ud800"}\n', lambda r, c: refused(r, c, 2, "malformed JSON")),
        ("unicode command", '{"cmd":"stätus☃"}\n'.encode(), lambda r, c: refused(r, c, says="unknown command")),
        ("unicode names", '{"cmd":"stop","args":["wéb☃","日本"]}\n'.encode(),
         lambda r, c: failed(r, c, says="wéb☃: ERROR (no such program)")),
        ("unknown commands", b'{"cmd":"rm","args":["-rf","/"]}\n{"cmd":"eventz"}\n{"cmd":"STATUS"}\n',
         lambda r, c: refused(r, c, 3, "unknown command")),
        ("quit and exit", b'{"id":1,"cmd":"quit"}\n{"id":2,"cmd":"exit"}\n',
         lambda r, c: (refused(r, c, 2, "ends a shell; 'shutdown' stops taskmaster"),
                       check([x["id"] for x in r] == [1, 2], r))),
        ("empty lines", b"\n\n   \n\t\n\r\n" + b'{"id":"after","cmd":"version"}\n\n',
         lambda r, c: check(c and len(r) == 1 and r[0]["id"] == "after" and r[0]["ok"], r)),
        ("pipelined requests", many,
         lambda r, c: check(c and [x["id"] for x in r] == list(range(300)) and all(x["ok"] for x in r), r[-3:])),
        ("good and bad in one write", b'{"id":1,"cmd":"version"}\nxx\n{"id":3,"cmd":"pid"}\r\n',
         lambda r, c: check(c and [(x["id"], x["ok"]) for x in r] == [(1, True), (None, False), (3, True)], r)),
        ("unknown fields and odd ids", b'{"id":{"a":[1]},"cmd":"version","extra":true,"args":[]}\n',
         lambda r, c: check(c and len(r) == 1 and r[0]["ok"] and r[0]["id"] == {"a": [1]}, r)),
    ]


@test
def malformed_input_never_disturbs_supervision():
    d = Daemon(config(program("steady", FOREVER, **UP)))
    d.start()
    pid = d.wait_state("steady", "RUNNING")["pid"]

    def still_supervised(after):
        code, out, err = ctl(d.socket, "status", "steady", json_out=True)
        check(code == 0, f"after {after}: ctl status exited {code}: {err}")
        s = json.loads(out)["data"][0]
        check(s["state"] == "RUNNING" and s["pid"] == pid, f"after {after}: {s}")
        check(alive(d.pid), f"after {after}: taskmaster died")

    # Watching the whole time: an event about `steady` would mean supervision was disturbed.
    watcher = connect(d.socket)
    watcher.sendall(b'{"id":"watch","cmd":"events"}\n')
    ack = json.loads(watcher.makefile("rb").readline())
    check(ack["id"] == "watch" and ack["ok"] is True, ack)
    # Half a line, then nothing: dropped after 10 s, while everyone else is served.
    lazy = connect(d.socket)
    lazy.sendall(b'{"cmd":"status"')
    lazy_since = time.monotonic()

    for name, payload, verify in malformed_corpus(big=1 << 20):
        try:
            replies, closed = exchange(d.socket, payload)
            verify(replies, closed)
        except Exception as e:
            raise AssertionError(f"case {name!r}: {e}") from e
        still_supervised(name)

    # Half a line then a full close, without reading anything.
    s = connect(d.socket)
    s.sendall(b'{"cmd":"status","args":["ste')
    s.close()
    still_supervised("half a line then close")

    # A client that asks and asks but never reads: disconnected once 4 MiB of answers wait for it.
    greedy = connect(d.socket)
    greedy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        greedy.sendall(b'{"cmd":"help"}\n' * 10000)
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass
    poller = select.poll()
    poller.register(greedy, select.POLLRDHUP)
    check(poller.poll(10000), "a client that never reads was not disconnected")
    got = b""
    try:
        while chunk := greedy.recv(1 << 20):
            got += chunk
    except ConnectionResetError:
        pass
    greedy.close()
    one = len(json.dumps(exchange(d.socket, b'{"cmd":"help"}\n')[0][0], separators=(",", ":")))
    check(len(got) < 10000 * one / 2, f"{len(got)} bytes of answers: it was not cut off")
    still_supervised("a client that never reads")

    # Hundreds of clients at once: served up to the limit, the others told why.
    crowd = [connect(d.socket) for _ in range(600)]
    ok, full = 0, 0
    for i, c in enumerate(crowd):
        try:
            c.sendall(b'{"id":%d,"cmd":"pid"}\n' % i)
        except (BrokenPipeError, ConnectionResetError):
            pass
    for c in crowd:
        reply = json.loads(c.makefile("rb").readline())
        if reply["ok"]:
            ok += 1
            check(reply["data"] == d.pid, reply)
        else:
            full += 1
            check(reply["error"] == "too many clients (limit 512)", reply)
    for c in crowd:
        c.close()
    check(ok + full == 600 and full >= 88 and ok >= 400, f"{ok} served, {full} refused")
    eventually(lambda: ctl(d.socket, "status", "steady")[0] == 0, message="ctl after the crowd left")
    still_supervised("600 clients at once")

    # The lazy client's time is up.
    lazy.settimeout(max(1.0, lazy_since + 15 - time.monotonic()))
    data = b""
    while chunk := lazy.recv(4096):
        data += chunk
    waited = time.monotonic() - lazy_since
    lazy.close()
    reply = json.loads(data)
    check(reply["ok"] is False and reply["error"] == "incomplete request: timed out waiting for the end of the line",
          reply)
    check(9 <= waited <= 15, f"dropped after {waited:.1f} s")

    # Through it all, not one state change.
    watcher.setblocking(False)
    try:
        seen = watcher.recv(1 << 20)
    except BlockingIOError:
        seen = b""
    watcher.close()
    check(seen == b"", f"state changes while under attack: {seen[:500]!r}")
    still_supervised("the corpus")


# --- the end ----------------------------------------------------------------------------------------------------

@test
def shutdown_leaves_nothing_behind():
    d = Daemon(config(program("web", FOREVER, numprocs=2, **UP),
                      program("stubborn", helper("--ignore-term", "--forever"), autostart=True, starttime="100ms",
                              stoptime="300ms")))
    d.start()
    pids = [d.wait_state(name, "RUNNING")["pid"] for name in ("web:0", "web:1", "stubborn")]
    events = follower(d.socket)
    subscribed([events], d.socket, "web:0")
    pids = [s["pid"] for s in d.status().values()]
    check(len(pids) == 3 and all(alive(p) for p in pids))
    code, out, err = d.ctl("shutdown")
    check(code == 0 and out == "stopping every program, then exiting\n", f"{code} {out!r} {err!r}")
    d.wait_gone()
    check(not os.path.exists(d.pidfile), "the pid file is still there")
    check(not os.path.exists(d.socket), "the socket is still there")
    check(not any(alive(p) for p in pids), "a program outlived taskmaster")
    check(events.proc.wait(10) == 0, "ctl events did not end with taskmaster")
    check(any(re.search(r" stubborn STOPPING -> STOPPED", line) for line in events.out), events.out)
    log = d.log_text()
    check(re.search(r"INFO  stopping every program \(shutdown over the control socket\)", log), log)
    check(log.rstrip().endswith("INFO  taskmaster stopped"), log[-300:])
    code, _, err = d.ctl("status")
    check(code == 3, f"{code} {err}")


if __name__ == "__main__":
    main()
