// The one table of names of an enum: what the CLI accepts, what settings.json
// and the logs say, parsed and printed through the same entries.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "catdog/base/error.h"

namespace catdog {

template <typename Enum>
struct Named {
  Enum value;
  const char* name;
};

// "a, b or c": the names, for messages and help.
template <typename Enum, size_t N>
std::string choices_text(const Named<Enum> (&table)[N]) {
  std::string text;
  for (size_t i = 0; i < N; ++i) text += (i == 0 ? "" : i + 1 < N ? ", " : " or ") + std::string(table[i].name);
  return text;
}

template <typename Enum, size_t N>
std::vector<std::string> names_of(const Named<Enum> (&table)[N]) {
  std::vector<std::string> names;
  for (const auto& entry : table) names.emplace_back(entry.name);
  return names;
}

// The entry called `name`; Error naming `what` and the choices otherwise.
template <typename Enum, size_t N>
Enum parse_named(const Named<Enum> (&table)[N], const std::string& name, const std::string& what) {
  for (const auto& entry : table)
    if (name == entry.name) return entry.value;
  throw Error("unknown " + what + " '" + name + "': choose " + choices_text(table));
}

template <typename Enum, size_t N>
const char* name_of(const Named<Enum> (&table)[N], Enum value) {
  for (const auto& entry : table)
    if (entry.value == value) return entry.name;
  return "?";
}

}  // namespace catdog
