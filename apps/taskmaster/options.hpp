// The command line of `taskmaster` and of `taskmaster ctl`: one parser for both, where options may come
// before or after the command's words and `--` ends them. See docs/cli.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <taskmaster/log.hpp>

namespace cli {

// taskmaster [options]: supervise.
struct RunOptions {
  std::optional<std::string> config;  // -c FILE; searched for when absent
  // The event log: the command line wins over the configuration's `logfile`, `logfile_maxbytes` and
  // `logfile_backups`, which win over the defaults (taskmaster.log, 50MB, 10 backups).
  std::optional<std::string> logPath;         // --log FILE
  std::optional<std::uint64_t> logMaxBytes;   // --logfile-maxbytes SIZE; 0: never rotate
  std::optional<int> logBackups;              // --logfile-backups N
  // --log-level; else the configuration's `loglevel` (supervisord's files), else info.
  std::optional<taskmaster::LogLevel> logLevel;
  std::optional<std::string> socket;   // --socket PATH; else the config's `socket:`, else the default
  std::optional<std::string> metrics;  // --metrics ADDR (normalized); else the config's `metrics:`, else none
  bool daemon = false;                 // --daemon: detach, no shell, log to the file only
  bool noShell = false;                // --no-shell: foreground without a shell, log to stderr too
  std::optional<std::string> pidfile;  // --pidfile FILE; else the config's `pidfile`; a daemon's default beside the socket
  bool check = false;                  // --check: validate the configuration, list its processes, run nothing
  bool init = false;                   // --init, or running as PID 1: reap orphans, never exit on an internal
                                       // error while programs run; implies --no-shell
  bool subreaper = false;              // --subreaper: PR_SET_CHILD_SUBREAPER, and reap the orphans that come
  std::string detachKeys = "\x1d";     // --detach-keys KEYS: the shell's attach, as bytes (parseDetachKeys)
};

// taskmaster ctl [options] [COMMAND [ARGS...]]: talk to a running taskmaster.
struct CtlOptions {
  std::optional<std::string> socket;  // --socket PATH
  std::optional<std::string> config;  // -c FILE: take the socket from its `socket:`
  bool json = false;                  // --json
  std::string detachKeys;             // attach --detach-keys KEYS, as bytes (parseDetachKeys); default ctrl-]
  std::vector<std::string> words;     // the command and its arguments; empty: a remote shell
};

// attach NAME, or its alias fg: a command of its own in ctl and the shell, which run it with the terminal.
[[nodiscard]] bool isAttach(const std::vector<std::string>& words);

inline constexpr const char* kDefaultLogPath = "taskmaster.log";
inline constexpr int kMaxLogBackups = 1000;  // as the configuration's logfile_backups

// Exit codes, as documented in docs/cli.md.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;     // could not run: the log file cannot be opened, a forced stop
inline constexpr int kExitUsage = 2;       // bad usage or an invalid configuration
inline constexpr int kExitNotRunning = 3;  // taskmaster ctl: no taskmaster answers on the socket

// taskmaster convert FILE: the configuration in taskmaster's YAML, on stdout.
struct ConvertOptions {
  std::string file;
};

// What to do, or the exit code when taskmaster should stop at once: after --help or --version (0), or a
// usage error (2), already printed.
using CommandLine = std::variant<RunOptions, CtlOptions, ConvertOptions, int>;
[[nodiscard]] CommandLine parseCommandLine(int argc, char** argv);

// The places searched, in order, when no -c is given: ./taskmaster.yml, the user's config directory,
// /etc/taskmaster/taskmaster.yml, then supervisord's ./supervisord.conf and /etc/supervisor/supervisord.conf.
[[nodiscard]] std::vector<std::string> configCandidates();

// The first of configCandidates() that exists; nothing, after saying on stderr where it looked, when none does.
[[nodiscard]] std::optional<std::string> findConfig();

// $XDG_STATE_HOME/taskmaster/history, else ~/.local/state/taskmaster/history; empty without a home.
[[nodiscard]] std::string historyPath();

}  // namespace cli
