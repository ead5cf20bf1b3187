#include "format/tokenizer_meta.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "format/gguf.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace hearth {

namespace {

constexpr int32_t kNormal = 1, kControl = 3, kUserDefined = 4, kUnused = 5;

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::exception& e) {
    throw Error(path, std::string("not valid JSON: ") + e.what());
  }
}

void from_gguf(GgufWriter& w, const std::string& path) {
  GgufFile g(path);
  if (!g.has("tokenizer.ggml.tokens")) throw Error(path, "has no tokenizer metadata");
  for (const auto& [key, value] : g.metadata())
    if (key.rfind("tokenizer.", 0) == 0) w.set(key, value);
}

int32_t token_id(const nlohmann::json& vocab, const std::map<std::string, int32_t>& added,
                 const nlohmann::json& v) {
  std::string s = v.is_string()                            ? v.get<std::string>()
                  : v.is_object() && v.contains("content") ? v["content"].get<std::string>()
                                                           : "";
  if (auto it = added.find(s); it != added.end()) return it->second;
  if (vocab.contains(s)) return vocab[s].get<int32_t>();
  return -1;
}

void from_tokenizer_json(GgufWriter& w, const std::string& path, const std::string& config_path) {
  nlohmann::json j = read_json(path);
  if (!j.contains("model") || !j["model"].contains("vocab") || !j["model"].contains("merges"))
    throw Error(path, "missing model.vocab or model.merges");
  const auto& vocab = j["model"]["vocab"];
  std::map<std::string, int32_t> added;
  int64_t n = 0;
  for (auto& [tok, id] : vocab.items()) n = std::max<int64_t>(n, id.get<int64_t>() + 1);
  std::vector<std::pair<int32_t, bool>> added_list;
  if (j.contains("added_tokens"))
    for (auto& a : j["added_tokens"]) n = std::max<int64_t>(n, a["id"].get<int64_t>() + 1);
  if (n <= 0 || n > (1 << 24)) throw Error(path, "implausible vocabulary size");
  std::vector<std::string> tokens(static_cast<size_t>(n));
  std::vector<int32_t> types(static_cast<size_t>(n), kUnused);
  for (auto& [tok, id] : vocab.items()) {
    tokens[id.get<size_t>()] = tok;
    types[id.get<size_t>()] = kNormal;
  }
  if (j.contains("added_tokens"))
    for (auto& a : j["added_tokens"]) {
      auto id = a["id"].get<size_t>();
      tokens[id] = a["content"].get<std::string>();
      types[id] = a.value("special", false) ? kControl : kUserDefined;
      added[tokens[id]] = static_cast<int32_t>(id);
    }
  for (size_t i = 0; i < tokens.size(); ++i)
    if (types[i] == kUnused) tokens[i] = "[PAD" + std::to_string(i) + "]";
  std::vector<std::string> merges;
  for (auto& m : j["model"]["merges"]) {
    if (m.is_string())
      merges.push_back(m.get<std::string>());
    else if (m.is_array() && m.size() == 2)
      merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
    else
      throw Error(path, "a merge is neither \"a b\" nor [a, b]");
  }
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", "llama-bpe");
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  w.set_i32_array("tokenizer.ggml.token_type", types);
  w.set_string_array("tokenizer.ggml.merges", merges);
  bool add_bos = true;
  int32_t bos = added.count("<|begin_of_text|>") ? added["<|begin_of_text|>"] : -1;
  int32_t eos = added.count("<|end_of_text|>") ? added["<|end_of_text|>"] : -1;
  if (!config_path.empty() && fs::exists(config_path)) {
    nlohmann::json c = read_json(config_path);
    if (c.contains("bos_token") && !c["bos_token"].is_null())
      bos = token_id(vocab, added, c["bos_token"]);
    if (c.contains("eos_token") && !c["eos_token"].is_null())
      eos = token_id(vocab, added, c["eos_token"]);
    if (c.contains("add_bos_token") && c["add_bos_token"].is_boolean())
      add_bos = c["add_bos_token"];
    if (c.contains("chat_template") && c["chat_template"].is_string())
      w.set_string("tokenizer.chat_template", c["chat_template"].get<std::string>());
  }
  if (bos >= 0) w.set_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(bos));
  if (eos >= 0) w.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(eos));
  w.set_bool("tokenizer.ggml.add_bos_token", add_bos);
}

}  // namespace

void add_tokenizer_metadata(GgufWriter& w, const std::string& source) {
  std::error_code ec;
  if (fs::is_directory(source, ec)) {
    fs::path d(source);
    if (!fs::exists(d / "tokenizer.json")) throw Error(source, "has no tokenizer.json");
    from_tokenizer_json(w, (d / "tokenizer.json").string(), (d / "tokenizer_config.json").string());
    return;
  }
  std::ifstream in(source, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  if (in.gcount() == 4 && std::string(magic, 4) == "GGUF") return from_gguf(w, source);
  fs::path p(source);
  from_tokenizer_json(w, source, (p.parent_path() / "tokenizer_config.json").string());
}

}  // namespace hearth
