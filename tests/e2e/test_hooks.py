"""Hooks with a real daemon: an exec hook's environment and stdin, a webhook received by an HTTP server of the test,
syslog lines on a datagram socket of the test, mail through a fake sendmail, rate limiting in a crash loop, a hook
that hangs killed at its timeout while supervision goes on, and a reload that changes the hooks."""

import http.server
import json
import os
import re
import socket
import threading
import time

from tmtest import Daemon, Taskmaster, alive, check, config, eventually, helper, main, program, quote, read_file, test

# Runs 300 ms, then exits with 3: RUNNING, then an unexpected exit (EXITED).
SHORT = helper("--sleep", "300", "--exit", "3")
FOREVER = helper("--forever")
# Fails at once, every time: BACKOFF, ..., FATAL.
CRASH = helper("--exit", "1")


def hooks(*items):
    return "hooks:\n" + "".join(items)


def hook(on, **options):
    """YAML for one hook; a value that is a dict is written as a flow map."""
    lines = [f"  - on: [{', '.join(on)}]"]
    for key, value in options.items():
        if isinstance(value, dict):
            lines.append(f"    {key}: {{{', '.join(f'{k}: {quote(v)}' for k, v in value.items())}}}")
        else:
            lines.append(f"    {key}: {quote(value)}")
    return "\n".join(lines) + "\n"


def lines_of(path):
    return [line for line in read_file(path).splitlines() if line]


def json_lines(path):
    return [json.loads(line) for line in lines_of(path)]


@test
def exec_hook_gets_the_event_in_its_environment_and_as_json_on_stdin():
    d = Daemon("")
    env_file, json_file, life = d.path("env"), d.path("event.json"), d.path("life")
    d.write(config(program("web", SHORT, autostart=True, starttime="100ms", autorestart="never", exitcodes=[0]))
            + hooks(hook(["unexpected_exit"], exec=f"env > {env_file}; cat > {json_file}"),
                    hook(["taskmaster_started", "TASKMASTER_STOPPING"],
                         exec=f"echo $TASKMASTER_EVENT >> {life}")))
    d.start()
    eventually(lambda: os.path.exists(json_file) and read_file(json_file).endswith("\n"), 10, message="the exec hook")
    env = dict(line.split("=", 1) for line in lines_of(env_file) if "=" in line)
    for key, value in {"TASKMASTER_EVENT": "unexpected_exit", "TASKMASTER_PROGRAM": "web", "TASKMASTER_PROCESS": "web",
                       "TASKMASTER_INSTANCE": "0", "TASKMASTER_FROM": "RUNNING", "TASKMASTER_TO": "EXITED",
                       "TASKMASTER_EXIT_CODE": "3", "TASKMASTER_SUPPRESSED": "0"}.items():
        check(env.get(key) == value, f"{key}={env.get(key)!r}, expected {value!r}")
    check(env.get("TASKMASTER_PID", "").isdigit(), env.get("TASKMASTER_PID"))
    check("TASKMASTER_EXIT_SIGNAL" not in env, env)
    check("PATH" in env, "taskmaster's own environment is inherited")
    event = json.loads(read_file(json_file))
    check(event["event"] == "unexpected_exit" and event["program"] == "web" and event["instance"] == "web", event)
    check(event["from"] == "RUNNING" and event["to"] == "EXITED" and event["exit_code"] == 3, event)
    check(event["exit_signal"] is None and event["expected"] is False and event["suppressed"] == 0, event)
    check(event["pid"] == int(env["TASKMASTER_PID"]), event)
    check(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", event["time"]), event["time"])
    check(lines_of(life) == ["taskmaster_started"], lines_of(life))
    d.command("shutdown")
    d.wait_gone()
    check(lines_of(life) == ["taskmaster_started", "taskmaster_stopping"], lines_of(life))


class Recorder(http.server.BaseHTTPRequestHandler):
    received = []
    status = 200

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        Recorder.received.append((self.path, self.headers.get("Content-Type"), body.decode()))
        self.send_response(Recorder.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@test
def webhook_posts_the_event_and_says_when_it_fails():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))
    nobody = refused.getsockname()[1]
    refused.close()
    try:
        Recorder.received, Recorder.status = [], 200
        port = server.server_address[1]
        d = Daemon(config(program("web", FOREVER, autostart=True, starttime="100ms"))
                   + hooks(hook(["RUNNING"], webhook=f"http://127.0.0.1:{port}/alerts", rate_limit="0s"),
                           hook(["RUNNING"], webhook={"url": f"http://127.0.0.1:{nobody}/x", "timeout": "2s"})))
        d.start()
        eventually(lambda: Recorder.received, 10, message="the webhook's POST")
        path, content_type, body = Recorder.received[0]
        check(path == "/alerts" and content_type == "application/json", (path, content_type))
        event = json.loads(body)
        check(event["event"] == "RUNNING" and event["program"] == "web" and event["from"] == "STARTING", event)
        d.command("status")
        eventually(lambda: re.search(rf"WARN  hook 2 \(webhook\) for web RUNNING: connect to 127\.0\.0\.1:{nobody}: "
                                     r"Connection refused", d.log_text()), 10, message="the refused webhook logged")
        # A non-2xx answer is a failure, logged with its status.
        Recorder.status = 503
        d.command("restart", "web")
        eventually(lambda: "hook 1 (webhook) for web RUNNING: answered 503" in d.log_text(), 10,
                   message="the 503 logged")
    finally:
        server.shutdown()
        server.server_close()


@test
def syslog_lines_reach_the_socket_and_a_missing_socket_is_said_once():
    d = Daemon("")
    path = d.path("log.sock")
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sink.bind(path)
    sink.settimeout(10)
    try:
        d.write(config(program("web", FOREVER, autostart=True, starttime="100ms"))
                + hooks(hook(["RUNNING", "STOPPED"], syslog={"socket": path, "facility": "local0", "tag": "tmtest"}),
                        hook(["RUNNING", "STOPPED"], syslog={"socket": d.path("missing.sock")})))
        d.start()
        line = sink.recv(4096).decode()
        check(re.match(r"<133>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ tmtest\[\d+\]: web RUNNING "
                       r"\(from STARTING to RUNNING\)", line), line)
        check(f"[{d.pid}]" in line, f"the pid is taskmaster's {d.pid}: {line}")
        d.command("stop", "web")
        line = sink.recv(4096).decode()
        check(line.startswith("<133>") and "web STOPPED" in line, line)
        missing = re.findall(r"hook 2 \(syslog\): send to \S+missing\.sock: No such file or directory", d.log_text())
        check(len(missing) == 1, f"said {len(missing)} times: {d.log_text()}")
    finally:
        sink.close()


@test
def email_goes_through_sendmail():
    d = Daemon("")
    mail, sendmail = d.path("mail"), d.path("sendmail")
    with open(sendmail, "w") as f:
        f.write(f"#!/bin/sh\necho \"argv: $*\" > {mail}\ncat >> {mail}\n")
    os.chmod(sendmail, 0o755)
    d.write(config(program("web", CRASH, autostart=True, starttime="1s", startretries=1, restart_delay="50ms"))
            + hooks(hook(["FATAL"], email={"to": "ops@example.com", "from": "tm@example.com", "sendmail": sendmail})))
    d.start()
    eventually(lambda: "reason:" in read_file(mail), 10, message="the mail")
    text = read_file(mail)
    check(text.startswith("argv: -t -oi\nTo: ops@example.com\nFrom: tm@example.com\n"
                          "Subject: taskmaster: web is FATAL on "), text)
    check("\n\nevent: FATAL\nprogram: web\ninstance: web\nfrom: STARTING\nto: FATAL\n" in text, text)
    check("\nreason: exited too quickly (exit status 1)" in text, text)


@test
def a_crash_loop_is_rate_limited_and_its_last_event_says_how_many_were_suppressed():
    d = Daemon("")
    out = d.path("events")
    # A BACKOFF at once, then one a second (the retries' delay), then FATAL after the third retry: about 3 s.
    d.write(config(program("web", CRASH, autostart=True, starttime="1s", startretries=3, restart_delay="50ms",
                           restart_delay_max="100ms"))
            + hooks(hook(["BACKOFF", "FATAL"], exec=f"cat >> {out}", rate_limit="6s")))
    d.start()
    d.wait_state("web", "FATAL")
    eventually(lambda: len(lines_of(out)) == 2, 10, message="the second, delayed delivery")
    time.sleep(1)  # nothing more comes
    events = json_lines(out)
    check(len(events) == 2, events)
    check(events[0]["event"] == "BACKOFF" and events[0]["suppressed"] == 0, events[0])
    # The first BACKOFF at once; the FATAL at the end of the interval, for itself and the 2 BACKOFFs in between.
    check(events[1]["event"] == "FATAL" and events[1]["suppressed"] == 2, events[1])
    check(events[1]["time"] > events[0]["time"], events)
    check(re.search(r"INFO  1 hook configured", d.log_text()), d.log_text())


@test
def a_hanging_hook_is_killed_at_its_timeout_while_supervision_goes_on():
    d = Daemon("")
    pidfile = d.path("hook.pid")
    d.write(config(program("web", FOREVER, autostart=True, starttime="100ms"))
            + hooks(hook(["RUNNING"], exec=f"echo $$ > {pidfile}; trap '' TERM; sleep 30 & wait; sleep 30",
                         timeout="1s")))
    d.start()
    eventually(lambda: read_file(pidfile).strip(), 10, message="the hook to start")
    hook_pid = int(read_file(pidfile))
    started = time.monotonic()
    check(d.status()["web"]["state"] == "RUNNING")
    check(time.monotonic() - started < 1.0, "status waited for the hook")
    check(alive(hook_pid), "the hook ended before its timeout")
    eventually(lambda: "hook 1 (exec) for web RUNNING: timed out after 1s" in d.log_text(), 10,
               message="the timeout logged")
    eventually(lambda: not alive(hook_pid), 5, message="the hook to be killed")
    check(d.status()["web"]["state"] == "RUNNING")


@test
def reload_applies_changed_hooks():
    d = Daemon("")
    first, second = d.path("first"), d.path("second")
    web = program("web", FOREVER, autostart=True, starttime="100ms")
    d.write(config(web) + hooks(hook(["RUNNING"], exec=f"echo $TASKMASTER_EVENT >> {first}")))
    d.start()
    eventually(lambda: lines_of(first) == ["RUNNING"], 10, message="the first hook")
    d.write(config(web) + hooks(hook(["running", "reload"], exec=f"echo $TASKMASTER_EVENT >> {second}")))
    d.command("reload")
    eventually(lambda: lines_of(second) == ["reload"], 10, message="the new hook's reload event")
    d.command("restart", "web")
    eventually(lambda: lines_of(second) == ["reload", "RUNNING"], 10, message="the new hook")
    time.sleep(0.5)
    check(lines_of(first) == ["RUNNING"], lines_of(first))
    check("INFO  1 hook configured" in d.log_text(), d.log_text())


@test
def a_reload_typed_at_the_shell_fires_reload():
    tm = Taskmaster("programs: {}\n")
    out = os.path.join(os.path.dirname(tm.config), "reloads")
    with open(tm.config, "w") as f:
        f.write(config(program("web", FOREVER)) + hooks(hook(["reload"], exec=f"echo $TASKMASTER_REASON >> {out}")))
    tm.cmd("reload")
    eventually(lambda: lines_of(out) == ["configuration reloaded (the shell)"], 10, message="the reload hook")


@test
def log_syslog_sends_the_event_log_to_dev_log():
    # /dev/log is the system's: the test borrows it only where there is none (a container), and gives it back.
    if os.path.exists("/dev/log") or not os.access("/dev", os.W_OK):
        print("skipped: /dev/log exists or /dev is not writable")
        return
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sink.bind("/dev/log")
    sink.settimeout(10)
    try:
        d = Daemon(config(program("web", FOREVER, autostart=True, starttime="100ms")))
        d.start(["-c", d.config, "--daemon", "--socket", d.socket, "--pidfile", d.pidfile, "--log", "syslog"])
        lines = []
        while not any("web RUNNING" in line for line in lines):
            lines.append(sink.recv(4096).decode())
        check(all(re.match(r"<\d+>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ taskmaster\[\d+\]: ", line) for line in lines),
              lines)
        check(any(line.startswith("<30>") and " started, pid " in line for line in lines), lines)  # daemon.info
        check(not os.path.exists(d.path("syslog")) and not os.path.exists(d.log), "a log file was written")
        check("web RUNNING" in d.command("maintail"), "maintail shows the recent lines")
    finally:
        sink.close()
        os.unlink("/dev/log")


@test
def hook_mistakes_stop_the_start_with_their_place():
    d = Daemon(config(program("web", FOREVER)) + hooks(hook(["FATL"], exec="true")))
    err = d.start(expect=2)
    check("taskmaster.yml:5:10: hooks[1]: on: unknown event 'FATL' (did you mean 'FATAL'?)" in err, err)


if __name__ == "__main__":
    main()
