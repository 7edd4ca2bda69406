// ProgramSpec: what to run and how to supervise it. A plain value with the seed's defaults.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace taskmaster::inline v0 {

using Duration = std::chrono::milliseconds;

enum class AutoRestart { never, unexpected, always };

enum class StdStream { out, err };
[[nodiscard]] std::string_view to_string(StdStream stream) noexcept;  // "stdout", "stderr"

inline constexpr std::uint64_t kDefaultMaxBytes = 50ull * 1024 * 1024;  // supervisord's 50MB
inline constexpr int kDefaultBackups = 10;
inline constexpr std::size_t kDefaultTailBytes = 64 * 1024;

// When an output file rotates: once writing would take it past maxBytes (0: never), it becomes FILE.1,
// FILE.1 becomes FILE.2 ... up to FILE.<backups>, and writing goes on in a new FILE. With no backups the file
// is truncated instead.
struct Rotation {
  std::uint64_t maxBytes = kDefaultMaxBytes;
  int backups = kDefaultBackups;
  bool operator==(const Rotation&) const = default;
};

// `startretries: infinite`: a failed start is retried forever, never FATAL.
inline constexpr int kInfiniteRetries = std::numeric_limits<int>::max();

// The resource limits (setrlimit(2)) a program can be given: open files, processes, core file size, address
// space, locked memory, CPU time, file size, stack size.
enum class Resource { nofile, nproc, core, as, memlock, cpu, fsize, stack };
inline constexpr int kResourceCount = 8;

// RLIM_INFINITY: no limit.
inline constexpr std::uint64_t kUnlimited = std::numeric_limits<std::uint64_t>::max();

// One resource limit, set in the child before exec: soft is what the program gets, hard how far it may raise
// it. Counts for nofile and nproc, seconds for cpu, bytes for the others.
struct Limit {
  std::uint64_t soft = kUnlimited;
  std::uint64_t hard = kUnlimited;
  bool operator==(const Limit&) const = default;
};

// What a program waits for in another before it starts (`depends_on`): spawned, RUNNING (which includes ready
// when that program has a readiness check), its health check passing, exited, or exited with one of its
// `exitcodes`.
enum class Condition { started, running, healthy, completed, completedSuccessfully };
struct Dependency {
  std::string program;
  Condition condition = Condition::running;
  bool operator==(const Dependency&) const = default;
};

// When STARTING becomes RUNNING (`ready`), instead of after starttime: the program says so over systemd's
// NOTIFY_SOCKET (READY=1) or by writing a newline on the fd it is given (s6's notification fd), a line of
// its output matches a regular expression, or a probe passes (a command exits 0, a TCP connection succeeds,
// an HTTP GET answers 2xx), tried every `interval`. Not ready after `timeout`: a failed start.
struct Readiness {
  enum class Kind { notify, fd, log, exec, tcp, http };
  Kind kind = Kind::notify;
  std::string target;  // log: the regex; exec: the command (run by /bin/sh -c); tcp: "HOST:PORT"; http: the URL
  int fd = 3;          // Kind::fd: the descriptor the program writes its newline to
  Duration timeout = std::chrono::seconds(60);
  Duration interval = std::chrono::seconds(1);
  bool operator==(const Readiness&) const = default;
};

// A check run every `interval` while RUNNING (`healthcheck`, docker compose's names): `retries` failures in a
// row make the instance unhealthy, and it is restarted when autorestart allows. Failures during
// `start_period` after RUNNING do not count. A check not done after `timeout` failed.
struct HealthCheck {
  enum class Kind { exec, tcp, http };
  Kind kind = Kind::exec;
  std::string target;  // exec: the command (run by /bin/sh -c); tcp: "HOST:PORT"; http: the URL
  Duration interval = std::chrono::seconds(10);
  Duration timeout = std::chrono::seconds(2);
  int retries = 3;
  Duration startPeriod = Duration::zero();
  bool operator==(const HealthCheck&) const = default;
};

struct ProgramSpec {
  // Unique in a configuration. "GROUP:PROCESS" puts a program of one instance in a group, as supervisord's
  // groups (docs/supervisord.md): commands take "GROUP" or "GROUP:*" for every program of the group.
  std::string name{};
  std::vector<std::string> cmd{};  // argv; cmd[0] is searched in PATH unless it contains '/'
  int numprocs = 1;
  bool autostart = false;
  int priority = 999;  // supervisord's: lower starts first and stops last, within one command (no waiting)
  AutoRestart autorestart = AutoRestart::unexpected;
  std::vector<int> exitcodes{0};  // exit codes that count as expected
  Duration starttime = std::chrono::seconds(1);
  int startretries = 3;  // kInfiniteRetries never gives up
  // The crash-loop policy, for exits from RUNNING that autorestart restarts (docs/configuration.md): the first
  // restart_burst exits in a row of runs shorter than restart_reset_after are restarted at once, the next
  // after restart_delay, growing by restart_delay_factor up to restart_delay_max.
  int restartBurst = 3;
  Duration restartDelay = std::chrono::seconds(1);
  double restartDelayFactor = 2.0;
  Duration restartDelayMax = std::chrono::seconds(30);
  Duration restartResetAfter = std::chrono::milliseconds(200);
  Duration fatalRetry = Duration::zero();  // FATAL starts again after this long; 0: stays FATAL
  int stopsignal = 15;  // SIGTERM
  Duration stoptime = std::chrono::seconds(10);
  // Output (docs/output.md): taskmaster reads each stream from a pipe, keeps its last tailBytes in memory and
  // appends it to the file, rotated as the Rotation says. A path may name the instance with {program},
  // {instance} and {index}; "/dev/stdout" and "/dev/stderr" forward whole lines to taskmaster's own,
  // prefixed with the instance's name; nullopt keeps the output in memory only. Changes apply without a
  // restart. With redirectStderr, stderr goes into the stdout pipe (stderrPath and its rotation unused).
  std::optional<std::string> stdoutPath{};
  std::optional<std::string> stderrPath{};
  Rotation stdoutRotation{};
  Rotation stderrRotation{};
  bool redirectStderr = false;
  // The program's console (docs/configuration.md, `taskmaster ctl attach`). With tty, it runs on a
  // pseudo-terminal whose master taskmaster holds: its stdin, stdout and stderr are the terminal, it leads its
  // own session with the terminal as its controlling terminal, and its output is one stream (stdout's: the
  // stderr settings must not be given). Otherwise, with stdin, its stdin is a pipe that taskmaster writes
  // to (Supervisor::sendInput); without either, its stdin is /dev/null.
  bool tty = false;
  bool stdin = false;  // NOLINT: the configuration's key (glibc's stdin macro expands to itself)
  std::size_t tailBytes = kDefaultTailBytes;
  std::map<std::string, std::string> env{};  // added to the inherited environment
  std::optional<std::string> workingdir{};
  unsigned umask = 022;
  std::optional<std::string> user{};  // drop privileges to this user (and its groups) when root
  bool stopasgroup = true;          // stopsignal goes to the whole process group
  bool killasgroup = true;          // SIGKILL, and leftovers after the main process exits, hit the group
  // Set in the child before exec; the others are inherited from the supervisor. A limit the supervisor cannot
  // grant (above its own hard limit, unprivileged) is a failed start that says so, never a silent cap.
  std::map<Resource, Limit> limits{};
  // The program the supervisor exists for: the taskmaster command stops everything and exits with its exit
  // code when it exits for good or becomes FATAL (docs/configuration.md). The library only carries it.
  bool critical = false;
  // Start order (docs/dependencies.md): the programs this one waits for, each in its condition.
  std::vector<Dependency> dependsOn{};
  std::optional<Readiness> ready{};
  std::optional<HealthCheck> healthcheck{};
  // supervisord's event listener (`[eventlistener:x]`, docs/events.md): when not empty, the event types its
  // processes are sent, in supervisord's protocol on their stdin and stdout; at most bufferSize events wait.
  std::vector<std::string> events{};
  int bufferSize = 10;
  // Its output sent to the event listeners as PROCESS_LOG_STDOUT and PROCESS_LOG_STDERR events (supervisord's
  // stdout_events_enabled and stderr_events_enabled), chunk by chunk as it is read. A listener's own stdout is
  // its protocol: only its stderr can be sent.
  bool stdoutEvents = false;
  bool stderrEvents = false;

  // Every problem with this spec, one message each; empty when valid.
  [[nodiscard]] std::vector<std::string> validate() const;

  // True when the running processes would differ: a change here needs a restart on reload.
  [[nodiscard]] bool sameProcessAs(const ProgramSpec& other) const;
  // Whether stderr goes into stdout's stream: redirectStderr, or a terminal (one stream).
  [[nodiscard]] bool oneStream() const { return redirectStderr || tty; }

  // The file of `stream` for instance `index`, placeholders expanded: nullopt when none (memory only);
  // "/dev/stdout" or "/dev/stderr" when forwarded. With redirectStderr or tty, stderr has stdout's.
  [[nodiscard]] std::optional<std::string> outputPath(StdStream stream, int index) const;

  // Name of instance `index`: the program name when numprocs is 1, else "name:index".
  [[nodiscard]] std::string instanceName(int index) const;
  // The group: what comes before ':' in "GROUP:PROCESS", else the name.
  [[nodiscard]] std::string_view group() const;

  bool operator==(const ProgramSpec&) const = default;
};

// Splits a command line into words as a POSIX shell would (quotes and backslashes), without running a
// shell: no expansion of variables, globs or operators. nullopt on an unterminated quote or escape.
[[nodiscard]] std::optional<std::vector<std::string>> splitCommand(std::string_view line);

// "10" and "1.5" are seconds; "500ms", "2s", "1m", "1h" carry their unit. nullopt when malformed or negative.
[[nodiscard]] std::optional<Duration> parseDuration(std::string_view text);

// "50MB", "512KB", "1GB", "1024" or "1024B": bytes (KB is 1024 bytes, as supervisord). nullopt when malformed.
[[nodiscard]] std::optional<std::uint64_t> parseSize(std::string_view text);
// How the configuration would write it, in the largest unit that keeps it whole: "50MB", "1536KB", "100".
[[nodiscard]] std::string formatSize(std::uint64_t bytes);

// "TERM", "SIGTERM", "term" or "15". nullopt for unknown names and numbers out of range.
[[nodiscard]] std::optional<int> parseSignal(std::string_view text);

// "TERM" for 15; the number as text when it has no name.
[[nodiscard]] std::string signalName(int signal);

[[nodiscard]] std::string_view to_string(AutoRestart) noexcept;
// "started", "running", "healthy", "completed", "completed_successfully", as `depends_on` writes them.
[[nodiscard]] std::string_view to_string(Condition) noexcept;
[[nodiscard]] std::optional<Condition> parseCondition(std::string_view text);

// "nofile", "cpu"...: the names of the configuration's `limits`.
[[nodiscard]] std::string_view to_string(Resource) noexcept;
[[nodiscard]] std::optional<Resource> parseResource(std::string_view name);
// A limit's value as the configuration writes it: "unlimited"; a count for nofile and nproc; seconds for cpu
// ("3600"); a size for the others ("1GB", "8MB", "65536"). nullopt when malformed.
[[nodiscard]] std::optional<std::uint64_t> parseLimit(Resource resource, std::string_view text);
[[nodiscard]] std::string formatLimit(Resource resource, std::uint64_t value);

}  // namespace taskmaster::inline v0
