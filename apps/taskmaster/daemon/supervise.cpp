#include "daemon/supervise.hpp"

#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <fmt/format.h>
#include <taskmaster/taskmaster.hpp>

#include "daemon/detach.hpp"
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

// Everything that lives on the loop: the supervisor, its observers, the shell, the socket and the signals.
class App {
 public:
  App(asio::io_context& io, taskmaster::Config config, EventLog& log, const RunOptions& options)
      : io_(io),
        log_(log),
        options_(options),
        supervisor_(io),
        service_(supervisor_, std::move(config)),
        interpreter_(service_, log.sink()),
        stateLogger_(log),
        server_(io, supervisor_,
                taskmaster::control::commandHandler(interpreter_, [this] { quit("shutdown over the control socket"); })),
        signals_(io, SIGHUP, SIGTERM, SIGINT) {}

  int run() {
    // What the library says beside state changes (a throwing observer, an exit reaped elsewhere).
    supervisor_.setLogSink(log_.sink());
    // One pidfd per child: the usual soft limit of 1024 would cap the processes near 1,000. Children get the
    // original limit back.
    if (auto limit = taskmaster::raiseFdLimit(); !limit) log_.warn("{}", limit.error().str());
    logged_ = supervisor_.onStateChange([this](const taskmaster::StateChange& c) { stateLogger_(c); });
    announced_ = supervisor_.onStateChange([this](const taskmaster::StateChange& c) { announce(c); });
    const bool withShell = !options_.daemon && !options_.noShell;
    if (withShell) {
      backend_.emplace(interpreter_, taskmaster::RunContext{.source = "shell", .colour = colourWanted()});
      shell_ = makeShell(io_, *backend_, {.historyFile = historyPath(),
                                          .onQuit = [this](std::string_view why) { quit(why); }});
      colour_ = shell_->interactive() && colourWanted();
    }
    waitForSignals();

    // The socket first: a daemon that cannot be reached must not start anything.
    if (auto error = listen(); !error.empty()) {
      if (!withShell) {
        log_.error("{}; taskmaster stopped", error);
        if (options_.daemon) ready(error);
        else fmt::print(stderr, "taskmaster: {}\n", error);
        return kExitFailure;
      }
      log_.warn("control socket disabled: {}", error);
      shell_->notice(fmt::format("control socket disabled: {}", error));
    }
    if (options_.daemon) {
      const auto pidPath = options_.pidfile.value_or(socketPath_.substr(0, socketPath_.rfind('/') + 1) + "taskmaster.pid");
      if (auto error = pidFile_.write(pidPath); !error.empty()) {
        log_.error("{}; taskmaster stopped", error);
        ready(error);
        return kExitFailure;
      }
      log_.info("running as a daemon, pid {}, pid file {}", ::getpid(), pidPath);
      ready();
    }

    const auto& config = service_.config();
    if (shell_ && shell_->interactive()) {
      fmt::print("taskmaster {}: {} program{} from {}. Type 'help' for the commands.\n", taskmaster::kVersion,
                 config.programs.size(), config.programs.size() == 1 ? "" : "s", config.path);
      std::fflush(stdout);
    }
    auto report = service_.apply();
    log_.info("configuration loaded from {}: {}", config.path, fmt::join(taskmaster::describe(report), "; "));
    if (shell_) shell_->start();
    io_.run();
    return exitCode_;
  }

 private:
  // Binds the control socket; an error message when it cannot.
  std::string listen() {
    socketPath_ = options_.socket.value_or(service_.config().socket.value_or(taskmaster::control::defaultSocketPath()));
    if (auto listening = server_.listen({.path = socketPath_}); !listening) return listening.error().str();
    log_.info("control socket listening on {}", socketPath_);
    return {};
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
      interpreter_.run({"reload"}, {.source = name}, [this, name](taskmaster::CommandReply result) {
        for (const auto& line : result.lines) notice(fmt::format("reload ({}): {}", name, line));
      });
      return;
    }
    // At a terminal, Ctrl-C belongs to the line being typed; elsewhere SIGINT stops like SIGTERM.
    if (signal == SIGINT && shell_ && shell_->interactive() && !quitting_) return shell_->interrupt();
    if (!quitting_) return quit(name);
    // A second one while programs are still stopping: no more waiting. The Supervisor's destructor
    // SIGKILLs the process groups of whatever still runs.
    log_.warn("{} while stopping: killing every program now", name);
    notice(fmt::format("{}: killing every program now", name));
    exitCode_ = kExitFailure;
    io_.stop();
  }

  void quit(std::string_view why) {
    if (quitting_) return;
    quitting_ = true;
    if (shell_) shell_->close();
    log_.info("stopping every program ({})", why);
    if (shell_ && shell_->interactive()) shell_->notice("stopping every program...");
    supervisor_.shutdown([this] {
      log_.info("taskmaster stopped");
      server_.close();
      boost::system::error_code ignored;
      signals_.cancel(ignored);
      io_.stop();
    });
  }

  asio::io_context& io_;
  EventLog& log_;
  const RunOptions& options_;
  taskmaster::Supervisor supervisor_;
  taskmaster::Service service_;
  taskmaster::Interpreter interpreter_;
  StateLogger stateLogger_;
  taskmaster::control::Server server_;
  std::string socketPath_;
  PidFile pidFile_;
  taskmaster::Subscription logged_;
  taskmaster::Subscription announced_;
  std::optional<LocalBackend> backend_;
  std::unique_ptr<Shell> shell_;
  bool colour_ = false;  // of the notices: an interactive shell at a colour terminal
  asio::signal_set signals_;
  bool quitting_ = false;
  int exitCode_ = kExitOk;
};

// The first candidate that exists, or nothing, after saying where it looked.
std::optional<std::string> findConfig() {
  const auto candidates = configCandidates();
  for (const auto& path : candidates) {
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) return path;
  }
  fmt::print(stderr, "taskmaster: no configuration file found. Looked for:\n");
  for (const auto& path : candidates) fmt::print(stderr, "  {}\n", path);
  fmt::print(stderr, "Name one with -c FILE.\n");
  return std::nullopt;
}

std::string absolute(const std::string& path) {
  std::error_code ec;
  auto p = std::filesystem::absolute(path, ec);
  return ec ? path : p.string();
}

}  // namespace

int supervise(RunOptions options) {
  // A reader of stdout that goes away must not kill the supervisor; writes just fail.
  std::signal(SIGPIPE, SIG_IGN);

  auto configPath = options.config ? options.config : findConfig();
  if (!configPath) return kExitUsage;
  if (options.daemon) {  // the daemon keeps its working directory, but reloads must not depend on it
    configPath = absolute(*configPath);
    options.logPath = absolute(options.logPath);
  }

  EventLog log;
  log.setLevel(options.logLevel);
  if (options.noShell) log.mirrorTo(STDERR_FILENO);
  if (auto ec = log.open(options.logPath)) {
    fmt::print(stderr, "taskmaster: cannot open the log file {}: {}\n", options.logPath, ec.message());
    return kExitFailure;
  }

  auto loaded = taskmaster::loadConfig(*configPath);
  if (!loaded.ok()) {
    log.info("taskmaster {} started, pid {}, configuration {}", taskmaster::kVersion, ::getpid(), *configPath);
    for (const auto& problem : loaded.errors) {
      fmt::print(stderr, "{}\n", problem.str());
      log.error("{}", problem.str());
    }
    const auto n = loaded.errors.size();
    fmt::print(stderr, "taskmaster: {} problem{} in {}; nothing started\n", n, n == 1 ? "" : "s", *configPath);
    log.error("invalid configuration: nothing started; taskmaster stopped");
    return kExitUsage;
  }
  if (options.daemon && detach() < 0) {
    fmt::print(stderr, "taskmaster: cannot fork the daemon: {}\n", std::strerror(errno));
    return kExitFailure;
  }
  log.info("taskmaster {} started, pid {}, configuration {}", taskmaster::kVersion, ::getpid(), *configPath);

  asio::io_context io;  // after the fork: a daemon gets its own
  try {
    App app(io, std::move(loaded.config), log, options);
    return app.run();
  } catch (const std::exception& e) {
    // Unwinding destroyed the Supervisor, which SIGKILLed whatever still ran: nothing is left behind.
    log.error("internal error: {}; taskmaster stopped", e.what());
    fmt::print(stderr, "taskmaster: internal error: {}\n", e.what());
    ready(fmt::format("internal error: {}", e.what()));
    return kExitFailure;
  }
}

}  // namespace cli
