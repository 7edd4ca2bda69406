#include "util/text.hpp"

#include <taskmaster/util.hpp>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <ctime>
#include <vector>

#include <fmt/format.h>

namespace taskmaster::inline v0 {

std::optional<std::string> LineFramer::next() {
  const auto nl = buffer_.find('\n', start_ + scanned_);
  if (nl == std::string::npos) {
    scanned_ = buffer_.size() - start_;
    return std::nullopt;
  }
  std::string line = buffer_.substr(start_, nl - start_);
  if (line.ends_with('\r')) line.pop_back();
  start_ = nl + 1;
  scanned_ = 0;
  if (start_ > 4096 && start_ * 2 > buffer_.size()) {  // drop consumed bytes, amortised O(1) per byte
    buffer_.erase(0, start_);
    start_ = 0;
  }
  return line;
}

std::string LineFramer::takePartial() {
  std::string line = buffer_.substr(start_);
  buffer_.clear();
  start_ = scanned_ = 0;
  return line;
}

std::string formatTime(WallTime time, TimeZone zone) {
  if (time.time_since_epoch().count() == 0) return {};
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  const auto seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  if (zone == TimeZone::utc) ::gmtime_r(&seconds, &tm);
  else ::localtime_r(&seconds, &tm);
  std::string out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}", tm.tm_year + 1900, tm.tm_mon + 1,
                                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
  if (zone == TimeZone::utc) return out + 'Z';
  const long offset = std::labs(tm.tm_gmtoff) / 60;  // minutes from UTC
  return out + fmt::format("{}{:02}:{:02}", tm.tm_gmtoff < 0 ? '-' : '+', offset / 60, offset % 60);
}

std::string formatDuration(std::chrono::milliseconds duration) {
  struct Unit {
    std::string_view suffix;
    long long ms;
  };
  static constexpr std::array<Unit, 4> kUnits{{{"h", 3'600'000}, {"m", 60'000}, {"s", 1000}, {"ms", 1}}};
  const long long count = duration.count();
  for (const auto& [suffix, ms] : kUnits)
    if (count % ms == 0 && (count != 0 || ms == 1)) return fmt::format("{}{}", count / ms, suffix);
  return {};  // unreachable: every count is whole in milliseconds
}

std::string escapeControl(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += static_cast<char>(c);
  }
  return out;
}

}  // namespace taskmaster::inline v0

namespace taskmaster::inline v0::detail {

namespace {

char foldLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
char foldUpper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

}  // namespace

std::string toLower(std::string_view text) {
  std::string out(text);
  std::ranges::transform(out, out.begin(), foldLower);
  return out;
}

std::string toUpper(std::string_view text) {
  std::string out(text);
  std::ranges::transform(out, out.begin(), foldUpper);
  return out;
}

std::size_t editDistance(std::string_view left, std::string_view right) {
  const std::string a = toLower(left);
  const std::string b = toLower(right);
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t substitution = d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, substitution});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

std::vector<std::string> splitLines(std::string_view text) {
  std::vector<std::string> lines;
  while (!text.empty()) {
    const auto end = text.find('\n');
    lines.emplace_back(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return lines;
}

}  // namespace taskmaster::inline v0::detail
