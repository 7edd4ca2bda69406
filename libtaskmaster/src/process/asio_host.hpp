// Internal: the Host of a Supervisor on Boost.Asio: steady timers, children spawned with detail::launch (at
// most kSpawnSlice per turn of the loop) and watched through their pidfds, deferred work posted to the
// io_context.
#pragma once

#include "private.hpp"

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <system_error>
#include <unordered_map>

#include <taskmaster/error.hpp>

#include "core/host.hpp"
#include "process/command.hpp"
#include "process/notify.hpp"

namespace boost::asio {
class io_context;
}

namespace taskmaster::inline v0::detail {

struct PreparedLaunch;
struct TimerWheel;
class OrphanReaper;

class AsioHost final : public Host {
 public:
  explicit AsioHost(boost::asio::io_context& io);
  ~AsioHost() override;
  AsioHost(const AsioHost&) = delete;
  AsioHost& operator=(const AsioHost&) = delete;

  [[nodiscard]] Clock::time_point now() const override { return Clock::now(); }
  [[nodiscard]] WallTime wallNow() const override { return std::chrono::system_clock::now(); }
  [[nodiscard]] std::unique_ptr<Timer> makeTimer(std::function<void()> onExpiry) override;
  [[nodiscard]] std::unique_ptr<Timer> makeCoalescedTimer(std::function<void()> onExpiry) override;
  [[nodiscard]] std::unique_ptr<PendingProbe> runProbe(ProbeRequest request, ProbeHandler done) override;
  [[nodiscard]] std::unique_ptr<PendingSpawn> requestSpawn(SpawnRequest request, SpawnHandler onSpawned,
                                                           ExitHandler onExit) override;
  void defer(std::function<void()> fn) override;

  [[nodiscard]] boost::asio::io_context& io() { return io_; }

  // Runs a short command (process/command.hpp). The result comes once through `done`, never from inside.
  [[nodiscard]] std::unique_ptr<PendingCommand> runCommand(CommandRequest request, CommandHandler done);

  // Reaps, from now on, every child of this process that the host did not spawn (process/reaper.hpp).
  [[nodiscard]] std::error_code reapOrphans();

 private:
  struct SpawnQueue;
  [[nodiscard]] SpawnResult spawnNow(const SpawnRequest& request, ExitHandler onExit);
  void scheduleSpawns();

  // What a spec version's spawns share (process/launcher.hpp), prepared at its first spawn. Keyed by address;
  // the weak_ptr tells a live spec from a new one at a freed one's address.
  struct Prepared {
    std::weak_ptr<const ProgramSpec> spec;
    std::shared_ptr<const PreparedLaunch> launch;
  };
  [[nodiscard]] Expected<std::shared_ptr<const PreparedLaunch>, std::string> prepared(
      const std::shared_ptr<const ProgramSpec>& spec);

  // The spec an exec probe runs with: the program's, with {"/bin/sh", "-c", COMMAND} as its cmd. Made once per
  // spec version and command, so that its launch is prepared once too.
  [[nodiscard]] std::shared_ptr<const ProgramSpec> probeSpec(const std::shared_ptr<const ProgramSpec>& spec,
                                                             const std::string& command);
  struct ProbeSpec {
    std::weak_ptr<const ProgramSpec> program;
    std::shared_ptr<const ProgramSpec> probe;
  };

  boost::asio::io_context& io_;
  std::unordered_map<const ProgramSpec*, Prepared> prepared_;
  std::map<std::pair<const ProgramSpec*, std::string>, ProbeSpec> probeSpecs_;
  std::size_t pruneAt_ = 64;
  std::shared_ptr<SpawnQueue> spawns_;  // requests not yet served, in order; shared with the posted drain
  std::shared_ptr<OrphanReaper> reaper_;  // knows every child spawned; reaps the others once enabled
  std::shared_ptr<TimerWheel> wheel_;     // the coalesced timers: one steady_timer for all
  std::unique_ptr<NotifySocket> notify_;  // NOTIFY_SOCKET of every child with `ready: {notify: true}`
};

}  // namespace taskmaster::inline v0::detail
