// Bytes to UTF-8 text for the protocol: a program's output may be anything, JSON strings may not.
#include <taskmaster/control.hpp>

namespace taskmaster::inline v0::control {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// The sequence at the start of `bytes`, by the Unicode standard's table of well-formed UTF-8 (no overlong
// forms, no surrogates, nothing past U+10FFFF).
struct Sequence {
  enum Kind { valid, invalid, incomplete } kind;
  std::size_t length;  // valid: its bytes; invalid: the maximal subpart to replace; incomplete: all that is left
};

Sequence sequenceAt(std::string_view bytes) {
  const auto lead = static_cast<unsigned char>(bytes[0]);
  if (lead < 0x80) return {Sequence::valid, 1};
  std::size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // the range of the second byte; the others are always 80..BF
  if (lead >= 0xC2 && lead <= 0xDF) length = 2;
  else if (lead == 0xE0) length = 3, low = 0xA0;
  else if (lead == 0xED) length = 3, high = 0x9F;
  else if (lead >= 0xE1 && lead <= 0xEF) length = 3;
  else if (lead == 0xF0) length = 4, low = 0x90;
  else if (lead == 0xF4) length = 4, high = 0x8F;
  else if (lead >= 0xF1 && lead <= 0xF3) length = 4;
  else return {Sequence::invalid, 1};
  for (std::size_t i = 1; i < length; ++i) {
    if (i == bytes.size()) return {Sequence::incomplete, i};
    const auto b = static_cast<unsigned char>(bytes[i]);
    if (b < low || b > high) return {Sequence::invalid, i};
    low = 0x80, high = 0xBF;
  }
  return {Sequence::valid, length};
}

// Appends the text of `bytes` to `out`; returns the bytes of an incomplete character at the end, not
// appended (all are, as U+FFFD, when `last`).
std::size_t convert(std::string_view bytes, std::string& out, bool last) {
  std::size_t run = 0;  // start of the valid bytes not yet appended
  std::size_t i = 0;
  while (i < bytes.size()) {
    const auto s = sequenceAt(bytes.substr(i));
    if (s.kind == Sequence::valid) {
      i += s.length;
      continue;
    }
    out.append(bytes.substr(run, i - run));
    if (s.kind == Sequence::incomplete && !last) return bytes.size() - i;
    out.append(kReplacement);
    i += s.length;
    run = i;
  }
  out.append(bytes.substr(run));
  return 0;
}

}  // namespace

std::string validUtf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  (void)convert(bytes, out, true);
  return out;
}

std::string Utf8Stream::feed(std::string_view chunk) {
  std::string out;
  out.reserve(held_.size() + chunk.size());
  std::string_view bytes = chunk;
  std::string joined;
  if (!held_.empty()) {  // at most 3 bytes: join them with the beginning of this chunk
    joined = std::exchange(held_, {});
    joined.append(chunk);
    bytes = joined;
  }
  const std::size_t left = convert(bytes, out, false);
  held_.assign(bytes.substr(bytes.size() - left));
  return out;
}

std::string Utf8Stream::finish() {
  if (held_.empty()) return {};
  held_.clear();
  return std::string(kReplacement);
}

}  // namespace taskmaster::inline v0::control
