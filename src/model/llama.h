#pragma once
// The Llama graph, written once against the backend contract. forward() takes a batch of
// sequences (each with its new tokens, positions and KV block table) and returns what the batch
// asks for: full logits for its logits_rows, the argmax id for its argmax_rows. One prompt is a
// batch of one.
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "format/checkpoint.h"
#include "kv/kv_cache.h"

namespace hearth {

// What one forward step hands back, in the order of the batch's rows.
struct StepResult {
  std::vector<float> logits;    // [batch.logits_rows.size(), vocab]
  std::vector<int32_t> argmax;  // [batch.argmax_rows.size()]
};

struct LayerWeights {
  Weight attn_norm, wq, wk, wv, wo, ffn_norm, w_gate, w_up, w_down;
};

class LlamaModel {
 public:
  // Checks every tensor's presence, type and shape against the hyper-parameters first.
  LlamaModel(const Checkpoint& ck, Backend& backend, int max_batch_tokens = 256);

  const ModelConfig& config() const { return cfg_; }
  Backend& backend() { return backend_; }
  int max_batch_tokens() const { return max_tokens_; }
  DType weight_type() const { return layers_.at(0).wq.dtype; }

  // Throws hearth::Error naming `where` for a token id outside the vocabulary. Callers that take
  // tokens from users (a session, the scheduler) check them here before they reach a batch.
  void check_tokens(std::span<const int32_t> tokens, const std::string& where) const;

  // Runs the batch (n_tokens <= max_batch_tokens, K/V blocks already reserved, token ids
  // checked) and fills `out`; its buffers are reused from step to step.
  void forward(const BatchInputs& batch, KvCache& kv, StepResult& out);

 private:
  void check_batch(const BatchInputs& batch, const KvCache& kv) const;

  ModelConfig cfg_;
  Backend& backend_;
  int max_tokens_;
  Weight tok_embd_, output_norm_, output_;
  std::vector<LayerWeights> layers_;
  // Device scratch sized once for max_batch_tokens.
  DeviceBuffer x_, xn_, q_, k_, v_, attn_, tmp_, gate_, up_, logits_dev_;
};

}  // namespace hearth
