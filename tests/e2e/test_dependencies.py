"""depends_on with real processes (docs/dependencies.md): `ctl status` shows what a program waits for, the
processes start in dependency order by their own clocks, a one-shot must complete successfully in between,
a FATAL dependency fails the start, and `stop all` stops dependents first."""

import os
import subprocess
import threading

from tmtest import (TASKMASTER, Daemon, check, config, ctl, eventually, main, program, read_file, run, test,
                    tmpdir)


def stamped(directory, name, then):
    """A shell command that writes its start time (seconds since the epoch) to NAME.start, then runs THEN; on
    SIGTERM it writes NAME.stop and exits."""
    start = os.path.join(directory, f"{name}.start")
    stop = os.path.join(directory, f"{name}.stop")
    return (f"sh -c 'trap \"date +%s.%N > {stop}; exit 0\" TERM; date +%s.%N > {start}; {then}'")


def stamp(directory, name, which="start"):
    text = read_file(os.path.join(directory, f"{name}.{which}")).strip()
    return float(text) if text else None


FOREVER = "while :; do sleep 0.05; done"


@test
def waiting_shows_in_status_and_processes_start_in_dependency_order():
    d = Daemon("")
    d.write(config(
        program("db", stamped(d.dir, "db", FOREVER), starttime="1500ms", stoptime="2s"),
        program("migrate", stamped(d.dir, "migrate", "sleep 0.3; exit 0"), starttime=0, autorestart="never",
                depends_on=["db"]),
        program("web", stamped(d.dir, "web", FOREVER), starttime="100ms", autostart=True, stoptime="2s",
                depends_on={"db": "running", "migrate": "completed_successfully"}),
    ))
    d.start()
    # db was pulled in by web (neither it nor migrate has autostart): while it starts, the others wait.
    text = d.command("status")
    lines = {line.split()[0]: line for line in text.splitlines()}
    check(lines["db"].split()[1] == "STARTING", text)
    check(lines["web"].split()[1] == "STOPPED" and "waiting for db, migrate" in lines["web"], text)
    check("waiting for db" in lines["migrate"], text)
    check(d.status("web")["web"]["waiting"] == "waiting for db, migrate", d.status("web"))

    d.wait_state("web", "RUNNING", timeout=20)
    check("waiting" not in d.status("web")["web"], d.status("web"))
    check(d.status("migrate")["migrate"]["state"] == "EXITED", d.status())
    db, migrate, web = stamp(d.dir, "db"), stamp(d.dir, "migrate"), stamp(d.dir, "web")
    # db is RUNNING 1.5 s after its spawn; migrate runs 0.3 s; web starts after it exited.
    check(migrate - db >= 1.2, f"migrate started {migrate - db:.3f} s after db")
    check(web - migrate >= 0.25, f"web started {web - migrate:.3f} s after migrate")
    log = d.log_text()
    check("web waiting for db, migrate" in log, log)


@test
def stop_all_stops_dependents_first():
    d = Daemon("")
    d.write(config(
        program("db", stamped(d.dir, "db", FOREVER), starttime="100ms", autostart=True, stoptime="2s"),
        program("web", stamped(d.dir, "web", FOREVER), starttime="100ms", autostart=True, stoptime="2s",
                depends_on=["db"]),
    ))
    d.start()
    d.wait_state("web", "RUNNING")
    check(stamp(d.dir, "db") < stamp(d.dir, "web"), "web started before db")
    d.command("stop", "all")
    d.wait_state("db", "STOPPED")
    status = d.status()
    check(status["db"]["state"] == "STOPPED" and status["web"]["state"] == "STOPPED", status)
    web, db = stamp(d.dir, "web", "stop"), stamp(d.dir, "db", "stop")
    check(web is not None and db is not None, "a program was not stopped by its stop signal")
    check(web < db, f"db got its stop signal {web - db:.3f} s before web")


class Events:
    """`taskmaster ctl events`, its lines collected, subscribed once it has seen a restart of `probe`."""

    def __init__(self, sock, probe):
        self.proc = subprocess.Popen([TASKMASTER, "ctl", "--socket", sock, "events"], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.lines = []
        threading.Thread(target=lambda: [self.lines.append(line.rstrip("\n")) for line in self.proc.stdout],
                         daemon=True).start()

        def seen():
            if any(probe in line for line in self.lines):
                return True
            ctl(sock, "restart", probe)
            return False
        eventually(seen, 10, 0.1, "the follower to see a state change")

    def saw(self, text):
        return any(line.endswith(text) for line in self.lines)

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)


@test
def a_fatal_dependency_fails_the_start_and_says_so():
    d = Daemon("")
    d.write(config(
        program("db", "sh -c 'exit 1'", starttime="500ms", startretries=0),
        program("web", stamped(d.dir, "web", FOREVER), starttime="100ms", depends_on=["db"]),
        program("probe", "sleep 100", starttime=0, autostart=True),
    ))
    d.start()
    events = Events(d.socket, "probe")
    code, out, err = d.ctl("start", "web")
    check(code != 0, f"start web succeeded: {out} {err}")
    check("dependency db is FATAL" in out + err, out + err)
    status = d.status()
    check(status["db"]["state"] == "FATAL", status)
    check(status["web"]["state"] == "STOPPED" and status["web"]["waiting"] == "dependency db is FATAL", status)
    check(stamp(d.dir, "web") is None, "web ran")
    # The details as events, in order with the state changes: `ctl events` shows them.
    eventually(lambda: events.saw(" web dependency db is FATAL"), 10, 0.05, "the failure as an event")
    check(events.saw(" web waiting for db"), events.lines)
    waiting = next(k for k, line in enumerate(events.lines) if line.endswith(" web waiting for db"))
    fatal = next(k for k, line in enumerate(events.lines) if " db STARTING -> FATAL" in line)
    check(waiting < fatal, events.lines)
    # stop cancels the wait.
    d.command("stop", "web")
    check("waiting" not in d.status("web")["web"], d.status("web"))
    eventually(lambda: events.saw(" web no longer waiting"), 10, 0.05, "the end of the wait as an event")
    events.close()


@test
def cycles_and_unknown_names_are_configuration_errors():
    directory = tmpdir()
    path = os.path.join(directory, "taskmaster.yml")
    with open(path, "w") as f:
        f.write(config(program("web", "true", depends_on=["api"]), program("api", "true", depends_on=["web"]),
                       program("worker", "true", depends_on=["dbb"]), program("db", "true")))
    code, out, err = run(["--check", "-c", path])
    check(code != 0, out + err)
    check("program 'api': depends_on: dependency cycle: web -> api -> web" in err, err)
    check("program 'worker': depends_on: unknown program 'dbb' (did you mean 'db'?)" in err, err)
    check(f"{path}:10:18:" in err, err)  # the entry's own place


if __name__ == "__main__":
    main()
