#pragma once
// One sequence on its own: feeds tokens through the paged cache in chunks of the model's batch
// size, one step per chunk, through the batch builder. `hearth run`, the interactive chat, bench
// and the tests use it; the server's scheduler batches many sequences instead.
#include <span>
#include <vector>

#include "kv/kv_cache.h"
#include "model/llama.h"
#include "runtime/batch_builder.h"

namespace hearth {

class Session {
 public:
  Session(LlamaModel& model, KvCache& cache, int max_context);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Appends tokens and returns where the last one's result is in result(), as `last` asks (the
  // argmax id, or its logits). Throws hearth::Error for a token id outside the vocabulary, a
  // context overflow or a full cache, before anything is appended.
  ResultRef step(std::span<const int32_t> tokens, RowOutput last);
  StepResult& result() { return result_; }

  // The same, returning logits: of the last token, or of every one when all_logits.
  std::vector<float> feed(const std::vector<int32_t>& tokens, bool all_logits = false);

  int32_t length() const { return seq_.length; }
  int max_context() const { return max_context_; }
  // Forgets every token; the full blocks stay in the prefix cache for whoever needs them next.
  void reset();
  // Starts over with the longest cached prefix of `tokens` (kv/prefix_cache.h), always leaving
  // at least the last token to feed; returns how many tokens it reused. The caller then feeds
  // tokens from that position on. A multi-turn chat re-renders its conversation each turn and
  // so recomputes only the new part.
  int reuse_prefix(std::span<const int32_t> tokens);

 private:
  // Feeds in chunks; the last chunk's step asks for `last` (or all_logits: every chunk asks for
  // every row's logits, appended to *all).
  ResultRef run(std::span<const int32_t> tokens, RowOutput last, std::vector<float>* all);

  LlamaModel& model_;
  KvCache& cache_;
  int max_context_;
  SequenceKv seq_;
  std::vector<int32_t> tokens_;  // what seq_ holds: its full blocks are published from these
  BatchBuilder builder_;
  StepResult result_;
};

// Blocks a cache needs for `ctx` tokens of one sequence.
int blocks_for_context(int ctx, int block_size);

}  // namespace hearth
