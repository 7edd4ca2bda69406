// Reading the YAML configuration: every mistake is reported at its place, and good files give the expected specs.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <taskmaster/config.hpp>

#include "config_support.hpp"

using namespace std::chrono_literals;
using taskmaster::AutoRestart;
using taskmaster::ConfigResult;
using taskmaster::ProgramSpec;

namespace {

using test::dump;
using test::showErrors;

// A configuration with one program "web" whose options (indented by four) start on line 3.
std::string web(std::string_view options) { return fmt::format("programs:\n  web:\n{}", options); }

ConfigResult parseOk(std::string_view yaml) {
  auto result = taskmaster::parseConfig(yaml, "test.yml");
  INFO(yaml);
  INFO(showErrors(result));
  REQUIRE(result.ok());
  return result;
}

ProgramSpec parseOne(std::string_view yaml) {
  auto result = parseOk(yaml);
  REQUIRE_EQ(result.config.programs.size(), 1u);
  return result.config.programs.front();
}

// A scratch file or directory under the system's temporary directory, removed at the end of the test.
class TempPath {
 public:
  explicit TempPath(std::string_view name)
      : path_(std::filesystem::temp_directory_path() / fmt::format("taskmaster-test-{}-{}", ::getpid(), name)) {}
  ~TempPath() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempPath(const TempPath&) = delete;
  TempPath& operator=(const TempPath&) = delete;

  [[nodiscard]] std::string str() const { return path_.string(); }
  void write(std::string_view text) const { std::ofstream(path_) << text; }

 private:
  std::filesystem::path path_;
};

}  // namespace

TEST_CASE("each mistake is reported with its message and place") {
  struct Case {
    std::string yaml;
    std::string message;  // a fragment of the one diagnostic expected at line:column
    int line;
    int column;
    std::size_t count = 1;  // how many diagnostics the whole file gives
  };
  const std::vector<Case> cases = {
      // The file as a whole.
      {"", "empty configuration", 0, 0},
      {"# every program is gone\n", "empty configuration", 0, 0},
      {"programs:\n  web:\n    cmd: [unclosed\n    x: 1\n", "invalid YAML: end of sequence flow not found", 4, 6},
      {"programs: b: c\n", "invalid YAML: illegal map value", 1, 12},
      {"programs:\n  web: *nope\n", "invalid YAML: the referenced anchor is not defined", 2, 8},
      {"programs: {}\n---\nprograms: {}\n", "expected one YAML document, found more", 2, 1},
      {",\n", "expected one YAML document, found more", 1, 1},  // yaml-cpp's LoadAll() never returned on it
      {"- web\n", "expected a map with 'programs' at the top level, got a list", 1, 1},
      {"hello\n", "expected a map with 'programs' at the top level, got 'hello'", 1, 1},
      // Top-level keys.
      {"socket: /tmp/tm.sock\n", "missing 'programs'", 1, 1},
      {"programs: {}\nsockt: /tmp/tm.sock\n", "unknown key 'sockt' (did you mean 'socket'?)", 2, 1},
      {"programs: {}\nprograms: {}\n", "duplicate key 'programs' (first defined at line 1)", 2, 1},
      {"programs: [web]\n", "programs: expected a map of program names to options, got a list", 1, 11},
      {"programs: {}\nsocket: [a]\n", "socket: expected a path, got a list", 2, 9},
      {"programs: {}\nsocket: ''\n", "socket: must not be empty", 2, 9},
      {"programs: {}\nsocket:\n", "socket: expected a path, got nothing", 2, 1},
      {"? [a]\n: 1\nprograms: {}\n", "expected a key name, got a list", 1, 3},
      // Programs.
      {"programs:\n  web: {cmd: a}\n  web: {cmd: b}\n", "duplicate program 'web' (first defined at line 2)", 3, 3},
      {"programs:\n  web: sleep 1\n", "expected a map of options, got 'sleep 1'", 2, 8},
      {"programs:\n  web:\n", "expected a map of options, got nothing", 2, 3},
      {web("    numprocs: 2\n"), "missing 'cmd' (the command to run)", 2, 3},
      {"programs:\n  all: {cmd: a}\n", "name: 'all' is reserved", 2, 3},
      {"programs:\n  \"web:1:2\": {cmd: a}\n", "name: 'web:1:2' must not contain whitespace", 2, 3},
      {"programs:\n  \"my web\": {cmd: a}\n", "name: 'my web' must not contain whitespace", 2, 3},
      {"programs:\n  web: {cmd: a}\n  \"web:x\": {cmd: a}\n", "name: its group 'web' is also the name of a program",
       3, 3},
      // Keys inside a program.
      {web("    cmd: a\n    numproc: 2\n"), "unknown key 'numproc' (did you mean 'numprocs'?)", 4, 5},
      {web("    cmd: a\n    auto_start: true\n"), "unknown key 'auto_start' (did you mean 'autostart'?)", 4, 5},
      {web("    cmd: a\n    colour: red\n"), "unknown key 'colour'", 4, 5},
      {web("    CMD: a\n"), "unknown key 'CMD' (did you mean 'cmd'?)", 3, 5, 2},
      {web("    cmd: a\n    cmd: b\n"), "duplicate key 'cmd' (first defined at line 3)", 4, 5},
      {"base: &base {numprocs: 2}\nprograms:\n  web:\n    <<: *base\n    cmd: a\n",
       "unknown key '<<' (YAML merge keys are not supported)", 4, 5, 2},
      // cmd.
      {web("    cmd: \"echo 'hi\"\n"), "cmd: unterminated quote or trailing backslash in 'echo 'hi'", 3, 10},
      {web("    cmd: echo a\\\n"), "cmd: unterminated quote or trailing backslash", 3, 10},
      {web("    cmd: {a: 1}\n"), "cmd: expected a command line or a list of arguments, got a map", 3, 10},
      {web("    cmd: [ls, [-l]]\n"), "cmd: expected a string, got a list", 3, 15},
      {web("    cmd: \"\"\n"), "cmd: must not be empty", 3, 10},
      {web("    cmd: ['']\n"), "cmd: the program to run must not be empty", 3, 10},
      {web("    cmd:\n"), "cmd: expected a command line or a list of arguments, got nothing", 3, 5},
      // Numbers.
      {web("    cmd: a\n    numprocs: lots\n"), "numprocs: expected an integer, got 'lots'", 4, 15},
      {web("    cmd: a\n    numprocs: 1.5\n"), "numprocs: expected an integer, got '1.5'", 4, 15},
      {web("    cmd: a\n    numprocs: 0\n"), "numprocs: must be between 1 and 10000, got 0", 4, 15},
      {web("    cmd: a\n    numprocs: 50000\n"), "numprocs: must be between 1 and 10000, got 50000", 4, 15},
      {web("    cmd: a\n    numprocs: 99999999999\n"), "numprocs: 99999999999 is out of range", 4, 15},
      {web("    cmd: a\n    startretries: -1\n"), "startretries: must not be negative, got -1", 4, 19},
      {web("    cmd: a\n    startretries: [3]\n"), "startretries: expected an integer, got a list", 4, 19},
      {web("    cmd: a\n    startretries: forever\n"), "startretries: expected an integer or infinite, got 'forever'", 4, 19},
      {web("    cmd: a\n    restart_burst: -1\n"), "restart_burst: must not be negative, got -1", 4, 20},
      {web("    cmd: a\n    restart_delay_factor: 0.5\n"), "restart_delay_factor: must be between 1 and 100, got 0.5", 4, 27},
      {web("    cmd: a\n    restart_delay_factor: twice\n"),
       "restart_delay_factor: expected a number such as 2 or 1.5, got 'twice'", 4, 27},
      {web("    cmd: a\n    restart_delay: 1m\n    restart_delay_max: 10s\n"),
       "restart_delay: must not exceed restart_delay_max (10s), got 1m", 4, 20},
      {web("    cmd: a\n    fatal_retry: soon\n"),
       "fatal_retry: expected a duration such as 10, 1.5, 500ms, 2m or 1h, got 'soon'", 4, 18},
      // Booleans and the restart policy.
      {web("    cmd: a\n    autostart: maybe\n"), "autostart: expected true or false, got 'maybe'", 4, 16},
      {web("    cmd: a\n    stopasgroup: 2\n"), "stopasgroup: expected true or false, got '2'", 4, 18},
      {web("    cmd: a\n    killasgroup: {}\n"), "killasgroup: expected true or false, got a map", 4, 18},
      {web("    cmd: a\n    autorestart: sometimes\n"),
       "autorestart: expected always, never or unexpected, got 'sometimes'", 4, 18},
      {web("    cmd: a\n    autorestart: unexpectd\n"), "got 'unexpectd' (did you mean 'unexpected'?)", 4, 18},
      // Exit codes.
      {web("    cmd: a\n    exitcodes: 256\n"), "exitcodes: 256 is not an exit code (0-255)", 4, 16},
      {web("    cmd: a\n    exitcodes: [0, x]\n"), "exitcodes: expected an integer, got 'x'", 4, 20},
      {web("    cmd: a\n    exitcodes:\n      - 0\n      - 2\n      - 300\n"),
       "exitcodes: 300 is not an exit code (0-255)", 7, 9},
      {web("    cmd: a\n    exitcodes: {ok: 0}\n"),
       "exitcodes: expected an exit code or a list of exit codes, got a map", 4, 16},
      // Durations.
      {web("    cmd: a\n    starttime: soon\n"), "starttime: expected a duration such as 10, 1.5, 500ms", 4, 16},
      {web("    cmd: a\n    stoptime: -5\n"), "stoptime: expected a duration", 4, 15},
      {web("    cmd: a\n    stoptime: 2d\n"), "stoptime: expected a duration", 4, 15},
      {web("    cmd: a\n    stoptime: 25h\n"), "stoptime: must be between 0 and 24h, got 25h", 4, 15},
      // Signals.
      {web("    cmd: a\n    stopsignal: TERN\n"), "stopsignal: unknown signal 'TERN' (did you mean 'TERM'?)", 4, 17},
      {web("    cmd: a\n    stopsignal: SIGUSR3\n"), "stopsignal: unknown signal 'SIGUSR3' (did you mean", 4, 17},
      {web("    cmd: a\n    stopsignal: 0\n"), "stopsignal: no signal has the number 0", 4, 17},
      {web("    cmd: a\n    stopsignal: 99\n"), "stopsignal: no signal has the number 99", 4, 17},
      {web("    cmd: a\n    stopsignal: ''\n"), "stopsignal: unknown signal ''", 4, 17},
      // Paths and the user.
      {web("    cmd: a\n    stdout: [a, b]\n"), "stdout: expected a path, got a list", 4, 13},
      {web("    cmd: a\n    stderr: ''\n"), "stderr: must not be empty", 4, 13},
      {web("    cmd: a\n    workingdir: {}\n"), "workingdir: expected a path, got a map", 4, 17},
      {web("    cmd: a\n    user: ''\n"), "user: must not be empty", 4, 11},
      // Output.
      {web("    cmd: a\n    stdout_maxbytes: 10 MB\n"),
       "stdout_maxbytes: expected a size such as 50MB, 512KB, 1GB or 1048576, got '10 MB'", 4, 22},
      {web("    cmd: a\n    stderr_maxbytes: -1\n"), "stderr_maxbytes: expected a size such as 50MB", 4, 22},
      {web("    cmd: a\n    stderr_maxbytes: 1.5GB\n"), "stderr_maxbytes: expected a size such as 50MB", 4, 22},
      {web("    cmd: a\n    stdout_maxbytes: 99999999999GB\n"), "stdout_maxbytes: expected a size", 4, 22},
      {web("    cmd: a\n    stdout_maxbytes: [1]\n"), "stdout_maxbytes: expected a size such as 50MB, 512KB, "
       "1GB or 1048576, got a list", 4, 22},
      {web("    cmd: a\n    stdout_maxbytes:\n"), "stdout_maxbytes: expected a size such as 50MB, 512KB, 1GB or "
       "1048576, got nothing", 4, 5},
      {web("    cmd: a\n    stdout_backups: -1\n"), "stdout_backups: must be between 0 and 1000, got -1", 4, 21},
      {web("    cmd: a\n    stderr_backups: ten\n"), "stderr_backups: expected an integer, got 'ten'", 4, 21},
      {web("    cmd: a\n    stderr_backups: 5000\n"), "stderr_backups: must be between 0 and 1000, got 5000", 4, 21},
      {web("    cmd: a\n    redirect_stderr: maybe\n"), "redirect_stderr: expected true or false, got 'maybe'", 4, 22},
      {web("    cmd: a\n    tail_bytes: 0\n"), "tail_bytes: must be between 1 and 64MB, got 0", 4, 17},
      {web("    cmd: a\n    tail_bytes: 1GB\n"), "tail_bytes: must be between 1 and 64MB, got 1GB", 4, 17},
      {web("    cmd: a\n    tail_bytes: lots\n"), "tail_bytes: expected a size such as 50MB", 4, 17},
      {web("    cmd: a\n    stdout_maxbyte: 1MB\n"), "unknown key 'stdout_maxbyte' (did you mean 'stdout_maxbytes'?)",
       4, 5},
      {web("    cmd: a\n    redirect_sterr: true\n"), "unknown key 'redirect_sterr' (did you mean 'redirect_stderr'?)",
       4, 5},
      {web("    cmd: a\n    stdout: /log/{program}-{idx}.log\n"),
       "stdout: unknown placeholder {idx} (known: {program}, {instance}, {index})", 4, 13},
      {web("    cmd: a\n    numprocs: 3\n    stdout: /log/web.log\n    stdout_maxbytes: 10MB\n"),
       "stdout: the 3 instances of 'web' would share one rotated file: put {index} or {instance} in its name", 5, 13},
      {web("    cmd: a\n    stdout: /log/web.log\n    stderr: /log/web.log\n    stderr_maxbytes: 1MB\n"),
       "stderr: stdout and stderr name the same rotated file '/log/web.log': set redirect_stderr: true", 5, 13},
      // Top level.
      {"programs: {}\nlogfile: ''\n", "logfile: must not be empty", 2, 10},
      {"programs: {}\nlogfile: {a: 1}\n", "logfile: expected a path, got a map", 2, 10},
      {"programs: {}\nlogfile_maxbytes: huge\n", "logfile_maxbytes: expected a size such as 50MB", 2, 19},
      {"programs: {}\nlogfile_maxbytes:\n", "logfile_maxbytes: expected a size such as 50MB", 2, 1},
      {"programs: {}\nlogfile_backups: -1\n", "logfile_backups: must be between 0 and 1000, got -1", 2, 18},
      {"programs: {}\nlogfile_backups: x\n", "logfile_backups: expected an integer, got 'x'", 2, 18},
      {"programs: {}\nlogfile_backup: 3\n", "unknown key 'logfile_backup' (did you mean 'logfile_backups'?)", 2, 1},
      {"programs: {}\nloglevel: loud\n", "loglevel: expected debug, info, warn or error, got 'loud'", 2, 11},
      {"programs: {}\numask: 0999\n", "umask: expected an octal umask such as 022, got '0999'", 2, 8},
      {"programs: {}\numask: 01777\n", "umask: must be at most 0777, got 1777", 2, 8},
      {"programs: {}\nminfds: -1\n", "minfds: expected a number, 0 or more, got '-1'", 2, 9},
      {"programs: {}\nminprocs: many\n", "minprocs: expected an integer, got 'many'", 2, 11},
      {"programs: {}\ndirectory:\n", "directory: expected a path, got nothing", 2, 1},
      // Across programs.
      {"programs:\n  web: {cmd: a, stdout: /log/x, stdout_maxbytes: 1MB}\n  api: {cmd: b, stderr: /log/x}\n",
       "stdout: the rotated file '/log/x' is also the stderr of program 'api': a rotated file must have one writer",
       2, 25},
      // Environment.
      {web("    cmd: a\n    env: [A=1]\n"), "env: expected a map of variable names to values, got a list", 4, 10},
      {web("    cmd: a\n    env:\n      A: 1\n      A: 2\n"), "env: duplicate key 'A' (first defined at line 5)", 6, 7},
      {web("    cmd: a\n    env:\n      A: {b: 1}\n"), "env: A: expected a string, got a map", 5, 10},
      {web("    cmd: a\n    env:\n      A:\n"), "env: A: expected a string, got nothing", 5, 7},
      {web("    cmd: a\n    env:\n      A=B: 1\n"), "env: variable name 'A=B' must not contain '='", 5, 7},
      // umask.
      {web("    cmd: a\n    umask: 089\n"), "umask: expected an octal umask such as 022, got '089'", 4, 12},
      {web("    cmd: a\n    umask: 'rwx'\n"), "umask: expected an octal umask such as 022, got 'rwx'", 4, 12},
      {web("    cmd: a\n    umask: 1777\n"), "umask: must be at most 0777, got 01777", 4, 12},
      {web("    cmd: a\n    umask: 0o1000\n"), "umask: must be at most 0777, got 01000", 4, 12},
  };
  for (const auto& c : cases) {
    CAPTURE(c.yaml);
    auto result = taskmaster::parseConfig(c.yaml, "test.yml");
    INFO(showErrors(result));
    CHECK_EQ(result.errors.size(), c.count);
    auto found = std::ranges::find_if(result.errors, [&](const taskmaster::Diagnostic& d) {
      return d.message.find(c.message) != std::string::npos;
    });
    REQUIRE_MESSAGE(found != result.errors.end(), fmt::format("no diagnostic contains '{}'", c.message));
    CHECK_EQ(fmt::format("{}:{}", found->line, found->column), fmt::format("{}:{}", c.line, c.column));
    CHECK_EQ(found->file, "test.yml");
  }
}

TEST_CASE("every problem of a file is reported at once, in file order, with the program it belongs to") {
  auto result = taskmaster::parseConfig(R"(programs:
  web:
    cmd: sleep 1
    numprocs: lots
    stopsignal: TERN
    umask: 999
  worker:
    numprocs: 0
sockett: /tmp/tm.sock
)",
                                        "tm.yml");
  const std::vector<std::string> expected = {
      "tm.yml:4:15: program 'web': numprocs: expected an integer, got 'lots'",
      "tm.yml:5:17: program 'web': stopsignal: unknown signal 'TERN' (did you mean 'TERM'?)",
      "tm.yml:6:12: program 'web': umask: expected an octal umask such as 022, got '999'",
      "tm.yml:7:3: program 'worker': missing 'cmd' (the command to run)",
      "tm.yml:8:15: program 'worker': numprocs: must be between 1 and 10000, got 0",
      "tm.yml:9:1: unknown key 'sockett' (did you mean 'socket'?)",
  };
  std::vector<std::string> actual;
  for (const auto& error : result.errors) actual.push_back(error.str());
  CHECK_EQ(fmt::format("{}", fmt::join(actual, "\n")), fmt::format("{}", fmt::join(expected, "\n")));
}

TEST_CASE("a value refused as a whole is reported once; bad entries of a map hide nothing else") {
  // The refused cmd keeps its default (empty), about which validate() would say "must not be empty" again.
  auto refused = taskmaster::parseConfig(web("    cmd: [ls, [-l]]\n"), "tm.yml");
  REQUIRE_EQ(refused.errors.size(), 1u);
  CHECK_EQ(refused.errors[0].str(), "tm.yml:3:15: program 'web': cmd: expected a string, got a list");

  // env is read entry by entry: a duplicate and a bad value leave the other variables read and validated.
  auto env = taskmaster::parseConfig(web("    cmd: a\n    env:\n      A: 1\n      A: 2\n      B=C: 3\n"
                                         "      D: [1]\n      E: 5\n"),
                                     "tm.yml");
  // validate()'s finding is placed at the option's value, here the map that starts on line 5.
  const std::vector<std::string> expected = {
      "tm.yml:5:7: program 'web': env: variable name 'B=C' must not contain '='",
      "tm.yml:6:7: program 'web': env: duplicate key 'A' (first defined at line 5)",
      "tm.yml:8:10: program 'web': env: D: expected a string, got a list",
  };
  std::vector<std::string> actual;
  for (const auto& error : env.errors) actual.push_back(error.str());
  CHECK_EQ(fmt::format("{}", fmt::join(actual, "\n")), fmt::format("{}", fmt::join(expected, "\n")));
  REQUIRE_EQ(env.config.programs.size(), 1u);
  CHECK_EQ(env.config.programs[0].env,
           std::map<std::string, std::string>{{"A", "1"}, {"B=C", "3"}, {"E", "5"}});
}

TEST_CASE("Diagnostic::str leaves out what is unknown") {
  using taskmaster::Diagnostic;
  CHECK_EQ(Diagnostic{"a.yml", 3, 7, "web", "boom"}.str(), "a.yml:3:7: program 'web': boom");
  CHECK_EQ(Diagnostic{"a.yml", 3, 7, "", "boom"}.str(), "a.yml:3:7: boom");
  CHECK_EQ(Diagnostic{"a.yml", 3, 0, "", "boom"}.str(), "a.yml:3: boom");
  CHECK_EQ(Diagnostic{"a.yml", 0, 0, "", "boom"}.str(), "a.yml: boom");
}

TEST_CASE("the example of the original specification reads as written") {
  // Verbatim from the specification, comments included.
  auto spec = parseOne(R"(programs:
  mi_programa:
    cmd: "mi-comando --args"           # Comando a ejecutar
    numprocs: 2                       # Número de procesos
    autostart: true                   # Iniciar automáticamente
    autorestart: unexpected           # always, never, unexpected
    exitcodes: [0, 2]                # Códigos de salida esperados
    starttime: 3                      # Tiempo para considerar "iniciado exitosamente"
    startretries: 3                   # Reintentos antes de abandonar
    stopsignal: TERM                  # Señal para detener gracefully
    stoptime: 10                      # Tiempo antes de KILL
    stdout: /tmp/programa.stdout      # Redirección stdout
    stderr: /tmp/programa.stderr      # Redirección stderr
    env:                              # Variables de entorno
      MI_VAR: "valor"
    workingdir: /tmp                  # Directorio de trabajo
    umask: "022"                      # Umask del proceso
)");
  ProgramSpec expected{
      .name = "mi_programa",
      .cmd = {"mi-comando", "--args"},
      .numprocs = 2,
      .autostart = true,
      .autorestart = AutoRestart::unexpected,
      .exitcodes = {0, 2},
      .starttime = 3s,
      .startretries = 3,
      .stopsignal = SIGTERM,
      .stoptime = 10s,
      .stdoutPath = "/tmp/programa.stdout",
      .stderrPath = "/tmp/programa.stderr",
      // Its two instances append to one file each, which therefore does not rotate (stdout_maxbytes would
      // ask for it, and for a placeholder in the name).
      .stdoutRotation = {.maxBytes = 0},
      .stderrRotation = {.maxBytes = 0},
      .env = {{"MI_VAR", "valor"}},
      .workingdir = "/tmp",
      .umask = 022,
  };
  CHECK_EQ(dump(spec), dump(expected));
  CHECK(spec == expected);
}

TEST_CASE("absent options take the documented defaults") {
  auto spec = parseOne("programs:\n  web:\n    cmd: sleep 10\n");
  ProgramSpec expected{.name = "web", .cmd = {"sleep", "10"}};
  CHECK_EQ(dump(spec), dump(expected));
  // The defaults themselves, as the documentation states them.
  CHECK_EQ(spec.numprocs, 1);
  CHECK_FALSE(spec.autostart);
  CHECK_EQ(taskmaster::to_string(spec.autorestart), "unexpected");
  CHECK_EQ(fmt::format("{}", fmt::join(spec.exitcodes, ",")), "0");
  CHECK_EQ(spec.starttime.count(), 1000);
  CHECK_EQ(spec.startretries, 3);
  CHECK_EQ(spec.restartBurst, 3);
  CHECK_EQ(spec.restartDelay.count(), 1000);
  CHECK_EQ(spec.restartDelayFactor, 2.0);
  CHECK_EQ(spec.restartDelayMax.count(), 30000);
  CHECK_EQ(spec.restartResetAfter.count(), 200);
  CHECK_EQ(spec.fatalRetry.count(), 0);
  CHECK_EQ(spec.stopsignal, SIGTERM);
  CHECK_EQ(spec.stoptime.count(), 10000);
  CHECK_FALSE(spec.stdoutPath.has_value());
  CHECK_FALSE(spec.stderrPath.has_value());
  CHECK_EQ(spec.stdoutRotation.maxBytes, 50u << 20);
  CHECK_EQ(spec.stdoutRotation.backups, 10);
  CHECK_EQ(spec.stderrRotation.maxBytes, 50u << 20);
  CHECK_EQ(spec.stderrRotation.backups, 10);
  CHECK_FALSE(spec.redirectStderr);
  CHECK_EQ(spec.tailBytes, 64u << 10);
  CHECK(spec.env.empty());
  CHECK_FALSE(spec.workingdir.has_value());
  CHECK_EQ(spec.umask, 022u);
  CHECK_FALSE(spec.user.has_value());
  CHECK(spec.stopasgroup);
  CHECK(spec.killasgroup);
}

TEST_CASE("each option accepts its documented spellings") {
  struct Case {
    std::string option;  // the program's options after `cmd: a`
    std::function<std::string(const ProgramSpec&)> read;
    std::string value;
  };
  auto exitcodes = [](const ProgramSpec& s) { return fmt::format("{}", fmt::join(s.exitcodes, ",")); };
  auto autorestart = [](const ProgramSpec& s) { return std::string(taskmaster::to_string(s.autorestart)); };
  auto starttime = [](const ProgramSpec& s) { return fmt::format("{}ms", s.starttime.count()); };
  auto stopsignal = [](const ProgramSpec& s) { return std::to_string(s.stopsignal); };
  auto umask = [](const ProgramSpec& s) { return fmt::format("{:o}", s.umask); };
  auto cmd = [](const ProgramSpec& s) { return fmt::format("[{}]", fmt::join(s.cmd, "][")); };
  auto env = [](const ProgramSpec& s) {
    std::string out;
    for (const auto& [key, value] : s.env) out += fmt::format("{}={};", key, value);
    return out;
  };
  auto flags = [](const ProgramSpec& s) { return fmt::format("{} {} {}", s.autostart, s.stopasgroup, s.killasgroup); };
  auto policy = [](const ProgramSpec& s) {
    return fmt::format("{} {} {} {} {} {} {}", s.startretries, s.restartBurst, s.restartDelay.count(),
                       s.restartDelayFactor, s.restartDelayMax.count(), s.restartResetAfter.count(), s.fatalRetry.count());
  };
  auto output = [](const ProgramSpec& s) {
    return fmt::format("{} {}/{} {} {}/{} {} {}", s.stdoutPath.value_or("none"), s.stdoutRotation.maxBytes,
                       s.stdoutRotation.backups, s.stderrPath.value_or("none"), s.stderrRotation.maxBytes,
                       s.stderrRotation.backups, s.redirectStderr, s.tailBytes);
  };
  const std::vector<Case> cases = {
      {"startretries: infinite", policy, fmt::format("{} 3 1000 2 30000 200 0", taskmaster::kInfiniteRetries)},
      {"startretries: Infinite", policy, fmt::format("{} 3 1000 2 30000 200 0", taskmaster::kInfiniteRetries)},
      {"startretries: 7", policy, "7 3 1000 2 30000 200 0"},
      {"restart_burst: 0\n    restart_delay: 500ms\n    restart_delay_factor: 1.5\n    restart_delay_max: 1m\n"
       "    restart_reset_after: 2m\n    fatal_retry: 5m",
       policy, "3 0 500 1.5 60000 120000 300000"},
      {"restart_delay_factor: 3", policy, "3 3 1000 3 30000 200 0"},
      {"exitcodes: 2", exitcodes, "2"},
      {"exitcodes: [0, 2, 255]", exitcodes, "0,2,255"},
      {"exitcodes: []", exitcodes, ""},
      {"exitcodes:\n      - 1\n      - 3", exitcodes, "1,3"},
      {"autorestart: always", autorestart, "always"},
      {"autorestart: never", autorestart, "never"},
      {"autorestart: unexpected", autorestart, "unexpected"},
      {"autorestart: Always", autorestart, "always"},
      {"autorestart: true", autorestart, "always"},
      {"autorestart: false", autorestart, "never"},
      {"autorestart: yes", autorestart, "always"},
      {"starttime: 0", starttime, "0ms"},
      {"starttime: 5", starttime, "5000ms"},
      {"starttime: 1.5", starttime, "1500ms"},
      {"starttime: 250ms", starttime, "250ms"},
      {"starttime: \"2m\"", starttime, "120000ms"},
      {"stopsignal: INT", stopsignal, std::to_string(SIGINT)},
      {"stopsignal: sigusr1", stopsignal, std::to_string(SIGUSR1)},
      {"stopsignal: 9", stopsignal, "9"},
      {"umask: 022", umask, "22"},
      {"umask: \"022\"", umask, "22"},
      {"umask: 0o27", umask, "27"},
      {"umask: 0022", umask, "22"},
      {"umask: 77", umask, "77"},
      {"umask: 0", umask, "0"},
      {"umask: 0777", umask, "777"},
      {"autostart: true\n    stopasgroup: false\n    killasgroup: no", flags, "true false false"},
      {"autostart: yes\n    stopasgroup: off\n    killasgroup: on", flags, "true false true"},
      {"env: {PORT: 8080, DEBUG: true, RATIO: 1.50, EMPTY: '', PATHS: 'a:b'}", env,
       "DEBUG=true;EMPTY=;PATHS=a:b;PORT=8080;RATIO=1.50;"},
      {"stdout: /log/out", output, "/log/out 52428800/10 none 52428800/10 false 65536"},
      {"stdout_maxbytes: 50MB\n    stdout_backups: 3", output, "none 52428800/3 none 52428800/10 false 65536"},
      {"stdout_maxbytes: 512kb\n    stderr_maxbytes: 1GB", output, "none 524288/10 none 1073741824/10 false 65536"},
      {"stdout_maxbytes: 1048576\n    stderr_maxbytes: \"100B\"", output, "none 1048576/10 none 100/10 false 65536"},
      {"stdout_maxbytes: 0\n    stdout_backups: 0\n    stderr_backups: 0", output,
       "none 0/0 none 52428800/0 false 65536"},
      {"redirect_stderr: yes\n    tail_bytes: 1KB", output, "none 52428800/10 none 52428800/10 true 1024"},
      {"tail_bytes: 64MB", output, "none 52428800/10 none 52428800/10 false 67108864"},
      {"stdout: /dev/stdout\n    stderr: /dev/stderr", output,
       "/dev/stdout 52428800/10 /dev/stderr 52428800/10 false 65536"},
      // A file the instances share, or stdout and stderr share, is appended to without rotating...
      {"numprocs: 2\n    stdout: /log/out", output, "/log/out 0/10 none 52428800/10 false 65536"},
      {"stdout: /log/all\n    stderr: /log/all", output, "/log/all 0/10 /log/all 0/10 false 65536"},
      // ... unlike one of its own.
      {"numprocs: 2\n    stdout: /log/{index}.out\n    stderr: /log/err\n    redirect_stderr: true", output,
       "/log/{index}.out 52428800/10 /log/err 52428800/10 true 65536"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.option);
    auto spec = parseOne(web(fmt::format("    cmd: a\n    {}\n", c.option)));
    CHECK_EQ(c.read(spec), c.value);
  }

  SUBCASE("cmd as a string is split like a shell would; as a list it is taken verbatim") {
    struct CmdCase {
      std::string yaml;
      std::string argv;
    };
    const std::vector<CmdCase> cmds = {
        {"cmd: sleep 10", "[sleep][10]"},
        {"cmd: \"sh -c 'echo \\\"$HOME\\\" >&2'\"", "[sh][-c][echo \"$HOME\" >&2]"},
        {"cmd: 'python3 -m http.server 8000'", "[python3][-m][http.server][8000]"},
        {"cmd: [sh, -c, \"echo 'a b' $X\"]", "[sh][-c][echo 'a b' $X]"},
        {"cmd: [\"a b\", \"\"]", "[a b][]"},
        {"cmd:\n      - /bin/echo\n      - 42", "[/bin/echo][42]"},
    };
    for (const auto& c : cmds) {
      CAPTURE(c.yaml);
      CHECK_EQ(cmd(parseOne(web(fmt::format("    {}\n", c.yaml)))), c.argv);
    }
  }
}

TEST_CASE("programs keep their file order; socket is optional") {
  auto result = parseOk("socket: /run/tm.sock\nprograms:\n  zeta: {cmd: a}\n  alpha: {cmd: b}\n  mid: {cmd: c}\n");
  std::vector<std::string> names;
  for (const auto& program : result.config.programs) names.push_back(program.name);
  CHECK_EQ(fmt::format("{}", fmt::join(names, ",")), "zeta,alpha,mid");
  CHECK_EQ(result.config.socket.value_or("none"), "/run/tm.sock");
  CHECK_EQ(result.config.path, "test.yml");

  CHECK_FALSE(parseOk("programs:\n  web: {cmd: a}\n").config.socket.has_value());
}

TEST_CASE("a configuration without programs is valid, an empty file is not") {
  CHECK(parseOk("programs: {}\n").config.programs.empty());
  CHECK(parseOk("programs:\n  # web: {cmd: a}\n").config.programs.empty());
  CHECK_FALSE(taskmaster::parseConfig("").ok());
}

TEST_CASE("nothing the file contains makes the parser throw") {
  const std::vector<std::string> inputs = {
      std::string(5000, '['),
      std::string("programs:\n  web:\n    cmd: \"\\x00\"\n"),
      std::string("\xff\xfe\x00\x01garbage", 8),
      "programs: !!binary aGVsbG8=\n",
      "programs:\n  web: &a {cmd: x}\n  api: *a\n  \"\": {cmd: y}\n  ? !!null\n  : {cmd: z}\n",
      "%YAML 9.9\n---\nprograms: {}\n",
      "programs:\n\tweb: {cmd: a}\n",
  };
  for (const auto& input : inputs) {
    CAPTURE(input);
    CHECK_NOTHROW((void)taskmaster::parseConfig(input));
  }
  auto deep = taskmaster::parseConfig(std::string(5000, '['));
  REQUIRE_EQ(deep.errors.size(), 1u);
  CHECK_EQ(deep.errors[0].message, "invalid YAML: nested too deeply");
}

TEST_CASE("loadConfig reads a file and reports files it cannot read") {
  TempPath file("good.yml");
  file.write("programs:\n  web:\n    cmd: sleep 10\n    numprocs: 2\n");
  auto good = taskmaster::loadConfig(file.str());
  INFO(showErrors(good));
  REQUIRE(good.ok());
  CHECK_EQ(good.config.path, file.str());
  REQUIRE_EQ(good.config.programs.size(), 1u);
  CHECK_EQ(good.config.programs[0].numprocs, 2);

  TempPath bad("bad.yml");
  bad.write("programs:\n  web:\n    numprocs: 2\n");
  auto result = taskmaster::loadConfig(bad.str());
  REQUIRE_EQ(result.errors.size(), 1u);
  CHECK_EQ(result.errors[0].str(), bad.str() + ":2:3: program 'web': missing 'cmd' (the command to run)");

  TempPath missing("missing.yml");
  auto absent = taskmaster::loadConfig(missing.str());
  REQUIRE_EQ(absent.errors.size(), 1u);
  CHECK_EQ(absent.errors[0].str(), missing.str() + ": cannot read: No such file or directory");
  CHECK_EQ(absent.config.path, missing.str());

  TempPath directory("dir");
  std::filesystem::create_directory(directory.str());
  auto dir = taskmaster::loadConfig(directory.str());
  REQUIRE_EQ(dir.errors.size(), 1u);
  CHECK_EQ(dir.errors[0].str(), directory.str() + ": cannot read: Is a directory");

  // A FIFO would block the reader until someone writes to it; it is refused without being read.
  TempPath fifo("fifo");
  REQUIRE_EQ(::mkfifo(fifo.str().c_str(), 0600), 0);
  auto pipe = taskmaster::loadConfig(fifo.str());
  REQUIRE_EQ(pipe.errors.size(), 1u);
  CHECK_EQ(pipe.errors[0].str(), fifo.str() + ": cannot read: not a regular file");

  TempPath huge("huge.yml");
  huge.write("programs: {}\n");
  std::filesystem::resize_file(huge.str(), (16u << 20) + 1);
  auto large = taskmaster::loadConfig(huge.str());
  REQUIRE_EQ(large.errors.size(), 1u);
  CHECK_EQ(large.errors[0].str(), huge.str() + ": cannot read: larger than 16 MiB");
}

TEST_CASE("suggest() proposes a near miss only") {
  const std::vector<std::string> options = {"cmd", "numprocs", "autostart", "autorestart", "stopsignal", "stoptime"};
  struct Case {
    std::string word;
    std::string suggestion;  // empty: none
  };
  const std::vector<Case> cases = {
      {"numproc", "numprocs"},      {"numprocss", "numprocs"},   {"nmuprocs", "numprocs"},  // drop, add, swap
      {"NUMPROCS", "numprocs"},     {"cmdd", "cmd"},             {"cdm", "cmd"},
      {"autostrat", "autostart"},   {"autorestar", "autorestart"}, {"stoptme", "stoptime"},
      {"cm", "cmd"},  // one edit is always allowed, even in a short word
      {"colour", ""},               {"x", ""},                   {"numbers", ""},
      {"stop", ""},                 {"", ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.word);
    CHECK_EQ(taskmaster::suggest(c.word, options).value_or(""), c.suggestion);
  }
  CHECK_FALSE(taskmaster::suggest("cmd", {}).has_value());
}

TEST_CASE("taskmaster's own settings are read at the top level") {
  auto config = parseOk("loglevel: warning\npidfile: /run/tm.pid\numask: 027\ndirectory: /srv\nminfds: 4096\n"
                        "minprocs: 300\nprograms: {}\n")
                    .config;
  CHECK(config.loglevel == taskmaster::LogLevel::warn);
  CHECK_EQ(config.pidfile.value_or(""), "/run/tm.pid");
  CHECK_EQ(config.umask.value_or(0), 027u);
  CHECK_EQ(config.directory.value_or(""), "/srv");
  CHECK_EQ(config.minfds.value_or(0), 4096u);
  CHECK_EQ(config.minprocs.value_or(0), 300u);
  auto bare = parseOk("programs: {}\n").config;
  CHECK_FALSE(bare.loglevel.has_value());
  CHECK_FALSE(bare.umask.has_value());
  CHECK_FALSE(bare.minfds.has_value());
}

TEST_CASE("the event log's options are read at the top level") {
  auto config = parseOk("logfile: /var/log/tm.log\nlogfile_maxbytes: 1GB\nlogfile_backups: 0\nprograms: {}\n").config;
  CHECK_EQ(config.logfile.value_or("none"), "/var/log/tm.log");
  CHECK_EQ(config.logfileMaxBytes.value_or(1), 1u << 30);
  CHECK_EQ(config.logfileBackups.value_or(-1), 0);

  // Absent, they are left to the command line and its defaults.
  auto bare = parseOk("programs: {}\n").config;
  CHECK_FALSE(bare.logfile.has_value());
  CHECK_FALSE(bare.logfileMaxBytes.has_value());
  CHECK_FALSE(bare.logfileBackups.has_value());
}

TEST_CASE("a file written by several programs is appended to without rotating, unless rotation is asked for") {
  SUBCASE("shared by default: neither rotates") {
    auto result = parseOk("programs:\n  web: {cmd: a, stdout: /log/all}\n  api: {cmd: b, numprocs: 2, "
                          "stdout: '/log/{index}', stderr: /log/all}\n  db: {cmd: c, stdout: /log/db}\n");
    REQUIRE_EQ(result.config.programs.size(), 3u);
    CHECK_EQ(result.config.programs[0].stdoutRotation.maxBytes, 0u);
    CHECK_EQ(result.config.programs[1].stdoutRotation.maxBytes, 50u << 20);  // its own files
    CHECK_EQ(result.config.programs[1].stderrRotation.maxBytes, 0u);
    CHECK_EQ(result.config.programs[2].stdoutRotation.maxBytes, 50u << 20);
  }
  SUBCASE("forwarded and discarded output is shared freely") {
    auto result = parseOk("programs:\n  web: {cmd: a, numprocs: 2, stdout: /dev/stdout, stderr: /dev/stdout}\n"
                          "  api: {cmd: b, stdout: /dev/stdout, stdout_maxbytes: 1MB, stderr: /dev/null}\n"
                          "  db: {cmd: c, stdout: /dev/null, stderr: /dev/stderr}\n");
    CHECK_EQ(result.config.programs[1].stdoutRotation.maxBytes, 1u << 20);
  }
  SUBCASE("asked for: an error naming both programs, at the one that asks") {
    auto result = taskmaster::parseConfig("programs:\n  web:\n    cmd: a\n    stdout: /log/{program}\n"
                                          "  api:\n    cmd: b\n    stdout: /log/web\n    stdout_maxbytes: 5MB\n",
                                          "tm.yml");
    REQUIRE_EQ(result.errors.size(), 1u);
    CHECK_EQ(result.errors[0].str(),
             "tm.yml:7:13: program 'api': stdout: the rotated file '/log/web' is also the stdout of program 'web': "
             "a rotated file must have one writer; give each program its own file (or set stdout_maxbytes: 0 to "
             "append without rotating)");
  }
  SUBCASE("an instance of another program") {
    auto result = taskmaster::parseConfig("programs:\n  web: {cmd: a, numprocs: 3, stdout: '/log/{index}', "
                                          "stdout_maxbytes: 1KB}\n  api: {cmd: b, stderr: /log/2}\n",
                                          "tm.yml");
    REQUIRE_EQ(result.errors.size(), 1u);
    CHECK_EQ(result.errors[0].line, 2);
    CHECK_NE(result.errors[0].message.find("stdout: the rotated file '/log/2' is also the stderr of program 'api'"),
             std::string::npos);
  }
  SUBCASE("explicitly not rotated by all: fine") {
    auto result = parseOk("programs:\n  web: {cmd: a, stdout: /log/x, stdout_maxbytes: 0}\n"
                          "  api: {cmd: b, stdout: /log/x, stdout_maxbytes: 0}\n");
    CHECK_EQ(result.config.programs[1].stdoutRotation.maxBytes, 0u);
  }
}

TEST_CASE("unix_http_server and inet_http_server: supervisord's keys, and errors placed at the value") {
  const auto read = taskmaster::parseConfig(
      "unix_http_server:\n  file: /run/tm.sock\n  chmod: \"0770\"\n  username: admin\n  password: \"{SHA}abc\"\n"
      "inet_http_server:\n  port: 9001\nprograms: {}\n",
      "tm.yml");
  REQUIRE(read.errors.empty());
  REQUIRE(read.config.httpServers.size() == 2);
  const auto& local = read.config.httpServers[0];
  CHECK(local.kind == taskmaster::HttpServerConfig::Kind::unix_socket);
  CHECK(local.address == "/run/tm.sock");
  CHECK(local.chmod == 0770);
  CHECK(local.username == "admin");
  CHECK(local.password == "{SHA}abc");
  const auto& inet = read.config.httpServers[1];
  CHECK(inet.kind == taskmaster::HttpServerConfig::Kind::inet);
  CHECK(inet.address == ":9001");  // every interface, as supervisord
  CHECK(taskmaster::parseConfig("unix_http_server: {file: /tmp/a.sock}\nprograms: {}\n").config.httpServers[0].chmod ==
        0700);
  const auto several = taskmaster::parseConfig(
      "inet_http_server:\n  - port: \"127.0.0.1:9001\"\n  - port: \"*:9002\"\nprograms: {}\n");
  REQUIRE(several.config.httpServers.size() == 2);
  CHECK(several.config.httpServers[1].address == ":9002");

  auto error = [](const std::string& text) {
    const auto bad = taskmaster::parseConfig(text + "programs: {}\n", "tm.yml");
    REQUIRE(bad.errors.size() == 1);
    return bad.errors[0].str();
  };
  CHECK(error("unix_http_server:\n  file: /tmp/a.sock\n  chmod: 0789\n") ==
        "tm.yml:3:10: unix_http_server: chmod: expected an octal value such as 022, got '0789'");
  CHECK(error("inet_http_server:\n  port: 70000\n") ==
        "tm.yml:2:9: inet_http_server: port: expected PORT or HOST:PORT with a port from 1 to 65535, got '70000'");
  CHECK(error("inet_http_server:\n  port: 9001\n  username: admin\n") ==
        "tm.yml:1:1: inet_http_server: a username without a password, or a password without a username: give both "
        "or neither");
  CHECK(error("unix_http_server:\n  chmod: \"0700\"\n") == "tm.yml:1:1: unix_http_server: missing 'file'");
  CHECK(error("inet_http_server: 9001\n").starts_with("tm.yml:1:19: inet_http_server: expected a map of port, "));
  CHECK(error("unix_http_server:\n  file: /tmp/a.sock\n  port: 1\n").starts_with("tm.yml:3:3: unknown key 'port'"));
}
