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
#include "parallel/communicator.h"
#include "parallel/shard_plan.h"

namespace hearth {

// What one forward step hands back, in the order of the batch's rows.
struct StepResult {
  std::vector<float> logits;    // [batch.logits_rows.size(), vocab]
  std::vector<int32_t> argmax;  // [batch.argmax_rows.size()]
};

struct LayerWeights {
  Weight attn_norm, wq, wk, wv, wo, ffn_norm, w_gate, w_up, w_down;
};

// Tensor parallel (a communicator over several ranks): each rank loads only its shard of the
// weights (parallel/shard_plan.h), runs its share of every step, and the partial sums meet in one
// all-reduce after wo and one after ffn_down per layer. Rank 0 calls forward(); it sends each
// step's batch to the other ranks, which run run_worker() until rank 0's model is destroyed.
class LlamaModel {
 public:
  // Checks every tensor's presence, type and shape against the hyper-parameters first. `comm`:
  // null (or one rank) for a single process.
  LlamaModel(const Checkpoint& ck, Backend& backend, int max_batch_tokens = 256,
             Communicator* comm = nullptr);
  ~LlamaModel();
  LlamaModel(const LlamaModel&) = delete;
  LlamaModel& operator=(const LlamaModel&) = delete;

  const ModelConfig& config() const { return cfg_; }
  Backend& backend() { return backend_; }
  int max_batch_tokens() const { return max_tokens_; }
  DType weight_type() const { return layers_.at(0).wq.dtype; }
  // This rank's shapes: the config with its own heads, KV heads and FFN slice (the KV cache is
  // sized from it). Equal to config() in a single process.
  const ModelConfig& local_config() const { return local_; }
  const ShardPlan& shard() const { return shard_; }
  Communicator* comm() const { return comm_; }

  // Throws hearth::Error naming `where` for a token id outside the vocabulary. Callers that take
  // tokens from users (a session, the scheduler) check them here before they reach a batch.
  void check_tokens(std::span<const int32_t> tokens, const std::string& where) const;

  // Runs the batch (n_tokens <= max_batch_tokens, K/V blocks already reserved, token ids
  // checked) and fills `out`; its buffers are reused from step to step.
  void forward(const BatchInputs& batch, KvCache& kv, StepResult& out);

  // Ranks other than 0: runs the steps rank 0 sends until it stops, and returns the exit code it
  // sends (non-zero when rank 0 ended on an error).
  int run_worker(KvCache& kv);

 private:
  void check_batch(const BatchInputs& batch, const KvCache& kv) const;
  void run_step(const BatchInputs& batch, KvCache& kv, StepResult& out);
  void output_head(const BatchInputs& batch, StepResult& out);
  // Sums the ranks' partial products in place (nothing in a single process).
  void all_reduce(float* x, size_t count);
  Weight load_sharded(Backend& be, const Checkpoint& ck, const std::string& name,
                      const std::vector<int64_t>& shape, int axis, int64_t first, int64_t count);

  ModelConfig cfg_, local_;
  Backend& backend_;
  int max_tokens_;
  Communicator* comm_ = nullptr;  // set only when there are several ranks
  ShardPlan shard_;
  bool stopped_ = false;
  // Column slices the backend kept a view of (--mmap) live as long as the model.
  std::vector<std::vector<uint8_t>> kept_slices_;
  std::vector<float> head_host_;  // tensor parallel: this rank's logits rows on the host
  Weight tok_embd_, output_norm_, output_;
  std::vector<LayerWeights> layers_;
  // Device scratch sized once for max_batch_tokens.
  DeviceBuffer x_, xn_, q_, k_, v_, attn_, tmp_, gate_, up_, logits_dev_;
};

}  // namespace hearth
