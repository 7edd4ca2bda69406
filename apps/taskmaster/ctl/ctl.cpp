#include "ctl/ctl.hpp"

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

#include "shell/shell.hpp"

namespace cli {
namespace {
namespace asio = boost::asio;
namespace control = taskmaster::control;

std::string eventLine(const boost::json::object& e) {
  auto str = [&](const char* key) -> std::string {
    auto* v = e.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string{};
  };
  if (str("event") == "lagged") {  // this client fell behind: `status` tells where things are now
    const auto* dropped = e.if_contains("dropped");
    return fmt::format("({} events missed: run 'status' to see where things are)",
                       dropped && dropped->is_int64() ? dropped->as_int64() : 0);
  }
  std::string line = fmt::format("{} {} {} -> {}", str("time"), str("instance"), str("from"), str("to"));
  if (auto* pid = e.if_contains("pid"); pid && pid->is_int64() && pid->as_int64() > 0)
    line += fmt::format(" pid {}", pid->as_int64());
  if (auto reason = str("reason"); !reason.empty()) line += ": " + reason;
  return line;
}

// The shell's commands, run by the taskmaster at the other end of the socket. Leaving the shell is the
// one command answered here: the remote taskmaster goes on.
class RemoteBackend final : public ShellBackend {
 public:
  RemoteBackend(asio::io_context& io, control::Client& client) : io_(io), client_(client) {}
  [[nodiscard]] bool lost() const { return lost_; }  // the connection broke: the shell ended with it

  void run(const std::vector<std::string>& words, std::function<void(taskmaster::CommandReply)> done) override {
    taskmaster::CommandReply result;
    const auto* command = taskmaster::findCommand(words.front());
    if (command && command->scope == taskmaster::CommandScope::shell) {
      result.quit = true;
    } else if (command && command->scope == taskmaster::CommandScope::socket) {  // would turn this shell into a stream
      result.fail(fmt::format("'{}' is not for this shell: run 'taskmaster ctl {}'", words.front(), words.front()));
    } else if (auto reply = client_.call(words.front(), {words.begin() + 1, words.end()})) {
      result.ok = reply->ok;
      result.lines = std::move(reply->lines);
      if (result.lines.empty() && !reply->error.empty()) result.lines.push_back(reply->error);
    } else {
      result.fail(fmt::format("connection to taskmaster lost: {}", reply.error().str()));
      result.quit = true;
      lost_ = true;
    }
    asio::post(io_, [done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
  }

  [[nodiscard]] std::vector<std::string> completions(const std::vector<std::string>& words) const override {
    return taskmaster::completeWords(words, [this] {
      std::set<std::string> names{"all"};
      if (auto reply = client_.call("status"); reply && reply->data.is_array())
        for (const auto& s : reply->data.as_array()) {
          names.insert(std::string(s.at("program").as_string()));
          names.insert(std::string(s.at("instance").as_string()));
        }
      return std::vector<std::string>(names.begin(), names.end());
    });
  }

 private:
  asio::io_context& io_;
  control::Client& client_;
  bool lost_ = false;
};

int shell(control::Client& client) {
  asio::io_context io;
  RemoteBackend backend(io, client);
  auto sh = makeShell(io, backend, {.historyFile = historyPath(),
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
  return backend.lost() ? kExitFailure : kExitOk;
}

int follow(control::Client& client, bool json) {
  auto ack = client.call("events");
  if (!ack || !ack->ok) {
    fmt::print(stderr, "taskmaster ctl: events: {}\n", ack ? ack->error : ack.error().str());
    return kExitFailure;
  }
  while (auto event = client.nextEvent()) {
    fmt::print("{}\n", json ? boost::json::serialize(*event) : eventLine(*event));
    std::fflush(stdout);
  }
  return kExitOk;  // taskmaster went away
}

}  // namespace

int runCtl(const CtlOptions& options) {
  const auto& words = options.words;
  const bool json = options.json;
  auto socket = options.socket;
  // SIGPIPE keeps its default: `taskmaster ctl status | head -1` ends quietly, as any command does when its
  // reader leaves. The socket never raises it (the client sends with MSG_NOSIGNAL).

  if (!socket && options.config) {
    auto loaded = taskmaster::loadConfig(*options.config);
    for (const auto& d : loaded.errors) fmt::print(stderr, "{}\n", d.str());
    if (!loaded.ok()) return kExitUsage;
    socket = loaded.config.socket;
  }
  const std::string path = socket.value_or(control::defaultSocketPath());
  control::Client client;
  if (auto connected = client.connect(path); !connected) {
    const auto ec = connected.error().code;
    const bool absent = ec == std::errc::no_such_file_or_directory || ec == std::errc::connection_refused;
    fmt::print(stderr, "taskmaster ctl: {} on {}: {}\n", absent ? "no taskmaster is running" : "cannot connect", path,
               ec.message());
    return absent ? kExitNotRunning : kExitFailure;
  }
  if (words.empty()) return shell(client);
  if (const auto* command = taskmaster::findCommand(words.front()); command && command->id == taskmaster::CommandId::events)
    return follow(client, json);

  auto reply = client.call(words.front(), {words.begin() + 1, words.end()});
  if (!reply) {
    fmt::print(stderr, "taskmaster ctl: {}\n", reply.error().str());
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
