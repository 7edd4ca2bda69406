// Loading a configuration into validated ProgramSpecs: taskmaster's YAML (the seed's `programs:` format), or
// supervisord's INI files as they are (docs/supervisord.md), recognised by their content.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <taskmaster/log.hpp>
#include <taskmaster/program_spec.hpp>

namespace taskmaster::inline v0 {

// One problem in a configuration file. line and column are 1-based; 0 when unknown.
struct Diagnostic {
  std::string file;
  int line = 0;
  int column = 0;
  std::string program;  // empty when the problem is not inside a program
  std::string message;

  // "file:line:column: program 'web': message"
  [[nodiscard]] std::string str() const;
};

enum class ConfigFormat { yaml, supervisord };

// An HTTP server of supervisord's XML-RPC interface: `[unix_http_server]` or `[inet_http_server]`.
struct HttpServerConfig {
  enum class Kind { unix_socket, inet };
  Kind kind = Kind::unix_socket;
  std::string address;                  // the socket's path (`file`), or "HOST:PORT" (`port`)
  unsigned chmod = 0700;                // unix only: the socket's mode
  std::optional<std::string> chown;     // unix only: "user" or "user:group"
  std::optional<std::string> username;  // both set: Basic authentication is required
  std::optional<std::string> password;  // plain, or "{SHA}" and the hex SHA-1 of the password
  bool operator==(const HttpServerConfig&) const = default;
};

// One hook of the top-level `hooks:` list (docs/hooks.md): what it is told about, and how. The event names
// are canonical: the states upper case ("FATAL"), the others lower case ("unexpected_exit", "unhealthy",
// "reload", "taskmaster_started", "taskmaster_stopping"); the YAML may write them in any case.
struct HookSpec {
  enum class Kind { exec, webhook, syslog, email };
  std::vector<std::string> on;
  std::vector<std::string> programs;  // empty: every program (and taskmaster's own events)
  Kind kind = Kind::exec;
  std::string command;  // exec: run with /bin/sh -c
  std::string url;      // webhook: http:// or https://
  std::string facility = "daemon";  // syslog
  std::string tag = "taskmaster";
  std::string socket = "/dev/log";
  std::string to;      // email: the recipients, as the To: header
  std::string from;    // empty: sendmail's default
  std::string sendmail = "/usr/sbin/sendmail";
  std::optional<Duration> rateLimit;  // unset: the kind's default (defaultRateLimit())
  Duration timeout = std::chrono::seconds(10);
  bool operator==(const HookSpec&) const = default;

  // At most one delivery per program per this interval: 60 s for email and webhook, none for exec and syslog.
  [[nodiscard]] Duration effectiveRateLimit() const;
};

// "exec", "webhook", "syslog", "email".
[[nodiscard]] std::string_view to_string(HookSpec::Kind kind) noexcept;
// The canonical name of a hook event written in any case ("fatal" -> "FATAL"); nullopt when it is none.
[[nodiscard]] std::optional<std::string> hookEventName(std::string_view name);
// Every event name, canonical.
[[nodiscard]] const std::vector<std::string>& hookEventNames();
// syslog's facility number (daemon: 3), nullopt for an unknown name.
[[nodiscard]] std::optional<int> syslogFacility(std::string_view name);

struct Config {
  std::string path;                   // the file it was read from, for reloads and messages
  ConfigFormat format = ConfigFormat::yaml;
  std::vector<ProgramSpec> programs;  // in file order, names unique
  std::optional<std::string> socket;  // control socket path (`socket:` at the top level)
  // The Prometheus endpoint (`metrics:`), "HOST:PORT" as metrics::parseAddress() normalizes it; the command
  // line wins. Unset: no endpoint.
  std::optional<std::string> metrics;
  // The event log (top level `logfile`, `logfile_maxbytes`, `logfile_backups`); the command line wins.
  std::optional<std::string> logfile;
  std::optional<std::uint64_t> logfileMaxBytes;
  std::optional<int> logfileBackups;
  // taskmaster's own process, from supervisord's `[supervisord]` section; the command line wins.
  std::optional<LogLevel> loglevel;
  std::optional<std::string> pidfile;
  std::optional<unsigned> umask;           // taskmaster's umask, set at start
  std::optional<std::string> directory;    // taskmaster changes to it at start
  std::optional<std::uint64_t> minfds;     // start fails when RLIMIT_NOFILE cannot be raised to this
  std::optional<std::uint64_t> minprocs;   // the same for RLIMIT_NPROC
  std::string identifier = "supervisor";  // supervisord's `identifier` (XML-RPC's getIdentification)
  // supervisord's XML-RPC servers and the `[supervisorctl]` section, as read (keys lower case).
  std::vector<HttpServerConfig> httpServers;
  std::map<std::string, std::string> supervisorctl;
  std::vector<HookSpec> hooks;  // `hooks:`, in file order
};

struct ConfigResult {
  Config config;
  std::vector<Diagnostic> errors;    // every problem found; config is usable only when empty
  std::vector<Diagnostic> warnings;  // what was read but is ignored or not supported: worth saying, not fatal
  [[nodiscard]] bool ok() const { return errors.empty(); }
};

// Reads the file, YAML or supervisord's INI format by its content (supervisordFormat()).
[[nodiscard]] ConfigResult loadConfig(const std::string& path);
[[nodiscard]] ConfigResult parseConfig(std::string_view yaml, std::string_view filename = "<config>");
// supervisord's format: `[include] files=` globs are relative to the directory of `filename`.
[[nodiscard]] ConfigResult parseSupervisordConfig(std::string_view ini, std::string_view filename = "<config>");
// True when the text is in supervisord's INI format: its first line that is neither blank nor a comment is a
// section header such as `[supervisord]` or `[program:web]`. (No YAML configuration can start so.)
[[nodiscard]] bool supervisordFormat(std::string_view text);

// The configuration in taskmaster's YAML, as `taskmaster convert` prints it: reading the result gives the same
// programs and settings. Each of `notes` (say, a converted file's warnings) becomes a comment.
[[nodiscard]] std::string formatYaml(const Config& config, const std::vector<Diagnostic>& notes = {});

// The candidate closest to `word` when it is a plausible typo of it, for "did you mean" hints.
[[nodiscard]] std::optional<std::string> suggest(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace taskmaster::inline v0
