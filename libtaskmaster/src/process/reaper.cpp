#include "process/reaper.hpp"

#include <sys/wait.h>

#include <csignal>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <taskmaster/util.hpp>

namespace taskmaster::inline v0::detail {

struct OrphanReaper::Signals {
  explicit Signals(boost::asio::io_context& io) : set(io) {}
  boost::asio::signal_set set;
};

OrphanReaper::OrphanReaper(boost::asio::io_context& io) : io_(io) {}

OrphanReaper::~OrphanReaper() = default;

std::error_code OrphanReaper::enable() {
  if (signals_) return {};
  auto signals = std::make_unique<Signals>(io_);
  boost::system::error_code ec;
  signals->set.add(SIGCHLD, ec);
  if (ec) return ec;
  signals_ = std::move(signals);
  waitForSignal();
  sweep();  // orphans that exited before
  return {};
}

void OrphanReaper::release(int pid) {
  own_.erase(pid);
  if (signals_) sweep();
}

void OrphanReaper::waitForSignal() {
  signals_->set.async_wait([this](boost::system::error_code ec, int) {
    if (ec) return;  // cancelled: the reaper is going away
    sweep();
    waitForSignal();
  });
}

// waitid(P_ALL, WNOWAIT) shows the first exited child without reaping it. A stranger is reaped, by its pid, and
// the next one looked at; one of the host's stops the sweep, since P_ALL would keep showing it: its watch reaps
// it (its pidfd is readable already) and then calls release(), which sweeps again past it. SIGCHLDs that came
// meanwhile are merged into one; the sweep takes every exited child, whatever their number.
void OrphanReaper::sweep() {
  for (;;) {
    siginfo_t info{};
    if (retryOnEintr([&] { return ::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT); }) < 0) return;
    if (info.si_pid == 0 || own_.contains(info.si_pid)) return;  // none has exited, or the first is the host's
    siginfo_t reaped{};
    (void)retryOnEintr([&] { return ::waitid(P_PID, static_cast<id_t>(info.si_pid), &reaped, WEXITED | WNOHANG); });
  }
}

}  // namespace taskmaster::inline v0::detail
