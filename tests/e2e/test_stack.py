"""A stack whose programs depend on each other, with real processes: a database that is ready only after a
while, a one-shot migration that must complete successfully, a web server that needs both (issue: start
order, readiness and health checks). examples/stack.yml is the same stack for people to run."""

import os
import socket
import subprocess
import time

from tmtest import TASKMASTER, Daemon, check, eventually, main, read_file, test

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The database: sleeps, then binds its port, says so on stdout and records when; on SIGTERM, records that.
DB = """\
import signal, socket, sys, time
port, stamps = int(sys.argv[1]), sys.argv[2]
def stopped(*_):
    open(stamps + "/db.stopped", "w").write(repr(time.time()))
    sys.exit(0)
signal.signal(signal.SIGTERM, stopped)
time.sleep(0.8)
server = socket.create_server(("127.0.0.1", port))
open(stamps + "/db.ready", "w").write(repr(time.time()))
print("ready to accept connections", flush=True)
while True:
    server.accept()[0].close()
"""

# The migration: fails unless the database accepts connections; records when it ran.
MIGRATE = """\
import socket, sys, time
port, stamps, code = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
socket.create_connection(("127.0.0.1", port), 2).close()
open(stamps + "/migrate.done", "w").write(repr(time.time()))
sys.exit(code)
"""

# The web server: records when it started, and when it was asked to stop.
WEB = """\
import signal, sys, time
stamps = sys.argv[1]
open(stamps + "/web.started", "w").write(repr(time.time()))
def stopped(*_):
    open(stamps + "/web.stopped", "w").write(repr(time.time()))
    time.sleep(0.3)  # a stop that takes a moment: the database must still wait for it
    sys.exit(0)
signal.signal(signal.SIGTERM, stopped)
while True:
    time.sleep(1)
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stack(directory, migration_exit=0):
    for name, text in (("db.py", DB), ("migrate.py", MIGRATE), ("web.py", WEB)):
        with open(os.path.join(directory, name), "w") as f:
            f.write(text)
    port = free_port()
    return f"""\
programs:
  db:
    cmd: "python3 {directory}/db.py {port} {directory}"
    autostart: true
    ready: {{log: "ready to accept connections", timeout: 20s}}
    healthcheck: {{tcp: "127.0.0.1:{port}", interval: 200ms, timeout: 1s, retries: 2}}
  migrate:
    cmd: "python3 {directory}/migrate.py {port} {directory} {migration_exit}"
    starttime: 0
    autorestart: never
    depends_on: [db]
  web:
    cmd: "python3 {directory}/web.py {directory}"
    autostart: true
    starttime: 100ms
    depends_on:
      db: healthy
      migrate: completed_successfully
"""


def stamp(daemon, name):
    text = read_file(daemon.path(name))
    return float(text) if text else None


@test
def web_waits_for_the_database_and_the_migration_then_stops_first():
    d = Daemon("")
    d.write(stack(d.dir))
    d.start()
    # The database needs 0.8 s to be ready: meanwhile web waits, STOPPED, and says for what.
    web = d.status()["web"]
    check(web["state"] == "STOPPED" and "waiting for" in web.get("waiting", ""), web)
    check("waiting for" in d.command("status", "web"), d.command("status", "web"))
    d.wait_state("web", "RUNNING", timeout=20)
    db_ready, migrated, web_started = (stamp(d, n) for n in ("db.ready", "migrate.done", "web.started"))
    check(db_ready and migrated and web_started, (db_ready, migrated, web_started))
    check(db_ready < migrated < web_started, f"order: db ready {db_ready}, migrated {migrated}, web {web_started}")
    check(d.status()["migrate"]["state"] == "EXITED", d.status()["migrate"])
    eventually(lambda: d.status()["db"].get("health") == "healthy", 10, 0.05, "db to be healthy")
    # stop all: web first, and the database only once web is down.
    d.command("stop", "all", timeout=30)
    web_stopped, db_stopped = stamp(d, "web.stopped"), stamp(d, "db.stopped")
    check(web_stopped and db_stopped and web_stopped + 0.25 < db_stopped,
          f"web asked to stop at {web_stopped}, db at {db_stopped}")
    d.command("shutdown")
    d.wait_gone()


@test
def a_failed_migration_keeps_web_from_starting_and_says_why():
    d = Daemon("")
    d.write(stack(d.dir, migration_exit=3))
    d.start()
    # "waiting for db, migrate" names it too while db starts: the failure says "dependency migrate ...".
    eventually(lambda: "dependency migrate" in d.status()["web"].get("waiting", ""), 20, 0.05,
               "web to say the migration failed")
    check(d.status()["web"]["state"] == "STOPPED" and stamp(d, "web.started") is None, d.status()["web"])
    check(d.status()["db"]["state"] == "RUNNING", d.status()["db"])
    # `start web` answers (it does not hang) and fails, naming the dependency.
    code, out, err = d.ctl("start", "web", timeout=30)
    check(code != 0 and "migrate" in out + err, (code, out, err))
    d.command("shutdown")
    d.wait_gone()


@test
def the_example_stack_is_a_valid_configuration():
    p = subprocess.run([TASKMASTER, "--check", "-c", os.path.join(REPO, "examples", "stack.yml")],
                       capture_output=True, text=True, cwd=REPO, timeout=20)
    check(p.returncode == 0 and p.stdout.split() == ["db", "migrate", "web"], (p.returncode, p.stdout, p.stderr))


if __name__ == "__main__":
    main()
