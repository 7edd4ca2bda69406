#include "ctl/ctl.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <optional>
#include <set>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <taskmaster/taskmaster.hpp>

#include "attach/detach_keys.hpp"
#include "attach/session.hpp"
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
  if (str("event") == "detail") {  // "web waiting for db", "web is unhealthy: ...", "web status: ..."
    const auto text = str("text");
    std::string what = text.empty() ? "no longer waiting" : text;
    if (str("detail") == "health") what = fmt::format("is {}{}{}", str("health"), text.empty() ? "" : ": ", text);
    if (str("detail") == "status_text") what = "status: " + text;
    return fmt::format("{} {} {}", str("time"), str("instance"), what);
  }
  std::string line = fmt::format("{} {} {} -> {}", str("time"), str("instance"), str("from"), str("to"));
  if (auto* pid = e.if_contains("pid"); pid && pid->is_int64() && pid->as_int64() > 0)
    line += fmt::format(" pid {}", pid->as_int64());
  if (auto reason = str("reason"); !reason.empty()) line += ": " + reason;
  return line;
}

std::string stringAt(const boost::json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string{};
}

bool flagAt(const boost::json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  return v && v->is_bool() && v->as_bool();
}

// The answer of tail or maintail that opened a stream: {"text": ..., "follow": true}.
bool opensStream(const control::Reply& reply) {
  const auto* data = reply.data.if_object();
  const auto* follow = data ? data->if_contains("follow") : nullptr;
  return reply.ok && follow && follow->is_bool() && follow->as_bool();
}

std::string laggedText(const boost::json::object& e) {
  const auto* dropped = e.if_contains("dropped");
  return fmt::format("({} chunks of output missed: this client read too slowly)",
                     dropped && dropped->is_int64() ? dropped->as_int64() : 0);
}

// The shell's commands, run by the taskmaster at the other end of the socket. Leaving the shell is the
// one command answered here: the remote taskmaster goes on. tail -f follows the stream on the connection,
// through the loop, and Ctrl-C ends it by connecting again: the server follows until its client leaves.
class RemoteBackend final : public ShellBackend {
 public:
  RemoteBackend(asio::io_context& io, control::Client& client, std::string path)
      : io_(io), client_(client), path_(std::move(path)) {}
  ~RemoteBackend() override { stopFollowing(false); }
  [[nodiscard]] bool lost() const { return lost_; }  // the connection broke: the shell ended with it
  // Called when the connection breaks while following (no command answer to say it).
  void onLost(std::function<void(std::string)> onLost) { onLost_ = std::move(onLost); }

  void run(const std::vector<std::string>& words, std::function<void(taskmaster::CommandReply)> done) override {
    taskmaster::CommandReply result;
    const auto* command = taskmaster::findCommand(words.front());
    if (command && command->scope == taskmaster::CommandScope::shell) {
      result.quit = true;
    } else if (isAttach(words)) {  // needs the terminal and a connection of its own
      result.fail(fmt::format("{}: not in this shell: run 'taskmaster ctl attach NAME'", words.front()));
    } else if (command && command->scope == taskmaster::CommandScope::socket) {  // would turn this shell into a stream
      result.fail(fmt::format("'{}' is not for this shell: run 'taskmaster ctl {}'", words.front(), words.front()));
    } else if (auto reply = client_.call(words.front(), {words.begin() + 1, words.end()})) {
      result.ok = reply->ok;
      if (opensStream(*reply)) {
        const auto& data = reply->data.as_object();
        result.data = taskmaster::OutputTail{stringAt(data, "name"), stringAt(data, "stream"), stringAt(data, "text"),
                                             [this](auto sink) { return follow(std::move(sink)); }};
      }
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
  using Sink = std::function<void(std::string_view)>;

  taskmaster::Subscription follow(Sink sink) {
    sink_ = std::move(sink);
    deliver(client_.bufferedEvents());  // some may have come with the reply
    // Only waited on, never read through Asio: the descriptor stays blocking for the client's reads.
    watch_.emplace(io_, ::fcntl(client_.fd(), F_DUPFD_CLOEXEC, 3));
    waitForStream();
    return taskmaster::Subscription([this] { stopFollowing(true); });
  }

  void waitForStream() {
    watch_->async_wait(asio::posix::descriptor_base::wait_read, [this](boost::system::error_code ec) {
      if (ec || !sink_) return;
      auto events = client_.readEvents();  // readable: one read that does not wait
      if (!events) return broken(events.error().str());
      deliver(*events);
      if (sink_) waitForStream();
    });
  }

  void deliver(const std::vector<boost::json::object>& events) {
    for (const auto& e : events) {
      if (!sink_) return;
      const auto kind = stringAt(e, "event");
      if (kind == "output") sink_(stringAt(e, "data"));
      else if (kind == "lagged") sink_(fmt::format("\n{}\n", laggedText(e)));
    }
  }

  void stopFollowing(bool reconnect) {
    if (!watch_) return;
    sink_ = nullptr;
    boost::system::error_code ignored;
    watch_->close(ignored);
    watch_.reset();
    if (!reconnect || lost_) return;
    if (auto connected = client_.connect(path_); !connected) {
      // The next command says so, and ends the shell.
      lost_ = true;
    }
  }

  void broken(const std::string& why) {
    sink_ = nullptr;
    lost_ = true;
    if (onLost_) onLost_(fmt::format("connection to taskmaster lost: {}", why));
  }

  asio::io_context& io_;
  control::Client& client_;
  std::string path_;
  std::optional<asio::posix::stream_descriptor> watch_;  // a duplicate of the client's socket, while following
  Sink sink_;
  std::function<void(std::string)> onLost_;
  bool lost_ = false;
};

int shell(control::Client& client, const std::string& path) {
  asio::io_context io;
  RemoteBackend backend(io, client, path);
  backend.onLost([&io](const std::string& why) {
    fmt::print(stderr, "\ntaskmaster ctl: {}\n", why);
    io.stop();
  });
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

// tail -f, maintail -f: the output as it comes, until interrupted or until taskmaster goes away (exit code 0,
// as events).
int followOutput(control::Client& client, bool json) {
  std::fflush(stdout);
  while (auto event = client.nextEvent()) {
    if (json) {
      fmt::print("{}\n", boost::json::serialize(*event));
    } else if (const auto kind = stringAt(*event, "event"); kind == "output") {
      const auto data = stringAt(*event, "data");
      std::fwrite(data.data(), 1, data.size(), stdout);
    } else if (kind == "lagged") {
      std::fflush(stdout);
      fmt::print(stderr, "taskmaster ctl: {}\n", laggedText(*event));
    }
    std::fflush(stdout);
  }
  return kExitOk;
}

// Asio's wait on a duplicate of the client's socket may have made the open socket non-blocking (the flag is
// shared by duplicates): the client's own calls wait for their answers.
void keepBlocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0 && (flags & O_NONBLOCK) != 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
}

// The state of one instance, as status says it ("RUNNING"); empty when it cannot be asked.
std::string stateOf(control::Client& client, const std::string& name) {
  keepBlocking(client.fd());
  auto reply = client.call("status", {name});
  if (!reply || !reply->data.is_array() || reply->data.as_array().empty()) return {};
  const auto* first = reply->data.as_array().front().if_object();
  return first ? stringAt(*first, "state") : std::string{};
}

// Requests sent without waiting for their replies, which the stream of events skips: the keys as they are
// typed, and the window size. A write that fails means the connection is gone, which its read says.
void sendRequest(control::Client& client, const std::string& cmd, std::vector<std::string> args) {
  keepBlocking(client.fd());
  const auto line = control::encodeRequest({.id = nullptr, .cmd = cmd, .args = std::move(args), .withData = false});
  std::string_view rest = line;
  while (!rest.empty()) {
    const ssize_t n = ::send(client.fd(), rest.data(), rest.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
}

// taskmaster ctl attach NAME: the session on this connection's stream, until the detach keys, the program's
// end, taskmaster going away, or SIGINT, SIGTERM or SIGHUP to this client (each a detach).
int attach(control::Client& client, const control::Reply& reply, const std::string& detachKeys) {
  const auto* data = reply.data.if_object();
  if (!data) {
    fmt::print(stderr, "taskmaster ctl: attach: malformed reply from taskmaster\n");
    return kExitFailure;
  }
  asio::io_context io;
  const auto name = stringAt(*data, "name");
  int code = kExitOk;
  AttachSession session(
      io,
      {.name = name,
       .mode = parseInputMode(stringAt(*data, "mode")).value_or(taskmaster::InputMode::none),
       .keyboard = flagAt(*data, "keyboard"),
       .detachKeys = detachKeys},
      {.input = [&client](std::string bytes) { sendRequest(client, "input", {std::move(bytes)}); },
       .resize = [&client](unsigned short rows, unsigned short columns) {
         sendRequest(client, "resize", {std::to_string(rows), std::to_string(columns)});
       },
       .detached = [&client, name](auto done) { done(detachedLine(name, stateOf(client, name))); },
       .finished = [&io] { io.stop(); }});
  asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
  signals.async_wait([&session](boost::system::error_code ec, int) {
    if (!ec) session.detach();
  });
  // Only waited on, never read through Asio: the descriptor stays blocking for the client's own reads.
  asio::posix::stream_descriptor watch(io, ::fcntl(client.fd(), F_DUPFD_CLOEXEC, 3));
  auto deliver = [&](const std::vector<boost::json::object>& events) {
    for (const auto& e : events) {
      const auto kind = stringAt(e, "event");
      if (kind == "output") session.output(stringAt(e, "data"));
      else if (kind == "lagged") session.output(fmt::format("\r\n[{}]\r\n", laggedText(e)));
      else if (kind == "keyboard") session.keyboard(flagAt(e, "keyboard"));
      else if (kind == "detached") session.end(stringAt(e, "line"));
    }
  };
  std::function<void()> waitForStream = [&] {
    watch.async_wait(asio::posix::descriptor_base::wait_read, [&](boost::system::error_code ec) {
      if (ec || session.ended()) return;
      auto events = client.readEvents();
      if (!events) {
        code = kExitFailure;
        return session.end(fmt::format("connection to taskmaster lost: {}", events.error().str()));
      }
      deliver(*events);
      if (!session.ended()) waitForStream();
    });
  };
  session.start(stringAt(*data, "text"));
  deliver(client.bufferedEvents());  // some may have come with the reply
  if (!session.ended()) waitForStream();
  io.run();
  return code;
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
  if (words.empty()) return shell(client, path);
  if (const auto* command = taskmaster::findCommand(words.front()); command && command->id == taskmaster::CommandId::events)
    return follow(client, json);

  const auto* command = taskmaster::findCommand(words.front());
  using taskmaster::CommandId;
  if (isAttach(words)) {
    auto reply = client.call(words.front(), {words.begin() + 1, words.end()});
    if (!reply || !reply->ok) {
      const auto why = !reply                  ? reply.error().str()
                       : !reply->error.empty() ? reply->error
                                               : fmt::format("{}", fmt::join(reply->lines, "\n"));
      fmt::print(stderr, "taskmaster ctl: {}\n", why);
      return !reply ? kExitFailure : reply->error.empty() ? kExitFailure : kExitUsage;
    }
    return attach(client, *reply, options.detachKeys);
  }
  const bool output = command && (command->id == CommandId::tail || command->id == CommandId::maintail);
  // Printed as text, a reply needs only its lines; tail's text and stream come in its data. (A status of
  // 10,000 processes is 2 MB with its data, 0.4 MB without.)
  auto reply = client.call(words.front(), {words.begin() + 1, words.end()}, json || output);
  if (!reply) {
    fmt::print(stderr, "taskmaster ctl: {}\n", reply.error().str());
    return kExitFailure;
  }
  const auto* data = reply->data.if_object();
  if (json) {
    fmt::print("{}", control::encodeReply(nullptr, *reply));
  } else if (output && reply->ok && data && data->contains("text")) {
    // The bytes as the program wrote them (U+FFFD for what was not UTF-8), not a newline more.
    const auto text = stringAt(*data, "text");
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else {
    for (const auto& line : reply->lines) fmt::print("{}\n", line);
    if (reply->lines.empty() && !reply->error.empty()) fmt::print(stderr, "taskmaster ctl: {}\n", reply->error);
  }
  if (!reply->error.empty()) return kExitUsage;
  if (!reply->ok) return kExitFailure;
  if (output && opensStream(*reply)) return followOutput(client, json);
  return kExitOk;
}

}  // namespace cli
