// Tools for users who move from supervisord: `taskmaster --check` validates a configuration (YAML or
// supervisord's) and lists the processes it would run; `taskmaster convert` prints one in taskmaster's YAML.
// See docs/cli.md and docs/supervisord.md.
#pragma once

#include <string>

#include <taskmaster/config.hpp>

#include "options.hpp"

namespace cli {

// taskmaster --check [-c FILE]: the process names, one per line as `status` lists them, then the warnings on
// stderr; exit 0. Or every problem on stderr; exit 2.
[[nodiscard]] int check(const RunOptions& options);

// taskmaster convert FILE: formatYaml() of the file on stdout, its warnings as comments at the top (and on
// stderr); exit 0. Or every problem on stderr; exit 2.
[[nodiscard]] int convert(const ConvertOptions& options);

// A warning about a configuration as taskmaster prints and logs it:
// "file:line:column: warning: program 'web': message".
[[nodiscard]] std::string warningLine(const taskmaster::Diagnostic& warning);

}  // namespace cli
