// The command table and the typed commands (Service). The text of the answers is in commands_text.cpp.
#include <taskmaster/commands.hpp>

#include <unistd.h>

#include <algorithm>
#include <memory>
#include <set>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <taskmaster/error.hpp>
#include <taskmaster/version.hpp>

namespace taskmaster::inline v0 {

namespace {

// Signal names offered by completion: the ones people send by hand.
const std::vector<std::string> kCommonSignals{"HUP", "INT", "QUIT", "KILL", "USR1", "USR2", "TERM", "CONT", "STOP"};

}  // namespace

const std::vector<CommandInfo>& commandTable() {
  using C = CompletionKind;
  using enum CommandId;
  static const std::vector<CommandInfo> table{
      {help, "help", "help [COMMAND]", "list the commands, or explain one", {}, 0, 1, C::commands},
      {status, "status", "status [NAME...]", "show the state of programs (all by default)",
       {"One line per instance: its name, its state, then the pid and uptime when running, the exit",
        "status and its time when exited or stopped, or the reason when BACKOFF or FATAL."},
       0, kManyArgs, C::names},
      {start, "start", "start NAME...", "start programs and wait until they are RUNNING",
       {"Returns once each instance is RUNNING (it stayed up for starttime) or its start failed."},
       1, kManyArgs, C::names},
      {stop, "stop", "stop NAME...", "stop programs and wait until they are STOPPED",
       {"Sends each program's stopsignal, then SIGKILL after its stoptime, and returns once they are down."},
       1, kManyArgs, C::names},
      {restart, "restart", "restart NAME...", "stop programs, then start them again",
       {"Returns once each instance is RUNNING again or its start failed."}, 1, kManyArgs, C::names},
      {reload, "reload", "reload", "re-read the configuration file and apply the changes",
       {"New programs are added (and started if autostart), programs whose command changed are restarted,",
        "removed programs are stopped, and unchanged programs keep running untouched. A file with errors",
        "changes nothing: its problems are listed. SIGHUP does the same."},
       0, 0, C::nothing},
      {pid, "pid", "pid [NAME...]", "the pid of taskmaster, or of programs' processes (0: not running)", {}, 0,
       kManyArgs, C::names},
      {signal, "signal", "signal SIGNAL NAME...", "send a signal to programs' processes",
       {"SIGNAL is a name (TERM, SIGUSR1, hup) or a number. Only the main process of each instance gets it."},
       2, kManyArgs, C::signalThenNames},
      {version, "version", "version", "show taskmaster's version", {}, 0, 0, C::nothing},
      {shutdown, "shutdown", "shutdown", "stop every program and exit taskmaster",
       {"Each program gets its stopsignal, then SIGKILL after its stoptime; taskmaster exits once all are down.",
        "In the foreground shell it is the same as quit; from `taskmaster ctl` it stops the daemon."},
       0, 0, C::nothing},
      {quit, "quit", "quit", "stop every program and leave (also: exit, Ctrl-D)",
       {"Each program gets its stopsignal, then SIGKILL after its stoptime; taskmaster exits once all are down.",
        "In the remote shell of `taskmaster ctl` it leaves that shell, and taskmaster goes on."},
       0, 0, C::nothing, CommandScope::shell},
      {events, "events", "events", "follow state changes as they happen (taskmaster ctl events)",
       {"A stream over the control socket: `taskmaster ctl events` prints each state change until interrupted.",
        "In a shell, the changes that need attention are announced at the prompt instead."},
       0, 0, C::nothing, CommandScope::socket},
  };
  return table;
}

const CommandInfo* findCommand(std::string_view name) {
  if (name == "exit") name = "quit";
  const auto& table = commandTable();
  auto it = std::ranges::find(table, name, &CommandInfo::name);
  return it == table.end() ? nullptr : &*it;
}

std::vector<std::string> commandNames() {
  std::vector<std::string> names;
  for (const auto& c : commandTable()) names.emplace_back(c.name);
  names.emplace_back("exit");
  return names;
}

std::string unknownCommandMessage(std::string_view name, std::string_view wording) {
  std::string message = fmt::format("{} '{}'", wording, name);
  if (auto guess = suggest(name, commandNames())) message += fmt::format(" (did you mean '{}'?)", *guess);
  return message;
}

std::vector<std::string> completeWords(const std::vector<std::string>& words,
                                       const std::function<std::vector<std::string>()>& targetNames) {
  if (words.empty()) return commandNames();
  const CommandInfo* command = findCommand(words.front());
  if (!command || words.size() > command->maxArgs) return {};
  switch (command->completes) {
    case CompletionKind::nothing: return {};
    case CompletionKind::commands: return commandNames();
    case CompletionKind::signalThenNames:
      if (words.size() == 1) return kCommonSignals;
      return targetNames();
    case CompletionKind::names: return targetNames();
  }
  return {};
}

// --- reports ---------------------------------------------------------------------------------------

bool ActionReport::ok() const {
  return std::ranges::all_of(outcomes, [](const auto& o) {
    const auto* outcome = std::get_if<Outcome>(&o);
    return outcome && outcome->ok;
  });
}

bool SignalReport::ok() const {
  return std::ranges::all_of(results, [](const auto& r) {
    const auto* sent = std::get_if<SignalSent>(&r);
    return sent && sent->pid > 0;
  });
}

// --- Service ---------------------------------------------------------------------------------------

Service::Service(Supervisor& supervisor, Config config, OutputLog* /*eventLog*/)
    : supervisor_(supervisor), config_(std::move(config)) {}

ApplyReport Service::apply() { return supervisor_.apply(config_); }

ReloadReport Service::reload() {
  ReloadReport report{.path = config_.path, .problems = {}, .applied = {}};
  auto loaded = loadConfig(config_.path);
  if (!loaded.ok()) {
    report.problems = std::move(loaded.errors);
    return report;
  }
  // Observers get each change's spec with the change, so the old configuration need not outlive this line.
  config_ = std::move(loaded.config);
  report.applied = supervisor_.apply(config_);
  return report;
}

std::vector<std::string> Service::targetNames() const {
  std::set<std::string> names{"all"};
  for (auto& n : supervisor_.programNames()) names.insert(std::move(n));
  for (auto& n : supervisor_.instanceNames()) names.insert(std::move(n));
  return {names.begin(), names.end()};
}

UnknownName Service::unknown(std::string_view name) const {
  return {std::string(name), suggest(name, targetNames())};
}

StatusReport Service::status(const std::vector<std::string>& names) const {
  StatusReport report;
  if (names.empty()) {
    report.instances = supervisor_.status();
    return report;
  }
  for (const auto& name : names) {
    std::vector<InstanceStatus> some;
    if (supervisor_.status(name, some)) {
      report.unknown.push_back(unknown(name));
      continue;
    }
    report.instances.insert(report.instances.end(), std::make_move_iterator(some.begin()),
                            std::make_move_iterator(some.end()));
  }
  return report;
}

void Service::start(const std::vector<std::string>& names, ActionDone done) {
  act(&Supervisor::start, names, std::move(done));
}

void Service::stop(const std::vector<std::string>& names, ActionDone done) {
  act(&Supervisor::stop, names, std::move(done));
}

void Service::restart(const std::vector<std::string>& names, ActionDone done) {
  act(&Supervisor::restart, names, std::move(done));
}

// Runs `action` on every name at once and answers when all have settled, in the order of the names.
void Service::act(Action action, const std::vector<std::string>& names, ActionDone done) {
  using Entry = std::variant<Outcome, UnknownName>;
  struct Gather {
    std::vector<std::vector<Entry>> parts;  // per name
    std::size_t pending;
    ActionDone done;
  };
  // One extra pending count, released after the loop, so a completion arriving early cannot finish it.
  auto gather = std::make_shared<Gather>(Gather{std::vector<std::vector<Entry>>(names.size()), names.size() + 1,
                                                std::move(done)});
  auto release = [gather] {
    if (--gather->pending > 0) return;
    ActionReport report;
    for (auto& part : gather->parts)
      for (auto& entry : part) report.outcomes.push_back(std::move(entry));
    gather->done(std::move(report));
  };
  for (std::size_t i = 0; i < names.size(); ++i) {
    auto& part = gather->parts[i];
    auto ec = (supervisor_.*action)(names[i], [&part, release](std::vector<Outcome> outcomes) {
      for (auto& o : outcomes) part.emplace_back(std::move(o));
      release();
    });
    if (ec == Errc::no_such_program) part.emplace_back(unknown(names[i]));
    else if (ec) part.emplace_back(Outcome{names[i], false, ec.message()});
    if (ec) release();
  }
  // Completions arrive through the loop; the answer must as well, even when every name failed at once.
  boost::asio::post(supervisor_.context(), release);
}

SignalReport Service::signal(int signal, const std::vector<std::string>& names) {
  SignalReport report{.signal = signal, .results = {}};
  for (const auto& name : names) {
    std::vector<InstanceStatus> targets;
    if (supervisor_.status(name, targets)) {
      report.results.emplace_back(unknown(name));
      continue;
    }
    for (const auto& s : targets) report.results.emplace_back(SignalSent{s.instance, s.pid});
    (void)supervisor_.signal(name, signal);  // known: it resolved just above
  }
  return report;
}

void Service::shutdown(std::function<void()> done) { supervisor_.shutdown(std::move(done)); }

int Service::ownPid() { return static_cast<int>(::getpid()); }

std::string_view Service::version() { return kVersion; }

}  // namespace taskmaster::inline v0
