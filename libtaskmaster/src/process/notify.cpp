#include "process/notify.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

namespace taskmaster::inline v0::detail {
namespace asio = boost::asio;
namespace {

// sd_notify's messages are short; a longer one is cut here.
constexpr std::size_t kMaxMessage = 4096;
// Datagrams read per readiness of the socket: a burst from 10,000 children does not hold the loop.
constexpr int kMessagesPerTurn = 64;

std::string systemError(std::string_view call) {
  return fmt::format("{}: {}", call, std::generic_category().message(errno));
}

// READY=1 and STATUS=..., one assignment a line.
void dispatchMessage(std::string_view message, const NoticeHandler& onNotice) {
  while (!message.empty()) {
    const auto newline = message.find('\n');
    const auto line = message.substr(0, newline);
    message.remove_prefix(newline == std::string_view::npos ? message.size() : newline + 1);
    if (line == "READY=1") onNotice({Notice::Kind::ready, {}});
    else if (line.starts_with("STATUS=")) onNotice({Notice::Kind::status, std::string(line.substr(7))});
  }
}

}  // namespace

struct NotifySocket::State : std::enable_shared_from_this<NotifySocket::State> {
  explicit State(asio::io_context& io) : socket(io) {}
  asio::posix::stream_descriptor socket;
  std::string address;
  std::unordered_map<int, std::shared_ptr<NoticeHandler>> byPid;

  void wait() {
    socket.async_wait(asio::posix::stream_descriptor::wait_read, [weak = weak_from_this()](boost::system::error_code ec) {
      auto self = weak.lock();
      if (!self || ec == asio::error::operation_aborted) return;
      self->readMessages();
      self->wait();
    });
  }

  void readMessages() {
    for (int n = 0; n < kMessagesPerTurn; ++n) {
      std::array<char, kMaxMessage> buffer;
      alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(ucred))> control{};
      iovec iov{buffer.data(), buffer.size()};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control.data();
      msg.msg_controllen = control.size();
      const ssize_t got = retryOnEintr([&] { return ::recvmsg(socket.native_handle(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC); });
      if (got < 0) return;  // EAGAIN: all read
      int sender = 0;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
          ucred cred{};
          std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
          sender = cred.pid;
        } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {  // fds sent along: not kept
          const auto count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
          for (std::size_t i = 0; i < count; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            ::close(fd);
          }
        }
      }
      if (auto handler = find(sender)) dispatchMessage({buffer.data(), static_cast<std::size_t>(got)}, *handler);
    }
  }

  // The main process, or a process of the group it leads (getpgid: the sender may be gone already).
  std::shared_ptr<NoticeHandler> find(int pid) {
    if (pid <= 0) return nullptr;
    if (auto it = byPid.find(pid); it != byPid.end()) return it->second;
    const int group = ::getpgid(pid);
    if (auto it = byPid.find(group); group > 0 && it != byPid.end()) return it->second;
    return nullptr;
  }
};

NotifySocket::~NotifySocket() {
  if (state_) state_->socket.close();
}

std::string NotifySocket::address(std::string& error) {
  if (state_) return state_->address;
  auto failed = [&error](std::string_view call) {
    error = systemError(call);
    return std::string();
  };
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return failed("socket");
  const int on = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof on) < 0) return failed("SO_PASSCRED");
  // Autobind: the kernel picks a free abstract name. No file to remove, and none to collide with.
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(sa_family_t)) < 0) return failed("bind");
  socklen_t length = sizeof addr;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &length) < 0) return failed("getsockname");
  const auto nameLength = length - offsetof(sockaddr_un, sun_path);
  auto state = std::make_shared<State>(io_);
  state->address = "@" + std::string(addr.sun_path + 1, nameLength - 1);
  state->socket.assign(fd.release());
  state->wait();
  state_ = std::move(state);
  return state_->address;
}

namespace {

class PidRegistration final : public NoticeRegistration {
 public:
  PidRegistration(std::weak_ptr<void> state, std::unordered_map<int, std::shared_ptr<NoticeHandler>>& map, int pid)
      : state_(std::move(state)), map_(map), pid_(pid), handler_(map.at(pid).get()) {}
  ~PidRegistration() override {
    if (state_.expired()) return;
    if (auto it = map_.find(pid_); it != map_.end() && it->second.get() == handler_) map_.erase(it);  // not a reused pid's
  }
  PidRegistration(const PidRegistration&) = delete;
  PidRegistration& operator=(const PidRegistration&) = delete;

 private:
  std::weak_ptr<void> state_;
  std::unordered_map<int, std::shared_ptr<NoticeHandler>>& map_;
  int pid_;
  const NoticeHandler* handler_;
};

// The read end of a notification pipe: the first newline is READY; the end of the pipe (the program closed
// it) or the registration's end stops the reading.
class FdWatch final : public NoticeRegistration, public std::enable_shared_from_this<FdWatch> {
 public:
  FdWatch(asio::io_context& io, UniqueFd fd, NoticeHandler onNotice) : pipe_(io), onNotice_(std::move(onNotice)) {
    pipe_.assign(fd.get());
    (void)fd.release();
  }

  void wait() {
    pipe_.async_wait(asio::posix::stream_descriptor::wait_read,
                     [weak = weak_from_this()](boost::system::error_code ec) {
                       auto self = weak.lock();
                       if (!self || ec) return;
                       self->readable();
                     });
  }

 private:
  void readable() {
    std::array<char, 512> buffer;
    const ssize_t n = retryOnEintr([&] { return ::read(pipe_.native_handle(), buffer.data(), buffer.size()); });
    if (n < 0 && errno == EAGAIN) return wait();
    if (n <= 0) return pipe_.close();
    if (std::string_view(buffer.data(), static_cast<std::size_t>(n)).find('\n') == std::string_view::npos) return wait();
    pipe_.close();  // ready once: what comes after is not read
    auto onNotice = std::move(onNotice_);
    onNotice({Notice::Kind::ready, {}});
  }

  asio::posix::stream_descriptor pipe_;
  NoticeHandler onNotice_;
};

class FdRegistration final : public NoticeRegistration {
 public:
  explicit FdRegistration(std::shared_ptr<FdWatch> watch) : watch_(std::move(watch)) {}

 private:
  std::shared_ptr<FdWatch> watch_;  // the only owner: the pending wait holds it weakly
};

}  // namespace

std::unique_ptr<NoticeRegistration> NotifySocket::watch(int pid, NoticeHandler onNotice) {
  if (!state_) return nullptr;
  state_->byPid[pid] = std::make_shared<NoticeHandler>(std::move(onNotice));
  return std::make_unique<PidRegistration>(state_, state_->byPid, pid);
}

std::unique_ptr<NoticeRegistration> watchNotificationFd(asio::io_context& io, UniqueFd readEnd, NoticeHandler onNotice) {
  auto watch = std::make_shared<FdWatch>(io, std::move(readEnd), std::move(onNotice));
  watch->wait();
  return std::make_unique<FdRegistration>(std::move(watch));
}

}  // namespace taskmaster::inline v0::detail
