// formatYaml(): what it writes reads back as the same configuration.
#include <doctest/doctest.h>

#include <csignal>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <taskmaster/config.hpp>

#include "config_support.hpp"

using namespace std::chrono_literals;
using taskmaster::AutoRestart;
using taskmaster::Config;
using taskmaster::ConfigResult;
using taskmaster::Diagnostic;
using taskmaster::HttpServerConfig;
using taskmaster::ProgramSpec;

namespace {

using test::dump;
using test::showErrors;

ProgramSpec named(std::string name, std::vector<std::string> cmd = {"/bin/true"}) {
  ProgramSpec spec;
  spec.name = std::move(name);
  spec.cmd = std::move(cmd);
  return spec;
}

// Writes the configuration, reads it back, and checks that the programs and the top-level settings are the
// same; returns the text written.
std::string roundTrip(const Config& config, const std::vector<Diagnostic>& notes = {}) {
  const auto text = taskmaster::formatYaml(config, notes);
  INFO("written:\n" << text);
  auto read = taskmaster::parseConfig(text, "converted.yml");
  INFO(showErrors(read));
  REQUIRE(read.ok());
  CHECK(dump(read.config.programs) == dump(config.programs));
  CHECK(read.config.programs == config.programs);
  CHECK(read.config.socket == config.socket);
  CHECK(read.config.metrics == config.metrics);
  CHECK(read.config.logfile == config.logfile);
  CHECK(read.config.logfileMaxBytes == config.logfileMaxBytes);
  CHECK(read.config.logfileBackups == config.logfileBackups);
  CHECK(read.config.loglevel == config.loglevel);
  CHECK(read.config.pidfile == config.pidfile);
  CHECK(read.config.umask == config.umask);
  CHECK(read.config.directory == config.directory);
  CHECK(read.config.minfds == config.minfds);
  CHECK(read.config.minprocs == config.minprocs);
  CHECK(read.config.httpServers == config.httpServers);
  return text;
}

std::string roundTrip(const ProgramSpec& spec) {
  Config config;
  config.programs.push_back(spec);
  return roundTrip(config);
}

// Each program valid on its own, so that a failure points at the writer, not at the spec.
void requireValid(const ProgramSpec& spec) {
  INFO(dump(spec));
  const auto problems = spec.validate();
  REQUIRE_MESSAGE(problems.empty(), fmt::format("{}", fmt::join(problems, "; ")));
}

}  // namespace

TEST_CASE("a default program writes only its command and reads back the same") {
  const auto text = roundTrip(named("web"));
  CHECK(text == "programs:\n  web:\n    cmd: /bin/true\n");
}

TEST_CASE("no programs is an empty map, which reads back as a valid configuration") {
  const auto text = roundTrip(Config{});
  CHECK(text == "programs: {}\n");
}

TEST_CASE("every option at a value other than its default reads back the same") {
  ProgramSpec spec = named("worker", {"/usr/bin/worker", "--queue", "high priority"});
  spec.numprocs = 3;
  spec.autostart = true;
  spec.priority = 5;
  spec.autorestart = AutoRestart::always;
  spec.exitcodes = {0, 2, 255};
  spec.starttime = 1500ms;
  spec.startretries = 7;
  spec.restartBurst = 0;
  spec.restartDelay = 250ms;
  spec.restartDelayFactor = 1.5;
  spec.restartDelayMax = 2min;
  spec.restartResetAfter = 3s;
  spec.fatalRetry = 1h;
  spec.stopsignal = SIGINT;
  spec.stoptime = 45s;
  spec.stdoutPath = "/var/log/{program}.{index}.out";
  spec.stderrPath = "/var/log/{instance}.err";
  spec.stdoutRotation = {.maxBytes = 1536 * 1024, .backups = 0};
  spec.stderrRotation = {.maxBytes = 12345, .backups = 1000};
  spec.tailBytes = 1;
  spec.env = {{"PORT", "8080"}, {"EMPTY", ""}, {"DEBUG", "yes"}};
  spec.workingdir = "/srv/www";
  spec.umask = 077;
  spec.user = "www-data";
  spec.stopasgroup = false;
  spec.killasgroup = false;
  spec.limits = {{taskmaster::Resource::nofile, {4096, 4096}},
                 {taskmaster::Resource::core, {0, taskmaster::kUnlimited}},
                 {taskmaster::Resource::as, {1ull << 30, 1ull << 30}},
                 {taskmaster::Resource::cpu, {3600, 7200}}};
  spec.critical = true;
  spec.stdin = true;
  requireValid(spec);
  const auto text = roundTrip(spec);
  CHECK(text.find("stdin: true\n") != std::string::npos);
  CHECK(text.find("      nofile: 4096\n") != std::string::npos);
  CHECK(text.find("      core: {soft: 0, hard: unlimited}\n") != std::string::npos);
  CHECK(text.find("      as: 1GB\n") != std::string::npos);
  CHECK(text.find("critical: true\n") != std::string::npos);
  CHECK(text.find("starttime: 1500ms\n") != std::string::npos);
  CHECK(text.find("stopsignal: INT\n") != std::string::npos);
  CHECK(text.find("umask: \"077\"\n") != std::string::npos);
  CHECK(text.find("stdout_maxbytes: 1536KB\n") != std::string::npos);
  CHECK(text.find("EMPTY: ''\n") != std::string::npos);
  CHECK(text.find("DEBUG: 'yes'\n") != std::string::npos);
}

TEST_CASE("the other values of each option read back the same") {
  ProgramSpec base = named("p");
  std::vector<ProgramSpec> specs;
  auto add = [&](auto change) {
    ProgramSpec spec = base;
    change(spec);
    requireValid(spec);
    specs.push_back(std::move(spec));
  };
  add([](ProgramSpec& s) { s.autorestart = AutoRestart::never; });
  add([](ProgramSpec& s) { s.exitcodes = {}; });
  add([](ProgramSpec& s) { s.exitcodes = {1}; });
  add([](ProgramSpec& s) { s.startretries = taskmaster::kInfiniteRetries; });
  add([](ProgramSpec& s) { s.startretries = 0; });
  add([](ProgramSpec& s) { s.starttime = 0ms; });
  add([](ProgramSpec& s) { s.stoptime = 1ms; });
  add([](ProgramSpec& s) { s.starttime = 24h; });
  add([](ProgramSpec& s) { s.restartDelayFactor = 1.0000000000000002; });
  add([](ProgramSpec& s) { s.restartDelayFactor = 100; });
  add([](ProgramSpec& s) { s.restartDelayFactor = 1.1; });
  add([](ProgramSpec& s) { s.priority = -10; });
  add([](ProgramSpec& s) { s.priority = 0; });
  add([](ProgramSpec& s) { s.stopsignal = 34; });  // SIGRTMIN: no name, written as a number
  add([](ProgramSpec& s) { s.stopsignal = SIGKILL; });
  add([](ProgramSpec& s) { s.umask = 0; });
  add([](ProgramSpec& s) { s.umask = 0777; });
  add([](ProgramSpec& s) { s.stdoutRotation.maxBytes = 0; });  // rotation 0: never rotates
  add([](ProgramSpec& s) { s.stdoutRotation.maxBytes = 1ull << 30; });
  add([](ProgramSpec& s) { s.stdoutRotation.maxBytes = 1; });
  add([](ProgramSpec& s) { s.tailBytes = 64ull << 20; });
  add([](ProgramSpec& s) {
    s.stdoutPath = "/tmp/both.log";
    s.redirectStderr = true;
  });
  add([](ProgramSpec& s) {  // forwarded to taskmaster's own outputs
    s.stdoutPath = "/dev/stdout";
    s.stderrPath = "/dev/stderr";
  });
  add([](ProgramSpec& s) {  // a file shared by the instances appends without rotating
    s.numprocs = 2;
    s.stdoutPath = "/tmp/shared.log";
    s.stdoutRotation.maxBytes = 0;
  });
  add([](ProgramSpec& s) {  // the same file for both streams, appended to
    s.stdoutPath = "/tmp/same.log";
    s.stderrPath = "/tmp/same.log";
    s.stdoutRotation.maxBytes = 0;
    s.stderrRotation.maxBytes = 0;
  });
  for (std::size_t i = 0; i < specs.size(); ++i) {
    CAPTURE(i);
    roundTrip(specs[i]);
  }
}

TEST_CASE("strings that YAML would misread come back as the same strings") {
  const std::vector<std::string> odd{
      "yes",        "No",          "on",          "OFF",         "true",         "null",       "~",
      "",           " ",           "  leading",   "trailing ",   "123",          "-5",         "0x1F",
      "1e3",        "3.14",        ".5",          "1:30",        "2024-01-02",   ".inf",       ".NaN",
      "a: b",       "a:b",         "ends:",       "# not a comment", "a #b",     "a#b",        "*star",
      "&anchor",    "!tag",        "{brace}",     "[bracket]",   "a, b",         "|pipe",      ">fold",
      "'single'",   "\"double\"",  "it's",        "%percent",    "@at",          "`tick",      "-dash",
      "- item",     "?q",          "<<",          "=",           "tab\there",    "new\nline",  "back\\slash",
      "bell\x07",   "del\x7f",     "cr\rlf",      "héllo wörld", "日本語",        "emoji 🚀",    "$HOME",
      "50MB",       "1500ms",      "a=b",         "ü",           "\xff\xfe raw bytes",
      // Unicode line breaks (NEL, LS, PS) and what YAML readers refuse as unprintable: escaped.
      "a\u0085b",   "x\u2028y",    "p\u2029q",    "\ufeffbom",   "c1\u0090",     "\uffff",     "\u00a0nbsp"};
  Config config;
  int n = 0;
  for (const auto& text : odd) {
    ProgramSpec spec = named(fmt::format("p{}", n++), {"/bin/echo", text});
    spec.env = {{"VALUE", text}, {"X" + std::to_string(n), text}};
    if (!text.empty()) {
      if (text.find('{') == std::string::npos) spec.stdoutPath = "/tmp/" + text;  // {x}: a placeholder
      spec.workingdir = text;
      spec.user = text;
    }
    config.programs.push_back(std::move(spec));
  }
  for (const auto& program : config.programs) requireValid(program);
  const auto text = roundTrip(config);
  for (const auto* lineBreak : {"\u0085", "\u2028", "\u2029"}) CHECK(text.find(lineBreak) == std::string::npos);
}

TEST_CASE("strings that other YAML readers would take for null, a boolean or a number are quoted") {
  // taskmaster reads every value from its text, so only the quotes make these safe for other tools (and eyes).
  for (const std::string text : {"yes", "No", "ON", "off", "y", "n", "true", "False", "null", "~", "", "123", "-5",
                                 "+7", "0x1F", "0o17", "1e3", "3.14", ".5", "1:30", "2024-01-02", ".inf", "-.inf",
                                 ".NaN", "<<", "=", "- a", "&x", "*x", "!x", "{}", "[]", "#x", "a #x", "a: b", " x"}) {
    CAPTURE(text);
    Config config;
    config.programs.push_back(named("p"));
    config.programs[0].env = {{"V", text}};
    const auto yaml = taskmaster::formatYaml(config);
    const auto at = yaml.find("      V: ");
    REQUIRE(at != std::string::npos);
    const char first = yaml[at + 9];
    CHECK_MESSAGE((first == '\'' || first == '"'), yaml);
  }
  for (const std::string text : {"web", "50MB", "1500ms", "/usr/bin/x", "a:b", "x-y", "héllo", "deadbeef", "a b"}) {
    CAPTURE(text);
    Config config;
    config.programs.push_back(named("p"));
    config.programs[0].env = {{"V", text}};
    CHECK(taskmaster::formatYaml(config).find(fmt::format("      V: {}\n", text)) != std::string::npos);
  }
}

TEST_CASE("command words with shell characters come back as the same words") {
  const std::vector<std::vector<std::string>> commands{
      {"/bin/sh", "-c", "echo a; echo b | tr a-z A-Z > /dev/null && exit 3"},
      {"/bin/sh", "-c", "echo 'single' \"double\" `tick` $VAR \\back"},
      {"prog", ""},
      {"prog", "", ""},
      {"prog", "it's", "'", "''", "\"", "\\"},
      {"prog", "two  spaces", "\ttab", "new\nline", "#hash", "~tilde", "*glob?", "{a,b}"},
      {"/path with space/prog", "--flag=value", "key:value", "a,b", "50%", "user@host"},
      {"prog", "héllo", "日本語"},
  };
  Config config;
  int n = 0;
  for (const auto& cmd : commands) config.programs.push_back(named(fmt::format("c{}", n++), cmd));
  roundTrip(config);
}

TEST_CASE("group names GROUP:PROCESS and programs in their order read back the same") {
  Config config;
  config.programs.push_back(named("web:web_00"));
  config.programs.push_back(named("web:web_01"));
  config.programs.push_back(named("alone"));
  config.programs.push_back(named("g:yes"));
  config.programs.push_back(named("123"));
  config.programs.push_back(named("0x10:true"));
  config.programs.push_back(named("ümlaut:日本"));
  config.programs[0].priority = 1;
  config.programs[2].numprocs = 4;
  const auto text = roundTrip(config);
  CHECK(text.find("  'web:web_00':\n") != std::string::npos);
  CHECK(text.find("  alone:\n") != std::string::npos);
}

TEST_CASE("the top-level settings read back the same") {
  Config config;
  config.socket = "/run/my app/taskmaster.sock";
  config.metrics = "[::1]:9102";
  config.logfile = "yes";
  config.logfileMaxBytes = 0;
  config.logfileBackups = 0;
  config.programs.push_back(named("web"));
  const auto text = roundTrip(config);
  CHECK(text.find("logfile_maxbytes: 0\n") != std::string::npos);

  config.logfileMaxBytes = 5ull << 20;
  config.logfileBackups = 1000;
  const auto again = roundTrip(config);
  CHECK(again.find("logfile_maxbytes: 5MB\n") != std::string::npos);
}

TEST_CASE("taskmaster's own settings read back the same, odd values included") {
  Config config;
  config.programs.push_back(named("web"));
  for (auto level : {taskmaster::LogLevel::debug, taskmaster::LogLevel::info, taskmaster::LogLevel::warn,
                     taskmaster::LogLevel::error}) {
    config.loglevel = level;
    roundTrip(config);
  }
  config.pidfile = "yes";
  config.directory = "/srv/my app: #1";
  config.umask = 0;
  config.minfds = 1;
  config.minprocs = 2147483647;
  const auto text = roundTrip(config);
  CHECK(text.find("umask: \"000\"\n") != std::string::npos);
  CHECK(text.find("pidfile: 'yes'\n") != std::string::npos);
  config.umask = 0777;
  roundTrip(config);
}

TEST_CASE("notes become comments at the top, one line of comment per line of note") {
  Config config;
  config.programs.push_back(named("web"));
  const std::vector<Diagnostic> notes{
      {.file = "supervisord.conf", .line = 12, .column = 0, .program = "web",
       .message = "stdout_syslog: not supported yet; ignored"},
      {.file = "supervisord.conf", .line = 0, .column = 0, .program = "", .message = "two\nlines"},
      {.file = "odd.conf", .line = 3, .column = 0, .program = "", .message = "a\u2028b\rc\x1b"},
  };
  const auto text = roundTrip(config, notes);
  CHECK(text.starts_with("# supervisord.conf:12: program 'web': stdout_syslog: not supported yet; ignored\n"
                         "# supervisord.conf: two\n# lines\n"
                         "# odd.conf:3: a\\u2028b\\x0dc\\x1b\n\nprograms:\n"));
}

TEST_CASE("taskmaster's own settings are written as keys; those YAML cannot carry become comments, passwords left out") {
  Config config;
  config.programs.push_back(named("web"));
  config.loglevel = taskmaster::LogLevel::debug;
  config.pidfile = "/run/supervisord.pid";
  config.umask = 027;
  config.directory = "/srv";
  config.minfds = 4096;
  config.minprocs = 300;
  config.identifier = "box1";
  config.httpServers.push_back({.kind = HttpServerConfig::Kind::unix_socket,
                                .address = "/tmp/supervisor.sock",
                                .chmod = 0770,
                                .chown = "nobody:nogroup",
                                .username = "admin",
                                .password = "s3cret"});
  HttpServerConfig inet;
  inet.kind = HttpServerConfig::Kind::inet;
  inet.address = "127.0.0.1:9001";
  config.httpServers.push_back(inet);
  config.supervisorctl = {{"serverurl", "unix:///tmp/supervisor.sock"}, {"password", "s3cret"}};
  const auto text = roundTrip(config);  // which compares taskmaster's own settings too
  for (const auto* expected :
       {"\nloglevel: debug\n", "\numask: \"027\"\n", "# Not carried over", "#   identifier = box1\n",
        "\nunix_http_server:\n  file: /tmp/supervisor.sock\n  chmod: \"0770\"\n  chown: nobody:nogroup\n"
        "  username: 'admin'\n  password: 's3cret'\n",
        "\ninet_http_server:\n  port: '127.0.0.1:9001'\n",
        "#   [supervisorctl] serverurl = unix:///tmp/supervisor.sock\n"}) {
    CHECK_MESSAGE(text.find(expected) != std::string::npos, expected);
  }
  CHECK(text.find("[supervisorctl] password = (not shown)") != std::string::npos);
}

TEST_CASE("a configuration read from YAML is written back as one that reads the same") {
  const std::string original =
      "socket: /tmp/tm.sock\n"
      "programs:\n"
      "  web:\n"
      "    cmd: [python3, -m, http.server, \"8080\"]\n"
      "    numprocs: 2\n"
      "    stdout: /tmp/web.log\n"  // shared by the instances: appended to without rotating
      "    env: {A: \"x,y\", B: ''}\n"
      "  'db:main':\n"
      "    cmd: \"postgres -D '/var/lib/pg data'\"\n"
      "    startretries: infinite\n"
      "    starttime: 1.5\n";
  auto first = taskmaster::parseConfig(original, "original.yml");
  INFO(showErrors(first));
  REQUIRE(first.ok());
  CHECK(first.config.programs[0].stdoutRotation.maxBytes == 0);
  roundTrip(first.config);
}
