// Internal: a value or an error of any type, in the shape of C++23's std::expected, for the failures that
// Result (a value or an error code) does not fit: a problem with its place in a file, a launch failure in words.
#pragma once

#include "private.hpp"

#include <type_traits>
#include <utility>
#include <variant>

namespace taskmaster::inline v0::detail {

template <class T, class E>
class [[nodiscard]] Expected {
  static_assert(!std::is_convertible_v<E, T> && !std::is_convertible_v<T, E>, "a value must not pass for an error");

 public:
  Expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Expected(E error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const noexcept { return v_.index() == 0; }
  [[nodiscard]] T& operator*() { return std::get<0>(v_); }
  [[nodiscard]] T* operator->() { return &std::get<0>(v_); }
  [[nodiscard]] E& error() { return std::get<1>(v_); }

 private:
  std::variant<T, E> v_;
};

}  // namespace taskmaster::inline v0::detail
