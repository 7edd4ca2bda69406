#include "xmlrpc/auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cctype>
#include <string>

#include <fmt/format.h>

namespace taskmaster::inline v0::xmlrpc::detail {
namespace {

// Equal, in a time that does not depend on where the texts differ.
bool sameText(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool isBase64(std::string_view text) {
  if (text.size() % 4 != 0) return false;
  const auto padding = text.find('=');
  if (padding != std::string_view::npos && (padding + 2 < text.size() || text.substr(padding).find_first_not_of('=') !=
                                                                               std::string_view::npos))
    return false;
  for (char c : text.substr(0, padding)) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/') return false;
  }
  return true;
}

std::string decodeBase64(std::string_view text) {
  std::string out(text.size() / 4 * 3, '\0');
  const int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                     reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  // EVP_DecodeBlock counts the padding as zero bytes.
  std::size_t size = length < 0 ? 0 : static_cast<std::size_t>(length);
  for (auto at = text.rbegin(); at != text.rend() && *at == '=' && size > 0; ++at) --size;
  out.resize(size);
  return out;
}

}  // namespace

std::string sha1Hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha1(), nullptr) != 1) return {};
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

Access authorize(std::string_view authorization, const std::string& username, const std::string& password) {
  const auto space = authorization.find(' ');
  if (space == std::string_view::npos) return Access::denied;
  std::string scheme(authorization.substr(0, space));
  for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "basic") return Access::denied;
  auto encoded = authorization.substr(space + 1);
  while (!encoded.empty() && encoded.front() == ' ') encoded.remove_prefix(1);
  while (!encoded.empty() && encoded.back() == ' ') encoded.remove_suffix(1);
  if (!isBase64(encoded)) return Access::malformed;
  const auto credentials = decodeBase64(encoded);
  const auto colon = credentials.find(':');
  if (colon == std::string::npos) return Access::denied;
  const std::string_view user = std::string_view(credentials).substr(0, colon);
  const std::string_view given = std::string_view(credentials).substr(colon + 1);
  // A stored "{SHA}..." is compared with the SHA-1 of the password given, whatever its case.
  bool passwordOk = false;
  if (password.starts_with("{SHA}")) {
    std::string stored = password.substr(5);
    for (auto& c : stored) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    passwordOk = sameText(sha1Hex(given), stored);
  } else {
    passwordOk = sameText(given, password);
  }
  return sameText(user, username) && passwordOk ? Access::granted : Access::denied;
}

}  // namespace taskmaster::inline v0::xmlrpc::detail
