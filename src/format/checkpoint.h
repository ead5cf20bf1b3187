#pragma once
// A model file opened for reading: hyper-parameters plus tensor views under one naming scheme
// (GGUF's: token_embd.weight, blk.N.attn_q.weight, ...) whatever format the user has.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "format/gguf.h"
#include "format/model_config.h"
#include "format/safetensors.h"
#include "format/tensor_view.h"

namespace hearth {

enum class CheckpointFormat { HuggingFace, Gguf };

// How the two halves of each rotated pair are laid out in Q and K rows. Hugging Face rotates
// (i, i + d/2); llama.cpp's converter permutes rows so pairs are adjacent (2i, 2i + 1). Rotating
// in the file's own layout gives the same attention scores without rewriting any weight.
enum class RopeLayout { Halves, Interleaved };

struct Checkpoint {
  std::string path;
  CheckpointFormat format = CheckpointFormat::HuggingFace;
  ModelConfig config;
  RopeLayout rope_layout = RopeLayout::Halves;
  std::vector<float> rope_freq_factors;  // GGUF rope_freqs.weight; empty when absent
  std::map<std::string, TensorView> tensors;
  std::shared_ptr<GgufFile> gguf;
  std::vector<std::shared_ptr<SafetensorsFile>> shards;

  bool has(const std::string& name) const { return tensors.count(name) != 0; }
  const TensorView& tensor(const std::string& name) const;
  size_t weight_bytes() const;
  const char* format_name() const {
    return format == CheckpointFormat::Gguf ? "gguf" : "safetensors";
  }
};

// MODEL is a .gguf file or a Hugging Face checkpoint directory; decided by what is on disk.
Checkpoint open_checkpoint(const std::string& path);
Checkpoint open_hf_checkpoint(const std::string& dir);
Checkpoint open_gguf_checkpoint(const std::string& file);

// Hugging Face tensor name -> GGUF-style name ("" when hearth does not use the tensor).
std::string canonical_tensor_name(const std::string& hf_name);

}  // namespace hearth
