// The hand-written Llama 3 pre-tokenizer against PCRE2 running the regex itself, with \s spelled
// out as the White_Space set (which is what HF tokenizers' Oniguruma and tiktoken's Rust regex
// use).
#define PCRE2_CODE_UNIT_WIDTH 8
#include <gtest/gtest.h>
#include <pcre2.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "tokenizer/pretokenize.h"
#include "tokenizer/unicode_class.h"
#include "tokenizer/utf8.h"

namespace hearth {
namespace {

using Pieces = std::vector<std::string>;

class RegexSplitter {
 public:
  RegexSplitter() {
    const std::string ws =
        "\\t-\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}"
        "\\x{205F}\\x{3000}";
    const std::string pattern =
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
        "\\p{N}{1,3}| ?[^" +
        ws + "\\p{L}\\p{N}]+[\\r\\n]*|[" + ws + "]*[\\r\\n]+|[" + ws + "]+(?![^" + ws + "])|[" +
        ws + "]+";
    int err = 0;
    PCRE2_SIZE off = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.c_str()), pattern.size(),
                          PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr);
    EXPECT_NE(code_, nullptr) << "pattern error at " << off;
    md_ = pcre2_match_data_create_from_pattern(code_, nullptr);
  }
  ~RegexSplitter() {
    pcre2_match_data_free(md_);
    pcre2_code_free(code_);
  }
  // Matches and the gaps between them, as HF's Split with behavior Isolated returns them.
  Pieces split(const std::string& s) const {
    Pieces out;
    size_t pos = 0, last = 0;
    while (pos < s.size()) {
      int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), pos, 0, md_,
                           nullptr);
      if (rc < 0) break;
      PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md_);
      if (ov[0] > last) out.push_back(s.substr(last, ov[0] - last));
      if (ov[1] > ov[0]) out.push_back(s.substr(ov[0], ov[1] - ov[0]));
      last = ov[1];
      pos = ov[1] > ov[0] ? ov[1] : ov[1] + 1;
    }
    if (last < s.size()) out.push_back(s.substr(last));
    return out;
  }

 private:
  pcre2_code* code_ = nullptr;
  pcre2_match_data* md_ = nullptr;
};

const RegexSplitter& regex() {
  static const RegexSplitter r;
  return r;
}

Pieces ours(const std::string& s) {
  Pieces out;
  for (std::string_view p : pretokenize_llama3(s)) out.emplace_back(p);
  return out;
}

TEST(TokenizerPretokenize, HandWrittenExamples) {
  EXPECT_EQ(ours("Hello world"), (Pieces{"Hello", " world"}));
  EXPECT_EQ(ours("  x"), (Pieces{" ", " x"}));
  EXPECT_EQ(ours("a\n\n b"), (Pieces{"a", "\n\n", " b"}));
  EXPECT_EQ(ours("x  \n"), (Pieces{"x", "  \n"}));
  EXPECT_EQ(ours("1234567"), (Pieces{"123", "456", "7"}));
  EXPECT_EQ(ours("'S'LL'sa"), (Pieces{"'S", "'LL", "'s", "a"}));
  EXPECT_EQ(ours("(hello"), (Pieces{"(hello"}));
  EXPECT_EQ(ours("!!\n\nx"), (Pieces{"!!\n\n", "x"}));
  EXPECT_EQ(ours("a  "), (Pieces{"a", "  "}));
  EXPECT_EQ(ours("\t\tif"), (Pieces{"\t", "\tif"}));
  EXPECT_EQ(ours(" ("), (Pieces{" ("}));
  EXPECT_EQ(ours("\u00a0\u00a0x"), (Pieces{"\u00a0", "\u00a0x"}));
  EXPECT_EQ(ours("\xc2\x85\xc2\x85"
                 "b"),
            (Pieces{"\xc2\x85",
                    "\xc2\x85"
                    "b"}));                               // U+0085 is \s
  EXPECT_EQ(ours("'\u017fx"), (Pieces{"'\u017f", "x"}));  // (?i) folds long s to s
  EXPECT_EQ(ours(""), Pieces{});
}

// Random strings over characters chosen to hit every alternative and every class boundary.
std::string random_text(std::mt19937& rng, size_t max_len) {
  static const std::vector<std::string> pool = {"a",
                                                "Z",
                                                "s",
                                                "S",
                                                "t",
                                                "T",
                                                "r",
                                                "R",
                                                "e",
                                                "E",
                                                "v",
                                                "V",
                                                "m",
                                                "M",
                                                "l",
                                                "L",
                                                "d",
                                                "D",
                                                "x",
                                                "\u00e9",
                                                "\u00df",
                                                "\u017f",
                                                "\u0416",
                                                "\u65e5",
                                                "\ud55c",
                                                "\u05e2",
                                                "\u0915",
                                                "\u093f",
                                                "\u0e01",
                                                "0",
                                                "7",
                                                "\u0663",
                                                "\u00bd",
                                                "\u00b2",
                                                "\u216b",
                                                " ",
                                                " ",
                                                " ",
                                                " ",
                                                "\t",
                                                "\n",
                                                "\r",
                                                "\v",
                                                "\f",
                                                "\u00a0",
                                                "\u1680",
                                                "\u2003",
                                                "\u2028",
                                                "\u2029",
                                                "\u3000",
                                                "\u0085",
                                                "\ufeff",
                                                "\u180e",
                                                "\u200b",
                                                "'",
                                                "'",
                                                "\"",
                                                ".",
                                                "!",
                                                "(",
                                                "<",
                                                "|",
                                                "_",
                                                "\u2026",
                                                "\u00ab",
                                                "\U0001F600",
                                                "\U0001F44D",
                                                "\u200d",
                                                "\u0301",
                                                "\ue000",
                                                "\U0001D11E",
                                                "\U00020000",
                                                std::string("\0", 1),
                                                "\x1b",
                                                "\x7f"};
  std::uniform_int_distribution<size_t> len_dist(1, max_len), pick(0, pool.size() - 1);
  std::uniform_int_distribution<uint32_t> any_cp(0x80, 0x10FFFF);
  std::string s;
  size_t len = len_dist(rng);
  for (size_t i = 0; i < len; ++i) {
    if (rng() % 16 == 0) {
      uint32_t cp = any_cp(rng);
      if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
      utf8::append(s, cp);
    } else {
      s += pool[pick(rng)];
    }
  }
  return s;
}

TEST(TokenizerPretokenize, MatchesPcre2OnRandomText) {
  std::mt19937 rng(12345);
  for (int k = 0; k < 8000; ++k) {
    std::string s = random_text(rng, k < 6000 ? 12 : 80);
    ASSERT_EQ(ours(s), regex().split(s)) << nlohmann::json(s).dump();
  }
  std::string big = random_text(rng, 1);
  for (int k = 0; k < 500; ++k) big += random_text(rng, 30);
  EXPECT_EQ(ours(big), regex().split(big));
}

TEST(TokenizerPretokenize, MatchesPcre2OnCorpus) {
  std::ifstream in(std::string(HEARTH_TEST_DATA) + "/tokenizer/corpus.json");
  std::stringstream ss;
  ss << in.rdbuf();
  auto corpus = nlohmann::json::parse(ss.str());
  ASSERT_GT(corpus.size(), 100u);
  for (const auto& e : corpus) {
    std::string s = e["text"].get<std::string>();
    EXPECT_EQ(ours(s), regex().split(s)) << s;
  }
}

TEST(TokenizerPretokenize, ClassesOfSampleCodepoints) {
  using namespace unicode;
  EXPECT_EQ(classify('a'), kLetter);
  EXPECT_EQ(classify(0x65E5), kLetter);   // CJK
  EXPECT_EQ(classify(0x1D400), kLetter);  // mathematical bold A (plane 1)
  EXPECT_EQ(classify(0x20000), kLetter);  // CJK extension B (plane 2)
  EXPECT_EQ(classify(0x0663), kNumber);   // Arabic-Indic three
  EXPECT_EQ(classify(0x2167), kNumber);   // Roman numeral eight (Nl)
  EXPECT_EQ(classify(0x00BD), kNumber);   // one half (No)
  EXPECT_EQ(classify(0x0085), kSpace);
  EXPECT_EQ(classify(0x3000), kSpace);
  EXPECT_EQ(classify('\n'), kLineBreak);
  EXPECT_EQ(classify(0xFEFF), kOther);
  EXPECT_EQ(classify(0x0301), kOther);  // combining mark (Mn) is not a letter
  EXPECT_EQ(classify(0x1F600), kOther);
  EXPECT_EQ(classify(0xE000), kOther);
  EXPECT_EQ(classify(0x10FFFF), kOther);
}

}  // namespace
}  // namespace hearth
