#pragma once
// Plan -> execute -> update: the plan's last part. A caller decides which sequences take part in a
// step and how many tokens each feeds (the scheduler, a session, bench); the builder turns that
// into the step's BatchInputs from the sequences' KV block tables, and records per sequence what
// the step must hand back: nothing (a prompt chunk before its end), the argmax id (greedy
// decoding) or the full logits row (sampling, logprobs, a constraint). The model executes the
// batch (LlamaModel::forward) and the per-sequence update consumes the result
// (runtime/generation.h).
#include <cstdint>
#include <span>

#include "backend/backend.h"
#include "kv/kv_cache.h"
#include "model/llama.h"

namespace hearth {

// What a step hands back for a sequence's last token in it.
enum class RowOutput : uint8_t { None, Argmax, Logits };

// Where one sequence's result is in the StepResult.
struct ResultRef {
  RowOutput kind = RowOutput::None;
  int index = -1;  // into StepResult::argmax, or the logits row (first of several: all_logits)
};

class BatchBuilder {
 public:
  explicit BatchBuilder(int block_size);

  // Starts a new step; the buffers keep their capacity, so a steady state allocates nothing.
  void reset();
  // Adds `tokens` of one sequence at positions kv.length, kv.length + 1, ... (their KV blocks
  // already reserved with kv_reserve). `last` asks for the last token's result; all_logits asks
  // for every token's logits instead (conformance checks, `hearth logits --all`).
  ResultRef add(const SequenceKv& kv, std::span<const int32_t> tokens, RowOutput last,
                bool all_logits = false);

  const BatchInputs& batch() const { return b_; }
  int n_tokens() const { return b_.n_tokens(); }
  int n_seqs() const { return static_cast<int>(b_.table_offset.size()) - 1; }

 private:
  BatchInputs b_;
};

// The logits row a ResultRef of kind Logits points at (`vocab` floats), editable in place.
inline float* logits_row(StepResult& r, const ResultRef& ref, int64_t vocab) {
  return r.logits.data() + static_cast<size_t>(ref.index) * static_cast<size_t>(vocab);
}

}  // namespace hearth
