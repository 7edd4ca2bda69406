#include "process/asio_host.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <taskmaster/util.hpp>

#include "logging/instance_output.hpp"
#include "process/capture.hpp"
#include "process/console.hpp"
#include "process/child_watcher.hpp"
#include "process/launcher.hpp"
#include "process/probe.hpp"
#include "process/reaper.hpp"

namespace taskmaster::inline v0::detail {
namespace asio = boost::asio;
namespace {

// A steady_timer whose cancelled or superseded expiries never reach the callback.
class AsioTimer final : public Timer {
 public:
  AsioTimer(asio::io_context& io, std::function<void()> onExpiry)
      : state_(std::make_shared<State>(State{asio::steady_timer(io), std::move(onExpiry), 0})) {}
  ~AsioTimer() override { state_->timer.cancel(); }
  AsioTimer(const AsioTimer&) = delete;
  AsioTimer& operator=(const AsioTimer&) = delete;

  void arm(Clock::duration after) override {
    auto gen = ++state_->generation;
    state_->timer.expires_after(after);
    state_->timer.async_wait([weak = std::weak_ptr(state_), gen](boost::system::error_code ec) {
      auto s = weak.lock();
      if (!ec && s && s->generation == gen) s->onExpiry();
    });
  }
  void cancel() override {
    ++state_->generation;  // an expiry already queued is stale from now on
    state_->timer.cancel();
  }

 private:
  struct State {
    asio::steady_timer timer;
    std::function<void()> onExpiry;
    std::uint64_t generation;
  };
  std::shared_ptr<State> state_;
};

}  // namespace

// The coalesced timers (Host::makeCoalescedTimer): deadlines rounded up to a multiple of kTimerSlack, in one
// ordered map, behind one steady_timer armed for the earliest. 1,000 health checks due within the same
// 100 ms wake the loop once; a due deadline costs O(log n), an idle one nothing.
struct TimerWheel : std::enable_shared_from_this<TimerWheel> {
  struct Entry;
  using Deadlines = std::multimap<Clock::time_point, Entry*>;
  struct Entry {
    std::function<void()> onExpiry;
    std::optional<Deadlines::iterator> slot;  // set while armed
  };

  explicit TimerWheel(asio::io_context& io) : timer(io) {}
  asio::steady_timer timer;
  Deadlines deadlines;
  std::optional<Clock::time_point> armedFor;

  static Clock::time_point rounded(Clock::time_point t) {
    const auto slack = std::chrono::duration_cast<Clock::duration>(kTimerSlack);
    const auto since = t.time_since_epoch();
    return Clock::time_point((since + slack - Clock::duration(1)) / slack * slack);
  }

  void add(Clock::duration after, Entry& entry) {
    remove(entry);
    entry.slot = deadlines.emplace(rounded(Clock::now() + after), &entry);
    rearm();
  }

  void remove(Entry& entry) {
    if (entry.slot) deadlines.erase(*entry.slot);  // the steady_timer may then fire for nothing: none is due
    entry.slot.reset();
  }

  void rearm() {
    if (deadlines.empty() || (armedFor && *armedFor <= deadlines.begin()->first)) return;
    armedFor = deadlines.begin()->first;
    timer.expires_at(*armedFor);
    timer.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      auto self = weak.lock();
      if (!self || ec) return;
      self->expire();
    });
  }

  // Every deadline due, in order; each may arm or cancel timers (its own included) as it runs.
  void expire() {
    armedFor.reset();
    const auto now = Clock::now();
    while (!deadlines.empty() && deadlines.begin()->first <= now) {
      Entry* entry = deadlines.begin()->second;
      deadlines.erase(deadlines.begin());
      entry->slot.reset();
      entry->onExpiry();
    }
    rearm();
  }
};

namespace {

class CoalescedTimer final : public Timer {
 public:
  CoalescedTimer(std::shared_ptr<TimerWheel> wheel, std::function<void()> onExpiry)
      : wheel_(std::move(wheel)), entry_{std::move(onExpiry), std::nullopt} {}
  ~CoalescedTimer() override { cancel(); }
  CoalescedTimer(const CoalescedTimer&) = delete;
  CoalescedTimer& operator=(const CoalescedTimer&) = delete;

  void arm(Clock::duration after) override { wheel_->add(after, entry_); }
  void cancel() override { wheel_->remove(entry_); }

 private:
  std::shared_ptr<TimerWheel> wheel_;
  TimerWheel::Entry entry_;
};

}  // namespace

// Spawns served per turn of the loop: at most 32, and no more once 5 ms have passed (a spawn takes 0.5 to 1 ms
// on 2 cores); then exits, timers and control commands queued meanwhile get their turn before the next slice.
// Asio runs a handler posted from a handler after the next poll's ready ones, so a ready timer or socket waits
// at most about two slices. (10 ms slices spawned no faster: each wait of a client is shorter with 5.)
inline constexpr int kSpawnSlice = 32;
inline constexpr auto kSpawnSliceTime = std::chrono::milliseconds(5);

struct AsioHost::SpawnQueue {
  struct Entry {
    SpawnRequest request;
    SpawnHandler onSpawned;  // empty once withdrawn or served
    ExitHandler onExit;
  };
  // Withdraws its entry when destroyed before the entry was served.
  class Ticket final : public PendingSpawn {
   public:
    explicit Ticket(std::weak_ptr<Entry> entry) : entry_(std::move(entry)) {}
    ~Ticket() override {
      if (auto e = entry_.lock()) e->onSpawned = {}, e->onExit = {};
    }
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;

   private:
    std::weak_ptr<Entry> entry_;
  };

  explicit SpawnQueue(AsioHost& h) : host(h) {}
  AsioHost& host;
  std::deque<std::shared_ptr<Entry>> entries;
  bool scheduled = false;  // a drain is posted
  bool hostAlive = true;   // false once the host is destroyed (by a callback, say): nothing more is served
};

AsioHost::AsioHost(asio::io_context& io)
    : io_(io),
      spawns_(std::make_shared<SpawnQueue>(*this)),
      reaper_(std::make_shared<OrphanReaper>(io)),
      wheel_(std::make_shared<TimerWheel>(io)),
      notify_(std::make_unique<NotifySocket>(io)) {
  (void)openStdioSlots();  // now, while fds are few; failing, the first spawn tries again and says why
}

AsioHost::~AsioHost() { spawns_->hostAlive = false; }

std::error_code AsioHost::reapOrphans() { return reaper_->enable(); }

std::unique_ptr<PendingSpawn> AsioHost::requestSpawn(SpawnRequest request, SpawnHandler onSpawned, ExitHandler onExit) {
  auto entry = std::make_shared<SpawnQueue::Entry>(
      SpawnQueue::Entry{std::move(request), std::move(onSpawned), std::move(onExit)});
  spawns_->entries.push_back(entry);
  scheduleSpawns();
  return std::make_unique<SpawnQueue::Ticket>(entry);
}

// Serves a slice of the queue from the loop, then yields to whatever else is ready, and comes back for the
// rest. The posted handler holds the queue weakly: a host destroyed meanwhile spawns nothing.
void AsioHost::scheduleSpawns() {
  if (spawns_->scheduled || spawns_->entries.empty()) return;
  spawns_->scheduled = true;
  asio::post(io_, [weak = std::weak_ptr(spawns_)] {
    auto queue = weak.lock();
    if (!queue || !queue->hostAlive) return;
    queue->scheduled = false;
    const auto until = Clock::now() + kSpawnSliceTime;
    for (int served = 0; served < kSpawnSlice && queue->hostAlive && !queue->entries.empty() && Clock::now() < until;) {
      auto entry = std::move(queue->entries.front());
      queue->entries.pop_front();
      auto onSpawned = std::exchange(entry->onSpawned, {});
      if (!onSpawned) continue;  // withdrawn
      ++served;
      onSpawned(queue->host.spawnNow(entry->request, std::exchange(entry->onExit, {})));
    }
    if (queue->hostAlive) queue->host.scheduleSpawns();
  });
}

std::unique_ptr<Timer> AsioHost::makeTimer(std::function<void()> onExpiry) {
  return std::make_unique<AsioTimer>(io_, std::move(onExpiry));
}

std::unique_ptr<Timer> AsioHost::makeCoalescedTimer(std::function<void()> onExpiry) {
  return std::make_unique<CoalescedTimer>(wheel_, std::move(onExpiry));
}

namespace {

// A command or an HTTP request under way, as a probe: destroying it cancels it.
template <class Pending>
class PendingAs final : public PendingProbe {
 public:
  explicit PendingAs(std::unique_ptr<Pending> pending) : pending_(std::move(pending)) {}

 private:
  std::unique_ptr<Pending> pending_;
};

// Its first line is what a failed check says: enough for `status`.
constexpr std::size_t kProbeOutput = 1024;

}  // namespace

std::unique_ptr<PendingProbe> AsioHost::runProbe(ProbeRequest request, ProbeHandler done) {
  switch (request.kind) {
    case ProbeRequest::Kind::tcp: break;
    case ProbeRequest::Kind::exec: {
      CommandRequest command{probeSpec(request.spec, request.target), std::move(request.instance), request.index, {},
                             request.timeout, kProbeOutput};
      return std::make_unique<PendingAs<PendingCommand>>(runCommand(
          std::move(command), [done = std::move(done)](CommandResult result) { done(probeResult(result)); }));
    }
    case ProbeRequest::Kind::http: {
      http::ClientRequest get;
      get.url = request.target;
      get.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(request.timeout);
      return std::make_unique<PendingAs<http::PendingRequest>>(http::request(
          io_, std::move(get), [done = std::move(done)](http::ClientResponse answer) { done(probeResult(answer)); }));
    }
  }
  return probeTcp(io_, request.target, request.timeout, std::move(done));
}

std::shared_ptr<const ProgramSpec> AsioHost::probeSpec(const std::shared_ptr<const ProgramSpec>& spec,
                                                       const std::string& command) {
  const auto key = std::pair{spec.get(), command};
  if (auto it = probeSpecs_.find(key); it != probeSpecs_.end()) {
    if (!it->second.program.expired()) return it->second.probe;
    probeSpecs_.erase(it);
  }
  if (probeSpecs_.size() >= 2 * prepared_.size() + 64)
    std::erase_if(probeSpecs_, [](const auto& entry) { return entry.second.program.expired(); });
  auto probe = std::make_shared<ProgramSpec>(*spec);
  probe->cmd = {"/bin/sh", "-c", command};
  probe->ready.reset();  // no NOTIFY_SOCKET, no notification fd: a probe is no program instance
  probe->healthcheck.reset();
  probeSpecs_.emplace(key, ProbeSpec{spec, probe});
  return probe;
}

Expected<std::shared_ptr<const PreparedLaunch>, std::string> AsioHost::prepared(
    const std::shared_ptr<const ProgramSpec>& spec) {
  if (auto it = prepared_.find(spec.get()); it != prepared_.end()) {
    if (!it->second.spec.expired()) return it->second.launch;
    prepared_.erase(it);
  }
  auto fresh = prepareLaunch(*spec);
  if (!fresh.ok()) return std::move(fresh.error());  // not kept: the next attempt looks again
  if (prepared_.size() >= pruneAt_) {
    std::erase_if(prepared_, [](const auto& entry) { return entry.second.spec.expired(); });
    pruneAt_ = std::max<std::size_t>(64, 2 * prepared_.size());
  }
  prepared_.emplace(spec.get(), Prepared{spec, *fresh});
  return *fresh;
}

namespace {

struct Pipe {
  UniqueFd read, write;
};

// A pipe whose read end is non-blocking (for the loop) and whose write end stays blocking (for the program).
Expected<Pipe, std::string> makePipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) return fmt::format("pipe: {}", std::generic_category().message(errno));
  Pipe p{UniqueFd(fds[0]), UniqueFd(fds[1])};
  if (::fcntl(p.read.get(), F_SETFL, O_NONBLOCK) < 0)
    return fmt::format("fcntl: {}", std::generic_category().message(errno));
  return p;
}

// A watched child with its input and the watch of its readiness notices: both end with it, when its exit has
// been reported.
class ChildWithAttachments final : public Child {
 public:
  ChildWithAttachments(std::unique_ptr<Child> child, std::unique_ptr<Console> console,
                       std::unique_ptr<NoticeRegistration> notices)
      : child_(std::move(child)), console_(std::move(console)), notices_(std::move(notices)) {}
  [[nodiscard]] int pid() const override { return child_->pid(); }
  void signal(int sig, bool group) override { child_->signal(sig, group); }
  void setKillGroupOnExit(bool kill) override { child_->setKillGroupOnExit(kill); }
  [[nodiscard]] Console* console() override { return console_.get(); }

 private:
  std::unique_ptr<Child> child_;
  std::unique_ptr<Console> console_;
  std::unique_ptr<NoticeRegistration> notices_;
};

// What the child gets on 0, 1 and 2, and what taskmaster keeps: the read ends to capture, the input's end.
struct Stdio {
  std::optional<Pipe> out, err;
  std::optional<Terminal> terminal;
  std::optional<Pipe> in;        // stdin: the program reads `read`, taskmaster writes `write`
  std::optional<Pipe> notice;    // `ready: {fd: N}`: the program writes its newline to `write` as fd N
  int noticeTarget = -1;
  [[nodiscard]] ChildStdio forChild() const {
    ChildStdio c;
    if (terminal) {
      c = {terminal->slave.get(), terminal->slave.get(), terminal->slave.get(), true};
    } else {
      const int outFd = out ? out->write.get() : -1;
      c = {in ? in->read.get() : -1, outFd, err ? err->write.get() : outFd, false};
    }
    if (notice) c.extra = notice->write.get(), c.extraTarget = noticeTarget;
    return c;
  }
};

constexpr unsigned short kTerminalRows = 24;
constexpr unsigned short kTerminalColumns = 80;

// A terminal (tty), or pipes for stdout (and stderr unless redirected) and a pipe for stdin (stdin).
Expected<Stdio, std::string> makeStdio(const ProgramSpec& spec, const InstanceOutput& output) {
  Stdio s;
  if (spec.tty) {
    auto terminal = openTerminal(kTerminalRows, kTerminalColumns);
    if (!terminal.ok()) return std::move(terminal.error());
    s.terminal = std::move(*terminal);
    return s;
  }
  auto out = makePipe();
  if (!out.ok()) return std::move(out.error());
  s.out = std::move(*out);
  if (!output.redirected()) {
    auto err = makePipe();
    if (!err.ok()) return std::move(err.error());
    s.err = std::move(*err);
  }
  if (spec.stdin) {
    auto in = makePipe();
    if (!in.ok()) return std::move(in.error());
    // The loop writes; the program reads, blocking as programs expect.
    if (::fcntl(in->read.get(), F_SETFL, 0) < 0 || ::fcntl(in->write.get(), F_SETFL, O_NONBLOCK) < 0)
      return fmt::format("fcntl: {}", std::generic_category().message(errno));
    s.in = std::move(*in);
  }
  return s;
}

// The notification pipe of `ready: {fd: N}`: its write end is the program's (blocking), its read end the loop's.
std::string addNotificationFd(const ProgramSpec& spec, Stdio& stdio) {
  if (!spec.ready || spec.ready->kind != Readiness::Kind::fd) return {};
  auto pipe = makePipe();
  if (!pipe.ok()) return std::move(pipe.error());
  stdio.notice = std::move(*pipe);
  stdio.noticeTarget = spec.ready->fd;
  return {};
}

}  // namespace

// Each spawn gets new pipes (or a new terminal): the old ones are read until whatever holds them (the old
// process, what it left behind) is gone, into the same InstanceOutput, so nothing written before a restart is
// lost. A terminal's master reports EIO once no process holds the slave: the end of its output.
SpawnResult AsioHost::spawnNow(const SpawnRequest& r, ExitHandler onExit) {
  auto prep = prepared(r.spec);
  if (!prep.ok()) return {nullptr, "spawn error: " + prep.error()};
  auto failed = [&r](std::string error) {
    if (r.output) r.output->release();
    return SpawnResult{nullptr, "spawn error: " + error};
  };
  Stdio stdio;
  if (r.output) {
    if (auto error = r.output->prepare(); !error.empty()) return failed(std::move(error));
    auto made = makeStdio(*r.spec, *r.output);
    if (!made.ok()) return failed(std::move(made.error()));
    stdio = std::move(*made);
  }
  if (auto error = addNotificationFd(*r.spec, stdio); !error.empty()) return failed(std::move(error));
  std::string notifySocket;
  const bool notify = r.spec->ready && r.spec->ready->kind == Readiness::Kind::notify;
  if (notify) {
    std::string error;
    notifySocket = notify_->address(error);
    if (notifySocket.empty()) return failed("NOTIFY_SOCKET: " + error);
  }
  auto launched = launch(*r.spec, **prep, r.instance, r.index, stdio.forChild(), notifySocket);
  if (!launched.ok()) return failed(std::move(launched.error()));
  try {
    std::unique_ptr<Child> child =
        watchChild(io_, launched->pid, launched->pidfd, r.spec->killasgroup, std::move(onExit), reaper_);
    std::unique_ptr<Console> console;
    if (stdio.terminal) {
      UniqueFd input(::fcntl(stdio.terminal->master.get(), F_DUPFD_CLOEXEC, 0));
      if (!input) throw std::system_error(errno, std::generic_category(), "dup");
      console = makeConsole(io_, std::move(input), true);
      stdio.terminal->slave.reset();  // the program's now: the master's reader must see the end when it exits
      auto [onData, onEnd] = r.output->reader(StdStream::out);
      capture(io_, std::move(stdio.terminal->master), std::move(onData), std::move(onEnd));
    }
    if (stdio.in) {
      stdio.in->read.reset();
      console = makeConsole(io_, std::move(stdio.in->write), false);
    }
    for (auto [pipe, stream] : {std::pair{&stdio.out, StdStream::out}, std::pair{&stdio.err, StdStream::err}}) {
      if (!*pipe) continue;
      (*pipe)->write.reset();
      auto [onData, onEnd] = r.output->reader(stream);
      capture(io_, std::move((*pipe)->read), std::move(onData), std::move(onEnd));
    }
    std::unique_ptr<NoticeRegistration> notices;
    if (stdio.notice) {
      stdio.notice->write.reset();
      notices = watchNotificationFd(io_, std::move(stdio.notice->read), r.onNotice);
    } else if (notify) {
      notices = notify_->watch(launched->pid, r.onNotice);
    }
    if (console || notices)
      child = std::make_unique<ChildWithAttachments>(std::move(child), std::move(console), std::move(notices));
    return {std::move(child), {}};
  } catch (const std::exception& e) {  // the pidfd or a pipe could not join the event loop: do not run unwatched
    killAndReap(launched->pid);
    return failed(e.what());
  }
}

void AsioHost::defer(std::function<void()> fn) { asio::post(io_, std::move(fn)); }

}  // namespace taskmaster::inline v0::detail
