// The tokenizer against data produced by other implementations: transformers (reference.json),
// llama.cpp's own test vectors, and the corpus encoded by transformers.js
// (scripts/gen_tokenizer_expected.mjs).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "format/gguf.h"
#include "tokenizer/load.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace hearth {
namespace {

std::string data_path(const std::string& rel) {
  return std::string(HEARTH_TEST_DATA) + "/" + rel;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const Tokenizer& llama31() {
  static const Tokenizer tok = tokenizer_from_hf_json(data_path("llama31/tokenizer.json"),
                                                      data_path("llama31/tokenizer_config.json"));
  return tok;
}

const Tokenizer& devb_gguf() {
  static const Tokenizer tok = tokenizer_from_gguf(GgufFile(data_path("devB/devB-bf16.gguf")));
  return tok;
}

struct Case {
  std::string text;
  std::vector<int32_t> ids;          // plain text, no BOS
  std::vector<int32_t> ids_special;  // added tokens parsed, no BOS
};

std::vector<Case> llama_cpp_vectors() {
  std::string inp = slurp(data_path("llama31/ggml-vocab-llama-bpe.gguf.inp"));
  std::string out = slurp(data_path("llama31/ggml-vocab-llama-bpe.gguf.out"));
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (size_t start = 0;;) {
    size_t end = inp.find(sep, start);
    if (end == std::string::npos) break;
    texts.push_back(inp.substr(start, end - start));
    start = end + sep.size();
  }
  std::vector<Case> cases;
  std::istringstream lines(out);
  std::string line;
  for (size_t k = 0; std::getline(lines, line); ++k) {
    Case c;
    c.text = k < texts.size() ? texts[k] : "";
    std::istringstream nums(line);
    int32_t id;
    while (nums >> id) c.ids.push_back(id);
    c.ids_special = c.ids;
    cases.push_back(std::move(c));
  }
  EXPECT_EQ(cases.size(), texts.size());
  return cases;
}

std::vector<Case> corpus() {
  auto j = nlohmann::json::parse(slurp(data_path("tokenizer/corpus.json")));
  std::vector<Case> cases;
  for (const auto& e : j) {
    Case c{e["text"].get<std::string>(), e["ids"].get<std::vector<int32_t>>(), {}};
    c.ids_special =
        e.contains("ids_special") ? e["ids_special"].get<std::vector<int32_t>>() : c.ids;
    cases.push_back(std::move(c));
  }
  return cases;
}

TEST(TokenizerReference, DevBTextAndChatPrompt) {
  auto ref = nlohmann::json::parse(slurp(data_path("devB/reference.json")));
  const Tokenizer& tok = llama31();
  EXPECT_EQ(tok.encode(ref["text"].get<std::string>(), true, false),
            ref["text_ids"].get<std::vector<int32_t>>());
  EXPECT_EQ(tok.encode(ref["chat_prompt"].get<std::string>(), false, true),
            ref["chat_ids"].get<std::vector<int32_t>>());
  EXPECT_EQ(tok.decode(ref["chat_ids"].get<std::vector<int32_t>>()),
            ref["chat_prompt"].get<std::string>());
}

TEST(TokenizerReference, LlamaCppVectors) {
  auto cases = llama_cpp_vectors();
  ASSERT_EQ(cases.size(), 46u);
  for (const Case& c : cases) EXPECT_EQ(llama31().encode(c.text, false, false), c.ids) << c.text;
}

}  // namespace
}  // namespace hearth

namespace hearth {
namespace {

TEST(TokenizerReference, Corpus) {
  auto cases = corpus();
  ASSERT_GE(cases.size(), 100u);
  size_t with_special = 0;
  for (const Case& c : cases) {
    EXPECT_EQ(llama31().encode(c.text, false, false), c.ids) << c.text;
    EXPECT_EQ(llama31().encode(c.text, false, true), c.ids_special) << c.text;
    with_special += c.ids != c.ids_special;
  }
  EXPECT_GE(with_special, 10u);  // the corpus does exercise special-token parsing
}

// Pieces split by hand from the regex semantics of HF tokenizers (Oniguruma) where JavaScript's
// regex differs (U+0085, U+FEFF, U+017F); ids from transformers.js's BPE on those pieces.
TEST(TokenizerReference, RegexEdgeCases) {
  auto j = nlohmann::json::parse(slurp(data_path("tokenizer/regex_edge.json")));
  ASSERT_GE(j.size(), 10u);
  for (const auto& e : j) {
    std::string text = e["text"].get<std::string>();
    EXPECT_EQ(llama31().encode(text, false, false), e["ids"].get<std::vector<int32_t>>()) << text;
  }
}

TEST(TokenizerReference, CorpusRoundTripsThroughDecodeAndStream) {
  for (const Case& c : corpus()) {
    for (bool special : {false, true}) {
      std::vector<int32_t> ids = llama31().encode(c.text, true, special);
      EXPECT_EQ(llama31().decode(ids), "<|begin_of_text|>" + c.text) << c.text;
      if (!special) {
        EXPECT_EQ(llama31().decode(ids, /*skip_special=*/true), c.text) << c.text;
      }
      std::vector<int32_t> body(ids.begin() + 1, ids.end());
      EXPECT_EQ(llama31().decode(body), c.text) << c.text;
      StreamDecoder stream(llama31());
      std::string streamed;
      for (int32_t id : body) {
        std::string piece = stream.push(id);
        // Every chunk is whole characters: no chunk may end inside a UTF-8 sequence.
        EXPECT_TRUE(utf8::is_valid(piece)) << c.text;
        streamed += piece;
      }
      streamed += stream.flush();
      EXPECT_EQ(streamed, c.text) << c.text;
    }
  }
}

// The GGUF written by llama.cpp's converter and the HF files of the same checkpoint must agree.
TEST(TokenizerReference, GgufMatchesHfJsonOnCorpusAndVectors) {
  const Tokenizer& g = devb_gguf();
  const Tokenizer h = load_tokenizer(data_path("devB"));  // tokenizer.json + configs
  EXPECT_EQ(g.vocab_size(), h.vocab_size());
  EXPECT_EQ(g.bos_id(), 128000);
  EXPECT_EQ(g.eos_ids(), h.eos_ids());
  EXPECT_EQ(g.add_bos_default(), h.add_bos_default());
  std::vector<Case> cases = corpus();
  for (Case& c : llama_cpp_vectors()) cases.push_back(std::move(c));
  for (const Case& c : cases) {
    EXPECT_EQ(g.encode(c.text, true, true), h.encode(c.text, true, true)) << c.text;
    EXPECT_EQ(g.encode(c.text, false, false), h.encode(c.text, false, false)) << c.text;
  }
  for (int32_t id = 0; id < h.vocab_size(); ++id) {
    ASSERT_EQ(g.token_bytes(id), h.token_bytes(id)) << id;
    ASSERT_EQ(g.is_special(id), h.is_special(id)) << id;
  }
}

}  // namespace
}  // namespace hearth
