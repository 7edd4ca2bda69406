// sd_notify(3), spoken by taskmaster itself (no libsystemd: the protocol is one datagram per message) when the
// service manager set NOTIFY_SOCKET: READY=1 once the autostart programs are started, STATUS= kept current,
// RELOADING=1 and READY=1 around a reload, STOPPING=1, and WATCHDOG=1 when WATCHDOG_USEC asks for it. See
// docs/systemd.md.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>

#include <boost/asio/steady_timer.hpp>
#include <taskmaster/control.hpp>
#include <taskmaster/supervisor.hpp>
#include <taskmaster/util.hpp>

namespace cli {

class Notifier {
 public:
  // Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID, and removes them from the environment: programs
  // inherit it, and a program's own sd_notify() must not speak for taskmaster. Create it before the first
  // spawn. Without NOTIFY_SOCKET every call does nothing.
  // A NOTIFY_SOCKET that cannot be used is said to `log`, once.
  Notifier(boost::asio::io_context& io, taskmaster::Supervisor& supervisor, taskmaster::LogSink log);
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // The configuration was applied: READY=1 once every instance starting now is RUNNING or failed to start.
  void started();
  void reloading();  // RELOADING=1, with MONOTONIC_USEC
  void reloaded();   // READY=1
  void stopping();   // STOPPING=1; the watchdog goes on until taskmaster exits

  // The control socket's handler, with RELOADING=1 before each `reload` and READY=1 once it has run.
  [[nodiscard]] taskmaster::control::Handler aroundReloads(taskmaster::control::Handler handler);

  // Where the messages go: NOTIFY_SOCKET as given; empty when there is none.
  [[nodiscard]] const std::string& socketName() const { return socketName_; }

 private:
  void send(std::string_view message);
  void onChange(const taskmaster::StateChange& change);
  void scheduleStatus();
  void sendStatus();
  void armWatchdog();

  taskmaster::Supervisor& supervisor_;
  taskmaster::LogSink log_;
  std::string socketName_;
  taskmaster::UniqueFd fd_;
  bool failed_ = false;  // a send failed: said once
  bool applied_ = false;  // started() was called: READY=1 can come
  bool ready_ = false;
  std::unordered_set<std::string> starting_;  // instances READY=1 waits for
  boost::asio::steady_timer statusTimer_;
  bool statusPending_ = false;
  std::chrono::steady_clock::time_point lastStatus_{};
  std::string status_;  // the last STATUS= sent
  boost::asio::steady_timer watchdogTimer_;
  std::chrono::microseconds watchdogEvery_{0};  // 0: no watchdog
  taskmaster::Subscription changes_;
};

}  // namespace cli
