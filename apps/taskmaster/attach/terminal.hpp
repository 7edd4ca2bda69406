// The user's terminal while attached: put in the mode the program's input needs, and given back as it was
// on every way out (the guard's destructor, or restore() at once).
#pragma once

#include <termios.h>

#include <optional>

namespace cli {

enum class TerminalMode {
  raw,   // every key goes on as it is typed, Ctrl-C and Ctrl-Z as bytes, no echo: for a program on a pty
  keys,  // keys one by one, no signals, no echo, but output as usual ('\n' ends a line): for a program that
         // reads a pipe, the line being edited by LineEditor, or for one that reads nothing
};

struct TerminalSize {
  unsigned short rows = 0;
  unsigned short columns = 0;
};

class TerminalGuard {
 public:
  // Sets the terminal on `fd` to `mode` and keeps its settings; nothing when `fd` is not a terminal.
  TerminalGuard(int fd, TerminalMode mode);
  ~TerminalGuard() { restore(); }
  TerminalGuard(const TerminalGuard&) = delete;
  TerminalGuard& operator=(const TerminalGuard&) = delete;

  // The settings as they were; later calls do nothing.
  void restore();
  [[nodiscard]] bool active() const { return saved_.has_value(); }

 private:
  int fd_;
  std::optional<termios> saved_;
};

// The size of the terminal on `fd`; nothing when it is not a terminal or does not know.
[[nodiscard]] std::optional<TerminalSize> terminalSize(int fd);

}  // namespace cli
