// Internal: `depends_on` (docs/dependencies.md). The checks of a set of programs' dependencies among themselves
// (unknown names, a program depending on itself, cycles), shared by the configuration readers and by
// Registry::apply(), and what an instance's state means for a program that waits for it.
#pragma once

#include "private.hpp"

#include <cstddef>
#include <string>
#include <vector>

#include <taskmaster/program_spec.hpp>

namespace taskmaster::inline v0::detail {

class Instance;

// One problem with one entry of one program's depends_on.
struct DependencyProblem {
  std::size_t program;     // its index in the list checked
  std::size_t dependency;  // the index of the entry in that program's dependsOn
  std::string message;     // "depends_on: unknown program 'dbx' (did you mean 'db'?)"
  std::vector<std::size_t> cycle;  // a cycle: every program on it (the first is `program`); empty otherwise
};

// Every entry of `programs` that names no program of the list, the program itself, or closes a cycle (one
// problem per cycle: "depends_on: dependency cycle: web -> api -> web"). O(programs + dependencies).
[[nodiscard]] std::vector<DependencyProblem> dependencyProblems(const std::vector<const ProgramSpec*>& programs);

// Where an instance stands for a program that waits for it in `condition`: met, not yet, or not to be
// expected unless someone acts (FATAL, stopped by the user, exited when it should run, or exited unexpectedly
// for completed_successfully). `waiting`: the instance itself waits for its own dependencies.
enum class Standing { met, pending, failed };
[[nodiscard]] Standing standing(const Instance& instance, Condition condition, bool waiting);

// "dependency db is FATAL", "dependency migrate exited unexpectedly (exit status 1)": why a failed standing.
[[nodiscard]] std::string failureText(const Instance& instance, Condition condition);

}  // namespace taskmaster::inline v0::detail
