#include "process/asio_host.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <deque>
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
    : io_(io), spawns_(std::make_shared<SpawnQueue>(*this)), reaper_(std::make_shared<OrphanReaper>(io)) {
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

// A watched child with its input: the Console is closed with it, when its exit has been reported.
class ChildWithConsole final : public Child {
 public:
  ChildWithConsole(std::unique_ptr<Child> child, std::unique_ptr<Console> console)
      : child_(std::move(child)), console_(std::move(console)) {}
  [[nodiscard]] int pid() const override { return child_->pid(); }
  void signal(int sig, bool group) override { child_->signal(sig, group); }
  void setKillGroupOnExit(bool kill) override { child_->setKillGroupOnExit(kill); }
  [[nodiscard]] Console* console() override { return console_.get(); }

 private:
  std::unique_ptr<Child> child_;
  std::unique_ptr<Console> console_;
};

// What the child gets on 0, 1 and 2, and what taskmaster keeps: the read ends to capture, the input's end.
struct Stdio {
  std::optional<Pipe> out, err;
  std::optional<Terminal> terminal;
  std::optional<Pipe> in;  // stdin: the program reads `read`, taskmaster writes `write`
  [[nodiscard]] ChildStdio forChild() const {
    if (terminal) return {terminal->slave.get(), terminal->slave.get(), terminal->slave.get(), true};
    const int outFd = out ? out->write.get() : -1;
    return {in ? in->read.get() : -1, outFd, err ? err->write.get() : outFd, false};
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
  auto launched = launch(*r.spec, **prep, r.instance, r.index, stdio.forChild());
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
    if (console) child = std::make_unique<ChildWithConsole>(std::move(child), std::move(console));
    return {std::move(child), {}};
  } catch (const std::exception& e) {  // the pidfd or a pipe could not join the event loop: do not run unwatched
    killAndReap(launched->pid);
    return failed(e.what());
  }
}

void AsioHost::defer(std::function<void()> fn) { asio::post(io_, std::move(fn)); }

}  // namespace taskmaster::inline v0::detail
