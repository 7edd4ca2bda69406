// Internal: the supervisord reader (docs/supervisord.md). ini_parser cuts the text into sections, ini_expand
// expands values and ini_values converts them; the reader turns the sections into ProgramSpecs and settings,
// with supervisord's defaults and its order of starting: programs and groups in ini_reader.cpp, the other
// sections and [include] in ini_sections.cpp.
#pragma once

#include "private.hpp"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <taskmaster/config.hpp>

#include "config/ini_expand.hpp"
#include "config/ini_parser.hpp"
#include "config/reader.hpp"

namespace taskmaster::inline v0::detail {

// The absolute directory of `file`: what `%(here)s` means in it.
[[nodiscard]] std::string directoryOf(const std::string& file);
// Without the ASCII whitespace around it, as Python's str.strip().
[[nodiscard]] std::string_view trim(std::string_view text);
// platform.node(): this machine's host name.
[[nodiscard]] std::string hostNodeName();

// One process of supervisord: a ProgramSpec, and what orders it within its group.
struct IniProcess {
  ProgramSpec spec;
  std::string processName;
  int priority = 999;
  const IniSection* section = nullptr;
};

struct IniGroup {
  std::string name;
  int priority = 999;
  std::vector<IniProcess> processes;
};

// Reads one configuration, its includes too: read() once, then the reader is spent. Each problem goes into the
// result as found; reading goes on after one, so that a file's problems are all reported at once.
class SupervisordReader {
 public:
  explicit SupervisordReader(std::string_view file);

  ConfigResult read(std::string_view text);

 private:
  // --- diagnostics ---------------------------------------------------------------------------------------

  // `where`: a section's name. A program's problems name the program, as the YAML reader's do; other sections
  // start the message with their [section].
  static Diagnostic diagnostic(const std::string& file, int line, std::string_view where, std::string message);
  void error(const std::string& file, int line, std::string_view where, std::string message);
  void error(const IniValue& value, std::string_view where, std::string message);
  void error(const IniSection& section, std::string message);
  void warning(const std::string& file, int line, std::string_view where, std::string message);
  void warning(const IniValue& value, std::string_view where, std::string message);
  void warning(const IniSection& section, std::string message);

  // --- values --------------------------------------------------------------------------------------------

  // The value's text expanded with `names` and `here`, the directory of the file it was written in.
  std::optional<std::string> expanded(const IniValue& value, const IniSection& section, const Expansions& names,
                                      int times = 1);

  // Reads `key` of `section` with `convert`: nullopt when absent, or when bad (reported, `failed` set).
  template <class Convert>
  auto optional(const IniSection& section, std::string_view key, const Expansions& names, Convert convert, bool& failed)
      -> std::optional<std::remove_cvref_t<decltype(*convert(std::string_view()))>> {
    const auto* value = document_.get(section, key);
    if (value == nullptr) return std::nullopt;
    auto text = expanded(*value, section, names);
    if (!text) {
      failed = true;
      return std::nullopt;
    }
    auto converted = convert(*text);
    if (!converted.ok()) {
      error(*value, section.name, std::move(converted.error().message));
      failed = true;
      return std::nullopt;
    }
    return std::move(*converted);
  }

  // supervisord ignores keys it does not know (plugins read their own), so they are warnings, never errors.
  void unknownKeys(const IniSection& section, const std::vector<std::string>& keys);

  // --- [include] -----------------------------------------------------------------------------------------

  void readIncludes();

  void includePattern(const IniValue& files, const std::string& pattern);

  // --- [supervisord] -------------------------------------------------------------------------------------

  void readSupervisord();

  bool checkDirectory(const IniSection& section, std::string_view key, const std::string& path);

  bool checkDirectoryOf(const IniSection& section, std::string_view key, const std::string& path);

  // [supervisord] environment=: every child's, and ENV_ names for the programs' expansions.
  void readEnvironment(const IniSection* section);

  // --- servers and other sections ------------------------------------------------------------------------

  void readServers();

  void readServer(const IniSection& section, bool inet);

  void readOtherSections();

  static Expansions withHere(Expansions names, const IniValue& value);

  // --- programs and groups -------------------------------------------------------------------------------

  void readPrograms();

  void readGroup(const IniSection& section, std::set<std::string, std::less<>>& grouped);

  Expansions programNames(const std::string& program, const std::string& group) const;

  // Keys read once for all the processes of a program (supervisord reads them before process_num exists).
  struct Common {
    ProgramSpec spec;
    int numprocs = 1;
    int numprocsStart = 0;
    std::optional<std::string> serverUrl;
  };

  std::optional<Common> readCommon(const IniSection& section, const Expansions& names, bool warn);

  // [eventlistener:x]'s events, buffer_size and result_handler into `spec`; false on an error (said).
  bool readListener(const IniSection& section, const Expansions& names, ProgramSpec& spec, bool warn);
  void unsupported(const IniSection& section, std::string_view key, std::string_view what);

  std::vector<IniProcess> readProgram(const IniSection& section, const std::string& group);

  std::optional<IniProcess> readProcess(const IniSection& section, const std::string& group, const Common& common,
                                        Expansions& names, bool warn);

  // stdout_logfile and stderr_logfile with their rotation; false when a value is bad (reported).
  bool readLogs(const IniSection& section, const std::string& group, IniProcess& process, const Expansions& names,
                bool warn);

  // --- the result ----------------------------------------------------------------------------------------

  // Programs in the order supervisord starts them: groups by priority then name, each group's processes by
  // priority then name. Each spec's priority is its group's, which is what orders groups in taskmaster too.
  void finish();

  // supervisord lets any number of processes and streams write one log file, each rotating it on its own. A
  // rotated file needs one writer (the others would write into the renamed file), so a shared file is appended
  // to without rotation, with a warning; unless a writer's maxbytes asks for rotation: then validate() or the
  // error here says what to do.
  void appendOnlyWhenShared(const std::vector<IniProcess*>& processes);

  // validate()'s findings in supervisord's key names, at the key's line when it was written.
  void checkSpec(const IniProcess& process);

  std::string main_;
  std::vector<std::string> order_;  // the main file, then the included ones as read
  IniDocument document_;
  ConfigResult result_;
  std::vector<Diagnostic> errors_;
  std::vector<Diagnostic> warnings_;
  Expansions environment_;  // ENV_X: taskmaster's environment, then [supervisord] environment=
  std::map<std::string, std::string> globalEnvironment_;  // [supervisord] environment=
  std::optional<std::string> serverUrl_;
  std::string hostNode_ = hostNodeName();
  std::string childlogdir_ = [] {
    const char* tmp = std::getenv("TMPDIR");
    return std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp");
  }();
  std::vector<IniGroup> groups_;
  std::vector<const IniSection*> sections_;  // the section of each of result_.config.programs
  std::set<const IniSection*> readSections_;    // program sections read at least once
  std::set<const IniSection*> failedSections_;  // and those with a problem, reported
};

}  // namespace taskmaster::inline v0::detail
