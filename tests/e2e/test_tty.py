"""The interactive shell on a pseudo-terminal: prompt, line editing, completion, history, Ctrl-C, Ctrl-D,
notices that do not garble the typed line, colours."""

import os
import re
import signal
import time

from tmtest import Terminal, alive, check, config, helper, main, program, read_file, test, tmpdir

PROMPT = r"taskmaster> "
QUICK = {"autostart": True, "starttime": "100ms"}
FOREVER = helper("--forever")
SIMPLE = config(program("web", FOREVER, numprocs=2, **QUICK), program("worker", FOREVER, **QUICK))
UP = "\x1b[A"
CLEARED = r"\^C\r?\n" + PROMPT + "$"  # after Ctrl-C: a fresh, empty prompt


def terminal(text=SIMPLE, state=None):
    state = state or tmpdir()
    t = Terminal(text, env={"XDG_STATE_HOME": state})
    t.expect(PROMPT)
    return t


@test
def prompt_runs_commands_and_ctrl_d_quits():
    t = terminal()
    t.send("version\r")
    t.expect(r"taskmaster \d+\.\d+\.\d+\r?\n")
    t.expect(PROMPT)
    t.send("\x04")
    check(t.wait() == 0, "Ctrl-D should quit with 0")


@test
def status_is_coloured_on_a_terminal():
    t = terminal()
    time.sleep(0.3)
    t.send("status\r")
    t.raw_expect(r"web:0 +\x1b\[32mRUNNING\x1b\[0m +pid \d+")
    t.expect(PROMPT)


@test
def tab_completes_commands_and_names():
    t = terminal()
    t.send("sta\t\t")
    listing = t.expect(r"start\s+status")
    check("stop" not in listing, listing)
    t.send("\x03")  # clear the line
    t.expect(CLEARED)
    # Completed words are checked by running them: the screen shows them through cursor moves.
    t.send("resta\t")
    time.sleep(0.1)
    t.send("wor\t")
    time.sleep(0.1)
    t.send("\r")
    t.expect(r"worker: started")
    t.expect(PROMPT)
    t.send("signal US\t\t")
    t.expect(r"USR1\s+USR2")
    t.send("\x03")
    t.expect(CLEARED)
    t.send("stop w\t\t")
    t.expect(r"web\s+web:0\s+web:1\s+worker")
    t.send("\x03")
    t.expect(CLEARED)


@test
def history_recalls_and_survives_a_restart():
    state = tmpdir()
    t = terminal(state=state)
    t.send("version\r")
    t.expect(r"taskmaster \d")
    t.expect(PROMPT)
    t.send("pid\r")
    t.expect(r"\n\d+\r?\n")
    t.expect(PROMPT)
    t.send(UP + UP + "\r")  # two back: version
    t.expect(r"taskmaster \d")
    t.expect(PROMPT)
    t.send("\x04")
    check(t.wait() == 0)
    history = read_file(os.path.join(state, "taskmaster", "history"))
    check("version" in history and "pid" in history, history)

    t = terminal(state=state)
    t.send(UP + "\r")  # the last line of the previous run
    t.expect(r"taskmaster \d")
    t.expect(PROMPT)
    t.send("\x04")
    check(t.wait() == 0)


@test
def ctrl_c_clears_the_line_and_keeps_running():
    t = terminal()
    t.send("stat")
    time.sleep(0.2)
    t.send("\x03")
    t.expect(CLEARED)
    check(t.alive(), "Ctrl-C stopped taskmaster")
    t.send("version\r")
    out = t.expect(r"taskmaster \d")
    check("unknown command" not in out, out)
    t.expect(PROMPT)


@test
def ctrl_c_during_a_slow_command_gives_the_prompt_back():
    t = terminal(config(program("stubborn", helper("--ignore-term", "--forever"), stoptime="2s", **QUICK)))
    time.sleep(0.3)
    t.send("stop stubborn\r")
    time.sleep(0.3)
    t.send("\x03")
    t.expect(r"interrupted; the command goes on in the background")
    t.expect(PROMPT)
    t.send("status\r")
    t.expect(r"stubborn +STOPPING")
    t.expect(PROMPT)
    t.send("status\r")
    t.expect(PROMPT)


@test
def notice_does_not_garble_the_typed_line():
    t = terminal(config(program("crasher", helper("--sleep", "800", "--exit", "4"), autorestart="never", **QUICK)))
    t.send("vers")
    out = t.expect(r"crasher exited unexpectedly \(exit status 4\)")
    check("vers" in out, out)
    t.expect(PROMPT + "vers")  # drawn again below the notice, ready to go on
    t.send("ion\r")
    t.expect(r"taskmaster \d+\.\d+")
    t.expect(PROMPT)


@test
def fatal_is_announced():
    t = Terminal(config(program("ghost", "/no/such/binary", startretries=1, autostart=True, starttime="100ms")),
                 env={"XDG_STATE_HOME": tmpdir()})
    t.expect(PROMPT)
    t.send("sta")  # the retry fails a second later, while a line is being typed
    t.expect(r"ghost is FATAL: spawn error: /no/such/binary: No such file or directory \(gave up after 1 retry\)")
    t.expect(PROMPT + "sta")


@test
def the_terminal_stays_blocking():
    # Waiting on stdin must not make the terminal non-blocking: stdout shares it, and writes would fail.
    t = terminal()
    t.send("status\r")
    t.expect(PROMPT)
    for fd in (0, 1, 2):
        flags = int(re.search(r"flags:\s+(\d+)", read_file(f"/proc/{t.pid}/fdinfo/{fd}")).group(1), 8)
        check(not flags & os.O_NONBLOCK, f"fd {fd} is non-blocking")


@test
def sigterm_at_the_prompt_stops_everything():
    t = terminal()
    time.sleep(0.3)
    t.send("pid web:0\r")
    pid = int(re.search(r"\n(\d+)\r?\n", t.expect(r"\n\d+\r?\n")).group(1))
    t.expect(PROMPT)
    os.kill(t.pid, signal.SIGTERM)
    check(t.wait() == 0)
    check(not alive(pid), "a program was left running")


if __name__ == "__main__":
    main()
