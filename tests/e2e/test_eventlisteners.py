#!/usr/bin/env python3
"""supervisord's event listeners: the same supervisord.conf run by Debian's supervisord 4.2.5 and by taskmaster, with
a listener written with supervisor.childutils (as superlance's are) that appends every header and payload it gets to
a file. The two files must hold the same events with the same headers and payloads, once what differs between two
runs (pids, serials, tick times) is masked; events of different processes are compared process by process, since
their relative order depends on timing.

Each test runs its file on both daemons and checks the same things on both, so a test that passed against
taskmaster only would not pass.
"""

import json
import os
import re
import time

from supervisors import Side, ensure_supervisord, in_parallel, run_tests, section, supervisord_conf
from tmtest import HELPER, Taskmaster, check, config, eventually, main, program, test, tmpdir

DEBIAN_PYTHON = "/usr/bin/python3"  # Debian's, with its supervisor package (childutils)

# The listener: `listener.py FILE MODE`. Each event is one JSON line {"headers", "payload", "life"} in FILE, where
# life counts the listener's processes. MODE: ok (answer OK), fail-once (FAIL each event the first time it comes),
# die-once (the first process exits while handling its first event), rpc (on TICK_5, getAllProcessInfo through
# SUPERVISOR_SERVER_URL, its names written to FILE.rpc), garbage (says hello instead of READY).
LISTENER = r'''
import json, os, sys
sys.path.append("/usr/lib/python3/dist-packages")
from supervisor import childutils

out, mode = sys.argv[1], sys.argv[2]
life_file = out + ".life"
life = int(open(life_file).read()) + 1 if os.path.exists(life_file) else 1
with open(life_file, "w") as f:
    f.write(str(life))
if mode == "garbage":
    sys.stdout.write("hello\n")
    sys.stdout.flush()
seen = set()
while True:
    headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
    with open(out, "a") as f:
        f.write(json.dumps({"headers": headers, "payload": payload, "life": life}) + "\n")
    if mode == "die-once" and life == 1:
        os._exit(1)
    if mode == "fail-once" and headers["serial"] not in seen:
        seen.add(headers["serial"])
        childutils.listener.fail(sys.stdout)
        continue
    if mode == "rpc" and headers["eventname"] == "TICK_5":
        rpc = childutils.getRPCInterface(os.environ)
        names = sorted(i["group"] + ":" + i["name"] for i in rpc.supervisor.getAllProcessInfo())
        with open(out + ".rpc", "w") as f:
            f.write(" ".join(names))
    childutils.listener.ok(sys.stdout)
'''

HEADER_KEYS = {"ver", "server", "serial", "pool", "poolserial", "eventname", "len"}


def listener_section(mode, events, **keys):
    return section("eventlistener:lst", f"{DEBIAN_PYTHON} %(here)s/listener.py %(here)s/events.jsonl {mode}",
                   events=events, **keys)


class Both:
    """The same file on supervisord and on taskmaster, the listener script beside each."""

    def __init__(self, *sections):
        ensure_supervisord()
        root = tmpdir()
        text = supervisord_conf(*sections)
        self.sides = [Side("supervisord", text, os.path.join(root, "supervisord")),
                      Side("taskmaster", text, os.path.join(root, "taskmaster"))]
        for side in self.sides:
            with open(side.path("listener.py"), "w") as f:
                f.write(LISTENER)

    def start(self):
        for side in self.sides:
            side.start()
        return self

    def each(self, fn):
        """fn(side) on both at once; their results, supervisord's first."""
        return in_parallel([lambda side=side: fn(side) for side in self.sides])


def events(side):
    """The events the listener wrote, in order."""
    lines = side.read("events.jsonl").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def fields(payload):
    """The payload's first line as a dict (`processname:x groupname:y`), and the rest (the data)."""
    first, _, data = payload.partition("\n")
    return dict(item.split(":", 1) for item in first.split()), data


def masked(event):
    """(eventname, payload fields without what differs between runs, data): pids and tick times."""
    name = event["headers"]["eventname"]
    if name.startswith("TICK_"):
        return (name, {}, "")
    values, data = fields(event["payload"])
    values.pop("pid", None)
    return (name, values, data)


def by_process(evs):
    """{processname or '': [masked events]}: each process's events in order; the others under ''."""
    out = {}
    for e in evs:
        name, values, data = masked(e)
        out.setdefault(values.get("processname", ""), []).append((name, values, data))
    return out


def check_headers(side, evs):
    """Every header has supervisord's keys and values; serials grow, pool serials count up (a redelivered event
    keeps both); len is the payload's length."""
    last = -1
    for e in evs:
        h = e["headers"]
        check(set(h) == HEADER_KEYS, f"{side.name}: header keys {sorted(h)}")
        check(h["ver"] == "3.0" and h["server"] == "supervisor" and h["pool"] == "lst", f"{side.name}: {h}")
        check(int(h["len"]) == len(e["payload"].encode()), f"{side.name}: len {h['len']} of {e['payload']!r}")
        serial = int(h["serial"])
        check(serial >= last, f"{side.name}: serial {serial} after {last}")
        last = serial


def wait_for(side, predicate, what, timeout=20.0):
    eventually(lambda: predicate(events(side)), timeout, 0.1, f"{side.name}: {what}; events: {events(side)}")


@test
def state_events_match_supervisord():
    # In the order of their names: supervisord adds groups of one priority in the file's order, taskmaster by name.
    both = Both(listener_section("ok", "PROCESS_STATE,SUPERVISOR_STATE_CHANGE,PROCESS_GROUP", buffer_size=100),
                section("program:broken", "sh -c 'exit 1'", startretries=1),
                section("program:idle", f"{HELPER} --forever", autostart="false"),
                section("program:quick", "sh -c 'sleep 1.3; exit 3'", startsecs=1, autorestart="false"),
                section("program:web", f"{HELPER} --forever", startsecs=0)).start()

    def scenario(side):
        names = lambda evs: [(e["headers"]["eventname"], fields(e["payload"])[0].get("processname")) for e in evs]
        wait_for(side, lambda evs: ("PROCESS_STATE_EXITED", "quick") in names(evs), "quick's EXITED")
        proxy = side.proxy()
        proxy.supervisor.stopProcess("web")
        proxy.supervisor.startProcess("idle")
        proxy.supervisor.startProcess("quick")  # waits for RUNNING
        wait_for(side, lambda evs: names(evs).count(("PROCESS_STATE_EXITED", "quick")) == 2, "quick's second EXITED")
        wait_for(side, lambda evs: ("PROCESS_STATE_RUNNING", "idle") in names(evs), "idle's RUNNING")
        wait_for(side, lambda evs: ("PROCESS_STATE_FATAL", "broken") in names(evs), "broken's FATAL")
        # supervisorctl update: idle's group stopped and removed, a new one added (not started: autostart=false).
        side.write(side.read("supervisord.conf").replace("[program:idle]", "[program:zextra]"))
        code, out, err = side.ctl("update")
        check(code == 0, f"{side.name}: update: {code} {out} {err}")
        wait_for(side, lambda evs: any(e["payload"] == "groupname:zextra\n" for e in evs), "zextra's group added")
        return events(side)

    reference, subject = both.each(scenario)
    for side, evs in zip(both.sides, (reference, subject)):
        check_headers(side, evs)
    ref, sub = by_process(reference), by_process(subject)
    check(sorted(ref) == sorted(sub), f"processes: supervisord {sorted(ref)}, taskmaster {sorted(sub)}")
    for name in ref:
        check(ref[name] == sub[name],
              f"{name or 'global events'}:\n  supervisord {ref[name]}\n  taskmaster  {sub[name]}")
    if os.environ.get("EVENTS_SHOW") == "1":
        for name in ref:
            print(name or "(global)", *sub[name], sep="\n  ")
    # The pid fields are the processes' own.
    for side, evs in zip(both.sides, (reference, subject)):
        running = [e for e in evs if e["headers"]["eventname"] == "PROCESS_STATE_RUNNING"]
        pids = {fields(e["payload"])[0].get("pid") for e in running}
        check(all(p and int(p) > 1 for p in pids), f"{side.name}: pids {pids}")


@test
def fail_gets_the_event_again():
    both = Both(listener_section("fail-once", "PROCESS_STATE_RUNNING"),
                section("program:web", f"{HELPER} --forever", startsecs=0)).start()

    def scenario(side):
        wait_for(side, lambda evs: len(evs) >= 4, "each RUNNING event twice")
        evs = events(side)[:4]
        serials = [(e["headers"]["serial"], e["headers"]["poolserial"]) for e in evs]
        check(serials[0] == serials[1] and serials[2] == serials[3] and serials[1] != serials[2],
              f"{side.name}: serials {serials}")
        return sorted(fields(e["payload"])[0]["processname"] for e in evs)

    reference, subject = both.each(scenario)
    check(reference == subject == ["lst", "lst", "web", "web"], f"supervisord {reference}, taskmaster {subject}")


@test
def a_listener_that_dies_busy_is_restarted_and_gets_its_event_again():
    both = Both(listener_section("die-once", "PROCESS_STATE_RUNNING", autorestart="true", startsecs=0),
                section("program:web", f"{HELPER} --forever", startsecs=1))

    def scenario(side):
        side.start()
        wait_for(side, lambda evs: any(e["life"] == 2 for e in evs), "an event to the second listener process")
        evs = events(side)
        first = [e for e in evs if e["life"] == 1][0]
        second = [e for e in evs if e["life"] == 2][0]
        check(first["headers"]["serial"] == second["headers"]["serial"], f"{side.name}: {first} then {second}")
        return (first["headers"]["eventname"], fields(first["payload"])[0]["processname"])

    reference, subject = both.each(scenario)
    check(reference == subject, f"supervisord {reference}, taskmaster {subject}")


@test
def process_log_and_remote_communication():
    both = Both(listener_section("ok", "PROCESS_LOG,REMOTE_COMMUNICATION"),
                section("program:talk", "sh -c 'echo hello; echo oops >&2; exec sleep 100'", startsecs=0,
                        stdout_events_enabled="true", stderr_events_enabled="true"))

    def scenario(side):
        side.start()
        wait_for(side, lambda evs: len(evs) >= 2, "the two PROCESS_LOG events")
        side.proxy().supervisor.sendRemoteCommEvent("alert", "disk full\nreally")
        wait_for(side, lambda evs: any(e["headers"]["eventname"] == "REMOTE_COMMUNICATION" for e in evs), "REMOTE")
        evs = events(side)
        check(all(int(fields(e["payload"])[0].get("pid", "2")) > 1 for e in evs), f"{side.name}: {evs}")
        return sorted((masked(e) for e in evs), key=repr)

    reference, subject = both.each(scenario)
    check(reference == subject, f"supervisord {reference}\ntaskmaster  {subject}")
    check(("REMOTE_COMMUNICATION", {"type": "alert"}, "disk full\nreally") in subject, f"{subject}")


@test
def a_listener_calls_the_xmlrpc_interface_on_tick_5():
    both = Both(listener_section("rpc", "TICK_5"), section("program:web", f"{HELPER} --forever", startsecs=0))

    def scenario(side):
        side.start()
        eventually(lambda: side.read("events.jsonl.rpc"), 20, 0.2, f"{side.name}: the listener's getAllProcessInfo")
        ticks = [e for e in events(side) if e["headers"]["eventname"] == "TICK_5"]
        when = int(fields(ticks[0]["payload"])[0]["when"])
        check(when % 5 == 0 and abs(time.time() - when) < 30, f"{side.name}: when:{when}")
        return side.read("events.jsonl.rpc")

    reference, subject = both.each(scenario)
    check(reference == subject == "lst:lst web:web", f"supervisord {reference!r}, taskmaster {subject!r}")


@test
def a_listener_that_breaks_the_protocol_gets_nothing():
    both = Both(listener_section("garbage", "PROCESS_STATE"), section("program:web", f"{HELPER} --forever",
                                                                        startsecs=0))

    def scenario(side):
        side.start()
        side.wait_states({"web": "RUNNING", "lst": "RUNNING"})
        time.sleep(1.5)
        return events(side)

    reference, subject = both.each(scenario)
    check(reference == subject == [], f"supervisord {reference}, taskmaster {subject}")
    log = both.sides[1].read("daemon.out")
    check(re.search(r"lst: event listener protocol error: 'hello\\x0a", log), log[-2000:])


class File:
    """The events a listener wrote in a directory (taskmaster alone: YAML is its own format)."""

    def __init__(self, directory):
        self.dir = directory
        self.name = "taskmaster"

    def read(self, name):
        try:
            with open(os.path.join(self.dir, name)) as f:
                return f.read()
        except FileNotFoundError:
            return ""


@test
def a_yaml_listener_pool_follows_reloads():
    directory = tmpdir()
    with open(os.path.join(directory, "listener.py"), "w") as f:
        f.write(LISTENER)
    out = os.path.join(directory, "events.jsonl")
    listener = program("lst", f"{DEBIAN_PYTHON} {directory}/listener.py {out} ok", numprocs=2, autostart=True,
                       starttime=0, events=["process_group", "PROCESS_LOG_STDOUT"], buffer_size=5)
    talk = program("talk", "sh -c 'echo hello; exec sleep 100'", autostart=True, starttime=0, stdout_events=True)
    tm = Taskmaster(config(listener, talk), directory=directory)
    side = File(directory)
    wait_for(side, lambda evs: any(e["headers"]["eventname"] == "PROCESS_LOG_STDOUT" for e in evs), "talk's output")
    log = [e for e in events(side) if e["headers"]["eventname"] == "PROCESS_LOG_STDOUT"][0]
    values, data = fields(log["payload"])
    check(values["processname"] == "talk" and values["groupname"] == "talk" and data == "hello\n", f"{log}")
    check(int(values["pid"]) == tm.pid("talk"), f"{log}, talk's pid {tm.pid('talk')}")
    added = [fields(e["payload"])[0]["groupname"] for e in events(side)
             if e["headers"]["eventname"] == "PROCESS_GROUP_ADDED"]
    check(added == ["lst", "talk"], f"groups added: {added}")
    check(all(e["headers"]["pool"] == "lst" for e in events(side)), f"{events(side)}")
    # A reload that removes talk and adds more: more is added at once, talk removed once it has stopped (which
    # may be before: the reload may answer once talk is down).
    more = program("more", f"{HELPER} --forever")
    with open(tm.config, "w") as f:
        f.write(config(listener, more))
    tm.cmd("reload")
    group_events = lambda evs: [(e["headers"]["eventname"], e["payload"]) for e in evs
                                if "GROUP" in e["headers"]["eventname"]]
    wait_for(side, lambda evs: len(group_events(evs)) == 4, "talk removed, more added")
    check(sorted(group_events(events(side))[2:]) == [("PROCESS_GROUP_ADDED", "groupname:more\n"),
                                                     ("PROCESS_GROUP_REMOVED", "groupname:talk\n")], f"{events(side)}")
    time.sleep(0.5)
    check(len(group_events(events(side))) == 4, f"{events(side)}")


if __name__ == "__main__":
    run_tests(main)
