#!/usr/bin/python3
"""supervisord's own reading of a configuration file, as JSON: what the corpus tests compare taskmaster with.

    /usr/bin/python3 tests/supervisord/reference.py FILE

Runs under Debian's python3, where the `supervisor` package (4.2.5) lives. Loads FILE with
supervisor.options.ServerOptions, as `supervisord -c FILE` does, and prints one JSON object:

    {"supervisord": {logfile, logfile_maxbytes, logfile_backups, loglevel (supervisord's number), pidfile, umask,
                     directory, minfds, minprocs, nodaemon, silent, nocleanup, strip_ansi, user},
     "servers": [the XML-RPC servers], "childlogdir": ..., "identifier": ..., "serverurl": ...,
     "environment": {...}, "warnings": [...], "groups": [{"name", "priority", "kind", "processes": [...]}, ...]}

groups are in supervisord's start order (priority, then name), each group's processes in its own order. A process
has: group, name, namespec (what supervisorctl shows), command, priority, autostart, autorestart
("true", "false", "unexpected"), startsecs, startretries, exitcodes, stopsignal (a number), stopwaitsecs,
stopasgroup, killasgroup, redirect_stderr, directory, umask (a number or null), environment (the program's,
merged over [supervisord]'s), child_environment (what supervisord adds to the inherited environment of the child),
stdout_logfile and stderr_logfile ("AUTO", null for none, or the path), their maxbytes, backups, capture_maxbytes,
events_enabled and syslog, serverurl and uid. kind is "program", "eventlistener" or "fcgi-program".

When supervisord refuses the file: its message on stderr, exit 2.
"""

import json
import sys

try:
    from supervisor import datatypes, options
except ImportError:
    print("reference.py: supervisor is not installed for this python (apt-get install supervisor)", file=sys.stderr)
    sys.exit(3)


class Refused(Exception):
    pass


def logfile(value):
    if value is datatypes.Automatic:
        return "AUTO"
    return value


def autorestart(value):
    if value is datatypes.RestartUnconditionally:
        return "true"
    if value is datatypes.RestartWhenExitUnexpected:
        return "unexpected"
    return "false"


def child_environment(server, group, process):
    """What process.py's spawn() puts over os.environ, in its order."""
    env = {"SUPERVISOR_ENABLED": "1"}
    url = process.serverurl if process.serverurl is not None else server.serverurl
    if url:
        env["SUPERVISOR_SERVER_URL"] = url
    env["SUPERVISOR_PROCESS_NAME"] = process.name
    env["SUPERVISOR_GROUP_NAME"] = group.name
    env.update(process.environment or {})
    return env


def describe(server, group, process):
    return {
        "group": group.name,
        "name": process.name,
        "namespec": options.make_namespec(group.name, process.name),
        "command": process.command,
        "priority": process.priority,
        "autostart": process.autostart,
        "autorestart": autorestart(process.autorestart),
        "startsecs": process.startsecs,
        "startretries": process.startretries,
        "exitcodes": list(process.exitcodes),
        "stopsignal": process.stopsignal,
        "stopwaitsecs": process.stopwaitsecs,
        "stopasgroup": process.stopasgroup,
        "killasgroup": process.killasgroup,
        "redirect_stderr": process.redirect_stderr,
        "directory": process.directory,
        "umask": process.umask,
        "environment": dict(process.environment or {}),
        "child_environment": child_environment(server, group, process),
        "stdout_logfile": logfile(process.stdout_logfile),
        "stdout_logfile_maxbytes": process.stdout_logfile_maxbytes,
        "stdout_logfile_backups": process.stdout_logfile_backups,
        "stdout_capture_maxbytes": process.stdout_capture_maxbytes,
        "stdout_events_enabled": process.stdout_events_enabled,
        "stdout_syslog": process.stdout_syslog,
        "stderr_logfile": logfile(process.stderr_logfile),
        "stderr_logfile_maxbytes": process.stderr_logfile_maxbytes,
        "stderr_logfile_backups": process.stderr_logfile_backups,
        "stderr_capture_maxbytes": process.stderr_capture_maxbytes,
        "stderr_events_enabled": process.stderr_events_enabled,
        "stderr_syslog": process.stderr_syslog,
        "serverurl": process.serverurl,
        "uid": process.uid,
    }


def kind(group):
    if isinstance(group, options.EventListenerPoolConfig):
        return "eventlistener"
    if isinstance(group, options.FastCGIGroupConfig):
        return "fcgi-program"
    return "program"


def listener(group):
    """An event listener pool's events (by name, sorted) and buffer_size; nothing for other groups."""
    if not isinstance(group, options.EventListenerPoolConfig):
        return {}
    from supervisor import events
    return {"events": sorted(events.getEventNameByType(t) for t in group.pool_events),
            "buffer_size": group.buffer_size}


def read(path):
    server = options.ServerOptions()

    def usage(message):  # realize() calls it on any problem, and would exit
        raise Refused(message)

    server.usage = usage
    server.realize(args=["-c", path])
    section = server.configroot.supervisord
    return {
        "supervisord": {"logfile": server.logfile, "logfile_maxbytes": server.logfile_maxbytes,
                        "logfile_backups": server.logfile_backups, "loglevel": section.loglevel,
                        "pidfile": server.pidfile, "umask": server.umask, "directory": server.directory,
                        "minfds": server.minfds, "minprocs": server.minprocs, "nodaemon": bool(server.nodaemon),
                        "silent": bool(server.silent), "nocleanup": bool(server.nocleanup),
                        "strip_ansi": bool(server.strip_ansi), "user": server.user},
        "servers": [{key: value for key, value in config.items() if key != "family"}
                    for config in server.server_configs],
        "childlogdir": server.childlogdir,
        "identifier": server.identifier,
        "serverurl": server.serverurl,
        "environment": dict(section.environment),
        "warnings": list(server.parse_warnings),
        "groups": [dict({"name": group.name, "priority": group.priority, "kind": kind(group),
                         "processes": [describe(server, group, p) for p in group.process_configs]}, **listener(group))
                   for group in server.process_group_configs],
    }


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    try:
        result = read(sys.argv[1])
    except (Refused, ValueError) as problem:
        print(f"supervisord: {problem}", file=sys.stderr)
        sys.exit(2)
    json.dump(result, sys.stdout, indent=1, sort_keys=True, ensure_ascii=False)
    print()


if __name__ == "__main__":
    main()
