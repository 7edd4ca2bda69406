// XML-RPC values: decoding a methodCall with expat into a small element tree, then into Values; encoding a
// methodResponse as Python's xmlrpc.client writes one.
#include "xmlrpc/value.hpp"

#include <expat.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <memory>

#include <fmt/format.h>
#include <taskmaster/control.hpp>

namespace taskmaster::inline v0::xmlrpc::detail {

const Value* Value::member(std::string_view name) const {
  if (kind != Kind::structure) return nullptr;
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return &items[i];
  return nullptr;
}

namespace {

Value ofKind(Value::Kind kind) {
  Value v;
  v.kind = kind;
  return v;
}

}  // namespace

Value boolean(bool value) {
  Value v = ofKind(Value::Kind::boolean);
  v.boolean = value;
  return v;
}
Value integer(std::int64_t value) {
  Value v = ofKind(Value::Kind::integer);
  v.integer = value;
  return v;
}
Value string(std::string value) {
  Value v = ofKind(Value::Kind::string);
  v.text = std::move(value);
  return v;
}
Value array(std::vector<Value> items) {
  Value v = ofKind(Value::Kind::array);
  v.items = std::move(items);
  return v;
}

Value structure(std::initializer_list<std::pair<std::string_view, Value>> members) {
  Value v = ofKind(Value::Kind::structure);
  for (const auto& m : members) add(v, m.first, m.second);
  return v;
}

void add(Value& structure, std::string_view name, Value value) {
  structure.names.emplace_back(name);
  structure.items.push_back(std::move(value));
}

std::string_view faultName(FaultCode code) {
  switch (code) {
    case FaultCode::unknownMethod: return "UNKNOWN_METHOD";
    case FaultCode::incorrectParameters: return "INCORRECT_PARAMETERS";
    case FaultCode::badArguments: return "BAD_ARGUMENTS";
    case FaultCode::signatureUnsupported: return "SIGNATURE_UNSUPPORTED";
    case FaultCode::shutdownState: return "SHUTDOWN_STATE";
    case FaultCode::badName: return "BAD_NAME";
    case FaultCode::badSignal: return "BAD_SIGNAL";
    case FaultCode::noFile: return "NO_FILE";
    case FaultCode::notExecutable: return "NOT_EXECUTABLE";
    case FaultCode::failed: return "FAILED";
    case FaultCode::abnormalTermination: return "ABNORMAL_TERMINATION";
    case FaultCode::spawnError: return "SPAWN_ERROR";
    case FaultCode::alreadyStarted: return "ALREADY_STARTED";
    case FaultCode::notRunning: return "NOT_RUNNING";
    case FaultCode::success: return "SUCCESS";
    case FaultCode::alreadyAdded: return "ALREADY_ADDED";
    case FaultCode::stillRunning: return "STILL_RUNNING";
    case FaultCode::cantReread: return "CANT_REREAD";
  }
  return "FAILED";
}

Fault::Fault(FaultCode c, std::optional<std::string_view> detail)
    : code(c), text(detail ? fmt::format("{}: {}", faultName(c), *detail) : std::string(faultName(c))) {}

// --- decoding --------------------------------------------------------------------------------------

namespace {

// The request as a tree of elements: each with the character data directly inside it.
struct Element {
  std::string name;
  std::string text;
  std::vector<Element> children;
};

struct Parse {
  XML_Parser parser = nullptr;
  const DecodeLimits* limits = nullptr;
  Element root;
  std::vector<Element*> open;  // the path from the root to the element being read
  std::size_t elements = 0;
  std::optional<std::string> refused;  // why the parse was stopped by a handler

  void stop(std::string why) {
    if (!refused) refused = std::move(why);
    XML_StopParser(parser, XML_FALSE);
  }
};

void XMLCALL onStart(void* data, const XML_Char* name, const XML_Char** /*attributes*/) {
  auto& p = *static_cast<Parse*>(data);
  if (p.refused) return;
  if (++p.elements > p.limits->maxElements) return p.stop(fmt::format("more than {} elements", p.limits->maxElements));
  if (p.open.size() >= p.limits->maxDepth) return p.stop(fmt::format("nested deeper than {}", p.limits->maxDepth));
  Element* parent = p.open.empty() ? nullptr : p.open.back();
  Element* element = parent ? &parent->children.emplace_back() : &p.root;
  element->name = name;
  p.open.push_back(element);
}

void XMLCALL onEnd(void* data, const XML_Char* /*name*/) {
  auto& p = *static_cast<Parse*>(data);
  if (!p.refused && !p.open.empty()) p.open.pop_back();
}

void XMLCALL onText(void* data, const XML_Char* text, int length) {
  auto& p = *static_cast<Parse*>(data);
  if (!p.refused && !p.open.empty()) p.open.back()->text.append(text, static_cast<std::size_t>(length));
}

// Any DOCTYPE, and so any entity declaration, ends the parse before it is read.
void XMLCALL onDoctype(void* data, const XML_Char* /*name*/, const XML_Char* /*system*/, const XML_Char* /*pub*/,
                       int /*internal*/) {
  static_cast<Parse*>(data)->stop("a DOCTYPE is not accepted");
}

void XMLCALL onEntity(void* data, const XML_Char* /*name*/, int /*parameter*/, const XML_Char* /*value*/,
                      int /*length*/, const XML_Char* /*base*/, const XML_Char* /*system*/, const XML_Char* /*pub*/,
                      const XML_Char* /*notation*/) {
  static_cast<Parse*>(data)->stop("an entity declaration is not accepted");
}

Fault malformed(std::string_view why) { return Fault(FaultCode::incorrectParameters, why); }

Expected<Element, Fault> parseXml(std::string_view body, const DecodeLimits& limits) {
  if (body.size() > limits.maxBytes) return malformed(fmt::format("request larger than {} bytes", limits.maxBytes));
  const std::unique_ptr<std::remove_pointer_t<XML_Parser>, decltype(&XML_ParserFree)> parser(
      XML_ParserCreate(nullptr), &XML_ParserFree);
  if (!parser) return malformed("out of memory");
  Parse p;
  p.parser = parser.get();
  p.limits = &limits;
  XML_SetUserData(parser.get(), &p);
  XML_SetElementHandler(parser.get(), onStart, onEnd);
  XML_SetCharacterDataHandler(parser.get(), onText);
  XML_SetStartDoctypeDeclHandler(parser.get(), onDoctype);
  XML_SetEntityDeclHandler(parser.get(), onEntity);
  XML_SetParamEntityParsing(parser.get(), XML_PARAM_ENTITY_PARSING_NEVER);
  const auto status = XML_Parse(parser.get(), body.data(), static_cast<int>(body.size()), XML_TRUE);
  if (p.refused) return malformed(*p.refused);
  if (status != XML_STATUS_OK)
    return malformed(fmt::format("{} at line {}, column {}", XML_ErrorString(XML_GetErrorCode(parser.get())),
                                 XML_GetCurrentLineNumber(parser.get()), XML_GetCurrentColumnNumber(parser.get())));
  return std::move(p.root);
}

std::string_view trimmed(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

Expected<std::string, Fault> decodeBase64(std::string_view text) {
  std::string out;
  std::uint32_t bits = 0;
  int count = 0;
  for (const char c : text) {
    int digit = -1;
    if (c >= 'A' && c <= 'Z') digit = c - 'A';
    else if (c >= 'a' && c <= 'z') digit = c - 'a' + 26;
    else if (c >= '0' && c <= '9') digit = c - '0' + 52;
    else if (c == '+') digit = 62;
    else if (c == '/') digit = 63;
    else if (c == '=' || c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    else return malformed("base64: not base64 text");
    bits = (bits << 6) | static_cast<std::uint32_t>(digit);
    if ((count += 6) >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xFF));
    }
  }
  return out;
}

Expected<Value, Fault> decodeValue(const Element& element);

Expected<Value, Fault> decodeScalar(const Element& type) {
  const std::string_view text = type.text;
  const std::string& name = type.name;
  if (name == "string") return string(type.text);
  if (name == "int" || name == "i4" || name == "i8") {
    const auto digits = trimmed(text);
    std::int64_t n = 0;
    const auto start = digits.data() + (digits.starts_with('+') ? 1 : 0);
    const auto [end, ec] = std::from_chars(start, digits.data() + digits.size(), n);
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size())
      return malformed(fmt::format("<{}>: not an integer: '{}'", name, digits));
    return integer(n);
  }
  if (name == "boolean") {
    const auto digit = trimmed(text);
    if (digit != "0" && digit != "1") return malformed(fmt::format("<boolean>: not 0 or 1: '{}'", digit));
    return boolean(digit == "1");
  }
  if (name == "double") {
    const std::string digits(trimmed(text));
    double d = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), d);
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() || !std::isfinite(d))
      return malformed(fmt::format("<double>: not a number: '{}'", digits));
    Value v = ofKind(Value::Kind::real);
    v.real = d;
    return v;
  }
  if (name == "base64") {
    auto bytes = decodeBase64(text);
    if (!bytes) return bytes.error();
    Value v = ofKind(Value::Kind::binary);
    v.text = std::move(*bytes);
    return v;
  }
  if (name == "dateTime.iso8601") {
    Value v = ofKind(Value::Kind::datetime);
    v.text = std::string(trimmed(text));
    return v;
  }
  if (name == "nil") return Value{};
  return malformed(fmt::format("unknown value type <{}>", name));
}

Expected<Value, Fault> decodeArray(const Element& element) {
  if (element.children.size() != 1 || element.children.front().name != "data")
    return malformed("<array> holds one <data>");
  Value out = array();
  for (const auto& item : element.children.front().children) {
    auto v = decodeValue(item);
    if (!v) return v.error();
    out.items.push_back(std::move(*v));
  }
  return out;
}

Expected<Value, Fault> decodeStruct(const Element& structure) {
  Value out = ofKind(Value::Kind::structure);
  for (const auto& member : structure.children) {
    const Element* name = nullptr;
    const Element* value = nullptr;
    for (const auto& part : member.children) {
      if (part.name == "name") name = &part;
      else if (part.name == "value") value = &part;
    }
    if (member.name != "member" || !name || !value) return malformed("<struct> holds <member>s of <name> and <value>");
    auto v = decodeValue(*value);
    if (!v) return v.error();
    add(out, name->text, std::move(*v));
  }
  return out;
}

// A <value>: a typed child, or text alone (a string).
Expected<Value, Fault> decodeValue(const Element& element) {
  if (element.name != "value") return malformed(fmt::format("<{}> where a <value> was expected", element.name));
  if (element.children.empty()) return string(element.text);
  if (element.children.size() > 1) return malformed("<value> holds one value");
  const Element& type = element.children.front();
  if (type.name == "array") return decodeArray(type);
  if (type.name == "struct") return decodeStruct(type);
  if (!type.children.empty()) return malformed(fmt::format("<{}> holds text only", type.name));
  return decodeScalar(type);
}

}  // namespace

Expected<MethodCall, Fault> decodeCall(std::string_view body, const DecodeLimits& limits) {
  auto root = parseXml(body, limits);
  if (!root) return root.error();
  if (root->name != "methodCall") return malformed(fmt::format("<{}> where a <methodCall> was expected", root->name));
  MethodCall call;
  bool named = false;
  for (const auto& part : root->children) {
    if (part.name == "methodName") {
      call.name = std::string(trimmed(part.text));
      named = true;
    } else if (part.name == "params") {
      for (const auto& param : part.children) {
        if (param.name != "param" || param.children.size() != 1) return malformed("<params> holds <param>s of one <value>");
        auto v = decodeValue(param.children.front());
        if (!v) return v.error();
        call.params.push_back(std::move(*v));
      }
    } else {
      return malformed(fmt::format("unexpected <{}> in <methodCall>", part.name));
    }
  }
  if (!named || call.name.empty()) return malformed("no <methodName>");
  return call;
}

Expected<Value, Fault> decodeResponse(std::string_view body) {
  auto root = parseXml(body, DecodeLimits{});
  if (!root) return root.error();
  const auto& parts = root->children;
  if (root->name != "methodResponse" || parts.size() != 1) return malformed("not a <methodResponse>");
  const Element& part = parts.front();
  const bool fault = part.name == "fault";
  const Element* value = nullptr;
  if (fault && part.children.size() == 1) value = &part.children.front();
  if (part.name == "params" && part.children.size() == 1 && part.children.front().children.size() == 1)
    value = &part.children.front().children.front();
  if (!value) return malformed("a <methodResponse> holds one value or a fault");
  auto decoded = decodeValue(*value);
  if (!decoded || !fault) return decoded;
  const Value* code = decoded->member("faultCode");
  const Value* text = decoded->member("faultString");
  if (!code || !text || code->kind != Value::Kind::integer) return malformed("a fault without faultCode and faultString");
  Fault out(static_cast<FaultCode>(code->integer));
  out.text = text->text;
  return out;
}

// --- encoding --------------------------------------------------------------------------------------

void appendText(std::string& out, std::string_view bytes) {
  constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  const std::string text = control::validUtf8(bytes);
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') out += kReplacement;
    else if (c == 0xEF && text.compare(i, 2, "\xEF\xBF") == 0 && i + 2 < text.size() &&
             (static_cast<unsigned char>(text[i + 2]) & 0xFE) == 0xBE) {  // U+FFFE, U+FFFF: not characters
      out += kReplacement;
      i += 2;
    } else {
      out += static_cast<char>(c);
    }
  }
}

namespace {

void appendBase64(std::string& out, std::string_view bytes) {
  constexpr std::string_view kDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto at = [&](std::size_t i) { return i < bytes.size() ? static_cast<unsigned char>(bytes[i]) : 0u; };
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const auto n = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
    out += kDigits[(n >> 18) & 63];
    out += kDigits[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kDigits[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kDigits[n & 63] : '=';
  }
}

void appendValue(std::string& out, const Value& v) {
  out += "<value>";
  switch (v.kind) {
    case Value::Kind::nil:  // never sent: supervisord has no nil either
    case Value::Kind::string:
      out += "<string>";
      appendText(out, v.text);
      out += "</string>";
      break;
    case Value::Kind::boolean: out += v.boolean ? "<boolean>1</boolean>" : "<boolean>0</boolean>"; break;
    case Value::Kind::integer:
      if (v.integer >= std::numeric_limits<std::int32_t>::min() && v.integer <= std::numeric_limits<std::int32_t>::max())
        out += fmt::format("<int>{}</int>", v.integer);
      else
        out += fmt::format("<i8>{}</i8>", v.integer);
      break;
    case Value::Kind::real: out += fmt::format("<double>{}</double>", v.real); break;
    case Value::Kind::binary:
      out += "<base64>";
      appendBase64(out, v.text);
      out += "</base64>";
      break;
    case Value::Kind::datetime:
      out += "<dateTime.iso8601>";
      appendText(out, v.text);
      out += "</dateTime.iso8601>";
      break;
    case Value::Kind::array:
      out += "<array><data>\n";
      for (const auto& item : v.items) appendValue(out, item);
      out += "</data></array>";
      break;
    case Value::Kind::structure:
      out += "<struct>\n";
      for (std::size_t i = 0; i < v.items.size(); ++i) {
        out += "<member>\n<name>";
        appendText(out, v.names[i]);
        out += "</name>\n";
        appendValue(out, v.items[i]);
        out += "</member>\n";
      }
      out += "</struct>";
      break;
  }
  out += "</value>\n";
}

}  // namespace

std::string encodeResponse(const Value& value) {
  std::string out = "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n";
  appendValue(out, value);
  out += "</param>\n</params>\n</methodResponse>\n";
  return out;
}

std::string encodeCall(const MethodCall& call) {
  std::string out = "<?xml version='1.0'?>\n<methodCall>\n<methodName>";
  appendText(out, call.name);
  out += "</methodName>\n<params>\n";
  for (const auto& param : call.params) {
    out += "<param>\n";
    appendValue(out, param);
    out += "</param>\n";
  }
  out += "</params>\n</methodCall>\n";
  return out;
}

std::string encodeFault(const Fault& fault) {
  std::string out = "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n";
  appendValue(out, structure({{"faultCode", integer(static_cast<int>(fault.code))}, {"faultString", string(fault.text)}}));
  out += "</fault>\n</methodResponse>\n";
  return out;
}

}  // namespace taskmaster::inline v0::xmlrpc::detail
