// A Host for the core's unit tests: a fake clock, fake timers, fake children, deferred work run on demand.
// Nothing forks or sleeps, and each operation costs O(log n), so 10,000 instances stay cheap.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <functional>
#include <map>
#include <unordered_map>
#include <utility>

#include "core/host.hpp"
#include "core/instance.hpp"

namespace test {

using taskmaster::ExitStatus;
using taskmaster::detail::Clock;

struct Signal {
  int pid, sig;
  bool group;
  bool operator==(const Signal&) const = default;
};

class FakeHost final : public taskmaster::detail::Host {
 public:
  class FakeTimer final : public taskmaster::detail::Timer {
   public:
    FakeTimer(FakeHost& h, std::function<void()> fn) : host_(h), fn_(std::move(fn)) {}
    ~FakeTimer() override { cancel(); }
    void arm(Clock::duration after) override {
      cancel();
      slot_ = host_.deadlines_.emplace(host_.clock_ + after, this);
    }
    void cancel() override {
      if (slot_) host_.deadlines_.erase(*slot_);
      slot_.reset();
    }
    void fire() {
      slot_.reset();
      fn_();
    }

   private:
    FakeHost& host_;
    std::function<void()> fn_;
    std::optional<std::multimap<Clock::time_point, FakeTimer*>::iterator> slot_;
  };

  class FakeChild final : public taskmaster::detail::Child {
   public:
    FakeChild(FakeHost& h, int pid, bool killGroup) : host_(h), pid_(pid), killGroup_(killGroup) {}
    ~FakeChild() override { host_.children_.erase(pid_); }
    int pid() const override { return pid_; }
    void signal(int sig, bool group) override { host_.signals.push_back({pid_, sig, group}); }
    void setKillGroupOnExit(bool kill) override { killGroup_ = kill; }
    [[nodiscard]] bool killGroup() const { return killGroup_; }

   private:
    FakeHost& host_;
    int pid_;
    bool killGroup_;
  };

  Clock::time_point now() const override { return clock_; }
  taskmaster::WallTime wallNow() const override { return {}; }
  std::unique_ptr<taskmaster::detail::Timer> makeTimer(std::function<void()> fn) override {
    return std::make_unique<FakeTimer>(*this, std::move(fn));
  }
  // Exact: the slack of the real one is the host's to take, not a behaviour of the core.
  std::unique_ptr<taskmaster::detail::Timer> makeCoalescedTimer(std::function<void()> fn) override {
    return std::make_unique<FakeTimer>(*this, std::move(fn));
  }
  // Probes wait for answerProbe(), in order.
  std::unique_ptr<taskmaster::detail::PendingProbe> runProbe(taskmaster::detail::ProbeRequest r,
                                                             taskmaster::detail::ProbeHandler done) override {
    auto entry = std::make_shared<QueuedProbe>(QueuedProbe{std::move(r), std::move(done)});
    probes_.push_back(entry);
    ++probesRun;
    return std::make_unique<ProbeTicket>(entry);
  }
  // The probes asked for and not answered nor cancelled.
  [[nodiscard]] std::vector<taskmaster::detail::ProbeRequest> pendingProbes() const {
    std::vector<taskmaster::detail::ProbeRequest> out;
    for (auto& p : probes_)
      if (p->done) out.push_back(p->request);
    return out;
  }
  // Answers the oldest pending probe. False when none is pending.
  bool answerProbe(bool passed, std::string reason = {}) {
    while (!probes_.empty()) {
      auto entry = std::move(probes_.front());
      probes_.pop_front();
      if (!entry->done) continue;
      auto done = std::exchange(entry->done, {});
      done({passed, std::move(reason)});
      return true;
    }
    return false;
  }
  // The child says READY=1 (or writes its newline), or STATUS=text.
  void notice(int pid, taskmaster::detail::Notice n) {
    REQUIRE_MESSAGE(children_.contains(pid), "no live child with pid " << pid);
    auto handler = children_[pid].onNotice;
    REQUIRE(handler);
    handler(std::move(n));
  }
  // Answers at once, before requestSpawn returns, unless deferSpawns: then answerSpawns() answers, in order.
  std::unique_ptr<taskmaster::detail::PendingSpawn> requestSpawn(taskmaster::detail::SpawnRequest r,
                                                                 taskmaster::detail::SpawnHandler onSpawned,
                                                                 taskmaster::detail::ExitHandler onExit) override {
    auto entry = std::make_shared<Queued>(Queued{std::move(r), std::move(onSpawned), std::move(onExit)});
    if (deferSpawns) {
      queued_.push_back(entry);
    } else {
      answer(*entry);
    }
    return std::make_unique<Ticket>(entry);
  }
  // Answers every request still wanted, including those made meanwhile. How many were answered.
  int answerSpawns() {
    int n = 0;
    while (!queued_.empty()) {
      auto entry = std::move(queued_.front());
      queued_.pop_front();
      if (entry->onSpawned) ++n, answer(*entry);
    }
    return n;
  }
  [[nodiscard]] std::size_t queuedSpawns() const {
    return static_cast<std::size_t>(std::ranges::count_if(queued_, [](auto& e) { return bool(e->onSpawned); }));
  }
  void defer(std::function<void()> fn) override { deferred_.push_back(std::move(fn)); }

  // Moves the clock forward, firing every deadline on the way in order.
  void advance(Clock::duration d) {
    const auto end = clock_ + d;
    while (!deadlines_.empty() && deadlines_.begin()->first <= end) {
      auto [when, timer] = *deadlines_.begin();
      deadlines_.erase(deadlines_.begin());
      clock_ = when;
      timer->fire();
    }
    clock_ = end;
  }
  // Fires the earliest deadline alone, moving the clock to it. False when none is armed.
  bool fireNext() {
    if (deadlines_.empty()) return false;
    auto [when, timer] = *deadlines_.begin();
    deadlines_.erase(deadlines_.begin());
    clock_ = when;
    timer->fire();
    return true;
  }
  // Runs the deferred work, including what it defers in turn.
  void runDeferred() {
    while (!deferred_.empty()) {
      auto fn = std::move(deferred_.front());
      deferred_.pop_front();
      fn();
    }
  }
  // The process exits: as the real watcher does, its group's leftovers are killed before the exit is told.
  void exit(int pid, ExitStatus status) { report(pid, status); }
  // The process is gone, and someone else took its status.
  void exitUnknown(int pid) { report(pid, std::nullopt); }
  void report(int pid, std::optional<ExitStatus> status) {
    REQUIRE_MESSAGE(children_.contains(pid), "no live child with pid " << pid);
    auto& live = children_[pid];
    if (status && live.child->killGroup()) remainsKilled.push_back(pid);  // unknown: the pid may be reused
    auto cb = live.onExit;
    cb(status);
  }
  [[nodiscard]] bool alive(int pid) const { return children_.contains(pid); }
  [[nodiscard]] std::vector<int> livePids() const {
    std::vector<int> out;
    for (auto& [pid, c] : children_) out.push_back(pid);
    return out;
  }
  [[nodiscard]] bool timerArmed() const { return !deadlines_.empty(); }
  [[nodiscard]] std::size_t armedTimers() const { return deadlines_.size(); }
  [[nodiscard]] std::size_t deferredCount() const { return deferred_.size(); }

  std::vector<Signal> signals;
  std::vector<int> remainsKilled;
  bool failSpawns = false;
  bool deferSpawns = false;
  int spawns = 0;
  int probesRun = 0;

 private:
  struct QueuedProbe {
    taskmaster::detail::ProbeRequest request;
    taskmaster::detail::ProbeHandler done;  // empty once answered or cancelled
  };
  class ProbeTicket final : public taskmaster::detail::PendingProbe {
   public:
    explicit ProbeTicket(std::weak_ptr<QueuedProbe> q) : q_(std::move(q)) {}
    ~ProbeTicket() override {
      if (auto q = q_.lock()) q->done = {};
    }

   private:
    std::weak_ptr<QueuedProbe> q_;
  };
  struct Queued {
    taskmaster::detail::SpawnRequest request;
    taskmaster::detail::SpawnHandler onSpawned;  // empty once answered or withdrawn
    taskmaster::detail::ExitHandler onExit;
  };
  class Ticket final : public taskmaster::detail::PendingSpawn {
   public:
    explicit Ticket(std::weak_ptr<Queued> q) : q_(std::move(q)) {}
    ~Ticket() override {
      if (auto q = q_.lock()) q->onSpawned = {};
    }

   private:
    std::weak_ptr<Queued> q_;
  };
  void answer(Queued& q) {
    auto onSpawned = std::exchange(q.onSpawned, {});
    onSpawned(spawnNow(q.request, std::move(q.onExit)));
  }
  taskmaster::detail::SpawnResult spawnNow(const taskmaster::detail::SpawnRequest& r,
                                           taskmaster::detail::ExitHandler onExit) {
    ++spawns;
    if (failSpawns) return {nullptr, "spawn error: /nope: No such file or directory"};
    int pid = nextPid_++;
    auto child = std::make_unique<FakeChild>(*this, pid, r.spec->killasgroup);
    children_[pid] = {child.get(), std::move(onExit), r.onNotice};
    return {std::move(child), {}};
  }

  struct LiveChild {
    FakeChild* child;
    taskmaster::detail::ExitHandler onExit;
    taskmaster::detail::NoticeHandler onNotice;
  };
  Clock::time_point clock_{};
  int nextPid_ = 100;
  std::multimap<Clock::time_point, FakeTimer*> deadlines_;
  std::unordered_map<int, LiveChild> children_;
  std::deque<std::function<void()>> deferred_;
  std::deque<std::shared_ptr<Queued>> queued_;
  std::deque<std::shared_ptr<QueuedProbe>> probes_;
};

// The host and the instance's listener in one: transitions are recorded when delivered, as the registry
// delivers them (after the handler that caused them, in order), and onPublish plays an observer.
class InstanceHost final : public taskmaster::detail::Listener {
 public:
  void publish(taskmaster::detail::Instance&, taskmaster::StateChange c) override { outbox_.push_back(std::move(c)); }
  void publishDetail(taskmaster::detail::Instance&, taskmaster::DetailChange d) override {
    details.push_back(std::move(d));
  }
  void flush() override {
    if (delivering_) return;
    delivering_ = true;
    while (!outbox_.empty()) {
      auto c = std::move(outbox_.front());
      outbox_.pop_front();
      changes.push_back(c);
      if (onPublish) onPublish(c);
    }
    delivering_ = false;
  }
  void log(taskmaster::LogLevel level, std::string message) override { logs.emplace_back(level, std::move(message)); }

  // FakeHost's, forwarded: the tests read host.x for both.
  void advance(Clock::duration d) { fake.advance(d); }
  void exit(int pid, ExitStatus status) { fake.exit(pid, status); }
  [[nodiscard]] bool alive(int pid) const { return fake.alive(pid); }
  [[nodiscard]] bool timerArmed() const { return fake.timerArmed(); }
  [[nodiscard]] std::vector<taskmaster::ProcessState> states() const {
    std::vector<taskmaster::ProcessState> out;
    for (auto& c : changes) out.push_back(c.to);
    return out;
  }

  void exitUnknown(int pid) { fake.exitUnknown(pid); }

  FakeHost fake;
  std::vector<taskmaster::StateChange> changes;
  std::vector<taskmaster::DetailChange> details;
  std::vector<std::pair<taskmaster::LogLevel, std::string>> logs;
  std::function<void(const taskmaster::StateChange&)> onPublish;
  std::vector<Signal>& signals = fake.signals;
  std::vector<int>& remainsKilled = fake.remainsKilled;
  bool& failSpawns = fake.failSpawns;
  int& spawns = fake.spawns;

 private:
  std::deque<taskmaster::StateChange> outbox_;
  bool delivering_ = false;
};

}  // namespace test
