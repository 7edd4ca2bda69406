// The control server: the listening socket, who may connect, and the built-in "events" command.
#include <taskmaster/commands.hpp>
#include <taskmaster/control.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include "control/session.hpp"
#include "control/wire.hpp"

namespace taskmaster::inline v0::control {
namespace asio = boost::asio;
using Local = asio::local::stream_protocol;
using detail::Session;

namespace {

// The directory of defaultSocketPath() when $XDG_RUNTIME_DIR is not set: in /tmp, so anyone could create it.
std::string sharedDefaultDir() { return fmt::format("/tmp/taskmaster-{}", ::geteuid()); }

// The socket's directory: created 0700 when missing; when `requirePrivate`, refused unless it is ours alone.
Result<> preparePrivateDir(const std::string& dir, bool requirePrivate) {
  if (dir.empty()) return {};
  if (::mkdir(dir.c_str(), 0700) < 0 && errno != EEXIST)
    return detail::systemError(fmt::format("cannot create {}", dir));
  struct stat st{};
  if (::lstat(dir.c_str(), &st) < 0 || !S_ISDIR(st.st_mode))
    return Error{std::make_error_code(std::errc::not_a_directory), fmt::format("{} is not a directory", dir)};
  if (requirePrivate && (st.st_uid != ::geteuid() || (st.st_mode & 077))) {
    return Error{std::make_error_code(std::errc::permission_denied),
                 fmt::format("{} is not private (owner {}, mode {:o}): refusing to put the control socket there", dir,
                             st.st_uid, st.st_mode & 07777)};
  }
  return {};
}

// A live server answers on the path: leave it alone. A socket file nobody answers on is stale: remove it.
// Never removes a file that is not a socket.
Result<> replaceStaleSocket(const std::string& path, const sockaddr_un& address) {
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe) return detail::systemError(fmt::format("cannot create a socket to probe {}", path));
  const int rc = retryOnEintr(
      [&] { return ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address); });
  const int err = errno;
  if (rc == 0) {
    return Error{std::make_error_code(std::errc::address_in_use),
                 fmt::format("another taskmaster is already listening on {}", path)};
  }
  struct stat st{};
  if (err == ECONNREFUSED && ::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return Error{std::make_error_code(std::errc::file_exists), fmt::format("{} exists and is not a socket", path)};
    ::unlink(path.c_str());
  }
  return {};
}

// A listening socket on the path, mode 0600.
Result<UniqueFd> bindAndListen(const std::string& path, const sockaddr_un& address) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd && ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0 &&
      ::chmod(path.c_str(), 0600) == 0 && ::listen(fd.get(), 128) == 0)
    return fd;
  return detail::systemError(fmt::format("cannot listen on {}", path));
}

}  // namespace

class Server::Impl final : public detail::SessionOwner, public std::enable_shared_from_this<Server::Impl> {
 public:
  Impl(asio::io_context& io, Supervisor& supervisor, Handler handler)
      : handler_(std::move(handler)), events_(supervisor), acceptor_(io), retry_(io) {}

  Result<> listen(const ServerOptions& options);
  void close();
  [[nodiscard]] std::size_t clients() const { return sessions_.size(); }

  [[nodiscard]] const ServerOptions& options() const override { return options_; }
  void serve(const Request& request, Responder respond) override;
  void drop(Session* s) override { sessions_.erase(s); }

 private:
  void accept();
  void admit(Local::socket socket);

  Handler handler_;
  EventStream events_;
  ServerOptions options_;
  Local::acceptor acceptor_;
  asio::steady_timer retry_;  // armed only while accept() fails for lack of fds
  UniqueFd spare_;            // an fd kept in reserve, given up to accept a client when fds run out
  std::map<Session*, std::shared_ptr<Session>> sessions_;
  std::string boundPath_;
};

// "events" is the server's own: it needs nothing from the embedding program but the supervisor.
void Server::Impl::serve(const Request& request, Responder respond) {
  if (const auto* command = findCommand(request.cmd); command && command->id == CommandId::events) return respond({true, {"following state changes"}, nullptr, {}}, events_.source());
  handler_(request, std::move(respond));
}

Result<> Server::Impl::listen(const ServerOptions& options) {
  options_ = options;
  const std::string& path = options.path;
  sockaddr_un address{};
  if (!detail::fillAddress(path, address)) {
    return Error{std::make_error_code(std::errc::filename_too_long),
                 fmt::format("socket path too long or empty: '{}'", path)};
  }
  const auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? std::string{} : path.substr(0, slash);
  if (auto r = preparePrivateDir(dir, options.requirePrivateDir.value_or(dir == sharedDefaultDir())); !r) return r;
  if (auto r = replaceStaleSocket(path, address); !r) return r;
  auto fd = bindAndListen(path, address);
  if (!fd) return fd.error();
  boost::system::error_code ec;
  acceptor_.assign(Local(), fd->get(), ec);
  if (ec) return Error{std::make_error_code(std::errc::io_error), fmt::format("cannot listen on {}: {}", path, ec.message())};
  (void)fd->release();  // the acceptor owns it now
  boundPath_ = path;
  spare_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  accept();
  return {};
}

void Server::Impl::accept() {
  acceptor_.async_accept([weak = weak_from_this()](boost::system::error_code ec, Local::socket socket) {
    auto self = weak.lock();
    if (!self || ec == asio::error::operation_aborted || !self->acceptor_.is_open()) return;
    // Out of fds (the children's pidfds took them): give up the reserve so that a client can still get
    // in, to stop something. Other failures, or no reserve left: try again a little later, not in a spin.
    if ((ec == asio::error::no_descriptors || ec.value() == ENFILE) && self->spare_) {
      self->spare_.reset();
      return self->accept();
    }
    if (ec) {
      self->retry_.expires_after(std::chrono::milliseconds(100));
      self->retry_.async_wait([weak](boost::system::error_code e) {
        if (auto s = weak.lock(); s && !e) s->accept();
      });
      return;
    }
    if (!self->spare_) self->spare_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));  // may fail until fds return
    self->admit(std::move(socket));
    self->accept();
  });
}

// A new connection: served if its peer may control us and there is room, else told why and closed.
void Server::Impl::admit(Local::socket socket) {
  auto session = std::make_shared<Session>(*this, std::move(socket));
  Session* raw = session.get();
  sessions_[raw] = std::move(session);
  ucred cred{};
  socklen_t len = sizeof cred;
  const bool known = ::getsockopt(raw->nativeHandle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0;
  const bool allowed =
      known && (cred.uid == ::geteuid() || cred.uid == 0 || (options_.group && cred.gid == *options_.group));
  if (!allowed) {
    raw->refuse(fmt::format("permission denied: uid {} may not control this taskmaster", cred.uid));
  } else if (sessions_.size() > options_.maxClients) {
    raw->refuse(fmt::format("too many clients (limit {})", options_.maxClients));
  } else {
    raw->start();
  }
}

void Server::Impl::close() {
  boost::system::error_code ignored;
  retry_.cancel();
  if (acceptor_.is_open()) acceptor_.close(ignored);
  spare_.reset();
  for (auto& [raw, s] : sessions_) s->detach();
  sessions_.clear();
  if (!boundPath_.empty()) ::unlink(boundPath_.c_str());
  boundPath_.clear();
}

Server::Server(asio::io_context& io, Supervisor& supervisor, Handler handler)
    : impl_(std::make_shared<Impl>(io, supervisor, std::move(handler))) {}
Server::~Server() { impl_->close(); }
Result<> Server::listen(const ServerOptions& options) { return impl_->listen(options); }
void Server::close() { impl_->close(); }
std::size_t Server::clients() const { return impl_->clients(); }

}  // namespace taskmaster::inline v0::control
