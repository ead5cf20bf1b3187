#pragma once
// Hyper-parameters of a Llama-family model, whatever file they came from.
#include <cstdint>
#include <string>
#include <vector>

namespace hearth {

enum class RopeScaling { None, Llama3, Linear };

struct ModelConfig {
  std::string arch = "llama";
  std::string name;
  int64_t vocab_size = 0;
  int64_t hidden = 0;
  int64_t intermediate = 0;
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t max_position = 0;
  double rms_eps = 1e-5;
  double rope_theta = 500000.0;
  RopeScaling rope_scaling = RopeScaling::None;
  double rope_factor = 1.0;
  double rope_low_freq_factor = 1.0;
  double rope_high_freq_factor = 4.0;
  int64_t rope_original_max_position = 8192;
  bool tie_embeddings = false;
  int64_t bos_id = -1;
  std::vector<int64_t> eos_ids;
};

const char* rope_scaling_name(RopeScaling s);

// config.json of a Hugging Face checkpoint. Throws naming the file and the key.
ModelConfig parse_hf_config(const std::string& path);

}  // namespace hearth
