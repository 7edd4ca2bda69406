// Internal: the programs and their instances, the start/stop waiters and the observers, on the Host seam.
// Supervisor is a facade over a Registry on an AsioHost; the unit tests run a Registry on a fake host.
//
// Per-event work does not grow with the number of instances: names resolve through a hash index, waiters
// are indexed by instance, the number of active instances is kept up to date from each transition (shutdown
// is done when it reaches 0), and a retired instance is swept on its own once it is down. Dependencies
// (docs/dependencies.md) too: a change of an instance re-evaluates only the waiting instances of the programs
// that depend on its program, found through a reverse index.
#pragma once

#include "private.hpp"

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include <taskmaster/config.hpp>
#include <taskmaster/log.hpp>
#include <taskmaster/supervisor.hpp>

#include "core/host.hpp"
#include "core/instance.hpp"

namespace taskmaster::inline v0::detail {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

class Registry final : public Listener {
 public:
  explicit Registry(Host& host);
  ~Registry() override;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  [[nodiscard]] std::error_code add(ProgramSpec spec);  // Errc::invalid_spec when validate() finds problems
  [[nodiscard]] std::error_code remove(std::string_view program);
  ApplyReport apply(const Config& config);

  enum class Op { start, stop, restart };
  [[nodiscard]] std::error_code control(std::string_view target, Op op, Completion done);
  [[nodiscard]] std::error_code signal(std::string_view target, int sig);
  [[nodiscard]] std::shared_ptr<OutputLog> output(std::string_view name, StdStream stream) const;
  [[nodiscard]] std::error_code clearOutput(std::string_view target);
  [[nodiscard]] std::shared_ptr<const ProgramSpec> spec(std::string_view name) const;
  [[nodiscard]] Result<> sendInput(std::string_view name, std::string_view bytes);
  [[nodiscard]] Result<> resizeTerminal(std::string_view name, unsigned short rows, unsigned short columns);
  void reopenOutputs();
  void setForwardSink(ForwardSink sink) { *forward_ = std::move(sink); }
  [[nodiscard]] std::error_code status(std::string_view target, std::vector<InstanceStatus>& out) const;
  [[nodiscard]] std::vector<std::string> programNames() const;
  [[nodiscard]] std::vector<std::string> instanceNames() const;

  void shutdown(std::function<void()> done);
  [[nodiscard]] bool shuttingDown() const { return shuttingDown_; }

  [[nodiscard]] Subscription subscribe(std::function<void(const StateChange&)> handler);
  [[nodiscard]] Subscription subscribeDetails(std::function<void(const DetailChange&)> handler);
  void setLogSink(LogSink sink) { sink_ = std::move(sink); }

  // Listener
  void publish(Instance& instance, StateChange change) override;
  void publishDetail(Instance& instance, DetailChange change) override;
  void flush() override;
  void log(LogLevel level, std::string message) override;

  // What the per-event paths have done so far, for the tests that bound it.
  struct Work {
    std::uint64_t delivered = 0;     // transitions delivered
    std::uint64_t waiterChecks = 0;  // (waiter, instance) pairs looked at while delivering
    std::uint64_t sweeps = 0;        // retired instances looked at by sweeps
    std::uint64_t evaluations = 0;   // waiting instances evaluated against their dependencies
  };
  [[nodiscard]] const Work& work() const { return work_; }
  [[nodiscard]] std::size_t activeCount() const { return activeCount_; }
  [[nodiscard]] std::size_t retiringCount() const { return retiring_.size(); }

 private:
  struct Program {
    std::shared_ptr<const ProgramSpec> spec;
    std::vector<std::unique_ptr<Instance>> instances;
  };
  class Batch;
  struct Waiter;
  template <class Change>
  struct Observers;
  struct Pending {
    Instance* instance;
    std::variant<StateChange, DetailChange> change;
    std::uint64_t sequence;  // its place among every transition published
  };

  // What an instance waits for before it starts (depends_on): its text in status and in the DetailChange.
  struct Wait {
    std::string text;     // "waiting for db, cache" or "dependency db is FATAL"; empty until evaluated
    bool failed = false;  // a dependency cannot be met as things are
  };

  void addValid(ProgramSpec spec);
  using ProgramMap = std::map<std::string, Program, std::less<>>;  // ordered: listings are sorted by name
  void removeProgram(ProgramMap::iterator it);
  bool update(Program& program, ProgramSpec spec);
  void resize(Program& program, bool siblingsUp);
  void retire(std::unique_ptr<Instance> instance);
  void sweepLater(Instance* instance);
  [[nodiscard]] Program* find(std::string_view program) const;
  [[nodiscard]] std::optional<std::vector<Instance*>> resolve(std::string_view target) const;
  // The console of the one instance `name` names, or why there is none, in words that name it.
  [[nodiscard]] Expected<Console*, Error> console(std::string_view name) const;
  [[nodiscard]] std::vector<Instance*> everyInstance() const;
  [[nodiscard]] static std::vector<Instance*> inOrder(ProgramMap::const_iterator begin,
                                                      ProgramMap::const_iterator end);

  // Dependencies (registry.cpp, "dependencies").
  bool requestStart(Instance& instance);
  void startOrLater(Instance& instance);
  void pullDependencies(const Instance& instance);
  void evaluate(Instance& instance);
  void setWait(Instance& instance, Wait wait);
  bool cancelWait(Instance& instance, const std::string& why);
  void endWait(Instance& instance);
  void resolveWaiters(const Instance& instance, bool up, const std::string& why);
  void dependencyChanged(const Instance& instance);
  void stopInOrder(const std::vector<Instance*>& targets, const std::shared_ptr<Waiter>& waiter);
  void releaseStops(const Instance& down);
  void link(const ProgramSpec& spec);
  void unlink(const ProgramSpec& spec);
  [[nodiscard]] bool dependenciesValid(const ProgramSpec& spec);
  [[nodiscard]] std::unordered_set<std::string> refusedForDependencies(const Config& config);

  void deliver(Pending& pending);
  void deliverDetail(const DetailChange& change);
  void settleWaiters(const Pending& pending);
  bool settle(Waiter& waiter, const Instance& instance, const StateChange& change);
  void resolveOutcome(Waiter& waiter, const Instance& instance, bool ok, std::string message);
  void unlinkWaiter(const Waiter& waiter, const Instance& instance);
  void dropFromWaiters(const Instance& instance, const char* why);
  void finishIfDone(const std::shared_ptr<Waiter>& waiter);
  void finishShutdownIfDone();
  void defer(std::function<void()> fn);

  Host& host_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // deferred work checks it
  ProgramMap programs_;
  std::unordered_map<std::string, Program*, StringHash, std::equal_to<>> index_;  // name -> programs_ node
  std::unordered_map<const Instance*, std::unique_ptr<Instance>> retiring_;  // removed, waiting to be down
  std::unordered_map<const Instance*, std::vector<std::shared_ptr<Waiter>>> waiters_;  // by instance
  std::unordered_map<Instance*, Wait> waiting_;  // asked to start, held until their dependencies are met
  // Program -> the programs whose depends_on names it (names: a dependency may be removed before them).
  std::unordered_map<std::string, std::vector<std::string>, StringHash, std::equal_to<>> dependents_;
  // A dependency's stop held until these dependents, stopped by the same request, are down.
  std::unordered_map<const Instance*, std::unordered_set<const Instance*>> heldStops_;
  std::vector<Instance*>* startLater_ = nullptr;  // apply(): starts wait until every program is installed
  std::shared_ptr<Observers<StateChange>> observers_;
  std::shared_ptr<Observers<DetailChange>> detailObservers_;
  std::deque<Pending> outbox_;
  std::uint64_t published_ = 0;  // transitions published so far: a waiter is settled only by later ones
  bool delivering_ = false;
  int busy_ = 0;  // calls from outside under way: the outermost delivers what they caused
  std::size_t activeCount_ = 0;  // instances (retiring ones included) whose state is active
  bool shuttingDown_ = false;
  std::function<void()> shutdownDone_;
  LogSink sink_;
  ForwardHolder forward_ = std::make_shared<ForwardSink>();  // shared by every instance's output
  Work work_;
};

}  // namespace taskmaster::inline v0::detail
