// The public Hooks: the supervisor's changes turned into HookEvents for the Dispatcher, delivered by the
// Deliverer on the supervisor's own AsioHost (its launcher, its orphan reaper, its loop).
#include <taskmaster/hooks.hpp>

#include <utility>

#include <taskmaster/supervisor.hpp>

#include "core/supervisor_access.hpp"
#include "hooks/deliveries.hpp"
#include "hooks/dispatcher.hpp"
#include "process/asio_host.hpp"

namespace taskmaster::inline v0 {

namespace {

HookEvent fromState(const StateChange& c) {
  return HookEvent{.event = std::string(to_string(c.to)),
                   .program = c.program,
                   .group = c.spec ? std::string(c.spec->group()) : c.program,
                   .instance = c.instance,
                   .index = c.index,
                   .from = c.from,
                   .to = c.to,
                   .pid = c.pid,
                   .exit = c.exit,
                   .expected = c.expected,
                   .reason = c.reason,
                   .time = c.time};
}

HookEvent fromHealth(const DetailChange& d) {
  return HookEvent{.event = "unhealthy",
                   .program = d.program,
                   .group = d.spec ? std::string(d.spec->group()) : d.program,
                   .instance = d.instance,
                   .index = d.index,
                   .pid = d.pid,
                   .reason = d.text,
                   .time = d.time};
}

}  // namespace

class Hooks::Impl {
 public:
  Impl(Supervisor& supervisor, LogSink log)
      : host_(detail::SupervisorAccess::host(supervisor)),
        deliverer_(host_, log),
        dispatcher_(
            host_, [this](const detail::Job& job, detail::DeliveryDone done) { return deliverer_.deliver(job, std::move(done)); },
            log) {
    // An unexpected exit is a change to EXITED that the configuration did not expect (exitcodes): a hook on
    // unexpected_exit gets it under that name, a hook on EXITED under EXITED.
    states_ = supervisor.onStateChange([this](const StateChange& c) {
      dispatcher_.offer(fromState(c), c.to == ProcessState::exited && !c.expected);
    });
    details_ = supervisor.onDetailChange([this](const DetailChange& d) {
      if (d.kind == DetailChange::Kind::health && d.health == Health::unhealthy) dispatcher_.offer(fromHealth(d));
    });
  }

  void configure(std::vector<HookSpec> hooks) {
    deliverer_.reset();
    dispatcher_.configure(std::move(hooks));
  }
  void fire(HookEvent event) {
    if (event.time.time_since_epoch().count() == 0) event.time = host_.wallNow();
    dispatcher_.offer(event);
  }
  void whenIdle(std::function<void()> done) { dispatcher_.whenIdle(std::move(done)); }
  [[nodiscard]] HookStats stats() const { return dispatcher_.stats(); }

 private:
  detail::AsioHost& host_;
  detail::Deliverer deliverer_;
  detail::Dispatcher dispatcher_;
  Subscription states_;  // last: unsubscribed before the dispatcher goes
  Subscription details_;
};

Hooks::Hooks(Supervisor& supervisor, LogSink log) : impl_(std::make_unique<Impl>(supervisor, std::move(log))) {}
Hooks::~Hooks() = default;
void Hooks::configure(std::vector<HookSpec> hooks) { impl_->configure(std::move(hooks)); }
void Hooks::fire(HookEvent event) { impl_->fire(std::move(event)); }
void Hooks::whenIdle(std::function<void()> done) { impl_->whenIdle(std::move(done)); }
HookStats Hooks::stats() const { return impl_->stats(); }

}  // namespace taskmaster::inline v0
