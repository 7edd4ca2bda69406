// taskmaster: runs the programs of a configuration file under supervision, in the foreground, with a
// control shell on stdin and an event log. See docs/cli.md.
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join
#include <taskmaster/taskmaster.hpp>

#include "command_runner.hpp"
#include "event_log.hpp"
#include "options.hpp"
#include "shell.hpp"
#include "status_format.hpp"

namespace {
namespace asio = boost::asio;
using namespace cli;

bool colourWanted() {
  const char* term = std::getenv("TERM");
  return ::isatty(STDOUT_FILENO) && !std::getenv("NO_COLOR") && !(term && std::string_view(term) == "dumb");
}

// Everything that lives on the loop: the supervisor, its observers, the shell and the signals.
class App {
 public:
  App(asio::io_context& io, taskmaster::Config config, EventLog& log)
      : io_(io),
        log_(log),
        supervisor_(io),
        runner_(supervisor_, std::move(config), log),
        stateLogger_(log, [this](std::string_view program) { return runner_.spec(program); }),
        signals_(io, SIGHUP, SIGTERM, SIGINT) {}

  int run() {
    logged_ = supervisor_.onStateChange([this](const taskmaster::StateChange& c) { stateLogger_(c); });
    announced_ = supervisor_.onStateChange([this](const taskmaster::StateChange& c) { announce(c); });
    shell_ = makeShell(io_, runner_, {.colour = colourWanted(), .historyFile = historyPath(),
                                      .onQuit = [this](std::string_view why) { quit(why); }});
    waitForSignals();

    const auto& config = runner_.config();
    if (shell_->interactive()) {
      fmt::print("taskmaster {}: {} program{} from {}. Type 'help' for the commands.\n", taskmaster::kVersion,
                 config.programs.size(), config.programs.size() == 1 ? "" : "s", config.path);
      std::fflush(stdout);
    }
    auto report = supervisor_.apply(config);
    log_.info("configuration loaded from {}: {}", config.path,
              fmt::join(CommandRunner::describe(report), "; "));
    shell_->start();
    io_.run();
    return exitCode_;
  }

 private:
  // The shell's one-line notices: what a user at the prompt wants to hear about without asking.
  void announce(const taskmaster::StateChange& c) {
    const bool colour = shell_->interactive() && colourWanted();
    if (c.to == taskmaster::ProcessState::exited && !c.expected) {
      shell_->notice(fmt::format("{} exited unexpectedly ({})", c.instance, c.exit ? c.exit->str() : "?"));
    } else if (c.to == taskmaster::ProcessState::fatal) {
      shell_->notice(fmt::format("{} is {}: {}", c.instance, stateLabel(c.to, colour), c.reason));
    }
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
      runner_.run("reload", {.source = name}, [this, name](CommandResult result) {
        for (const auto& line : result.lines) shell_->notice(fmt::format("reload ({}): {}", name, line));
      });
      return;
    }
    // At a terminal, Ctrl-C belongs to the line being typed; elsewhere SIGINT stops like SIGTERM.
    if (signal == SIGINT && shell_->interactive() && !quitting_) return shell_->interrupt();
    if (!quitting_) return quit(name);
    // A second one while programs are still stopping: no more waiting. The Supervisor's destructor
    // SIGKILLs the process groups of whatever still runs.
    log_.warn("{} while stopping: killing every program now", name);
    shell_->notice(fmt::format("{}: killing every program now", name));
    exitCode_ = kExitFailure;
    io_.stop();
  }

  void quit(std::string_view why) {
    if (quitting_) return;
    quitting_ = true;
    shell_->close();
    log_.info("stopping every program ({})", why);
    if (shell_->interactive()) shell_->notice("stopping every program...");
    supervisor_.shutdown([this] {
      log_.info("taskmaster stopped");
      boost::system::error_code ignored;
      signals_.cancel(ignored);
      io_.stop();
    });
  }

  asio::io_context& io_;
  EventLog& log_;
  taskmaster::Supervisor supervisor_;
  CommandRunner runner_;
  StateLogger stateLogger_;
  taskmaster::Subscription logged_;
  taskmaster::Subscription announced_;
  std::unique_ptr<Shell> shell_;
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

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (auto code = parseCommandLine(argc, argv, options)) return *code;
  // A reader of stdout that goes away must not kill the supervisor; writes just fail.
  std::signal(SIGPIPE, SIG_IGN);

  const auto configPath = options.config ? options.config : findConfig();
  if (!configPath) return kExitUsage;

  EventLog log;
  log.setLevel(options.logLevel);
  if (auto ec = log.open(options.logPath)) {
    fmt::print(stderr, "taskmaster: cannot open the log file {}: {}\n", options.logPath, ec.message());
    return kExitFailure;
  }
  log.info("taskmaster {} started, pid {}, configuration {}", taskmaster::kVersion, ::getpid(), *configPath);

  auto loaded = taskmaster::loadConfig(*configPath);
  if (!loaded.ok()) {
    for (const auto& problem : loaded.errors) {
      fmt::print(stderr, "{}\n", problem.str());
      log.error("{}", problem.str());
    }
    const auto n = loaded.errors.size();
    fmt::print(stderr, "taskmaster: {} problem{} in {}; nothing started\n", n, n == 1 ? "" : "s", *configPath);
    log.error("invalid configuration: nothing started; taskmaster stopped");
    return kExitUsage;
  }

  asio::io_context io;
  try {
    App app(io, std::move(loaded.config), log);
    return app.run();
  } catch (const std::exception& e) {
    // Unwinding destroyed the Supervisor, which SIGKILLed whatever still ran: nothing is left behind.
    log.error("internal error: {}; taskmaster stopped", e.what());
    fmt::print(stderr, "taskmaster: internal error: {}\n", e.what());
    return kExitFailure;
  }
}
