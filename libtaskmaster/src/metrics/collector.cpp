// The metrics themselves: counted from the Supervisor's state changes, read from its status and from /proc,
// written in the text exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/).
#include <taskmaster/metrics.hpp>
#include <taskmaster/version.hpp>

#include <dirent.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <iterator>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

namespace taskmaster::inline v0::metrics {
namespace {

struct ExitCounts {
  std::uint64_t expected = 0;
  std::uint64_t unexpected = 0;
};

// A process ended: the instance leaves a live state for a state without a process.
bool isExit(const StateChange& change) {
  const auto alive = [](ProcessState s) {
    return s == ProcessState::starting || s == ProcessState::running || s == ProcessState::stopping;
  };
  return alive(change.from) && !alive(change.to);
}

// Descriptors open in this process: the entries of /proc/self/fd, less the one that lists them.
std::uint64_t openFds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return 0;
  std::uint64_t count = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count > 0 ? count - 1 : 0;
}

// Resident set size: the second field of /proc/self/statm, in pages.
std::uint64_t residentBytes() {
  std::FILE* file = std::fopen("/proc/self/statm", "re");
  if (!file) return 0;
  unsigned long long size = 0;
  unsigned long long resident = 0;
  const int read = std::fscanf(file, "%llu %llu", &size, &resident);
  std::fclose(file);
  return read == 2 ? resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

double seconds(WallTime time) {
  return std::chrono::duration<double>(time.time_since_epoch()).count();
}

// The # HELP and # TYPE lines of one metric family.
void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out), "# HELP {0} {1}\n# TYPE {0} {2}\n", name, help, type);
}

// A family of one sample without labels.
void single(std::string& out, std::string_view name, std::string_view type, std::string_view help, auto value) {
  family(out, name, type, help);
  fmt::format_to(std::back_inserter(out), "{} {}\n", name, value);
}

}  // namespace

int stateCode(ProcessState state) noexcept {
  static constexpr std::array<int, kProcessStateCount> kCodes{0, 10, 20, 30, 40, 100, 200};
  const auto i = static_cast<std::size_t>(state);
  return i < kCodes.size() ? kCodes[i] : -1;
}

std::string escapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

struct Collector::State {
  explicit State(Supervisor& observed) : supervisor(observed) {}

  Supervisor& supervisor;
  Subscription observed{};
  std::uint64_t events = 0;
  std::unordered_map<std::string, ExitCounts> exits{};  // by instance; forgotten at the render after the instance goes
  std::function<std::size_t()> controlClients{};
  std::function<std::uint64_t()> scrapes{};

  void renderInstances(std::string& out, const std::vector<InstanceStatus>& instances);
  void renderSelf(std::string& out, std::size_t instances) const;
};

Collector::Collector(Supervisor& supervisor) : state_(std::make_unique<State>(supervisor)) {
  state_->observed = supervisor.onStateChange([state = state_.get()](const StateChange& change) {
    ++state->events;
    if (!isExit(change)) return;
    auto& counts = state->exits[change.instance];
    ++(change.expected ? counts.expected : counts.unexpected);
  });
}

Collector::~Collector() = default;

void Collector::setControlClients(std::function<std::size_t()> count) { state_->controlClients = std::move(count); }
void Collector::setScrapes(std::function<std::uint64_t()> count) { state_->scrapes = std::move(count); }
std::uint64_t Collector::eventsPublished() const { return state_->events; }

std::string Collector::render() const {
  const auto instances = state_->supervisor.status();
  std::string out;
  out.reserve(4096 + instances.size() * 900);
  state_->renderSelf(out, instances.size());
  state_->renderInstances(out, instances);
  return out;
}

void Collector::State::renderSelf(std::string& out, std::size_t instances) const {
  family(out, "taskmaster_build_info", "gauge", "taskmaster's version, as a label; the value is always 1.");
  fmt::format_to(std::back_inserter(out), "taskmaster_build_info{{version=\"{}\"}} 1\n", escapeLabelValue(kVersion));
  single(out, "taskmaster_programs", "gauge", "Programs configured.", supervisor.programNames().size());
  single(out, "taskmaster_processes", "gauge", "Process instances configured, whatever their state.",
         instances);
  single(out, "taskmaster_open_fds", "gauge", "File descriptors open in taskmaster.", openFds());
  single(out, "taskmaster_resident_memory_bytes", "gauge", "taskmaster's resident memory.", residentBytes());
  single(out, "taskmaster_events_published_total", "counter", "State changes published to observers.", events);
  if (controlClients) {
    single(out, "taskmaster_control_clients", "gauge", "Clients connected to the control socket.", controlClients());
  }
  if (scrapes) single(out, "taskmaster_metrics_scrapes_total", "counter", "Scrapes of /metrics served.", scrapes());
}

void Collector::State::renderInstances(std::string& out, const std::vector<InstanceStatus>& instances) {
  std::vector<std::string> labels;
  labels.reserve(instances.size());
  for (const auto& s : instances) {
    labels.push_back(fmt::format("program=\"{}\",process=\"{}\"", escapeLabelValue(s.program),
                                 escapeLabelValue(s.instance)));
  }
  auto it = std::back_inserter(out);
  // The exit counts of the instances shown; those of instances a reload removed are forgotten here.
  std::unordered_map<std::string, ExitCounts> kept;
  // Each family's samples together, as the format requires: one pass over the instances per family.
  const auto each = [&](std::string_view name, std::string_view type, std::string_view help, auto sample) {
    family(out, name, type, help);
    for (std::size_t i = 0; i < instances.size(); ++i) sample(instances[i], labels[i]);
  };
  each("taskmaster_process_state", "gauge",
       "State code: STOPPED 0, STARTING 10, RUNNING 20, BACKOFF 30, STOPPING 40, EXITED 100, FATAL 200.",
       [&](const InstanceStatus& s, const std::string& l) {
         fmt::format_to(it, "taskmaster_process_state{{{}}} {}\n", l, stateCode(s.state));
       });
  each("taskmaster_process_up", "gauge", "1 when the instance is RUNNING, 0 otherwise.",
       [&](const InstanceStatus& s, const std::string& l) {
         fmt::format_to(it, "taskmaster_process_up{{{}}} {}\n", l, s.state == ProcessState::running ? 1 : 0);
       });
  // Only the instances whose health is checked (RUNNING with a healthcheck): for the others there is no health.
  family(out, "taskmaster_process_healthy", "gauge",
         "1 when the instance's health check passes, 0 while starting or unhealthy; only instances with one.");
  for (std::size_t i = 0; i < instances.size(); ++i) {
    if (instances[i].health == Health::none) continue;
    fmt::format_to(it, "taskmaster_process_healthy{{{}}} {}\n", labels[i], instances[i].health == Health::healthy ? 1 : 0);
  }
  each("taskmaster_process_restarts_total", "counter",
       "Automatic starts: retries after a failed start and autorestarts.",
       [&](const InstanceStatus& s, const std::string& l) {
         fmt::format_to(it, "taskmaster_process_restarts_total{{{}}} {}\n", l, s.restarts);
       });
  each("taskmaster_process_exits_total", "counter", "Process exits, by whether the configuration expected them.",
       [&](const InstanceStatus& s, const std::string& l) {
         const auto found = exits.find(s.instance);
         const auto counts = found == exits.end() ? ExitCounts{} : found->second;
         if (found != exits.end()) kept.emplace(found->first, counts);
         fmt::format_to(it, "taskmaster_process_exits_total{{{0},expected=\"true\"}} {1}\n"
                            "taskmaster_process_exits_total{{{0},expected=\"false\"}} {2}\n",
                        l, counts.expected, counts.unexpected);
       });
  exits.swap(kept);
  each("taskmaster_process_start_time_seconds", "gauge",
       "When the current or last process was started, in seconds since the epoch; 0 if never.",
       [&](const InstanceStatus& s, const std::string& l) {
         const double start = s.startTime == WallTime{} ? 0.0 : seconds(s.startTime);
         fmt::format_to(it, "taskmaster_process_start_time_seconds{{{}}} {:.3f}\n", l, start);
       });
  each("taskmaster_process_uptime_seconds", "gauge", "How long the process has been alive; 0 when none is.",
       [&](const InstanceStatus& s, const std::string& l) {
         const double up = s.pid == 0 ? 0.0 : std::chrono::duration<double>(s.uptime).count();
         fmt::format_to(it, "taskmaster_process_uptime_seconds{{{}}} {:.3f}\n", l, up);
       });
}

}  // namespace taskmaster::inline v0::metrics
