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
