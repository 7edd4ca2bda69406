// The listener's side of supervisord's event protocol (protocol.hpp).
#include "events/protocol.hpp"

#include <charconv>

#include <fmt/format.h>

#include <taskmaster/util.hpp>

namespace taskmaster::inline v0::events::detail {

namespace {

constexpr std::string_view kReady = "READY\n";
constexpr std::string_view kResult = "RESULT ";

}  // namespace

std::string_view to_string(ListenerState state) noexcept {
  switch (state) {
    case ListenerState::acknowledged: return "ACKNOWLEDGED";
    case ListenerState::ready: return "READY";
    case ListenerState::busy: return "BUSY";
    case ListenerState::unknown: return "UNKNOWN";
  }
  return "UNKNOWN";
}

void ListenerProtocol::reset() {
  state_ = ListenerState::acknowledged;
  buffer_.clear();
  haveLength_ = false;
  resultLength_ = 0;
}

void ListenerProtocol::sent() {
  if (state_ == ListenerState::ready) state_ = ListenerState::busy;
}

std::vector<ListenerSignal> ListenerProtocol::feed(std::string_view chunk) {
  std::vector<ListenerSignal> out;
  if (state_ == ListenerState::unknown) return out;  // nothing it says counts until its next process
  buffer_.append(chunk);
  while (!buffer_.empty() && state_ != ListenerState::unknown && step(out)) {
  }
  if (state_ == ListenerState::unknown) buffer_.clear();
  return out;
}

void ListenerProtocol::garbage(std::vector<ListenerSignal>& out, std::string why) {
  state_ = ListenerState::unknown;
  buffer_.clear();
  haveLength_ = false;
  out.push_back({.kind = ListenerSignal::Kind::garbage, .ok = false, .text = std::move(why)});
}

bool ListenerProtocol::step(std::vector<ListenerSignal>& out) {
  const auto shown = [this](std::size_t n) { return escapeControl(std::string_view(buffer_).substr(0, n)); };
  switch (state_) {
    case ListenerState::acknowledged:
      if (buffer_.size() < kReady.size()) {
        if (!kReady.starts_with(buffer_)) garbage(out, fmt::format("'{}' where READY was expected", shown(kMaxLine)));
        return false;
      }
      if (!buffer_.starts_with(kReady)) {
        garbage(out, fmt::format("'{}' where READY was expected", shown(kMaxLine)));
        return false;
      }
      buffer_.erase(0, kReady.size());
      state_ = ListenerState::ready;
      out.push_back({.kind = ListenerSignal::Kind::ready, .ok = false, .text = {}});
      return true;
    case ListenerState::ready:
      garbage(out, fmt::format("'{}' while waiting for an event", shown(kMaxLine)));
      return false;
    case ListenerState::busy: break;
    case ListenerState::unknown: return false;
  }
  if (!haveLength_) {
    const auto newline = buffer_.find('\n');
    if (newline == std::string::npos) {
      if (buffer_.size() > kMaxLine || !(kResult.starts_with(buffer_) || buffer_.starts_with(kResult)))
        garbage(out, fmt::format("bad result line '{}'", shown(kMaxLine)));
      return false;
    }
    const std::string_view line(buffer_.data(), newline);
    std::size_t length = 0;
    const auto digits = line.substr(std::min(line.size(), kResult.size()));
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), length);
    if (!line.starts_with(kResult) || digits.empty() || error != std::errc{} || end != digits.data() + digits.size() ||
        length > kMaxResult) {
      garbage(out, fmt::format("bad result line '{}'", shown(std::min(newline, kMaxLine))));
      return false;
    }
    buffer_.erase(0, newline + 1);
    haveLength_ = true;
    resultLength_ = length;
  }
  if (buffer_.size() < resultLength_) return false;
  std::string result = buffer_.substr(0, resultLength_);
  buffer_.erase(0, resultLength_);
  haveLength_ = false;
  state_ = ListenerState::acknowledged;
  const bool ok = result == "OK";
  out.push_back({.kind = ListenerSignal::Kind::result, .ok = ok, .text = std::move(result)});
  return true;
}

}  // namespace taskmaster::inline v0::events::detail
