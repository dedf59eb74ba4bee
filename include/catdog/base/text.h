#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace catdog {

// File names are bytes. Printed raw, a newline splits a result line and an
// escape sequence drives the terminal; JSON cannot hold invalid UTF-8 at all
// (nlohmann::json throws on dump). escape_text makes any bytes safe for one
// line of plain output and for a JSON string, losslessly: valid UTF-8
// printable text is kept as is; control characters (C0, DEL, and C1 written
// as UTF-8) and bytes that are not part of valid UTF-8 become \xNN (lowercase
// hex), and a backslash becomes \\, so the original bytes can be recovered.
std::string escape_text(std::string_view bytes);

// Valid UTF-8 without control characters: text escape_text keeps as it is
// (a backslash aside), fit for a name printed in a table or a message.
bool is_printable_text(std::string_view bytes);

// A whole number as flags and environment variables give it: decimal digits,
// optionally signed. Its value, clamped to int64's range (99999999999999999999
// is a number too large, not malformed); nullopt for anything else ("2.5",
// "1e9", "", " 3").
std::optional<int64_t> parse_whole_number(std::string_view text);

// Edits (insert, delete, replace a character, or swap two neighbours) that
// turn `a` into `b`: "trian" -> "train" is 1.
size_t edit_distance(std::string_view a, std::string_view b);
// The candidate a typo most likely meant: the nearest by edit_distance within
// a third of the word's length (at least 1; ties: the first), else "".
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace catdog
