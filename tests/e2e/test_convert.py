#!/usr/bin/env python3
"""taskmaster --check and taskmaster convert, on YAML and supervisord files; the warnings of a supervisord file at
start and on reload; and the settings of its [supervisord] section that taskmaster applies to itself (umask,
directory, pidfile, minfds, loglevel)."""

import json
import os
import re
import resource
import stat

from tmtest import (HELPER, Taskmaster, check, config, eventually, helper, main, program, read_file, run, test,
                    tmpdir)


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def names_of(out):
    return out.splitlines()


# A YAML configuration whose names sort differently from the file's order, with instances and a group.
MIXED_YAML = config(
    program("zeta", helper("--forever"), numprocs=3),
    program("alpha", helper("--forever")),
    program("'g:worker'", helper("--forever")),
    program("mid", helper("--forever"), numprocs=12),
)
MIXED_NAMES = (["alpha", "g:worker"] + [f"mid:{i}" for i in range(12)] + ["zeta:0", "zeta:1", "zeta:2"])


def supervisord_file(directory, *sections, settings=""):
    """A small supervisord configuration: [supervisord] (childlogdir in `directory`, plus `settings`), then the
    sections as given."""
    return f"[supervisord]\nchildlogdir={directory}\n{settings}\n" + "\n".join(sections)


def section(name, command, **keys):
    lines = [f"[{name}]", f"command={command}", "startsecs=0"]
    lines += [f"{key}={value}" for key, value in keys.items()]
    return "\n".join(lines) + "\n"


def line_of(text, fragment):
    """The 1-based number of the first line of `text` holding `fragment`."""
    for number, line in enumerate(text.splitlines(), 1):
        if fragment in line:
            return number
    raise AssertionError(f"{fragment!r} not in the file")


# --- --check on YAML -----------------------------------------------------------------------------------------------

@test
def check_lists_the_processes_of_a_yaml_file_as_status_does():
    d = tmpdir()
    path = write(os.path.join(d, "app.yml"), MIXED_YAML)
    code, out, err = run(["--check", "-c", path])
    check(code == 0, f"exit {code}: {err}")
    check(names_of(out) == MIXED_NAMES, out)
    check(err == "", f"a valid YAML file has no warnings: {err!r}")
    # The very names, in the very order, of `status` once it runs (nothing is started: autostart is false).
    tm = Taskmaster(MIXED_YAML, directory=d)
    status_names = [line.split()[0] for line in tm.cmd("status")]
    check(status_names == names_of(out), f"status {status_names}, --check {names_of(out)}")
    check(tm.quit() == 0, "taskmaster did not stop cleanly")


@test
def check_runs_nothing():
    d = tmpdir()
    marker = os.path.join(d, "ran")
    path = write(os.path.join(d, "app.yml"),
                 config(program("touch", f"/bin/sh -c 'echo x > {marker}'", autostart=True, starttime="0")))
    code, out, err = run(["--check", "-c", path, "--log", os.path.join(d, "log")], cwd=d)
    check(code == 0 and out == "touch\n", f"exit {code}: {out!r} {err!r}")
    check(not os.path.exists(marker), "--check started a program")
    check(not os.path.exists(os.path.join(d, "log")) and not os.path.exists(os.path.join(d, "taskmaster.log")),
          "--check opened an event log")


@test
def check_of_an_invalid_yaml_file_prints_every_problem_and_exits_2():
    d = tmpdir()
    path = write(os.path.join(d, "bad.yml"),
                 "programs:\n"
                 "  web:\n"
                 "    cmd: /bin/true\n"
                 "    numprocs: lots\n"
                 "  worker:\n"
                 "    comd: x\n")
    code, out, err = run(["--check", "-c", path])
    check(code == 2, f"exit {code}")
    check(out == "", f"names printed for an invalid file: {out!r}")
    problems = [line for line in err.splitlines() if line.startswith(path + ":")]
    check(len(problems) == 3, err)
    check(f"{path}:4:15: program 'web': numprocs" in err, err)
    check(re.search(re.escape(path) + r":5:\d+: program 'worker': missing 'cmd'", err), err)
    check("did you mean 'cmd'" in err, err)
    check(re.search(r"3 problems in .*bad\.yml", err), err)


@test
def check_of_a_missing_file_exits_2():
    d = tmpdir()
    code, out, err = run(["--check", "-c", os.path.join(d, "nope.yml")])
    check(code == 2 and out == "" and "nope.yml" in err and "No such file" in err, f"{code} {out!r} {err!r}")


@test
def check_without_c_searches_as_taskmaster_does():
    d = tmpdir()
    env = dict(os.environ, HOME=d, XDG_CONFIG_HOME=os.path.join(d, "xdg"))
    write(os.path.join(d, "taskmaster.yml"), config(program("here", "/bin/true")))
    code, out, err = run(["--check"], cwd=d, env=env)
    check(code == 0 and out == "here\n", f"exit {code}: {out!r} {err!r}")


@test
def check_refuses_to_daemonize_and_bad_usage_exits_2():
    d = tmpdir()
    path = write(os.path.join(d, "app.yml"), config(program("web", "/bin/true")))
    for args in (["--check", "--daemon", "-c", path], ["--check", "--no-shell", "-c", path],
                 ["--check", "--check", "-c", path], ["--chec", "-c", path]):
        code, out, err = run(args)
        check(code == 2 and out == "" and "taskmaster:" in err, f"{args}: exit {code}: {out!r} {err!r}")
    # -c is not taken for a prefix of --check.
    code, out, err = run(["-c", path, "--check"])
    check(code == 0 and out == "web\n", f"exit {code}: {out!r} {err!r}")


# --- convert on YAML -----------------------------------------------------------------------------------------------

ODD_YAML = """\
socket: /tmp/tm convert test.sock
logfile: yes
logfile_maxbytes: 1MB
logfile_backups: 0
programs:
  web:
    cmd: [python3, -m, http.server, "8080", "it's \\"quoted\\"", "", "a: b", "#x"]
    numprocs: 2
    autostart: yes
    priority: -3
    autorestart: always
    exitcodes: [0, 2]
    starttime: 1.5
    startretries: infinite
    restart_delay_factor: 1.5
    stopsignal: sigint
    stoptime: 2m
    stdout: /tmp/{program}.{index}.out
    stdout_maxbytes: 1536KB
    stderr_backups: 0
    env:
      EMPTY: ""
      YES: "yes"
      NUMBER: 0123
      COLON: "a: b"
      UNICODE: "héllo wörld ✓"
    workingdir: /srv/my app
    umask: "077"
    stopasgroup: false
    killasgroup: false
  'db:main':
    cmd: "postgres -D '/var/lib/pg data'"
    tail_bytes: 1KB
    fatal_retry: 500ms
"""


@test
def convert_of_a_yaml_file_reads_back_the_same():
    d = tmpdir()
    original = write(os.path.join(d, "original.yml"), ODD_YAML)
    code, first, err = run(["convert", original])
    check(code == 0 and err == "", f"exit {code}: {err}")
    converted = write(os.path.join(d, "converted.yml"), first)
    # The same processes; and converting the result again changes nothing: every option read back the same.
    code, names, err = run(["--check", "-c", converted])
    check(code == 0, f"the converted file is invalid: {err}\n{first}")
    check(names_of(names) == ["db:main", "web:0", "web:1"], names)
    code, second, err = run(["convert", converted])
    check(code == 0 and second == first, f"not a fixed point:\n{first}\n---\n{second}")
    for expected in ["startretries: infinite\n", "starttime: 1500ms\n", "stopsignal: INT\n", "umask: \"077\"\n",
                     "  'db:main':\n", "logfile: 'yes'\n", "'YES': 'yes'\n", "NUMBER: '0123'\n", "EMPTY: ''\n"]:
        check(expected in first, f"{expected!r} not in:\n{first}")
    check(not first.startswith("#"), f"comments for a YAML file without warnings:\n{first}")


@test
def convert_of_an_invalid_file_exits_2_and_prints_nothing():
    d = tmpdir()
    path = write(os.path.join(d, "bad.yml"), "programs:\n  web:\n    cmd: /bin/true\n    autostart: perhaps\n")
    code, out, err = run(["convert", path])
    check(code == 2 and out == "", f"exit {code}: {out!r}")
    check(f"{path}:4:16: program 'web': autostart" in err and "nothing converted" in err, err)
    code, out, err = run(["convert", os.path.join(d, "missing.conf")])
    check(code == 2 and out == "" and "No such file" in err, f"exit {code}: {out!r} {err!r}")


@test
def convert_usage():
    d = tmpdir()
    path = write(os.path.join(d, "app.yml"), config(program("web", "/bin/true")))
    for args in (["convert"], ["convert", path, path], ["convert", "--bogus", path], ["convert", ""]):
        code, out, err = run(args)
        check(code == 2 and out == "" and "taskmaster convert:" in err, f"{args}: exit {code}: {out!r} {err!r}")
    code, out, _ = run(["convert", "--help"])
    check(code == 0 and "Usage: taskmaster convert FILE" in out, out)
    code, out, _ = run(["--help"])
    check(code == 0 and "taskmaster convert FILE" in out and "--check" in out, out)
    for place in ["./supervisord.conf", "/etc/supervisor/supervisord.conf"]:
        check(place in out, f"{place} not among the places searched: {out}")
    # Options may follow the file, and `--` ends them.
    code, out, err = run(["convert", path, "-h"])
    check(code == 0 and "Usage" in out, f"exit {code}: {err}")


# --- supervisord files ----------------------------------------------------------------------------------------------

def small_supervisord_file(d, extra_settings="", extra_keys=None):
    return supervisord_file(
        d,
        section("program:web", f"{HELPER} --forever", numprocs=2, process_name="%(program_name)s_%(process_num)02d",
                **(extra_keys or {})),
        section("program:single", f"{HELPER} --forever", stdout_logfile=f"{d}/single.out"),
        "[group:g]\nprograms=a,b\npriority=5\n",
        section("program:a", f"{HELPER} --forever", autostart="false"),
        section("program:b", f"{HELPER} --forever"),
        settings=extra_settings)


SMALL_NAMES = ["g:a", "g:b", "single", "web:web_00", "web:web_01"]


@test
def check_reads_a_supervisord_file():
    d = tmpdir()
    path = write(os.path.join(d, "supervisord.conf"), small_supervisord_file(d))
    code, out, err = run(["--check", "-c", path])
    check(code == 0, f"exit {code}: {err}")
    check(names_of(out) == SMALL_NAMES, out)
    check(err == "", f"warnings for a file without anything unsupported: {err!r}")


@test
def check_prints_the_warnings_of_a_supervisord_file_on_stderr():
    d = tmpdir()
    text = small_supervisord_file(d, extra_keys={"bogus_key": "1"})
    path = write(os.path.join(d, "supervisord.conf"), text)
    code, out, err = run(["--check", "-c", path])
    check(code == 0, f"a warning is not an error: exit {code}: {err}")
    check(names_of(out) == SMALL_NAMES, f"the names go to stdout alone: {out!r}")
    number = line_of(text, "bogus_key")
    warning = re.search(re.escape(path) + rf":{number}(?::\d+)?: warning: .*bogus_key", err)
    check(warning, f"no warning naming bogus_key at line {number}: {err!r}")


@test
def check_of_an_invalid_supervisord_file_exits_2_with_file_and_line():
    d = tmpdir()
    text = supervisord_file(d, "[program:nocommand]\nautostart=true\n",
                            section("program:web", "/bin/true", autostart="perhaps"))
    path = write(os.path.join(d, "supervisord.conf"), text)
    code, out, err = run(["--check", "-c", path])
    check(code == 2 and out == "", f"exit {code}: {out!r}")
    check(re.search(re.escape(path) + rf":{line_of(text, '[program:nocommand]')}(?::\d+)?: .*command", err), err)
    check(re.search(re.escape(path) + rf":{line_of(text, 'autostart=perhaps')}(?::\d+)?: .*autostart", err), err)


@test
def check_finds_supervisord_conf_in_the_working_directory():
    if os.path.exists("/etc/taskmaster/taskmaster.yml"):
        return  # a system configuration comes first: nothing to learn here
    d = tmpdir()
    env = dict(os.environ, HOME=d, XDG_CONFIG_HOME=os.path.join(d, "xdg"))
    write(os.path.join(d, "supervisord.conf"), supervisord_file(d, section("program:from_ini", "/bin/true")))
    code, out, err = run(["--check"], cwd=d, env=env)
    check(code == 0 and out == "from_ini\n", f"exit {code}: {out!r} {err!r}")


@test
def convert_of_a_supervisord_file_reads_back_as_the_same_processes():
    d = tmpdir()
    text = small_supervisord_file(d, extra_settings="minfds=4096\nloglevel=debug\n",
                                  extra_keys={"bogus_key": "1", "environment": 'A="x,y",B=\'\',C=yes'})
    path = write(os.path.join(d, "supervisord.conf"), text)
    code, yaml_text, err = run(["convert", path])
    check(code == 0, f"exit {code}: {err}")
    # The warnings: comments at the top, and on stderr.
    comments = []
    for line in yaml_text.splitlines():
        if not line.startswith("#"):
            break
        comments.append(line)
    number = line_of(text, "bogus_key")
    check(any(re.match(r"# " + re.escape(path) + rf":{number}\b.*bogus_key", c) for c in comments),
          f"no comment for bogus_key:\n{yaml_text}")
    check("bogus_key" in err, f"the warning is not on stderr: {err!r}")
    # taskmaster's own settings carry over as keys.
    check("\nminfds: 4096\n" in yaml_text and "\nloglevel: debug\n" in yaml_text, yaml_text)
    # The names, by --check of the result; the options, by converting the result again.
    converted = write(os.path.join(d, "converted.yml"), yaml_text)
    code, out, err = run(["--check", "-c", converted])
    check(code == 0, f"the converted file is invalid: {err}\n{yaml_text}")
    check(names_of(out) == SMALL_NAMES, out)
    check(err == "", f"the converted file has warnings: {err!r}")
    code, again, err = run(["convert", converted])
    body = yaml_text[yaml_text.index("\n\n") + 2:] if yaml_text.startswith("#") else yaml_text
    check(code == 0 and again == body, f"the YAML does not read back the same:\n{body}\n---\n{again}")
    # supervisord's defaults, which are not YAML's, are written out.
    check("autostart: true" in body and "stopasgroup: false" in body, body)
    check(re.search(r"A: '?x,y'?", body) and "C: 'yes'" in body, body)


@test
def convert_of_a_supervisord_file_runs_the_same_processes():
    d = tmpdir()
    path = write(os.path.join(d, "supervisord.conf"), small_supervisord_file(d))
    code, yaml_text, err = run(["convert", path])
    check(code == 0, f"exit {code}: {err}")
    tm = Taskmaster(yaml_text, directory=d)
    for name in ["g:b", "single", "web:web_00", "web:web_01"]:
        tm.wait_state(name, "RUNNING")
    check(tm.state("g:a")[0] == "STOPPED", tm.status())
    check(tm.quit() == 0, "taskmaster did not stop cleanly")


# --- warnings at start and on reload -------------------------------------------------------------------------------

@test
def warnings_are_printed_and_logged_at_start_and_on_reload():
    d = tmpdir()
    plain = small_supervisord_file(d)
    tm = Taskmaster(plain, directory=d)  # written as taskmaster.yml: the format is known by its content
    tm.wait_state("single", "RUNNING")
    check("warning:" not in tm.stderr(), tm.stderr())

    text = small_supervisord_file(d, extra_keys={"bogus_key": "1"})
    write(tm.config, text)
    number = line_of(text, "bogus_key")

    def warning_of(path):
        return re.escape(path) + rf":{number}(?::\d+)?: warning: .*bogus_key"
    pattern = warning_of(tm.config)
    lines = tm.cmd("reload")
    check(any(re.match(pattern, line) for line in lines), f"no warning in the reload's answer: {lines}")
    check(re.search(r"^\S+ WARN .*" + pattern, tm.log_text(), re.M), f"not logged:\n{tm.log_text()}")
    # Over the socket: in the reply's lines and in its data.
    code, out, err = run(["ctl", "--socket", tm.socket, "--json", "reload"])
    check(code == 0, f"ctl reload: exit {code}: {err}")
    reply = json.loads(out)
    check(any(re.match(pattern, line) for line in reply["lines"]), reply)
    check(any("bogus_key" in w and w.startswith(f"{tm.config}:{number}") for w in reply["data"]["warnings"]), reply)
    check(tm.quit() == 0, "taskmaster did not stop cleanly")

    # At start: on stderr, and in the event log.
    tm = Taskmaster(text, directory=tmpdir())
    tm.wait_state("single", "RUNNING")
    eventually(lambda: re.search(warning_of(tm.config), tm.stderr()), message="the warning on stderr")
    check(re.search(r"^\S+ WARN .*bogus_key", tm.log_text(), re.M), f"not logged:\n{tm.log_text()}")
    check(tm.quit() == 0, "taskmaster did not stop cleanly")


@test
def a_yaml_reload_has_no_warnings_in_its_data():
    d = tmpdir()
    tm = Taskmaster(config(program("web", helper("--forever"))), directory=d)
    tm.cmd("status")  # answered once taskmaster runs: its socket listens by then
    code, out, err = run(["ctl", "--socket", tm.socket, "--json", "reload"])
    check(code == 0, f"exit {code}: {err}")
    reply = json.loads(out)
    check("warnings" not in reply["data"] and reply["data"]["unchanged"] == ["web"], reply)
    check(tm.quit() == 0, "taskmaster did not stop cleanly")


# --- taskmaster's own settings from [supervisord] ------------------------------------------------------------------

def umask_of(pid):
    for line in read_file(f"/proc/{pid}/status").splitlines():
        if line.startswith("Umask:"):
            return int(line.split()[1], 8)
    raise AssertionError(f"no Umask in /proc/{pid}/status")


def low_limits():
    """In the child before exec: soft limits on open files and processes below the minfds and minprocs asked for."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    _, hard = resource.getrlimit(resource.RLIMIT_NPROC)
    resource.setrlimit(resource.RLIMIT_NPROC, (100, hard))


def wanted_limit(which, wanted):
    """`wanted`, or the hard limit when it is lower (nothing to learn from a failure here)."""
    _, hard = resource.getrlimit(which)
    return wanted if hard == resource.RLIM_INFINITY or hard >= wanted else hard


def soft_limits(text):
    """{"Max open files": soft, ...} from the text of /proc/PID/limits."""
    limits = {}
    for line in text.splitlines():
        m = re.match(r"^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)", line)
        if m:
            limits[m.group(1)] = m.group(2)
    return limits


@test
def taskmaster_takes_umask_directory_pidfile_and_limits_from_a_supervisord_file():
    d = tmpdir()
    work = os.path.join(d, "work")
    os.mkdir(work)
    minfds = wanted_limit(resource.RLIMIT_NOFILE, 1000)
    minprocs = wanted_limit(resource.RLIMIT_NPROC, 300)
    probe = f"/bin/sh -c 'umask; pwd; cat /proc/self/limits; exec {HELPER} --forever'"
    text = supervisord_file(d, section("program:probe", probe, stdout_logfile=f"{d}/probe.out"),
                            settings=f"umask=027\ndirectory={work}\npidfile={work}/tm.pid\nminfds={minfds}\n"
                                     f"minprocs={minprocs}\n")
    tm = Taskmaster(text, directory=d, preexec_fn=low_limits)
    tm.wait_state("probe", "RUNNING")
    pid = tm.proc.pid
    check(umask_of(pid) == 0o027, f"taskmaster's umask is {umask_of(pid):04o}")
    check(os.readlink(f"/proc/{pid}/cwd") == work, f"taskmaster runs in {os.readlink(f'/proc/{pid}/cwd')}")
    pidfile = os.path.join(work, "tm.pid")
    eventually(lambda: read_file(pidfile) == f"{pid}\n", message=f"the pid file {pidfile}")
    check(stat.S_IMODE(os.stat(pidfile).st_mode) == 0o640, f"{os.stat(pidfile).st_mode:o}: not made under umask 027")
    # The program: in the directory, with its own umask (022 by default), and the limits raised to minfds and
    # minprocs (taskmaster's own limit on open files goes further: its children get back the one they would have).
    out = eventually(lambda: "Max processes" in read_file(f"{d}/probe.out") and read_file(f"{d}/probe.out"),
                     message="the probe's output")
    umask, cwd = out.splitlines()[:2]
    check(umask == "0022" and cwd == work, out)
    limits = soft_limits(out)
    check(limits.get("Max open files") == str(minfds), f"the program's limits: {limits}, minfds {minfds}")
    check(limits.get("Max processes") == str(minprocs), f"the program's limits: {limits}, minprocs {minprocs}")
    check(soft_limits(read_file(f"/proc/{pid}/limits")).get("Max processes") == str(minprocs),
          read_file(f"/proc/{pid}/limits"))
    # A reload reads the same file, though the working directory changed.
    lines = tm.cmd("reload")
    check(lines == ["unchanged: probe"], lines)
    check(tm.quit() == 0, "taskmaster did not stop cleanly")
    check(not os.path.exists(pidfile), "the pid file was left behind")


@test
def a_daemon_takes_them_too_and_writes_the_configurations_pid_file():
    d = tmpdir()
    work = os.path.join(d, "work")
    os.mkdir(work)
    pidfile = os.path.join(work, "tm.pid")
    path = write(os.path.join(d, "supervisord.conf"),
                 supervisord_file(d, section("program:web", f"{HELPER} --forever"),
                                  settings=f"umask=077\ndirectory={work}\npidfile={pidfile}\n"))
    sock = os.path.join(d, "tm.sock")
    code, _, err = run(["-c", path, "--daemon", "--log", "tm.log", "--socket", sock], cwd=d)
    check(code == 0, f"exit {code}: {err}")
    pid = int(read_file(pidfile))
    try:
        check(umask_of(pid) == 0o077, f"the daemon's umask is {umask_of(pid):04o}")
        check(os.readlink(f"/proc/{pid}/cwd") == work, os.readlink(f"/proc/{pid}/cwd"))
        check("running as a daemon" in read_file(os.path.join(d, "tm.log")), "--log was not kept where it was typed")
        code, out, err = run(["ctl", "--socket", sock, "reload"])
        check(code == 0 and out == "unchanged: web\n", f"a reload after the change of directory: {code} {out!r} {err}")
    finally:
        run(["ctl", "--socket", sock, "shutdown"])
    eventually(lambda: not os.path.exists(pidfile), message="the daemon to exit and remove its pid file")


@test
def a_yaml_file_sets_them_too_and_a_converted_file_keeps_them():
    d = tmpdir()
    work = os.path.join(d, "work")
    os.mkdir(work)
    pidfile = os.path.join(work, "tm.pid")
    minprocs = wanted_limit(resource.RLIMIT_NPROC, 300)
    text = (f"umask: \"077\"\ndirectory: {work}\npidfile: {pidfile}\nminprocs: {minprocs}\nloglevel: warn\n"
            + config(program("web", helper("--forever"), autostart=True, starttime="0")))
    tm = Taskmaster(text, directory=d, preexec_fn=low_limits)
    tm.wait_state("web", "RUNNING")
    pid = tm.proc.pid
    check(umask_of(pid) == 0o077 and os.readlink(f"/proc/{pid}/cwd") == work, f"{umask_of(pid):o}")
    eventually(lambda: read_file(pidfile) == f"{pid}\n", message=f"the pid file {pidfile}")
    check(soft_limits(read_file(f"/proc/{pid}/limits")).get("Max processes") == str(minprocs),
          read_file(f"/proc/{pid}/limits"))
    check(tm.quit() == 0, "taskmaster did not stop cleanly")
    check(not re.search(r"^\S+ INFO ", read_file(tm.log), re.M), f"loglevel: warn logged INFO:\n{read_file(tm.log)}")

    # From a supervisord file, through convert: the same settings, as keys.
    path = write(os.path.join(d, "supervisord.conf"),
                 supervisord_file(d, section("program:web", f"{HELPER} --forever"),
                                  settings=f"umask=077\ndirectory={work}\npidfile={pidfile}\nminprocs={minprocs}\n"
                                           "loglevel=warn\n"))
    code, yaml_text, err = run(["convert", path])
    check(code == 0, f"exit {code}: {err}")
    for line in ['umask: "077"', f"directory: {work}", f"pidfile: {pidfile}", f"minprocs: {minprocs}",
                 "loglevel: warn"]:
        check(f"\n{line}\n" in "\n" + yaml_text, f"{line!r} not in:\n{yaml_text}")


@test
def the_command_line_wins_over_the_supervisord_section():
    d = tmpdir()
    mine = os.path.join(d, "mine.pid")
    text = supervisord_file(d, section("program:web", f"{HELPER} --forever"),
                            settings=f"pidfile={d}/theirs.pid\nloglevel=error\n")
    tm = Taskmaster(text, directory=d, args=["--pidfile", mine, "--log-level", "info"])
    tm.wait_state("web", "RUNNING")
    eventually(lambda: read_file(mine) == f"{tm.proc.pid}\n", message="the pid file of --pidfile")
    check(not os.path.exists(os.path.join(d, "theirs.pid")), "the configuration's pid file was written")
    check(re.search(r"^\S+ INFO ", tm.log_text(), re.M), "--log-level info did not win over loglevel=error")
    check(tm.quit() == 0, "taskmaster did not stop cleanly")

    # Without --log-level, the file's loglevel: no INFO line at all; and a reload takes a new one.
    d = tmpdir()
    tm = Taskmaster(supervisord_file(d, section("program:web", f"{HELPER} --forever"), settings="loglevel=error\n"),
                    directory=d)
    tm.wait_state("web", "RUNNING")
    check(not re.search(r"^\S+ INFO ", read_file(tm.log), re.M), f"loglevel=error logged INFO:\n{read_file(tm.log)}")
    write(tm.config, supervisord_file(d, section("program:web", f"{HELPER} --forever"), settings="loglevel=info\n"))
    check(tm.cmd("reload") == ["unchanged: web"], "the reload failed")
    check(tm.quit() == 0, "taskmaster did not stop cleanly")
    check(re.search(r"^\S+ INFO  log level: info$", read_file(tm.log), re.M), read_file(tm.log))
    check(re.search(r"^\S+ INFO  stopping every program", read_file(tm.log), re.M), read_file(tm.log))


@test
def a_directory_that_cannot_be_entered_stops_taskmaster_before_anything_runs():
    d = tmpdir()
    marker = os.path.join(d, "ran")
    command = f"/bin/sh -c 'echo x > {marker}'"
    missing = os.path.join(d, "missing")
    path = write(os.path.join(d, "supervisord.conf"),
                 supervisord_file(d, section("program:touch", command), settings=f"directory={missing}\n"))
    code, _, err = run(["-c", path, "--no-shell", "--log", os.path.join(d, "log"), "--socket",
                        os.path.join(d, "tm.sock")], cwd=d)
    # supervisord refuses a missing directory as a bad value (2); taskmaster says so either way, naming it.
    check(code in (1, 2) and missing in err, f"exit {code}: {err}")
    check(not os.path.exists(marker), "a program ran")
    if os.geteuid() != 0:  # root enters any directory
        closed = os.path.join(d, "closed")
        os.mkdir(closed, 0)
        write(path, supervisord_file(d, section("program:touch", command), settings=f"directory={closed}\n"))
        code, _, err = run(["-c", path, "--no-shell", "--log", os.path.join(d, "log"), "--socket",
                            os.path.join(d, "tm.sock")], cwd=d)
        check(code == 1 and closed in err and "Permission denied" in err, f"exit {code}: {err}")
        check(not os.path.exists(marker), "a program ran")


@test
def a_minfds_that_cannot_be_had_stops_taskmaster_with_a_clear_message():
    d = tmpdir()
    marker = os.path.join(d, "ran")
    path = write(os.path.join(d, "supervisord.conf"),
                 supervisord_file(d, section("program:touch", f"/bin/sh -c 'echo x > {marker}'"),
                                  settings="minfds=2000000000\n"))
    for args in (["--no-shell"], ["--daemon", "--pidfile", os.path.join(d, "tm.pid")]):
        code, _, err = run(["-c", path, *args, "--log", os.path.join(d, "log"), "--socket",
                            os.path.join(d, "tm.sock")], cwd=d)
        check(code == 1, f"{args}: exit {code}: {err}")
        check("minfds" in err and "2000000000" in err and "open files" in err, f"{args}: {err}")
        check(not os.path.exists(marker), "a program ran")
    check(re.search(r"ERROR .*minfds", read_file(os.path.join(d, "log"))), read_file(os.path.join(d, "log")))


if __name__ == "__main__":
    main()
