// The blocking client: one request at a time, for command-line tools.
#include <taskmaster/control.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include <boost/json.hpp>

#include "control/wire.hpp"

namespace taskmaster::inline v0::control {
namespace json = boost::json;

namespace {

// Sends all of `bytes` without SIGPIPE: a server that hung up is an error to report, not a signal.
Result<> sendAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = retryOnEintr([&] { return ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL); });
    if (n < 0) return detail::systemError("send to taskmaster");
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

}  // namespace

Result<> Client::connect(const std::string& path) {
  sockaddr_un address{};
  if (!detail::fillAddress(path, address))
    return Error{std::make_error_code(std::errc::filename_too_long), "connect to " + path + ": path too long"};
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return detail::systemError("socket");
  if (retryOnEintr([&] { return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address); }) < 0)
    return detail::systemError("connect to " + path);
  fd_ = std::move(fd);
  framer_ = {};
  return {};
}

// Each byte is searched once for the end of its line, and each line is parsed once.
Result<json::value> Client::readMessage() {
  while (true) {
    if (auto line = framer_.next()) {
      boost::system::error_code ec;
      json::value v = json::parse(*line, ec);
      if (ec) return Error{std::make_error_code(std::errc::bad_message), "malformed line from taskmaster"};
      return v;
    }
    std::array<char, 64 * 1024> chunk;
    const ssize_t n = retryOnEintr([&] { return ::read(fd_.get(), chunk.data(), chunk.size()); });
    if (n == 0) return Error{std::make_error_code(std::errc::connection_reset), "connection closed by taskmaster"};
    if (n < 0) return detail::systemError("read from taskmaster");
    framer_.append({chunk.data(), static_cast<std::size_t>(n)});
  }
}

Result<Reply> Client::call(const std::string& cmd, const std::vector<std::string>& args, bool withData) {
  const long id = nextId_++;
  // A failed send is reported only if no reply explains it: the server may have refused us and hung up,
  // and its reason is still there to read.
  auto sent = sendAll(fd_.get(), encodeRequest({id, cmd, args, withData}));
  while (true) {
    auto message = readMessage();
    if (!message) return sent ? message.error() : sent.error();
    const auto* o = message->if_object();
    if (!o || o->contains("event")) continue;  // an event of a stream this connection follows
    auto reply = detail::replyFromJson(*o);
    if (!reply) return Error{reply.error().code, "malformed reply from taskmaster"};
    const auto* rid = o->if_contains("id");
    // A reply with a null id and an error is about the connection, not the request: refused.
    if (rid && rid->is_null() && !reply->ok)
      return Error{std::make_error_code(std::errc::connection_refused), reply->error};
    if (rid && !(rid->is_int64() && rid->as_int64() == id)) continue;
    return reply;
  }
}

std::vector<json::object> Client::bufferedEvents() {
  std::vector<json::object> events;
  while (auto line = framer_.next()) {
    boost::system::error_code ec;
    json::value v = json::parse(*line, ec);
    if (auto* o = v.if_object(); !ec && o && o->contains("event")) events.push_back(std::move(*o));
  }
  return events;
}

Result<std::vector<json::object>> Client::readEvents() {
  std::array<char, 64 * 1024> chunk;
  const ssize_t n = retryOnEintr([&] { return ::read(fd_.get(), chunk.data(), chunk.size()); });
  if (n == 0) return Error{std::make_error_code(std::errc::connection_reset), "connection closed by taskmaster"};
  if (n < 0) return detail::systemError("read from taskmaster");
  framer_.append({chunk.data(), static_cast<std::size_t>(n)});
  return bufferedEvents();
}

Result<json::object> Client::nextEvent() {
  while (true) {
    auto message = readMessage();
    if (!message) return message.error();
    if (auto* o = message->if_object(); o && o->contains("event")) return std::move(*o);
  }
}

}  // namespace taskmaster::inline v0::control
