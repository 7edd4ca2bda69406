#include <taskmaster/program_spec.hpp>

#include <csignal>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <functional>
#include <limits>
#include <regex>
#include <ranges>
#include <tuple>
#include <utility>

#include <fmt/format.h>

#include <taskmaster/config.hpp>
#include <taskmaster/util.hpp>

#include "events/event.hpp"
#include "util/text.hpp"

namespace taskmaster::inline v0 {

namespace {

using namespace std::chrono_literals;
using detail::isSharedSink;

constexpr int kMaxNumprocs = 10000;  // each instance holds a pidfd in the supervisor and a pid; more is a typo
constexpr Duration kMaxDuration = 24h;  // keeps deadlines far from overflow; longer waits are typos
constexpr double kMaxFactor = 100.0;
// Rotated files kept: far more than anyone keeps by hand, and bounded so that one rotation (a rename per
// backup, on the loop) stays cheap.
constexpr int kMaxBackups = 1000;
// The in-memory tail is kept per stream and per instance: 10,000 instances at 64MB would already be far more
// memory than a supervisor should hold, so more is a typo ("1GB"). Below 1 byte `tail` would show nothing
// at all, and it is meant to work for every program, even one whose output is discarded.
constexpr std::uint64_t kMaxTailBytes = 64ull << 20;

#ifdef SIGRTMAX
int maxSignal() { return SIGRTMAX; }  // a function call in glibc, not a constant
#else
int maxSignal() { return NSIG - 1; }
#endif

struct SignalName {
  std::string_view name;
  int number;
};

// The first entry for a number is the one signalName() prints; later ones are accepted aliases.
constexpr auto kSignals = std::to_array<SignalName>({
    {"HUP", SIGHUP},       {"INT", SIGINT},       {"QUIT", SIGQUIT},     {"ILL", SIGILL},
    {"TRAP", SIGTRAP},     {"ABRT", SIGABRT},     {"IOT", SIGABRT},      {"BUS", SIGBUS},
    {"FPE", SIGFPE},       {"KILL", SIGKILL},     {"USR1", SIGUSR1},     {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2},     {"PIPE", SIGPIPE},     {"ALRM", SIGALRM},     {"TERM", SIGTERM},
#ifdef SIGSTKFLT
    {"STKFLT", SIGSTKFLT},
#endif
    {"CHLD", SIGCHLD},     {"CLD", SIGCHLD},      {"CONT", SIGCONT},     {"STOP", SIGSTOP},
    {"TSTP", SIGTSTP},     {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU},     {"URG", SIGURG},
    {"XCPU", SIGXCPU},     {"XFSZ", SIGXFSZ},     {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
    {"WINCH", SIGWINCH},   {"IO", SIGIO},
#ifdef SIGPOLL
    {"POLL", SIGPOLL},
#endif
#ifdef SIGPWR
    {"PWR", SIGPWR},
#endif
    {"SYS", SIGSYS},
});

// After a backslash inside double quotes, only these lose their meaning; other backslashes stay literal.
constexpr std::string_view kDoubleQuoteEscapes = "$`\"\\\n";

bool isBlank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// A whole-string non-negative decimal number; nullopt on anything else, including overflow.
std::optional<std::uint64_t> parseUnsigned(std::string_view text) {
  std::uint64_t value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

// Instance names are "name:index", and names are typed as single words in commands.
bool isNameBreaker(unsigned char c) { return c == ':' || std::isspace(c) || std::iscntrl(c); }

struct Unit {
  std::string_view suffix;
  std::int64_t ms;
};

// "ms" before "m" and "s", which it ends with.
constexpr std::array<Unit, 4> kUnits{{{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}}};

bool hasNul(std::string_view text) { return text.find('\0') != std::string_view::npos; }

struct SizeUnit {
  std::string_view suffix;
  std::uint64_t bytes;
};

// Two-letter suffixes before "B", which they end with; KB is 1024 bytes, as supervisord has it.
constexpr std::array<SizeUnit, 4> kSizeUnits{{{"GB", 1ull << 30}, {"MB", 1ull << 20}, {"KB", 1ull << 10}, {"B", 1}}};

constexpr std::array<std::string_view, 3> kPlaceholders{"program", "instance", "index"};

// How each resource's limit is written: a count, seconds, or a size in bytes.
enum class LimitUnit { count, seconds, bytes };

struct ResourceName {
  Resource resource;
  std::string_view name;
  LimitUnit unit;
};

constexpr auto kResources = std::to_array<ResourceName>({
    {Resource::nofile, "nofile", LimitUnit::count},
    {Resource::nproc, "nproc", LimitUnit::count},
    {Resource::core, "core", LimitUnit::bytes},
    {Resource::as, "as", LimitUnit::bytes},
    {Resource::memlock, "memlock", LimitUnit::bytes},
    {Resource::cpu, "cpu", LimitUnit::seconds},
    {Resource::fsize, "fsize", LimitUnit::bytes},
    {Resource::stack, "stack", LimitUnit::bytes},
});
static_assert(kResources.size() == kResourceCount);

const ResourceName& entryOf(Resource resource) { return kResources[static_cast<std::size_t>(resource)]; }

bool isPlaceholderChar(unsigned char c) { return std::isalnum(c) || c == '_'; }

// Calls `found(start, length, name)` for each "{name}" in `path`, name made of letters, digits and '_'; any
// other brace is a literal character.
template <class Found>
void forEachPlaceholder(std::string_view path, Found found) {
  for (std::size_t open = path.find('{'); open != std::string_view::npos; open = path.find('{', open + 1)) {
    std::size_t close = open + 1;
    while (close < path.size() && isPlaceholderChar(static_cast<unsigned char>(path[close]))) ++close;
    if (close == open + 1 || close == path.size() || path[close] != '}') continue;
    found(open, close + 1 - open, path.substr(open + 1, close - open - 1));
  }
}

// The file instance `index` writes `stream` to when taskmaster rotates it; nullopt when it has none, when it
// is not rotated, or when the stream goes into stdout's file (redirect_stderr).
std::optional<std::string> rotatedFile(const ProgramSpec& spec, StdStream stream, int index) {
  if (stream == StdStream::err && spec.oneStream()) return std::nullopt;
  const auto& rotation = stream == StdStream::out ? spec.stdoutRotation : spec.stderrRotation;
  auto path = spec.outputPath(stream, index);
  if (!path || rotation.maxBytes == 0 || isSharedSink(*path)) return std::nullopt;
  return path;
}

}  // namespace

std::string_view to_string(StdStream stream) noexcept {
  switch (stream) {
    case StdStream::out: return "stdout";
    case StdStream::err: return "stderr";
  }
  return "unknown";
}

std::optional<std::string> ProgramSpec::outputPath(StdStream stream, int index) const {
  if (stream == StdStream::err && oneStream()) stream = StdStream::out;
  const auto& path = stream == StdStream::out ? stdoutPath : stderrPath;
  if (!path) return std::nullopt;
  std::string expanded;
  std::size_t done = 0;
  forEachPlaceholder(*path, [&](std::size_t start, std::size_t length, std::string_view name) {
    std::string value;
    if (name == "program") {
      value = this->name;
    } else if (name == "instance") {
      value = instanceName(index);
    } else if (name == "index") {
      value = std::to_string(index);
    } else {
      return;  // unknown: left as written (validate() reports it)
    }
    expanded.append(*path, done, start - done);
    expanded += value;
    done = start + length;
  });
  expanded.append(*path, done);
  return expanded;
}

namespace {

// An event listener (docs/events.md): known event types, a buffer, and its stdin and stdout as supervisord's
// protocol needs them: two pipes of their own.
void validateListener(const ProgramSpec& spec, const std::function<void(std::string)>& problem) {
  if (spec.bufferSize < 1) problem(fmt::format("buffer_size: must be at least 1, got {}", spec.bufferSize));
  for (const auto& type : spec.events) {
    if (events::detail::eventMask(type)) continue;
    std::string message = fmt::format("events: '{}' is not an event type", escapeControl(type));
    if (auto guess = suggest(type, events::detail::eventTypeNames()))
      message += fmt::format(" (did you mean '{}'?)", *guess);
    problem(std::move(message));
  }
  if (spec.events.empty()) {
    if (spec.bufferSize != 10) problem("buffer_size: only an event listener (a program with events) has a buffer");
    return;
  }
  if (spec.tty) problem("tty: an event listener speaks supervisord's protocol on pipes: it cannot have a terminal");
  if (spec.redirectStderr)
    problem("redirect_stderr: an event listener's stdout is its protocol: its stderr must stay apart");
  if (!spec.stdin) problem("stdin: an event listener reads its events on stdin: it must not be false");
}

// "HOST:PORT" with a port of 1-65535.
bool isHostPort(std::string_view target) {
  const auto colon = target.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  const auto port = target.substr(colon + 1);
  int number = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  return ec == std::errc{} && ptr == port.data() + port.size() && number >= 1 && number <= 65535;
}

// The target of an exec, tcp or http probe of `key` ("ready", "healthcheck").
void validateTarget(std::string_view key, std::string_view kind, const std::string& target,
                    const std::function<void(std::string)>& problem) {
  if (target.empty()) return problem(fmt::format("{}: {}: must not be empty", key, kind));
  if (kind == "tcp" && !isHostPort(target))
    problem(fmt::format("{}: tcp: expected HOST:PORT with a port of 1-65535, got '{}'", key, target));
  if (kind == "http" && !target.starts_with("http://") && !target.starts_with("https://"))
    problem(fmt::format("{}: http: expected a URL starting with http:// or https://, got '{}'", key, target));
}

void validateDuration(std::string_view key, Duration value, Duration least,
                      const std::function<void(std::string)>& problem) {
  if (value < least || value > kMaxDuration)
    problem(fmt::format("{}: must be between {} and {}, got {}", key, formatDuration(least),
                        formatDuration(kMaxDuration), formatDuration(value)));
}

void validateChecks(const ProgramSpec& spec, const std::function<void(std::string)>& problem) {
  constexpr Duration kLeast = std::chrono::milliseconds(1);
  if (const auto& r = spec.ready) {
    validateDuration("ready: timeout", r->timeout, kLeast, problem);
    validateDuration("ready: interval", r->interval, kLeast, problem);
    switch (r->kind) {
      case Readiness::Kind::notify: break;
      case Readiness::Kind::fd:
        if (r->fd < 3 || r->fd > 1023) problem(fmt::format("ready: fd: must be between 3 and 1023, got {}", r->fd));
        break;
      case Readiness::Kind::log:
        if (r->target.empty()) problem("ready: log: must not be empty");
        try {
          std::regex check(r->target, std::regex::ECMAScript);
        } catch (const std::regex_error& e) {
          problem(fmt::format("ready: log: '{}' is not a valid regular expression: {}", r->target, e.what()));
        }
        break;
      case Readiness::Kind::exec: validateTarget("ready", "exec", r->target, problem); break;
      case Readiness::Kind::tcp: validateTarget("ready", "tcp", r->target, problem); break;
      case Readiness::Kind::http: validateTarget("ready", "http", r->target, problem); break;
    }
  }
  if (const auto& h = spec.healthcheck) {
    const std::string_view kind = h->kind == HealthCheck::Kind::exec  ? "exec"
                                  : h->kind == HealthCheck::Kind::tcp ? "tcp"
                                                                      : "http";
    validateTarget("healthcheck", kind, h->target, problem);
    validateDuration("healthcheck: interval", h->interval, kLeast, problem);
    validateDuration("healthcheck: timeout", h->timeout, kLeast, problem);
    validateDuration("healthcheck: start_period", h->startPeriod, Duration::zero(), problem);
    if (h->retries < 1) problem(fmt::format("healthcheck: retries: must be at least 1, got {}", h->retries));
  }
}

}  // namespace

std::vector<std::string> ProgramSpec::validate() const {
  std::vector<std::string> problems;
  auto problem = [&](std::string message) { problems.push_back(std::move(message)); };

  const auto colon = name.find(':');
  const std::string_view process = colon == std::string::npos ? std::string_view(name) : std::string_view(name).substr(colon + 1);
  if (name.empty()) {
    problem("name: must not be empty");
  } else if (std::ranges::any_of(group(), isNameBreaker) || std::ranges::any_of(process, isNameBreaker)) {
    problem(fmt::format("name: '{}' must not contain whitespace or control characters, nor ':' but once "
                        "(GROUP:PROCESS)",
                        escapeControl(name)));
  } else if (group().empty() || process.empty()) {
    problem(fmt::format("name: '{}' must be NAME or GROUP:PROCESS", name));
  } else if (group() == "all") {
    problem("name: 'all' is reserved (it means every program in commands)");
  } else if (colon != std::string::npos && numprocs > 1) {
    problem(fmt::format("numprocs: a program in a group ('{}') runs one instance; give each its own name", name));
  }

  if (cmd.empty()) {
    problem("cmd: must not be empty");
  } else if (cmd.front().empty()) {
    problem("cmd: the program to run must not be empty");
  }
  // execve() takes C strings: a NUL would silently cut the argument short.
  if (std::ranges::any_of(cmd, hasNul)) problem("cmd: must not contain NUL characters");

  if (numprocs < 1 || numprocs > kMaxNumprocs) {
    problem(fmt::format("numprocs: must be between 1 and {}, got {}", kMaxNumprocs, numprocs));
  }
  for (int code : exitcodes) {
    if (code < 0 || code > 255) problem(fmt::format("exitcodes: {} is not an exit code (0-255)", code));
  }
  if (startretries < 0) problem(fmt::format("startretries: must not be negative, got {}", startretries));

  if (restartBurst < 0) problem(fmt::format("restart_burst: must not be negative, got {}", restartBurst));
  // Below 1 the delay would shrink while the process keeps crashing; above kMaxFactor it is a typo.
  if (!(restartDelayFactor >= 1.0 && restartDelayFactor <= kMaxFactor)) {
    problem(fmt::format("restart_delay_factor: must be between 1 and {}, got {}", kMaxFactor, restartDelayFactor));
  }
  if (restartDelay > restartDelayMax) {
    problem(fmt::format("restart_delay: must not exceed restart_delay_max ({}), got {}",
                        formatDuration(restartDelayMax), formatDuration(restartDelay)));
  }

  for (auto [key, value] : {std::pair{"starttime", starttime}, std::pair{"stoptime", stoptime},
                            std::pair{"restart_delay", restartDelay}, std::pair{"restart_delay_max", restartDelayMax},
                            std::pair{"restart_reset_after", restartResetAfter}, std::pair{"fatal_retry", fatalRetry}}) {
    if (value < Duration::zero() || value > kMaxDuration) {
      problem(fmt::format("{}: must be between 0 and {}, got {}", key, formatDuration(kMaxDuration),
                          formatDuration(value)));
    }
  }
  if (stopsignal < 1 || stopsignal > maxSignal()) {
    problem(fmt::format("stopsignal: must be between 1 and {}, got {}", maxSignal(), stopsignal));
  }
  if (umask > 0777) problem(fmt::format("umask: must be at most 0777, got {:#o}", umask));

  for (const auto& [key, value] : env) {
    if (key.empty()) {
      problem("env: variable name must not be empty");
    } else if (key.find('=') != std::string::npos) {
      problem(fmt::format("env: variable name '{}' must not contain '='", key));
    }
    if (hasNul(key) || hasNul(value)) problem(fmt::format("env: '{}' must not contain NUL characters", key));
  }

  for (auto [key, value] : {std::pair{"stdout", &stdoutPath}, std::pair{"stderr", &stderrPath},
                            std::pair{"workingdir", &workingdir}, std::pair{"user", &user}}) {
    if (!*value) continue;
    if (value->value().empty()) problem(fmt::format("{}: must not be empty", key));
    if (hasNul(**value)) problem(fmt::format("{}: must not contain NUL characters", key));
  }

  for (auto stream : {StdStream::out, StdStream::err}) {
    const auto key = to_string(stream);
    const auto& path = stream == StdStream::out ? stdoutPath : stderrPath;
    const auto& rotation = stream == StdStream::out ? stdoutRotation : stderrRotation;
    if (rotation.backups < 0 || rotation.backups > kMaxBackups) {
      problem(fmt::format("{}_backups: must be between 0 and {}, got {}", key, kMaxBackups, rotation.backups));
    }
    if (!path) continue;
    // An unknown placeholder is left as written by outputPath(); a file named "{idx}" is surely a typo.
    forEachPlaceholder(*path, [&](std::size_t, std::size_t, std::string_view placeholder) {
      if (std::ranges::find(kPlaceholders, placeholder) != kPlaceholders.end()) return;
      problem(fmt::format("{}: unknown placeholder {{{}}} (known: {{program}}, {{instance}}, {{index}})", key,
                          placeholder));
    });
    // Instances rotating one file would each rename it under the others' feet.
    auto file = rotatedFile(*this, stream, 0);
    if (file && numprocs > 1 && numprocs <= kMaxNumprocs && rotatedFile(*this, stream, 1) == file) {
      problem(fmt::format("{}: the {} instances of '{}' would share one rotated file: put {{index}} or {{instance}} "
                          "in its name (or set {}_maxbytes: 0 to append without rotating)",
                          key, numprocs, name, key));
    }
  }
  // A terminal is one stream: what the program writes to its stderr comes through the terminal, as stdout.
  // A stderr file would stay empty, so it is refused; redirect_stderr says what happens anyway.
  if (tty && stderrPath) {
    problem("stderr: a program with tty: true has one output stream, its terminal, which goes to stdout's file: "
            "remove stderr");
  }
  // Two pipes into one rotated file: each OutputLog would rotate it on its own, and the lines of the two
  // streams would interleave in no defined order. redirect_stderr gives one pipe, in the program's order.
  if (auto out = outputPath(StdStream::out, 0);
      !oneStream() && out && out == outputPath(StdStream::err, 0) &&
      (rotatedFile(*this, StdStream::out, 0) || rotatedFile(*this, StdStream::err, 0))) {
    problem(fmt::format("stderr: stdout and stderr name the same rotated file '{}': set redirect_stderr: true "
                        "to send stderr into stdout's file",
                        *out));
  }

  for (const auto& [resource, limit] : limits) {
    if (limit.soft > limit.hard) {
      problem(fmt::format("limits: {}: the soft limit ({}) is above the hard limit ({})", to_string(resource),
                          formatLimit(resource, limit.soft), formatLimit(resource, limit.hard)));
    }
  }

  validateListener(*this, problem);

  if (tailBytes < 1 || tailBytes > kMaxTailBytes) {
    problem(fmt::format("tail_bytes: must be between 1 and {}, got {}", formatSize(kMaxTailBytes),
                        formatSize(tailBytes)));
  }
  validateChecks(*this, problem);
  return problems;
}

bool ProgramSpec::sameProcessAs(const ProgramSpec& other) const {
  // Only what is fixed at exec time; the rest (numprocs, restart policy and crash-loop backoff, timings,
  // signals) applies live, and so do a listener's event types and buffer (becoming or ceasing to be a listener
  // needs a new process, which starts the protocol from its beginning). So does the output: taskmaster reads
  // the pipes and writes the files itself, and re-points an instance's OutputLog on reload (docs/output.md).
  // redirect_stderr is the exception: it decides whether the child's fd 2 is the stdout pipe or a pipe of its
  // own. Limits are set before exec. `ready` and `healthcheck` are not: NOTIFY_SOCKET and a notification fd are
  // handed over at exec, but a changed `ready` waits for the next start rather than restarting a process that
  // is up, and health checks restart live.
  return cmd == other.cmd && env == other.env && workingdir == other.workingdir && umask == other.umask &&
         user == other.user && redirectStderr == other.redirectStderr && limits == other.limits && tty == other.tty &&
         stdin == other.stdin && events.empty() == other.events.empty();
}

std::string_view ProgramSpec::group() const { return std::string_view(name).substr(0, name.find(':')); }

std::string ProgramSpec::instanceName(int index) const {
  if (numprocs == 1) return name;
  return fmt::format("{}:{}", name, index);
}

std::optional<std::vector<std::string>> splitCommand(std::string_view line) {
  std::vector<std::string> words;
  std::string word;
  bool inWord = false;  // set by any character or quote, so "" makes an empty word

  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (isBlank(c)) {
      if (inWord) words.push_back(std::exchange(word, {}));
      inWord = false;
    } else if (c == '\\') {
      if (++i == line.size()) return std::nullopt;
      if (line[i] != '\n') {  // backslash-newline continues the line
        word += line[i];
        inWord = true;
      }
    } else if (c == '\'') {
      auto close = line.find('\'', i + 1);
      if (close == std::string_view::npos) return std::nullopt;
      word += line.substr(i + 1, close - i - 1);
      inWord = true;
      i = close;
    } else if (c == '"') {
      inWord = true;
      for (++i;; ++i) {
        if (i == line.size()) return std::nullopt;
        if (line[i] == '"') break;
        if (line[i] == '\\' && i + 1 < line.size() && kDoubleQuoteEscapes.find(line[i + 1]) != std::string_view::npos) {
          if (line[++i] != '\n') word += line[i];
        } else {
          word += line[i];
        }
      }
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push_back(std::move(word));
  return words;
}

std::optional<Duration> parseDuration(std::string_view text) {
  using Ms = Duration::rep;
  Ms unit = 1000;
  for (auto [suffix, ms] : kUnits) {
    if (text.ends_with(suffix)) {
      text.remove_suffix(suffix.size());
      unit = ms;
      break;
    }
  }
  auto dot = text.find('.');
  auto whole = parseUnsigned(text.substr(0, dot));
  if (!whole || *whole > static_cast<std::uint64_t>(std::numeric_limits<Ms>::max() / unit)) return std::nullopt;
  Ms total = static_cast<Ms>(*whole) * unit;

  if (dot != std::string_view::npos) {
    // Fractions below a millisecond are dropped; only the first 9 digits can matter for any unit.
    auto digits = text.substr(dot + 1, 9);
    auto fraction = parseUnsigned(digits);
    if (!fraction || text.substr(dot + 1).find_first_not_of("0123456789") != std::string_view::npos) {
      return std::nullopt;
    }
    Ms scale = 1;
    for (std::size_t i = 0; i < digits.size(); ++i) scale *= 10;
    Ms extra = static_cast<Ms>(*fraction) * unit / scale;
    if (total > std::numeric_limits<Ms>::max() - extra) return std::nullopt;
    total += extra;
  }
  return Duration(total);
}

std::optional<std::uint64_t> parseSize(std::string_view text) {
  std::uint64_t unit = 1;
  const std::string upper = detail::toUpper(text);
  for (auto [suffix, bytes] : kSizeUnits) {
    if (std::string_view(upper).ends_with(suffix)) {
      text.remove_suffix(suffix.size());
      unit = bytes;
      break;
    }
  }
  auto number = parseUnsigned(text);  // no sign, no space, no fraction
  if (!number || *number > std::numeric_limits<std::uint64_t>::max() / unit) return std::nullopt;
  return *number * unit;
}

std::string formatSize(std::uint64_t bytes) {
  for (auto [suffix, unit] : kSizeUnits) {
    if (unit > 1 && bytes != 0 && bytes % unit == 0) return fmt::format("{}{}", bytes / unit, suffix);
  }
  return std::to_string(bytes);
}

std::optional<int> parseSignal(std::string_view text) {
  if (auto number = parseUnsigned(text)) {
    if (*number < 1 || *number > static_cast<std::uint64_t>(maxSignal())) return std::nullopt;
    return static_cast<int>(*number);
  }
  std::string name = detail::toUpper(text);
  if (name.starts_with("SIG")) name.erase(0, 3);
  for (const auto& signal : kSignals) {
    if (signal.name == name) return signal.number;
  }
#ifdef SIGRTMIN
  // RTMIN, RTMIN+n, RTMAX and RTMAX-n, as kill -l prints them.
  std::string_view rest = name;
  for (auto [prefix, base, sign] : {std::tuple{"RTMIN", SIGRTMIN, 1}, std::tuple{"RTMAX", SIGRTMAX, -1}}) {
    if (!rest.starts_with(prefix)) continue;
    rest.remove_prefix(std::string_view(prefix).size());
    if (rest.empty()) return base;
    if (rest.front() != (sign > 0 ? '+' : '-')) return std::nullopt;
    auto offset = parseUnsigned(rest.substr(1));
    if (!offset || *offset > static_cast<std::uint64_t>(SIGRTMAX - SIGRTMIN)) return std::nullopt;
    return base + sign * static_cast<int>(*offset);
  }
#endif
  return std::nullopt;
}

std::string signalName(int signal) {
  for (const auto& entry : kSignals) {
    if (entry.number == signal) return std::string(entry.name);
  }
#ifdef SIGRTMIN
  if (signal == SIGRTMIN) return "RTMIN";
  if (signal == SIGRTMAX) return "RTMAX";
  if (signal > SIGRTMIN && signal < SIGRTMAX) return fmt::format("RTMIN+{}", signal - SIGRTMIN);
#endif
  return std::to_string(signal);
}

std::string_view to_string(AutoRestart policy) noexcept {
  switch (policy) {
    case AutoRestart::never: return "never";
    case AutoRestart::unexpected: return "unexpected";
    case AutoRestart::always: return "always";
  }
  return "unknown";
}

std::string_view to_string(Condition condition) noexcept {
  switch (condition) {
    case Condition::started: return "started";
    case Condition::running: return "running";
    case Condition::healthy: return "healthy";
    case Condition::completed: return "completed";
    case Condition::completedSuccessfully: return "completed_successfully";
  }
  return "unknown";
}

std::optional<Condition> parseCondition(std::string_view text) {
  for (auto c : {Condition::started, Condition::running, Condition::healthy, Condition::completed,
                 Condition::completedSuccessfully}) {
    if (text == to_string(c)) return c;
  }
  return std::nullopt;
}

std::string_view to_string(Resource resource) noexcept {
  const auto index = static_cast<std::size_t>(resource);
  return index < kResources.size() ? kResources[index].name : "unknown";
}

std::optional<Resource> parseResource(std::string_view name) {
  for (const auto& entry : kResources) {
    if (entry.name == name) return entry.resource;
  }
  return std::nullopt;
}

std::optional<std::uint64_t> parseLimit(Resource resource, std::string_view text) {
  if (detail::toLower(text) == "unlimited") return kUnlimited;
  std::optional<std::uint64_t> value;
  switch (entryOf(resource).unit) {
    case LimitUnit::count: value = parseUnsigned(text); break;
    case LimitUnit::bytes: value = parseSize(text); break;
    case LimitUnit::seconds:
      // A duration in whole seconds: "3600", "90s", "1h".
      if (auto duration = parseDuration(text); duration && duration->count() % 1000 == 0) {
        value = static_cast<std::uint64_t>(duration->count() / 1000);
      }
      break;
  }
  if (value == kUnlimited) return std::nullopt;  // that is RLIM_INFINITY: to be said as "unlimited"
  return value;
}

std::string formatLimit(Resource resource, std::uint64_t value) {
  if (value == kUnlimited) return "unlimited";
  return entryOf(resource).unit == LimitUnit::bytes ? formatSize(value) : std::to_string(value);
}

}  // namespace taskmaster::inline v0
