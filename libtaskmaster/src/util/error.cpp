#include <taskmaster/error.hpp>

#include <string>

namespace taskmaster::inline v0 {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "taskmaster"; }
  std::string message(int code) const override {
    switch (static_cast<Errc>(code)) {
      case Errc::no_such_program: return "no such program";
      case Errc::already_exists: return "program already exists";
      case Errc::invalid_spec: return "invalid program specification";
      case Errc::shutting_down: return "shutting down";
      case Errc::several_instances: return "a program of several instances: name one";
      case Errc::not_running: return "not running";
      case Errc::no_input: return "no input (neither tty nor stdin)";
      case Errc::input_full: return "input not read by the program (64 KiB waiting)";
      case Errc::keyboard_elsewhere: return "another client has the keyboard";
    }
    return "unknown error";
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const Category instance;
  return instance;
}

}  // namespace taskmaster::inline v0
