// The keys typed while attached (apps/taskmaster/attach/): the detach sequence as docker spells it, and the
// line editing for a program that reads a pipe.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "attach/detach_keys.hpp"
#include "attach/line_editor.hpp"

using cli::DetachKeyFilter;
using cli::LineEditor;
using cli::parseDetachKeys;

TEST_CASE("parseDetachKeys: docker's spellings are the bytes a terminal sends") {
  struct Case {
    const char* spec;
    std::string bytes;
  };
  const Case cases[] = {
      {"ctrl-]", "\x1d"},          {"ctrl-p,ctrl-q", "\x10\x11"}, {"ctrl-a", "\x01"},
      {"ctrl-z", "\x1a"},          {"ctrl-@", std::string(1, '\0')}, {"ctrl-[", "\x1b"},
      {"ctrl-\\", "\x1c"},         {"ctrl-^", "\x1e"},          {"ctrl-_", "\x1f"},
      {"q", "q"},                  {"ctrl-x,X", "\x18X"},        {"a,b,c", "abc"},
  };
  for (const auto& c : cases) {
    INFO("spec: ", c.spec);
    auto parsed = parseDetachKeys(c.spec);
    REQUIRE(parsed.has_value());
    CHECK(*parsed == c.bytes);
  }
  CHECK(parseDetachKeys(cli::kDefaultDetachKeys) == std::optional<std::string>("\x1d"));
}

TEST_CASE("parseDetachKeys: anything else is refused, and says which key") {
  for (const char* spec : {"", "ctrl-", "ctrl-1", "ctrl-pq", "ctrl-p,", ",ctrl-p", "alt-x", "1", "ctrl-P", "ab"}) {
    INFO("spec: '", spec, "'");
    std::string problem;
    CHECK_FALSE(parseDetachKeys(spec, &problem).has_value());
    CHECK_FALSE(problem.empty());
  }
  std::string problem;
  CHECK_FALSE(parseDetachKeys("ctrl-p,alt-q", &problem));
  CHECK(problem.find("'alt-q'") != std::string::npos);
}

TEST_CASE("DetachKeyFilter: the default key detaches at once, and what follows it is not sent") {
  DetachKeyFilter filter("\x1d");
  auto r = filter.feed("ls\r");
  CHECK(r.forward == "ls\r");
  CHECK_FALSE(r.detach);
  r = filter.feed("ab\x1d" "cd");
  CHECK(r.forward == "ab");
  CHECK(r.detach);
}

TEST_CASE("DetachKeyFilter: Ctrl-C and Ctrl-Z go to the program as bytes") {
  DetachKeyFilter filter("\x1d");
  auto r = filter.feed("\x03\x1a\x04");
  CHECK(r.forward == "\x03\x1a\x04");
  CHECK_FALSE(r.detach);
}

TEST_CASE("DetachKeyFilter: a beginning of the sequence is held, then sent when the next key does not go on") {
  DetachKeyFilter filter("\x10\x11");  // ctrl-p,ctrl-q
  auto r = filter.feed("x\x10");
  CHECK(r.forward == "x");
  CHECK_FALSE(r.detach);
  r = filter.feed("y");  // a lone Ctrl-P: the program gets it, before the y
  CHECK(r.forward == "\x10y");
  CHECK_FALSE(r.detach);
  r = filter.feed("\x10");
  CHECK(r.forward.empty());
  r = filter.feed("\x11");  // in another chunk: still the sequence
  CHECK(r.forward.empty());
  CHECK(r.detach);
}

TEST_CASE("DetachKeyFilter: a key that breaks the sequence may start it again") {
  DetachKeyFilter filter("\x10\x10\x11");  // ctrl-p,ctrl-p,ctrl-q
  auto r = filter.feed("\x10\x10\x10\x11");
  CHECK(r.forward == "\x10");
  CHECK(r.detach);
  DetachKeyFilter twice("\x10\x11");
  r = twice.feed("\x10\x10\x11");
  CHECK(r.forward == "\x10");
  CHECK(r.detach);
}

TEST_CASE("DetachKeyFilter: flush gives back the held keys at the end of the input") {
  DetachKeyFilter filter("\x10\x11");
  CHECK(filter.feed("a\x10").forward == "a");
  CHECK(filter.flush() == "\x10");
  CHECK(filter.flush().empty());
}

TEST_CASE("LineEditor: a line goes to the program when Enter ends it, echoed as typed") {
  LineEditor editor;
  auto r = editor.feed("hel");
  CHECK(r.input.empty());
  CHECK(r.echo == "hel");
  r = editor.feed("lo\r");
  CHECK(r.input == "hello\n");
  CHECK(r.echo == "lo\n");
  CHECK(editor.line().empty());
}

TEST_CASE("LineEditor: erasing, Ctrl-U, Ctrl-C and Ctrl-D") {
  LineEditor editor;
  auto r = editor.feed("ab\x7f" "c\n");
  CHECK(r.input == "ac\n");
  CHECK(r.echo == "ab\b \bc\n");
  r = editor.feed("caf\xc3\xa9\x7f" "e\r");  // one erase takes the whole é
  CHECK(r.input == "cafe\n");
  r = editor.feed("oops\x15ok\r");
  CHECK(r.input == "ok\n");
  r = editor.feed("dropped\x03kept\r");
  CHECK(r.input == "kept\n");
  CHECK(r.echo.find("^C\n") != std::string::npos);
  r = editor.feed("partial\x04");
  CHECK(r.input == "partial");
  r = editor.feed("\x7f\x7f\x01\x1b");  // nothing to erase; other control keys are ignored
  CHECK(r.input.empty());
  CHECK(r.echo.empty());
}
