// formatYaml(): a Config in taskmaster's YAML, for `taskmaster convert`. What it writes, parseConfig() reads back
// as the same programs: every ProgramSpec field that differs from the YAML default is written, strings quoted
// whenever YAML (any YAML reader, not only ours) could take them for something else.
#include <taskmaster/config.hpp>

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <taskmaster/util.hpp>

#include "util/text.hpp"

namespace taskmaster::inline v0 {

namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// YAML 1.1 and 1.2 read these words as null or a boolean; most libraries still speak 1.1.
bool isReservedWord(std::string_view text) {
  static constexpr std::string_view kWords[] = {"null", "~",  "true", "false", "yes", "no",   "on",
                                                "off",  "y",  "n",    ".inf",  "-.inf", "+.inf", ".nan"};
  const auto lower = detail::toLower(text);
  return std::ranges::find(kWords, std::string_view(lower)) != std::end(kWords);
}

// Integers, floats, octal and hexadecimal numbers, sexagesimal numbers (YAML 1.1's 1:30) and dates: anything
// that starts like a number and holds nothing but what numbers and dates are made of. "1500ms" and "50MB" are
// not numbers and stay plain.
bool looksNumeric(std::string_view text) {
  std::string_view rest = text;
  if (!rest.empty() && (rest.front() == '+' || rest.front() == '-')) rest.remove_prefix(1);
  if (!rest.empty() && rest.front() == '.') rest.remove_prefix(1);
  if (rest.empty() || !isDigit(rest.front())) return false;
  constexpr std::string_view kNumberChars = "0123456789abcdefABCDEFxXoO_.:+-eE tTzZ";
  return text.find_first_not_of(kNumberChars) == std::string_view::npos;
}

bool isControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

// The UTF-8 characters at `at` that YAML readers take for a line break (U+0085, U+2028, U+2029) or refuse as
// unprintable (the other C1 controls, U+FEFF, U+FFFE, U+FFFF): its code point and length; {0, 0} otherwise.
std::pair<unsigned, std::size_t> specialAt(std::string_view text, std::size_t at) {
  const auto byte = [&](std::size_t i) { return at + i < text.size() ? static_cast<unsigned char>(text[at + i]) : 0u; };
  if (byte(0) == 0xc2 && byte(1) >= 0x80 && byte(1) <= 0x9f) return {byte(1), 2};
  if (byte(0) == 0xe2 && byte(1) == 0x80 && byte(2) == 0xa8) return {0x2028, 3};
  if (byte(0) == 0xe2 && byte(1) == 0x80 && byte(2) == 0xa9) return {0x2029, 3};
  if (byte(0) == 0xef && byte(1) == 0xbb && byte(2) == 0xbf) return {0xfeff, 3};
  if (byte(0) == 0xef && byte(1) == 0xbf && byte(2) == 0xbe) return {0xfffe, 3};
  if (byte(0) == 0xef && byte(1) == 0xbf && byte(2) == 0xbf) return {0xffff, 3};
  return {0, 0};
}

// True when the text has a character that must be written as an escape, in double quotes.
bool needsEscapes(std::string_view text) {
  for (std::size_t at = 0; at < text.size(); ++at) {
    if (isControl(static_cast<unsigned char>(text[at])) || specialAt(text, at).second > 0) return true;
  }
  return false;
}

// True when `text` can be written as a plain scalar and read back unchanged, as a string, by any YAML reader,
// in a block or a flow collection.
bool plainSafe(std::string_view text) {
  if (text.empty() || isReservedWord(text) || looksNumeric(text)) return false;
  constexpr std::string_view kBadFirst = "-?:,[]{}#&*!|>'\"%@` ";
  if (kBadFirst.find(text.front()) != std::string_view::npos) return false;
  if (text.back() == ' ' || text.back() == ':') return false;
  if (text.find(": ") != std::string_view::npos || text.find(" #") != std::string_view::npos) return false;
  if (text.find_first_of(",[]{}") != std::string_view::npos) return false;  // flow indicators
  if (text == "<<" || text == "=") return false;  // YAML 1.1's merge and value keys
  return !needsEscapes(text);
}

// `text` as a YAML scalar: plain when that is safe (and not `quoted`), single-quoted when nothing in it needs
// an escape (only ' is doubled there), else double-quoted with escapes. Other bytes above 0x7f are written as
// they are, so UTF-8 stays readable and any other byte comes back unchanged (to taskmaster: a YAML reader that
// wants UTF-8 refuses such a file).
std::string scalar(std::string_view text, bool quoted = false) {
  if (!quoted && plainSafe(text)) return std::string(text);
  if (!needsEscapes(text)) {
    std::string out = "'";
    for (char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + "'";
  }
  std::string out = "\"";
  for (std::size_t at = 0; at < text.size(); ++at) {
    if (auto [code, length] = specialAt(text, at); length > 0) {
      out += fmt::format("\\u{:04x}", code);
      at += length - 1;
      continue;
    }
    const char c = text[at];
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (isControl(static_cast<unsigned char>(c))) out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
        else out += c;
    }
  }
  return out + "\"";
}

// A word of a command line that splitCommand() reads back as this very word: bare when it holds nothing a
// shell would take apart, else in single quotes (a quote inside as '\'').
std::string shellWord(std::string_view word) {
  constexpr std::string_view kSafe =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:=@%+,-";
  if (!word.empty() && word.find_first_not_of(kSafe) == std::string_view::npos) return std::string(word);
  std::string out = "'";
  for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The command as one line, as people write it; splitCommand() gives the same words back.
std::string commandLine(const std::vector<std::string>& cmd) {
  std::string line;
  for (const auto& word : cmd) {
    if (!line.empty()) line += ' ';
    line += shellWord(word);
  }
  return line;
}

// One line of a comment: what could end it early (a control character, a Unicode line break) as an escape.
std::string commentLine(std::string_view text) {
  std::string out;
  for (std::size_t at = 0; at < text.size(); ++at) {
    if (auto [code, length] = specialAt(text, at); length > 0) {
      out += fmt::format("\\u{:04x}", code);
      at += length - 1;
    } else {
      out += escapeControl(text.substr(at, 1));
    }
  }
  return out;
}

// "# " before every line of `text`.
void comment(std::string& out, std::string_view text) {
  std::size_t at = 0;
  for (;;) {
    const auto end = text.find('\n', at);
    out += fmt::format("# {}\n", commentLine(text.substr(at, end == std::string_view::npos ? end : end - at)));
    if (end == std::string_view::npos) return;
    at = end + 1;
  }
}

// Writes `key: value` into a program's options when `value` differs from `fallback`.
class Options {
 public:
  explicit Options(std::string& out) : out_(out) {}

  void add(std::string_view key, std::string_view value) { out_ += fmt::format("    {}: {}\n", key, value); }

  template <class T, class Format>
  void unlessDefault(std::string_view key, const T& value, const T& fallback, Format format) {
    if (value != fallback) add(key, format(value));
  }

 private:
  std::string& out_;
};

std::string boolean(bool value) { return value ? "true" : "false"; }
std::string duration(Duration value) { return formatDuration(value); }
std::string size(std::uint64_t bytes) { return formatSize(bytes); }
std::string number(int value) { return std::to_string(value); }
std::string path(const std::optional<std::string>& value) { return scalar(value.value_or("")); }

std::string retries(int value) { return value == kInfiniteRetries ? "infinite" : std::to_string(value); }

// The shortest text that reads back as exactly this double ("2", "1.5", "1.0000000000000002").
std::string factor(double value) {
  std::string text = fmt::format("{}", value);
  if (text.find_first_of("eE") != std::string::npos) text = fmt::format("{:f}", value);  // from_chars(fixed)
  return text;
}

std::string exitcodes(const std::vector<int>& codes) { return fmt::format("[{}]", fmt::join(codes, ", ")); }

std::string_view kindName(Readiness::Kind kind) {
  switch (kind) {
    case Readiness::Kind::notify: return "notify";
    case Readiness::Kind::fd: return "fd";
    case Readiness::Kind::log: return "log";
    case Readiness::Kind::exec: return "exec";
    case Readiness::Kind::tcp: return "tcp";
    case Readiness::Kind::http: return "http";
  }
  return "notify";
}

std::string_view kindName(HealthCheck::Kind kind) {
  switch (kind) {
    case HealthCheck::Kind::exec: return "exec";
    case HealthCheck::Kind::tcp: return "tcp";
    case HealthCheck::Kind::http: return "http";
  }
  return "exec";
}

// `ready` and `healthcheck` as maps of their own, every key written: what they say reads at a glance.
void writeChecks(std::string& out, const ProgramSpec& spec) {
  if (const auto& r = spec.ready) {
    out += "    ready:\n";
    if (r->kind == Readiness::Kind::notify) out += "      notify: true\n";
    else if (r->kind == Readiness::Kind::fd) out += fmt::format("      fd: {}\n", r->fd);
    else out += fmt::format("      {}: {}\n", kindName(r->kind), scalar(r->target));
    out += fmt::format("      timeout: {}\n      interval: {}\n", duration(r->timeout), duration(r->interval));
  }
  if (const auto& h = spec.healthcheck) {
    out += fmt::format("    healthcheck:\n      {}: {}\n", kindName(h->kind), scalar(h->target));
    out += fmt::format("      interval: {}\n      timeout: {}\n      retries: {}\n      start_period: {}\n",
                       duration(h->interval), duration(h->timeout), h->retries, duration(h->startPeriod));
  }
}

void writeProgram(std::string& out, const ProgramSpec& spec) {
  static const ProgramSpec defaults;
  // "GROUP:PROCESS" quoted, though YAML would not need it: the colon then reads as part of the name.
  out += fmt::format("  {}:\n", scalar(spec.name, spec.name.find(':') != std::string::npos));
  Options options(out);
  options.add("cmd", scalar(commandLine(spec.cmd)));
  options.unlessDefault("numprocs", spec.numprocs, defaults.numprocs, number);
  options.unlessDefault("autostart", spec.autostart, defaults.autostart, boolean);
  options.unlessDefault("priority", spec.priority, defaults.priority, number);
  options.unlessDefault("autorestart", spec.autorestart, defaults.autorestart,
                        [](AutoRestart policy) { return std::string(to_string(policy)); });
  options.unlessDefault("exitcodes", spec.exitcodes, defaults.exitcodes, exitcodes);
  options.unlessDefault("starttime", spec.starttime, defaults.starttime, duration);
  options.unlessDefault("startretries", spec.startretries, defaults.startretries, retries);
  options.unlessDefault("restart_burst", spec.restartBurst, defaults.restartBurst, number);
  options.unlessDefault("restart_delay", spec.restartDelay, defaults.restartDelay, duration);
  options.unlessDefault("restart_delay_factor", spec.restartDelayFactor, defaults.restartDelayFactor, factor);
  options.unlessDefault("restart_delay_max", spec.restartDelayMax, defaults.restartDelayMax, duration);
  options.unlessDefault("restart_reset_after", spec.restartResetAfter, defaults.restartResetAfter, duration);
  options.unlessDefault("fatal_retry", spec.fatalRetry, defaults.fatalRetry, duration);
  options.unlessDefault("stopsignal", spec.stopsignal, defaults.stopsignal, signalName);
  options.unlessDefault("stoptime", spec.stoptime, defaults.stoptime, duration);
  options.unlessDefault("stdout", spec.stdoutPath, defaults.stdoutPath, path);
  options.unlessDefault("stderr", spec.stderrPath, defaults.stderrPath, path);
  // Written whenever it is not the default: the reader turns an unwritten one into 0 for a shared file.
  options.unlessDefault("stdout_maxbytes", spec.stdoutRotation.maxBytes, defaults.stdoutRotation.maxBytes, size);
  options.unlessDefault("stdout_backups", spec.stdoutRotation.backups, defaults.stdoutRotation.backups, number);
  options.unlessDefault("stderr_maxbytes", spec.stderrRotation.maxBytes, defaults.stderrRotation.maxBytes, size);
  options.unlessDefault("stderr_backups", spec.stderrRotation.backups, defaults.stderrRotation.backups, number);
  options.unlessDefault("redirect_stderr", spec.redirectStderr, defaults.redirectStderr, boolean);
  options.unlessDefault("tty", spec.tty, defaults.tty, boolean);
  options.unlessDefault("stdin", spec.stdin, defaults.stdin, boolean);
  options.unlessDefault("tail_bytes", static_cast<std::uint64_t>(spec.tailBytes),
                        static_cast<std::uint64_t>(defaults.tailBytes), size);
  if (!spec.env.empty()) {
    out += "    env:\n";
    for (const auto& [name, value] : spec.env) out += fmt::format("      {}: {}\n", scalar(name), scalar(value));
  }
  options.unlessDefault("workingdir", spec.workingdir, defaults.workingdir, path);
  options.unlessDefault("umask", spec.umask, defaults.umask,
                        [](unsigned mask) { return fmt::format("\"{:03o}\"", mask); });
  options.unlessDefault("user", spec.user, defaults.user, path);
  options.unlessDefault("stopasgroup", spec.stopasgroup, defaults.stopasgroup, boolean);
  options.unlessDefault("killasgroup", spec.killasgroup, defaults.killasgroup, boolean);
  if (!spec.limits.empty()) {
    out += "    limits:\n";
    for (const auto& [resource, limit] : spec.limits) {
      const auto soft = formatLimit(resource, limit.soft);
      if (limit.soft == limit.hard) out += fmt::format("      {}: {}\n", to_string(resource), soft);
      else out += fmt::format("      {}: {{soft: {}, hard: {}}}\n", to_string(resource), soft, formatLimit(resource, limit.hard));
    }
  }
  options.unlessDefault("critical", spec.critical, defaults.critical, boolean);
  // A map when any condition is not the default, so that reading it back gives the same conditions.
  if (!spec.dependsOn.empty()) {
    out += "    depends_on:\n";
    const bool plain =
        std::ranges::all_of(spec.dependsOn, [](const Dependency& d) { return d.condition == Condition::running; });
    for (const auto& dependency : spec.dependsOn) {
      const auto name = scalar(dependency.program, dependency.program.find(':') != std::string::npos);
      if (plain) out += fmt::format("      - {}\n", name);
      else out += fmt::format("      {}: {}\n", name, to_string(dependency.condition));
    }
  }
  if (!spec.events.empty()) out += fmt::format("    events: [{}]\n", fmt::join(spec.events, ", "));
  options.unlessDefault("buffer_size", spec.bufferSize, defaults.bufferSize, number);
  options.unlessDefault("stdout_events", spec.stdoutEvents, defaults.stdoutEvents, boolean);
  options.unlessDefault("stderr_events", spec.stderrEvents, defaults.stderrEvents, boolean);
  writeChecks(out, spec);
}

// unix_http_server and inet_http_server, supervisord's sections with their keys: a map, or a list of maps when
// there are several of one kind. The password is written as it was given (a {SHA} hash keeps it private).
void writeHttpServers(std::string& out, const Config& config, HttpServerConfig::Kind kind) {
  std::vector<const HttpServerConfig*> servers;
  for (const auto& server : config.httpServers) {
    if (server.kind == kind) servers.push_back(&server);
  }
  if (servers.empty()) return;
  const bool socketFile = kind == HttpServerConfig::Kind::unix_socket;
  out += socketFile ? "unix_http_server:\n" : "inet_http_server:\n";
  const bool list = servers.size() > 1;
  const std::string indent = list ? "    " : "  ";
  for (const auto* server : servers) {
    std::string lines;
    if (socketFile) {
      lines += fmt::format("{}file: {}\n", indent, scalar(server->address));
      if (server->chmod != 0700) lines += fmt::format("{}chmod: \"{:04o}\"\n", indent, server->chmod);
      if (server->chown) lines += fmt::format("{}chown: {}\n", indent, scalar(*server->chown));
    } else {
      lines += fmt::format("{}port: {}\n", indent, scalar(server->address, true));
    }
    if (server->username) lines += fmt::format("{}username: {}\n", indent, scalar(*server->username, true));
    if (server->password) lines += fmt::format("{}password: {}\n", indent, scalar(*server->password, true));
    if (list) lines.replace(0, 4, "  - ");
    out += lines;
  }
}

std::string names(const std::vector<std::string>& list) {
  std::vector<std::string> quoted;
  for (const auto& name : list) quoted.push_back(scalar(name));
  return fmt::format("[{}]", fmt::join(quoted, ", "));
}

// `hooks:` as the reader reads it: each option only when it is not its default.
void writeHooks(std::string& out, const std::vector<HookSpec>& hooks) {
  if (hooks.empty()) return;
  const HookSpec defaults;
  out += "hooks:\n";
  for (const auto& hook : hooks) {
    out += fmt::format("  - on: {}\n", names(hook.on));
    if (!hook.programs.empty()) out += fmt::format("    programs: {}\n", names(hook.programs));
    switch (hook.kind) {
      case HookSpec::Kind::exec: out += fmt::format("    exec: {}\n", scalar(hook.command)); break;
      case HookSpec::Kind::webhook: out += fmt::format("    webhook: {}\n", scalar(hook.url)); break;
      case HookSpec::Kind::syslog:
        out += fmt::format("    syslog: {{facility: {}, tag: {}, socket: {}}}\n", scalar(hook.facility),
                           scalar(hook.tag), scalar(hook.socket));
        break;
      case HookSpec::Kind::email:
        out += fmt::format("    email: {{to: {}, ", scalar(hook.to, true));
        if (!hook.from.empty()) out += fmt::format("from: {}, ", scalar(hook.from, true));
        out += fmt::format("sendmail: {}}}\n", scalar(hook.sendmail));
        break;
    }
    if (hook.rateLimit) out += fmt::format("    rate_limit: {}\n", duration(*hook.rateLimit));
    if (hook.timeout != defaults.timeout) out += fmt::format("    timeout: {}\n", duration(hook.timeout));
  }
}

// The settings that taskmaster's YAML has no key for (supervisorctl's own), one line each.
std::vector<std::string> notCarried(const Config& config) {
  std::vector<std::string> lines;
  if (config.identifier != Config{}.identifier) lines.push_back(fmt::format("identifier = {}", config.identifier));
  for (const auto& [key, value] : config.supervisorctl) {
    lines.push_back(fmt::format("[supervisorctl] {} = {}", key, key == "password" ? "(not shown)" : value));
  }
  return lines;
}

}  // namespace

std::string formatYaml(const Config& config, const std::vector<Diagnostic>& notes) {
  std::string out;
  for (const auto& note : notes) comment(out, note.str());
  if (auto lines = notCarried(config); !lines.empty()) {
    if (!out.empty()) out += "#\n";
    comment(out, "Not carried over: taskmaster's YAML has no setting for these yet.");
    for (const auto& line : lines) comment(out, "  " + line);
  }
  if (!out.empty()) out += "\n";
  if (config.socket) out += fmt::format("socket: {}\n", scalar(*config.socket));
  if (config.metrics) out += fmt::format("metrics: {}\n", scalar(*config.metrics));
  writeHttpServers(out, config, HttpServerConfig::Kind::unix_socket);
  writeHttpServers(out, config, HttpServerConfig::Kind::inet);
  if (config.logfile) out += fmt::format("logfile: {}\n", scalar(*config.logfile));
  if (config.logfileMaxBytes) out += fmt::format("logfile_maxbytes: {}\n", formatSize(*config.logfileMaxBytes));
  if (config.logfileBackups) out += fmt::format("logfile_backups: {}\n", *config.logfileBackups);
  if (config.loglevel) out += fmt::format("loglevel: {}\n", to_string(*config.loglevel));
  if (config.pidfile) out += fmt::format("pidfile: {}\n", scalar(*config.pidfile));
  if (config.umask) out += fmt::format("umask: \"{:03o}\"\n", *config.umask);
  if (config.directory) out += fmt::format("directory: {}\n", scalar(*config.directory));
  if (config.minfds) out += fmt::format("minfds: {}\n", *config.minfds);
  if (config.minprocs) out += fmt::format("minprocs: {}\n", *config.minprocs);
  writeHooks(out, config.hooks);
  if (config.programs.empty()) return out + "programs: {}\n";
  out += "programs:\n";
  for (const auto& spec : config.programs) writeProgram(out, spec);
  return out;
}

}  // namespace taskmaster::inline v0
