// Internal: an instance's stdout and stderr as its spec says: an OutputLog each (one with redirect_stderr),
// fed by the pipes of its processes one after the other, so output is kept across restarts; lines of a
// forwarded stream go to the supervisor's ForwardSink as well, prefixed with the instance's name.
#pragma once

#include "private.hpp"

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <taskmaster/output.hpp>
#include <taskmaster/program_spec.hpp>
#include <taskmaster/supervisor.hpp>

namespace taskmaster::inline v0::detail {

// The supervisor's ForwardSink, replaceable at any time (Supervisor::setForwardSink): every instance holds
// the one holder.
using ForwardHolder = std::shared_ptr<ForwardSink>;

inline constexpr std::size_t kMaxWatchedLine = 4096;

class InstanceOutput {
 public:
  InstanceOutput(std::string instance, ForwardHolder forward);
  InstanceOutput(const InstanceOutput&) = delete;
  InstanceOutput& operator=(const InstanceOutput&) = delete;

  // Applies the output options of `spec` for instance `index`: files, rotation, memory, forwarding. A file
  // is opened by the first spawn (prepare()); an open one whose path changed is replaced now, and when the
  // new one cannot be opened the message says why ("cannot open ...: ...") and the next spawn tries again.
  [[nodiscard]] std::string configure(const ProgramSpec& spec, int index);
  // Before each spawn: opens the files not open yet. Empty when ready, else why the spawn cannot happen.
  [[nodiscard]] std::string prepare();

  [[nodiscard]] bool redirected() const { return redirected_; }
  [[nodiscard]] std::shared_ptr<OutputLog> log(StdStream stream) const;

  // What a pipe of `stream` feeds: every chunk read from it, then its end (once). They hold what they need,
  // so a pipe may outlive the instance (a process still draining after a reload removed it). The file stays
  // open while a pipe is being read into it.
  struct Reader {
    std::function<void(std::string_view)> onData;
    std::function<void()> onEnd;
  };
  [[nodiscard]] Reader reader(StdStream stream) const;
  // Until unwatchLines(), every complete line of stdout and stderr (without its newline) goes to onLine as
  // well: `ready: {log: REGEX}`. A line longer than kMaxWatchedLine is not passed on.
  void watchLines(std::function<void(std::string_view)> onLine);
  void unwatchLines();

  // A spawn failed after prepare(): files that no pipe feeds are closed.
  void release();

  void clear();
  // Opens the files again by name (logrotate moved them). The messages of those that failed.
  [[nodiscard]] std::string reopen();

 private:
  struct Stream;
  [[nodiscard]] const std::shared_ptr<Stream>& stream(StdStream which) const;

  std::array<std::shared_ptr<Stream>, 2> streams_;
  bool redirected_ = false;
};

}  // namespace taskmaster::inline v0::detail
