// libFuzzer target: a configuration's text, YAML or supervisord's as loadConfig() tells them apart, to
// parseConfig() or parseSupervisordConfig(). It must never throw, and whatever it accepts must be valid. (An
// [include] may read files of this machine: globs, bounded by what exists.)
#include <taskmaster/config.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <set>
#include <string>
#include <string_view>

namespace {

[[noreturn]] void violated(std::string_view what, std::string_view detail) {
  std::fprintf(stderr, "invariant violated: %.*s: %.*s\n", static_cast<int>(what.size()), what.data(),
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  taskmaster::ConfigResult result;
  const bool supervisord = taskmaster::supervisordFormat(text);
  try {
    result = supervisord ? taskmaster::parseSupervisordConfig(text, "fuzz.conf")
                                                 : taskmaster::parseConfig(text, "fuzz.yml");
  } catch (const std::exception& e) {
    violated("parseConfig threw", e.what());
  } catch (...) {
    violated("parseConfig threw", "a non-std exception");
  }

  for (const auto* list : {&result.errors, &result.warnings}) {
    for (const auto& d : *list) {
      if (d.message.empty()) violated("diagnostic without a message", d.str());
      if (d.line < 0 || d.column < 0) violated("negative diagnostic position", d.str());
    }
  }

  std::set<std::string> names;
  for (const auto& spec : result.config.programs) {
    const auto problems = spec.validate();
    if (result.ok()) {
      if (!problems.empty()) violated("accepted a program that validate() rejects", spec.name + ": " + problems.front());
      if (!names.insert(spec.name).second) violated("accepted a duplicate program name", spec.name);
    } else if (!problems.empty() && !supervisord &&  // supervisord's name the [program:x], not the process
               std::ranges::none_of(result.errors, [&](const auto& e) { return e.program == spec.name; })) {
      violated("invalid program without a diagnostic", spec.name + ": " + problems.front());
    }
    if (!spec.sameProcessAs(spec)) violated("sameProcessAs(itself) is false", spec.name);
    const auto copy = spec;
    if (!spec.sameProcessAs(copy) || !(spec == copy)) violated("a copy differs", spec.name);
  }
  return 0;
}
