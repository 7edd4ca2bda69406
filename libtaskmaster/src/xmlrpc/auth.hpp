// Internal: the Basic authentication of the XML-RPC server, as supervisord checks it (a plain password, or
// "{SHA}" and the hex SHA-1 of the password).
#pragma once

#include <string>
#include <string_view>

namespace taskmaster::inline v0::xmlrpc::detail {

enum class Access {
  granted,
  denied,     // no credentials, another scheme, or the wrong ones: 401
  malformed,  // Basic with a value that is not base64: 400
};

// `authorization`: the request's Authorization header (empty when it has none).
[[nodiscard]] Access authorize(std::string_view authorization, const std::string& username,
                               const std::string& password);

// The lowercase hex SHA-1 of `text`.
[[nodiscard]] std::string sha1Hex(std::string_view text);

}  // namespace taskmaster::inline v0::xmlrpc::detail
