#pragma once
// The Llama graph, written once against the backend contract. forward() takes a batch of
// sequences (each with its new tokens, positions and KV block table) and returns the logits of
// the rows asked for. One prompt is a batch of one.
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "format/checkpoint.h"
#include "kv/kv_cache.h"

namespace hearth {

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

  // Runs the batch (n_tokens <= max_batch_tokens, K/V blocks already reserved) and writes
  // logits[i * vocab ...] for each index in logit_rows. Throws on an out-of-range token id.
  void forward(const BatchInputs& batch, KvCache& kv, const std::vector<int32_t>& logit_rows,
               std::vector<float>& logits);

 private:
  void check_batch(const BatchInputs& batch, const KvCache& kv) const;

  ModelConfig cfg_;
  Backend& backend_;
  int max_tokens_;
  Weight tok_embd_, output_norm_, output_;
  std::vector<LayerWeights> layers_;
  // Scratch sized once for max_batch_tokens: the forward pass allocates nothing.
  DeviceBuffer x_, xn_, q_, k_, v_, attn_, tmp_, gate_, up_, logits_dev_;
};

}  // namespace hearth
