#pragma once
// Builders for small, valid model files that a test can then break in one precise way.
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "format/gguf_writer.h"
#include "quant/half.h"

namespace hearth::testing {

struct TinyShape {
  int64_t vocab = 32, hidden = 16, ff = 24, layers = 1, heads = 2, kv_heads = 1, head_dim = 8;
};

// name -> (shape, bf16 data) for every tensor of a tiny Llama, GGUF names.
struct TinyTensors {
  std::map<std::string, std::pair<std::vector<int64_t>, std::vector<uint16_t>>> t;
};

inline TinyTensors make_tiny_tensors(const TinyShape& s, uint64_t seed = 7) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, 0.2f);
  TinyTensors out;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, bool norm = false) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    std::vector<uint16_t> v(static_cast<size_t>(n));
    for (auto& x : v) x = f32_to_bf16(norm ? 1.0f + nd(rng) : nd(rng));
    out.t[name] = {std::move(shape), std::move(v)};
  };
  add("token_embd.weight", {s.vocab, s.hidden});
  add("output_norm.weight", {s.hidden}, true);
  add("output.weight", {s.vocab, s.hidden});
  for (int64_t l = 0; l < s.layers; ++l) {
    std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", {s.hidden}, true);
    add(p + "attn_q.weight", {s.heads * s.head_dim, s.hidden});
    add(p + "attn_k.weight", {s.kv_heads * s.head_dim, s.hidden});
    add(p + "attn_v.weight", {s.kv_heads * s.head_dim, s.hidden});
    add(p + "attn_output.weight", {s.hidden, s.heads * s.head_dim});
    add(p + "ffn_norm.weight", {s.hidden}, true);
    add(p + "ffn_gate.weight", {s.ff, s.hidden});
    add(p + "ffn_up.weight", {s.ff, s.hidden});
    add(p + "ffn_down.weight", {s.hidden, s.ff});
  }
  return out;
}

inline void tiny_gguf_metadata(GgufWriter& w, const TinyShape& s) {
  w.set_string("general.architecture", "llama");
  w.set_string("general.name", "tiny");
  w.set_u32("llama.context_length", 64);
  w.set_u32("llama.embedding_length", static_cast<uint32_t>(s.hidden));
  w.set_u32("llama.block_count", static_cast<uint32_t>(s.layers));
  w.set_u32("llama.feed_forward_length", static_cast<uint32_t>(s.ff));
  w.set_u32("llama.attention.head_count", static_cast<uint32_t>(s.heads));
  w.set_u32("llama.attention.head_count_kv", static_cast<uint32_t>(s.kv_heads));
  w.set_u32("llama.rope.dimension_count", static_cast<uint32_t>(s.head_dim));
  w.set_f32("llama.rope.freq_base", 500000.0f);
  w.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.set_u32("llama.vocab_size", static_cast<uint32_t>(s.vocab));
}

inline std::vector<uint8_t> tiny_gguf_bytes(const TinyShape& s, const TinyTensors& tt) {
  GgufWriter w;
  tiny_gguf_metadata(w, s);
  for (auto& [name, st] : tt.t)
    w.add_tensor(name, DType::BF16, st.first, st.second.data(), st.second.size() * 2);
  return w.to_bytes();
}

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

inline std::string hf_name(const std::string& gguf) {
  static const std::map<std::string, std::string> top = {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"output_norm.weight", "model.norm.weight"},
      {"output.weight", "lm_head.weight"}};
  static const std::map<std::string, std::string> layer = {
      {"attn_norm.weight", "input_layernorm.weight"},
      {"attn_q.weight", "self_attn.q_proj.weight"},
      {"attn_k.weight", "self_attn.k_proj.weight"},
      {"attn_v.weight", "self_attn.v_proj.weight"},
      {"attn_output.weight", "self_attn.o_proj.weight"},
      {"ffn_norm.weight", "post_attention_layernorm.weight"},
      {"ffn_gate.weight", "mlp.gate_proj.weight"},
      {"ffn_up.weight", "mlp.up_proj.weight"},
      {"ffn_down.weight", "mlp.down_proj.weight"}};
  if (auto it = top.find(gguf); it != top.end()) return it->second;
  auto dot = gguf.find('.', 4);
  std::string layer_no = gguf.substr(4, dot - 4);
  return "model.layers." + layer_no + "." + layer.at(gguf.substr(dot + 1));
}

inline std::vector<uint8_t> safetensors_from_parts(const std::string& header,
                                                   const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out(8 + header.size() + data.size());
  uint64_t len = header.size();
  std::memcpy(out.data(), &len, 8);
  std::memcpy(out.data() + 8, header.data(), header.size());
  if (!data.empty()) std::memcpy(out.data() + 8 + header.size(), data.data(), data.size());
  return out;
}

// safetensors bytes for the given tensors (HF names), dtype BF16.
inline std::vector<uint8_t> safetensors_bytes(const TinyTensors& tt) {
  nlohmann::json header = nlohmann::json::object();
  std::vector<uint8_t> data;
  for (auto& [name, st] : tt.t) {
    size_t begin = data.size();
    auto* p = reinterpret_cast<const uint8_t*>(st.second.data());
    data.insert(data.end(), p, p + st.second.size() * 2);
    header[hf_name(name)] = {
        {"dtype", "BF16"}, {"shape", st.first}, {"data_offsets", {begin, data.size()}}};
  }
  return safetensors_from_parts(header.dump(), data);
}

inline nlohmann::json tiny_config(const TinyShape& s) {
  return {{"model_type", "llama"},
          {"vocab_size", s.vocab},
          {"hidden_size", s.hidden},
          {"intermediate_size", s.ff},
          {"num_hidden_layers", s.layers},
          {"num_attention_heads", s.heads},
          {"num_key_value_heads", s.kv_heads},
          {"head_dim", s.head_dim},
          {"max_position_embeddings", 64},
          {"rms_norm_eps", 1e-5},
          {"rope_theta", 500000.0},
          {"rope_scaling",
           {{"rope_type", "llama3"},
            {"factor", 8.0},
            {"low_freq_factor", 1.0},
            {"high_freq_factor", 4.0},
            {"original_max_position_embeddings", 8192}}},
          {"tie_word_embeddings", false},
          {"bos_token_id", 1},
          {"eos_token_id", {2, 3}}};
}

// A fresh directory per test under the system temp dir, removed at scope exit.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("hearth-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

}  // namespace hearth::testing
