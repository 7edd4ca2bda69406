#include <taskmaster/config.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <exception>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>

#include <fmt/format.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

namespace taskmaster::inline v0 {

namespace {

// One bad value. Thrown by the readers of single values and caught per key, so that one bad option never hides
// the problems of the others.
struct ValueError {
  YAML::Mark mark;
  std::string message;
};

// Every diagnostic of one file, in the order found.
class Problems {
 public:
  explicit Problems(std::string_view file) : file_(file) {}

  void add(const YAML::Mark& at, std::string_view program, std::string message) {
    // yaml-cpp marks are 0-based; a null mark (line -1) means "unknown", which Diagnostic spells 0.
    bool known = !at.is_null() && at.line >= 0;
    list_.push_back(Diagnostic{.file = file_,
                               .line = known ? at.line + 1 : 0,
                               .column = known ? at.column + 1 : 0,
                               .program = std::string(program),
                               .message = std::move(message)});
  }

  // In file order, as an editor would walk them; problems without a place come first.
  std::vector<Diagnostic> take() {
    std::ranges::stable_sort(list_, {}, [](const Diagnostic& d) { return std::pair{d.line, d.column}; });
    return std::move(list_);
  }

 private:
  std::string file_;
  std::vector<Diagnostic> list_;
};

std::string lower(std::string_view text) {
  std::string out(text);
  std::ranges::transform(out, out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The text with control characters shown as \xNN: a value echoed in a message stays on one line and cannot
// forge a log line or drive the terminal.
std::string printable(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += static_cast<char>(c);
  }
  return out;
}

// "'lots'", "a list": what the user wrote, for "expected X, got Y".
std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: return fmt::format("'{}'", printable(node.Scalar()));
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a map";
    default: return "nothing";
  }
}

// An empty value (`key:`) gets a mark on the following line; the key is where the user looks.
YAML::Mark markOf(const YAML::Node& key, const YAML::Node& value) { return value.IsNull() ? key.Mark() : value.Mark(); }

[[noreturn]] void fail(const YAML::Node& node, std::string_view expected) {
  throw ValueError{node.Mark(), fmt::format("expected {}, got {}", expected, describe(node))};
}

// Every value is read from its scalar text, so `numprocs: "2"` and `numprocs: 2` mean the same.
const std::string& scalar(const YAML::Node& node, std::string_view expected) {
  if (!node.IsScalar()) fail(node, expected);
  return node.Scalar();
}

int toInt(const YAML::Node& node) {
  const auto& text = scalar(node, "an integer");
  int value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec == std::errc::result_out_of_range) throw ValueError{node.Mark(), fmt::format("{} is out of range", text)};
  if (text.empty() || ec != std::errc{} || ptr != end) fail(node, "an integer");
  return value;
}

bool toBool(const YAML::Node& node) {
  // The YAML 1.1 spellings too: people write them, and yaml-cpp itself accepts them.
  auto text = lower(scalar(node, "true or false"));
  if (text == "true" || text == "yes" || text == "on") return true;
  if (text == "false" || text == "no" || text == "off") return false;
  fail(node, "true or false");
}

Duration toDuration(const YAML::Node& node) {
  constexpr std::string_view kExpected = "a duration such as 10, 1.5, 500ms, 2m or 1h";
  auto duration = parseDuration(scalar(node, kExpected));
  if (!duration) fail(node, kExpected);
  return *duration;
}

void readCmd(const YAML::Node& value, ProgramSpec& spec, Problems&) {
  if (value.IsSequence()) {  // already an argv: taken verbatim
    std::vector<std::string> argv;
    for (const auto& item : value) argv.push_back(scalar(item, "a string"));
    spec.cmd = std::move(argv);
    return;
  }
  const auto& line = scalar(value, "a command line or a list of arguments");
  auto words = splitCommand(line);
  if (!words) throw ValueError{value.Mark(), fmt::format("unterminated quote or trailing backslash in '{}'", line)};
  spec.cmd = std::move(*words);
}

void readAutorestart(const YAML::Node& value, ProgramSpec& spec, Problems&) {
  constexpr std::string_view kExpected = "always, never or unexpected";
  auto text = lower(scalar(value, kExpected));
  for (auto policy : {AutoRestart::always, AutoRestart::never, AutoRestart::unexpected}) {
    if (text == to_string(policy)) {
      spec.autorestart = policy;
      return;
    }
  }
  try {
    spec.autorestart = toBool(value) ? AutoRestart::always : AutoRestart::never;
  } catch (const ValueError&) {
    std::string message = fmt::format("expected {}, got {}", kExpected, describe(value));
    if (auto guess = suggest(text, {"always", "never", "unexpected"})) {
      message += fmt::format(" (did you mean '{}'?)", *guess);
    }
    throw ValueError{value.Mark(), std::move(message)};
  }
}

void readExitcodes(const YAML::Node& value, ProgramSpec& spec, Problems&) {
  auto code = [](const YAML::Node& item) {
    int number = toInt(item);
    // Also checked by validate(); here the mark can point at the very item.
    if (number < 0 || number > 255) {
      throw ValueError{item.Mark(), fmt::format("{} is not an exit code (0-255)", number)};
    }
    return number;
  };
  if (value.IsScalar()) {
    spec.exitcodes = {code(value)};
    return;
  }
  if (!value.IsSequence()) fail(value, "an exit code or a list of exit codes");
  spec.exitcodes.clear();
  for (const auto& item : value) spec.exitcodes.push_back(code(item));
}

void readStopsignal(const YAML::Node& value, ProgramSpec& spec, Problems&) {
  const auto& text = scalar(value, "a signal name or number");
  if (auto signal = parseSignal(text)) {
    spec.stopsignal = *signal;
    return;
  }
  if (!text.empty() && std::ranges::all_of(text, [](unsigned char c) { return std::isdigit(c); })) {
    throw ValueError{value.Mark(), fmt::format("no signal has the number {}", text)};
  }
  std::vector<std::string> names;
  for (int number = 1; number <= 64; ++number) names.push_back(signalName(number));
  std::string name = text;
  if (lower(name).starts_with("sig")) name.erase(0, 3);
  std::string message = fmt::format("unknown signal '{}'", text);
  if (auto guess = suggest(name, names)) message += fmt::format(" (did you mean '{}'?)", *guess);
  throw ValueError{value.Mark(), std::move(message)};
}

void readUmask(const YAML::Node& value, ProgramSpec& spec, Problems&) {
  // Always octal, whether written 022, "022" or 0o22: a umask is never meant in decimal.
  constexpr std::string_view kExpected = "an octal umask such as 022";
  std::string_view text = scalar(value, kExpected);
  if (text.starts_with("0o") || text.starts_with("0O")) text.remove_prefix(2);
  unsigned mask = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), mask, 8);
  if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size()) fail(value, kExpected);
  spec.umask = mask;  // validate() reports a value above 0777
}

struct Entry {
  YAML::Node key;
  YAML::Node value;
};

// The entries of a map, each key once: yaml-cpp accepts duplicate keys silently, keeping both.
std::vector<Entry> uniqueEntries(const YAML::Node& map, Problems& problems, std::string_view program,
                                 std::string_view prefix = "", std::string_view noun = "key") {
  std::vector<Entry> entries;
  std::map<std::string, int, std::less<>> firstLine;
  for (const auto& entry : map) {
    const YAML::Node& key = entry.first;
    if (!key.IsScalar()) {
      problems.add(key.Mark(), program, fmt::format("{}expected a {} name, got {}", prefix, noun, describe(key)));
      continue;
    }
    auto [first, inserted] = firstLine.emplace(key.Scalar(), key.Mark().line + 1);
    if (!inserted) {
      problems.add(key.Mark(), program, fmt::format("{}duplicate {} '{}' (first defined at line {})", prefix, noun,
                                                    key.Scalar(), first->second));
      continue;
    }
    entries.push_back({key, entry.second});
  }
  return entries;
}

void readEnv(const YAML::Node& value, ProgramSpec& spec, Problems& problems) {
  if (!value.IsMap()) fail(value, "a map of variable names to values");
  for (const auto& [key, text] : uniqueEntries(value, problems, spec.name, "env: ")) {
    if (!text.IsScalar()) {  // numbers and booleans are scalars too, taken as written
      problems.add(markOf(key, text), spec.name,
                   fmt::format("env: {}: expected a string, got {}", key.Scalar(), describe(text)));
      continue;
    }
    spec.env.emplace(key.Scalar(), text.Scalar());
  }
}

using Reader = void (*)(const YAML::Node& value, ProgramSpec& spec, Problems& problems);

struct Option {
  std::string_view key;
  Reader read;
};

const auto kOptions = std::to_array<Option>({
    {"cmd", readCmd},
    {"numprocs", [](const YAML::Node& v, ProgramSpec& s, Problems&) { s.numprocs = toInt(v); }},
    {"autostart", [](const YAML::Node& v, ProgramSpec& s, Problems&) { s.autostart = toBool(v); }},
    {"autorestart", readAutorestart},
    {"exitcodes", readExitcodes},
    {"starttime", [](const YAML::Node& v, ProgramSpec& s, Problems&) { s.starttime = toDuration(v); }},
    {"startretries", [](const YAML::Node& v, ProgramSpec& s, Problems&) { s.startretries = toInt(v); }},
    {"stopsignal", readStopsignal},
    {"stoptime", [](const YAML::Node& v, ProgramSpec& s, Problems&) { s.stoptime = toDuration(v); }},
    {"stdout", [](const YAML::Node& v, ProgramSpec& s, Problems&) { s.stdoutPath = scalar(v, "a path"); }},
    {"stderr", [](const YAML::Node& v, ProgramSpec& s, Problems&) { s.stderrPath = scalar(v, "a path"); }},
    {"env", readEnv},
    {"workingdir", [](const YAML::Node& v, ProgramSpec& s, Problems&) { s.workingdir = scalar(v, "a path"); }},
    {"umask", readUmask},
    {"user", [](const YAML::Node& v, ProgramSpec& s, Problems&) { s.user = scalar(v, "a user name"); }},
    {"stopasgroup", [](const YAML::Node& v, ProgramSpec& s, Problems&) { s.stopasgroup = toBool(v); }},
    {"killasgroup", [](const YAML::Node& v, ProgramSpec& s, Problems&) { s.killasgroup = toBool(v); }},
});

class Parser {
 public:
  Parser(Problems& problems, Config& config) : problems_(problems), config_(config) {}

  void readRoot(const YAML::Node& root) {
    if (!root.IsMap()) {
      problems_.add(root.Mark(), "",
                    fmt::format("expected a map with 'programs' at the top level, got {}", describe(root)));
      return;
    }
    bool sawPrograms = false;
    for (const auto& [key, value] : uniqueEntries(root, problems_, "")) {
      if (key.Scalar() == "programs") {
        sawPrograms = true;
        readPrograms(key, value);
      } else if (key.Scalar() == "socket") {
        readSocket(key, value);
      } else {
        unknownKey(key, "", {"programs", "socket"});
      }
    }
    if (!sawPrograms) problems_.add(root.Mark(), "", "missing 'programs' (a map of program names to their options)");
  }

 private:
  void readPrograms(const YAML::Node& key, const YAML::Node& value) {
    if (value.IsNull()) return;  // every program commented out: a valid, empty configuration
    if (!value.IsMap()) {
      problems_.add(markOf(key, value), "",
                    fmt::format("programs: expected a map of program names to options, got {}", describe(value)));
      return;
    }
    for (const auto& [name, body] : uniqueEntries(value, problems_, "", "", "program")) readProgram(name, body);
  }

  void readSocket(const YAML::Node& key, const YAML::Node& value) {
    if (!value.IsScalar()) {
      problems_.add(markOf(key, value), "", fmt::format("socket: expected a path, got {}", describe(value)));
    } else if (value.Scalar().empty()) {
      problems_.add(value.Mark(), "", "socket: must not be empty");
    } else {
      config_.socket = value.Scalar();
    }
  }

  void readProgram(const YAML::Node& nameKey, const YAML::Node& body) {
    ProgramSpec spec;
    spec.name = nameKey.Scalar();
    if (!body.IsMap()) {
      problems_.add(markOf(nameKey, body), spec.name,
                    fmt::format("expected a map of options, got {}", describe(body)));
      return;
    }
    std::map<std::string, YAML::Mark, std::less<>> where;  // option -> its value, to place validate()'s findings
    std::set<std::string, std::less<>> reported;           // options already reported, not to report twice
    for (const auto& [key, value] : uniqueEntries(body, problems_, spec.name)) {
      const auto& option = key.Scalar();
      auto known = std::ranges::find(kOptions, option, &Option::key);
      if (known == kOptions.end()) {
        unknownKey(key, spec.name, optionNames());
        continue;
      }
      where.emplace(option, markOf(key, value));
      try {
        known->read(value, spec, problems_);
      } catch (const ValueError& e) {
        problems_.add(value.IsNull() ? key.Mark() : e.mark, spec.name, fmt::format("{}: {}", option, e.message));
        reported.insert(option);
      }
    }
    if (!where.contains("cmd")) {
      problems_.add(nameKey.Mark(), spec.name, "missing 'cmd' (the command to run)");
      reported.insert("cmd");
    }
    // validate() starts each finding with the option's name: "numprocs: must be between ...".
    for (auto& message : spec.validate()) {
      auto option = message.substr(0, message.find(':'));
      if (reported.contains(option)) continue;
      auto at = where.find(option);
      problems_.add(at != where.end() ? at->second : nameKey.Mark(), spec.name, std::move(message));
    }
    config_.programs.push_back(std::move(spec));
  }

  void unknownKey(const YAML::Node& key, std::string_view program, const std::vector<std::string>& known) {
    std::string message = fmt::format("unknown key '{}'", key.Scalar());
    if (key.Scalar() == "<<") {
      message += " (YAML merge keys are not supported)";
    } else if (auto guess = suggest(key.Scalar(), known)) {
      message += fmt::format(" (did you mean '{}'?)", *guess);
    }
    problems_.add(key.Mark(), program, std::move(message));
  }

  static const std::vector<std::string>& optionNames() {
    static const std::vector<std::string> names = [] {
      std::vector<std::string> out;
      for (const auto& option : kOptions) out.emplace_back(option.key);
      return out;
    }();
    return names;
  }

  Problems& problems_;
  Config& config_;
};

// The whole file, or the reason it cannot be read. A directory opens fine, so it is refused explicitly.
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

constexpr off_t kMaxConfigBytes = 16 << 20;

// The file's text, or `problem` set. Only regular files of sane size: a FIFO would block the loop in open()
// or read(), and /dev/zero would never end.
std::string readFile(const std::string& path, std::string& problem) {
  std::string text;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    problem = fmt::format("cannot read: {}", std::generic_category().message(errno));
    return text;
  }
  struct stat info {};
  if (::fstat(fd, &info) < 0) {
    problem = fmt::format("cannot read: {}", std::generic_category().message(errno));
  } else if (S_ISDIR(info.st_mode)) {
    problem = "cannot read: Is a directory";
  } else if (!S_ISREG(info.st_mode)) {
    problem = "cannot read: not a regular file";
  } else if (info.st_size > kMaxConfigBytes) {
    problem = fmt::format("cannot read: larger than {} MiB", kMaxConfigBytes >> 20);
  } else {
    char buffer[8192];
    for (;;) {
      ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n > 0) {
        text.append(buffer, static_cast<std::size_t>(n));
        if (static_cast<off_t>(text.size()) > kMaxConfigBytes) {
          problem = fmt::format("cannot read: larger than {} MiB", kMaxConfigBytes >> 20);
          break;
        }
      } else if (n == 0) {
        break;
      } else if (errno != EINTR) {
        problem = fmt::format("cannot read: {}", std::generic_category().message(errno));
        break;
      }
    }
  }
  ::close(fd);
  return text;
}

// Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours, the usual
// typos. Case is ignored: "CMD" is a near miss of "cmd".
std::size_t editDistance(std::string_view left, std::string_view right) {
  std::string a = lower(left);
  std::string b = lower(right);
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t substitution = d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, substitution});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

std::string Diagnostic::str() const {
  std::string out = file;
  if (line > 0) out += fmt::format(":{}", line);
  if (line > 0 && column > 0) out += fmt::format(":{}", column);
  out += ": ";
  if (!program.empty()) out += fmt::format("program '{}': ", program);
  return out + message;
}

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
      problems.add(second, "", "expected one YAML document, found more");
    } else if (documents == 0 || root.IsNull()) {
      problems.add(YAML::Mark::null_mark(), "", "empty configuration (expected a 'programs' map)");
    } else {
      Parser(problems, result.config).readRoot(root);
    }
  } catch (const YAML::DeepRecursion& e) {  // its own message is a bare "bad file"
    problems.add(e.mark, "", "invalid YAML: nested too deeply");
  } catch (const YAML::Exception& e) {
    problems.add(e.mark, "", fmt::format("invalid YAML: {}", printable(e.msg)));
  } catch (const std::exception& e) {
    problems.add(YAML::Mark::null_mark(), "", e.what());
  }
  result.errors = problems.take();
  return result;
}

ConfigResult loadConfig(const std::string& path) {
  std::string problem;
  std::string text = readFile(path, problem);
  if (!problem.empty()) {
    ConfigResult result;
    result.config.path = path;
    Problems problems(path);
    problems.add(YAML::Mark::null_mark(), "", std::move(problem));
    result.errors = problems.take();
    return result;
  }
  return parseConfig(text, path);
}

std::optional<std::string> suggest(std::string_view word, const std::vector<std::string>& candidates) {
  const std::size_t limit = std::max<std::size_t>(1, word.size() / 3);  // further off is no typo
  std::optional<std::string> best;
  std::size_t bestDistance = 0;
  for (const auto& candidate : candidates) {
    std::size_t distance = editDistance(word, candidate);
    if (distance <= limit && (!best || distance < bestDistance)) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

}  // namespace taskmaster::inline v0
