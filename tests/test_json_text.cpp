#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "catdog/json_text.h"

namespace catdog {
namespace {

TEST(JsonText, Utf8PassesUnchanged) {
  for (const std::string text : {"", "cat.1.jpg", "caf\xc3\xa9/\xe7\x8c\xab.jpg", "a\\b", "\xf0\x9f\x90\x88"}) {
    EXPECT_FALSE(needs_escaping(text)) << text;
    EXPECT_EQ(json_text(text), text);
  }
}

TEST(JsonText, OtherBytesAreEscapedSoTheJsonWriterNeverFails) {
  const std::string latin1 = "caf\xe9\\x.jpg";  // Latin-1 e-acute, and a backslash
  EXPECT_TRUE(needs_escaping(latin1));
  EXPECT_EQ(json_text(latin1), "caf\\xE9\\\\x.jpg");
  EXPECT_THROW(nlohmann::json(latin1).dump(), nlohmann::json::exception);
  EXPECT_NO_THROW(nlohmann::json(json_text(latin1)).dump());
  // Truncated sequences, overlong forms, surrogates and bytes above U+10FFFF.
  for (const std::string bad : {"\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff"}) {
    EXPECT_TRUE(needs_escaping(bad)) << nlohmann::json(json_text(bad)).dump();
    EXPECT_NO_THROW(nlohmann::json(json_text(bad)).dump());
  }
  EXPECT_EQ(json_text("\xc3 ok \xc3\xa9"), "\\xC3 ok \xc3\xa9");  // a valid sequence after a bad byte stays
}

}  // namespace
}  // namespace catdog
