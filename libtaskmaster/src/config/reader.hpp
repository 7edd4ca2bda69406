// Internal: what every configuration format's reader shares, whatever the format: places in the file, problems
// with values, the diagnostics of a file in file order, and the file's text.
#pragma once

#include "private.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <taskmaster/config.hpp>

#include <taskmaster/error.hpp>

namespace taskmaster::inline v0::detail {

// A place in the file, 1-based; 0 when unknown.
struct Location {
  int line = 0;
  int column = 0;
};

// One problem with a value: where it is and what is wrong with it.
struct Bad {
  Location at;
  std::string message;
};

// A value read from the file, or what is wrong with it. Readers return one instead of throwing, so that one
// bad option never hides the problems of the others.
template <class T>
using Checked = Expected<T, Bad>;

// Every diagnostic of one file, in the order found.
class Problems {
 public:
  explicit Problems(std::string_view file) : file_(file) {}

  void add(Location at, std::string_view program, std::string message);

  // In file order, as an editor would walk them; problems without a place come first.
  [[nodiscard]] std::vector<Diagnostic> take();

 private:
  std::string file_;
  std::vector<Diagnostic> list_;
};

// Programs whose name would answer for something else too: "db:main" when a program is named "db" (a group
// and a program may not share a name), which also covers "web:1" beside a "web" of several instances. Each
// clash as (index in programs, message); the reader places it.
[[nodiscard]] std::vector<std::pair<std::size_t, std::string>> nameClashes(const std::vector<ProgramSpec>& programs);

// The whole file, or why it cannot be read ("cannot read: ...", without a place). Only regular files of sane
// size: a directory opens fine, a FIFO would block the loop in open() or read(), and /dev/zero would never end.
[[nodiscard]] Checked<std::string> readFile(const std::string& path);

}  // namespace taskmaster::inline v0::detail
