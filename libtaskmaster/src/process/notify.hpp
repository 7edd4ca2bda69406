// Internal: how a child says it is ready (`ready: {notify: true}` or `{fd: N}`). One datagram socket serves
// every child of a host (systemd's sd_notify protocol: NOTIFY_SOCKET): with SO_PASSCRED the kernel tells
// the sender's pid with each message, and the pid tells the instance, so 10,000 programs cost one fd, not
// 10,000. The notification fd (s6's) is a pipe per child: the child holds its write end as fd N.
#pragma once

#include "private.hpp"

#include <memory>
#include <string>
#include <unordered_map>

#include <taskmaster/error.hpp>
#include <taskmaster/util.hpp>

#include "core/host.hpp"

namespace boost::asio {
class io_context;
}

namespace taskmaster::inline v0::detail {

// Held while a child's notices are wanted; destroying it stops them.
class NoticeRegistration {
 public:
  virtual ~NoticeRegistration() = default;
};

class NotifySocket {
 public:
  explicit NotifySocket(boost::asio::io_context& io) : io_(io) {}
  ~NotifySocket();
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  // What NOTIFY_SOCKET says: "@" and the socket's abstract name. Binds the socket at the first call; empty
  // with `error` set when it cannot be.
  [[nodiscard]] std::string address(std::string& error);

  // Messages from process `pid`, or from any process of the process group it leads (a shell that runs the
  // program as its child), go to onNotice: READY=1, STATUS=text; the rest of the protocol is ignored.
  [[nodiscard]] std::unique_ptr<NoticeRegistration> watch(int pid, NoticeHandler onNotice);

 private:
  struct State;
  boost::asio::io_context& io_;
  std::shared_ptr<State> state_;
};

// Reads the read end of a child's notification pipe on the loop: its first newline is Notice::Kind::ready.
// Throws when the pipe cannot join the io_context.
[[nodiscard]] std::unique_ptr<NoticeRegistration> watchNotificationFd(boost::asio::io_context& io, UniqueFd readEnd,
                                                                      NoticeHandler onNotice);

}  // namespace taskmaster::inline v0::detail
