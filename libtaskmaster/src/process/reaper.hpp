// Internal: reaping the children of this process that the host did not spawn: the orphans the kernel re-parents
// to it when it is PID 1 of a namespace, or a subreaper (prctl PR_SET_CHILD_SUBREAPER). The host's own children
// are watched through their pidfds (child_watcher), and their exits must reach those watches: the reaper is told
// of each one, from its spawn to its reaping, and never takes one.
#pragma once

#include "private.hpp"

#include <memory>
#include <system_error>
#include <unordered_set>

namespace boost::asio {
class io_context;
}

namespace taskmaster::inline v0::detail {

class OrphanReaper {
 public:
  explicit OrphanReaper(boost::asio::io_context& io);
  ~OrphanReaper();
  OrphanReaper(const OrphanReaper&) = delete;
  OrphanReaper& operator=(const OrphanReaper&) = delete;

  // From now on, at every SIGCHLD, reaps every exited child that is not the host's. Installs a SIGCHLD handler
  // (an asio::signal_set): an error when it cannot.
  [[nodiscard]] std::error_code enable();

  // A child of the host: spawned (its exit is its watch's), then reaped by its watch. Once the host's child
  // is gone, orphans that exited behind it can be reached: the reaper looks again.
  void adopt(int pid) { own_.insert(pid); }
  void release(int pid);

 private:
  void waitForSignal();
  void sweep();

  struct Signals;  // SIGCHLD's asio::signal_set (a typedef, which cannot be declared here)

  boost::asio::io_context& io_;
  std::unordered_set<int> own_;
  std::unique_ptr<Signals> signals_;  // set once enabled
};

}  // namespace taskmaster::inline v0::detail
