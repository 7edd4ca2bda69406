#include "config/ini_values.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <limits>
#include <optional>

#include <fmt/format.h>

#include <taskmaster/util.hpp>

#include "util/text.hpp"

namespace taskmaster::inline v0::detail {

namespace {

Bad failure(std::string message) { return Bad{{}, std::move(message)}; }

std::string quoted(std::string_view text) { return fmt::format("'{}'", escapeControl(text)); }

std::string_view strip(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || (text.front() >= '\t' && text.front() <= '\r')))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || (text.back() >= '\t' && text.back() <= '\r'))) text.remove_suffix(1);
  return text;
}

// Python's int(text, base) for ASCII digits: sign, digits with single '_' between them, a 0o/0x prefix in
// base 8 and 16. nullopt when malformed or beyond 64 bits.
std::optional<std::int64_t> parseInt(std::string_view text, int base) {
  text = strip(text);
  bool negative = false;
  if (!text.empty() && (text.front() == '+' || text.front() == '-')) {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  if (base == 8 && text.size() > 2 && text[0] == '0' && (text[1] == 'o' || text[1] == 'O')) {
    text.remove_prefix(2);
    if (text.front() == '_') text.remove_prefix(1);
  }
  if (text.empty() || text.front() == '_' || text.back() == '_') return std::nullopt;
  std::uint64_t value = 0;
  char previous = 0;
  for (char c : text) {
    if (c == '_') {
      if (previous == '_') return std::nullopt;
    } else {
      const int digit = c - '0';
      if (digit < 0 || digit >= base) return std::nullopt;
      if (value >
          (std::numeric_limits<std::uint64_t>::max() - static_cast<unsigned>(digit)) / static_cast<unsigned>(base))
        return std::nullopt;
      value = value * static_cast<unsigned>(base) + static_cast<unsigned>(digit);
    }
    previous = c;
  }
  if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
  return negative ? -static_cast<std::int64_t>(value) : static_cast<std::int64_t>(value);
}

// Python's shlex.shlex(text) in non-POSIX mode, with supervisord's extra word characters. A UTF-8 sequence
// counts as one character, as Python reads text: never a word character.
Checked<std::vector<std::string>> shlexTokens(std::string_view text) {
  constexpr std::string_view kExtraWord = "_/.+-():";
  auto isWord = [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           kExtraWord.find(c) != std::string_view::npos;
  };
  auto isWhite = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  auto length = [&](std::size_t at) {  // of the character at `at`
    const auto lead = static_cast<unsigned char>(text[at]);
    const std::size_t size = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return std::min(size, text.size() - at);
  };
  auto skipComment = [&](std::size_t at) {
    const auto newline = text.find('\n', at);
    return newline == std::string_view::npos ? text.size() : newline + 1;
  };
  std::vector<std::string> tokens;
  std::size_t at = 0;
  while (at < text.size()) {
    const char c = text[at];
    if (isWhite(c)) {
      ++at;
    } else if (c == '#') {
      at = skipComment(at);
    } else if (c == '"' || c == '\'') {
      const auto close = text.find(c, at + 1);
      if (close == std::string_view::npos) return failure("no closing quotation");
      tokens.emplace_back(text.substr(at, close + 1 - at));
      at = close + 1;
    } else if (isWord(c)) {
      std::string word;
      // In a word, quotes are word characters, and a comment swallows the rest of the line but not the word.
      while (at < text.size()) {
        const char next = text[at];
        if (next == '#') {
          at = skipComment(at);
        } else if (isWord(next) || next == '"' || next == '\'') {
          word += next;
          ++at;
        } else {
          break;
        }
      }
      tokens.push_back(std::move(word));
    } else {
      const auto size = length(at);
      tokens.emplace_back(text.substr(at, size));
      at += size;
    }
  }
  return tokens;
}

}  // namespace

Checked<bool> iniBoolean(std::string_view text) {
  const auto word = toLower(text);
  if (word == "true" || word == "yes" || word == "on" || word == "1") return true;
  if (word == "false" || word == "no" || word == "off" || word == "0") return false;
  return failure(fmt::format("expected true or false (yes/no, on/off, 1/0), got {}", quoted(text)));
}

Checked<std::int64_t> iniInteger(std::string_view text) {
  if (auto value = parseInt(text, 10)) return *value;
  return failure(fmt::format("expected an integer, got {}", quoted(text)));
}

Checked<int> iniCount(std::string_view text, int minimum) {
  auto value = iniInteger(text);
  if (!value.ok()) return value.error();
  if (*value < minimum || *value > std::numeric_limits<int>::max()) {
    return failure(fmt::format("{} is out of range (at least {})", *value, minimum));
  }
  return static_cast<int>(*value);
}

Checked<std::uint64_t> iniSize(std::string_view text) {
  const auto word = toLower(text);
  std::uint64_t unit = 1;
  std::string_view digits = word;
  for (auto [suffix, multiplier] :
       {std::pair{"kb", 1ull << 10}, std::pair{"mb", 1ull << 20}, std::pair{"gb", 1ull << 30}}) {
    if (digits.ends_with(suffix)) {
      digits.remove_suffix(2);
      unit = multiplier;
      break;
    }
  }
  auto value = parseInt(digits, 10);
  if (!value || *value < 0 || static_cast<std::uint64_t>(*value) > std::numeric_limits<std::uint64_t>::max() / unit) {
    return failure(fmt::format("expected a size such as 50MB, 512KB, 1GB or 1048576, got {}", quoted(text)));
  }
  return static_cast<std::uint64_t>(*value) * unit;
}

Checked<unsigned> iniOctal(std::string_view text) {
  auto value = parseInt(text, 8);
  if (!value || *value < 0 || *value > 07777) {
    return failure(fmt::format("expected an octal value such as 022, got {}", quoted(text)));
  }
  return static_cast<unsigned>(*value);
}

Checked<int> iniSignal(std::string_view text) {
  if (auto signal = parseSignal(strip(text))) return *signal;
  return failure(fmt::format("{} is not a signal name or number", quoted(text)));
}

Checked<std::vector<int>> iniExitcodes(std::string_view text) {
  std::vector<int> codes;
  if (text.empty()) return codes;
  std::size_t at = 0;
  for (;;) {
    const auto comma = text.find(',', at);
    const auto item = text.substr(at, comma == std::string_view::npos ? std::string_view::npos : comma - at);
    auto code = parseInt(item, 10);
    if (!code || *code < 0 || *code > 255) {
      return failure(fmt::format("expected a comma list of exit codes (0-255), got {}", quoted(text)));
    }
    codes.push_back(static_cast<int>(*code));
    if (comma == std::string_view::npos) return codes;
    at = comma + 1;
  }
}

Checked<AutoRestart> iniAutorestart(std::string_view text) {
  if (toLower(text) == "unexpected") return AutoRestart::unexpected;
  if (auto flag = iniBoolean(text); flag.ok()) return *flag ? AutoRestart::always : AutoRestart::never;
  return failure(fmt::format("expected true, false or unexpected, got {}", quoted(text)));
}

Checked<std::string> iniUser(std::string_view text) {
  const std::string name(text);
  std::vector<char> buffer(16384);
  passwd record{};
  passwd* found = nullptr;
  if (auto uid = parseInt(name, 10)) {
    if (*uid >= 0 && *uid <= std::numeric_limits<uid_t>::max() &&
        ::getpwuid_r(static_cast<uid_t>(*uid), &record, buffer.data(), buffer.size(), &found) == 0 &&
        found != nullptr) {
      return std::string(found->pw_name);
    }
    return failure(fmt::format("no user has the id {}", quoted(text)));
  }
  if (::getpwnam_r(name.c_str(), &record, buffer.data(), buffer.size(), &found) == 0 && found != nullptr) return name;
  return failure(fmt::format("no user is named {}", quoted(text)));
}

Checked<std::string> iniOwner(std::string_view text) {
  const auto colon = text.find(':');
  auto user = iniUser(text.substr(0, colon));
  if (!user.ok()) return user.error();
  if (colon == std::string_view::npos) return std::string(text);
  const std::string groupName(text.substr(colon + 1));
  std::vector<char> buffer(16384);
  group record{};
  group* found = nullptr;
  if (auto gid = parseInt(groupName, 10)) {
    if (*gid >= 0 && *gid <= std::numeric_limits<gid_t>::max() &&
        ::getgrgid_r(static_cast<gid_t>(*gid), &record, buffer.data(), buffer.size(), &found) == 0 &&
        found != nullptr) {
      return std::string(text);
    }
  } else if (::getgrnam_r(groupName.c_str(), &record, buffer.data(), buffer.size(), &found) == 0 && found != nullptr) {
    return std::string(text);
  }
  return failure(fmt::format("no group {} (expected user or user:group)", quoted(groupName)));
}

Checked<LogLevel> iniLogLevel(std::string_view text) {
  const auto word = toLower(strip(text));
  if (word == "critical" || word == "error") return LogLevel::error;
  if (word == "warn") return LogLevel::warn;
  if (word == "info") return LogLevel::info;
  if (word == "debug" || word == "trace" || word == "blather") return LogLevel::debug;
  return failure(fmt::format("expected critical, error, warn, info, debug, trace or blather, got {}", quoted(text)));
}

Checked<std::string> iniInetAddress(std::string_view text) {
  std::string host;
  std::string_view port = text;
  if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
    host = toLower(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  auto number = parseInt(port, 10);
  if (!number || *number < 1 || *number > 65535) {
    return failure(fmt::format("expected PORT or HOST:PORT with a port from 1 to 65535, got {}", quoted(text)));
  }
  if (host == "*") host.clear();
  return fmt::format("{}:{}", host, *number);
}

std::string expandUser(std::string_view path) {
  if (!path.starts_with('~')) return std::string(path);
  const auto slash = std::min(path.find('/'), path.size());
  const std::string user(path.substr(1, slash - 1));
  std::string home;
  if (user.empty()) {
    if (const char* variable = std::getenv("HOME")) home = variable;
  }
  if (home.empty()) {
    std::vector<char> buffer(16384);
    passwd record{};
    passwd* found = nullptr;
    const int rc = user.empty() ? ::getpwuid_r(::getuid(), &record, buffer.data(), buffer.size(), &found)
                                : ::getpwnam_r(user.c_str(), &record, buffer.data(), buffer.size(), &found);
    if (rc != 0 || found == nullptr) return std::string(path);  // as Python: left as written
    home = found->pw_dir;
  }
  while (home.size() > 1 && home.back() == '/') home.pop_back();
  return home + std::string(path.substr(slash));
}

Checked<std::vector<std::pair<std::string, std::string>>> iniEnvironment(std::string_view text) {
  auto tokens = shlexTokens(text);
  if (!tokens.ok()) return failure(fmt::format("{} in {}", tokens.error().message, quoted(text)));
  std::vector<std::pair<std::string, std::string>> pairs;
  for (std::size_t i = 0; i < tokens->size(); i += 4) {
    if (i + 2 >= tokens->size() || (*tokens)[i + 1] != "=") {
      return failure(
          fmt::format("unexpected end of key/value pairs in {} (expected KEY=VALUE,KEY2=\"VALUE 2\"; "
                      "quote values with spaces, commas or other punctuation)",
                      quoted(text)));
    }
    std::string_view value = (*tokens)[i + 2];
    while (!value.empty() && (value.front() == '"' || value.front() == '\'')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == '"' || value.back() == '\'')) value.remove_suffix(1);
    pairs.emplace_back((*tokens)[i], value);
  }
  return pairs;
}

}  // namespace taskmaster::inline v0::detail
