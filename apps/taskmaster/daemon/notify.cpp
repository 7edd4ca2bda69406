#include "daemon/notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>
#include <utility>

#include <fmt/format.h>

namespace cli {
namespace {

using namespace std::chrono_literals;

// At most one STATUS= a second: a crash loop changes states many times a second, and the status line is for a
// person reading `systemctl status`.
constexpr auto kStatusEvery = 1s;

// The variable's value, removed from the environment.
std::optional<std::string> take(const char* name) {
  const char* value = std::getenv(name);
  if (!value) return std::nullopt;
  std::string copy(value);
  ::unsetenv(name);
  return copy;
}

// WATCHDOG_USEC, when it is meant for this process (WATCHDOG_PID, when set, names it): half of it, as
// sd_watchdog_enabled(3) advises. 0 otherwise.
std::chrono::microseconds watchdogPeriod() {
  const auto usec = take("WATCHDOG_USEC");
  const auto pid = take("WATCHDOG_PID");
  if (!usec) return 0us;
  if (pid && *pid != std::to_string(::getpid())) return 0us;
  long long value = 0;
  const auto [end, ec] = std::from_chars(usec->data(), usec->data() + usec->size(), value);
  if (ec != std::errc() || end != usec->data() + usec->size() || value <= 0) return 0us;
  return std::chrono::microseconds(value / 2);
}

// "5 RUNNING, 1 FATAL, 2 STOPPED": the instances by state, as status names them, the busiest states first.
std::string summary(const std::vector<taskmaster::InstanceStatus>& instances) {
  using State = taskmaster::ProcessState;
  std::map<State, int> counts;
  for (const auto& instance : instances) ++counts[instance.state];
  std::string text;
  for (auto state : {State::running, State::starting, State::backoff, State::stopping, State::exited, State::fatal,
                     State::stopped}) {
    if (counts[state] == 0) continue;
    if (!text.empty()) text += ", ";
    text += fmt::format("{} {}", counts[state], taskmaster::to_string(state));
  }
  return text.empty() ? "no programs" : text;
}

}  // namespace

Notifier::Notifier(boost::asio::io_context& io, taskmaster::Supervisor& supervisor, taskmaster::LogSink log)
    : supervisor_(supervisor),
      log_(std::move(log)),
      socketName_(take("NOTIFY_SOCKET").value_or("")),
      statusTimer_(io),
      watchdogTimer_(io),
      watchdogEvery_(watchdogPeriod()) {
  if (socketName_.empty()) return;
  fd_ = taskmaster::UniqueFd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd_) log_(taskmaster::LogLevel::warn, fmt::format("NOTIFY_SOCKET: socket: {}", std::strerror(errno)));
  changes_ = supervisor_.onStateChange([this](const taskmaster::StateChange& c) { onChange(c); });
  if (watchdogEvery_ > 0us) armWatchdog();
}

Notifier::~Notifier() = default;

// One datagram to NOTIFY_SOCKET: a path, or an abstract name after '@'. Never blocks: a manager that does not
// read loses the message, which the next STATUS= or WATCHDOG=1 makes up for.
void Notifier::send(std::string_view message) {
  if (!fd_) return;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socketName_.size() >= sizeof address.sun_path) {
    if (!std::exchange(failed_, true))
      log_(taskmaster::LogLevel::warn, fmt::format("NOTIFY_SOCKET {}: the name is too long", socketName_));
    return;
  }
  std::memcpy(address.sun_path, socketName_.data(), socketName_.size());
  if (socketName_.front() == '@') address.sun_path[0] = '\0';
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socketName_.size());
  if (::sendto(fd_.get(), message.data(), message.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&address),
               length) < 0 &&
      !std::exchange(failed_, true)) {
    log_(taskmaster::LogLevel::warn, fmt::format("NOTIFY_SOCKET {}: {}", socketName_, std::strerror(errno)));
  }
}

void Notifier::started() {
  if (socketName_.empty()) return;
  applied_ = true;
  for (const auto& instance : supervisor_.status())
    if (instance.state == taskmaster::ProcessState::starting) starting_.insert(instance.instance);
  if (starting_.empty()) {
    ready_ = true;
    send("READY=1\nSTATUS=" + summary(supervisor_.status()));
  }
}

void Notifier::reloading() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  const long long usec = static_cast<long long>(now.tv_sec) * 1'000'000 + now.tv_nsec / 1000;
  send(fmt::format("RELOADING=1\nMONOTONIC_USEC={}", usec));
}

void Notifier::reloaded() { send("READY=1"); }

void Notifier::stopping() { send("STOPPING=1"); }

taskmaster::control::Handler Notifier::aroundReloads(taskmaster::control::Handler handler) {
  namespace control = taskmaster::control;
  return [this, handler = std::move(handler)](const control::Request& request, control::Responder respond) {
    if (request.cmd != "reload" || socketName_.empty()) return handler(request, std::move(respond));
    reloading();
    handler(request, control::Responder([this, respond](control::Reply reply, control::StreamSource stream) {
              reloaded();
              respond(std::move(reply), std::move(stream));
            }));
  };
}

// Until READY=1: the instances started by the configuration leave STARTING, up or failed. Then every change
// updates STATUS=.
void Notifier::onChange(const taskmaster::StateChange& change) {
  if (!ready_) {
    if (!applied_) return;
    if (change.to != taskmaster::ProcessState::starting) starting_.erase(change.instance);
    if (!starting_.empty()) return;
    ready_ = true;
    status_ = summary(supervisor_.status());
    lastStatus_ = std::chrono::steady_clock::now();
    send("READY=1\nSTATUS=" + status_);
    return;
  }
  scheduleStatus();
}

void Notifier::scheduleStatus() {
  if (statusPending_) return;
  statusPending_ = true;
  statusTimer_.expires_at(lastStatus_ + kStatusEvery);
  statusTimer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    statusPending_ = false;
    sendStatus();
  });
}

void Notifier::sendStatus() {
  lastStatus_ = std::chrono::steady_clock::now();
  auto text = summary(supervisor_.status());
  if (text == status_) return;
  status_ = std::move(text);
  send("STATUS=" + status_);
}

// From a timer on the loop: a loop that is stuck sends nothing, and the manager acts on it.
void Notifier::armWatchdog() {
  send("WATCHDOG=1");
  watchdogTimer_.expires_after(watchdogEvery_);
  watchdogTimer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) armWatchdog();
  });
}

}  // namespace cli
