// The YAML reader: the seed's `programs:` format, read with yaml-cpp into ProgramSpecs.
#include <taskmaster/config.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <exception>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <taskmaster/metrics.hpp>
#include <taskmaster/util.hpp>

#include "config/ini_values.hpp"
#include "config/reader.hpp"
#include "core/dependencies.hpp"
#include "util/text.hpp"

namespace taskmaster::inline v0 {

namespace {

using detail::Bad;
using detail::Checked;
using detail::Location;
using detail::Problems;
using detail::isSharedSink;

// yaml-cpp marks are 0-based; a null mark (line -1) means "unknown".
Location locate(const YAML::Mark& mark) {
  if (mark.is_null() || mark.line < 0) return {};
  return {mark.line + 1, mark.column + 1};
}

// "'lots'", "a list": what the user wrote, for "expected X, got Y".
std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: return fmt::format("'{}'", escapeControl(node.Scalar()));
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a map";
    default: return "nothing";
  }
}

// An empty value (`key:`) gets a mark on the following line; the key is where the user looks.
Location placeOf(const YAML::Node& key, const YAML::Node& value) {
  return locate(value.IsNull() ? key.Mark() : value.Mark());
}

Bad badValue(const YAML::Node& node, std::string message) { return Bad{locate(node.Mark()), std::move(message)}; }

Bad expected(const YAML::Node& node, std::string_view what) {
  return badValue(node, fmt::format("expected {}, got {}", what, describe(node)));
}

// Every value is read from its scalar text, so `numprocs: "2"` and `numprocs: 2` mean the same.
Checked<std::string> scalar(const YAML::Node& node, std::string_view what) {
  if (!node.IsScalar()) return expected(node, what);
  return node.Scalar();
}

Checked<int> toInt(const YAML::Node& node) {
  auto text = scalar(node, "an integer");
  if (!text.ok()) return text.error();
  int value = 0;
  const auto* end = text->data() + text->size();
  auto [ptr, ec] = std::from_chars(text->data(), end, value);
  if (ec == std::errc::result_out_of_range) return badValue(node, fmt::format("{} is out of range", *text));
  if (text->empty() || ec != std::errc{} || ptr != end) return expected(node, "an integer");
  return value;
}

// A count, or `infinite` (kInfiniteRetries).
Checked<int> toRetries(const YAML::Node& node) {
  if (node.IsScalar() && detail::toLower(node.Scalar()) == "infinite") return kInfiniteRetries;
  auto count = toInt(node);
  if (!count.ok() && node.IsScalar()) return expected(node, "an integer or infinite");
  return count;
}

Checked<double> toFactor(const YAML::Node& node) {
  constexpr std::string_view kExpected = "a number such as 2 or 1.5";
  auto text = scalar(node, kExpected);
  if (!text.ok()) return text.error();
  double value = 0;
  const auto* end = text->data() + text->size();
  auto [ptr, ec] = std::from_chars(text->data(), end, value, std::chars_format::fixed);
  if (text->empty() || ec != std::errc{} || ptr != end) return expected(node, kExpected);
  return value;  // validate() reports one out of range
}

Checked<bool> toBool(const YAML::Node& node) {
  // The YAML 1.1 spellings too: people write them, and yaml-cpp itself accepts them.
  auto text = scalar(node, "true or false");
  if (!text.ok()) return text.error();
  const auto word = detail::toLower(*text);
  if (word == "true" || word == "yes" || word == "on") return true;
  if (word == "false" || word == "no" || word == "off") return false;
  return expected(node, "true or false");
}

Checked<Duration> toDuration(const YAML::Node& node) {
  constexpr std::string_view kExpected = "a duration such as 10, 1.5, 500ms, 2m or 1h";
  auto text = scalar(node, kExpected);
  if (!text.ok()) return text.error();
  auto duration = parseDuration(*text);
  if (!duration) return expected(node, kExpected);
  return *duration;
}

// "50MB", "512KB", "1GB" or a number of bytes (parseSize()).
Checked<std::uint64_t> toSize(const YAML::Node& node) {
  constexpr std::string_view kExpected = "a size such as 50MB, 512KB, 1GB or 1048576";
  auto text = scalar(node, kExpected);
  if (!text.ok()) return text.error();
  auto size = parseSize(*text);
  if (!size) return expected(node, kExpected);
  return *size;
}

Checked<std::size_t> toTailBytes(const YAML::Node& node) {
  auto size = toSize(node);
  if (!size.ok()) return size.error();
  // Where size_t is narrower, the largest value still reads as too large to validate().
  return static_cast<std::size_t>(std::min<std::uint64_t>(*size, std::numeric_limits<std::size_t>::max()));
}

Checked<std::string> toPath(const YAML::Node& node) { return scalar(node, "a path"); }
Checked<std::string> toUserName(const YAML::Node& node) { return scalar(node, "a user name"); }

Checked<std::vector<std::string>> toCmd(const YAML::Node& value) {
  if (value.IsSequence()) {  // already an argv: taken verbatim
    std::vector<std::string> argv;
    for (const auto& item : value) {
      auto word = scalar(item, "a string");
      if (!word.ok()) return word.error();
      argv.push_back(std::move(*word));
    }
    return argv;
  }
  auto line = scalar(value, "a command line or a list of arguments");
  if (!line.ok()) return line.error();
  auto words = splitCommand(*line);
  if (!words) return badValue(value, fmt::format("unterminated quote or trailing backslash in '{}'", *line));
  return std::move(*words);
}

// supervisord's event types, a list or one name; any case, as supervisord reads them (validate() knows them).
Checked<std::vector<std::string>> toEventTypes(const YAML::Node& value) {
  std::vector<std::string> types;
  const auto add = [&types](const YAML::Node& item) -> Checked<bool> {
    auto name = scalar(item, "an event type");
    if (!name.ok()) return name.error();
    types.push_back(detail::toUpper(*name));
    return true;
  };
  if (value.IsSequence()) {
    for (const auto& item : value)
      if (auto added = add(item); !added.ok()) return added.error();
  } else if (auto added = add(value); !added.ok()) {
    return added.error();
  }
  if (types.empty()) return badValue(value, "expected at least one event type");
  return types;
}

Checked<AutoRestart> toAutorestart(const YAML::Node& value) {
  constexpr std::string_view kExpected = "always, never or unexpected";
  auto text = scalar(value, kExpected);
  if (!text.ok()) return text.error();
  const auto word = detail::toLower(*text);
  for (auto policy : {AutoRestart::always, AutoRestart::never, AutoRestart::unexpected}) {
    if (word == to_string(policy)) return policy;
  }
  if (auto flag = toBool(value); flag.ok()) return *flag ? AutoRestart::always : AutoRestart::never;
  std::string message = fmt::format("expected {}, got {}", kExpected, describe(value));
  if (auto guess = suggest(word, {"always", "never", "unexpected"})) {
    message += fmt::format(" (did you mean '{}'?)", *guess);
  }
  return badValue(value, std::move(message));
}

Checked<std::vector<int>> toExitcodes(const YAML::Node& value) {
  auto code = [](const YAML::Node& item) -> Checked<int> {
    auto number = toInt(item);
    // Also checked by validate(); here the place can be the very item.
    if (number.ok() && (*number < 0 || *number > 255)) {
      return badValue(item, fmt::format("{} is not an exit code (0-255)", *number));
    }
    return number;
  };
  if (value.IsScalar()) {
    auto single = code(value);
    if (!single.ok()) return single.error();
    return std::vector<int>{*single};
  }
  if (!value.IsSequence()) return expected(value, "an exit code or a list of exit codes");
  std::vector<int> codes;
  for (const auto& item : value) {
    auto number = code(item);
    if (!number.ok()) return number.error();
    codes.push_back(*number);
  }
  return codes;
}

Checked<int> toStopsignal(const YAML::Node& value) {
  auto text = scalar(value, "a signal name or number");
  if (!text.ok()) return text.error();
  if (auto signal = parseSignal(*text)) return *signal;
  if (!text->empty() && std::ranges::all_of(*text, [](unsigned char c) { return c >= '0' && c <= '9'; })) {
    return badValue(value, fmt::format("no signal has the number {}", *text));
  }
  std::vector<std::string> names;
  for (int number = 1; number <= 64; ++number) names.push_back(signalName(number));
  std::string name = *text;
  if (detail::toLower(name).starts_with("sig")) name.erase(0, 3);
  std::string message = fmt::format("unknown signal '{}'", *text);
  if (auto guess = suggest(name, names)) message += fmt::format(" (did you mean '{}'?)", *guess);
  return badValue(value, std::move(message));
}

Checked<LogLevel> toLogLevel(const YAML::Node& value) {
  auto text = scalar(value, "a log level");
  if (!text.ok()) return text.error();
  if (auto level = parseLogLevel(*text)) return *level;
  return expected(value, "debug, info, warn or error");
}

// minfds, minprocs: a number of descriptors or processes (0 asks for nothing, as in supervisord).
Checked<std::uint64_t> toLimit(const YAML::Node& value) {
  auto count = toInt(value);
  if (!count.ok()) return count.error();
  if (*count < 0) return expected(value, "a number, 0 or more");
  return static_cast<std::uint64_t>(*count);
}

Checked<unsigned> toUmask(const YAML::Node& value) {
  // Always octal, whether written 022, "022" or 0o22: a umask is never meant in decimal.
  constexpr std::string_view kExpected = "an octal umask such as 022";
  auto scalarText = scalar(value, kExpected);
  if (!scalarText.ok()) return scalarText.error();
  std::string_view text = *scalarText;
  if (text.starts_with("0o") || text.starts_with("0O")) text.remove_prefix(2);
  unsigned mask = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), mask, 8);
  if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size()) return expected(value, kExpected);
  return mask;  // validate() reports a value above 0777
}

struct Entry {
  YAML::Node key;
  YAML::Node value;
};

// The entries of a map, each key once: yaml-cpp accepts duplicate keys silently, keeping both. Keys that are no
// names and repeated keys go to `bad` instead.
std::vector<Entry> uniqueEntries(const YAML::Node& map, std::vector<Bad>& bad, std::string_view noun = "key") {
  std::vector<Entry> entries;
  std::map<std::string, int, std::less<>> firstLine;
  for (const auto& entry : map) {
    const YAML::Node& key = entry.first;
    if (!key.IsScalar()) {
      bad.push_back(badValue(key, fmt::format("expected a {} name, got {}", noun, describe(key))));
      continue;
    }
    auto [first, inserted] = firstLine.emplace(key.Scalar(), key.Mark().line + 1);
    if (!inserted) {
      bad.push_back(badValue(key, fmt::format("duplicate {} '{}' (first defined at line {})", noun, key.Scalar(),
                                              first->second)));
      continue;
    }
    entries.push_back({key, entry.second});
  }
  return entries;
}

// What reading one option found. `refused`: the value as a whole; the option keeps its default, and
// validate()'s findings about it would only repeat the problem. `entries`: single entries of a map, the
// others taken.
struct Verdict {
  Verdict() = default;
  Verdict(Bad bad) : refused(std::move(bad)) {}  // NOLINT(google-explicit-constructor)

  std::optional<Bad> refused;
  std::vector<Bad> entries;
};

using Reader = Verdict (*)(const YAML::Node& value, ProgramSpec& spec);

// The reader of an option held in `field` and converted by `convert`.
template <auto field, auto convert>
Verdict set(const YAML::Node& value, ProgramSpec& spec) {
  auto read = convert(value);
  if (!read.ok()) return std::move(read.error());
  spec.*field = std::move(*read);
  return {};
}

// The reader of an option held in `field` of the Rotation `rotation`.
template <auto rotation, auto field, auto convert>
Verdict setRotation(const YAML::Node& value, ProgramSpec& spec) {
  auto read = convert(value);
  if (!read.ok()) return std::move(read.error());
  (spec.*rotation).*field = std::move(*read);
  return {};
}

Verdict readEnv(const YAML::Node& value, ProgramSpec& spec) {
  if (!value.IsMap()) return expected(value, "a map of variable names to values");
  Verdict verdict;
  for (const auto& [key, text] : uniqueEntries(value, verdict.entries)) {
    if (!text.IsScalar()) {  // numbers and booleans are scalars too, taken as written
      verdict.entries.push_back(
          Bad{placeOf(key, text), fmt::format("{}: expected a string, got {}", key.Scalar(), describe(text))});
      continue;
    }
    spec.env.emplace(key.Scalar(), text.Scalar());
  }
  return verdict;
}

// One limit: a value for both soft and hard (`nofile: 4096`), or `{soft: 1024, hard: 4096}`.
Checked<Limit> toResourceLimit(Resource resource, const YAML::Node& value, std::vector<Bad>& bad) {
  const std::string_view kExpected = resource == Resource::nofile || resource == Resource::nproc
                                        ? "a number or unlimited"
                                    : resource == Resource::cpu ? "a number of seconds or unlimited"
                                                                : "a size such as 512MB, or unlimited";
  auto one = [&](const YAML::Node& node) -> Checked<std::uint64_t> {
    auto text = scalar(node, kExpected);
    if (!text.ok()) return text.error();
    if (auto limit = parseLimit(resource, *text)) return *limit;
    return expected(node, kExpected);
  };
  if (!value.IsMap()) {
    auto both = one(value);
    if (!both.ok()) return both.error();
    return Limit{*both, *both};
  }
  Limit limit;
  std::set<std::string, std::less<>> given;
  for (const auto& [key, part] : uniqueEntries(value, bad)) {
    if (key.Scalar() != "soft" && key.Scalar() != "hard") {
      bad.push_back(badValue(key, fmt::format("unknown key '{}' (expected soft and hard)", key.Scalar())));
      continue;
    }
    auto read = one(part);
    if (!read.ok()) return read.error();
    (key.Scalar() == "soft" ? limit.soft : limit.hard) = *read;
    given.insert(key.Scalar());
  }
  if (bad.empty() && given.size() != 2) return badValue(value, "expected both soft and hard");
  return limit;
}

Verdict readLimits(const YAML::Node& value, ProgramSpec& spec) {
  if (!value.IsMap()) return expected(value, "a map of resources (nofile, nproc, core...) to limits");
  Verdict verdict;
  std::vector<std::string> names;
  for (int i = 0; i < kResourceCount; ++i) names.emplace_back(to_string(static_cast<Resource>(i)));
  for (const auto& [key, limit] : uniqueEntries(value, verdict.entries)) {
    auto resource = parseResource(key.Scalar());
    if (!resource) {
      std::string message = fmt::format("unknown resource '{}'", key.Scalar());
      auto guess = suggest(key.Scalar(), names);
      message += guess ? fmt::format(" (did you mean '{}'?)", *guess) : fmt::format(" (known: {})", fmt::join(names, ", "));
      verdict.entries.push_back(badValue(key, std::move(message)));
      continue;
    }
    std::vector<Bad> bad;
    auto read = toResourceLimit(*resource, limit, bad);
    if (!read.ok()) bad.push_back(std::move(read.error()));
    for (auto& b : bad) verdict.entries.push_back(Bad{b.at, fmt::format("{}: {}", key.Scalar(), b.message)});
    if (read.ok() && bad.empty()) spec.limits[*resource] = *read;
  }
  return verdict;
}

// A condition of depends_on: `healthy`, or `{condition: healthy}` as docker compose writes it.
Checked<Condition> toCondition(const YAML::Node& value) {
  if (value.IsMap()) {
    std::vector<Bad> bad;
    std::optional<Checked<Condition>> found;
    for (const auto& [key, inner] : uniqueEntries(value, bad)) {
      if (key.Scalar() != "condition")
        return badValue(key, fmt::format("unknown key '{}' (expected condition)", key.Scalar()));
      found = toCondition(inner);
    }
    if (!bad.empty()) return bad.front();
    if (!found) return badValue(value, "expected a condition: {condition: healthy}");
    return *found;
  }
  constexpr std::string_view kExpected = "started, running, healthy, completed or completed_successfully";
  auto text = scalar(value, kExpected);
  if (!text.ok()) return text.error();
  if (auto condition = parseCondition(detail::toLower(*text))) return *condition;
  std::string message = fmt::format("expected {}, got {}", kExpected, describe(value));
  if (auto guess = suggest(*text, {"started", "running", "healthy", "completed", "completed_successfully"}))
    message += fmt::format(" (did you mean '{}'?)", *guess);
  return badValue(value, std::move(message));
}

// A list of program names (each RUNNING), or a map of names to conditions. Unknown names and cycles are the
// configuration's to find (Parser::checkDependencies): here a program knows no other.
Verdict readDependsOn(const YAML::Node& value, ProgramSpec& spec) {
  Verdict verdict;
  if (value.IsSequence()) {
    for (const auto& item : value) {
      auto name = scalar(item, "a program name");
      if (name.ok()) spec.dependsOn.push_back({*name, Condition::running});
      else verdict.entries.push_back(std::move(name.error()));
    }
    return verdict;
  }
  if (!value.IsMap()) return expected(value, "a list of program names, or a map of program names to conditions");
  for (const auto& [key, condition] : uniqueEntries(value, verdict.entries, "program")) {
    auto read = condition.IsNull() ? Checked<Condition>(Condition::running) : toCondition(condition);
    if (read.ok()) spec.dependsOn.push_back({key.Scalar(), *read});
    else verdict.entries.push_back(Bad{read.error().at, fmt::format("{}: {}", key.Scalar(), read.error().message)});
  }
  return verdict;
}

// A key of `ready` or `healthcheck` that is not one of `known`: "did you mean".
Bad unknownCheckKey(const YAML::Node& key, const std::vector<std::string>& known) {
  std::string message = fmt::format("unknown key '{}'", key.Scalar());
  auto guess = suggest(key.Scalar(), known);
  message += guess ? fmt::format(" (did you mean '{}'?)", *guess) : fmt::format(" (known: {})", fmt::join(known, ", "));
  return badValue(key, std::move(message));
}

// The kind of a check: the one key of `kinds` in the map, whose value is its target.
template <class Kind>
std::optional<std::pair<Kind, YAML::Node>> checkKind(const YAML::Node& value,
                                                     const std::vector<std::pair<std::string, Kind>>& kinds,
                                                     std::vector<Bad>& bad) {
  std::optional<std::pair<Kind, YAML::Node>> found;
  std::vector<std::string> names;
  for (const auto& kind : kinds) names.push_back(kind.first);
  for (const auto& entry : value) {
    const auto it = std::ranges::find_if(kinds, [&](const auto& k) { return k.first == entry.first.Scalar(); });
    if (it == kinds.end()) continue;
    if (found) {
      bad.push_back(badValue(entry.first, fmt::format("one of {} only, not two", fmt::join(names, ", "))));
      continue;
    }
    found = std::pair{it->second, entry.second};
  }
  if (!found && bad.empty())
    bad.push_back(badValue(value, fmt::format("expected one of {}", fmt::join(names, ", "))));
  return found;
}

// `ready: {notify: true}`, `{fd: 3}`, `{log: REGEX}`, `{tcp: HOST:PORT}`, `{http: URL}` or `{exec: COMMAND}`,
// with `timeout` and `interval`.
Verdict readReady(const YAML::Node& value, ProgramSpec& spec) {
  if (!value.IsMap()) return expected(value, "a map such as {notify: true}, {fd: 3} or {tcp: localhost:5432}");
  using K = Readiness::Kind;
  const std::vector<std::pair<std::string, K>> kinds{{"notify", K::notify}, {"fd", K::fd},     {"log", K::log},
                                                     {"exec", K::exec},     {"tcp", K::tcp},   {"http", K::http}};
  Verdict verdict;
  auto kind = checkKind(value, kinds, verdict.entries);
  if (!kind) return verdict;
  Readiness ready;
  ready.kind = kind->first;
  const std::vector<std::string> known{"notify", "fd", "log", "exec", "tcp", "http", "timeout", "interval"};
  for (const auto& [key, part] : uniqueEntries(value, verdict.entries)) {
    const auto& name = key.Scalar();
    auto fail = [&](Bad bad) { verdict.entries.push_back(Bad{bad.at, fmt::format("{}: {}", name, bad.message)}); };
    if (name == "timeout" || name == "interval") {
      auto read = toDuration(part);
      if (!read.ok()) fail(std::move(read.error()));
      else (name == "timeout" ? ready.timeout : ready.interval) = *read;
    } else if (name == "notify") {
      auto read = toBool(part);
      if (!read.ok()) fail(std::move(read.error()));
      else if (!*read) fail(badValue(part, "only true (remove `ready` for no readiness check)"));
    } else if (name == "fd") {
      auto read = toInt(part);
      if (!read.ok()) fail(std::move(read.error()));
      else ready.fd = *read;  // validate() reports one below 3
    } else if (std::ranges::find(known, name) != known.end()) {
      auto read = scalar(part, name == "log" ? "a regular expression" : name == "tcp" ? "HOST:PORT"
                                : name == "http"                        ? "a URL"
                                                                        : "a command");
      if (!read.ok()) fail(std::move(read.error()));
      else ready.target = *read;
    } else {
      verdict.entries.push_back(unknownCheckKey(key, known));
    }
  }
  if (verdict.entries.empty()) spec.ready = std::move(ready);
  return verdict;
}

// `healthcheck: {exec|tcp|http: ..., interval, timeout, retries, start_period}`, docker compose's names.
Verdict readHealthcheck(const YAML::Node& value, ProgramSpec& spec) {
  if (!value.IsMap()) return expected(value, "a map such as {http: http://localhost:8080/health, interval: 10s}");
  using K = HealthCheck::Kind;
  const std::vector<std::pair<std::string, K>> kinds{{"exec", K::exec}, {"tcp", K::tcp}, {"http", K::http}};
  Verdict verdict;
  auto kind = checkKind(value, kinds, verdict.entries);
  if (!kind) return verdict;
  HealthCheck check;
  check.kind = kind->first;
  const std::vector<std::string> known{"exec", "tcp", "http", "interval", "timeout", "retries", "start_period"};
  for (const auto& [key, part] : uniqueEntries(value, verdict.entries)) {
    const auto& name = key.Scalar();
    auto fail = [&](Bad bad) {
      verdict.entries.push_back(Bad{bad.at, fmt::format("{}: {}", name, bad.message)});
    };
    if (name == "interval" || name == "timeout" || name == "start_period") {
      auto read = toDuration(part);
      if (!read.ok()) fail(std::move(read.error()));
      else (name == "interval" ? check.interval : name == "timeout" ? check.timeout : check.startPeriod) = *read;
    } else if (name == "retries") {
      auto read = toInt(part);
      if (!read.ok()) fail(std::move(read.error()));
      else check.retries = *read;
    } else if (name == "exec" || name == "tcp" || name == "http") {
      auto read = scalar(part, name == "tcp" ? "HOST:PORT" : name == "http" ? "a URL" : "a command");
      if (!read.ok()) fail(std::move(read.error()));
      else check.target = *read;
    } else {
      verdict.entries.push_back(unknownCheckKey(key, known));
    }
  }
  if (verdict.entries.empty()) spec.healthcheck = std::move(check);
  return verdict;
}

struct Option {
  std::string_view key;
  Reader read;
};

// Rotated files kept for the event log, bounded as a program's (ProgramSpec::validate()).
constexpr int kMaxLogBackups = 1000;

constexpr std::array kStreams{StdStream::out, StdStream::err};

Rotation& rotationOf(ProgramSpec& spec, StdStream stream) {
  return stream == StdStream::out ? spec.stdoutRotation : spec.stderrRotation;
}

std::string maxBytesKey(StdStream stream) { return fmt::format("{}_maxbytes", to_string(stream)); }

// The file of `stream` of instance `index`, when it is one of taskmaster's files: nullopt when the output is
// kept in memory only, forwarded or discarded, or when stderr goes into stdout's file.
std::optional<std::string> ownFile(const ProgramSpec& spec, StdStream stream, int index) {
  if (stream == StdStream::err && spec.oneStream()) return std::nullopt;
  auto path = spec.outputPath(stream, index);
  if (!path || isSharedSink(*path)) return std::nullopt;
  return path;
}

// A file that several writers append to cannot be rotated: each would rename it under the others. So a file
// shared by the instances of a program, or by its stdout and stderr, is appended to without rotating unless
// `stdout_maxbytes` or `stderr_maxbytes` asks for rotation (then validate() says what to do instead). This
// keeps configurations written before rotation existed, which share files freely, valid and as they were.
void appendOnlyWhenShared(ProgramSpec& spec, const auto& given) {
  for (auto stream : kStreams) {
    if (given.contains(maxBytesKey(stream))) continue;
    auto path = ownFile(spec, stream, 0);
    if (!path) continue;
    const auto other = stream == StdStream::out ? StdStream::err : StdStream::out;
    if ((spec.numprocs > 1 && ownFile(spec, stream, 1) == path) || ownFile(spec, other, 0) == path) {
      rotationOf(spec, stream).maxBytes = 0;
    }
  }
}

const auto kOptions = std::to_array<Option>({
    {"cmd", set<&ProgramSpec::cmd, toCmd>},
    {"numprocs", set<&ProgramSpec::numprocs, toInt>},
    {"autostart", set<&ProgramSpec::autostart, toBool>},
    {"priority", set<&ProgramSpec::priority, toInt>},
    {"autorestart", set<&ProgramSpec::autorestart, toAutorestart>},
    {"exitcodes", set<&ProgramSpec::exitcodes, toExitcodes>},
    {"starttime", set<&ProgramSpec::starttime, toDuration>},
    {"startretries", set<&ProgramSpec::startretries, toRetries>},
    {"restart_burst", set<&ProgramSpec::restartBurst, toInt>},
    {"restart_delay", set<&ProgramSpec::restartDelay, toDuration>},
    {"restart_delay_factor", set<&ProgramSpec::restartDelayFactor, toFactor>},
    {"restart_delay_max", set<&ProgramSpec::restartDelayMax, toDuration>},
    {"restart_reset_after", set<&ProgramSpec::restartResetAfter, toDuration>},
    {"fatal_retry", set<&ProgramSpec::fatalRetry, toDuration>},
    {"stopsignal", set<&ProgramSpec::stopsignal, toStopsignal>},
    {"stoptime", set<&ProgramSpec::stoptime, toDuration>},
    {"stdout", set<&ProgramSpec::stdoutPath, toPath>},
    {"stderr", set<&ProgramSpec::stderrPath, toPath>},
    {"stdout_maxbytes", setRotation<&ProgramSpec::stdoutRotation, &Rotation::maxBytes, toSize>},
    {"stdout_backups", setRotation<&ProgramSpec::stdoutRotation, &Rotation::backups, toInt>},
    {"stderr_maxbytes", setRotation<&ProgramSpec::stderrRotation, &Rotation::maxBytes, toSize>},
    {"stderr_backups", setRotation<&ProgramSpec::stderrRotation, &Rotation::backups, toInt>},
    {"redirect_stderr", set<&ProgramSpec::redirectStderr, toBool>},
    {"tty", set<&ProgramSpec::tty, toBool>},
    {"stdin", set<&ProgramSpec::stdin, toBool>},
    {"tail_bytes", set<&ProgramSpec::tailBytes, toTailBytes>},
    {"env", readEnv},
    {"workingdir", set<&ProgramSpec::workingdir, toPath>},
    {"umask", set<&ProgramSpec::umask, toUmask>},
    {"user", set<&ProgramSpec::user, toUserName>},
    {"stopasgroup", set<&ProgramSpec::stopasgroup, toBool>},
    {"killasgroup", set<&ProgramSpec::killasgroup, toBool>},
    {"limits", readLimits},
    {"critical", set<&ProgramSpec::critical, toBool>},
    {"depends_on", readDependsOn},
    {"events", set<&ProgramSpec::events, toEventTypes>},
    {"buffer_size", set<&ProgramSpec::bufferSize, toInt>},
    {"stdout_events", set<&ProgramSpec::stdoutEvents, toBool>},
    {"stderr_events", set<&ProgramSpec::stderrEvents, toBool>},
    {"ready", readReady},
    {"healthcheck", readHealthcheck},
});

class Parser {
 public:
  Parser(Problems& problems, Config& config) : problems_(problems), config_(config) {}

  void readRoot(const YAML::Node& root) {
    if (!root.IsMap()) {
      problems_.add(locate(root.Mark()), "",
                    fmt::format("expected a map with 'programs' at the top level, got {}", describe(root)));
      return;
    }
    bool sawPrograms = false;
    for (const auto& [key, value] : entries(root, "")) {
      const auto& name = key.Scalar();
      if (name == "programs") {
        sawPrograms = true;
        readPrograms(key, value);
      } else if (name == "socket" || name == "logfile" || name == "pidfile" || name == "directory") {
        readTopPath(key, value,
                    name == "socket"    ? config_.socket
                    : name == "logfile" ? config_.logfile
                    : name == "pidfile" ? config_.pidfile
                                        : config_.directory);
      } else if (name == "metrics") {
        readMetrics(key, value);
      } else if (name == "hooks") {
        readHooks(key, value);
      } else if (name == "unix_http_server" || name == "inet_http_server") {
        readHttpServers(key, value);
      } else if (name == "loglevel") {
        readTop(key, value, toLogLevel(value), config_.loglevel);
      } else if (name == "umask") {
        auto mask = toUmask(value);
        if (mask.ok() && *mask > 0777) mask = badValue(value, fmt::format("must be at most 0777, got {:o}", *mask));
        readTop(key, value, std::move(mask), config_.umask);
      } else if (name == "minfds" || name == "minprocs") {
        readTop(key, value, toLimit(value), name == "minfds" ? config_.minfds : config_.minprocs);
      } else if (name == "logfile_maxbytes") {
        readTop(key, value, toSize(value), config_.logfileMaxBytes);
      } else if (name == "logfile_backups") {
        auto backups = toInt(value);
        if (backups.ok() && (*backups < 0 || *backups > kMaxLogBackups)) {
          backups = badValue(value, fmt::format("must be between 0 and {}, got {}", kMaxLogBackups, *backups));
        }
        readTop(key, value, std::move(backups), config_.logfileBackups);
      } else {
        unknownKey(key, "", {"programs", "socket", "metrics", "hooks", "unix_http_server", "inet_http_server", "logfile",
                             "logfile_maxbytes", "logfile_backups", "loglevel", "pidfile", "umask", "directory",
                             "minfds", "minprocs"});
      }
    }
    if (!sawPrograms) {
      problems_.add(locate(root.Mark()), "", "missing 'programs' (a map of program names to their options)");
    }
    checkSharedFiles();
    for (auto& [program, message] : detail::nameClashes(config_.programs)) {
      problems_.add(places_[program].name, config_.programs[program].name, std::move(message));
    }
    checkDependencies();
    checkHookPrograms();
  }

 private:
  // uniqueEntries(), its problems reported as the program's.
  std::vector<Entry> entries(const YAML::Node& map, std::string_view program, std::string_view noun = "key") {
    std::vector<Bad> bad;
    auto found = uniqueEntries(map, bad, noun);
    for (auto& b : bad) problems_.add(b.at, program, std::move(b.message));
    return found;
  }

  void readPrograms(const YAML::Node& key, const YAML::Node& value) {
    if (value.IsNull()) return;  // every program commented out: a valid, empty configuration
    if (!value.IsMap()) {
      problems_.add(placeOf(key, value), "",
                    fmt::format("programs: expected a map of program names to options, got {}", describe(value)));
      return;
    }
    for (const auto& [name, body] : entries(value, "", "program")) readProgram(name, body);
  }

  // "HOST:PORT" or a port alone (loopback), as metrics::parseAddress() reads it.
  void readMetrics(const YAML::Node& key, const YAML::Node& value) {
    if (!value.IsScalar()) {
      problems_.add(placeOf(key, value), "",
                    fmt::format("metrics: expected HOST:PORT or a port, got {}", describe(value)));
      return;
    }
    auto address = metrics::parseAddress(value.Scalar());
    if (!address) {
      problems_.add(locate(value.Mark()), "", address.error().str());
      return;
    }
    config_.metrics = std::move(*address);
  }

  // supervisord's [unix_http_server] and [inet_http_server] with the same keys: a map, or a list of maps for
  // several servers of one kind.
  void readHttpServers(const YAML::Node& key, const YAML::Node& value) {
    if (value.IsSequence()) {
      for (const auto& item : value) readHttpServer(key, item);
    } else {
      readHttpServer(key, value);
    }
  }

  void readHttpServer(const YAML::Node& key, const YAML::Node& value) {
    const std::string& section = key.Scalar();
    const bool inet = section == "inet_http_server";
    const std::vector<std::string> known = inet ? std::vector<std::string>{"port", "username", "password"}
                                                : std::vector<std::string>{"file", "chmod", "chown", "username", "password"};
    if (!value.IsMap()) {
      problems_.add(placeOf(key, value), "",
                    fmt::format("{}: expected a map of {}, got {}", section, fmt::join(known, ", "), describe(value)));
      return;
    }
    HttpServerConfig server;
    server.kind = inet ? HttpServerConfig::Kind::inet : HttpServerConfig::Kind::unix_socket;
    bool failed = false;
    auto fail = [&](const YAML::Node& node, std::string_view option, std::string_view message) {
      problems_.add(locate(node.Mark()), "", fmt::format("{}: {}: {}", section, option, message));
      failed = true;
    };
    for (const auto& [optionKey, setting] : entries(value, "")) {
      const auto& option = optionKey.Scalar();
      if (std::ranges::find(known, option) == known.end()) {
        unknownKey(optionKey, "", known);
        continue;
      }
      auto text = scalar(setting, "a string");
      if (!text.ok() || text->empty()) {
        fail(setting.IsNull() ? optionKey : setting, option, text.ok() ? "must not be empty" : text.error().message);
        continue;
      }
      if (option == "port") {
        auto address = detail::iniInetAddress(*text);
        if (address.ok()) server.address = *address;
        else fail(setting, option, address.error().message);
      } else if (option == "file") {
        server.address = *text;
      } else if (option == "chmod") {
        auto mode = detail::iniOctal(*text);
        if (mode.ok()) server.chmod = *mode;
        else fail(setting, option, mode.error().message);
      } else if (option == "chown") {
        auto owner = detail::iniOwner(*text);
        if (owner.ok()) server.chown = *owner;
        else fail(setting, option, owner.error().message);
      } else {
        (option == "username" ? server.username : server.password) = *text;
      }
    }
    if (server.address.empty() && !failed) {
      problems_.add(locate(key.Mark()), "", fmt::format("{}: missing '{}'", section, inet ? "port" : "file"));
      failed = true;
    }
    if (server.username.has_value() != server.password.has_value()) {
      problems_.add(locate(key.Mark()), "",
                    fmt::format("{}: a username without a password, or a password without a username: give both or "
                                "neither",
                                section));
      failed = true;
    }
    if (!failed) config_.httpServers.push_back(std::move(server));
  }

  // `hooks:`, a list of maps (docs/hooks.md). A hook with a problem is left out, each problem reported.
  void readHooks(const YAML::Node& key, const YAML::Node& value) {
    if (value.IsNull()) return;
    if (!value.IsSequence()) {
      problems_.add(placeOf(key, value), "", fmt::format("hooks: expected a list of hooks, got {}", describe(value)));
      return;
    }
    int index = 0;
    for (const auto& item : value) readHook(item, ++index);
  }

  void readHook(const YAML::Node& item, int index) {
    const auto where = fmt::format("hooks[{}]", index);
    if (!item.IsMap()) {
      problems_.add(locate(item.Mark()), "", fmt::format("{}: expected a map with 'on' and one of exec, webhook, "
                                                         "syslog, email, got {}", where, describe(item)));
      return;
    }
    static const std::vector<std::string> known{"on", "programs", "exec", "webhook", "syslog", "email",
                                                 "rate_limit", "timeout"};
    HookSpec hook;
    bool failed = false;
    int kinds = 0;
    bool sawOn = false;
    auto fail = [&](const YAML::Node& node, std::string message) {
      problems_.add(locate(node.Mark()), "", fmt::format("{}: {}", where, message));
      failed = true;
    };
    for (const auto& [optionKey, setting] : entries(item, "")) {
      const auto& option = optionKey.Scalar();
      const auto& at = setting.IsNull() ? optionKey : setting;
      if (option == "on" || option == "programs") {
        auto names = toNames(setting);
        if (!names.ok()) {
          fail(at, fmt::format("{}: {}", option, names.error().message));
          continue;
        }
        if (option == "programs") {
          hook.programs = std::move(*names);
          hookPrograms_.push_back({setting, hook.programs});
          continue;
        }
        sawOn = true;
        std::size_t i = 0;
        for (const auto& name : *names) {
          auto canonical = hookEventName(name);
          const auto& node = setting.IsSequence() ? setting[i] : setting;
          ++i;
          if (canonical) {
            hook.on.push_back(std::move(*canonical));
            continue;
          }
          std::vector<std::string> lower;
          for (const auto& event : hookEventNames()) lower.push_back(detail::toLower(event));
          auto guess = suggest(detail::toLower(name), lower);
          fail(node, fmt::format("on: unknown event '{}'{}", name,
                                 guess ? fmt::format(" (did you mean '{}'?)", *hookEventName(*guess)) : ""));
        }
      } else if (option == "exec" || option == "webhook" || option == "syslog" || option == "email") {
        ++kinds;
        auto error = readDelivery(option, setting, hook);
        if (error && !error->message.empty()) fail(at, error->message);
        failed = failed || error.has_value();
      } else if (option == "rate_limit" || option == "timeout") {
        auto duration = toDuration(setting);
        if (!duration.ok()) fail(at, fmt::format("{}: {}", option, duration.error().message));
        else if (option == "timeout" && *duration <= Duration::zero()) fail(at, "timeout: must be more than 0");
        else if (option == "timeout") hook.timeout = *duration;
        else hook.rateLimit = *duration;
      } else {
        unknownKey(optionKey, "", known);
        failed = true;
      }
    }
    if (!sawOn) fail(item, "missing 'on' (the events: FATAL, unexpected_exit, ...)");
    if (kinds != 1) {
      fail(item, kinds == 0 ? "missing what to do: one of exec, webhook, syslog, email"
                            : "more than one of exec, webhook, syslog, email: give each its own hook");
    }
    if (!failed) config_.hooks.push_back(std::move(hook));
  }

  // A name or a list of names.
  static Checked<std::vector<std::string>> toNames(const YAML::Node& value) {
    std::vector<std::string> names;
    if (value.IsScalar() && !value.Scalar().empty()) return std::vector<std::string>{value.Scalar()};
    if (!value.IsSequence() || value.size() == 0) return expected(value, "a name or a list of names");
    for (const auto& item : value) {
      if (!item.IsScalar() || item.Scalar().empty()) return expected(item, "a name");
      names.push_back(item.Scalar());
    }
    return names;
  }

  // exec: COMMAND; webhook: URL or {url, timeout}; syslog: {facility, tag, socket}; email: {to, from, sendmail}.
  // nullopt when it is right; an empty message when the problem is reported already.
  std::optional<Bad> readDelivery(const std::string& kind, const YAML::Node& value, HookSpec& hook) {
    if (kind == "exec") {
      hook.kind = HookSpec::Kind::exec;
      auto command = scalar(value, "a command");
      if (!command.ok() || command->empty()) return Bad{{}, "exec: expected a command"};
      hook.command = *command;
      return std::nullopt;
    }
    if (kind == "webhook" && value.IsScalar()) {
      hook.kind = HookSpec::Kind::webhook;
      hook.url = value.Scalar();
      return checkUrl(hook.url);
    }
    const std::vector<std::string> keys = kind == "webhook" ? std::vector<std::string>{"url", "timeout"}
                                          : kind == "syslog" ? std::vector<std::string>{"facility", "tag", "socket"}
                                                             : std::vector<std::string>{"to", "from", "sendmail"};
    hook.kind = kind == "webhook" ? HookSpec::Kind::webhook
                : kind == "syslog" ? HookSpec::Kind::syslog
                                   : HookSpec::Kind::email;
    if (value.IsNull() && kind == "syslog") return std::nullopt;  // every default
    if (!value.IsMap()) {
      return Bad{{}, fmt::format("{}: expected {}a map of {}, got {}", kind, kind == "webhook" ? "a URL or " : "",
                              fmt::join(keys, ", "), describe(value))};
    }
    for (const auto& [optionKey, setting] : entries(value, "")) {
      const auto& option = optionKey.Scalar();
      if (std::ranges::find(keys, option) == keys.end()) {
        unknownKey(optionKey, "", keys);
        return Bad{};
      }
      if (option == "timeout") {
        auto duration = toDuration(setting);
        if (!duration.ok() || *duration <= Duration::zero())
          return Bad{{}, fmt::format("webhook: timeout: {}", duration.ok() ? "must be more than 0" : duration.error().message)};
        hook.timeout = *duration;
        continue;
      }
      auto text = scalar(setting, "a string");
      if (!text.ok() || text->empty()) return Bad{{}, fmt::format("{}: {}: expected a non-empty string", kind, option)};
      if (option == "url") hook.url = *text;
      else if (option == "facility") hook.facility = detail::toLower(*text);
      else if (option == "tag") hook.tag = *text;
      else if (option == "socket") hook.socket = *text;
      else if (option == "to") hook.to = *text;
      else if (option == "from") hook.from = *text;
      else hook.sendmail = *text;
    }
    if (kind == "webhook") return hook.url.empty() ? std::optional<Bad>(Bad{{}, "webhook: missing 'url'"}) : checkUrl(hook.url);
    if (kind == "email" && hook.to.empty()) return Bad{{}, "email: missing 'to' (the recipients)"};
    if (kind == "syslog" && !syslogFacility(hook.facility)) {
      return Bad{{}, fmt::format("syslog: facility: unknown facility '{}' (kern, user, mail, daemon, auth, syslog, lpr, "
                              "news, uucp, cron, authpriv, ftp, local0 to local7)", hook.facility)};
    }
    if (kind == "email" && (hook.to.find_first_of("\r\n") != std::string::npos ||
                            hook.from.find_first_of("\r\n") != std::string::npos))
      return Bad{{}, "email: to and from must be one line each"};
    return std::nullopt;
  }

  static std::optional<Bad> checkUrl(const std::string& url) {
    if (url.starts_with("http://") || url.starts_with("https://")) return std::nullopt;
    return Bad{{}, fmt::format("webhook: expected an http:// or https:// URL, got '{}'", escapeControl(url))};
  }

  // A hook's `programs` must name programs (or groups) of the configuration.
  void checkHookPrograms() {
    std::vector<std::string> names;
    for (const auto& spec : config_.programs) {
      names.push_back(spec.name);
      names.emplace_back(spec.group());
    }
    for (const auto& [node, programs] : hookPrograms_) {
      std::size_t i = 0;
      for (const auto& name : programs) {
        const auto& at = node.IsSequence() ? node[i] : node;
        ++i;
        if (std::ranges::find(names, name) != names.end()) continue;
        auto guess = suggest(name, names);
        problems_.add(locate(at.Mark()), "", fmt::format("hooks: programs: no program '{}'{}", name,
                                                         guess ? fmt::format(" (did you mean '{}'?)", *guess) : ""));
      }
    }
  }

  void readTopPath(const YAML::Node& key, const YAML::Node& value, std::optional<std::string>& field) {
    const auto& name = key.Scalar();
    if (!value.IsScalar()) {
      problems_.add(placeOf(key, value), "", fmt::format("{}: expected a path, got {}", name, describe(value)));
    } else if (value.Scalar().empty()) {
      problems_.add(locate(value.Mark()), "", fmt::format("{}: must not be empty", name));
    } else if (value.Scalar().find('\0') != std::string::npos) {
      problems_.add(locate(value.Mark()), "", fmt::format("{}: must not contain NUL characters", name));
    } else {
      field = value.Scalar();
    }
  }

  template <class T>
  void readTop(const YAML::Node& key, const YAML::Node& value, Checked<T> read, std::optional<T>& field) {
    if (read.ok()) {
      field = std::move(*read);
      return;
    }
    const Location at = value.IsNull() ? locate(key.Mark()) : read.error().at;
    problems_.add(at, "", fmt::format("{}: {}", key.Scalar(), read.error().message));
  }

  void readProgram(const YAML::Node& nameKey, const YAML::Node& body) {
    ProgramSpec spec;
    spec.name = nameKey.Scalar();
    if (!body.IsMap()) {
      problems_.add(placeOf(nameKey, body), spec.name,
                    fmt::format("expected a map of options, got {}", describe(body)));
      return;
    }
    std::map<std::string, Location, std::less<>> where;  // option -> its value, to place validate()'s findings
    std::set<std::string, std::less<>> reported;        // options already reported, not to report twice
    for (const auto& [key, value] : entries(body, spec.name)) {
      const auto& option = key.Scalar();
      auto known = std::ranges::find(kOptions, option, &Option::key);
      if (known == kOptions.end()) {
        unknownKey(key, spec.name, optionNames());
        continue;
      }
      where.emplace(option, placeOf(key, value));
      auto verdict = known->read(value, spec);
      for (auto& bad : verdict.entries) {
        problems_.add(bad.at, spec.name, fmt::format("{}: {}", option, bad.message));
      }
      if (verdict.refused) {
        const Location at = value.IsNull() ? locate(key.Mark()) : verdict.refused->at;
        problems_.add(at, spec.name, fmt::format("{}: {}", option, verdict.refused->message));
        reported.insert(option);
      }
    }
    if (!where.contains("cmd")) {
      problems_.add(locate(nameKey.Mark()), spec.name, "missing 'cmd' (the command to run)");
      reported.insert("cmd");
    }
    // An event listener reads its events on stdin, as supervisord gives every program a stdin pipe.
    if (!spec.events.empty() && !where.contains("stdin")) spec.stdin = true;
    appendOnlyWhenShared(spec, where);
    places_.push_back({.name = locate(nameKey.Mark()), .options = where, .dependencies = dependencyPlaces(body)});
    // validate() starts each finding with the option's name: "numprocs: must be between ...".
    for (auto& message : spec.validate()) {
      auto option = message.substr(0, message.find(':'));
      if (reported.contains(option)) continue;
      auto at = where.find(option);
      problems_.add(at != where.end() ? at->second : locate(nameKey.Mark()), spec.name, std::move(message));
    }
    config_.programs.push_back(std::move(spec));
  }

  // Files written by more than one program: validate() has seen the instances and streams of each program
  // alone. A file shared by programs is appended to without rotating, as one shared by instances, unless a
  // writer asks for rotation: then it is an error, for the same reason.
  void checkSharedFiles() {
    struct Writer {
      std::size_t program;
      StdStream stream;
      int index;
    };
    std::map<std::string, std::vector<Writer>, std::less<>> writers;  // by file
    for (std::size_t program = 0; program < config_.programs.size(); ++program) {
      const auto& spec = config_.programs[program];
      // validate() reports a numprocs out of range; 10000 is its maximum.
      const int instances = std::clamp(spec.numprocs, 1, 10000);
      for (auto stream : kStreams) {
        for (int index = 0; index < instances; ++index) {
          auto path = ownFile(spec, stream, index);
          if (!path) continue;
          auto& list = writers[*path];
          if (list.empty() || list.back().program != program) list.push_back({program, stream, index});
        }
      }
    }
    for (auto& [path, list] : writers) {
      if (list.size() < 2) continue;  // one program's own sharing is validate()'s
      auto rotating = std::ranges::find_if(list, [&](const Writer& w) {
        return rotationOf(config_.programs[w.program], w.stream).maxBytes > 0 &&
               places_[w.program].options.contains(maxBytesKey(w.stream));
      });
      if (rotating == list.end()) {
        for (const auto& w : list) rotationOf(config_.programs[w.program], w.stream).maxBytes = 0;
        continue;
      }
      const auto& other = *(rotating == list.begin() ? list.begin() + 1 : list.begin());
      const auto& spec = config_.programs[rotating->program];
      const auto& otherSpec = config_.programs[other.program];
      const auto key = to_string(rotating->stream);
      auto at = places_[rotating->program].options.find(key);
      problems_.add(at != places_[rotating->program].options.end() ? at->second : places_[rotating->program].name,
                    spec.name,
                    fmt::format("{}: the rotated file '{}' is also the {} of program '{}': a rotated file must have "
                                "one writer; give each program its own file (or set {}: 0 to append without "
                                "rotating)",
                                key, path, to_string(other.stream), otherSpec.name, maxBytesKey(rotating->stream)));
    }
  }

  // Where each entry of a program's depends_on is written, by name (a name written twice: its second place).
  static std::map<std::string, Location, std::less<>> dependencyPlaces(const YAML::Node& body) {
    std::map<std::string, Location, std::less<>> out;
    const YAML::Node value = body["depends_on"];
    if (!value || !(value.IsSequence() || value.IsMap())) return out;
    for (auto it = value.begin(); it != value.end(); ++it) {
      const YAML::Node name = value.IsMap() ? it->first : *it;
      if (name.IsScalar()) out.insert_or_assign(name.Scalar(), locate(name.Mark()));
    }
    return out;
  }

  // Names that are no program, a program depending on itself, and cycles, at the entry that makes each.
  void checkDependencies() {
    std::vector<const ProgramSpec*> programs;
    for (const auto& spec : config_.programs) programs.push_back(&spec);
    for (auto& problem : detail::dependencyProblems(programs)) {
      const auto& spec = config_.programs[problem.program];
      const auto& places = places_[problem.program];
      auto at = places.dependencies.find(spec.dependsOn[problem.dependency].program);
      problems_.add(at != places.dependencies.end() ? at->second : places.name, spec.name, std::move(problem.message));
    }
  }

  void unknownKey(const YAML::Node& key, std::string_view program, const std::vector<std::string>& known) {
    std::string message = fmt::format("unknown key '{}'", key.Scalar());
    if (key.Scalar() == "<<") {
      message += " (YAML merge keys are not supported)";
    } else if (auto guess = suggest(key.Scalar(), known)) {
      message += fmt::format(" (did you mean '{}'?)", *guess);
    }
    problems_.add(locate(key.Mark()), program, std::move(message));
  }

  static const std::vector<std::string>& optionNames() {
    static const std::vector<std::string> names = [] {
      std::vector<std::string> out;
      for (const auto& option : kOptions) out.emplace_back(option.key);
      return out;
    }();
    return names;
  }

  // Where each program of config_.programs was written, for the findings about the file as a whole.
  struct Places {
    Location name;
    std::map<std::string, Location, std::less<>> options;
    std::map<std::string, Location, std::less<>> dependencies;  // depends_on: each name's place
  };

  Problems& problems_;
  Config& config_;
  std::vector<Places> places_;  // one per program, in the same order
  std::vector<std::pair<YAML::Node, std::vector<std::string>>> hookPrograms_;  // checked once programs are read
};

// Documents in the text, counting to two at most, and where the second starts. Not YAML::LoadAll(): on some
// inputs (a lone ",") yaml-cpp 0.7 keeps reporting new documents, and LoadAll() never returns.
int countDocuments(const std::string& text, YAML::Mark& second) {
  struct Counter final : YAML::EventHandler {
    int documents = 0;
    YAML::Mark second;
    void OnDocumentStart(const YAML::Mark& mark) override {
      if (++documents == 2) second = mark;
    }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}
  } counter;
  std::istringstream in(text);
  YAML::Parser parser(in);
  while (counter.documents < 2 && parser.HandleNextDocument(counter)) {
  }
  second = counter.second;
  return counter.documents;
}

}  // namespace

ConfigResult parseConfig(std::string_view yaml, std::string_view filename) {
  ConfigResult result;
  result.config.path = filename;
  Problems problems(filename);
  try {
    const std::string text(yaml);
    YAML::Mark second;
    const int documents = countDocuments(text, second);
    const YAML::Node root = documents == 0 ? YAML::Node() : YAML::Load(text);
    if (documents > 1) {
      problems.add(locate(second), "", "expected one YAML document, found more");
    } else if (documents == 0 || root.IsNull()) {
      problems.add({}, "", "empty configuration (expected a 'programs' map)");
    } else {
      Parser(problems, result.config).readRoot(root);
    }
  } catch (const YAML::DeepRecursion& e) {  // its own message is a bare "bad file"
    problems.add(locate(e.mark), "", "invalid YAML: nested too deeply");
  } catch (const YAML::Exception& e) {
    problems.add(locate(e.mark), "", fmt::format("invalid YAML: {}", escapeControl(e.msg)));
  } catch (const std::exception& e) {
    problems.add({}, "", e.what());
  }
  result.errors = problems.take();
  return result;
}

ConfigResult loadConfig(const std::string& path) {
  auto text = detail::readFile(path);
  if (text.ok()) return supervisordFormat(*text) ? parseSupervisordConfig(*text, path) : parseConfig(*text, path);
  ConfigResult result;
  result.config.path = path;
  Problems problems(path);
  problems.add(text.error().at, "", std::move(text.error().message));
  result.errors = problems.take();
  return result;
}

}  // namespace taskmaster::inline v0
