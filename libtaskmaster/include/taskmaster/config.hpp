// Loading the YAML configuration (the seed's `programs:` format) into validated ProgramSpecs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

struct Config {
  std::string path;                   // the file it was read from, for reloads and messages
  std::vector<ProgramSpec> programs;  // in file order, names unique
  std::optional<std::string> socket;  // control socket path (`socket:` at the top level)
  // The event log (top level `logfile`, `logfile_maxbytes`, `logfile_backups`); the command line wins.
  std::optional<std::string> logfile;
  std::optional<std::uint64_t> logfileMaxBytes;
  std::optional<int> logfileBackups;
};

struct ConfigResult {
  Config config;
  std::vector<Diagnostic> errors;  // every problem found; config is usable only when empty
  [[nodiscard]] bool ok() const { return errors.empty(); }
};

[[nodiscard]] ConfigResult loadConfig(const std::string& path);
[[nodiscard]] ConfigResult parseConfig(std::string_view yaml, std::string_view filename = "<config>");

// The candidate closest to `word` when it is a plausible typo of it, for "did you mean" hints.
[[nodiscard]] std::optional<std::string> suggest(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace taskmaster::inline v0
