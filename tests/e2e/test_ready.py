"""Readiness and health checks through the taskmaster binary: a program with `ready: {notify: true}` under a
service manager (taskmaster's own NOTIFY_SOCKET is not the program's, and taskmaster is READY=1 only once the
program is), a notification fd, a health check whose failures restart the program, and configuration errors
with their place.

Environment: TASKMASTER and TM_HELPER, set by tests/meson.build. Python standard library only.
"""

import os
import re
import socket
import subprocess
import time

from tmtest import TASKMASTER, Taskmaster, check, config, ctl, eventually, helper, main, program, terminate, test, tmpdir


@test
def notify_readiness_under_a_service_manager():
    manager = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    address = os.path.join(tmpdir(), "manager.sock")
    manager.bind(address)
    manager.settimeout(0.05)
    got = []

    def read():
        while True:
            try:
                got.append((time.monotonic(), manager.recv(4096).decode()))
            except socket.timeout:
                return

    started = time.monotonic()
    tm = Taskmaster(config(
        program("db", helper("--print-env", "NOTIFY_SOCKET", "--sd-notify", "'STATUS=loading tables'", "--sleep",
                             "700", "--sd-notify", "READY=1", "--forever"),
                autostart=True, starttime=0, ready={"notify": "true", "timeout": "10s"})),
        args=["--no-shell"], env=dict(os.environ, NOTIFY_SOCKET=address))
    try:
        ready_at = eventually(lambda: read() or next((t for t, m in got if "READY=1" in m), None), 10, 0,
                              f"READY=1 from taskmaster; got {got}")
        check(ready_at - started >= 0.6, f"taskmaster READY=1 after {ready_at - started:.2f} s, before db's READY=1")
        code, out, _ = ctl(tm.socket, "status", "db")
        check(code == 0 and re.match(r"db\s+RUNNING", out), out)
        code, out, _ = ctl(tm.socket, "tail", "db")
        socket_line = re.search(r"NOTIFY_SOCKET=(\S+)", out)
        check(code == 0 and socket_line and socket_line.group(1) != address and socket_line.group(1).startswith("@"),
              f"db's NOTIFY_SOCKET is taskmaster's own (an abstract name), not the manager's: {out}")
        check(not any("loading tables" in m for _, m in got), f"db's STATUS= reached the manager: {got}")
        terminate(tm)
    finally:
        manager.close()


@test
def fd_readiness_and_a_failing_health_check_restart_the_program():
    directory = tmpdir()
    flag = os.path.join(directory, "healthy")
    open(flag, "w").close()
    tm = Taskmaster(config(
        program("db", helper("--sleep", "300", "--write-fd", "4", "up", "--forever"), autostart=True,
                ready={"fd": "4", "timeout": "10s"},
                healthcheck={"exec": f"test -f {flag}", "interval": "200ms", "timeout": "2s", "retries": "2"})))
    tm.wait_state("db", "RUNNING")
    pid = tm.pid("db")
    os.remove(flag)
    eventually(lambda: tm.pid("db") not in (0, pid), 15, 0.1, "db restarted once unhealthy")
    tm.wait_state("db", "RUNNING")  # ready again by its fd: restarts go on while the check fails
    terminate(tm)


@test
def configuration_errors_name_the_place_and_suggest():
    path = os.path.join(tmpdir(), "taskmaster.yml")
    with open(path, "w") as f:
        f.write("programs:\n  db:\n    cmd: /bin/true\n    ready: {tcp: \"localhost:5432\", timout: 5s}\n"
                "    healthcheck: {http: localhost/health}\n")
    done = subprocess.run([TASKMASTER, "--check", "-c", path], capture_output=True, text=True, timeout=60)
    check(done.returncode != 0, done)
    check(f"{path}:4:36: program 'db': ready: unknown key 'timout' (did you mean 'timeout'?)" in done.stderr, done.stderr)
    check(f"{path}:5:18: program 'db': healthcheck: http: expected a URL starting with http:// or https://, "
          "got 'localhost/health'" in done.stderr, done.stderr)


if __name__ == "__main__":
    main()
