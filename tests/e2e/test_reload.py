"""Reloading the configuration by command and by SIGHUP: what is added, restarted, updated, removed and left alone."""

import re
import signal

from tmtest import Taskmaster, alive, check, config, eventually, helper, main, program, test

QUICK = {"autostart": True, "starttime": "100ms"}
FOREVER = helper("--forever")

V1 = config(program("keep", FOREVER, **QUICK),
            program("change", FOREVER, **QUICK),
            program("gone", FOREVER, stopsignal="USR1", stoptime="700ms", **QUICK),
            program("pool", FOREVER, numprocs=2, **QUICK))

V2 = config(program("keep", FOREVER, **QUICK),
            program("change", helper("--sleep", "1", "--forever"), **QUICK),
            program("pool", FOREVER, numprocs=3, **QUICK),
            program("new", FOREVER, **QUICK))


def write(tm, text):
    with open(tm.config, "w") as f:
        f.write(text)


def running(tm, *names):
    for name in names:
        tm.wait_state(name, "RUNNING")
    return {name: tm.pid(name) for name in names}


@test
def reload_command_applies_the_difference():
    tm = Taskmaster(V1)
    before = running(tm, "keep", "change", "gone", "pool:0", "pool:1")
    write(tm, V2)
    lines = tm.cmd("reload")
    check(lines == ["added: new", "changed (restarted): change", "updated: pool", "removed: gone", "unchanged: keep"],
          lines)
    after = running(tm, "keep", "change", "new", "pool:0", "pool:1", "pool:2")
    check(after["keep"] == before["keep"], "an unchanged program was restarted")
    check(after["pool:0"] == before["pool:0"] and after["pool:1"] == before["pool:1"], "pool instances restarted")
    check(after["change"] != before["change"], "a changed program kept its process")
    check(tm.cmd("status gone") == ["gone: ERROR (no such program)"])
    eventually(lambda: not alive(before["gone"]), message="the removed program to stop")
    # A removed program stops as its last configuration said, and the log says so from the change's own spec.
    tm.wait_log(rf"INFO  gone stop requested: sending SIGUSR1 to pid {before['gone']}, SIGKILL after 700ms")
    tm.wait_log(r"INFO  configuration reloaded from .*: added: new; changed \(restarted\): change; updated: pool; "
                r"removed: gone; unchanged: keep")


@test
def sighup_reloads_like_the_command():
    tm = Taskmaster(V1)
    before = running(tm, "keep", "change", "gone")
    write(tm, V2)
    tm.proc.send_signal(signal.SIGHUP)
    # The notice is one line per part of the report, the last one "unchanged": wait for that one.
    eventually(lambda: "reload (SIGHUP): unchanged: keep" in tm.stderr(), message="the SIGHUP notice")
    check("reload (SIGHUP): added: new" in tm.stderr(), tm.stderr())
    after = running(tm, "keep", "change", "new")
    check(after["keep"] == before["keep"] and after["change"] != before["change"])
    check("command from SIGHUP: reload" in tm.log_text())


@test
def a_bad_file_changes_nothing_and_says_why():
    tm = Taskmaster(V1)
    before = running(tm, "keep", "change", "gone")
    write(tm, "programs:\n  keep:\n    cmd: [unclosed\n  change:\n    numprocs: 2\n")
    lines = tm.cmd("reload")
    check(lines[-1].startswith("reload failed: ") and lines[-1].endswith("; nothing changed"), lines)
    for line in lines[:-1]:
        check(re.match(re.escape(tm.config) + r":\d+:\d+: ", line), f"no file:line:column in {line!r}")
    check(running(tm, "keep", "change", "gone") == before, "a bad reload changed something")
    tm.wait_log(r"WARN  command from shell failed: reload: " + re.escape(tm.config) + r":\d+:\d+: ")
    # By SIGHUP: the same problems, as notices.
    write(tm, V1.replace("cmd:", "cmdd:", 1))
    tm.proc.send_signal(signal.SIGHUP)
    eventually(lambda: "unknown key 'cmdd' (did you mean 'cmd'?)" in tm.stderr(), message="the problem notice")
    check(re.search(r"reload \(SIGHUP\): " + re.escape(tm.config) + r":3:5: program 'keep': unknown key 'cmdd'",
                    tm.stderr()), tm.stderr())
    check(running(tm, "keep", "change", "gone") == before)
    # Fixed again: a reload works and nothing restarts.
    write(tm, V1)
    check(tm.cmd("reload") == ["unchanged: keep, change, gone, pool"])
    check(running(tm, "keep", "change", "gone") == before)


if __name__ == "__main__":
    main()
