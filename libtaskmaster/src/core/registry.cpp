#include "core/registry.hpp"

#include "core/dependencies.hpp"

#include <taskmaster/error.hpp>

#include <algorithm>
#include <charconv>
#include <exception>
#include <unordered_set>

#include <fmt/format.h>

namespace taskmaster::inline v0::detail {

// A start/stop/restart waiting for its instances to settle. It is linked from waiters_ under each instance
// it still waits for, and finished (its completion deferred) once it waits for none.
struct Registry::Waiter {
  bool up;  // start and restart wait for RUNNING; stop for down
  std::uint64_t since;  // the transitions published before it was made do not settle it
  std::string target;
  std::vector<Outcome> outcomes;
  std::unordered_map<const Instance*, std::size_t> pending;  // instance -> index in outcomes
  Completion done;
  bool finished = false;
};

// Handlers subscribed during a delivery are called from the next change on; one unsubscribed during a
// delivery is only marked, and erased once no delivery runs, so no delivery copies the list.
template <class Change>
struct Registry::Observers : std::enable_shared_from_this<Observers<Change>> {
  struct Observer {
    std::function<void(const Change&)> handler;
    bool active = true;
  };
  std::vector<std::unique_ptr<Observer>> list;
  int delivering = 0;
  bool dirty = false;

  void compact() {
    if (delivering > 0 || !std::exchange(dirty, false)) return;
    std::erase_if(list, [](auto& o) { return !o->active; });
  }

  Subscription add(std::function<void(const Change&)> handler) {
    list.push_back(std::make_unique<Observer>(Observer{std::move(handler)}));
    return Subscription([weak = this->weak_from_this(), o = list.back().get()] {
      auto observers = weak.lock();
      if (!observers) return;
      o->active = false;
      observers->dirty = true;
      observers->compact();
    });
  }

  // Calls every handler subscribed before now; `failed` says what one threw (an observer's failure is its own:
  // supervision goes on).
  template <class Failed>
  void notify(const Change& change, Failed failed) {
    ++delivering;
    const std::size_t count = list.size();
    for (std::size_t k = 0; k < count; ++k) {
      auto* o = list[k].get();
      if (!o->active) continue;
      try {
        o->handler(change);
      } catch (const std::exception& e) {
        failed(std::string_view(e.what()));
      } catch (...) {
        failed(std::string_view{});
      }
    }
    --delivering;
    compact();
  }
};

// A call from outside (a request of the embedding program, or of an observer): the transitions it causes are
// delivered once it has returned, so that no observer runs while it walks programs and instances.
class Registry::Batch {
 public:
  explicit Batch(Registry& registry) : registry_(registry) { ++registry_.busy_; }
  ~Batch() {
    if (--registry_.busy_ == 0 && std::uncaught_exceptions() == 0) registry_.flush();
  }
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;

 private:
  Registry& registry_;
};

Registry::Registry(Host& host)
    : host_(host),
      observers_(std::make_shared<Observers<StateChange>>()),
      detailObservers_(std::make_shared<Observers<DetailChange>>()) {}

Registry::~Registry() {
  *alive_ = false;
  retiring_.clear();
  programs_.clear();
}

// --- programs -------------------------------------------------------------------------------------

std::error_code Registry::add(ProgramSpec spec) {
  Batch batch(*this);
  if (!spec.validate().empty()) return Errc::invalid_spec;
  if (index_.contains(spec.name)) return Errc::already_exists;
  if (!dependenciesValid(spec)) return Errc::invalid_spec;
  addValid(std::move(spec));
  return {};
}

void Registry::addValid(ProgramSpec spec) {
  auto shared = std::make_shared<const ProgramSpec>(std::move(spec));
  auto [it, inserted] = programs_.try_emplace(shared->name);
  index_.emplace(shared->name, &it->second);
  it->second.spec = std::move(shared);
  link(*it->second.spec);
  resize(it->second, false);
}

std::error_code Registry::remove(std::string_view program) {
  Batch batch(*this);
  auto it = programs_.find(program);
  if (it == programs_.end()) return Errc::no_such_program;
  removeProgram(it);
  return {};
}

void Registry::removeProgram(ProgramMap::iterator it) {
  auto instances = std::move(it->second.instances);
  unlink(*it->second.spec);
  index_.erase(it->first);
  programs_.erase(it);
  for (auto& i : instances) retire(std::move(i));
}

// Installs a new spec for an existing program: restarts it if its processes differ, otherwise applies
// the supervision options live, and adds or retires instances to match numprocs.
bool Registry::update(Program& program, ProgramSpec spec) {
  const bool restart = !program.spec->sameProcessAs(spec);
  unlink(*program.spec);
  program.spec = std::make_shared<const ProgramSpec>(std::move(spec));
  link(*program.spec);
  const bool anyUp = std::ranges::any_of(program.instances, [](auto& i) { return i->active(); });
  while (program.instances.size() > static_cast<std::size_t>(program.spec->numprocs)) {
    auto last = std::move(program.instances.back());
    program.instances.pop_back();
    retire(std::move(last));
  }
  for (auto& i : program.instances) {
    const bool wasUp = i->active();
    i->setSpec(program.spec, restart);
    if (restart && !wasUp && program.spec->autostart && !shuttingDown_) startOrLater(*i);
  }
  resize(program, anyUp);
  return restart;
}

// Creates the missing instances, started when autostart (or when their siblings run).
void Registry::resize(Program& program, bool siblingsUp) {
  for (int i = static_cast<int>(program.instances.size()); i < program.spec->numprocs; ++i) {
    program.instances.push_back(std::make_unique<Instance>(host_, *this, program.spec, i, forward_));
    if ((program.spec->autostart || siblingsUp) && !shuttingDown_) startOrLater(*program.instances.back());
  }
}

// A removed instance is stopped and kept until it is down; then it is destroyed outside of its call stack.
void Registry::retire(std::unique_ptr<Instance> instance) {
  Instance* raw = instance.get();
  dropFromWaiters(*raw, "removed");
  waiting_.erase(raw);
  heldStops_.erase(raw);
  retiring_.emplace(raw, std::move(instance));
  raw->stop();
  if (!raw->active()) sweepLater(raw);
}

void Registry::sweepLater(Instance* instance) {
  defer([this, instance] {
    ++work_.sweeps;
    if (auto it = retiring_.find(instance); it != retiring_.end() && !it->second->active()) retiring_.erase(it);
  });
}

ApplyReport Registry::apply(const Config& config) {
  Batch batch(*this);
  ApplyReport report;
  std::unordered_set<std::string_view> wanted;
  for (const auto& spec : config.programs) wanted.insert(spec.name);
  for (const auto& [name, program] : programs_)
    if (!wanted.contains(name)) report.removed.push_back(name);
  for (const auto& name : report.removed) (void)remove(name);  // by name: observers may change programs_
  const auto refused = refusedForDependencies(config);
  std::vector<const ProgramSpec*> ordered;  // autostarts by priority, as a start of all
  for (const auto& spec : config.programs) ordered.push_back(&spec);
  std::ranges::stable_sort(ordered, {}, &ProgramSpec::priority);
  // Started once every program is installed, in the same order: a dependency may come later in it.
  std::vector<Instance*> starts;
  startLater_ = &starts;
  for (const ProgramSpec* next : ordered) {
    const ProgramSpec& spec = *next;
    Program* program = find(spec.name);
    if (!spec.validate().empty() || refused.contains(spec.name)) {
      report.invalid.push_back(spec.name);  // as it was: never installed, never started
    } else if (!program) {
      addValid(spec);
      report.added.push_back(spec.name);
    } else if (*program->spec == spec) {
      report.unchanged.push_back(spec.name);
    } else {
      (update(*program, spec) ? report.changed : report.updated).push_back(spec.name);
    }
  }
  startLater_ = nullptr;
  for (Instance* i : starts) requestStart(*i);
  // Changed dependencies apply to what already waits: pulled and evaluated again.
  std::vector<Instance*> held;
  for (const auto& [i, wait] : waiting_) held.push_back(i);
  for (Instance* i : held) requestStart(*i);
  return report;
}

// --- names ----------------------------------------------------------------------------------------

Registry::Program* Registry::find(std::string_view program) const {
  auto it = index_.find(program);
  return it == index_.end() ? nullptr : it->second;
}

// In the order a command over many acts on them: by priority (lower first), then by name. (Iterators of
// programs_ rather than a view: clang 14 cannot use libstdc++ 12's views.)
std::vector<Instance*> Registry::inOrder(ProgramMap::const_iterator begin, ProgramMap::const_iterator end) {
  std::vector<const Program*> sorted;
  for (auto it = begin; it != end; ++it) sorted.push_back(&it->second);
  std::ranges::stable_sort(sorted, {}, [](const Program* p) { return p->spec->priority; });
  std::vector<Instance*> out;
  for (const Program* p : sorted)
    for (const auto& i : p->instances) out.push_back(i.get());
  return out;
}

std::vector<Instance*> Registry::everyInstance() const { return inOrder(programs_.begin(), programs_.end()); }

// "all"; a program ("web", "web:*", or "db:main" of group "db"); a group ("db", "db:*", "db:"); or an
// instance ("web:1"). O(1) but for "all" and groups (O(log N) to find a group).
std::optional<std::vector<Instance*>> Registry::resolve(std::string_view target) const {
  if (target == "all") return everyInstance();
  const bool whole = target.ends_with(":*") || target.ends_with(':');
  if (whole) target.remove_suffix(target.ends_with(":*") ? 2 : 1);
  if (Program* p = find(target)) {
    std::vector<Instance*> out;
    for (auto& i : p->instances) out.push_back(i.get());
    return out;
  }
  const auto colon = target.rfind(':');
  if (colon == std::string_view::npos) {
    // Programs "GROUP:..." sit together in programs_, which is ordered by name.
    const std::string prefix = fmt::format("{}:", target);
    auto begin = programs_.lower_bound(prefix);
    auto end = std::find_if(begin, programs_.end(), [&](auto& entry) { return !entry.first.starts_with(prefix); });
    if (begin == end) return std::nullopt;
    return inOrder(begin, end);
  }
  if (whole) return std::nullopt;
  Program* p = find(target.substr(0, colon));
  const auto digits = target.substr(colon + 1);
  std::size_t index = 0;
  auto [last, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
  if (!p || ec != std::errc{} || last != digits.data() + digits.size() || index >= p->instances.size())
    return std::nullopt;
  Instance* i = p->instances[index].get();
  if (i->name() != target) return std::nullopt;  // "web:01", or "web:0" of a single-instance "web"
  return std::vector<Instance*>{i};
}

std::error_code Registry::status(std::string_view target, std::vector<InstanceStatus>& out) const {
  auto targets = resolve(target);
  if (!targets) return Errc::no_such_program;
  out.clear();
  out.reserve(targets->size());
  for (Instance* i : *targets) {
    out.push_back(i->status());
    if (auto wait = waiting_.find(i); wait != waiting_.end()) out.back().waiting = wait->second.text;
  }
  return {};
}

std::vector<std::string> Registry::programNames() const {
  std::vector<std::string> out;
  for (const auto& [name, p] : programs_) out.push_back(name);
  return out;
}

std::vector<std::string> Registry::instanceNames() const {
  std::vector<std::string> out;
  for (Instance* i : everyInstance()) out.push_back(i->name());
  return out;
}

std::shared_ptr<OutputLog> Registry::output(std::string_view name, StdStream stream) const {
  if (name == "all") return nullptr;
  auto targets = resolve(name);
  if (!targets || targets->size() != 1) return nullptr;
  return targets->front()->output().log(stream);
}

std::error_code Registry::clearOutput(std::string_view target) {
  auto targets = resolve(target);
  if (!targets) return Errc::no_such_program;
  for (Instance* i : *targets) i->output().clear();
  return {};
}

std::shared_ptr<const ProgramSpec> Registry::spec(std::string_view name) const {
  auto targets = name == "all" ? std::nullopt : resolve(name);
  if (!targets || targets->empty()) return nullptr;
  const Program* program = find(targets->front()->spec().name);
  return program ? program->spec : nullptr;
}

Expected<Console*, Error> Registry::console(std::string_view name) const {
  auto targets = name == "all" ? std::nullopt : resolve(name);
  if (!targets) return Error{Errc::no_such_program, fmt::format("{}: no such program", name)};
  if (targets->size() != 1) {
    return Error{Errc::several_instances,
                 fmt::format("{} has {} instances: name one of them ({}:0...)", name, targets->size(), name)};
  }
  const Instance& instance = *targets->front();
  if (!instance.spec().tty && !instance.spec().stdin) {
    return Error{Errc::no_input,
                 fmt::format("{} takes no input: its stdin is /dev/null (set tty: true or stdin: true)", instance.name())};
  }
  Console* console = instance.console();
  if (!console) return Error{Errc::not_running, fmt::format("{} is not running", instance.name())};
  return console;
}

Result<> Registry::sendInput(std::string_view name, std::string_view bytes) {
  auto console = this->console(name);
  if (!console) return console.error();
  if (auto ec = (*console)->write(bytes)) {
    auto instance = resolve(name)->front()->name();
    if (ec == Errc::input_full)
      return Error{ec, fmt::format("{} has not read its last {} KiB of input", instance, kMaxPendingInput / 1024)};
    return Error{ec, fmt::format("{}: its input is closed: {}", instance, ec.message())};
  }
  return {};
}

Result<> Registry::resizeTerminal(std::string_view name, unsigned short rows, unsigned short columns) {
  auto console = this->console(name);
  if (!console) return console.error();
  if (auto ec = (*console)->resize(rows, columns)) {
    auto instance = resolve(name)->front()->name();
    if (!(*console)->terminal()) return Error{ec, fmt::format("{} has no terminal (tty: false)", instance)};
    return Error{ec, fmt::format("{}: resizing its terminal: {}", instance, ec.message())};
  }
  return {};
}

void Registry::reopenOutputs() {
  auto reopen = [this](const Instance& i) {
    if (auto error = i.output().reopen(); !error.empty()) log(LogLevel::warn, fmt::format("{}: {}", i.name(), error));
  };
  for (Instance* i : everyInstance()) reopen(*i);
  for (const auto& [key, i] : retiring_) reopen(*i);
}

std::error_code Registry::signal(std::string_view target, int sig) {
  Batch batch(*this);
  auto targets = resolve(target);
  if (!targets) return Errc::no_such_program;
  for (Instance* i : *targets) i->signal(sig);
  return {};
}

// --- control and waiters --------------------------------------------------------------------------

std::error_code Registry::control(std::string_view target, Op op, Completion done) {
  Batch batch(*this);
  auto targets = resolve(target);
  if (!targets) return Errc::no_such_program;
  if (op != Op::stop && shuttingDown_) return Errc::shutting_down;
  auto waiter =
      std::make_shared<Waiter>(Waiter{op != Op::stop, published_, std::string(target), {}, {}, std::move(done)});
  for (Instance* i : *targets) {
    if (!waiter->pending.emplace(i, waiter->outcomes.size()).second) continue;
    waiter->outcomes.push_back({i->name(), false, {}});
    waiters_[i].push_back(waiter);
  }
  if (op == Op::stop) {
    stopInOrder(*targets, waiter);
  } else {
    for (Instance* i : *targets) {
      // Transitions settle the waiter as they are delivered. A start of a STARTING instance waits for it too,
      // and so does one of an instance that waits for its dependencies. A restart of one that is down starts it.
      if (op == Op::restart && i->active()) {
        i->restart();
      } else if (!requestStart(*i) && i->state() != ProcessState::starting && waiter->pending.contains(i)) {
        resolveOutcome(*waiter, *i, true, "already started");
        unlinkWaiter(*waiter, *i);
      }
    }
  }
  finishIfDone(waiter);
  return {};
}

void Registry::resolveOutcome(Waiter& w, const Instance& i, bool ok, std::string message) {
  auto it = w.pending.find(&i);
  if (it == w.pending.end()) return;
  w.outcomes[it->second].ok = ok;
  w.outcomes[it->second].message = std::move(message);
  w.pending.erase(it);
}

void Registry::unlinkWaiter(const Waiter& w, const Instance& i) {
  auto it = waiters_.find(&i);
  if (it == waiters_.end()) return;
  std::erase_if(it->second, [&](auto& p) { return p.get() == &w; });
  if (it->second.empty()) waiters_.erase(it);
}

// Whether the instance's present state ends the waiter's wait for it; true when it did.
// By the transition being delivered, not by the instance's state now: another request may already have taken
// it further (a stop that completes, then a restart by another client in the same turn).
bool Registry::settle(Waiter& w, const Instance& i, const StateChange& change) {
  ++work_.waiterChecks;
  const ProcessState s = change.to;
  if (w.up) {
    if (s == ProcessState::running) resolveOutcome(w, i, true, "started");
    else if (s == ProcessState::backoff || s == ProcessState::fatal) resolveOutcome(w, i, false, change.reason);
    else if ((s == ProcessState::stopped || s == ProcessState::exited) && i.want() == Want::down)
      resolveOutcome(w, i, false, "stopped before it was up");
    else return false;
  } else if (!isActive(s)) {
    resolveOutcome(w, i, true, "stopped");
  } else {
    return false;
  }
  return true;
}

// O(waiters of this instance).
void Registry::settleWaiters(const Pending& p) {
  const Instance& i = *p.instance;
  auto it = waiters_.find(&i);
  if (it == waiters_.end()) return;
  auto& list = it->second;
  std::vector<std::shared_ptr<Waiter>> settled;
  std::erase_if(list, [&](const std::shared_ptr<Waiter>& w) {
    if (p.sequence <= w->since || !settle(*w, i, std::get<StateChange>(p.change))) return false;
    settled.push_back(w);
    return true;
  });
  if (list.empty()) waiters_.erase(it);
  for (auto& w : settled) finishIfDone(w);
}

void Registry::dropFromWaiters(const Instance& i, const char* why) {
  auto node = waiters_.extract(&i);
  if (node.empty()) return;
  for (auto& w : node.mapped()) {
    resolveOutcome(*w, i, false, why);
    finishIfDone(w);
  }
}

void Registry::finishIfDone(const std::shared_ptr<Waiter>& w) {
  if (!w->pending.empty() || w->finished) return;
  w->finished = true;
  if (!w->done) return;
  defer([this, w] {
    try {
      w->done(std::move(w->outcomes));
    } catch (const std::exception& e) {
      log(LogLevel::error, fmt::format("the completion of {} {} threw: {}", w->up ? "start" : "stop", w->target,
                                       e.what()));
    } catch (...) {
      log(LogLevel::error, fmt::format("the completion of {} {} threw", w->up ? "start" : "stop", w->target));
    }
  });
}

// --- dependencies (docs/dependencies.md) ----------------------------------------------------------

// The instance starts now if what it depends on is met, else it waits: its state stays STOPPED, the wait shows
// in status() and as a DetailChange, and it starts once a change of a dependency meets every condition. What
// it depends on is started first, transitively. True when the instance is started or waits.
bool Registry::requestStart(Instance& instance) {
  if (heldStops_.erase(&instance) > 0) resolveWaiters(instance, false, "started again before it was stopped");
  if (instance.active() || shuttingDown_ || (instance.spec().dependsOn.empty() && !waiting_.contains(&instance)))
    return instance.start();
  pullDependencies(instance);
  waiting_.try_emplace(&instance);
  evaluate(instance);
  return true;
}

void Registry::startOrLater(Instance& instance) {
  if (startLater_) startLater_->push_back(&instance);
  else requestStart(instance);
}

// Starts the instances of its dependencies that are down and do not meet their condition, whatever their
// autostart: a dependency that completed already is not run again. One that waits is asked again only when its
// own wait failed, so that a start retries a failed dependency however deep. Started, an instance is active or
// waits: it is not visited again.
void Registry::pullDependencies(const Instance& instance) {
  for (const Dependency& dependency : instance.spec().dependsOn) {
    Program* program = find(dependency.program);
    if (!program) continue;
    for (auto& i : program->instances) {
      auto wait = waiting_.find(i.get());
      if (i->active() || (wait != waiting_.end() && !wait->second.failed)) continue;
      if (wait != waiting_.end() || standing(*i, dependency.condition, false) != Standing::met) requestStart(*i);
    }
  }
}

// O(its dependencies' instances). A program with several instances as a dependency: every one must meet the
// condition. A failed dependency wins over the others: it is what the user must act on.
void Registry::evaluate(Instance& instance) {
  ++work_.evaluations;
  std::vector<std::string_view> unmet;
  std::string failure;
  for (const Dependency& dependency : instance.spec().dependsOn) {
    Program* program = find(dependency.program);
    if (!program) {  // removed by the embedding program after this one was added
      if (failure.empty()) failure = fmt::format("dependency {} does not exist", dependency.program);
      unmet.push_back(dependency.program);
      continue;
    }
    bool met = true;
    for (auto& i : program->instances) {
      const Standing s = standing(*i, dependency.condition, waiting_.contains(i.get()));
      if (s == Standing::failed && failure.empty()) failure = failureText(*i, dependency.condition);
      met = met && s == Standing::met;
    }
    if (!met) unmet.push_back(dependency.program);
  }
  if (unmet.empty()) {
    endWait(instance);
    instance.start();
  } else if (!failure.empty()) {
    setWait(instance, {failure, true});
    resolveWaiters(instance, true, failure);
  } else {
    setWait(instance, {fmt::format("waiting for {}", fmt::join(unmet, ", ")), false});
  }
}

// Publishes the wait when its text changes: kind waiting (empty text: no longer waiting) or dependencyFailed.
void Registry::setWait(Instance& instance, Wait wait) {
  auto it = waiting_.find(&instance);
  if (it == waiting_.end() || (it->second.text == wait.text && it->second.failed == wait.failed)) return;
  it->second = wait;
  DetailChange change;
  change.kind = wait.failed ? DetailChange::Kind::dependencyFailed : DetailChange::Kind::waiting;
  change.program = instance.spec().name;
  change.instance = instance.name();
  change.index = instance.index();
  change.health = instance.health();
  change.text = std::move(wait.text);
  change.time = host_.wallNow();
  if (Program* program = find(change.program)) change.spec = program->spec;
  publishDetail(instance, std::move(change));
}

// A stop of a waiting instance ends its wait; the starts that waited for it fail with `why`.
bool Registry::cancelWait(Instance& instance, const std::string& why) {
  if (!waiting_.contains(&instance)) return false;
  endWait(instance);
  resolveWaiters(instance, true, why);
  return true;
}

// An instance that waits and came up by itself (fatal_retry of a FATAL one) no longer waits.
void Registry::endWait(Instance& instance) {
  if (waiting_.empty() || !waiting_.contains(&instance)) return;
  setWait(instance, {});
  waiting_.erase(&instance);
}

// Fails the start and restart requests (up) or the stops waiting for this instance, so that none waits for what
// will not come.
void Registry::resolveWaiters(const Instance& instance, bool up, const std::string& why) {
  auto it = waiters_.find(&instance);
  if (it == waiters_.end()) return;
  std::vector<std::shared_ptr<Waiter>> settled;
  std::erase_if(it->second, [&](const std::shared_ptr<Waiter>& w) {
    if (w->up != up) return false;
    resolveOutcome(*w, instance, false, why);
    settled.push_back(w);
    return true;
  });
  if (it->second.empty()) waiters_.erase(it);
  for (auto& w : settled) finishIfDone(w);
}

// A state or health change of `instance`: the waiting instances of the programs that depend on its program
// look again. O(those programs' instances), whatever the number of programs.
void Registry::dependencyChanged(const Instance& instance) {
  auto it = dependents_.find(instance.spec().name);
  if (it == dependents_.end() || waiting_.empty()) return;
  for (const std::string& name : it->second) {
    Program* program = find(name);
    if (!program) continue;
    for (auto& i : program->instances)
      if (waiting_.contains(i.get())) evaluate(*i);
  }
}

// `targets` in start order, stopped in reverse (what starts first stops last); the stop of a dependency is
// held until its dependents among the targets are down. A waiting target stops waiting ("stopped").
void Registry::stopInOrder(const std::vector<Instance*>& targets, const std::shared_ptr<Waiter>& waiter) {
  const std::unordered_set<const Instance*> stopping(targets.begin(), targets.end());
  for (auto it = targets.rbegin(); it != targets.rend(); ++it) {
    Instance& i = **it;
    bool acted = cancelWait(i, "stopped before it was up");
    std::unordered_set<const Instance*> dependents;
    if (auto found = dependents_.find(i.spec().name); found != dependents_.end() && i.active()) {
      for (const std::string& name : found->second) {
        if (Program* program = find(name)) {
          for (auto& d : program->instances)
            if (d->active() && stopping.contains(d.get())) dependents.insert(d.get());
        }
      }
    }
    if (!dependents.empty()) {
      heldStops_[&i] = std::move(dependents);
      continue;  // active: its waiter is settled once it is down
    }
    acted = i.stop() || acted;
    if (waiter && !acted && waiter->pending.contains(&i)) {
      resolveOutcome(*waiter, i, true, "not running");
      unlinkWaiter(*waiter, i);
    } else if (waiter && acted && !i.active() && waiter->pending.contains(&i)) {
      resolveOutcome(*waiter, i, true, "stopped");  // a wait cancelled: no transition will settle it
      unlinkWaiter(*waiter, i);
    }
  }
}

// A dependent is down: the held stops of its dependencies that waited only for it go ahead.
void Registry::releaseStops(const Instance& down) {
  if (heldStops_.empty()) return;
  for (const Dependency& dependency : down.spec().dependsOn) {
    Program* program = find(dependency.program);
    if (!program) continue;
    for (auto& i : program->instances) {
      auto held = heldStops_.find(i.get());
      if (held == heldStops_.end()) continue;
      held->second.erase(&down);
      if (!held->second.empty()) continue;
      heldStops_.erase(held);
      i->stop();
    }
  }
}

void Registry::link(const ProgramSpec& spec) {
  for (const Dependency& dependency : spec.dependsOn) dependents_[dependency.program].push_back(spec.name);
}

void Registry::unlink(const ProgramSpec& spec) {
  for (const Dependency& dependency : spec.dependsOn) {
    auto it = dependents_.find(dependency.program);
    if (it == dependents_.end()) continue;
    std::erase(it->second, spec.name);
    if (it->second.empty()) dependents_.erase(it);
  }
}

// add(): every dependency installed, none twice, not itself. A cycle needs a program that already depends on
// this name (its dependency removed before): only then is the whole graph walked.
bool Registry::dependenciesValid(const ProgramSpec& spec) {
  if (spec.dependsOn.empty()) return true;
  std::vector<const ProgramSpec*> graph{&spec};
  const bool whole = dependents_.contains(spec.name);
  if (whole) {
    for (const auto& [name, program] : programs_) graph.push_back(program.spec.get());
  } else {
    for (const Dependency& dependency : spec.dependsOn)
      if (Program* program = find(dependency.program)) graph.push_back(program->spec.get());
  }
  auto problems = dependencyProblems(graph);
  auto own = std::ranges::find_if(problems, [&](const DependencyProblem& p) {
    return p.program == 0 || std::ranges::find(p.cycle, 0U) != p.cycle.end();
  });
  if (own == problems.end()) return true;
  log(LogLevel::warn, fmt::format("{}: {}", spec.name, own->message));
  return false;
}

// apply(): the programs refused for their dependencies, checked on the programs as they will be (a refused or
// invalid program keeps its installed spec, or is absent): refusing one may leave another's dependency
// unknown, so until nothing changes. Each refusal is logged with its reason.
std::unordered_set<std::string> Registry::refusedForDependencies(const Config& config) {
  const std::size_t count = config.programs.size();
  std::vector<bool> accepted(count);
  for (std::size_t k = 0; k < count; ++k) accepted[k] = config.programs[k].validate().empty();
  std::unordered_set<std::string> refused;
  constexpr auto kInstalled = static_cast<std::size_t>(-1);
  for (bool again = true; again;) {
    again = false;
    std::vector<const ProgramSpec*> graph;
    std::vector<std::size_t> origin;  // index in config.programs, or kInstalled
    for (std::size_t k = 0; k < count; ++k) {
      const Program* installed = find(config.programs[k].name);
      if (!accepted[k] && !installed) continue;
      graph.push_back(accepted[k] ? &config.programs[k] : installed->spec.get());
      origin.push_back(accepted[k] ? k : kInstalled);
    }
    for (const auto& problem : dependencyProblems(graph)) {
      auto refuse = [&](std::size_t node) {
        if (origin[node] == kInstalled || !accepted[origin[node]]) return;
        accepted[origin[node]] = false;
        again = true;
        refused.insert(graph[node]->name);
        log(LogLevel::warn, fmt::format("{}: {}", graph[node]->name, problem.message));
      };
      refuse(problem.program);
      for (std::size_t node : problem.cycle) refuse(node);
    }
  }
  return refused;
}

// --- transitions ----------------------------------------------------------------------------------

void Registry::publish(Instance& instance, StateChange change) {
  activeCount_ += isActive(change.to);
  activeCount_ -= isActive(change.from);
  outbox_.push_back({&instance, std::move(change), ++published_});
}

void Registry::publishDetail(Instance& instance, DetailChange change) {
  outbox_.push_back({&instance, std::move(change), ++published_});
}

void Registry::flush() {
  if (delivering_ || busy_ > 0) return;  // the delivery under way, or the call under way, delivers it
  delivering_ = true;
  struct Reset {
    bool& flag;
    ~Reset() { flag = false; }
  } reset{delivering_};
  while (!outbox_.empty()) {
    Pending next = std::move(outbox_.front());
    outbox_.pop_front();
    deliver(next);
  }
}

// Waiters, then observers, then the bookkeeping that depends on the instance being down.
void Registry::deliver(Pending& p) {
  if (auto* detail = std::get_if<DetailChange>(&p.change)) {
    deliverDetail(*detail);
    if (detail->kind == DetailChange::Kind::health) dependencyChanged(*p.instance);
    return;
  }
  const auto& change = std::get<StateChange>(p.change);
  ++work_.delivered;
  settleWaiters(p);
  observers_->notify(change, [&](std::string_view what) {
    log(LogLevel::error, fmt::format("an observer threw on {} {} -> {}{}{}", change.instance, to_string(change.from),
                                     to_string(change.to), what.empty() ? "" : ": ", what));
  });
  if (!isActive(change.to)) releaseStops(*p.instance);
  if (isActive(change.to)) endWait(*p.instance);
  dependencyChanged(*p.instance);
  if (!p.instance->active() && retiring_.contains(p.instance)) sweepLater(p.instance);
  finishShutdownIfDone();
}

void Registry::deliverDetail(const DetailChange& change) {
  detailObservers_->notify(change, [&](std::string_view what) {
    log(LogLevel::error, fmt::format("an observer threw on {} {}{}{}", change.instance, to_string(change.kind),
                                     what.empty() ? "" : ": ", what));
  });
}

void Registry::log(LogLevel level, std::string message) {
  if (!sink_) return;
  try {
    sink_(level, message);
  } catch (...) {  // the sink must not throw; if it does, there is nowhere left to report it
  }
}

Subscription Registry::subscribe(std::function<void(const StateChange&)> handler) {
  return observers_->add(std::move(handler));
}

Subscription Registry::subscribeDetails(std::function<void(const DetailChange&)> handler) {
  return detailObservers_->add(std::move(handler));
}

// --- shutdown -------------------------------------------------------------------------------------

void Registry::shutdown(std::function<void()> done) {
  Batch batch(*this);
  shuttingDown_ = true;
  shutdownDone_ = done ? std::move(done) : std::function<void()>([] {});
  std::vector<Instance*> retiring;  // first: observers called from stop() may add or remove programs
  for (auto& [raw, i] : retiring_) retiring.push_back(i.get());
  stopInOrder(everyInstance(), nullptr);
  for (Instance* i : retiring) i->stop();
  finishShutdownIfDone();
}

void Registry::finishShutdownIfDone() {
  if (shutdownDone_ && activeCount_ == 0) defer(std::exchange(shutdownDone_, {}));
}

// Runs fn later on the loop, unless the registry is gone by then.
void Registry::defer(std::function<void()> fn) {
  host_.defer([alive = std::weak_ptr(alive_), fn = std::move(fn)] {
    if (auto a = alive.lock(); a && *a) fn();
  });
}

}  // namespace taskmaster::inline v0::detail
