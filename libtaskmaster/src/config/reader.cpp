#include "config/reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <set>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include <taskmaster/util.hpp>

#include "util/text.hpp"

namespace taskmaster::inline v0 {

namespace detail {

void Problems::add(Location at, std::string_view program, std::string message) {
  list_.push_back(Diagnostic{.file = file_,
                             .line = at.line,
                             .column = at.column,
                             .program = std::string(program),
                             .message = std::move(message)});
}

std::vector<Diagnostic> Problems::take() {
  std::ranges::stable_sort(list_, {}, [](const Diagnostic& d) { return std::pair{d.line, d.column}; });
  return std::move(list_);
}

std::vector<std::pair<std::size_t, std::string>> nameClashes(const std::vector<ProgramSpec>& programs) {
  std::set<std::string_view, std::less<>> plain;  // programs outside any group
  for (const auto& spec : programs)
    if (spec.group() == spec.name) plain.insert(spec.name);
  std::vector<std::pair<std::size_t, std::string>> out;
  for (std::size_t i = 0; i < programs.size(); ++i) {
    const auto& spec = programs[i];
    if (spec.group() != spec.name && plain.contains(spec.group())) {
      out.emplace_back(i, fmt::format("name: its group '{}' is also the name of a program; a group and a program "
                                      "may not share a name",
                                      spec.group()));
    }
  }
  return out;
}

constexpr off_t kMaxConfigBytes = 16 << 20;

Checked<std::string> readFile(const std::string& path) {
  auto failure = [](std::string_view why) { return Bad{{}, fmt::format("cannot read: {}", why)}; };
  auto systemFailure = [&failure] { return failure(std::generic_category().message(errno)); };
  const auto tooLarge = fmt::format("larger than {} MiB", kMaxConfigBytes >> 20);

  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return systemFailure();
  struct stat info {};
  if (::fstat(fd.get(), &info) < 0) return systemFailure();
  if (S_ISDIR(info.st_mode)) return failure("Is a directory");
  if (!S_ISREG(info.st_mode)) return failure("not a regular file");
  if (info.st_size > kMaxConfigBytes) return failure(tooLarge);
  std::string text;
  char buffer[8192];
  for (;;) {
    const ssize_t n = retryOnEintr([&] { return ::read(fd.get(), buffer, sizeof buffer); });
    if (n < 0) return systemFailure();
    if (n == 0) return text;
    text.append(buffer, static_cast<std::size_t>(n));
    if (static_cast<off_t>(text.size()) > kMaxConfigBytes) return failure(tooLarge);
  }
}

}  // namespace detail

std::string Diagnostic::str() const {
  std::string out = file;
  if (line > 0) out += fmt::format(":{}", line);
  if (line > 0 && column > 0) out += fmt::format(":{}", column);
  out += ": ";
  if (!program.empty()) out += fmt::format("program '{}': ", program);
  return out + message;
}

std::optional<std::string> suggest(std::string_view word, const std::vector<std::string>& candidates) {
  const std::size_t limit = std::max<std::size_t>(1, word.size() / 3);  // further off is no typo
  std::optional<std::string> best;
  std::size_t bestDistance = 0;
  for (const auto& candidate : candidates) {
    const std::size_t distance = detail::editDistance(word, candidate);
    if (distance <= limit && (!best || distance < bestDistance)) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

}  // namespace taskmaster::inline v0
