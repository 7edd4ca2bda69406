// Internal: the seam through which the core (instances and the registry) touches time, processes and the
// event loop. process/asio_host provides the real one on Boost.Asio; the unit tests provide a fake one, so
// the core runs without forking or sleeping.
#pragma once

#include "private.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <taskmaster/program_spec.hpp>
#include <taskmaster/state.hpp>

namespace taskmaster::inline v0::detail {

class InstanceOutput;  // logging/instance_output.hpp

using Clock = std::chrono::steady_clock;

// A one-shot deadline. arm() replaces any pending deadline; a cancelled deadline never fires.
class Timer {
 public:
  virtual ~Timer() = default;
  virtual void arm(Clock::duration after) = 0;
  virtual void cancel() = 0;
};

// A live child's input: its terminal's master (tty) or the write end of its stdin pipe (stdin). Writes are
// queued and never block: past kMaxPendingInput bytes not yet taken by the program, a write is refused.
class Console {
 public:
  virtual ~Console() = default;
  [[nodiscard]] virtual bool terminal() const = 0;
  // Errc::input_full past the bound; a system error when the program has closed its end (EPIPE, EIO).
  virtual std::error_code write(std::string_view bytes) = 0;
  // TIOCSWINSZ on the master (the kernel sends the program SIGWINCH); ENOTTY for a pipe.
  virtual std::error_code resize(unsigned short rows, unsigned short columns) = 0;
};

inline constexpr std::size_t kMaxPendingInput = 64 * 1024;

// A live child process. Its exit is reported once, through the callback given to Host::requestSpawn, unless the
// Child is destroyed first (then the process group is SIGKILLed and reaped without a report). Before the
// exit is reported the leftovers of its process group are SIGKILLed when killGroupOnExit is set: the
// leader is not reaped until then, so its pid (the group's id) cannot have been reused.
class Child {
 public:
  virtual ~Child() = default;
  [[nodiscard]] virtual int pid() const = 0;
  virtual void signal(int sig, bool group) = 0;
  // Spawned with the spec's killasgroup; the option applies live.
  virtual void setKillGroupOnExit(bool kill) = 0;
  // Its input, while it lives (tty or stdin); null when its stdin is /dev/null.
  [[nodiscard]] virtual Console* console() { return nullptr; }
};

// What a child says about its readiness (`ready: {notify: true}` or `{fd: N}`): READY=1 or the newline on its
// fd (ready), or sd_notify's STATUS=text (status).
struct Notice {
  enum class Kind { ready, status };
  Kind kind = Kind::ready;
  std::string text;
};
using NoticeHandler = std::function<void(Notice)>;

struct SpawnRequest {
  std::shared_ptr<const ProgramSpec> spec;  // one version of a spec: what it prepares once is kept with it
  std::string instance;
  int index = 0;
  // Where the process's stdout and stderr go: the real host reads them from pipes into it. Null: /dev/null.
  std::shared_ptr<InstanceOutput> output;
  // With spec->ready of kind notify or fd: the child gets NOTIFY_SOCKET, or the write end of a pipe as fd N,
  // and what it says there comes here while its Child lives (never from inside requestSpawn).
  NoticeHandler onNotice;
};

struct SpawnResult {
  std::unique_ptr<Child> child;  // null on failure
  std::string error;             // "spawn error: /usr/bin/wrk: No such file or directory"
};

// nullopt: the process is gone but its status is unknown (someone else reaped it, against the contract
// in supervisor.hpp).
using ExitHandler = std::function<void(std::optional<ExitStatus>)>;
using SpawnHandler = std::function<void(SpawnResult)>;

// A spawn requested and not reported yet. Destroying it withdraws the request: its result is never reported
// (and no process is left behind). Destroying it once the result was reported does nothing.
class PendingSpawn {
 public:
  virtual ~PendingSpawn() = default;
};

// One readiness probe or health check (`ready` or `healthcheck` of kind exec, tcp or http): the command run
// as the program's processes are (its user, environment and working directory) exits 0, a TCP connection to
// HOST:PORT succeeds, an HTTP GET answers 2xx; each within `timeout`.
struct ProbeRequest {
  enum class Kind { exec, tcp, http };
  Kind kind = Kind::exec;
  std::string target;
  Duration timeout = std::chrono::seconds(2);
  std::shared_ptr<const ProgramSpec> spec;
  std::string instance;
  int index = 0;
};

struct ProbeResult {
  bool passed = false;
  std::string reason;  // why it failed: "exit status 1: <first line>", "connection refused", "HTTP 503"
};
using ProbeHandler = std::function<void(ProbeResult)>;

// A probe under way. Destroying it cancels the probe (its process is killed and reaped): no report.
class PendingProbe {
 public:
  virtual ~PendingProbe() = default;
};

// How late a coalesced timer may fire: deadlines this close share one wakeup of the loop.
inline constexpr auto kTimerSlack = std::chrono::milliseconds(100);

class Host {
 public:
  virtual ~Host() = default;
  [[nodiscard]] virtual Clock::time_point now() const = 0;
  [[nodiscard]] virtual WallTime wallNow() const = 0;
  [[nodiscard]] virtual std::unique_ptr<Timer> makeTimer(std::function<void()> onExpiry) = 0;
  // A timer for periodic work of many instances (probes): it fires up to kTimerSlack late, so that the
  // deadlines of 1,000 instances due about together wake the loop once.
  [[nodiscard]] virtual std::unique_ptr<Timer> makeCoalescedTimer(std::function<void()> onExpiry) = 0;
  // Asks for a process. The result comes once through onSpawned, unless the returned request is destroyed
  // first; then, for a spawned child, its exit through onExit. The real host spawns later, from its loop and
  // a slice of requests at a time, so that a burst of spawns never holds the loop; a host may also report
  // before requestSpawn returns (the unit tests' does). Callers handle both.
  [[nodiscard]] virtual std::unique_ptr<PendingSpawn> requestSpawn(SpawnRequest request, SpawnHandler onSpawned,
                                                                   ExitHandler onExit) = 0;
  // Runs one probe. The result comes once through done, never from inside runProbe, unless the returned
  // probe is destroyed first.
  [[nodiscard]] virtual std::unique_ptr<PendingProbe> runProbe(ProbeRequest request, ProbeHandler done) = 0;
  // Runs fn later on the loop, outside of every current call stack.
  virtual void defer(std::function<void()> fn) = 0;
};

}  // namespace taskmaster::inline v0::detail
