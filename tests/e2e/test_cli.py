"""The command line: options, configuration search, invalid configurations, kinds of stdin, signals, the log."""

import os
import re
import signal
import subprocess
import time

from tmtest import (LOG_LINE, TASKMASTER, Taskmaster, alive, check, config, eventually, helper, main, program,
                    read_file, run, test, tmpdir)


def simple_config(directory, name="taskmaster.yml", **options):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(config(program("sleeper", helper("--forever"), **{"autostart": True, "starttime": "100ms", **options})))
    return path


@test
def help_and_version():
    code, out, _ = run(["--help"])
    check(code == 0 and "--config" in out and "--log-level" in out and "/etc/taskmaster/taskmaster.yml" in out, out)
    for flag in ["--version", "-V", "-version"]:
        code, out, _ = run([flag])
        check(code == 0 and re.fullmatch(r"taskmaster \d+\.\d+\.\d+\n", out), f"{flag}: {out!r}")


@test
def bad_usage_exits_2():
    for args in (["--bogus"], ["stray-word"], ["--log-level", "loud"], ["-c"], ["--config", ""]):
        code, _, err = run(args)
        check(code == 2, f"{args}: exit {code}")
        check("taskmaster:" in err and err.strip(), f"{args}: {err!r}")


@test
def config_option_spellings():
    d = tmpdir()
    path = simple_config(d)
    for args in (["-config", path], ["--config", path], [f"--config={path}"], ["-c", path], [f"-c{path}"]):
        log = os.path.join(d, "spell.log")
        code, _, err = run([*args, "--log", log], cwd=d)
        check(code == 0, f"{args}: exit {code}: {err}")
        check(f"configuration loaded from {path}" in read_file(log), f"{args}: {read_file(log)}")
        os.unlink(log)


@test
def invalid_config_exits_2_with_every_problem_and_starts_nothing():
    d = tmpdir()
    marker = os.path.join(d, "started")
    path = os.path.join(d, "bad.yml")
    with open(path, "w") as f:
        f.write("programs:\n"
                "  good:\n"
                f"    cmd: {helper('--print-cwd', '--forever')}\n"
                "    autostart: true\n"
                f"    stdout: {marker}\n"
                "  web:\n"
                "    cmd: sleep 10\n"
                "    numprocs: lots\n"
                "    autorestart: sometimes\n"
                "  worker:\n"
                "    comd: x\n")
    code, out, err = run(["-c", path, "--log", os.path.join(d, "log")], cwd=d)
    check(code == 2, f"exit {code}")
    problems = [line for line in err.splitlines() if line.startswith(path + ":")]
    check(len(problems) == 4, err)
    for line in problems:
        check(re.match(re.escape(path) + r":\d+:\d+: ", line), f"no line:column in {line!r}")
    check(f"{path}:8:15:" in err and "numprocs" in err, err)
    check("did you mean 'cmd'" in err, err)
    check("nothing started" in err, err)
    time.sleep(0.3)
    check(not os.path.exists(marker), "a program was started from an invalid configuration")


@test
def missing_config_file_exits_2():
    d = tmpdir()
    code, _, err = run(["-c", os.path.join(d, "nope.yml"), "--log", os.path.join(d, "log")], cwd=d)
    check(code == 2 and "nope.yml" in err and "No such file" in err, err)


SYSTEM_CONFIGS = ["/etc/taskmaster", "/etc/supervisor"]


def run_without_system_configs(args, cwd, env):
    """run(), with the system's configuration directories hidden under empty tmpfs mounts in a mount namespace of
    its own when any exists (supervisord's Debian package installs /etc/supervisor/supervisord.conf); None when
    they exist and cannot be hidden (not root)."""
    present = [p for p in SYSTEM_CONFIGS if os.path.isdir(p)]
    if not present:
        return run(args, cwd=cwd, env=env)
    mounts = " && ".join(f"mount -t tmpfs none {p}" for p in present)
    p = subprocess.run(["unshare", "--mount", "sh", "-c", f'{mounts} && exec "$0" "$@"', TASKMASTER, *args],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=cwd, env=env, timeout=20)
    if p.returncode != 0 and "mount" in p.stderr and "taskmaster" not in p.stderr:
        return None
    return p.returncode, p.stdout, p.stderr


@test
def config_search_says_where_it_looked():
    d = tmpdir()
    home, xdg = os.path.join(d, "home"), os.path.join(d, "xdg")
    os.makedirs(home)
    env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=xdg)
    result = run_without_system_configs(["--log", os.path.join(d, "log")], cwd=d, env=env)
    if result is None:
        print("  skip: a system configuration exists and cannot be hidden (not root)")
        return
    code, _, err = result
    check(code == 2, f"exit {code}: {err}")
    for place in ["./taskmaster.yml", f"{xdg}/taskmaster/taskmaster.yml", "/etc/taskmaster/taskmaster.yml",
                  "./supervisord.conf", "/etc/supervisor/supervisord.conf"]:
        check(place in err, f"{place} not in {err!r}")
    # Without XDG_CONFIG_HOME: ~/.config.
    env.pop("XDG_CONFIG_HOME")
    code, _, err = run_without_system_configs(["--log", os.path.join(d, "log")], cwd=d, env=env)
    check(code == 2 and f"{home}/.config/taskmaster/taskmaster.yml" in err, err)


@test
def config_search_finds_files_in_order():
    if os.path.exists("/etc/taskmaster/taskmaster.yml"):
        return  # a system configuration would shadow nothing here but makes the first step meaningless
    d = tmpdir()
    xdg = os.path.join(d, "xdg")
    os.makedirs(os.path.join(xdg, "taskmaster"))
    env = dict(os.environ, XDG_CONFIG_HOME=xdg)
    user = simple_config(os.path.join(xdg, "taskmaster"))
    log = os.path.join(d, "log")
    code, _, err = run(["--log", log], cwd=d, env=env)
    check(code == 0 and f"configuration loaded from {user}" in read_file(log), err + read_file(log))
    simple_config(d)  # ./taskmaster.yml comes first
    code, _, err = run(["--log", log], cwd=d, env=env)
    check(code == 0 and "configuration loaded from ./taskmaster.yml" in read_file(log), err + read_file(log))


@test
def stdin_dev_null_means_quit_at_once():
    d = tmpdir()
    path = simple_config(d)
    started = time.monotonic()
    code, out, err = run(["-c", path, "--log", os.path.join(d, "log")], cwd=d)
    check(code == 0, f"exit {code}: {err}")
    check(time.monotonic() - started < 5, "took too long")
    check(out == "", out)


@test
def stdin_regular_file_is_a_script():
    d = tmpdir()
    path = simple_config(d, autostart=False)
    script = os.path.join(d, "commands")
    with open(script, "w") as f:
        f.write("# a comment\n\nstart sleeper\nstatus\r\npid sleeper\nstop sleeper")  # no final newline
    with open(script) as stdin:
        code, out, err = run(["-c", path, "--log", os.path.join(d, "log")], stdin=stdin, cwd=d)
    lines = out.splitlines()
    check(code == 0, f"exit {code}: {err}")
    check(lines[0] == "sleeper: started", out)
    check(re.match(r"sleeper\s+RUNNING\s+pid \d+, uptime 0:00:00$", lines[1]), out)
    check(lines[2].isdigit() and lines[2] != "0", out)
    check(lines[3] == "sleeper: stopped", out)


DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs")


def section(text, heading):
    """The lines of a markdown section, from its heading to the next heading of the same level."""
    level = heading.split(" ")[0] + " "
    lines = text.splitlines()
    start = lines.index(heading) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith(level)), len(lines))
    return lines[start:end]


@test
def the_command_table_help_and_docs_agree():
    d = tmpdir()
    path = simple_config(d, autostart=False)
    script = os.path.join(d, "commands")
    with open(script, "w") as f:
        f.write("help\n")
    with open(script) as stdin:
        code, out, err = run(["-c", path, "--log", os.path.join(d, "log")], stdin=stdin, cwd=d)
    check(code == 0 and out.startswith("Commands:\n"), f"exit {code}: {out} {err}")
    names = [line.split()[0] for line in out.splitlines()[1:] if line.startswith("  ")]
    check(names[:2] == ["help", "status"] and "shutdown" in names and "quit" in names, names)
    with open(script, "w") as f:
        f.write("".join(f"help {name}\n" for name in names))
    with open(script) as stdin:
        code, out, err = run(["-c", path, "--log", os.path.join(d, "log")], stdin=stdin, cwd=d)
    usages = [line[len("usage: "):] for line in out.splitlines() if line.startswith("usage: ")]
    check(code == 0 and len(usages) == len(names), f"exit {code}: {out} {err}")

    # docs/cli.md: one "### `USAGE`" section per command, and no other.
    cli = read_file(os.path.join(DOCS, "cli.md"))
    documented = [line for line in section(cli, "## Commands") if line.startswith("### `")]
    expected = [f"### `{usage}`" + (", `exit`" if usage == "quit" else "") for usage in usages]
    check(documented == expected, f"docs/cli.md has {documented}, the table {expected}")
    # docs/protocol.md: every command but the shell's quit in the table of commands; and `taskmaster ctl --help`.
    protocol = "\n".join(section(read_file(os.path.join(DOCS, "protocol.md")), "## Commands"))
    code, ctl_help, _ = run(["ctl", "--help"])
    for name in names:
        check(f"| `{name}`" in protocol or f", `{name}`" in protocol, f"docs/protocol.md lacks {name}")
        check(name == "quit" or f" {name}," in ctl_help, f"taskmaster ctl --help lacks {name}: {ctl_help}")


@test
def log_file_format_and_events():
    tm = Taskmaster(config(program("web", helper("--forever"), autostart=True, starttime="100ms")))
    tm.wait_state("web", "RUNNING")
    tm.cmd("stop web")
    check(tm.quit() == 0)
    text = tm.log_text()
    lines = text.splitlines()
    check(lines, "empty log")
    for line in lines:
        check(LOG_LINE.match(line), f"bad log line {line!r}")
    for event in [r"INFO  taskmaster \S+ started, pid \d+", r"INFO  configuration loaded from .*: added: web",
                  r"INFO  web spawned, pid \d+", r"INFO  web RUNNING, pid \d+", r"INFO  command from shell: stop web",
                  r"INFO  web stop requested: sending SIGTERM to pid \d+, SIGKILL after 10s",
                  r"INFO  web stopped \(terminated by SIGTERM\), pid \d+", r"INFO  taskmaster stopped"]:
        check(re.search(event, text), f"/{event}/ not in log:\n{text}")


@test
def log_level_filters():
    tm = Taskmaster(config(program("web", helper("--forever"), autostart=True, starttime="100ms")),
                    args=["--log-level", "warn"])
    tm.wait_state("web", "RUNNING")
    tm.cmd("bogus")
    check(tm.quit() == 0)
    text = tm.log_text()
    check("INFO" not in text and "WARN  command from shell failed: bogus" in text, text)


@test
def default_log_file_is_taskmaster_log_in_the_working_directory():
    d = tmpdir()
    path = simple_config(d)
    code, _, err = run(["-c", path], cwd=d)
    check(code == 0, err)
    check("taskmaster stopped" in read_file(os.path.join(d, "taskmaster.log")))


@test
def unwritable_log_exits_1():
    d = tmpdir()
    path = simple_config(d)
    code, _, err = run(["-c", path, "--log", os.path.join(d, "no", "such", "dir.log")], cwd=d)
    check(code == 1 and "cannot open the log file" in err, f"{code} {err}")


def start_family(tm, d):
    """Starts a program whose child forks a grandchild; returns (child pid, grandchild pid)."""
    grandchild = os.path.join(d, "grandchild.pid")
    tm.wait_state("family", "RUNNING")
    child = tm.pid("family")
    gpid = int(eventually(lambda: read_file(grandchild).strip(), message="grandchild pid"))
    check(alive(child) and alive(gpid))
    return child, gpid


def family_config(d, **options):
    grandchild = os.path.join(d, "grandchild.pid")
    return config(program("family", helper("--grandchild", grandchild, "--forever"), autostart=True,
                          starttime="100ms", **options),
                  program("pair", helper("--forever"), autostart=True, numprocs=2, starttime="100ms"))


@test
def sigterm_stops_everything_and_exits_0():
    d = tmpdir()
    tm = Taskmaster(family_config(d), directory=d)
    child, gpid = start_family(tm, d)
    pair = [int(line.split()[1]) for line in tm.cmd("pid pair")]
    tm.proc.send_signal(signal.SIGTERM)
    check(tm.wait() == 0, "exit code")
    for pid in [child, gpid, *pair]:
        check(not alive(pid), f"pid {pid} left behind")
    check("stopping every program (SIGTERM)" in tm.log_text())


@test
def sigint_without_a_terminal_stops_like_sigterm():
    d = tmpdir()
    tm = Taskmaster(family_config(d), directory=d)
    child, gpid = start_family(tm, d)
    tm.proc.send_signal(signal.SIGINT)
    check(tm.wait() == 0, "exit code")
    check(not alive(child) and not alive(gpid), "left behind")


@test
def second_sigterm_while_stopping_kills_at_once():
    d = tmpdir()
    tm = Taskmaster(config(program("stubborn", helper("--ignore-term", "--forever"), autostart=True,
                                   starttime="100ms", stoptime=60)), directory=d)
    tm.wait_state("stubborn", "RUNNING")
    pid = tm.pid("stubborn")
    tm.proc.send_signal(signal.SIGTERM)
    tm.wait_log("stopping every program")
    time.sleep(0.2)
    check(tm.proc.poll() is None, "exited before stoptime")
    tm.proc.send_signal(signal.SIGTERM)
    check(tm.wait(10) == 1, "forced stop exit code")
    eventually(lambda: not alive(pid), 5, message="the stubborn program to be killed")


if __name__ == "__main__":
    main()
