#pragma once
#include <string>

namespace catdog {

// File names are bytes, JSON text is UTF-8. A valid UTF-8 string is
// returned as is; any other gets every backslash doubled and every byte
// that is not part of a valid UTF-8 sequence written as \xNN (Python's
// "backslashreplace"), so the original bytes can be recovered and a JSON
// writer never fails on a file name.
std::string json_text(const std::string& bytes);

// Whether json_text changes `bytes`.
bool needs_escaping(const std::string& bytes);

}  // namespace catdog
