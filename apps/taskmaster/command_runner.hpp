// The shell's commands, apart from any terminal: a command line goes in, a structured result comes out
// through a callback. The interactive shell, the scripted (pipe) shell and SIGHUP all go through it, and a
// control socket can too.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>
#include <taskmaster/config.hpp>
#include <taskmaster/supervisor.hpp>

#include "event_log.hpp"

namespace cli {

struct CommandResult {
  bool ok = true;
  std::vector<std::string> lines{};  // what to show, one line each, no newlines
  boost::json::value data{};         // the same answer for programs (`taskmaster ctl --json`)
  std::vector<std::string> errors{};  // the failures among `lines`, for the event log
  bool quit = false;                // the command asks its front end to stop everything and leave
  bool usage = false;               // the command itself was wrong (unknown, or wrong arguments)

  void fail(std::string line) {
    ok = false;
    errors.push_back(line);
    lines.push_back(std::move(line));
  }
};
using CommandDone = std::function<void(CommandResult)>;

// Who asks, and how the answer is shown.
struct CommandContext {
  std::string source = "shell";  // for the event log: "shell", "SIGHUP", ...
  bool colour = false;           // ANSI colours in the result
};

// What a shell needs: run a line, complete a word. Local (CommandRunner) or remote (over the control socket).
class Commands {
 public:
  virtual ~Commands() = default;
  // `done` is called exactly once, later on the loop, after the command has finished.
  virtual void run(std::string_view line, const CommandContext& context, CommandDone done) = 0;
  // What may come next after `words`, the complete words typed so far (none: a command name).
  [[nodiscard]] virtual std::vector<std::string> completions(const std::vector<std::string>& words) const = 0;
};

class CommandRunner final : public Commands {
 public:
  // `config` is what the supervisor runs (the caller applies it); reload reads config.path again.
  CommandRunner(taskmaster::Supervisor& supervisor, taskmaster::Config config, EventLog& log);

  // Runs one command line. `done` is called exactly once, always later on the io_context (never from
  // inside run()), after the command has finished: start, stop and restart wait for their instances.
  void run(std::string_view line, const CommandContext& context, CommandDone done) override;
  // The same, already split into words (a command name, then its arguments): for a control socket.
  void run(const std::vector<std::string>& words, const CommandContext& context, CommandDone done);

  [[nodiscard]] std::vector<std::string> completions(const std::vector<std::string>& words) const override;
  // The command names, for a remote front end that completes them without asking.
  [[nodiscard]] static std::vector<std::string> commandNames();

  [[nodiscard]] const taskmaster::Config& config() const { return config_; }
  // The current spec of a program; during a reload, a removed program's last one. Null when unknown.
  [[nodiscard]] const taskmaster::ProgramSpec* spec(std::string_view program) const;

  // "added: a, b" ... one line per non-empty part of an ApplyReport.
  [[nodiscard]] static std::vector<std::string> describe(const taskmaster::ApplyReport& report);

 private:
  struct Command;  // defined with the command table
  using Args = std::vector<std::string>;

  [[nodiscard]] static const std::vector<Command>& commands();
  [[nodiscard]] static const Command* find(std::string_view name);

  void help(const Args& args, const CommandContext& context, CommandDone done);
  void status(const Args& args, const CommandContext& context, CommandDone done);
  void start(const Args& args, const CommandContext& context, CommandDone done);
  void stop(const Args& args, const CommandContext& context, CommandDone done);
  void restart(const Args& args, const CommandContext& context, CommandDone done);
  void reload(const Args& args, const CommandContext& context, CommandDone done);
  void pid(const Args& args, const CommandContext& context, CommandDone done);
  void signal(const Args& args, const CommandContext& context, CommandDone done);
  void version(const Args& args, const CommandContext& context, CommandDone done);
  void quit(const Args& args, const CommandContext& context, CommandDone done);
  void shutdown(const Args& args, const CommandContext& context, CommandDone done);

  using Action = std::error_code (taskmaster::Supervisor::*)(std::string_view, taskmaster::Completion);
  void control(Action action, const Args& names, CommandDone done);

  // "wbe: ERROR (no such program; did you mean 'web'?)"
  [[nodiscard]] std::string noSuchProgram(std::string_view name) const;
  [[nodiscard]] std::vector<std::string> targetNames() const;  // "all", programs and instances
  [[nodiscard]] std::vector<taskmaster::InstanceStatus> lookUp(const Args& names, std::vector<std::string>& unknown) const;
  void finish(const CommandDone& done, CommandResult result) const;

  taskmaster::Supervisor& supervisor_;
  taskmaster::Config config_;
  const taskmaster::Config* previous_ = nullptr;  // during a reload's apply() only
  EventLog& log_;
};

}  // namespace cli
