// The supervisord reader: supervisord's INI files, read with supervisord's rules (docs/supervisord.md).
#include <taskmaster/config.hpp>

#include "config/reader.hpp"

namespace taskmaster::inline v0 {

bool supervisordFormat(std::string_view text) {
  std::size_t at = 0;
  while (at < text.size()) {
    auto end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    auto line = text.substr(at, end - at);
    at = end + 1;
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) line.remove_suffix(1);
    if (line.empty() || line.front() == ';' || line.front() == '#') continue;
    return line.front() == '[' && line.back() == ']' && line.size() > 2 && line.find(']') == line.size() - 1;
  }
  return false;
}

ConfigResult parseSupervisordConfig(std::string_view ini, std::string_view filename) {
  (void)ini;
  ConfigResult result;
  result.config.path = filename;
  result.config.format = ConfigFormat::supervisord;
  detail::Problems problems(filename);
  problems.add({}, "", "supervisord's format: not read yet");
  result.errors = problems.take();
  return result;
}

}  // namespace taskmaster::inline v0
