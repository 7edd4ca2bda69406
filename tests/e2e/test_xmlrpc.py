#!/usr/bin/env python3
"""supervisord's XML-RPC interface served by taskmaster on a supervisord.conf's [unix_http_server]: Python's
xmlrpc.client (through supervisor's SupervisorTransport, as supervisorctl and superlance use it) and plain http.client
requests; authentication; the socket's mode and owner; and hostile clients (oversized bodies, half requests, many
connections, XML entity expansion, invalid XML), each while another client's request still gets its answer at once.

XMLRPC_AGAINST=supervisord runs the same tests against supervisord 4.2.5 (to see what the reference does: it fails
the tests of the problems it has, such as the half request that is never dropped or log text XML cannot carry).
"""

import base64
import hashlib
import os
import grp
import pwd
import socket
import subprocess
import sys
import time
import xmlrpc.client

from supervisors import (Side, UnixHTTPConnection, ensure_supervisord, post_rpc, ppid, run_tests, section,
                         supervisord_conf)
from tmtest import HELPER, as_user, check, main, test, tmpdir

AGAINST = os.environ.get("XMLRPC_AGAINST", "taskmaster")
FOREVER = f"{HELPER} --forever"
PROMPT = 2.0  # seconds: "at once", generously, on a loaded 2-CPU machine

PROGRAMS = (
    section("program:web", f"{HELPER} --lines 3 10 out --stderr oops --forever", startsecs=0),
    section("program:pool", FOREVER, numprocs=2, process_name="%(program_name)s_%(process_num)02d", startsecs=0),
    section("program:idle", FOREVER, autostart="false", startsecs=0),
)

# supervisord 4.2.5's system.listMethods(): no method may exist beyond these (none that would run a command).
SUPERVISORD_METHODS = {
    "supervisor." + name for name in (
        "addProcessGroup clearAllProcessLogs clearLog clearProcessLog clearProcessLogs getAPIVersion getAllConfigInfo "
        "getAllProcessInfo getIdentification getPID getProcessInfo getState getSupervisorVersion getVersion readLog "
        "readMainLog readProcessLog readProcessStderrLog readProcessStdoutLog reloadConfig removeProcessGroup restart "
        "sendProcessStdin sendRemoteCommEvent shutdown signalAllProcesses signalProcess signalProcessGroup "
        "startAllProcesses startProcess startProcessGroup stopAllProcesses stopProcess stopProcessGroup tailProcessLog "
        "tailProcessStderrLog tailProcessStdoutLog").split()
} | {"system.listMethods", "system.methodHelp", "system.methodSignature", "system.multicall"}

INFO_KEYS = {"name": str, "group": str, "start": int, "stop": int, "now": int, "state": int, "statename": str,
             "spawnerr": str, "exitstatus": int, "logfile": str, "stdout_logfile": str, "stderr_logfile": str,
             "pid": int, "description": str}


def daemon(*sections, server="", running=("web", "pool:pool_00", "pool:pool_01"), directory=None):
    """The daemon under test on a supervisord.conf of `sections` (PROGRAMS by default), started; its side."""
    if AGAINST == "supervisord":
        ensure_supervisord()
    side = Side(AGAINST, supervisord_conf(*(sections or PROGRAMS), server=server),
                directory or os.path.join(tmpdir(), AGAINST))
    side.start()
    if running:
        side.wait_states({name: "RUNNING" for name in running})
    return side


def fault(call, *args):
    """(faultCode, faultString) of a call that must fault."""
    try:
        value = call(*args)
    except xmlrpc.client.Fault as e:
        return e.faultCode, e.faultString
    raise AssertionError(f"{call} {args} returned {value!r} instead of a fault")


def prompt_status(side, what):
    """Another client's getAllProcessInfo, on a new connection, answers within PROMPT seconds."""
    started = time.monotonic()
    infos = side.proxy().supervisor.getAllProcessInfo()
    took = time.monotonic() - started
    check(took < PROMPT, f"while {what}: getAllProcessInfo took {took:.2f} s")
    check(any(i["name"] == "web" and i["statename"] == "RUNNING" for i in infos), f"while {what}: {infos}")


def http_status(side, method, path, authorization=None):
    """(status, WWW-Authenticate) of one request on a new connection; a stream's body is not read."""
    headers = {"Authorization": authorization} if authorization is not None else {}
    connection = UnixHTTPConnection(side.socket, timeout=10)
    try:
        body = xmlrpc.client.dumps((), "supervisor.getAPIVersion").encode() if method == "POST" else None
        connection.request(method, path, body, {"Content-Type": "text/xml", **headers} if body else headers)
        response = connection.getresponse()
        if response.status != 200 or method == "POST":
            response.read()
        return response.status, response.getheader("WWW-Authenticate")
    finally:
        connection.close()


# --- a script that lists, stops and starts ---------------------------------------------------------------------------

@test
def a_script_lists_stops_and_starts_processes():
    side = daemon()
    server = side.proxy()
    check(server.supervisor.getAPIVersion() == "3.0" and server.supervisor.getVersion() == "3.0",
          "getAPIVersion/getVersion must answer 3.0")
    check(server.supervisor.getState() == {"statecode": 1, "statename": "RUNNING"}, server.supervisor.getState())
    check(server.supervisor.getPID() == side.proc.pid, "getPID is not the daemon's pid")
    infos = server.supervisor.getAllProcessInfo()
    names = [(i["group"], i["name"]) for i in infos]
    check(names == [("idle", "idle"), ("pool", "pool_00"), ("pool", "pool_01"), ("web", "web")], names)
    for info in infos:
        check(set(info) == set(INFO_KEYS), f"keys of {info}")
        for key, kind in INFO_KEYS.items():
            check(type(info[key]) is kind, f"{info['name']}: {key} is {info[key]!r}")
    web = next(i for i in infos if i["name"] == "web")
    check(web["statename"] == "RUNNING" and web["state"] == 20 and ppid(web["pid"]) == side.proc.pid, web)
    check(web["description"].startswith(f"pid {web['pid']}, uptime 0:00:"), web["description"])
    idle = next(i for i in infos if i["name"] == "idle")
    check((idle["statename"], idle["state"], idle["pid"], idle["description"]) == ("STOPPED", 0, 0, "Not started"),
          idle)

    # The same connection for every call (SupervisorTransport keeps it alive).
    check(server.supervisor.stopProcess("web") is True, "stopProcess")
    info = server.supervisor.getProcessInfo("web")
    check(info["statename"] == "STOPPED" and info["pid"] == 0, info)
    check(server.supervisor.startProcess("web") is True, "startProcess")
    info = server.supervisor.getProcessInfo("web")
    check(info["statename"] == "RUNNING" and info["pid"] not in (0, web["pid"]) and ppid(info["pid"]) == side.proc.pid,
          info)
    check(server.supervisor.startProcess("idle", False) is True, "startProcess without waiting")
    side.wait_states({"idle": "RUNNING"})

    results = server.supervisor.stopProcessGroup("pool")
    check(sorted(results, key=lambda r: r["name"]) == [
        {"name": "pool_00", "group": "pool", "status": 80, "description": "OK"},
        {"name": "pool_01", "group": "pool", "status": 80, "description": "OK"}], results)
    check({i["name"]: i["statename"] for i in server.supervisor.getAllProcessInfo() if i["group"] == "pool"}
          == {"pool_00": "STOPPED", "pool_01": "STOPPED"}, "stopProcessGroup did not stop the group")
    results = server.supervisor.startProcessGroup("pool")
    check(sorted(r["name"] for r in results if r["status"] == 80) == ["pool_00", "pool_01"], results)
    check(fault(server.supervisor.startProcess, "web") == (60, "ALREADY_STARTED: web"), "start of a running one")
    check(fault(server.supervisor.stopProcess, "pool:nosuch") == (10, "BAD_NAME: pool:nosuch"), "a missing name")

    # system.listMethods: supervisord's, at most.
    methods = set(server.system.listMethods())
    check(methods <= SUPERVISORD_METHODS, f"methods supervisord does not have: {methods - SUPERVISORD_METHODS}")
    for name in ["supervisor.getAllProcessInfo", "supervisor.startProcess", "system.multicall"]:
        check(name in methods, f"{name} not listed")


@test
def a_plain_http_post_and_keep_alive():
    side = daemon(running=("web",))
    body = ("<?xml version='1.0'?>\n<methodCall><methodName>supervisor.getProcessInfo</methodName><params>"
            "<param><value>web</value></param></params></methodCall>")  # an untyped value is a string
    connection = UnixHTTPConnection(side.socket, timeout=10)
    try:
        for _ in range(3):  # one connection, three requests
            connection.request("POST", "/RPC2", body.encode(), {"Content-Type": "text/xml"})
            response = connection.getresponse()
            data = response.read()
            check(response.status == 200 and response.reason == "OK", f"{response.status} {response.reason}")
            check(response.getheader("Content-Type", "").startswith("text/xml"), response.getheaders())
            check(int(response.getheader("Content-Length", "-1")) == len(data), response.getheaders())
            (info,), _ = xmlrpc.client.loads(data)
            check(info["name"] == "web" and info["statename"] == "RUNNING", info)
        # GET on /RPC2 is refused, an unknown path is 404; the connection is still usable after neither.
        connection.request("GET", "/RPC2")
        response = connection.getresponse()
        response.read()
        check(400 <= response.status < 500, f"GET /RPC2: {response.status}")
    finally:
        connection.close()
    status, _, _ = post_rpc(side.socket, "supervisor.getAPIVersion")
    check(status == 200, status)
    status, _ = http_status(side, "GET", "/no/such/path")
    check(status == 404, f"GET /no/such/path: {status}")


@test
def multicall_returns_raw_values_and_faults_in_order():
    side = daemon(running=("web",))
    results = side.proxy().system.multicall([
        {"methodName": "supervisor.getAPIVersion", "params": []},
        {"methodName": "supervisor.getProcessInfo", "params": ["missing"]},
        {"methodName": "system.multicall", "params": [[]]},
        {"params": []},
        {"methodName": "supervisor.stopProcess", "params": ["web"]},
        {"methodName": "supervisor.getProcessInfo", "params": ["web"]},
        {"methodName": "supervisor.nosuch", "params": []},
    ])
    check(len(results) == 7, results)
    check(results[0] == "3.0", results[0])
    check(results[1] == {"faultCode": 10, "faultString": "BAD_NAME: missing"}, results[1])
    check(isinstance(results[2], dict) and results[2].get("faultCode") == 2, f"a nested multicall: {results[2]}")
    check(isinstance(results[3], dict) and results[3].get("faultCode") == 2, f"no methodName: {results[3]}")
    check(results[4] is True, results[4])
    check(isinstance(results[5], dict) and results[5].get("statename") == "STOPPED", f"the stop waited: {results[5]}")
    check(results[6] == {"faultCode": 1, "faultString": "UNKNOWN_METHOD"}, results[6])


@test
def logtail_streams_the_log_over_http():
    side = daemon(running=("web",))
    deadline = time.monotonic() + 10
    while "out 2" not in side.proxy().supervisor.readProcessStdoutLog("web", 0, 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    for path, text in [("/logtail/web", b"out 2...."), ("/logtail/web/stdout", b"out 0"),
                       ("/logtail/web/stderr", b"oops"), ("/mainlogtail", b"")]:
        connection = UnixHTTPConnection(side.socket, timeout=10)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            check(response.status == 200, f"GET {path}: {response.status}")
            check(response.getheader("Transfer-Encoding") == "chunked" and response.getheader("Content-Length") is None,
                  f"GET {path}: {response.getheaders()}")
            got = b""
            while text not in got or not got:
                got += response.read1(65536)  # the stream never ends: read what has come
            check(text in got, f"GET {path}: {got!r}")
        finally:
            connection.close()
    for path in ["/logtail/missing", "/logtail/web/nosuchchannel"]:
        status, _ = http_status(side, "GET", path)
        check(status == 404, f"GET {path}: {status}")


@test
def log_text_xml_cannot_carry_never_breaks_the_client():
    # ESC, NUL, a lone byte that is not UTF-8: supervisord sends them as they are and supervisorctl's XML parser
    # then fails (supervisord's issue #85); taskmaster replaces them.
    printf = "printf 'red \\033[31mtext\\033[0m nul \\000 byte \\377 end\\n'; exec sleep 1000"
    side = daemon(section("program:esc", f"/bin/sh -c \"{printf}\"", startsecs=0), running=("esc",))
    server = side.proxy().supervisor
    deadline = time.monotonic() + 10
    while True:
        try:
            text = server.readProcessStdoutLog("esc", 0, 0)
        except Exception as e:  # the failure this test is about: any exception of the client
            raise AssertionError(f"readProcessStdoutLog: {type(e).__name__}: {e}")
        if "end" in text or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    check("red" in text and "text" in text and "end" in text, repr(text))
    tail, _, _ = server.tailProcessStdoutLog("esc", 0, 100)
    check("end" in tail, repr(tail))
    code, out, err = side.ctl("tail", "esc")
    check(code == 0 and "end" in out, f"supervisorctl tail esc: {code} {out!r} {err!r}")


# --- no method runs what the configuration did not define ------------------------------------------------------------

@test
def nothing_runs_but_what_the_configuration_defines():
    side = daemon(running=("web",))
    marker = side.path("ran")
    command = f"/bin/touch {marker}"
    server = side.proxy()
    check(fault(server.supervisor.startProcess, command)[0] == 10, "startProcess of a command line")
    check(fault(server.supervisor.startProcess, "/bin/touch")[0] == 10, "startProcess of a path")
    check(fault(server.supervisor.startProcessGroup, command)[0] == 10, "startProcessGroup of a command line")
    check(fault(server.supervisor.addProcessGroup, command)[0] == 10, "addProcessGroup of a command line")
    check(fault(server.supervisor.addProcessGroup, "touch")[0] == 10, "addProcessGroup of a name never configured")
    check(fault(server.supervisor.signalProcess, "web", f"KILL; {command}")[0] == 11, "a signal with a command")
    check(fault(server.supervisor.getProcessInfo, "../../bin/sh")[0] == 10, "a path as a name")
    for method in ["supervisor._update", "supervisor.__init__", "supervisor.a.b", "os.system", "system.exec",
                   "supervisor.addProgramToGroup", "twiddler.addProgramToGroup", "getAPIVersion"]:
        check(fault(getattr(server, method), command) == (1, "UNKNOWN_METHOD"), f"{method}: not UNKNOWN_METHOD")
    check(fault(server.supervisor.getProcessInfo) == (2, "INCORRECT_PARAMETERS"), "no argument")
    check(fault(server.supervisor.getProcessInfo, "web", "extra") == (2, "INCORRECT_PARAMETERS"), "one too many")
    # reloadConfig reads the file again and applies nothing: a program written into it since does not run.
    with open(side.conf, "a") as f:
        f.write("\n" + section("program:sneaky", command, startsecs=0))
    added, changed, removed = server.supervisor.reloadConfig()[0]
    check((added, changed, removed) == (["sneaky"], [], []), (added, changed, removed))
    check(fault(server.supervisor.startProcess, "sneaky")[0] == 10, "a program read but not added started")
    time.sleep(0.5)
    check(not os.path.exists(marker), "a command ran that no program of the running configuration defines")
    check(side.running(), "the daemon died")


# --- authentication --------------------------------------------------------------------------------------------------

def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def check_authentication(side, user, right, wrong):
    requests = [("POST", "/RPC2"), ("GET", "/logtail/web"), ("GET", "/logtail/web/stderr"), ("GET", "/mainlogtail")]
    for method, path in requests:
        for authorization in [None, basic(user, wrong), basic("someone", right), basic(user, ""), f"Bearer {right}",
                              basic(user, right + "x")]:
            status, challenge = http_status(side, method, path, authorization)
            check(status == 401, f"{method} {path} with {authorization!r}: {status}, expected 401")
            check(challenge is not None and challenge.startswith("Basic"), f"{method} {path}: no Basic challenge")
        status, _ = http_status(side, method, path, basic(user, right))
        check(status == 200, f"{method} {path} with the right credentials: {status}")
    status, _ = http_status(side, "POST", "/RPC2", "Basic !!!not-base64!!!")
    check(status in (400, 401), f"malformed credentials: {status}")
    check(side.proxy(user, right).supervisor.getAPIVersion() == "3.0", "xmlrpc.client with the credentials")
    try:
        side.proxy(user, wrong).supervisor.getAPIVersion()
        raise AssertionError("xmlrpc.client with a wrong password got an answer")
    except xmlrpc.client.ProtocolError as e:
        check(e.errcode == 401, f"xmlrpc.client with a wrong password: {e.errcode}")


@test
def every_request_needs_the_username_and_password():
    side = daemon(server="username=chris\npassword=s3cret:x", running=())
    check_authentication(side, "chris", "s3cret:x", "s3cret")
    code, out, err = side.ctl("status")
    check(code == 1 and out.startswith("Server requires authentication\n"),
          f"supervisorctl without them: {code} {out!r} {err!r}")
    code, out, err = side.ctl("-u", "chris", "-p", "s3cret:x", "status", "web")
    check(code == 0 and out.startswith("web "), f"supervisorctl -u -p: {code} {out!r} {err!r}")


@test
def a_sha_password_is_compared_hashed():
    digest = hashlib.sha1(b"hunter2").hexdigest()
    side = daemon(server=f"username=chris\npassword={{SHA}}{digest}", running=())
    check_authentication(side, "chris", "hunter2", f"{{SHA}}{digest}")


# --- the socket's mode and owner -------------------------------------------------------------------------------------

def connect_as(uid, path):
    """A getAPIVersion from a process running as uid: 'ok', or the error's name."""
    script = ("import socket, sys\n"
              "s = socket.socket(socket.AF_UNIX)\n"
              "try:\n"
              f"    s.connect({path!r})\n"
              "except OSError as e:\n"
              "    print(__import__('errno').errorcode.get(e.errno, e.errno)); sys.exit()\n"
              "body = (b\"<?xml version='1.0'?><methodCall><methodName>supervisor.getAPIVersion</methodName>\"\n"
              "        b\"</methodCall>\")\n"
              "s.sendall(b'POST /RPC2 HTTP/1.1\\r\\nHost: localhost\\r\\nContent-Type: text/xml\\r\\nContent-Length: '"
              " + str(len(body)).encode() + b'\\r\\n\\r\\n' + body)\n"
              "print('ok' if s.recv(100).startswith(b'HTTP/1.1 200') else 'refused')\n")
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable  # one every user can run
    p = subprocess.run([python, "-c", script], capture_output=True, text=True, timeout=30,
                       preexec_fn=as_user(uid), cwd="/")
    return p.stdout.strip() or p.stderr.strip()


@test
def the_socket_follows_chmod_and_chown():
    check(os.geteuid() == 0, "this test runs as root (to chown, and to act as other users)")
    nobody = pwd.getpwnam("nobody").pw_uid
    nogroup = grp.getgrnam("nogroup").gr_gid
    stranger = 4242  # a uid no file here belongs to
    cases = [  # [unix_http_server] lines; the socket's (uid, gid, mode); who may use it; who may not
        ("", (0, 0, 0o700), [], [nobody]),
        ("chmod=0766", (0, 0, 0o766), [nobody], []),
        ("chmod=0700\nchown=nobody:nogroup", (nobody, nogroup, 0o700), [nobody], [stranger]),
    ]
    for server, owner, allowed, denied in cases:
        side = daemon(server=server, running=())
        for path in [side.dir, os.path.dirname(side.dir)]:  # only the socket's own mode and owner decide
            os.chmod(path, 0o755)
        st = os.stat(side.socket)
        check((st.st_uid, st.st_gid, st.st_mode & 0o7777) == owner,
              f"{server or 'the defaults'}: uid {st.st_uid}, gid {st.st_gid}, mode {oct(st.st_mode & 0o7777)}; "
              f"expected {owner[0]}, {owner[1]}, {oct(owner[2])}")
        for uid in allowed:
            check(connect_as(uid, side.socket) == "ok", f"{server}: uid {uid} could not use the socket")
        for uid in denied:
            check(connect_as(uid, side.socket) == "EACCES", f"{server or 'the defaults'}: uid {uid} reached it")
        side.stop()


# --- hostile clients -------------------------------------------------------------------------------------------------

def raw(side, data=b"", timeout=10.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(side.socket)
    if data:
        s.sendall(data)
    return s


def outcome(s, timeout=10.0):
    """What came back on a raw connection: ('status', N, bytes), ('closed', None, bytes) or ('silent', None, b'')."""
    s.settimeout(timeout)
    got = b""
    try:
        while b"\r\n" not in got:
            data = s.recv(65536)
            if not data:
                return ("closed", None, got)
            got += data
    except socket.timeout:
        return ("silent", None, got)
    except (ConnectionResetError, BrokenPipeError):
        return ("closed", None, got)
    parts = got.split(b" ", 2)
    return ("status", int(parts[1]), got) if len(parts) > 1 and parts[1].isdigit() else ("closed", None, got)


def refused(result, allow_fault=False):
    """An HTTP error status or a closed connection (with allow_fault, also a 200 whose body is a fault)."""
    kind, status, data = result
    if kind == "closed" or kind == "status" and status >= 400:
        return True
    return allow_fault and status == 200 and b"<fault>" in data


def rpc_request(body, extra=b""):
    return (b"POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body)


def read_reply(s, timeout=10.0):
    """The whole HTTP reply on a raw connection (status line to the end of a Content-Length body)."""
    s.settimeout(timeout)
    got = b""
    try:
        while True:
            head, sep, rest = got.partition(b"\r\n\r\n")
            if sep:
                length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")]
                if length and len(rest) >= length[0]:
                    return got
            data = s.recv(65536)
            if not data:
                return got
            got += data
    except (socket.timeout, ConnectionResetError):
        return got


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


LAUGHS = (b"<?xml version='1.0'?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lolololololololololol\">\n"
          + b"".join(b"<!ENTITY lol%d \"%s\">\n" % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
                     for i in range(1, 10))
          + b"]>\n<methodCall><methodName>supervisor.getProcessInfo</methodName><params><param><value><string>"
          b"&lol9;</string></value></param></params></methodCall>")


@test
def hostile_clients_get_an_error_and_harm_no_one():
    side = daemon()
    problems = []

    def expect(condition, message):
        if not condition:
            problems.append(message)

    keep_alive = side.proxy()
    check(keep_alive.supervisor.getAPIVersion() == "3.0", "getAPIVersion")  # used again, idle, at the end
    rss_before = rss_kib(side.proc.pid) if AGAINST == "taskmaster" else 0
    started = time.monotonic()

    # Half requests, left hanging: the headers, or the body, never finish.
    half_headers = raw(side, b"POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nContent-Len")
    half_body = raw(side, b"POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 500\r\n\r\n<?xml")
    prompt_status(side, "two requests are half sent")

    # 500 idle connections, then 500 more with half a request line.
    idle = [raw(side) for _ in range(500)]
    prompt_status(side, "500 connections are idle")
    idle += [raw(side, b"GET /logt") for _ in range(500)]
    prompt_status(side, "1000 connections are open")
    for s in idle:
        s.close()
    prompt_status(side, "1000 connections just closed")

    # An oversized body: a 413 (or a closed connection) before it is all sent.
    s = raw(side, b"POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: 104857600"
                  b"\r\n\r\n<?xml version='1.0'?><methodCall><methodName>")
    try:
        for _ in range(16):
            s.sendall(b"x" * (1 << 20))
        result = outcome(s, 5)
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        result = ("closed", None, b"")
    s.close()
    expect(refused(result), f"a 100 MB body: {result}")
    prompt_status(side, "a 100 MB body was refused")

    # Headers without end.
    s = raw(side, b"GET /mainlogtail HTTP/1.1\r\nX-Long: ")
    try:
        for _ in range(64):
            s.sendall(b"a" * 4096)
        result = outcome(s, 5)
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        result = ("closed", None, b"")
    s.close()
    expect(refused(result), f"256 KiB of one header: {result}")

    # Not HTTP at all; a request line of garbage; a negative and a non-numeric Content-Length.
    for data in [b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)) + b"\r\n\r\n",
                 b"HELLO THERE\r\n\r\n",
                 b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                 b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: many\r\n\r\n"]:
        s = raw(side, data)
        result = outcome(s, 5)
        s.close()
        expect(refused(result), f"{data[:40]!r}: {result}")

    # XML: entity expansion, not well-formed, not XML-RPC, too deep; each an error, never a value.
    deep = b"<value><array><data>" * 20000 + b"<value>x</value>" + b"</data></array></value>" * 20000
    for name, body in [("billion laughs", LAUGHS),
                       ("a DOCTYPE with an external entity",
                        b"<?xml version='1.0'?><!DOCTYPE m [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
                        b"<methodCall><methodName>supervisor.getProcessInfo</methodName><params><param><value>"
                        b"&x;</value></param></params></methodCall>"),
                       ("not well-formed", b"<methodCall><methodName>supervisor.getAPIVersion</methodName"),
                       ("invalid UTF-8", b"<?xml version='1.0'?><methodCall><methodName>supervisor.getProcessInfo"
                                         b"</methodName><params><param><value>\xff\xfe</value></param></params>"
                                         b"</methodCall>"),
                       ("a NUL", b"<methodCall><methodName>supervisor.getAPI\x00Version</methodName></methodCall>"),
                       ("no methodName", b"<?xml version='1.0'?><methodCall><params/></methodCall>"),
                       ("not XML-RPC", b"<?xml version='1.0'?><html><body>hi</body></html>"),
                       ("20,000 nested arrays", b"<?xml version='1.0'?><methodCall><methodName>"
                                                b"supervisor.getProcessInfo</methodName><params><param>" + deep
                                                + b"</param></params></methodCall>"),
                       ("empty", b"")]:
        begun = time.monotonic()
        s = raw(side, rpc_request(body))
        reply = read_reply(s, 10)
        s.close()
        took = time.monotonic() - begun
        status = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.") else None
        expect(refused(("status", status, reply) if status else ("closed", None, reply), allow_fault=True),
              f"{name}: {reply[:300]!r}")
        expect(took < PROMPT * 2, f"{name}: the answer took {took:.2f} s")
        if status == 200:
            try:
                xmlrpc.client.loads(reply.partition(b"\r\n\r\n")[2])
                problems.append(f"{name}: a value came back: {reply[:300]!r}")
            except xmlrpc.client.Fault:
                pass
        prompt_status(side, f"{name} was sent")
    if AGAINST == "taskmaster":
        grown = rss_kib(side.proc.pid) - rss_before
        expect(grown < 64 * 1024, f"the daemon grew by {grown} KiB")

    # The half requests: still harmless, and dropped in time (taskmaster's limit for a started request: 30 s).
    prompt_status(side, "the half requests still hang")
    results = [outcome(s, max(0.1, 40 - (time.monotonic() - started))) for s in (half_headers, half_body)]
    for s in (half_headers, half_body):
        s.close()
    for name, result in zip(["headers", "body"], results):
        expect(refused(result), f"a request whose {name} never finish: {result} after "
                               f"{time.monotonic() - started:.0f} s")
    # The connection kept alive and idle all this time still works (supervisorctl does not retry).
    check(keep_alive.supervisor.getAPIVersion() == "3.0", "the idle keep-alive connection")
    check(side.running() and side.infos()["web"]["statename"] == "RUNNING", "the daemon or its programs suffered")
    check(not problems, f"{len(problems)} problem(s):\n  " + "\n  ".join(problems))


if __name__ == "__main__":
    run_tests(main)
