// libFuzzer target: YAML text -> parseConfig(). It must never throw, and whatever it accepts must be valid.
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
  const std::string_view yaml(reinterpret_cast<const char*>(data), size);
  taskmaster::ConfigResult result;
  try {
    result = taskmaster::parseConfig(yaml, "fuzz.yml");
  } catch (const std::exception& e) {
    violated("parseConfig threw", e.what());
  } catch (...) {
    violated("parseConfig threw", "a non-std exception");
  }

  for (const auto& error : result.errors) {
    if (error.message.empty()) violated("diagnostic without a message", error.str());
    if (error.line < 0 || error.column < 0) violated("negative diagnostic position", error.str());
  }

  std::set<std::string> names;
  for (const auto& spec : result.config.programs) {
    const auto problems = spec.validate();
    if (result.ok()) {
      if (!problems.empty()) violated("accepted a program that validate() rejects", spec.name + ": " + problems.front());
      if (!names.insert(spec.name).second) violated("accepted a duplicate program name", spec.name);
    } else if (!problems.empty() &&
               std::ranges::none_of(result.errors, [&](const auto& e) { return e.program == spec.name; })) {
      violated("invalid program without a diagnostic", spec.name + ": " + problems.front());
    }
    if (!spec.sameProcessAs(spec)) violated("sameProcessAs(itself) is false", spec.name);
    const auto copy = spec;
    if (!spec.sameProcessAs(copy) || !(spec == copy)) violated("a copy differs", spec.name);
  }
  return 0;
}
