// supervisord's XML-RPC methods (taskmaster/xmlrpc.hpp): the codec on its own, then the Interface over a real
// Supervisor running tm_helper, answering as supervisord 4.2.5 does (its structures, fault codes and strings).
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <taskmaster/commands.hpp>
#include <taskmaster/xmlrpc.hpp>

#include "support.hpp"
#include "xmlrpc/value.hpp"

namespace {
using namespace taskmaster;
using namespace taskmaster::xmlrpc::detail;

std::string helper() {
  const char* h = std::getenv("TM_HELPER");
  REQUIRE_MESSAGE(h, "TM_HELPER is not set");
  return h;
}

void writeFile(const std::filesystem::path& path, const std::string& text) { std::ofstream(path) << text; }

// A Supervisor of the YAML in `text`, its Service and an Interface over it; call() is a client's round trip.
struct Fixture {
  test::TempDir dir;
  std::filesystem::path file = dir.path / "taskmaster.yml";
  boost::asio::io_context io;
  Supervisor supervisor{io};
  std::optional<Service> service;
  std::optional<xmlrpc::Interface> interface;
  int shutdowns = 0;
  int restarts = 0;

  explicit Fixture(const std::string& text) {
    writeFile(file, text);
    auto loaded = loadConfig(file.string());
    REQUIRE_MESSAGE(loaded.ok(), (loaded.errors.empty() ? "" : loaded.errors.front().str()));
    service.emplace(supervisor, std::move(loaded.config));
    (void)service->apply();
    interface.emplace(*service, xmlrpc::InterfaceHooks{[this] { ++shutdowns; }, [this] { ++restarts; }});
  }
  ~Fixture() {
    interface.reset();
    supervisor.shutdown();
    io.restart();
    io.run_for(std::chrono::seconds(5));
  }

  // The raw answer to `body`; it never comes from inside call().
  std::string raw(std::string_view body) {
    std::optional<std::string> answer;
    interface->call(body, [&](std::string a) { answer = std::move(a); });
    CHECK_FALSE(answer.has_value());
    io.restart();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!answer && std::chrono::steady_clock::now() < deadline) io.run_one_for(std::chrono::milliseconds(20));
    REQUIRE(answer.has_value());
    return std::move(*answer);
  }

  Expected<Value, Fault> call(std::string method, std::vector<Value> params = {}) {
    auto answer = decodeResponse(raw(encodeCall(MethodCall{std::move(method), std::move(params)})));
    return answer;
  }

  Value ok(std::string method, std::vector<Value> params = {}) {
    auto answer = call(method, std::move(params));
    REQUIRE_MESSAGE(answer.ok(), method << ": " << (answer ? "" : answer.error().text));
    return *answer;
  }

  Fault fault(std::string method, std::vector<Value> params = {}) {
    auto answer = call(method, std::move(params));
    REQUIRE_MESSAGE(!answer.ok(), method << " did not fault");
    return answer.error();
  }

  // Runs the loop until `done` holds, for 10 s at most.
  bool runUntil(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    io.restart();
    while (!done() && std::chrono::steady_clock::now() < deadline) io.run_one_for(std::chrono::milliseconds(20));
    return done();
  }

  ProcessState state(const std::string& instance) {
    auto report = service->status({instance});
    REQUIRE(report.instances.size() == 1);
    return report.instances.front().state;
  }
};

std::string text(const Value& v, std::string_view member) {
  const Value* m = v.member(member);
  REQUIRE_MESSAGE(m, "no member " << member);
  CHECK(m->kind == Value::Kind::string);
  return m->text;
}

std::int64_t number(const Value& v, std::string_view member) {
  const Value* m = v.member(member);
  REQUIRE_MESSAGE(m, "no member " << member);
  CHECK(m->kind == Value::Kind::integer);
  return m->integer;
}

std::string programs(const std::string& body) { return "programs:\n" + body; }

std::string program(const std::string& name, const std::string& args, const std::string& more = "") {
  return fmt::format("  {}:\n    cmd: {} {}\n    starttime: 300ms\n    stoptime: 2s\n{}", name, helper(), args, more);
}

}  // namespace

// --- the codec ------------------------------------------------------------------------------------

TEST_CASE("the decoder reads every type supervisorctl and xmlrpc.client send") {
  const auto call = decodeCall(
      "<?xml version='1.0'?><methodCall><methodName> supervisor.x </methodName><params>"
      "<param><value><string>a &amp; b</string></value></param>"
      "<param><value>bare</value></param>"
      "<param><value><string/></value></param>"
      "<param><value><int>-12</int></value></param>"
      "<param><value><i4>7</i4></value></param>"
      "<param><value><boolean>1</boolean></value></param>"
      "<param><value><double>1.5</double></value></param>"
      "<param><value><base64>aGk=</base64></value></param>"
      "<param><value><array><data><value><int>1</int></value><value>x</value></data></array></value></param>"
      "<param><value><struct><member><name>k</name><value><boolean>0</boolean></value></member></struct></value></param>"
      "<param><value><nil/></value></param>"
      "<param><value><dateTime.iso8601>20261206T20:00:00</dateTime.iso8601></value></param>"
      "</params></methodCall>");
  REQUIRE(call.ok());
  CHECK(call->name == "supervisor.x");
  const auto& p = call->params;
  REQUIRE(p.size() == 12);
  CHECK(p[0] == string("a & b"));
  CHECK(p[1] == string("bare"));
  CHECK(p[2] == string(""));
  CHECK(p[3] == integer(-12));
  CHECK(p[4] == integer(7));
  CHECK(p[5] == boolean(true));
  CHECK(p[6].kind == Value::Kind::real);
  CHECK(p[6].real == 1.5);
  CHECK(p[7].kind == Value::Kind::binary);
  CHECK(p[7].text == "hi");
  CHECK(p[8] == array({integer(1), string("x")}));
  CHECK(p[9] == structure({{"k", boolean(false)}}));
  CHECK(p[10].kind == Value::Kind::nil);
  CHECK(p[11].text == "20261206T20:00:00");
  // No <params>: no arguments.
  const auto bare = decodeCall("<methodCall><methodName>system.listMethods</methodName></methodCall>");
  REQUIRE(bare.ok());
  CHECK(bare->params.empty());
}

TEST_CASE("malformed requests are faults that say what is wrong; a DOCTYPE is refused before anything is expanded") {
  const std::vector<std::pair<std::string, std::string>> bad{
      {"", "no element found"},
      {"<methodCall><methodName>x</methodName>", "no element found"},
      {"<methodCall><params/></methodCall>", "no <methodName>"},
      {"<notACall/>", "<notACall> where a <methodCall> was expected"},
      {"<methodCall><methodName>x</methodName><params><param><value><int>z</int></value></param></params></methodCall>",
       "<int>: not an integer: 'z'"},
      {"<methodCall><methodName>x</methodName><params><param><value><boolean>2</boolean></value></param></params>"
       "</methodCall>",
       "<boolean>: not 0 or 1"},
      {"<methodCall><methodName>x</methodName><params><param><value><foo>1</foo></value></param></params></methodCall>",
       "unknown value type <foo>"},
      {"<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]>"
       "<methodCall><methodName>&lol2;</methodName></methodCall>",
       "a DOCTYPE is not accepted"},
      {"<!DOCTYPE x SYSTEM \"file:///etc/passwd\"><methodCall><methodName>x</methodName></methodCall>",
       "a DOCTYPE is not accepted"},
      {"<methodCall><methodName>&xxe;</methodName></methodCall>", "undefined entity"},
  };
  for (const auto& [body, why] : bad) {
    const auto call = decodeCall(body);
    REQUIRE_MESSAGE(!call.ok(), body);
    CHECK(call.error().code == FaultCode::incorrectParameters);
    CHECK_MESSAGE(call.error().text.find(why) != std::string::npos, body << " -> " << call.error().text);
  }
}

TEST_CASE("the decoder bounds the size, the nesting and the number of elements") {
  const DecodeLimits limits{.maxBytes = 4096, .maxDepth = 16, .maxElements = 100};
  std::string deep = "<methodCall><methodName>x</methodName><params><param>";
  for (int i = 0; i < 20; ++i) deep += "<value><array><data>";
  const auto nested = decodeCall(deep, limits);
  REQUIRE_FALSE(nested.ok());
  CHECK(nested.error().text == "INCORRECT_PARAMETERS: nested deeper than 16");

  std::string many = "<methodCall><methodName>x</methodName><params>";
  for (int i = 0; i < 60; ++i) many += "<param><value>a</value></param>";
  const auto wide = decodeCall(many + "</params></methodCall>", limits);
  REQUIRE_FALSE(wide.ok());
  CHECK(wide.error().text == "INCORRECT_PARAMETERS: more than 100 elements");

  const auto big = decodeCall(std::string(5000, ' '), limits);
  REQUIRE_FALSE(big.ok());
  CHECK(big.error().text == "INCORRECT_PARAMETERS: request larger than 4096 bytes");
}

TEST_CASE("the encoder escapes markup and replaces what XML 1.0 cannot carry, so that any output reaches the client") {
  // ESC, NUL and a bare 0xFF byte, as a program may write them: each becomes U+FFFD; tabs and newlines stay.
  const std::string log = std::string("\x1b[31mred\x1b[0m <b>&amp;</b>\t\n") + '\0' + "\xff" + "\xef\xbf\xbf end";
  const auto body = encodeResponse(string(log));
  CHECK(body.find("\x1b") == std::string::npos);
  CHECK(body.find('\0') == std::string::npos);
  CHECK(body.find("&lt;b&gt;&amp;amp;&lt;/b&gt;") != std::string::npos);
  const auto back = decodeResponse(body);
  REQUIRE(back.ok());
  CHECK(back->text == "\xEF\xBF\xBD[31mred\xEF\xBF\xBD[0m <b>&amp;</b>\t\n\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD end");
  // Every type survives the round trip; a fault keeps its bare code.
  const Value all = structure({{"i", integer(-5)}, {"big", integer(5'000'000'000)}, {"b", boolean(true)},
                               {"a", array({string("x"), array()})}, {"s", structure({})}});
  const auto round = decodeResponse(encodeResponse(all));
  REQUIRE(round.ok());
  CHECK(*round == all);
  const auto fault = decodeResponse(encodeFault(Fault(FaultCode::badName, "web:9")));
  REQUIRE_FALSE(fault.ok());
  CHECK(fault.error().code == FaultCode::badName);
  CHECK(fault.error().text == "BAD_NAME: web:9");
}

// --- the methods ----------------------------------------------------------------------------------

TEST_CASE("getVersion is 3.0, unknown methods are UNKNOWN_METHOD, a wrong count INCORRECT_PARAMETERS") {
  Fixture f(programs(program("web", "--forever")));
  CHECK(f.ok("supervisor.getVersion") == string("3.0"));
  CHECK(f.ok("supervisor.getAPIVersion") == string("3.0"));
  CHECK(f.ok("supervisor.getSupervisorVersion") == string("4.2.5"));
  CHECK(f.ok("supervisor.getIdentification") == string("supervisor"));
  CHECK(f.ok("supervisor.getState") == structure({{"statecode", integer(1)}, {"statename", string("RUNNING")}}));
  CHECK(f.ok("supervisor.getPID") == integer(::getpid()));
  for (const auto* name : {"supervisor.nothing", "nothing", "supervisor._update", "a.b.c", "supervisor.getState.x"}) {
    const auto fault = f.fault(name);
    CHECK(fault.code == FaultCode::unknownMethod);
    CHECK(fault.text == "UNKNOWN_METHOD");
  }
  const auto count = f.fault("supervisor.getState", {integer(1)});
  CHECK(count.code == FaultCode::incorrectParameters);
  CHECK(count.text == "INCORRECT_PARAMETERS");
  const auto malformed = decodeResponse(f.raw("<methodCall>"));
  REQUIRE_FALSE(malformed.ok());
  CHECK(malformed.error().code == FaultCode::incorrectParameters);
}

TEST_CASE("getAllProcessInfo: supervisord's 14 keys, sorted by group and name, a YAML program's instances as a group") {
  Fixture f(programs(program("zeta", "--forever") + program("web", "--forever", "    numprocs: 2\n") +
                     program("g:b", "--forever") + program("g:a", "--forever")));
  const auto all = f.ok("supervisor.getAllProcessInfo");
  REQUIRE(all.items.size() == 5);
  std::vector<std::string> names;
  for (const auto& info : all.items) names.push_back(text(info, "group") + " " + text(info, "name"));
  CHECK(names == std::vector<std::string>{"g a", "g b", "web 0", "web 1", "zeta zeta"});
  const auto& zeta = all.items[4];
  CHECK(zeta.names == std::vector<std::string>{"name", "group", "start", "stop", "now", "state", "statename", "spawnerr",
                                               "exitstatus", "logfile", "stdout_logfile", "stderr_logfile", "pid",
                                               "description"});
  CHECK(number(zeta, "state") == 0);
  CHECK(text(zeta, "statename") == "STOPPED");
  CHECK(text(zeta, "description") == "Not started");
  CHECK(number(zeta, "start") == 0);
  CHECK(number(zeta, "pid") == 0);
  CHECK(std::abs(number(zeta, "now") - std::chrono::duration_cast<std::chrono::seconds>(
                                          std::chrono::system_clock::now().time_since_epoch()).count()) < 5);
  const auto one = f.ok("supervisor.getProcessInfo", {string("web:1")});
  CHECK(text(one, "group") == "web");
  CHECK(text(one, "name") == "1");
  CHECK(f.ok("supervisor.getProcessInfo", {string("zeta")}) == f.ok("supervisor.getProcessInfo", {string("zeta:zeta")}));
  for (const auto* bad : {"web", "web:*", "web:7", "nope", "g:"}) {
    const auto fault = f.fault("supervisor.getProcessInfo", {string(bad)});
    CHECK(fault.code == FaultCode::badName);
    CHECK(fault.text == std::string("BAD_NAME: ") + bad);
  }
}

TEST_CASE("startProcess waits until RUNNING, stopProcess until stopped; their faults are supervisord's") {
  Fixture f(programs(program("web", "--forever")));
  CHECK(f.ok("supervisor.startProcess", {string("web")}) == boolean(true));
  CHECK(f.state("web") == ProcessState::running);
  const auto info = f.ok("supervisor.getProcessInfo", {string("web")});
  CHECK(text(info, "statename") == "RUNNING");
  CHECK(number(info, "pid") > 0);
  CHECK(text(info, "description") == fmt::format("pid {}, uptime 0:00:00", number(info, "pid")));
  const auto again = f.fault("supervisor.startProcess", {string("web")});
  CHECK(again.code == FaultCode::alreadyStarted);
  CHECK(again.text == "ALREADY_STARTED: web");

  CHECK(f.ok("supervisor.stopProcess", {string("web")}) == boolean(true));
  CHECK(f.state("web") == ProcessState::stopped);
  const auto stopped = f.fault("supervisor.stopProcess", {string("web"), boolean(true)});
  CHECK(stopped.text == "NOT_RUNNING: web");
  const auto unknown = f.fault("supervisor.stopProcess", {string("nope")});
  CHECK(unknown.text == "BAD_NAME: nope");
  const auto info2 = f.ok("supervisor.getProcessInfo", {string("web")});
  CHECK(text(info2, "statename") == "STOPPED");
  CHECK(text(info2, "description") != "Not started");
  CHECK(number(info2, "stop") >= number(info2, "start"));
}
