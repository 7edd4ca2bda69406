#include "attach/line_editor.hpp"

#include <utility>

namespace cli {
namespace {

bool continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// The bytes of the last character of `line` (a UTF-8 sequence counts as one).
std::size_t lastCharacter(const std::string& line) {
  std::size_t n = 0;
  while (n < line.size() && continuation(line[line.size() - 1 - n])) ++n;
  return n < line.size() ? n + 1 : n;
}

}  // namespace

LineEditor::Result LineEditor::feed(std::string_view keys) {
  Result result;
  for (const char key : keys) {
    switch (key) {
      case '\r':
      case '\n':
        result.input += std::exchange(line_, {}) + '\n';
        result.echo += '\n';
        break;
      case 0x7f:  // DEL, what Backspace sends
      case '\b':
        if (line_.empty()) break;
        line_.resize(line_.size() - lastCharacter(line_));
        result.echo += "\b \b";
        break;
      case 0x15:  // Ctrl-U
        while (!line_.empty()) {
          line_.resize(line_.size() - lastCharacter(line_));
          result.echo += "\b \b";
        }
        break;
      case 0x03:  // Ctrl-C
        line_.clear();
        result.echo += "^C\n";
        break;
      case 0x04:  // Ctrl-D
        result.input += std::exchange(line_, {});
        break;
      default:
        if (static_cast<unsigned char>(key) < 0x20) break;
        line_ += key;
        result.echo += key;
    }
  }
  return result;
}

}  // namespace cli
