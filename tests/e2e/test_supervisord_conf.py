#!/usr/bin/env python3
"""supervisord's configuration files: the corpus in tests/supervisord/, read by taskmaster and by supervisord.

For each valid file of tests/supervisord/valid/, what is expected comes from supervisord's own parser:
tests/supervisord/reference.py runs under Debian's /usr/bin/python3, where the `supervisor` package lives (this test
may run under another python3), and prints supervisord's processes and options as JSON. taskmaster's reading comes
from `taskmaster --check -c FILE` (the names, one per line, sorted) and `taskmaster convert FILE` (the options, as
taskmaster's YAML, read with Debian's python3-yaml under /usr/bin/python3 with its BaseLoader, which keeps every
scalar as the text taskmaster reads). The bad files of tests/supervisord/bad/ must exit 2 with the messages of
bad/expectations.txt. Then an INI file runs: names, groups in commands, the children's environment, AUTO log files,
and reloads.

When supervisord or python3-yaml is missing, the test installs them as root (supervisor's service kept from
starting, as tests/bench/bench.py does), or fails saying what to install.
"""

import json
import os
import pwd
import re
import shlex
import signal
import subprocess

from tmtest import (HELPER, TASKMASTER, Taskmaster, alive, check, eventually, main, read_file, run, test,
                    tmpdir)

CORPUS = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "supervisord"))
VALID = os.path.join(CORPUS, "valid")
BAD = os.path.join(CORPUS, "bad")
REFERENCE = os.path.join(CORPUS, "reference.py")
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, with the supervisor and python3-yaml packages

# The environment both readers see: expansions.conf uses these as %(ENV_X)s.
CORPUS_ENV = dict(os.environ, TM_CORPUS_WORD="corpus", TM_CORPUS_COUNT="3", TM_CORPUS_NO="no", TM_CORPUS_DIR="/tmp")

# ProgramSpec's defaults, for the keys `taskmaster convert` leaves out.
YAML_DEFAULTS = {"numprocs": "1", "autostart": "false", "priority": "999", "autorestart": "unexpected",
                 "exitcodes": ["0"], "starttime": "1", "startretries": "3", "stopsignal": "TERM", "stoptime": "10",
                 "stdout_maxbytes": "50MB", "stdout_backups": "10", "stderr_maxbytes": "50MB", "stderr_backups": "10",
                 "redirect_stderr": "false", "env": {}, "umask": "022", "stopasgroup": "true", "killasgroup": "true",
                 "stdout_events": "false", "stderr_events": "false", "buffer_size": "10"}


# --- the tools: supervisord's reading, taskmaster's reading ---------------------------------------------------------

def system_python_has(*modules):
    probe = "import " + ", ".join(modules)
    return os.path.exists(SYSTEM_PYTHON) and subprocess.run([SYSTEM_PYTHON, "-c", probe],
                                                            capture_output=True).returncode == 0


def ensure_packages():
    """supervisor and python3-yaml for Debian's python3: `make deps-test` (which `make test` runs) installs them."""
    if not system_python_has("supervisor.options", "yaml"):
        raise AssertionError("supervisord's parser is the reference of these tests: `make deps-test` installs the "
                             "Debian packages supervisor and python3-yaml (supervisor's service kept from starting)")


def reference(path):
    """supervisord's reading of the file: (exit code, the parsed JSON or None, stderr)."""
    ensure_packages()
    p = subprocess.run([SYSTEM_PYTHON, REFERENCE, path], capture_output=True, text=True, env=CORPUS_ENV, timeout=60)
    return p.returncode, json.loads(p.stdout) if p.returncode == 0 else None, p.stderr


def taskmaster(*args):
    """Runs taskmaster to completion in the corpus's environment: (exit code, stdout, stderr); bytes that are not
    UTF-8 are replaced, so that a garbled message fails an assertion rather than the test's own decoding."""
    p = subprocess.run([TASKMASTER, *args], stdin=subprocess.DEVNULL, capture_output=True, env=CORPUS_ENV,
                       cwd=CORPUS, timeout=20)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def read_yaml(text):
    """taskmaster's YAML as nested dicts and lists of strings (yaml.BaseLoader: no YAML 1.1 guessing, so that
    `umask: 022` and `autostart: no` reach us as the text taskmaster reads)."""
    ensure_packages()
    script = "import json, sys, yaml; json.dump(yaml.load(sys.stdin, Loader=yaml.BaseLoader), sys.stdout)"
    p = subprocess.run([SYSTEM_PYTHON, "-c", script], input=text, capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, f"python3-yaml could not read taskmaster convert's output: {p.stderr}\n{text}")
    return json.loads(p.stdout)


def converted(path):
    """`taskmaster convert FILE`: its programs, in its order (name → options as text)."""
    code, out, err = taskmaster("convert", path)
    check(code == 0, f"taskmaster convert {path}: exit {code}: {err}")
    document = read_yaml(out)
    check(isinstance(document, dict) and isinstance(document.get("programs"), dict),
          f"taskmaster convert {path}: no 'programs' map:\n{out}")
    return document["programs"]


# --- taskmaster's values, read as taskmaster reads them -------------------------------------------------------------

def boolean(text):
    word = str(text).lower()
    check(word in ("true", "yes", "on", "1", "false", "no", "off", "0"), f"not a boolean: {text!r}")
    return word in ("true", "yes", "on", "1")


def milliseconds(text):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", str(text).strip())
    check(m, f"not a duration: {text!r}")
    return round(float(m.group(1)) * {"ms": 1, "s": 1000, None: 1000, "m": 60_000, "h": 3_600_000}[m.group(2)])


def size(text):
    m = re.fullmatch(r"(\d+)\s*(KB|MB|GB|B)?", str(text).strip(), re.I)
    check(m, f"not a size: {text!r}")
    return int(m.group(1)) * {"KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "B": 1, None: 1}[(m.group(2) or "B").upper()]


def signal_number(text):
    text = str(text).strip()
    if text.isdigit():
        return int(text)
    name = text.upper() if text.upper().startswith("SIG") else "SIG" + text.upper()
    return int(getattr(signal, name))


def command_words(cmd):
    return list(cmd) if isinstance(cmd, list) else shlex.split(cmd)


def exitcodes(value):
    values = value if isinstance(value, list) else [value]
    return [int(v) for v in values]


def taskmaster_view(options):
    """One program of `taskmaster convert`, defaults filled in, values normalised for comparison."""
    o = dict(YAML_DEFAULTS, **options)
    view = {
        "cmd": command_words(o["cmd"]),
        "numprocs": int(o["numprocs"]),
        "priority": int(o["priority"]),
        "autostart": boolean(o["autostart"]),
        "autorestart": o["autorestart"],
        "exitcodes": exitcodes(o["exitcodes"]),
        "starttime": milliseconds(o["starttime"]),
        "startretries": int(o["startretries"]),
        "stopsignal": signal_number(o["stopsignal"]),
        "stoptime": milliseconds(o["stoptime"]),
        "stopasgroup": boolean(o["stopasgroup"]),
        "killasgroup": boolean(o["killasgroup"]),
        "redirect_stderr": boolean(o["redirect_stderr"]),
        "workingdir": o.get("workingdir"),
        "umask": int(str(o["umask"]), 8),
        "env": dict(o["env"] or {}),
        "stdout": o.get("stdout"),
        "stdout_maxbytes": size(o["stdout_maxbytes"]),
        "stdout_backups": int(o["stdout_backups"]),
        "stdout_events": boolean(o["stdout_events"]),
        "stderr_events": boolean(o["stderr_events"]),
    }
    if "events" in o:
        view.update(events=sorted(o["events"]), buffer_size=int(o["buffer_size"]))
    user = o.get("user")
    if user is not None and not user.isdigit():
        user = str(pwd.getpwnam(user).pw_uid)
    view["user"] = user
    if not view["redirect_stderr"]:
        view.update(stderr=o.get("stderr"), stderr_maxbytes=size(o["stderr_maxbytes"]),
                    stderr_backups=int(o["stderr_backups"]))
    return view


def auto_log(document, group, process, channel):
    """Where taskmaster puts an AUTO log file: one fixed name per process and stream (docs/supervisord.md)."""
    shown = process if group == process else f"{group}_{process}"
    return os.path.join(document["childlogdir"], f"{shown}-{channel}---{document['identifier']}.log")


def expected_view(document, group, process):
    """What taskmaster must make of one of supervisord's processes, by the table of docs/supervisord.md."""
    def logfile(channel):
        value = process[f"{channel}_logfile"]
        return auto_log(document, group["name"], process["name"], channel) if value == "AUTO" else value

    view = {
        "cmd": shlex.split(process["command"]),
        "numprocs": 1,
        "priority": group["priority"],  # a group's priority orders the groups; its members share it
        "autostart": process["autostart"],
        "autorestart": {"true": "always", "false": "never", "unexpected": "unexpected"}[process["autorestart"]],
        "exitcodes": process["exitcodes"],
        "starttime": process["startsecs"] * 1000,
        "startretries": process["startretries"],
        "stopsignal": process["stopsignal"],
        "stoptime": process["stopwaitsecs"] * 1000,
        "stopasgroup": process["stopasgroup"],
        "killasgroup": process["killasgroup"],
        "redirect_stderr": process["redirect_stderr"],
        "workingdir": process["directory"],
        "umask": 0o22 if process["umask"] is None else process["umask"],
        "env": process["child_environment"],
        "stdout": logfile("stdout"),
        "stdout_maxbytes": process["stdout_logfile_maxbytes"],
        "stdout_backups": process["stdout_logfile_backups"],
        "user": None if process["uid"] is None else str(process["uid"]),
        "stdout_events": process["stdout_events_enabled"],
        "stderr_events": process["stderr_events_enabled"],
    }
    if group["kind"] == "eventlistener":
        view.update(events=group["events"], buffer_size=group["buffer_size"])
    if not process["redirect_stderr"]:
        view.update(stderr=logfile("stderr"), stderr_maxbytes=process["stderr_logfile_maxbytes"],
                    stderr_backups=process["stderr_logfile_backups"])
    return view


# --- expectations files -----------------------------------------------------------------------------------------------

def expectation_rows(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line and not line.startswith("#"):
                rows.append(line.split("\t"))
    return rows


def find_message(stderr, directory, where, fragments):
    """The stderr line for `where` ("FILE:LINE", LINE possibly "5|6"), holding every fragment; None if none."""
    file, lines = where.rsplit(":", 1)
    prefix = re.escape(os.path.join(directory, file)) + r":(?:" + "|".join(lines.split("|")) + r")(?::\d+)?: "
    for line in stderr.splitlines():
        if re.match(prefix, line) and all(fragment in line for fragment in fragments):
            return line
    return None


WARNINGS = {}
for file, where, *fragments in expectation_rows(os.path.join(VALID, "warnings.txt")):
    WARNINGS.setdefault(file, []).append((where, fragments))


# --- the valid files ------------------------------------------------------------------------------------------------

def check_valid_file(name):
    path = os.path.join(VALID, name)
    code, document, err = reference(path)
    check(code == 0, f"supervisord refuses {name}, a file of the valid corpus: {err}")
    groups = [g for g in document["groups"] if g["kind"] != "fcgi-program"]  # fcgi: a warning, not run
    expected = {p["namespec"]: expected_view(document, g, p) for g in groups for p in g["processes"]}
    # A file written by more than one process or stream is appended to without rotation (and a warning): rotation
    # by several writers would lose output (docs/supervisord.md).
    writers = {}
    for view in expected.values():
        for channel in ("stdout", "stderr"):
            if view.get(channel) and not view[channel].startswith("/dev/"):
                writers[view[channel]] = writers.get(view[channel], 0) + 1
    for view in expected.values():
        for channel in ("stdout", "stderr"):
            if writers.get(view.get(channel), 0) > 1:
                view[f"{channel}_maxbytes"] = 0

    code, out, err = taskmaster("--check", "-c", path)
    check(code == 0, f"taskmaster --check -c {name}: exit {code}: {err}")
    check(out.splitlines() == sorted(expected), f"{name}: --check printed {out.splitlines()}, "
                                                f"supervisord runs {sorted(expected)}")
    problems = []
    wanted = WARNINGS.get(name, [])
    for where, fragments in wanted:
        if find_message(err, VALID, where, fragments) is None:
            problems.append(f"no warning {where}: {' '.join(fragments)}")
    if not wanted and err.strip():
        problems.append(f"warnings where none was expected: {err}")

    programs = converted(path)
    check(sorted(programs) == sorted(expected), f"{name}: convert wrote {list(programs)}, expected {sorted(expected)}")
    for namespec, want in expected.items():
        got = taskmaster_view(programs[namespec])
        for key in want:
            if got.get(key) != want[key]:
                problems.append(f"{namespec}: {key}: taskmaster {got.get(key)!r}, supervisord {want[key]!r}")
    # The start order: supervisord's order of groups (priority, then name), each group's processes together.
    group_of = {p["namespec"]: g["name"] for g in groups for p in g["processes"]}
    order = [group_of[n] for n in programs]
    runs = [g for i, g in enumerate(order) if i == 0 or order[i - 1] != g]
    starts = [g["name"] for g in groups if g["processes"]]
    if runs != starts:
        problems.append(f"groups in the order {runs}, supervisord starts {starts}")
    check(not problems, f"{name}:\n  " + "\n  ".join(problems))


def register_valid(name):
    def valid_file():
        check_valid_file(name)
    valid_file.__name__ = "valid_" + re.sub(r"\W", "_", name.removesuffix(".conf"))
    test(valid_file)


for _name in sorted(n for n in os.listdir(VALID) if n.endswith(".conf")):
    register_valid(_name)


# --- the bad files ----------------------------------------------------------------------------------------------------

BAD_ROWS = {}
for file, verdict, where, *fragments in expectation_rows(os.path.join(BAD, "expectations.txt")):
    BAD_ROWS.setdefault(file, []).append((verdict, where, fragments))


def check_bad_file(name):
    path = os.path.join(BAD, name)
    rows = BAD_ROWS[name]
    code, _, err = reference(path)
    verdict = rows[0][0]
    check((code == 2) == (verdict == "rejects"), f"{name}: supervisord should {verdict.removesuffix('s')} it: "
                                                 f"reference.py exit {code}: {err}")
    code, out, err = taskmaster("--check", "-c", path)
    check(code == 2, f"taskmaster --check -c {name}: exit {code}, expected 2: {out} {err}")
    check(out == "", f"--check printed names for a bad file: {out!r}")
    missing = [f"{where}: {' '.join(fragments)}" for _, where, fragments in rows
               if find_message(err, BAD, where, fragments) is None]
    check(not missing, f"{name}: missing on stderr: {missing}\nstderr:\n{err}")
    # Run for real: the same problems, exit 2. (Its stdin at end of file: a taskmaster that took the file would
    # quit at once, stopping what it started.)
    d = tmpdir()
    code, _, err = taskmaster("-c", path, "--log", os.path.join(d, "log"), "--socket", os.path.join(d, "tm.sock"))
    check(code == 2, f"taskmaster -c {name}: exit {code}, expected 2: {err}")
    missing = [where for _, where, fragments in rows if find_message(err, BAD, where, fragments) is None]
    check(not missing, f"taskmaster -c {name}: missing on stderr: {missing}\nstderr:\n{err}")


def register_bad(name):
    def bad_file():
        check_bad_file(name)
    bad_file.__name__ = "bad_" + re.sub(r"\W", "_", name.removesuffix(".conf"))
    test(bad_file)


for _name in BAD_ROWS:
    register_bad(_name)


@test
def the_supervisord_section_carries_over():
    path = os.path.join(VALID, "servers.conf")
    code, document, err = reference(path)
    check(code == 0, err)
    wanted = document["supervisord"]
    code, out, err = taskmaster("convert", path)
    check(code == 0, f"convert: exit {code}: {err}")
    top = read_yaml(out)
    check(top.get("logfile") == wanted["logfile"], f"logfile: {top.get('logfile')!r}, expected {wanted['logfile']!r}")
    check(size(top.get("logfile_maxbytes", "50MB")) == wanted["logfile_maxbytes"], top)
    check(int(top.get("logfile_backups", "10")) == wanted["logfile_backups"], top)
    # taskmaster's own settings are keys; loglevel blather is taskmaster's debug.
    check(top.get("pidfile") == wanted["pidfile"], top)
    check(top.get("loglevel") == "debug" and top.get("umask") == "002" and top.get("directory") == "/tmp", top)
    check(top.get("minfds") == "2048" and top.get("minprocs") == "300", top)
    # The http servers are keys of their own, as supervisord names its sections; several of one kind, a list.
    local = top.get("unix_http_server", {})
    check(local == {"file": "/tmp/corpus-supervisor.sock", "chmod": "0770", "username": "user",
                    "password": "{SHA}a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"}, top)
    check(top.get("inet_http_server") == [{"port": "127.0.0.1:9001", "username": "user", "password": "123"},
                                          {"port": ":9002"}], top)
    # What YAML cannot say (identifier, supervisorctl's own settings) is named in comments, with its value.
    comments = "\n".join(line for line in out.splitlines() if line.lstrip().startswith("#"))
    for word in ["identifier", "corpus-servers", "[supervisorctl] serverurl"]:
        check(word in comments, f"{word!r} is not in convert's comments:\n{comments}")


@test
def a_relative_path_reads_as_the_absolute_one():
    # %(here)s and [include] globs are the file's directory, whatever the working directory and the path's form.
    for name in ["includes.conf", "expansions.conf"]:
        relative = converted(os.path.join("valid", name))  # from the corpus directory
        check(relative == converted(os.path.join(VALID, name)), f"{name}: valid/{name} reads differently")
        check(any(VALID in json.dumps(options) for options in relative.values()), f"{name}: no absolute %(here)s")


@test
def every_corpus_file_has_its_expectations():
    bad = sorted(n for n in os.listdir(BAD) if n.endswith(".conf"))
    check(bad == sorted(BAD_ROWS), f"bad files without expectations, or expectations without files: "
                                   f"{set(bad) ^ set(BAD_ROWS)}")
    valid = set(n for n in os.listdir(VALID) if n.endswith(".conf"))
    check(set(WARNINGS) <= valid, f"warnings.txt names missing files: {set(WARNINGS) - valid}")


@test
def a_file_without_supervisord_section_is_read_with_a_warning():
    d = tmpdir()
    path = os.path.join(d, "supervisord.conf")
    with open(path, "w") as f:
        f.write("[program:web]\ncommand=/bin/sleep 1000\n")
    code, _, err = reference(path)
    check(code == 2 and "supervisord section" in err, f"supervisord requires [supervisord]: {code} {err}")
    code, out, err = taskmaster("--check", "-c", path)
    check(code == 0 and out == "web\n", f"exit {code}: {out!r} {err}")
    check(re.search(re.escape(path) + r".*supervisord", err), f"no warning about [supervisord]: {err!r}")


@test
def supervisord_conf_is_found_after_the_yaml_locations():
    d = tmpdir()
    yaml_found = [p for p in ("/etc/taskmaster/taskmaster.yml",) if os.path.exists(p)]
    with open(os.path.join(d, "supervisord.conf"), "w") as f:
        f.write("[supervisord]\n\n[program:found_here]\ncommand=/bin/sleep 1000\n")
    env = dict(os.environ, HOME=d, XDG_CONFIG_HOME=os.path.join(d, "xdg"))
    code, out, err = run(["--check"], cwd=d, env=env)
    if not yaml_found:
        check(code == 0 and out == "found_here\n", f"exit {code}: {out!r} {err!r}")
    # A YAML file in the working directory comes first.
    with open(os.path.join(d, "taskmaster.yml"), "w") as f:
        f.write("programs:\n  from_yaml:\n    cmd: /bin/sleep 1000\n")
    code, out, err = run(["--check"], cwd=d, env=env)
    check(code == 0 and out == "from_yaml\n", f"exit {code}: {out!r} {err!r}")


# --- an INI file running ------------------------------------------------------------------------------------------------

def ini(directory, *sections):
    return (f"[supervisord]\nchildlogdir={directory}\n\n"
            f"[unix_http_server]\nfile={directory}/supervisor.sock\n\n" + "\n".join(sections))


def section(name, command, **keys):
    lines = [f"[{name}]", f"command={command}", "startsecs=0"]
    lines += [f"{key}={value}" for key, value in keys.items()]
    return "\n".join(lines) + "\n"


FOREVER = f"{HELPER} --forever"
PRINTENV = (f"{HELPER} --print-env SUPERVISOR_ENABLED --print-env SUPERVISOR_PROCESS_NAME "
            f"--print-env SUPERVISOR_GROUP_NAME --print-env SUPERVISOR_SERVER_URL --print-env LIST --forever")


def running(tm, names):
    for name in names:
        tm.wait_state(name, "RUNNING")
    return {name: tm.pid(name) for name in names}


def write(tm, text):
    with open(tm.config, "w") as f:
        f.write(text)


@test
def an_ini_file_runs_with_supervisord_names():
    d = tmpdir()
    text = ini(d, "[group:g]\nprograms=a,b\npriority=10\n",
               section("program:a", PRINTENV, environment='LIST="x,y"'),
               section("program:b", FOREVER, numprocs=2, process_name="b_%(process_num)d"),
               section("program:solo", PRINTENV, stdout_logfile=f"{d}/solo.out", autostart="true"),
               section("program:idle", FOREVER, autostart="false"))
    tm = Taskmaster(text, directory=d)  # written as taskmaster.yml: the format is known by its content
    names = ["g:a", "g:b_0", "g:b_1", "solo"]
    running(tm, names)
    status = tm.status()
    check(sorted(status) == sorted(names + ["idle"]), status)
    check(status["idle"][0] == "STOPPED", status)
    code, out, err = run(["ctl", "--socket", tm.socket, "status"])
    check(code == 0, f"ctl status: exit {code}: {err}")
    check([line.split()[0] for line in out.splitlines()] == sorted(names + ["idle"]), out)

    # The children's environment, as supervisord sets it; the program's own environment= last.
    sock = f"unix://{d}/supervisor.sock"
    out_text = eventually(lambda: "LIST" in read_file(f"{d}/solo.out") and read_file(f"{d}/solo.out"),
                          message="solo's output")
    for line in ["SUPERVISOR_ENABLED=1", "SUPERVISOR_PROCESS_NAME=solo", "SUPERVISOR_GROUP_NAME=solo",
                 f"SUPERVISOR_SERVER_URL={sock}", "LIST unset"]:
        check(line in out_text, f"{line!r} not in solo's output: {out_text!r}")
    # An AUTO log file: in childlogdir, one fixed name per process and stream.
    auto = os.path.join(d, "g_a-stdout---supervisor.log")
    text_a = eventually(lambda: "LIST=" in read_file(auto) and read_file(auto), message=f"{auto}")
    for line in ["SUPERVISOR_PROCESS_NAME=a", "SUPERVISOR_GROUP_NAME=g", "LIST=x,y"]:
        check(line in text_a, f"{line!r} not in {auto}: {text_a!r}")

    # A group by its name, GROUP:* and GROUP:PROCESS, from `taskmaster ctl` and from the shell.
    before = {name: tm.pid(name) for name in names}
    code, out, err = run(["ctl", "--socket", tm.socket, "stop", "g:*"])
    check(code == 0, f"ctl stop g:*: exit {code}: {out} {err}")
    for name in ["g:a", "g:b_0", "g:b_1"]:
        tm.wait_state(name, "STOPPED")
        check(not alive(before[name]), f"{name} still runs")
    check(tm.state("solo")[0] == "RUNNING" and tm.pid("solo") == before["solo"], "stop g:* touched solo")
    code, out, err = run(["ctl", "--socket", tm.socket, "start", "g"])
    check(code == 0, f"ctl start g: exit {code}: {out} {err}")
    running(tm, ["g:a", "g:b_0", "g:b_1"])
    tm.cmd("stop g:b_1")
    tm.wait_state("g:b_1", "STOPPED")
    check(tm.state("g:b_0")[0] == "RUNNING", "stop g:b_1 stopped g:b_0")
    tm.cmd("start g:b_1")
    tm.wait_state("g:b_1", "RUNNING")


@test
def reloading_an_ini_file_applies_the_difference():
    d = tmpdir()
    v1 = ini(d, section("program:keep", FOREVER),
             section("program:pool", FOREVER, numprocs=2, process_name="p%(process_num)d"),
             section("program:gone", FOREVER),
             section("program:change", FOREVER))
    tm = Taskmaster(v1, directory=d)
    before = running(tm, ["keep", "pool:p0", "pool:p1", "gone", "change"])
    v2 = ini(d, section("program:keep", FOREVER),
             section("program:pool", FOREVER, numprocs=3, process_name="p%(process_num)d"),
             section("program:change", f"{HELPER} --sleep 1 --forever"),
             section("program:new", FOREVER))
    write(tm, v2)
    lines = tm.cmd("reload")
    joined = "\n".join(lines)
    for part in [r"added: .*\bnew\b", r"added: .*pool:p2", r"removed: .*\bgone\b", r"changed \(restarted\): .*change",
                 r"unchanged: .*\bkeep\b"]:
        check(re.search(part, joined), f"/{part}/ not in the reload's report: {lines}")
    after = running(tm, ["keep", "pool:p0", "pool:p1", "pool:p2", "change", "new"])
    for name in ["keep", "pool:p0", "pool:p1"]:
        check(after[name] == before[name], f"{name} was restarted")
    check(after["change"] != before["change"], "a changed program kept its process")
    eventually(lambda: not alive(before["gone"]), message="the removed program to stop")
    check("gone" not in tm.status(), tm.status())

    # By SIGHUP, the same.
    write(tm, v1)
    tm.proc.send_signal(signal.SIGHUP)
    eventually(lambda: "reload (SIGHUP): unchanged" in tm.stderr(), message="the SIGHUP reload's report")
    notice = tm.stderr()
    for part in [r"reload \(SIGHUP\): added: .*\bgone\b", r"reload \(SIGHUP\): removed: .*\bnew\b",
                 r"reload \(SIGHUP\): removed: .*pool:p2", r"reload \(SIGHUP\): unchanged: .*pool:p0"]:
        check(re.search(part, notice), f"/{part}/ not in the SIGHUP notice: {notice}")
    running(tm, ["keep", "pool:p0", "pool:p1", "gone", "change"])
    eventually(lambda: "pool:p2" not in tm.status() and "new" not in tm.status(), message="the removals")

    # A bad INI file changes nothing and says where.
    running_now = {name: tm.pid(name) for name in ["keep", "gone"]}
    write(tm, v1.replace("[program:gone]\ncommand=", "[program:gone]\nautostart=perhaps\ncommand=", 1))
    lines = tm.cmd("reload")
    check(lines and lines[-1].startswith("reload failed: "), lines)
    check(any(line.startswith(tm.config + ":") and "autostart" in line for line in lines), lines)
    check({name: tm.pid(name) for name in ["keep", "gone"]} == running_now, "a bad reload changed something")


if __name__ == "__main__":
    main()
