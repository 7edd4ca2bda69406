#include "daemon/supervise.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string_view>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>
#include <taskmaster/taskmaster.hpp>
#include <taskmaster/xmlrpc.hpp>

#include "convert.hpp"
#include "daemon/detach.hpp"
#include "daemon/init.hpp"
#include "daemon/notify.hpp"
#include "daemon/settings.hpp"
#include "log/event_log.hpp"
#include "shell/shell.hpp"

namespace cli {
namespace {
namespace asio = boost::asio;

// Colours at a terminal that can show them. Asked once: stdout and the environment do not change.
bool colourWanted() {
  static const bool wanted = [] {
    const char* term = std::getenv("TERM");
    return ::isatty(STDOUT_FILENO) && !std::getenv("NO_COLOR") && !(term && std::string_view(term) == "dumb");
  }();
  return wanted;
}

// taskmaster's own stdout and stderr while it runs: written without ever blocking (a pipe nobody reads, a
// terminal stopped with Ctrl-S), what they cannot take dropped and counted. One writer per descriptor, so
// that the event log's mirror and forwarded lines never cut into each other. (A shell writes its answers and
// notices itself.)
struct Stdio {
  explicit Stdio(asio::io_context& io) : out(io, STDOUT_FILENO), err(io, STDERR_FILENO) {}
  taskmaster::OutputWriter out;
  taskmaster::OutputWriter err;
};

// The event log's file and rotation: the command line first, then the configuration, then the defaults.
struct LogSettings {
  std::string path;
  taskmaster::Rotation rotation;
  bool operator==(const LogSettings&) const = default;
};

// `config` is null when there is no valid configuration to take settings from.
LogSettings logSettings(const RunOptions& options, const taskmaster::Config* config) {
  static const taskmaster::Config none;
  const auto& c = config ? *config : none;
  const auto maxBytes = options.logMaxBytes.value_or(c.logfileMaxBytes.value_or(taskmaster::kDefaultMaxBytes));
  const auto backups = options.logBackups.value_or(c.logfileBackups.value_or(taskmaster::kDefaultBackups));
  return {.path = options.logPath.value_or(c.logfile.value_or(kDefaultLogPath)),
          .rotation = {.maxBytes = maxBytes, .backups = backups}};
}

// The commands of the shell, run by the Interpreter; `after` runs once each has finished, before its answer.
class AppBackend final : public ShellBackend {
 public:
  AppBackend(taskmaster::Interpreter& interpreter, taskmaster::RunContext context,
             std::function<void(const taskmaster::CommandReply&)> after)
      : local_(interpreter, std::move(context)), after_(std::move(after)) {}
  void run(const std::vector<std::string>& words, std::function<void(taskmaster::CommandReply)> done) override {
    local_.run(words, [this, done = std::move(done)](taskmaster::CommandReply reply) {
      after_(reply);
      done(std::move(reply));
    });
  }
  [[nodiscard]] std::vector<std::string> completions(const std::vector<std::string>& words) const override {
    return local_.completions(words);
  }

 private:
  LocalBackend local_;
  std::function<void(const taskmaster::CommandReply&)> after_;
};

// The control socket's handler, with `after` run once each command has finished, before its reply goes out.
taskmaster::control::Handler followedBy(taskmaster::control::Handler handler,
                                        std::function<void(std::string_view cmd, bool ok)> after) {
  namespace control = taskmaster::control;
  return [handler = std::move(handler), after = std::move(after)](const control::Request& request,
                                                                  control::Responder respond) {
    handler(request, control::Responder([after, respond, cmd = request.cmd](control::Reply reply,
                                                                           control::StreamSource stream) {
              after(cmd, reply.ok);
              respond(std::move(reply), std::move(stream));
            }));
  };
}

// The least important events logged: --log-level, else the configuration's `loglevel`, else info.
taskmaster::LogLevel logLevel(const RunOptions& options, const taskmaster::Config& config) {
  return options.logLevel.value_or(config.loglevel.value_or(taskmaster::LogLevel::info));
}

// Everything that lives on the loop: the supervisor, its observers, the shell, the socket and the signals.
class App {
 public:
  App(asio::io_context& io, Stdio& stdio, taskmaster::Config config, EventLog& log, LogSettings logSettings,
      const RunOptions& options)
      : io_(io),
        stdio_(stdio),
        log_(log),
        logSettings_(std::move(logSettings)),
        options_(options),
        supervisor_(io),
        events_(supervisor_, log.sink()),
        hooks_(supervisor_, log.sink()),
        notifier_(io, supervisor_, log.sink()),
        service_(supervisor_, std::move(config), &log.output()),
        interpreter_(service_, log.sink()),
        stateLogger_(log),
        server_(io, supervisor_,
                followedBy(notifier_.aroundReloads(taskmaster::control::commandHandler(
                               interpreter_, [this] { quit("shutdown over the control socket"); })),
                           [this](std::string_view cmd, bool ok) {
                             followConfig();
                             if (cmd == "reload" && ok) fireReload("the control socket");
                           })),
        collector_(supervisor_),
        metrics_(io, collector_),
        interface_(service_, {.shutdown = [this] { quit("shutdown over XML-RPC"); },
                              .restart = [this] { restart(); },
                              .remoteCommunication = [this](std::string_view type, std::string_view data) {
                                events_.remoteCommunication(type, data);
                              },
                              .configChanged = [this] { events_.configure(service_.config()); }}),
        xmlrpc_(io, service_, interface_),
        signals_(io, SIGHUP, SIGTERM, SIGINT) {
    signals_.add(SIGUSR2);
    signals_.add(SIGQUIT);  // as a container runtime or an init system stops its PID 1: see onSignal()
    signals_.add(SIGPWR);
  }

  int run() {
    // What the library says beside state changes (a throwing observer, an exit reaped elsewhere).
    supervisor_.setLogSink(log_.sink());
    // One pidfd per child: the usual soft limit of 1024 would cap the processes near 1,000. Children get the
    // original limit back.
    if (auto limit = taskmaster::raiseFdLimit(); !limit) log_.warn("{}", limit.error().str());
    if (auto error = adoptOrphans(options_, supervisor_); !error.empty()) log_.warn("{}", error);
    logged_ = supervisor_.onStateChange([this](const taskmaster::StateChange& c) { stateLogger_(c); });
    loggedDetails_ = supervisor_.onDetailChange([this](const taskmaster::DetailChange& d) { stateLogger_(d); });
    critical_ = supervisor_.onStateChange([this](const taskmaster::StateChange& c) { endIfCritical(c); });
    announced_ = supervisor_.onStateChange([this](const taskmaster::StateChange& c) { announce(c); });
    if (!options_.daemon && !options_.noShell) {
      backend_.emplace(interpreter_, taskmaster::RunContext{.source = "shell", .colour = colourWanted()},
                       [this](const taskmaster::CommandReply& reply) {
                         followConfig();
                         if (reply.command == taskmaster::CommandId::reload && reply.ok) fireReload("the shell");
                       });
      shell_ = makeShell(io_, *backend_, {.historyFile = historyPath(),
                                          .onQuit = [this](std::string_view why) { quit(why); },
                                          .detachKeys = options_.detachKeys});
      colour_ = shell_->interactive() && colourWanted();
    }
    // Programs' lines forwarded to /dev/stdout or /dev/stderr: with a shell, through it, so that they never cut
    // into its prompt or its answers (at a terminal, both streams: it is one screen); otherwise, and for stderr
    // in a script, through the writers the event log's mirror shares.
    supervisor_.setForwardSink([this](taskmaster::StdStream target, std::string_view lines) {
      const bool out = target == taskmaster::StdStream::out;
      if (shell_ && (out || shell_->interactive())) return shell_->output(lines);
      (out ? stdio_.out : stdio_.err).write(lines);
    });
    waitForSignals();

    // The socket first: a daemon that cannot be reached must not start anything.
    if (auto error = listen(); !error.empty()) {
      if (!shell_) {
        log_.error("{}; taskmaster stopped", error);
        if (options_.daemon) ready(error);
        else stdio_.err.write(fmt::format("taskmaster: {}\n", error));
        return kExitFailure;
      }
      log_.warn("control socket disabled: {}", error);
      shell_->notice(fmt::format("control socket disabled: {}", error));
    }
    collector_.setControlClients([this] { return server_.clients(); });
    followMetrics();
    followHttpServers();
    if (auto pidPath = pidFilePath()) {
      if (auto error = pidFile_.write(*pidPath); !error.empty()) {
        if (options_.daemon) {
          log_.error("{}; taskmaster stopped", error);
          server_.close();  // before the parent returns: once it has, nothing of this daemon is left
          ready(error);
          return kExitFailure;
        }
        // In the foreground the pid file is a convenience, as supervisord's: said, not fatal.
        log_.warn("{}", error);
        if (shell_) shell_->notice(error);
        else stdio_.err.write(fmt::format("taskmaster: {}\n", error));
      } else if (options_.daemon) {
        log_.info("running as a daemon, pid {}, pid file {}", ::getpid(), *pidPath);
      } else {
        log_.info("pid {} written to {}", ::getpid(), *pidPath);
      }
    }
    if (options_.daemon) ready();

    const auto& config = service_.config();
    if (shell_ && shell_->interactive()) {
      fmt::print("taskmaster {}: {} program{} from {}. Type 'help' for the commands.\n", taskmaster::kVersion,
                 config.programs.size(), config.programs.size() == 1 ? "" : "s", config.path);
      std::fflush(stdout);
    }
    // The pools first, so that they hear the first state changes; then, as supervisord, RUNNING before any
    // process starts.
    events_.configure(config);
    events_.supervisorState(taskmaster::events::SupervisorState::running);
    followHooks();  // before the first apply: its events are the hooks' too
    auto report = service_.apply();
    log_.info("configuration loaded from {}: {}", config.path, fmt::join(taskmaster::describe(report), "; "));
    hooks_.fire({.event = "taskmaster_started", .reason = fmt::format("taskmaster {} started, pid {}",
                                                                      taskmaster::kVersion, ::getpid())});
    notifier_.started();
    if (shell_) shell_->start();
    runLoop();
    return exitCode_;
  }

 private:
  // --pidfile, else the configuration's `pidfile`, else a daemon's default beside the socket; nothing for a
  // foreground taskmaster that was given neither.
  std::optional<std::string> pidFilePath() const {
    if (options_.pidfile) return options_.pidfile;
    if (service_.config().pidfile) return service_.config().pidfile;
    if (options_.daemon) return socketPath_.substr(0, socketPath_.rfind('/') + 1) + "taskmaster.pid";
    return std::nullopt;
  }

  // Binds the control socket; an error message when it cannot.
  std::string listen() {
    socketPath_ = options_.socket.value_or(service_.config().socket.value_or(taskmaster::control::defaultSocketPath()));
    if (auto listening = server_.listen({.path = socketPath_}); !listening) return listening.error().str();
    log_.info("control socket listening on {}", socketPath_);
    return {};
  }

  // The Prometheus endpoint where the command line, else the configuration, wants it: at start and after every
  // command (a reload may move it). A new address that cannot be bound leaves the endpoint where it was.
  void followMetrics() {
    const auto wanted = options_.metrics ? options_.metrics : service_.config().metrics;
    if (wanted == metricsAddress_) return;
    if (!wanted) {
      metrics_.close();
      log_.info("metrics endpoint closed (was on {})", *metricsAddress_);
      metricsAddress_.reset();
      return;
    }
    if (auto listening = metrics_.listen(*wanted); !listening) {
      const auto where = metricsAddress_ ? fmt::format("stays on {}", *metricsAddress_) : std::string("disabled");
      log_.warn("metrics endpoint {}: {}", where, listening.error().str());
      notice(fmt::format("metrics endpoint {}: {}", where, listening.error().str()));
      return;
    }
    metricsAddress_ = wanted;
    log_.info("metrics endpoint listening on http://{}/metrics", metrics_.address());
  }

  // supervisord's XML-RPC interface on the configuration's unix_http_server and inet_http_server: at start
  // and after every command (a reload may change them). A listener that cannot be opened is said, not fatal.
  void followHttpServers() {
    const auto& wanted = service_.config().httpServers;
    if (httpServers_ && *httpServers_ == wanted) return;
    httpServers_ = wanted;
    for (const auto& error : xmlrpc_.configure(wanted)) {
      log_.warn("XML-RPC: {}", error.str());
      notice(fmt::format("XML-RPC: {}", error.str()));
    }
    const auto addresses = xmlrpc_.addresses();
    if (!addresses.empty()) log_.info("XML-RPC interface listening on {}", fmt::join(addresses, ", "));
    for (const auto& server : wanted) {
      if (server.username) continue;
      if (server.kind == taskmaster::HttpServerConfig::Kind::inet)
        log_.warn("XML-RPC on {}: no HTTP authentication: whoever reaches the port controls taskmaster", server.address);
      else if (std::ranges::find(addresses, "unix://" + server.address) != addresses.end())
        log_.info("XML-RPC on {}: no HTTP authentication: the socket's mode is the only protection", server.address);
    }
  }

  // The configuration's hooks: at start and after every command (a reload may change them). Deliveries under
  // way finish with the hooks they were for.
  void followHooks() {
    const auto& wanted = service_.config().hooks;
    if (hooksConfig_ && *hooksConfig_ == wanted) return;
    const bool first = !hooksConfig_;
    hooksConfig_ = wanted;
    hooks_.configure(wanted);
    if (!first || !wanted.empty())
      log_.info("{} hook{} configured", wanted.size(), wanted.size() == 1 ? "" : "s");
  }

  void fireReload(std::string_view source) {
    hooks_.fire({.event = "reload", .reason = fmt::format("configuration reloaded ({})", source)});
  }

  // supervisord's restart over XML-RPC: every program stopped, the configuration read again, and the programs
  // that start on their own started. The daemon itself stays.
  void restart() {
    if (quitting_) return;
    interpreter_.run({"stop", "all"}, {.source = "XML-RPC restart"}, [this](taskmaster::CommandReply) {
      notifier_.reloading();
      interpreter_.run({"reload"}, {.source = "XML-RPC restart"}, [this](taskmaster::CommandReply reloaded) {
        notifier_.reloaded();
        followConfig();
        if (reloaded.ok) fireReload("XML-RPC restart");
        for (const auto& line : reloaded.lines) notice(fmt::format("restart (XML-RPC): {}", line));
        std::vector<std::string> start{"start"};
        for (const auto& program : service_.config().programs) {
          if (program.autostart) start.push_back(program.name);
        }
        if (start.size() > 1) interpreter_.run(start, {.source = "XML-RPC restart"}, [](taskmaster::CommandReply) {});
      });
    });
  }

  // PID 1 must not exit while programs run, which would end the container: an exception out of a handler is
  // logged and the loop goes on (the handler's work is lost). Elsewhere it ends taskmaster (supervise()).
  void runLoop() {
    for (;;) {
      try {
        io_.run();
        return;
      } catch (const std::exception& e) {
        if (!options_.init) throw;
        log_.error("internal error: {}; taskmaster goes on (--init)", e.what());
      }
    }
  }

  // A critical program that exits for good or becomes FATAL ends taskmaster, with its exit code.
  void endIfCritical(const taskmaster::StateChange& c) {
    if (quitting_) return;
    const auto code = criticalExit(c);
    if (!code) return;
    exitCode_ = *code;
    quit(fmt::format("the critical program {} {}; taskmaster exits with {}", c.instance,
                     c.to == taskmaster::ProcessState::fatal ? "is FATAL"
                                                             : "exited (" + (c.exit ? c.exit->str() : "status unknown") + ")",
                     *code));
  }

  // The shell's one-line notices: what a user at the prompt wants to hear about without asking.
  void announce(const taskmaster::StateChange& c) {
    if (!shell_) return;
    if (c.to == taskmaster::ProcessState::exited && !c.expected) {
      shell_->notice(fmt::format("{} exited unexpectedly ({})", c.instance, c.exit ? c.exit->str() : "exit status unknown"));
    } else if (c.to == taskmaster::ProcessState::fatal) {
      shell_->notice(fmt::format("{} is {}: {}", c.instance, taskmaster::stateLabel(c.to, colour_), c.reason));
    }
  }

  void notice(const std::string& text) {
    if (shell_) shell_->notice(text);
  }

  void waitForSignals() {
    signals_.async_wait([this](boost::system::error_code ec, int signal) {
      if (ec) return;
      onSignal(signal);
      waitForSignals();
    });
  }

  void onSignal(int signal) {
    const std::string name = "SIG" + taskmaster::signalName(signal);
    if (signal == SIGHUP) {
      if (quitting_) return;
      notifier_.reloading();
      interpreter_.run({"reload"}, {.source = name}, [this, name](taskmaster::CommandReply result) {
        notifier_.reloaded();
        followConfig();
        if (result.ok) fireReload(name);
        for (const auto& line : result.lines) notice(fmt::format("reload ({}): {}", name, line));
      });
      return;
    }
    if (signal == SIGUSR2) return reopen();
    // At a terminal, Ctrl-C belongs to the line being typed; elsewhere SIGINT stops like SIGTERM, and so do
    // SIGQUIT and SIGPWR (what container runtimes and init systems send to halt their PID 1).
    if (signal == SIGINT && shell_ && shell_->interactive() && !quitting_) return shell_->interrupt();
    if (!quitting_) return quit(name);
    // A second one while programs are still stopping: no more waiting. The Supervisor's destructor
    // SIGKILLs the process groups of whatever still runs.
    log_.warn("{} while stopping: killing every program now", name);
    notice(fmt::format("{}: killing every program now", name));
    exitCode_ = kExitFailure;
    io_.stop();
  }

  // SIGUSR2: logrotate(8) moved the files away (its `create` mode); they are opened again by their names.
  void reopen() {
    auto reopened = log_.reopen();
    supervisor_.reopenOutputs();
    if (!reopened) {
      log_.warn("SIGUSR2: the event log stays in the file it had: {}; programs' output files reopened",
                reopened.error().str());
      return;
    }
    log_.info("SIGUSR2: reopened the event log {} and programs' output files", log_.path());
  }

  // After every command, wherever it came from: a reload may have brought other event-log settings (the
  // command line still wins over them). A new `logfile` is opened at once; if it cannot be, the log stays.
  void followConfig() {
    events_.configure(service_.config());
    followMetrics();
    followHttpServers();
    followHooks();
    const auto level = logLevel(options_, service_.config());
    if (level != log_.level()) {
      log_.setLevel(level);
      log_.info("log level: {}", taskmaster::to_string(level));
    }
    const auto wanted = logSettings(options_, &service_.config());
    if (wanted == logSettings_) return;
    const auto previous = std::exchange(logSettings_, wanted);
    if (wanted.rotation != previous.rotation) {
      log_.setRotation(wanted.rotation);
      if (wanted.rotation.maxBytes == 0) log_.info("event log rotation: never");
      else
        log_.info("event log rotation: at {}, {} backup{} kept", taskmaster::formatSize(wanted.rotation.maxBytes),
                  wanted.rotation.backups, wanted.rotation.backups == 1 ? "" : "s");
    }
    if (wanted.path == previous.path) return;
    const std::string old = log_.path();
    log_.info("the event log moves to {}", wanted.path);
    if (auto opened = log_.open(wanted.path, wanted.rotation); !opened) {
      log_.warn("the event log stays in {}: {}", old, opened.error().str());
      return;
    }
    log_.info("the event log moved here from {}", old);
  }

  void quit(std::string_view why) {
    if (quitting_) return;
    quitting_ = true;
    if (shell_) shell_->close();
    log_.info("stopping every program ({})", why);
    events_.supervisorState(taskmaster::events::SupervisorState::stopping);
    hooks_.fire({.event = "taskmaster_stopping", .reason = std::string(why)});
    notifier_.stopping();
    if (shell_ && shell_->interactive()) shell_->notice("stopping every program...");
    supervisor_.shutdown([this] {
      // The hooks' last deliveries (taskmaster_stopping, the programs' STOPPED) get a few seconds to end.
      hooksAtExit_.expires_after(kHooksAtExit);
      hooksAtExit_.async_wait([this](boost::system::error_code ec) {
        if (!ec) stopped();
      });
      hooks_.whenIdle([this] { stopped(); });
    });
  }

  void stopped() {
    if (stopped_) return;
    stopped_ = true;
    hooksAtExit_.cancel();
    log_.info("taskmaster stopped");
    server_.close();
    metrics_.close();
    xmlrpc_.close();
    boost::system::error_code ignored;
    signals_.cancel(ignored);
    io_.stop();
  }

  static constexpr auto kHooksAtExit = std::chrono::seconds(5);

  asio::io_context& io_;
  Stdio& stdio_;
  EventLog& log_;
  LogSettings logSettings_;  // what the event log was last set to, from the command line and the configuration
  const RunOptions& options_;
  taskmaster::Supervisor supervisor_;
  taskmaster::events::EventListeners events_;  // supervisord's event listeners: the pools among the programs
  taskmaster::Hooks hooks_;
  std::optional<std::vector<taskmaster::HookSpec>> hooksConfig_;  // as last configured; none: never
  Notifier notifier_;  // before the first spawn: it takes NOTIFY_SOCKET out of the programs' environment
  taskmaster::Service service_;
  taskmaster::Interpreter interpreter_;
  StateLogger stateLogger_;
  taskmaster::control::Server server_;
  std::string socketPath_;
  taskmaster::metrics::Collector collector_;
  taskmaster::metrics::Endpoint metrics_;        // declared after collector_: closed before it goes
  std::optional<std::string> metricsAddress_;  // where the endpoint listens as configured; none: closed
  taskmaster::xmlrpc::Interface interface_;
  taskmaster::xmlrpc::Server xmlrpc_;  // declared after interface_: closed before it goes
  std::optional<std::vector<taskmaster::HttpServerConfig>> httpServers_;  // as last applied; none: never
  PidFile pidFile_;
  taskmaster::Subscription logged_;
  taskmaster::Subscription loggedDetails_;
  taskmaster::Subscription announced_;
  taskmaster::Subscription critical_;
  std::optional<AppBackend> backend_;
  std::unique_ptr<Shell> shell_;
  bool colour_ = false;  // of the notices: an interactive shell at a colour terminal
  asio::signal_set signals_;
  asio::steady_timer hooksAtExit_{io_};
  bool quitting_ = false;
  bool stopped_ = false;
  int exitCode_ = kExitOk;
};

std::string absolute(const std::string& path) {
  std::error_code ec;
  auto p = std::filesystem::absolute(path, ec);
  return ec ? path : p.string();
}

// Before taskmaster changes to the configuration's `directory`: the files the command line names are where they
// were when it was typed, and reloads read the same configuration file.
void anchorPaths(RunOptions& options, taskmaster::Config& config) {
  if (!config.directory) return;
  config.path = absolute(config.path);
  if (options.logPath && *options.logPath != "syslog") options.logPath = absolute(*options.logPath);
  if (options.pidfile) options.pidfile = absolute(*options.pidfile);
}

}  // namespace

int supervise(RunOptions options) {
  // A reader of stdout that goes away must not kill the supervisor; writes just fail.
  std::signal(SIGPIPE, SIG_IGN);
  // Nor a file-size limit (ulimit -f): a write past it fails with EFBIG, and the output logs drop and count
  // what does not fit. Children get the default back: the launcher resets every signal before exec.
  std::signal(SIGXFSZ, SIG_IGN);

  auto configPath = options.config ? options.config : findConfig();
  if (!configPath) return kExitUsage;
  if (options.daemon) {  // the daemon keeps its working directory, but reloads must not depend on it
    configPath = absolute(*configPath);
    if (options.logPath && *options.logPath != "syslog") options.logPath = absolute(*options.logPath);
  }

  // The loop, and taskmaster's stdout and stderr written from it; a daemon gets its own after the fork.
  // Declared first: they outlive the log that mirrors to stderr.
  std::optional<asio::io_context> io;
  std::optional<Stdio> stdio;
  const auto openLoop = [&] {
    io.emplace();
    stdio.emplace(*io);
  };
  if (!options.daemon) openLoop();
  // Before the fork of a daemon, stderr is the terminal of whoever started it.
  const auto printError = [&](const std::string& text) {
    if (stdio) stdio->err.write(text);
    else fmt::print(stderr, "{}", text);
  };

  EventLog log;
  log.setLevel(options.logLevel.value_or(taskmaster::LogLevel::info));
  if (options.noShell) log.mirrorTo(&stdio->err);

  auto loaded = taskmaster::loadConfig(*configPath);
  if (loaded.ok()) anchorPaths(options, loaded.config);
  // The settings of a configuration count only when it is valid; an invalid one is logged where the command
  // line and the defaults say.
  auto settings = logSettings(options, loaded.ok() ? &loaded.config : nullptr);
  if (auto opened = log.open(settings.path, settings.rotation); !opened) {
    const auto& e = opened.error();
    printError(fmt::format("taskmaster: cannot open the log file {}: {}\n", settings.path,
                           e.code ? e.code.message() : e.str()));
    return kExitFailure;
  }
  if (!loaded.ok()) {
    log.info("taskmaster {} started, pid {}, configuration {}", taskmaster::kVersion, ::getpid(), *configPath);
    for (const auto& problem : loaded.errors) {
      printError(fmt::format("{}\n", problem.str()));
      log.error("{}", problem.str());
    }
    const auto n = loaded.errors.size();
    printError(fmt::format("taskmaster: {} problem{} in {}; nothing started\n", n, n == 1 ? "" : "s", *configPath));
    log.error("invalid configuration: nothing started; taskmaster stopped");
    return kExitUsage;
  }
  log.setLevel(logLevel(options, loaded.config));
  // On stderr while it is still whoever started taskmaster's (--no-shell mirrors the log there instead).
  if (!options.noShell)
    for (const auto& warning : loaded.warnings) printError(fmt::format("{}\n", warningLine(warning)));
  // Before the fork, so that a daemon that cannot have them says so where it was started.
  if (auto error = applyProcessSettings(loaded.config); !error.empty()) {
    log.info("taskmaster {} started, pid {}, configuration {}", taskmaster::kVersion, ::getpid(), *configPath);
    printError(fmt::format("taskmaster: {}; nothing started\n", error));
    log.error("{}; nothing started; taskmaster stopped", error);
    return kExitFailure;
  }
  if (options.daemon) {
    if (detach() < 0) {
      fmt::print(stderr, "taskmaster: cannot fork the daemon: {}\n", std::strerror(errno));
      return kExitFailure;
    }
    openLoop();
  }
  log.info("taskmaster {} started, pid {}, configuration {}", taskmaster::kVersion, ::getpid(), *configPath);
  for (const auto& warning : loaded.warnings) log.warn("{}", warningLine(warning));

  try {
    App app(*io, *stdio, std::move(loaded.config), log, std::move(settings), options);
    return app.run();
  } catch (const std::exception& e) {
    // Unwinding destroyed the Supervisor, which SIGKILLed whatever still ran: nothing is left behind.
    log.error("internal error: {}; taskmaster stopped", e.what());
    printError(fmt::format("taskmaster: internal error: {}\n", e.what()));
    ready(fmt::format("internal error: {}", e.what()));
    return kExitFailure;
  }
}

}  // namespace cli
