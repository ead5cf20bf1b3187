#pragma once
// Everything one loaded model needs at run time: the opened file, a backend, the weights bound
// to it and a paged KV cache. The CLI subcommands and the server start from here.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "format/checkpoint.h"
#include "kv/kv_cache.h"
#include "model/llama.h"

namespace hearth {

class Tokenizer;

struct EngineOptions {
  std::string device = "cpu";
  int threads = 0;  // 0: all cores
  int context = 0;  // 0: default_context()
  int max_batch_tokens = 256;
  int kv_blocks = 0;  // 0: enough for one sequence of `context` tokens
  int block_size = 16;
  // The KV cache's element type: "f32" (the reference's precision), "f16" (half the memory and
  // half the bytes attention reads, as llama.cpp's default; devA's logits then move by up to
  // ~3e-3 from the float32 reference instead of ~1e-5) or "bf16" (CUDA only).
  std::string kv_type = "f32";
  // CPU: weights read from the file mapping instead of copied (BackendOptions::mmap_weights).
  bool mmap_weights = false;
  // Automatic prefix caching (kv/prefix_cache.h): full KV blocks shared between sequences with
  // the same prefix and kept, least recently used first out, until their memory is needed.
  bool prefix_cache = true;
};

// The KV element type `o` asks for; throws hearth::Error on a name that is not f32, f16 or bf16.
DType kv_dtype(const EngineOptions& o);

// The context a model gets when none is asked for: its maximum, at most 4096 tokens.
inline constexpr int64_t kDefaultMaxContext = 4096;
int default_context(const ModelConfig& cfg);
// The context `o` asks for (its value, or the default), checked against the model's maximum.
int engine_context(const ModelConfig& cfg, const EngineOptions& o);

// The ids that end a sequence: the model config's and the tokenizer's (may be null) together,
// sorted. `hearth run`, the chat and the server all stop on this one set.
std::vector<int32_t> end_of_sequence_ids(const ModelConfig& cfg, const Tokenizer* tok);

class Engine {
 public:
  Engine(const std::string& model_path, const EngineOptions& opts);
  // From a checkpoint already open (the server reads its config first to size the cache).
  Engine(Checkpoint ck, const EngineOptions& opts);

  const Checkpoint& checkpoint() const { return ck_; }
  const ModelConfig& config() const { return ck_.config; }
  LlamaModel& model() { return *model_; }
  KvCache& cache() { return *cache_; }
  const KvCache& cache() const { return *cache_; }
  Backend& backend() { return *backend_; }
  int context() const { return context_; }

 private:
  Checkpoint ck_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<LlamaModel> model_;
  std::unique_ptr<KvCache> cache_;
  int context_ = 0;
};

}  // namespace hearth
