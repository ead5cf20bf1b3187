#pragma once
// Writes a Llama model as a GGUF file in llama.cpp's layout (its tensor names, Q/K rows permuted
// for interleaved RoPE, llama3 factors in rope_freqs.weight, tokenizer.ggml.* metadata), at the
// type asked for. Used by `hearth convert`, `hearth quantize` and `hearth synth`.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "format/checkpoint.h"
#include "tokenizer/tokenizer.h"

namespace hearth {

enum class ExportType { F32, F16, BF16, Q8_0, Q4_0, Q4_K_M };
std::optional<ExportType> parse_export_type(const std::string& name);
const char* export_type_name(ExportType t);

// One tensor to write: its GGUF name, shape (outermost first) and a way to produce any row as
// float32. Rows are produced independently (and in parallel), so sources must be thread-safe.
struct ExportTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::function<void(int64_t row, float* out)> row_f32;
};

// The type a tensor gets under `type`: norms stay F32, output.weight gets Q6_K under the 4-bit
// types, Q4_K_M gives attn_v and ffn_down Q6_K in llama.cpp's "more bits" layers.
DType export_tensor_type(ExportType type, const std::string& name, int64_t n_layers, int64_t cols);

std::vector<ExportTensor> tensors_from_checkpoint(const Checkpoint& ck);
std::vector<ExportTensor> random_tensors(const ModelConfig& cfg, uint64_t seed);

struct ExportOptions {
  ExportType type = ExportType::BF16;
  std::string tokenizer_source;  // GGUF file or HF dir/tokenizer.json; "" writes none
  std::shared_ptr<const TokenizerSpec> tokenizer;  // written instead of tokenizer_source if set
  std::string name;
  int threads = 0;
  bool quiet = false;
};

// Returns the bytes written.
// given_factors: rope_freqs.weight to write as is (from a GGUF input); empty computes them from
// the config's llama3 scaling.
size_t write_llama_gguf(const std::string& out_path, const ModelConfig& cfg,
                        const std::vector<ExportTensor>& tensors, const ExportOptions& opts,
                        const std::vector<float>& given_factors = {});

// Reads any checkpoint hearth can load and writes it as GGUF; the tokenizer comes along.
size_t export_checkpoint(const std::string& in_path, const std::string& out_path,
                         ExportOptions opts);

// Shapes of the released models, for `hearth synth` ("llama-3.1-8b", "llama-3.2-1b", ...).
std::optional<ModelConfig> model_shape(const std::string& name);
std::vector<std::string> model_shape_names();

}  // namespace hearth
