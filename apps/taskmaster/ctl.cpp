#include "ctl.hpp"

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <set>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <taskmaster/taskmaster.hpp>

#include "command_runner.hpp"
#include "options.hpp"
#include "shell.hpp"

namespace cli {
namespace {
namespace asio = boost::asio;
namespace control = taskmaster::control;

constexpr std::string_view kUsage =
    "Usage: taskmaster ctl [--socket PATH | -c FILE] [--json] [COMMAND [ARGS...]]\n"
    "Runs COMMAND against the taskmaster listening on the control socket; without COMMAND, opens a shell.\n"
    "  --socket PATH  the socket (default: $XDG_RUNTIME_DIR/taskmaster.sock, else /tmp/taskmaster-UID/...)\n"
    "  -c FILE        take the socket from this configuration file's `socket:`\n"
    "  --json         print the reply as JSON, for scripts\n"
    "COMMAND: status, start, stop, restart, reload, pid, signal, version, shutdown, help, or\n"
    "events (follow state changes until interrupted).\n"
    "Exit status: 0 ok, 1 the command failed, 2 bad usage, 3 no taskmaster is running.\n";

int usageError(std::string_view message) {
  fmt::print(stderr, "taskmaster ctl: {}\nTry 'taskmaster ctl --help'.\n", message);
  return kExitUsage;
}

std::string eventLine(const boost::json::object& e) {
  auto str = [&](const char* key) -> std::string {
    auto* v = e.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string{};
  };
  std::string line = fmt::format("{} {} {} -> {}", str("time"), str("instance"), str("from"), str("to"));
  if (auto* pid = e.if_contains("pid"); pid && pid->is_int64() && pid->as_int64() > 0)
    line += fmt::format(" pid {}", pid->as_int64());
  if (auto reason = str("reason"); !reason.empty()) line += ": " + reason;
  return line;
}

// The shell's commands, run by the taskmaster at the other end of the socket.
class RemoteCommands final : public Commands {
 public:
  RemoteCommands(asio::io_context& io, control::Client& client) : io_(io), client_(client) {}
  [[nodiscard]] bool lost() const { return lost_; }  // the connection broke: the shell ended with it

  void run(std::string_view line, const CommandContext&, CommandDone done) override {
    CommandResult result;
    auto words = taskmaster::splitCommand(line);
    if (!words) {
      result.fail("unterminated quote or trailing backslash");
    } else if (words->empty() || words->front().starts_with('#')) {
    } else if (words->front() == "quit" || words->front() == "exit") {
      result.quit = true;  // leaves this shell; taskmaster goes on ('shutdown' stops it)
    } else if (auto reply = client_.call(words->front(), {words->begin() + 1, words->end()})) {
      result.ok = reply->ok;
      result.lines = std::move(reply->lines);
      if (result.lines.empty() && !reply->error.empty()) result.lines.push_back(reply->error);
    } else {
      result.fail(fmt::format("connection to taskmaster lost: {}", client_.lastError()));
      result.quit = true;
      lost_ = true;
    }
    asio::post(io_, [done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
  }

  std::vector<std::string> completions(const std::vector<std::string>& words) const override {
    if (words.empty()) return CommandRunner::commandNames();
    std::set<std::string> names{"all"};
    if (auto reply = client_.call("status"); reply && reply->data.is_array())
      for (const auto& s : reply->data.as_array()) {
        names.insert(std::string(s.at("program").as_string()));
        names.insert(std::string(s.at("instance").as_string()));
      }
    return {names.begin(), names.end()};
  }

 private:
  asio::io_context& io_;
  control::Client& client_;
  bool lost_ = false;
};

int shell(control::Client& client) {
  asio::io_context io;
  RemoteCommands commands(io, client);
  auto sh = makeShell(io, commands, {.colour = false, .historyFile = historyPath(),
                                     .onQuit = [&io](std::string_view) { io.stop(); }});
  if (sh->interactive()) fmt::print("taskmaster ctl: connected. Type 'help' for the commands, 'quit' to leave.\n");
  std::fflush(stdout);
  // Ctrl-C clears the line being typed, as in the foreground shell; SIGTERM leaves, with the terminal restored.
  asio::signal_set signals(io, SIGINT, SIGTERM);
  std::function<void(boost::system::error_code, int)> onSignal = [&](boost::system::error_code ec, int sig) {
    if (ec) return;
    if (sig == SIGINT && sh->interactive()) {
      sh->interrupt();
      signals.async_wait(onSignal);
    } else {
      io.stop();
    }
  };
  signals.async_wait(onSignal);
  sh->start();
  io.run();
  sh->close();
  return commands.lost() ? kExitFailure : kExitOk;
}

int follow(control::Client& client, bool json) {
  auto ack = client.call("events");
  if (!ack || !ack->ok) {
    fmt::print(stderr, "taskmaster ctl: events: {}\n", ack ? ack->error : client.lastError());
    return kExitFailure;
  }
  while (auto event = client.nextEvent()) {
    fmt::print("{}\n", json ? boost::json::serialize(*event) : eventLine(*event));
    std::fflush(stdout);
  }
  return kExitOk;  // taskmaster went away
}

}  // namespace

int runCtl(int argc, char** argv) {
  std::optional<std::string> socket, configFile;
  bool json = false;
  int i = 1;
  for (; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (!a.starts_with('-') || a == "-") break;
    auto value = [&](std::string_view name) -> std::optional<std::string> {
      if (a.starts_with(std::string(name) + "=")) return std::string(a.substr(name.size() + 1));
      if (i + 1 < argc) return std::string(argv[++i]);
      return std::nullopt;
    };
    if (a == "--help" || a == "-h") {
      fmt::print("{}", kUsage);
      return kExitOk;
    } else if (a == "--json") {
      json = true;
    } else if (a == "--socket" || a.starts_with("--socket=")) {
      if (!(socket = value("--socket"))) return usageError("--socket needs a path");
    } else if (a == "-c" || a == "--config" || a.starts_with("--config=")) {
      if (!(configFile = value(a == "-c" ? "-c" : "--config"))) return usageError("-c needs a file");
    } else {
      return usageError(fmt::format("unknown option '{}'", a));
    }
  }
  std::vector<std::string> words(argv + i, argv + argc);
  std::signal(SIGPIPE, SIG_IGN);

  if (!socket && configFile) {
    auto loaded = taskmaster::loadConfig(*configFile);
    for (const auto& d : loaded.errors) fmt::print(stderr, "{}\n", d.str());
    if (!loaded.ok()) return kExitUsage;
    socket = loaded.config.socket;
  }
  const std::string path = socket.value_or(control::defaultSocketPath());
  control::Client client;
  if (auto ec = client.connect(path)) {
    const bool absent = ec == std::errc::no_such_file_or_directory || ec == std::errc::connection_refused;
    fmt::print(stderr, "taskmaster ctl: {} on {}: {}\n", absent ? "no taskmaster is running" : "cannot connect", path,
               ec.message());
    return absent ? kExitNotRunning : kExitFailure;
  }
  if (words.empty()) return shell(client);
  if (words.front() == "events") return follow(client, json);

  auto reply = client.call(words.front(), {words.begin() + 1, words.end()});
  if (!reply) {
    fmt::print(stderr, "taskmaster ctl: {}\n", client.lastError());
    return kExitFailure;
  }
  if (json) {
    fmt::print("{}", control::encodeReply(nullptr, *reply));
  } else {
    for (const auto& line : reply->lines) fmt::print("{}\n", line);
    if (reply->lines.empty() && !reply->error.empty()) fmt::print(stderr, "taskmaster ctl: {}\n", reply->error);
  }
  if (!reply->error.empty()) return kExitUsage;
  return reply->ok ? kExitOk : kExitFailure;
}

}  // namespace cli
