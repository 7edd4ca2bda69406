#include "command_runner.hpp"

#include <unistd.h>

#include <algorithm>
#include <memory>
#include <set>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join
#include <boost/json.hpp>
#include <taskmaster/control.hpp>
#include <taskmaster/error.hpp>
#include <taskmaster/version.hpp>

#include "status_format.hpp"

namespace cli {
using taskmaster::Supervisor;

struct CommandRunner::Command {
  enum class Completes { nothing, commands, names, signalThenNames };

  std::string_view name;
  std::string_view usage;
  std::string_view summary;
  std::vector<std::string_view> details;
  std::size_t minArgs;
  std::size_t maxArgs;
  void (CommandRunner::*handler)(const Args&, const CommandContext&, CommandDone);
  Completes completes;
};

namespace {

constexpr std::size_t kMany = static_cast<std::size_t>(-1);

std::string join(const std::vector<std::string>& words, std::string_view separator = ", ") {
  return fmt::format("{}", fmt::join(words, separator));
}

// Signal names offered by completion: the ones people send by hand.
boost::json::object outcomeJson(std::string_view instance, bool ok, std::string_view message) {
  return {{"instance", instance}, {"ok", ok}, {"message", message}};
}

boost::json::array toArray(const std::vector<std::string>& names) {
  boost::json::array out;
  for (const auto& n : names) out.emplace_back(n);
  return out;
}

const std::vector<std::string> kCommonSignals{"HUP", "INT", "QUIT", "KILL", "USR1", "USR2", "TERM", "CONT", "STOP"};

}  // namespace

const std::vector<CommandRunner::Command>& CommandRunner::commands() {
  using C = Command::Completes;
  static const std::vector<Command> table{
      {"help", "help [COMMAND]", "list the commands, or explain one",
       {}, 0, 1, &CommandRunner::help, C::commands},
      {"status", "status [NAME...]", "show the state of programs (all by default)",
       {"One line per instance: its name, its state, then the pid and uptime when running, the exit",
        "status and its time when exited or stopped, or the reason when BACKOFF or FATAL."},
       0, kMany, &CommandRunner::status, C::names},
      {"start", "start NAME...", "start programs and wait until they are RUNNING",
       {"Returns once each instance is RUNNING (it stayed up for starttime) or its start failed."},
       1, kMany, &CommandRunner::start, C::names},
      {"stop", "stop NAME...", "stop programs and wait until they are STOPPED",
       {"Sends each program's stopsignal, then SIGKILL after its stoptime, and returns once they are down."},
       1, kMany, &CommandRunner::stop, C::names},
      {"restart", "restart NAME...", "stop programs, then start them again",
       {"Returns once each instance is RUNNING again or its start failed."},
       1, kMany, &CommandRunner::restart, C::names},
      {"reload", "reload", "re-read the configuration file and apply the changes",
       {"New programs are added (and started if autostart), programs whose command changed are restarted,",
        "removed programs are stopped, and unchanged programs keep running untouched. A file with errors",
        "changes nothing: its problems are listed. SIGHUP does the same."},
       0, 0, &CommandRunner::reload, C::nothing},
      {"pid", "pid [NAME...]", "the pid of taskmaster, or of programs' processes (0: not running)",
       {}, 0, kMany, &CommandRunner::pid, C::names},
      {"signal", "signal SIGNAL NAME...", "send a signal to programs' processes",
       {"SIGNAL is a name (TERM, SIGUSR1, hup) or a number. Only the main process of each instance gets it."},
       2, kMany, &CommandRunner::signal, C::signalThenNames},
      {"version", "version", "show taskmaster's version", {}, 0, 0, &CommandRunner::version, C::nothing},
      {"shutdown", "shutdown", "stop every program and exit taskmaster",
       {"Each program gets its stopsignal, then SIGKILL after its stoptime; taskmaster exits once all are down.",
        "In the foreground shell it is the same as quit; from `taskmaster ctl` it stops the daemon."},
       0, 0, &CommandRunner::shutdown, C::nothing},
      {"quit", "quit", "stop every program and leave (also: exit, Ctrl-D)",
       {"Each program gets its stopsignal, then SIGKILL after its stoptime; taskmaster exits once all are down."},
       0, 0, &CommandRunner::quit, C::nothing},
  };
  return table;
}

std::vector<std::string> CommandRunner::commandNames() {
  std::vector<std::string> names;
  for (const auto& c : commands()) names.emplace_back(c.name);
  names.emplace_back("exit");
  return names;
}

const CommandRunner::Command* CommandRunner::find(std::string_view name) {
  if (name == "exit") name = "quit";
  auto it = std::ranges::find(commands(), name, &Command::name);
  return it == commands().end() ? nullptr : &*it;
}

CommandRunner::CommandRunner(Supervisor& supervisor, taskmaster::Config config, EventLog& log)
    : supervisor_(supervisor), config_(std::move(config)), log_(log) {}

const taskmaster::ProgramSpec* CommandRunner::spec(std::string_view program) const {
  for (const auto* config : {&config_, previous_}) {
    if (!config) continue;
    auto it = std::ranges::find(config->programs, program, &taskmaster::ProgramSpec::name);
    if (it != config->programs.end()) return &*it;
  }
  return nullptr;
}

void CommandRunner::finish(const CommandDone& done, CommandResult result) const {
  boost::asio::post(supervisor_.context(), [done, result = std::move(result)]() mutable { done(std::move(result)); });
}

void CommandRunner::run(std::string_view line, const CommandContext& context, CommandDone done) {
  auto words = taskmaster::splitCommand(line);
  if (!words) {
    CommandResult result;
    result.fail("unterminated quote or trailing backslash");
    return finish(done, std::move(result));
  }
  if (words->empty() || words->front().starts_with('#')) return finish(done, {});  // blank line or comment
  run(*words, context, std::move(done));
}

void CommandRunner::run(const std::vector<std::string>& words, const CommandContext& context, CommandDone done) {
  if (words.empty()) return finish(done, {});
  const std::string text = join(words, " ");
  log_.info("command from {}: {}", context.source, text);
  // Failures go to the log too, whatever the front end does with them.
  CommandDone logged = [this, source = context.source, text, done = std::move(done)](CommandResult result) {
    for (const auto& e : result.errors) log_.warn("command from {} failed: {}: {}", source, text, e);
    done(std::move(result));
  };

  const std::string& name = words.front();
  const Command* command = find(name);
  if (!command) {
    const auto names = commandNames();
    std::string message = fmt::format("unknown command '{}'", name);
    if (auto guess = taskmaster::suggest(name, names)) message += fmt::format(" (did you mean '{}'?)", *guess);
    CommandResult result{.usage = true};
    result.fail(message + "; type 'help' for the list");
    return finish(logged, std::move(result));
  }
  Args args(words.begin() + 1, words.end());
  if (args.size() < command->minArgs || args.size() > command->maxArgs) {
    CommandResult result{.usage = true};
    result.fail(fmt::format("usage: {}", command->usage));
    return finish(logged, std::move(result));
  }
  (this->*command->handler)(args, context, std::move(logged));
}

std::vector<std::string> CommandRunner::targetNames() const {
  std::set<std::string> names{"all"};
  for (auto& n : supervisor_.programNames()) names.insert(n);
  for (auto& n : supervisor_.instanceNames()) names.insert(n);
  return {names.begin(), names.end()};
}

// The instances the names address, in order; an error line per unknown name goes to `unknown`.
std::vector<taskmaster::InstanceStatus> CommandRunner::lookUp(const Args& names, std::vector<std::string>& unknown) const {
  std::vector<taskmaster::InstanceStatus> shown;
  for (const auto& name : names) {
    std::vector<taskmaster::InstanceStatus> some;
    if (supervisor_.status(name, some)) {
      unknown.push_back(noSuchProgram(name));
      continue;
    }
    shown.insert(shown.end(), some.begin(), some.end());
  }
  return shown;
}

std::string CommandRunner::noSuchProgram(std::string_view name) const {
  std::string message = fmt::format("{}: ERROR (no such program", name);
  if (auto guess = taskmaster::suggest(name, targetNames())) message += fmt::format("; did you mean '{}'?", *guess);
  return message + ")";
}

std::vector<std::string> CommandRunner::completions(const std::vector<std::string>& words) const {
  using C = Command::Completes;
  std::vector<std::string> out;
  if (words.empty()) return commandNames();
  const Command* command = find(words.front());
  if (!command || words.size() > command->maxArgs) return out;
  switch (command->completes) {
    case C::nothing: return out;
    case C::commands: return completions({});
    case C::signalThenNames:
      if (words.size() == 1) return kCommonSignals;
      return targetNames();
    case C::names: return targetNames();
  }
  return out;
}

std::vector<std::string> CommandRunner::describe(const taskmaster::ApplyReport& report) {
  std::vector<std::string> lines;
  auto part = [&](std::string_view label, const std::vector<std::string>& names) {
    if (!names.empty()) lines.push_back(fmt::format("{}: {}", label, join(names)));
  };
  part("added", report.added);
  part("changed (restarted)", report.changed);
  part("updated", report.updated);
  part("removed", report.removed);
  part("unchanged", report.unchanged);
  if (lines.empty()) lines.emplace_back("no programs");
  return lines;
}

// --- commands -------------------------------------------------------------------------------------

void CommandRunner::help(const Args& args, const CommandContext&, CommandDone done) {
  CommandResult result;
  if (args.empty()) {
    result.lines.emplace_back("Commands:");
    for (const auto& c : commands()) result.lines.push_back(fmt::format("  {:<22}{}", c.usage, c.summary));
    result.lines.emplace_back("NAME is a program (all its instances), an instance such as web:1, or all.");
    result.lines.emplace_back("Type 'help COMMAND' for more about one command.");
    return finish(done, std::move(result));
  }
  const Command* command = find(args.front());
  if (!command) {
    std::vector<std::string> names;
    for (const auto& c : commands()) names.emplace_back(c.name);
    std::string message = fmt::format("no command '{}'", args.front());
    if (auto guess = taskmaster::suggest(args.front(), names)) message += fmt::format(" (did you mean '{}'?)", *guess);
    result.fail(message);
    return finish(done, std::move(result));
  }
  result.lines.push_back(fmt::format("usage: {}", command->usage));
  result.lines.push_back(fmt::format("  {}", command->summary));
  for (auto line : command->details) result.lines.push_back(fmt::format("  {}", line));
  finish(done, std::move(result));
}

void CommandRunner::status(const Args& args, const CommandContext& context, CommandDone done) {
  CommandResult result;
  std::vector<std::string> unknown;
  const auto shown = args.empty() ? supervisor_.status() : lookUp(args, unknown);
  result.lines = formatStatus(shown, std::chrono::system_clock::now(), context.colour);
  boost::json::array data;
  for (const auto& s : shown) data.push_back(taskmaster::control::toJson(s));
  result.data = std::move(data);
  if (args.empty() && shown.empty()) result.lines.emplace_back("no programs");
  for (auto& line : unknown) result.fail(std::move(line));
  finish(done, std::move(result));
}

void CommandRunner::start(const Args& args, const CommandContext&, CommandDone done) {
  control(&Supervisor::start, args, std::move(done));
}

void CommandRunner::stop(const Args& args, const CommandContext&, CommandDone done) {
  control(&Supervisor::stop, args, std::move(done));
}

void CommandRunner::restart(const Args& args, const CommandContext&, CommandDone done) {
  control(&Supervisor::restart, args, std::move(done));
}

// Runs `action` on every name at once and answers when all have settled, in the order of the names.
void CommandRunner::control(Action action, const Args& names, CommandDone done) {
  struct Line {
    std::string text;
    bool error;
    boost::json::object data;  // {"instance", "ok", "message"}
  };
  struct Gather {
    std::vector<std::vector<Line>> parts;  // per name
    std::size_t pending;
    CommandDone done;
  };
  // One extra pending count, released after the loop, so a completion arriving early cannot finish it.
  auto gather = std::make_shared<Gather>(Gather{std::vector<std::vector<Line>>(names.size()), names.size() + 1,
                                                std::move(done)});
  auto release = [gather] {
    if (--gather->pending > 0) return;
    CommandResult result;
    boost::json::array data;
    for (auto& part : gather->parts) {
      for (auto& [text, error, item] : part) {
        if (error) result.fail(std::move(text));
        else result.lines.push_back(std::move(text));
        data.push_back(std::move(item));
      }
    }
    result.data = std::move(data);
    gather->done(std::move(result));
  };
  for (std::size_t i = 0; i < names.size(); ++i) {
    auto& part = gather->parts[i];
    auto ec = (supervisor_.*action)(names[i], [&part, gather, release](std::vector<taskmaster::Outcome> outcomes) {
      for (auto& o : outcomes) {
        auto text = o.ok ? fmt::format("{}: {}", o.instance, o.message) : fmt::format("{}: ERROR ({})", o.instance, o.message);
        part.push_back({std::move(text), !o.ok, outcomeJson(o.instance, o.ok, o.message)});
      }
      release();
    });
    if (ec) {
      auto text = ec == taskmaster::Errc::no_such_program ? noSuchProgram(names[i])
                                                          : fmt::format("{}: ERROR ({})", names[i], ec.message());
      part.push_back({std::move(text), true, outcomeJson(names[i], false, ec.message())});
      release();
    }
  }
  // Completions arrive through the loop; the answer must as well, even when every name failed at once.
  boost::asio::post(supervisor_.context(), release);
}

void CommandRunner::reload(const Args&, const CommandContext& context, CommandDone done) {
  CommandResult result;
  log_.info("reloading the configuration from {} (asked by {})", config_.path, context.source);
  auto loaded = taskmaster::loadConfig(config_.path);
  if (!loaded.ok()) {
    for (const auto& d : loaded.errors) result.fail(d.str());
    result.fail(fmt::format("reload failed: {} problem{} in {}; nothing changed", loaded.errors.size(),
                            loaded.errors.size() == 1 ? "" : "s", config_.path));
    return finish(done, std::move(result));
  }
  // Observers look specs up while apply() runs: changed programs restart with their new options, and
  // removed programs stop with their old ones.
  const taskmaster::Config previous = std::exchange(config_, std::move(loaded.config));
  previous_ = &previous;
  const auto report = supervisor_.apply(config_);
  previous_ = nullptr;
  result.lines = describe(report);
  result.data = {{"added", toArray(report.added)},     {"changed", toArray(report.changed)},
                 {"updated", toArray(report.updated)}, {"removed", toArray(report.removed)},
                 {"unchanged", toArray(report.unchanged)}};
  log_.info("configuration reloaded from {}: {}", config_.path, join(result.lines, "; "));
  finish(done, std::move(result));
}

void CommandRunner::pid(const Args& args, const CommandContext&, CommandDone done) {
  CommandResult result;
  if (args.empty()) {
    result.lines.push_back(std::to_string(::getpid()));
    result.data = ::getpid();
    return finish(done, std::move(result));
  }
  std::vector<std::string> unknown;
  const auto shown = lookUp(args, unknown);
  // One instance: the bare number, for scripts ($(taskmaster ... pid web)); several: name and pid.
  if (shown.size() == 1 && unknown.empty()) {
    result.lines.push_back(std::to_string(shown.front().pid));
  } else {
    for (const auto& s : shown) result.lines.push_back(fmt::format("{} {}", s.instance, s.pid));
  }
  boost::json::object pids;
  for (const auto& s : shown) pids[s.instance] = s.pid;
  result.data = std::move(pids);
  for (auto& line : unknown) result.fail(std::move(line));
  finish(done, std::move(result));
}

void CommandRunner::signal(const Args& args, const CommandContext&, CommandDone done) {
  CommandResult result;
  auto number = taskmaster::parseSignal(args.front());
  if (!number) {
    result.fail(fmt::format("unknown signal '{}'", args.front()));
    return finish(done, std::move(result));
  }
  const std::string name = "SIG" + taskmaster::signalName(*number);
  for (auto it = args.begin() + 1; it != args.end(); ++it) {
    std::vector<taskmaster::InstanceStatus> targets;
    if (supervisor_.status(*it, targets)) {
      result.fail(noSuchProgram(*it));
      continue;
    }
    for (const auto& s : targets) {
      if (s.pid > 0) result.lines.push_back(fmt::format("{}: sent {} to pid {}", s.instance, name, s.pid));
      else result.fail(fmt::format("{}: ERROR (not running)", s.instance));
    }
    (void)supervisor_.signal(*it, *number);
  }
  finish(done, std::move(result));
}

void CommandRunner::version(const Args&, const CommandContext&, CommandDone done) {
  finish(done, {.lines = {fmt::format("taskmaster {}", taskmaster::kVersion)}, .data = taskmaster::kVersion});
}

void CommandRunner::quit(const Args&, const CommandContext&, CommandDone done) {
  finish(done, {.quit = true});
}

void CommandRunner::shutdown(const Args&, const CommandContext&, CommandDone done) {
  finish(done, {.lines = {"stopping every program, then exiting"}, .quit = true});
}

}  // namespace cli
