// The command line of taskmaster, and where it looks for a configuration file.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "event_log.hpp"

namespace cli {

struct Options {
  std::optional<std::string> config;  // -c FILE; searched for when absent
  std::string logPath = "taskmaster.log";
  LogLevel logLevel = LogLevel::info;
  std::optional<std::string> socket;   // --socket PATH; else the config's `socket:`, else the default
  bool daemon = false;                 // --daemon: detach, no shell, log to the file only
  bool noShell = false;                // --no-shell: foreground without a shell, log to stderr too
  std::optional<std::string> pidfile;  // --pidfile FILE (daemon); default beside the socket
};

// Exit codes, as documented in docs/cli.md.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // could not run: the log file cannot be opened, a forced stop
inline constexpr int kExitUsage = 2;    // bad usage or an invalid configuration
inline constexpr int kExitNotRunning = 3;  // taskmaster ctl: no taskmaster answers on the socket

// Fills `options` from argv. Returns an exit code when taskmaster should stop at once: after --help or
// --version (0) or a usage error, already printed (2).
[[nodiscard]] std::optional<int> parseCommandLine(int argc, char** argv, Options& options);

// The places searched, in order, when no -c is given: ./taskmaster.yml, the user's config directory,
// /etc/taskmaster/taskmaster.yml.
[[nodiscard]] std::vector<std::string> configCandidates();

// $XDG_STATE_HOME/taskmaster/history, else ~/.local/state/taskmaster/history; empty without a home.
[[nodiscard]] std::string historyPath();

}  // namespace cli
