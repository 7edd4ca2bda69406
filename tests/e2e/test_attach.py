"""attach and fg: a program's console in this terminal, through real pseudo-terminals. The shell's attach at the
taskmaster> prompt, and `taskmaster ctl attach` from other terminals: typing, Ctrl-C, window size, the detach keys,
several clients with one typing, and the terminal's modes given back on every way out."""

import fcntl
import os
import pty
import signal
import struct
import subprocess
import termios
import time

from tmtest import TASKMASTER, Daemon, Terminal, check, config, eventually, program, main, run, test, tmpdir

PROMPT = r"taskmaster> "
QUICK = {"autostart": True, "starttime": "100ms"}
# An interactive shell on a terminal, with a prompt of its own and a trap that shows SIGINT reached it.
# SIGHUP stops it: an interactive shell ignores SIGTERM.
SHELL = program("web", "sh -i", tty=True, env={"PS1": "web$ ", "ENV": ""}, stopsignal="HUP", **QUICK)
# A program that reads a pipe and answers each line.
LINES = program("lines", "sed -u s/^/got:/", stdin=True, **QUICK)
DETACH = "\x1d"  # Ctrl-]


def resize(fd, rows, columns):
    """Sets the size of the terminal of `fd` (a master): its foreground process gets SIGWINCH."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


class Client(Terminal):
    """`taskmaster ctl ARGS` on a pseudo-terminal of its own."""

    def __init__(self, *args, rows=24, columns=80):  # pylint: disable=super-init-not-called
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.execve(TASKMASTER, [TASKMASTER, "ctl", *args], dict(os.environ, TERM="xterm"))
            finally:
                os._exit(127)
        resize(self.fd, rows, columns)
        self.output = ""
        self.code = None
        self.modes = termios.tcgetattr(self.fd)  # the terminal as the client found it

    def wait_for_modes(self):
        """Waits until the client has put its terminal in the mode it wants: keys typed before are the terminal's."""
        eventually(lambda: termios.tcgetattr(self.fd)[3] & termios.ICANON == 0, 10, 0.02, "the client's terminal mode")

    def check_modes(self):
        """The terminal is as it was before the client changed it (the master shares the pty's settings)."""
        check(termios.tcgetattr(self.fd) == self.modes, "the terminal's modes were not restored")


def daemon(*programs, running="web"):
    """A daemon with these programs, once `running` runs."""
    d = Daemon(config(*programs))
    d.start()
    d.wait_state(running, "RUNNING")
    return d


def answer(c, line, expected):
    """Types a line and waits for its answer."""
    c.send(line + "\r")
    c.expect(expected)


def detach(c, name="web"):
    """The detach keys, and the line that says the program goes on."""
    c.send(DETACH)
    c.expect(rf"detached from {name} \(still RUNNING\)")


def attached(d, name="web", *args, prompt="web\\$ "):
    """A ctl attach client that shows the program's prompt."""
    c = Client("--socket", d.socket, "attach", name, *args)
    c.wait_for_modes()
    if prompt:  # once the keys reach the program: the answer to a line, then its prompt
        c.send("echo ready-$((1+1))\r")
        c.expect("ready-2\r?\n")
        c.expect(prompt)
    return c


@test
def ctl_attach_types_into_a_shell_and_ctrl_c_reaches_it():
    d = daemon(SHELL)
    c = attached(d)
    answer(c, "echo $((6*7))", r"\b42\r?\n")
    c.send("sleep 60\r")
    time.sleep(0.3)
    c.send("\x03")  # interrupts the sleep: the next line is answered at once
    c.send("echo back-$((1+2))\r")
    c.expect(r"back-3\r?\n", timeout=10)
    check(c.alive(), "Ctrl-C must not end the client")
    answer(c, "echo still here", "still here")
    detach(c)
    check(c.wait() == 0, f"detach exits 0, got {c.code}")
    c.check_modes()
    check(d.status()["web"]["state"] == "RUNNING", "the program goes on after a detach")


@test
def the_window_size_follows_the_client():
    d = daemon(SHELL)
    c = attached(d)
    answer(c, "stty size", r"\n24 80\r?\n")
    resize(c.fd, 30, 100)
    time.sleep(0.3)
    answer(c, "stty size", r"\n30 100\r?\n")
    detach(c)


@test
def attach_again_shows_the_earlier_output():
    d = daemon(SHELL)
    c = attached(d)
    answer(c, "echo first-$((20+1))", "first-21")
    detach(c)
    c.wait()
    again = Client("--socket", d.socket, "attach", "web")
    again.wait_for_modes()
    again.expect("first-21")  # the recent output comes first
    answer(again, "echo second", r"\nsecond\r?\n")
    detach(again)
    again.check_modes()


@test
def other_detach_keys_and_a_lone_first_key_goes_to_the_program():
    d = daemon(SHELL)
    c = attached(d, "web", "--detach-keys", "ctrl-p,ctrl-q")
    c.send(DETACH)  # not the keys now: the program gets it, the client stays
    c.send("\x10")  # Ctrl-P held back, then sent with the x that does not continue the sequence
    c.send("x")
    c.send("\x15echo ok\r")  # Ctrl-U: whatever the line held is gone
    c.expect(r"\nok\r?\n")
    check(c.alive(), "Ctrl-] and a lone Ctrl-P must not detach")
    c.send("\x10\x11")
    c.expect(r"detached from web \(still RUNNING\)")
    check(c.wait() == 0)
    c.check_modes()


@test
def two_clients_watch_and_one_types():
    d = daemon(SHELL)
    first = attached(d)
    second = Client("--socket", d.socket, "attach", "web", rows=40, columns=120)
    second.wait_for_modes()
    second.expect("another client has the keyboard")
    second.send("echo from-second\r")
    answer(first, "echo from-$((1+1))", r"\nfrom-2\r?\n")
    second.expect(r"\nfrom-2\r?\n")  # the second one sees it too
    detach(first)
    second.expect("you have the keyboard")
    answer(second, "echo now-$((2+1))", r"\nnow-3\r?\n")
    answer(second, "stty size", r"\n40 120\r?\n")  # the window of the one that types
    check("from-second" not in d.tail("web"), "keys of a client without the keyboard must not reach the program")
    detach(second)


@test
def the_program_exiting_ends_the_attachment():
    d = daemon(SHELL)
    c = attached(d)
    c.send("exit 3\r")
    c.expect(r"web exited with status 3")
    check(c.wait() == 0, f"exit code {c.code}")
    c.check_modes()


@test
def the_client_killed_with_sigterm_gives_the_terminal_back():
    d = daemon(SHELL)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        c = attached(d)
        os.kill(c.pid, sig)
        c.expect(r"detached from web")
        c.wait()
        c.check_modes()
    check(d.status()["web"]["state"] == "RUNNING")


@test
def taskmaster_going_away_gives_the_terminal_back():
    d = daemon(SHELL)
    c = attached(d)
    os.kill(d.pid, signal.SIGTERM)
    c.expect(r"web was stopped: taskmaster is shutting down")
    check(c.wait() is not None, "the client must end with taskmaster")
    c.check_modes()


@test
def a_stdin_program_gets_whole_lines_echoed_locally():
    d = daemon(LINES, running="lines")
    c = Client("--socket", d.socket, "attach", "lines")
    c.wait_for_modes()
    c.send("helx\x7flo\r")  # erased locally: the program gets the line as it ends up
    c.expect(r"helx\x08 \x08lo\r\n")  # the local echo, Backspace erasing
    c.expect(r"got:hello\r?\n")
    c.send("\x03")  # Ctrl-C drops the line typed so far, and the client stays
    c.send("second\r")
    c.expect(r"got:second")
    check(c.alive())
    detach(c, "lines")
    c.wait()
    c.check_modes()


@test
def a_program_that_reads_nothing_is_watched_and_ctrl_c_leaves():
    d = daemon(program("idle", "sh -c 'echo hello-idle; exec sleep 1000'", stopsignal="KILL", **QUICK), running="idle")
    c = Client("--socket", d.socket, "attach", "idle")
    c.wait_for_modes()
    c.expect("hello-idle")
    c.expect("idle reads no input: you watch")
    c.send("\x03")
    c.expect(r"detached from idle \(still RUNNING\)")
    check(c.wait() == 0)
    c.check_modes()


@test
def ctl_attach_without_a_terminal_sends_its_stdin():
    d = daemon(LINES, running="lines")
    p = subprocess.Popen([TASKMASTER, "ctl", "--socket", d.socket, "attach", "lines"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(b"one\ntwo\n")
    p.stdin.close()  # the end of the input: the client goes on watching until Ctrl-C
    p.stdin = None
    deadline = time.monotonic() + 10
    while "got:two" not in d.tail("lines") and time.monotonic() < deadline:
        time.sleep(0.05)
    check("got:one\ngot:two" in d.tail("lines"), d.tail("lines"))
    check(p.poll() is None, "the client waits after its input ends")
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=10)
    check(b"detached from lines" in out, (out, err))


@test
def attach_refuses_what_cannot_be_attached():
    d = daemon(SHELL, program("idle", "sleep 1000", **QUICK))
    code, _, err = d.ctl("attach", "nosuch")
    check(code != 0 and "nosuch" in err, (code, err))
    code, _, err = d.ctl("status", "--detach-keys", "ctrl-a")
    check(code == 2 and "--detach-keys" in err, (code, err))
    code, _, err = d.ctl("attach", "web", "--detach-keys", "ctrl-1")
    check(code == 2 and "ctrl-1" in err, (code, err))
    code, _, err = run(["--detach-keys", "alt-x", "--check", "-c", d.config])  # the shell's keys
    check(code == 2 and "alt-x" in err, (code, err))


def shell(*programs):
    t = Terminal(config(*programs), env={"XDG_STATE_HOME": tmpdir()})
    t.expect(PROMPT)
    return t


@test
def the_shell_attaches_and_comes_back_to_its_prompt():
    t = shell(SHELL)
    t.settle()
    modes = termios.tcgetattr(t.fd)
    t.send("attach web\r")
    answer(t, "echo in-$((3*3))", r"\bin-9\r?\n")
    t.send("\x03")  # to the program, not taskmaster
    t.expect("web\\$ ")
    t.send(DETACH)
    t.expect(r"detached from web \(still RUNNING\)")
    t.expect(PROMPT)
    check(t.alive(), "Ctrl-C while attached must not reach taskmaster")
    t.send("status web\r")
    t.expect(r"web +RUNNING")
    t.expect(PROMPT)
    t.send("fg web\r")
    t.expect("in-9")  # the earlier output again
    t.send("exit 0\r")
    t.expect(r"web exited with status 0")
    t.expect(PROMPT)
    t.settle()
    check(termios.tcgetattr(t.fd) == modes, "the prompt's terminal modes must be back after the attachment")


@test
def taskmaster_stopping_while_its_shell_is_attached_gives_the_terminal_back():
    fresh, other = os.openpty()
    modes = termios.tcgetattr(fresh)  # a new terminal's modes: what taskmaster started with
    os.close(fresh)
    os.close(other)
    t = shell(SHELL)
    t.send("attach web\r")
    answer(t, "echo in-$((4*4))", r"\bin-16\r?\n")
    os.kill(t.pid, signal.SIGTERM)
    t.expect(r"detached from web: taskmaster is stopping")
    check(t.wait() == 0, f"exit code {t.code}")
    check(termios.tcgetattr(t.fd) == modes, "the terminal's modes were not restored")


@test
def a_shell_without_a_terminal_refuses_attach():
    from tmtest import Taskmaster  # pylint: disable=import-outside-toplevel
    tm = Taskmaster(config(SHELL))
    out = tm.cmd("attach web")
    check(any("needs a terminal" in line for line in out), out)


if __name__ == "__main__":
    main()
