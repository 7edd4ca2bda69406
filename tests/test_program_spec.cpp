// ProgramSpec and its helpers: command splitting, durations, signals, validation and what a reload restarts.
#include <doctest/doctest.h>

#include <cmath>
#include <csignal>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <taskmaster/program_spec.hpp>

using namespace std::chrono_literals;
using taskmaster::AutoRestart;
using taskmaster::Duration;
using taskmaster::ProgramSpec;
using taskmaster::StdStream;

namespace {

// "[sleep][10]", or "<error>": comparable as text, so a failure prints both sides readably.
std::string show(const std::optional<std::vector<std::string>>& words) {
  if (!words) return "<error>";
  std::string out;
  for (const auto& word : *words) out += fmt::format("[{}]", word);
  return out;
}

std::string show(const std::optional<Duration>& d) { return d ? fmt::format("{}ms", d->count()) : "<error>"; }

std::string show(const std::optional<int>& n) { return n ? std::to_string(*n) : "<error>"; }

std::string showSize(const std::optional<std::uint64_t>& n) { return n ? std::to_string(*n) : "<error>"; }

std::string show(const std::optional<std::string>& path) { return path ? *path : "<none>"; }

ProgramSpec validSpec() {
  ProgramSpec spec;
  spec.name = "web";
  spec.cmd = {"sleep", "10"};
  return spec;
}

}  // namespace

TEST_CASE("splitCommand splits words as a POSIX shell would, without expanding anything") {
  struct Case {
    std::string line;
    std::string words;
  };
  const std::vector<Case> cases = {
      {"sleep 10", "[sleep][10]"},
      {"  a   b  ", "[a][b]"},
      {"", ""},
      {" \t\n ", ""},
      {"a\tb\nc", "[a][b][c]"},
      {"echo 'a  b'", "[echo][a  b]"},
      {"echo 'a\\b \"c\" $d'", "[echo][a\\b \"c\" $d]"},  // single quotes keep everything
      {"echo \"a  b\"", "[echo][a  b]"},
      {"echo \"a\\\"b\"", "[echo][a\"b]"},
      {"echo \"\\$HOME \\` \\\\\"", "[echo][$HOME ` \\]"},
      {"echo \"a\\nb\"", "[echo][a\\nb]"},  // \n is not special inside double quotes: both characters stay
      {"echo \"it's\"", "[echo][it's]"},
      {"echo 'say \"hi\"'", "[echo][say \"hi\"]"},
      {"echo a\\ b", "[echo][a b]"},
      {"echo \\'", "[echo][']"},
      {"echo \\\\", "[echo][\\]"},
      {"echo \"\"", "[echo][]"},
      {"echo '' x", "[echo][][x]"},
      {"a\"\"b", "[ab]"},
      {"a\"b c\"d'e f'g", "[ab cde fg]"},
      {"echo $HOME *.txt ~", "[echo][$HOME][*.txt][~]"},
      {"a | b > c; d && e", "[a][|][b][>][c;][d][&&][e]"},
      {"a\\\nb", "[ab]"},          // backslash-newline joins lines
      {"\"a\\\nb\"", "[ab]"},      // also inside double quotes
      {"'a\\\nb'", "[a\\\nb]"},    // but not inside single quotes
      {"sh -c 'echo \"$X\"; exit 3'", "[sh][-c][echo \"$X\"; exit 3]"},
      {"/usr/bin/env FOO=1 prog", "[/usr/bin/env][FOO=1][prog]"},
      {"echo 'a", "<error>"},
      {"echo \"a", "<error>"},
      {"echo \"a\\\"", "<error>"},
      {"echo a\\", "<error>"},
      {"'", "<error>"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.line);
    CHECK_EQ(show(taskmaster::splitCommand(c.line)), c.words);
  }
}

TEST_CASE("parseDuration reads seconds, decimals and units") {
  struct Case {
    std::string text;
    std::string duration;
  };
  const std::vector<Case> cases = {
      {"0", "0ms"},         {"10", "10000ms"},     {"1.5", "1500ms"},       {"0.5", "500ms"},
      {"500ms", "500ms"},   {"0ms", "0ms"},        {"2s", "2000ms"},        {"1.25s", "1250ms"},
      {"1m", "60000ms"},    {"1.5m", "90000ms"},   {"1h", "3600000ms"},     {"0.0005", "0ms"},
      {"007", "7000ms"},    {"0.1234567891s", "123ms"},
      {"", "<error>"},      {"-1", "<error>"},     {"+1", "<error>"},       {"abc", "<error>"},
      {"1x", "<error>"},    {"s", "<error>"},      {"ms", "<error>"},       {".5", "<error>"},
      {"5.", "<error>"},    {"1.2.3", "<error>"},  {" 1", "<error>"},       {"1 s", "<error>"},
      {"1e3", "<error>"},   {"1d", "<error>"},     {"1S", "<error>"},       {"1.-5", "<error>"},
      {"99999999999999999999", "<error>"},  {"9223372036854775807h", "<error>"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    CHECK_EQ(show(taskmaster::parseDuration(c.text)), c.duration);
  }
}

TEST_CASE("parseSignal takes names with or without SIG, in any case, and numbers") {
  struct Case {
    std::string text;
    std::optional<int> signal;
  };
  const std::vector<Case> cases = {
      {"TERM", SIGTERM},   {"SIGTERM", SIGTERM},  {"term", SIGTERM},  {"SigTerm", SIGTERM}, {"sigkill", SIGKILL},
      {"Hup", SIGHUP},     {"USR1", SIGUSR1},     {"USR2", SIGUSR2},  {"IO", SIGIO},        {"POLL", SIGIO},
      {"CHLD", SIGCHLD},   {"CLD", SIGCHLD},      {"IOT", SIGABRT},   {"15", SIGTERM},      {"1", 1},
      {"64", 64},          {"015", SIGTERM},      {"RTMIN", SIGRTMIN},  {"SIGRTMIN+1", SIGRTMIN + 1},
      {"RTMAX", SIGRTMAX}, {"rtmax-2", SIGRTMAX - 2},
      {"", std::nullopt},      {"0", std::nullopt},        {"65", std::nullopt},      {"-15", std::nullopt},
      {"TERMX", std::nullopt}, {"SIG", std::nullopt},      {"SIGSIGTERM", std::nullopt}, {" TERM", std::nullopt},
      {"RTMIN-1", std::nullopt}, {"RTMAX+1", std::nullopt}, {"RTMIN+99", std::nullopt}, {"RTMIN+", std::nullopt},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    CHECK_EQ(show(taskmaster::parseSignal(c.text)), show(c.signal));
  }
}

TEST_CASE("every common signal name is known and signalName() reads back") {
  for (const char* name : {"HUP",  "INT",  "QUIT", "ILL",  "TRAP", "ABRT", "BUS",    "FPE",  "KILL", "USR1",  "SEGV",
                           "USR2", "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU",
                           "URG",  "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "POLL", "PWR",  "SYS"}) {
    CAPTURE(name);
    auto signal = taskmaster::parseSignal(name);
    REQUIRE(signal.has_value());
    CHECK_EQ(show(taskmaster::parseSignal(taskmaster::signalName(*signal))), show(signal));
  }
  for (int signal = 1; signal <= SIGRTMAX; ++signal) {
    CAPTURE(signal);
    CHECK_EQ(show(taskmaster::parseSignal(taskmaster::signalName(signal))), show(signal));
  }
}

TEST_CASE("signalName prints the usual name, or the number when there is none") {
  struct Case {
    int signal;
    std::string name;
  };
  const std::vector<Case> cases = {
      {SIGTERM, "TERM"},  {SIGKILL, "KILL"},        {SIGHUP, "HUP"},   {SIGABRT, "ABRT"},
      {SIGCHLD, "CHLD"},  {SIGIO, "IO"},            {SIGRTMIN, "RTMIN"}, {SIGRTMIN + 2, "RTMIN+2"},
      {SIGRTMAX, "RTMAX"}, {0, "0"},                {100, "100"},      {-1, "-1"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.signal);
    CHECK_EQ(taskmaster::signalName(c.signal), c.name);
  }
}

TEST_CASE("to_string(AutoRestart) gives the configuration words") {
  CHECK_EQ(taskmaster::to_string(AutoRestart::never), "never");
  CHECK_EQ(taskmaster::to_string(AutoRestart::unexpected), "unexpected");
  CHECK_EQ(taskmaster::to_string(AutoRestart::always), "always");
}

TEST_CASE("instanceName is the program name alone only when there is one instance") {
  ProgramSpec spec = validSpec();
  CHECK_EQ(spec.instanceName(0), "web");
  spec.numprocs = 3;
  CHECK_EQ(spec.instanceName(0), "web:0");
  CHECK_EQ(spec.instanceName(2), "web:2");
}

TEST_CASE("validate() accepts the defaults and names every problem") {
  struct Case {
    std::string what;
    std::function<void(ProgramSpec&)> change;
    std::string problem;  // empty: still valid
  };
  const std::vector<Case> cases = {
      {"defaults", [](ProgramSpec&) {}, ""},
      {"empty name", [](ProgramSpec& s) { s.name = ""; }, "name: must not be empty"},
      {"a name in a group", [](ProgramSpec& s) { s.name = "db:main"; }, ""},
      {"name with two colons", [](ProgramSpec& s) { s.name = "a:b:c"; }, "name: 'a:b:c' must not contain"},
      {"name with an empty group", [](ProgramSpec& s) { s.name = ":web"; }, "must be NAME or GROUP:PROCESS"},
      {"name with an empty process", [](ProgramSpec& s) { s.name = "db:"; }, "must be NAME or GROUP:PROCESS"},
      {"group all", [](ProgramSpec& s) { s.name = "all:x"; }, "name: 'all' is reserved"},
      {"several instances in a group",
       [](ProgramSpec& s) {
         s.name = "db:main";
         s.numprocs = 2;
       },
       "numprocs: a program in a group ('db:main') runs one instance"},
      {"name with a space", [](ProgramSpec& s) { s.name = "my web"; }, "name: 'my web' must not contain"},
      {"name with a tab", [](ProgramSpec& s) { s.name = "web\t"; }, "must not contain whitespace"},
      {"reserved name", [](ProgramSpec& s) { s.name = "all"; }, "name: 'all' is reserved"},
      {"name with dots and dashes", [](ProgramSpec& s) { s.name = "web-1.api_v2"; }, ""},
      {"empty cmd", [](ProgramSpec& s) { s.cmd.clear(); }, "cmd: must not be empty"},
      {"empty program", [](ProgramSpec& s) { s.cmd = {""}; }, "cmd: the program to run must not be empty"},
      {"empty argument", [](ProgramSpec& s) { s.cmd = {"echo", ""}; }, ""},
      {"NUL in argument", [](ProgramSpec& s) { s.cmd = {"echo", std::string("a\0b", 3)}; }, 
       "cmd: must not contain NUL"},
      {"numprocs 0", [](ProgramSpec& s) { s.numprocs = 0; }, "numprocs: must be between 1 and 10000, got 0"},
      {"numprocs 10000", [](ProgramSpec& s) { s.numprocs = 10000; }, ""},
      {"numprocs 10001", [](ProgramSpec& s) { s.numprocs = 10001; }, "numprocs: must be between 1 and 10000, got 10001"},
      {"exit code 256", [](ProgramSpec& s) { s.exitcodes = {0, 256}; }, "exitcodes: 256 is not an exit code (0-255)"},
      {"exit code -1", [](ProgramSpec& s) { s.exitcodes = {-1}; }, "exitcodes: -1 is not an exit code"},
      {"exit codes 0 and 255", [](ProgramSpec& s) { s.exitcodes = {0, 255}; }, ""},
      {"no expected exit code", [](ProgramSpec& s) { s.exitcodes.clear(); }, ""},
      {"startretries -1", [](ProgramSpec& s) { s.startretries = -1; }, "startretries: must not be negative, got -1"},
      {"startretries 0", [](ProgramSpec& s) { s.startretries = 0; }, ""},
      {"startretries infinite", [](ProgramSpec& s) { s.startretries = taskmaster::kInfiniteRetries; }, ""},
      {"restart_burst -1", [](ProgramSpec& s) { s.restartBurst = -1; }, "restart_burst: must not be negative, got -1"},
      {"restart_burst 0", [](ProgramSpec& s) { s.restartBurst = 0; }, ""},
      {"restart_delay_factor 0.9", [](ProgramSpec& s) { s.restartDelayFactor = 0.9; },
       "restart_delay_factor: must be between 1 and 100, got 0.9"},
      {"restart_delay_factor 101", [](ProgramSpec& s) { s.restartDelayFactor = 101; },
       "restart_delay_factor: must be between 1 and 100, got 101"},
      {"restart_delay_factor NaN", [](ProgramSpec& s) { s.restartDelayFactor = std::nan(""); },
       "restart_delay_factor: must be between 1 and 100"},
      {"restart_delay_factor 1", [](ProgramSpec& s) { s.restartDelayFactor = 1; }, ""},
      {"restart_delay above the cap", [](ProgramSpec& s) { s.restartDelay = 31s; },
       "restart_delay: must not exceed restart_delay_max (30s), got 31s"},
      {"restart_delay 0", [](ProgramSpec& s) { s.restartDelay = 0ms; }, ""},
      {"restart_delay_max too long", [](ProgramSpec& s) { s.restartDelayMax = 25h; },
       "restart_delay_max: must be between 0 and 24h, got 25h"},
      {"negative restart_reset_after", [](ProgramSpec& s) { s.restartResetAfter = -1ms; },
       "restart_reset_after: must be between 0 and 24h, got -1ms"},
      {"fatal_retry too long", [](ProgramSpec& s) { s.fatalRetry = 25h; }, "fatal_retry: must be between 0 and 24h, got 25h"},
      {"fatal_retry 5m", [](ProgramSpec& s) { s.fatalRetry = 5min; }, ""},
      {"negative starttime", [](ProgramSpec& s) { s.starttime = -1ms; },
       "starttime: must be between 0 and 24h, got -1ms"},
      {"zero starttime", [](ProgramSpec& s) { s.starttime = 0ms; }, ""},
      {"stoptime too long", [](ProgramSpec& s) { s.stoptime = 25h; }, "stoptime: must be between 0 and 24h, got 25h"},
      {"stoptime 24h", [](ProgramSpec& s) { s.stoptime = 24h; }, ""},
      {"stopsignal 0", [](ProgramSpec& s) { s.stopsignal = 0; }, "stopsignal: must be between 1 and 64, got 0"},
      {"stopsignal 65", [](ProgramSpec& s) { s.stopsignal = 65; }, "stopsignal: must be between 1 and 64, got 65"},
      {"umask 01000", [](ProgramSpec& s) { s.umask = 01000; }, "umask: must be at most 0777, got 01000"},
      {"umask 0777", [](ProgramSpec& s) { s.umask = 0777; }, ""},
      {"empty env name", [](ProgramSpec& s) { s.env = {{"", "x"}}; }, "env: variable name must not be empty"},
      {"env name with =", [](ProgramSpec& s) { s.env = {{"A=B", "x"}}; },
       "env: variable name 'A=B' must not contain '='"},
      {"empty env value", [](ProgramSpec& s) { s.env = {{"A", ""}}; }, ""},
      {"empty stdout", [](ProgramSpec& s) { s.stdoutPath = ""; }, "stdout: must not be empty"},
      {"empty stderr", [](ProgramSpec& s) { s.stderrPath = ""; }, "stderr: must not be empty"},
      {"empty workingdir", [](ProgramSpec& s) { s.workingdir = ""; }, "workingdir: must not be empty"},
      {"empty user", [](ProgramSpec& s) { s.user = ""; }, "user: must not be empty"},
      // Output.
      {"stdout_backups -1", [](ProgramSpec& s) { s.stdoutRotation.backups = -1; },
       "stdout_backups: must be between 0 and 1000, got -1"},
      {"stderr_backups 1001", [](ProgramSpec& s) { s.stderrRotation.backups = 1001; },
       "stderr_backups: must be between 0 and 1000, got 1001"},
      {"backups 0 and 1000", [](ProgramSpec& s) { s.stdoutRotation.backups = 0; s.stderrRotation.backups = 1000; }, ""},
      {"maxbytes 0 and huge", [](ProgramSpec& s) { s.stdoutRotation.maxBytes = 0; s.stderrRotation.maxBytes = ~0ull; },
       ""},
      {"tail_bytes 0", [](ProgramSpec& s) { s.tailBytes = 0; }, "tail_bytes: must be between 1 and 64MB, got 0"},
      {"tail_bytes 1", [](ProgramSpec& s) { s.tailBytes = 1; }, ""},
      {"tail_bytes 64MB", [](ProgramSpec& s) { s.tailBytes = 64 << 20; }, ""},
      {"tail_bytes above 64MB", [](ProgramSpec& s) { s.tailBytes = (64 << 20) + 1; },
       "tail_bytes: must be between 1 and 64MB, got 67108865"},
      {"tail_bytes 1GB", [](ProgramSpec& s) { s.tailBytes = 1 << 30; },
       "tail_bytes: must be between 1 and 64MB, got 1GB"},
      {"every placeholder", [](ProgramSpec& s) { s.stdoutPath = "/log/{program}/{instance}-{index}.log"; }, ""},
      {"unknown placeholder", [](ProgramSpec& s) { s.stdoutPath = "/log/{idx}.log"; },
       "stdout: unknown placeholder {idx} (known: {program}, {instance}, {index})"},
      {"placeholders are case-sensitive", [](ProgramSpec& s) { s.stderrPath = "/log/{Program}.log"; },
       "stderr: unknown placeholder {Program}"},
      {"braces that are no placeholder", [](ProgramSpec& s) { s.stdoutPath = "/log/{}/{a b}/{x/y}/{"; }, ""},
      {"instances sharing a rotated file", [](ProgramSpec& s) { s.numprocs = 3; s.stdoutPath = "/log/{program}.log"; },
       "stdout: the 3 instances of 'web' would share one rotated file: put {index} or {instance} in its name"},
      {"instances sharing a rotated stderr", [](ProgramSpec& s) { s.numprocs = 2; s.stderrPath = "/log/err"; },
       "stderr: the 2 instances of 'web' would share one rotated file"},
      {"instances with {index}", [](ProgramSpec& s) { s.numprocs = 3; s.stdoutPath = "/log/{program}.{index}"; }, ""},
      {"instances with {instance}", [](ProgramSpec& s) { s.numprocs = 3; s.stdoutPath = "/log/{instance}"; }, ""},
      {"instances sharing a file not rotated",
       [](ProgramSpec& s) { s.numprocs = 3; s.stdoutPath = "/log/out"; s.stdoutRotation.maxBytes = 0; }, ""},
      {"instances forwarding",
       [](ProgramSpec& s) {
         s.numprocs = 3;
         s.stdoutPath = "/dev/stdout";
         s.stderrPath = "/dev/stderr";
       },
       ""},
      {"instances discarding", [](ProgramSpec& s) { s.numprocs = 3; s.stdoutPath = "/dev/null"; }, ""},
      {"instances sharing stderr under redirect_stderr",
       [](ProgramSpec& s) {
         s.numprocs = 3;
         s.stdoutPath = "/log/{index}";
         s.stderrPath = "/log/err";
         s.redirectStderr = true;
       },
       ""},
      {"stdout and stderr in one rotated file", [](ProgramSpec& s) { s.stdoutPath = s.stderrPath = "/log/all"; },
       "stderr: stdout and stderr name the same rotated file '/log/all': set redirect_stderr: true"},
      {"stdout and stderr in one file, only stderr rotated",
       [](ProgramSpec& s) { s.stdoutPath = s.stderrPath = "/log/all"; s.stdoutRotation.maxBytes = 0; },
       "stderr: stdout and stderr name the same rotated file '/log/all'"},
      {"stdout and stderr in one file, after expansion",
       [](ProgramSpec& s) { s.stdoutPath = "/log/{program}"; s.stderrPath = "/log/web"; },
       "stderr: stdout and stderr name the same rotated file '/log/web'"},
      {"stdout and stderr in one file not rotated",
       [](ProgramSpec& s) {
         s.stdoutPath = s.stderrPath = "/log/all";
         s.stdoutRotation.maxBytes = s.stderrRotation.maxBytes = 0;
       },
       ""},
      {"stdout and stderr in one file by redirect_stderr",
       [](ProgramSpec& s) { s.stdoutPath = s.stderrPath = "/log/all"; s.redirectStderr = true; }, ""},
      {"stdout and stderr forwarded to one place",
       [](ProgramSpec& s) { s.stdoutPath = s.stderrPath = "/dev/stderr"; }, ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    ProgramSpec spec = validSpec();
    c.change(spec);
    auto problems = spec.validate();
    if (c.problem.empty()) {
      CHECK_EQ(fmt::format("{}", fmt::join(problems, "; ")), "");
    } else {
      REQUIRE_EQ(problems.size(), 1u);
      CHECK_MESSAGE(problems[0].find(c.problem) != std::string::npos,
                    fmt::format("'{}' does not contain '{}'", problems[0], c.problem));
    }
  }
}

TEST_CASE("validate() reports every problem at once") {
  ProgramSpec spec = validSpec();
  spec.name = "all";
  spec.numprocs = 0;
  spec.stopsignal = 99;
  spec.exitcodes = {300, 400};
  auto problems = spec.validate();
  INFO(fmt::format("{}", fmt::join(problems, "\n")));
  CHECK_EQ(problems.size(), 5u);
}

TEST_CASE("sameProcessAs: only what is fixed at exec time needs a restart") {
  struct Case {
    std::string option;
    std::function<void(ProgramSpec&)> change;
    bool restart;
  };
  const std::vector<Case> cases = {
      // Process-defining.
      {"cmd", [](ProgramSpec& s) { s.cmd = {"sleep", "20"}; }, true},
      {"env", [](ProgramSpec& s) { s.env["A"] = "1"; }, true},
      {"workingdir", [](ProgramSpec& s) { s.workingdir = "/tmp"; }, true},
      {"umask", [](ProgramSpec& s) { s.umask = 077; }, true},
      {"user", [](ProgramSpec& s) { s.user = "nobody"; }, true},
      // The child's fd 2 is the stdout pipe or a pipe of its own.
      {"redirect_stderr", [](ProgramSpec& s) { s.redirectStderr = true; }, true},
      // The child's fds 0-2 are a terminal, or its fd 0 a pipe.
      {"tty", [](ProgramSpec& s) { s.tty = true; }, true},
      {"stdin", [](ProgramSpec& s) { s.stdin = true; }, true},
      // Applied live.
      {"nothing", [](ProgramSpec&) {}, false},
      {"numprocs", [](ProgramSpec& s) { s.numprocs = 4; }, false},
      {"autostart", [](ProgramSpec& s) { s.autostart = true; }, false},
      {"autorestart", [](ProgramSpec& s) { s.autorestart = AutoRestart::always; }, false},
      {"exitcodes", [](ProgramSpec& s) { s.exitcodes = {0, 2}; }, false},
      {"starttime", [](ProgramSpec& s) { s.starttime = 5s; }, false},
      {"startretries", [](ProgramSpec& s) { s.startretries = 9; }, false},
      {"stopsignal", [](ProgramSpec& s) { s.stopsignal = SIGINT; }, false},
      {"stoptime", [](ProgramSpec& s) { s.stoptime = 1s; }, false},
      {"stopasgroup", [](ProgramSpec& s) { s.stopasgroup = false; }, false},
      {"killasgroup", [](ProgramSpec& s) { s.killasgroup = false; }, false},
      {"restart_burst", [](ProgramSpec& s) { s.restartBurst = 0; }, false},
      {"restart_delay", [](ProgramSpec& s) { s.restartDelay = 2s; }, false},
      {"restart_delay_factor", [](ProgramSpec& s) { s.restartDelayFactor = 3; }, false},
      {"restart_delay_max", [](ProgramSpec& s) { s.restartDelayMax = 1min; }, false},
      {"restart_reset_after", [](ProgramSpec& s) { s.restartResetAfter = 1min; }, false},
      {"fatal_retry", [](ProgramSpec& s) { s.fatalRetry = 5min; }, false},
      // taskmaster writes the files itself: the output options apply live.
      {"stdout", [](ProgramSpec& s) { s.stdoutPath = "/tmp/out"; }, false},
      {"stderr", [](ProgramSpec& s) { s.stderrPath = "/tmp/err"; }, false},
      {"stdout forwarded", [](ProgramSpec& s) { s.stdoutPath = "/dev/stdout"; }, false},
      {"stdout_maxbytes", [](ProgramSpec& s) { s.stdoutRotation.maxBytes = 1024; }, false},
      {"stdout_backups", [](ProgramSpec& s) { s.stdoutRotation.backups = 0; }, false},
      {"stderr_maxbytes", [](ProgramSpec& s) { s.stderrRotation.maxBytes = 0; }, false},
      {"stderr_backups", [](ProgramSpec& s) { s.stderrRotation.backups = 3; }, false},
      {"tail_bytes", [](ProgramSpec& s) { s.tailBytes = 1024; }, false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.option);
    const ProgramSpec before = validSpec();
    ProgramSpec after = before;
    c.change(after);
    CHECK_EQ(!before.sameProcessAs(after), c.restart);
    CHECK_EQ(!after.sameProcessAs(before), c.restart);
  }
}

TEST_CASE("to_string(StdStream) gives the configuration words") {
  CHECK_EQ(taskmaster::to_string(StdStream::out), "stdout");
  CHECK_EQ(taskmaster::to_string(StdStream::err), "stderr");
}

TEST_CASE("parseSize reads bytes and KB, MB, GB in any case, without a space") {
  struct Case {
    std::string text;
    std::string bytes;
  };
  const std::vector<Case> cases = {
      {"0", "0"},
      {"1024", "1024"},
      {"1024B", "1024"},
      {"1024b", "1024"},
      {"512KB", "524288"},
      {"512kb", "524288"},
      {"50MB", "52428800"},
      {"50Mb", "52428800"},
      {"1GB", "1073741824"},
      {"0MB", "0"},
      {"007KB", "7168"},
      {"17179869183GB", "18446744072635809792"},  // the largest whole number of GB
      {"18446744073709551615", "18446744073709551615"},
      {"", "<error>"},
      {"KB", "<error>"},
      {"B", "<error>"},
      {"10 MB", "<error>"},
      {" 10MB", "<error>"},
      {"10MB ", "<error>"},
      {"-1", "<error>"},
      {"+1", "<error>"},
      {"1.5MB", "<error>"},
      {"1e6", "<error>"},
      {"10M", "<error>"},
      {"10K", "<error>"},
      {"10TB", "<error>"},
      {"10KiB", "<error>"},
      {"MB10", "<error>"},
      {"lots", "<error>"},
      {"17179869184GB", "<error>"},  // 2^64: overflow
      {"18446744073709551616", "<error>"},
      {"99999999999999999999KB", "<error>"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    CHECK_EQ(showSize(taskmaster::parseSize(c.text)), c.bytes);
  }
}

TEST_CASE("formatSize writes the largest unit that keeps the size whole, and parseSize reads it back") {
  struct Case {
    std::uint64_t bytes;
    std::string text;
  };
  const std::vector<Case> cases = {
      {0, "0"},           {1, "1"},           {100, "100"},           {1023, "1023"},
      {1024, "1KB"},      {1536, "1536"},     {1536 * 1024, "1536KB"}, {52428800, "50MB"},
      {64 * 1024, "64KB"}, {1ull << 30, "1GB"}, {3ull << 30, "3GB"},     {(1ull << 30) + 1024, "1048577KB"},
      {~0ull, "18446744073709551615"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.bytes);
    CHECK_EQ(taskmaster::formatSize(c.bytes), c.text);
    CHECK_EQ(showSize(taskmaster::parseSize(taskmaster::formatSize(c.bytes))), std::to_string(c.bytes));
  }
}

TEST_CASE("outputPath expands the placeholders for each instance") {
  ProgramSpec spec = validSpec();
  CHECK_EQ(show(spec.outputPath(StdStream::out, 0)), "<none>");
  CHECK_EQ(show(spec.outputPath(StdStream::err, 0)), "<none>");

  spec.stdoutPath = "/log/{program}/{instance}.{index}.out";
  spec.stderrPath = "/log/{program}-{program}.err";
  CHECK_EQ(show(spec.outputPath(StdStream::out, 0)), "/log/web/web.0.out");  // one instance: named "web"
  CHECK_EQ(show(spec.outputPath(StdStream::err, 0)), "/log/web-web.err");
  spec.numprocs = 3;
  CHECK_EQ(show(spec.outputPath(StdStream::out, 2)), "/log/web/web:2.2.out");
  CHECK_EQ(show(spec.outputPath(StdStream::out, 10)), "/log/web/web:10.10.out");

  SUBCASE("unknown placeholders and other braces are left as written") {
    spec.stdoutPath = "/log/{idx}/{}/{index/{a b}{index}}{";
    CHECK_EQ(show(spec.outputPath(StdStream::out, 1)), "/log/{idx}/{}/{index/{a b}1}{");
  }
  SUBCASE("a path without placeholders is the same for every instance") {
    spec.stdoutPath = "/log/out";
    CHECK_EQ(show(spec.outputPath(StdStream::out, 0)), "/log/out");
    CHECK_EQ(show(spec.outputPath(StdStream::out, 2)), "/log/out");
  }
  SUBCASE("forwarding targets are returned as they are") {
    spec.stdoutPath = "/dev/stdout";
    spec.stderrPath = "/dev/stderr";
    CHECK_EQ(show(spec.outputPath(StdStream::out, 1)), "/dev/stdout");
    CHECK_EQ(show(spec.outputPath(StdStream::err, 1)), "/dev/stderr");
  }
  SUBCASE("with redirect_stderr, stderr has stdout's file, whatever stderr says") {
    spec.redirectStderr = true;
    CHECK_EQ(show(spec.outputPath(StdStream::err, 1)), "/log/web/web:1.1.out");
    spec.stdoutPath.reset();
    CHECK_EQ(show(spec.outputPath(StdStream::err, 1)), "<none>");
  }
}

TEST_CASE("validate() names the placeholder that would tell instances apart, and redirect_stderr for one file") {
  ProgramSpec spec = validSpec();
  spec.numprocs = 3;
  spec.stdoutPath = "/var/log/web.log";
  spec.stderrPath = "/var/log/web.log";
  auto problems = spec.validate();
  const std::vector<std::string> expected = {
      "stdout: the 3 instances of 'web' would share one rotated file: put {index} or {instance} in its name (or set "
      "stdout_maxbytes: 0 to append without rotating)",
      "stderr: the 3 instances of 'web' would share one rotated file: put {index} or {instance} in its name (or set "
      "stderr_maxbytes: 0 to append without rotating)",
      "stderr: stdout and stderr name the same rotated file '/var/log/web.log': set redirect_stderr: true to send "
      "stderr into stdout's file",
  };
  CHECK_EQ(fmt::format("{}", fmt::join(problems, "\n")), fmt::format("{}", fmt::join(expected, "\n")));

  spec.redirectStderr = true;
  spec.stdoutPath = "/var/log/web.{index}.log";
  CHECK_EQ(fmt::format("{}", fmt::join(spec.validate(), "\n")), "");
}

TEST_CASE("a tty program has one output stream: a stderr file is refused, and stderr has stdout's path") {
  ProgramSpec spec = validSpec();
  spec.tty = true;
  spec.stdoutPath = "/tmp/out";
  CHECK(spec.validate().empty());
  CHECK(spec.outputPath(taskmaster::StdStream::err, 0) == "/tmp/out");
  spec.stderrPath = "/tmp/err";
  const auto problems = spec.validate();
  REQUIRE(problems.size() == 1);
  CHECK(problems.front().find("stderr: a program with tty: true has one output stream") == 0);
}
