// libFuzzer target: one control-protocol line -> parseRequest() and parseReply(). A request that parses must
// survive encodeRequest() and parse again to the same command and arguments; the same for replies.
#include <taskmaster/control.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

namespace {

namespace control = taskmaster::control;

[[noreturn]] void violated(std::string_view what, std::string_view detail) {
  std::fprintf(stderr, "invariant violated: %.*s: %.*s\n", static_cast<int>(what.size()), what.data(),
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

// One line, ending in exactly one newline: the framing of the protocol.
std::string_view oneLine(const std::string& encoded) {
  if (encoded.empty() || encoded.find('\n') != encoded.size() - 1) violated("encoded message is not one line", encoded);
  return std::string_view(encoded).substr(0, encoded.size() - 1);
}

// Ids that Boost.JSON round-trips exactly (doubles are not compared: its 1.81 parser is not always exact).
bool comparableId(const boost::json::value& id) {
  return id.is_null() || id.is_bool() || id.is_int64() || id.is_uint64() || id.is_string();
}

void checkRequest(std::string_view line) {
  auto request = control::parseRequest(line);
  if (!request) {
    if (request.error().detail.empty()) violated("request refused without a reason", line);
    return;
  }
  if (request->cmd.empty()) violated("request parsed with an empty cmd", line);
  const auto encoded = control::encodeRequest(*request);
  auto again = control::parseRequest(oneLine(encoded));
  if (!again) violated("encodeRequest() output does not parse", encoded + again.error().detail);
  if (again->cmd != request->cmd) violated("cmd changed in a round trip", encoded);
  if (again->args != request->args) violated("args changed in a round trip", encoded);
  if (comparableId(request->id) && again->id != request->id) violated("id changed in a round trip", encoded);
}

void checkReply(std::string_view line) {
  auto reply = control::parseReply(line);
  if (!reply) return;
  // Only what the client reads back: `data` is the server's own output, free to hold any number.
  reply->data = nullptr;
  const auto encoded = control::encodeReply(nullptr, *reply);
  auto again = control::parseReply(oneLine(encoded));
  if (!again) violated("encodeReply() output does not parse", encoded);
  if (again->ok != reply->ok || again->lines != reply->lines || again->error != reply->error) {
    violated("reply changed in a round trip", encoded);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  try {
    checkRequest(line);
    checkReply(line);
  } catch (const std::exception& e) {
    violated("exception", e.what());
  }
  return 0;
}
