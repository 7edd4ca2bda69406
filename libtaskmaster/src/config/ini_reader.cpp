// The supervisord reader: programs and groups, in supervisord's order of starting (ini_reader.hpp).
#include "config/ini_reader.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <taskmaster/util.hpp>

#include "config/ini_values.hpp"
#include "config/reader.hpp"
#include "util/text.hpp"

extern char** environ;  // for ENV_X: the environment taskmaster was started with

namespace taskmaster::inline v0 {

namespace detail {

namespace {

// Every key of [program:x] that supervisord reads.
constexpr std::array kProgramKeys{
    "command", "process_name", "numprocs", "numprocs_start", "priority", "autostart", "startsecs", "startretries",
    "autorestart", "exitcodes", "stopsignal", "stopwaitsecs", "stopasgroup", "killasgroup", "user",
    "redirect_stderr", "stdout_logfile", "stdout_logfile_maxbytes", "stdout_logfile_backups",
    "stdout_capture_maxbytes", "stdout_events_enabled", "stdout_syslog", "stderr_logfile", "stderr_logfile_maxbytes",
    "stderr_logfile_backups", "stderr_capture_maxbytes", "stderr_events_enabled", "stderr_syslog", "environment",
    "directory", "umask", "serverurl"};

// What [eventlistener:x] reads besides them.
constexpr std::array kListenerKeys{"events", "buffer_size", "result_handler"};

// The one result handler taskmaster has: supervisord's default (accept on OK, requeue on anything else).
constexpr std::string_view kDefaultResultHandler = "supervisor.dispatchers:default_handler";

bool isListener(const IniSection& section) { return section.name.starts_with("eventlistener:"); }

// taskmaster's names in ProgramSpec::validate()'s messages, and the supervisord keys they come from.
constexpr std::array<std::pair<std::string_view, std::string_view>, 11> kValidateKeys{{
    {"cmd", "command"}, {"starttime", "startsecs"}, {"stoptime", "stopwaitsecs"}, {"stdout", "stdout_logfile"},
    {"stderr", "stderr_logfile"}, {"workingdir", "directory"}, {"env", "environment"}, {"name", "process_name"},
    {"numprocs", "numprocs"}, {"events", "events"}, {"buffer_size", "buffer_size"}}};

// supervisord's name rule for programs, groups and processes (datatypes.process_or_group_name): these
// characters break its event protocol and web URLs, and ':' separates GROUP:PROCESS.
std::optional<std::string> badName(std::string_view name) {
  if (name.empty()) return "a name must not be empty";
  for (char c : std::string_view(" :/")) {
    if (name.find(c) != std::string_view::npos) {
      return fmt::format("invalid name '{}': it must not contain '{}'", escapeControl(name), c);
    }
  }
  return std::nullopt;
}

}  // namespace

std::string directoryOf(const std::string& file) {
  std::error_code error;
  auto absolute = std::filesystem::absolute(file, error);
  if (error) absolute = file;
  return absolute.parent_path().string();
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || (text.front() >= '\t' && text.front() <= '\r')))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || (text.back() >= '\t' && text.back() <= '\r'))) text.remove_suffix(1);
  return text;
}

std::string hostNodeName() {
  std::array<char, 256> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0) return "localhost";
  return name.data();
}

SupervisordReader::SupervisordReader(std::string_view file) : main_(file) {
  order_.push_back(main_);
  for (char** variable = environ; variable != nullptr && *variable != nullptr; ++variable) {
    const std::string_view entry(*variable);
    const auto equals = entry.find('=');
    if (equals == std::string_view::npos) continue;
    environment_[fmt::format("ENV_{}", entry.substr(0, equals))] = std::string(entry.substr(equals + 1));
  }
  result_.config.path = main_;
  result_.config.format = ConfigFormat::supervisord;
}

ConfigResult SupervisordReader::read(std::string_view text) {
  std::vector<Bad> syntax;
  parseIni(text, main_, document_, syntax);
  for (auto& bad : syntax) error(main_, bad.at.line, "", std::move(bad.message));
  readIncludes();
  readSupervisord();
  readServers();
  readOtherSections();
  readPrograms();
  finish();
  return std::move(result_);
}

Diagnostic SupervisordReader::diagnostic(const std::string& file, int line, std::string_view where,
                                         std::string message) {
  Diagnostic out;
  out.file = file;
  out.line = line;
  for (std::string_view kind : {"program:", "fcgi-program:", "eventlistener:"}) {
    if (where.starts_with(kind)) {
      out.program = trim(where.substr(kind.size()));
      out.message = std::move(message);
      return out;
    }
  }
  out.message = where.empty() ? std::move(message) : fmt::format("[{}] {}", where, message);
  return out;
}

void SupervisordReader::error(const std::string& file, int line, std::string_view where, std::string message) {
  errors_.push_back(diagnostic(file, line, where, std::move(message)));
}

void SupervisordReader::error(const IniValue& value, std::string_view where, std::string message) {
  error(value.file, value.line, where, fmt::format("{}: {}", value.key, std::move(message)));
}

void SupervisordReader::error(const IniSection& section, std::string message) {
  error(section.file, section.line, section.name, std::move(message));
}

void SupervisordReader::warning(const std::string& file, int line, std::string_view where, std::string message) {
  warnings_.push_back(diagnostic(file, line, where, std::move(message)));
}

void SupervisordReader::warning(const IniValue& value, std::string_view where, std::string message) {
  warning(value.file, value.line, where, fmt::format("{}: {}", value.key, std::move(message)));
}

void SupervisordReader::warning(const IniSection& section, std::string message) {
  warning(section.file, section.line, section.name, std::move(message));
}

std::optional<std::string> SupervisordReader::expanded(const IniValue& value, const IniSection& section,
                                                       const Expansions& names, int times) {
  std::string text = value.text;
  if (text.find('%') == std::string::npos) return text;  // most values: no copy of the names
  Expansions all = names;
  all["here"] = directoryOf(value.file);
  for (int i = 0; i < times; ++i) {
    auto done = expand(text, all);
    if (!done.ok()) {
      error(value, section.name, done.error().message);
      return std::nullopt;
    }
    text = std::move(*done);
  }
  return text;
}

void SupervisordReader::unknownKeys(const IniSection& section, const std::vector<std::string>& keys) {
  for (const auto& value : section.values) {
    if (std::ranges::find(keys, value.key) != keys.end()) continue;
    std::string message = "unknown key; ignored";
    if (auto guess = suggest(value.key, keys)) message += fmt::format(" (did you mean '{}'?)", *guess);
    warning(value, section.name, std::move(message));
  }
}

Expansions SupervisordReader::withHere(Expansions names, const IniValue& value) {
  names["here"] = directoryOf(value.file);
  return names;
}

void SupervisordReader::readPrograms() {
  std::set<std::string, std::less<>> grouped;  // program sections that a [group:x] takes
  for (const auto& section : document_.sections) {
    if (!section.name.starts_with("group:")) continue;
    readGroup(section, grouped);
  }
  for (const auto& section : document_.sections) {
    if (!section.name.starts_with("program:") || grouped.contains(section.name)) continue;
    const auto name = std::string(trim(std::string_view(section.name).substr(8)));
    // A program's own group has the program's priority.
    IniGroup group{.name = name, .priority = 999, .processes = readProgram(section, name)};
    if (!group.processes.empty()) group.priority = group.processes.front().priority;
    groups_.push_back(std::move(group));
  }
  // A pool of event listeners is a group of its own, as supervisord's: a [group:x] cannot take it.
  for (const auto& section : document_.sections) {
    if (!isListener(section)) continue;
    const auto name = std::string(trim(std::string_view(section.name).substr(14)));
    IniGroup group{.name = name, .priority = -1, .processes = readProgram(section, name)};
    if (!group.processes.empty()) group.priority = group.processes.front().priority;
    groups_.push_back(std::move(group));
  }
}

void SupervisordReader::readGroup(const IniSection& section, std::set<std::string, std::less<>>& grouped) {
  const auto name = std::string(trim(std::string_view(section.name).substr(6)));
  unknownKeys(section, {"programs", "priority"});
  if (auto problem = badName(name)) {
    error(section, *problem);
    return;
  }
  IniGroup group{.name = name, .priority = 999, .processes = {}};
  bool failed = false;
  Expansions names = environment_;
  group.priority = optional(
                       section, "priority", names,
                       [](std::string_view t) { return iniCount(t, std::numeric_limits<int>::min()); }, failed)
                       .value_or(999);
  auto programs = optional(
      section, "programs", names, [](std::string_view t) -> Checked<std::string> { return std::string(t); }, failed);
  std::set<std::string, std::less<>> members;
  const std::string list = programs.value_or("");
  std::string_view rest = list;
  while (programs && !programs->empty()) {
    const auto comma = rest.find(',');
    const auto member = std::string(trim(rest.substr(0, comma)));
    const auto* program = document_.find(fmt::format("program:{}", member));
    const auto* fcgi = document_.find(fmt::format("fcgi-program:{}", member));
    const auto* value = document_.get(section, "programs");
    if (program == nullptr && fcgi == nullptr) {
      error(*value, section.name, fmt::format("names unknown program '{}'", member));
      failed = true;
    } else if (program != nullptr && fcgi != nullptr) {
      error(*value, section.name, fmt::format("'{}' is ambiguous: both a program and an fcgi-program", member));
      failed = true;
    } else if (program != nullptr) {
      grouped.insert(program->name);
      if (!members.insert(member).second) {
        error(*value, section.name, fmt::format("names the program '{}' twice", member));
        failed = true;
      } else {
        for (auto& process : readProgram(*program, name)) group.processes.push_back(std::move(process));
      }
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (!failed) groups_.push_back(std::move(group));
}

Expansions SupervisordReader::programNames(const std::string& program, const std::string& group) const {
  Expansions names = environment_;
  names["program_name"] = program;
  names["group_name"] = group;
  names["host_node_name"] = hostNode_;
  return names;
}

std::optional<SupervisordReader::Common> SupervisordReader::readCommon(const IniSection& section,
                                                                       const Expansions& names, bool warn) {
  Common common;
  auto& spec = common.spec;
  bool failed = false;
  auto get = [&](std::string_view key, auto convert) { return optional(section, key, names, convert, failed); };
  auto seconds = [](std::string_view text) -> Checked<Duration> {
    auto value = iniCount(text, 0);
    if (!value.ok()) return value.error();
    return Duration(std::chrono::seconds(*value));
  };
  // Listeners start first and stop last (supervisord's default priority for them).
  spec.priority = get("priority", [](std::string_view t) { return iniCount(t, std::numeric_limits<int>::min()); })
                      .value_or(isListener(section) ? -1 : 999);
  spec.autostart = get("autostart", iniBoolean).value_or(true);
  spec.autorestart = get("autorestart", iniAutorestart).value_or(AutoRestart::unexpected);
  spec.starttime = get("startsecs", seconds).value_or(std::chrono::seconds(1));
  spec.startretries = get("startretries", [](std::string_view t) { return iniCount(t, 0); }).value_or(3);
  spec.stopsignal = get("stopsignal", iniSignal).value_or(15);
  spec.stoptime = get("stopwaitsecs", seconds).value_or(std::chrono::seconds(10));
  spec.stopasgroup = get("stopasgroup", iniBoolean).value_or(false);
  spec.killasgroup = get("killasgroup", iniBoolean).value_or(spec.stopasgroup);
  spec.exitcodes = get("exitcodes", iniExitcodes).value_or(std::vector<int>{0});
  spec.redirectStderr = get("redirect_stderr", iniBoolean).value_or(false);
  spec.stdin = true;  // supervisord always gives a stdin pipe: its sendProcessStdin and supervisorctl's fg write to it
  common.numprocs = get("numprocs", [](std::string_view t) { return iniCount(t, 0); }).value_or(1);
  common.numprocsStart = get("numprocs_start", [](std::string_view t) { return iniCount(t, 0); }).value_or(0);
  if (common.numprocs == 0 && warn) {
    warning(*document_.get(section, "numprocs"), section.name, "numprocs: 0, so no process runs for this program");
  }
  for (auto stream : {"stdout", "stderr"}) {
    const auto capture = fmt::format("{}_capture_maxbytes", stream);
    if (get(capture, iniSize).value_or(0) != 0 && warn) unsupported(section, capture, "capture mode is");
    const bool events = get(fmt::format("{}_events_enabled", stream), iniBoolean).value_or(false);
    (std::string_view(stream) == "stdout" ? spec.stdoutEvents : spec.stderrEvents) = events;
  }
  if (isListener(section) && !readListener(section, names, spec, warn)) failed = true;
  auto text = [](std::string_view t) -> Checked<std::string> { return std::string(t); };
  if (auto url = get("serverurl", text); url && toUpper(trim(*url)) != "AUTO") common.serverUrl = url;
  spec.user = get("user", iniUser);
  spec.umask = get("umask", iniOctal).value_or(022);
  if (spec.stopasgroup && !spec.killasgroup) {
    error(*document_.get(section, "killasgroup"), section.name, "stopasgroup=true needs killasgroup=true");
    failed = true;
  }
  if (failed) return std::nullopt;
  return common;
}

// [eventlistener:x]'s own keys, by supervisord's rules (options.py process_groups_from_parser).
bool SupervisordReader::readListener(const IniSection& section, const Expansions& names, ProgramSpec& spec,
                                     bool warn) {
  bool failed = false;
  auto text = [](std::string_view t) -> Checked<std::string> { return std::string(t); };
  spec.bufferSize = optional(section, "buffer_size", names, [](std::string_view t) {
                      return iniCount(t, std::numeric_limits<int>::min());
                    }, failed).value_or(10);
  // A comma list, any case, each name once (supervisord makes a set of them).
  const auto events = optional(section, "events", names, text, failed);
  const std::string list = events.value_or("");
  std::string_view rest = list;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const auto name = toUpper(trim(rest.substr(0, comma)));
    if (!name.empty() && std::ranges::find(spec.events, name) == spec.events.end()) spec.events.push_back(name);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (spec.events.empty() && !failed && warn) error(section, "requires an \"events\" line (the event types to send)");
  if (spec.events.empty()) failed = true;
  const auto handler = optional(section, "result_handler", names, text, failed);
  if (handler && trim(*handler) != kDefaultResultHandler) {
    if (warn)
      error(*document_.get(section, "result_handler"), section.name,
            fmt::format("only supervisord's default handler ({}) is supported: a Python handler cannot run in "
                        "taskmaster", kDefaultResultHandler));
    failed = true;
  }
  if (spec.redirectStderr) {
    if (warn)
      error(*document_.get(section, "redirect_stderr"), section.name,
            "redirect_stderr=true is not allowed: stderr would interfere with the event listener protocol");
    failed = true;
  }
  return !failed;
}

void SupervisordReader::unsupported(const IniSection& section, std::string_view key, std::string_view what) {
  warning(*document_.get(section, key), section.name, fmt::format("{} not supported yet; ignored", what));
}

std::vector<IniProcess> SupervisordReader::readProgram(const IniSection& section, const std::string& group) {
  const auto program = std::string(trim(std::string_view(section.name).substr(section.name.find(':') + 1)));
  // A program named by two [group:x] is read twice, with two group names; its problems are reported once.
  const bool first = readSections_.insert(&section).second;
  if (!first && failedSections_.contains(&section)) return {};
  if (first) {
    std::vector<std::string> keys{kProgramKeys.begin(), kProgramKeys.end()};
    if (isListener(section)) keys.insert(keys.end(), kListenerKeys.begin(), kListenerKeys.end());
    unknownKeys(section, keys);
  }
  if (auto problem = badName(program)) {
    error(section, *problem);
    failedSections_.insert(&section);
    return {};
  }
  Expansions names = programNames(program, group);
  // Said whatever else is wrong with the section, so that one run shows every problem.
  const bool commandMissing = document_.get(section, "command") == nullptr;
  if (commandMissing && first) error(section, "missing 'command' (the program to run)");
  auto common = readCommon(section, names, first);
  if (!common || commandMissing) {
    failedSections_.insert(&section);
    return {};
  }
  const auto* processName = document_.get(section, "process_name");
  const std::string nameTemplate = processName != nullptr ? std::string(trim(processName->text)) : "%(program_name)s";
  if (common->numprocs > 1 && nameTemplate.find("%(process_num)") == std::string::npos) {
    const auto* place = processName != nullptr ? processName : document_.get(section, "numprocs");
    error(*place, section.name,
          processName != nullptr
              ? "must contain %(process_num) when numprocs > 1, so that each process has its own name"
              : "more than 1 needs a process_name containing %(process_num), so that each process "
                "has its own name");
    failedSections_.insert(&section);
    return {};
  }
  if (processName != nullptr) {
    if (auto problem = badName(nameTemplate)) {
      error(*processName, section.name, *problem);
      failedSections_.insert(&section);
      return {};
    }
  }
  std::vector<IniProcess> processes;
  for (int number = common->numprocsStart; number < common->numprocsStart + common->numprocs; ++number) {
    names["process_num"] = std::int64_t{number};
    names["numprocs"] = std::int64_t{common->numprocs};
    auto process = readProcess(section, group, *common, names, first && number == common->numprocsStart);
    if (!process) {
      failedSections_.insert(&section);
      return {};  // the next processes would only repeat the problem
    }
    processes.push_back(std::move(*process));
  }
  std::ranges::stable_sort(processes, {}, [](const IniProcess& p) { return std::pair{p.priority, p.processName}; });
  return processes;
}

std::optional<IniProcess> SupervisordReader::readProcess(const IniSection& section, const std::string& group,
                                                         const Common& common, Expansions& names, bool warn) {
  IniProcess process{.spec = common.spec, .processName = {}, .priority = common.spec.priority, .section = &section};
  auto& spec = process.spec;
  bool failed = false;
  auto text = [](std::string_view t) -> Checked<std::string> { return std::string(t); };
  std::vector<std::pair<std::string, std::string>> environment;
  if (const auto* value = document_.get(section, "environment")) {
    if (auto expandedText = expanded(*value, section, names)) {
      auto pairs = iniEnvironment(*expandedText);
      if (pairs.ok()) {
        environment = std::move(*pairs);
      } else {
        error(*value, section.name, std::move(pairs.error().message));
        failed = true;
      }
    } else {
      failed = true;
    }
  }
  for (const auto& [key, value] : environment) names[fmt::format("ENV_{}", key)] = value;
  const auto* nameValue = document_.get(section, "process_name");
  IniValue name =
      nameValue != nullptr
          ? *nameValue
          : IniValue{.key = "process_name", .text = "%(program_name)s", .file = section.file, .line = section.line};
  name.text = trim(name.text);
  auto processName = expanded(name, section, names);
  if (!processName) return std::nullopt;
  process.processName = *processName;
  spec.workingdir = optional(section, "directory", names, text, failed);
  if (!readLogs(section, group, process, names, warn)) failed = true;
  const auto command = optional(section, "command", names, text, failed);  // readProgram() saw it is there
  if (command) {
    auto words = splitCommand(*command);
    if (!words) {
      error(*document_.get(section, "command"), section.name,
            fmt::format("unterminated quote or trailing backslash in '{}'", escapeControl(*command)));
      failed = true;
    } else {
      spec.cmd = std::move(*words);
    }
  }
  if (failed) return std::nullopt;
  spec.name = group == *processName ? group : fmt::format("{}:{}", group, *processName);
  spec.env["SUPERVISOR_ENABLED"] = "1";
  spec.env["SUPERVISOR_PROCESS_NAME"] = *processName;
  spec.env["SUPERVISOR_GROUP_NAME"] = group;
  if (auto url = common.serverUrl ? common.serverUrl : serverUrl_) spec.env["SUPERVISOR_SERVER_URL"] = *url;
  for (const auto& [key, value] : globalEnvironment_) spec.env[key] = value;
  for (const auto& [key, value] : environment) spec.env[key] = value;
  return process;
}

bool SupervisordReader::readLogs(const IniSection& section, const std::string& group, IniProcess& process,
                                 const Expansions& names, bool warn) {
  bool failed = false;
  auto& spec = process.spec;
  for (auto stream : {StdStream::out, StdStream::err}) {
    const auto prefix = std::string(to_string(stream));
    const auto key = prefix + "_logfile";
    auto& rotation = stream == StdStream::out ? spec.stdoutRotation : spec.stderrRotation;
    rotation.backups =
        optional(
            section, prefix + "_logfile_backups", names, [](std::string_view t) { return iniCount(t, 0); }, failed)
            .value_or(10);
    rotation.maxBytes =
        optional(section, prefix + "_logfile_maxbytes", names, iniSize, failed).value_or(kDefaultMaxBytes);
    const bool syslog = optional(section, prefix + "_syslog", names, iniBoolean, failed).value_or(false);
    if (syslog && warn) unsupported(section, prefix + "_syslog", "syslog is");
    std::optional<std::string> path = "AUTO";
    if (const auto* value = document_.get(section, key)) {
      path = expanded(*value, section, names, 2);  // supervisord expands log file names twice
      if (!path) {
        failed = true;
        continue;
      }
    }
    const auto word = toLower(*path);
    auto& target = stream == StdStream::out ? spec.stdoutPath : spec.stderrPath;
    if (word == "none" || word == "off") {
      target.reset();
    } else if (word == "auto") {
      if (rotation.maxBytes == 0 && warn) {
        warning(section,
                fmt::format("{}=AUTO without rotation ({}_logfile_maxbytes=0) may fill the disk", key, prefix));
      }
      // No random part, unlike supervisord's: the same file across restarts and reloads, for `tail -f`. Named
      // as `status` names the process, with '_' for ':'.
      const auto shown = group == process.processName ? process.processName
                                                      : fmt::format("{}_{}", group, process.processName);
      target = fmt::format("{}/{}-{}---{}.log", childlogdir_, shown, prefix, result_.config.identifier);
    } else if (word == "syslog") {
      if (warn)
        warning(*document_.get(section, key), section.name, "syslog is not supported yet; output kept in memory only");
      target.reset();
    } else {
      target = expandUser(*path);
      const auto parent = std::filesystem::path(*target).parent_path();
      std::error_code code;
      if (!parent.empty() && !std::filesystem::is_directory(parent, code)) {
        error(*document_.get(section, key), section.name, fmt::format("the directory of '{}' does not exist", *target));
        failed = true;
      }
    }
  }
  if (spec.redirectStderr) {
    const auto* stderrValue = document_.get(section, "stderr_logfile");
    if (warn && spec.stderrPath && stderrValue != nullptr && toLower(stderrValue->text) != "auto") {
      warning(*stderrValue, section.name, "ignored: redirect_stderr=true sends stderr to the stdout log");
    }
    spec.stderrPath.reset();
  }
  return !failed;
}

void SupervisordReader::finish() {
  std::ranges::stable_sort(groups_, {}, [](const IniGroup& g) { return std::pair{g.priority, g.name}; });
  std::map<std::string, const IniSection*, std::less<>> seen;
  std::vector<IniProcess*> accepted;
  for (auto& group : groups_) {
    std::set<std::string, std::less<>> processNames;
    std::ranges::stable_sort(group.processes, {}, [](const IniProcess& p) {
      return std::pair{p.priority, p.processName};
    });
    for (auto& process : group.processes) {
      process.spec.priority = group.priority;
      if (!processNames.insert(process.processName).second) {
        error(*process.section,
              fmt::format("two processes of group '{}' are named '{}'", group.name, process.processName));
        continue;
      }
      if (!seen.emplace(process.spec.name, process.section).second) {
        error(*process.section, fmt::format("the name '{}' is already taken", process.spec.name));
        continue;
      }
      accepted.push_back(&process);
    }
  }
  appendOnlyWhenShared(accepted);
  for (const auto* process : accepted) {
    checkSpec(*process);
    result_.config.programs.push_back(process->spec);
    sections_.push_back(process->section);
  }
  for (auto& [index, message] : nameClashes(result_.config.programs)) error(*sections_[index], std::move(message));
  auto fileOrder = [this](const Diagnostic& d) {
    return std::pair{std::ranges::find(order_, d.file) - order_.begin(), d.line};
  };
  std::ranges::stable_sort(errors_, {}, fileOrder);
  std::ranges::stable_sort(warnings_, {}, fileOrder);
  result_.errors = std::move(errors_);
  result_.warnings = std::move(warnings_);
}

void SupervisordReader::appendOnlyWhenShared(const std::vector<IniProcess*>& processes) {
  struct Writer {
    IniProcess* process;
    StdStream stream;
  };
  std::map<std::string, std::vector<Writer>, std::less<>> writers;
  for (auto* process : processes) {
    for (auto stream : {StdStream::out, StdStream::err}) {
      const auto& path = stream == StdStream::out ? process->spec.stdoutPath : process->spec.stderrPath;
      if (!path || isSharedSink(*path)) continue;
      writers[*path].push_back({process, stream});
    }
  }
  for (const auto& entry : writers) {
    const auto& [path, list] = entry;
    if (list.size() < 2) continue;
    bool reported = false;
    const auto* first = list.front().process;
    const bool several = std::ranges::any_of(list, [first](const Writer& w) { return w.process != first; });
    for (const auto& writer : list) {
      const auto key = fmt::format("{}_logfile_maxbytes", to_string(writer.stream));
      auto& rotation =
          writer.stream == StdStream::out ? writer.process->spec.stdoutRotation : writer.process->spec.stderrRotation;
      const auto* asked = document_.get(*writer.process->section, key);
      if (asked != nullptr && rotation.maxBytes > 0) {
        if (!several) continue;  // stdout and stderr of one process: validate() says what to do
        error(*asked, writer.process->section->name,
              fmt::format("'{}' is written by more than one process: a rotated file must have one writer; give "
                          "each its own file, or set {}=0 to append without rotating",
                          path, key));
        continue;
      }
      rotation.maxBytes = 0;
      if (!std::exchange(reported, true)) {
        const auto logKey = fmt::format("{}_logfile", to_string(writer.stream));
        const auto* value = document_.get(*writer.process->section, logKey);
        warning(value != nullptr ? value->file : writer.process->section->file,
                value != nullptr ? value->line : writer.process->section->line, writer.process->section->name,
                fmt::format("{}'{}' is written by more than one process or stream: appended to without rotation",
                            value != nullptr ? logKey + ": " : "", path));
      }
    }
  }
}

void SupervisordReader::checkSpec(const IniProcess& process) {
  const auto& section = *process.section;
  for (auto message : process.spec.validate()) {
    const auto option = std::string_view(message).substr(0, message.find(':'));
    auto mapped = std::ranges::find(kValidateKeys, option, &std::pair<std::string_view, std::string_view>::first);
    if (mapped != kValidateKeys.end()) {
      const auto* value = document_.get(section, mapped->second);
      message = fmt::format("{}{}", mapped->second, std::string_view(message).substr(option.size()));
      if (value != nullptr) {
        error(value->file, value->line, section.name, std::move(message));
        continue;
      }
    }
    error(section, std::move(message));
  }
}

}  // namespace detail

bool supervisordFormat(std::string_view text) {
  std::size_t at = 0;
  while (at < text.size()) {
    auto end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    auto line = text.substr(at, end - at);
    at = end + 1;
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) line.remove_suffix(1);
    if (line.empty() || line.front() == ';' || line.front() == '#') continue;
    // A comment may follow: `[supervisord] ; the daemon` is a header (YAML's `[a, b]: x` is not).
    const auto close = line.find(']');
    if (line.front() != '[' || close == std::string_view::npos || close < 2) return false;
    auto rest = line.substr(close + 1);
    const auto words = rest.find_first_not_of(" \t");
    return words == std::string_view::npos || (words > 0 && (rest[words] == ';' || rest[words] == '#'));
  }
  return false;
}

ConfigResult parseSupervisordConfig(std::string_view ini, std::string_view filename) {
  return detail::SupervisordReader(filename).read(ini);
}

}  // namespace taskmaster::inline v0
