#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "catdog/base/text.h"

namespace catdog {
namespace {

TEST(Text, PrintableUtf8StaysAsItIs) {
  EXPECT_EQ(escape_text("cat/IMG_0001.jpg"), "cat/IMG_0001.jpg");
  EXPECT_EQ(escape_text("chat/été 😺.jpg"), "chat/été 😺.jpg");
  EXPECT_EQ(escape_text(""), "");
}

TEST(Text, ControlCharactersBecomeHexEscapes) {
  EXPECT_EQ(escape_text("a\nb\tc\rd"), "a\\x0ab\\x09c\\x0dd");
  EXPECT_EQ(escape_text("\x1b[31mred"), "\\x1b[31mred");  // no terminal colours
  EXPECT_EQ(escape_text(std::string("nul\0x", 5)), "nul\\x00x");
  EXPECT_EQ(escape_text("del\x7f"), "del\\x7f");
  EXPECT_EQ(escape_text("csi\xc2\x9b" "2J"), "csi\\xc2\\x9b2J");  // U+009B: a C1 control, as UTF-8
}

TEST(Text, InvalidUtf8BytesAreEscapedOneByOne) {
  EXPECT_EQ(escape_text("latin1 \xe9t\xe9"), "latin1 \\xe9t\\xe9");
  EXPECT_EQ(escape_text("\xc0\xaf"), "\\xc0\\xaf");          // overlong '/'
  EXPECT_EQ(escape_text("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a surrogate
  EXPECT_EQ(escape_text("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // past U+10FFFF
  EXPECT_EQ(escape_text("cut \xe2\x82"), "cut \\xe2\\x82");  // sequence cut short at the end
  EXPECT_EQ(escape_text("\xe2\x82" "A"), "\\xe2\\x82" "A");   // ... or by a plain byte
}

TEST(Text, BackslashIsEscapedSoEveryNameStaysDistinct) {
  EXPECT_EQ(escape_text("a\\x0a"), "a\\\\x0a");
  EXPECT_NE(escape_text("a\\x0a"), escape_text("a\n"));
}

// The abort in `predict --json` on a non-UTF-8 file name: escaped text dumps.
TEST(Text, EscapedBytesAlwaysMakeValidJson) {
  std::string every_byte;
  for (int byte = 0; byte < 256; ++byte) every_byte += static_cast<char>(byte);
  const nlohmann::json json = {{"file", escape_text(every_byte)}};
  const auto text = json.dump();
  EXPECT_EQ(nlohmann::json::parse(text).at("file").get<std::string>(), escape_text(every_byte));
  EXPECT_EQ(text.find('\n'), std::string::npos);
}

TEST(Text, PrintableTextIsValidUtf8WithoutControlCharacters) {
  EXPECT_TRUE(is_printable_text("chat/été 😺 a\\b"));
  EXPECT_FALSE(is_printable_text("dog\n"));
  EXPECT_FALSE(is_printable_text("do\x1b[31mg"));
  EXPECT_FALSE(is_printable_text("\xff"));
  EXPECT_FALSE(is_printable_text("\xc2\x85"));  // C1 NEL
}

// Issue 22, items 16 and 22: a number too large is still a whole number.
TEST(Text, WholeNumbersAreDigitsAndSaturateAtInt64) {
  EXPECT_EQ(parse_whole_number("42"), 42);
  EXPECT_EQ(parse_whole_number("+7"), 7);
  EXPECT_EQ(parse_whole_number("-3"), -3);
  EXPECT_EQ(parse_whole_number("99999999999"), 99999999999);
  EXPECT_EQ(parse_whole_number("9223372036854775807"), INT64_MAX);
  EXPECT_EQ(parse_whole_number("99999999999999999999999"), INT64_MAX);
  EXPECT_EQ(parse_whole_number("-9223372036854775808"), INT64_MIN);
  EXPECT_EQ(parse_whole_number("-99999999999999999999999"), INT64_MIN);
  for (const char* text : {"2.5", "1e9", "", "-", " 3", "3 ", "0x10", "nan", "inf"})
    EXPECT_EQ(parse_whole_number(text), std::nullopt) << text;
}

TEST(Text, EditDistanceCountsASwapAsOneEdit) {
  EXPECT_EQ(edit_distance("train", "train"), 0u);
  EXPECT_EQ(edit_distance("trian", "train"), 1u);
  EXPECT_EQ(edit_distance("--epoch", "--epochs"), 1u);
  EXPECT_EQ(edit_distance("", "eval"), 4u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

TEST(Text, ClosestMatchSuggestsOnlyNearNames) {
  const std::vector<std::string> subcommands = {"data", "summary", "train", "eval", "predict", "export", "serve"};
  EXPECT_EQ(closest_match("trian", subcommands), "train");
  EXPECT_EQ(closest_match("evla", subcommands), "eval");
  EXPECT_EQ(closest_match("predcit", subcommands), "predict");
  EXPECT_EQ(closest_match("frobnicate", subcommands), "");
  EXPECT_EQ(closest_match("--epoch", {"--model", "--epochs", "--eval"}), "--epochs");
}

}  // namespace
}  // namespace catdog
