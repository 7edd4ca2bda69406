#include "config/ini_parser.hpp"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include <taskmaster/util.hpp>

#include "util/text.hpp"

namespace taskmaster::inline v0::detail {

namespace {

// Python's str.isspace() for the characters a configuration holds: ASCII ones (the Unicode spaces too would
// need decoding, and no configuration indents with them).
bool isSpace(char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= '\x1c' && c <= '\x1f'); }

std::string_view strip(std::string_view text) {
  while (!text.empty() && isSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && isSpace(text.back())) text.remove_suffix(1);
  return text;
}

// Where a comment starts: at ';' or '#' that begins the line or follows whitespace (so `a;b` is a value and
// `a ;b` is cut), or at 0 for a line whose first visible character is one. nullopt: no comment.
std::optional<std::size_t> commentStart(std::string_view line) {
  const auto visible = strip(line);
  if (!visible.empty() && (visible.front() == ';' || visible.front() == '#')) return 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if ((line[i] == ';' || line[i] == '#') && (i == 0 || isSpace(line[i - 1]))) return i;
  }
  return std::nullopt;
}

// The file's lines as Python reads a text file: "\n", "\r\n" and a lone "\r" all end a line. Each line keeps
// its end (whitespace, as far as comments and stripping are concerned).
std::vector<std::string_view> lines(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\n' && text[i] != '\r') continue;
    std::size_t end = i + 1;
    if (text[i] == '\r' && end < text.size() && text[end] == '\n') ++end;
    out.push_back(text.substr(start, end - start));
    start = end;
    i = end - 1;
  }
  if (start < text.size()) out.push_back(text.substr(start));
  return out;
}

class IniReader {
 public:
  IniReader(std::string_view file, IniDocument& document, std::vector<Bad>& errors)
      : file_(file), document_(document), errors_(errors) {}

  void read(std::string_view text) {
    int number = 0;
    for (auto line : lines(text)) readLine(line, ++number);
    // Continuation lines were joined with '\n'; blank lines at the end of a value are not part of it.
    auto trim = [](IniSection& section) {
      for (auto& value : section.values) {
        while (!value.text.empty() && isSpace(value.text.back())) value.text.pop_back();
      }
    };
    for (auto& section : document_.sections) trim(section);
    trim(document_.defaults);
  }

 private:
  void readLine(std::string_view line, int number) {
    const auto comment = commentStart(line);
    const auto content = strip(line.substr(0, comment.value_or(line.size())));
    if (content.empty()) {
      // A blank line inside a value is kept (a later continuation line may follow); a comment line is not.
      if (!comment && current_) value().text += '\n';
      return;
    }
    const auto indent =
        static_cast<std::size_t>(std::ranges::find_if(line, [](char c) { return !isSpace(c); }) - line.begin());
    if (current_ && indent > indent_) {
      value().text += '\n';
      value().text += content;
      return;
    }
    indent_ = indent;
    current_.reset();
    if (content.front() == '[') {
      const auto close = content.rfind(']');
      if (close != std::string_view::npos && close > 1) {
        openSection(content.substr(1, close - 1), number);
        return;
      }
    }
    if (!section_) {
      errors_.push_back(Bad{{number, 0},
                            fmt::format("a key before any section: '{}' (a file starts with a section "
                                        "such as [supervisord] or [program:NAME])",
                                        escapeControl(content))});
      return;
    }
    readKey(content, number);
  }

  void openSection(std::string_view name, int number) {
    if (name == "DEFAULT") {
      section_ = kDefaults;
      return;
    }
    auto found = std::ranges::find(document_.sections, name, &IniSection::name);
    section_ = static_cast<std::size_t>(found - document_.sections.begin());
    if (found == document_.sections.end()) {
      document_.sections.push_back(IniSection{.name = std::string(name), .file = file_, .line = number, .values = {}});
    }
  }

  void readKey(std::string_view content, int number) {
    const auto delimiter = content.find_first_of("=:");
    if (delimiter == std::string_view::npos || delimiter == 0) {
      errors_.push_back(
          Bad{{number, 0}, fmt::format("expected 'key = value' or a [section], got '{}'", escapeControl(content))});
      return;
    }
    auto key = toLower(strip(content.substr(0, delimiter)));
    const auto text = strip(content.substr(delimiter + 1));
    auto& values = section().values;
    auto found = std::ranges::find(values, key, &IniValue::key);
    current_ = static_cast<std::size_t>(found - values.begin());
    if (found == values.end()) values.push_back(IniValue{.key = key, .text = {}, .file = {}, .line = 0});
    value() = IniValue{.key = std::move(key), .text = std::string(text), .file = file_, .line = number};
  }

  // Indexes, not addresses: the vectors grow as the file is read.
  static constexpr std::size_t kDefaults = static_cast<std::size_t>(-1);
  IniSection& section() { return *section_ == kDefaults ? document_.defaults : document_.sections[*section_]; }
  IniValue& value() { return section().values[*current_]; }

  std::string file_;
  IniDocument& document_;
  std::vector<Bad>& errors_;
  std::optional<std::size_t> section_;  // the section being read, or kDefaults
  std::optional<std::size_t> current_;  // the key in it that continuation lines extend
  std::size_t indent_ = 0;              // of the line that opened current_
};

}  // namespace

const IniValue* IniSection::find(std::string_view key) const {
  auto found = std::ranges::find(values, key, &IniValue::key);
  return found == values.end() ? nullptr : &*found;
}

const IniSection* IniDocument::find(std::string_view name) const {
  auto found = std::ranges::find(sections, name, &IniSection::name);
  return found == sections.end() ? nullptr : &*found;
}

const IniValue* IniDocument::get(const IniSection& section, std::string_view key) const {
  if (const auto* value = section.find(key)) return value;
  return defaults.find(key);
}

void parseIni(std::string_view text, std::string_view file, IniDocument& document, std::vector<Bad>& errors) {
  IniReader(file, document, errors).read(text);
}

}  // namespace taskmaster::inline v0::detail
