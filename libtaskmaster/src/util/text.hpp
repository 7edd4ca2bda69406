// Internal: text helpers the library's readers share. Case folding is ASCII only, whatever the locale: the
// words folded here (option names, signal names, booleans) are ASCII, and a locale must not change what a
// configuration means.
#pragma once

#include "private.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace taskmaster::inline v0::detail {

// The text cut at its newlines, without them; an unfinished last line is a line too. "" has no lines.
[[nodiscard]] std::vector<std::string> splitLines(std::string_view text);

[[nodiscard]] std::string toLower(std::string_view text);
[[nodiscard]] std::string toUpper(std::string_view text);

// An output path that taskmaster forwards to its own stdout or stderr, or discards: no file of taskmaster's to
// rotate, so any number of writers may name it.
[[nodiscard]] inline bool isSharedSink(std::string_view path) {
  return path == "/dev/stdout" || path == "/dev/stderr" || path == "/dev/null";
}

// Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours, the usual
// typos. Case is ignored: "CMD" is a near miss of "cmd".
[[nodiscard]] std::size_t editDistance(std::string_view left, std::string_view right);

}  // namespace taskmaster::inline v0::detail
