// The control shell on stdin: interactive with line editing on a terminal, scripted otherwise. Either way
// it reads one command, runs it through its backend (the library's Interpreter, or a taskmaster at the
// other end of the control socket), prints the answer, and only then reads the next, while the event loop
// goes on supervising. An answer that can be followed (tail -f: an OutputTail with a follower) is printed as
// it comes until Ctrl-C, then the prompt comes back; in a script it is followed until the shell closes.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

#include <taskmaster/commands.hpp>

namespace cli {

// Where a shell's commands run.
class ShellBackend {
 public:
  virtual ~ShellBackend() = default;
  // words: a command and its arguments, never empty. `done` is called exactly once, later on the loop.
  virtual void run(const std::vector<std::string>& words, std::function<void(taskmaster::CommandReply)> done) = 0;
  // What may come next after `words`, the complete words typed so far (none: a command name).
  [[nodiscard]] virtual std::vector<std::string> completions(const std::vector<std::string>& words) const = 0;
};

// The commands of this taskmaster, run by the library's Interpreter.
class LocalBackend final : public ShellBackend {
 public:
  LocalBackend(taskmaster::Interpreter& interpreter, taskmaster::RunContext context)
      : interpreter_(interpreter), context_(std::move(context)) {}
  void run(const std::vector<std::string>& words, std::function<void(taskmaster::CommandReply)> done) override {
    interpreter_.run(words, context_, std::move(done));
  }
  [[nodiscard]] std::vector<std::string> completions(const std::vector<std::string>& words) const override {
    return interpreter_.completions(words);
  }

 private:
  taskmaster::Interpreter& interpreter_;
  taskmaster::RunContext context_;
};

struct ShellSettings {
  std::string historyFile;         // interactive only; empty: no history kept across runs
  // quit, exit, Ctrl-D or the end of the input; the reason is for the event log.
  std::function<void(std::string_view reason)> onQuit;
  std::string detachKeys = "\x1d";  // attach's, as bytes (parseDetachKeys): Ctrl-] unless --detach-keys says
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
  // Whole lines that programs forward to taskmaster's stdout (`stdout: /dev/stdout`), each with its '\n'.
  // On a terminal they replace the prompt's line, and the prompt and the half-typed line are drawn again
  // below them; in a script they go to stdout, dropped (and counted) while nobody reads it.
  virtual void output(std::string_view lines) = 0;
  // SIGINT from the terminal: clears the line being typed, stops following (tail -f), or stops waiting for a
  // slow command.
  virtual void interrupt() = 0;
  [[nodiscard]] virtual bool interactive() const = 0;
};

// The interactive shell when stdin is a terminal, the scripted one otherwise.
[[nodiscard]] std::unique_ptr<Shell> makeShell(boost::asio::io_context& io, ShellBackend& backend,
                                               ShellSettings settings);

}  // namespace cli
