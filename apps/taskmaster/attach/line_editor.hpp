// The line being typed to a `stdin: true` program, edited locally: the terminal is in non-canonical mode
// (so that the detach keys and Ctrl-C are seen at once), and this does what the terminal's own line
// discipline would: echo, erase, and a line sent only when Enter ends it.
#pragma once

#include <string>
#include <string_view>

namespace cli {

class LineEditor {
 public:
  struct Result {
    std::string echo;   // for the user's terminal, which turns '\n' into "\r\n" (TerminalMode::keys)
    std::string input;  // for the program: whole lines, each with its '\n'
  };
  // Keys: printable bytes (UTF-8 too) are added and echoed; Enter (CR or LF) sends the line; Backspace or
  // DEL erases a character, Ctrl-U the line, Ctrl-C drops it (echoed as ^C); Ctrl-D sends what is typed
  // without a newline. Other control keys are ignored.
  [[nodiscard]] Result feed(std::string_view keys);
  [[nodiscard]] const std::string& line() const { return line_; }

 private:
  std::string line_;
};

}  // namespace cli
