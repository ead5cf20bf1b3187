// Loading tokenizers from small files written here: formats accepted and every error a user can
// cause (each must be one line naming the file).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "format/gguf.h"
#include "tokenizer/builtin_llama31.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/gguf_metadata.h"
#include "tokenizer/load.h"
#include "util/error.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char* kPattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

class TokenizerLoad : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("hearth_tok_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& content) {
    fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }

  // 256 byte tokens, "ab" (256), special <|eot_id|> (257), non-special added <mark> (258).
  static json small_tokenizer() {
    json vocab = json::object();
    for (int b = 0; b < 256; ++b)
      vocab[byte_level::encode(std::string(1, static_cast<char>(b)))] = b;
    vocab["ab"] = 256;
    return json{
        {"version", "1.0"},
        {"normalizer", nullptr},
        {"pre_tokenizer",
         {{"type", "Sequence"},
          {"pretokenizers",
           json::array(
               {{{"type", "Split"},
                 {"pattern", {{"Regex", kPattern}}},
                 {"behavior", "Isolated"},
                 {"invert", false}},
                {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}}},
        {"added_tokens", json::array({{{"id", 257}, {"content", "<|eot_id|>"}, {"special", true}},
                                      {{"id", 258}, {"content", "<mark>"}, {"special", false}}})},
        {"model",
         {{"type", "BPE"},
          {"ignore_merges", true},
          {"vocab", vocab},
          {"merges", json::array({"a b"})}}}};
  }

  // Expects load to throw one line that names the file and contains `what`.
  template <class F>
  void expect_error(F load, const std::string& file, const std::string& what) {
    try {
      load();
      ADD_FAILURE() << "no error; expected: " << what;
    } catch (const Error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find(file), std::string::npos) << msg;
      EXPECT_NE(msg.find(what), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  }

  void expect_json_error(const json& j, const std::string& what) {
    std::string path = write("tokenizer.json", j.dump());
    expect_error([&] { tokenizer_from_hf_json(path, ""); }, path, what);
  }

  fs::path dir_;
};

TEST_F(TokenizerLoad, SmallHfTokenizer) {
  std::string config = write("tokenizer_config.json",
                             R"({"add_bos_token": false, "eos_token": {"content": "<|eot_id|>"}})");
  for (bool pairs : {false, true}) {
    json j = small_tokenizer();
    if (pairs) j["model"]["merges"] = json::array({json::array({"a", "b"})});
    Tokenizer t = tokenizer_from_hf_json(write("tokenizer.json", j.dump()), config);
    EXPECT_EQ(t.vocab_size(), 259);
    EXPECT_EQ(t.bos_id(), -1);
    EXPECT_FALSE(t.add_bos_default());
    EXPECT_EQ(t.eos_ids(), std::vector<int32_t>{257});
    EXPECT_EQ(t.encode("abab", true, false), (std::vector<int32_t>{256, 256}));
    EXPECT_EQ(t.encode("<|eot_id|>", false, true), std::vector<int32_t>{257});
    EXPECT_EQ(t.encode("<|eot_id|>", false, false).size(), 10u);  // one per byte: no merge applies
    EXPECT_EQ(t.encode("x<mark>y", false, false), (std::vector<int32_t>{'x', 258, 'y'}));
    EXPECT_FALSE(t.is_special(258));
    EXPECT_TRUE(t.is_special(257));
    EXPECT_EQ(t.decode({257, 258, 256}, true), "<mark>ab");
  }
}

TEST_F(TokenizerLoad, MergesAsPairsGiveTheSameLlamaTokenizer) {
  std::ifstream in(std::string(HEARTH_TEST_DATA) + "/llama31/tokenizer.json");
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str());
  Tokenizer strings = tokenizer_from_hf_json_text(ss.str(), "strings.json", "", "");
  for (json& m : j["model"]["merges"]) {
    std::string s = m.get<std::string>();
    size_t sp = s.find(' ');
    m = json::array({s.substr(0, sp), s.substr(sp + 1)});
  }
  Tokenizer pairs = tokenizer_from_hf_json_text(j.dump(), "pairs.json", "", "");
  for (const char* text : {"Hello world, this is a test of merges!",
                           "unbelievably 12345 日本語 👍🏽", "   indented\n\n\tcode();"}) {
    EXPECT_EQ(pairs.encode(text, true, true), strings.encode(text, true, true)) << text;
  }
}

TEST_F(TokenizerLoad, HfErrors) {
  std::string missing = (dir_ / "nope" / "tokenizer.json").string();
  expect_error([&] { tokenizer_from_hf_json(missing, ""); }, missing, "not found");

  std::string bad = write("tokenizer.json", "{\"model\": [1, 2");
  expect_error([&] { tokenizer_from_hf_json(bad, ""); }, bad, "not valid JSON");

  json j = small_tokenizer();
  j["model"].erase("vocab");
  expect_json_error(j, "model.vocab");

  j = small_tokenizer();
  j["model"].erase("merges");
  expect_json_error(j, "model.merges");

  j = small_tokenizer();
  j.erase("model");
  expect_json_error(j, "'model'");

  j = small_tokenizer();
  j["model"]["merges"].push_back("a zz");
  expect_json_error(j, "unknown token 'zz'");

  j = small_tokenizer();
  j["model"]["merges"].push_back("abab");
  expect_json_error(j, "not two tokens");

  j = small_tokenizer();
  j["model"]["merges"].push_back("ab ab");  // "abab" is not in the vocabulary
  expect_json_error(j, "not in the vocabulary");

  j = small_tokenizer();
  j["model"]["type"] = "WordPiece";
  expect_json_error(j, "'WordPiece' is not supported");

  j = small_tokenizer();
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  expect_json_error(j, "pre_tokenizer");

  j = small_tokenizer();
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\s+";
  expect_json_error(j, "not the Llama 3 regex");

  j = small_tokenizer();
  j["model"]["vocab"]["\xe2\x82\xac"] = 300;  // U+20AC is not in the byte-level alphabet
  expect_json_error(j, "byte-level alphabet");

  j = small_tokenizer();
  j["model"]["vocab"].erase("a");
  j["model"]["merges"] = json::array();
  expect_json_error(j, "no token for byte");

  std::string tj = write("tokenizer.json", small_tokenizer().dump());
  std::string cfg = write("tokenizer_config.json", R"({"bos_token": "<|nope|>"})");
  expect_error([&] { tokenizer_from_hf_json(tj, cfg); }, cfg, "bos_token '<|nope|>'");
  cfg = write("tokenizer_config.json", "not json");
  expect_error([&] { tokenizer_from_hf_json(tj, cfg); }, cfg, "not valid JSON");
}

TEST_F(TokenizerLoad, LoadTokenizerFindsFilesOrSaysWhy) {
  std::string empty_dir = (dir_ / "empty").string();
  fs::create_directories(empty_dir);
  expect_error([&] { load_tokenizer(empty_dir); }, empty_dir, "no tokenizer.json");
  EXPECT_FALSE(has_tokenizer(empty_dir));
  std::string nowhere = (dir_ / "does-not-exist").string();
  expect_error([&] { load_tokenizer(nowhere); }, nowhere, "no such file");
  EXPECT_FALSE(has_tokenizer(nowhere));
  std::string other = write("weights.bin", "hello");
  expect_error([&] { load_tokenizer(other); }, other, "not a model directory");

  write("tokenizer.json", small_tokenizer().dump());
  write("generation_config.json", R"({"eos_token_id": [256, 258]})");
  EXPECT_TRUE(has_tokenizer(dir_.string()));
  Tokenizer t = load_tokenizer(dir_.string());
  EXPECT_EQ(t.eos_ids(), (std::vector<int32_t>{256, 257, 258}));  // config + named <|eot_id|>
  EXPECT_EQ(load_tokenizer((dir_ / "tokenizer.json").string()).vocab_size(), 259);
}

// A minimal GGUF v3 writer: metadata only, no tensors.
class GgufBuilder {
 public:
  GgufBuilder& str(const std::string& key, const std::string& v) {
    this->key(key, 8);
    string(v);
    ++n_;
    return *this;
  }
  GgufBuilder& u32(const std::string& key, uint32_t v) {
    this->key(key, 4);
    pod(v);
    ++n_;
    return *this;
  }
  GgufBuilder& strings(const std::string& key, const std::vector<std::string>& v) {
    this->key(key, 9);
    pod(uint32_t{8});
    pod(uint64_t{v.size()});
    for (const auto& s : v) string(s);
    ++n_;
    return *this;
  }
  GgufBuilder& i32s(const std::string& key, const std::vector<int32_t>& v) {
    this->key(key, 9);
    pod(uint32_t{5});
    pod(uint64_t{v.size()});
    for (int32_t x : v) pod(x);
    ++n_;
    return *this;
  }
  GgufBuilder& f32s(const std::string& key, size_t n) {
    this->key(key, 9);
    pod(uint32_t{6});
    pod(uint64_t{n});
    for (size_t k = 0; k < n; ++k) pod(0.0f);
    ++n_;
    return *this;
  }
  std::string bytes() const {
    std::string out = "GGUF";
    auto put = [&](auto v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); };
    put(uint32_t{3});
    put(uint64_t{0});
    put(uint64_t{n_});
    out += body_;
    while (out.size() % 32) out.push_back('\0');
    return out;
  }

 private:
  template <class T>
  void pod(T v) {
    body_.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void string(const std::string& s) {
    pod(uint64_t{s.size()});
    body_ += s;
  }
  void key(const std::string& k, uint32_t type) {
    string(k);
    pod(type);
  }
  std::string body_;
  uint64_t n_ = 0;
};

std::vector<std::string> small_gguf_tokens() {
  std::vector<std::string> t;
  for (int b = 0; b < 256; ++b)
    t.push_back(byte_level::encode(std::string(1, static_cast<char>(b))));
  t.push_back("ab");
  t.push_back("<|eot_id|>");
  t.push_back("<mark>");
  return t;
}

std::vector<int32_t> small_gguf_types() {
  std::vector<int32_t> types(256 + 1, 1);
  types.push_back(3);
  types.push_back(4);
  return types;
}

TEST_F(TokenizerLoad, SmallGguf) {
  GgufBuilder b;
  b.str("tokenizer.ggml.model", "gpt2")
      .str("tokenizer.ggml.pre", "llama-bpe")
      .strings("tokenizer.ggml.tokens", small_gguf_tokens())
      .i32s("tokenizer.ggml.token_type", small_gguf_types())
      .strings("tokenizer.ggml.merges", {"a b"})
      .u32("tokenizer.ggml.eos_token_id", 257);
  std::string path = write("small.gguf", b.bytes());
  EXPECT_TRUE(has_tokenizer(path));
  Tokenizer t = load_tokenizer(path);
  EXPECT_EQ(t.vocab_size(), 259);
  EXPECT_EQ(t.bos_id(), -1);
  EXPECT_EQ(t.eos_ids(), std::vector<int32_t>{257});
  EXPECT_EQ(t.encode("ab<|eot_id|>x<mark>", false, true),
            (std::vector<int32_t>{256, 257, 'x', 258}));
  EXPECT_TRUE(t.is_special(257));
  EXPECT_FALSE(t.is_special(258));
}

TEST_F(TokenizerLoad, GgufErrors) {
  auto base = [] {
    GgufBuilder b;
    b.str("tokenizer.ggml.model", "gpt2").strings("tokenizer.ggml.merges", {"a b"});
    return b;
  };
  auto check = [&](GgufBuilder b, const std::string& what) {
    std::string path = write("bad.gguf", b.bytes());
    expect_error([&] { load_tokenizer(path); }, path, what);
  };
  std::vector<int32_t> short_types = small_gguf_types();
  short_types.pop_back();
  check(base()
            .strings("tokenizer.ggml.tokens", small_gguf_tokens())
            .i32s("tokenizer.ggml.token_type", short_types),
        "tokenizer.ggml.token_type has 258 entries but tokenizer.ggml.tokens has 259");
  check(
      base().strings("tokenizer.ggml.tokens", small_gguf_tokens()).f32s("tokenizer.ggml.scores", 3),
      "tokenizer.ggml.scores has 3 entries");
  GgufBuilder spm;
  spm.str("tokenizer.ggml.model", "llama").strings("tokenizer.ggml.tokens", small_gguf_tokens());
  check(spm, "tokenizer model 'llama' is not supported");
  check(base()
            .str("tokenizer.ggml.pre", "qwen2")
            .strings("tokenizer.ggml.tokens", small_gguf_tokens()),
        "pre-tokenizer 'qwen2'");
  check(base().strings("tokenizer.ggml.tokens", {"a", "b"}), "no token for byte");
  GgufBuilder no_tokens;
  no_tokens.str("general.name", "x");
  check(no_tokens, "no tokenizer");
  check(base()
            .strings("tokenizer.ggml.tokens", small_gguf_tokens())
            .u32("tokenizer.ggml.bos_token_id", 999),
        "out of range");
}

// The tokenizer built into the binary for `hearth synth` is the Llama 3.1 one in tests/data.
TEST(BuiltinTokenizer, IsTheShippedLlama31Tokenizer) {
  const TokenizerSpec built = builtin_llama31_tokenizer_spec();
  const TokenizerSpec files = load_tokenizer_spec(std::string(HEARTH_TEST_DATA) + "/llama31");
  EXPECT_EQ(built.tokens, files.tokens);
  EXPECT_EQ(built.kinds, files.kinds);
  EXPECT_EQ(built.merges, files.merges);
  EXPECT_EQ(built.bos_id, 128000);
  EXPECT_EQ(built.eos_ids, files.eos_ids);
  EXPECT_EQ(built.add_bos, files.add_bos);
  EXPECT_EQ(built.chat_template, files.chat_template);
  EXPECT_FALSE(built.chat_template.empty());
  const Tokenizer tok(built);
  EXPECT_EQ(tok.vocab_size(), 128256);
  EXPECT_EQ(tok.eos_ids(), (std::vector<int32_t>{128001, 128008, 128009}));
}

// One parser: the GGUF metadata written from tokenizer.json loads back as the same tokenizer.
TEST_F(TokenizerLoad, GgufMetadataFromTokenizerJsonRoundTrips) {
  const std::string src = std::string(HEARTH_TEST_DATA) + "/devB";
  GgufWriter w;
  add_tokenizer_metadata(w, src);
  const std::string out = (dir_ / "tok.gguf").string();
  w.write(out);
  const TokenizerSpec a = load_tokenizer_spec(src), b = load_tokenizer_spec(out);
  EXPECT_EQ(b.tokens, a.tokens);
  EXPECT_EQ(b.kinds, a.kinds);
  EXPECT_EQ(b.merges, a.merges);
  EXPECT_EQ(b.bos_id, a.bos_id);
  EXPECT_EQ(b.add_bos, a.add_bos);
  EXPECT_EQ(b.chat_template, a.chat_template);
  EXPECT_EQ(Tokenizer(b).eos_ids(), Tokenizer(a).eos_ids());
}

}  // namespace
}  // namespace hearth
