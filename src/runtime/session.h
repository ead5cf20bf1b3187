#pragma once
// One sequence decoding alone: feeds a prompt in chunks through the paged cache, then one token
// per step. The server's scheduler batches many of these; the CLI and tests use it directly.
#include <vector>

#include "kv/kv_cache.h"
#include "model/llama.h"

namespace hearth {

class Session {
 public:
  Session(LlamaModel& model, KvCache& cache, int max_context);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Appends tokens; returns the logits of the last one (or of every one when all_logits).
  // Throws if the context would overflow or the cache has no room: nothing is half-appended.
  std::vector<float> feed(const std::vector<int32_t>& tokens, bool all_logits = false);
  int32_t length() const { return seq_.length; }
  // Forgets every token from position n on (their blocks go back to the cache), so a caller
  // can re-feed a conversation from where it diverged instead of from the start.
  void truncate(int32_t n);
  int max_context() const { return max_context_; }
  void reset();

 private:
  LlamaModel& model_;
  KvCache& cache_;
  int max_context_;
  SequenceKv seq_;
};

// Blocks a cache needs for `ctx` tokens of one sequence.
int blocks_for_context(int ctx, int block_size);

}  // namespace hearth
