#include <taskmaster/error.hpp>
#include <taskmaster/supervisor.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <list>
#include <map>
#include <set>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "core/instance.hpp"
#include "process/launcher.hpp"

namespace taskmaster::inline v0 {
namespace asio = boost::asio;
using detail::Instance;

namespace {

// A steady_timer whose cancelled or superseded expiries never reach the callback.
class AsioTimer final : public detail::Timer {
 public:
  AsioTimer(asio::io_context& io, std::function<void()> onExpiry)
      : state_(std::make_shared<State>(State{asio::steady_timer(io), std::move(onExpiry), 0})) {}
  ~AsioTimer() override { state_->timer.cancel(); }

  void arm(detail::Clock::duration after) override {
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

// A child watched through its pidfd: the pidfd turns readable once the child has exited, and
// waitid(P_PIDFD, WNOHANG) then reaps exactly that child, never blocking. A readiness that is not an exit
// (spurious, or an EINTR) just waits again. Boost.Process v2's async_wait is not used: after any readiness it
// calls a blocking waitpid(pid), and one spurious wake-up under heavy churn hung the whole loop on a live child.
class AsioChild final : public detail::Child {
 public:
  AsioChild(asio::io_context& io, int pid, int pidfd, std::function<void(ExitStatus)> onExit)
      : pid_(pid), watch_(std::make_shared<Watch>(io, pid, pidfd, std::move(onExit))) {
    watch(watch_);
  }
  ~AsioChild() override {
    // Still running: the last resort. The pending wait (or ~Watch) reaps it.
    watch_->onExit = {};
    if (!watch_->exited) {
      ::kill(-pid_, SIGKILL);
      ::kill(pid_, SIGKILL);
    }
  }
  [[nodiscard]] int pid() const override { return pid_; }
  void signal(int sig, bool group) override {
    if (watch_->exited) return;
    if (group) ::kill(-pid_, sig);
    // Not a group, or the main process moved to another group: it must get the signal all the same.
    if (!group || ::getpgid(pid_) != pid_) ::kill(pid_, sig);
  }
  void killRemains() override { ::kill(-pid_, SIGKILL); }

 private:
  struct Watch {
    Watch(asio::io_context& io, int pid, int fd, std::function<void(ExitStatus)> cb)
        : pidfd(io, fd), pid(pid), onExit(std::move(cb)) {}
    ~Watch() {  // the io_context is being destroyed with the child alive: kill and reap it here
      if (exited) return;
      ::kill(pid, SIGKILL);  // not reaped yet, so the pid is still this child's
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
    asio::posix::stream_descriptor pidfd;
    int pid;
    std::function<void(ExitStatus)> onExit;
    bool exited = false;
  };

  static void watch(const std::shared_ptr<Watch>& watch) {
    watch->pidfd.async_wait(asio::posix::descriptor_base::wait_read, [w = watch](boost::system::error_code ec) {
      if (ec == asio::error::operation_aborted) return;  // the io_context is going away
      siginfo_t info{};
      const int rc = ::waitid(P_PIDFD, static_cast<id_t>(w->pidfd.native_handle()), &info, WEXITED | WNOHANG);
      if ((rc == 0 && info.si_pid == 0) || (rc < 0 && errno == EINTR)) return AsioChild::watch(w);  // not yet
      w->exited = true;
      ExitStatus status{-1, 0, false};  // rc < 0: someone else reaped it (a waitpid(-1) elsewhere)
      if (rc == 0 && info.si_code == CLD_EXITED) status = {info.si_status, 0, false};
      if (rc == 0 && (info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED))
        status = {0, info.si_status, info.si_code == CLD_DUMPED};
      boost::system::error_code ignored;
      w->pidfd.close(ignored);
      if (auto cb = std::exchange(w->onExit, {})) cb(status);
    });
  }
  int pid_;
  std::shared_ptr<Watch> watch_;
};

// A start/stop/restart waiting for its instances to settle.
struct Waiter {
  enum class Op { start, stop } op;
  std::vector<Outcome> outcomes;
  std::map<const Instance*, std::size_t> pending;  // instance -> index in outcomes
  Completion done;
  bool finished = false;
};

struct Observer {
  std::function<void(const StateChange&)> handler;
  bool active = true;
};
using ObserverList = std::vector<std::shared_ptr<Observer>>;

}  // namespace

class Supervisor::Impl final : public detail::Host {
 public:
  Impl(asio::io_context* io, std::unique_ptr<asio::io_context> owned)
      : owned_(std::move(owned)), io_(io ? *io : *owned_) {}
  ~Impl() override {
    *alive_ = false;
    retiring_.clear();
    programs_.clear();
  }

  // --- Host -------------------------------------------------------------------------------------
  detail::Clock::time_point now() const override { return detail::Clock::now(); }
  WallTime wallNow() const override { return std::chrono::system_clock::now(); }
  std::unique_ptr<detail::Timer> makeTimer(std::function<void()> onExpiry) override {
    return std::make_unique<AsioTimer>(io_, std::move(onExpiry));
  }
  detail::SpawnResult spawn(const detail::SpawnRequest& r, std::function<void(ExitStatus)> onExit) override {
    auto launched = detail::launch(r.spec, r.instance, r.index);
    if (launched.pid < 0) return {nullptr, "spawn error: " + launched.error};
    try {
      return {std::make_unique<AsioChild>(io_, launched.pid, launched.pidfd, std::move(onExit)), {}};
    } catch (const std::exception& e) {  // the pidfd could not join the event loop: do not run unwatched
      ::kill(-launched.pid, SIGKILL);
      while (::waitpid(launched.pid, nullptr, 0) < 0 && errno == EINTR) {
      }
      ::close(launched.pidfd);
      return {nullptr, std::string("spawn error: ") + e.what()};
    }
  }
  void publish(const Instance& instance, const StateChange& change) override {
    settleWaiters(instance);
    auto snapshot = *observers_;  // handlers may subscribe or unsubscribe while we iterate
    for (const auto& o : snapshot) {
      if (!o->active) continue;
      try {
        o->handler(change);
      } catch (...) {
        // An observer's failure is its own; supervision goes on.
      }
    }
    if (!retiring_.empty() && !instance.active()) defer([this] { sweepRetired(); });
    if (shutdownDone_ && !anyActive()) {
      defer([done = std::exchange(shutdownDone_, {})] { done(); });
    }
  }

  // --- programs ---------------------------------------------------------------------------------
  struct Program {
    std::shared_ptr<const ProgramSpec> spec;
    std::vector<std::unique_ptr<Instance>> instances;
  };

  std::error_code add(ProgramSpec spec) {
    if (!spec.validate().empty()) return Errc::invalid_spec;
    if (programs_.contains(spec.name)) return Errc::already_exists;
    auto shared = std::make_shared<const ProgramSpec>(std::move(spec));
    auto& program = programs_[shared->name];
    program.spec = shared;
    resize(program, false);
    return {};
  }

  void remove(std::map<std::string, Program, std::less<>>::iterator it) {
    for (auto& i : it->second.instances) retire(std::move(i));
    programs_.erase(it);
  }

  // Installs a new spec for an existing program: restarts it if its processes differ, otherwise applies
  // the supervision options live, and adds or retires instances to match numprocs.
  bool update(Program& program, ProgramSpec spec) {
    const bool restart = !program.spec->sameProcessAs(spec);
    program.spec = std::make_shared<const ProgramSpec>(std::move(spec));
    const bool anyUp = std::ranges::any_of(program.instances, [](auto& i) { return i->active(); });
    while (program.instances.size() > static_cast<std::size_t>(program.spec->numprocs)) {
      retire(std::move(program.instances.back()));
      program.instances.pop_back();
    }
    for (auto& i : program.instances) {
      const bool wasUp = i->active();
      i->setSpec(program.spec, restart);
      if (restart && !wasUp && program.spec->autostart && !shuttingDown_) i->start();
    }
    resize(program, anyUp);
    return restart;
  }

  // Creates the missing instances, started when autostart (or when their siblings run).
  void resize(Program& program, bool siblingsUp) {
    for (int i = static_cast<int>(program.instances.size()); i < program.spec->numprocs; ++i) {
      program.instances.push_back(std::make_unique<Instance>(*this, program.spec, i));
      if ((program.spec->autostart || siblingsUp) && !shuttingDown_) program.instances.back()->start();
    }
  }

  void retire(std::unique_ptr<Instance> instance) {
    dropFromWaiters(*instance, "removed");
    instance->stop();
    retiring_.push_back(std::move(instance));
    defer([this] { sweepRetired(); });
  }

  // Destroys retired instances once they are down, outside of their own call stacks.
  void sweepRetired() {
    std::erase_if(retiring_, [](auto& i) { return !i->active(); });
    if (shutdownDone_ && !anyActive()) defer([done = std::exchange(shutdownDone_, {})] { done(); });
  }

  ApplyReport apply(const Config& config) {
    ApplyReport report;
    std::set<std::string, std::less<>> wanted;
    for (const auto& spec : config.programs) wanted.insert(spec.name);
    for (auto it = programs_.begin(); it != programs_.end();) {
      auto next = std::next(it);
      if (!wanted.contains(it->first)) {
        report.removed.push_back(it->first);
        remove(it);
      }
      it = next;
    }
    for (const auto& spec : config.programs) {
      auto it = programs_.find(spec.name);
      if (it == programs_.end()) {
        if (!add(spec)) report.added.push_back(spec.name);
      } else if (*it->second.spec == spec) {
        report.unchanged.push_back(spec.name);
      } else {
        (update(it->second, spec) ? report.changed : report.updated).push_back(spec.name);
      }
    }
    return report;
  }

  // --- control ----------------------------------------------------------------------------------
  std::optional<std::vector<Instance*>> resolve(std::string_view target) const {
    std::vector<Instance*> out;
    if (target == "all") {
      for (auto& [name, p] : programs_)
        for (auto& i : p.instances) out.push_back(i.get());
      return out;
    }
    if (target.ends_with(":*")) target.remove_suffix(2);  // supervisorctl's "group:*"
    if (auto it = programs_.find(target); it != programs_.end()) {
      for (auto& i : it->second.instances) out.push_back(i.get());
      return out;
    }
    if (auto colon = target.rfind(':'); colon != std::string_view::npos) {
      if (auto it = programs_.find(target.substr(0, colon)); it != programs_.end())
        for (auto& i : it->second.instances)
          if (i->name() == target) return std::vector<Instance*>{i.get()};
    }
    return std::nullopt;
  }

  std::error_code control(std::string_view target, Waiter::Op op, bool (*action)(Instance&), const char* noop,
                          Completion done) {
    auto targets = resolve(target);
    if (!targets) return Errc::no_such_program;
    if (op == Waiter::Op::start && shuttingDown_) return Errc::shutting_down;
    auto waiter = std::make_shared<Waiter>(Waiter{op, {}, {}, std::move(done), false});
    for (Instance* i : *targets) {
      waiter->pending[i] = waiter->outcomes.size();
      waiter->outcomes.push_back({i->name(), false, {}});
    }
    waiters_.push_back(waiter);
    for (Instance* i : *targets) {
      // Transitions settle the waiter through publish(). A start of a STARTING instance waits for it too.
      if (!action(*i) && !(op == Waiter::Op::start && i->state() == ProcessState::starting))
        resolveOutcome(*waiter, *i, true, noop);
    }
    finishIfDone(waiter);
    return {};
  }

  void resolveOutcome(Waiter& w, const Instance& i, bool ok, std::string message) {
    auto it = w.pending.find(&i);
    if (it == w.pending.end()) return;
    w.outcomes[it->second].ok = ok;
    w.outcomes[it->second].message = std::move(message);
    w.pending.erase(it);
  }

  // Whether the instance's present state ends the waiter's wait for it.
  void settle(Waiter& w, const Instance& i) {
    if (!w.pending.contains(&i)) return;
    const ProcessState s = i.state();
    if (w.op == Waiter::Op::start) {
      if (s == ProcessState::running) resolveOutcome(w, i, true, "started");
      else if (s == ProcessState::backoff || s == ProcessState::fatal) resolveOutcome(w, i, false, i.reason());
      else if ((s == ProcessState::stopped || s == ProcessState::exited) && !i.willStart())
        resolveOutcome(w, i, false, "stopped before it was up");
    } else if (!i.active()) {
      resolveOutcome(w, i, true, "stopped");
    }
  }

  void settleWaiters(const Instance& i) {
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      auto w = *it++;
      settle(*w, i);
      finishIfDone(w);
    }
  }

  void dropFromWaiters(const Instance& i, const char* why) {
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      auto w = *it++;
      resolveOutcome(*w, i, false, why);
      finishIfDone(w);
    }
  }

  void finishIfDone(const std::shared_ptr<Waiter>& w) {
    if (!w->pending.empty() || w->finished) return;
    w->finished = true;
    std::erase(waiters_, w);
    if (w->done) defer([w] {
      try {
        w->done(std::move(w->outcomes));
      } catch (...) {
      }
    });
  }

  bool anyActive() const {
    for (auto& [name, p] : programs_)
      for (auto& i : p.instances)
        if (i->active()) return true;
    return std::ranges::any_of(retiring_, [](auto& i) { return i->active(); });
  }

  void shutdown(std::function<void()> done) {
    shuttingDown_ = true;
    shutdownDone_ = done ? std::move(done) : std::function<void()>([] {});
    for (auto& [name, p] : programs_)
      for (auto& i : p.instances) i->stop();
    for (auto& i : retiring_) i->stop();
    if (!anyActive()) defer([done = std::exchange(shutdownDone_, {})] { done(); });
  }

  // Runs fn later on the loop, unless the supervisor is gone by then.
  template <class F>
  void defer(F fn) {
    asio::post(io_, [alive = std::weak_ptr(alive_), fn = std::move(fn)]() mutable {
      if (auto a = alive.lock(); a && *a) fn();
    });
  }

  std::unique_ptr<asio::io_context> owned_;  // first: destroyed after everything that uses it
  asio::io_context& io_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::map<std::string, Program, std::less<>> programs_;
  std::vector<std::unique_ptr<Instance>> retiring_;  // removed, waiting for their processes to end
  std::list<std::shared_ptr<Waiter>> waiters_;
  std::shared_ptr<ObserverList> observers_ = std::make_shared<ObserverList>();
  bool shuttingDown_ = false;
  std::function<void()> shutdownDone_;
};

Supervisor::Supervisor() : impl_(std::make_unique<Impl>(nullptr, std::make_unique<asio::io_context>())) {}
Supervisor::Supervisor(asio::io_context& io) : impl_(std::make_unique<Impl>(&io, nullptr)) {}
Supervisor::~Supervisor() = default;

asio::io_context& Supervisor::context() { return impl_->io_; }

std::error_code Supervisor::add(ProgramSpec spec) {
  if (impl_->shuttingDown_) return Errc::shutting_down;
  return impl_->add(std::move(spec));
}

std::error_code Supervisor::replace(ProgramSpec spec) {
  if (!spec.validate().empty()) return Errc::invalid_spec;
  auto it = impl_->programs_.find(spec.name);
  if (it == impl_->programs_.end()) return add(std::move(spec));
  impl_->update(it->second, std::move(spec));
  return {};
}

std::error_code Supervisor::remove(std::string_view program) {
  auto it = impl_->programs_.find(program);
  if (it == impl_->programs_.end()) return Errc::no_such_program;
  impl_->remove(it);
  return {};
}

ApplyReport Supervisor::apply(const Config& config) { return impl_->apply(config); }

std::error_code Supervisor::start(std::string_view target, Completion done) {
  return impl_->control(target, Waiter::Op::start, [](Instance& i) { return i.start(); }, "already started",
                        std::move(done));
}

std::error_code Supervisor::stop(std::string_view target, Completion done) {
  return impl_->control(target, Waiter::Op::stop, [](Instance& i) { return i.stop(); }, "not running",
                        std::move(done));
}

std::error_code Supervisor::restart(std::string_view target, Completion done) {
  return impl_->control(target, Waiter::Op::start, [](Instance& i) {
    i.restart();
    return true;
  }, "", std::move(done));
}

std::error_code Supervisor::signal(std::string_view target, int sig) {
  auto targets = impl_->resolve(target);
  if (!targets) return Errc::no_such_program;
  for (Instance* i : *targets) i->signal(sig);
  return {};
}

std::vector<InstanceStatus> Supervisor::status() const {
  std::vector<InstanceStatus> out;
  (void)status("all", out);
  return out;
}

std::error_code Supervisor::status(std::string_view target, std::vector<InstanceStatus>& out) const {
  auto targets = impl_->resolve(target);
  if (!targets) return Errc::no_such_program;
  out.clear();
  for (Instance* i : *targets) out.push_back(i->status());
  return {};
}

std::vector<std::string> Supervisor::programNames() const {
  std::vector<std::string> out;
  for (auto& [name, p] : impl_->programs_) out.push_back(name);
  return out;
}

std::vector<std::string> Supervisor::instanceNames() const {
  std::vector<std::string> out;
  for (auto& [name, p] : impl_->programs_)
    for (auto& i : p.instances) out.push_back(i->name());
  return out;
}

void Supervisor::shutdown(std::function<void()> done) { impl_->shutdown(std::move(done)); }
bool Supervisor::shuttingDown() const { return impl_->shuttingDown_; }

Subscription Supervisor::onStateChange(std::function<void(const StateChange&)> handler) {
  auto observer = std::make_shared<Observer>(Observer{std::move(handler), true});
  impl_->observers_->push_back(observer);
  return Subscription([list = std::weak_ptr(impl_->observers_), weak = std::weak_ptr(observer)] {
    auto l = list.lock();
    auto o = weak.lock();
    if (!l || !o) return;
    o->active = false;
    std::erase(*l, o);
  });
}

}  // namespace taskmaster::inline v0
