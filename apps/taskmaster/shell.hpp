// The control shell on stdin: interactive with line editing on a terminal, scripted otherwise. Either way
// it reads one command, runs it through the CommandRunner, prints the answer, and only then reads the
// next, while the event loop goes on supervising.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>

#include "command_runner.hpp"

namespace cli {

struct ShellSettings {
  bool colour = false;             // ANSI colours in answers and notices
  std::string historyFile;         // interactive only; empty: no history kept across runs
  // quit, exit, Ctrl-D or the end of the input; the reason is for the event log.
  std::function<void(std::string_view reason)> onQuit;
};

class Shell {
 public:
  virtual ~Shell() = default;

  virtual void start() = 0;
  // Stops reading commands for good and gives the terminal back as it was.
  virtual void close() = 0;
  // A one-line message that did not come from a command (a crash, a reload by SIGHUP). On a terminal it
  // is printed above the prompt and the half-typed line is drawn again; in a script it goes to stderr.
  virtual void notice(std::string_view text) = 0;
  // SIGINT from the terminal: clears the line being typed, or stops waiting for a slow command.
  virtual void interrupt() = 0;
  [[nodiscard]] virtual bool interactive() const = 0;
};

// The interactive shell when stdin is a terminal, the scripted one otherwise.
[[nodiscard]] std::unique_ptr<Shell> makeShell(boost::asio::io_context& io, Commands& runner,
                                               ShellSettings settings);

}  // namespace cli
