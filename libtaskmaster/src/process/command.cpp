// AsioHost::runCommand (process/command.hpp): a short command spawned through the launcher, its output read
// into a bounded string, its input fed, its exit watched through its pidfd, and a deadline.
#include "process/command.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include <taskmaster/util.hpp>

#include "process/asio_host.hpp"
#include "process/capture.hpp"
#include "process/child_watcher.hpp"
#include "process/console.hpp"
#include "process/launcher.hpp"

namespace taskmaster::inline v0::detail {
namespace {

// The life of one command, shared by the callbacks of its exit, its output and its deadline. It reports once
// its exit is known and its output has ended (every holder of the pipe is gone: the group is SIGKILLed when the
// command exits, so only a process that left the group can hold it); at the deadline, it SIGKILLs the group if
// the command still runs (then reports at its exit), or reports what it has if only the output is left.
struct Run : std::enable_shared_from_this<Run> {
  CommandHandler done;
  std::size_t maxOutput = 0;
  std::string output;
  std::optional<ExitStatus> exit;
  bool exited = false;
  bool outputEnded = false;
  bool timedOut = false;
  Duration timeout{};
  std::unique_ptr<Child> child;
  std::unique_ptr<Timer> deadline;

  void append(std::string_view bytes) {
    if (output.size() < maxOutput) output.append(bytes.substr(0, maxOutput - output.size()));
  }
  void onExit(std::optional<ExitStatus> status) {
    exited = true;
    exit = status;
    if (outputEnded || timedOut) report();
  }
  void onOutputEnd() {
    outputEnded = true;
    if (exited) report();
  }
  void onDeadline() {
    if (exited) return report();  // only the output is left, held by a process that left the group
    timedOut = true;
    child->signal(SIGKILL, true);
  }
  void report() {
    auto cb = std::exchange(done, {});
    if (!cb) return;
    deadline.reset();
    CommandResult result;
    if (timedOut)
      result.error = fmt::format("timed out after {}", formatDuration(std::chrono::duration_cast<std::chrono::milliseconds>(timeout)));
    else if (!exit)
      result.error = "its exit status was lost (reaped elsewhere)";
    else
      result.exit = exit;
    result.output = std::move(output);
    cb(std::move(result));
  }
};

// What the caller holds: destroying it drops the report, and the Child with it (SIGKILL to the group; the
// watch still pending reaps it).
class RunningCommand final : public PendingCommand {
 public:
  explicit RunningCommand(std::shared_ptr<Run> run) : run_(std::move(run)) {}
  ~RunningCommand() override {
    run_->done = {};
    run_->deadline.reset();
    run_->child.reset();
  }
  RunningCommand(const RunningCommand&) = delete;
  RunningCommand& operator=(const RunningCommand&) = delete;

 private:
  std::shared_ptr<Run> run_;
};

// A spawn that failed: its report is deferred, so that it never comes from inside runCommand.
class FailedCommand final : public PendingCommand {
 public:
  explicit FailedCommand(std::shared_ptr<CommandHandler> done) : done_(std::move(done)) {}
  ~FailedCommand() override { *done_ = {}; }
  FailedCommand(const FailedCommand&) = delete;
  FailedCommand& operator=(const FailedCommand&) = delete;

 private:
  std::shared_ptr<CommandHandler> done_;
};

Expected<std::pair<UniqueFd, UniqueFd>, std::string> pipeWithLoopEnd(bool loopReads) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) return fmt::format("pipe: {}", std::generic_category().message(errno));
  std::pair<UniqueFd, UniqueFd> ends{UniqueFd(fds[0]), UniqueFd(fds[1])};
  const int loopEnd = loopReads ? fds[0] : fds[1];
  if (::fcntl(loopEnd, F_SETFL, O_NONBLOCK) < 0) return fmt::format("fcntl: {}", std::generic_category().message(errno));
  return ends;
}

}  // namespace

std::string CommandResult::failure() const {
  if (ok()) return {};
  if (!exit) return error;
  std::string_view text = output;
  while (!text.empty() && (text.front() == '\n' || text.front() == '\r')) text.remove_prefix(1);
  const auto line = text.substr(0, text.find_first_of("\r\n"));
  return line.empty() ? exit->str() : fmt::format("{}: {}", exit->str(), escapeControl(line));
}

std::unique_ptr<PendingCommand> AsioHost::runCommand(CommandRequest request, CommandHandler done) {
  auto fail = [this, &done](std::string error) -> std::unique_ptr<PendingCommand> {
    auto handler = std::make_shared<CommandHandler>(std::move(done));
    defer([handler, error = std::move(error)] {
      if (auto cb = std::exchange(*handler, {})) cb(CommandResult{std::nullopt, "spawn error: " + error, {}});
    });
    return std::make_unique<FailedCommand>(handler);
  };
  auto prep = prepared(request.spec);
  if (!prep.ok()) return fail(std::move(prep.error()));
  auto out = pipeWithLoopEnd(true);
  if (!out.ok()) return fail(std::move(out.error()));
  std::optional<std::pair<UniqueFd, UniqueFd>> in;
  if (!request.input.empty()) {
    auto made = pipeWithLoopEnd(false);
    if (!made.ok()) return fail(std::move(made.error()));
    in = std::move(*made);
  }
  const ChildStdio stdio{in ? in->first.get() : -1, out->second.get(), out->second.get(), false};
  auto launched = launch(*request.spec, **prep, request.instance, request.index, stdio);
  if (!launched.ok()) return fail(std::move(launched.error()));
  out->second.reset();
  if (in) in->first.reset();

  auto run = std::make_shared<Run>();
  run->done = std::move(done);
  run->maxOutput = request.maxOutput;
  run->timeout = request.timeout;
  const std::weak_ptr<Run> weak = run;
  try {
    run->child = watchChild(io_, launched->pid, launched->pidfd, true, [weak](std::optional<ExitStatus> status) {
      if (auto r = weak.lock()) r->onExit(status);
    }, reaper_);
  } catch (const std::exception& e) {
    killAndReap(launched->pid);
    return fail(e.what());
  }
  // From here the Child owns the process: a failure below is reported as the command's, after its SIGKILL.
  try {
    capture(io_, std::move(out->first), [weak](std::string_view bytes) {
      if (auto r = weak.lock()) r->append(bytes);
    }, [weak] {
      if (auto r = weak.lock()) r->onOutputEnd();
    });
    if (in) feed(io_, std::move(in->second), std::move(request.input));
  } catch (const std::exception&) {
    run->outputEnded = true;  // its pipe is closed: nothing to wait for but the exit
    run->child->signal(SIGKILL, true);
  }
  run->deadline = makeTimer([weak] {
    if (auto r = weak.lock()) r->onDeadline();
  });
  run->deadline->arm(request.timeout);
  return std::make_unique<RunningCommand>(std::move(run));
}

}  // namespace taskmaster::inline v0::detail
