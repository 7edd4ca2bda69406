// The metrics' text: the exposition format's rules (families whole, HELP and TYPE first, label values escaped),
// the values of instances that never ran, the `metrics` address, and the time to render 10,000 instances.
#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

#include <taskmaster/config.hpp>
#include <taskmaster/metrics.hpp>
#include <taskmaster/supervisor.hpp>
#include <taskmaster/version.hpp>

namespace metrics = taskmaster::metrics;
using taskmaster::ProcessState;
using taskmaster::ProgramSpec;

namespace {

ProgramSpec program(std::string name, int numprocs = 1) {
  ProgramSpec spec;
  spec.name = std::move(name);
  spec.cmd = {"/bin/sleep", "60"};
  spec.numprocs = numprocs;
  spec.autostart = false;
  return spec;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The sample lines' values by their whole name and labels.
std::map<std::string, std::string> samples(const std::string& text) {
  std::map<std::string, std::string> out;
  for (const auto& line : lines(text)) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    out[line.substr(0, space)] = line.substr(space + 1);
  }
  return out;
}

// What the format requires of the text as a whole; an empty string when it holds, the first breach otherwise.
std::string formatProblem(const std::string& text) {
  if (text.empty() || text.back() != '\n') return "the text must end with a newline";
  std::set<std::string> done;  // families whose samples are over
  std::string current;
  std::set<std::string> helped;
  for (const auto& line : lines(text)) {
    if (line.rfind("# HELP ", 0) == 0) {
      helped.insert(line.substr(7, line.find(' ', 7) - 7));
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      const auto name = line.substr(7, line.find(' ', 7) - 7);
      if (!helped.contains(name)) return "TYPE without HELP: " + line;
      if (!current.empty()) done.insert(current);
      if (done.contains(name)) return "family declared twice: " + name;
      current = name;
      continue;
    }
    const auto name = line.substr(0, line.find_first_of("{ "));
    if (name != current) return fmt::format("sample outside its family ({}): {}", current, line);
  }
  return {};
}

}  // namespace

TEST_CASE("label values escape backslash, double quote and newline, and nothing else") {
  CHECK(metrics::escapeLabelValue("web") == "web");
  CHECK(metrics::escapeLabelValue("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
  CHECK(metrics::escapeLabelValue("tab\there ü") == "tab\there ü");
  CHECK(metrics::escapeLabelValue("") == "");
}

TEST_CASE("state codes are supervisord's") {
  CHECK(metrics::stateCode(ProcessState::stopped) == 0);
  CHECK(metrics::stateCode(ProcessState::starting) == 10);
  CHECK(metrics::stateCode(ProcessState::running) == 20);
  CHECK(metrics::stateCode(ProcessState::backoff) == 30);
  CHECK(metrics::stateCode(ProcessState::stopping) == 40);
  CHECK(metrics::stateCode(ProcessState::exited) == 100);
  CHECK(metrics::stateCode(ProcessState::fatal) == 200);
}

TEST_CASE("addresses: HOST:PORT, [IPv6]:PORT, or a port on loopback") {
  CHECK(*metrics::parseAddress("9102") == "127.0.0.1:9102");
  CHECK(*metrics::parseAddress("0.0.0.0:80") == "0.0.0.0:80");
  CHECK(*metrics::parseAddress("localhost:9") == "127.0.0.1:9");
  CHECK(*metrics::parseAddress("[::1]:9102") == "[::1]:9102");
  CHECK(*metrics::parseAddress("127.0.0.1:0") == "127.0.0.1:0");
  const std::map<std::string, std::string> bad{
      {"", "the port must be a number"},
      {"web", "expected HOST:PORT or a port"},
      {"127.0.0.1:", "the port must be a number"},
      {"127.0.0.1:65536", "the port must be a number from 0 to 65535"},
      {"99999", "the port must be a number"},
      {"example.com:80", "'example.com' is not an IP address"},
      {":80", "'' is not an IP address"},
  };
  for (const auto& entry : bad) {  // no structured binding: clang 14 cannot capture one (INFO does)
    const std::string& text = entry.first;
    const std::string& message = entry.second;
    INFO(text);
    auto parsed = metrics::parseAddress(text);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().str().find(message) != std::string::npos);
    CHECK(parsed.error().str().find("metrics address '" + text + "'") == 0);
  }
}

TEST_CASE("the configuration's metrics: a port, an address, or an error that says why") {
  CHECK(taskmaster::parseConfig("metrics: 9102\nprograms: {}\n").config.metrics == "127.0.0.1:9102");
  CHECK(taskmaster::parseConfig("metrics: \"0.0.0.0:9200\"\nprograms: {}\n").config.metrics == "0.0.0.0:9200");
  CHECK_FALSE(taskmaster::parseConfig("programs: {}\n").config.metrics.has_value());
  const auto bad = taskmaster::parseConfig("programs: {}\nmetrics: nowhere:1\n", "tm.yml");
  REQUIRE(bad.errors.size() == 1);
  CHECK(bad.errors[0].str() ==
        "tm.yml:2:10: metrics address 'nowhere:1': 'nowhere' is not an IP address (nor localhost)");
  const auto list = taskmaster::parseConfig("programs: {}\nmetrics: [1]\n", "tm.yml");
  REQUIRE(list.errors.size() == 1);
  CHECK(list.errors[0].message == "metrics: expected HOST:PORT or a port, got a list");
}

TEST_CASE("every family has its HELP and TYPE, and instances that never ran read as stopped") {
  boost::asio::io_context io;
  taskmaster::Supervisor supervisor(io);
  metrics::Collector collector(supervisor);
  REQUIRE_FALSE(supervisor.add(program("web", 2)));
  REQUIRE_FALSE(supervisor.add(program("odd\"name\\")));
  collector.setControlClients([] { return std::size_t{3}; });
  collector.setScrapes([] { return std::uint64_t{7}; });
  const auto text = collector.render();
  INFO(text);
  CHECK(formatProblem(text) == "");
  const auto values = samples(text);
  CHECK(values.at("taskmaster_programs") == "2");
  CHECK(values.at("taskmaster_processes") == "3");
  CHECK(values.at("taskmaster_control_clients") == "3");
  CHECK(values.at("taskmaster_metrics_scrapes_total") == "7");
  CHECK(values.at("taskmaster_events_published_total") == "0");
  CHECK(std::stoll(values.at("taskmaster_open_fds")) > 2);
  CHECK(std::stoll(values.at("taskmaster_resident_memory_bytes")) > 1'000'000);
  CHECK(values.at(fmt::format("taskmaster_build_info{{version=\"{}\"}}", taskmaster::kVersion)) == "1");
  const std::string web = "program=\"web\",process=\"web:1\"";
  CHECK(values.at("taskmaster_process_state{" + web + "}") == "0");
  CHECK(values.at("taskmaster_process_up{" + web + "}") == "0");
  CHECK(values.at("taskmaster_process_restarts_total{" + web + "}") == "0");
  CHECK(values.at("taskmaster_process_exits_total{" + web + ",expected=\"true\"}") == "0");
  CHECK(values.at("taskmaster_process_exits_total{" + web + ",expected=\"false\"}") == "0");
  CHECK(values.at("taskmaster_process_start_time_seconds{" + web + "}") == "0.000");
  CHECK(values.at("taskmaster_process_uptime_seconds{" + web + "}") == "0.000");
  CHECK(values.contains(R"(taskmaster_process_up{program="odd\"name\\",process="odd\"name\\"})"));
}

TEST_CASE("without the embedding program's counts, their families are left out") {
  boost::asio::io_context io;
  taskmaster::Supervisor supervisor(io);
  metrics::Collector collector(supervisor);
  const auto text = collector.render();
  CHECK(formatProblem(text) == "");
  CHECK(text.find("taskmaster_control_clients") == std::string::npos);
  CHECK(text.find("taskmaster_metrics_scrapes_total") == std::string::npos);
  CHECK(text.find("taskmaster_process_") != std::string::npos);  // the families, without samples
}

TEST_CASE("10,000 instances render in well under 100 ms") {
  boost::asio::io_context io;
  taskmaster::Supervisor supervisor(io);
  metrics::Collector collector(supervisor);
  for (int i = 0; i < 10; ++i) REQUIRE_FALSE(supervisor.add(program(fmt::format("worker{}", i), 1000)));
  auto best = std::chrono::steady_clock::duration::max();
  std::size_t size = 0;
  for (int round = 0; round < 5; ++round) {
    const auto start = std::chrono::steady_clock::now();
    size = collector.render().size();
    best = std::min(best, std::chrono::steady_clock::now() - start);
  }
  const auto ms = std::chrono::duration<double, std::milli>(best).count();
  MESSAGE(fmt::format("10,000 instances: {} bytes in {:.1f} ms (best of 5)", size, ms));
  CHECK(samples(collector.render()).size() > 70'000);
  // Sanitizers slow everything down several times; the bound is for the build that ships.
#if defined(__SANITIZE_ADDRESS__)
  CHECK(ms < 400);
#else
  CHECK(ms < 100);
#endif
}
