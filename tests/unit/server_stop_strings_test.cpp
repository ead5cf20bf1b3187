// Stop strings over streamed text: whatever the chunking, the emitted text is exactly the text
// before the first stop string, and no emitted prefix ever contains part of a stop string that
// then completes.
#include <gtest/gtest.h>

#include <random>

#include "server/stop_strings.h"

namespace hearth::server {
namespace {

// The reference: cut the whole text at the earliest occurrence of any stop string.
std::string expected_output(const std::string& text, const std::vector<std::string>& stops) {
  size_t cut = std::string::npos;
  for (auto& s : stops)
    if (!s.empty()) cut = std::min(cut, text.find(s));
  return cut == std::string::npos ? text : text.substr(0, cut);
}

struct Outcome {
  std::string emitted;
  bool stopped = false;
};

Outcome feed(const std::string& text, const std::vector<std::string>& stops,
             const std::vector<size_t>& cuts) {
  StopStringMatcher m(stops);
  Outcome r;
  size_t at = 0;
  for (size_t c : cuts) {
    auto res = m.push(std::string_view(text).substr(at, c - at));
    r.emitted += res.text;
    r.stopped = r.stopped || res.stopped;
    at = c;
  }
  auto res = m.push(std::string_view(text).substr(at));
  r.emitted += res.text;
  r.stopped = r.stopped || res.stopped;
  if (!r.stopped) r.emitted += m.flush();
  EXPECT_EQ(m.released(), r.emitted.size());
  return r;
}

TEST(StopStrings, HoldsBackAPossibleStartThenReleasesIt) {
  StopStringMatcher m({"STOP"});
  auto a = m.push("hello ST");
  EXPECT_EQ(a.text, "hello ");  // "ST" could begin "STOP"
  EXPECT_FALSE(a.stopped);
  auto b = m.push("ART");
  EXPECT_EQ(b.text, "START");  // it did not
  auto c = m.push(" and S");
  EXPECT_EQ(c.text, " and ");
  auto d = m.push("TO");
  EXPECT_EQ(d.text, "");
  auto e = m.push("P! more");
  EXPECT_EQ(e.text, "");
  EXPECT_TRUE(e.stopped);
  EXPECT_EQ(m.push("anything").text, "");
  EXPECT_EQ(m.flush(), "");
}

TEST(StopStrings, EarliestOfSeveralWinsAndFlushReturnsTheTail) {
  StopStringMatcher m({"world", "lo w", "xyz"});
  auto r = m.push("hello world");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "hel");
  StopStringMatcher n({"xyz"});
  EXPECT_EQ(n.push("abcx").text, "abc");
  EXPECT_EQ(n.push("y").text, "");
  EXPECT_EQ(n.flush(), "xy");  // generation ended: the held text was not a stop after all
}

TEST(StopStrings, NoStopsPassesEverythingThrough) {
  StopStringMatcher m({"", ""});
  EXPECT_FALSE(m.active());
  EXPECT_EQ(m.push("abc").text, "abc");
  EXPECT_EQ(m.flush(), "");
}

TEST(StopStrings, MultibyteStopStrings) {
  // UTF-8 stop strings split inside a character by the chunking.
  const std::string text = "caf\xC3\xA9 na\xC3\xAFve \xE2\x82\xAC 5";
  const std::vector<std::string> stops = {"\xC3\xAFve", "\xE2\x82\xAC"};
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    Outcome r = feed(text, stops, {cut});
    EXPECT_EQ(r.emitted, "caf\xC3\xA9 na");
    EXPECT_TRUE(r.stopped);
  }
}

TEST(StopStrings, RandomChunkingsMatchTheReference) {
  std::mt19937 rng(5);
  const std::string alphabet = "abAB \n";
  for (int trial = 0; trial < 3000; ++trial) {
    std::string text;
    const int len = static_cast<int>(rng() % 40);
    for (int i = 0; i < len; ++i) text += alphabet[rng() % alphabet.size()];
    std::vector<std::string> stops;
    const int ns = static_cast<int>(rng() % 3);
    for (int k = 0; k < ns; ++k) {
      std::string s;
      const int sl = 1 + static_cast<int>(rng() % 4);
      for (int i = 0; i < sl; ++i) s += alphabet[rng() % 3];
      stops.push_back(s);
    }
    std::vector<size_t> cuts;
    for (size_t i = 1; i < text.size(); ++i)
      if (rng() % 3 == 0) cuts.push_back(i);
    const std::string want = expected_output(text, stops);
    Outcome r = feed(text, stops, cuts);
    ASSERT_EQ(r.emitted, want) << "text '" << text << "'";
    ASSERT_EQ(r.stopped, want.size() != text.size());
  }
}

TEST(StopStrings, EmittedTextIsAlwaysAPrefixOfTheFinalOutput) {
  // Streaming safety: nothing sent early is ever part of a stop string that later completes.
  const std::string text = "xxabcabcdxx";
  const std::vector<std::string> stops = {"abcd"};
  StopStringMatcher m(stops);
  std::string emitted;
  for (char c : text) {
    emitted += m.push(std::string(1, c)).text;
    ASSERT_EQ(emitted, std::string("xxabc").substr(0, emitted.size()));
  }
  EXPECT_EQ(emitted, "xxabc");
  EXPECT_TRUE(m.stopped());
}

TEST(StopStrings, RemembersWhichStopMatched) {
  StopStringMatcher m({"xyz", "END", "ab"});
  EXPECT_EQ(m.matched(), "");
  EXPECT_EQ(m.push("text E").text, "text ");
  auto r = m.push("ND ab");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(m.matched(), "END");  // the earliest in the text, not the first in the list
}

}  // namespace
}  // namespace hearth::server
