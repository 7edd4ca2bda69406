#include "config/ini_expand.hpp"

#include <cstdlib>
#include <optional>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace taskmaster::inline v0::detail {

namespace {

// One `%(name)...` conversion as Python reads it: flags, width, precision, an ignored length modifier (h, l or
// L), then the conversion character.
struct Spec {
  bool left = false;       // '-'
  bool zero = false;       // '0'
  bool plus = false;       // '+'
  bool space = false;      // ' '
  bool alternate = false;  // '#'
  std::size_t width = 0;
  std::optional<std::size_t> precision;
  char conversion = 0;
};

Bad failure(std::string message) { return Bad{{}, std::move(message)}; }

std::string pad(std::string text, const Spec& spec, bool numeric) {
  if (text.size() >= spec.width) return text;
  const std::size_t missing = spec.width - text.size();
  if (spec.left) return text + std::string(missing, ' ');
  if (!spec.zero || !numeric) return std::string(missing, ' ') + text;
  // Zeros go after the sign and the 0x prefix: -0042, 0x002a.
  std::size_t after = (!text.empty() && (text[0] == '-' || text[0] == '+' || text[0] == ' ')) ? 1 : 0;
  if (text.size() > after + 1 && text[after] == '0' &&
      std::string_view("xXo").find(text[after + 1]) != std::string_view::npos)
    after += 2;
  return text.insert(after, missing, '0');
}

std::string sign(bool negative, const Spec& spec) {
  if (negative) return "-";
  if (spec.plus) return "+";
  return spec.space ? " " : "";
}

std::string repr(const std::string& text) {
  const char quote = (text.find('\'') != std::string::npos && text.find('"') == std::string::npos) ? '"' : '\'';
  std::string out(1, quote);
  for (char c : text) {
    if (c == '\\' || c == quote) out += '\\';
    out += c;
  }
  return out + quote;
}

std::string utf8(std::uint32_t code) {
  std::string out;
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xC0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else if (code < 0x10000) {
    out += static_cast<char>(0xE0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code >> 18));
    out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  }
  return out;
}

Checked<std::string> integer(std::int64_t number, const Spec& spec) {
  const auto magnitude =
      number < 0 ? static_cast<std::uint64_t>(-(number + 1)) + 1 : static_cast<std::uint64_t>(number);
  std::string digits;
  std::string prefix;
  switch (spec.conversion) {
    case 'x':
      digits = fmt::format("{:x}", magnitude);
      prefix = spec.alternate ? "0x" : "";
      break;
    case 'X':
      digits = fmt::format("{:X}", magnitude);
      prefix = spec.alternate ? "0X" : "";
      break;
    case 'o':
      digits = fmt::format("{:o}", magnitude);
      prefix = spec.alternate ? "0o" : "";
      break;
    default: digits = std::to_string(magnitude);
  }
  if (spec.precision && digits.size() < *spec.precision) digits.insert(0, *spec.precision - digits.size(), '0');
  return pad(sign(number < 0, spec) + prefix + digits, spec, true);
}

Checked<std::string> floating(double number, const Spec& spec) {
  const int precision = static_cast<int>(spec.precision.value_or(6));
  std::string text;
  const char conversion = spec.conversion == 'F' ? 'f' : spec.conversion;
  const auto magnitude = number < 0 ? -number : number;
  switch (conversion) {
    case 'e': text = fmt::format("{:.{}e}", magnitude, precision); break;
    case 'E': text = fmt::format("{:.{}E}", magnitude, precision); break;
    case 'g': text = fmt::format("{:.{}g}", magnitude, precision == 0 ? 1 : precision); break;
    case 'G': text = fmt::format("{:.{}G}", magnitude, precision == 0 ? 1 : precision); break;
    default: text = fmt::format("{:.{}f}", magnitude, precision);
  }
  return pad(sign(number < 0, spec) + text, spec, true);
}

Checked<std::string> convert(const ExpansionValue& value, const Spec& spec) {
  const auto* text = std::get_if<std::string>(&value);
  const auto number = text != nullptr ? std::int64_t{0} : std::get<std::int64_t>(value);
  switch (spec.conversion) {
    case 's':
    case 'r':
    case 'a': {
      std::string out = text == nullptr ? std::to_string(number) : spec.conversion == 's' ? *text : repr(*text);
      if (spec.precision && out.size() > *spec.precision) out.resize(*spec.precision);
      return pad(std::move(out), spec, false);
    }
    case 'c':
      if (text != nullptr && text->size() != 1) return failure("%c requires an integer or a single character");
      if (text == nullptr && (number < 0 || number > 0x10FFFF)) return failure("%c argument not in range");
      return pad(text != nullptr ? *text : utf8(static_cast<std::uint32_t>(number)), spec, false);
    default: break;
  }
  if (text != nullptr) return failure(fmt::format("%{} needs a number, and the value is text", spec.conversion));
  if (std::string_view("diuoxX").find(spec.conversion) != std::string_view::npos) return integer(number, spec);
  return floating(static_cast<double>(number), spec);
}

// Reads the flags, width, precision and conversion after `%(name)`; `at` moves past them.
Checked<Spec> readSpec(std::string_view format, std::size_t& at) {
  Spec spec;
  for (; at < format.size(); ++at) {
    const char c = format[at];
    if (c == '-')
      spec.left = true;
    else if (c == '0')
      spec.zero = true;
    else if (c == '+')
      spec.plus = true;
    else if (c == ' ')
      spec.space = true;
    else if (c == '#')
      spec.alternate = true;
    else
      break;
  }
  auto number = [&] {
    std::size_t value = 0;
    while (at < format.size() && format[at] >= '0' && format[at] <= '9' && value < 100000)
      value = value * 10 + static_cast<std::size_t>(format[at++] - '0');
    return value;
  };
  if (at < format.size() && format[at] == '*') return failure("'*' needs an argument list, not names");
  spec.width = number();
  if (at < format.size() && format[at] == '.') {
    ++at;
    spec.precision = number();
  }
  while (at < format.size() && (format[at] == 'h' || format[at] == 'l' || format[at] == 'L')) ++at;
  if (at == format.size()) return failure("incomplete format");
  spec.conversion = format[at++];
  if (std::string_view("sradiuoxXeEfFgGc").find(spec.conversion) == std::string_view::npos) {
    return failure(fmt::format("unsupported format character '{}'", spec.conversion));
  }
  return spec;
}

std::string available(const Expansions& names) {
  std::vector<std::string> plain;
  bool environment = false;
  for (const auto& [name, value] : names) {
    if (name.starts_with("ENV_"))
      environment = true;
    else
      plain.push_back(name);
  }
  std::string out = fmt::format("{}", fmt::join(plain, ", "));
  if (environment) out += fmt::format("{}ENV_X for each environment variable X", plain.empty() ? "" : ", ");
  return out;
}

}  // namespace

Checked<std::string> expand(std::string_view format, const Expansions& names) {
  std::string out;
  std::size_t at = 0;
  while (at < format.size()) {
    const auto percent = format.find('%', at);
    out.append(format.substr(at, percent == std::string_view::npos ? std::string_view::npos : percent - at));
    if (percent == std::string_view::npos) break;
    at = percent + 1;
    if (at < format.size() && format[at] == '%') {
      out += '%';
      ++at;
      continue;
    }
    if (at == format.size() || format[at] != '(') {
      return failure(at == format.size() ? "incomplete format: a '%' ends the value (write %% for a percent sign)"
                                         : "a '%' without a name: write %(name)s, or %% for a percent sign");
    }
    // Python matches parentheses: %(a(b))s names "a(b)".
    int depth = 1;
    std::size_t close = at + 1;
    for (; close < format.size() && depth > 0; ++close)
      depth += format[close] == '(' ? 1 : format[close] == ')' ? -1 : 0;
    if (depth > 0) return failure("incomplete format key: '%(' without ')'");
    const auto name = format.substr(at + 1, close - at - 2);
    at = close;
    auto spec = readSpec(format, at);
    if (!spec.ok()) return spec.error();
    auto value = names.find(name);
    if (value == names.end()) {
      return failure(
          fmt::format("%({}) cannot be expanded: no such name; available names: {}", name, available(names)));
    }
    auto text = convert(value->second, *spec);
    if (!text.ok()) return failure(fmt::format("%({}): {}", name, text.error().message));
    out += *text;
  }
  return out;
}

}  // namespace taskmaster::inline v0::detail
