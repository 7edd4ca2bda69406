// Supervisor: runs and watches the programs of a Config on a Boost.Asio io_context.
//
// Threading: a Supervisor is not thread-safe. Call it only from the thread that runs its io_context (or
// before that thread starts). Every callback (observers, completions) runs on that thread, from inside
// io_context::run(). The library installs no signal handlers and never calls waitpid(-1) (unless asked to reap
// orphans: reapOrphans()): child exits are watched through pidfds, so the embedding program keeps SIGCHLD and
// its other signals to itself.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <taskmaster/config.hpp>
#include <taskmaster/error.hpp>
#include <taskmaster/log.hpp>
#include <taskmaster/output.hpp>
#include <taskmaster/program_spec.hpp>
#include <taskmaster/state.hpp>
#include <taskmaster/subscription.hpp>

namespace boost::asio {
class io_context;
}

namespace taskmaster::inline v0 {

namespace detail {
struct SupervisorAccess;  // the library's own components (hooks): core/supervisor_access.hpp
}

// The limit on open files (RLIMIT_NOFILE). A supervisor holds three descriptors per live child (a pidfd, the
// read ends of its stdout and stderr pipes), so the usual soft limit of 1024 caps it near 300 processes.
// raiseFdLimit() raises this process's soft limit to its hard limit (when privileged, both to the system's
// maximum, fs.nr_open) and remembers the original limits: every child spawned afterwards gets them back
// before exec, as systemd does for its services (programs that use select() rely on 1024). Call it once,
// at start, before the first spawn and before other threads exist; the taskmaster command does. An embedding
// program that does not call it keeps its limits, and its children inherit them as they are. Returns the soft
// limit now in force.
[[nodiscard]] Result<std::uint64_t> raiseFdLimit();

// The result of a start/stop/restart for one instance.
struct Outcome {
  std::string instance;
  bool ok = false;
  std::string message;  // "started", "stopped", "already started", "spawn error: ...", ...
};
using Completion = std::function<void(std::vector<Outcome>)>;

// What apply() did, by program name.
struct ApplyReport {
  std::vector<std::string> added;      // new programs
  std::vector<std::string> changed;    // restarted: a process-defining option changed
  std::vector<std::string> updated;    // applied live: numprocs or supervision options changed
  std::vector<std::string> removed;    // stopped and removed
  std::vector<std::string> unchanged;
  // Refused and left as they were: ProgramSpec::validate() found problems, or depends_on names a program that
  // will not be there, the program itself, or closes a cycle (docs/dependencies.md).
  std::vector<std::string> invalid;
};

class Supervisor {
 public:
  Supervisor();                                     // owns an io_context: run it with context().run()
  explicit Supervisor(boost::asio::io_context& io);  // runs on the embedding program's io_context
  ~Supervisor();  // SIGKILLs the process groups of whatever still runs; call shutdown() first to stop gently
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  [[nodiscard]] boost::asio::io_context& context();

  // Programs. add() starts the program when spec.autostart (after its dependencies); it returns invalid_spec
  // when validate() finds problems or a program of spec.dependsOn is not there (docs/dependencies.md).
  // remove() stops it and forgets it once stopped.
  [[nodiscard]] std::error_code add(ProgramSpec spec);
  [[nodiscard]] std::error_code remove(std::string_view program);

  // Makes the running set match `config`: see docs/configuration.md for what restarts what.
  ApplyReport apply(const Config& config);

  // Control, by target: a program name (all its instances), an instance ("web:1"), or "all".
  // An unknown target fails at once with Errc::no_such_program and changes nothing. `done`, if given,
  // is called once every instance has reached its outcome (start: RUNNING or a failed start).
  [[nodiscard]] std::error_code start(std::string_view target, Completion done = {});
  [[nodiscard]] std::error_code stop(std::string_view target, Completion done = {});
  [[nodiscard]] std::error_code restart(std::string_view target, Completion done = {});
  [[nodiscard]] std::error_code signal(std::string_view target, int signal);

  [[nodiscard]] std::vector<InstanceStatus> status() const;
  [[nodiscard]] std::error_code status(std::string_view target, std::vector<InstanceStatus>& out) const;
  [[nodiscard]] std::vector<std::string> programNames() const;
  [[nodiscard]] std::vector<std::string> instanceNames() const;
  // The spec a program runs with: `name` is a program or one of its instances; null for any other name.
  [[nodiscard]] std::shared_ptr<const ProgramSpec> spec(std::string_view name) const;

  // Stops everything, honouring each program's stopsignal and stoptime; `done` runs when nothing is left.
  // Starts are refused from then on.
  void shutdown(std::function<void()> done = {});
  [[nodiscard]] bool shuttingDown() const;

  // Observers, called for every transition of every instance, in order, once the call or event that caused
  // it has completed: a handler may call back into the Supervisor (add, remove, apply, start...), but must
  // not destroy it. A handler may unsubscribe (itself or others) while being called; an exception from a
  // handler is caught and logged.
  [[nodiscard]] Subscription onStateChange(std::function<void(const StateChange&)> handler);
  // The same for details (taskmaster/state.hpp DetailChange: waiting for dependencies, health, STATUS= text),
  // delivered in order with the state changes.
  [[nodiscard]] Subscription onDetailChange(std::function<void(const DetailChange&)> handler);

  // Makes this Supervisor reap, from now on, every child of this process that it did not spawn: the orphans the
  // kernel re-parents to a PID 1, or to a subreaper (prctl(PR_SET_CHILD_SUBREAPER), the caller's to set), which
  // would otherwise stay zombies. Its own children's exits still reach their pidfd watches: a child it spawned
  // is never reaped by this. It installs a SIGCHLD handler (an asio::signal_set on its io_context), and takes
  // the exits of every other child of the embedding program too: call it only when all of them are the
  // Supervisor's, as in the taskmaster command's --init and --subreaper. An error when SIGCHLD cannot be had.
  [[nodiscard]] std::error_code reapOrphans();

  // Where the library reports what is no state change: a throwing observer or completion, an exit whose status
  // someone else took, an event the state machine rejects. Without a sink these are dropped.
  void setLogSink(LogSink sink);

  // Programs' output (taskmaster/output.hpp, docs/output.md). Each instance has an OutputLog per stream, kept
  // across its restarts and across reloads that keep the instance; with redirect_stderr both streams are
  // the one log. `name` is an instance ("web:1") or a program of one instance; null for any other name.
  [[nodiscard]] std::shared_ptr<OutputLog> output(std::string_view name, StdStream stream) const;
  // Truncates the files and forgets the recent output of every instance of `target` (as start/stop).
  [[nodiscard]] std::error_code clearOutput(std::string_view target);
  // Opens every program's output file again by its name (after logrotate moved them: SIGUSR2).
  void reopenOutputs();
  // Where lines of programs whose stdout or stderr is /dev/stdout or /dev/stderr go. By default they are
  // written to this process's fd 1 or 2 without ever blocking (an OutputWriter each).
  void setForwardSink(ForwardSink sink);

  // A program's input (docs/configuration.md: tty, stdin). `name` is an instance or a program of one instance.
  // sendInput queues `bytes` for its terminal or stdin pipe and returns at once; the program takes them as it
  // reads. Errors (their detail names the program): Errc::no_such_program, Errc::several_instances,
  // Errc::no_input (neither tty nor stdin), Errc::not_running, Errc::input_full (it has not read the last
  // 64 KiB: nothing of `bytes` was queued), or a system error once the program has closed its input (EPIPE).
  [[nodiscard]] Result<> sendInput(std::string_view name, std::string_view bytes);
  // Sets the size of a tty program's terminal (the kernel sends it SIGWINCH). The same errors, and ENOTTY
  // for a program with stdin only.
  [[nodiscard]] Result<> resizeTerminal(std::string_view name, unsigned short rows, unsigned short columns);

 private:
  friend struct detail::SupervisorAccess;
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace taskmaster::inline v0
