// The library's one error convention: fallible calls return a Result, which holds either the value or an
// Error (a std::error_code for programs to test, and a detail in words for people to read).
#pragma once

#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace taskmaster::inline v0 {

// taskmaster's own failures; system call failures keep std::generic_category.
enum class Errc {
  no_such_program = 1,  // a name that is no program, instance or "all"
  already_exists,       // add() of a name that is taken
  invalid_spec,         // a ProgramSpec whose validate() is not empty
  shutting_down,        // a start after shutdown() began
  several_instances,    // a name that must be one instance names a program of several ("web" for web:0, web:1)
  not_running,          // input for an instance that has no process
  no_input,             // input for a program with neither tty nor stdin
  input_full,           // input past the bound on what a program has not read yet (64 KiB)
  keyboard_elsewhere,   // input from an attachment while another one holds the program's keyboard
};

const std::error_category& category() noexcept;

inline std::error_code make_error_code(Errc e) noexcept { return {static_cast<int>(e), category()}; }

struct Error {
  std::error_code code;  // for programs to test
  std::string detail;    // for people: the whole story, "cannot listen on /run/x.sock: Permission denied"

  // The detail, or the code's message when there is none.
  [[nodiscard]] std::string str() const { return detail.empty() ? code.message() : detail; }
};

// A value or the error that prevented it, in the shape of C++23's std::expected. Result<T> is the library's
// convention: the error is an Error. Result<> (no value) is success or an Error.
template <class T, class E>
class [[nodiscard]] Expected {
  static_assert(!std::is_convertible_v<E, T> && !std::is_convertible_v<T, E>, "a value must not pass for an error");

 public:
  Expected() requires std::is_same_v<T, std::monostate> = default;
  Expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Expected(E error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  [[nodiscard]] T& value() & { return std::get<0>(v_); }
  [[nodiscard]] const T& value() const& { return std::get<0>(v_); }
  [[nodiscard]] T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  [[nodiscard]] E& error() & { return std::get<1>(v_); }
  [[nodiscard]] const E& error() const& { return std::get<1>(v_); }

 private:
  std::variant<T, E> v_;
};

template <class T = std::monostate>
using Result = Expected<T, Error>;

}  // namespace taskmaster::inline v0

template <>
struct std::is_error_code_enum<taskmaster::Errc> : std::true_type {};
