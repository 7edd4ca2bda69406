#pragma once

#include <system_error>

namespace taskmaster {

// taskmaster's own failures; system call failures keep std::generic_category.
enum class Errc {
  no_such_program = 1,  // a name that is no program, instance or "all"
  already_exists,       // add() of a name that is taken
  invalid_spec,         // a ProgramSpec whose validate() is not empty
  shutting_down,        // a start after shutdown() began
};

const std::error_category& category() noexcept;

inline std::error_code make_error_code(Errc e) noexcept { return {static_cast<int>(e), category()}; }

}  // namespace taskmaster

template <>
struct std::is_error_code_enum<taskmaster::Errc> : std::true_type {};
