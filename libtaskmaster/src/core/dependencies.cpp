#include "core/dependencies.hpp"

#include <algorithm>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include <taskmaster/config.hpp>

#include "core/instance.hpp"

namespace taskmaster::inline v0::detail {
namespace {

using Index = std::unordered_map<std::string_view, std::size_t>;

// The entries that can be part of a graph: known, not the program itself, not repeated.
void checkEntries(const std::vector<const ProgramSpec*>& programs, const Index& index,
                  std::vector<DependencyProblem>& out) {
  std::vector<std::string> names;
  for (const ProgramSpec* spec : programs) names.push_back(spec->name);
  for (std::size_t p = 0; p < programs.size(); ++p) {
    const auto& deps = programs[p]->dependsOn;
    std::unordered_set<std::string_view> seen;
    for (std::size_t d = 0; d < deps.size(); ++d) {
      const std::string& name = deps[d].program;
      std::string message;
      if (name == programs[p]->name) {
        message = "depends_on: a program cannot depend on itself";
      } else if (!seen.insert(name).second) {
        message = fmt::format("depends_on: '{}' is listed twice", name);
      } else if (!index.contains(name)) {
        message = fmt::format("depends_on: unknown program '{}'", name);
        if (auto guess = suggest(name, names)) message += fmt::format(" (did you mean '{}'?)", *guess);
      } else {
        continue;
      }
      out.push_back({p, d, std::move(message), {}});
    }
  }
}

// Depth first, without recursion (a chain of thousands of programs must not exhaust the stack). A program
// entered and not yet left is on the path; an edge back to it closes a cycle.
void findCycles(const std::vector<const ProgramSpec*>& programs, const Index& index,
                std::vector<DependencyProblem>& out) {
  enum class Mark { unseen, onPath, done };
  std::vector<Mark> mark(programs.size(), Mark::unseen);
  struct Frame {
    std::size_t program;
    std::size_t next;  // the next entry of its dependsOn to follow
  };
  std::vector<Frame> path;
  for (std::size_t root = 0; root < programs.size(); ++root) {
    if (mark[root] != Mark::unseen) continue;
    path.push_back({root, 0});
    mark[root] = Mark::onPath;
    while (!path.empty()) {
      Frame& top = path.back();
      const auto& deps = programs[top.program]->dependsOn;
      if (top.next == deps.size()) {
        mark[top.program] = Mark::done;
        path.pop_back();
        continue;
      }
      const std::size_t entry = top.next++;
      auto found = index.find(deps[entry].program);
      if (found == index.end() || found->second == top.program) continue;  // checkEntries reports these
      const std::size_t to = found->second;
      if (mark[to] == Mark::unseen) {
        mark[to] = Mark::onPath;
        path.push_back({to, 0});
      } else if (mark[to] == Mark::onPath) {
        auto start = std::ranges::find(path, to, &Frame::program);
        DependencyProblem problem{top.program, entry, {}, {}};
        std::string text;
        for (auto it = start; it != path.end(); ++it) {
          problem.cycle.push_back(it->program);
          text += fmt::format("{} -> ", programs[it->program]->name);
        }
        std::rotate(problem.cycle.begin(), problem.cycle.end() - 1, problem.cycle.end());  // `program` first
        problem.message = fmt::format("depends_on: dependency cycle: {}{}", text, programs[to]->name);
        out.push_back(std::move(problem));
      }
    }
  }
}

bool expectedExit(const Instance& instance) {
  const auto last = instance.status().lastExit;
  const auto& codes = instance.spec().exitcodes;
  return last && last->exited() && std::ranges::find(codes, last->code) != codes.end();
}

}  // namespace

std::vector<DependencyProblem> dependencyProblems(const std::vector<const ProgramSpec*>& programs) {
  Index index;
  for (std::size_t p = 0; p < programs.size(); ++p) index.emplace(programs[p]->name, p);
  std::vector<DependencyProblem> out;
  checkEntries(programs, index, out);
  findCycles(programs, index, out);
  return out;
}

// started: a process was spawned (STARTING with a pid), or is past that (RUNNING, or EXITED on its own).
// healthy: RUNNING and its health check passes; a program without healthcheck is healthy when RUNNING.
// completed: EXITED (on its own, from RUNNING); completed_successfully: with one of its exitcodes.
Standing standing(const Instance& instance, Condition condition, bool waiting) {
  if (waiting) return Standing::pending;
  const ProcessState state = instance.state();
  switch (condition) {
    case Condition::started:
      if (state == ProcessState::running || state == ProcessState::exited) return Standing::met;
      if (state == ProcessState::starting && instance.status().pid != 0) return Standing::met;
      break;
    case Condition::running:
      if (state == ProcessState::running) return Standing::met;
      break;
    case Condition::healthy:
      if (state == ProcessState::running && (!instance.spec().healthcheck || instance.health() == Health::healthy))
        return Standing::met;
      break;
    case Condition::completed:
      if (state == ProcessState::exited) return Standing::met;
      break;
    case Condition::completedSuccessfully:
      if (state == ProcessState::exited) return expectedExit(instance) ? Standing::met : Standing::failed;
      break;
  }
  // Nothing will bring these up by itself: a STOPPED instance is not being started (a start makes it STARTING
  // at once, even before its process exists), FATAL gave up, and EXITED stays so for a program that should run.
  if (state == ProcessState::stopped || state == ProcessState::fatal || state == ProcessState::exited)
    return Standing::failed;
  return Standing::pending;
}

std::string failureText(const Instance& instance, Condition condition) {
  if (condition == Condition::completedSuccessfully && instance.state() == ProcessState::exited) {
    const auto last = instance.status().lastExit;
    return fmt::format("dependency {} exited unexpectedly ({})", instance.name(),
                       last ? last->str() : "exit status unknown");
  }
  return fmt::format("dependency {} is {}", instance.name(), to_string(instance.state()));
}

}  // namespace taskmaster::inline v0::detail
