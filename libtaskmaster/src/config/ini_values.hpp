// Internal: supervisord's value types (datatypes.py), read from a value's expanded text. Each returns what is
// wrong without a place; the reader adds the file and line.
#pragma once

#include "private.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <taskmaster/log.hpp>
#include <taskmaster/program_spec.hpp>

#include "config/reader.hpp"

namespace taskmaster::inline v0::detail {

// true, yes, on, 1 or false, no, off, 0, any case.
[[nodiscard]] Checked<bool> iniBoolean(std::string_view text);
// Python's int(): an optional sign, digits, '_' between digits.
[[nodiscard]] Checked<std::int64_t> iniInteger(std::string_view text);
// An int() that must fit an int and be at least `minimum`.
[[nodiscard]] Checked<int> iniCount(std::string_view text, int minimum);
// "50MB", "512kb", "1GB" (1024-based, any case) or a number of bytes.
[[nodiscard]] Checked<std::uint64_t> iniSize(std::string_view text);
// Python's int(text, 8): "022", "0o22", "22".
[[nodiscard]] Checked<unsigned> iniOctal(std::string_view text);
// A name with or without SIG, any case, or a number.
[[nodiscard]] Checked<int> iniSignal(std::string_view text);
// A comma list of 0-255; empty is no code.
[[nodiscard]] Checked<std::vector<int>> iniExitcodes(std::string_view text);
// true (always), false (never), unexpected.
[[nodiscard]] Checked<AutoRestart> iniAutorestart(std::string_view text);
// A user name or uid that exists on this system: its name.
[[nodiscard]] Checked<std::string> iniUser(std::string_view text);
// "user" or "user:group", both existing.
[[nodiscard]] Checked<std::string> iniOwner(std::string_view text);
// critical, error, warn, info, debug, trace, blather: taskmaster's nearest level.
[[nodiscard]] Checked<LogLevel> iniLogLevel(std::string_view text);
// "HOST:PORT" or "PORT": "host:port", the host lower case and empty for every interface ('*' or none).
[[nodiscard]] Checked<std::string> iniInetAddress(std::string_view text);

// `~` and `~user` at the start of a path, as Python's os.path.expanduser().
[[nodiscard]] std::string expandUser(std::string_view path);

// `KEY=VALUE,KEY2="a,b"` as supervisord reads `environment=`: Python's shlex in non-POSIX mode (word
// characters: letters, digits, `_/.+-():`; quotes kept in the token, then stripped from the value's ends;
// `#` starts a comment), then KEY = VALUE triples, each followed by one token that is skipped (the comma).
[[nodiscard]] Checked<std::vector<std::pair<std::string, std::string>>> iniEnvironment(std::string_view text);

}  // namespace taskmaster::inline v0::detail
