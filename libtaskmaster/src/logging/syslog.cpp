// SyslogWriter (taskmaster/log.hpp): RFC 3164 datagrams to the local syslog socket, never blocking.
#include <taskmaster/log.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>

#include <fmt/format.h>

#include <taskmaster/util.hpp>

namespace taskmaster::inline v0 {

namespace {

std::string hostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

}  // namespace

SyslogWriter::SyslogWriter(std::string socket) : socket_(std::move(socket)), host_(hostName()) {}

SyslogWriter::~SyslogWriter() {
  if (fd_ >= 0) ::close(fd_);
}

std::string SyslogWriter::format(int facility, int severity, std::string_view host, std::string_view tag, int pid,
                                 std::string_view message, std::chrono::system_clock::time_point time) {
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto seconds = std::chrono::system_clock::to_time_t(time);
  std::tm tm{};
  ::localtime_r(&seconds, &tm);
  // RFC 3164's timestamp: local time, the day padded with a space ("Dec  6").
  return fmt::format("<{}>{} {:2} {:02}:{:02}:{:02} {} {}[{}]: {}", facility * 8 + severity, kMonths[tm.tm_mon % 12],
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, host, tag, pid, escapeControl(message));
}

// Unconnected: each datagram is addressed, so a syslog daemon that restarts (a new socket at the same path)
// is found again without reconnecting.
std::error_code SyslogWriter::send(int facility, int severity, std::string_view tag, std::string_view message,
                                   std::chrono::system_clock::time_point time) {
  if (fd_ < 0) fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) return {errno, std::generic_category()};
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_.size() >= sizeof address.sun_path) return std::make_error_code(std::errc::filename_too_long);
  std::memcpy(address.sun_path, socket_.data(), socket_.size());
  const auto line = format(facility, severity, host_, tag, ::getpid(), message, time);
  const auto sent = retryOnEintr([&] {
    return ::sendto(fd_, line.data(), line.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&address),
                    sizeof address);
  });
  if (sent < 0) return {errno, std::generic_category()};
  return {};
}

int syslogSeverity(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::debug: return 7;
    case LogLevel::info: return 6;
    case LogLevel::warn: return 4;
    case LogLevel::error: return 3;
  }
  return 6;
}

}  // namespace taskmaster::inline v0
