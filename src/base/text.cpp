#include "catdog/base/text.h"

#include <algorithm>
#include <cstdint>
#include <limits>

namespace catdog {

namespace {

// The length of the valid UTF-8 sequence starting at `at` (overlong forms,
// surrogates and code points past U+10FFFF are invalid), or 0.
size_t utf8_sequence_length(std::string_view bytes, size_t at, uint32_t& code_point) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(bytes[at + i]); };
  const unsigned char lead = byte(0);
  size_t length = 0;
  uint32_t minimum = 0;
  if (lead < 0x80) return code_point = lead, 1;
  if (lead >= 0xC2 && lead <= 0xDF) length = 2, code_point = lead & 0x1F, minimum = 0x80;
  else if (lead >= 0xE0 && lead <= 0xEF) length = 3, code_point = lead & 0x0F, minimum = 0x800;
  else if (lead >= 0xF0 && lead <= 0xF4) length = 4, code_point = lead & 0x07, minimum = 0x10000;
  else return 0;
  if (bytes.size() - at < length) return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    code_point = code_point << 6 | (byte(i) & 0x3F);
  }
  const bool surrogate = code_point >= 0xD800 && code_point <= 0xDFFF;
  return code_point < minimum || surrogate || code_point > 0x10FFFF ? 0 : length;
}

bool is_control(uint32_t code_point) { return code_point < 0x20 || (code_point >= 0x7F && code_point <= 0x9F); }

}  // namespace

bool is_printable_text(std::string_view bytes) {
  for (size_t at = 0; at < bytes.size();) {
    uint32_t code_point = 0;
    const size_t length = utf8_sequence_length(bytes, at, code_point);
    if (length == 0 || is_control(code_point)) return false;
    at += length;
  }
  return true;
}

std::optional<int64_t> parse_whole_number(std::string_view text) {
  const bool negative = !text.empty() && text[0] == '-';
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) text.remove_prefix(1);
  if (text.empty()) return std::nullopt;
  constexpr uint64_t kMagnitudeLimit = uint64_t{1} << 63;  // -2^63 .. 2^63 - 1
  uint64_t magnitude = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<uint64_t>(c - '0');
    magnitude = magnitude > (kMagnitudeLimit - digit) / 10 ? kMagnitudeLimit : magnitude * 10 + digit;
  }
  if (negative)
    return magnitude >= kMagnitudeLimit ? std::numeric_limits<int64_t>::min() : -static_cast<int64_t>(magnitude);
  return magnitude >= kMagnitudeLimit ? std::numeric_limits<int64_t>::max() : static_cast<int64_t>(magnitude);
}

std::string escape_text(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string escaped;
  escaped.reserve(bytes.size());
  for (size_t at = 0; at < bytes.size();) {
    uint32_t code_point = 0;
    const size_t length = utf8_sequence_length(bytes, at, code_point);
    if (length > 0 && !is_control(code_point)) {
      if (code_point == '\\') escaped += '\\';
      escaped.append(bytes.substr(at, length));
      at += length;
      continue;
    }
    // A control character: each of its bytes; an invalid byte: that byte alone.
    for (const size_t end = at + (length > 0 ? length : 1); at < end; ++at) {
      const auto byte = static_cast<unsigned char>(bytes[at]);
      escaped += "\\x";
      escaped += kHex[byte >> 4];
      escaped += kHex[byte & 0xF];
    }
  }
  return escaped;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  // Optimal string alignment: Levenshtein plus the swap of two neighbours.
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t replace = d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, replace});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

std::string closest_match(std::string_view word, const std::vector<std::string>& candidates) {
  const size_t allowed = std::max<size_t>(1, word.size() / 3);
  std::string best;
  size_t best_distance = allowed + 1;
  for (const auto& candidate : candidates) {
    const size_t distance = edit_distance(word, candidate);
    if (distance < best_distance) best = candidate, best_distance = distance;
  }
  return best;
}

}  // namespace catdog
