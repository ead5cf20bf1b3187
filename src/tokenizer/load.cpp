#include "tokenizer/load.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "format/gguf.h"
#include "tokenizer/byte_level.h"
#include "util/error.h"
#include "util/read_file.h"

namespace hearth {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kLlama3Pattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// Tokens that end a turn or a text in the Llama 3 family; they join the EOS set when present.
constexpr const char* kEndTokens[] = {"<|end_of_text|>", "<|eom_id|>", "<|eot_id|>"};
constexpr const char* kDefaultBos = "<|begin_of_text|>";

json parse_json(const std::string& text, const std::string& name) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number overflow
    std::string what = e.what();
    auto nl = what.find('\n');
    if (nl != std::string::npos) what.resize(nl);
    throw Error(name, "not valid JSON (" + what + ")");
  }
}

// HF writes special tokens in configs either as a string or as {"content": ...}.
std::optional<std::string> token_text(const json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    auto c = it->find("content");
    if (c != it->end() && c->is_string()) return c->get<std::string>();
  }
  return std::nullopt;
}

// Accepts the Llama 3 split (optionally in a Sequence with a regex-free ByteLevel step).
void check_pre_tokenizer(const json& pre, const std::string& name) {
  const char* unsupported =
      "unsupported pre_tokenizer: hearth implements the Llama 3 regex split with a byte-level "
      "alphabet only";
  if (!pre.is_object()) throw Error(name, unsupported);
  std::vector<const json*> steps;
  if (pre.value("type", "") == "Sequence") {
    auto it = pre.find("pretokenizers");
    if (it == pre.end() || !it->is_array()) throw Error(name, unsupported);
    for (const json& s : *it) steps.push_back(&s);
  } else {
    steps.push_back(&pre);
  }
  bool split_seen = false;
  for (const json* s : steps) {
    if (!s->is_object()) throw Error(name, unsupported);
    std::string type = s->value("type", "");
    if (type == "Split") {
      const json* pattern = s->contains("pattern") ? &(*s)["pattern"] : nullptr;
      bool ok = pattern && pattern->is_object() && pattern->contains("Regex") &&
                (*pattern)["Regex"].is_string() &&
                (*pattern)["Regex"].get<std::string>() == kLlama3Pattern &&
                s->value("behavior", "") == "Isolated" && !s->value("invert", false);
      if (!ok) throw Error(name, "unsupported pre_tokenizer split (not the Llama 3 regex)");
      split_seen = true;
    } else if (type == "ByteLevel") {
      if (s->value("use_regex", true) || s->value("add_prefix_space", false))
        throw Error(name, unsupported);
    } else {
      throw Error(name, "unsupported pre_tokenizer step '" + type + "'");
    }
  }
  if (!split_seen) throw Error(name, unsupported);
}

void add_named_eos(const std::unordered_map<std::string, int32_t>& added,
                   std::vector<int32_t>& eos) {
  for (const char* name : kEndTokens) {
    auto it = added.find(name);
    if (it != added.end()) eos.push_back(it->second);
  }
}

TokenizerSpec hf_spec(const std::string& json_text, const std::string& json_name,
                      const std::string& config_text, const std::string& config_name) {
  json j = parse_json(json_text, json_name);
  if (!j.is_object()) throw Error(json_name, "not a tokenizer.json (top level is not an object)");
  auto model_it = j.find("model");
  if (model_it == j.end() || !model_it->is_object())
    throw Error(json_name, "missing 'model' object");
  const json& model = *model_it;
  std::string type = model.value("type", "BPE");
  if (type != "BPE")
    throw Error(json_name,
                "tokenizer model type '" + type + "' is not supported (hearth needs BPE)");
  auto vocab_it = model.find("vocab");
  if (vocab_it == model.end() || !vocab_it->is_object())
    throw Error(json_name, "missing 'model.vocab' object");
  auto merges_it = model.find("merges");
  if (merges_it == model.end() || !merges_it->is_array())
    throw Error(json_name, "missing 'model.merges' array");
  if (model.value("byte_fallback", false))
    throw Error(json_name, "byte_fallback BPE is not supported (hearth needs byte-level BPE)");
  if (j.contains("normalizer") && !j["normalizer"].is_null())
    throw Error(json_name, "a normalizer is not supported (Llama 3 has none)");
  if (!j.contains("pre_tokenizer") || j["pre_tokenizer"].is_null())
    throw Error(json_name, "missing pre_tokenizer (hearth needs the Llama 3 regex split)");
  check_pre_tokenizer(j["pre_tokenizer"], json_name);

  TokenizerSpec spec;
  spec.source = json_name;
  spec.ignore_merges = model.value("ignore_merges", false);

  // Vocabulary: byte-level spellings -> ids.
  std::unordered_map<std::string, int32_t> vocab;
  vocab.reserve(vocab_it->size());
  int64_t max_id = -1;
  for (auto it = vocab_it->begin(); it != vocab_it->end(); ++it) {
    if (!it.value().is_number_integer())
      throw Error(json_name, "model.vocab entry '" + it.key() + "' has a non-integer id");
    int64_t id = it.value().get<int64_t>();
    if (id < 0 || id >= INT32_MAX)
      throw Error(json_name, "model.vocab entry '" + it.key() + "' has id " + std::to_string(id) +
                                 " out of range");
    vocab.emplace(it.key(), static_cast<int32_t>(id));
    max_id = std::max(max_id, id);
  }
  struct Added {
    int32_t id;
    std::string content;
    bool special;
  };
  std::vector<Added> added;
  if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
    for (const json& a : j["added_tokens"]) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() ||
          !a.contains("content") || !a["content"].is_string())
        throw Error(json_name, "an added_tokens entry lacks an integer 'id' or a string 'content'");
      int64_t id = a["id"].get<int64_t>();
      if (id < 0 || id >= INT32_MAX)
        throw Error(json_name, "added token id " + std::to_string(id) + " out of range");
      added.push_back(
          {static_cast<int32_t>(id), a["content"].get<std::string>(), a.value("special", false)});
      max_id = std::max(max_id, id);
    }
  }
  if (max_id < 0) throw Error(json_name, "the vocabulary is empty");
  size_t n = static_cast<size_t>(max_id) + 1;
  spec.tokens.assign(n, std::string());
  spec.kinds.assign(n, TokenKind::kUnused);
  for (const auto& [text, id] : vocab) {
    auto bytes = byte_level::decode(text);
    if (!bytes)
      throw Error(json_name, "vocabulary token '" + text + "' (id " + std::to_string(id) +
                                 ") is not written in the byte-level alphabet");
    if (spec.kinds[id] != TokenKind::kUnused)
      throw Error(json_name, "two vocabulary tokens share id " + std::to_string(id));
    spec.tokens[id] = std::move(*bytes);
    spec.kinds[id] = TokenKind::kNormal;
  }
  std::unordered_map<std::string, int32_t> added_ids;
  for (Added& a : added) {
    spec.tokens[a.id] = a.content;
    spec.kinds[a.id] = a.special ? TokenKind::kSpecial : TokenKind::kAdded;
    added_ids[a.content] = a.id;
  }

  // Merges: "a b" strings or [a, b] pairs of byte-level spellings.
  spec.merges.reserve(merges_it->size());
  size_t rank = 0;
  for (const json& m : *merges_it) {
    std::string a, b;
    if (m.is_string()) {
      const std::string& s = m.get_ref<const std::string&>();
      auto sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
        throw Error(json_name, "merge " + std::to_string(rank) + " '" + s +
                                   "' is not two tokens separated by one space");
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    } else {
      throw Error(json_name, "merge " + std::to_string(rank) + " is neither \"a b\" nor [a, b]");
    }
    auto ia = vocab.find(a), ib = vocab.find(b);
    if (ia == vocab.end() || ib == vocab.end())
      throw Error(json_name, "merge " + std::to_string(rank) + " ('" + a + "' '" + b +
                                 "') names unknown token '" + (ia == vocab.end() ? a : b) + "'");
    spec.merges.emplace_back(ia->second, ib->second);
    ++rank;
  }

  // Config: BOS/EOS names and add_bos_token.
  json config = json::object();
  if (!config_text.empty()) {
    config = parse_json(config_text, config_name);
    if (!config.is_object()) throw Error(config_name, "top level is not an object");
  }
  auto lookup = [&](const std::string& text, const char* key) -> int32_t {
    auto it = added_ids.find(text);
    if (it != added_ids.end()) return it->second;
    auto bl = vocab.find(byte_level::encode(text));
    if (bl != vocab.end()) return bl->second;
    throw Error(config_name, std::string(key) + " '" + text + "' is not in the vocabulary");
  };
  if (auto bos = token_text(config, "bos_token"))
    spec.bos_id = lookup(*bos, "bos_token");
  else if (added_ids.count(kDefaultBos))
    spec.bos_id = added_ids[kDefaultBos];
  if (auto eos = token_text(config, "eos_token")) spec.eos_ids.push_back(lookup(*eos, "eos_token"));
  add_named_eos(added_ids, spec.eos_ids);
  if (config.contains("add_bos_token")) {
    if (!config["add_bos_token"].is_boolean())
      throw Error(config_name, "add_bos_token is not a boolean");
    spec.add_bos = config["add_bos_token"].get<bool>();
  }
  if (auto it = config.find("chat_template"); it != config.end() && it->is_string())
    spec.chat_template = it->get<std::string>();
  return spec;
}

// generation_config.json's eos_token_id (an int or a list) joins the EOS set.
void add_generation_eos(const fs::path& dir, TokenizerSpec& spec) {
  fs::path p = dir / "generation_config.json";
  std::error_code ec;
  if (!fs::exists(p, ec)) return;
  json g = parse_json(read_file(p.string()), p.string());
  if (!g.is_object() || !g.contains("eos_token_id")) return;
  const json& e = g["eos_token_id"];
  auto add = [&](const json& v) {
    if (!v.is_number_integer()) throw Error(p.string(), "eos_token_id is not an integer");
    spec.eos_ids.push_back(v.get<int32_t>());
  };
  if (e.is_array())
    for (const json& v : e) add(v);
  else if (!e.is_null())
    add(e);
}

}  // namespace

TokenizerSpec tokenizer_spec_from_hf_json_text(const std::string& json_text,
                                               const std::string& json_name,
                                               const std::string& config_text,
                                               const std::string& config_name) {
  return hf_spec(json_text, json_name, config_text, config_name);
}

Tokenizer tokenizer_from_hf_json_text(const std::string& json_text, const std::string& json_name,
                                      const std::string& config_text,
                                      const std::string& config_name) {
  return Tokenizer(hf_spec(json_text, json_name, config_text, config_name));
}

Tokenizer tokenizer_from_hf_json(const std::string& tokenizer_json,
                                 const std::string& tokenizer_config_json) {
  std::string config = tokenizer_config_json.empty() ? "" : read_file(tokenizer_config_json);
  return Tokenizer(
      hf_spec(read_file(tokenizer_json), tokenizer_json, config, tokenizer_config_json));
}

Tokenizer tokenizer_from_gguf(const GgufFile& g) {
  return Tokenizer(tokenizer_spec_from_gguf(g));
}

TokenizerSpec tokenizer_spec_from_gguf(const GgufFile& g) {
  const std::string& name = g.path();
  std::string model = g.has("tokenizer.ggml.model") ? g.get_string("tokenizer.ggml.model") : "";
  if (model != "gpt2")
    throw Error(name, "tokenizer model '" + model +
                          "' is not supported (hearth needs tokenizer.ggml.model = gpt2, Llama 3)");
  if (g.has("tokenizer.ggml.pre")) {
    std::string pre = g.get_string("tokenizer.ggml.pre");
    if (pre != "llama-bpe" && pre != "llama3" && pre != "llama-v3")
      throw Error(name, "pre-tokenizer '" + pre + "' is not supported (hearth needs llama-bpe)");
  }
  const auto& tokens = g.get_string_array("tokenizer.ggml.tokens");
  const auto& merges = g.get_string_array("tokenizer.ggml.merges");
  const std::vector<int64_t>* types = nullptr;
  if (g.has("tokenizer.ggml.token_type")) {
    types = &g.get_int_array("tokenizer.ggml.token_type");
    if (types->size() != tokens.size())
      throw Error(name, "tokenizer.ggml.token_type has " + std::to_string(types->size()) +
                            " entries but tokenizer.ggml.tokens has " +
                            std::to_string(tokens.size()));
  }
  if (g.has("tokenizer.ggml.scores")) {
    size_t ns = g.find("tokenizer.ggml.scores")->array_size();
    if (ns != tokens.size())
      throw Error(name, "tokenizer.ggml.scores has " + std::to_string(ns) +
                            " entries but tokenizer.ggml.tokens has " +
                            std::to_string(tokens.size()));
  }
  if (tokens.empty()) throw Error(name, "tokenizer.ggml.tokens is empty");
  if (tokens.size() >= static_cast<size_t>(INT32_MAX))
    throw Error(name, "tokenizer.ggml.tokens is too large");

  TokenizerSpec spec;
  spec.source = name;
  spec.ignore_merges = true;  // llama.cpp's llama-bpe pre-tokenizer implies Llama 3's ignore_merges
  spec.tokens.resize(tokens.size());
  spec.kinds.resize(tokens.size());
  std::unordered_map<std::string, int32_t> by_text;
  by_text.reserve(tokens.size());
  std::unordered_map<std::string, int32_t> added_ids;
  for (size_t id = 0; id < tokens.size(); ++id) {
    // llama.cpp token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
    int64_t type = types ? (*types)[id] : 1;
    by_text.emplace(tokens[id], static_cast<int32_t>(id));
    if (type == 3 || type == 4) {
      spec.tokens[id] = tokens[id];
      spec.kinds[id] = type == 3 ? TokenKind::kSpecial : TokenKind::kAdded;
      added_ids.emplace(tokens[id], static_cast<int32_t>(id));
    } else if (type == 5) {
      spec.kinds[id] = TokenKind::kUnused;
    } else {
      auto bytes = byte_level::decode(tokens[id]);
      if (!bytes)
        throw Error(name, "token " + std::to_string(id) + " '" + tokens[id] +
                              "' is not written in the byte-level alphabet");
      spec.tokens[id] = std::move(*bytes);
      spec.kinds[id] = TokenKind::kNormal;
    }
  }
  spec.merges.reserve(merges.size());
  for (size_t r = 0; r < merges.size(); ++r) {
    const std::string& s = merges[r];
    auto sp = s.find(' ');
    if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
      throw Error(name, "merge " + std::to_string(r) + " '" + s +
                            "' is not two tokens separated by one space");
    auto ia = by_text.find(s.substr(0, sp)), ib = by_text.find(s.substr(sp + 1));
    if (ia == by_text.end() || ib == by_text.end())
      throw Error(name, "merge " + std::to_string(r) + " '" + s + "' names an unknown token");
    spec.merges.emplace_back(ia->second, ib->second);
  }
  auto id_key = [&](const char* key) -> std::optional<int32_t> {
    auto v = g.get_int_opt(key);
    if (!v) return std::nullopt;
    if (*v < 0 || *v >= static_cast<int64_t>(tokens.size()))
      throw Error(name, std::string(key) + " = " + std::to_string(*v) + " is out of range");
    return static_cast<int32_t>(*v);
  };
  if (auto b = id_key("tokenizer.ggml.bos_token_id"))
    spec.bos_id = *b;
  else if (added_ids.count(kDefaultBos))
    spec.bos_id = added_ids[kDefaultBos];
  for (const char* key : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id",
                          "tokenizer.ggml.eom_token_id"})
    if (auto e = id_key(key)) spec.eos_ids.push_back(*e);
  add_named_eos(added_ids, spec.eos_ids);
  if (g.has("tokenizer.ggml.add_bos_token"))
    spec.add_bos = g.get_bool("tokenizer.ggml.add_bos_token");
  if (g.has("tokenizer.chat_template"))
    spec.chat_template = g.get_string("tokenizer.chat_template");
  return spec;
}

Tokenizer load_tokenizer(const std::string& model_path) {
  return Tokenizer(load_tokenizer_spec(model_path));
}

TokenizerSpec load_tokenizer_spec(const std::string& model_path) {
  std::error_code ec;
  if (!fs::exists(model_path, ec))
    throw Error(model_path,
                "no such file or directory (expected a model directory or a .gguf file)");
  if (fs::is_directory(model_path, ec)) {
    fs::path dir(model_path);
    fs::path tj = dir / "tokenizer.json", tc = dir / "tokenizer_config.json";
    if (!fs::exists(tj, ec))
      throw Error(model_path,
                  "no tokenizer.json in this directory (hearth reads Hugging Face "
                  "checkpoints with tokenizer.json, or .gguf files)");
    std::string config = fs::exists(tc, ec) ? read_file(tc.string()) : "";
    TokenizerSpec spec = hf_spec(read_file(tj.string()), tj.string(), config, tc.string());
    add_generation_eos(dir, spec);
    return spec;
  }
  if (is_gguf_file(model_path)) {
    GgufFile g(model_path);
    if (!g.has("tokenizer.ggml.tokens"))
      throw Error(model_path, "this GGUF file has no tokenizer (tokenizer.ggml.tokens is missing)");
    return tokenizer_spec_from_gguf(g);
  }
  fs::path p(model_path);
  if (p.filename() == "tokenizer.json") {
    fs::path tc = p.parent_path() / "tokenizer_config.json";
    const std::string config = fs::exists(tc, ec) ? read_file(tc.string()) : "";
    return hf_spec(read_file(model_path), model_path, config, tc.string());
  }
  throw Error(model_path, "not a model directory, a tokenizer.json or a GGUF file");
}

bool has_tokenizer(const std::string& model_path) {
  std::error_code ec;
  if (fs::is_directory(model_path, ec))
    return fs::exists(fs::path(model_path) / "tokenizer.json", ec);
  if (!fs::is_regular_file(model_path, ec)) return false;
  if (fs::path(model_path).filename() == "tokenizer.json") return true;
  if (!is_gguf_file(model_path)) return false;
  try {
    return GgufFile(model_path).has("tokenizer.ggml.tokens");
  } catch (const Error&) {
    return false;
  }
}

}  // namespace hearth
