// The command table and the typed commands (Service). The text of the answers is in commands_text.cpp.
#include <taskmaster/commands.hpp>

#include <unistd.h>

#include <algorithm>
#include <charconv>
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

// How many words of `args` (after the command name) are NAME and stream, and whether the last one is -n,
// whose number comes next.
std::pair<std::size_t, bool> tailPositionals(const std::vector<std::string>& words) {
  std::size_t positional = 0;
  bool number = false;
  for (std::size_t i = 1; i < words.size(); ++i) {
    const auto& w = words[i];
    if (number) number = false;
    else if (w == "-n") number = true;
    else if (w.size() < 2 || w.front() != '-') ++positional;
  }
  return {positional, number};
}

std::optional<std::size_t> parseCount(std::string_view text) {
  std::size_t n = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, n);
  if (text.empty() || ec != std::errc{} || ptr != end) return std::nullopt;
  return n;
}

Error badArgument(std::string message) {
  return {std::make_error_code(std::errc::invalid_argument), std::move(message)};
}

// What follows an output from now on. The reply that carries the follower reaches its front end a turn of
// the loop later: what is written meanwhile is kept (up to kMaxEarly) and handed over first, so the text
// of the reply and the chunks that follow it leave no gap.
OutputFollower followFromNow(OutputLog& log, std::shared_ptr<OutputLog> keep) {
  constexpr std::size_t kMaxEarly = 4 << 20;
  using Sink = std::function<void(std::string_view)>;
  struct Pending {
    std::string early;
    std::shared_ptr<Sink> sink;
    Subscription subscription;
    bool taken = false;
  };
  auto pending = std::make_shared<Pending>();
  pending->subscription = log.follow([weak = std::weak_ptr(pending)](std::string_view chunk) {
    const auto p = weak.lock();
    if (!p) return;
    if (const auto sink = p->sink) return (*sink)(chunk);  // held: it may unsubscribe while it runs
    if (!p->taken && p->early.size() + chunk.size() <= kMaxEarly) p->early.append(chunk);
  });
  // `keep` holds a program's log while someone follows it, even if its program is removed meanwhile.
  return [pending, keep = std::move(keep)](Sink sink) -> Subscription {
    if (pending->taken) return {};
    pending->taken = true;
    if (!pending->early.empty()) sink(std::exchange(pending->early, {}));
    pending->sink = std::make_shared<Sink>(std::move(sink));
    return Subscription([pending, keep] {
      pending->subscription.reset();
      pending->sink.reset();
    });
  };
}

OutputTail snapshot(OutputLog& log, std::shared_ptr<OutputLog> keep, const TailRequest& request, std::string name,
                    std::string stream) {
  OutputTail tail{std::move(name), std::move(stream),
                  request.size.lines ? log.lastLines(*request.size.lines) : log.lastBytes(request.size.bytes), {}};
  if (request.follow) tail.follow = followFromNow(log, std::move(keep));
  return tail;
}

}  // namespace

Result<TailRequest> parseTailArgs(const std::vector<std::string>& args, bool named) {
  TailRequest request;
  bool sized = false;
  std::vector<std::string_view> positional;
  auto size = [&](std::string_view option) -> std::optional<Error> {
    if (sized) return badArgument(fmt::format("{}: give -BYTES or -n LINES, not both", option));
    sized = true;
    return std::nullopt;
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view word = args[i];
    if (word.size() < 2 || word.front() != '-') {
      positional.push_back(word);
    } else if (word == "-f" || word == "--follow") {
      request.follow = true;
    } else if (word.starts_with("-n")) {  // -n 20 or -n20, as tail(1)
      if (word.size() == 2 && i + 1 == args.size()) return badArgument("-n needs a number of lines: -n 20");
      const std::string_view value = word.size() > 2 ? word.substr(2) : std::string_view(args[++i]);
      const auto lines = parseCount(value);
      if (!lines) return badArgument(fmt::format("-n {}: not a number of lines", value));
      if (auto e = size("-n")) return *e;
      request.size.lines = lines;
    } else if (const auto bytes = parseCount(word.substr(1))) {  // -1600
      if (auto e = size(word)) return *e;
      request.size.bytes = *bytes;
    } else {
      return badArgument(fmt::format("unknown option '{}' (the options are -f, -BYTES and -n LINES)", word));
    }
  }
  if (!named) {
    if (!positional.empty())
      return badArgument(fmt::format("unexpected argument '{}': maintail shows the event log", positional.front()));
    return request;
  }
  if (positional.empty()) return badArgument("which program? Name one: tail web");
  if (positional.size() > 2) return badArgument(fmt::format("unexpected argument '{}'", positional[2]));
  request.name = std::string(positional.front());
  if (positional.size() == 2) {
    if (positional[1] == "stdout") request.stream = StdStream::out;
    else if (positional[1] == "stderr") request.stream = StdStream::err;
    else return badArgument(fmt::format("'{}' is not a stream: stdout or stderr", positional[1]));
  }
  return request;
}

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
      {tail, "tail", "tail [-f] [-BYTES | -n LINES] NAME [stdout|stderr]", "show the end of a program's output",
       {"The last 1600 bytes of its stdout by default; -BYTES shows that many bytes (tail -4000 web), -n LINES",
        "that many lines, and stderr the other stream. NAME is an instance (web:1) or a program of one.",
        "-f goes on showing what the program writes, across its restarts, until Ctrl-C."},
       1, 5, C::nameThenStream},
      {clear, "clear", "clear NAME...", "empty programs' output files and forget their recent output",
       {"Truncates the stdout and stderr files of each instance and forgets what tail would show.",
        "Rotated backups stay."},
       1, kManyArgs, C::names},
      {maintail, "maintail", "maintail [-f] [-BYTES | -n LINES]", "show the end of taskmaster's event log",
       {"As tail, for the event log: the last 1600 bytes by default; -f goes on until Ctrl-C."}, 0, 3, C::nothing},
      {version, "version", "version", "show taskmaster's version", {}, 0, 0, C::nothing},
      {shutdown, "shutdown", "shutdown", "stop every program and exit taskmaster",
       {"Each program gets its stopsignal, then SIGKILL after its stoptime; taskmaster exits once all are down.",
        "In the foreground shell it is the same as quit; from `taskmaster ctl` it stops the daemon."},
       0, 0, C::nothing},
      {quit, "quit", "quit", "stop every program and leave (also: exit, Ctrl-D)",
       {"Each program gets its stopsignal, then SIGKILL after its stoptime; taskmaster exits once all are down.",
        "In the remote shell of `taskmaster ctl` it leaves that shell, and taskmaster goes on."},
       0, 0, C::nothing, CommandScope::shell},
      {attach, "attach", "attach NAME", "show a program's console and type into it (alias: fg)",
       {"Shows the recent output of one instance, then what it writes, and sends what you type to it: on its",
        "terminal (tty: true, the terminal in raw mode) or line by line to its stdin (stdin: true). Ctrl-C goes",
        "to the program. Ctrl-] detaches and leaves it running (taskmaster ctl attach --detach-keys changes",
        "the keys). Several clients may watch one program; one types at a time: the first attached, until it",
        "detaches. It ends with a line saying how when the program's process ends."},
       1, 1, C::names},
      {input, "input", "input BYTES", "send bytes to the attached program (after attach, on its connection)",
       {"Part of attach over the control socket: the bytes go to the program attached on the same connection."},
       1, 1, C::nothing, CommandScope::attached},
      {resize, "resize", "resize ROWS COLUMNS", "set the attached program's terminal size (after attach)",
       {"Part of attach over the control socket: TIOCSWINSZ on its terminal; the program gets SIGWINCH."},
       2, 2, C::nothing, CommandScope::attached},
      {events, "events", "events", "follow state changes as they happen (taskmaster ctl events)",
       {"A stream over the control socket: `taskmaster ctl events` prints each state change until interrupted.",
        "In a shell, the changes that need attention are announced at the prompt instead."},
       0, 0, C::nothing, CommandScope::socket},
  };
  return table;
}

const CommandInfo* findCommand(std::string_view name) {
  if (name == "exit") name = "quit";
  if (name == "fg") name = "attach";  // supervisorctl's name
  const auto& table = commandTable();
  auto it = std::ranges::find(table, name, &CommandInfo::name);
  return it == table.end() ? nullptr : &*it;
}

std::vector<std::string> commandNames() {
  std::vector<std::string> names;
  for (const auto& c : commandTable())
    if (c.scope != CommandScope::attached) names.emplace_back(c.name);
  names.emplace_back("exit");
  names.emplace_back("fg");
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
    case CompletionKind::nameThenStream: {  // options may come anywhere; -n takes the next word
      const auto [positional, number] = tailPositionals(words);
      if (number || positional > 1) return {};
      if (positional == 1) return {"stdout", "stderr"};
      return targetNames();
    }
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

Service::Service(Supervisor& supervisor, Config config, OutputLog* eventLog)
    : supervisor_(supervisor), config_(std::move(config)), read_(config_), eventLog_(eventLog) {}

ApplyReport Service::apply() { return supervisor_.apply(config_); }

ReloadReport Service::reload() {
  ReloadReport report{.path = config_.path, .problems = {}, .applied = {}, .warnings = {}};
  auto loaded = loadConfig(config_.path);
  if (!loaded.ok()) {
    report.problems = std::move(loaded.errors);
    return report;
  }
  // Observers get each change's spec with the change, so the old configuration need not outlive this line.
  config_ = std::move(loaded.config);
  read_ = config_;
  report.applied = supervisor_.apply(config_);
  report.warnings = std::move(loaded.warnings);
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

Result<std::shared_ptr<OutputLog>> Service::output(std::string_view name, StdStream stream) const {
  std::vector<InstanceStatus> instances;
  if (supervisor_.status(name, instances))
    return Error{make_error_code(Errc::no_such_program), describe(unknown(name))};
  if (instances.size() != 1) {
    // Named by a program or "all": say which instances there are to choose from (the first few).
    constexpr std::size_t kShown = 8;
    std::string some;
    for (std::size_t i = 0; i < instances.size() && i < kShown; ++i)
      some += fmt::format("{}{}", i ? ", " : "", instances[i].instance);
    if (instances.size() > kShown) some += ", ...";
    const auto detail = instances.empty()
                            ? fmt::format("{} has no instances (numprocs: 0)", name)
                            : fmt::format("{} has {} instances: name one of them ({})", name, instances.size(), some);
    return Error{std::make_error_code(std::errc::invalid_argument), detail};
  }
  auto log = supervisor_.output(instances.front().instance, stream);
  if (!log)
    return Error{std::make_error_code(std::errc::no_such_file_or_directory),
                 fmt::format("{}: ERROR (no output kept)", instances.front().instance)};
  return log;
}

Result<OutputTail> Service::tail(const TailRequest& request) const {
  auto log = output(request.name, request.stream);
  if (!log) return log.error();
  std::vector<InstanceStatus> instance;
  (void)supervisor_.status(request.name, instance);  // one: output() just checked
  OutputLog& raw = **log;
  return snapshot(raw, std::move(*log), request, instance.front().instance, std::string(to_string(request.stream)));
}

Result<OutputTail> Service::maintail(const TailRequest& request) const {
  if (!eventLog_)
    return Error{std::make_error_code(std::errc::no_such_file_or_directory), "this taskmaster keeps no event log"};
  return snapshot(*eventLog_, nullptr, request, {}, "log");
}

ActionReport Service::clear(const std::vector<std::string>& names) {
  ActionReport report;
  for (const auto& name : names) {
    std::vector<InstanceStatus> instances;
    if (supervisor_.status(name, instances)) {
      report.outcomes.emplace_back(unknown(name));
      continue;
    }
    const auto ec = supervisor_.clearOutput(name);
    for (const auto& s : instances)
      report.outcomes.emplace_back(Outcome{s.instance, !ec, ec ? ec.message() : "cleared"});
  }
  return report;
}

int Service::ownPid() { return static_cast<int>(::getpid()); }

std::string_view Service::version() { return kVersion; }

}  // namespace taskmaster::inline v0
