#include "logging/instance_output.hpp"

#include <unistd.h>

#include <optional>
#include <utility>

namespace taskmaster::inline v0::detail {
namespace {

// A forwarded line longer than this is passed on in pieces, each a line of its own, so that a program that
// never writes a newline cannot make taskmaster hold its output without bound.
constexpr std::size_t kMaxForwardedLine = 16 * 1024;

std::optional<StdStream> forwardTarget(std::string_view path) {
  if (path == "/dev/stdout") return StdStream::out;
  if (path == "/dev/stderr") return StdStream::err;
  return std::nullopt;
}

}  // namespace

struct InstanceOutput::Stream {
  Stream(std::string name, ForwardHolder forward)
      : instance(std::move(name)), prefix(instance + " | "), forward(std::move(forward)) {}

  void rename(std::string name) {
    instance = std::move(name);
    prefix = instance + " | ";
  }

  void feed(std::string_view bytes) {
    log->append(bytes);
    if (forwardTo) forwardLines(bytes);
    if (watcher) watchLines(bytes);
  }

  // Complete lines to the watcher, each without its newline; one longer than kMaxWatchedLine is dropped
  // whole, so a program that never writes a newline costs a bounded buffer.
  void watchLines(std::string_view bytes) {
    while (!bytes.empty()) {
      const auto newline = bytes.find('\n');
      const auto piece = bytes.substr(0, newline);
      if (!overlong && watched.size() + piece.size() <= kMaxWatchedLine) {
        watched.append(piece);
      } else {
        overlong = true;
        watched.clear();
      }
      if (newline == std::string_view::npos) return;
      bytes.remove_prefix(newline + 1);
      if (!overlong && watcher) {
        auto onLine = watcher;  // it may unwatch from inside
        onLine(watched);
      }
      watched.clear();
      overlong = false;
    }
  }

  // Whole lines only, each with the prefix: a line arriving in pieces is held until its end, so lines of
  // different programs never mix within a line.
  void forwardLines(std::string_view bytes) {
    std::string out;
    while (!bytes.empty()) {
      const auto newline = bytes.find('\n');
      const std::size_t take = newline == std::string_view::npos ? bytes.size() : newline + 1;
      if (partial.size() + take > kMaxForwardedLine && newline == std::string_view::npos) {
        const std::size_t fits = kMaxForwardedLine - partial.size();
        partial.append(bytes.substr(0, fits));
        bytes.remove_prefix(fits);
        endLine(out);
        continue;
      }
      partial.append(bytes.substr(0, take));
      bytes.remove_prefix(take);
      if (newline != std::string_view::npos) endLine(out);
    }
    if (!out.empty() && *forward) (*forward)(*forwardTo, out);
  }

  void endLine(std::string& out) {
    out.append(prefix).append(partial);
    if (out.back() != '\n') out.push_back('\n');
    partial.clear();
  }

  // The pipe ended: a last line without its newline is passed on all the same, and a file that no pipe
  // feeds any more is closed (an instance that is down holds no fd; the next spawn opens it again).
  void end() {
    if (--pipes == 0) close();
    if (!forwardTo || partial.empty()) return;
    std::string out;
    endLine(out);
    if (*forward) (*forward)(*forwardTo, out);
  }

  void close() {
    if (pipes == 0 && !log->path().empty()) (void)log->setFile({});
  }

  [[nodiscard]] std::string open() {
    if (path == log->path()) return {};
    auto opened = log->setFile(path, rotation);
    error = opened.ok() ? std::string() : opened.error().str();
    return error;
  }

  std::string instance;
  std::string prefix;  // "web:1 | "
  ForwardHolder forward;
  std::shared_ptr<OutputLog> log = std::make_shared<OutputLog>();
  std::string path;  // the file wanted; empty: none. Not log->path() while it cannot be opened
  Rotation rotation;
  std::optional<StdStream> forwardTo;
  std::string partial;  // a forwarded line whose end has not come yet
  std::function<void(std::string_view)> watcher;  // watchLines()
  std::string watched;  // a watched line whose end has not come yet
  bool overlong = false;
  int pipes = 0;        // pipes being read into it
  std::string error;    // why `path` is not open
};

InstanceOutput::InstanceOutput(std::string instance, ForwardHolder forward) {
  if (!forward) forward = std::make_shared<ForwardSink>();  // nowhere to forward to
  streams_[0] = std::make_shared<Stream>(instance, forward);
  streams_[1] = std::make_shared<Stream>(std::move(instance), std::move(forward));
}

const std::shared_ptr<InstanceOutput::Stream>& InstanceOutput::stream(StdStream which) const {
  return streams_[which == StdStream::out ? 0 : 1];
}

std::string InstanceOutput::configure(const ProgramSpec& spec, int index) {
  for (const auto& s : streams_) s->rename(spec.instanceName(index));  // numprocs 1 -> 2 renames "web" "web:0"
  if (spec.oneStream() != redirected_) {
    redirected_ = spec.oneStream();
    streams_[1] = redirected_ ? streams_[0] : std::make_shared<Stream>(streams_[0]->instance, streams_[0]->forward);
  }
  std::string errors;
  for (StdStream which : {StdStream::out, StdStream::err}) {
    if (which == StdStream::err && redirected_) break;
    Stream& s = *stream(which);
    const auto wanted = spec.outputPath(which, index);
    s.forwardTo = wanted ? forwardTarget(*wanted) : std::nullopt;
    s.path = wanted && !s.forwardTo ? *wanted : std::string();
    s.rotation = which == StdStream::out ? spec.stdoutRotation : spec.stderrRotation;
    s.log->setRotation(s.rotation);
    s.log->setTailBytes(spec.tailBytes);
    if (s.log->path().empty() && s.pipes == 0) continue;  // down: the next spawn opens it (a file costs an fd)
    if (auto error = s.open(); !error.empty()) errors += (errors.empty() ? "" : "; ") + error;
  }
  return errors;
}

std::string InstanceOutput::prepare() {
  std::string error = streams_[0]->open();
  if (error.empty() && !redirected_) error = streams_[1]->open();
  return error;
}

std::shared_ptr<OutputLog> InstanceOutput::log(StdStream which) const { return stream(which)->log; }

InstanceOutput::Reader InstanceOutput::reader(StdStream which) const {
  const auto& s = stream(which);
  ++s->pipes;
  return {[s](std::string_view bytes) { s->feed(bytes); }, [s] { s->end(); }};
}

void InstanceOutput::watchLines(std::function<void(std::string_view)> onLine) {
  for (const auto& s : streams_) {
    s->watcher = onLine;
    s->watched.clear();
    s->overlong = false;
  }
}

void InstanceOutput::unwatchLines() {
  for (const auto& s : streams_) s->watcher = {};
}

void InstanceOutput::release() {
  streams_[0]->close();
  streams_[1]->close();
}

void InstanceOutput::clear() {
  for (const auto& s : streams_) {
    s->log->clear();
    // Down, the instance holds no file: truncated by name. Not there at all is as clear as it gets.
    if (s->log->path().empty() && !s->path.empty()) {
      [[maybe_unused]] const int failed = ::truncate(s->path.c_str(), 0);
    }
    if (redirected_) break;
  }
}

std::string InstanceOutput::reopen() {
  std::string errors;
  for (const auto& s : streams_) {
    if (s->path.empty() || s->path != s->log->path()) continue;  // none, or not open: prepare() opens it
    if (auto done = s->log->reopen(); !done.ok()) errors += (errors.empty() ? "" : "; ") + done.error().str();
    if (redirected_) break;
  }
  return errors;
}

}  // namespace taskmaster::inline v0::detail
