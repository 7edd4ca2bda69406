// Internal: the programs and their instances, the start/stop waiters and the observers, on the Host seam.
// Supervisor is a facade over a Registry on an AsioHost; the unit tests run a Registry on a fake host.
//
// Per-event work does not grow with the number of instances: names resolve through a hash index, waiters
// are indexed by instance, the number of active instances is kept up to date from each transition (shutdown
// is done when it reaches 0), and a retired instance is swept on its own once it is down.
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
