#include "convert.hpp"

#include <algorithm>
#include <cstdio>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace cli {
namespace {

// Every problem, then how many, on stderr; the exit code of an invalid configuration.
int reportProblems(const taskmaster::ConfigResult& loaded, std::string_view path, std::string_view outcome) {
  for (const auto& problem : loaded.errors) fmt::print(stderr, "{}\n", problem.str());
  const auto n = loaded.errors.size();
  fmt::print(stderr, "taskmaster: {} problem{} in {}; {}\n", n, n == 1 ? "" : "s", path, outcome);
  return kExitUsage;
}

void printWarnings(const taskmaster::ConfigResult& loaded) {
  for (const auto& warning : loaded.warnings) fmt::print(stderr, "{}\n", warningLine(warning));
}

// The instances of `programs` by the names `status` shows, in its order: programs sorted by name, the
// instances of each by index.
std::vector<std::string> processNames(std::vector<taskmaster::ProgramSpec> programs) {
  std::ranges::sort(programs, {}, &taskmaster::ProgramSpec::name);
  std::vector<std::string> names;
  for (const auto& spec : programs)
    for (int index = 0; index < spec.numprocs; ++index) names.push_back(spec.instanceName(index));
  return names;
}

}  // namespace

std::string warningLine(const taskmaster::Diagnostic& warning) {
  auto line = warning;
  line.message = fmt::format("warning: {}{}", warning.program.empty() ? "" : fmt::format("program '{}': ", warning.program),
                             warning.message);
  line.program.clear();
  return line.str();
}

int check(const RunOptions& options) {
  const auto path = options.config ? options.config : findConfig();
  if (!path) return kExitUsage;
  const auto loaded = taskmaster::loadConfig(*path);
  if (!loaded.ok()) return reportProblems(loaded, *path, "it would not start");
  for (const auto& name : processNames(loaded.config.programs)) fmt::print("{}\n", name);
  std::fflush(stdout);
  printWarnings(loaded);
  return kExitOk;
}

int convert(const ConvertOptions& options) {
  const auto loaded = taskmaster::loadConfig(options.file);
  if (!loaded.ok()) return reportProblems(loaded, options.file, "nothing converted");
  fmt::print("{}", taskmaster::formatYaml(loaded.config, loaded.warnings));
  std::fflush(stdout);
  printWarnings(loaded);
  return kExitOk;
}

}  // namespace cli
