#include <taskmaster/control.hpp>
#include <taskmaster/supervisor.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <time.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

namespace taskmaster::inline v0::control {
namespace asio = boost::asio;
namespace json = boost::json;
using Local = asio::local::stream_protocol;

namespace {

std::string isoTime(WallTime t) {
  if (t.time_since_epoch().count() == 0) return {};
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, ms % 1000);
}

json::value exitJson(const std::optional<ExitStatus>& e) {
  if (!e) return nullptr;
  return json::object{{"code", e->code}, {"signal", e->signal}, {"core_dumped", e->coreDumped},
                      {"text", e->str()}};
}

bool fillAddress(const std::string& path, sockaddr_un& addr) {
  addr = {};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) return false;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return true;
}

std::error_code errnoCode() { return {errno, std::generic_category()}; }

// False when a number in the value is infinite: Boost.JSON parses 1e999 so, and would write it as Infinity.
bool finite(const json::value& v) {
  if (v.is_double()) return std::isfinite(v.as_double());
  if (const auto* a = v.if_array()) return std::ranges::all_of(*a, [](const json::value& e) { return finite(e); });
  if (const auto* o = v.if_object())
    return std::ranges::all_of(*o, [](const json::key_value_pair& kv) { return finite(kv.value()); });
  return true;
}

}  // namespace

// --- messages ---------------------------------------------------------------------------------------

std::optional<Request> parseRequest(std::string_view line, std::string& error) {
  boost::system::error_code ec;
  json::value v = json::parse(line, ec);
  if (ec) {
    error = fmt::format("malformed JSON: {}", ec.message());
    return std::nullopt;
  }
  auto* obj = v.if_object();
  if (!obj) {
    error = "a request must be a JSON object";
    return std::nullopt;
  }
  Request r;
  if (auto* id = obj->if_contains("id")) {
    if (!finite(*id)) {  // 1e999 anywhere in it: it could not be echoed as JSON
      error = "\"id\" must be a finite number, a string or null";
      return std::nullopt;
    }
    r.id = *id;
  }
  if (auto* ver = obj->if_contains("v"); ver && !(ver->is_int64() && ver->as_int64() == kVersion)) {
    error = fmt::format("unsupported protocol version {} (this server speaks {})", json::serialize(*ver), kVersion);
    return std::nullopt;
  }
  auto* cmd = obj->if_contains("cmd");
  if (!cmd || !cmd->is_string() || cmd->as_string().empty()) {
    error = "missing \"cmd\": a request names its command, e.g. {\"cmd\":\"status\"}";
    return std::nullopt;
  }
  r.cmd = std::string(cmd->as_string());
  if (auto* args = obj->if_contains("args")) {
    if (!args->is_array()) {
      error = "\"args\" must be an array of strings";
      return std::nullopt;
    }
    for (const auto& a : args->as_array()) {
      if (!a.is_string()) {
        error = "\"args\" must be an array of strings";
        return std::nullopt;
      }
      r.args.emplace_back(a.as_string());
    }
  }
  return r;
}

std::string encodeRequest(const Request& r) {
  json::array args;
  for (const auto& a : r.args) args.emplace_back(a);
  return json::serialize(json::object{{"v", kVersion}, {"id", r.id}, {"cmd", r.cmd}, {"args", std::move(args)}}) +
         "\n";
}

std::string encodeReply(const json::value& id, const Reply& reply) {
  json::array lines;
  for (const auto& l : reply.lines) lines.emplace_back(l);
  json::object o{{"v", kVersion}, {"id", id}, {"ok", reply.ok}, {"lines", std::move(lines)}};
  if (!reply.data.is_null()) o["data"] = reply.data;
  if (!reply.error.empty()) o["error"] = reply.error;
  return json::serialize(o) + "\n";
}

std::optional<Reply> parseReply(std::string_view line) {
  boost::system::error_code ec;
  json::value v = json::parse(line, ec);
  auto* o = ec ? nullptr : v.if_object();
  if (!o || !o->contains("ok")) return std::nullopt;
  Reply r;
  r.ok = o->at("ok").is_bool() && o->at("ok").as_bool();
  if (auto* lines = o->if_contains("lines"); lines && lines->is_array())
    for (const auto& l : lines->as_array())
      if (l.is_string()) r.lines.emplace_back(l.as_string());
  if (auto* d = o->if_contains("data")) r.data = *d;
  if (auto* e = o->if_contains("error"); e && e->is_string()) r.error = std::string(e->as_string());
  return r;
}

json::object toJson(const StateChange& c) {
  return {{"program", c.program},      {"instance", c.instance}, {"index", c.index},
          {"from", to_string(c.from)}, {"to", to_string(c.to)},  {"pid", c.pid},
          {"exit", exitJson(c.exit)},  {"expected", c.expected}, {"reason", c.reason},
          {"time", isoTime(c.time)},   {"retries", c.retries},   {"retry_in_ms", c.retryIn.count()}};
}

json::object toJson(const InstanceStatus& s) {
  return {{"program", s.program},
          {"instance", s.instance},
          {"index", s.index},
          {"state", to_string(s.state)},
          {"pid", s.pid},
          {"start_time", isoTime(s.startTime)},
          {"uptime_ms", s.uptime.count()},
          {"last_exit", exitJson(s.lastExit)},
          {"last_exit_time", isoTime(s.lastExitTime)},
          {"restarts", s.restarts},
          {"reason", s.reason}};
}

std::string defaultSocketPath() {
  if (const char* run = std::getenv("XDG_RUNTIME_DIR"); run && *run) return std::string(run) + "/taskmaster.sock";
  return fmt::format("/tmp/taskmaster-{}/taskmaster.sock", ::geteuid());
}

// --- server -----------------------------------------------------------------------------------------

class Session;

class Server::Impl : public std::enable_shared_from_this<Server::Impl> {
 public:
  Impl(asio::io_context& io, Supervisor& supervisor, Handler handler)
      : io_(io), supervisor_(supervisor), handler_(std::move(handler)), acceptor_(io), retry_(io) {}

  std::error_code listen(const ServerOptions& options, std::string& detail);
  void close();
  void accept();
  void drop(Session* s) { sessions_.erase(s); }

  asio::io_context& io_;
  Supervisor& supervisor_;
  Handler handler_;
  ServerOptions options_;
  Local::acceptor acceptor_;
  asio::steady_timer retry_;  // armed only while accept() fails for lack of fds
  int spare_ = -1;            // an fd kept in reserve, given up to accept a client when fds run out
  std::map<Session*, std::shared_ptr<Session>> sessions_;
  std::string boundPath_;
};

// One client connection: requests are answered one at a time and in order; "events" turns it into a stream.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server::Impl& server, Local::socket socket)
      : server_(server), socket_(std::move(socket)), partial_(server.io_) {}

  void start() { read(); }
  int nativeHandle() { return socket_.native_handle(); }

  // Answers with one error line and hangs up.
  void refuse(std::string message) {
    send(encodeReply(nullptr, {false, {}, nullptr, std::move(message)}));
    closing_ = true;
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    events_.reset();
    partial_.cancel();
    boost::system::error_code ignored;
    socket_.close(ignored);
    server_.drop(this);  // may destroy *this: nothing after
  }

  // The client has finished sending: answer what it asked, then close.
  void hangUp() {
    closing_ = true;
    if (!busy_ && !writing_) close();
  }

  // Closes without touching the server (which is going away).
  void detach() {
    closed_ = true;
    events_.reset();
    partial_.cancel();
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

 private:
  void read() {
    if (closed_ || closing_ || busy_) return;
    socket_.async_read_some(asio::buffer(chunk_), [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
      if (self->closed_) return;
      if (ec == asio::error::eof) return self->hangUp();
      if (ec) return self->close();
      self->inbox_.append(self->chunk_.data(), n);
      self->process();
    });
  }

  // Handles every complete line in the inbox, then reads more unless a request is being answered.
  void process() {
    while (!busy_ && !closed_ && !closing_) {
      auto nl = inbox_.find('\n');
      if (nl == std::string::npos) break;
      std::string line = inbox_.substr(0, nl);
      inbox_.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      if (line.size() > kMaxLine) return refuse(fmt::format("request line longer than {} bytes", kMaxLine));
      handle(line);
    }
    if (closed_ || closing_) return;
    if (inbox_.size() > kMaxLine) return refuse(fmt::format("request line longer than {} bytes", kMaxLine));
    watchPartial();
    read();
  }

  // A client that starts a line and never finishes it loses its connection after partialTimeout.
  void watchPartial() {
    if (inbox_.empty() || busy_) {
      partial_.cancel();
      partialArmed_ = false;
      return;
    }
    if (partialArmed_) return;
    partialArmed_ = true;
    partial_.expires_after(server_.options_.partialTimeout);
    partial_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || self->closed_) return;
      self->refuse("incomplete request: timed out waiting for the end of the line");
    });
  }

  void handle(const std::string& line) {
    std::string error;
    auto request = parseRequest(line, error);
    if (!request) return send(encodeReply(nullptr, {false, {}, nullptr, error}));
    if (request->cmd == "events") {
      streaming_ = true;
      events_ = server_.supervisor_.onStateChange([weak = weak_from_this()](const StateChange& c) {
        json::object e = toJson(c);
        e.emplace("v", kVersion);
        e.emplace("event", "state");
        if (auto self = weak.lock()) self->send(json::serialize(e) + "\n");
      });
      return send(encodeReply(request->id, {true, {"following state changes"}, nullptr, {}}));
    }
    busy_ = true;
    partial_.cancel();
    partialArmed_ = false;
    server_.handler_(*request, [weak = weak_from_this(), id = request->id](Reply reply) {
      auto self = weak.lock();
      if (!self || self->closed_) return;
      self->busy_ = false;
      self->send(encodeReply(id, reply));
      if (self->closing_ && !self->writing_) return self->close();
      // Next request: later on the loop, never from inside the handler's own call.
      asio::post(self->socket_.get_executor(), [self] {
        if (!self->closed_) self->process();
      });
    });
  }

  void send(std::string message) {
    if (closed_) return;
    queued_ += message.size();
    if (queued_ > server_.options_.maxQueued) return close();  // a client that does not read
    outbox_.push_back(std::move(message));
    if (!writing_) write();
  }

  void write() {
    writing_ = true;
    asio::async_write(socket_, asio::buffer(outbox_.front()), [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
      if (self->closed_) return;
      if (ec) return self->close();
      self->queued_ -= self->outbox_.front().size();
      self->outbox_.pop_front();
      if (!self->outbox_.empty()) return self->write();
      self->writing_ = false;
      if (self->closing_) self->close();
    });
  }

  Server::Impl& server_;
  Local::socket socket_;
  asio::steady_timer partial_;
  std::array<char, 4096> chunk_{};
  std::string inbox_;
  std::deque<std::string> outbox_;
  std::size_t queued_ = 0;
  Subscription events_;
  bool busy_ = false, writing_ = false, closing_ = false, closed_ = false, streaming_ = false, partialArmed_ = false;
};

std::error_code Server::Impl::listen(const ServerOptions& options, std::string& detail) {
  options_ = options;
  const std::string& path = options.path;
  sockaddr_un addr{};
  if (!fillAddress(path, addr)) {
    detail = fmt::format("socket path too long or empty: '{}'", path);
    return std::make_error_code(std::errc::filename_too_long);
  }
  // The directory: created 0700 when missing. The default one in /tmp is refused when someone else owns it
  // or could use it (anyone can create /tmp/taskmaster-UID before us).
  const std::string dir = path.substr(0, path.rfind('/') == std::string::npos ? 0 : path.rfind('/'));
  if (!dir.empty()) {
    if (::mkdir(dir.c_str(), 0700) < 0 && errno != EEXIST) {
      detail = fmt::format("cannot create {}: {}", dir, std::strerror(errno));
      return errnoCode();
    }
    struct stat st{};
    if (::lstat(dir.c_str(), &st) < 0 || !S_ISDIR(st.st_mode)) {
      detail = fmt::format("{} is not a directory", dir);
      return std::make_error_code(std::errc::not_a_directory);
    }
    const bool defaultDir = dir == fmt::format("/tmp/taskmaster-{}", ::geteuid());
    if (defaultDir && (st.st_uid != ::geteuid() || (st.st_mode & 077))) {
      detail = fmt::format("{} is not private (owner {}, mode {:o}): refusing to put the control socket there", dir,
                           st.st_uid, st.st_mode & 07777);
      return std::make_error_code(std::errc::permission_denied);
    }
  }
  // A live server answers on the path: leave it alone. A file nobody answers on is stale: replace it.
  {
    int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) return errnoCode();
    int rc = ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    int err = errno;
    ::close(probe);
    if (rc == 0) {
      detail = fmt::format("another taskmaster is already listening on {}", path);
      return std::make_error_code(std::errc::address_in_use);
    }
    struct stat st{};
    if (err == ECONNREFUSED && ::lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {  // never delete a file that is not a socket
        detail = fmt::format("{} exists and is not a socket", path);
        return std::make_error_code(std::errc::file_exists);
      }
      ::unlink(path.c_str());
    }
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errnoCode();
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || ::chmod(path.c_str(), 0600) < 0 ||
      ::listen(fd, 128) < 0) {
    auto ec = errnoCode();
    detail = fmt::format("cannot listen on {}: {}", path, ec.message());
    ::close(fd);
    return ec;
  }
  boost::system::error_code ec;
  acceptor_.assign(Local(), fd, ec);
  if (ec) {
    ::close(fd);
    detail = fmt::format("cannot listen on {}: {}", path, ec.message());
    return std::make_error_code(std::errc::io_error);
  }
  boundPath_ = path;
  spare_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  accept();
  return {};
}

void Server::Impl::accept() {
  acceptor_.async_accept([weak = weak_from_this()](boost::system::error_code ec, Local::socket socket) {
    auto self = weak.lock();
    if (!self || ec == asio::error::operation_aborted || !self->acceptor_.is_open()) return;
    // Out of fds (the children's pidfds took them): give up the reserve so that a client can still get
    // in, to stop something. Other failures, or no reserve left: try again a little later, not in a spin.
    if ((ec == asio::error::no_descriptors || ec.value() == ENFILE) && self->spare_ >= 0) {
      ::close(std::exchange(self->spare_, -1));
      return self->accept();
    }
    if (ec) {
      self->retry_.expires_after(std::chrono::milliseconds(100));
      self->retry_.async_wait([weak](boost::system::error_code e) {
        if (auto s = weak.lock(); s && !e) s->accept();
      });
      return;
    }
    if (self->spare_ < 0) self->spare_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);  // may fail until fds return
    auto session = std::make_shared<Session>(*self, std::move(socket));
    Session* raw = session.get();
    self->sessions_[raw] = session;
    ucred cred{};
    socklen_t len = sizeof cred;
    const bool known = ::getsockopt(raw->nativeHandle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0;
    const bool allowed = known && (cred.uid == ::geteuid() || cred.uid == 0 ||
                                   (self->options_.group && cred.gid == *self->options_.group));
    if (!allowed) {
      raw->refuse(fmt::format("permission denied: uid {} may not control this taskmaster", cred.uid));
    } else if (self->sessions_.size() > self->options_.maxClients) {
      raw->refuse(fmt::format("too many clients (limit {})", self->options_.maxClients));
    } else {
      raw->start();
    }
    self->accept();
  });
}

void Server::Impl::close() {
  boost::system::error_code ignored;
  retry_.cancel();
  if (acceptor_.is_open()) acceptor_.close(ignored);
  if (spare_ >= 0) ::close(std::exchange(spare_, -1));
  for (auto& [raw, s] : sessions_) s->detach();
  sessions_.clear();
  if (!boundPath_.empty()) ::unlink(boundPath_.c_str());
  boundPath_.clear();
}

Server::Server(asio::io_context& io, Supervisor& supervisor, Handler handler)
    : impl_(std::make_shared<Impl>(io, supervisor, std::move(handler))) {}
Server::~Server() { impl_->close(); }
std::error_code Server::listen(const ServerOptions& options, std::string& detail) {
  return impl_->listen(options, detail);
}
void Server::close() { impl_->close(); }
std::size_t Server::clients() const { return impl_->sessions_.size(); }

// --- client -----------------------------------------------------------------------------------------

Client::~Client() {
  if (fd_ >= 0) ::close(fd_);
}

std::error_code Client::connect(const std::string& path) {
  sockaddr_un addr{};
  if (!fillAddress(path, addr)) return std::make_error_code(std::errc::filename_too_long);
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return errnoCode();
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    auto ec = errnoCode();
    ::close(fd_);
    fd_ = -1;
    return ec;
  }
  return {};
}

std::optional<std::string> Client::readLine() {
  while (true) {
    if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    char chunk[4096];
    ssize_t n = ::read(fd_, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error_ = n == 0 ? "connection closed by taskmaster" : std::strerror(errno);
      return std::nullopt;
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }
}

std::optional<Reply> Client::call(const std::string& cmd, const std::vector<std::string>& args) {
  const long id = nextId_++;
  std::string line = encodeRequest({id, cmd, args});
  std::string sendError;
  for (std::size_t off = 0; off < line.size();) {
    ssize_t n = ::send(fd_, line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {  // the server may have refused us and hung up: its reason is still there to read
      sendError = std::strerror(errno);
      break;
    }
    off += static_cast<std::size_t>(n);
  }
  while (auto reply = readLine()) {
    boost::system::error_code ec;
    json::value v = json::parse(*reply, ec);
    auto* o = ec ? nullptr : v.if_object();
    if (!o || o->contains("event")) continue;  // an event of an earlier subscription
    auto* rid = o->if_contains("id");
    auto r = parseReply(*reply);
    if (!r) {
      error_ = "malformed reply from taskmaster";
      return std::nullopt;
    }
    if (rid && rid->is_null() && !r->ok) {  // about the connection, not the request: refused
      error_ = r->error;
      return std::nullopt;
    }
    if (rid && !(rid->is_int64() && rid->as_int64() == id)) continue;
    return r;
  }
  if (!sendError.empty()) error_ = sendError;
  return std::nullopt;
}

std::optional<json::object> Client::nextEvent() {
  while (auto line = readLine()) {
    boost::system::error_code ec;
    json::value v = json::parse(*line, ec);
    if (!ec && v.is_object() && v.as_object().contains("event")) return v.as_object();
  }
  return std::nullopt;
}

}  // namespace taskmaster::inline v0::control
