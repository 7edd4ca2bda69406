// supervisord's update in two steps, by group (Service::reread, addGroup, removeGroup): what differs between
// the file and the configuration running, compared as supervisord does (diff_to_active: a group differs when
// any option of any of its programs does, or their number), then one group added or removed at a time.
#include <taskmaster/commands.hpp>

#include <algorithm>
#include <string_view>

namespace taskmaster::inline v0 {

namespace {

// The programs of `group`, in the order of the configuration.
std::vector<const ProgramSpec*> groupPrograms(const Config& config, std::string_view group) {
  std::vector<const ProgramSpec*> out;
  for (const auto& spec : config.programs)
    if (spec.group() == group) out.push_back(&spec);
  return out;
}

// Every group once, in the order of its first program.
std::vector<std::string> groups(const Config& config) {
  std::vector<std::string> out;
  for (const auto& spec : config.programs)
    if (std::ranges::find(out, spec.group()) == out.end()) out.emplace_back(spec.group());
  return out;
}

bool sameGroup(const std::vector<const ProgramSpec*>& left, const std::vector<const ProgramSpec*>& right) {
  return std::ranges::equal(left, right, [](const ProgramSpec* a, const ProgramSpec* b) { return *a == *b; });
}

}  // namespace

RereadReport Service::reread() {
  RereadReport report{.path = config_.path, .problems = {}, .added = {}, .changed = {}, .removed = {}, .warnings = {}};
  auto loaded = loadConfig(config_.path);
  if (!loaded.ok()) {
    report.problems = std::move(loaded.errors);
    return report;
  }
  read_ = std::move(loaded.config);
  report.warnings = std::move(loaded.warnings);
  for (const auto& group : groups(read_)) {
    const auto running = groupPrograms(config_, group);
    if (running.empty()) report.added.push_back(group);
    else if (!sameGroup(running, groupPrograms(read_, group))) report.changed.push_back(group);
  }
  for (const auto& group : groups(config_))
    if (groupPrograms(read_, group).empty()) report.removed.push_back(group);
  return report;
}

GroupChange Service::addGroup(std::string_view group) {
  const auto programs = groupPrograms(read_, group);
  if (programs.empty()) return GroupChange::unknown;
  if (!groupPrograms(config_, group).empty()) return GroupChange::alreadyActive;
  for (const ProgramSpec* spec : programs) {
    config_.programs.push_back(*spec);
    (void)supervisor_.add(*spec);  // valid (the file was), and a new name (its group is not running)
  }
  return GroupChange::done;
}

GroupChange Service::removeGroup(std::string_view group) {
  const auto programs = groupPrograms(config_, group);
  if (programs.empty()) return GroupChange::unknown;
  for (const ProgramSpec* spec : programs) {
    std::vector<InstanceStatus> instances;
    (void)supervisor_.status(spec->name, instances);
    const bool down = std::ranges::all_of(instances, [](const InstanceStatus& s) {
      return s.state == ProcessState::stopped || s.state == ProcessState::exited || s.state == ProcessState::fatal;
    });
    if (!down) return GroupChange::stillRunning;
  }
  for (const ProgramSpec* spec : programs) (void)supervisor_.remove(spec->name);
  std::erase_if(config_.programs, [group](const ProgramSpec& spec) { return spec.group() == group; });
  return GroupChange::done;
}

}  // namespace taskmaster::inline v0
