#include "hooks/dispatcher.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

namespace taskmaster::inline v0::detail {
namespace {

bool listens(const HookSpec& hook, std::string_view name) { return std::ranges::find(hook.on, name) != hook.on.end(); }

// Taskmaster's own events go to every hook that names them; a program's, to the hooks of its program or group.
bool concerns(const HookSpec& hook, const HookEvent& event) {
  if (hook.programs.empty() || event.program.empty()) return true;
  return std::ranges::any_of(hook.programs, [&](const std::string& name) {
    return name == event.program || name == event.group;
  });
}

}  // namespace

std::string eventTitle(const HookEvent& event) {
  return event.instance.empty() ? event.event : fmt::format("{} {}", event.instance, event.event);
}

Dispatcher::Dispatcher(Host& host, Deliver deliver, LogSink log)
    : host_(host), deliver_(std::move(deliver)), log_(std::move(log)) {}

Dispatcher::~Dispatcher() {
  hooks_.clear();  // the timers first: none fires into a half-destroyed dispatcher
  running_.clear();
}

void Dispatcher::configure(std::vector<HookSpec> specs) {
  std::vector<std::shared_ptr<Hook>> old = std::move(hooks_);
  hooks_.clear();
  for (std::size_t i = 0; i < specs.size(); ++i) {
    auto same = std::ranges::find_if(old, [&](const auto& hook) { return hook && *hook->spec == specs[i]; });
    std::shared_ptr<Hook> hook;
    if (same != old.end()) {
      hook = std::move(*same);  // an unchanged hook keeps its rate limits, and what they hold back
    } else {
      hook = std::make_shared<Hook>();
      hook->spec = std::make_shared<const HookSpec>(std::move(specs[i]));
    }
    hook->index = i + 1;
    hooks_.push_back(std::move(hook));
  }
}

void Dispatcher::offer(const HookEvent& event, bool unexpectedExit) {
  for (const auto& hook : hooks_) {
    const HookSpec& spec = *hook->spec;
    if (!concerns(spec, event)) continue;
    HookEvent named = event;
    if (unexpectedExit && listens(spec, "unexpected_exit")) named.event = "unexpected_exit";
    else if (!listens(spec, event.event)) continue;
    limit(*hook, std::move(named));
  }
}

// At most one delivery per interval for each program: the first at once, the latest of the others when the
// interval ends, saying how many it stands for.
void Dispatcher::limit(Hook& hook, HookEvent event) {
  const auto interval = hook.spec->effectiveRateLimit();
  if (interval <= Duration::zero()) return enqueue(hook, std::move(event), 0);
  const auto program = event.program;
  Window& window = hook.windows[program];
  const auto now = host_.now();
  if (!window.last || now - *window.last >= interval) {
    window.last = now;
    window.held.reset();
    if (window.flush) window.flush->cancel();
    return enqueue(hook, std::move(event), std::exchange(window.suppressed, 0));
  }
  ++stats_.suppressed;
  ++window.suppressed;
  const bool armed = window.held.has_value();
  window.held = std::move(event);
  if (armed) return;
  if (!window.flush) {
    // The timer goes with the window, and the window with its hook: `hook` is alive whenever it fires.
    window.flush = host_.makeTimer([this, &hook, program] { flush(hook, program); });
  }
  window.flush->arm(*window.last + interval - now);
}

void Dispatcher::flush(Hook& hook, const std::string& program) {
  Window& window = hook.windows[program];
  if (!window.held) return;
  window.last = host_.now();
  --stats_.suppressed;  // the one held is delivered after all
  auto event = std::move(*window.held);
  window.held.reset();
  enqueue(hook, std::move(event), std::exchange(window.suppressed, 0) - 1);
}

void Dispatcher::enqueue(const Hook& hook, HookEvent event, std::uint64_t suppressed) {
  if (queue_.size() >= kHookQueueSize) {
    ++stats_.dropped;
    if (droppedUnsaid_++ == 0 && log_) {
      log_(LogLevel::warn, fmt::format("hooks: {} events wait already: {} for hook {} dropped, and the next ones "
                                       "until there is room",
                                       kHookQueueSize, eventTitle(event), hook.index));
    }
    return;
  }
  queue_.push_back(Job{hook.spec, hook.index, std::move(event), suppressed});
  pump();
}

void Dispatcher::pump() {
  while (running_.size() < kHookConcurrency) {
    // The oldest job whose hook has room: one slow hook does not hold up the others.
    auto next = std::ranges::find_if(queue_, [this](const Job& job) {
      const auto busy = busy_.find(job.hook.get());
      return busy == busy_.end() || busy->second < kHookConcurrencyPerHook;
    });
    if (next == queue_.end()) return;
    auto job = std::make_shared<Job>(std::move(*next));
    queue_.erase(next);
    ++busy_[job->hook.get()];
    if (droppedUnsaid_ > 0 && log_) {
      log_(LogLevel::warn, fmt::format("hooks: {} event{} dropped while the queue was full", droppedUnsaid_,
                                       droppedUnsaid_ == 1 ? "" : "s"));
      droppedUnsaid_ = 0;
    }
    const auto id = nextId_++;
    running_.emplace(id, nullptr);  // a delivery may be done before deliver() returns
    auto delivery = deliver_(*job, [this, id, job](Delivered result) { finished(id, *job, result); });
    if (auto slot = running_.find(id); slot != running_.end()) slot->second = std::move(delivery);
  }
}

void Dispatcher::finished(std::uint64_t id, const Job& job, const Delivered& result) {
  if (result.error.empty()) {
    ++stats_.delivered;
  } else {
    ++stats_.failed;
    if (log_ && !result.said) {
      log_(LogLevel::warn, fmt::format("hook {} ({}) for {}: {}", job.index, to_string(job.hook->kind),
                                       eventTitle(job.event), result.error));
    }
  }
  if (auto busy = busy_.find(job.hook.get()); busy != busy_.end() && --busy->second == 0) busy_.erase(busy);
  // Destroyed later: it is the delivery calling.
  if (auto slot = running_.find(id); slot != running_.end()) {
    host_.defer([done = std::shared_ptr<Delivery>(std::move(slot->second))] {});
    running_.erase(slot);
  }
  pump();
  checkIdle();
}

void Dispatcher::whenIdle(std::function<void()> done) {
  idle_.push_back(std::move(done));
  checkIdle();
}

void Dispatcher::checkIdle() {
  if (!queue_.empty() || !running_.empty() || idle_.empty()) return;
  for (auto& done : std::exchange(idle_, {})) done();
}

}  // namespace taskmaster::inline v0::detail
