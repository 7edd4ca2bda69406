#include "process/child_watcher.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "process/launcher.hpp"
#include "process/reaper.hpp"

namespace taskmaster::inline v0::detail {
namespace asio = boost::asio;
namespace {

std::optional<ExitStatus> decode(const siginfo_t& info) {
  if (info.si_code == CLD_EXITED) return ExitStatus{info.si_status, 0, false};
  if (info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED)
    return ExitStatus{0, info.si_status, info.si_code == CLD_DUMPED};
  return std::nullopt;
}

// A child watched through its pidfd: the pidfd turns readable once the child has exited. The exit is then
// peeked at (WNOWAIT), what is left of the process group is SIGKILLed while the leader is still a zombie (so
// its pid, the group's id, cannot have been reused), and only then is the leader reaped, with
// waitid(P_PIDFD), which never touches another child. A readiness that is not an exit (spurious, or EINTR)
// just waits again. Boost.Process v2's async_wait is not used: after any readiness it calls a blocking
// waitpid(pid), and one spurious wake-up under heavy churn hung the whole loop on a live child.
class PidfdChild final : public Child {
 public:
  PidfdChild(asio::io_context& io, int pid, UniqueFd& pidfd, bool killGroup, ExitHandler onExit,
             const std::shared_ptr<OrphanReaper>& reaper)
      : pid_(pid), watch_(std::make_shared<Watch>(io, pid, pidfd.get(), killGroup, std::move(onExit))) {
    (void)pidfd.release();  // the stream_descriptor owns it now
    reaper->adopt(pid);
    watch_->reaper = reaper;
    watch(watch_);
  }
  ~PidfdChild() override {
    // Still running: the last resort. The pending wait (or ~Watch) reaps it.
    watch_->onExit = {};
    if (!watch_->exited) {
      ::kill(-pid_, SIGKILL);
      ::kill(pid_, SIGKILL);
    }
  }
  PidfdChild(const PidfdChild&) = delete;
  PidfdChild& operator=(const PidfdChild&) = delete;

  [[nodiscard]] int pid() const override { return pid_; }
  void signal(int sig, bool group) override {
    if (watch_->exited) return;
    if (group) ::kill(-pid_, sig);
    // Not a group, or the main process moved to another group: it must get the signal all the same.
    if (!group || ::getpgid(pid_) != pid_) ::kill(pid_, sig);
  }
  void setKillGroupOnExit(bool kill) override { watch_->killGroup = kill; }

 private:
  struct Watch {
    Watch(asio::io_context& io, int pid, int fd, bool killGroup, ExitHandler cb)
        : pidfd(io, fd), pid(pid), killGroup(killGroup), onExit(std::move(cb)) {}
    ~Watch() {  // the io_context is being destroyed with the child alive: kill and reap it here
      if (!exited) {
        killAndReap(pid);  // not reaped yet, so the pid is still this child's
        reaped();
      }
    }
    void reaped() {
      if (auto r = reaper.lock()) r->release(pid);
    }
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;
    asio::posix::stream_descriptor pidfd;
    int pid;
    bool killGroup;
    ExitHandler onExit;
    std::weak_ptr<OrphanReaper> reaper;
    bool exited = false;
  };

  static void watch(const std::shared_ptr<Watch>& watch) {
    watch->pidfd.async_wait(asio::posix::descriptor_base::wait_read, [w = watch](boost::system::error_code ec) {
      if (ec == asio::error::operation_aborted) return;  // the io_context is going away
      const auto fd = static_cast<id_t>(w->pidfd.native_handle());
      siginfo_t info{};
      const int rc = retryOnEintr([&] { return ::waitid(P_PIDFD, fd, &info, WEXITED | WNOHANG | WNOWAIT); });
      if (rc == 0 && info.si_pid == 0) return PidfdChild::watch(w);  // not yet
      w->exited = true;
      std::optional<ExitStatus> status;  // stays unknown when someone else reaped it (rc < 0, ECHILD)
      if (rc == 0) {
        status = decode(info);
        if (w->killGroup) ::kill(-w->pid, SIGKILL);
        siginfo_t reaped{};
        (void)retryOnEintr([&] { return ::waitid(P_PIDFD, fd, &reaped, WEXITED | WNOHANG); });
      }
      w->reaped();
      boost::system::error_code ignored;
      w->pidfd.close(ignored);
      if (auto cb = std::exchange(w->onExit, {})) cb(status);
    });
  }

  int pid_;
  std::shared_ptr<Watch> watch_;
};

}  // namespace

std::unique_ptr<Child> watchChild(asio::io_context& io, int pid, UniqueFd& pidfd, bool killGroupOnExit,
                                  ExitHandler onExit, const std::shared_ptr<OrphanReaper>& reaper) {
  return std::make_unique<PidfdChild>(io, pid, pidfd, killGroupOnExit, std::move(onExit), reaper);
}

}  // namespace taskmaster::inline v0::detail
