// Tokenizer API behaviour on the Llama 3.1 vocabulary, and BPE against a naive reference.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "tokenizer/bpe.h"
#include "tokenizer/load.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"
#include "util/error.h"

namespace hearth {
namespace {

#define R "\xEF\xBF\xBD"  // U+FFFD

const Tokenizer& llama31() {
  static const Tokenizer tok =
      tokenizer_from_hf_json(std::string(HEARTH_TEST_DATA) + "/llama31/tokenizer.json",
                             std::string(HEARTH_TEST_DATA) + "/llama31/tokenizer_config.json");
  return tok;
}

TEST(TokenizerApi, Llama31Metadata) {
  const Tokenizer& t = llama31();
  EXPECT_EQ(t.vocab_size(), 128256);
  EXPECT_EQ(t.bos_id(), 128000);
  EXPECT_EQ(t.eos_ids(), (std::vector<int32_t>{128001, 128008, 128009}));
  EXPECT_TRUE(t.add_bos_default());
  EXPECT_EQ(t.special_id("<|eot_id|>"), 128009);
  EXPECT_EQ(t.special_id("<|python_tag|>"), 128010);
  EXPECT_EQ(t.special_id("<|reserved_special_token_247|>"), 128255);
  EXPECT_EQ(t.special_id("hello"), std::nullopt);
  EXPECT_TRUE(t.is_special(128000));
  EXPECT_TRUE(t.is_special(128255));
  EXPECT_FALSE(t.is_special(9906));
  EXPECT_FALSE(t.is_special(-1));
  EXPECT_FALSE(t.is_special(128256));
  EXPECT_EQ(t.token_bytes(128009), "<|eot_id|>");
  EXPECT_EQ(t.token_bytes(220), " ");
  EXPECT_EQ(t.token_bytes(198), "\n");
  EXPECT_EQ(t.token_bytes(9468), "\xf0\x9f");  // 'ðŁ': the first half of most emoji
}

TEST(TokenizerApi, BosAndSpecialParsing) {
  const Tokenizer& t = llama31();
  EXPECT_EQ(t.encode("", true, false), std::vector<int32_t>{128000});
  EXPECT_TRUE(t.encode("", false, true).empty());
  EXPECT_EQ(t.encode("<|eot_id|>", false, true), std::vector<int32_t>{128009});
  std::vector<int32_t> typed = t.encode("<|eot_id|>", false, false);
  EXPECT_GT(typed.size(), 1u);
  for (int32_t id : typed) EXPECT_FALSE(t.is_special(id));
  EXPECT_EQ(t.decode(typed), "<|eot_id|>");
  // Leftmost-longest: the header tokens inside other text.
  EXPECT_EQ(t.encode("a<|start_header_id|><|end_header_id|>", true, true),
            (std::vector<int32_t>{128000, 64, 128006, 128007}));
}

TEST(TokenizerApi, DecodeSkipsSpecialOnRequest) {
  const Tokenizer& t = llama31();
  std::vector<int32_t> ids =
      t.encode("<|start_header_id|>user<|end_header_id|>hi<|eot_id|>", true, true);
  EXPECT_EQ(t.decode(ids), "<|begin_of_text|><|start_header_id|>user<|end_header_id|>hi<|eot_id|>");
  EXPECT_EQ(t.decode(ids, true), "userhi");
}

TEST(TokenizerApi, BadIdsThrow) {
  const Tokenizer& t = llama31();
  EXPECT_THROW(t.decode({1, 128256}), Error);
  EXPECT_THROW(t.decode({-1}), Error);
  EXPECT_THROW(t.token_bytes(1 << 30), Error);
  StreamDecoder s(t);
  EXPECT_THROW(s.push(-5), Error);
  try {
    t.decode({200000});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("200000"), std::string::npos);
  }
}

TEST(TokenizerApi, InvalidUtf8IsReplacedBeforeEncoding) {
  const Tokenizer& t = llama31();
  EXPECT_EQ(t.encode("\xff"
                     "abc",
                     false, false),
            t.encode(R "abc", false, false));
  EXPECT_EQ(t.encode("a\xe2\x82", false, false), t.encode("a" R, false, false));
  EXPECT_EQ(t.encode("x\xf0\x80\x80y", false, false), t.encode("x" R R R "y", false, false));
  EXPECT_EQ(t.encode("<|eot_id|>\xc3", false, true), (t.encode("<|eot_id|>" R, false, true)));
  EXPECT_EQ(t.decode(t.encode("\xed\xa0\x80", false, false)), R R R);
}

TEST(TokenizerApi, DecodeOfCutCharacterIsReplaced) {
  const Tokenizer& t = llama31();
  EXPECT_EQ(t.decode({9468}), R);
  EXPECT_EQ(t.decode({9468, 9468}), R R);
  EXPECT_EQ(t.decode({9468, 248, 222}), "\xf0\x9f\x9a\x80");  // rocket
}

TEST(TokenizerApi, StreamHoldsIncompleteCharacters) {
  const Tokenizer& t = llama31();
  StreamDecoder s(t);
  EXPECT_EQ(s.push(9468), "");
  EXPECT_EQ(s.push(248), "");
  EXPECT_EQ(s.push(222), "\xf0\x9f\x9a\x80");
  EXPECT_EQ(s.push(9468), "");
  EXPECT_EQ(s.flush(), R);  // an incomplete tail at the end is one U+FFFD
  EXPECT_EQ(s.flush(), "");
  EXPECT_EQ(s.push(9468), "");
  EXPECT_EQ(s.push(64), R "a");  // a character cut by another token is replaced, not dropped
  StreamDecoder skip(t, true);
  EXPECT_EQ(skip.push(128009), "");
  EXPECT_EQ(skip.push(9906), "Hello");
  StreamDecoder keep(t);
  EXPECT_EQ(keep.push(128009), "<|eot_id|>");
}

TEST(TokenizerApi, StreamEqualsDecodeOnRandomIds) {
  const Tokenizer& t = llama31();
  std::mt19937 rng(7);
  // Bias towards byte tokens and emoji halves so that characters are often cut.
  std::vector<int32_t> favourites = {9468, 248, 222, 114, 27623, 127, 128, 160, 191, 192, 239};
  for (int round = 0; round < 300; ++round) {
    std::vector<int32_t> ids;
    int n = 1 + static_cast<int>(rng() % 20);
    for (int k = 0; k < n; ++k) {
      uint32_t r = rng() % 10;
      ids.push_back(r < 4   ? favourites[rng() % favourites.size()]
                    : r < 5 ? 128000 + static_cast<int32_t>(rng() % 256)
                            : static_cast<int32_t>(rng() % 128000));
    }
    for (bool skip : {false, true}) {
      StreamDecoder s(t, skip);
      std::string out;
      for (int32_t id : ids) {
        std::string piece = s.push(id);
        ASSERT_TRUE(utf8::is_valid(piece));
        out += piece;
      }
      out += s.flush();
      ASSERT_EQ(out, t.decode(ids, skip));
    }
  }
}

// Naive BPE: repeatedly merge the leftmost pair of lowest rank, on strings.
std::vector<std::string> naive_bpe(
    const std::string& s, const std::map<std::pair<std::string, std::string>, int>& ranks) {
  std::vector<std::string> parts;
  for (char c : s) parts.emplace_back(1, c);
  for (;;) {
    int best_rank = INT32_MAX;
    size_t best = 0;
    for (size_t k = 0; k + 1 < parts.size(); ++k) {
      auto it = ranks.find({parts[k], parts[k + 1]});
      if (it != ranks.end() && it->second < best_rank) {
        best_rank = it->second;
        best = k;
      }
    }
    if (best_rank == INT32_MAX) return parts;
    parts[best] += parts[best + 1];
    parts.erase(parts.begin() + static_cast<long>(best) + 1);
  }
}

TEST(TokenizerApi, BpeMatchesNaiveMergingOnSyntheticVocabulary) {
  std::mt19937 rng(99);
  std::vector<std::optional<std::string>> tokens;
  std::map<std::string, int32_t> ids;
  for (int b = 0; b < 256; ++b) {
    tokens.emplace_back(std::string(1, static_cast<char>(b)));
    ids[*tokens.back()] = b;
  }
  std::vector<std::pair<int32_t, int32_t>> merges;
  std::map<std::pair<std::string, std::string>, int> ranks;
  std::vector<std::string> alphabet = {"a", "b", "c", "d"};
  while (merges.size() < 400) {
    const std::string a = alphabet[rng() % alphabet.size()];
    const std::string b = alphabet[rng() % alphabet.size()];
    if (a.size() + b.size() > 12 || ranks.count({a, b})) continue;
    std::string ab = a + b;
    if (!ids.count(ab)) {
      ids[ab] = static_cast<int32_t>(tokens.size());
      tokens.emplace_back(ab);
      alphabet.push_back(ab);
    }
    ranks[{a, b}] = static_cast<int>(merges.size());
    merges.emplace_back(ids[a], ids[b]);
  }
  BpeModel with_merges(tokens, merges, /*ignore_merges=*/false, "synthetic");
  BpeModel whole_first(tokens, merges, /*ignore_merges=*/true, "synthetic");
  for (int round = 0; round < 3000; ++round) {
    std::string s;
    size_t len = 1 + rng() % (round < 2900 ? 40 : 300);
    for (size_t k = 0; k < len; ++k) s += static_cast<char>('a' + rng() % 4);
    std::vector<int32_t> expected;
    for (const std::string& p : naive_bpe(s, ranks)) expected.push_back(ids.at(p));
    std::vector<int32_t> got, heap;
    with_merges.encode_piece(s, got);
    with_merges.encode_piece_heap(s, heap);
    ASSERT_EQ(got, expected) << s;
    ASSERT_EQ(heap, expected) << s;
    std::vector<int32_t> whole;
    whole_first.encode_piece(s, whole);
    if (ids.count(s))
      ASSERT_EQ(whole, std::vector<int32_t>{ids.at(s)});
    else
      ASSERT_EQ(whole, expected);
  }
}

#undef R

}  // namespace
}  // namespace hearth
