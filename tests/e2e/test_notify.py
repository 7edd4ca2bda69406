"""sd_notify: a datagram socket bound by the test is taskmaster's NOTIFY_SOCKET, as systemd's would be. It gets
READY=1 once the autostart programs are up or failed, STATUS= kept current but rate-limited, RELOADING=1 and
READY=1 around a reload, STOPPING=1, and WATCHDOG=1 at half of WATCHDOG_USEC; programs do not see NOTIFY_SOCKET.

Environment: TASKMASTER and TM_HELPER, set by tests/meson.build. Python standard library only.
"""

import os
import signal
import socket
import time

from tmtest import Taskmaster, check, config, ctl, eventually, helper, main, program, terminate, test, tmpdir


class Manager:
    """The service manager's end: a datagram socket, and every message it got with the time it came."""

    def __init__(self, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"taskmaster-test-{os.getpid()}-{time.monotonic_ns()}"
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.address = os.path.join(tmpdir(), "notify.sock")
            self.sock.bind(self.address)
        self.sock.settimeout(0.05)
        self.messages = []  # (monotonic time, {key: value})

    def read(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                return
            fields = dict(line.split("=", 1) for line in data.decode().split("\n") if line)
            self.messages.append((time.monotonic(), fields))

    def wait(self, key, value=None, timeout=10.0, after=0.0):
        """The first message since `after` (a monotonic time) with key (=value); (time, fields)."""
        def found():
            self.read()
            return next(((t, m) for t, m in self.messages
                         if t >= after and key in m and (value is None or m[key] == value)), None)
        return eventually(found, timeout, 0.0, f"{key}={value or '*'} on NOTIFY_SOCKET; got {self.without_watchdog()}")

    def without_watchdog(self):
        return [m for _, m in self.messages if "WATCHDOG" not in m]

    def close(self):
        self.sock.close()


def start(manager, config_text, watchdog_usec=None):
    env = dict(os.environ, NOTIFY_SOCKET=manager.address)
    if watchdog_usec:
        env["WATCHDOG_USEC"] = str(watchdog_usec)
    started = time.monotonic()
    return Taskmaster(config_text, args=["--no-shell"], env=env), started


@test
def ready_comes_once_the_autostart_programs_are_up_or_failed_then_status_reload_and_stopping():
    manager = Manager()
    tm, started = start(manager, config(
        program("slow", helper("--print-env", "NOTIFY_SOCKET", "--print-env", "WATCHDOG_USEC", "--forever"),
                autostart=True, starttime=0.6),
        program("broken", "/nonexistent/taskmaster-notify", autostart=True, startretries=0),
        program("manual", helper("--forever"))))
    try:
        ready_at, ready = manager.wait("READY", "1")
        check(ready_at - started >= 0.5, f"READY=1 after {ready_at - started:.2f} s, before slow's starttime (0.6 s)")
        check(ready.get("STATUS") == "1 RUNNING, 1 FATAL, 1 STOPPED", ready)
        check(sum("READY" in m for m in manager.without_watchdog()) == 1, manager.without_watchdog())
        # The programs inherit neither NOTIFY_SOCKET nor the watchdog's variables.
        code, out, _ = ctl(tm.socket, "tail", "slow")
        check(code == 0 and "NOTIFY_SOCKET unset" in out and "WATCHDOG_USEC unset" in out, out)

        # STATUS= follows the states.
        ctl(tm.socket, "stop", "slow")
        manager.wait("STATUS", "1 FATAL, 2 STOPPED", timeout=5)

        # A reload by SIGHUP, as systemctl reload sends it, and one over the control socket.
        for reload in (lambda: tm.proc.send_signal(signal.SIGHUP), lambda: ctl(tm.socket, "reload")):
            before = time.monotonic()
            reload()
            reloading_at, reloading = manager.wait("RELOADING", "1", after=before)
            usec = int(reloading["MONOTONIC_USEC"])
            check(abs(usec / 1e6 - time.clock_gettime(time.CLOCK_MONOTONIC)) < 5, reloading)
            done_at, _ = manager.wait("READY", "1", after=reloading_at)
            check(done_at >= reloading_at, "READY=1 before RELOADING=1")

        terminate(tm)
        manager.wait("STOPPING", "1")
    finally:
        manager.close()


@test
def watchdog_pings_at_half_of_watchdog_usec_from_the_loop():
    manager = Manager(abstract=True)  # an abstract socket: NOTIFY_SOCKET=@name
    tm, _ = start(manager, config(program("idle", helper("--forever"), autostart=True, starttime=0)),
                  watchdog_usec=200_000)
    try:
        manager.wait("READY", "1")
        first, _ = manager.wait("WATCHDOG", "1")
        time.sleep(1.0)
        manager.read()
        pings = [t for t, m in manager.messages if m.get("WATCHDOG") == "1" and t >= first]
        check(6 <= len(pings) <= 16, f"{len(pings)} WATCHDOG=1 in about a second at a 100 ms period")
        # A stopped loop (SIGSTOP) sends nothing: that is what the watchdog is for.
        tm.proc.send_signal(signal.SIGSTOP)
        time.sleep(0.1)
        manager.read()
        stopped = time.monotonic()
        time.sleep(0.5)
        manager.read()
        check(not [t for t, m in manager.messages if "WATCHDOG" in m and t > stopped], "pings from a stopped loop")
        tm.proc.send_signal(signal.SIGCONT)
        manager.wait("WATCHDOG", "1", after=time.monotonic())
        terminate(tm)
    finally:
        manager.close()


@test
def status_is_rate_limited_in_a_crash_loop():
    manager = Manager()
    tm, _ = start(manager, config(
        program("flappy", helper("--exit", "1"), autostart=True, starttime=0, autorestart="always",
                restart_delay=0.05, restart_delay_factor=1),
        program("steady", helper("--forever"), autostart=True, starttime=0)))
    try:
        manager.wait("READY", "1")
        since = time.monotonic()
        time.sleep(2.5)
        manager.read()
        statuses = [m["STATUS"] for t, m in manager.messages if "STATUS" in m and t >= since]
        spawned = tm.log_text().count("flappy spawned")
        check(spawned >= 15, f"flappy was spawned {spawned} times only")
        check(1 <= len(statuses) <= 4, f"{len(statuses)} STATUS= in 2.5 s of a crash loop: {statuses}")
        terminate(tm)
    finally:
        manager.close()


@test
def without_notify_socket_nothing_is_sent_and_nothing_changes():
    manager = Manager()
    tm = Taskmaster(config(program("idle", helper("--forever"), autostart=True, starttime=0)), args=["--no-shell"],
                    env={k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"})
    try:
        tm.wait_log(r"idle RUNNING, pid")
        time.sleep(0.3)
        manager.read()
        check(not manager.messages, manager.messages)
        terminate(tm)
    finally:
        manager.close()


if __name__ == "__main__":
    main()
