// UTF-8 replacement policy. Expected outputs are Python 3's bytes.decode("utf-8", "replace").
#include <gtest/gtest.h>

#include "tokenizer/utf8.h"

namespace hearth {
namespace {

#define R "\xEF\xBF\xBD"  // U+FFFD

struct Case {
  std::string in, out;
};

const std::vector<Case>& python_cases() {
  static const std::vector<Case> cases = {
      {"\xff", R},
      {"a\x80"
       "b",
       "a" R "b"},
      {"\xe2\x82", R},
      {"\xe2\x82\xac", "\xe2\x82\xac"},
      {"\xe2\x82x", R "x"},
      {"\xf0\x9f\x98", R},
      {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},
      {"\xf0\x80\x80", R R R},
      {"\xed\xa0\x80", R R R},        // an encoded surrogate
      {"\xc0\xaf", R R},              // overlong
      {"\xf4\x90\x80\x80", R R R R},  // above U+10FFFF
      {"\xf0(\x8c\xbc", R "(" R R},
      {"\xc3", R},
      {"\xe0\x80\x80", R R R},
      {"\xf5\x80", R R},
      {"\xc3\xa9\xff\xc3", "\xc3\xa9" R R},
      {"\xef\xbb\xbf", "\xef\xbb\xbf"},
      {"plain ascii", "plain ascii"},
      {std::string("nul\0inside", 10), std::string("nul\0inside", 10)},
  };
  return cases;
}

TEST(TokenizerUtf8, SanitizeMatchesPythonReplace) {
  for (const Case& c : python_cases()) {
    EXPECT_EQ(utf8::sanitize(c.in), c.out) << c.in;
    EXPECT_EQ(utf8::is_valid(c.in), c.in == c.out) << c.in;
  }
}

TEST(TokenizerUtf8, StreamingInEveryChunkingEqualsOneShot) {
  for (const Case& c : python_cases()) {
    // Feed the input in two parts at every split point: the streamed output plus the final
    // replacement of the held tail must equal the one-shot result.
    for (size_t cut = 0; cut <= c.in.size(); ++cut) {
      std::string pending, out;
      for (std::string part : {c.in.substr(0, cut), c.in.substr(cut)}) {
        pending += part;
        size_t used = utf8::sanitize_stream(pending, out);
        EXPECT_TRUE(utf8::is_valid(out));
        pending.erase(0, used);
        EXPECT_LE(pending.size(), 3u);
      }
      out += utf8::sanitize(pending);
      EXPECT_EQ(out, c.out) << c.in << " cut at " << cut;
    }
  }
}

TEST(TokenizerUtf8, ValidPrefixStopsAtFirstBadByte) {
  EXPECT_EQ(utf8::valid_prefix("abcdefghij\xc3\xa9klmnop\xff"), 18u);
  EXPECT_EQ(utf8::valid_prefix("0123456789abcdef\xe2\x82"), 16u);
  EXPECT_EQ(utf8::valid_prefix(""), 0u);
}

TEST(TokenizerUtf8, AppendEncodesEveryLength) {
  std::string s;
  for (uint32_t cp : {0x41u, 0xE9u, 0x20ACu, 0x1F600u, 0x10FFFFu}) utf8::append(s, cp);
  EXPECT_EQ(s, "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf");
}

#undef R

}  // namespace
}  // namespace hearth
