// Internal: the text of supervisord's INI files cut into sections and keys, by the rules of Python's
// RawConfigParser as supervisord configures it (inline comments, not strict). Values are raw: expansions are
// the reader's (ini_expand.hpp).
#pragma once

#include "private.hpp"

#include <string>
#include <string_view>
#include <vector>

#include "config/reader.hpp"

namespace taskmaster::inline v0::detail {

// One key's value: continuation lines joined with '\n', trailing blank lines dropped.
struct IniValue {
  std::string key;  // lower case, as supervisord folds keys
  std::string text;
  std::string file;  // where it was written: included files' values carry their own file
  int line = 0;      // of the key
};

struct IniSection {
  std::string name;  // as written between the brackets (section names keep their case)
  std::string file;  // where it first appeared
  int line = 0;
  std::vector<IniValue> values;  // in order of first appearance; a repeated key replaces the value in place

  [[nodiscard]] const IniValue* find(std::string_view key) const;
};

// Every section read so far, across the main file and its includes: a section written twice (in one file or
// two) is one section, its later keys replacing the earlier ones, as supervisord's parser does.
struct IniDocument {
  std::vector<IniSection> sections;  // in order of first appearance
  IniSection defaults;               // [DEFAULT]: its keys are every section's defaults

  [[nodiscard]] const IniSection* find(std::string_view name) const;
  // The value of `key` in `section`, else in [DEFAULT]; nullptr when neither has it.
  [[nodiscard]] const IniValue* get(const IniSection& section, std::string_view key) const;
};

// Reads `text` (the file `file`) into `document`. Lines that are neither a section, a key nor a continuation
// become errors in `errors` (with their line) and are skipped; the rest is still read.
void parseIni(std::string_view text, std::string_view file, IniDocument& document, std::vector<Bad>& errors);

}  // namespace taskmaster::inline v0::detail
