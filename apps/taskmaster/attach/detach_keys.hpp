// The key sequence that detaches from a program (`--detach-keys`, spelled as docker spells it), and the
// filter that finds it in what the user types.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace cli {

inline constexpr std::string_view kDefaultDetachKeys = "ctrl-]";

// "ctrl-]", "ctrl-p,ctrl-q", "ctrl-a".."ctrl-z", "ctrl-@", "ctrl-[", "ctrl-\", "ctrl-]", "ctrl-^", "ctrl-_",
// or a single letter, separated by commas: the bytes the terminal sends for them. Nothing for a spelling that
// is not one of these (the caller says which keys are known); the text of what was wrong in `problem`.
[[nodiscard]] std::optional<std::string> parseDetachKeys(std::string_view spec, std::string* problem = nullptr);

// Finds the detach sequence in the keys as they come, in chunks cut anywhere. The start of the sequence is
// held back until the next key says whether it goes on; if it does not, the held keys are passed on in
// their place, so a program still gets a lone Ctrl-P when the sequence is Ctrl-P,Ctrl-Q.
class DetachKeyFilter {
 public:
  explicit DetachKeyFilter(std::string sequence) : sequence_(std::move(sequence)) {}

  struct Result {
    std::string forward;  // the keys for the program, in order
    bool detach = false;  // the whole sequence was typed; what came after it in the chunk is dropped
  };
  [[nodiscard]] Result feed(std::string_view keys);
  // The keys held back (a beginning of the sequence), to pass on at the end of the input.
  [[nodiscard]] std::string flush() { return std::exchange(held_, {}); }

 private:
  std::string sequence_;
  std::string held_;  // a proper prefix of sequence_
};

}  // namespace cli
