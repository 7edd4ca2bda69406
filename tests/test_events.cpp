// supervisord's event listeners without processes: the payloads and headers, the listener's protocol read from
// chunks cut anywhere, a pool's buffer (overflow, rejected events back at the head), and the configuration of
// listeners in supervisord's INI and in YAML.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <taskmaster/config.hpp>
#include <taskmaster/events.hpp>

#include "events/event.hpp"
#include "events/pool.hpp"
#include "events/protocol.hpp"

using namespace taskmaster;
using namespace taskmaster::events::detail;

namespace {

StateChange change(ProcessState from, ProcessState to, int pid = 0, int retries = 0, bool expected = true) {
  StateChange c;
  c.from = from;
  c.to = to;
  c.pid = pid;
  c.retries = retries;
  c.expected = expected;
  return c;
}

std::vector<ListenerSignal::Kind> kinds(const std::vector<ListenerSignal>& signals) {
  std::vector<ListenerSignal::Kind> out;
  for (const auto& s : signals) out.push_back(s.kind);
  return out;
}

std::shared_ptr<const Event> event(std::uint64_t serial, std::string payload = "when:5") {
  return std::make_shared<const Event>(
      Event{.type = EventType::tick5, .payload = std::move(payload), .serial = serial});
}

// A pool and its members, whose sends are recorded (and refused when `refuse` is set).
struct Harness {
  std::vector<std::string> logged;
  Pool pool{"lst", bit(EventType::tick5), 3, [this](LogLevel, std::string_view text) { logged.emplace_back(text); }};
  Member first{.instance = "lst:0", .name = "0", .running = true, .protocol = {}, .busy = {}};
  Member second{.instance = "lst:1", .name = "1", .running = true, .protocol = {}, .busy = {}};
  std::vector<Member*> members{&first, &second};
  std::vector<std::pair<std::string, std::string>> sent;  // instance, bytes
  bool refuse = false;

  void dispatch() {
    pool.dispatch(members, "supervisor", [this](Member& m, std::string_view bytes) {
      if (refuse) return false;
      sent.emplace_back(m.instance, std::string(bytes));
      return true;
    });
  }
  void say(Member& m, std::string_view text) {
    pool.handle(m, m.protocol.feed(text));
    dispatch();
  }
};

}  // namespace

TEST_CASE("payloads: supervisord 4.2.5's fields for each state, no trailing newline") {
  const ProcessNames names{.process = "web_1", .group = "web"};
  CHECK(stateEventPayload(names, change(ProcessState::stopped, ProcessState::starting, 12, 0)) ==
        "processname:web_1 groupname:web from_state:STOPPED tries:0");
  CHECK(stateEventPayload(names, change(ProcessState::starting, ProcessState::backoff, 0, 2)) ==
        "processname:web_1 groupname:web from_state:STARTING tries:2");
  CHECK(stateEventPayload(names, change(ProcessState::starting, ProcessState::running, 42)) ==
        "processname:web_1 groupname:web from_state:STARTING pid:42");
  CHECK(stateEventPayload(names, change(ProcessState::running, ProcessState::stopping, 42)) ==
        "processname:web_1 groupname:web from_state:RUNNING pid:42");
  CHECK(stateEventPayload(names, change(ProcessState::stopping, ProcessState::stopped, 42)) ==
        "processname:web_1 groupname:web from_state:STOPPING pid:42");
  CHECK(stateEventPayload(names, change(ProcessState::running, ProcessState::exited, 42, 0, false)) ==
        "processname:web_1 groupname:web from_state:RUNNING expected:0 pid:42");
  CHECK(stateEventPayload(names, change(ProcessState::backoff, ProcessState::fatal)) ==
        "processname:web_1 groupname:web from_state:BACKOFF");
  CHECK(stateEventType(ProcessState::exited) == EventType::processStateExited);
  CHECK(logEventPayload(names, 7, "stderr", "a\nb") == "processname:web_1 groupname:web pid:7 channel:stderr\na\nb");
  CHECK(tickPayload(1796600690) == "when:1796600690");
  CHECK(remotePayload("alert", "x y") == "type:alert\nx y");
  CHECK(groupPayload("web") == "groupname:web\n");
}

TEST_CASE("the header: every field, len in bytes") {
  const Event e{.type = EventType::processGroupAdded, .payload = "groupname:é\n", .serial = 7};
  CHECK(envelope("supervisor", e, "lst", 3) ==
        "ver:3.0 server:supervisor serial:7 pool:lst poolserial:3 eventname:PROCESS_GROUP_ADDED len:13\n");
}

TEST_CASE("event type names: concrete, abstract, unknown") {
  CHECK(eventMask("TICK_5") == bit(EventType::tick5));
  CHECK(eventMask("TICK") == (bit(EventType::tick5) | bit(EventType::tick60) | bit(EventType::tick3600)));
  CHECK(eventMask("PROCESS_STATE").value_or(0) == 0xFFu);  // the eight PROCESS_STATE_* types
  CHECK(eventMask("PROCESS_LOG") == (bit(EventType::processLogStdout) | bit(EventType::processLogStderr)));
  CHECK(eventMask("EVENT") == (EventMask{1} << kEventTypeCount) - 1);
  CHECK_FALSE(eventMask("PROCESS"));
  CHECK_FALSE(eventMask("tick_5"));
  CHECK_FALSE(eventMask("TICK_10"));
  CHECK(taskmaster::events::isEventType("SUPERVISOR_STATE_CHANGE"));
  CHECK_FALSE(taskmaster::events::isEventType(""));
}

TEST_CASE("protocol: READY and RESULT, whole, split byte by byte, and joined in one chunk") {
  const std::string_view script = "READY\nRESULT 2\nOKREADY\nRESULT 4\nFAILREADY\n";
  SUBCASE("joined") {
    ListenerProtocol p;
    auto first = p.feed("READY\n");
    CHECK(kinds(first) == std::vector{ListenerSignal::Kind::ready});
    p.sent();
    auto rest = p.feed(script.substr(6, 17));  // "RESULT 2\nOKREADY\n"
    REQUIRE(kinds(rest) == std::vector{ListenerSignal::Kind::result, ListenerSignal::Kind::ready});
    CHECK(rest[0].ok);
    p.sent();
    auto failed = p.feed(script.substr(23));
    REQUIRE(kinds(failed) == std::vector{ListenerSignal::Kind::result, ListenerSignal::Kind::ready});
    CHECK_FALSE(failed[0].ok);
    CHECK(failed[0].text == "FAIL");
    CHECK(p.state() == ListenerState::ready);
  }
  SUBCASE("byte by byte") {
    ListenerProtocol p;
    std::vector<ListenerSignal> all;
    for (char c : script) {
      for (auto& s : p.feed(std::string_view(&c, 1))) {
        if (s.kind == ListenerSignal::Kind::ready) p.sent();
        all.push_back(std::move(s));
      }
    }
    CHECK(kinds(all) == std::vector{ListenerSignal::Kind::ready, ListenerSignal::Kind::result,
                                    ListenerSignal::Kind::ready, ListenerSignal::Kind::result,
                                    ListenerSignal::Kind::ready});
    CHECK(all[1].ok);
    CHECK_FALSE(all[3].ok);
  }
}

TEST_CASE("protocol: garbage makes the listener UNKNOWN until reset") {
  SUBCASE("before READY") {
    ListenerProtocol p;
    auto s = p.feed("hello\n");
    REQUIRE(kinds(s) == std::vector{ListenerSignal::Kind::garbage});
    CHECK(p.state() == ListenerState::unknown);
    CHECK(p.feed("READY\n").empty());  // nothing counts any more
    p.reset();
    CHECK(kinds(p.feed("READY\n")) == std::vector{ListenerSignal::Kind::ready});
  }
  SUBCASE("a short wrong start is known at once") {
    ListenerProtocol p;
    CHECK(kinds(p.feed("X")) == std::vector{ListenerSignal::Kind::garbage});
  }
  SUBCASE("anything while READY") {
    ListenerProtocol p;
    (void)p.feed("READY\n");
    CHECK(kinds(p.feed("R")) == std::vector{ListenerSignal::Kind::garbage});
  }
  SUBCASE("a bad result line") {
    for (std::string_view bad : {"RESULT x\nOK", "RESULT \nOK", "RESULTS 2\nOK", "OK\n", "RESULT -2\n"}) {
      ListenerProtocol p;
      (void)p.feed("READY\n");
      p.sent();
      CHECK(kinds(p.feed(bad)) == std::vector{ListenerSignal::Kind::garbage});
    }
  }
  SUBCASE("a result line that never ends, or a result too long, is bounded") {
    ListenerProtocol p;
    (void)p.feed("READY\n");
    p.sent();
    CHECK(kinds(p.feed("RESULT " + std::string(100, '1'))) == std::vector{ListenerSignal::Kind::garbage});
    ListenerProtocol q;
    (void)q.feed("READY\n");
    q.sent();
    CHECK(kinds(q.feed("RESULT 99999999\n")) == std::vector{ListenerSignal::Kind::garbage});
  }
}

TEST_CASE("pool: each event to the first READY member, with its header, serials in order") {
  Harness h;
  h.pool.accept(event(10));
  h.pool.accept(event(11));
  h.dispatch();
  CHECK(h.sent.empty());  // nobody READY yet
  h.say(h.second, "READY\n");
  REQUIRE(h.sent.size() == 1);
  CHECK(h.sent[0].first == "lst:1");
  CHECK(h.sent[0].second ==
        "ver:3.0 server:supervisor serial:10 pool:lst poolserial:0 eventname:TICK_5 len:6\nwhen:5");
  h.say(h.first, "READY\n");
  REQUIRE(h.sent.size() == 2);
  CHECK(h.sent[1].first == "lst:0");
  CHECK(h.sent[1].second.find("serial:11 pool:lst poolserial:1 ") != std::string::npos);
  CHECK(h.pool.buffer().empty());
  h.say(h.second, "RESULT 2\nOK");
  CHECK_FALSE(h.second.busy);
  CHECK(h.pool.buffer().empty());
}

TEST_CASE("pool: FAIL puts the event back at the head, and it is sent again") {
  Harness h;
  h.pool.accept(event(1));
  h.pool.accept(event(2));
  h.members = {&h.first};
  h.say(h.first, "READY\n");
  REQUIRE(h.sent.size() == 1);
  h.say(h.first, "RESULT 4\nFAIL");
  REQUIRE(h.pool.buffer().size() == 2);
  CHECK(h.pool.buffer().front().event->serial == 1);
  CHECK(h.pool.buffer().front().poolSerial == 0);  // the same serials as the first time
  h.say(h.first, "READY\n");
  REQUIRE(h.sent.size() == 2);
  CHECK(h.sent[1].second == h.sent[0].second);
}

TEST_CASE("pool: a member lost while busy, or talking garbage, gives its event back") {
  Harness h;
  h.pool.accept(event(1));
  h.say(h.first, "READY\n");
  REQUIRE(h.first.busy);
  SUBCASE("its process died") {
    h.first.running = false;
    h.pool.lost(h.first);
  }
  SUBCASE("it said something else") { h.say(h.first, "oops\n"); }
  CHECK_FALSE(h.first.busy);
  REQUIRE(h.pool.buffer().size() == 1);
  h.say(h.second, "READY\n");
  REQUIRE(h.sent.size() == 2);
  CHECK(h.sent[1].first == "lst:1");
}

TEST_CASE("pool: overflow drops the oldest with a line naming the pool") {
  Harness h;
  for (std::uint64_t i = 0; i < 5; ++i) h.pool.accept(event(i));
  REQUIRE(h.pool.buffer().size() == 3);
  CHECK(h.pool.buffer().front().event->serial == 2);
  REQUIRE(h.logged.size() == 2);
  CHECK(h.logged[0] == "pool lst event buffer overflowed, discarding event 0");
  CHECK(h.logged[1] == "pool lst event buffer overflowed, discarding event 1");
}

TEST_CASE("pool: a member that is not RUNNING, or whose stdin is full, gets nothing") {
  Harness h;
  h.pool.accept(event(1));
  h.first.running = false;
  h.members = {&h.first};
  h.say(h.first, "READY\n");
  CHECK(h.sent.empty());
  h.first.running = true;
  h.refuse = true;
  h.dispatch();
  CHECK(h.sent.empty());
  CHECK(h.pool.buffer().size() == 1);
  CHECK(h.first.protocol.state() == ListenerState::ready);  // still READY: the next chance sends it
  h.refuse = false;
  h.dispatch();
  CHECK(h.sent.size() == 1);
}

TEST_CASE("configuration: [eventlistener:x] as supervisord reads it") {
  const auto result = parseSupervisordConfig(R"([supervisord]
[eventlistener:watch]
command=/bin/cat
events=process_state_exited, TICK_5,PROCESS_STATE_EXITED
[program:web]
command=/bin/sleep 100
stderr_events_enabled=true
)",
                                             "/tmp/supervisord.conf");
  REQUIRE(result.ok());
  for (const auto& w : result.warnings) CHECK_MESSAGE(w.message.find("event") == std::string::npos, w.str());
  REQUIRE(result.config.programs.size() == 2);
  const auto& watch = result.config.programs[0];  // priority -1: first
  CHECK(watch.name == "watch");
  CHECK(watch.priority == -1);
  CHECK(watch.events == std::vector<std::string>{"PROCESS_STATE_EXITED", "TICK_5"});
  CHECK(watch.bufferSize == 10);
  CHECK(watch.stdin);
  CHECK(result.config.programs[1].stderrEvents);
  CHECK_FALSE(result.config.programs[1].stdoutEvents);

  // taskmaster convert's YAML reads back the same.
  const auto yaml = formatYaml(result.config);
  CHECK(yaml.find("events: [PROCESS_STATE_EXITED, TICK_5]") != std::string::npos);
  const auto again = parseConfig(yaml);
  REQUIRE(again.ok());
  CHECK(again.config.programs == result.config.programs);
}

TEST_CASE("configuration: what supervisord refuses in [eventlistener:x]") {
  const auto check = [](std::string_view body, std::string_view message) {
    const auto result = parseSupervisordConfig(std::string("[supervisord]\n[eventlistener:w]\ncommand=/bin/cat\n") +
                                                   std::string(body),
                                               "/tmp/s.conf");
    REQUIRE_FALSE(result.ok());
    CHECK_MESSAGE(result.errors.front().str().find(message) != std::string::npos, result.errors.front().str());
  };
  check("", "requires an \"events\" line");
  check("events=TICK_7\n", "'TICK_7' is not an event type (did you mean 'TICK_5'?)");
  check("events=TICK\nbuffer_size=0\n", "buffer_size: must be at least 1");
  check("events=TICK\nredirect_stderr=true\n", "redirect_stderr=true is not allowed");
  check("events=TICK\nresult_handler=mymodule:handler\n", "only supervisord's default handler");
  const auto fine = parseSupervisordConfig(
      "[supervisord]\n[eventlistener:w]\ncommand=/bin/cat\nevents=TICK\n"
      "result_handler=supervisor.dispatchers:default_handler\n",
      "/tmp/s.conf");
  CHECK(fine.ok());
}

TEST_CASE("configuration: a YAML listener, with stdin by default, and its errors at their place") {
  const auto result = parseConfig(R"(programs:
  watch:
    cmd: /bin/cat
    events: [process_state, TICK_60]
    buffer_size: 3
  web:
    cmd: /bin/sleep 100
    stdout_events: true
)");
  REQUIRE(result.ok());
  CHECK(result.config.programs[0].events == std::vector<std::string>{"PROCESS_STATE", "TICK_60"});
  CHECK(result.config.programs[0].bufferSize == 3);
  CHECK(result.config.programs[0].stdin);
  CHECK(result.config.programs[1].stdoutEvents);
  const auto bad = parseConfig(R"(programs:
  watch:
    cmd: /bin/cat
    events: [PROCES_STATE]
    tty: true
)");
  REQUIRE(bad.errors.size() == 2);
  CHECK(bad.errors[0].line == 4);
  CHECK(bad.errors[0].message == "events: 'PROCES_STATE' is not an event type (did you mean 'PROCESS_STATE'?)");
  CHECK(bad.errors[1].message.find("tty: an event listener") == 0);
}
