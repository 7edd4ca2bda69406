#include "attach/detach_keys.hpp"

#include <cctype>
#include <utility>

#include <fmt/format.h>

namespace cli {
namespace {

// One key: "ctrl-X" or a letter.
std::optional<char> parseKey(std::string_view key) {
  if (key.size() == 1 && std::isalpha(static_cast<unsigned char>(key[0]))) return key[0];
  constexpr std::string_view prefix = "ctrl-";
  if (key.size() != prefix.size() + 1 || !key.starts_with(prefix)) return std::nullopt;
  const char c = key.back();
  if (c >= 'a' && c <= 'z') return static_cast<char>(c - 'a' + 1);
  // ctrl-@ is NUL, ctrl-[ ESC, then ctrl-\ ctrl-] ctrl-^ ctrl-_: 0x1c to 0x1f, as the terminal sends them.
  constexpr std::string_view symbols = "@[\\]^_";
  constexpr char codes[] = {0x00, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};
  if (auto at = symbols.find(c); at != std::string_view::npos) return codes[at];
  return std::nullopt;
}

}  // namespace

std::optional<std::string> parseDetachKeys(std::string_view spec, std::string* problem) {
  std::string sequence;
  while (true) {
    const auto comma = spec.find(',');
    const auto key = spec.substr(0, comma);
    auto code = parseKey(key);
    if (!code) {
      if (problem)
        *problem = key.empty() ? std::string("an empty key")
                               : fmt::format("unknown key '{}' (use ctrl-a to ctrl-z, ctrl-@, ctrl-[, ctrl-\\, "
                                             "ctrl-], ctrl-^, ctrl-_ or a letter)",
                                             key);
      return std::nullopt;
    }
    sequence += *code;
    if (comma == std::string_view::npos) return sequence;
    spec.remove_prefix(comma + 1);
  }
}

DetachKeyFilter::Result DetachKeyFilter::feed(std::string_view keys) {
  Result result;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    held_ += keys[i];
    // The held keys stop being a beginning of the sequence: the first goes on to the program, and the
    // others are looked at again (they may start the sequence themselves).
    while (!held_.empty() && !sequence_.starts_with(held_)) {
      result.forward += held_.front();
      held_.erase(0, 1);
    }
    if (held_ == sequence_) {
      held_.clear();
      result.detach = true;
      return result;
    }
  }
  return result;
}

}  // namespace cli
