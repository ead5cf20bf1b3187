#include "format/checkpoint.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "quant/half.h"
#include "util/error.h"
#include "util/read_file.h"

namespace fs = std::filesystem;

namespace hearth {

const TensorView& Checkpoint::tensor(const std::string& name) const {
  auto it = tensors.find(name);
  if (it == tensors.end()) throw Error(path, "missing tensor '" + name + "'");
  return it->second;
}

size_t Checkpoint::weight_bytes() const {
  size_t n = 0;
  for (auto& [_, t] : tensors) n += t.nbytes;
  return n;
}

std::string canonical_tensor_name(const std::string& hf) {
  static const std::map<std::string, std::string> top = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"},
  };
  static const std::map<std::string, std::string> layer = {
      {"input_layernorm.weight", "attn_norm.weight"},
      {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"},
      {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.o_proj.weight", "attn_output.weight"},
      {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},
      {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"},
  };
  if (auto it = top.find(hf); it != top.end()) return it->second;
  static const std::string prefix = "model.layers.";
  if (hf.compare(0, prefix.size(), prefix) != 0) return "";
  size_t i = prefix.size(), j = i;
  while (j < hf.size() && hf[j] >= '0' && hf[j] <= '9') ++j;
  if (j == i || j >= hf.size() || hf[j] != '.') return "";
  if (auto it = layer.find(hf.substr(j + 1)); it != layer.end())
    return "blk." + hf.substr(i, j - i) + "." + it->second;
  return "";
}

namespace {

void add_shard(Checkpoint& ck, const std::string& file, const std::set<std::string>* expected) {
  auto st = std::make_shared<SafetensorsFile>(file);
  for (const auto& t : st->tensors()) {
    if (expected && !expected->count(t.name)) continue;
    std::string canon = canonical_tensor_name(t.name);
    if (canon.empty()) continue;  // e.g. rotary_emb.inv_freq: recomputed from config
    if (!ck.tensors.emplace(canon, t).second)
      throw Error(file, "duplicate tensor '" + t.name + "' (already in another shard)");
  }
  ck.shards.push_back(std::move(st));
}

}  // namespace

Checkpoint open_hf_checkpoint(const std::string& dir) {
  Checkpoint ck;
  ck.path = dir;
  ck.format = CheckpointFormat::HuggingFace;
  ck.rope_layout = RopeLayout::Halves;
  fs::path d(dir);
  if (!fs::exists(d / "config.json"))
    throw Error(dir, "not a Hugging Face checkpoint: config.json is missing");
  ck.config = parse_hf_config((d / "config.json").string());

  fs::path single = d / "model.safetensors";
  fs::path index = d / "model.safetensors.index.json";
  if (fs::exists(index)) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_file(index.string()));
    } catch (const nlohmann::json::exception& e) {
      throw Error(index.string(), std::string("not valid JSON: ") + e.what());
    }
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      throw Error(index.string(), "missing object 'weight_map'");
    std::map<std::string, std::set<std::string>> by_file;
    for (auto& [name, file] : j["weight_map"].items()) {
      if (!file.is_string())
        throw Error(index.string(), "weight_map['" + name + "'] is not a string");
      std::string f = file.get<std::string>();
      if (f.find('/') != std::string::npos || f.find("..") != std::string::npos)
        throw Error(index.string(), "weight_map names a file outside the checkpoint: " + f);
      by_file[f].insert(name);
    }
    for (auto& [f, names] : by_file) add_shard(ck, (d / f).string(), &names);
  } else if (fs::exists(single)) {
    add_shard(ck, single.string(), nullptr);
  } else {
    throw Error(dir, "no model.safetensors or model.safetensors.index.json");
  }
  return ck;
}

Checkpoint open_gguf_checkpoint(const std::string& file) {
  Checkpoint ck;
  ck.path = file;
  ck.format = CheckpointFormat::Gguf;
  ck.rope_layout = RopeLayout::Interleaved;
  ck.gguf = std::make_shared<GgufFile>(file);
  const GgufFile& g = *ck.gguf;
  std::string arch = g.get_string("general.architecture");
  if (arch != "llama")
    throw Error(file, "architecture '" + arch + "' is not supported (hearth runs llama)");
  for (const auto& t : g.tensors()) ck.tensors.emplace(t.name, t);

  ModelConfig& c = ck.config;
  c.arch = arch;
  if (g.has("general.name")) c.name = g.get_string("general.name");
  auto pos = [&](const std::string& key) {
    int64_t v = g.get_int(key);
    if (v <= 0) throw Error(file, "metadata key '" + key + "' must be positive");
    return v;
  };
  c.hidden = pos("llama.embedding_length");
  c.n_layers = pos("llama.block_count");
  c.intermediate = pos("llama.feed_forward_length");
  c.n_heads = pos("llama.attention.head_count");
  c.n_kv_heads =
      g.has("llama.attention.head_count_kv") ? pos("llama.attention.head_count_kv") : c.n_heads;
  if (c.n_heads % c.n_kv_heads != 0)
    throw Error(file, "llama.attention.head_count must be a multiple of head_count_kv");
  if (g.has("llama.attention.key_length"))
    c.head_dim = pos("llama.attention.key_length");
  else if (g.has("llama.rope.dimension_count"))
    c.head_dim = pos("llama.rope.dimension_count");
  else
    c.head_dim = c.hidden / c.n_heads;
  if (c.head_dim % 2 != 0) throw Error(file, "head dimension must be even for RoPE");
  c.max_position = g.has("llama.context_length") ? pos("llama.context_length") : 8192;
  c.rms_eps = g.get_float_opt("llama.attention.layer_norm_rms_epsilon").value_or(1e-5);
  c.rope_theta = g.get_float_opt("llama.rope.freq_base").value_or(10000.0);
  if (g.has("llama.rope.scaling.type")) {
    std::string type = g.get_string("llama.rope.scaling.type");
    if (type == "linear") {
      c.rope_scaling = RopeScaling::Linear;
      c.rope_factor = g.get_float("llama.rope.scaling.factor");
    } else if (type != "none" && type != "llama3") {
      throw Error(file, "rope scaling type '" + type + "' is not supported");
    }
  }
  if (ck.has("rope_freqs.weight")) {
    const auto& t = ck.tensors.at("rope_freqs.weight");
    if (t.numel() != c.head_dim / 2 || t.dtype != DType::F32)
      throw Error(file, "tensor 'rope_freqs.weight' must be F32 of " +
                            std::to_string(c.head_dim / 2) + " elements, got " +
                            dtype_name(t.dtype) + " " + shape_str(t.shape));
    ck.rope_freq_factors.resize(static_cast<size_t>(t.numel()));
    std::memcpy(ck.rope_freq_factors.data(), t.data, t.nbytes);
    for (float f : ck.rope_freq_factors)
      if (!(f > 0.0f)) throw Error(file, "tensor 'rope_freqs.weight' holds a non-positive factor");
    c.rope_scaling = RopeScaling::Llama3;  // the factors are the llama3 scaling, precomputed
    ck.tensors.erase("rope_freqs.weight");
  }
  // Vocabulary size: the key, else the embedding's row count (checked against the tokenizer later).
  if (g.has("llama.vocab_size"))
    c.vocab_size = pos("llama.vocab_size");
  else if (ck.has("token_embd.weight"))
    c.vocab_size = ck.tensors.at("token_embd.weight").shape[0];
  else
    throw Error(file, "missing tensor 'token_embd.weight'");
  c.tie_embeddings = !ck.has("output.weight");
  if (auto b = g.get_int_opt("tokenizer.ggml.bos_token_id")) c.bos_id = *b;
  if (auto e = g.get_int_opt("tokenizer.ggml.eos_token_id")) c.eos_ids.push_back(*e);
  if (auto e = g.get_int_opt("tokenizer.ggml.eot_token_id"))
    if (std::find(c.eos_ids.begin(), c.eos_ids.end(), *e) == c.eos_ids.end())
      c.eos_ids.push_back(*e);
  return ck;
}

Checkpoint open_checkpoint(const std::string& path) {
  std::error_code ec;
  auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) throw Error(path, "no such file or directory");
  if (fs::is_directory(st)) return open_hf_checkpoint(path);
  // A file: GGUF by magic; a lone safetensors file has no config, so say what is needed.
  if (is_gguf_file(path)) return open_gguf_checkpoint(path);
  if (fs::path(path).extension() == ".safetensors")
    throw Error(path, "a .safetensors file alone has no config: pass the checkpoint directory");
  if (fs::file_size(path, ec) == 0 && !ec) throw Error(path, "file is empty");
  throw Error(path, "not a GGUF file (bad magic) and not a checkpoint directory");
}

}  // namespace hearth
