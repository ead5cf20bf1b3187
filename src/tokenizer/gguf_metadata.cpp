#include "tokenizer/gguf_metadata.h"

#include <filesystem>

#include "format/gguf.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/load.h"
#include "util/error.h"

namespace hearth {

namespace {

// llama.cpp's token types.
constexpr int32_t kNormal = 1, kControl = 3, kUserDefined = 4, kUnused = 5;

void copy_from_gguf(GgufWriter& w, const std::string& path) {
  GgufFile g(path);
  if (!g.has("tokenizer.ggml.tokens")) throw Error(path, "has no tokenizer metadata");
  for (const auto& [key, value] : g.metadata())
    if (key.rfind("tokenizer.", 0) == 0) w.set(key, value);
}

}  // namespace

void add_tokenizer_metadata(GgufWriter& w, const TokenizerSpec& spec) {
  const size_t n = spec.tokens.size();
  // Vocabulary entries in their byte-level spelling, added tokens as text, holes as llama.cpp's
  // converter names them.
  std::vector<std::string> tokens(n), spelled(n);
  std::vector<int32_t> types(n, kUnused);
  for (size_t i = 0; i < n; ++i) {
    switch (spec.kinds[i]) {
      case TokenKind::kNormal:
        spelled[i] = byte_level::encode(spec.tokens[i]);
        tokens[i] = spelled[i];
        types[i] = kNormal;
        break;
      case TokenKind::kSpecial:
      case TokenKind::kAdded:
        tokens[i] = spec.tokens[i];
        types[i] = spec.kinds[i] == TokenKind::kSpecial ? kControl : kUserDefined;
        break;
      case TokenKind::kUnused:
        tokens[i] = "[PAD" + std::to_string(i) + "]";
        break;
    }
  }
  std::vector<std::string> merges;
  merges.reserve(spec.merges.size());
  for (auto [a, b] : spec.merges)
    merges.push_back(spelled[static_cast<size_t>(a)] + " " + spelled[static_cast<size_t>(b)]);
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", "llama-bpe");
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  w.set_i32_array("tokenizer.ggml.token_type", types);
  w.set_string_array("tokenizer.ggml.merges", merges);
  if (spec.bos_id >= 0)
    w.set_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(spec.bos_id));
  // GGUF has one EOS key: the config's eos_token (the loader lists it first) or <|end_of_text|>.
  if (!spec.eos_ids.empty())
    w.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(spec.eos_ids.front()));
  w.set_bool("tokenizer.ggml.add_bos_token", spec.add_bos);
  if (!spec.chat_template.empty()) w.set_string("tokenizer.chat_template", spec.chat_template);
}

void add_tokenizer_metadata(GgufWriter& w, const std::string& source) {
  std::error_code ec;
  const bool dir = std::filesystem::is_directory(source, ec);
  if (!dir && is_gguf_file(source)) return copy_from_gguf(w, source);
  if (dir && !std::filesystem::exists(std::filesystem::path(source) / "tokenizer.json", ec))
    throw Error(source, "has no tokenizer.json");
  add_tokenizer_metadata(w, load_tokenizer_spec(source));
}

}  // namespace hearth
