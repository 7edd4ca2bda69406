"""The Prometheus endpoint of the real daemon: values after a restart and a crash, the HTTP answers, slow clients,
reloads that move it, `promtool check metrics`, and a real Prometheus scraping it.

Needs Debian's prometheus package (promtool and prometheus): `make deps-test` installs it, its service kept from
starting. The test runs its own prometheus on a free loopback port, with its storage in a temporary directory."""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request

from tmtest import Daemon, check, eventually, helper, main, program, test, tmpdir

QUICK = {"autostart": True, "starttime": "100ms"}
FOREVER = helper("--forever")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def configuration(port, *programs):
    return f'metrics: "127.0.0.1:{port}"\nprograms:\n' + "".join(programs)


def web_config(port):
    return configuration(port, program("web", FOREVER, autorestart=True, **QUICK),
                         program('odd"name\\', FOREVER, **QUICK))


def get(port, path="/metrics", method="GET", timeout=5.0):
    """(status, headers, body) of one request on a connection of its own."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


def samples(text):
    """{'name{labels}': value} of the sample lines."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def scrape(port):
    status, headers, body = get(port)
    check(status == 200, f"GET /metrics: {status} {body}")
    check(headers.get("Content-Type") == "text/plain; version=0.0.4; charset=utf-8", headers)
    return body


def web(metric, **extra):
    labels = 'program="web",process="web"' + "".join(f',{k}="{v}"' for k, v in extra.items())
    return f"{metric}{{{labels}}}"


def raw(port, data, timeout=5.0):
    """What the server answers to these bytes, until it closes the connection or stops answering."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        reply = b""
        try:
            while chunk := s.recv(65536):
                reply += chunk
        except socket.timeout:
            pass
        return reply.decode(errors="replace")


def wait_log(daemon, pattern):
    return eventually(lambda: re.search(pattern, daemon.log_text(), re.M), message=f"log line /{pattern}/")


def require(tool):
    path = shutil.which(tool)
    check(path, f"{tool} is not installed: `make deps-test` installs Debian's prometheus package")
    return path


@test
def values_follow_a_restart_and_a_crash():
    port = free_port()
    tm = Daemon(web_config(port))
    tm.start()
    tm.wait_state("web", "RUNNING")
    wait_log(tm, rf"INFO  metrics endpoint listening on http://127\.0\.0\.1:{port}/metrics")
    first = samples(scrape(port))
    check(first[web("taskmaster_process_state")] == 20 and first[web("taskmaster_process_up")] == 1, first)
    check(first[web("taskmaster_process_restarts_total")] == 0, first)
    check(first[web("taskmaster_process_exits_total", expected="false")] == 0, first)
    check(abs(first[web("taskmaster_process_start_time_seconds")] - time.time()) < 60, first)
    check(first["taskmaster_programs"] == 2 and first["taskmaster_processes"] == 2, first)
    check(first['taskmaster_process_up{program="odd\\"name\\\\",process="odd\\"name\\\\"}'] == 1, first)

    # A restart by command: one expected exit, no automatic restart, a new start time.
    tm.command("restart", "web")
    tm.wait_state("web", "RUNNING")
    restarted = samples(scrape(port))
    check(restarted[web("taskmaster_process_exits_total", expected="true")] == 1, restarted)
    check(restarted[web("taskmaster_process_restarts_total")] == 0, restarted)
    check(restarted[web("taskmaster_process_start_time_seconds")] > first[web("taskmaster_process_start_time_seconds")])
    check(restarted["taskmaster_events_published_total"] > first["taskmaster_events_published_total"], restarted)
    check(restarted["taskmaster_metrics_scrapes_total"] == first["taskmaster_metrics_scrapes_total"] + 1, restarted)

    # A crash: an unexpected exit, then autorestart counts one restart.
    pid = tm.status()["web"]["pid"]
    os.kill(pid, signal.SIGKILL)
    eventually(lambda: tm.status()["web"]["pid"] not in (0, pid) and tm.status()["web"]["state"] == "RUNNING",
               message="web to be running again after its crash")
    crashed = samples(scrape(port))
    check(crashed[web("taskmaster_process_exits_total", expected="false")] == 1, crashed)
    check(crashed[web("taskmaster_process_restarts_total")] == 1, crashed)
    check(crashed[web("taskmaster_process_up")] == 1, crashed)

    # Control clients: one connection held open on the control socket.
    with socket.socket(socket.AF_UNIX) as client:
        client.connect(tm.socket)
        eventually(lambda: samples(scrape(port))["taskmaster_control_clients"] == 1, message="one control client")
    tm.command("stop", "web")
    stopped = samples(scrape(port))
    check(stopped[web("taskmaster_process_state")] == 0 and stopped[web("taskmaster_process_up")] == 0, stopped)
    check(stopped[web("taskmaster_process_uptime_seconds")] == 0, stopped)


@test
def promtool_finds_no_problem():
    promtool = require("promtool")
    port = free_port()
    tm = Daemon(web_config(port))
    tm.start()
    tm.wait_state("web", "RUNNING")
    body = scrape(port)
    checked = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, text=True, timeout=30)
    check(checked.returncode == 0 and checked.stdout == "" and checked.stderr == "",
          f"promtool check metrics: {checked.returncode} {checked.stdout} {checked.stderr}\n{body}")


@test
def http_answers_and_slow_clients():
    port = free_port()
    tm = Daemon(web_config(port))
    tm.start()
    status, _, body = get(port, "/")
    check(status == 404 and "/metrics" in body, (status, body))
    status, headers, _ = get(port, "/metrics", method="POST")
    check(status == 405 and headers.get("Allow") == "GET, HEAD", (status, headers))
    status, headers, body = get(port, "/metrics", method="HEAD")
    check(status == 200 and body == "" and int(headers["Content-Length"]) > 1000, (status, headers))
    check(get(port, "/metrics?name[]=x")[0] == 200)
    reply = raw(port, b"NOT HTTP AT ALL\r\n\r\n")
    check(reply.startswith("HTTP/1.1 400 "), reply)
    huge = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"
    reply = raw(port, huge)
    check(reply.startswith("HTTP/1.1 400 "), reply[:200])

    # Keep-alive: several scrapes on one connection.
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    for _ in range(3):
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        check(response.status == 200 and "taskmaster_build_info" in response.read().decode())
    connection.close()

    # Half a request, and a client that sends requests and never reads: neither holds up another scrape.
    with socket.create_connection(("127.0.0.1", port)) as half, socket.create_connection(("127.0.0.1", port)) as deaf:
        half.sendall(b"GET /metr")
        deaf.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        deaf.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 200)
        started = time.monotonic()
        scrape(port)
        check(time.monotonic() - started < 1.0, "a scrape waited for the slow clients")
        check(tm.command("status", "web").startswith("web"), "the control socket waited for the slow clients")


@test
def reload_moves_the_endpoint_and_the_command_line_wins():
    port, other = free_port(), free_port()
    tm = Daemon(web_config(port))
    tm.start()
    scrape(port)
    tm.write(web_config(other))
    tm.command("reload")
    scrape(other)
    try:
        get(port, timeout=2)
        check(False, "the old address still answers after the reload")
    except ConnectionRefusedError:
        pass
    wait_log(tm, rf"INFO  metrics endpoint listening on http://127\.0\.0\.1:{other}/metrics")

    # An address that cannot be bound: the endpoint stays where it was, and the log says so.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        tm.write(web_config(busy))
        tm.command("reload")
        wait_log(tm, rf"WARN  metrics endpoint stays on 127\.0\.0\.1:{other}: cannot listen on 127\.0\.0\.1:{busy}: "
                    r"Address already in use")
        scrape(other)

    # Without `metrics`: closed.
    tm.write("programs:\n" + program("web", FOREVER, autorestart=True, **QUICK))
    tm.command("reload")
    wait_log(tm, rf"INFO  metrics endpoint closed \(was on 127\.0\.0\.1:{other}\)")
    tm.command("shutdown")
    tm.wait_gone()

    # --metrics wins over the configuration.
    chosen = free_port()
    cli = Daemon(web_config(port))
    cli.start(["-c", cli.config, "--daemon", "--socket", cli.socket, "--pidfile", cli.pidfile, "--log", cli.log,
               "--metrics", str(chosen)])
    scrape(chosen)
    wait_log(cli, rf"INFO  metrics endpoint listening on http://127\.0\.0\.1:{chosen}/metrics")


def prometheus_query(port, query):
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)["data"]["result"]
    except OSError:
        return None  # not listening yet


@test
def prometheus_scrapes_a_restarted_program():
    binary = require("prometheus")
    port, prometheus_port = free_port(), free_port()
    tm = Daemon(web_config(port))
    tm.start()
    tm.wait_state("web", "RUNNING")
    pid = tm.status()["web"]["pid"]
    os.kill(pid, signal.SIGKILL)
    eventually(lambda: tm.status()["web"]["restarts"] == 1 and tm.status()["web"]["state"] == "RUNNING",
               message="web restarted after its crash")

    work = tmpdir()
    config = os.path.join(work, "prometheus.yml")
    with open(config, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                "scrape_configs:\n  - job_name: taskmaster\n"
                f"    static_configs:\n      - targets: ['127.0.0.1:{port}']\n")
    log = open(os.path.join(work, "prometheus.log"), "w")
    server = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={work}/data",
                               f"--web.listen-address=127.0.0.1:{prometheus_port}"],
                              stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=work)
    try:
        query = 'taskmaster_process_restarts_total{job="taskmaster",program="web"}'
        result = eventually(lambda: prometheus_query(prometheus_port, query), timeout=60, interval=0.5,
                            message=f"Prometheus to have {query}")
        check(len(result) == 1, result)
        # `process`, not `instance`: Prometheus' own `instance` label names the target.
        check(result[0]["metric"]["process"] == "web" and result[0]["value"][1] == "1", result)
        up = prometheus_query(prometheus_port, 'up{job="taskmaster"}')
        check(up and up[0]["value"][1] == "1", f"Prometheus' scrape of taskmaster is not up: {up}")
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
    check(server.returncode == 0, f"prometheus exited {server.returncode}")


if __name__ == "__main__":
    main()
