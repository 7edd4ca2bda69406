// supervisord's configuration format: parsing rules, expansions, sections and keys, their defaults and errors.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <taskmaster/config.hpp>

#include "config/ini_expand.hpp"
#include "config/ini_parser.hpp"
#include "config/ini_values.hpp"

using namespace std::chrono_literals;
using taskmaster::AutoRestart;
using taskmaster::ConfigResult;
using taskmaster::Diagnostic;
using taskmaster::ProgramSpec;
using taskmaster::detail::Expansions;

namespace {

std::string show(const std::vector<Diagnostic>& list) {
  std::string out;
  for (const auto& d : list) out += d.str() + "\n";
  return out.empty() ? "(none)" : out;
}

ConfigResult parse(std::string_view text, std::string_view file = "test.conf") {
  return taskmaster::parseSupervisordConfig(text, file);
}

// The text after a [supervisord] section, so that only what the test is about warns.
ConfigResult parseOk(std::string_view text) {
  auto result = parse(fmt::format("[supervisord]\n{}", text));
  INFO(text);
  INFO(show(result.errors));
  REQUIRE(result.ok());
  return result;
}

ProgramSpec parseOne(std::string_view text) {
  auto result = parseOk(text);
  REQUIRE_EQ(result.config.programs.size(), 1u);
  return result.config.programs.front();
}

std::vector<std::string> names(const ConfigResult& result) {
  std::vector<std::string> out;
  for (const auto& spec : result.config.programs) out.push_back(spec.name);
  return out;
}

// The one error of `text` (after "[supervisord]\n", so line 2 is the text's first): its line and message.
void expectError(std::string_view text, int line, std::string_view fragment) {
  auto result = parse(fmt::format("[supervisord]\n{}", text));
  INFO(text);
  INFO(show(result.errors));
  REQUIRE_EQ(result.errors.size(), 1u);
  CHECK_EQ(result.errors[0].line, line);
  CHECK_EQ(result.errors[0].file, "test.conf");
  CHECK(result.errors[0].message.find(fragment) != std::string::npos);
}

void expectWarning(const ConfigResult& result, int line, std::string_view fragment) {
  INFO(show(result.warnings));
  auto found = std::ranges::find_if(result.warnings, [&](const Diagnostic& d) {
    return d.line == line && d.message.find(fragment) != std::string::npos;
  });
  CHECK(found != result.warnings.end());
}

std::string expand(std::string_view format, const Expansions& names) {
  auto text = taskmaster::detail::expand(format, names);
  REQUIRE_MESSAGE(text.ok(), text.error().message);
  return *text;
}

std::string expandError(std::string_view format, const Expansions& names) {
  auto text = taskmaster::detail::expand(format, names);
  REQUIRE(!text.ok());
  return text.error().message;
}

// An environment variable set for the test, restored after it (ENV_X expansions read the environment).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// A scratch directory under the temporary directory, removed at the end of the test.
class TempDir {
 public:
  explicit TempDir(std::string_view name)
      : path_(std::filesystem::temp_directory_path() / fmt::format("taskmaster-ini-{}-{}", ::getpid(), name)) {
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] std::string str() const { return path_.string(); }
  std::string write(std::string_view name, std::string_view text) const {
    auto file = path_ / name;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file) << text;
    return file.string();
  }

 private:
  std::filesystem::path path_;
};

}  // namespace

// --- The parser: supervisord's RawConfigParser rules ---------------------------------------------------------

TEST_CASE("';' and '#' start a comment only at the start of a line or after whitespace") {
  auto result = parseOk(
      "; a comment line\n"
      "# another\n"
      "[program:a]\n"
      "command=bash -c 'a;b' ;the comment\n"
      "[program:b]\n"
      "command=echo a#b\t# comment after a tab\n");
  REQUIRE_EQ(result.config.programs.size(), 2u);
  CHECK_EQ(result.config.programs[0].cmd, std::vector<std::string>{"bash", "-c", "a;b"});
  CHECK_EQ(result.config.programs[1].cmd, std::vector<std::string>{"echo", "a#b"});
  // Even inside quotes: supervisord cuts there too.
  expectError("[program:c]\ncommand=echo 'x ;y'\n", 3, "unterminated quote");
}

TEST_CASE("indented lines continue the value with a newline; blank lines inside are kept, trailing ones dropped") {
  taskmaster::detail::IniDocument document;
  std::vector<taskmaster::detail::Bad> errors;
  taskmaster::detail::parseIni("[s]\nkey = one\n  two\n\n   three\n\n; note\n  four\nnext=1\n", "f", document, errors);
  REQUIRE(errors.empty());
  const auto* section = document.find("s");
  REQUIRE(section != nullptr);
  REQUIRE(section->find("key") != nullptr);
  CHECK_EQ(section->find("key")->text, "one\ntwo\n\nthree\n\nfour");
  CHECK_EQ(section->find("key")->line, 2);
  CHECK_EQ(section->find("next")->text, "1");

  // A command over two lines is two words; an environment over two lines is read as one.
  auto spec = parseOne("[program:a]\ncommand=sleep\n  10\nenvironment=A=1,\n  B=2\n");
  CHECK_EQ(spec.cmd, std::vector<std::string>{"sleep", "10"});
  CHECK_EQ(spec.env.at("A"), "1");
  CHECK_EQ(spec.env.at("B"), "2");
}

TEST_CASE("keys are 'key = value' or 'key: value', case-insensitive; section names keep their case") {
  auto result = parseOk("[program:Web]\nCOMMAND : run\nAutoStart= false\n");
  REQUIRE_EQ(names(result), std::vector<std::string>{"Web"});
  CHECK_EQ(result.config.programs[0].cmd, std::vector<std::string>{"run"});
  CHECK_FALSE(result.config.programs[0].autostart);
  // The first '=' or ':' ends the key.
  taskmaster::detail::IniDocument document;
  std::vector<taskmaster::detail::Bad> errors;
  taskmaster::detail::parseIni("[s]\na=b:c\nd:e=f\n", "f", document, errors);
  CHECK_EQ(document.find("s")->find("a")->text, "b:c");
  CHECK_EQ(document.find("s")->find("d")->text, "e=f");
}

TEST_CASE("a repeated key or section: the last value wins, at its own line") {
  auto result = parseOk(
      "[program:a]\n"
      "command=first\n"
      "command=second\n"
      "[program:b]\n"
      "command=b\n"
      "[program:a]\n"
      "priority=5\n"
      "bogus=1\n");
  REQUIRE_EQ(names(result), (std::vector<std::string>{"a", "b"}));  // a, priority 5, first
  CHECK_EQ(result.config.programs[0].cmd, std::vector<std::string>{"second"});
  CHECK_EQ(result.config.programs[0].priority, 5);
  expectWarning(result, 9, "bogus: unknown key");
}

TEST_CASE("CRLF and lone CR line endings read as newlines") {
  auto result = parse("[supervisord]\r\n[program:a]\r\ncommand=run it\r\nautostart=false\r\n");
  REQUIRE_MESSAGE(result.ok(), show(result.errors));
  REQUIRE_EQ(result.config.programs.size(), 1u);
  CHECK_EQ(result.config.programs[0].cmd, std::vector<std::string>{"run", "it"});
  CHECK_FALSE(result.config.programs[0].autostart);
  auto old = parse("[supervisord]\r[program:a]\rcommand=x\r");
  REQUIRE_MESSAGE(old.ok(), show(old.errors));
  CHECK_EQ(names(old), std::vector<std::string>{"a"});
}

TEST_CASE("UTF-8 names and values are kept as written") {
  auto spec = parseOne("[program:café]\ncommand=echo 'héllo wörld'\nenvironment=GREETING=\"grüß dich\"\n");
  CHECK_EQ(spec.name, "café");
  CHECK_EQ(spec.cmd, std::vector<std::string>{"echo", "héllo wörld"});
  CHECK_EQ(spec.env.at("GREETING"), "grüß dich");
}

TEST_CASE("[DEFAULT] keys are every section's defaults") {
  auto result = parseOk("[DEFAULT]\nautostart=false\n[program:a]\ncommand=a\n[program:b]\ncommand=b\nautostart=true\n");
  REQUIRE_EQ(result.config.programs.size(), 2u);
  CHECK_FALSE(result.config.programs[0].autostart);
  CHECK(result.config.programs[1].autostart);
}

TEST_CASE("lines that are no section, key or continuation are errors at their line") {
  auto before = parse("command=x\n[supervisord]\n");
  REQUIRE_EQ(before.errors.size(), 1u);
  CHECK_EQ(before.errors[0].line, 1);
  CHECK(before.errors[0].message.find("a key before any section") != std::string::npos);
  expectError("[program:a]\ncommand=x\njust words\n", 4, "expected 'key = value' or a [section], got 'just words'");
  expectError("[program:a]\ncommand=x\n=value\n", 4, "expected 'key = value'");
}

TEST_CASE("supervisordFormat() recognises a file by its first section header") {
  CHECK(taskmaster::supervisordFormat("; comment\n\n[supervisord]\n"));
  CHECK(taskmaster::supervisordFormat("[program:web]\r\ncommand=x\r\n"));
  CHECK(taskmaster::supervisordFormat("[supervisord] ; the daemon\n"));
  CHECK_FALSE(taskmaster::supervisordFormat("programs:\n  web: {cmd: x}\n"));
  CHECK_FALSE(taskmaster::supervisordFormat("[a, b]: x\n"));
  CHECK_FALSE(taskmaster::supervisordFormat(""));
}

// --- Expansions: Python's % formatting ---------------------------------------------------------------------

TEST_CASE("expansions: %(name)s, numbers with flags, width and precision, %%") {
  const Expansions names{{"name", std::string("web")}, {"n", std::int64_t{7}}, {"neg", std::int64_t{-42}}};
  CHECK_EQ(expand("%(name)s-%(n)d", names), "web-7");
  CHECK_EQ(expand("%(n)02d|%(n)3d|%(n)-3d|%(n).3d", names), "07|  7|7  |007");
  CHECK_EQ(expand("%(n)s|%(name)5s|%(name)-5s|%(name).2s|%(name)05s", names), "7|  web|web  |we|  web");
  CHECK_EQ(expand("%(neg)05d|%(n)+d|%(n) d|%(neg)d", names), "-0042|+7| 7|-42");
  const Expansions answer{{"n", std::int64_t{42}}};
  CHECK_EQ(expand("%(n)x|%(n)#x|%(n)X|%(n)o|%(n)#o|%(n)#06x", answer), "2a|0x2a|2A|52|0o52|0x002a");
  CHECK_EQ(expand("%(n)i|%(n)u|%(n)ld", names), "7|7|7");
  CHECK_EQ(expand("%(name)r", names), "'web'");
  CHECK_EQ(expand("%(n)f|%(n).1f|%(n)e", names), "7.000000|7.0|7.000000e+00");
  CHECK_EQ(expand("%(n)c", Expansions{{"n", std::int64_t{65}}}), "A");
  CHECK_EQ(expand("100%% of %(name)s, 50%%", names), "100% of web, 50%");
  CHECK_EQ(expand("no names at all", {}), "no names at all");
}

TEST_CASE("expansion errors: unknown names list the available ones; malformed formats say why") {
  const Expansions names{{"program_name", std::string("web")}, {"ENV_HOME", std::string("/root")}};
  auto unknown = expandError("%(nope)s", names);
  CHECK(unknown.find("%(nope) cannot be expanded") != std::string::npos);
  CHECK(unknown.find("available names: program_name, ENV_X for each environment variable X") != std::string::npos);
  CHECK(expandError("%(program_name)d", names).find("needs a number") != std::string::npos);
  CHECK(expandError("100%", names).find("incomplete format") != std::string::npos);
  CHECK(expandError("%s", names).find("without a name") != std::string::npos);
  CHECK(expandError("%(program_name", names).find("without ')'") != std::string::npos);
  CHECK(expandError("%(program_name)q", names).find("unsupported format character 'q'") != std::string::npos);
  CHECK(expandError("%(program_name)", names).find("incomplete format") != std::string::npos);
}

TEST_CASE("program keys expand here, program_name, group_name, host_node_name, process_num, numprocs and ENV_") {
  const ScopedEnv variable("TM_INI_TEST", "from-env");
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  const auto here = std::filesystem::current_path().string();
  auto result = parseOk(
      "[program:w]\n"
      "command=run %(here)s %(program_name)s %(group_name)s %(host_node_name)s %(process_num)d/%(numprocs)d "
      "%(ENV_TM_INI_TEST)s\n"
      "process_name=%(program_name)s_%(process_num)02d\n"
      "numprocs=2\n"
      "directory=/srv/%(process_num)d\n"
      "environment=SLOT=%(process_num)d\n");
  REQUIRE_EQ(names(result), (std::vector<std::string>{"w:w_00", "w:w_01"}));
  const auto& second = result.config.programs[1];
  CHECK_EQ(second.cmd, std::vector<std::string>{"run", here, "w", "w", host, "1/2", "from-env"});
  CHECK_EQ(second.workingdir, "/srv/1");
  CHECK_EQ(second.env.at("SLOT"), "1");
}

TEST_CASE("every value is expanded: numbers and booleans too; process_num only where supervisord has it") {
  const ScopedEnv procs("TM_INI_PROCS", "3");
  const ScopedEnv start("TM_INI_START", "no");
  auto result = parseOk(
      "[program:w]\ncommand=x\nnumprocs=%(ENV_TM_INI_PROCS)s\nprocess_name=%(process_num)d\nautostart=%(ENV_TM_INI_"
      "START)s\n");
  REQUIRE_EQ(names(result), (std::vector<std::string>{"w:0", "w:1", "w:2"}));
  CHECK_FALSE(result.config.programs[0].autostart);
  expectError("[program:w]\ncommand=x\npriority=%(process_num)d\n", 4, "priority: %(process_num) cannot be expanded");
  expectError("[program:w]\ncommand=%(nope)s\n", 3,
              "available names: group_name, here, host_node_name, numprocs, "
              "process_num, program_name");
}

TEST_CASE("the program's environment= gives ENV_ names to the keys after it; [supervisord]'s to every program") {
  auto result = parse(
      "[supervisord]\nenvironment=BASE=/opt\n"
      "[program:a]\ncommand=%(ENV_BASE)s/bin/a --home=%(ENV_HOME_DIR)s\nenvironment=HOME_DIR=%(ENV_BASE)s/a\n");
  REQUIRE_MESSAGE(result.ok(), show(result.errors));
  CHECK_EQ(result.config.programs[0].cmd, std::vector<std::string>{"/opt/bin/a", "--home=/opt/a"});
}

// --- environment= ------------------------------------------------------------------------------------------

TEST_CASE("environment= is read as supervisord's shlex (non-POSIX): quotes, commas, the one skipped token") {
  using taskmaster::detail::iniEnvironment;
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  auto pairs = [](std::string_view text) {
    auto read = iniEnvironment(text);
    REQUIRE_MESSAGE(read.ok(), read.error().message);
    return *read;
  };
  CHECK_EQ(pairs("A=\"x,y\",B='z'"), Pairs{{"A", "x,y"}, {"B", "z"}});
  CHECK_EQ(pairs("PATH=/usr/bin:/bin,HOME=/home/u-1.2+3"), Pairs{{"PATH", "/usr/bin:/bin"}, {"HOME", "/home/u-1.2+3"}});
  CHECK_EQ(pairs("A=x y"), Pairs{{"A", "x"}});  // the token after a value is skipped, whatever it is
  CHECK_EQ(pairs("A=\"a 'b' c\""), Pairs{{"A", "a 'b' c"}});
  CHECK_EQ(pairs("A=\"\""), Pairs{{"A", ""}});
  CHECK_EQ(pairs("A=1 # a comment\n,B=2"), Pairs{{"A", "1"}, {"B", "2"}});
  CHECK_EQ(pairs("A=1,A=2"), Pairs{{"A", "1"}, {"A", "2"}});  // the later wins when applied
  CHECK_EQ(pairs(""), Pairs{});
  CHECK_FALSE(iniEnvironment("A=x y,B=z").ok());
  CHECK_EQ(pairs("A=$HOME"), Pairs{{"A", "$"}});  // '$' is no word character: a token alone, HOME skipped
  CHECK_FALSE(iniEnvironment("A").ok());
  CHECK(iniEnvironment("A=\"open").error().message.find("no closing quotation") != std::string::npos);
  expectError("[program:a]\ncommand=x\nenvironment=A=x y,B=z\n", 4, "environment: unexpected end of key/value pairs");
}

TEST_CASE("children's environment: SUPERVISOR_* first, then [supervisord] environment=, then the program's") {
  auto result = parse(
      "[supervisord]\nenvironment=SHARED=global,ONLY=global\n"
      "[unix_http_server]\nfile=/run/sup.sock\n"
      "[inet_http_server]\nport=9001\n"
      "[program:a]\ncommand=x\nenvironment=SHARED=mine\n"
      "[program:b]\ncommand=x\nserverurl=http://elsewhere:1\n");
  REQUIRE_MESSAGE(result.ok(), show(result.errors));
  const auto& a = result.config.programs[0].env;
  CHECK_EQ(a.at("SUPERVISOR_ENABLED"), "1");
  CHECK_EQ(a.at("SUPERVISOR_PROCESS_NAME"), "a");
  CHECK_EQ(a.at("SUPERVISOR_GROUP_NAME"), "a");
  CHECK_EQ(a.at("SUPERVISOR_SERVER_URL"), "unix:///run/sup.sock");
  CHECK_EQ(a.at("SHARED"), "mine");
  CHECK_EQ(a.at("ONLY"), "global");
  CHECK_EQ(result.config.programs[1].env.at("SUPERVISOR_SERVER_URL"), "http://elsewhere:1");

  auto inet = parseOne("[inet_http_server]\nport=*:9001\n[program:a]\ncommand=x\n");
  CHECK_EQ(inet.env.at("SUPERVISOR_SERVER_URL"), "http://localhost:9001");
  auto none = parseOne("[program:a]\ncommand=x\n");
  CHECK_FALSE(none.env.contains("SUPERVISOR_SERVER_URL"));
}

// --- Programs: defaults, values, names ---------------------------------------------------------------------

TEST_CASE("a program has supervisord's defaults, not taskmaster's YAML ones") {
  const char* tmpdir = std::getenv("TMPDIR");
  const std::string temp = tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
  auto spec = parseOne("[program:web]\ncommand=/bin/web\n");
  CHECK_EQ(spec.name, "web");
  CHECK_EQ(spec.cmd, std::vector<std::string>{"/bin/web"});
  CHECK_EQ(spec.numprocs, 1);
  CHECK(spec.autostart);
  CHECK_EQ(spec.priority, 999);
  CHECK_EQ(spec.autorestart, AutoRestart::unexpected);
  CHECK_EQ(spec.exitcodes, std::vector<int>{0});
  CHECK_EQ(spec.starttime, 1s);
  CHECK_EQ(spec.startretries, 3);
  CHECK_EQ(spec.stopsignal, 15);
  CHECK_EQ(spec.stoptime, 10s);
  CHECK_FALSE(spec.stopasgroup);
  CHECK_FALSE(spec.killasgroup);
  CHECK_FALSE(spec.redirectStderr);
  CHECK(spec.stdin);  // supervisord always gives a stdin pipe
  CHECK_FALSE(spec.tty);
  CHECK_EQ(spec.umask, 022u);
  CHECK_FALSE(spec.user);
  CHECK_FALSE(spec.workingdir);
  CHECK_EQ(spec.stdoutPath, temp + "/web-stdout---supervisor.log");
  CHECK_EQ(spec.stderrPath, temp + "/web-stderr---supervisor.log");
  CHECK_EQ(spec.stdoutRotation.maxBytes, 50u * 1024 * 1024);
  CHECK_EQ(spec.stdoutRotation.backups, 10);
  CHECK_EQ(spec.stderrRotation.maxBytes, 50u * 1024 * 1024);
  CHECK_EQ(spec.stderrRotation.backups, 10);
}

TEST_CASE("every program key is read") {
  TempDir logs("keys");
  auto spec = parseOne(fmt::format(
      "[program:web]\ncommand=/bin/web --port 80\npriority=10\nautostart=false\nstartsecs=5\nstartretries=7\n"
      "autorestart=true\nexitcodes=0,2,255\nstopsignal=SIGINT\nstopwaitsecs=30\nstopasgroup=true\n"
      "user=root\nredirect_stderr=true\nstdout_logfile={0}/out.log\nstdout_logfile_maxbytes=1KB\n"
      "stdout_logfile_backups=3\nstderr_logfile_maxbytes=2MB\nstderr_logfile_backups=0\n"
      "environment=A=1\ndirectory=/srv\numask=027\nserverurl=AUTO\n",
      logs.str()));
  CHECK_EQ(spec.priority, 10);
  CHECK_FALSE(spec.autostart);
  CHECK_EQ(spec.starttime, 5s);
  CHECK_EQ(spec.startretries, 7);
  CHECK_EQ(spec.autorestart, AutoRestart::always);
  CHECK_EQ(spec.exitcodes, (std::vector<int>{0, 2, 255}));
  CHECK_EQ(spec.stopsignal, 2);
  CHECK_EQ(spec.stoptime, 30s);
  CHECK(spec.stopasgroup);
  CHECK(spec.killasgroup);  // follows stopasgroup
  CHECK_EQ(spec.user, "root");
  CHECK(spec.redirectStderr);
  CHECK_EQ(spec.stdoutPath, logs.str() + "/out.log");
  CHECK_FALSE(spec.stderrPath);  // redirected: no stderr file
  CHECK_EQ(spec.stdoutRotation.maxBytes, 1024u);
  CHECK_EQ(spec.stdoutRotation.backups, 3);
  CHECK_EQ(spec.stderrRotation.maxBytes, 2u * 1024 * 1024);
  CHECK_EQ(spec.stderrRotation.backups, 0);
  CHECK_EQ(spec.env.at("A"), "1");
  CHECK_EQ(spec.workingdir, "/srv");
  CHECK_EQ(spec.umask, 027u);
  CHECK_FALSE(spec.env.contains("SUPERVISOR_SERVER_URL"));  // AUTO, and no server
}

TEST_CASE("value types: booleans, integers, sizes, octal, signals, exit codes, autorestart, users") {
  using namespace taskmaster::detail;
  for (auto yes : {"true", "YES", "on", "1", "True"}) CHECK(*iniBoolean(yes));
  for (auto no : {"false", "No", "OFF", "0"}) CHECK_FALSE(*iniBoolean(no));
  CHECK_FALSE(iniBoolean("maybe").ok());
  CHECK_FALSE(iniBoolean("").ok());
  CHECK_EQ(*iniInteger("42"), 42);
  CHECK_EQ(*iniInteger("-3"), -3);
  CHECK_EQ(*iniInteger("1_000"), 1000);
  CHECK_EQ(*iniInteger("007"), 7);
  CHECK_FALSE(iniInteger("1.5").ok());
  CHECK_FALSE(iniInteger("1__0").ok());
  CHECK_FALSE(iniInteger("ten").ok());
  CHECK_EQ(*iniSize("50MB"), 50u << 20);
  CHECK_EQ(*iniSize("512kb"), 512u << 10);
  CHECK_EQ(*iniSize("1Gb"), 1u << 30);
  CHECK_EQ(*iniSize("1024"), 1024u);
  CHECK_EQ(*iniSize("0"), 0u);
  CHECK_FALSE(iniSize("1024B").ok());  // supervisord knows KB, MB and GB only
  CHECK_FALSE(iniSize("5TB").ok());
  CHECK_FALSE(iniSize("-1").ok());
  CHECK_EQ(*iniOctal("022"), 022u);
  CHECK_EQ(*iniOctal("0o77"), 077u);
  CHECK_EQ(*iniOctal("7"), 7u);
  CHECK_FALSE(iniOctal("8").ok());
  CHECK_FALSE(iniOctal("abc").ok());
  CHECK_EQ(*iniSignal("TERM"), 15);
  CHECK_EQ(*iniSignal("sigkill"), 9);
  CHECK_EQ(*iniSignal("hup"), 1);
  CHECK_EQ(*iniSignal("10"), 10);
  CHECK_FALSE(iniSignal("NOPE").ok());
  CHECK_EQ(*iniExitcodes("0, 2,3"), (std::vector<int>{0, 2, 3}));
  CHECK(iniExitcodes("").value().empty());
  CHECK_FALSE(iniExitcodes("256").ok());
  CHECK_FALSE(iniExitcodes("1,,2").ok());
  CHECK_EQ(*iniAutorestart("unexpected"), AutoRestart::unexpected);
  CHECK_EQ(*iniAutorestart("TRUE"), AutoRestart::always);
  CHECK_EQ(*iniAutorestart("off"), AutoRestart::never);
  CHECK_FALSE(iniAutorestart("always").ok());  // YAML's word, not supervisord's
  CHECK_EQ(*iniUser("root"), "root");
  CHECK_EQ(*iniUser("0"), "root");  // a uid becomes its name
  CHECK_FALSE(iniUser("no-such-user-here").ok());
  CHECK_FALSE(iniUser("4000000000").ok());
  CHECK_EQ(*iniOwner("root:root"), "root:root");
  CHECK_FALSE(iniOwner("root:no-such-group-here").ok());
  CHECK_EQ(*iniInetAddress("127.0.0.1:9001"), "127.0.0.1:9001");
  CHECK_EQ(*iniInetAddress("*:9001"), ":9001");
  CHECK_EQ(*iniInetAddress("9001"), ":9001");
  CHECK_EQ(*iniInetAddress("LocalHost:80"), "localhost:80");
  CHECK_FALSE(iniInetAddress("host:").ok());
  CHECK_FALSE(iniInetAddress("70000").ok());
  CHECK_EQ(*iniLogLevel("critical"), taskmaster::LogLevel::error);
  CHECK_EQ(*iniLogLevel("WARN"), taskmaster::LogLevel::warn);
  CHECK_EQ(*iniLogLevel("blather"), taskmaster::LogLevel::debug);
  CHECK_EQ(*iniLogLevel("trace"), taskmaster::LogLevel::debug);
  CHECK_FALSE(iniLogLevel("warning").ok());
}

TEST_CASE("bad values are errors at their line, naming the key") {
  expectError("[program:a]\ncommand=x\nautostart=maybe\n", 4, "autostart: expected true or false");
  expectError("[program:a]\ncommand=x\nnumprocs=two\n", 4, "numprocs: expected an integer, got 'two'");
  expectError("[program:a]\ncommand=x\nstdout_logfile_maxbytes=lots\n", 4, "stdout_logfile_maxbytes: expected a size");
  expectError("[program:a]\ncommand=x\nstopsignal=FOO\n", 4, "stopsignal: 'FOO' is not a signal");
  expectError("[program:a]\ncommand=x\numask=089\n", 4, "umask: expected an octal value");
  expectError("[program:a]\ncommand=x\nexitcodes=0,300\n", 4, "exitcodes: expected a comma list of exit codes");
  expectError("[program:a]\ncommand=x\nautorestart=sometimes\n", 4, "autorestart: expected true, false or unexpected");
  expectError("[program:a]\ncommand=x\nuser=no-such-user-here\n", 4, "user: no user is named");
  expectError("[program:a]\ncommand=x\nstartsecs=-1\n", 4, "startsecs: -1 is out of range");
  expectError("[program:a]\ncommand='unclosed\n", 3, "command: unterminated quote");
  auto bad = parse("[supervisord]\n[program:a]\ncommand=x\nautostart=maybe\nnumprocs=x\n");
  CHECK_EQ(bad.errors.size(), 2u);  // one bad value does not hide another
}

TEST_CASE("the command is split as a POSIX shell would, without one") {
  auto spec = parseOne("[program:a]\ncommand=/bin/sh -c \"echo \\\"hi\\\" 'x'\" 'single \\ kept' back\\ slash \"\"\n");
  CHECK_EQ(spec.cmd,
           (std::vector<std::string>{"/bin/sh", "-c", "echo \"hi\" 'x'", "single \\ kept", "back slash", ""}));
}

TEST_CASE("process names: PROCESS when it is its group, GROUP:PROCESS otherwise; numprocs_start") {
  auto result = parseOk(
      "[program:w]\ncommand=x\nnumprocs=2\nnumprocs_start=5\nprocess_name=w_%(process_num)02d\n"
      "[program:solo]\ncommand=x\nprocess_name=other\n");
  CHECK_EQ(names(result), (std::vector<std::string>{"solo:other", "w:w_05", "w:w_06"}));
  for (const auto& spec : result.config.programs) CHECK_EQ(spec.numprocs, 1);
  CHECK_EQ(result.config.programs[1].env.at("SUPERVISOR_PROCESS_NAME"), "w_05");
  CHECK_EQ(result.config.programs[1].env.at("SUPERVISOR_GROUP_NAME"), "w");
  auto zero = parseOk("[program:w]\ncommand=x\nnumprocs=0\n");
  CHECK(zero.config.programs.empty());  // as supervisord: a program of no process
}

TEST_CASE("numprocs > 1 needs %(process_num) in process_name") {
  expectError("[program:w]\ncommand=x\nnumprocs=2\n", 4,
              "numprocs: more than 1 needs a process_name containing %(process_num)");
  expectError("[program:w]\ncommand=x\nnumprocs=2\nprocess_name=%(program_name)s\n", 5,
              "process_name: must contain %(process_num)");
}

TEST_CASE("names must not contain spaces, ':' or '/'") {
  expectError("[program:a b]\ncommand=x\n", 2, "invalid name 'a b'");
  expectError("[program:a]\ncommand=x\nprocess_name=x/y\n", 4, "process_name: invalid name 'x/y'");
  expectError("[group:g:h]\nprograms=\n", 2, "invalid name 'g:h'");
}

TEST_CASE("programs come in supervisord's start order: group priority, group name, process priority, name") {
  auto result = parseOk(
      "[program:zeta]\ncommand=x\npriority=1\n"
      "[program:beta]\ncommand=x\n"
      "[program:alpha]\ncommand=x\n"
      "[group:g]\nprograms=late,early\npriority=500\n"
      "[program:late]\ncommand=x\npriority=900\n"
      "[program:early]\ncommand=x\npriority=100\n");
  CHECK_EQ(names(result), (std::vector<std::string>{"zeta", "g:early", "g:late", "alpha", "beta"}));
  std::vector<int> priorities;
  for (const auto& spec : result.config.programs) priorities.push_back(spec.priority);
  CHECK_EQ(priorities, (std::vector<int>{1, 500, 500, 999, 999}));
}

TEST_CASE("[group:x] takes its programs out of their own groups") {
  auto result = parseOk(
      "[group:web]\nprograms=front, back\n"
      "[program:front]\ncommand=x\nnumprocs=2\nprocess_name=front_%(process_num)d\n"
      "[program:back]\ncommand=x\n"
      "[program:other]\ncommand=x\n");
  CHECK_EQ(names(result), (std::vector<std::string>{"other", "web:back", "web:front_0", "web:front_1"}));
  CHECK_EQ(result.config.programs[1].env.at("SUPERVISOR_GROUP_NAME"), "web");
  auto empty = parseOk("[group:nothing]\n");
  CHECK(empty.config.programs.empty());
}

TEST_CASE("group errors: an unknown program, a program named twice, two processes of one name") {
  expectError("[group:g]\nprograms=a,ghost\n[program:a]\ncommand=x\n", 3, "programs: names unknown program 'ghost'");
  expectError("[group:g]\nprograms=a,a\n[program:a]\ncommand=x\n", 3, "names the program 'a' twice");
  expectError(
      "[group:g]\nprograms=a,b\n[program:a]\ncommand=x\nprocess_name=same\n[program:b]\ncommand=x\n"
      "process_name=same\n",
      7, "two processes of group 'g' are named 'same'");
  expectError("[group:a]\nprograms=b\n[program:a]\ncommand=x\n[program:b]\ncommand=x\n", 6,
              "a group and a program may not share a name");
}

TEST_CASE("program errors: a missing command, stopasgroup without killasgroup") {
  expectError("[program:a]\nautostart=true\n", 2, "missing 'command'");
  expectError("[program:a]\ncommand=x\nstopasgroup=true\nkillasgroup=false\n", 5,
              "stopasgroup=true needs killasgroup=true");
  auto result = parse("[supervisord]\n[program:a]\nautostart=true\n");
  REQUIRE_FALSE(result.errors.empty());
  CHECK_EQ(result.errors[0].program, "a");
}

TEST_CASE("ProgramSpec::validate()'s findings use supervisord's key names") {
  expectError("[program:a]\ncommand=\"\"\n", 3, "command: the program to run must not be empty");
  expectError("[program:all]\ncommand=x\n", 2, "'all' is reserved");
}

// --- Log files ---------------------------------------------------------------------------------------------

TEST_CASE("log files: AUTO in childlogdir, NONE and OFF in memory, a path as written, ~ expanded") {
  TempDir logs("logs");
  const ScopedEnv home("HOME", logs.str());
  auto result =
      parse(fmt::format("[supervisord]\nchildlogdir={0}\nidentifier=main\n"
                        "[program:a]\ncommand=x\nstdout_logfile=auto\nstderr_logfile=NONE\n"
                        "[program:b]\ncommand=x\nstdout_logfile=off\nstderr_logfile=~/b.err\n",
                        logs.str()));
  REQUIRE_MESSAGE(result.ok(), show(result.errors));
  CHECK_EQ(result.config.programs[0].stdoutPath, logs.str() + "/a-stdout---main.log");
  CHECK_FALSE(result.config.programs[0].stderrPath);
  CHECK_FALSE(result.config.programs[1].stdoutPath);
  CHECK_EQ(result.config.programs[1].stderrPath, logs.str() + "/b.err");
}

TEST_CASE("log file problems: a missing directory is an error; syslog, rollover, redirect are warnings") {
  expectError("[program:a]\ncommand=x\nstdout_logfile=/no/such/dir/a.log\n", 4,
              "the directory of '/no/such/dir/a.log'");
  auto result = parseOk(
      "[program:a]\ncommand=x\nstdout_logfile=syslog\nstdout_logfile_maxbytes=0\nstderr_logfile_maxbytes=0\n"
      "redirect_stderr=true\nstderr_logfile=/tmp/a.err\n");
  const auto& spec = result.config.programs[0];
  CHECK_FALSE(spec.stdoutPath);
  CHECK_FALSE(spec.stderrPath);
  expectWarning(result, 4, "stdout_logfile: syslog is not supported yet");
  expectWarning(result, 8, "stderr_logfile: ignored: redirect_stderr=true");
  auto rollover = parseOk("[program:a]\ncommand=x\nstdout_logfile_maxbytes=0\n");
  expectWarning(rollover, 2, "stdout_logfile=AUTO without rotation");
}

TEST_CASE("unsupported output features are warnings naming the key; their default values are silent") {
  auto result = parseOk(
      "[program:a]\ncommand=x\nstdout_capture_maxbytes=1MB\nstderr_events_enabled=true\nstdout_syslog=true\n"
      "[program:b]\ncommand=x\nstdout_capture_maxbytes=0\nstderr_events_enabled=false\nstderr_syslog=false\n");
  CHECK_EQ(result.warnings.size(), 2u);
  expectWarning(result, 4, "stdout_capture_maxbytes: capture mode is not supported yet");
  expectWarning(result, 6, "stdout_syslog: syslog is not supported yet");
  // Output events are supported (PROCESS_LOG_*, docs/events.md).
  CHECK(result.config.programs[0].stderrEvents);
  CHECK_FALSE(result.config.programs[1].stderrEvents);
}

// --- The other sections ------------------------------------------------------------------------------------

TEST_CASE("[supervisord] fills taskmaster's settings") {
  TempDir dir("supervisord");
  auto result = parse(
      fmt::format("[supervisord]\nlogfile={0}/sup.log\nlogfile_maxbytes=1MB\nlogfile_backups=4\nloglevel=blather\n"
                  "pidfile={0}/sup.pid\numask=077\ndirectory={0}\nminfds=4096\nminprocs=100\nidentifier=box\n"
                  "nodaemon=true\nsilent=false\nnocleanup=true\nchildlogdir={0}\n",
                  dir.str()));
  REQUIRE_MESSAGE(result.ok(), show(result.errors));
  CHECK_MESSAGE(result.warnings.empty(), show(result.warnings));
  const auto& config = result.config;
  CHECK_EQ(config.format, taskmaster::ConfigFormat::supervisord);
  CHECK_EQ(config.logfile, dir.str() + "/sup.log");
  CHECK_EQ(config.logfileMaxBytes, 1u << 20);
  CHECK_EQ(config.logfileBackups, 4);
  CHECK_EQ(config.loglevel, taskmaster::LogLevel::debug);
  CHECK_EQ(config.pidfile, dir.str() + "/sup.pid");
  CHECK_EQ(config.umask, 077u);
  CHECK_EQ(config.directory, dir.str());
  CHECK_EQ(config.minfds, 4096u);
  CHECK_EQ(config.minprocs, 100u);
  CHECK_EQ(config.identifier, "box");

  auto defaults = parse("[supervisord]\n");
  CHECK_FALSE(defaults.config.logfile);
  CHECK_FALSE(defaults.config.loglevel);
  CHECK_EQ(defaults.config.identifier, "supervisor");
}

TEST_CASE("[supervisord] problems: bad values are errors; user, strip_ansi and syslog are warnings") {
  expectError("loglevel=loud\n", 2, "[supervisord] loglevel: expected critical, error, warn");
  expectError("childlogdir=/no/such/dir\n", 2, "childlogdir: '/no/such/dir' is not an existing directory");
  expectError("pidfile=/no/such/dir/x.pid\n", 2, "pidfile: the directory of");
  auto result = parse("[supervisord]\nuser=nobody\nstrip_ansi=true\nlogfile=syslog\nfoo=1\n");
  REQUIRE_MESSAGE(result.ok(), show(result.errors));
  expectWarning(result, 2, "user: switching taskmaster's own user is not supported");
  expectWarning(result, 3, "strip_ansi: not supported yet");
  expectWarning(result, 4, "logfile: syslog is not supported yet");
  expectWarning(result, 5, "[supervisord] foo: unknown key");
  CHECK_FALSE(result.config.logfile);
}

TEST_CASE("a file without [supervisord] is read, with a warning") {
  auto result = parse("[program:a]\ncommand=x\n");
  REQUIRE(result.ok());
  REQUIRE_EQ(result.warnings.size(), 1u);
  CHECK(result.warnings[0].message.find("no [supervisord] section") != std::string::npos);
}

TEST_CASE("HTTP servers and [supervisorctl] are kept") {
  auto result = parseOk(
      "[unix_http_server]\nfile=/run/s.sock\nchmod=0770\nchown=root:root\nusername=u\npassword={SHA}abc\n"
      "[inet_http_server]\nport=127.0.0.1:9001\n"
      "[inet_http_server:second]\nport=9002\n"
      "[supervisorctl]\nserverurl=unix:///run/s.sock\nprompt=box\n");
  const auto& servers = result.config.httpServers;
  REQUIRE_EQ(servers.size(), 3u);
  CHECK_EQ(servers[0].kind, taskmaster::HttpServerConfig::Kind::unix_socket);
  CHECK_EQ(servers[0].address, "/run/s.sock");
  CHECK_EQ(servers[0].chmod, 0770u);
  CHECK_EQ(servers[0].chown, "root:root");
  CHECK_EQ(servers[0].username, "u");
  CHECK_EQ(servers[0].password, "{SHA}abc");
  CHECK_EQ(servers[1].kind, taskmaster::HttpServerConfig::Kind::inet);
  CHECK_EQ(servers[1].address, "127.0.0.1:9001");
  CHECK_FALSE(servers[1].username);
  CHECK_EQ(servers[2].address, ":9002");
  CHECK_EQ(result.config.supervisorctl.at("serverurl"), "unix:///run/s.sock");
  CHECK_EQ(result.config.supervisorctl.at("prompt"), "box");
  auto defaults = parseOk("[unix_http_server]\nfile=/run/s.sock\n");
  CHECK_EQ(defaults.config.httpServers[0].chmod, 0700u);
  CHECK_FALSE(defaults.config.httpServers[0].chown);
}

TEST_CASE("HTTP server errors: no address, half the credentials, a bad port, chmod or chown") {
  expectError("[unix_http_server]\nchmod=0700\n", 2, "[unix_http_server] missing 'file'");
  expectError("[inet_http_server]\nusername=u\nport=9001\n", 2, "give both or neither");
  expectError("[inet_http_server]\nport=high\n", 3, "port: expected PORT or HOST:PORT");
  expectError("[unix_http_server]\nfile=/s\nchmod=999\n", 4, "chmod: expected an octal value");
  expectError("[unix_http_server]\nfile=/s\nchown=no-such-user-here\n", 4, "chown: no user is named");
}

TEST_CASE("sections taskmaster does not run are warnings; client sections are silent; listeners run") {
  auto result = parseOk(
      "[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
      "[ctlplugin:extra]\nsupervisor.ctl_factory = x:y\n"
      "[eventlistener:mem]\ncommand=memmon\nevents=TICK_60\n"
      "[fcgi-program:php]\ncommand=php-cgi\nsocket=tcp://localhost:9000\n"
      "[rpcinterface:plugin]\nsupervisor.rpcinterface_factory = plugin:make\n"
      "[programs:typo]\ncommand=x\n");
  CHECK_EQ(result.warnings.size(), 3u);
  expectWarning(result, 9, "FastCGI programs are not supported");
  expectWarning(result, 12, "[rpcinterface:plugin] XML-RPC interface plugins are not supported");
  expectWarning(result, 14, "[programs:typo] unknown section; ignored");
  // The event listener runs (docs/events.md).
  REQUIRE_EQ(result.config.programs.size(), 1u);
  CHECK_EQ(result.config.programs[0].name, "mem");
  CHECK_EQ(result.config.programs[0].events, std::vector<std::string>{"TICK_60"});
}

TEST_CASE("unknown keys are warnings with their line, and a guess when one is near") {
  auto result = parseOk("[program:a]\ncommand=x\nautostrat=false\ndependent_startup=true\n");
  REQUIRE_EQ(result.warnings.size(), 2u);
  CHECK_EQ(result.warnings[0].line, 4);
  CHECK_EQ(result.warnings[0].program, "a");
  CHECK_EQ(result.warnings[0].message, "autostrat: unknown key; ignored (did you mean 'autostart'?)");
  CHECK_EQ(result.warnings[1].message, "dependent_startup: unknown key; ignored");
  CHECK(result.config.programs[0].autostart);
}

// --- [include] ---------------------------------------------------------------------------------------------

TEST_CASE("[include] reads globs relative to the main file, sorted; here is each file's own directory") {
  TempDir dir("include");
  dir.write("conf.d/b.conf", "[program:b]\ncommand=b %(here)s\n");
  dir.write("conf.d/a.conf", "[program:a]\ncommand=a\n[include]\nfiles=never/*.conf\n");
  dir.write("conf.d/never/c.conf", "[program:c]\ncommand=c\n");
  dir.write("conf.d/skip.ini", "[program:skip]\ncommand=x\n");
  dir.write("extra/x.conf", "[supervisord]\nidentifier=from-include\n");
  const auto main =
      dir.write("supervisord.conf", "[supervisord]\n[include]\nfiles = conf.d/*.conf\n  extra/x.conf nothing/*.conf\n");
  auto text = fmt::format("[supervisord]\n[include]\nfiles = conf.d/*.conf\n  extra/x.conf nothing/*.conf\n");
  auto result = taskmaster::parseSupervisordConfig(text, main);
  REQUIRE_MESSAGE(result.ok(), show(result.errors));
  CHECK_EQ(names(result), (std::vector<std::string>{"a", "b"}));  // includes inside includes are not read
  CHECK_EQ(result.config.programs[1].cmd, (std::vector<std::string>{"b", dir.str() + "/conf.d"}));
  CHECK_EQ(result.config.identifier, "from-include");
  REQUIRE_EQ(result.warnings.size(), 1u);
  CHECK_EQ(result.warnings[0].file, main);
  CHECK_EQ(result.warnings[0].line, 3);
  CHECK(result.warnings[0].message.find("no file matches '" + dir.str() + "/nothing/*.conf'") != std::string::npos);
}

TEST_CASE("an included file's problems carry its own path and line") {
  TempDir dir("include-errors");
  const auto bad = dir.write("conf.d/bad.conf", "[program:bad]\ncommand=x\nautostart=maybe\nbogus=1\n");
  const auto main = dir.write("supervisord.conf", "");
  auto result = taskmaster::parseSupervisordConfig("[supervisord]\n[include]\nfiles=conf.d/*.conf\n", main);
  REQUIRE_EQ(result.errors.size(), 1u);
  CHECK_EQ(result.errors[0].file, bad);
  CHECK_EQ(result.errors[0].line, 3);
  CHECK_EQ(result.errors[0].program, "bad");
  REQUIRE_EQ(result.warnings.size(), 1u);
  CHECK_EQ(result.warnings[0].file, bad);
  CHECK_EQ(result.warnings[0].line, 4);
}

TEST_CASE("[include] errors: no files key, an unreadable match") {
  expectError("[include]\n", 2, "[include] no files= key");
  TempDir dir("include-unreadable");
  std::filesystem::create_directories(dir.str() + "/conf.d/dir.conf");
  const auto main = dir.write("supervisord.conf", "");
  auto result = taskmaster::parseSupervisordConfig("[supervisord]\n[include]\nfiles=conf.d/*.conf\n", main);
  REQUIRE_EQ(result.errors.size(), 1u);
  CHECK_EQ(result.errors[0].line, 3);
  CHECK(result.errors[0].message.find("dir.conf: cannot read: Is a directory") != std::string::npos);
}

TEST_CASE("loadConfig() reads a supervisord file by its content") {
  TempDir dir("load");
  const auto path = dir.write("supervisord.conf", "[supervisord]\n[program:a]\ncommand=x\n");
  auto result = taskmaster::loadConfig(path);
  REQUIRE_MESSAGE(result.ok(), show(result.errors));
  CHECK_EQ(result.config.format, taskmaster::ConfigFormat::supervisord);
  CHECK_EQ(result.config.path, path);
  CHECK_EQ(names(result), std::vector<std::string>{"a"});
}

TEST_CASE("a log file written by several processes or streams is appended to without rotation, with a warning") {
  TempDir dir("shared");
  auto result =
      parseOk(fmt::format("[program:a]\ncommand=x\nstdout_logfile={0}/all.log\nstderr_logfile={0}/all.log\n"
                          "[program:b]\ncommand=x\nstdout_logfile={0}/all.log\n"
                          "[program:c]\ncommand=x\nstdout_logfile=/dev/stdout\n"
                          "[program:d]\ncommand=x\nstdout_logfile=/dev/stdout\n",
                          dir.str()));
  REQUIRE_EQ(result.config.programs.size(), 4u);
  CHECK_EQ(result.config.programs[0].stdoutRotation.maxBytes, 0u);
  CHECK_EQ(result.config.programs[0].stderrRotation.maxBytes, 0u);
  CHECK_EQ(result.config.programs[1].stdoutRotation.maxBytes, 0u);
  CHECK_EQ(result.config.programs[2].stdoutRotation.maxBytes, 50u << 20);  // a shared sink, not a file
  REQUIRE_EQ(result.warnings.size(), 1u);
  expectWarning(result, 4, "is written by more than one process or stream: appended to without rotation");

  auto asked =
      parse(fmt::format("[supervisord]\n[program:a]\ncommand=x\nstdout_logfile={0}/all.log\n"
                        "stdout_logfile_maxbytes=1MB\n[program:b]\ncommand=x\nstdout_logfile={0}/all.log\n",
                        dir.str()));
  REQUIRE_EQ(asked.errors.size(), 1u);
  CHECK_EQ(asked.errors[0].line, 5);
  CHECK(asked.errors[0].message.find("a rotated file must have one writer") != std::string::npos);
}

TEST_CASE("a program named by two groups runs in both, its problems reported once") {
  auto result = parseOk("[group:g]\nprograms=a\n[group:h]\nprograms=a\n[program:a]\ncommand=x\nbogus=1\n");
  CHECK_EQ(names(result), (std::vector<std::string>{"g:a", "h:a"}));
  CHECK_EQ(result.warnings.size(), 1u);
  expectError("[group:g]\nprograms=a\n[group:h]\nprograms=a\n[program:a]\ncommand=x\nautostart=maybe\n", 8,
              "autostart: expected true or false");
}

TEST_CASE("two sections that make one name: an error at the later") {
  expectError("[group:a]\nprograms=x\n[program:a]\ncommand=y\nprocess_name=x\n[program:x]\ncommand=z\n", 4,
              "the name 'a:x' is already taken");
}

TEST_CASE("[unix_http_server] file= expands %(here)s and ENV_X") {
  const ScopedEnv run("TM_INI_RUN", "/run");
  const auto here = std::filesystem::current_path().string();
  auto result = parseOk("[unix_http_server]\nfile=%(here)s/a.sock\n[unix_http_server:b]\nfile=%(ENV_TM_INI_RUN)s/b.sock\n");
  REQUIRE_EQ(result.config.httpServers.size(), 2u);
  CHECK_EQ(result.config.httpServers[0].address, here + "/a.sock");
  CHECK_EQ(result.config.httpServers[1].address, "/run/b.sock");
}

TEST_CASE("[supervisord] environment= holds quoted values; it knows here and ENV_X, not host_node_name") {
  auto result = parse("[supervisord]\nenvironment=GREETING=\"hello, world\",DIR=%(here)s\n[program:a]\ncommand=x\n");
  REQUIRE_MESSAGE(result.ok(), show(result.errors));
  CHECK_EQ(result.config.programs[0].env.at("GREETING"), "hello, world");
  CHECK_EQ(result.config.programs[0].env.at("DIR"), std::filesystem::current_path().string());
  // As supervisord, which expands this value first without host_node_name.
  auto node = parse("[supervisord]\nenvironment=NODE=%(host_node_name)s\n");
  REQUIRE_EQ(node.errors.size(), 1u);
  CHECK_EQ(node.errors[0].line, 2);
  CHECK(node.errors[0].message.find("[supervisord] environment: %(host_node_name) cannot be expanded") !=
        std::string::npos);
}
