// JSON-constrained decoding: whatever is sampled among the allowed tokens must parse as a JSON
// object (checked with nlohmann's parser, an independent implementation), every valid document
// must stay reachable byte by byte, and the document must close within the token budget.
#include "runtime/json_constraint.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "chat/tool_calls.h"
#include "tokenizer/load.h"

namespace hearth {
namespace {

constexpr int32_t kEnd = 1000;

// Every byte as its own token (ids 0..255, as in a byte-level BPE vocabulary), a handful of
// multi-byte tokens that cross grammar boundaries, holes, and an end token.
std::shared_ptr<const JsonVocab> small_vocab() {
  std::vector<std::string> bytes(kEnd + 1);
  for (int b = 0; b < 256; ++b)
    bytes[static_cast<size_t>(b)] = std::string(1, static_cast<char>(b));
  const std::vector<std::string> multi = {"{\"",
                                          "\":",
                                          "\": ",
                                          "\"}",
                                          "\",",
                                          ", \"",
                                          "}}",
                                          "]]",
                                          "}]",
                                          "],",
                                          "true",
                                          "false",
                                          "null",
                                          "tr",
                                          "ue",
                                          " \"",
                                          "\n",
                                          "\n\n",
                                          "  ",
                                          "abc",
                                          "abc\"",
                                          "\\n",
                                          "\\u00",
                                          "12",
                                          "3.5",
                                          "e+",
                                          "-0",
                                          "0.",
                                          "[{",
                                          "[[",
                                          "{}",
                                          "[]",
                                          "\"a\":1}",
                                          "Hello world",
                                          "\xC3\xA9",
                                          "\xE2\x82",
                                          "\xAC",
                                          "x\"y",
                                          "1,2",
                                          "nullx",
                                          "{\"name\": \"",
                                          "get",
                                          "_weather",
                                          "\", \"parameters\": ",
                                          "\"name",
                                          "{\"name\": \"get_weather\", \"parameters\": {}}"};
  for (size_t i = 0; i < multi.size(); ++i) bytes[300 + i] = multi[i];
  return std::make_shared<const JsonVocab>(bytes, std::vector<int32_t>{kEnd});
}

std::string decode(const JsonVocab& v, const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids)
    if (!v.is_end(id)) s += v.bytes(id);
  return s;
}

// Samples uniformly among the allowed tokens until the end token or the budget.
std::vector<int32_t> random_walk(std::shared_ptr<const JsonVocab> v, JsonConstraintOptions o,
                                 uint64_t seed) {
  JsonConstraint c(v, o);
  std::mt19937_64 rng(seed);
  std::vector<int32_t> out;
  while (static_cast<int>(out.size()) < o.max_tokens) {
    auto allowed = c.allowed_tokens();
    EXPECT_FALSE(allowed.empty());
    if (allowed.empty()) break;
    int32_t t = allowed[rng() % allowed.size()];
    c.accept(t);
    EXPECT_FALSE(c.broken());
    out.push_back(t);
    if (v->is_end(t)) break;
  }
  return out;
}

TEST(JsonConstraint, RandomWalksAlwaysParseAsObjects) {
  auto v = small_vocab();
  for (int budget : {2, 3, 5, 8, 16, 40, 120}) {
    for (uint64_t seed = 0; seed < 40; ++seed) {
      JsonConstraintOptions o;
      o.max_tokens = budget;
      auto ids = random_walk(v, o, seed * 7919 + static_cast<uint64_t>(budget));
      ASSERT_LE(static_cast<int>(ids.size()), budget);
      std::string text = decode(*v, ids);
      SCOPED_TRACE("budget " + std::to_string(budget) + " text: " + text);
      nlohmann::json j;
      ASSERT_NO_THROW(j = nlohmann::json::parse(text));
      EXPECT_TRUE(j.is_object());
    }
  }
}

TEST(JsonConstraint, FastPathsAgreeWithTryingEveryToken) {
  auto v = small_vocab();
  for (uint64_t seed = 0; seed < 30; ++seed) {
    JsonConstraintOptions o;
    o.max_tokens = 30;
    JsonConstraint c(v, o);
    std::mt19937_64 rng(seed);
    for (int step = 0; step < 30; ++step) {
      auto fast = c.allowed_tokens();
      std::vector<int32_t> slow;
      const int limit = o.max_tokens - step - 1;
      for (int32_t id = 0; id < v->size(); ++id) {
        if (v->is_end(id)) {
          if (c.complete()) slow.push_back(id);
          continue;
        }
        if (v->bytes(id).empty()) continue;
        JsonConstraint copy = c;
        copy.accept(id);
        if (!copy.broken() && copy.closing_cost() <= limit) slow.push_back(id);
      }
      ASSERT_EQ(fast, slow) << "seed " << seed << " step " << step;
      if (fast.empty() || c.complete()) break;
      c.accept(fast[rng() % fast.size()]);
    }
  }
}

bool allowed(JsonConstraint& c, int32_t id) {
  auto a = c.allowed_tokens();
  return std::binary_search(a.begin(), a.end(), id);
}

// Feeds text one byte token at a time, asserting each byte is allowed.
void feed_bytes(JsonConstraint& c, const std::string& text) {
  for (unsigned char b : text) {
    ASSERT_TRUE(allowed(c, b)) << "byte '" << b << "' refused after a prefix of " << text;
    c.accept(b);
    ASSERT_FALSE(c.broken());
  }
}

TEST(JsonConstraint, EveryValidObjectStaysReachable) {
  auto v = small_vocab();
  const std::vector<std::string> docs = {
      "{}",
      " {\"a\":1}",
      "{\"a\" : -0.5e+10, \"b\": [true, false, null, [], {}], \"c\": \"x\\\"y\\\\z\\u00e9\\n\"}",
      "{\"k\":[1,2.25,-3,0,1E5,1e-2,[[[\"deep\"]]]]}",
      "{\n  \"nested\": {\"o\": {\"p\": {}}},\n  \"s\": \"caf\xC3\xA9 \xE2\x82\xAC\"\n}",
      "{\"\xF0\x9F\x98\x80\xED\x9F\xBF\xE0\xA0\x80\xF4\x8F\xBF\xBF\":0}",
      "{\"\":\"\"}",
      "{\"e\":\"\\uD83D\\uDE00 \\ud800\\udfff \\uDBFF\\uDC00 \\uD7FF \\uE000\"}",
  };
  for (auto& d : docs) {
    SCOPED_TRACE(d);
    ASSERT_TRUE(nlohmann::json::accept(d));  // the corpus itself is valid JSON
    JsonConstraintOptions o;
    o.max_tokens = 1000;
    JsonConstraint c(v, o);
    feed_bytes(c, d);
    EXPECT_TRUE(c.complete());
    EXPECT_EQ(c.allowed_tokens(), std::vector<int32_t>{kEnd});
  }
}

TEST(JsonConstraint, InvalidContinuationsAreRefused) {
  auto v = small_vocab();
  struct Case {
    std::string prefix;
    std::string bad;
  };
  const std::vector<Case> cases = {
      {"", "["},
      {"", "\""},
      {"", "a"},
      {"{", "1"},
      {"{\"a\"", "}"},
      {"{\"a\":", "}"},
      {"{\"a\":0", "1"},
      {"{\"a\":-", "}"},
      {"{\"a\":1.", "}"},
      {"{\"a\":1e", "}"},
      {"{\"a\":t", "x"},
      {"{\"a\":[1", "}"},
      {"{\"a\":\"", "\n"},
      {"{\"a\":\"\\", "x"},
      {"{\"a\":\"\\u0", "g"},
      {"{\"a\":1,", "}"},
      {"{\"a\":\"", "\x80"},
      {"{\"a\":\"\xC3", "\""},
      {"{\"a\":\"\xE0", "\x80"},
      {"{\"a\":\"\xED", "\xA0"},
      {"{\"a\":\"", "\xC0"},
      {"{\"a\":\"", "\xF5"},
      {"{\"a\":\"\xF4", "\x90"},
      {"{\"a\":1e99", "9"},  // a number that overflows a double is refused
      {"{\"a\":[1,", "]"},
      {"{\"a\":1", ":"},
      // \u escapes of surrogates only as a high-low pair (strict parsers refuse a lone one).
      {"{\"a\":\"\\uD800", "\""},
      {"{\"a\":\"\\uD800", "x"},
      {"{\"a\":\"\\uDBFF\\", "n"},
      {"{\"a\":\"\\uD800\\u", "0"},
      {"{\"a\":\"\\uD800\\uD", "8"},
      {"{\"a\":\"\\uD", "C"},
      {"{\"a\":\"\\ud", "f"},
  };
  for (auto& k : cases) {
    SCOPED_TRACE(k.prefix + " + " + k.bad);
    JsonConstraintOptions o;
    o.max_tokens = 100;
    JsonConstraint c(v, o);
    feed_bytes(c, k.prefix);
    EXPECT_FALSE(allowed(c, static_cast<uint8_t>(k.bad[0])));
    EXPECT_FALSE(allowed(c, kEnd));
  }
  // A finished object takes nothing but the end token.
  JsonConstraintOptions o;
  JsonConstraint c(v, o);
  feed_bytes(c, "{}");
  EXPECT_EQ(c.allowed_tokens(), std::vector<int32_t>{kEnd});
}

TEST(JsonConstraint, ClosingStringCompletesAnyPrefix) {
  auto v = small_vocab();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "{}"},
      {"{\"a\": [1, {\"b\": \"x", "\"}]}"},
      {"{\"k", "\":0}"},
      {"{\"k\"", ":0}"},
      {"{\"a\":1,", "\"\":0}"},
      {"{\"a\":[", "]}"},
      {"{\"a\":[2,", "0]}"},
      {"{\"a\":fa", "lse}"},
      {"{\"a\":-", "0}"},
      {"{\"a\":\"\\u1", "000\"}"},
      {"{\"a\":\"\xE2", "\x80\x80\"}"},
      {"{\"\xF0", "\x90\x80\x80\":0}"},
      {"{\"a\":\"\\uD", "000\"}"},
      {"{\"a\":\"\\uD8", "00\\uDC00\"}"},
      {"{\"a\":\"\\uDB0", "0\\uDC00\"}"},
      {"{\"a\":\"\\uD800", "\\uDC00\"}"},
      {"{\"a\":\"\\uD800\\", "uDC00\"}"},
      {"{\"a\":\"\\uD800\\u", "DC00\"}"},
      {"{\"a\":\"\\uD800\\uD", "C00\"}"},
      {"{\"a\":\"\\uD800\\uDD", "00\"}"},
  };
  for (auto& [prefix, expected] : cases) {
    SCOPED_TRACE(prefix);
    JsonConstraintOptions o;
    o.max_tokens = 100;
    JsonConstraint c(v, o);
    feed_bytes(c, prefix);
    EXPECT_EQ(c.closing(), expected);
    EXPECT_EQ(c.closing_cost(), static_cast<int>(expected.size()));
    ASSERT_TRUE(nlohmann::json::accept(prefix + expected));
  }
}

TEST(JsonConstraint, BudgetForcesClosing) {
  auto v = small_vocab();
  // Two tokens: the only document that fits is "{}" written as two single bytes or one "{}".
  JsonConstraintOptions o;
  o.max_tokens = 2;
  JsonConstraint c(v, o);
  auto first = c.allowed_tokens();
  EXPECT_TRUE(std::binary_search(first.begin(), first.end(), int32_t{'{'}));
  EXPECT_FALSE(std::binary_search(first.begin(), first.end(), int32_t{'['}));
  EXPECT_FALSE(std::binary_search(first.begin(), first.end(), int32_t{' '}));  // no room for it
  // After {"a":[[ with 5 tokens left, only tokens that keep "0]]}"-style closing within budget
  // may come: opening another container would need 6.
  o.max_tokens = 100;
  JsonConstraint d(v, o);
  feed_bytes(d, "{\"a\":[[");
  ASSERT_EQ(d.closing(), "]]}");
  JsonConstraintOptions tight;
  tight.max_tokens = static_cast<int>(std::string("{\"a\":[[").size()) + 3;
  JsonConstraint e(v, tight);
  feed_bytes(e, "{\"a\":[[");
  auto a = e.allowed_tokens();
  for (int32_t id : a) {
    std::string b = v->bytes(id);
    EXPECT_TRUE(b == "]" || b == "]]" || b == "}") << b;
  }
  EXPECT_TRUE(std::binary_search(a.begin(), a.end(), int32_t{']'}));
}

TEST(JsonConstraint, ToolCallPrefixesAndSuffix) {
  auto v = small_vocab();
  JsonConstraintOptions o;
  o.prefixes = {"{\"name\": \"get_weather\", \"parameters\": ",
                "{\"name\": \"get_time\", \"parameters\": "};
  o.suffix = "}";
  for (uint64_t seed = 0; seed < 40; ++seed) {
    o.max_tokens = 45 + static_cast<int>(seed % 5) * 10;
    auto ids = random_walk(v, o, seed);
    std::string text = decode(*v, ids);
    SCOPED_TRACE(text);
    nlohmann::json j;
    ASSERT_NO_THROW(j = nlohmann::json::parse(text));
    ASSERT_TRUE(j["parameters"].is_object());
    EXPECT_TRUE(j["name"] == "get_weather" || j["name"] == "get_time");
    ParsedAssistant p = parse_llama31_output(text, false);
    ASSERT_EQ(p.tool_calls.size(), 1u);
    EXPECT_EQ(p.tool_calls[0].name, j["name"].get<std::string>());
  }
  // A budget too small for the shortest call still yields the closing bytes, never a dead end.
  o.max_tokens = 5;
  JsonConstraint c(v, o);
  EXPECT_FALSE(c.allowed_tokens().empty());
}

TEST(JsonConstraint, FastPathsAgreeWithTryingEveryTokenWithPrefixes) {
  auto v = small_vocab();
  JsonConstraintOptions o;
  o.prefixes = {"{\"name\": \"get_weather\", \"parameters\": ",
                "{\"name\": \"go\", \"parameters\": "};
  o.suffix = "}";
  o.max_tokens = 60;
  for (uint64_t seed = 0; seed < 10; ++seed) {
    JsonConstraint c(v, o);
    std::mt19937_64 rng(seed);
    for (int step = 0; step < 60; ++step) {
      auto fast = c.allowed_tokens();
      std::vector<int32_t> slow;
      const int limit = o.max_tokens - step - 1;
      for (int32_t id = 0; id < v->size(); ++id) {
        if (v->is_end(id)) {
          if (c.complete()) slow.push_back(id);
          continue;
        }
        if (v->bytes(id).empty()) continue;
        JsonConstraint copy = c;
        copy.accept(id);
        if (!copy.broken() && copy.closing_cost() <= limit) slow.push_back(id);
      }
      ASSERT_EQ(fast, slow) << "seed " << seed << " step " << step;
      if (c.complete()) break;
      c.accept(fast[rng() % fast.size()]);
    }
  }
}

// The real Llama 3 vocabulary (128,256 tokens): long random walks stay valid and close in time.
TEST(JsonConstraint, RealVocabularyRandomWalks) {
  Tokenizer tok = load_tokenizer(std::string(HEARTH_TEST_DATA) + "/devB");
  auto v = JsonVocab::from_tokenizer(tok, tok.eos_ids());
  for (uint64_t seed = 0; seed < 6; ++seed) {
    JsonConstraintOptions o;
    o.max_tokens = 12 + static_cast<int>(seed) * 15;
    auto ids = random_walk(v, o, seed);
    ASSERT_LE(static_cast<int>(ids.size()), o.max_tokens);
    std::string text = decode(*v, ids);
    SCOPED_TRACE(text);
    nlohmann::json j;
    ASSERT_NO_THROW(j = nlohmann::json::parse(text));  // also checks the UTF-8
    EXPECT_TRUE(j.is_object());
    EXPECT_EQ(tok.decode(ids, /*skip_special=*/true), text);
  }
}

}  // namespace
}  // namespace hearth
