// supervisord's event listeners over a Supervisor (taskmaster/events.hpp): the pools, the events they are sent,
// the listeners' stdout read as supervisord reads it.
#include <taskmaster/events.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include <boost/asio/system_timer.hpp>
#include <fmt/format.h>

#include "events/event.hpp"
#include "events/pool.hpp"
#include "events/protocol.hpp"
#include "xmlrpc/names.hpp"

namespace taskmaster::inline v0::events {

using namespace detail;

bool isEventType(std::string_view name) { return eventMask(name).has_value(); }

namespace {

// What the configuration says about one instance.
struct InstanceInfo {
  ProcessNames names;
  std::string pool;  // its pool when it is a listener, else empty
  bool stdoutEvents = false;
  bool stderrEvents = false;
};

struct PoolSettings {
  EventMask types = 0;
  std::size_t bufferSize = 1;
};

// supervisord's TICK_5, TICK_60 and TICK_3600: every period, on the wall clock's multiples of it.
constexpr std::array<std::pair<EventType, int>, 3> kTicks{
    {{EventType::tick5, 5}, {EventType::tick60, 60}, {EventType::tick3600, 3600}}};

// Down: no process, and none to come without a start.
bool isDown(ProcessState state) {
  return state == ProcessState::stopped || state == ProcessState::exited || state == ProcessState::fatal;
}

ProcessNames processNames(const ProgramSpec& spec, const std::string& instance) {
  InstanceStatus status;
  status.program = spec.name;
  status.instance = instance;
  auto named = xmlrpc::detail::nameOf(std::move(status), &spec);
  return {.process = std::move(named.name), .group = std::move(named.group)};
}

}  // namespace

struct EventListeners::Impl {
  Impl(Supervisor& s, LogSink sink) : supervisor(s), log(std::move(sink)) {}

  void configure(const Config& config);
  const InstanceInfo& learn(const ProgramSpec& spec, const std::string& instance);
  void makePool(const ProgramSpec& spec, const std::string& name);
  void rebuildMembers(const Config& config);
  void depart(const std::set<std::string, std::less<>>& wanted, const std::set<std::string, std::less<>>& wantedGroups);
  void onLeaving(std::map<std::string, InstanceInfo, std::less<>>::iterator it, const StateChange& change);
  [[nodiscard]] bool isLeaving(std::string_view group) const;
  void onState(const StateChange& change);
  void emitState(const ProcessNames& names, const StateChange& change);
  void emit(EventType type, std::string payload);
  void dispatch(Pool& pool);
  void onListenerOutput(const std::string& instance, std::string_view chunk);
  void follow(const std::string& instance, StdStream stream);
  void followAll();
  [[nodiscard]] bool logged(const InstanceInfo& info, StdStream stream) const;
  void armTicks();
  void armTick(std::size_t index);
  void say(LogLevel level, const std::string& text) const {
    if (log) log(level, text);
  }

  Supervisor& supervisor;
  LogSink log;
  std::string identifier = "supervisor";
  std::uint64_t serial = 0;  // the next global serial
  std::map<std::string, InstanceInfo, std::less<>> instances;
  std::map<std::string, InstanceInfo, std::less<>> leaving;  // out of the configuration, not down yet
  std::set<std::string, std::less<>> removing;  // groups out of the configuration whose instances are leaving
  std::vector<std::string> groups;  // in the configuration's order
  std::map<std::string, Pool, std::less<>> pools;
  std::map<std::string, Member, std::less<>> members;  // by instance
  std::map<std::string, std::vector<Member*>, std::less<>> poolMembers;
  std::map<std::string, int, std::less<>> pids;  // each instance's process, for PROCESS_LOG
  struct Followed {
    std::shared_ptr<OutputLog> log;
    Subscription subscription;
  };
  std::map<std::pair<std::string, StdStream>, Followed> followed;
  std::array<std::unique_ptr<boost::asio::system_timer>, kTicks.size()> ticks;
  Subscription states;
};

EventListeners::EventListeners(Supervisor& supervisor, LogSink log)
    : impl_(std::make_unique<Impl>(supervisor, std::move(log))) {
  impl_->states = supervisor.onStateChange([impl = impl_.get()](const StateChange& c) { impl->onState(c); });
}

EventListeners::~EventListeners() = default;

void EventListeners::configure(const Config& config) { impl_->configure(config); }

void EventListeners::supervisorState(SupervisorState state) {
  impl_->emit(state == SupervisorState::running ? EventType::supervisorStateChangeRunning
                                                : EventType::supervisorStateChangeStopping,
              {});
}

void EventListeners::remoteCommunication(std::string_view type, std::string_view data) {
  impl_->emit(EventType::remoteCommunication, remotePayload(type, data));
}

// As supervisord adds and removes groups: a removed group's pool goes before its removal is announced, and a
// new pool hears its own group's addition.
void EventListeners::Impl::configure(const Config& config) {
  identifier = config.identifier;
  std::set<std::string, std::less<>> wanted;  // instances
  std::set<std::string, std::less<>> wantedGroups;
  for (const auto& spec : config.programs) {
    for (int index = 0; index < spec.numprocs; ++index) {
      const auto instance = spec.instanceName(index);
      wanted.insert(instance);
      wantedGroups.insert(processNames(spec, instance).group);
    }
  }
  depart(wanted, wantedGroups);
  std::map<std::string, PoolSettings, std::less<>> settings;
  for (const auto& spec : config.programs) {
    for (int index = 0; index < spec.numprocs; ++index) {
      const auto& info = learn(spec, spec.instanceName(index));
      if (info.pool.empty()) continue;
      auto& pool = settings[info.pool];
      for (const auto& name : spec.events) pool.types |= eventMask(name).value_or(0);
      pool.bufferSize = std::max(pool.bufferSize, static_cast<std::size_t>(std::max(spec.bufferSize, 1)));
    }
  }
  std::erase_if(pools, [&settings](const auto& entry) { return !settings.contains(entry.first); });
  for (auto& [name, pool] : pools) {
    pool.setTypes(settings.at(name).types);
    pool.setBufferSize(settings.at(name).bufferSize);
  }
  rebuildMembers(config);
  followAll();
  armTicks();
  for (auto& entry : pools) dispatch(entry.second);
}

// Instances and groups that are no longer in the configuration. As supervisord's update stops a group before
// removing it, a group is PROCESS_GROUP_REMOVED once its last instance is down: the instances still alive are
// `leaving`, their state changes still sent, until then. Pools of removed groups go first: a pool does not hear
// its own removal.
void EventListeners::Impl::depart(const std::set<std::string, std::less<>>& wanted,
                                  const std::set<std::string, std::less<>>& wantedGroups) {
  std::erase_if(pools, [&wantedGroups](const auto& entry) { return !wantedGroups.contains(entry.first); });
  for (auto it = instances.begin(); it != instances.end();) {
    if (wanted.contains(it->first)) {
      ++it;
      continue;
    }
    if (auto member = members.find(it->first); member != members.end()) {
      if (auto pool = pools.find(it->second.pool); pool != pools.end()) pool->second.lost(member->second);
      for (auto& entry : poolMembers) std::erase(entry.second, &member->second);
      members.erase(member);
    }
    std::vector<InstanceStatus> status;
    const bool alive = !supervisor.status(it->first, status) && !status.empty() && !isDown(status.front().state);
    if (alive) leaving.insert_or_assign(it->first, std::move(it->second));
    else pids.erase(it->first);
    it = instances.erase(it);
  }
  for (auto it = groups.begin(); it != groups.end();) {
    if (wantedGroups.contains(*it)) {
      ++it;
      continue;
    }
    if (!isLeaving(*it)) emit(EventType::processGroupRemoved, groupPayload(*it));
    else removing.insert(*it);
    it = groups.erase(it);
  }
}

// A leaving instance's state change: sent, and once it is down, its group's removal when it was the last.
void EventListeners::Impl::onLeaving(std::map<std::string, InstanceInfo, std::less<>>::iterator it,
                                     const StateChange& change) {
  emitState(it->second.names, change);
  if (!isDown(change.to)) return;
  const auto group = it->second.names.group;
  leaving.erase(it);
  pids.erase(change.instance);
  if (removing.contains(group) && !isLeaving(group)) {
    removing.erase(group);
    emit(EventType::processGroupRemoved, groupPayload(group));
  }
}

bool EventListeners::Impl::isLeaving(std::string_view group) const {
  return std::ranges::any_of(leaving, [group](const auto& entry) { return entry.second.names.group == group; });
}

// An instance as its spec says: a group announced the first time one of its instances is seen, a listener in
// its pool (made when new, its types and buffer growing to take this program's). configure() makes them exact.
const InstanceInfo& EventListeners::Impl::learn(const ProgramSpec& spec, const std::string& instance) {
  // With redirect_stderr (or a tty) stderr is in stdout's stream: there is no stderr to send, as in supervisord.
  InstanceInfo info{.names = processNames(spec, instance), .pool = {}, .stdoutEvents = spec.stdoutEvents,
                    .stderrEvents = spec.stderrEvents && !spec.oneStream()};
  if (!spec.events.empty()) info.pool = info.names.group;
  if (std::ranges::find(groups, info.names.group) == groups.end()) {
    groups.push_back(info.names.group);
    if (!info.pool.empty()) makePool(spec, info.pool);
    emit(EventType::processGroupAdded, groupPayload(info.names.group));
  }
  if (!info.pool.empty()) {
    makePool(spec, info.pool);
    auto [member, added] = members.try_emplace(instance);
    if (added) {
      member->second.instance = instance;
      poolMembers[info.pool].push_back(&member->second);
    }
    member->second.name = info.names.process;
  } else if (auto member = members.find(instance); member != members.end()) {  // no longer a listener
    for (auto& entry : poolMembers) std::erase(entry.second, &member->second);
    members.erase(member);
  }
  auto& kept = instances[instance];
  kept = std::move(info);
  return kept;
}

void EventListeners::Impl::makePool(const ProgramSpec& spec, const std::string& name) {
  EventMask types = 0;
  for (const auto& type : spec.events) types |= eventMask(type).value_or(0);
  const auto size = static_cast<std::size_t>(std::max(spec.bufferSize, 1));
  auto found = pools.find(name);
  if (found == pools.end()) {
    pools.emplace(name, Pool(name, types, size, log));
    return;
  }
  found->second.setTypes(found->second.types() | types);
  found->second.setBufferSize(std::max(found->second.bufferSize(), size));
}

// Each pool's members in the configuration's order (supervisord's: the first READY one gets the next event).
void EventListeners::Impl::rebuildMembers(const Config& config) {
  poolMembers.clear();
  for (const auto& spec : config.programs) {
    for (int index = 0; index < spec.numprocs; ++index) {
      const auto member = members.find(spec.instanceName(index));
      if (member != members.end()) poolMembers[instances.at(member->first).pool].push_back(&member->second);
    }
  }
}

void EventListeners::Impl::onState(const StateChange& change) {
  if (change.from == change.to) return;  // STOPPING again, overdue: no change for supervisord
  if (change.pid != 0) pids[change.instance] = change.pid;
  const bool starting = change.to == ProcessState::starting;
  if (auto gone = leaving.find(change.instance); gone != leaving.end()) {
    if (!starting) return onLeaving(gone, change);
    leaving.erase(gone);  // a program of that name again
  }
  auto info = instances.find(change.instance);
  // A program added since configure() (addProcessGroup, a reload) starts: known from its spec, its group
  // announced first. A restart from STOPPED may bring a new spec.
  if (starting && change.spec && (info == instances.end() || change.from == ProcessState::stopped)) {
    learn(*change.spec, change.instance);
    info = instances.find(change.instance);
  }
  if (info == instances.end()) return;
  emitState(info->second.names, change);
  if (change.to == ProcessState::starting) {
    if (logged(info->second, StdStream::out)) follow(change.instance, StdStream::out);
    if (logged(info->second, StdStream::err)) follow(change.instance, StdStream::err);
  }
  const auto member = members.find(change.instance);
  if (member == members.end()) return;
  auto& pool = pools.at(info->second.pool);
  auto& listener = member->second;
  listener.running = change.to == ProcessState::running;
  switch (change.to) {
    case ProcessState::starting:  // a new process: it has said nothing yet
      listener.protocol.reset();
      follow(change.instance, StdStream::out);
      break;
    case ProcessState::running:
    case ProcessState::stopping: break;  // still alive: it may still answer
    default: pool.lost(listener); break;  // its process is gone, and the event it was handling goes back
  }
  dispatch(pool);
}

void EventListeners::Impl::emitState(const ProcessNames& names, const StateChange& change) {
  if (change.from != ProcessState::starting || change.to != ProcessState::fatal) {
    emit(stateEventType(change.to), stateEventPayload(names, change));
    return;
  }
  // taskmaster gives up from STARTING; supervisord goes to BACKOFF first, then FATAL from BACKOFF, and
  // listeners (fatalmailbatch...) see both.
  auto backoff = change;
  backoff.to = ProcessState::backoff;
  emit(EventType::processStateBackoff, stateEventPayload(names, backoff));
  auto fatal = change;
  fatal.from = ProcessState::backoff;
  emit(EventType::processStateFatal, stateEventPayload(names, fatal));
}

void EventListeners::Impl::emit(EventType type, std::string payload) {
  std::vector<Pool*> takers;
  for (auto& entry : pools)
    if (entry.second.takes(type)) takers.push_back(&entry.second);
  if (takers.empty()) return;  // no pool: no serial taken, as in supervisord
  auto event = std::make_shared<Event>(Event{.type = type, .payload = std::move(payload), .serial = serial++});
  for (Pool* pool : takers) pool->accept(event);
  for (Pool* pool : takers) dispatch(*pool);
}

void EventListeners::Impl::dispatch(Pool& pool) {
  auto found = poolMembers.find(pool.name());
  if (found == poolMembers.end()) return;
  pool.dispatch(found->second, identifier, [this](Member& member, std::string_view bytes) {
    auto sent = supervisor.sendInput(member.instance, bytes);
    if (!sent) say(LogLevel::debug, fmt::format("{}: an event waits: {}", member.name, sent.error().str()));
    return sent.ok();
  });
}

void EventListeners::Impl::onListenerOutput(const std::string& instance, std::string_view chunk) {
  const auto member = members.find(instance);
  if (member == members.end()) return;
  auto& listener = member->second;
  const auto before = listener.protocol.state();
  const auto signals = listener.protocol.feed(chunk);
  if (signals.empty()) return;
  auto& pool = pools.at(instances.at(instance).pool);
  pool.handle(listener, signals);
  if (listener.protocol.state() != before)
    say(LogLevel::debug,
        fmt::format("{}: {} -> {}", listener.name, to_string(before), to_string(listener.protocol.state())));
  dispatch(pool);
}

// Follows an instance's output from its current OutputLog (a reload that replaced the instance gives another).
void EventListeners::Impl::follow(const std::string& instance, StdStream stream) {
  auto log = supervisor.output(instance, stream);
  if (!log) return;
  auto& followed = this->followed[{instance, stream}];
  if (followed.log == log) return;
  followed.log = log;
  const auto info = instances.find(instance);
  const bool listener = info != instances.end() && !info->second.pool.empty() && stream == StdStream::out;
  if (listener) {
    followed.subscription =
        log->follow([this, instance](std::string_view chunk) { onListenerOutput(instance, chunk); });
    return;
  }
  const auto type = stream == StdStream::out ? EventType::processLogStdout : EventType::processLogStderr;
  followed.subscription = log->follow([this, instance, type, stream](std::string_view chunk) {
    const auto found = instances.find(instance);
    if (found == instances.end()) return;
    const auto pid = pids.find(instance);
    emit(type, logEventPayload(found->second.names, pid == pids.end() ? 0 : pid->second, to_string(stream), chunk));
  });
}

// What the configuration asks to follow, and no more: listeners' stdout (their protocol), and the streams of
// programs whose output is sent as PROCESS_LOG events, when some pool takes them. With redirect_stderr,
// stderr is in stdout's stream.
void EventListeners::Impl::followAll() {
  std::map<std::pair<std::string, StdStream>, Followed> kept;
  for (const auto& [instance, info] : instances) {
    for (auto stream : {StdStream::out, StdStream::err}) {
      const bool wanted = (stream == StdStream::out && !info.pool.empty()) || logged(info, stream);
      auto found = followed.find(std::pair{instance, stream});
      if (wanted && found != followed.end()) kept.insert(followed.extract(found));
    }
  }
  followed = std::move(kept);
  for (const auto& [instance, info] : instances) {
    if (!info.pool.empty() || logged(info, StdStream::out)) follow(instance, StdStream::out);
    if (logged(info, StdStream::err)) follow(instance, StdStream::err);
  }
}

// Whether an instance's stream is sent as PROCESS_LOG events: asked for, taken by some pool, and not a
// listener's stdout (its protocol).
bool EventListeners::Impl::logged(const InstanceInfo& info, StdStream stream) const {
  const bool asked = stream == StdStream::out ? info.stdoutEvents && info.pool.empty() : info.stderrEvents;
  if (!asked) return false;
  const auto type = stream == StdStream::out ? EventType::processLogStdout : EventType::processLogStderr;
  return std::ranges::any_of(pools, [type](const auto& entry) { return entry.second.takes(type); });
}

// A timer per TICK type some pool takes, none otherwise: no wake-ups for nothing.
void EventListeners::Impl::armTicks() {
  EventMask taken = 0;
  for (const auto& entry : pools) taken |= entry.second.types();
  for (std::size_t i = 0; i < kTicks.size(); ++i) {
    const bool wanted = (taken & bit(kTicks[i].first)) != 0;
    if (!wanted) ticks[i].reset();  // cancels its wait
    else if (!ticks[i]) armTick(i);
  }
}

void EventListeners::Impl::armTick(std::size_t index) {
  using Clock = std::chrono::system_clock;
  const auto period = kTicks[index].second;
  if (!ticks[index]) ticks[index] = std::make_unique<boost::asio::system_timer>(supervisor.context());
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
  const auto next = (now / period + 1) * period;
  auto& timer = *ticks[index];
  timer.expires_at(Clock::time_point(std::chrono::seconds(next)));
  timer.async_wait([this, index, period](const boost::system::error_code& error) {
    if (error) return;  // cancelled: the timer, and maybe this, are gone
    const auto when = std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
    emit(kTicks[index].first, tickPayload(when - when % period));
    armTick(index);
  });
}

}  // namespace taskmaster::inline v0::events
