// Internal: Python's %-formatting with a mapping, as supervisord expands its values: `%(name)s`,
// `%(process_num)02d`, flags, width and precision, and `%%` for a percent sign.
#pragma once

#include "private.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>

#include "config/reader.hpp"

namespace taskmaster::inline v0::detail {

// What names expand to: text (here, program_name, ENV_HOME...) or a number (process_num, numprocs).
using ExpansionValue = std::variant<std::string, std::int64_t>;
using Expansions = std::map<std::string, ExpansionValue, std::less<>>;

// `format` with each `%(name)...` replaced by its value converted as Python's `%` operator does (s, r, a, d,
// i, u, o, x, X, e, E, f, F, g, G and c; flags `#0- +`; width; precision). A name that `names` lacks, a bad
// conversion or a lone '%' is a Bad without a place (the caller knows it), whose message names them.
[[nodiscard]] Checked<std::string> expand(std::string_view format, const Expansions& names);

}  // namespace taskmaster::inline v0::detail
