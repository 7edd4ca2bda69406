// Internal: XML-RPC values, the request decoder (expat) and the response encoder.
//
// The decoder takes any body: a DOCTYPE is refused before anything in it is read (no entity is ever
// expanded), and the size, the nesting and the number of elements are bounded, so a hostile body costs little
// and is an error, never a crash. The encoder writes only what XML 1.0 can carry: text that is not valid UTF-8
// is made valid (U+FFFD), and the characters XML 1.0 forbids (control characters such as ESC and NUL) become
// U+FFFD too, so that a program's output never breaks the client's parser (supervisord sends them as they are).
#pragma once

#include "private.hpp"

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <taskmaster/error.hpp>

namespace taskmaster::inline v0::xmlrpc::detail {

// One XML-RPC value. A struct keeps its members in order: `names[i]` is the name of `items[i]`.
struct Value {
  enum class Kind { nil, boolean, integer, real, string, binary, datetime, array, structure };
  Kind kind = Kind::nil;
  bool boolean = false;
  std::int64_t integer = 0;
  double real = 0;
  std::string text;                // string; binary: the decoded bytes; datetime: as written
  std::vector<Value> items;        // array, structure
  std::vector<std::string> names;  // structure

  // The member called `name` of a structure; null when there is none (or this is no structure).
  [[nodiscard]] const Value* member(std::string_view name) const;
  bool operator==(const Value&) const = default;
};

[[nodiscard]] Value boolean(bool value);
[[nodiscard]] Value integer(std::int64_t value);
[[nodiscard]] Value string(std::string value);
[[nodiscard]] Value array(std::vector<Value> items = {});
[[nodiscard]] Value structure(std::initializer_list<std::pair<std::string_view, Value>> members);
// Adds a member at the end of a structure.
void add(Value& structure, std::string_view name, Value value);

// supervisord's fault codes (xmlrpc.py Faults): exactly these.
enum class FaultCode : int {
  unknownMethod = 1,
  incorrectParameters = 2,
  badArguments = 3,
  signatureUnsupported = 4,
  shutdownState = 6,
  badName = 10,
  badSignal = 11,
  noFile = 20,
  notExecutable = 21,
  failed = 30,
  abnormalTermination = 40,
  spawnError = 50,
  alreadyStarted = 60,
  notRunning = 70,
  success = 80,
  alreadyAdded = 90,
  stillRunning = 91,
  cantReread = 92,
};

// "BAD_NAME", as supervisord names the code.
[[nodiscard]] std::string_view faultName(FaultCode code);

// A fault as supervisord words it: `text` is "NAME" or "NAME: detail".
struct Fault {
  FaultCode code;
  std::string text;
  Fault(FaultCode code, std::optional<std::string_view> detail = std::nullopt);
};

struct MethodCall {
  std::string name;
  std::vector<Value> params;
};

// Bounds on a request: its bytes, the nesting of its elements and their number.
struct DecodeLimits {
  std::size_t maxBytes = 16 * 1024 * 1024;
  std::size_t maxDepth = 64;
  std::size_t maxElements = 200'000;
};

// A methodCall's name and parameters, or what is wrong with the body (an INCORRECT_PARAMETERS fault).
[[nodiscard]] Expected<MethodCall, Fault> decodeCall(std::string_view body, const DecodeLimits& limits = {});

// What a client reads from a methodResponse: its value, or its fault as it came (code and text).
[[nodiscard]] Expected<Value, Fault> decodeResponse(std::string_view body);

// The methodResponse carrying `value`, or the fault.
[[nodiscard]] std::string encodeResponse(const Value& value);
[[nodiscard]] std::string encodeFault(const Fault& fault);
// The methodCall a client sends.
[[nodiscard]] std::string encodeCall(const MethodCall& call);

// `bytes` as text XML 1.0 can carry, escaped: invalid UTF-8 and forbidden characters are U+FFFD.
void appendText(std::string& out, std::string_view bytes);

}  // namespace taskmaster::inline v0::xmlrpc::detail
